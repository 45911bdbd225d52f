"""Hypothesis strategies that write one layer of .arch text and build the same layer in Keras and PyTorch.

Each strategy draws what a user would write (arguments given positionally, as key=value or
left out) and returns a `Case`: the spec text, the configuration archdsl must resolve from it,
and builders for the real Keras layers and a hand-written PyTorch module. The builders read
what was WRITTEN, never archdsl's answer: an argument left out is left out of the Keras call
too, so Keras' own defaults judge archdsl's. The PyTorch builders need every value spelled
out; they use LANGUAGE.md's defaults (which follow Keras; `test_defaults_follow_keras`
checks the table's defaults against Keras' constructors).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import dataclasses  # noqa: E402
import math  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from keras import layers as kl  # noqa: E402
from torch import nn  # noqa: E402

from archdsl.layers import ACTIVATIONS  # noqa: E402
from archdsl.layers.shapes import same_padding  # noqa: E402

Dim = int | str
Shape = tuple[Dim, ...]
Concrete = tuple[int, ...]

# A symbolic name per spatial axis, and one for channels (which most layers must refuse).
AXIS_NAMES = ("seq", "h", "w")
CHANNEL_NAME = "ch"


@dataclass
class Case:
    """One drawn layer: the text, what archdsl must resolve, and the two frameworks' versions of it."""

    spec: str
    input_shape: Shape
    # keras tensor -> keras tensor: the real Keras layers that follow the input.
    keras: Callable[[Any], Any]
    # (concrete input shape, Keras' concrete output shape or None) -> a module on channels-first tensors.
    torch: Callable[[Concrete, Concrete | None], nn.Module]
    config: dict[str, Any] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)
    vocab: int | None = None
    # Which framework must refuse what archdsl refuses.
    refused_by: str = "keras"
    # Weightless layers: Keras and PyTorch must compute the same values, not only the same shape.
    numeric: bool = False


# ---------------------------------------------------------------- writing .arch text


def dims_text(value: Any) -> str:
    if isinstance(value, tuple):
        joiner = "x" if all(isinstance(d, int) for d in value) else " x "
        return joiner.join(str(d) for d in value)
    return str(value)


def per_axis(value: int | tuple[int, ...], axes: int) -> tuple[int, ...]:
    return (value,) * axes if isinstance(value, int) else tuple(value)


class Writer:
    """Collects the words of one layer: positional numbers in their order, the rest in any order."""

    def __init__(self, draw, name: str):
        self.draw = draw
        self.name = name
        self.numbers: list[str] = []
        self.others: list[str] = []
        self.written: dict[str, Any] = {}
        self._keywords_only = False

    def positional(self, arg: str, value: Any) -> None:
        """A positional slot; once one is written as key=value, the later ones must be too."""
        self.written[arg] = value
        if self._keywords_only or self.draw(st.integers(0, 3)) == 0:
            self._keywords_only = True
            self.others.append(f"{arg}={dims_text(value)}")
        else:
            self.numbers.append(dims_text(value))

    def skip_positional(self) -> None:
        """A positional slot left out: a later number would fill it, so later ones go as key=value."""
        self._keywords_only = True

    def keyword(self, arg: str, value: Any, text: str | None = None) -> None:
        self.written[arg] = value
        self.others.append(f"{arg}={text if text is not None else dims_text(value)}")

    def word_or_keyword(self, arg: str, value: Any, word: str) -> None:
        """An activation, padding or flag: the bare word or key=value."""
        self.written[arg] = value
        self.others.append(word if self.draw(st.booleans()) else f"{arg}={word}")

    def text(self) -> str:
        tokens = [("n", t) for t in self.numbers] + [("o", t) for t in self.others]
        order = self.draw(st.permutations(tokens))
        numbers = iter(self.numbers)
        words = [next(numbers) if kind == "n" else t for kind, t in order]
        return " ".join([self.name, *words])


def program(shape: Shape, layer: str) -> str:
    return f"input {dims_text(shape)} -> {layer}"


def rarely(draw, n: int) -> bool:
    """True about once in n+1 draws (Hypothesis favours 0, so the rare case is the largest value)."""
    return draw(st.integers(0, n)) == n


@st.composite
def sample_shape(
    draw, rank: int, hi: int = 12, lo: int = 1, cmax: int = 8, symbolic: bool = True, symbolic_channels: bool = False
) -> Shape:
    dims: list[Dim] = []
    for axis in range(rank - 1):
        if symbolic and rarely(draw, 3):
            dims.append(AXIS_NAMES[axis])
        else:
            dims.append(draw(st.integers(lo, hi)))
    if symbolic_channels and rarely(draw, 15):
        dims.append(CHANNEL_NAME)
    else:
        dims.append(draw(st.integers(1, cmax)))
    return tuple(dims)


def run_lengths(draw, shape: Shape, lo: int = 10, hi: int = 16) -> dict[str, int]:
    """A run-time size for every symbolic name (large enough for every kernel drawn here)."""
    return {d: draw(st.integers(lo, hi)) for d in shape if isinstance(d, str)}


def draw_activation(draw, w: Writer) -> None:
    choice = draw(st.sampled_from((None, "none", "linear", *ACTIVATIONS)))
    if choice is not None:
        w.word_or_keyword("activation", None if choice in ("none", "linear") else choice, choice)


def draw_padding(draw, w: Writer, causal: bool = False) -> None:
    choice = draw(st.sampled_from((None, "same", "valid", *(("causal",) if causal else ()))))
    if choice is not None:
        w.word_or_keyword("padding", choice, choice)


def draw_dims(draw, axes: int, lo: int, hi: int) -> int | tuple[int, ...]:
    if axes > 1 and draw(st.booleans()):
        return tuple(draw(st.integers(lo, hi)) for _ in range(axes))
    return draw(st.integers(lo, hi))


def draw_bias(draw, w: Writer) -> None:
    choice = draw(st.sampled_from((None, True, False)))
    if choice is not None:
        w.keyword("bias", choice, "true" if choice else "false")


# ---------------------------------------------------------------- the two frameworks' pieces

KERAS_ACTIVATION = {
    "relu": "relu",
    "relu6": "relu6",
    "leakyrelu": "leaky_relu",
    "elu": "elu",
    "selu": "selu",
    "gelu": "gelu",
    "gelu_tanh": lambda x: keras.activations.gelu(x, approximate=True),  # Keras has no name for it
    "silu": "silu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "softmax": "softmax",
    "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid",
    "abs": keras.ops.abs,  # not a name Keras knows as an activation
}


def keras_kwargs(written: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Only what was written, under Keras' argument names; the rest stays Keras' default."""
    out = {}
    for arg, keras_name in names.items():
        if arg in written:
            value = written[arg]
            out[keras_name] = KERAS_ACTIVATION.get(value, value) if arg == "activation" else value
    return out


def torch_activation(name: str | None, alpha: float = 0.2) -> nn.Module:
    """A PyTorch activation on channels-first tensors (softmax over the channels axis, 1)."""
    return {
        None: nn.Identity,
        "relu": nn.ReLU,
        "relu6": nn.ReLU6,
        "leakyrelu": lambda: nn.LeakyReLU(alpha),
        "elu": nn.ELU,
        "selu": nn.SELU,
        "gelu": nn.GELU,
        "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
        "silu": nn.SiLU,
        "sigmoid": nn.Sigmoid,
        "tanh": nn.Tanh,
        "softmax": lambda: nn.Softmax(dim=1),
        "hardswish": nn.Hardswish,
        "hardsigmoid": nn.Hardsigmoid,
        "abs": lambda: Fn(torch.abs),
    }[name]()


class Fn(nn.Module):
    """A parameter-free step written as a function."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1) if x.ndim > 2 else x


def channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1) if x.ndim > 2 else x


class TFSamePad(nn.Module):
    """TensorFlow's 'same' padding (extra pixel at the end), computed from the actual input."""

    def __init__(self, kernel, stride, dilation, value: float = 0.0):
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = kernel, stride, dilation, value

    def forward(self, x):
        pads: list[int] = []
        spatial = x.shape[2:]
        for length, k, s, d in reversed(list(zip(spatial, self.kernel, self.stride, self.dilation, strict=True))):
            pads += same_padding(length, k, s, d)
        return F.pad(x, pads, value=self.value)


def padded(padding: str, kernel, stride, dilation, module: nn.Module, value: float = 0.0) -> nn.Module:
    if padding == "same":
        return nn.Sequential(TFSamePad(kernel, stride, dilation, value), module)
    if padding == "causal":  # Keras pads the start only, by the dilated kernel less one step
        (k,), (d,) = kernel, dilation
        return nn.Sequential(nn.ConstantPad1d(((k - 1) * d, 0), value), module)
    return module


# ---------------------------------------------------------------- convolutions

CONV_NAMES = {
    "stride": "strides",
    "dilation": "dilation_rate",
    "padding": "padding",
    "groups": "groups",
    "bias": "use_bias",
    "activation": "activation",
}


@st.composite
def window_args(draw, w: Writer, axes: int, dilation: bool = True, causal: bool = False) -> None:
    """stride= and dilation= (rarely both: Conv refuses that), padding (`causal`: conv1d's too)."""
    # Without dilation (conv2dtranspose) the stride is what matters: it is written 2 times in 3.
    mode = draw(st.sampled_from(("plain", "stride", "dilation") if dilation else ("stride", "plain", "stride")))
    both = rarely(draw, 5)
    if mode == "stride" or both:
        w.keyword("stride", draw_dims(draw, axes, 1, 3))
    if dilation and (mode == "dilation" or both):
        w.keyword("dilation", draw_dims(draw, axes, 1, 3))
    draw_padding(draw, w, causal)


def window_truth(written: dict[str, Any], axes: int) -> tuple[tuple[int, ...], ...]:
    """Kernel, stride, dilation per axis as written, LANGUAGE.md's defaults for the rest."""
    return (
        per_axis(written.get("kernel", 3), axes),
        per_axis(written.get("stride", 1), axes),
        per_axis(written.get("dilation", 1), axes),
    )


def window_config(written: dict[str, Any], axes: int) -> dict[str, Any]:
    return {k: per_axis(v, axes) if k in ("kernel", "stride", "dilation") else v for k, v in written.items()}


@st.composite
def conv_cases(draw, axes: int) -> Case:
    hi = {1: 12, 2: 10, 3: 6}[axes]
    shape = draw(sample_shape(axes + 1, hi=hi, lo=3, symbolic_channels=True))
    w = Writer(draw, f"conv{axes}d")
    grouped = rarely(draw, 4)
    groups = draw(st.integers(1, 3)) if grouped else 1
    if grouped and isinstance(shape[-1], int) and not rarely(draw, 3):  # mostly channels that groups divide
        shape = (*shape[:-1], groups * draw(st.integers(1, 3)))
    w.positional(
        "filters", groups * draw(st.integers(1, 3)) if grouped and not rarely(draw, 3) else draw(st.integers(1, 8))
    )
    if draw(st.integers(0, 4)):
        wrong = rarely(draw, 15)  # a kernel with the wrong number of axes
        w.positional(
            "kernel", tuple(draw(st.integers(1, 4)) for _ in range(axes + 1)) if wrong else draw_dims(draw, axes, 1, 4)
        )
    draw(window_args(w, axes, causal=axes == 1))
    if grouped:
        w.keyword("groups", groups)
    draw_activation(draw, w)
    draw_bias(draw, w)
    written = w.written
    filters = written["filters"]

    def build_keras(x):
        kwargs = keras_kwargs(written, CONV_NAMES)
        return getattr(kl, f"Conv{axes}D")(filters, written.get("kernel", 3), **kwargs)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        kernel, stride, dilation = window_truth(written, axes)
        conv = getattr(nn, f"Conv{axes}d")(
            shape[-1],
            filters,
            kernel,
            stride,
            dilation=dilation,
            groups=written.get("groups", 1),
            bias=written.get("bias", True),
        )
        return nn.Sequential(
            padded(written.get("padding", "valid"), kernel, stride, dilation, conv),
            torch_activation(written.get("activation")),
        )

    return Case(
        program(shape, w.text()),
        shape,
        build_keras,
        build_torch,
        window_config(written, axes),
        run_lengths(draw, shape),
    )


@st.composite
def sepconv_cases(draw) -> Case:
    shape = draw(sample_shape(3, hi=10, lo=3, symbolic_channels=True))
    w = Writer(draw, "sepconv2d")
    w.positional("filters", draw(st.integers(1, 8)))
    if draw(st.integers(0, 4)):
        w.positional("kernel", draw_dims(draw, 2, 1, 4))
    draw(window_args(w, 2))
    if draw(st.booleans()):
        w.keyword("multiplier", draw(st.integers(1, 3)))
    draw_activation(draw, w)
    draw_bias(draw, w)
    written = w.written

    def build_keras(x):
        kwargs = keras_kwargs(written, {**CONV_NAMES, "multiplier": "depth_multiplier"})
        return kl.SeparableConv2D(written["filters"], written.get("kernel", 3), **kwargs)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        kernel, stride, dilation = window_truth(written, 2)
        cin, mult = shape[-1], written.get("multiplier", 1)
        depthwise = nn.Conv2d(cin, cin * mult, kernel, stride, dilation=dilation, groups=cin, bias=False)
        pointwise = nn.Conv2d(cin * mult, written["filters"], 1, bias=written.get("bias", True))
        return nn.Sequential(
            padded(written.get("padding", "valid"), kernel, stride, dilation, depthwise),
            pointwise,
            torch_activation(written.get("activation")),
        )

    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, window_config(written, 2), run_lengths(draw, shape)
    )


@st.composite
def dwconv_cases(draw) -> Case:
    shape = draw(sample_shape(3, hi=10, lo=3, symbolic_channels=True))
    w = Writer(draw, "dwconv2d")
    if draw(st.integers(0, 4)):
        w.positional("kernel", draw_dims(draw, 2, 1, 4))
    draw(window_args(w, 2))
    if draw(st.booleans()):
        w.keyword("multiplier", draw(st.integers(1, 3)))
    draw_activation(draw, w)
    draw_bias(draw, w)
    written = w.written

    def build_keras(x):
        kwargs = keras_kwargs(written, {**CONV_NAMES, "multiplier": "depth_multiplier"})
        return kl.DepthwiseConv2D(written.get("kernel", 3), **kwargs)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        kernel, stride, dilation = window_truth(written, 2)
        cin = shape[-1]
        conv = nn.Conv2d(
            cin,
            cin * written.get("multiplier", 1),
            kernel,
            stride,
            dilation=dilation,
            groups=cin,
            bias=written.get("bias", True),
        )
        return nn.Sequential(
            padded(written.get("padding", "valid"), kernel, stride, dilation, conv),
            torch_activation(written.get("activation")),
        )

    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, window_config(written, 2), run_lengths(draw, shape)
    )


class CropOrPad(nn.Module):
    """Brings each spatial axis to Keras' transposed-convolution size (TF crops the full output)."""

    def __init__(self, sizes: tuple[int, ...]):
        super().__init__()
        self.sizes = sizes

    def forward(self, x):
        for axis, size in enumerate(self.sizes, start=2):
            extra = x.shape[axis] - size
            if extra > 0:
                x = x.narrow(axis, extra // 2, size)
            elif extra < 0:
                pads = [0, 0] * (x.ndim - 1 - axis) + [0, -extra]
                x = F.pad(x, pads)
        return x


@st.composite
def transpose_cases(draw) -> Case:
    shape = draw(sample_shape(3, hi=8, symbolic_channels=True))
    w = Writer(draw, "conv2dtranspose")
    w.positional("filters", draw(st.integers(1, 8)))
    if draw(st.integers(0, 4)):
        w.positional("kernel", draw_dims(draw, 2, 1, 4))  # below, equal to and above the stride
    draw(window_args(w, 2, dilation=False))
    draw_activation(draw, w)
    draw_bias(draw, w)
    written = w.written

    def build_keras(x):
        kwargs = keras_kwargs(written, CONV_NAMES)
        return kl.Conv2DTranspose(written["filters"], written.get("kernel", 3), **kwargs)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        kernel, stride, _ = window_truth(written, 2)
        conv = nn.ConvTranspose2d(shape[-1], written["filters"], kernel, stride, bias=written.get("bias", True))
        assert target is not None, "the PyTorch version is cut to Keras' size"
        return nn.Sequential(conv, CropOrPad(target[:-1]), torch_activation(written.get("activation")))

    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, window_config(written, 2), run_lengths(draw, shape)
    )


# ---------------------------------------------------------------- pooling and resizing

POOL_CLASSES = {
    "maxpool": ("MaxPooling{}D", "MaxPool{}d", float("-inf")),
    "avgpool": ("AveragePooling{}D", "AvgPool{}d", 0.0),
}


def spatial_axes(shape: Shape) -> int:
    """1-D, 2-D or 3-D from the input rank; a vector gets the 1-D layer (which must refuse it)."""
    return max(len(shape) - 1, 1)


@st.composite
def pool_cases(draw, name: str) -> Case:
    rank = draw(st.sampled_from((2, 2, 3, 3, 4, 1)))
    shape = draw(sample_shape(rank, hi=12 if rank < 4 else 6))
    axes = spatial_axes(shape)
    w = Writer(draw, name)
    if draw(st.integers(0, 3)):
        w.positional("pool", draw_dims(draw, axes, 1, 4))
    if draw(st.booleans()):
        w.keyword("stride", draw_dims(draw, axes, 1, 3))
    draw_padding(draw, w)
    written = w.written
    keras_class, torch_class, fill = POOL_CLASSES[name]

    def build_keras(x):
        kwargs = keras_kwargs(written, {"pool": "pool_size", "stride": "strides", "padding": "padding"})
        if name == "avgpool":
            kwargs.setdefault("pool_size", 2)  # Keras' AveragePooling has no default; LANGUAGE.md: 2, as MaxPooling
        return getattr(kl, keras_class.format(axes))(**kwargs)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        pool = per_axis(written.get("pool", 2), axes)
        stride = per_axis(written.get("stride", pool), axes)
        module = getattr(nn, torch_class.format(axes))(pool, stride)
        return padded(written.get("padding", "valid"), pool, stride, (1,) * axes, module, fill)

    config = {k: per_axis(v, axes) if k != "padding" else v for k, v in written.items()}
    if rank > 1 and "stride" not in written:
        config["stride"] = per_axis(written.get("pool", 2), axes)  # Keras: strides=None means the pool size
    return Case(program(shape, w.text()), shape, build_keras, build_torch, config, run_lengths(draw, shape))


@st.composite
def global_pool_cases(draw, name: str) -> Case:
    rank = draw(st.sampled_from((2, 3, 3, 4, 1)))
    shape = draw(sample_shape(rank, hi=8))
    axes = spatial_axes(shape)
    keras_class = {"globalavgpool": "GlobalAveragePooling{}D", "globalmaxpool": "GlobalMaxPooling{}D"}[name]
    w = Writer(draw, name)
    choice = draw(st.sampled_from((None, True, False)))
    if choice is True and draw(st.booleans()):
        w.written["keepdims"] = True
        w.others.append("keepdims")
    elif choice is not None:
        w.keyword("keepdims", choice, "true" if choice else "false")
    keepdims = w.written.get("keepdims", False)

    def reduce(x):
        dims = tuple(range(2, x.ndim))
        return x.mean(dim=dims, keepdim=keepdims) if name == "globalavgpool" else x.amax(dim=dims, keepdim=keepdims)

    return Case(
        program(shape, w.text()),
        shape,
        lambda x: getattr(kl, keras_class.format(axes))(**keras_kwargs(w.written, {"keepdims": "keepdims"}))(x),
        lambda shape, target: Fn(reduce),
        dict(w.written),
        lengths=run_lengths(draw, shape),
        numeric=True,
    )


@st.composite
def upsample_cases(draw) -> Case:
    rank = draw(st.sampled_from((2, 3, 3, 4, 1)))
    shape = draw(sample_shape(rank, hi=8 if rank < 4 else 4))
    axes = spatial_axes(shape)
    w = Writer(draw, "upsample")
    if draw(st.integers(0, 3)):
        w.positional("size", draw_dims(draw, axes, 1, 3))
    written = w.written

    def build_keras(x):
        return getattr(kl, f"UpSampling{axes}D")(**keras_kwargs(written, {"size": "size"}))(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        scale = tuple(float(s) for s in per_axis(written.get("size", 2), axes))
        return nn.Upsample(scale_factor=scale, mode="nearest")

    config = {"size": per_axis(written["size"], axes)} if written and rank > 1 else {}
    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, config, run_lengths(draw, shape), numeric=True
    )


@st.composite
def pads_cases(draw, name: str) -> Case:
    """zeropad and crop, written every way: one size, one per axis (on a sequence: before x after),
    or one size or BEFORExAFTER pair per axis written one after another (rarely one too many)."""
    rank = draw(st.sampled_from((2, 3, 3, 4, 1)))
    shape = draw(sample_shape(rank, lo=7 if name == "crop" else 1, hi=10 if rank < 4 else 8))
    axes = spatial_axes(shape)
    arg = "padding" if name == "zeropad" else "cropping"
    w = Writer(draw, name)
    form = draw(st.sampled_from(("one", "per_axis", "pairs", *(("default",) if name == "zeropad" else ()))))
    size = st.integers(0, 3)
    keras_value: Any = 1
    pairs: tuple[tuple[int, int], ...] = ((1, 1),) * axes
    if form == "one":
        keras_value = draw(size)
        w.positional(arg, keras_value)
        pairs = ((keras_value, keras_value),) * axes
    elif form == "per_axis" or (form == "pairs" and axes == 1):
        keras_value = tuple(draw(size) for _ in range(2 if axes == 1 else axes))
        w.positional(arg, keras_value)
        pairs = (keras_value,) if axes == 1 else tuple((p, p) for p in keras_value)
    elif form == "pairs":
        items = [draw(size) if draw(st.booleans()) else (draw(size), draw(size)) for _ in range(axes + rarely(draw, 9))]
        w.written[arg] = items
        w.numbers += [dims_text(item) for item in items]
        pairs = tuple(item if isinstance(item, tuple) else (item, item) for item in items)
        keras_value = pairs
    cls = {"zeropad": "ZeroPadding{}D", "crop": "Cropping{}D"}[name]

    def build_keras(x):
        layer = getattr(kl, cls.format(axes))
        return layer()(x) if form == "default" else layer(keras_value)(x)  # left out: Keras' own default

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        if name == "zeropad":
            flat = [p for pair in reversed(pairs) for p in pair]  # F.pad: the last axis first
            return Fn(lambda x: F.pad(x, flat))
        index = tuple(slice(before, size - after) for (before, after), size in zip(pairs, shape[:-1], strict=True))
        return Fn(lambda x: x[(slice(None), slice(None), *index)])

    config = {arg: pairs} if rank > 1 and len(pairs) == axes else {}
    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, config, run_lengths(draw, shape), numeric=True
    )


# ---------------------------------------------------------------- core


class Dense(nn.Module):
    """Linear on the features: per step on sequences, after a channels-last flatten on images."""

    def __init__(self, features: int, units: int, bias: bool, activation: str | None):
        super().__init__()
        self.linear = nn.Linear(features, units, bias=bias)
        self.activation = activation

    def forward(self, x):
        if x.ndim > 3:
            x = channels_last(x).flatten(1)
        y = self.linear(channels_last(x))
        if self.activation == "softmax":
            y = torch.softmax(y, dim=-1)
        else:
            y = torch_activation(self.activation)(y)
        return channels_first(y)


@st.composite
def dense_cases(draw) -> Case:
    rank = draw(st.sampled_from((1, 2, 2, 3, 4, 1)))
    shape = draw(
        sample_shape(rank, hi=6 if rank > 2 else 12, symbolic=rank == 2 or rarely(draw, 9), symbolic_channels=True)
    )
    w = Writer(draw, "dense")
    w.positional("units", draw(st.integers(1, 16)))
    draw_activation(draw, w)
    draw_bias(draw, w)
    written = w.written

    def build_keras(x):
        if len(shape) > 2:
            x = kl.Flatten()(x)  # LANGUAGE.md: dense on an image or volume flattens it first
        return kl.Dense(written["units"], **keras_kwargs(written, {"bias": "use_bias", "activation": "activation"}))(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        features = math.prod(shape) if len(shape) > 2 else shape[-1]
        return Dense(features, written["units"], written.get("bias", True), written.get("activation"))

    return Case(program(shape, w.text()), shape, build_keras, build_torch, dict(written), run_lengths(draw, shape))


@st.composite
def flatten_cases(draw) -> Case:
    rank = draw(st.integers(1, 4))
    shape = draw(sample_shape(rank, hi=6, symbolic=False))
    return Case(
        program(shape, "flatten"),
        shape,
        lambda x: kl.Flatten()(x),
        lambda shape, target: Fn(lambda x: channels_last(x).flatten(1)),
        numeric=True,
    )


@st.composite
def reshape_cases(draw) -> Case:
    rank = draw(st.integers(1, 4))
    shape = draw(sample_shape(rank, hi=5, cmax=6, symbolic=False))
    total = math.prod(shape)
    parts = [1] * draw(st.integers(1, 4))
    n, p = total, 2
    while n > 1:  # spread the prime factors of the total over the target axes
        while n % p == 0:
            parts[draw(st.integers(0, len(parts) - 1))] *= p
            n //= p
        p += 1
    if draw(st.booleans()):
        parts[draw(st.integers(0, len(parts) - 1))] = -1
    if rarely(draw, 7):  # a count that does not add up
        i = draw(st.integers(0, len(parts) - 1))
        parts[i] = parts[i] + 1 if parts[i] > 0 else 2
    target = tuple(parts)
    text = f"reshape {dims_text(target) if len(target) > 1 else target[0]}"
    if draw(st.booleans()):
        text = f"reshape target={dims_text(target) if len(target) > 1 else target[0]}"

    def to_target(x):
        return channels_first(channels_last(x).reshape(x.shape[0], *target))

    return Case(
        program(shape, text),
        shape,
        lambda x: kl.Reshape(target)(x),
        lambda shape, out: Fn(to_target),
        {"target": target},
        numeric=True,
    )


@st.composite
def dropout_cases(draw) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    rate = draw(st.sampled_from(("0", "0.0", "0.1", "0.25", "0.5", ".5", "0.9", "0.999")))
    text = f"dropout {rate}" if draw(st.booleans()) else f"dropout rate={rate}"
    return Case(
        program(shape, text),
        shape,
        lambda x: kl.Dropout(float(rate))(x),
        lambda shape, target: nn.Dropout(float(rate)),
        {"rate": float(rate)},
        run_lengths(draw, shape),
        numeric=True,
    )


@st.composite
def identity_cases(draw) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    return Case(
        program(shape, "identity"),
        shape,
        lambda x: kl.Identity()(x),
        lambda shape, target: nn.Identity(),
        lengths=run_lengths(draw, shape),
        numeric=True,
    )


class KerasAddPositions(keras.layers.Layer):
    """keras.io's TokenAndPositionEmbedding without the tokens: an Embedding of the positions 0..T-1, added."""

    def __init__(self, length: int | None, dim: int):
        super().__init__()
        self.positions = kl.Embedding(length, dim)

    def call(self, x):
        return x + self.positions(keras.ops.arange(keras.ops.shape(x)[1]))


class TorchAddPositions(nn.Module):
    def __init__(self, length: int, dim: int):
        super().__init__()
        self.positions = nn.Embedding(length, dim)

    def forward(self, x):  # (N, C, T)
        return x + self.positions(torch.arange(x.shape[2])).T


@st.composite
def posembed_cases(draw) -> Case:
    """`max` left out (the steps), enough, or (rarely) too few; symbolic steps need it written."""
    shape = draw(sample_shape(2, hi=8, symbolic_channels=True))
    steps = shape[0]
    w = Writer(draw, "posembed")
    if not isinstance(steps, int) or draw(st.booleans()):
        if isinstance(steps, int):
            low = 1 if rarely(draw, 5) else steps  # rarely fewer positions than steps, which both refuse
        else:
            low = 48  # a symbolic length is at most 16 at run time, 48 after `upsample 3` (after_symbolic_prefix)
        if not rarely(draw, 7):
            w.keyword("max", draw(st.integers(low, low + 8)))
    length = w.written.get("max", steps if isinstance(steps, int) else None)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        return TorchAddPositions(length, shape[-1])

    return Case(
        program(shape, w.text()),
        shape,
        lambda x: KerasAddPositions(length, x.shape[-1])(x),
        build_torch,
        {"max": length} if length is not None else {},
        run_lengths(draw, shape),
    )


class KerasClassToken(keras.layers.Layer):
    def build(self, shape):
        self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="zeros")

    def call(self, x):
        return keras.ops.concatenate([keras.ops.repeat(self.token, keras.ops.shape(x)[0], axis=0), x], axis=1)

    def compute_output_shape(self, shape):
        return (shape[0], None if shape[1] is None else shape[1] + 1, shape[2])


class TorchClassToken(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, features, 1))

    def forward(self, x):  # (N, C, T)
        return torch.cat([self.token.repeat(x.shape[0], 1, 1), x], dim=2)


@st.composite
def clstoken_cases(draw) -> Case:
    rank = draw(st.sampled_from((1, 3))) if rarely(draw, 7) else 2
    shape = draw(sample_shape(rank, hi=8, symbolic_channels=True))
    return Case(
        program(shape, "clstoken"),
        shape,
        lambda x: KerasClassToken()(x),
        lambda shape, target: TorchClassToken(shape[-1]),
        {},
        run_lengths(draw, shape),
    )


@st.composite
def take_cases(draw) -> Case:
    """Indexes inside and (rarely) outside the steps; a symbolic length is at least 10 at run time."""
    shape = draw(sample_shape(2, hi=8))
    steps = shape[0]
    bound = steps if isinstance(steps, int) else 3
    index = draw(st.integers(-bound - 2, bound + 1) if rarely(draw, 5) else st.integers(-bound, bound - 1))
    w = Writer(draw, "take")
    w.positional("index", index)
    return Case(
        program(shape, w.text()),
        shape,
        lambda x: x[:, index],  # Keras slices a symbolic tensor as NumPy does
        lambda shape, target: Fn(lambda x: x[:, :, index]),  # (N, C, T): the steps are last
        {"index": index},
        run_lengths(draw, shape),
        numeric=True,
    )


@st.composite
def embedding_cases(draw) -> Case:
    steps: Dim = "seq" if draw(st.booleans()) else draw(st.integers(1, 12))
    vocab, dim = draw(st.integers(1, 20)), draw(st.integers(1, 8))
    w = Writer(draw, "embedding")
    w.positional("vocab", vocab)
    w.positional("dim", dim)
    mask_zero = draw(st.sampled_from((None, True, False)))
    if mask_zero is not None:
        w.written["mask_zero"] = mask_zero
        w.others.append("mask_zero" if mask_zero and draw(st.booleans()) else f"mask_zero={str(mask_zero).lower()}")

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        return nn.Sequential(nn.Embedding(vocab, dim), Fn(channels_first))  # the mask changes no value

    shape = (steps,)
    return Case(
        program(shape, w.text()),
        shape,
        lambda x: kl.Embedding(vocab, dim, mask_zero=bool(mask_zero))(x),
        build_torch,
        dict(w.written),
        run_lengths(draw, shape),
        vocab=vocab,
    )


# ---------------------------------------------------------------- normalization and activations


class Affine(nn.Module):
    """A normalization without learned values, then Keras' gamma and beta where it keeps them."""

    def __init__(self, norm: nn.Module, channels: int, scale: bool, center: bool):
        super().__init__()
        self.norm = norm
        self.gamma = nn.Parameter(torch.ones(channels)) if scale else None
        self.beta = nn.Parameter(torch.zeros(channels)) if center else None

    def forward(self, x):  # channels first
        y = self.norm(x)
        per_channel = (1, -1) + (1,) * (x.ndim - 2)
        if self.gamma is not None:
            y = y * self.gamma.view(per_channel)
        if self.beta is not None:
            y = y + self.beta.view(per_channel)
        return y


def draw_scale_center(draw, w: Writer) -> None:
    for name in ("scale", "center"):
        choice = draw(st.sampled_from((None, True, False, False)))
        if choice is not None:
            w.keyword(name, choice, "true" if choice else "false")


@st.composite
def batchnorm_cases(draw) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6, symbolic_channels=True))
    w = Writer(draw, "batchnorm")
    if draw(st.booleans()):
        w.keyword("momentum", draw(st.sampled_from((0.0, 0.5, 0.9, 0.99, 1.0))))
    if draw(st.booleans()):
        w.keyword("epsilon", draw(st.sampled_from((1e-5, 0.001, 0.01, 1.0))))
    draw_scale_center(draw, w)
    written = w.written
    names = {"momentum": "momentum", "epsilon": "epsilon", "scale": "scale", "center": "center"}

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[len(shape)]
        eps, momentum = written.get("epsilon", 1e-3), 1 - written.get("momentum", 0.99)
        norm = cls(shape[-1], eps=eps, momentum=momentum, affine=False)
        return Affine(norm, shape[-1], written.get("scale", True), written.get("center", True))

    return Case(
        program(shape, w.text()),
        shape,
        lambda x: kl.BatchNormalization(**keras_kwargs(written, names))(x),
        build_torch,
        dict(written),
        run_lengths(draw, shape),
    )


class LastAxis(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return channels_first(self.module(channels_last(x)))


@st.composite
def layernorm_cases(draw) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6, symbolic_channels=True))
    w = Writer(draw, "layernorm")
    if draw(st.booleans()):
        w.keyword("epsilon", draw(st.sampled_from((1e-6, 1e-5, 0.001, 0.1))))
    draw_scale_center(draw, w)
    written = w.written

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        norm = LastAxis(nn.LayerNorm(shape[-1], eps=written.get("epsilon", 1e-3), elementwise_affine=False))
        return Affine(norm, shape[-1], written.get("scale", True), written.get("center", True))

    return Case(
        program(shape, w.text()),
        shape,
        lambda x: kl.LayerNormalization(
            **keras_kwargs(written, {"epsilon": "epsilon", "scale": "scale", "center": "center"})
        )(x),
        build_torch,
        dict(written),
        run_lengths(draw, shape),
    )


def values_text(value: float | tuple[float, ...]) -> str:
    """A number, or one per channel as dims of decimals (`0.5x-1.25x2.0`; spaced as `0.5 x 2` too)."""
    if not isinstance(value, tuple):
        return repr(value)
    return "x".join(repr(v) for v in value)


@st.composite
def draw_values(draw, channels: int, lo: float, hi: float, per_channel_too: bool = True) -> float | tuple[float, ...]:
    """One number for every channel, or one per channel (rarely one too many: refused by both)."""
    number = st.sampled_from(tuple(v for v in (-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.5, 255.0) if lo <= v <= hi))
    if not per_channel_too or draw(st.booleans()):
        return draw(number)
    count = channels + (1 if channels >= 2 and rarely(draw, 9) else 0)  # more than one can broadcast to
    return tuple(draw(number) for _ in range(count))


def broadcast_per_channel(value: float | tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
    """Values per channel shaped to broadcast over a channels-first tensor (N, C, ...)."""
    tensor = torch.tensor(value, dtype=torch.float32)
    return tensor.view(1, -1, *(1,) * (x.ndim - 2)) if tensor.ndim else tensor


@st.composite
def rescale_cases(draw) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    channels = shape[-1]
    scale = draw(draw_values(channels, -2.0, 255.0))
    offset = draw(draw_values(channels, -2.0, 2.0)) if draw(st.booleans()) else None
    words = [values_text(scale) if draw(st.booleans()) else f"scale={values_text(scale)}"]
    if offset is not None:
        words.append(f"offset={values_text(offset)}")

    def build_keras(x):
        return kl.Rescaling(scale)(x) if offset is None else kl.Rescaling(scale, offset=offset)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        return Fn(lambda x: x * broadcast_per_channel(scale, x) + broadcast_per_channel(offset or 0.0, x))

    text = " ".join(["rescale", *draw(st.permutations(words))])
    return Case(program(shape, text), shape, build_keras, build_torch, {}, run_lengths(draw, shape), numeric=True)


@st.composite
def normalize_cases(draw) -> Case:
    """Statistics left out (weights: Keras starts them at mean 0, variance 1), or given: one number
    or one per channel each; a mix of the two is broadcast here, as a user means it."""
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    channels = shape[-1]
    given = draw(st.booleans())
    mean = draw(draw_values(channels, -2.0, 255.0)) if given else 0.0
    variance = draw(draw_values(channels, 0.0, 255.0)) if given else 1.0
    words = [f"mean={values_text(mean)}", f"variance={values_text(variance)}"] if given else []

    def keras_values(value: float | tuple[float, ...], other: float | tuple[float, ...]) -> Any:
        return value if isinstance(value, tuple) or not isinstance(other, tuple) else (value,) * len(other)

    def build_keras(x):
        if not given:
            return kl.Normalization()(x)
        return kl.Normalization(mean=keras_values(mean, variance), variance=keras_values(variance, mean))(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        def normalize(x):
            std = broadcast_per_channel(variance, x).sqrt().clamp_min(1e-7)  # Keras' backend.epsilon()
            return (x - broadcast_per_channel(mean, x)) / std

        return Fn(normalize)

    text = " ".join(["normalize", *draw(st.permutations(words))])
    return Case(program(shape, text), shape, build_keras, build_torch, {}, run_lengths(draw, shape), numeric=True)


class LayerScaleByHand(nn.Module):
    """timm's LayerScale, on channels-first tensors."""

    def __init__(self, channels: int, init: float):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), init))

    def forward(self, x):
        return x * self.gamma.view(1, -1, *(1,) * (x.ndim - 2))


@st.composite
def scale_cases(draw) -> Case:
    """Keras' reference is keras.applications' own LayerScale (ConvNeXt), archdsl's default ConvNeXt's 1e-6."""
    from keras.src.applications.convnext import LayerScale

    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    init = draw(st.sampled_from((None, 1e-6, 0.1, 0.5, 1.0)))
    text = "scale" if init is None else f"scale init={init!r}"
    value = 1e-6 if init is None else init
    return Case(
        program(shape, text),
        shape,
        lambda x: LayerScale(value, shape[-1])(x),
        lambda shape, target: LayerScaleByHand(shape[-1], value),
        {"init": value},
        run_lengths(draw, shape),
        numeric=True,
    )


class DropPathByHand(nn.Module):
    """Stochastic depth as torchvision's StochasticDepth(mode="row") computes it."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep).div_(keep)
        return x * noise


@st.composite
def droppath_cases(draw) -> Case:
    """Keras' own stochastic depth is Dropout with one draw per sample (keras.applications' EfficientNet)."""
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    rate = draw(st.sampled_from(("0", "0.1", "0.2", "0.5", "0.999")))  # 1 would divide by 0 in training
    text = f"droppath {rate}" if draw(st.booleans()) else f"droppath rate={rate}"
    noise_shape = (None,) + (1,) * len(shape)
    return Case(
        program(shape, text),
        shape,
        lambda x: kl.Dropout(float(rate), noise_shape=noise_shape)(x),
        lambda shape, target: DropPathByHand(float(rate)),
        {"rate": float(rate)},
        run_lengths(draw, shape),
        refused_by="keras",
        numeric=True,
    )


KERAS_ACTIVATION_LAYERS: dict[str, Callable[..., Any]] = {
    "relu": kl.ReLU,
    "relu6": lambda: kl.ReLU(max_value=6.0),
    "leakyrelu": kl.LeakyReLU,
    "elu": kl.ELU,
    "selu": lambda: kl.Activation("selu"),
    "gelu": lambda: kl.Activation("gelu"),
    "gelu_tanh": lambda: kl.Activation(KERAS_ACTIVATION["gelu_tanh"]),
    "silu": lambda: kl.Activation("silu"),
    "sigmoid": lambda: kl.Activation("sigmoid"),
    "tanh": lambda: kl.Activation("tanh"),
    "softmax": kl.Softmax,
    "hardswish": lambda: kl.Activation("hard_swish"),
    "hardsigmoid": lambda: kl.Activation("hard_sigmoid"),
    "abs": lambda: kl.Activation(keras.ops.abs),
}


@st.composite
def activation_cases(draw, name: str) -> Case:
    shape = draw(sample_shape(draw(st.integers(1, 4)), hi=6))
    w = Writer(draw, name)
    config: dict[str, Any] = {}
    if name == "leakyrelu" and draw(st.booleans()):
        text = draw(st.sampled_from(("0", "0.01", "0.1", "0.2", "0.3", "0.5", "1")))
        w.positional("alpha", text)
        config["alpha"] = float(text)

    if name == "leakyrelu" and "alpha" not in config:
        config["alpha"] = kl.LeakyReLU().negative_slope  # left out: Keras' default slope

    def build_keras(x):
        if "alpha" in w.written:
            return kl.LeakyReLU(negative_slope=config["alpha"])(x)
        return KERAS_ACTIVATION_LAYERS[name]()(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        # PyTorch's LeakyReLU default slope (0.01) is not Keras' (0.3): spell Keras' out.
        return torch_activation(name, **({"alpha": config["alpha"]} if name == "leakyrelu" else {}))

    return Case(
        program(shape, w.text()), shape, build_keras, build_torch, config, run_lengths(draw, shape), numeric=True
    )


# ---------------------------------------------------------------- recurrent and attention


class Recurrent(nn.Module):
    def __init__(self, kind: str, features: int, units: int, seq: bool, bidirectional: bool, activation: str):
        super().__init__()
        kwargs: dict[str, Any] = {"batch_first": True, "bidirectional": bidirectional}
        if kind == "rnn":
            kwargs["nonlinearity"] = activation
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](features, units, **kwargs)
        self.seq = seq

    def forward(self, x):  # (N, features, steps)
        out, state = self.rnn(x.transpose(1, 2))
        if self.seq:
            return out.transpose(1, 2)
        h = state[0] if isinstance(state, tuple) else state  # (directions, N, units)
        return torch.cat(list(h), dim=-1)


@st.composite
def rnn_cases(draw, kind: str) -> Case:
    rank = draw(st.sampled_from((1, 3))) if rarely(draw, 7) else 2
    shape = draw(sample_shape(rank, hi=8, symbolic_channels=True))
    w = Writer(draw, kind)
    w.positional("units", draw(st.integers(1, 16)))
    for flag in ("seq", "bidirectional"):
        choice = draw(st.sampled_from((None, True, False)))
        if choice is True and draw(st.booleans()):
            w.written[flag] = True
            w.others.append(flag)
        elif choice is True:
            w.keyword(flag, True, "true")
        elif choice is False:
            w.keyword(flag, False, "false")
    if kind == "rnn" and draw(st.booleans()):
        act = draw(st.sampled_from(("tanh", "relu")))
        w.word_or_keyword("activation", act, act)
    written = w.written
    units = written["units"]

    def build_keras(x):
        cls = {"lstm": kl.LSTM, "gru": kl.GRU, "rnn": kl.SimpleRNN}[kind]
        layer = cls(units, **keras_kwargs(written, {"seq": "return_sequences", "activation": "activation"}))
        return (kl.Bidirectional(layer) if written.get("bidirectional") else layer)(x)

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        return Recurrent(
            kind,
            shape[-1],
            units,
            written.get("seq", False),
            written.get("bidirectional", False),
            written.get("activation", "tanh"),
        )

    return Case(program(shape, w.text()), shape, build_keras, build_torch, dict(written), run_lengths(draw, shape))


class SelfAttention(nn.Module):
    def __init__(self, features: int, heads: int, causal: bool):
        super().__init__()
        self.mha = nn.MultiheadAttention(features, heads, batch_first=True)
        self.causal = causal

    def forward(self, x):  # (N, features, steps)
        q = x.transpose(1, 2)
        mask = nn.Transformer.generate_square_subsequent_mask(q.shape[1]) if self.causal else None
        return self.mha(q, q, q, attn_mask=mask, need_weights=False)[0].transpose(1, 2)


class HeadsOfAnySize(nn.Module):
    """Attention whose heads * key_dim differs from the features, as Keras allows: four projections."""

    def __init__(self, features: int, heads: int, key_dim: int, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.q, self.k, self.v = (nn.Linear(features, heads * key_dim) for _ in range(3))
        self.out = nn.Linear(heads * key_dim, features)

    def forward(self, x):  # (N, features, steps)
        x = x.transpose(1, 2)
        q, k, v = (p(x).unflatten(-1, (self.heads, -1)).transpose(1, 2) for p in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).flatten(2)).transpose(1, 2)


@st.composite
def attention_cases(draw) -> Case:
    heads = draw(st.integers(1, 4))
    steps: Dim = "seq" if draw(st.booleans()) else draw(st.integers(1, 8))
    divisible = not rarely(draw, 4)
    features: Dim = heads * draw(st.integers(1, 4)) if divisible else draw(st.integers(1, 12))
    if rarely(draw, 15):
        features = CHANNEL_NAME
    shape = (steps, features)
    w = Writer(draw, "attention")
    w.positional("heads", heads)
    if draw(st.booleans()):  # any size per head: Keras' output keeps the features all the same
        w.keyword("key_dim", draw(st.integers(1, 6)))
    causal = draw(st.sampled_from((None, True, False)))
    if causal is not None:
        w.written["causal"] = causal
        w.others.append("causal" if causal and draw(st.booleans()) else f"causal={str(causal).lower()}")
    written = w.written
    default = max(features // heads, 1) if isinstance(features, int) else 1
    key_dim = written.get("key_dim", default)

    def build_keras(x):
        return kl.MultiHeadAttention(num_heads=heads, key_dim=key_dim)(x, x, use_causal_mask=bool(causal))

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        if "key_dim" in written and heads * key_dim != shape[-1]:
            return HeadsOfAnySize(shape[-1], heads, key_dim, bool(causal))
        return SelfAttention(shape[-1], heads, bool(causal))

    # Without key_dim, heads must divide the features: PyTorch's nn.MultiheadAttention refuses otherwise.
    refused_by = "keras" if features == CHANNEL_NAME else "torch"
    resolved = "key_dim" in written or (isinstance(features, int) and features % heads == 0)
    config = {"heads": heads, "key_dim": key_dim, "causal": bool(causal)} if resolved else {}
    return Case(
        program(shape, w.text()),
        shape,
        build_keras,
        build_torch,
        config,
        run_lengths(draw, shape),
        refused_by=refused_by,
    )


# ---------------------------------------------------------------- merges


class Branches(nn.Module):
    def __init__(self, branches: list[nn.Module], merge: Callable[[list[torch.Tensor]], torch.Tensor]):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.under_test = Fn(merge)

    def forward(self, x):
        return self.under_test([branch(x) for branch in self.branches])


def torch_concat_dim(axis: int, rank: int) -> int:
    """A Keras axis (batch = 0, channels last) as the axis of the channels-first tensor."""
    sample_axis = axis - 1 if axis > 0 else rank + axis
    if rank == 1 or sample_axis == rank - 1:
        return 1
    return sample_axis + 2


def subtract(xs):
    first, second = xs  # exactly two, as Keras' Subtract
    return first - second


def stacked(xs):
    """The branches, stretched to one shape where they broadcast, along a new first axis."""
    return torch.stack(torch.broadcast_tensors(*xs))


TORCH_MERGES = {
    "add": lambda xs: stacked(xs).sum(0),
    "subtract": subtract,
    "multiply": lambda xs: stacked(xs).prod(0),
    "average": lambda xs: stacked(xs).mean(0),
    "maximum": lambda xs: stacked(xs).amax(0),
    "minimum": lambda xs: stacked(xs).amin(0),
}
KERAS_MERGES = {
    "add": kl.Add,
    "subtract": kl.Subtract,
    "multiply": kl.Multiply,
    "average": kl.Average,
    "maximum": kl.Maximum,
    "minimum": kl.Minimum,
}


@st.composite
def merge_cases(draw, name: str) -> Case:
    """Two or three branches of identity/dense/valid convs, most of them shaped to agree; for the
    element-wise merges, some branches squeezed to size 1 (a global pool with keepdims, one
    channel) that broadcast against the others."""
    rank = draw(st.integers(1, 4))
    axes = rank - 1
    # Every size stays >= 2 after a branch but a squeezed one, so only those broadcast.
    shape = draw(sample_shape(rank, lo=3, hi=8 if rank < 4 else 5, cmax=6))
    if shape[-1] == 1:
        shape = (*shape[:-1], 2)
    lengths = run_lengths(draw, shape, lo=8, hi=12)

    def kernel_for(axis: int) -> int:
        size = shape[axis]
        return draw(st.integers(1, 3 if isinstance(size, str) else min(3, size - 1)))

    def fresh() -> tuple:
        roll = draw(st.integers(0, 5))
        if roll == 0:
            return ("identity",)
        if roll == 5 and name != "concat":
            # Size 1 on the pooled axes (a vector: one feature), or a single channel.
            if rank == 1 or draw(st.booleans()):
                return ("squeeze",)
            return ("conv", 1, (1,) * axes)
        if rank == 1:
            return ("dense", draw(st.integers(2, 6)))
        return ("conv", draw(st.integers(2, 6)), tuple(kernel_for(a) for a in range(axes)))

    axis = -1
    axis_written = False
    if name == "concat" and draw(st.booleans()):
        axis = draw(st.sampled_from([*range(-rank, 0), *range(1, rank + 1)]))
        axis_written = True
    sample_axis = axis - 1 if axis > 0 else rank + axis

    def varied(base: tuple) -> tuple:
        """For concat: the base branch changed only along the joined axis."""
        if sample_axis == rank - 1 or rank == 1:
            units = draw(st.integers(2, 6))
            return ("dense", units) if rank == 1 else ("conv", units, (1,) * axes if base[0] == "identity" else base[2])
        kernel = list(base[2]) if base[0] == "conv" else [1] * axes
        kernel[sample_axis] = kernel_for(sample_axis)
        return ("conv", base[1] if base[0] == "conv" else shape[-1], tuple(kernel))

    base = fresh()
    branches = [base]
    for _ in range(2 if rarely(draw, 3) else 1):
        roll = draw(st.integers(0, 5))
        if roll == 5:
            branches.append(fresh())
        elif name == "concat" and roll >= 2:
            branches.append(varied(base))
        else:
            branches.append(base)

    def branch_text(b: tuple) -> str:
        if b[0] == "identity":
            return "identity"
        if b[0] == "squeeze":
            return "dense 1" if rank == 1 else "globalavgpool keepdims"
        if b[0] == "dense":
            return f"dense {b[1]}"
        return f"conv{axes}d {b[1]} {dims_text(b[2] if axes > 1 else b[2][0])}"

    merge_text = f"concat axis={axis}" if axis_written else name
    spec = program(shape, f"( {' | '.join(branch_text(b) for b in branches)} ) -> {merge_text}")

    def keras_branch(b: tuple):
        if b[0] == "identity":
            return kl.Identity()
        if b[0] == "squeeze":
            return kl.Dense(1) if rank == 1 else getattr(kl, f"GlobalAveragePooling{axes}D")(keepdims=True)
        if b[0] == "dense":
            return kl.Dense(b[1])
        return getattr(kl, f"Conv{axes}D")(b[1], b[2])

    def build_keras(x):
        outs = [keras_branch(b)(x) for b in branches]
        merge = (
            (kl.Concatenate(axis=axis) if axis_written else kl.Concatenate())
            if name == "concat"
            else KERAS_MERGES[name]()
        )
        return merge(outs)

    def build_torch(concrete: Concrete, target: Concrete | None) -> nn.Module:
        cin = concrete[-1]

        def torch_branch(b: tuple) -> nn.Module:
            if b[0] == "identity":
                return nn.Identity()
            if b[0] == "squeeze" and rank == 1:
                return nn.Linear(cin, 1)
            if b[0] == "squeeze":
                return Fn(lambda x: x.mean(dim=tuple(range(2, x.ndim)), keepdim=True))
            if b[0] == "dense":
                return nn.Linear(cin, b[1])
            return getattr(nn, f"Conv{axes}d")(cin, b[1], b[2])

        if name == "concat":
            dim = torch_concat_dim(axis, rank)
            return Branches([torch_branch(b) for b in branches], lambda xs: torch.cat(xs, dim=dim))
        return Branches([torch_branch(b) for b in branches], TORCH_MERGES[name])

    return Case(spec, shape, build_keras, build_torch, {}, lengths)


# ---------------------------------------------------------------- symbolic sizes that are expressions


@st.composite
def after_symbolic_prefix(draw, inner: st.SearchStrategy[Case]) -> Case:
    """Sometimes put `zeropad P` or `upsample S` first, so a symbolic size reaches the layer as `seq+2`, `seq*3`."""
    case = draw(inner)
    spatial = case.input_shape[:-1]
    if not any(isinstance(d, str) for d in spatial) or draw(st.booleans()):
        return case
    axes = len(spatial)
    if draw(st.booleans()):
        amount = draw(st.integers(0, 2))
        text = f"zeropad {amount}"

        def keras_prefix():
            return getattr(kl, f"ZeroPadding{axes}D")(amount)

        torch_prefix = Fn(lambda x: F.pad(x, [amount] * (2 * axes)))

        def grow(d: int) -> int:
            return d + 2 * amount
    else:
        amount = draw(st.integers(1, 3))
        text = f"upsample {amount}"

        def keras_prefix():
            return getattr(kl, f"UpSampling{axes}D")(amount)

        torch_prefix = nn.Upsample(scale_factor=float(amount), mode="nearest")

        def grow(d: int) -> int:
            return d * amount

    def build_keras(x):
        return case.keras(keras_prefix()(x))

    def build_torch(shape: Concrete, target: Concrete | None) -> nn.Module:
        return nn.Sequential(torch_prefix, case.torch((*(grow(d) for d in shape[:-1]), shape[-1]), target))

    return dataclasses.replace(
        case, spec=case.spec.replace(" -> ", f" -> {text} -> ", 1), keras=build_keras, torch=build_torch
    )


# ---------------------------------------------------------------- every layer type

MERGES = ("add", "subtract", "multiply", "average", "maximum", "minimum", "concat")
_ORACLES: dict[str, st.SearchStrategy[Case]] = {
    "dense": dense_cases(),
    "conv1d": conv_cases(1),
    "conv2d": conv_cases(2),
    "conv3d": conv_cases(3),
    "sepconv2d": sepconv_cases(),
    "dwconv2d": dwconv_cases(),
    "conv2dtranspose": transpose_cases(),
    "maxpool": pool_cases("maxpool"),
    "avgpool": pool_cases("avgpool"),
    "globalavgpool": global_pool_cases("globalavgpool"),
    "globalmaxpool": global_pool_cases("globalmaxpool"),
    "flatten": flatten_cases(),
    "dropout": dropout_cases(),
    "batchnorm": batchnorm_cases(),
    "layernorm": layernorm_cases(),
    "rescale": rescale_cases(),
    "normalize": normalize_cases(),
    "scale": scale_cases(),
    "droppath": droppath_cases(),
    **{name: activation_cases(name) for name in ACTIVATIONS},
    "lstm": rnn_cases("lstm"),
    "gru": rnn_cases("gru"),
    "rnn": rnn_cases("rnn"),
    "embedding": embedding_cases(),
    "reshape": reshape_cases(),
    "upsample": upsample_cases(),
    "zeropad": pads_cases("zeropad"),
    "crop": pads_cases("crop"),
    "identity": identity_cases(),
    **{name: merge_cases(name) for name in MERGES},
    "posembed": posembed_cases(),
    "clstoken": clstoken_cases(),
    "take": take_cases(),
    "attention": attention_cases(),
}

ORACLES = {name: strategy if name in MERGES else after_symbolic_prefix(strategy) for name, strategy in _ORACLES.items()}

__all__ = ["ORACLES", "Case", "channels_first", "channels_last", "keras", "torch"]
