"""The check table: what `archdsl check` shows for a model, as a Keras or torchinfo user reads it.

Only the rows, the totals and the notes are decided here; `cli/tables.py` and the notebook
lay them out. The totals say what Keras' `model.summary()` and torchinfo's `summary()`
print under their tables, each in its own terms: Keras' memory in 1024-byte units (which
its summary calls KB and MB), torchinfo's "Params size (MB)" in millions of bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from archdsl.analysis.masks import mask_note
from archdsl.common.record import record
from archdsl.ir.model import FLOAT32_BYTES, Model
from archdsl.layers.shapes import EXAMPLE_SIZE, Shape, display_shape

TORCH = "torch"


@record
class Row:
    name: str
    type: str
    shape: str
    keras: int
    torch: int
    macs: int | None  # None unless asked for: counting them evaluates every symbolic size
    note: str


def rows(model: Model, layouts: Mapping[str, str] | None = None, macs: bool = False) -> list[Row]:
    """One row for the input and one per layer; with `layouts` (`torch_layouts`), shapes as PyTorch holds
    them; with `macs`, each layer's multiply-adds."""
    if layouts is None:
        shape_of, notes = _keras_shape, {}
    else:
        shape_of, notes = _torch_shapes(layouts), _torch_row_notes(layouts)
    result = [
        Row(given.name, "input", shape_of(given.shape, given.name), 0, 0, 0 if macs else None, "")
        for given in model.inputs
    ]
    for layer in model.layers:
        result.append(
            Row(
                layer.name,
                layer.type,
                shape_of(layer.output_shape, layer.name),
                layer.params.keras,
                layer.params.torch,
                layer.macs() if macs else None,
                "; ".join(note for note in (*layer.notes, *notes.get(layer.name, ()), mask_note(layer)) if note),
            )
        )
    return result


def totals(model: Model, macs: bool = False) -> list[tuple[str, str]]:
    """The lines under the table: (framework, what its summary says), and the multiply-adds with `macs`."""
    p = model.params
    lines = [
        (
            "Keras",
            f"{p.keras:,} params ({keras_memory(p.keras * FLOAT32_BYTES)}): {p.keras_trainable:,} trainable, "
            f"{p.keras_non_trainable:,} non-trainable",
        ),
        (
            "PyTorch",
            f"{p.torch:,} parameters ({torchinfo_memory(p.torch * FLOAT32_BYTES)}), "
            f"{p.torch_buffers:,} values in buffers",
        ),
    ]
    if macs:
        lines.append(("MACs", f"{model.macs():,} multiply-adds per sample{at_sizes(model)}, as torchinfo counts them"))
    return lines


def at_sizes(model: Model) -> str:
    """` at seq = 16`: the numbers the symbolic sizes were given for counting, or nothing."""
    if not model.symbols:
        return ""
    return " at " + ", ".join(f"{name} = {EXAMPLE_SIZE}" for name in model.symbols)


def keras_memory(size: float) -> str:
    """As Keras' `readable_memory_size`, which divides by 1024 but writes KB and MB: written KiB and MiB here."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PiB"


def torchinfo_memory(size: int) -> str:
    """As torchinfo's "Params size (MB)": millions of bytes, two decimals."""
    return f"{size / 1e6:.2f} MB"


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


def macs_notes(model: Model) -> list[str]:
    """Where the count may surprise, or differs from torchinfo 1.8.0's, for the layers this model has."""
    notes = []
    if any(layer.type == "attention" for layer in model.layers):
        notes.append(
            "attention counts its four projections once per step, by torchinfo's rule for "
            "nn.MultiheadAttention, and not the attention scores, which no weight takes part in; torchinfo "
            "1.8.0 leaves the module out of its total (it has a child module, so it is not a leaf)."
        )
    if any(layer.type == "dense" and len(layer.output_shape) >= 2 for layer in model.layers):
        notes.append(
            "a dense layer over a sequence counts once per step, as torchinfo does since its pull request "
            "#318; torchinfo 1.8.0 counts an nn.Linear once per sample, whatever its steps."
        )
    if any(layer.type == "embedding" for layer in model.layers):
        notes.append(
            "torchinfo counts an embedding's whole table once per sample, although a lookup multiplies "
            "nothing; so does archdsl, so that the totals compare."
        )
    return notes


# ---------------------------------------------------------------- PyTorch's layout


def torch_layouts(model: Model) -> dict[str, str]:
    """How the generated PyTorch code holds the input and every layer's output, as its emitters decided.

    Emitting imports the targets (and Jinja), so only `--layout torch` pays for it.
    """
    from archdsl.targets.codegen import emit

    code = emit(model, TORCH)
    return {record.name: record.layout for record in (*code.inputs, *code.layers)}


def torch_json(model: Model, layouts: Mapping[str, str]) -> dict[str, object]:
    """`check --json --layout torch`: every sample shape in the order PyTorch holds it, batch axis excluded."""
    from archdsl.targets.torch.layout import torch_dims

    inputs = {given.name: list(torch_dims(given.shape, layouts[given.name])) for given in model.inputs}
    return {
        **({"torch_input_shape": inputs[model.input_name]} if len(inputs) == 1 else {"torch_input_shapes": inputs}),
        "torch_output_shapes": {
            layer.name: list(torch_dims(layer.output_shape, layouts[layer.name])) for layer in model.layers
        },
    }


def torch_notes(model: Model, layouts: Mapping[str, str]) -> list[str]:
    """What a reader of this model's PyTorch shapes needs to know: sequences change layout inside it."""
    from archdsl.targets.torch.layout import CHANNELS_FIRST
    from archdsl.targets.torch.module import LAYOUTS_INSIDE

    if any(len(model.shape_of(name)) == 2 and layout == CHANNELS_FIRST for name, layout in layouts.items()):
        return [LAYOUTS_INSIDE]
    return []


def _keras_shape(shape: Shape, name: str) -> str:
    return display_shape(shape)


def _torch_shapes(layouts: Mapping[str, str]):
    from archdsl.targets.torch.layout import torch_shape

    def shape_of(shape: Shape, name: str) -> str:
        return torch_shape(shape, layouts[name])

    return shape_of


def _torch_row_notes(layouts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    from archdsl.targets.torch.layout import FLAT_CHANNELS_FIRST

    return {
        name: ("flattened in PyTorch's (C, H, W) order, which the dense layer after it takes",)
        for name, layout in layouts.items()
        if layout == FLAT_CHANNELS_FIRST
    }
