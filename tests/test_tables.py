"""The CLI's tables fit the width they are given, whatever their columns, and never cut a cell.

The layout is tested over many widths on the real check tables of the examples, and on
a check table with the columns a later version may add (trainable counts, MACs), so
that a new column needs no new layout code. tests/test_terminal.py shows the same on a
real terminal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archdsl
from archdsl.cli.tables import (
    FOOTNOTE,
    KEEP,
    WRAP,
    Column,
    Grid,
    Stacked,
    TextTable,
    arrange,
    check_table,
    layer_table,
    render_table,
)
from archdsl.layers import LAYER_TABLE
from archdsl.tools.summary import torch_layouts

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.arch"))
WIDTHS = [40, 60, 72, 80, 90, 100, 110, 120, 130, 140, 200]


def _wider(table: TextTable) -> TextTable:
    """The check table with three more numeric columns, as a later version may show."""
    extra = (
        Column("Trainable params", numeric=True),
        Column("Non-trainable params", numeric=True),
        Column("MACs", numeric=True),
    )
    columns = table.columns[:-1] + extra + table.columns[-1:]
    rows = tuple(row[:-1] + (f"{7 * i:,}", f"{i:,}", f"{123_456 * i:,}") + row[-1:] for i, row in enumerate(table.rows))
    return TextTable(table.title, columns, rows, table.notes)


def _tables() -> list[tuple[str, TextTable]]:
    tables = []
    for path in EXAMPLES:
        for model in archdsl.load(path).models:
            table = check_table(model, path.name)
            tables += [(f"{path.stem}-{model.name}", table), (f"{path.stem}-{model.name}-wider", _wider(table))]
            macs = check_table(model, path.name, macs=True, layouts=torch_layouts(model))  # --macs --layout torch
            tables.append((f"{path.stem}-{model.name}-macs-torch", macs))
            if any(layer.scope for layer in model.layers):  # --depth 1 --macs: indented names, blank counts
                tables.append((f"{path.stem}-{model.name}-depth", check_table(model, path.name, True, depth=1)))
    return tables + [("layers", layer_table())]


TABLES = _tables()


def _table_lines(text: str, table: TextTable) -> list[str]:
    """The drawn table without the totals, notes and footnotes under it (prose, which may be longer)."""
    totals = tuple(f"  {label}:" for label, _ in table.totals)
    return [
        line for line in text.splitlines() if not re.match(r"(\[\d+\]|note:) ", line) and not line.startswith(totals)
    ]


def _column_text(lines: list[str], grid: Grid, index: int) -> str:
    """What one column of a drawn grid says, its wrapped lines joined."""
    start = 2 + sum(grid.widths[:index]) + 3 * index
    return " ".join(" ".join(line[start : start + grid.widths[index]] for line in lines).split())


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("name", "table"), TABLES, ids=[name for name, _ in TABLES])
def test_every_cell_is_shown_whole_within_the_width(name: str, table: TextTable, width: int) -> None:
    text = render_table(table, width)
    layout = arrange(table, width)
    lines = text.splitlines()
    flat = " ".join(text.split())
    for row in table.rows:
        for index, (column, cell) in enumerate(zip(table.columns, row, strict=True)):
            if column.fit == KEEP or (column.fit == FOOTNOTE and isinstance(layout, Grid)):
                # A shape or a count on one line, as written; a note in its cell or as a footnote.
                assert any(cell in line for line in lines), f"{column.header} cell {cell!r} is cut at {width}"
            elif isinstance(layout, Grid):
                assert " ".join(cell.split()) in _column_text(lines, layout, index), f"{cell!r} is cut at {width}"
            elif cell:
                assert f"{column.header} {' '.join(cell.split())}" in flat, f"{cell!r} is lost at {width}"
    if isinstance(layout, Grid):
        too_long = [line for line in _table_lines(text, table) if len(line) > width]
        assert not too_long, f"lines wider than {width}: {too_long}"
    else:
        # Stacked only where no grid could fit: even the narrowest grid would be too wide.
        assert width < 140


def test_the_layouts_come_in_the_order_a_reader_loses_least() -> None:
    card = check_table(archdsl.load(REPO / "examples" / "card_cnn.arch").model(), "card_cnn.arch")
    note = "inserted before dense_1: dense takes a vector"
    wide = arrange(card, 140)
    assert isinstance(wide, Grid) and not wide.table.footnotes and all(len(h) == 1 for h in wide.headers)
    narrower = arrange(card, 100)  # the note goes under the table before the headers break
    assert isinstance(narrower, Grid) and narrower.table.footnotes == (note,)
    assert all(len(h) == 1 for h in narrower.headers)
    narrow = arrange(card, 80)
    assert isinstance(narrow, Grid) and narrow.table.footnotes == (note,)
    assert ("Keras", "params") in narrow.headers
    assert isinstance(arrange(card, 50), Stacked)


def test_footnotes_are_numbered_once_per_text_and_empty_note_columns_go() -> None:
    columns = (Column("Layer"), Column("Shape"), Column("Notes", fit=FOOTNOTE))
    rows = (
        ("a", "(None, 8)", "the first note"),
        ("b", "(None, 8)", ""),
        ("c", "(None, 8)", "the second note"),
        ("d", "(4,)", "the first note"),
    )
    assert "the first note" in render_table(TextTable("T", columns, rows), width=40).splitlines()[4]
    lines = render_table(TextTable("T", columns, rows), width=30).splitlines()
    assert [line.split()[-1] for line in lines if "[" in line and line.startswith("  ")] == ["[1]", "[2]", "[1]"]
    assert lines[-2:] == ["[1] the first note", "[2] the second note"]
    quiet = TextTable("T", columns, tuple(row[:2] + ("",) for row in rows))
    assert "Notes" in render_table(quiet, None)
    assert "Notes" not in render_table(quiet, 24), "an empty notes column gives its room back"


def test_wrapped_columns_wrap_at_words_and_never_go_below_their_minimum() -> None:
    columns = (Column("Name"), Column("Text", fit=WRAP, min_width=12))
    table = TextTable("T", columns, (("x", "one two three four five six seven eight"),))
    lines = render_table(table, 30).splitlines()
    body = [line for line in lines if line.startswith("  x") or line.startswith("     ")]
    assert [line[9:] for line in body] == ["one two three four", "five six seven eight"]
    assert isinstance(arrange(table, 19), Stacked), "12 columns of text do not fit in 19: stacked instead"


@pytest.mark.parametrize("width", [80, 100])
def test_layers_is_one_entry_per_layer_below_about_120_columns(width: int) -> None:
    assert isinstance(arrange(layer_table(), width), Stacked)
    lines = render_table(layer_table(), width).splitlines()
    assert [line for line in lines if line in {spec.name for spec in LAYER_TABLE}] == [s.name for s in LAYER_TABLE]


def test_layers_is_a_table_from_120_columns() -> None:
    assert isinstance(arrange(layer_table(), 120), Grid)


def test_colour_does_not_move_a_cell() -> None:
    card = check_table(archdsl.load(REPO / "examples" / "card_cnn.arch").model(), "card_cnn.arch")
    for width in (80, 140):
        coloured = render_table(card, width, color=True)
        assert "\x1b[" in coloured
        assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == render_table(card, width)
