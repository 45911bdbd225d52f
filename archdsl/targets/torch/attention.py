"""Multi-head attention: Keras' query/key/value projections as PyTorch's packed in_proj."""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.targets.common import Note
from archdsl.targets.pycode import call
from archdsl.targets.torch.layout import STEPS_FIRST
from archdsl.targets.torch.registry import Arrays, Code, Emit, Step, WeightContext, size_note, translates


def _attention_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
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


CALLS = (
    "Keras' MultiHeadAttention is called with (query, value); PyTorch's nn.MultiheadAttention with "
    "(query, key, value), `batch_first=True`, and returns (output, weights)."
)


@translates("attention", weights=_attention_weights)
def attention(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    module = call("nn.MultiheadAttention", layer.input_shape[-1], c["heads"], batch_first=True)
    x = emit.x
    step = Step("{out}, _", f"{emit.module}({x}, {x}, {x}, need_weights=False)")
    return Code(module, [step], STEPS_FIRST, [size_note(layer), Note("Attention", CALLS)])
