"""Dense, embedding, dropout and the layers that move values around: flatten, reshape, resizing, identity."""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer, Model
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.activation import activate
from archdsl.targets.torch.layout import (
    CHANNELS_FIRST,
    FLAT,
    FLAT_CHANNELS_FIRST,
    STEPS_FIRST,
    to_channels_first,
    to_channels_last,
)
from archdsl.targets.torch.padding import pad_arg
from archdsl.targets.torch.registry import (
    Arrays,
    Code,
    Emit,
    Step,
    WeightContext,
    module_call,
    one,
    size_note,
    translates,
    with_bias,
)


def _dense_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    kernel = weights[0]  # (in, out); nn.Linear keeps (out, in)
    previous = ctx.producer(layer)
    if previous is not None and ctx.layout(previous.name) == FLAT_CHANNELS_FIRST:
        # Keras flattened (H, W, C), PyTorch (C, H, W): put the rows in PyTorch's order.
        spatial = previous.input_shape
        rank = len(spatial)
        kernel = kernel.reshape(*spatial, -1).transpose(rank - 1, *range(rank - 1), rank).reshape(kernel.shape)
    return with_bias(layer, {"weight": kernel.T}, weights[-1])


@translates("dense", weights=_dense_weights, fresh_output=True)
def dense(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    kwargs = {"bias": False} if not c["bias"] else {}
    module = call("nn.Linear", layer.input_shape[-1], c["units"], **kwargs)
    layout = FLAT if len(layer.output_shape) == 1 else STEPS_FIRST
    value, notes = activate(module_call(emit), c["activation"], layout, emit.in_place)
    return Code(module, [Step("{out}", value)], layout, [size_note(layer), *notes])


def flatten_keeps_channels_first(model: Model, layer: Layer) -> bool:
    """A flatten read only by dense layers stays in PyTorch's (C, H, W) order.

    Keras flattens (H, W, C); the dense weights after it are permuted in weight
    transfer instead of permuting every activation at run time. A flatten read
    by anything else must give Keras' order.
    """
    readers = [other for other in model.layers if layer.name in other.inputs]
    return bool(readers) and all(r.type == "dense" for r in readers) and len(layer.input_shape) >= 3


FLATTEN_FOR_DENSE = (
    "PyTorch flattens (C, H, W), Keras (H, W, C), so the dense layer after it sees its inputs in another "
    "order; weight transfer (archdsl verify) reorders its weights."
)
FLATTEN_IN_KERAS_ORDER = (
    "PyTorch holds the image channels first, so flattening in Keras' (H, W, C) order permutes it first "
    "(`.permute({order})`)."
)


@translates("flatten", passes_input=True)
def flatten(emit: Emit) -> Code:
    layer = emit.layer
    rank = len(layer.input_shape)
    if rank == 1:
        return Code(None, [], FLAT)  # a vector is flat already: later layers read the same tensor
    if emit.layout == STEPS_FIRST:
        return Code(None, [Step("{out}", f"torch.flatten({emit.x}, 1)")], FLAT)
    if flatten_keeps_channels_first(emit.model, layer):
        step = Step("{out}", f"torch.flatten({emit.x}, 1)", "in (C, H, W) order")
        return Code(None, [step], FLAT_CHANNELS_FIRST, [Note("Flatten", FLATTEN_FOR_DENSE)])
    order = to_channels_last(rank)
    step = Step("{out}", f"{emit.x}.permute({order}).flatten(1)", "in Keras' (H, W, C) order")
    return Code(None, [step], FLAT, [Note("Flatten", FLATTEN_IN_KERAS_ORDER.format(order=order))])


RESHAPE = (
    "Keras reshapes the values in channels-last order, so PyTorch moves channels last, reshapes, and moves "
    "them back (`.permute`)."
)


@translates("reshape", passes_input=True)
def reshape(emit: Emit) -> Code:
    """Keras reshapes values in (H, W, C) order: go there, reshape, come back to channels first."""
    layer = emit.layer
    rank_in, rank_out = len(layer.input_shape), len(layer.output_shape)
    x = emit.x
    notes = []
    if emit.layout == CHANNELS_FIRST and rank_in >= 2:
        x = f"{x}.permute({to_channels_last(rank_in)})"
    dims = ", ".join(str(d) for d in layer.output_shape)
    expr = f"{x}.reshape({emit.source}.shape[0], {dims})"
    if rank_out >= 3:
        expr += f".permute({to_channels_first(rank_out)})"
    if ".permute(" in expr:
        notes.append(Note("Reshape", RESHAPE))
    out_layout = FLAT if rank_out == 1 else STEPS_FIRST if rank_out == 2 else CHANNELS_FIRST
    return Code(None, [Step("{out}", expr)], out_layout, notes)


DROPOUT = (
    "Keras' Dropout drops only when the model is called with training=True; PyTorch's nn.Dropout drops "
    "until model.eval() is called, so it is a module, not a function call."
)


@translates("dropout", passes_input=True)
def dropout(emit: Emit) -> Code:
    module = call("nn.Dropout", emit.layer.config["rate"])
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, [Note("Dropout", DROPOUT)])


def _embedding_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    return {"weight": weights[0]}


TOKEN_IDS = "token ids are int32 in Keras and must be torch.long (int64) for nn.Embedding."


PADDING_MASK = (
    "Keras' `mask_zero=True` makes a mask that Keras hands to every later layer that supports masking; "
    "PyTorch has no such thing, so the code computes it from the token ids (`{expr}`) and passes it by hand "
    "to the layers that leave padding out."
)


@translates("embedding", weights=_embedding_weights, fresh_output=True)
def embedding(emit: Emit) -> Code:
    module = call("nn.Embedding", emit.layer.config["vocab"], emit.layer.config["dim"])
    steps = [Step("{out}", module_call(emit))]
    notes = [Note("Embedding", TOKEN_IDS)]
    if emit.mask_out is not None:
        expr = f"{emit.x} != 0"
        shape = f"(N, {emit.layer.input_shape[0]})"
        steps.insert(0, Step(emit.mask_out, expr, "True at real tokens, False at padding (token 0)", shape))
        notes.append(Note("Padding mask", PADDING_MASK.format(expr=expr)))
    return Code(module, steps, STEPS_FIRST, notes)


@translates("upsample", fresh_output=True)
def upsample(emit: Emit) -> Code:
    value = call("F.interpolate", Raw(emit.x), scale_factor=one(emit.layer.config["size"]), mode="nearest")
    return Code(None, [Step("{out}", value)], CHANNELS_FIRST)


PAD_ORDER = (
    "F.pad lists the pads from the last axis back, (left, right, top, bottom) for an image, the reverse of "
    "Keras' ((top, bottom), (left, right))."
)


@translates("zeropad", fresh_output=True)
def zeropad(emit: Emit) -> Code:
    pairs = emit.layer.config["padding"]
    pads = pad_arg(list(pairs))
    notes = [] if all(before == after for before, after in pairs) else [Note("Padding", PAD_ORDER, f"`{pads}`")]
    return Code(None, [Step("{out}", f"F.pad({emit.x}, {pads})")], CHANNELS_FIRST, notes)


CROP = "PyTorch has no cropping layer: the code slices the tensor, which makes a view of it, not a copy."


@translates("crop", passes_input=True)
def crop(emit: Emit) -> Code:
    ranges = ", ".join(f"{before or ''}:{-after if after else ''}" for before, after in emit.layer.config["cropping"])
    return Code(None, [Step("{out}", f"{emit.x}[:, :, {ranges}]")], CHANNELS_FIRST, [Note("Cropping", CROP)])


TAKE = (
    "Keras has no layer that picks one step, so the module defines one (`TakeStep`); PyTorch indexes the "
    "tensor in forward."
)


@translates("take", passes_input=True)
def take(emit: Emit) -> Code:
    step = Step("{out}", f"{emit.x}[:, {emit.layer.config['index']}]")
    return Code(None, [step], FLAT, [Note("Take", TAKE)])


@translates("identity", passes_input=True)
def identity(emit: Emit) -> Code:
    return Code(None, [], emit.layout)  # nothing to compute: later layers read the same tensor


DROP_PATH = (
    "Neither framework has a stochastic-depth layer: each file defines DropPath (timm's name). In training "
    "the two draw different random numbers, so archdsl verify compares them at inference, where both pass "
    "the input on; in eval mode PyTorch's module does the same."
)


@translates("droppath", passes_input=True, defines="drop_path")
def droppath(emit: Emit) -> Code:
    module = call("DropPath", emit.layer.config["rate"])
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, [Note("DropPath", DROP_PATH)])
