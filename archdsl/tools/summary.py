"""The check table: what `archdsl check` shows for a model, as a Keras or torchinfo user reads it.

Only the rows, the totals and the notes are decided here; `cli/tables.py` and the notebook
lay them out. By default a row per layer, as Keras' `model.summary()` lists the layers of
the flat model; with a depth, the block calls as torchinfo's `depth` shows nested modules:
a call at that depth is one row with its subtotals, a call above it a row whose layers and
calls follow, one step more indented, and hold its counts, so that every column still adds
up to the total. The totals say what Keras' `model.summary()` and torchinfo's `summary()`
print under their tables, each in its own terms: Keras' memory in 1024-byte units (which
its summary calls KB and MB), torchinfo's "Params size (MB)" in millions of bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from archdsl.analysis.masks import mask_note
from archdsl.common.record import record
from archdsl.ir.model import FLOAT32_BYTES, Layer, Model, sharing_note
from archdsl.ir.structure import Call, calls
from archdsl.layers.shapes import EXAMPLE_SIZE, Shape, display_shape

TORCH = "torch"
INDENT = "  "  # before the name of a row inside a block call, once per call


@record
class Row:
    name: str
    type: str
    shape: str
    keras: int
    torch: int
    macs: int | None  # None unless asked for: counting them evaluates every symbolic size
    note: str
    depth: int = 0  # how many block calls the row is inside
    block: bool = False  # a block call: `type` is the block's name, the counts the sums over its layers
    expanded: bool = False  # a block call whose layers and calls follow it: they show its counts

    def cells(self, macs: bool = False) -> tuple[str, ...]:
        """The row as a table shows it: the name indented once per call around it; a call whose layers
        follow leaves its counts to them, as torchinfo does, so that each column adds up to the total."""
        counts = (self.keras, self.torch, *((self.macs,) if macs else ()))
        shown = ("",) * len(counts) if self.expanded else tuple(f"{count:,}" for count in counts)
        return (INDENT * self.depth + self.name, self.type, self.shape, *shown, self.note)


def rows(
    model: Model, layouts: Mapping[str, str] | None = None, macs: bool = False, depth: int | None = None
) -> list[Row]:
    """One row for each input and one per layer; with `layouts` (`torch_layouts`), shapes as PyTorch holds
    them; with `macs`, each layer's multiply-adds. With `depth`, block calls nested to `depth`
    (0: the calls the model makes itself), each call at `depth` one row with its subtotals: what
    torchinfo shows at one more, as its depth 0 is the model's own row."""
    if layouts is None:
        shape_of, torch_notes_of = _keras_shape, {}
    else:
        shape_of, torch_notes_of = _torch_shapes(layouts), _torch_row_notes(layouts)

    def notes_of(layer: Layer) -> tuple[str, ...]:
        return tuple(note for note in (*layer.notes, *torch_notes_of.get(layer.name, ()), mask_note(layer)) if note)

    def layer_row(layer: Layer, depth: int = 0) -> Row:
        return Row(
            layer.name,
            layer.type,
            shape_of(layer.output_shape, layer.name),
            layer.params.keras,
            layer.params.torch,
            layer.macs() if macs else None,
            "; ".join(notes_of(layer)),
            depth,
        )

    def call_row(call: Call, expanded: bool) -> Row:
        params = call.params
        return Row(
            call.label,
            call.block,
            shape_of(call.output.output_shape, call.output.name),
            params.keras,
            params.torch,
            call.macs() if macs else None,
            _call_note(call, notes_of, expanded),
            depth=call.depth,
            block=True,
            expanded=expanded,
        )

    result = [
        Row(given.name, "input", shape_of(given.shape, given.name), 0, 0, 0 if macs else None, "")
        for given in model.inputs
    ]
    if depth is None:
        return result + [layer_row(layer) for layer in model.layers]
    # Each call's layers and the calls inside it, in the order of their first layers: the order the model runs them.
    found = {call.path: call for call in calls(model)}
    members: dict[tuple[str, ...], list[Layer | Call]] = {(): []}
    for layer in model.layers:
        parent: tuple[str, ...] = ()
        for end in range(1, len(layer.scope) + 1):
            path = layer.scope[:end]
            if path not in members:
                members[path] = []
                members[parent].append(found[path])
            parent = path
        members[parent].append(layer)

    def visit(path: tuple[str, ...]) -> None:
        for member in members[path]:
            if isinstance(member, Layer):
                result.append(layer_row(member, len(member.scope)))
            elif member.depth >= depth:
                result.append(call_row(member, expanded=False))
            else:
                result.append(call_row(member, expanded=True))
                visit(member.path)

    visit(())
    return result


def _call_note(call: Call, notes_of, expanded: bool) -> str:
    """What a block call's row says: that it applies another call's weights again, then, when its
    layers have no rows of their own, their notes, each after the name of its layer."""
    said = [sharing_note(call.shares[-1])] if call.shares is not None else []
    if not expanded:
        for layer in call.layers:
            shared = sharing_note(layer.shares) if call.shares is not None and layer.shares is not None else None
            said += [f"{layer.name}: {note}" for note in notes_of(layer) if note != shared]
    return "; ".join(dict.fromkeys(said))


def blocks_json(model: Model, depth: int | None = None) -> list[dict[str, object]]:
    """`check --json`'s "blocks": every block call (to `depth`), outer calls first, with its subtotals.

    `layers` names every layer inside the call, nested calls' included; `shares` is the path
    of the call whose weights it applies again (`use NAME`), as `path` names this one.
    """
    return [
        {
            "name": call.label,
            "block": call.block,
            "path": list(call.path),
            "depth": call.depth,
            "output": call.output.name,
            "output_shape": list(call.output.output_shape),
            "params": call.params.to_json(),
            "macs": call.macs(),
            "line": call.site.span.line,
            "column": call.site.span.column,
            "layers": [layer.name for layer in call.layers],
            **({"shares": list(call.shares)} if call.shares is not None else {}),
        }
        for call in calls(model)
        if depth is None or call.depth <= depth
    ]


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
