"""Keras weights into the PyTorch model: one rule per layer type, each with the reason beside it.

This is where the two frameworks' storage conventions meet: kernels are
(..., in, out) in Keras and (out, in, ...) in PyTorch, gates come in another
order, Keras' LSTM has one bias where PyTorch has two. Used by `verify`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archdsl.ir.model import Layer, Model

Arrays = list[Any]  # numpy arrays, as keras' get_weights() returns them


def _dense(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    kernel = weights[0]  # (in, out); nn.Linear keeps (out, in)
    previous = ctx["producer"](layer)
    if previous is not None and previous.type == "flatten" and ctx["channels_first_flatten"](previous):
        # Keras flattened (H, W, C), PyTorch (C, H, W): put the rows in PyTorch's order.
        spatial = previous.input_shape
        rank = len(spatial)
        kernel = kernel.reshape(*spatial, -1).transpose(rank - 1, *range(rank - 1), rank).reshape(kernel.shape)
    state = {"weight": kernel.T}
    if layer.config["bias"]:
        state["bias"] = weights[1]
    return state


def _conv(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    kernel = weights[0]  # (*window, in, out) -> (out, in, *window)
    axes = kernel.ndim - 2
    state = {"weight": kernel.transpose(axes + 1, axes, *range(axes))}
    if layer.config["bias"]:
        state["bias"] = weights[1]
    return state


def _depthwise_kernel(kernel: Any) -> Any:
    # (kh, kw, in, multiplier) -> (in * multiplier, 1, kh, kw); output channel c*m + j in both.
    kh, kw, channels, multiplier = kernel.shape
    return kernel.reshape(kh, kw, channels * multiplier).transpose(2, 0, 1)[:, None, :, :]


def _dwconv(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    state = {"weight": _depthwise_kernel(weights[0])}
    if layer.config["bias"]:
        state["bias"] = weights[1]
    return state


def _sepconv(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    # nn.Sequential(depthwise, pointwise): Keras keeps both kernels in one layer.
    state = {"0.weight": _depthwise_kernel(weights[0]), "1.weight": weights[1].transpose(3, 2, 0, 1)}
    if layer.config["bias"]:
        state["1.bias"] = weights[2]
    return state


def _conv_transpose(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    # Keras (kh, kw, out, in); ConvTranspose2d (in, out, kh, kw). Both are the adjoint of a
    # cross-correlation, so the kernel is not flipped.
    state = {"weight": weights[0].transpose(3, 2, 0, 1)}
    if layer.config["bias"]:
        state["bias"] = weights[1]
    return state


def _batchnorm(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    gamma, beta, mean, variance = weights
    return {"weight": gamma, "bias": beta, "running_mean": mean, "running_var": variance}


def _layernorm(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    gamma, beta = weights
    return {"weight": gamma, "bias": beta}


def _embedding(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    return {"weight": weights[0]}


def _gru_order(array: Any, units: int) -> Any:
    """Keras stacks the GRU gates z, r, h; PyTorch r, z, n."""
    z, r, h = (array[..., i * units : (i + 1) * units] for i in range(3))
    import numpy as np

    return np.concatenate([r, z, h], axis=-1)


def _cell(kind: str, weights: Arrays, units: int, suffix: str) -> dict[str, Any]:
    import numpy as np

    kernel, recurrent, bias = weights
    if kind == "gru":
        # reset_after=True: Keras' bias is (2, 3u), input and recurrent, like PyTorch's two.
        kernel, recurrent = _gru_order(kernel, units), _gru_order(recurrent, units)
        input_bias, recurrent_bias = _gru_order(bias[0], units), _gru_order(bias[1], units)
    else:
        # LSTM gates are i, f, c, o in both; Keras' single bias goes to b_ih, b_hh stays 0.
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    return {
        f"weight_ih_l0{suffix}": kernel.T,
        f"weight_hh_l0{suffix}": recurrent.T,
        f"bias_ih_l0{suffix}": input_bias,
        f"bias_hh_l0{suffix}": recurrent_bias,
    }


def _recurrent(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    units = layer.config["units"]
    if layer.config["bidirectional"]:
        # Bidirectional's weights: the forward layer's, then the backward layer's.
        half = len(weights) // 2
        return {**_cell(layer.type, weights[:half], units, ""), **_cell(layer.type, weights[half:], units, "_reverse")}
    return _cell(layer.type, weights, units, "")


def _attention(layer: Layer, weights: Arrays, module: Any, ctx: dict) -> dict[str, Any]:
    import numpy as np

    q_kernel, q_bias, k_kernel, k_bias, v_kernel, v_bias, o_kernel, o_bias = weights
    features = q_kernel.shape[0]
    inner = q_bias.size  # heads * key_dim, split into heads as contiguous blocks in both

    def projection(kernel: Any) -> Any:  # (E, heads, key_dim) -> (heads*key_dim, E)
        return kernel.reshape(features, inner).T

    return {
        "in_proj_weight": np.concatenate([projection(q_kernel), projection(k_kernel), projection(v_kernel)]),
        "in_proj_bias": np.concatenate([q_bias.reshape(-1), k_bias.reshape(-1), v_bias.reshape(-1)]),
        "out_proj.weight": o_kernel.reshape(inner, features).T,
        "out_proj.bias": o_bias,
    }


RULES: dict[str, Callable[[Layer, Arrays, Any, dict], dict[str, Any]]] = {
    "dense": _dense,
    "conv1d": _conv,
    "conv2d": _conv,
    "conv3d": _conv,
    "dwconv2d": _dwconv,
    "sepconv2d": _sepconv,
    "conv2dtranspose": _conv_transpose,
    "batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "embedding": _embedding,
    "lstm": _recurrent,
    "gru": _recurrent,
    "rnn": _recurrent,
    "attention": _attention,
}


def copy_weights(model: Model, keras_model: Any, torch_module: Any, channels_first_flatten: Callable) -> None:
    """Load every Keras weight of `keras_model` into `torch_module`, layer by layer."""
    import torch

    producers = {layer.name: layer for layer in model.layers}

    def producer(layer: Layer) -> Layer | None:
        return producers.get(layer.inputs[0]) if layer.inputs else None

    ctx = {"producer": producer, "channels_first_flatten": channels_first_flatten}
    for layer in model.layers:
        weights = keras_model.get_layer(layer.name).get_weights()
        rule = RULES.get(layer.type)
        if rule is None:
            if weights:
                raise AssertionError(f"no weight rule for layer type '{layer.type}', which has weights")
            continue
        target = getattr(torch_module, layer.name)
        state = {key: torch.as_tensor(value.copy()) for key, value in rule(layer, weights, target, ctx).items()}
        own = target.state_dict()
        missing = set(own) - set(state) - {"num_batches_tracked"}
        if missing or set(state) - set(own):
            raise AssertionError(
                f"weight mapping for {layer.name} does not cover {sorted(missing ^ (set(state) - set(own)))}"
            )
        for key, value in state.items():
            if tuple(own[key].shape) != tuple(value.shape):
                raise AssertionError(
                    f"{layer.name}.{key}: Keras gives {tuple(value.shape)}, PyTorch wants {tuple(own[key].shape)}"
                )
        target.load_state_dict(state, strict=False)
