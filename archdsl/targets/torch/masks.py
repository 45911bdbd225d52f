"""Padding masks: what Keras hands from layer to layer by itself, PyTorch code holds in a variable.

Keras' `Embedding(mask_zero=True)` attaches a mask (True at the real tokens) to its output, and
every later layer that supports masking receives it without a word in the code
(archdsl/analysis/masks.py follows the same rules to say which tensors carry one). PyTorch
has no such thing: `forward` computes the mask from the token ids once, keeps it in a
variable, and passes it by hand to the layers that leave padding out (recurrent layers,
attention, globalavgpool: see their emitters). This module names those variables and writes
the lines of the layers that make a new mask from the masks they read (a class token, a merge).
"""

from __future__ import annotations

from archdsl.analysis.masks import joins_steps
from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYERS
from archdsl.layers.spec import MASK_CONSUMES, MASK_MERGES, MASK_PREPENDS, MASK_USES
from archdsl.targets.common import Note
from archdsl.targets.torch.layout import CHANNELS_FIRST
from archdsl.targets.torch.registry import Emit, Step


def read_masks(model: Model) -> set[str]:
    """The masks some line of forward reads: those a layer leaves padding out with, and those a
    new mask that is read is made from. A mask nothing reads (lost at once) is never computed."""
    read: set[str] = set()
    for layer in reversed(model.layers):
        rule = LAYERS[layer.type].mask
        makes_new = layer.mask is not None and layer.mask not in layer.input_masks and layer.mask in read
        if rule in (MASK_USES, MASK_CONSUMES) or (makes_new and rule in (MASK_MERGES, MASK_PREPENDS)):
            read.update(mask for mask in layer.input_masks if mask is not None)
    return read


def mask_variables(model: Model) -> dict[str, str]:
    """The variable forward holds each padding mask in (keyed by `Layer.mask`), for those it reads:
    `mask` for the first, `<layer>_mask` for one a later layer makes, never a name the model uses already."""
    taken = {model.input_name, *(layer.name for layer in model.layers)}
    read = read_masks(model)
    found: dict[str, str] = {}
    for layer in model.layers:
        if layer.mask not in read or layer.mask in found:
            continue
        name = "mask" if not found else f"{layer.mask}_mask"
        while name in taken:
            name = f"{name}_"
        taken.add(name)
        found[layer.mask] = name
    return found


def steps_axis(layout: str) -> int:
    """The steps axis of a sequence held in this layout: (N, T, C) or, for a signal, (N, C, T)."""
    return 2 if layout == CHANNELS_FIRST else 1


COMBINED = (
    "Keras combines the padding masks of the branches: a step is real where it is real in any branch; "
    "the code does the same with the masks it holds (`{expr}`)."
)
JOINED = (
    "Keras joins the padding masks of the branches along the steps, a branch without a mask being all real; "
    "the code does the same with the masks it holds (`{expr}`)."
)
PREPENDED = (
    "Keras' ClassToken puts a real step before the padding mask (its compute_mask); the code does the same (`{expr}`)."
)


LOST = (
    "Keras cannot mask a {type}: the padding mask ends here (Keras warns, archdsl too: A708), and this layer "
    "and those after it read the padded steps as data, as the PyTorch code does."
)
DROPPED = (
    "Keras keeps a merge's padding mask only when every branch has one: the mask ends here (archdsl warns: "
    "A708), and the layers after it read the padded steps as data, as the PyTorch code does."
)


def mask_ended(layer: Layer) -> Note:
    """The note of a layer where a padding mask ends before anything used it (`ends_unexpectedly`)."""
    return Note("Padding mask", DROPPED if LAYERS[layer.type].merge else LOST.format(type=layer.type))


def new_mask(emit: Emit) -> tuple[Step, Note] | None:
    """The line that computes the mask a layer makes from those it reads, and its note; None when the
    layer makes none (it passes its input's mask on, or has none)."""
    if emit.mask_out is None or LAYERS[emit.layer.type].mask not in (MASK_MERGES, MASK_PREPENDS):
        return None
    layer = emit.layer
    shape = f"(N, {layer.output_shape[0]})"
    if LAYERS[layer.type].mask == MASK_PREPENDS:
        expr = f"torch.cat([torch.ones_like({emit.mask}[:, :1]), {emit.mask}], dim=1)"
        step = Step(emit.mask_out, expr, "the class token is a real step", shape)
        return step, Note("Padding mask", PREPENDED.format(expr=expr))
    if joins_steps(layer):
        # A branch without a mask is all real: a mask of its steps, from the branch itself.
        one_channel = "[:, 0]" if emit.layout == CHANNELS_FIRST else "[..., 0]"
        parts = [
            mask or f"torch.ones_like({x}{one_channel}, dtype=torch.bool)"
            for mask, x in zip(emit.masks, emit.inputs, strict=True)
        ]
        expr = f"torch.cat([{', '.join(parts)}], dim=1)"
        text = JOINED
    else:
        expr = " | ".join(dict.fromkeys(mask for mask in emit.masks if mask))
        text = COMBINED
    return Step(emit.mask_out, expr, "True at the real steps", shape), Note("Padding mask", text.format(expr=expr))
