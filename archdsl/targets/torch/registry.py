"""The PyTorch target's table: for each layer type, what it becomes and how its Keras weights map over.

Each family module (`convolution.py`, `recurrent.py`, ...) registers its emitters with
`translates`, and beside each emitter the weight rule that inverts it for verify. The
registry is built from the layer table where a whole family is one rule (every activation
layer, every merge); tests/test_layer_traits.py fails when a layer of the table has no
translation here, or has weights and no weight rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYERS
from archdsl.layers.spec import SIGNAL
from archdsl.targets.common import Note
from archdsl.targets.pycode import Call


@dataclass(frozen=True)
class Emit:
    """What an emitter is given for one layer."""

    layer: Layer
    inputs: tuple[str, ...]  # an expression per input, already in the layout the layer reads
    layout: str  # that layout (of its first input)
    source: str  # the variable that holds its first input, before any transpose
    in_place: bool  # whether its activation may overwrite the tensor it reads
    model: Model
    # The padding masks (`embedding mask_zero`): the variable holding each input's mask (None:
    # the input has none), and the variable to assign when the layer makes a new mask.
    masks: tuple[str | None, ...] = ()
    mask_out: str | None = None
    probe: bool = False  # verify's forward, which reports every layer's output, even one nothing reads

    @property
    def x(self) -> str:
        return self.inputs[0]

    @property
    def mask(self) -> str | None:
        """The mask of the first input: True at real steps, False at padding."""
        return self.masks[0] if self.masks else None

    @property
    def module(self) -> str:
        """The attribute of its module: its own, or that of the layer whose weights it uses again."""
        return f"self.{self.layer.shares or self.layer.name}"


@dataclass
class Step:
    """One forward line: `{out} = value`, with `{out}` replaced by the output variable."""

    target: str
    value: str | Call
    comment: str = ""
    shape: str = ""  # the shape comment of a line before the layer's last (which gets the output's)


@dataclass(frozen=True)
class Attribute:
    """`self.<layer>.<name> = value` in __init__, after the module is built: what its constructor
    cannot be asked for (a BatchNorm with a learned offset and no learned scale)."""

    name: str
    value: Call
    comment: str = ""


@dataclass
class Code:
    """What one layer becomes: its module (built in __init__), its forward lines, its notes.

    defines: the class templates (templates/torch/classes/) this code uses, where that depends
    on the layer (`translates(defines=...)` names one a layer type always needs).
    """

    module: Call | None
    steps: list[Step]
    layout: str
    notes: list[Note] = field(default_factory=list)
    module_comment: str = ""
    defines: tuple[str, ...] = ()
    attributes: list[Attribute] = field(default_factory=list)


Arrays = list[Any]  # numpy arrays, as Keras' get_weights() returns them


@dataclass(frozen=True)
class WeightContext:
    """What a weight rule may ask about the model around its layer."""

    producer: Callable[[Layer], Layer | None]  # the layer that feeds it (None for the model's input)
    layout: Callable[[str], str]  # the PyTorch layout of a layer's output, by name


Emitter = Callable[[Emit], Code]
WeightRule = Callable[[Layer, Arrays, WeightContext], dict[str, Any]]


@dataclass(frozen=True)
class Translation:
    """A layer type in PyTorch.

    weights: Keras' arrays to the layer's state_dict entries, keyed under its attribute (`weight`,
    `out_proj.bias`), or '' for a layer that is a bare nn.Parameter (None: the layer has no weights).
    fresh_output: its output is a new tensor that its backward does not read, so an
    activation after it may overwrite it in place. passes_input: its output may be its
    input itself or a view of it (identity, dropout in eval mode, flatten, reshape).
    defines: the class template (templates/torch/classes/) the module must hold, for a
    module PyTorch lacks.
    """

    emit: Emitter
    weights: WeightRule | None = None
    fresh_output: bool = False
    passes_input: bool = False
    defines: str | None = None


TRANSLATIONS: dict[str, Translation] = {}


def translates(
    *layer_types: str,
    weights: WeightRule | None = None,
    fresh_output: bool = False,
    passes_input: bool = False,
    defines: str | None = None,
) -> Callable[[Emitter], Emitter]:
    """Register the decorated emitter for these layer types."""

    def register(emit: Emitter) -> Emitter:
        for name in layer_types:
            assert name not in TRANSLATIONS, f"two PyTorch translations for {name}"
            TRANSLATIONS[name] = Translation(emit, weights, fresh_output, passes_input, defines)
        return emit

    return register


def one(values: tuple[int, ...]) -> int | tuple[int, ...]:
    """PyTorch takes one int for a size that is the same on every axis."""
    return values[0] if len(set(values)) == 1 else values


def module_call(emit: Emit, x: str | None = None) -> str:
    """`self.<name>(x)`: the layer's module applied in forward."""
    return f"{emit.module}({emit.x if x is None else x})"


SIZES = (
    "every PyTorch module is built with the size of its input, which archdsl computed from the shapes; "
    "Keras infers it when it builds the model."
)


def size_note(layer: Layer) -> Note:
    """The note of a module given its input size: `conv2d_1 reads 3 channels`."""
    count = layer.input_shape[-1]
    signal = len(layer.input_shape) == 2 and LAYERS[layer.type].reads_sequence == SIGNAL
    noun = "channel" if len(layer.input_shape) >= 3 or signal else "feature"
    return Note("Sizes", SIZES, f"reads {count} {noun}{'' if count == 1 else 's'}")


def with_bias(layer: Layer, state: dict[str, Any], bias: Any, key: str = "bias") -> dict[str, Any]:
    """A weight rule's state, with Keras' bias array added where the layer has one (`bias=false` has none)."""
    return {**state, key: bias} if layer.config["bias"] else state
