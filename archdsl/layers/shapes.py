"""Pure shape arithmetic, as Keras' `operation_utils` does it.

Shapes are per sample, channels LAST, batch axis excluded. A dimension is an
int or, when unknown until run time, a string: the user's symbolic name or an
expression built from it (`seq-2`), so a symbolic dimension flows through.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

Dim = int | str
Shape = tuple[Dim, ...]

RANK_NAMES = {1: "a vector", 2: "a sequence", 3: "an image", 4: "a volume"}

# What a symbolic size stands for where a number is needed: the batch of the generated
# code's `__main__`, verify's random inputs, and the multiply-adds of `check --macs`.
EXAMPLE_SIZE = 16


class ShapeError(Exception):
    """A layer cannot take the shape it is given; `wanted` names what it needed."""

    def __init__(self, message: str, hint: str | None = None, wanted: str | None = None, code: str = "A301"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.wanted = wanted
        self.code = code


def format_dims(shape: Sequence[Dim]) -> str:
    """`62x62x32`, or `seq x 8` when a size is a name (as the user would write it)."""
    joiner = "x" if all(isinstance(d, int) for d in shape) else " x "
    return joiner.join(str(d) for d in shape)


def format_pads(pairs: Sequence[tuple[int, int]]) -> str:
    """(before, after) per axis as the user writes them for `zeropad` and `crop`: `1x2` when
    every axis has the same on both sides, else one item per axis, `0x1 3` (a pair only where
    the sides differ); a sequence's one pair is `1x2`, before and after."""
    if all(before == after for before, after in pairs):
        return format_dims([before for before, _ in pairs])
    if len(pairs) == 1:
        return format_dims(pairs[0])
    return " ".join(str(before) if before == after else format_dims((before, after)) for before, after in pairs)


def describe(shape: Shape) -> str:
    """`62x62x32 (an image)`: the shape as the user writes it, and what it is."""
    name = RANK_NAMES.get(len(shape), f"a rank-{len(shape)} tensor")
    return f"{format_dims(shape)} ({name})"


def display_shape(shape: Shape) -> str:
    """Like Keras' summary, keeping symbolic names: `(None, seq, 64)`."""
    return "(" + ", ".join(["None", *(str(d) for d in shape)]) + ")"


def batch_shape(shape: Shape) -> str:
    """With the batch axis written N, as in the generated code's comments: `(N, 64, 64, 1)`."""
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


def _sym(text: str) -> str:
    return text if text.isidentifier() else f"({text})"


def sym_add(dim: Dim, amount: int) -> Dim:
    if isinstance(dim, int):
        return dim + amount
    if amount == 0:
        return dim
    return f"{dim}{'+' if amount > 0 else '-'}{abs(amount)}"


def sym_mul(dim: Dim, factor: int) -> Dim:
    if isinstance(dim, int):
        return dim * factor
    return dim if factor == 1 else f"{_sym(dim)}*{factor}"


def sym_ceil_div(dim: Dim, divisor: int) -> Dim:
    if isinstance(dim, int):
        return -(-dim // divisor)
    return dim if divisor == 1 else f"ceil({_sym(dim)}/{divisor})"


def sym_floor_div(dim: Dim, divisor: int) -> Dim:
    if isinstance(dim, int):
        return dim // divisor
    return dim if divisor == 1 else f"{_sym(dim)}//{divisor}"


def conv_output_length(length: Dim, kernel: int, padding: str, stride: int, dilation: int = 1) -> Dim:
    """Keras' conv_output_length: valid shrinks by the dilated kernel, same and causal only stride."""
    effective = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return sym_ceil_div(length, stride)
    if isinstance(length, int):
        return (length - effective) // stride + 1
    return (
        sym_add(sym_floor_div(sym_add(length, -effective), stride), 1) if stride > 1 else sym_add(length, 1 - effective)
    )


def deconv_output_length(length: Dim, kernel: int, padding: str, stride: int) -> Dim:
    """Keras' deconv_output_length without output_padding."""
    if padding == "same":
        return sym_mul(length, stride)
    return sym_add(sym_mul(length, stride), max(kernel - stride, 0))


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after): the extra pixel goes at the end."""
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(length / stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def product(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)  # type: ignore[arg-type]
    return "*".join(_sym(str(d)) for d in dims)


def evaluate(dim: Dim, size: int = EXAMPLE_SIZE) -> int:
    """The number a dimension stands for when every symbolic name in it is `size`.

    `seq`, `seq-2`, `ceil((seq-2)/2)`, `(seq)*2`: the expressions the `sym_*`
    functions above write, read back by a parser of their own, since a name may be
    any word the user chose (`None`, `lambda`, `ceil`) and Python would misread it.
    """
    return dim if isinstance(dim, int) else _evaluate_text(dim, size)


def symbols(dim: Dim) -> frozenset[str]:
    """The symbolic names a dimension depends on."""
    if isinstance(dim, int):
        return frozenset()
    tokens = _tokens(dim)
    return frozenset(
        token
        for token, following in zip(tokens, [*tokens[1:], ""], strict=True)
        if token[0].isalpha() or token[0] == "_"
        if not (token == "ceil" and following == "(")
    )


_TOKEN = re.compile(r"\s*(\d+|[A-Za-z_]\w*|//|[-+*/()])")


@functools.lru_cache(maxsize=1024)
def _tokens(text: str) -> tuple[str, ...]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"not a size expression archdsl writes: {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tuple(tokens)


@functools.lru_cache(maxsize=1024)
def _evaluate_text(text: str, size: int) -> int:
    from fractions import Fraction  # only here: a cold `archdsl check` needs no symbolic arithmetic

    tokens = [*_tokens(text), ""]
    position = 0

    def take(expected: str | None = None) -> str:
        nonlocal position
        token = tokens[position]
        if expected is not None and token != expected:
            raise ValueError(f"not a size expression archdsl writes: {text!r}")
        position += 1
        return token

    def expression() -> Fraction:
        value = term()
        while tokens[position] in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    def term() -> Fraction:
        value = factor()
        while tokens[position] in ("*", "/", "//"):
            operator = take()
            right = factor()
            value = value * right if operator == "*" else value / right if operator == "/" else Fraction(value // right)
        return value

    def factor() -> Fraction:
        token = take()
        if token == "-":
            return -factor()
        if token == "(":
            value = expression()
            take(")")
            return value
        if token.isdigit():
            return Fraction(int(token))
        if token == "ceil" and tokens[position] == "(":
            take("(")
            value = expression()
            take(")")
            return Fraction(math.ceil(value))
        if token[:1].isalpha() or token[:1] == "_":
            return Fraction(size)
        raise ValueError(f"not a size expression archdsl writes: {text!r}")

    value = expression()
    take("")
    if value.denominator != 1:
        raise ValueError(f"size {text!r} is not a whole number for {size}")
    return int(value)
