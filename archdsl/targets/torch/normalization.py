"""BatchNorm and LayerNorm: Keras' defaults written out in PyTorch's terms."""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.layers import LAYERS
from archdsl.targets.common import Note
from archdsl.targets.pycode import call
from archdsl.targets.torch.layout import to_channels_first, to_channels_last
from archdsl.targets.torch.registry import Arrays, Code, Emit, Step, WeightContext, module_call, size_note, translates


def torch_momentum(keras_momentum: float) -> float:
    """Keras keeps `momentum` of the old statistic, PyTorch mixes in `momentum` of the new one."""
    return round(1.0 - keras_momentum, 12)


def _batchnorm_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    gamma, beta, mean, variance = weights
    return {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": variance}


@translates("batchnorm", weights=_batchnorm_weights, fresh_output=True)
def batchnorm(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    cls = f"nn.BatchNorm{max(len(layer.input_shape) - 1, 1)}d"
    module = call(cls, layer.input_shape[-1], eps=c["epsilon"], momentum=torch_momentum(c["momentum"]))
    keras_side = " and ".join(
        f"`{name}={c[name]!r}`" if c[name] != LAYERS["batchnorm"].arg_index[name].default else f"default {name}"
        for name in ("momentum", "epsilon")
    )
    note = Note(
        "BatchNorm",
        f"PyTorch's {cls} is given `{module.keywords_text()}` to match Keras' {keras_side}: PyTorch's momentum "
        "weighs the new batch, Keras' the running average (each is one minus the other). Keras counts the moving "
        "mean and variance as weights, PyTorch keeps them as buffers, outside parameters().",
    )
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, [size_note(layer), note])


def _layernorm_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    gamma, beta = weights
    return {"weight": gamma, "bias": beta}


LAYERNORM_CHANNELS = (
    "Keras normalizes the last axis, the channels; PyTorch's LayerNorm normalizes the last axis too, which "
    "is a spatial one in its channels-first layout, so the code moves channels last around it (`.permute`)."
)


@translates("layernorm", weights=_layernorm_weights, fresh_output=True)
def layernorm(emit: Emit) -> Code:
    layer = emit.layer
    module = call("nn.LayerNorm", layer.input_shape[-1], eps=layer.config["epsilon"])
    notes = [size_note(layer)]
    notes.append(
        Note("LayerNorm", f"Keras' epsilon is written out, as PyTorch's default differs: `{module.keywords_text()}`.")
    )
    rank = len(layer.input_shape)
    if rank >= 3:
        expr = module_call(emit, f"{emit.x}.permute({to_channels_last(rank)})") + f".permute({to_channels_first(rank)})"
        step = Step("{out}", expr, "normalized over channels, as Keras' axis=-1")
        return Code(module, [step], emit.layout, [*notes, Note("LayerNorm", LAYERNORM_CHANNELS)])
    return Code(module, [Step("{out}", module_call(emit))], emit.layout, notes)
