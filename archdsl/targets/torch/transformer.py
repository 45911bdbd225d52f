"""The pieces of a transformer that both frameworks leave to the model: position embeddings, a class token.

Keras has no layer for either, so its module defines one (templates/keras/classes/); PyTorch
code holds each as a bare nn.Parameter of the model and writes its one line in forward, as
timm's and torchvision's ViT do. The weights are the same arrays in both.
"""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.layout import STEPS_FIRST
from archdsl.targets.torch.registry import Arrays, Code, Emit, Step, WeightContext, translates

# As BERT, GPT-2 and ViT initialise them; Keras' PositionEmbedding does the same.
INIT_STDDEV = 0.02


def _as_is(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    (array,) = weights
    return {"": array}  # the parameter is the attribute itself


POSITIONS = (
    "Keras has no position-embedding layer, so the module defines one (`PositionEmbedding`); PyTorch holds the "
    "table as an nn.Parameter of (positions, features) and adds it in forward. Both draw it from a normal "
    "distribution of standard deviation 0.02."
)
SHORTER = "a sequence shorter than the positions learned gets the first of them (`{read}`)."


@translates("posembed", weights=_as_is, fresh_output=True)
def posembed(emit: Emit) -> Code:
    layer = emit.layer
    positions, features = layer.config["max"], layer.input_shape[-1]
    table = call("torch.randn", positions, features)
    module = call("nn.Parameter", Raw(f"{table.inline()} * {INIT_STDDEV!r}"))
    notes = [Note("Position embedding", POSITIONS)]
    table_read = f"self.{layer.name}"
    if layer.input_shape[0] != positions:
        # The steps of the variable as it is held: (N, T, C), or (N, C, T) before its transpose.
        steps_axis = 1 if emit.x == emit.source else 2
        table_read += f"[: {emit.source}.shape[{steps_axis}]]"
        notes.append(Note("Position embedding", SHORTER.format(read=table_read)))
    return Code(module, [Step("{out}", f"{emit.x} + {table_read}")], STEPS_FIRST, notes)


CLASS_TOKEN = (
    "Keras has no class-token layer, so the module defines one (`ClassToken`); PyTorch holds the token as an "
    "nn.Parameter of (1, 1, features), starting at zeros in both, and puts a copy of it before each sequence "
    "(`torch.cat`)."
)


@translates("clstoken", weights=_as_is, fresh_output=True)
def clstoken(emit: Emit) -> Code:
    layer = emit.layer
    module = call("nn.Parameter", Raw(call("torch.zeros", 1, 1, layer.input_shape[-1]).inline()))
    token = f"self.{layer.name}.expand({emit.source}.shape[0], -1, -1)"
    step = Step("{out}", f"torch.cat([{token}, {emit.x}], dim=1)")
    return Code(module, [step], STEPS_FIRST, [Note("Class token", CLASS_TOKEN)])
