"""BatchNorm and LayerNorm with Keras' defaults written out in PyTorch's terms; rescaling, Normalization and
LayerScale, which PyTorch does not have."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archdsl.ir.model import Layer
from archdsl.layers import LAYERS
from archdsl.targets.common import Note
from archdsl.targets.pycode import INDENT, LINE_LENGTH, Raw, call, literal
from archdsl.targets.torch.layout import CHANNELS_FIRST, to_channels_first, to_channels_last, torch_shape
from archdsl.targets.torch.registry import (
    Arrays,
    Attribute,
    Code,
    Emit,
    Step,
    WeightContext,
    module_call,
    size_note,
    translates,
)

# Keras' scale and center, as the parameter PyTorch holds for each and the value it starts at.
_LEARNED = {"scale": ("weight", "ones", "gamma"), "center": ("bias", "zeros", "beta")}


def torch_momentum(keras_momentum: float) -> float:
    """Keras keeps `momentum` of the old statistic, PyTorch mixes in `momentum` of the new one."""
    return round(1.0 - keras_momentum, 12)


def _learned(layer: Layer) -> tuple[dict[str, object], list[Attribute], list[Note]]:
    """Keras' `scale=False` / `center=False` in PyTorch: the module's keyword arguments, the
    parameter given back after it is built, and the note.

    PyTorch's `affine=False` (LayerNorm: `elementwise_affine=False`) drops gamma and beta
    together; only LayerNorm can drop beta alone (`bias=False`). So a module that keeps one of
    the two is built without both and given that one back as a parameter of its own, which
    its forward reads as it reads its own weight and bias.
    """
    c = layer.config
    if c["scale"] and c["center"]:
        return {}, [], []
    if layer.type == "layernorm" and c["scale"]:
        return {"bias": False}, [], [Note("Scale and center", "Keras' center=False is `bias=False`: no beta.")]
    flag = "affine" if layer.type == "batchnorm" else "elementwise_affine"
    kept = [name for name in _LEARNED if c[name]]
    if not kept:
        text = f"Keras' scale=False and center=False are `{flag}=False` in PyTorch: no gamma, no beta."
        return {flag: False}, [], [Note("Scale and center", text)]
    attribute, start, learned = _LEARNED[kept[0]]
    dropped = next(name for name in _LEARNED if name != kept[0])
    value = call("nn.Parameter", Raw(f"torch.{start}({layer.input_shape[-1]})"))
    given = Attribute(attribute, value, f"Keras' {dropped}=False: {learned} only")
    text = (
        f"PyTorch's `{flag}=False` drops gamma and beta together, and Keras' {dropped}=False keeps the {learned}, "
        f"so the code gives it back to the module: `{attribute} = {value.inline()}`."
    )
    return {flag: False}, [given], [Note("Scale and center", text)]


def _learned_state(layer: Layer, arrays: Iterator[Any]) -> dict[str, Any]:
    """Keras' gamma and beta, those the layer has, in the order Keras keeps them."""
    return {_LEARNED[name][0]: next(arrays) for name in _LEARNED if layer.config[name]}


def _batchnorm_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    arrays = iter(weights)
    state = _learned_state(layer, arrays)
    state["running_mean"], state["running_var"] = arrays
    return state


@translates("batchnorm", weights=_batchnorm_weights, fresh_output=True)
def batchnorm(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    cls = f"nn.BatchNorm{max(len(layer.input_shape) - 1, 1)}d"
    learned, attributes, learned_notes = _learned(layer)
    module = call(cls, layer.input_shape[-1], eps=c["epsilon"], momentum=torch_momentum(c["momentum"]), **learned)
    keras_side = " and ".join(
        f"`{name}={c[name]!r}`" if c[name] != LAYERS["batchnorm"].arg_index[name].default else f"default {name}"
        for name in ("momentum", "epsilon")
    )
    note = Note(
        "BatchNorm",
        f"PyTorch's {cls} is given `{module.keywords_text('eps', 'momentum')}` to match Keras' {keras_side}: "
        "PyTorch's momentum weighs the new batch, Keras' the running average (each is one minus the other). Keras "
        "counts the moving mean and variance as weights, PyTorch keeps them as buffers, outside parameters().",
    )
    notes = [size_note(layer), note, *learned_notes]
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, notes, attributes=attributes)


def _layernorm_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    return _learned_state(layer, iter(weights))


LAYERNORM_CHANNELS = (
    "Keras normalizes the last axis, the channels; PyTorch's LayerNorm normalizes the last axis too, which "
    "is a spatial one in its channels-first layout, so the code moves channels last around it (`.permute`)."
)


SYMBOLIC_CHANNELS = (
    "Without gamma and beta there is nothing to size, and Keras normalizes any number of channels; "
    "nn.LayerNorm is built for one, so the code calls `F.layer_norm` with the channels of the tensor it gets."
)


@translates("layernorm", weights=_layernorm_weights, fresh_output=True)
def layernorm(emit: Emit) -> Code:
    layer = emit.layer
    rank = len(layer.input_shape)
    if not isinstance(layer.input_shape[-1], int):  # no scale, no center (the shape pass checked)
        x = f"{emit.x}.permute({to_channels_last(rank)})" if rank >= 3 else emit.x
        channels = f"{emit.x}.shape[1:2]" if rank >= 3 else f"{emit.x}.shape[-1:]"  # held channels first
        expr = f"F.layer_norm({x}, {channels}, eps={literal(layer.config['epsilon'])})"
        expr += f".permute({to_channels_first(rank)})" if rank >= 3 else ""
        return Code(None, [Step("{out}", expr)], emit.layout, [Note("LayerNorm", SYMBOLIC_CHANNELS)])
    learned, attributes, learned_notes = _learned(layer)
    module = call("nn.LayerNorm", layer.input_shape[-1], eps=layer.config["epsilon"], **learned)
    notes = [size_note(layer)]
    notes.append(
        Note(
            "LayerNorm",
            f"Keras' epsilon is written out, as PyTorch's default differs: `{module.keywords_text('eps')}`.",
        )
    )
    notes += learned_notes
    if rank >= 3:
        expr = module_call(emit, f"{emit.x}.permute({to_channels_last(rank)})") + f".permute({to_channels_first(rank)})"
        step = Step("{out}", expr, "normalized over channels, as Keras' axis=-1")
        notes.append(Note("LayerNorm", LAYERNORM_CHANNELS))
        return Code(module, [step], emit.layout, notes, attributes=attributes)
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, notes, attributes=attributes)


def _channels_first(emit: Emit) -> bool:
    """Whether the channels of the layer's input are the axis after the batch (N, C, ...), not the last."""
    return emit.layout == CHANNELS_FIRST and len(emit.layer.input_shape) >= 2


def _per_channel(emit: Emit, value: float | tuple[float, ...]) -> str:
    """A number, or per-channel values as a tensor on x's device that broadcasts over the channels."""
    if not isinstance(value, tuple):
        return literal(value)
    tensor = f"{emit.x}.new_tensor({literal(value)})"
    if _channels_first(emit):
        tensor += f".view({', '.join(['-1', *['1'] * (len(emit.layer.input_shape) - 1)])})"
    return tensor


PER_CHANNEL = (
    "Keras broadcasts values given per channel over the last axis; PyTorch holds the channels at axis 1, so "
    "the code makes them a tensor on x's device shaped to broadcast there (`{tensor}`)."
)


@translates("rescale", fresh_output=True)
def rescale(emit: Emit) -> Code:
    c = emit.layer.config
    scaled = f"{emit.x} * {_per_channel(emit, c['scale'])}"
    offset = c["offset"]
    shifted = ""
    if isinstance(offset, tuple) or offset > 0:
        shifted = f" + {_per_channel(emit, offset)}"
    elif offset < 0:
        shifted = f" - {literal(-offset)}"
    shape = torch_shape(emit.layer.output_shape, emit.layout)
    if len(f"{INDENT * 2}x = {scaled}{shifted}  # {shape}") <= LINE_LENGTH or not shifted:
        steps = [Step("{out}", scaled + shifted)]
    else:  # values per channel: one line to scale, one to shift, each short enough to read
        steps = [Step("{out}", scaled, shape=shape), Step("{out}", "{out}" + shifted)]
    per_channel = [name for name in ("scale", "offset") if isinstance(c[name], tuple)]
    notes = []
    if per_channel and _channels_first(emit):  # channels last, the values broadcast as in Keras
        notes.append(Note("Per channel", PER_CHANNEL.format(tensor=_per_channel(emit, c[per_channel[0]]))))
    return Code(None, steps, emit.layout, notes)


def _flag(emit: Emit) -> dict[str, object]:
    return {"channels_first": True} if _channels_first(emit) else {}


def _normalize_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    import numpy as np

    channels = layer.input_shape[-1]
    if weights:  # Keras' mean, variance and count: the count only serves adapt()
        mean, variance = weights[0], weights[1]
    else:  # values given in the spec: constants in Keras, the buffers' own values in PyTorch
        mean, variance = (np.float32(layer.config[name]) for name in ("mean", "variance"))
    return {name: np.broadcast_to(value, (channels,)) for name, value in (("mean", mean), ("variance", variance))}


NORMALIZATION = (
    "PyTorch has no Normalization layer: the file defines one, which keeps the mean and variance as buffers "
    "(in the state_dict, outside parameters()) and, as Keras, divides by at least 1e-7."
)
ADAPTED = (
    "Keras counts the mean, the variance and the number of samples its adapt() saw as weights; PyTorch's "
    "buffers are not parameters, and it needs no count: load the statistics, or compute them."
)


@translates("normalize", weights=_normalize_weights, fresh_output=True, defines="normalization")
def normalize(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    given = {"mean": c["mean"], "variance": c["variance"]} if c["mean"] is not None else {}
    module = call("Normalization", layer.input_shape[-1], **given, **_flag(emit))
    notes = [size_note(layer), Note("Normalization", NORMALIZATION)]
    if not given:
        notes.append(Note("Statistics", ADAPTED))
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, notes)


def _scale_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    (gamma,) = weights
    return {"weight": gamma}


LAYER_SCALE = (
    "Neither framework has a LayerScale layer: each file defines one (keras.applications' ConvNeXt and timm "
    "do the same), with one multiplier per channel: Keras' gamma, PyTorch's weight, the name its own "
    "normalization modules give theirs."
)


@translates("scale", weights=_scale_weights, fresh_output=True, defines="layer_scale")
def scale(emit: Emit) -> Code:
    layer = emit.layer
    module = call("LayerScale", layer.input_shape[-1], layer.config["init"], **_flag(emit))
    return Code(
        module, [Step("{out}", module_call(emit))], emit.layout, [size_note(layer), Note("LayerScale", LAYER_SCALE)]
    )
