"""Recurrent layers: PyTorch's RNNs return every step and keep two bias vectors.

Keras returns the last step unless return_sequences=True, and its LSTM and SimpleRNN keep
one bias vector where PyTorch keeps two (b_ih and b_hh); GRU with Keras' reset_after=True
is PyTorch's formula and keeps both, with the gates stacked in another order.
"""

from __future__ import annotations

from typing import Any

from archdsl.ir.model import Layer
from archdsl.targets.common import Note
from archdsl.targets.pycode import call
from archdsl.targets.torch.layout import FLAT, STEPS_FIRST
from archdsl.targets.torch.registry import Arrays, Code, Emit, Step, WeightContext, module_call, size_note, translates

_MODULES = {"lstm": "nn.LSTM", "gru": "nn.GRU", "rnn": "nn.RNN"}


def _gru_order(array: Any, units: int) -> Any:
    """Keras stacks the GRU gates z, r, h; PyTorch r, z, n."""
    import numpy as np

    z, r, h = (array[..., i * units : (i + 1) * units] for i in range(3))
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


def _recurrent_weights(layer: Layer, weights: Arrays, ctx: WeightContext) -> dict[str, Any]:
    units = layer.config["units"]
    if layer.config["bidirectional"]:
        # Bidirectional's weights: the forward layer's, then the backward layer's.
        half = len(weights) // 2
        return {**_cell(layer.type, weights[:half], units, ""), **_cell(layer.type, weights[half:], units, "_reverse")}
    return _cell(layer.type, weights, units, "")


TWO_BIASES = (
    "PyTorch's {cls} keeps two bias vectors per gate (b_ih and b_hh), Keras' one, so PyTorch counts more "
    "parameters (archdsl check shows both). Weight transfer puts Keras' bias in b_ih and zeros in b_hh."
)
GRU_GATES = (
    "Keras' default reset_after=True is the formula PyTorch uses, so both hold the same weights; Keras stacks "
    "the gates z, r, h and PyTorch r, z, n."
)
LAST_STEP = (
    "Keras returns the last step unless return_sequences=True; PyTorch always returns every step, so the code "
    "picks the last one by hand."
)
LAST_STEP_BIDIRECTIONAL = (
    "Keras returns the last step unless return_sequences=True; PyTorch always returns every step, so the code "
    "picks the last one by hand (for a bidirectional layer, the backward direction ends at the first step)."
)
BIDIRECTIONAL = "Keras wraps the layer in Bidirectional; PyTorch's module takes `bidirectional=True`."
STATE = (
    "Keras returns a recurrent layer's final state with return_state=True and starts another from it with "
    "initial_state=; PyTorch's module returns the state beside its output and takes it as a second argument."
)


def state_variable(layer: Layer) -> str:
    """The variable(s) of a recurrent layer's final state in forward: `(encoder_h, encoder_c)` for an LSTM."""
    return f"({layer.name}_h, {layer.name}_c)" if layer.type == "lstm" else f"{layer.name}_h"


@translates("lstm", "gru", "rnn", weights=_recurrent_weights)
def recurrent(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    cls = _MODULES[layer.type]
    kwargs: dict[str, object] = {"batch_first": True}
    if layer.type == "rnn" and c["activation"] != "tanh":
        kwargs["nonlinearity"] = c["activation"]
    if c["bidirectional"]:
        kwargs["bidirectional"] = True
    module = call(cls, layer.input_shape[-1], c["units"], **kwargs)
    notes = [size_note(layer)]
    if layer.type == "gru":
        notes.append(Note("GRU", GRU_GATES))
    else:
        notes.append(Note("Parameters", TWO_BIASES.format(cls=cls)))
    if c["bidirectional"]:
        notes.append(Note("Bidirectional", BIDIRECTIONAL))
    units = c["units"] * (2 if c["bidirectional"] else 1)
    every_step = f"(N, {layer.input_shape[0]}, {units})"
    state = state_variable(layer) if layer.returns_state else "_"
    applied = module_call(emit)
    if layer.state_from is not None:
        applied = f"{emit.module}({emit.x}, {state_variable(emit.model.layer(layer.state_from))})"
        notes.append(Note("Recurrent state", STATE))
    read = (
        emit.probe or layer.name in emit.model.outputs or any(layer.name in other.inputs for other in emit.model.layers)
    )
    comment = "only its final state is read" if not read else "every step" if not c["seq"] else ""
    steps = [Step("{out}, " + state, applied, comment, every_step)]
    if not read:
        pass  # only its final state is read (`init=`): no last step to pick
    elif not c["seq"]:
        units = c["units"]
        if c["bidirectional"]:
            # The forward direction ends at the last step, the backward one at the first.
            steps.append(
                Step(
                    "{out}",
                    f"torch.cat([{{out}}[:, -1, :{units}], {{out}}[:, 0, {units}:]], dim=1)",
                    "the last step of each direction",
                )
            )
            notes.append(Note("RNN outputs", LAST_STEP_BIDIRECTIONAL))
        else:
            steps.append(Step("{out}", "{out}[:, -1]", "the last step, as Keras returns"))
            notes.append(Note("RNN outputs", LAST_STEP))
    return Code(module, steps, STEPS_FIRST if c["seq"] else FLAT, notes)
