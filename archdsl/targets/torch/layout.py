"""How PyTorch holds a tensor that Keras holds channels last.

An image or a volume is channels first, (N, C, H, W). A sequence is kept as
(N, T, C), the layout of RNNs, attention, Linear and LayerNorm, and turned to
(N, C, T) only around the layers that read it as a signal (Conv1d, pooling,
BatchNorm): the layer table's `reads_sequence` says which. A flat vector is
(N, F), in Keras' order unless a flatten was left in PyTorch's (C, H, W) order
for the dense layer after it (see `core.flatten`).
"""

from __future__ import annotations

from archdsl.layers.shapes import Shape
from archdsl.layers.spec import SIGNAL, STEPS, LayerSpec

CHANNELS_FIRST = "(N, C, ...)"
STEPS_FIRST = "(N, T, C)"
FLAT = "(N, F)"
FLAT_CHANNELS_FIRST = "(N, F) in (C, H, W) order"

_BY_READING = {SIGNAL: CHANNELS_FIRST, STEPS: STEPS_FIRST}


def layout_of(shape: Shape, sequence_layout: str) -> str:
    """The layout of a tensor of this sample shape, given how its sequences are held."""
    if len(shape) == 1:
        return FLAT
    if len(shape) == 2:
        return sequence_layout
    return CHANNELS_FIRST


def wanted_layout(spec: LayerSpec, input_shape: Shape) -> str | None:
    """The layout a layer needs its input in; None when any will do (only sequences have a choice)."""
    if len(input_shape) != 2:
        return None
    return _BY_READING.get(spec.reads_sequence)


def needs_transpose(have: str, want: str | None) -> bool:
    """Whether a sequence held in `have` must be transposed for a reader that wants `want`."""
    return want is not None and have != want and have in (CHANNELS_FIRST, STEPS_FIRST)


def convert(expr: str, have: str, want: str | None) -> str:
    """An input expression moved to the layout its reader wants."""
    return f"{expr}.transpose(1, 2)" if needs_transpose(have, want) else expr


def torch_dims(shape: Shape, layout: str) -> Shape:
    """A sample shape (channels last, as archdsl infers it) in the order a layout holds it."""
    if layout == CHANNELS_FIRST and len(shape) >= 2:
        return (shape[-1], *shape[:-1])
    return tuple(shape)


def torch_shape(shape: Shape, layout: str) -> str:
    """The shape comment of a forward line: `(N, 32, 62, 62)`."""
    return "(" + ", ".join(["N", *(str(d) for d in torch_dims(shape, layout))]) + ")"


def to_channels_last(rank: int) -> str:
    """`permute(...)` arguments from channels first to last for a batch of this sample rank."""
    return ", ".join(str(i) for i in (0, *range(2, rank + 1), 1))


def to_channels_first(rank: int) -> str:
    return ", ".join(str(i) for i in (0, rank, *range(1, rank)))
