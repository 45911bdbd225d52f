"""THE layer table: every layer type archdsl knows, in one place.

Each entry says which arguments the layer takes (and their defaults), how it
changes a shape, how many parameters Keras and PyTorch give it, and the traits
the targets and tools read (see `LayerSpec`). Adding a layer type means one
entry here, one emitter per target and, for a layer with weights, one weight
rule beside the PyTorch emitter: docs/adding-a-layer.md, held by
tests/test_layer_traits.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from archdsl.layers.shapes import (
    RANK_NAMES,
    Dim,
    Shape,
    ShapeError,
    conv_output_length,
    deconv_output_length,
    describe,
    format_dims,
    format_pads,
    product,
    sym_add,
    sym_mul,
)
from archdsl.layers.spec import (
    ANY,
    CAUSAL,
    MASK_CONSUMES,
    MASK_DROPS,
    MASK_LOST,
    MASK_MERGES,
    MASK_PASSES,
    MASK_PREPENDS,
    MASK_USES,
    PADDINGS,
    REQUIRED,
    SIGNAL,
    Arg,
    LayerSpec,
    Params,
)

Config = Mapping[str, Any]

# What each rank is called when a layer asks for one.
WANTED = {
    1: "a vector (features)",
    2: "a sequence (steps, features)",
    3: "an image (height, width, channels)",
    4: "a volume (depth, height, width, channels)",
}


# ---------------------------------------------------------------- argument checks


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be positive"


def _rate(value: float) -> str | tuple[str, float] | None:
    if 0 <= value < 1:
        return None
    if value.is_integer() and 1 < value < 100:  # `dropout 25`: a percentage
        return "must be in [0, 1)", value / 100
    return "must be in [0, 1)"


def _positive_sizes(value: Any) -> str | None:
    parts = value if isinstance(value, tuple) else (value,)
    return None if all(p > 0 for p in parts) else "must be positive"


def _non_negative(value: Any) -> str | None:
    parts = value if isinstance(value, tuple) else (value,)
    return None if all(p >= 0 for p in parts) else "must not be negative"


def _positive_float(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _momentum(value: float) -> str | None:
    return None if 0 <= value <= 1 else "must be in [0, 1]"


ACTIVATION = Arg("activation", "activation", None, doc="applied to the output")
PADDING = Arg(
    "padding",
    "padding",
    "valid",
    doc="'valid' (no padding) or 'same' (output = ceil(input / stride))",
    choices=PADDINGS,
)
CAUSAL_PADDING = Arg(
    "padding",
    "padding",
    "valid",
    doc="'valid', 'same', or 'causal': zeros before the sequence only, so no step sees a later one",
    choices=(*PADDINGS, CAUSAL),
)
BIAS = Arg("bias", "bool", True, doc="add a bias vector")
SCALE = Arg("scale", "bool", True, doc="learn a multiplier per channel (gamma)")
CENTER = Arg("center", "bool", True, doc="learn an offset per channel (beta)")


def _kernel(default: Any = 3) -> Arg:
    return Arg(
        "kernel",
        "dims",
        default,
        positional=True,
        check=_positive_sizes,
        doc="kernel size, one per spatial axis (3 means 3x3 in 2-D)",
    )


STRIDE = Arg("stride", "dims", 1, check=_positive_sizes, doc="step of the window, one per spatial axis")
DILATION = Arg("dilation", "dims", 1, check=_positive_sizes, doc="spacing of the kernel taps")


# ---------------------------------------------------------------- shape helpers


def _rank_hint(name: str, shape: Shape, wanted: int) -> str | None:
    got = len(shape)
    if wanted == 2 and got == 3 and all(isinstance(d, int) for d in shape):
        h, w, c = shape
        return f"turn the image into a sequence first, e.g. 'reshape {h}x{w * c}', or use conv2d layers"
    if wanted == 2 and got == 1:
        return "token ids need an 'embedding' first; other vectors need a reshape to (steps, features)"
    if wanted == 3 and got == 2:
        return f"for sequences use the 1-D layer ({name.replace('2d', '1d')}), or 'reshape' to an image"
    if wanted == 3 and got == 1:
        return "reshape the vector into an image (height x width x channels) first"
    if wanted == 3 and got == 4:
        return f"for volumes use the 3-D layer ({name.replace('2d', '3d')})"
    if wanted == 4:
        return "volumes have 4 axes: depth x height x width x channels"
    return None


def require_rank(name: str, shape: Shape, *ranks: int) -> None:
    if len(shape) in ranks:
        return
    wanted = " or ".join(WANTED[r].split(" (")[0] if len(ranks) > 1 else WANTED[r] for r in ranks)
    raise ShapeError(
        f"{name} needs {wanted} but got {describe(shape)}",
        _rank_hint(name, shape, ranks[0]),
        wanted=RANK_NAMES[ranks[0]].split()[-1] if len(ranks) == 1 else None,  # "sequence", "image", ...
    )


def known_last(name: str, shape: Shape, what: str = "features") -> int:
    last = shape[-1]
    if not isinstance(last, int):
        raise ShapeError(
            f"{name} needs a known number of {what}, but the last axis of {describe(shape)} is '{last}'",
            "only the steps of a sequence (or spatial sizes) may be symbolic",
        )
    return last


def spatial(name: str, arg: str, value: int | tuple[int, ...], axes: int) -> tuple[int, ...]:
    """An int stands for the same size on every spatial axis."""
    if isinstance(value, int):
        return (value,) * axes
    if len(value) != axes:
        raise ShapeError(
            f"{name} {arg} has {len(value)} sizes ({format_dims(value)}) but the input has {axes} spatial "
            f"ax{'is' if axes == 1 else 'es'}",
            f"write {format_dims((value[0],) * axes)} or a single number",
            code="A203",
        )
    return value


def _check_lengths(name: str, what: str, before: Shape, after: list[Dim], window: tuple[int, ...]) -> None:
    if any(isinstance(d, int) and d <= 0 for d in after):
        raise ShapeError(
            f"{name} {format_dims(window)} {what} leaves no output: the input is only {format_dims(before)}",
            "use 'same' padding, a smaller window, or remove a downsampling layer before it",
            code="A302",
        )


# ---------------------------------------------------------------- multiply-adds
#
# torchinfo's convention (torchinfo/layer_info.py, `LayerInfo.calculate_macs`): a module's
# multiply-adds are its parameters, each counted once per output position it is applied at.
# Layers without weights (pooling, activations, merges) count nothing, and so do the
# products of attention scores, which no weight takes part in. The shapes given here are
# one sample's, channels last, with numbers for symbolic sizes; the figure is per sample,
# torchinfo's for a batch of one.


def _macs(params, positions):
    """The rule `parameters x positions`, with the PyTorch module's parameters (torchinfo counts those)."""

    def macs(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
        return params(config, inputs, output).torch * positions(config, inputs, output)

    return macs


def _output_positions(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
    """Every position of the output but its channels: pixels, steps, or 1 for a vector.

    torchinfo counts a ConvNd's weight and bias `prod(output_size[:1] + output_size[2:])` times
    (the output elements of one channel, channels first), and a Linear's
    `prod(output_size[:-1])` times: once per row it maps (the rule since torchinfo's
    pull request #318, November 2024; release 1.8.0 counts a Linear over a sequence once per
    sample, as if it had one step). nn.MultiheadAttention's projections are counted
    `prod(output_size[:2])` times, once per step, by the same function.
    """
    return math.prod(output[:-1])


def _steps(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
    """An RNN applies its weights at every step it reads, whether it returns them all or the last:
    torchinfo counts `weight_ih_l0` and the like `prod(output_size[:2])` times, (N, T) of its output."""
    return inputs[0][0]  # type: ignore[return-value]


def _once(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
    """Any other module with a `weight` or `bias` (BatchNorm, LayerNorm, Embedding) torchinfo counts
    `output_size[0]` times: once per sample, however many positions it normalises or looks up."""
    return 1


def _transposed_positions(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
    """As a convolution's, over what nn.ConvTranspose2d computes: with 'same' and an odd
    kernel - stride > 0 that is one more row (or column) than Keras keeps, which the PyTorch
    code crops after the module (targets/torch/convolution.py) and torchinfo counts."""
    lengths = [
        length + (max(k - s, 0) % 2 if config["padding"] == "same" else 0)
        for length, k, s in zip(output[:-1], config["kernel"], config["stride"], strict=True)
    ]
    return math.prod(lengths)  # type: ignore[arg-type]


# ---------------------------------------------------------------- convolutions


def _conv_resolve(axes: int, dilation: bool = True, strided_dilation: bool = False):
    """strided_dilation: Keras' DepthwiseConv2D and SeparableConv2D take a stride and a dilation
    above 1 together (as PyTorch does); Conv1D/2D/3D refuse the pair."""

    def resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
        name = config["_name"]
        out = dict(config)
        out["kernel"] = spatial(name, "kernel", config["kernel"], axes)
        out["stride"] = spatial(name, "stride", config["stride"], axes)
        if dilation:
            out["dilation"] = spatial(name, "dilation", config["dilation"], axes)
            strided = any(s > 1 for s in out["stride"])
            if strided and any(d > 1 for d in out["dilation"]) and not strided_dilation:
                raise ShapeError(
                    f"{name} cannot combine stride {format_dims(out['stride'])} with dilation "
                    f"{format_dims(out['dilation'])}",
                    "Keras allows a stride above 1 or a dilation above 1, not both",
                    code="A203",
                )
        return out

    return resolve


def _conv_infer(axes: int, out_channels):
    def infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
        name = config["_name"]
        (shape,) = inputs
        require_rank(name, shape, axes + 1)
        channels = known_last(name, shape, "channels")
        groups = config.get("groups", 1)
        if channels % groups or config.get("filters", groups) % groups:
            raise ShapeError(
                f"{name} groups={groups} must divide both the input channels ({channels}) "
                f"and the filters ({config.get('filters')})",
                code="A203",
            )
        dilation = config.get("dilation", (1,) * axes)
        lengths = [
            conv_output_length(d, k, config["padding"], s, r)
            for d, k, s, r in zip(shape[:-1], config["kernel"], config["stride"], dilation, strict=True)
        ]
        _check_lengths(name, "kernel", shape[:-1], lengths, config["kernel"])
        return (*lengths, out_channels(config, channels))

    return infer


def _conv_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    weights = math.prod(config["kernel"]) * (channels // config.get("groups", 1)) * config["filters"]
    total = weights + (config["filters"] if config["bias"] else 0)
    return Params(total, total)


def _conv(axes: int) -> LayerSpec:
    return LayerSpec(
        name=f"conv{axes}d",
        summary=f"{axes}-D convolution",
        category="convolution",
        example=f"conv{axes}d 32 {'x'.join(['3'] * axes)} same relu",
        args=(
            Arg("filters", "int", REQUIRED, positional=True, check=_positive, doc="number of output channels"),
            _kernel(),
            ACTIVATION,
            CAUSAL_PADDING if axes == 1 else PADDING,
            STRIDE,
            DILATION,
            Arg("groups", "int", 1, check=_positive, doc="grouped convolution: channels split into this many groups"),
            BIAS,
        ),
        resolve=_conv_resolve(axes),
        infer=_conv_infer(axes, lambda config, channels: config["filters"]),
        params=_conv_params,
        macs=_macs(_conv_params, _output_positions),
        reads_sequence=SIGNAL,
    )


def _separable_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    depthwise = math.prod(config["kernel"]) * channels * config["multiplier"]
    pointwise = channels * config["multiplier"] * config["filters"]
    total = depthwise + pointwise + (config["filters"] if config["bias"] else 0)
    return Params(total, total)


def _depthwise_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    outputs = channels * config["multiplier"]
    total = math.prod(config["kernel"]) * outputs + (outputs if config["bias"] else 0)
    return Params(total, total)


MULTIPLIER = Arg("multiplier", "int", 1, check=_positive, doc="depthwise channel multiplier")


def _transpose_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    name = config["_name"]
    (shape,) = inputs
    require_rank(name, shape, 3)
    known_last(name, shape, "channels")
    lengths = [
        deconv_output_length(d, k, config["padding"], s)
        for d, k, s in zip(shape[:-1], config["kernel"], config["stride"], strict=True)
    ]
    return (*lengths, config["filters"])


def _transpose_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    total = math.prod(config["kernel"]) * channels * config["filters"] + (config["filters"] if config["bias"] else 0)
    return Params(total, total)


# ---------------------------------------------------------------- pooling, resizing


def _pool_resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    name = config["_name"]
    (shape,) = inputs
    require_rank(name, shape, 2, 3, 4)
    axes = len(shape) - 1
    out = dict(config)
    out["pool"] = spatial(name, "pool size", config["pool"], axes)
    out["stride"] = spatial(name, "stride", config["stride"] if config["stride"] is not None else out["pool"], axes)
    return out


def _pool_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    lengths = [
        conv_output_length(d, p, config["padding"], s)
        for d, p, s in zip(shape[:-1], config["pool"], config["stride"], strict=True)
    ]
    _check_lengths(config["_name"], "pool", shape[:-1], lengths, config["pool"])
    return (*lengths, shape[-1])


def _pool(name: str, summary: str) -> LayerSpec:
    return LayerSpec(
        name=name,
        summary=summary,
        category="pooling",
        example=f"{name} 2x2",
        args=(
            Arg("pool", "dims", 2, positional=True, check=_positive_sizes, doc="window size, one per spatial axis"),
            PADDING,
            Arg("stride", "dims", None, check=_positive_sizes, doc="defaults to the pool size"),
        ),
        resolve=_pool_resolve,
        infer=_pool_infer,
        reads_sequence=SIGNAL,
    )


def _global_pool_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    require_rank(config["_name"], shape, 2, 3, 4)
    if config["keepdims"]:
        return (*(1 for _ in shape[:-1]), shape[-1])
    return (shape[-1],)


def _global_pool(name: str, summary: str, mask: str = MASK_LOST) -> LayerSpec:
    return LayerSpec(
        name=name,
        summary=summary,
        category="pooling",
        args=(Arg("keepdims", "bool", False, doc="keep the pooled axes, with size 1 (squeeze-and-excitation)"),),
        flags=("keepdims",),
        infer=_global_pool_infer,
        reads_sequence=ANY,
        mask=mask,
        example=name,
    )


def _spatial_resolve(arg: str, per_axis=spatial):
    """`arg` read per spatial axis of a rank 2-4 input: sizes (`spatial`), or pads (`_pairs`)."""

    def resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
        name = config["_name"]
        (shape,) = inputs
        require_rank(name, shape, 2, 3, 4)
        return {**config, arg: per_axis(name, arg, config[arg], len(shape) - 1)}

    return resolve


def _upsample_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    return (*(sym_mul(d, s) for d, s in zip(shape[:-1], config["size"], strict=True)), shape[-1])


Pads = tuple[tuple[int, int], ...]


def _pairs(name: str, arg: str, value: Any, axes: int) -> Pads:
    """Pads as written, made (before, after) per spatial axis, as Keras reads them: one size for
    every side; one size per axis for both its sides (`1x2`: 1 on each side of the height, 2 of
    the width); on a sequence, `1x2` is 1 before and 2 after (Keras' ZeroPadding1D((1, 2)));
    or one pair per axis, written one after another (`0x1 0x1`: ZeroPadding2D(((0, 1), (0, 1))))."""
    if isinstance(value, int):
        return ((value, value),) * axes
    if isinstance(value[0], tuple):
        if len(value) == axes:
            return value
        written = format_pads(value)
        raise ShapeError(
            f"{name} {arg} gives {len(value)} pairs ({written}) but the input has {axes} spatial "
            f"ax{'is' if axes == 1 else 'es'}",
            f"write one BEFORExAFTER pair per axis, {' '.join(['0x1'] * axes)}, or one size for every side",
            code="A203",
        )
    if len(value) == axes:
        return tuple((size, size) for size in value)
    if axes == 1 and len(value) == 2:
        return (tuple(value),)
    raise ShapeError(
        f"{name} {arg} has {len(value)} sizes ({format_dims(value)}) but the input has {axes} spatial "
        f"ax{'is' if axes == 1 else 'es'}",
        f"write one size, one per axis ({format_dims((1,) * axes)}), or one BEFORExAFTER pair per axis "
        f"({' '.join(['0x1'] * axes)})",
        code="A203",
    )


def _zeropad_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    pads: Pads = config["padding"]
    return (*(sym_add(d, before + after) for d, (before, after) in zip(shape[:-1], pads, strict=True)), shape[-1])


def _crop_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    crops: Pads = config["cropping"]
    lengths = [sym_add(d, -before - after) for d, (before, after) in zip(shape[:-1], crops, strict=True)]
    if any(isinstance(d, int) and d <= 0 for d in lengths):
        removed = format_pads(crops)
        raise ShapeError(
            f"crop {removed} leaves nothing of {describe(shape)}",
            "crop fewer steps or pixels, or remove a downsampling layer before it",
            code="A302",
        )
    return (*lengths, shape[-1])


# ---------------------------------------------------------------- core


def _dense_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    require_rank("dense", shape, 1, 2)
    known_last("dense", shape)
    return (*shape[:-1], config["units"])


def _dense_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    features = inputs[0][-1]
    assert isinstance(features, int)
    total = features * config["units"] + (config["units"] if config["bias"] else 0)
    return Params(total, total)


def _flatten_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    unknown = [d for d in shape if not isinstance(d, int)]
    if unknown:
        raise ShapeError(
            f"flatten needs every size known, but {describe(shape)} has '{unknown[0]}'",
            "a variable-length axis cannot be flattened: use globalavgpool or an RNN to drop it",
        )
    return (product(shape),)


def _reshape_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    target = config["target"]
    if any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"reshape {format_dims(target)}: sizes must be positive (or one -1)", code="A203")
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError(f"reshape {format_dims(target)}: only one size may be -1", code="A203")
    if not all(isinstance(d, int) for d in shape):
        raise ShapeError(
            f"reshape needs every input size known, but got {describe(shape)}",
            "reshape works on fixed-size samples",
        )
    total = math.prod(shape)  # type: ignore[arg-type]
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if total % known:
            raise ShapeError(
                f"cannot reshape {describe(shape)} ({total} values) into {format_dims(target)}: "
                f"{total} is not a multiple of {known}",
            )
        return tuple(total // known if d == -1 else d for d in target)
    if known != total:
        raise ShapeError(
            f"cannot reshape {describe(shape)} ({total} values) into {format_dims(target)} ({known} values)",
            "the number of values must stay the same; one size may be -1 to have it computed",
        )
    return tuple(target)


def _norm_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    """The channels must be known where they size weights: batchnorm's statistics, a gamma or a beta
    (a layernorm with neither normalizes any number of channels, as Keras' does)."""
    (shape,) = inputs
    if config["_name"] == "batchnorm" or config["scale"] or config["center"]:
        known_last(config["_name"], shape, "channels")
    return shape


def _batchnorm_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    learned = (config["scale"] + config["center"]) * channels  # gamma and beta, as kept
    # Keras counts the moving mean and variance too, as non-trainable weights; PyTorch keeps those
    # two as buffers, beside its num_batches_tracked counter.
    return Params(learned + 2 * channels, learned, keras_non_trainable=2 * channels, torch_buffers=2 * channels + 1)


def _layernorm_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    if not (config["scale"] or config["center"]):
        return Params()  # the channels may be symbolic then
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    learned = (config["scale"] + config["center"]) * channels
    return Params(learned, learned)


def _normalizes_one_value(config: Config, inputs: tuple[Shape, ...]) -> tuple[str, str] | None:
    """The mean of one value is the value: every output is the offset (beta)."""
    if inputs[0][-1] != 1:
        return None
    return (
        "normalizes over a single feature (the last axis has size 1), so it always outputs its offset, "
        "whatever its input",
        "normalize a wider axis (reshape first), or use batchnorm for a single channel",
    )


def _per_channel(config: dict[str, Any], inputs: tuple[Shape, ...], *args: str) -> dict[str, Any]:
    """Values given per channel (`rescale 0.5x0.25x2`) must be one per channel of the input: Keras
    broadcasts them over the last axis, and a count that differs fails only when the model runs."""
    name = config["_name"]
    (shape,) = inputs
    channels = known_last(name, shape, "channels")
    config = dict(config)
    for arg in args:
        value = config[arg]
        if isinstance(value, tuple) and len(value) == 1:
            config[arg] = value = value[0]  # one value for every channel
        if isinstance(value, tuple) and len(value) != channels:
            raise ShapeError(
                f"{name} {arg} gives {len(value)} values ({format_dims(value)}) but the input has {channels} "
                f"channel{'' if channels == 1 else 's'}",
                f"give one number for every channel, or one value per channel ({channels} of them)",
                code="A203",
            )
    return config


def _normalize_resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    given = [arg for arg in ("mean", "variance") if config[arg] is not None]
    if len(given) == 1:
        (written,) = given
        missing = "variance" if written == "mean" else "mean"
        raise ShapeError(
            f"normalize has {written}= but no {missing}=",
            "give both, or neither: then they are weights, to load or to learn from data (Keras' adapt())",
            code="A205",
        )
    config = _per_channel(config, inputs, "mean", "variance")
    if isinstance(config["mean"], tuple) != isinstance(config["variance"], tuple):
        # Keras wants both per channel or neither: a single number stands for every channel.
        channels = inputs[0][-1]
        config = {k: (v,) * channels if k in given and not isinstance(v, tuple) else v for k, v in config.items()}
    return config


def _normalize_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    if config["mean"] is not None:  # given values are constants in Keras, buffers in PyTorch
        return Params(0, 0, torch_buffers=2 * channels)
    # Keras counts the mean, the variance and the count of samples adapt() saw, as non-trainable
    # weights; PyTorch keeps the two statistics as buffers, outside parameters().
    return Params(2 * channels + 1, 0, keras_non_trainable=2 * channels + 1, torch_buffers=2 * channels)


def _scale_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    channels = inputs[0][-1]
    assert isinstance(channels, int)
    return Params(channels, channels)


def _embedding_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    if len(shape) != 1:
        raise ShapeError(
            f"embedding needs a sequence of token ids (steps) but got {describe(shape)}",
            "give the model an input of one axis, such as 'input seq' or 'input 100'",
        )
    return (shape[0], config["dim"])


def _embedding_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    total = config["vocab"] * config["dim"]
    return Params(total, total)


# ---------------------------------------------------------------- recurrent

# Gates per cell: LSTM has 4 (i, f, c, o), GRU 3 (z, r, h), a simple RNN 1.
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _rnn_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    name = config["_name"]
    (shape,) = inputs
    require_rank(name, shape, 2)
    known_last(name, shape)
    units = config["units"] * (2 if config["bidirectional"] else 1)
    return (shape[0], units) if config["seq"] else (units,)


def _rnn_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    name = config["_name"]
    features = inputs[0][-1]
    assert isinstance(features, int)
    units = config["units"]
    gates = _GATES[name]
    weights = gates * units * (features + units)
    if name == "gru":
        # reset_after=True: Keras keeps an input and a recurrent bias, as PyTorch does.
        keras = torch = weights + 2 * gates * units
    else:
        # Keras has one bias vector per cell, PyTorch two (b_ih and b_hh).
        keras, torch = weights + gates * units, weights + 2 * gates * units
    directions = 2 if config["bidirectional"] else 1
    return Params(keras * directions, torch * directions)


def _rnn(name: str, summary: str, extra: tuple[Arg, ...] = ()) -> LayerSpec:
    return LayerSpec(
        name=name,
        summary=summary,
        category="recurrent",
        example=f"{name} 64 seq",
        args=(
            Arg("units", "int", REQUIRED, positional=True, check=_positive, doc="size of the hidden state"),
            Arg("seq", "bool", False, doc="return the whole sequence, not only the last step"),
            Arg("bidirectional", "bool", False, doc="run both directions and concatenate them"),
            Arg("init", "ref", None, doc="start from the final state of this recurrent layer: init=@encoder"),
            *extra,
        ),
        flags=("seq", "bidirectional"),
        infer=_rnn_infer,
        params=_rnn_params,
        mask=MASK_USES,
        macs=_macs(_rnn_params, _steps),
    )


# ---------------------------------------------------------------- sequences: transformer pieces


def _posembed_resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    """`max` defaults to the steps; symbolic steps need it written, known ones must fit in it."""
    (shape,) = inputs
    require_rank("posembed", shape, 2)
    steps, positions = shape[0], config["max"]
    if positions is None:
        if not isinstance(steps, int):
            raise ShapeError(
                f"posembed needs max= (the positions it learns), since the steps of {describe(shape)} are symbolic",
                "write the longest sequence it will see, e.g. 'posembed max=512'",
                code="A205",
            )
        positions = steps
    elif isinstance(steps, int) and positions < steps:
        raise ShapeError(
            f"posembed max={positions} learns fewer positions than the {steps} steps of {describe(shape)}",
            f"write max={steps} or more, or leave max out to have it computed",
            code="A203",
        )
    return {**config, "max": positions}


def _posembed_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    total = config["max"] * known_last("posembed", inputs[0])
    return Params(total, total)


def _clstoken_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    require_rank("clstoken", shape, 2)
    known_last("clstoken", shape)
    return (sym_add(shape[0], 1), shape[1])


def _clstoken_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    features = known_last("clstoken", inputs[0])
    return Params(features, features)


def _take_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    (shape,) = inputs
    require_rank("take", shape, 2)
    steps, index = shape[0], config["index"]
    if isinstance(steps, int) and not -steps <= index < steps:
        raise ShapeError(
            f"take {index} is not a step of {describe(shape)}",
            f"steps count from 0 to {steps - 1}, or back from -1 (the last) to -{steps}",
            code="A203",
        )
    return shape[1:]


# ---------------------------------------------------------------- attention


def _attention_macs(config: Config, inputs: tuple[Shape, ...], output: Shape) -> int:
    """torchinfo's count: each projection's weights once per step it maps, the query's and the output's
    over the query's steps, the keys' and the values' over theirs (the same in self-attention)."""
    inner = config["heads"] * config["key_dim"]
    query, key, value = inputs[0], inputs[min(1, len(inputs) - 1)], inputs[-1]
    steps, other = query[0], value[0]
    assert isinstance(steps, int) and isinstance(other, int)
    over_query = (query[-1] * inner + inner) + (inner * query[-1] + query[-1])
    over_other = (key[-1] * inner + inner) + (value[-1] * inner + inner)
    return over_query * steps + over_other * other


ATTENTION_ROLES = {1: ("sequence",), 2: ("query", "keys and values"), 3: ("query", "keys", "values")}


def _attention_resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    """key_dim defaults to the query's features / heads, which must then divide them; any key_dim may be written.

    One input is self-attention. After a group, the first branch is the query and the keys and
    values come from the second, or from the second and the third, as Keras'
    MultiHeadAttention(query, value, key): keys and values must then have the same steps.
    """
    roles = ATTENTION_ROLES[len(inputs)]
    for branch, (role, shape) in enumerate(zip(roles, inputs, strict=True), 1):
        if len(inputs) == 1:
            require_rank("attention", shape, 2)
        elif len(shape) != 2:
            raise ShapeError(
                f"attention takes its {role} from branch {branch}, which must be a sequence (steps, features), "
                f"but got {describe(shape)}",
                _rank_hint("attention", shape, 2),
                wanted="sequence",
            )
        known_last("attention", shape)
    if len(inputs) == 3 and inputs[1][0] != inputs[2][0]:
        raise ShapeError(
            f"attention's keys and values must have the same steps, but got {describe(inputs[1])} and "
            f"{describe(inputs[2])}",
            "each key goes with the value at its step: give both branches the same sequence length",
            code="A305",
        )
    features = inputs[0][-1]
    heads = config["heads"]
    assert isinstance(features, int)
    if config["key_dim"] is not None:
        return config
    if features % heads:
        raise ShapeError(
            f"attention over {features} features cannot be split into {heads} heads",
            f"choose heads that divide {features}, or give each head its size with key_dim=",
            code="A203",
        )
    return {**config, "key_dim": features // heads}


def _attention_params(config: Config, inputs: tuple[Shape, ...], output: Shape) -> Params:
    query, key, value = inputs[0][-1], inputs[min(1, len(inputs) - 1)][-1], inputs[-1][-1]
    assert isinstance(query, int) and isinstance(key, int) and isinstance(value, int)
    inner = config["heads"] * config["key_dim"]  # Keras' value_dim is key_dim unless given
    # query, key and value projections with biases, then the output projection back to the query's features.
    total = sum(features * inner + inner for features in (query, key, value)) + inner * query + query
    return Params(total, total)


# ---------------------------------------------------------------- merges


def _broadcast(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    """The branches' shapes as NumPy broadcasts them over the sample axes: on every axis the sizes
    agree, or a branch has size 1 there and is stretched to the others'. Ranks must agree: the
    axes of a lower-rank branch would be matched from the right, which is rarely what a model
    means, and a reshape or `keepdims` says it plainly."""
    name = config["_name"]
    if name == "subtract" and len(inputs) != 2:
        raise ShapeError(f"subtract needs exactly 2 branches but got {len(inputs)}", code="A305")
    shown = " and ".join(format_dims(s) for s in inputs)
    if len({len(s) for s in inputs}) > 1:
        raise ShapeError(
            f"{name} needs branches with the same number of axes, but got {shown}",
            "give every branch the same axes; an axis of size 1 is stretched to match (reshape, or "
            "'globalavgpool keepdims', keeps the axes a branch would drop)",
            code="A305",
        )
    out: list[Dim] = []
    for axis, sizes in enumerate(zip(*inputs, strict=True)):
        stretched = set(sizes) - {1}
        if len(stretched) > 1:
            if any(isinstance(d, str) for d in stretched):
                hint = "a size known only at run time agrees only with itself, or with a size of 1"
            elif axis == len(inputs[0]) - 1:
                hint = "make every branch end with the same number of channels (a 1x1 convolution can change them)"
            else:
                hint = "use 'same' padding in every branch so that their sizes agree"
            raise ShapeError(
                f"{name} needs branches whose sizes agree on every axis, or are 1 there (NumPy's broadcasting), "
                f"but got {shown}",
                hint,
                code="A305",
            )
        out.append(stretched.pop() if stretched else 1)
    return tuple(out)


def _concat_resolve(config: dict[str, Any], inputs: tuple[Shape, ...]) -> dict[str, Any]:
    rank = len(inputs[0])
    axis = config["axis"]
    if axis == 0 or not -rank <= axis <= rank:
        raise ShapeError(
            f"concat axis={axis} is not an axis of {describe(inputs[0])}",
            f"axes count from 1 (the batch axis 0 cannot be joined) up to {rank}, or from -1 backwards",
            code="A203",
        )
    return {**config, "axis": axis if axis < 0 else axis - rank - 1}


def _concat_infer(config: Config, inputs: tuple[Shape, ...]) -> Shape:
    axis = config["axis"]  # negative, counted from the channels axis
    ranks = {len(s) for s in inputs}
    mismatch = len(ranks) > 1 or any(
        len({s[i] for s in inputs}) > 1 for i in range(len(inputs[0])) if i != len(inputs[0]) + axis
    )
    if mismatch:
        raise ShapeError(
            f"concat needs branches that agree on every axis but the joined one (axis {len(inputs[0]) + axis + 1}), "
            "but got " + " and ".join(format_dims(s) for s in inputs),
            "use 'same' padding in every branch so their sizes agree",
            code="A305",
        )
    joined: Dim = inputs[0][axis]
    for s in inputs[1:]:
        d = s[axis]
        joined = joined + d if isinstance(joined, int) and isinstance(d, int) else f"{joined}+{d}"
    shape = list(inputs[0])
    shape[axis] = joined
    return tuple(shape)


def _merge(name: str, summary: str) -> LayerSpec:
    return LayerSpec(
        name=name,
        summary=summary,
        category="merge",
        merge=True,
        reads_sequence=ANY,
        infer=_broadcast,
        mask=MASK_MERGES,
        example=f"( conv2d 64 same | identity ) -> {name}",
    )


def _activation(name: str, summary: str, args: tuple[Arg, ...] = (), elementwise: bool = True) -> LayerSpec:
    return LayerSpec(
        name=name,
        summary=summary,
        category="activation",
        args=args,
        example=name,
        elementwise=elementwise,
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    )


LAYER_TABLE: tuple[LayerSpec, ...] = (
    LayerSpec(
        name="dense",
        summary="fully connected layer; per step on sequences; flattens images first",
        category="core",
        example="dense 64 relu",
        args=(
            Arg("units", "int", REQUIRED, positional=True, check=_positive, doc="number of outputs"),
            ACTIVATION,
            BIAS,
        ),
        infer=_dense_infer,
        params=_dense_params,
        mask=MASK_PASSES,
        macs=_macs(_dense_params, _output_positions),
    ),
    _conv(1),
    _conv(2),
    _conv(3),
    LayerSpec(
        name="sepconv2d",
        summary="depthwise separable 2-D convolution",
        category="convolution",
        example="sepconv2d 64 3x3 same relu",
        args=(
            Arg("filters", "int", REQUIRED, positional=True, check=_positive, doc="number of output channels"),
            _kernel(),
            ACTIVATION,
            PADDING,
            STRIDE,
            DILATION,
            MULTIPLIER,
            BIAS,
        ),
        resolve=_conv_resolve(2, strided_dilation=True),
        infer=_conv_infer(2, lambda config, channels: config["filters"]),
        params=_separable_params,
        macs=_macs(_separable_params, _output_positions),
        reads_sequence=SIGNAL,
    ),
    LayerSpec(
        name="dwconv2d",
        summary="depthwise 2-D convolution (one filter per input channel)",
        category="convolution",
        example="dwconv2d 3x3 same",
        args=(_kernel(), ACTIVATION, PADDING, STRIDE, DILATION, MULTIPLIER, BIAS),
        resolve=_conv_resolve(2, strided_dilation=True),
        infer=_conv_infer(2, lambda config, channels: channels * config["multiplier"]),
        params=_depthwise_params,
        macs=_macs(_depthwise_params, _output_positions),
        reads_sequence=SIGNAL,
    ),
    LayerSpec(
        name="conv2dtranspose",
        summary="transposed 2-D convolution (learned upsampling)",
        category="convolution",
        example="conv2dtranspose 32 3x3 stride=2 same",
        args=(
            Arg("filters", "int", REQUIRED, positional=True, check=_positive, doc="number of output channels"),
            _kernel(),
            ACTIVATION,
            PADDING,
            STRIDE,
            BIAS,
        ),
        resolve=_conv_resolve(2, dilation=False),
        infer=_transpose_infer,
        params=_transpose_params,
        macs=_macs(_transpose_params, _transposed_positions),
        reads_sequence=SIGNAL,
    ),
    _pool("maxpool", "max pooling (1-D, 2-D or 3-D from the input)"),
    _pool("avgpool", "average pooling (1-D, 2-D or 3-D from the input)"),
    _global_pool(
        "globalavgpool", "average over every spatial axis (the real steps only, under a padding mask)", MASK_CONSUMES
    ),
    _global_pool("globalmaxpool", "maximum over every spatial axis (padded steps too: Keras' layer cannot be masked)"),
    LayerSpec(
        name="flatten", summary="one vector per sample", category="core", infer=_flatten_infer, example="flatten"
    ),
    LayerSpec(
        name="dropout",
        summary="randomly zeroes inputs while training",
        category="regularization",
        example="dropout 0.5",
        args=(Arg("rate", "float", REQUIRED, positional=True, check=_rate, doc="fraction of inputs dropped"),),
        elementwise=True,
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="droppath",
        summary="stochastic depth: while training, drops a whole sample's branch; passes its input on at inference",
        category="regularization",
        example="droppath 0.1",
        args=(
            Arg("rate", "float", REQUIRED, positional=True, check=_rate, doc="probability that a sample is dropped"),
        ),
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="batchnorm",
        summary="batch normalization over the channels axis",
        category="normalization",
        example="batchnorm",
        args=(
            Arg("momentum", "float", 0.99, check=_momentum, doc="Keras' momentum of the moving statistics"),
            Arg("epsilon", "float", 1e-3, check=_positive_float, doc="added to the variance"),
            SCALE,
            CENTER,
        ),
        infer=_norm_infer,
        params=_batchnorm_params,
        macs=_macs(_batchnorm_params, _once),
        keeps_shape=True,
        reads_sequence=SIGNAL,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="layernorm",
        summary="layer normalization over the last axis",
        category="normalization",
        example="layernorm",
        args=(Arg("epsilon", "float", 1e-3, check=_positive_float, doc="added to the variance"), SCALE, CENTER),
        infer=_norm_infer,
        params=_layernorm_params,
        macs=_macs(_layernorm_params, _once),
        keeps_shape=True,
        mask=MASK_PASSES,
        ignores_input=_normalizes_one_value,
    ),
    LayerSpec(
        name="rescale",
        summary="x * scale + offset: pixel values to a smaller range (Keras' Rescaling)",
        category="preprocessing",
        example="rescale 0.00392156862745098",
        args=(
            Arg("scale", "floats", REQUIRED, positional=True, doc="multiplier: one number, or one per channel"),
            Arg("offset", "floats", 0.0, doc="added after scaling: one number, or one per channel"),
        ),
        resolve=lambda config, inputs: _per_channel(config, inputs, "scale", "offset"),
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="normalize",
        summary="(x - mean) / sqrt(variance) per channel (Keras' Normalization)",
        category="preprocessing",
        example="normalize",
        args=(
            Arg("mean", "floats", None, doc="one number, or one per channel; left out: a weight to load or adapt"),
            Arg(
                "variance",
                "floats",
                None,
                check=_non_negative,
                doc="one number, or one per channel; left out: a weight to load or adapt",
            ),
        ),
        resolve=_normalize_resolve,
        params=_normalize_params,
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="scale",
        summary="a learned multiplier per channel (LayerScale, as in ConvNeXt and CaiT)",
        category="normalization",
        example="scale init=1e-6",
        args=(Arg("init", "float", 1e-6, doc="the value every multiplier starts at (ConvNeXt's 1e-6)"),),
        resolve=lambda config, inputs: _per_channel(config, inputs),
        params=_scale_params,
        macs=_macs(_scale_params, _once),
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    _activation("relu", "max(x, 0)"),
    _activation("relu6", "min(max(x, 0), 6)"),
    _activation(
        "leakyrelu",
        "x, or alpha*x below 0",
        (Arg("alpha", "float", 0.3, positional=True, check=_non_negative, doc="slope below 0 (Keras default 0.3)"),),
    ),
    _activation("elu", "exponential linear unit"),
    _activation("selu", "scaled exponential linear unit"),
    _activation("gelu", "Gaussian error linear unit (exact, not tanh-approximated)"),
    _activation("gelu_tanh", "GELU with the tanh approximation (GPT-2's; PyTorch's approximate='tanh')"),
    _activation("silu", "x * sigmoid(x), also called swish"),
    _activation("sigmoid", "1 / (1 + exp(-x))"),
    _activation("tanh", "hyperbolic tangent"),
    _activation("softmax", "softmax over the last (channels) axis", elementwise=False),
    _activation("hardswish", "x * relu6(x + 3) / 6, MobileNetV3's hard swish"),
    _activation("hardsigmoid", "relu6(x + 3) / 6, Keras 3's hard sigmoid"),
    _activation("abs", "absolute value |x|"),
    _rnn("lstm", "long short-term memory"),
    _rnn("gru", "gated recurrent unit (Keras reset_after=True)"),
    _rnn(
        "rnn",
        "simple recurrent layer",
        (Arg("activation", "choice", "tanh", choices=("tanh", "relu"), doc="tanh or relu"),),
    ),
    LayerSpec(
        name="embedding",
        summary="token ids to vectors",
        category="core",
        example="embedding 10000 64",
        args=(
            Arg("vocab", "int", REQUIRED, positional=True, check=_positive, doc="number of distinct token ids"),
            Arg("dim", "int", REQUIRED, positional=True, check=_positive, doc="size of each vector"),
            Arg(
                "mask_zero",
                "bool",
                False,
                doc="token 0 is padding: the layers after it that can leave padded steps out do",
            ),
        ),
        flags=("mask_zero",),
        infer=_embedding_infer,
        params=_embedding_params,
        makes_mask=lambda config: config["mask_zero"],
        macs=_macs(_embedding_params, _once),
    ),
    LayerSpec(
        name="reshape",
        summary="the same values in a new shape",
        category="core",
        example="reshape 7x7x64",
        args=(Arg("target", "shape", REQUIRED, positional=True, doc="new shape per sample; one size may be -1"),),
        infer=_reshape_infer,
    ),
    LayerSpec(
        name="upsample",
        summary="nearest-neighbour upsampling (1-D, 2-D or 3-D from the input)",
        category="resizing",
        example="upsample 2",
        args=(Arg("size", "dims", 2, positional=True, check=_positive_sizes, doc="scale per spatial axis"),),
        resolve=_spatial_resolve("size"),
        infer=_upsample_infer,
        reads_sequence=SIGNAL,
    ),
    LayerSpec(
        name="zeropad",
        summary="zeros around the spatial axes (1-D, 2-D or 3-D from the input)",
        category="resizing",
        example="zeropad 1",
        args=(
            Arg(
                "padding",
                "pads",
                1,
                positional=True,
                check=_non_negative,
                doc="zeros on each side; one size per axis; or one BEFORExAFTER pair per axis (0x1 0x1)",
            ),
        ),
        resolve=_spatial_resolve("padding", _pairs),
        infer=_zeropad_infer,
        reads_sequence=SIGNAL,
    ),
    LayerSpec(
        name="crop",
        summary="removes steps or pixels at the edges (1-D, 2-D or 3-D from the input)",
        category="resizing",
        example="crop 1x2",
        args=(
            Arg(
                "cropping",
                "pads",
                REQUIRED,
                positional=True,
                check=_non_negative,
                doc="removed from each side; one size per axis; or one BEFORExAFTER pair per axis (0x1 0x1)",
            ),
        ),
        resolve=_spatial_resolve("cropping", _pairs),
        infer=_crop_infer,
        reads_sequence=SIGNAL,
    ),
    LayerSpec(
        name="identity",
        summary="passes its input on",
        category="core",
        example="identity",
        elementwise=True,
        keeps_shape=True,
        reads_sequence=ANY,
        mask=MASK_PASSES,
    ),
    _merge("add", "sum of the branches"),
    _merge("subtract", "first branch minus the second"),
    _merge("multiply", "product of the branches"),
    _merge("average", "mean of the branches"),
    _merge("maximum", "element-wise maximum of the branches"),
    _merge("minimum", "element-wise minimum of the branches"),
    LayerSpec(
        name="concat",
        summary="joins the branches along an axis (channels by default)",
        category="merge",
        merge=True,
        reads_sequence=ANY,
        example="( conv2d 32 1x1 | conv2d 32 3x3 same ) -> concat",
        mask=MASK_MERGES,
        args=(Arg("axis", "axis", -1, doc="Keras axis: -1 is channels; 1 is the first axis of a sample"),),
        resolve=_concat_resolve,
        infer=_concat_infer,
    ),
    LayerSpec(
        name="posembed",
        summary="adds a learned vector per position to a sequence (BERT, GPT-2, ViT)",
        category="core",
        example="posembed max=512",
        args=(
            Arg(
                "max",
                "int",
                None,
                check=_positive,
                doc="positions it learns: the longest sequence; the steps when they are known",
            ),
        ),
        resolve=_posembed_resolve,
        infer=lambda config, inputs: (known_last("posembed", inputs[0]), inputs[0])[1],
        params=_posembed_params,
        keeps_shape=True,
        mask=MASK_PASSES,
    ),
    LayerSpec(
        name="clstoken",
        summary="prepends one learned step to a sequence: (T, D) becomes (T+1, D)",
        category="core",
        example="clstoken",
        infer=_clstoken_infer,
        params=_clstoken_params,
        mask=MASK_PREPENDS,
    ),
    LayerSpec(
        name="take",
        summary="one step of a sequence, without the steps axis (a class token's head)",
        category="core",
        example="take 0",
        args=(Arg("index", "int", REQUIRED, positional=True, doc="the step: 0 is the first, -1 the last"),),
        infer=_take_infer,
        mask=MASK_DROPS,
    ),
    LayerSpec(
        name="attention",
        summary="multi-head attention over a sequence; after ( query | keys and values ), cross-attention",
        category="attention",
        example="attention heads=4",
        branches=(2, 3),
        args=(
            Arg("heads", "int", REQUIRED, positional=True, check=_positive, doc="number of attention heads"),
            Arg("key_dim", "int", None, check=_positive, doc="size per head; defaults to features / heads"),
            Arg("causal", "bool", False, doc="a step attends only to itself and the steps before it"),
        ),
        flags=("causal",),
        resolve=_attention_resolve,
        infer=lambda config, inputs: (require_rank("attention", inputs[0], 2), inputs[0])[1],
        params=_attention_params,
        macs=_attention_macs,
        keeps_shape=True,
        mask=MASK_USES,
    ),
)

LAYERS: dict[str, LayerSpec] = {spec.name: spec for spec in LAYER_TABLE}
