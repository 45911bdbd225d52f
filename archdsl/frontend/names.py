"""Which names from a spec may reach generated code.

Model names become Python classes and layer names become attributes and
Keras layer names; a spec may come from anyone, so a name that could shadow or
break what the generated code relies on is refused with a clear error rather
than emitted (or renamed behind the user's back).
"""

from __future__ import annotations

import builtins
import keyword
import re
from functools import cache

from archdsl.common.resources import templates_dir

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_NAME_LENGTH = 64

# Names the generated modules define or import themselves.
GENERATED_CODE_NAMES = frozenset(
    {
        "self",
        "x",
        "y",
        "torch",
        "nn",
        "F",
        "keras",
        "layers",
        "ops",
        "np",
        "numpy",
        "tf",
        "inputs",
        "outputs",
        "model",
        "build_model",
        "forward",
        "main",
        "batch",
        "math",
        "super",
        "cls",
        "args",
        "kwargs",
    }
)


# The public attributes of torch.nn.Module (torch 2.13): a layer is `self.<name>` in the
# PyTorch code, and `self.training = nn.Linear(...)` or `self.train(x)` would break the module.
NN_MODULE_ATTRIBUTES = frozenset(
    """
    T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda
    double dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
    get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
    named_parameters parameters register_backward_hook register_buffer register_forward_hook
    register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
    set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad
    """.split()
)


@cache
def defined_class_names() -> frozenset[str]:
    """The classes a generated module may define for layers its framework lacks
    (templates/<target>/classes/): a model named `LayerScale` would replace the one its code uses."""
    pattern = re.compile(r"^class ([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)
    return frozenset(
        name for path in templates_dir().glob("*/classes/*.py.j2") for name in pattern.findall(path.read_text())
    )


def reserved_reason(name: str) -> str | None:
    """Why `name` cannot be used for a model or layer, or None when it can."""
    if not NAME_PATTERN.match(name):
        return "is not a valid name (letters, digits and '_', not starting with a digit)"
    if len(name) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name.startswith("_"):
        return "starts with '_', which archdsl keeps for names of its own in generated code"
    if name in GENERATED_CODE_NAMES:
        return "is a name the generated code uses itself"
    if name in defined_class_names():
        return "is a class the generated code defines for a layer its framework lacks"
    if hasattr(builtins, name):
        return "is a Python builtin"
    if name in NN_MODULE_ATTRIBUTES:
        return "is an attribute of PyTorch's nn.Module, which the generated module would overwrite"
    return None
