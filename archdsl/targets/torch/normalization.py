"""BatchNorm and LayerNorm: Keras' defaults written out in PyTorch's terms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from archdsl.ir.model import Layer
from archdsl.layers import LAYERS
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.layout import to_channels_first, to_channels_last
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


@translates("layernorm", weights=_layernorm_weights, fresh_output=True)
def layernorm(emit: Emit) -> Code:
    layer = emit.layer
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
    rank = len(layer.input_shape)
    if rank >= 3:
        expr = module_call(emit, f"{emit.x}.permute({to_channels_last(rank)})") + f".permute({to_channels_first(rank)})"
        step = Step("{out}", expr, "normalized over channels, as Keras' axis=-1")
        notes.append(Note("LayerNorm", LAYERNORM_CHANNELS))
        return Code(module, [step], emit.layout, notes, attributes=attributes)
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, notes, attributes=attributes)
