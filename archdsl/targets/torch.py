"""The PyTorch target: what is different in PyTorch, one function per layer type.

Read this module as the answer to "what changes when a Keras model is written
in PyTorch":

- Tensors are channels first: an image is (N, C, H, W). Sequences are kept as
  (N, T, C), the layout of RNNs, attention, Linear and LayerNorm, and turned
  to (N, C, T) only around the layers that need it (Conv1d, pooling, BatchNorm).
- Every size is explicit: a module is built with its input size, which archdsl
  knows from shape inference and Keras infers at build time.
- Keras' defaults are written out where PyTorch's differ: BatchNorm's epsilon
  and momentum (PyTorch's momentum is 1 - Keras'), LeakyReLU's slope.
- TensorFlow's 'same' padding puts the odd pixel at the end; PyTorch pads both
  sides alike, so uneven padding is applied by hand with F.pad.
- An RNN returns every step; Keras' default of the last step is picked by hand.
- Layers without weights are function calls in forward, as PyTorch code
  usually has them; only layers with weights or a train/eval mode are modules.
- ReLU-like activations run in place (`F.relu(x, inplace=True)`), as careful
  PyTorch code has them, where nothing else reads the tensor they overwrite
  (see `in_place_activations`); Keras has no such choice to make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archdsl.ir.model import Layer, Model
from archdsl.layers.shapes import Shape, same_padding
from archdsl.targets.common import (
    ModuleView,
    UnsupportedError,
    docstring_lines,
    example_shape,
    is_token_input,
    variables,
    vocabulary,
)
from archdsl.targets.pycode import Call, Raw, call, statement

NAME = "torch"
CHANNELS_FIRST, STEPS_FIRST, FLAT = "(N, C, ...)", "(N, T, C)", "(N, F)"

# Layers that read a sequence as (N, C, T); every other layer reads (N, T, C).
_CHANNELS_FIRST_ON_SEQUENCES = frozenset(
    {"conv1d", "maxpool", "avgpool", "upsample", "zeropad", "batchnorm", "globalavgpool", "globalmaxpool"}
)
_ELEMENTWISE = frozenset(
    {"relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh", "dropout", "identity", "softmax"}
)
_MERGES = frozenset({"add", "subtract", "multiply", "average", "concat"})
# Keras' activation functions (the `activation=` of a layer) as PyTorch calls.
_ACTIVATION_CALLS = {
    "relu": "F.relu({})",
    "relu6": "F.relu6({})",
    "leakyrelu": "F.leaky_relu({}, 0.2)",  # keras.activations.leaky_relu's default slope
    "elu": "F.elu({})",
    "selu": "F.selu({})",
    "gelu": "F.gelu({})",
    "silu": "F.silu({})",
    "sigmoid": "torch.sigmoid({})",
    "tanh": "torch.tanh({})",
}
# The activations written in place where that is safe: the ones hand-written PyTorch runs in
# place (nn.ReLU(inplace=True) and kin), whose in-place backward reads only their own output.
# The others stay out of place: gelu has no in-place form, selu and silu are rarely written
# in place, and sigmoid, tanh and softmax usually sit at the head, where no memory is saved.
_IN_PLACE_CALLS = {
    "relu": "F.relu({}, inplace=True)",
    "relu6": "F.relu6({}, inplace=True)",
    "leakyrelu": "F.leaky_relu({}, 0.2, inplace=True)",
    "elu": "F.elu({}, inplace=True)",  # alpha 1.0, Keras' default
}
# The layers with an `activation=` applied to the output of their module in forward.
_FUSED_ACTIVATION = frozenset({"dense", "conv1d", "conv2d", "conv3d", "dwconv2d", "sepconv2d", "conv2dtranspose"})
# Layers whose output is a new tensor that their backward does not read: an activation may
# overwrite it (for those above, when they have no activation of their own). An activation's
# own output is read by its backward, and so is amax's (globalmaxpool); cuDNN's RNNs read
# theirs; attention is left out as not worth the risk.
_OVERWRITABLE = (
    _FUSED_ACTIVATION
    | _MERGES
    | frozenset({"batchnorm", "layernorm", "maxpool", "avgpool", "globalavgpool", "upsample", "zeropad", "embedding"})
)
# Layers whose output may be their input itself or a view of it (dropout in eval mode returns
# its input; flatten and reshape return views where they can; identity is not computed at all).
_ALIASING = frozenset({"identity", "dropout", "flatten", "reshape"})


def layout_of(shape: Shape, sequence_layout: str) -> str:
    if len(shape) == 1:
        return FLAT
    if len(shape) == 2:
        return sequence_layout
    return CHANNELS_FIRST


def wanted_layout(layer: Layer) -> str | None:
    """The layout a layer needs for a sequence input; None when any will do."""
    if len(layer.input_shape) != 2:
        return None
    if layer.type in _CHANNELS_FIRST_ON_SEQUENCES:
        return CHANNELS_FIRST
    if layer.type in _ELEMENTWISE or layer.type in _MERGES:
        return None
    return STEPS_FIRST


def torch_shape(shape: Shape, layout: str) -> str:
    """The shape comment of a forward line: `(N, 32, 62, 62)`."""
    dims = list(shape)
    if layout == CHANNELS_FIRST and len(dims) >= 2:
        dims = [dims[-1], *dims[:-1]]
    return "(" + ", ".join(["N", *(str(d) for d in dims)]) + ")"


def flatten_keeps_channels_first(model: Model, layer: Layer) -> bool:
    """A flatten read only by dense layers stays in PyTorch's (C, H, W) order.

    Keras flattens (H, W, C); the dense weights after it are permuted in weight
    transfer instead of permuting every activation at run time. A flatten read
    by anything else must give Keras' order.
    """
    readers = [other for other in model.layers if layer.name in other.inputs]
    return bool(readers) and all(r.type == "dense" for r in readers) and len(layer.input_shape) >= 3


# ---------------------------------------------------------------- per-layer rendering


@dataclass
class Step:
    """One forward line: `{out} = value`, with `{out}` replaced by the output variable."""

    target: str
    value: str | Call
    note: str = ""
    shape: str = ""  # the shape comment of a line before the layer's last (which gets the output's)


@dataclass
class Code:
    """What one layer becomes: its module (built in __init__) and its forward lines."""

    module: Call | None
    steps: list[Step]
    layout: str
    inline_comment: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _axes_sizes(layer: Layer) -> list:
    return list(layer.input_shape[:-1])


def _same_pads(layer: Layer, window: tuple[int, ...], stride: tuple[int, ...], dilation=None) -> list[tuple[int, int]]:
    """TensorFlow's 'same' padding per spatial axis: (before, after)."""
    pads = []
    dilation = dilation or (1,) * len(window)
    for length, k, s, d in zip(_axes_sizes(layer), window, stride, dilation, strict=True):
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


def _pad_arg(pads: list[tuple[int, int]]) -> tuple[int, ...]:
    """F.pad wants the last axis first: (left, right, top, bottom, ...)."""
    flat: list[int] = []
    for before, after in reversed(pads):
        flat += [before, after]
    return tuple(flat)


def _one(values: tuple[int, ...]) -> int | tuple[int, ...]:
    return values[0] if len(set(values)) == 1 else values


def _padding(
    layer: Layer, window, stride, dilation=None, explicit: bool = False
) -> tuple[dict[str, object], tuple[int, ...] | None]:
    """Conv/pool padding: symmetric as the module's `padding=`, else (or when `explicit`) an explicit F.pad."""
    if layer.config["padding"] != "same":
        return {}, None
    pads = _same_pads(layer, window, stride, dilation)
    if all(before == 0 and after == 0 for before, after in pads):
        return {}, None
    if not explicit and all(before == after for before, after in pads):
        return {"padding": _one(tuple(before for before, _ in pads))}, None
    return {}, _pad_arg(pads)


def in_place_activations(model: Model) -> frozenset[str]:
    """The layers whose activation may overwrite its input: `F.relu(x, inplace=True)`.

    A fused activation (`conv2d 32 relu`) reads the fresh output of its own module, which
    nothing else sees. A relu layer reads a tensor that may be read elsewhere, so it runs in
    place only when, following it back through layers that may pass their input on
    (dropout, flatten, reshape, identity), every tensor on the way has that one reader and
    the chain starts at a layer in _OVERWRITABLE (a new tensor its backward does not read).
    So the model's input, a tensor that a residual's skip or another branch still reads, and
    a tensor that autograd keeps for backward (an activation's output) are never overwritten.
    """
    layers = {layer.name: layer for layer in model.layers}
    readers: dict[str, int] = {}
    for layer in model.layers:
        for name in layer.inputs:
            readers[name] = readers.get(name, 0) + 1

    def overwritable(name: str) -> bool:
        while readers.get(name) == 1 and name in layers:
            source = layers[name]
            if source.type in _ALIASING:
                name = source.inputs[0]
                continue
            return source.type in _OVERWRITABLE and not source.config.get("activation")
        return False  # the model's input, or a tensor read more than once

    chosen = set()
    for layer in model.layers:
        if layer.type in _FUSED_ACTIVATION and layer.config["activation"] in _IN_PLACE_CALLS:
            chosen.add(layer.name)
        elif layer.type in _IN_PLACE_CALLS and overwritable(layer.inputs[0]):
            if layer.type != "leakyrelu" or layer.config["alpha"] >= 0:  # PyTorch needs slope >= 0
                chosen.add(layer.name)
    return frozenset(chosen)


def _activate(expr: str, activation: str | None, layout: str, in_place: bool = False) -> str:
    if not activation:
        return expr
    if activation == "softmax":
        return f"torch.softmax({expr}, dim={1 if layout == CHANNELS_FIRST else -1})"
    if in_place:
        return _IN_PLACE_CALLS[activation].format(expr)
    return _ACTIVATION_CALLS[activation].format(expr)


def _apply(layer: Layer, x: str, pre_pad: tuple[int, ...] | None, value: str = "") -> str:
    if pre_pad is not None:
        x = f"F.pad({x}, {pre_pad})"
    return f"self.{layer.name}({x})"


def dense(layer: Layer, xs: list[str], model: Model, in_place: bool = False) -> Code:
    c = layer.config
    kwargs = {"bias": False} if not c["bias"] else {}
    module = call("nn.Linear", layer.input_shape[-1], c["units"], **kwargs)
    layout = FLAT if len(layer.output_shape) == 1 else STEPS_FIRST
    value = _activate(f"self.{layer.name}({xs[0]})", c["activation"], layout, in_place)
    return Code(module, [Step("{out}", value)], layout)


def _conv_module(layer: Layer, cls: str, in_channels: int, out_channels: int, extra: dict[str, object]) -> tuple:
    c = layer.config
    kwargs: dict[str, object] = {"kernel_size": _one(c["kernel"])}
    if set(c["stride"]) != {1}:
        kwargs["stride"] = _one(c["stride"])
    padding, pre_pad = _padding(layer, c["kernel"], c["stride"], c.get("dilation"))
    kwargs.update(padding)
    if "dilation" in c and set(c["dilation"]) != {1}:
        kwargs["dilation"] = _one(c["dilation"])
    kwargs.update(extra)
    return call(cls, in_channels, out_channels, **kwargs), pre_pad


def _conv_code(layer: Layer, xs: list[str], module: Call, pre_pad, in_place: bool, comment: str = "") -> Code:
    """A convolution module applied in forward, after any uneven padding, then its activation."""
    value = _activate(_apply(layer, xs[0], pre_pad), layer.config["activation"], CHANNELS_FIRST, in_place)
    return Code(module, [Step("{out}", value)], CHANNELS_FIRST, inline_comment=comment)


def conv(layer: Layer, xs: list[str], model: Model, in_place: bool = False) -> Code:
    c = layer.config
    axes = int(layer.type[4])
    extra: dict[str, object] = {}
    if c["groups"] != 1:
        extra["groups"] = c["groups"]
    if not c["bias"]:
        extra["bias"] = False
    module, pre_pad = _conv_module(layer, f"nn.Conv{axes}d", layer.input_shape[-1], c["filters"], extra)
    return _conv_code(layer, xs, module, pre_pad, in_place)


def dwconv2d(layer: Layer, xs: list[str], model: Model, in_place: bool = False) -> Code:
    c = layer.config
    channels = layer.input_shape[-1]
    extra: dict[str, object] = {"groups": channels}
    if not c["bias"]:
        extra["bias"] = False
    module, pre_pad = _conv_module(layer, "nn.Conv2d", channels, channels * c["multiplier"], extra)
    return _conv_code(layer, xs, module, pre_pad, in_place)


def sepconv2d(layer: Layer, xs: list[str], model: Model, in_place: bool = False) -> Code:
    c = layer.config
    channels = layer.input_shape[-1]
    depthwise, pre_pad = _conv_module(
        layer, "nn.Conv2d", channels, channels * c["multiplier"], {"groups": channels, "bias": False}
    )
    pointwise = call(
        "nn.Conv2d", channels * c["multiplier"], c["filters"], kernel_size=1, **({} if c["bias"] else {"bias": False})
    )
    module = call("nn.Sequential", Raw(depthwise.inline()), Raw(pointwise.inline()))
    return _conv_code(layer, xs, module, pre_pad, in_place, "depthwise, then pointwise 1x1")


def conv2dtranspose(layer: Layer, xs: list[str], model: Model, in_place: bool = False) -> Code:
    """Keras' transposed-conv sizes through PyTorch's padding, output_padding and a crop."""
    c = layer.config
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
    kwargs: dict[str, object] = {"kernel_size": _one(c["kernel"])}
    if set(c["stride"]) != {1}:
        kwargs["stride"] = _one(c["stride"])
    if any(paddings):
        kwargs["padding"] = _one(tuple(paddings))
    if any(output_paddings):
        kwargs["output_padding"] = _one(tuple(output_paddings))
    if not c["bias"]:
        kwargs["bias"] = False
    module = call("nn.ConvTranspose2d", layer.input_shape[-1], c["filters"], **kwargs)
    expr = f"self.{layer.name}({xs[0]})"
    if any(crops):
        expr += "[:, :, " + ", ".join(f":-{e}" if e else ":" for e in crops) + "]"
    note = "TensorFlow crops the odd pixel at the end" if any(crops) else ""
    value = _activate(expr, c["activation"], CHANNELS_FIRST, in_place)
    return Code(module, [Step("{out}", value, note)], CHANNELS_FIRST)


def pool(layer: Layer, xs: list[str], model: Model) -> Code:
    c = layer.config
    axes = len(layer.input_shape) - 1
    kind = "max" if layer.type == "maxpool" else "avg"
    kwargs: dict[str, object] = {}
    if c["stride"] != c["pool"]:
        kwargs["stride"] = _one(c["stride"])
    # PyTorch's avg_pool3d refuses an input smaller than the window even when its `padding=`
    # makes up the difference (avg_pool1d/2d and max_pool3d do not): there, pad first.
    explicit = kind == "avg" and axes == 3 and _may_be_smaller(layer.input_shape[:-1], c["pool"])
    padding, pre_pad = _padding(layer, c["pool"], c["stride"], explicit=explicit)
    x = xs[0]
    if pre_pad is not None and kind == "avg":
        # Keras averages only the real values; PyTorch cannot pad unevenly, so divide the
        # average over the zero-padded input by the share of each window that is real.
        share = call(
            f"F.avg_pool{axes}d", Raw(f"F.pad(torch.ones_like({x}[:1, :1]), {pre_pad})"), _one(c["pool"]), **kwargs
        )
        value = call(f"F.avg_pool{axes}d", Raw(f"F.pad({x}, {pre_pad})"), _one(c["pool"]), **kwargs)
        out_shape = torch_shape(layer.output_shape, CHANNELS_FIRST)
        share_shape = "(1, 1, " + out_shape.split(", ", 2)[2]
        steps = [
            Step("_share", share, "the share of each window inside the input", shape=share_shape),
            Step("{out}", value, "the sum over the window / its size", shape=out_shape),
            Step("{out}", "{out} / _share"),
        ]
        return Code(None, steps, CHANNELS_FIRST)
    if pre_pad is not None:
        x = f'F.pad({x}, {pre_pad}, value=float("-inf"))'
    kwargs.update(padding)
    if kind == "avg" and padding:
        kwargs["count_include_pad"] = False  # Keras averages only the real values
    value = call(f"F.{kind}_pool{axes}d", Raw(x), _one(c["pool"]), **kwargs)
    return Code(None, [Step("{out}", value)], CHANNELS_FIRST)


def _may_be_smaller(sizes: Shape, window: tuple[int, ...]) -> bool:
    """Whether some axis may be shorter than the window: it is, or its size is only known at run time."""
    return any(not isinstance(size, int) or size < k for size, k in zip(sizes, window, strict=True))


def global_pool(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    rank = len(layer.input_shape)
    dims: tuple[int, ...] | int = (1,) if layout == STEPS_FIRST else tuple(range(2, rank + 1))
    method = "mean" if layer.type == "globalavgpool" else "amax"
    dims = dims[0] if len(dims) == 1 else dims
    return Code(None, [Step("{out}", f"{xs[0]}.{method}(dim={dims})")], FLAT)


def flatten(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    rank = len(layer.input_shape)
    x = xs[0]
    if layout == STEPS_FIRST or flatten_keeps_channels_first(model, layer):
        note = "in (C, H, W) order" if rank >= 3 else ""
        return Code(None, [Step("{out}", f"torch.flatten({x}, 1)", note)], FLAT)
    order = ", ".join(str(i) for i in (0, *range(2, rank + 1), 1))
    return Code(None, [Step("{out}", f"{x}.permute({order}).flatten(1)", "in Keras' (H, W, C) order")], FLAT)


def dropout(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    return Code(call("nn.Dropout", layer.config["rate"]), [Step("{out}", f"self.{layer.name}({xs[0]})")], layout)


def _torch_momentum(keras_momentum: float) -> float:
    # Keras keeps `momentum` of the old statistic, PyTorch mixes in `momentum` of the new one.
    return round(1.0 - keras_momentum, 12)


def batchnorm(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    c = layer.config
    rank = len(layer.input_shape)
    cls = f"nn.BatchNorm{max(rank - 1, 1)}d"
    module = call(cls, layer.input_shape[-1], eps=c["epsilon"], momentum=_torch_momentum(c["momentum"]))
    return Code(module, [Step("{out}", f"self.{layer.name}({xs[0]})")], layout)


def layernorm(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    module = call("nn.LayerNorm", layer.input_shape[-1], eps=layer.config["epsilon"])
    rank = len(layer.input_shape)
    x = xs[0]
    if rank >= 3:
        to_last = ", ".join(str(i) for i in (0, *range(2, rank + 1), 1))
        to_first = ", ".join(str(i) for i in (0, rank, *range(1, rank)))
        expr = f"self.{layer.name}({x}.permute({to_last})).permute({to_first})"
        return Code(module, [Step("{out}", expr, "normalized over channels, as Keras' axis=-1")], layout)
    return Code(module, [Step("{out}", f"self.{layer.name}({x})")], layout)


def activation(layer: Layer, xs: list[str], model: Model, layout: str, in_place: bool = False) -> Code:
    x = xs[0]
    if layer.type == "leakyrelu":
        expr = f"F.leaky_relu({x}, {layer.config['alpha']!r}{', inplace=True' if in_place else ''})"
    elif layer.type == "softmax":
        expr = f"torch.softmax({x}, dim={1 if layout == CHANNELS_FIRST else -1})"
    else:
        expr = (_IN_PLACE_CALLS if in_place else _ACTIVATION_CALLS)[layer.type].format(x)
    return Code(None, [Step("{out}", expr)], layout)


def recurrent(layer: Layer, xs: list[str], model: Model) -> Code:
    c = layer.config
    cls = {"lstm": "nn.LSTM", "gru": "nn.GRU", "rnn": "nn.RNN"}[layer.type]
    kwargs: dict[str, object] = {"batch_first": True}
    if layer.type == "rnn" and c["activation"] != "tanh":
        kwargs["nonlinearity"] = c["activation"]
    if c["bidirectional"]:
        kwargs["bidirectional"] = True
    module = call(cls, layer.input_shape[-1], c["units"], **kwargs)
    units = c["units"] * (2 if c["bidirectional"] else 1)
    every_step = f"(N, {layer.input_shape[0]}, {units})"
    steps = [Step("{out}, _", f"self.{layer.name}({xs[0]})", "every step" if not c["seq"] else "", every_step)]
    if not c["seq"]:
        units = c["units"]
        if c["bidirectional"]:
            # The forward direction ends at the last step, the backward one at the first.
            steps.append(
                Step(
                    "{out}",
                    f"torch.cat([{{out}}[:, -1, :{units}], {{out}}[:, 0, {units}:]], dim=1)",
                    "the last step of each direction",
                )
            )
        else:
            steps.append(Step("{out}", "{out}[:, -1]", "the last step, as Keras returns"))
    return Code(module, steps, STEPS_FIRST if c["seq"] else FLAT)


def embedding(layer: Layer, xs: list[str], model: Model) -> Code:
    module = call("nn.Embedding", layer.config["vocab"], layer.config["dim"])
    return Code(module, [Step("{out}", f"self.{layer.name}({xs[0]})")], STEPS_FIRST)


def reshape(layer: Layer, xs: list[str], model: Model, layout: str, raw: str) -> Code:
    """Keras reshapes values in (H, W, C) order: go there, reshape, come back to channels first."""
    rank_in, rank_out = len(layer.input_shape), len(layer.output_shape)
    x = xs[0]
    if layout == CHANNELS_FIRST and rank_in >= 2:
        x = f"{x}.permute({', '.join(str(i) for i in (0, *range(2, rank_in + 1), 1))})"
    dims = ", ".join(str(d) for d in layer.output_shape)
    expr = f"{x}.reshape({raw}.shape[0], {dims})"
    if rank_out >= 3:
        expr += f".permute({', '.join(str(i) for i in (0, rank_out, *range(1, rank_out)))})"
    out_layout = FLAT if rank_out == 1 else STEPS_FIRST if rank_out == 2 else CHANNELS_FIRST
    return Code(None, [Step("{out}", expr)], out_layout)


def upsample(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    value = call("F.interpolate", Raw(xs[0]), scale_factor=_one(layer.config["size"]), mode="nearest")
    return Code(None, [Step("{out}", value)], CHANNELS_FIRST)


def zeropad(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    pads = _pad_arg([(p, p) for p in layer.config["padding"]])
    return Code(None, [Step("{out}", f"F.pad({xs[0]}, {pads})")], CHANNELS_FIRST)


def merge(layer: Layer, xs: list[str], model: Model, layout: str) -> Code:
    if layer.type == "concat":
        axis = layer.config["axis"]  # negative, Keras' channels-last axes
        rank = len(layer.output_shape)
        if layout == CHANNELS_FIRST:
            # channels-last axis -1 is PyTorch's 1; the spatial axes move one along.
            keras_axis = rank + axis + 1  # 1-based axis of the sample in Keras
            dim = 1 if keras_axis == rank else keras_axis + 1
        else:
            dim = axis
        return Code(None, [Step("{out}", call("torch.cat", Raw(f"[{', '.join(xs)}]"), dim=dim))], layout)
    operator = {"add": " + ", "subtract": " - ", "multiply": " * ", "average": " + "}[layer.type]
    expr = operator.join(xs)
    if layer.type == "average":
        expr = f"({expr}) / {len(xs)}"
    return Code(None, [Step("{out}", expr)], layout)


def attention(layer: Layer, xs: list[str], model: Model) -> Code:
    c = layer.config
    module = call("nn.MultiheadAttention", layer.input_shape[-1], c["heads"], batch_first=True)
    x = xs[0]
    return Code(module, [Step("{out}, _", f"self.{layer.name}({x}, {x}, {x}, need_weights=False)")], STEPS_FIRST)


# A renderer's arguments: the layer, its input expressions, the model, the layout it works in,
# the variable of its first input, and whether its activation may run in place.
Renderer = Callable[[Layer, list[str], Model, str, str, bool], Code]


def _with_layout(fn) -> Renderer:
    return lambda layer, xs, model, layout, raw, in_place: fn(layer, xs, model, layout)


def _plain(fn) -> Renderer:
    return lambda layer, xs, model, layout, raw, in_place: fn(layer, xs, model)


def _activated(fn) -> Renderer:
    return lambda layer, xs, model, layout, raw, in_place: fn(layer, xs, model, in_place)


def _activated_with_layout(fn) -> Renderer:
    return lambda layer, xs, model, layout, raw, in_place: fn(layer, xs, model, layout, in_place)


def _with_input_variable(fn) -> Renderer:
    return lambda layer, xs, model, layout, raw, in_place: fn(layer, xs, model, layout, raw)


# One function per layer type: everything PyTorch needs that Keras did not.
RENDERERS: dict[str, Renderer] = {
    "dense": _activated(dense),
    "conv1d": _activated(conv),
    "conv2d": _activated(conv),
    "conv3d": _activated(conv),
    "sepconv2d": _activated(sepconv2d),
    "dwconv2d": _activated(dwconv2d),
    "conv2dtranspose": _activated(conv2dtranspose),
    "maxpool": _plain(pool),
    "avgpool": _plain(pool),
    "globalavgpool": _with_layout(global_pool),
    "globalmaxpool": _with_layout(global_pool),
    "flatten": _with_layout(flatten),  # on a vector, flatten passes it on (see build)
    "dropout": _with_layout(dropout),
    "batchnorm": _with_layout(batchnorm),
    "layernorm": _with_layout(layernorm),
    **{
        name: _activated_with_layout(activation)
        for name in ("relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh", "softmax")
    },
    "lstm": _plain(recurrent),
    "gru": _plain(recurrent),
    "rnn": _plain(recurrent),
    "embedding": _plain(embedding),
    "reshape": _with_input_variable(reshape),
    "upsample": _with_layout(upsample),
    "zeropad": _with_layout(zeropad),
    "add": _with_layout(merge),
    "subtract": _with_layout(merge),
    "multiply": _with_layout(merge),
    "average": _with_layout(merge),
    "concat": _with_layout(merge),
    "attention": _plain(attention),
}


def _convert(expr: str, have: str, want: str | None) -> str:
    if want is None or have == want or have not in (CHANNELS_FIRST, STEPS_FIRST):
        return expr
    return f"{expr}.transpose(1, 2)"


@dataclass
class LayerCode:
    """A layer's lines in the module: for the diff, which aligns them with Keras'."""

    layer: Layer
    init: list[str]
    forward: list[str]
    flatten_keeps_channels_first: bool = False
    layout: str = FLAT


@dataclass
class TorchModule:
    view: ModuleView
    layers: list[LayerCode]
    input_layout: str


def input_layout(model: Model) -> str:
    """A sequence input comes as (N, C, T) when the first layer reading it wants that."""
    if len(model.input_shape) != 2:
        return layout_of(model.input_shape, STEPS_FIRST)
    for layer in model.layers:
        if model.input_name in layer.inputs:
            want = wanted_layout(layer)
            if want is not None:
                return want
    return STEPS_FIRST


def build(model: Model, probe: bool = False, in_place: bool = True) -> TorchModule:
    """The module's lines; with `probe`, forward also reports each layer's output (for verify).

    `in_place` lets activations overwrite their input where that is safe (see
    in_place_activations); a probe forward never does, as it would overwrite a reported tensor.
    """
    overwrite = in_place_activations(model) if in_place and not probe else frozenset()
    first_layout = input_layout(model)
    names = variables(model, "x")
    layouts: dict[str, str] = {model.input_name: first_layout}
    init: list[str] = []
    forward: list[str] = []
    per_layer: list[LayerCode] = []
    for layer in model.layers:
        renderer = RENDERERS.get(layer.type)
        if renderer is None and layer.type != "identity":
            raise AssertionError(f"the PyTorch target has no rendering for layer type '{layer.type}'")
        in_layouts = [layouts[name] for name in layer.inputs]
        want = wanted_layout(layer)
        if want is None and layer.type in _MERGES:
            want = in_layouts[0]
        xs = [_convert(names[name], have, want) for name, have in zip(layer.inputs, in_layouts, strict=True)]
        effective = want or in_layouts[0]
        out = names[layer.name]
        if layer.type == "identity" or (layer.type == "flatten" and len(layer.input_shape) == 1):
            # Nothing to compute: later layers read the same tensor.
            source = names[layer.inputs[0]]
            lines: list[str] = []
            if out == source or source != "x":
                names[layer.name] = source
            else:
                lines = statement(f"{out} = ", source, indent=2, comment=torch_shape(layer.output_shape, in_layouts[0]))
            layouts[layer.name] = in_layouts[0]
            forward += lines + _probe_line(probe, layer, names[layer.name])
            per_layer.append(LayerCode(layer, [], lines, layout=in_layouts[0]))
            continue
        assert renderer is not None
        code = renderer(layer, xs, model, effective, names[layer.inputs[0]], layer.name in overwrite)
        layouts[layer.name] = code.layout
        init_lines: list[str] = []
        if code.module is not None:
            comment = code.inline_comment
            init_lines = statement(f"self.{layer.name} = ", code.module, indent=2, comment=comment)
        layer_lines: list[str] = []
        for index, step in enumerate(code.steps):
            last = index == len(code.steps) - 1
            shape_comment = torch_shape(layer.output_shape, code.layout) if last else step.shape
            comment = ", ".join(part for part in (shape_comment, step.note) if part)
            value = step.value.format(out=out) if isinstance(step.value, str) else step.value
            layer_lines += statement(f"{step.target.format(out=out)} = ", value, indent=2, comment=comment)
        init += init_lines
        forward += layer_lines + _probe_line(probe, layer, out)
        keeps_order = layer.type == "flatten" and flatten_keeps_channels_first(model, layer)
        per_layer.append(LayerCode(layer, init_lines, layer_lines, keeps_order, code.layout))
    result = names[model.output_name] if model.layers else names[model.input_name]
    input_var = names[model.input_name]
    tokens = is_token_input(model)
    last_layout = layouts[model.output_name]
    view = _module_view(model, init, forward, result, input_var, first_layout, last_layout, tokens)
    return TorchModule(view, per_layer, first_layout)


def _probe_line(probe: bool, layer: Layer, variable: str) -> list[str]:
    return [f'        self._archdsl_probe("{layer.name}", {variable})'] if probe else []


def _module_view(model: Model, init, forward, result, input_var, first_layout, out_layout, tokens) -> ModuleView:
    cls = model.name
    body = [f"class {cls}(nn.Module):", "    def __init__(self) -> None:", "        super().__init__()"]
    body += init
    body += ["", f"    def forward(self, {input_var}: torch.Tensor) -> torch.Tensor:"]
    body += forward
    body += [f"        return {result}", "", "", f"def build_model() -> {cls}:", f"    return {cls}()"]

    example = example_shape(model.input_shape)
    if tokens:
        batch = call("torch.randint", 0, vocabulary(model), (2, *example))
        input_text = f"a batch of token ids of shape {torch_shape(model.input_shape, FLAT)}, dtype torch.long"
    else:
        dims = torch_shape(example, first_layout)[1:-1].split(", ")[1:]
        batch = call("torch.randn", 2, *(int(d) for d in dims))
        order = {
            CHANNELS_FIRST: "channels first",
            STEPS_FIRST: "steps first, as batch_first RNNs take it",
            FLAT: "features",
        }[first_layout]
        input_text = f"a batch of shape {torch_shape(model.input_shape, first_layout)} ({order})"
    main = [
        "    model = build_model().eval()",
        *statement("batch = ", batch, indent=1),
        "    with torch.no_grad():",
        '        print("output shape:", tuple(model(batch).shape))',
        '    print("parameters:", sum(p.numel() for p in model.parameters()))',
    ]
    imports = ["import torch", "from torch import nn"]
    if any("F." in line for line in body):
        imports.insert(1, "import torch.nn.functional as F")
    return ModuleView(
        docstring=docstring_lines(model, "PyTorch", input_text, torch_shape(model.output_shape, out_layout)),
        imports=imports,
        body=body,
        main=main,
    )


def view(model: Model) -> ModuleView:
    return build(model).view
