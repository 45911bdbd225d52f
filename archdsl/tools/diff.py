"""The Keras/PyTorch diff: both generated modules aligned by layer, and the notes on every difference.

The rows and the notes are the targets' own records (`targets.codegen.emit`): what each
layer became and what its emitter noted about the values it wrote. This module only
pairs them, so the diff cannot say anything the code does not.
"""

from __future__ import annotations

import difflib

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.layers.shapes import display_shape
from archdsl.targets.codegen import emit, outline
from archdsl.targets.common import LayerCode, Note, TargetCode
from archdsl.targets.render import render_module


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


SHOWN_ABOVE = "# ... shown layer by layer above"
PASSED_ON = "# (nothing: the tensor is passed on)"


def _dedent(lines) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def _torch_lines(code: LayerCode) -> tuple[str, ...]:
    init, forward = _dedent(code.init), _dedent(code.forward)
    shown = init + (["# forward:"] if init and forward else []) + forward
    return tuple(shown or [PASSED_ON])


def _rows(model: Model, keras: TargetCode, torch: TargetCode) -> list[DiffRow]:
    pairs = [*zip(keras.inputs, torch.inputs, strict=True), *zip(keras.layers, torch.layers, strict=True)]
    rows = []
    for keras_code, torch_code in pairs:
        assert keras_code.name == torch_code.name, (keras_code.name, torch_code.name)
        rows.append(
            DiffRow(
                keras_code.name,
                keras_code.type,
                display_shape(model.shape_of(keras_code.name)),
                tuple(_dedent(keras_code.forward)),
                _torch_lines(torch_code),
            )
        )
    return rows


def build_diff(model: Model) -> DiffView:
    # Layer by layer, in the flat form of both files: a row pairs one layer's code in each.
    keras, torch = emit(model, "keras", flat=True), emit(model, "torch", flat=True)
    return DiffView(
        model=model.name,
        keras_source=render_module(keras.target, keras.view),
        torch_source=render_module(torch.target, torch.view),
        rows=tuple(_rows(model, keras, torch)),
        keras_only=tuple(_trimmed(outline(keras, SHOWN_ABOVE))),
        torch_only=tuple(_trimmed(outline(torch, SHOWN_ABOVE))),
        notes=tuple(notes_for(keras, torch)),
    )


def _trimmed(source: str) -> list[str]:
    lines = source.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def unified(view: DiffView) -> str:
    lines = difflib.unified_diff(
        view.keras_source.splitlines(keepends=True),
        view.torch_source.splitlines(keepends=True),
        fromfile=f"{view.model}_keras.py",
        tofile=f"{view.model}_torch.py",
    )
    return "".join(lines)


# ---------------------------------------------------------------- notes

MAX_NAMES = 4


def _names(entries: list[str]) -> str:
    shown = ", ".join(entries[:MAX_NAMES])
    return shown + (f" and {len(entries) - MAX_NAMES} more" if len(entries) > MAX_NAMES else "")


def notes_for(*codes: TargetCode) -> list[str]:
    """The targets' notes: the model's first, then each layer note once, naming the layers it was written for."""
    model_notes = [f"{note.topic}: {note.text}" for code in codes for note in code.notes]
    grouped: dict[Note, list[str]] = {}
    for code in codes:
        for layer in code.layers:
            for note in layer.notes:
                entries = grouped.setdefault(Note(note.topic, note.text), [])
                entry = f"{layer.name} {note.detail}" if note.detail else layer.name
                if entry not in entries:
                    entries.append(entry)
    layer_notes = [f"{note.topic} ({_names(entries)}): {note.text}" for note, entries in grouped.items()]
    return list(dict.fromkeys(model_notes + layer_notes))
