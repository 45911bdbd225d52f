"""Hints computed from the sizes at hand, each with the edit it proposes.

The layer table's shape rules say what is wrong in general terms ("reshape the vector into
an image first"). Here the real sizes, the layer's configuration and the source text are
known, so the hint can be an example that fits: `reshape 10x10x1` for 100 values, not the
28x28x1 of MNIST. Every example is tried through the layer's own shape rule before it is
offered, so a hint never proposes what would fail again, and it comes with the `Fix` that
writes it (tests/test_hints.py applies every one and checks the result).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from archdsl.common.diagnostics import Fix, Span
from archdsl.ir.graph import GraphNode
from archdsl.ir.model import Layer
from archdsl.layers import LAYERS, LayerSpec
from archdsl.layers.shapes import Shape, ShapeError, format_dims

# Layers that hand their input's shape on: looked through for the recurrent layer that dropped the steps.
# The largest kernel side in common use (AlexNet's first layer is 11x11; VGG, ResNet and
# CycleGAN use 7x7 and less). A larger "kernel" beside a smaller filter count is more likely
# the two numbers written the wrong way round.
COMMON_KERNEL_MAX = 11
_MAX_TRIES = 32  # reshapes tried for one hint
# The first axis of an image or a volume as PyTorch writes it holds the channels: 1 (grey),
# 3 (RGB), 4 (RGBA, or DQN's four stacked frames). Read channels last, that is an image at
# most 4 pixels high with as many channels as it is wide, which no real input is.
CHANNELS_FIRST_MAX = 4
SPATIAL_MIN = 16


@dataclass(frozen=True, slots=True)
class Failure:
    """A layer whose shape rule refused its input, with all that a better hint can use."""

    error: ShapeError
    node: GraphNode
    spec: LayerSpec
    config: Mapping[str, Any]  # as bound, before the shape rule's `resolve`
    inputs: tuple[Shape, ...]
    checked: Mapping[str, Layer]  # the layers before it, by name
    source: str
    model_input: GraphNode


@dataclass(frozen=True, slots=True)
class Hint:
    message: str
    hint: str | None
    fix: Fix | None = None


def refine(failure: Failure) -> Hint:
    """The error's message and hint, made specific where the sizes allow."""
    rules = (
        _after_last_step,
        _reshape_first,
        _channels_first_on_small_input,
        _swapped_on_small_input,
        _merge_of_different_ranks,
    )
    for rule in rules:
        found = rule(failure)
        if found is not None:
            return found
    return Hint(failure.error.message, failure.error.hint)


# ---------------------------------------------------------------- the source as written


def written(source: str, span: Span) -> tuple[str, Span] | None:
    """A layer as the user wrote it (`lstm 32`, without `as NAME`) and the span of that text."""
    lines = source.split("\n")  # as the parser counts lines
    if span.line != span.end_line or not 1 <= span.line <= len(lines):
        return None
    text = lines[span.line - 1].rstrip("\r")[span.column - 1 : span.end_column - 1]
    text = text.split(" as ")[0].rstrip()
    return text, Span(span.file, span.line, span.column, span.line, span.column + len(text))


def _text_at(source: str, span: Span) -> str:
    found = written(source, span)
    return found[0] if found else ""


def swapped_positionals(node: GraphNode, source: str) -> tuple[str, Fix] | None:
    """The layer with its first two numbers exchanged (`conv2d 3 32` as `conv2d 32 3`), and the edit.

    None unless both numbers are written in the layer's own text: a number that came from a
    block call's argument is written elsewhere, and exchanging it there would change other calls.
    """
    numbers = [arg for arg in node.args if not isinstance(arg.value, str)][:2]
    layer = written(source, node.span)
    if len(numbers) < 2 or layer is None or not all(isinstance(arg.value, int) for arg in numbers):
        return None  # `conv2d 3 32x32` exchanged would still read 32x32 as the kernel
    first, second = (arg.span for arg in numbers)
    if not (node.span.contains(first) and node.span.contains(second) and first.line == second.line == node.span.line):
        return None
    text, span = layer
    start, end = first.column - span.column, second.end_column - span.column
    a = text[start : first.end_column - span.column]
    between = text[first.end_column - span.column : second.column - span.column]
    b = text[second.column - span.column : end]
    exchanged = b + between + a
    edit = Fix(Span(span.file, span.line, first.column, span.line, second.end_column), exchanged)
    return text[:start] + exchanged + text[end:], edit


def _insert_before(span: Span, text: str) -> Fix:
    return Fix(Span(span.file, span.line, span.column, span.line, span.column), text)


def _insert_after(span: Span, text: str) -> Fix:
    return Fix(Span(span.file, span.end_line, span.end_column, span.end_line, span.end_column), text)


# ---------------------------------------------------------------- trying a shape


def fits(spec: LayerSpec, config: Mapping[str, Any], inputs: tuple[Shape, ...]) -> bool:
    """Whether the layer, configured as it is, accepts these input shapes."""
    work = {**config, "_name": spec.name}
    try:
        spec.infer(spec.resolve(work, inputs), inputs)
    except ShapeError:
        return False
    return True


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


def _reshapes(count: int, rank: int) -> Iterator[tuple[int, ...]]:
    """Shapes of `rank` axes holding `count` values, the most even first, channels last and small."""
    if rank == 2:
        yield (count, 1)
        return
    spatial = rank - 1
    for channels in (1, 3):
        if count % channels:
            continue
        rest = count // channels
        divisors = _divisors(rest)  # at most 1,600 for a size below 2**31; the divisors of a divisor are among them
        shapes: list[tuple[int, ...]] = []
        for first in divisors:
            if spatial == 2:
                shapes.append((first, rest // first))
            else:
                left = rest // first
                shapes += [(first, second, left // second) for second in divisors if left % second == 0]
        for shape in sorted(shapes, key=lambda s: (max(s) - min(s), s)):
            yield (*shape, channels)


# ---------------------------------------------------------------- the rules


def _after_last_step(failure: Failure) -> Hint | None:
    """`lstm 64 -> lstm 32`: the first returns only its last step; the fix is its `seq` flag."""
    node, checked = failure.node, failure.checked
    if failure.error.wanted != "sequence":
        return None
    producer = checked.get(node.inputs[0]) if node.inputs else None
    # Look through layers that keep the shape (dropout, activations) for the RNN that dropped the steps.
    while producer is not None and LAYERS[producer.type].keeps_shape and producer.inputs:
        producer = checked.get(producer.inputs[0])
    if producer is None or LAYERS[producer.type].category != "recurrent" or producer.config["seq"]:
        return None
    label = _text_at(failure.source, node.span) or node.type
    message = f"{label} needs a sequence, but the {producer.type} before it returns only its last step: add 'seq' to it"
    found = written(failure.source, producer.span)
    if found is None:
        return Hint(message, f"add 'seq' to the {producer.type} at line {producer.span.line}")
    text, span = found
    fixed = text.replace("seq=false", "seq=true") if "seq=false" in text else f"{text} seq"
    return Hint(message, f"write '{fixed}' at line {producer.span.line}", Fix(span, fixed))


_RESHAPED = {
    ("sequence", 1): (
        "token ids need an 'embedding' first; other vectors need a reshape to become a sequence, e.g. '{example}'"
    ),
    ("sequence", 3): "turn the image into a sequence first, e.g. '{example}', or use conv2d layers",
    ("image", 1): "reshape the vector into an image first, e.g. '{example}'",
    ("volume", 1): "reshape the vector into a volume first, e.g. '{example}'",
}
_RANKS = {"sequence": 2, "image": 3, "volume": 4}


def _reshape_first(failure: Failure) -> Hint | None:
    """A rank error whose fix is a reshape: the first reshape of the real size that the layer takes."""
    shape = failure.inputs[0] if failure.inputs else ()
    template = _RESHAPED.get((failure.error.wanted or "", len(shape)))
    if template is None or not all(isinstance(d, int) for d in shape):
        return None
    count = math.prod(shape)  # type: ignore[arg-type]
    rank = _RANKS[failure.error.wanted or ""]
    candidates = [(shape[0], count // shape[0])] if len(shape) == 3 else _reshapes(count, rank)
    for tries, candidate in enumerate(candidates):
        if tries == _MAX_TRIES:
            break
        if fits(failure.spec, failure.config, (candidate,) + failure.inputs[1:]):
            example = f"reshape {format_dims(candidate)}"
            hint = template.format(example=example)
            return Hint(failure.error.message, hint, _insert_before(failure.node.span, f"{example} -> "))
    what = {"sequence": "(steps, features)", "image": "(height, width, channels)", "volume": "(depth, height, width)"}
    return Hint(
        failure.error.message,
        f"no reshape of its {count:,} values into {what[failure.error.wanted or '']} fits {failure.spec.name} as "
        f"configured: change the layer, or the layers before it",
    )


def channels_last(shape: Shape) -> Shape | None:
    """The channels-last shape a channels-first input (`3x224x224`) was meant as; None when it does not look so."""
    if len(shape) not in (3, 4) or not all(isinstance(d, int) for d in shape):
        return None
    first, rest = shape[0], shape[1:]
    if not (first <= CHANNELS_FIRST_MAX and all(d >= SPATIAL_MIN for d in rest)):  # type: ignore[operator]
        return None
    return (*rest, first)


def _channels_first_on_small_input(failure: Failure) -> Hint | None:
    """`input 1x28x28 -> conv2d 8`: the kernel cannot fit a 1-pixel height, because the channels came first."""
    if failure.error.code != "A302" or not failure.model_input.args:
        return None
    arg = failure.model_input.args[0]
    shape = arg.value if isinstance(arg.value, tuple) else (arg.value,)
    meant = channels_last(shape)  # type: ignore[arg-type]
    if meant is None:
        return None
    return Hint(
        failure.error.message,
        f"the input {format_dims(shape)} has its channels first: did you mean 'input {format_dims(meant)}'? "
        "channels come last, batch axis excluded",
        Fix(arg.span, format_dims(meant)),
    )


def _swapped_on_small_input(failure: Failure) -> Hint | None:
    """`conv2d 3 32` on 28x28: a kernel too large for the input, where 32 filters of 3 would fit."""
    config, error = failure.config, failure.error
    if error.code != "A302" or "filters" not in config or "kernel" not in config:
        return None
    filters, kernel = config["filters"], config["kernel"]
    side = max(kernel) if isinstance(kernel, tuple) else kernel
    if not (filters <= COMMON_KERNEL_MAX and side > filters):
        return None
    if not fits(failure.spec, {**config, "filters": side, "kernel": filters}, failure.inputs):
        return None
    found = swapped_positionals(failure.node, failure.source)
    if found is None:
        return Hint(error.message, f"did you mean {side} filters of {filters}? the filters come first; or {error.hint}")
    text, edit = found
    return Hint(error.message, f"did you mean '{text}'? the filters come first, then the kernel; or {error.hint}", edit)


def _merge_of_different_ranks(failure: Failure) -> Hint | None:
    """A branch with fewer axes that would broadcast once its missing axes are written as size 1:
    `( identity | globalavgpool -> dense 64 sigmoid ) -> multiply` wants a `reshape 1x1x64`
    after the dense, or `globalavgpool keepdims` where the pooling is the branch's end."""
    spec, inputs = failure.spec, failure.inputs
    if failure.error.code != "A305" or not spec.merge or spec.name == "concat" or len({len(s) for s in inputs}) == 1:
        return None
    rank = max(len(s) for s in inputs)
    padded = tuple((1,) * (rank - len(s)) + s for s in inputs)
    if not fits(spec, failure.config, padded):
        return None
    general = f"{spec.name} stretches axes of size 1 but does not add missing ones"
    for name, shape, wanted in zip(failure.node.inputs, inputs, padded, strict=True):
        if shape == wanted:
            continue
        producer = failure.checked.get(name)
        if producer is None or not _ends_branch(producer, failure):
            return Hint(
                failure.error.message, f"{general}: reshape the {format_dims(shape)} branch to {format_dims(wanted)}"
            )
        pooled = producer.type in ("globalavgpool", "globalmaxpool") and len(producer.input_shape) == len(wanted)
        layer = written(failure.source, producer.span)
        if pooled and layer is not None:
            text, span = layer
            return Hint(
                failure.error.message,
                f"{general}: keep the pooled axes with '{text} keepdims'",
                _insert_after(span, " keepdims"),
            )
        example = f"reshape {format_dims(wanted)}"
        return Hint(
            failure.error.message,
            f"{general}: give the {format_dims(shape)} branch its missing axes with '{example}'",
            _insert_after(producer.span, f" -> {example}"),
        )
    return None


def _ends_branch(layer: Layer, failure: Failure) -> bool:
    """Whether `layer` is written last in a branch of the merge's own group, so that a layer can follow it there.

    Not when it comes from a block body (the edit would change every call) or ends a repetition.
    """
    if layer.scope != failure.node.scope:
        return False
    lines = failure.source.split("\n")
    after = "\n".join([lines[layer.span.end_line - 1][layer.span.end_column - 1 :], *lines[layer.span.end_line :]])
    return re.match(r"(?:\s|#[^\n]*)*(?:\||\)(?!(?:\s|#[^\n]*)*\*))", after) is not None  # not `( ... ) * N`
