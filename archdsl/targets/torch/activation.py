"""Activations: function calls in forward, some of them in place.

Keras makes an activation a layer, or the `activation=` argument of one; PyTorch code
usually calls a function in forward. ReLU-like activations run in place
(`F.relu(x, inplace=True)`), as careful PyTorch code has them, where nothing else reads
the tensor they overwrite (`module.in_place_activations` decides where).
"""

from __future__ import annotations

from archdsl.layers import LAYER_TABLE
from archdsl.layers.spec import ACTIVATIONS
from archdsl.targets.common import Note
from archdsl.targets.torch.layout import CHANNELS_FIRST
from archdsl.targets.torch.registry import Code, Emit, Step, translates

# Keras' activation functions (the `activation=` of a layer) as PyTorch calls.
CALLS = {
    "relu": "F.relu({})",
    "relu6": "F.relu6({})",
    "leakyrelu": "F.leaky_relu({}, 0.2)",  # keras.activations.leaky_relu's default slope
    "elu": "F.elu({})",
    "selu": "F.selu({})",
    "gelu": "F.gelu({})",
    "gelu_tanh": 'F.gelu({}, approximate="tanh")',  # keras.activations.gelu(x, approximate=True)
    "silu": "F.silu({})",
    "sigmoid": "torch.sigmoid({})",
    "tanh": "torch.tanh({})",
    "softmax": "torch.softmax({}, dim={dim})",
    "hardswish": "F.hardswish({})",  # x * relu6(x + 3) / 6, as Keras' hard_swish
    "hardsigmoid": "F.hardsigmoid({})",  # relu6(x + 3) / 6, as Keras 3's hard_sigmoid
    "abs": "torch.abs({})",
}
# The activations written in place where that is safe: the ones hand-written PyTorch runs in
# place (nn.ReLU(inplace=True) and kin), whose in-place backward reads only their own output.
# The others stay out of place: gelu has no in-place form, selu, silu, hardswish, hardsigmoid
# and abs are rarely written in place, and sigmoid, tanh and softmax usually sit at the head,
# where no memory is saved.
IN_PLACE_CALLS = {
    "relu": "F.relu({}, inplace=True)",
    "relu6": "F.relu6({}, inplace=True)",
    "leakyrelu": "F.leaky_relu({}, 0.2, inplace=True)",
    "elu": "F.elu({}, inplace=True)",  # alpha 1.0, Keras' default
}
assert set(CALLS) == set(ACTIVATIONS), "every activation word needs a PyTorch call"
# What a reader porting by hand should know of an activation, whichever way it is written.
FUNCTION_NOTES = {
    "hardsigmoid": Note(
        "Hard sigmoid",
        "Keras' hard_sigmoid computes what PyTorch's `F.hardsigmoid` does; before Keras' current major version it "
        "was a steeper line, so weights trained there do not carry over.",
    ),
    "hardswish": Note("Hard swish", "Keras' hard_swish (also hard_silu) is PyTorch's `F.hardswish`."),
    "abs": Note("Abs", "Keras has no activation named abs: the Keras code passes the function `keras.ops.abs`."),
    "gelu_tanh": Note(
        "GELU",
        'both use the tanh approximation: PyTorch\'s `approximate="tanh"`, and in Keras `gelu_tanh`, a function '
        "the module defines around keras.activations.gelu(x, approximate=True), as Keras has no name for it.",
    ),
}


def _call(template: str, expr: str, layout: str) -> str:
    return template.replace("{}", expr, 1).format(dim=1 if layout == CHANNELS_FIRST else -1)


def activate(expr: str, activation: str | None, layout: str, in_place: bool = False) -> tuple[str, list[Note]]:
    """`expr` with a layer's `activation=` applied, and the note on how PyTorch writes it."""
    if not activation:
        return expr, []
    template = IN_PLACE_CALLS[activation] if in_place else CALLS[activation]
    function = template.split("(", 1)[0]
    note = Note(
        "Activations",
        f"Keras' activation= argument is a call around the module in PyTorch's forward (`{function}`).",
    )
    return _call(template, expr, layout), [note, *_function_notes(activation)]


def _function_notes(activation: str) -> list[Note]:
    return [FUNCTION_NOTES[activation]] if activation in FUNCTION_NOTES else []


def _activation_layer(emit: Emit) -> Code:
    layer = emit.layer
    if layer.type == "leakyrelu":
        slope = layer.config["alpha"]
        expr = f"F.leaky_relu({emit.x}, {slope!r}{', inplace=True' if emit.in_place else ''})"
        note = Note(
            "LeakyReLU",
            f"the slope is written out in both (`negative_slope={slope!r}` in Keras, `F.leaky_relu` is given "
            f"{slope!r}), as the frameworks' default slopes differ.",
        )
        return Code(None, [Step("{out}", expr)], emit.layout, [note])
    template = IN_PLACE_CALLS[layer.type] if emit.in_place else CALLS[layer.type]
    step = Step("{out}", _call(template, emit.x, emit.layout))
    return Code(None, [step], emit.layout, _function_notes(layer.type))


for _spec in LAYER_TABLE:
    if _spec.category == "activation":
        translates(_spec.name)(_activation_layer)
