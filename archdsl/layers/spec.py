"""What a layer entry is: its argument schema, shape rule and parameter counts.

Binding turns the words a user wrote (`conv2d 32 3x3 same relu stride=2`) into a
complete configuration with every default filled in; defaults live here and
nowhere else, so no target ever invents one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from archdsl.common.diagnostics import Fix
from archdsl.common.record import record
from archdsl.layers.shapes import Shape

ACTIVATIONS = (
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "selu",
    "gelu",
    "gelu_tanh",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "hardswish",
    "hardsigmoid",
    "abs",
)
NO_ACTIVATION = ("none", "linear")  # what an activation argument takes for no activation
PADDINGS = ("same", "valid")
CAUSAL = "causal"  # Keras' padding="causal", for conv1d: pad the start of the sequence only
BOOLEAN_WORDS = {"true": True, "false": False}


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class BindError(Exception):
    """An argument the layer cannot take, where it was written, and the edit the hint proposes, if any."""

    def __init__(self, code: str, message: str, hint: str | None = None, span=None, fix: Fix | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.span = span
        self.fix = fix


@record
class Params:
    """Weight counts as each framework's own summary reports them.

    keras: `count_params()`, the "Total params" of `model.summary()`, moving
    statistics included; keras_non_trainable: the part of it in
    `non_trainable_weights` (BatchNorm's moving mean and variance), which the
    optimizer never updates. torch: the sum of `numel()` over `parameters()`;
    torch_buffers: the sum over `buffers()`, the state PyTorch keeps outside
    its parameters (BatchNorm's running mean and variance, and its one-element
    `num_batches_tracked` counter).
    """

    keras: int = 0
    torch: int = 0
    keras_non_trainable: int = 0
    torch_buffers: int = 0

    @property
    def keras_trainable(self) -> int:
        return self.keras - self.keras_non_trainable

    def __add__(self, other: Params) -> Params:
        return Params(
            self.keras + other.keras,
            self.torch + other.torch,
            self.keras_non_trainable + other.keras_non_trainable,
            self.torch_buffers + other.torch_buffers,
        )

    def __mul__(self, factor: int) -> Params:
        return Params(
            self.keras * factor,
            self.torch * factor,
            self.keras_non_trainable * factor,
            self.torch_buffers * factor,
        )

    def to_json(self) -> dict[str, int]:
        """The figures `check --json` reports; `keras` and `torch` were its first keys and stay."""
        return {
            "keras": self.keras,
            "torch": self.torch,
            "keras_trainable": self.keras_trainable,
            "keras_non_trainable": self.keras_non_trainable,
            "torch_buffers": self.torch_buffers,
        }


NO_PARAMS = Params()


@record
class Arg:
    """One argument of a layer.

    kind is how a written value is read: 'int', 'float', 'floats' (a number, or
    one per channel as dims of decimals: 0.5x0.4x0.4), 'dims' (an int or NxM,
    one per spatial axis), 'pads' (dims, or a BEFORExAFTER pair per spatial axis
    written one after another), 'shape' (target dims, -1 allowed), 'activation',
    'padding' (one of `choices`: same and valid, and causal for conv1d), 'bool',
    'axis' or 'choice'. positional args take bare numbers and dims in
    the order they are listed. check returns what is wrong with a value, or that
    and the value the user probably meant (`dropout 25`: 0.25).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    positional: bool = False
    check: Callable[[Any], str | tuple[str, Any] | None] | None = None
    doc: str = ""
    choices: tuple[str, ...] = ()


def _no_params(config: Mapping[str, Any], inputs: tuple[Shape, ...], output: Shape) -> Params:
    return NO_PARAMS


def _no_macs(config: Mapping[str, Any], inputs: tuple[Shape, ...], output: Shape) -> int:
    return 0


def _unchanged(config: Mapping[str, Any], inputs: tuple[Shape, ...]) -> Shape:
    return inputs[0]


def _as_is(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    return config


# How a layer reads a sequence (steps, features), the fact each target turns into a layout:
SIGNAL = "signal"  # as a 1-D signal whose features are channels (conv1d, pooling, batchnorm)
STEPS = "steps"  # step by step, features last (dense per step, RNNs, attention, layernorm)
ANY = "any"  # value by value or branch by branch: any layout will do (activations, merges)
SEQUENCE_READINGS = (SIGNAL, STEPS, ANY)

# What a layer does with the padding mask its input carries (an `embedding mask_zero` made it), as
# its Keras layer does (tests/test_masks.py holds each to Keras): each target writes the same,
# Keras by itself, PyTorch explicitly.
MASK_PASSES = "passes"  # computes step by step, and the mask goes on with the steps (dense, norms, activations)
MASK_USES = "uses"  # leaves the padded steps out (RNNs, attention); the mask goes on while the steps do
MASK_CONSUMES = "consumes"  # leaves the padded steps out of what it sums up (globalavgpool); no steps are left
MASK_PREPENDS = "prepends"  # puts a real step first (clstoken): the mask gets one more step
MASK_MERGES = "merges"  # merges: the masks of the branches combine (none if a branch has none)
MASK_DROPS = "drops"  # reads a step whatever the mask says (take), and nothing of the steps is left to mask
MASK_LOST = "lost"  # Keras' layer does not support masking: the mask is lost there, and Keras warns
MASK_RULES = (MASK_PASSES, MASK_USES, MASK_CONSUMES, MASK_PREPENDS, MASK_MERGES, MASK_DROPS, MASK_LOST)


@record
class LayerSpec:
    """One entry of the layer table: everything archdsl knows about a layer type, apart from code.

    resolve fills what depends on the input (pool sizes per axis, a stride
    that defaults to the pool size); infer is the shape rule and raises
    ShapeError; params counts weights for both targets; macs counts the
    multiply-adds of one sample as torchinfo counts them in the PyTorch
    module (each weight and bias once per output position it is applied at;
    nothing for a layer without weights), from shapes whose symbolic sizes
    have been given numbers; ignores_input, where
    a configuration can make the output independent of the input, says why
    and how to fix it (check warns with A702).

    The traits below are what the passes, the targets and the tools ask of a
    layer type; they are read from here, never from lists of names elsewhere
    (tests/test_layer_traits.py walks the table against both targets):
    merge: it joins the branches of a group; branches: the numbers of branches of a group it
    may take besides a single input, for a layer that is not a merge (attention: 2 or 3, the
    query then the keys and values); elementwise: it maps each value
    on its own (shape, layout and axes untouched); keeps_shape: its output
    has its input's shape; reads_sequence: how it reads a (steps, features)
    input (SIGNAL, STEPS or ANY); mask: what it does with a padding mask on
    its input (MASK_PASSES, ..., MASK_LOST, as its Keras layer does);
    makes_mask: whether a configuration makes one (`embedding mask_zero`).
    `has_weights` and `fuses_activation` follow from `params` and `args`.
    """

    name: str
    summary: str
    args: tuple[Arg, ...] = ()
    flags: tuple[str, ...] = ()
    infer: Callable[[Mapping[str, Any], tuple[Shape, ...]], Shape] = _unchanged
    params: Callable[[Mapping[str, Any], tuple[Shape, ...], Shape], Params] = _no_params
    macs: Callable[[Mapping[str, Any], tuple[Shape, ...], Shape], int] = _no_macs
    resolve: Callable[[dict[str, Any], tuple[Shape, ...]], dict[str, Any]] = _as_is
    ignores_input: Callable[[Mapping[str, Any], tuple[Shape, ...]], tuple[str, str] | None] | None = None
    merge: bool = False
    branches: tuple[int, ...] = ()
    elementwise: bool = False
    keeps_shape: bool = False
    reads_sequence: str = STEPS
    mask: str = MASK_LOST
    makes_mask: Callable[[Mapping[str, Any]], bool] | None = None
    category: str = "core"
    example: str = ""
    arg_index: Mapping[str, Arg] = field(init=False, repr=False, compare=False)
    positional_args: tuple[Arg, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.reads_sequence in SEQUENCE_READINGS, self.reads_sequence
        assert self.mask in MASK_RULES, self.mask
        assert self.has_weights or self.macs is _no_macs, f"{self.name}: multiply-adds come from weights"
        assert not self.elementwise or self.keeps_shape, f"{self.name}: an element-wise layer keeps its shape"
        object.__setattr__(self, "arg_index", MappingProxyType({a.name: a for a in self.args}))
        object.__setattr__(self, "positional_args", tuple(a for a in self.args if a.positional))

    @property
    def has_weights(self) -> bool:
        """Whether the layer holds weights in Keras (and so needs a weight rule for verify)."""
        return self.params is not _no_params

    @property
    def counts_macs(self) -> bool:
        """Whether it has multiply-adds to count: a layer with weights in a module. A learned tensor that
        is only added or put in place (posembed, clstoken) multiplies nothing, and torchinfo, which
        counts modules, sees a bare nn.Parameter as none."""
        return self.macs is not _no_macs

    @property
    def fuses_activation(self) -> bool:
        """Whether it takes an `activation=` applied to its output (`conv2d 32 relu`)."""
        arg = self.arg_index.get("activation")
        return arg is not None and arg.kind == "activation"

    def words(self) -> tuple[str, ...]:
        """The bare words this layer understands, for 'did you mean' hints."""
        words: list[str] = list(self.flags)
        for arg in self.args:
            if arg.kind == "activation":
                words += ACTIVATIONS
            elif arg.kind == "padding":
                words += arg.choices or PADDINGS
        return tuple(words)
