"""The Keras/PyTorch diff: both generated modules aligned by layer, and notes on every difference.

The rows come from the targets themselves (no code is re-derived here) and the
notes from the checked model, so they speak about this model, not in general.
"""

from __future__ import annotations

import difflib

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.layers.shapes import display_shape
from archdsl.layers.table import ACTIVATION_LAYERS
from archdsl.targets import keras as keras_target
from archdsl.targets import torch as torch_target
from archdsl.targets.codegen import generate
from archdsl.targets.common import variables


@record
class DiffRow:
    """One layer: its Keras line(s) beside its PyTorch __init__ and forward lines."""

    name: str
    type: str
    shape: str
    keras: tuple[str, ...]
    torch: tuple[str, ...]


@record
class DiffView:
    model: str
    keras_source: str
    torch_source: str
    rows: tuple[DiffRow, ...]
    keras_only: tuple[str, ...]
    torch_only: tuple[str, ...]
    notes: tuple[str, ...]


def _dedent(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


SHOWN_ABOVE = "# ... shown layer by layer above"


def _rest(source: str, used: list[str]) -> list[str]:
    """The lines of a module that belong to no layer row: imports, scaffolding, __main__.

    Where rows' lines were taken out, one comment marks the gap, so `return x` does not
    seem to follow `super().__init__()` directly.
    """
    remaining = list(used)
    rest: list[str] = []
    for line in source.splitlines():
        if line in remaining:
            remaining.remove(line)
            if line.rstrip().endswith(":"):  # `def forward(...):` frames what follows: keep it
                rest.append(line)
            elif line.strip() and not (rest and rest[-1].strip() == SHOWN_ABOVE):
                rest.append(line[: len(line) - len(line.lstrip())] + SHOWN_ABOVE)
        else:
            rest.append(line)
    while rest and not rest[-1].strip():
        rest.pop()
    return rest


def build_diff(model: Model) -> DiffView:
    keras_source = generate(model, "keras")
    torch_source = generate(model, "torch")
    names = variables(model, "inputs", "outputs")
    torch_module = torch_target.build(model)
    keras_input = keras_target.input_lines(model)
    torch_input = [line for line in torch_source.splitlines() if line.lstrip().startswith("def forward(")]
    keras_used: list[str] = list(keras_input)
    torch_used: list[str] = list(torch_input)
    torch_in = torch_target.torch_shape(model.input_shape, torch_module.input_layout)
    rows = [
        DiffRow(
            model.input_name,
            "input",
            display_shape(model.input_shape),
            tuple(_dedent(keras_input)),
            tuple(_dedent(torch_input)) + (f"# the input: {torch_in}",),
        )
    ]
    for layer, code in zip(model.layers, torch_module.layers, strict=True):
        keras_lines = keras_target.layer_lines(layer, names)
        torch_lines = code.init + code.forward
        keras_used += keras_lines
        torch_used += torch_lines
        torch_shown = (
            _dedent(code.init) + (["# forward:"] if code.init and code.forward else []) + _dedent(code.forward)
        )
        rows.append(
            DiffRow(
                layer.name,
                layer.type,
                display_shape(layer.output_shape),
                tuple(_dedent(keras_lines)),
                tuple(torch_shown or ["# (nothing: the tensor is passed on)"]),
            )
        )
    return DiffView(
        model=model.name,
        keras_source=keras_source,
        torch_source=torch_source,
        rows=tuple(rows),
        keras_only=tuple(_rest(keras_source, keras_used)),
        torch_only=tuple(_rest(torch_source, torch_used)),
        notes=tuple(notes_for(model, torch_module)),
    )


def unified(view: DiffView) -> str:
    lines = difflib.unified_diff(
        view.keras_source.splitlines(keepends=True),
        view.torch_source.splitlines(keepends=True),
        fromfile=f"{view.model}_keras.py",
        tofile=f"{view.model}_torch.py",
    )
    return "".join(lines)


# ---------------------------------------------------------------- notes


def _names(layers) -> str:
    listed = [layer.name for layer in layers]
    return ", ".join(listed[:4]) + (f" and {len(listed) - 4} more" if len(listed) > 4 else "")


def notes_for(model: Model, torch_module: torch_target.TorchModule) -> list[str]:
    """What a learner should know about this model's two versions, from what archdsl knows."""
    notes: list[str] = []
    layers = model.layers
    of_type = lambda *types: [layer for layer in layers if layer.type in types]  # noqa: E731
    keras_in = display_shape(model.input_shape).replace("None", "N")
    torch_in = torch_target.torch_shape(model.input_shape, torch_module.input_layout)
    rank = len(model.input_shape)
    if rank >= 3:
        order = ", ".join(str(i) for i in (0, rank, *range(1, rank)))
        notes.append(
            f"Input layout: Keras takes {keras_in}, channels last; PyTorch takes {torch_in}, channels first. "
            f"Move a Keras-style batch over with x.permute({order})."
        )
    elif rank == 2 and torch_module.input_layout == torch_target.CHANNELS_FIRST:
        notes.append(
            f"Input layout: Keras takes a sequence as {keras_in} (steps, channels); PyTorch's Conv1d wants "
            f"{torch_in}, channels first: move a batch over with x.transpose(1, 2)."
        )
    elif rank == 2:
        notes.append(f"Input layout: both take {keras_in}: steps first, as PyTorch's batch_first=True layers do.")

    sized = [
        layer
        for layer in layers
        if layer.type
        in (
            "dense",
            "conv1d",
            "conv2d",
            "conv3d",
            "sepconv2d",
            "dwconv2d",
            "conv2dtranspose",
            "lstm",
            "gru",
            "rnn",
            "batchnorm",
            "layernorm",
            "attention",
        )
    ]
    if sized:

        def reads(layer) -> str:
            count = layer.input_shape[-1]
            noun = "feature" if len(layer.input_shape) < 3 else "channel"
            return f"{layer.name} reads {count} {noun}{'' if count == 1 else 's'}"

        examples = ", ".join(reads(layer) for layer in sized[:3])
        notes.append(
            "Sizes: every PyTorch module is built with its input size, which archdsl computed from the shapes "
            f"({examples}); Keras infers them when the model is built."
        )

    activated = [layer for layer in layers if layer.config.get("activation") and layer.type not in ("rnn",)]
    functional = of_type(
        "maxpool",
        "avgpool",
        "globalavgpool",
        "globalmaxpool",
        "flatten",
        "reshape",
        "upsample",
        "zeropad",
        "add",
        "subtract",
        "multiply",
        "average",
        "concat",
        *ACTIVATION_LAYERS,
    )
    if functional or activated:
        parts = []
        if functional:
            parts.append(f"steps without weights ({_names(functional)}) are function calls in forward")
        if activated:
            parts.append(f"activation= arguments ({_names(activated)}) become calls such as F.relu around the module")
        notes.append("Keras makes every step a layer object; in PyTorch " + "; ".join(parts) + ".")

    norms = of_type("batchnorm")
    if norms:
        notes.append(
            f"BatchNorm ({_names(norms)}): PyTorch is given eps=0.001 and momentum=0.01 to match Keras' "
            "epsilon=0.001 and momentum=0.99 (PyTorch's momentum weighs the new batch, Keras' the running "
            "average). Keras counts the moving mean and variance as weights, PyTorch keeps them as buffers: "
            f"{sum(n.params.keras - n.params.torch for n in norms):,} parameters fewer in PyTorch."
        )
    recurrent = of_type("lstm", "rnn")
    if recurrent:
        extra = sum(layer.params.torch - layer.params.keras for layer in recurrent)
        notes.append(
            f"Parameters: PyTorch's LSTM and RNN have two bias vectors per gate (b_ih and b_hh), Keras' one: "
            f"{extra:,} more in PyTorch ({_names(recurrent)}). Weight transfer puts Keras' bias in b_ih "
            "and zeros in b_hh."
        )
    last_step = [layer for layer in of_type("lstm", "gru", "rnn") if not layer.config["seq"]]
    if last_step:
        notes.append(
            f"RNN outputs ({_names(last_step)}): Keras returns the last step unless return_sequences=True; "
            "PyTorch always returns every step, so the code picks the last one by hand"
            + (
                " (for a bidirectional layer, the backward direction ends at the first step)."
                if any(layer.config["bidirectional"] for layer in last_step)
                else "."
            )
        )
    if of_type("gru"):
        notes.append(
            "GRU: Keras' default reset_after=True is the formula PyTorch uses, so both hold the same weights; "
            "Keras stacks the gates z, r, h and PyTorch r, z, n."
        )
    pads = [code.layer for code in torch_module.layers if any("F.pad(" in line for line in code.forward)]
    symmetric = [
        code.layer
        for code in torch_module.layers
        if code.layer.config.get("padding") == "same"
        and code.layer not in pads
        and any("padding=" in line for line in code.init + code.forward)
    ]
    if pads or symmetric:
        text = "Padding: Keras' padding='same' "
        if symmetric:
            text += f"is an explicit padding= in PyTorch ({_names(symmetric)})"
        if pads:
            text += ("; " if symmetric else "") + (
                f"needs F.pad in PyTorch where it is uneven ({_names(pads)}): TensorFlow puts the extra row "
                "and column at the end, PyTorch's padding= pads both sides alike"
            )
        notes.append(text + ".")
    flattens = [code.layer for code in torch_module.layers if code.flatten_keeps_channels_first]
    if flattens:
        notes.append(
            f"Flatten ({_names(flattens)}): PyTorch flattens (C, H, W), Keras (H, W, C), so the dense layer "
            "after it sees its inputs in another order; weight transfer (archdsl verify) reorders its weights."
        )
    if of_type("conv2dtranspose"):
        notes.append(
            "Transposed convolutions: PyTorch's padding and output_padding, and a crop where TensorFlow drops "
            "the odd pixel at the end, reproduce Keras' output sizes."
        )
    if of_type("attention"):
        notes.append(
            "Attention: Keras' MultiHeadAttention is called with (query, value); PyTorch's nn.MultiheadAttention "
            "with (query, key, value), batch_first=True, and returns (output, weights)."
        )
    if of_type("leakyrelu"):
        notes.append("LeakyReLU: Keras' default slope is 0.3, PyTorch's 0.01, so the slope is written out.")
    if torch_module.layers and any(".transpose(1, 2)" in line for code in torch_module.layers for line in code.forward):
        notes.append(
            "Layouts inside the model: PyTorch's Conv1d, pooling and BatchNorm read sequences as (N, C, T), its "
            "RNNs, attention and Linear as (N, T, C); the code transposes where one meets the other."
        )
    return notes
