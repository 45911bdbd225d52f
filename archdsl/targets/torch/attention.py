"""Multi-head attention: PyTorch's nn.MultiheadAttention where it can hold Keras' layer, a defined module where not.

nn.MultiheadAttention packs the query, key and value projections into one in_proj and needs
heads * head size == features. Keras' MultiHeadAttention takes any key_dim and projects back
to the query's features; when the sizes do not fit, or a padding mask must be applied as Keras
applies it, the module defines `MultiHeadAttention` (templates/torch/classes/), four nn.Linear
layers around F.scaled_dot_product_attention. The emitter takes the query, the keys and the
values as separate inputs: the same sequence in self-attention, the branches of a group in
cross-attention.
"""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.layout import STEPS_FIRST
from archdsl.targets.torch.registry import Arrays, Code, Emit, Step, WeightContext, size_note, translates

DEFINED = "multi_head_attention"


def packed(layer: Layer) -> bool:
    """Whether nn.MultiheadAttention holds the layer: self-attention whose heads * key_dim is the features
    (its packed in_proj), with no padding mask (its key_padding_mask hides keys, but not padded queries as
    Keras does). Cross-attention is the defined module, whose projections of the keys and values run
    over their own steps."""
    c = layer.config
    sizes_fit = layer.input_shape[-1] == c["heads"] * c["key_dim"]
    return len(layer.inputs) == 1 and sizes_fit and not any(layer.input_masks)


def roles(items: tuple) -> tuple:
    """(query, key, value) from what the layer reads: one sequence (self-attention), ( query | keys and
    values ) or ( query | keys | values )."""
    return items[0], items[1] if len(items) == 3 else items[-1], items[-1]


def _projection(kernel: Any) -> Any:
    """Keras' (features, heads, key_dim) kernel as an nn.Linear weight (heads * key_dim, features); the heads
    are contiguous blocks in both."""
    return kernel.reshape(kernel.shape[0], -1).T


def _attention_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    import numpy as np

    q_kernel, q_bias, k_kernel, k_bias, v_kernel, v_bias, o_kernel, o_bias = weights
    out_kernel = o_kernel.reshape(-1, o_kernel.shape[-1]).T  # (heads, key_dim, features) -> (features, inner)
    if packed(layer):
        return {
            "in_proj_weight": np.concatenate([_projection(q_kernel), _projection(k_kernel), _projection(v_kernel)]),
            "in_proj_bias": np.concatenate([q_bias.reshape(-1), k_bias.reshape(-1), v_bias.reshape(-1)]),
            "out_proj.weight": out_kernel,
            "out_proj.bias": o_bias,
        }
    return {
        "query.weight": _projection(q_kernel),
        "query.bias": q_bias.reshape(-1),
        "key.weight": _projection(k_kernel),
        "key.bias": k_bias.reshape(-1),
        "value.weight": _projection(v_kernel),
        "value.bias": v_bias.reshape(-1),
        "output.weight": out_kernel,
        "output.bias": o_bias,
    }


CALLS = (
    "Keras' MultiHeadAttention is called with (query, value); PyTorch's nn.MultiheadAttention with "
    "(query, key, value), `batch_first=True`, and returns (output, weights)."
)
CAUSAL = (
    "Keras masks the future steps with `use_causal_mask=True`; PyTorch's nn.MultiheadAttention is given the mask "
    "(`nn.Transformer.generate_square_subsequent_mask`: -inf above the diagonal) and the hint `is_causal=True`."
)
DEFINED_MODULE = (
    "PyTorch's nn.MultiheadAttention needs heads times the head size to equal the features, and Keras' "
    "MultiHeadAttention does not, so the module defines `MultiHeadAttention`: Keras' query, key, value and "
    "output projections as nn.Linear layers around F.scaled_dot_product_attention."
)
DEFINED_MASKED = (
    "Keras turns the padding masks of the query and the keys into an attention mask: a padded key is hidden "
    "from every query, and a padded query, with every key hidden, weighs them all alike. nn.MultiheadAttention's "
    "key_padding_mask hides the keys only, so the module defines `MultiHeadAttention`, Keras' projections as "
    "nn.Linear layers around F.scaled_dot_product_attention, and passes it the masks: {masks}."
)
DEFINED_CROSS = (
    "Keras' MultiHeadAttention projects the query, the keys and the values from sequences of their own "
    "features and steps; the module defines `MultiHeadAttention`, Keras' projections as nn.Linear layers "
    "around F.scaled_dot_product_attention, each applied to its own input."
)
DEFINED_CAUSAL = "Keras masks the future steps with `use_causal_mask=True`; the defined module with `causal=True`."


CROSS = (
    "After a group, the first branch is the query and the others give the keys and values: Keras' "
    "MultiHeadAttention is called with (query, value{key}), and the PyTorch code gives its module the query "
    "`{query}`, the keys `{keys}` and the values `{values}`."
)


def cross_note(query: str, key: str, value: str, branches: int) -> Note:
    return Note(
        "Cross-attention", CROSS.format(key=", key=key" if branches == 3 else "", query=query, keys=key, values=value)
    )


@translates("attention", weights=_attention_weights)
def attention(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    query, key, value = roles(emit.inputs)
    query_mask, key_mask, value_mask = roles(emit.masks)
    features, key_features, value_features = (shape[-1] for shape in roles(layer.input_shapes))
    notes = [size_note(layer)]
    cross = len(layer.inputs) > 1
    if packed(layer):
        module = call("nn.MultiheadAttention", features, c["heads"], batch_first=True)
        kwargs: dict[str, object] = {"need_weights": False}
        notes.append(Note("Attention", CALLS))
        if c["causal"]:
            source = emit.source
            mask = call(
                "nn.Transformer.generate_square_subsequent_mask",
                Raw(f"{source}.shape[1]"),
                device=Raw(f"{source}.device"),
            )
            kwargs = {"attn_mask": mask, **kwargs, "is_causal": True}
            notes.append(Note("Causal attention", CAUSAL))
        applied = call(emit.module, Raw(query), Raw(key), Raw(value), **kwargs)
        return Code(module, [Step("{out}, _", applied)], STEPS_FIRST, notes)
    extra = {"key": key_features} if len(layer.inputs) == 3 and key_features != value_features else {}
    module = call("MultiHeadAttention", features, value_features, heads=c["heads"], key_dim=c["key_dim"], **extra)
    args = [Raw(query), Raw(value)]
    kwargs = {"key": Raw(key)} if len(layer.inputs) == 3 else {}
    masks = {"query_mask": query_mask, "value_mask": value_mask}
    if len(layer.inputs) == 3:
        masks["key_mask"] = key_mask
    kwargs |= {name: Raw(mask) for name, mask in masks.items() if mask is not None}
    given = [f"`{name}={mask}`" for name, mask in masks.items() if mask is not None]
    if given:
        notes.append(Note("Attention", DEFINED_MASKED.format(masks=" and ".join(given))))
    elif cross:
        notes.append(Note("Attention", DEFINED_CROSS))
    else:
        notes.append(Note("Attention", DEFINED_MODULE))
    if c["causal"]:
        kwargs["causal"] = True
        notes.append(Note("Causal attention", DEFINED_CAUSAL))
    if cross:
        notes.append(cross_note(query, key, value, len(layer.inputs)))
    applied = call(emit.module, *args, **kwargs)
    return Code(module, [Step("{out}", applied)], STEPS_FIRST, notes, defines=(DEFINED,))
