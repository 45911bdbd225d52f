"""Merges: operators and torch functions over the branches, in whatever layout they arrive."""

from __future__ import annotations

from archdsl.layers import LAYER_TABLE
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.layout import CHANNELS_FIRST
from archdsl.targets.torch.registry import Code, Emit, Step, translates

_OPERATORS = {"add": " + ", "subtract": " - ", "multiply": " * ", "average": " + "}
_FUNCTIONS = {"maximum": "torch.maximum", "minimum": "torch.minimum"}  # binary: folded over the branches


@translates("concat", fresh_output=True)
def concat(emit: Emit) -> Code:
    axis = emit.layer.config["axis"]  # negative, Keras' channels-last axes
    rank = len(emit.layer.output_shape)
    if emit.layout == CHANNELS_FIRST:
        # channels-last axis -1 is PyTorch's 1; the spatial axes move one along.
        keras_axis = rank + axis + 1  # 1-based axis of the sample in Keras
        dim = 1 if keras_axis == rank else keras_axis + 1
    else:
        dim = axis
    return Code(None, [Step("{out}", call("torch.cat", Raw(f"[{', '.join(emit.inputs)}]"), dim=dim))], emit.layout)


BROADCASTING = (
    "the branches differ where one has an axis of size one: PyTorch's element-wise operations stretch it "
    "against the others as Keras' merge layers do: no branch is repeated."
)


def elementwise_merge(emit: Emit) -> Code:
    kind = emit.layer.type
    if kind in _FUNCTIONS:
        expr = emit.inputs[0]
        for other in emit.inputs[1:]:
            expr = f"{_FUNCTIONS[kind]}({expr}, {other})"
    else:
        expr = _OPERATORS[kind].join(emit.inputs)
        if kind == "average":
            expr = f"({expr}) / {len(emit.inputs)}"
    notes = [Note("Broadcasting", BROADCASTING)] if len(set(emit.layer.input_shapes)) > 1 else []
    return Code(None, [Step("{out}", expr)], emit.layout, notes)


for _spec in LAYER_TABLE:
    if _spec.merge and _spec.name != "concat":
        translates(_spec.name, fresh_output=True)(elementwise_merge)
