"""Convolutions: channels first, sizes explicit, TensorFlow's padding and transposed sizes reproduced.

Kernels are (*window, in, out) in Keras and (out, in, *window) in PyTorch; the weight
rules beside each emitter move them over.
"""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.targets.common import Note
from archdsl.targets.pycode import Call, Raw, call
from archdsl.targets.torch.activation import activate
from archdsl.targets.torch.layout import CHANNELS_FIRST
from archdsl.targets.torch.padding import padding
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


def _conv_module(layer: Layer, cls: str, in_channels: int, out_channels: int, extra: dict[str, object]):
    c = layer.config
    kwargs: dict[str, object] = {"kernel_size": one(c["kernel"])}
    if set(c["stride"]) != {1}:
        kwargs["stride"] = one(c["stride"])
    pad_kwargs, pre_pad, notes = padding(layer, c["kernel"], c["stride"], c.get("dilation"))
    kwargs.update(pad_kwargs)
    if "dilation" in c and set(c["dilation"]) != {1}:
        kwargs["dilation"] = one(c["dilation"])
    kwargs.update(extra)
    return call(cls, in_channels, out_channels, **kwargs), pre_pad, notes


def _conv_code(emit: Emit, module: Call, pre_pad, notes: list[Note], comment: str = "") -> Code:
    """A convolution module applied in forward, after any uneven padding, then its activation."""
    x = emit.x if pre_pad is None else f"F.pad({emit.x}, {pre_pad})"
    value, activation_notes = activate(
        module_call(emit, x), emit.layer.config["activation"], CHANNELS_FIRST, emit.in_place
    )
    notes = [size_note(emit.layer), *notes, *activation_notes]
    return Code(module, [Step("{out}", value)], CHANNELS_FIRST, notes, comment)


def _kernel_and_bias(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    kernel = weights[0]  # (*window, in, out) -> (out, in, *window)
    axes = kernel.ndim - 2
    return with_bias(layer, {"weight": kernel.transpose(axes + 1, axes, *range(axes))}, weights[-1])


@translates("conv1d", "conv2d", "conv3d", weights=_kernel_and_bias, fresh_output=True)
def conv(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    axes = len(layer.input_shape) - 1
    extra: dict[str, object] = {}
    if c["groups"] != 1:
        extra["groups"] = c["groups"]
    if not c["bias"]:
        extra["bias"] = False
    module, pre_pad, notes = _conv_module(layer, f"nn.Conv{axes}d", layer.input_shape[-1], c["filters"], extra)
    return _conv_code(emit, module, pre_pad, notes)


def _depthwise_kernel(kernel: Any) -> Any:
    # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw); output channel c*m + j in both.
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None, :, :]


def _depthwise_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    return with_bias(layer, {"weight": _depthwise_kernel(weights[0])}, weights[-1])


DEPTHWISE = "Keras' DepthwiseConv2D is a Conv2d with one group per input channel in PyTorch (`groups=`)."


@translates("dwconv2d", weights=_depthwise_weights, fresh_output=True)
def dwconv2d(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    channels = layer.input_shape[-1]
    extra: dict[str, object] = {"groups": channels}
    if not c["bias"]:
        extra["bias"] = False
    module, pre_pad, notes = _conv_module(layer, "nn.Conv2d", channels, channels * c["multiplier"], extra)
    return _conv_code(emit, module, pre_pad, [*notes, Note("Depthwise", DEPTHWISE)])


def _separable_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    # nn.Sequential(depthwise, pointwise): Keras keeps both kernels in one layer.
    state = {"0.weight": _depthwise_kernel(weights[0]), "1.weight": weights[1].transpose(3, 2, 0, 1)}
    return with_bias(layer, state, weights[-1], "1.bias")


SEPARABLE = (
    "Keras' SeparableConv2D is one layer; PyTorch has none, so it is an nn.Sequential of a depthwise Conv2d "
    "(`groups=`) and a pointwise 1x1 Conv2d, with the bias on the pointwise one."
)


@translates("sepconv2d", weights=_separable_weights, fresh_output=True)
def sepconv2d(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    channels = layer.input_shape[-1]
    depthwise, pre_pad, notes = _conv_module(
        layer, "nn.Conv2d", channels, channels * c["multiplier"], {"groups": channels, "bias": False}
    )
    pointwise = call(
        "nn.Conv2d", channels * c["multiplier"], c["filters"], kernel_size=1, **({} if c["bias"] else {"bias": False})
    )
    module = call("nn.Sequential", Raw(depthwise.inline()), Raw(pointwise.inline()))
    notes = [*notes, Note("Separable convolutions", SEPARABLE)]
    return _conv_code(emit, module, pre_pad, notes, "depthwise, then pointwise 1x1")


def _transpose_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    # Keras (kh, kw, out, in); ConvTranspose2d (in, out, kh, kw). Both are the adjoint of a
    # cross-correlation, so the kernel is not flipped.
    return with_bias(layer, {"weight": weights[0].transpose(3, 2, 0, 1)}, weights[-1])


TRANSPOSED = (
    "PyTorch's padding and output_padding, and a crop where TensorFlow drops the odd pixel at the end, "
    "reproduce Keras' output size of a transposed convolution."
)


@translates("conv2dtranspose", weights=_transpose_weights, fresh_output=True)
def conv2dtranspose(emit: Emit) -> Code:
    """Keras' transposed-conv sizes through PyTorch's padding, output_padding and a crop."""
    layer, c = emit.layer, emit.layer.config
    paddings, output_paddings, crops = [], [], []
    for k, s in zip(c["kernel"], c["stride"], strict=True):
        if c["padding"] == "same":
            before = max(k - s, 0) // 2
            total = max(k - s, 0)
        else:
            before = total = 0
        # PyTorch crops `padding` from both ends and adds `output_padding` at the end.
        extra = s - k if k < s else 0
        paddings.append(before)
        output_paddings.append(extra)
        crops.append(total - 2 * before)
    kwargs: dict[str, object] = {"kernel_size": one(c["kernel"])}
    if set(c["stride"]) != {1}:
        kwargs["stride"] = one(c["stride"])
    if any(paddings):
        kwargs["padding"] = one(tuple(paddings))
    if any(output_paddings):
        kwargs["output_padding"] = one(tuple(output_paddings))
    if not c["bias"]:
        kwargs["bias"] = False
    module = call("nn.ConvTranspose2d", layer.input_shape[-1], c["filters"], **kwargs)
    expr = module_call(emit)
    notes = [size_note(layer)]
    if any(paddings) or any(output_paddings) or any(crops):
        notes.append(Note("Transposed convolutions", TRANSPOSED))
    if any(crops):
        expr += "[:, :, " + ", ".join(f":-{e}" if e else ":" for e in crops) + "]"
    comment = "TensorFlow crops the odd pixel at the end" if any(crops) else ""
    value, activation_notes = activate(expr, c["activation"], CHANNELS_FIRST, emit.in_place)
    return Code(module, [Step("{out}", value, comment)], CHANNELS_FIRST, [*notes, *activation_notes])
