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
class DiffBlock:
    """One block of the spec: the Keras function and the PyTorch class it became, as the files define them."""

    block: str
    keras: tuple[str, ...]
    torch: tuple[str, ...]


@record
class DiffView:
    """Both files, paired: each block once (code written with blocks), then a row per input and per
    layer or block call of the model, the rest of each file, and the notes."""

    model: str
    keras_source: str
    torch_source: str
    rows: tuple[DiffRow, ...]
    keras_only: tuple[str, ...]
    torch_only: tuple[str, ...]
    notes: tuple[str, ...]
    blocks: tuple[DiffBlock, ...] = ()


SHOWN_ABOVE = "# ... shown layer by layer above"
PASSED_ON = "# (nothing: the tensor is passed on)"


def _dedent(lines) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


def _torch_lines(code: LayerCode) -> tuple[str, ...]:
    init, forward = _dedent(code.init), _dedent(code.forward)
    shown = init + (["# forward:"] if init and forward else []) + forward
    return tuple(shown or [PASSED_ON])


def _rows(model: Model, keras: TargetCode, torch: TargetCode) -> list[DiffRow]:
    pairs = [(code.name, code) for code in (*keras.inputs, *keras.layers)]
    others = [(code.name, code) for code in (*torch.inputs, *torch.layers)]
    if keras.members:  # a row per layer or block call of the model, as the code with blocks writes it
        pairs = [*pairs[: len(keras.inputs)], *keras.members]
        others = [*others[: len(torch.inputs)], *torch.members]
    rows = []
    for (output, keras_code), (_, torch_code) in zip(pairs, others, strict=True):
        assert keras_code.name == torch_code.name, (keras_code.name, torch_code.name)
        rows.append(
            DiffRow(
                keras_code.name,
                keras_code.type,
                display_shape(model.shape_of(output)),
                tuple(_dedent(keras_code.forward)),
                _torch_lines(torch_code),
            )
        )
    return rows


def build_diff(model: Model, flat: bool = False) -> DiffView:
    """The diff of the code `archdsl generate` writes: with a class and a function per block unless
    `flat` (or unless one target writes the model flat: Keras does for a block call applied again)."""
    keras, torch = emit(model, "keras", flat), emit(model, "torch", flat)
    if bool(keras.members) != bool(torch.members):
        keras, torch = emit(model, "keras", flat=True), emit(model, "torch", flat=True)
    keras_source, torch_source = render_module(keras.target, keras.view), render_module(torch.target, torch.view)
    return DiffView(
        model=model.name,
        keras_source=keras_source,
        torch_source=torch_source,
        rows=tuple(_rows(model, keras, torch)),
        keras_only=tuple(_trimmed(outline(keras, SHOWN_ABOVE))),
        torch_only=tuple(_trimmed(outline(torch, SHOWN_ABOVE))),
        notes=tuple(notes_for(keras, torch)),
        blocks=tuple(_blocks(keras, keras_source, torch, torch_source)),
    )


def _blocks(keras: TargetCode, keras_source: str, torch: TargetCode, torch_source: str) -> list[DiffBlock]:
    """Each block's functions beside its classes (usually one of each; two where the calls of a block
    need different code), cut from the generated files themselves."""
    keras_code, torch_code = _definitions(keras_source), _definitions(torch_source)

    def defined(block: str, code: TargetCode, sources: dict[str, list[str]]) -> tuple[str, ...]:
        parts = [sources[name] for made_for, name in code.units if made_for == block]
        return tuple(line for index, part in enumerate(parts) for line in ([""] if index else []) + part)

    return [
        DiffBlock(block, defined(block, keras, keras_code), defined(block, torch, torch_code))
        for block in dict.fromkeys(block for block, _ in torch.units)
    ]


def _definitions(source: str) -> dict[str, list[str]]:
    """The lines of each function and class the module defines at its top level, by name."""
    import ast

    lines = source.splitlines()
    return {
        node.name: lines[node.lineno - 1 : node.end_lineno]
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    }


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
                name = code.path(layer.name)  # `bottleneck_1.0.conv2d_1` in code written with blocks
                entry = f"{name} {note.detail}" if note.detail else name
                if entry not in entries:
                    entries.append(entry)
    layer_notes = [f"{note.topic} ({_names(entries)}): {note.text}" for note, entries in grouped.items()]
    return list(dict.fromkeys(model_notes + layer_notes))
