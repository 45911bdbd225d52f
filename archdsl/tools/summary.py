"""The check table: what `archdsl check` shows for a model, as a Keras or torchinfo user reads it.

Only the rows and notes are decided here; `cli.py` lays them out with rich.
"""

from __future__ import annotations

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.layers.shapes import display_shape


@record
class Row:
    name: str
    type: str
    shape: str
    keras: int
    torch: int
    note: str


def rows(model: Model) -> list[Row]:
    result = [Row(model.input_name, "input", display_shape(model.input_shape), 0, 0, "")]
    for layer in model.layers:
        result.append(
            Row(
                layer.name,
                layer.type,
                display_shape(layer.output_shape),
                layer.params.keras,
                layer.params.torch,
                "; ".join(layer.notes),
            )
        )
    return result


def param_notes(model: Model) -> list[str]:
    """Why the two parameter totals differ, from the layers this model has."""
    types = {layer.type for layer in model.layers}
    notes = []
    if "batchnorm" in types:
        notes.append(
            "Keras counts BatchNorm's moving mean and variance as (non-trainable) weights; "
            "PyTorch keeps them as buffers, outside parameters()."
        )
    if any(layer.type == "normalize" and layer.params.keras for layer in model.layers):
        notes.append(
            "Keras counts Normalization's mean, variance and sample count as (non-trainable) weights; "
            "PyTorch keeps the mean and variance as buffers."
        )
    if types & {"lstm", "rnn"}:
        notes.append("PyTorch's LSTM and RNN cells have two bias vectors (b_ih and b_hh); Keras' have one.")
    return notes
