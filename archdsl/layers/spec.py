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

ACTIVATIONS = ("relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh", "softmax")
PADDINGS = ("same", "valid")
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
    """Parameter counts as each framework reports them.

    keras: `count_params()` (BatchNorm's moving statistics included);
    torch: sum of `numel()` over `parameters()` (buffers excluded).
    """

    keras: int = 0
    torch: int = 0

    def __add__(self, other: Params) -> Params:
        return Params(self.keras + other.keras, self.torch + other.torch)

    def __mul__(self, factor: int) -> Params:
        return Params(self.keras * factor, self.torch * factor)


NO_PARAMS = Params()


@record
class Arg:
    """One argument of a layer.

    kind is how a written value is read: 'int', 'float', 'dims' (an int or NxM,
    one per spatial axis), 'shape' (target dims, -1 allowed), 'activation',
    'padding', 'bool' or 'axis'. positional args take bare numbers and dims in
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


def _unchanged(config: Mapping[str, Any], inputs: tuple[Shape, ...]) -> Shape:
    return inputs[0]


def _as_is(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    return config


@record
class LayerSpec:
    """One entry of the layer table.

    resolve fills what depends on the input (pool sizes per axis, a stride
    that defaults to the pool size); infer is the shape rule and raises
    ShapeError; params counts weights for both targets; ignores_input, where
    a configuration can make the output independent of the input, says why
    and how to fix it (check warns with A702).
    """

    name: str
    summary: str
    args: tuple[Arg, ...] = ()
    flags: tuple[str, ...] = ()
    infer: Callable[[Mapping[str, Any], tuple[Shape, ...]], Shape] = _unchanged
    params: Callable[[Mapping[str, Any], tuple[Shape, ...], Shape], Params] = _no_params
    resolve: Callable[[dict[str, Any], tuple[Shape, ...]], dict[str, Any]] = _as_is
    ignores_input: Callable[[Mapping[str, Any], tuple[Shape, ...]], tuple[str, str] | None] | None = None
    merge: bool = False
    category: str = "core"
    example: str = ""
    arg_index: Mapping[str, Arg] = field(init=False, repr=False, compare=False)
    positional_args: tuple[Arg, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arg_index", MappingProxyType({a.name: a for a in self.args}))
        object.__setattr__(self, "positional_args", tuple(a for a in self.args if a.positional))

    @property
    def positional_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.positional)

    def words(self) -> tuple[str, ...]:
        """The bare words this layer understands, for 'did you mean' hints."""
        words: list[str] = list(self.flags)
        for arg in self.args:
            if arg.kind == "activation":
                words += ACTIVATIONS
            elif arg.kind == "padding":
                words += PADDINGS
        return tuple(words)
