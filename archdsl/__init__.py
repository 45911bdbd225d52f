"""archdsl: concise neural-network architectures, checked, as Keras and PyTorch code.

Importing archdsl never imports a framework: only `build` and `verify` do. Code
generation is imported on first use too, so that `archdsl check` starts fast.
"""

from archdsl.common.diagnostics import ArchError, Diagnostic, Span
from archdsl.common.frameworks import FrameworkMissing
from archdsl.ir.model import Layer, Model, Program
from archdsl.pipeline import load, parse
from archdsl.version import __version__


def generate(model: Model, target: str, logits: bool = False, flat: bool = False) -> str:
    """The source of a runnable Python module that builds `model` for `target` ('keras' or 'torch').

    With `logits`, the final softmax or sigmoid is left out, for losses that apply it themselves.
    Blocks become classes (PyTorch) and functions (Keras) unless `flat`.
    """
    from archdsl.targets.codegen import generate as run

    return run(model, target, logits, flat)


def format_source(text: str, filename: str = "<string>") -> str:
    """The canonical layout of a spec, as `archdsl fmt` writes it; raises ArchError if it does not parse."""
    from archdsl.tools.formatter import format_source as run

    return run(text, filename)


def build(model: Model, target: str, logits: bool = False, flat: bool = False):
    """A live `keras.Model` or `torch.nn.Module` for `model`; imports that framework only now.

    Raises FrameworkMissing (an ArchError) when that framework is not installed.
    """
    from archdsl.targets.codegen import build as run

    return run(model, target, logits, flat)


def verify(model: Model, seed: int = 0, atol: float | None = None, rtol: float | None = None):
    """Run the generated Keras and PyTorch models on the same weights and random inputs, layer by layer.

    Returns a `VerifyReport`: a test on random inputs in inference mode, not a proof.
    Raises FrameworkMissing (an ArchError) when Keras or PyTorch is not installed.
    """
    from archdsl.tools.verify import DEFAULT_ATOL, DEFAULT_RTOL, verify_model

    return verify_model(model, seed, DEFAULT_ATOL if atol is None else atol, DEFAULT_RTOL if rtol is None else rtol)


def load_ipython_extension(ipython) -> None:
    """`%load_ext archdsl`: registers the `%%arch` cell magic (IPython is imported only now)."""
    from archdsl.tools.notebook import load_ipython_extension as register

    register(ipython)


__all__ = [
    "ArchError",
    "Diagnostic",
    "FrameworkMissing",
    "Layer",
    "Model",
    "Program",
    "Span",
    "__version__",
    "build",
    "format_source",
    "generate",
    "load",
    "load_ipython_extension",
    "parse",
    "verify",
]
