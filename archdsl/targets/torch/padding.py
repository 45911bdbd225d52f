"""TensorFlow's 'same' padding in PyTorch.

TensorFlow pads `same` unevenly when it must, with the extra row or column at the end;
PyTorch's `padding=` pads both sides alike (and refuses `padding="same"` with a stride).
So a symmetric pad becomes `padding=`, and an uneven one an explicit `F.pad` before the
layer; either way the layer's note says which, in the values written.
"""

from __future__ import annotations

from archdsl.ir.model import Layer
from archdsl.layers.shapes import same_padding
from archdsl.targets.common import Note, UnsupportedError
from archdsl.targets.pycode import literal
from archdsl.targets.torch.registry import one

Pads = list[tuple[int, int]]


def same_pads(layer: Layer, window: tuple[int, ...], stride: tuple[int, ...], dilation=None) -> Pads:
    """TensorFlow's 'same' padding per spatial axis: (before, after)."""
    pads = []
    dilation = dilation or (1,) * len(window)
    for length, k, s, d in zip(layer.input_shape[:-1], window, stride, dilation, strict=True):
        if isinstance(length, int):
            pads.append(same_padding(length, k, s, d))
        elif s == 1:
            total = (k - 1) * d
            pads.append((total // 2, total - total // 2))
        else:
            raise UnsupportedError(
                layer.name,
                f"{layer.type} with 'same' padding and stride {s} over the symbolic size '{length}' has padding "
                "that depends on the length at run time",
                "give that axis a fixed size, or use 'valid' padding",
            )
    return pads


def pad_arg(pads: Pads) -> tuple[int, ...]:
    """F.pad wants the last axis first: (left, right, top, bottom, ...)."""
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return tuple(flat)


SYMMETRIC = "Keras' padding='same' is an explicit padding= in PyTorch."
UNEVEN = (
    "TensorFlow puts the extra row and column of padding='same' at the end and PyTorch's padding= pads both "
    "sides alike, so where it is uneven the code pads by hand with F.pad."
)


CAUSAL = (
    "Keras' padding='causal' puts every zero before the sequence, the dilation times the kernel size less one of "
    "them, so that no output step sees a later input step; PyTorch's Conv1d has no causal padding, so the code "
    "pads the start by hand with F.pad."
)


def _causal(window, dilation) -> tuple[dict[str, object], tuple[int, ...] | None, list[Note]]:
    pads = [((k - 1) * d, 0) for k, d in zip(window, dilation, strict=True)]
    if all(before == 0 for before, _ in pads):
        return {}, None, []  # a kernel of one step looks at no other step
    pad = pad_arg(pads)
    return {}, pad, [Note("Causal padding", CAUSAL, f"`{literal(pad)}`")]


def padding(
    layer: Layer, window, stride, dilation=None, explicit: bool = False
) -> tuple[dict[str, object], tuple[int, ...] | None, list[Note]]:
    """Conv/pool padding: symmetric as the module's `padding=`, else (or when `explicit`) an explicit F.pad.

    Returns the keyword arguments of the module, the F.pad argument (or None), and the note.
    """
    if layer.config["padding"] == "causal":
        return _causal(window, dilation or (1,) * len(window))
    if layer.config["padding"] != "same":
        return {}, None, []
    pads = same_pads(layer, window, stride, dilation)
    if all(before == 0 and after == 0 for before, after in pads):
        return {}, None, []
    if not explicit and all(before == after for before, after in pads):
        value = one(tuple(before for before, _ in pads))
        note = Note(
            "Padding", "Keras' padding='same' is an explicit padding= in PyTorch.", f"`padding={literal(value)}`"
        )
        return {"padding": value}, None, [note]
    pad = pad_arg(pads)
    return {}, pad, [Note("Padding", UNEVEN, f"`{literal(pad)}`")]
