"""Which tensors of a model carry a padding mask, as Keras passes masks along.

An `embedding mask_zero` makes a mask, True at the real tokens. Each layer after it does
with the mask what its Keras layer does (`LayerSpec.mask`): passes it on, uses it, prepends a
real step, merges the branches' masks, drops it, or loses it where Keras cannot mask. Keras
does this by itself; the PyTorch target reads the result from each layer's `mask` and writes
the same explicitly. A tensor without a mask has every step real, which is also what Keras
computes from the masks it makes all True (a concat of features whose branches are not all
masked), so those are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from archdsl.ir.model import Layer
from archdsl.layers import LAYERS
from archdsl.layers.spec import MASK_CONSUMES, MASK_LOST, MASK_MERGES, MASK_PASSES, MASK_PREPENDS, MASK_USES


def joins_steps(layer: Layer) -> bool:
    """A concat of sequences along their steps (the axis is resolved, counted back from the features):
    their masks are joined along the steps too."""
    return layer.type == "concat" and len(layer.input_shape) == 2 and layer.config["axis"] == -2


def output_mask(layer: Layer, incoming: Sequence[str | None]) -> str | None:
    """The mask the layer's output carries, given the masks of its inputs (see `Layer.mask`)."""
    spec = LAYERS[layer.type]
    if spec.makes_mask is not None and spec.makes_mask(layer.config):
        return layer.inputs[0]  # named after the token ids: two embeddings of them make the same mask
    if spec.mask == MASK_MERGES:
        if all(mask is None for mask in incoming):
            return None
        if joins_steps(layer):
            return layer.name  # the branches' masks (all real for a branch without one), one after the other
        if None in incoming:
            # Keras' element-wise merges then drop the mask, and a concat of features ORs it with all
            # real steps: every step is real either way.
            return None
        # A step is real where it is real in any branch (Keras ORs the masks).
        return incoming[0] if len(set(incoming)) == 1 else layer.name
    first = incoming[0] if incoming else None
    if first is None:
        return None
    if spec.mask == MASK_PASSES:
        return first
    if spec.mask == MASK_USES:
        return first if len(layer.output_shape) == 2 else None  # it goes on while the steps do
    if spec.mask == MASK_PREPENDS:
        return layer.name
    return None  # consumed, dropped, or lost (Keras cannot mask the layer: lint warns)


def ends_unexpectedly(layer: Layer) -> bool:
    """Whether a mask reaching the layer ends there although nothing used it up: a layer Keras cannot
    mask, or a merge whose other branches have no mask (Keras then drops it without a word)."""
    if not any(layer.input_masks) or layer.mask is not None:
        return False
    rule = LAYERS[layer.type].mask
    return rule == MASK_LOST or (rule == MASK_MERGES and not joins_steps(layer))


def mask_note(layer: Layer) -> str:
    """What the layer does with a padding mask, for the check table ('' when none reaches it)."""
    spec = LAYERS[layer.type]
    if spec.makes_mask is not None and spec.makes_mask(layer.config):
        return "token 0 is padding: masked"
    if not any(layer.input_masks):
        return ""
    if spec.mask in (MASK_USES, MASK_CONSUMES):
        return "leaves padded steps out"
    if ends_unexpectedly(layer):
        return "padding mask lost here"
    if layer.mask is not None and layer.mask not in layer.input_masks:
        return "padding mask: " + ("one more real step" if spec.mask == MASK_PREPENDS else "branches' masks combined")
    return ""
