"""The tables the CLI prints, laid out to fit the width they are shown in.

A table says what its columns hold and how each may give way when the table is
wider than the terminal (`Column.fit`); `arrange` picks the first layout that
fits, in the order a reader loses least: headers on two lines, then notes as
numbered footnotes under the table, then one entry per row. A cell of a `keep`
column (a shape, a count) is never cut or wrapped: a table that cannot fit
otherwise is stacked, and a stacked line longer than the terminal wraps there
whole. The same text is printed on a terminal and into a pipe; a terminal adds
colour (plain ANSI codes, as the diagnostics use: importing rich costs a fifth
of a cold `archdsl check`). Piped, the width is `COLUMNS` when set, else
unlimited, so that `grep` finds a row on one line.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Mapping, Sequence
from typing import TextIO

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.layers import LAYER_TABLE
from archdsl.layers.spec import REQUIRED
from archdsl.tools.summary import (
    TORCH,
    macs_notes,
    param_notes,
    rows,
    torch_layouts,
    torch_notes,
    totals,
)

KEEP, WRAP, FOOTNOTE = "keep", "wrap", "footnote"
GAP = 3  # spaces between two columns
EDGE = 3  # two spaces before the first column, one after the last (the rule under the headers is that wide)
STACK_INDENT = 4

ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36"}


@record
class Column:
    """A column and how it gives way: `keep` never, `wrap` down to `min_width`, `footnote` into numbered notes."""

    header: str
    footer: str = ""
    numeric: bool = False
    style: str = ""  # ANSI style names on a terminal ("green", "red bold"); plain text has none
    fit: str = KEEP
    min_width: int = 0
    cell_styles: tuple[tuple[str, str], ...] = ()  # (cell text, style) pairs that override `style`


@record
class TextTable:
    """What a table says, apart from how it is drawn."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()  # about the whole table: printed under it as `note: ...`
    footnotes: tuple[str, ...] = ()  # numbered, referred to from cells as `[N]`
    totals: tuple[tuple[str, str], ...] = ()  # (label, text) lines right under the table, as a summary's totals


@record
class Grid:
    """A table laid out as a grid: the width of every column, and the header split into lines."""

    table: TextTable
    widths: tuple[int, ...]
    headers: tuple[tuple[str, ...], ...]


@record
class Stacked:
    """A table shown one entry per row: the first cell as a heading, the others labelled below it."""

    table: TextTable


# ---------------------------------------------------------------- width and colour


def output_width(stream: TextIO) -> int | None:
    """The columns there are to fill: the terminal's (or COLUMNS), COLUMNS when piped, else no limit."""
    if hasattr(stream, "isatty") and stream.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return columns if columns > 0 else None


def paint(text: str, style: str, color: bool) -> str:
    codes = ";".join(ANSI[word] for word in style.split() if word in ANSI)
    if not (color and codes and text):
        return text
    return f"\x1b[{codes}m{text}\x1b[0m"


# ---------------------------------------------------------------- layout


def _natural_width(table: TextTable, index: int, header_lines: Sequence[str]) -> int:
    column = table.columns[index]
    return max(len(column.footer), *(len(line) for line in header_lines), *(len(row[index]) for row in table.rows))


def _two_line_header(table: TextTable, index: int) -> tuple[str, ...]:
    """The header broken at a space when it is wider than every cell under it ("Keras" over "params")."""
    header = table.columns[index].header
    cells = max((len(row[index]) for row in table.rows), default=0)
    width = max(cells, len(table.columns[index].footer), *(len(word) for word in header.split()))
    return tuple(textwrap.wrap(header, width)) if header else ("",)


def _grid(table: TextTable, width: int | None, wrap_headers: bool) -> Grid | None:
    """The grid of `table` within `width`, shrinking only `wrap` columns; None when it cannot fit."""
    count = len(table.columns)
    headers = tuple(_two_line_header(table, i) if wrap_headers else (table.columns[i].header,) for i in range(count))
    natural = [_natural_width(table, i, headers[i]) for i in range(count)]
    if width is None or sum(natural) + GAP * (count - 1) + EDGE <= width:
        return Grid(table, tuple(natural), headers)
    shrinkable = [i for i, column in enumerate(table.columns) if column.fit == WRAP]
    room = width - EDGE - GAP * (count - 1) - sum(natural[i] for i in range(count) if i not in shrinkable)
    widths = list(natural)
    # Share the room out, narrowest column first, so a short column keeps its natural width.
    for position, i in enumerate(sorted(shrinkable, key=lambda i: natural[i])):
        share = room // (len(shrinkable) - position)
        widths[i] = min(natural[i], share)
        if widths[i] < min(natural[i], max(table.columns[i].min_width, 1)):
            return None
        room -= widths[i]
    if sum(widths) + GAP * (count - 1) + EDGE > width:
        return None
    return Grid(table, tuple(widths), headers)


def as_footnotes(table: TextTable) -> TextTable:
    """`footnote` cells become `[N]`, their texts numbered under the table; a note said twice keeps one number.

    A footnote column with nothing in it goes: its header alone would take room.
    """
    moved = [i for i, column in enumerate(table.columns) if column.fit == FOOTNOTE]
    if not moved:
        return table
    footnotes = list(table.footnotes)

    def marker(text: str) -> str:
        if not text:
            return ""
        if text not in footnotes:
            footnotes.append(text)
        return f"[{footnotes.index(text) + 1}]"

    body = [tuple(marker(cell) if i in moved else cell for i, cell in enumerate(row)) for row in table.rows]
    kept = [i for i in range(len(table.columns)) if i not in moved or any(row[i] for row in body)]
    columns = tuple(
        Column(c.header, c.footer, c.numeric, c.style, KEEP) if i in moved else c
        for i, c in enumerate(table.columns)
        if i in kept
    )
    return TextTable(
        table.title,
        columns,
        tuple(tuple(row[i] for i in kept) for row in body),
        table.notes,
        tuple(footnotes),
        table.totals,
    )


def arrange(table: TextTable, width: int | None) -> Grid | Stacked:
    """The first layout that fits `width`, in the order a reader loses least."""
    footnoted = as_footnotes(table)
    for candidate, wrap_headers in ((table, False), (table, True), (footnoted, False), (footnoted, True)):
        grid = _grid(candidate, width, wrap_headers)
        if grid is not None:
            return grid
    return Stacked(table)


# ---------------------------------------------------------------- drawing


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width`, broken at spaces only ('tanh-approximated' stays one word) unless a word is longer."""
    return textwrap.wrap(text, width, break_on_hyphens=False)


def _cell_style(column: Column, text: str) -> str:
    return dict(column.cell_styles).get(text, column.style)


def _grid_lines(grid: Grid, color: bool) -> list[str]:
    table, widths = grid.table, grid.widths

    def lines_of(cells: Sequence[str], styles: Sequence[str]) -> list[str]:
        wrapped = [
            _wrap(cell, width) or [""] if column.fit == WRAP else [cell]
            for cell, column, width in zip(cells, table.columns, widths, strict=True)
        ]
        out = []
        for depth in range(max(len(parts) for parts in wrapped)):
            parts = []
            for parts_of_cell, column, width, style in zip(wrapped, table.columns, widths, styles, strict=True):
                text = parts_of_cell[depth] if depth < len(parts_of_cell) else ""
                pad = " " * (width - len(text))
                parts.append(pad + paint(text, style, color) if column.numeric else paint(text, style, color) + pad)
            out.append(("  " + (" " * GAP).join(parts)).rstrip())
        return out

    bold = ["bold"] * len(widths)
    height = max(len(lines) for lines in grid.headers)
    # Headers sit on their last lines, as a spreadsheet's do, so one-line headers line up with the bottom.
    header_rows = [
        [lines[depth - (height - len(lines))] if depth >= height - len(lines) else "" for lines in grid.headers]
        for depth in range(height)
    ]
    out = [paint(table.title, "bold", color), ""]
    for cells in header_rows:
        out += lines_of(cells, bold)
    out.append(" " + "─" * (sum(widths) + GAP * (len(widths) - 1) + EDGE - 1))
    for row in table.rows:
        out += lines_of(row, [_cell_style(c, cell) for c, cell in zip(table.columns, row, strict=True)])
    if any(column.footer for column in table.columns):
        out += [""] + lines_of([column.footer for column in table.columns], bold)
    return out


def _stacked_lines(stacked: Stacked, width: int | None, color: bool) -> list[str]:
    table = stacked.table
    first, *rest = table.columns
    label_width = max((len(column.header) for column in rest), default=0)
    out = [paint(table.title, "bold", color)]
    for row in table.rows:
        out += ["", paint(row[0], first.style or "bold", color)]
        for column, cell in zip(rest, row[1:], strict=True):
            if not cell:
                continue
            indent = " " * STACK_INDENT + column.header.ljust(label_width) + "  "
            if column.fit == KEEP or width is None:
                parts = [cell]
            else:
                parts = _wrap(cell, max(width - len(indent), 20))
            out.append(indent + paint(parts[0], _cell_style(column, cell), color))
            out += [" " * len(indent) + paint(part, _cell_style(column, cell), color) for part in parts[1:]]
    if any(column.footer for column in rest):
        out += ["", paint(first.footer, "bold", color)]
        out += [
            " " * STACK_INDENT + column.header.ljust(label_width) + "  " + paint(column.footer, "bold", color)
            for column in rest
            if column.footer
        ]
    return out


def _prose(lead: str, text: str, width: int | None, color: bool, style: str = "") -> list[str]:
    """A note under a table: wrapped on a terminal with a hanging indent; one line in a pipe, for grep."""
    if width is None:
        return [paint(lead, style, color) + " " + text]
    lines = _wrap(text, max(width - len(lead) - 1, 20))
    return [paint(lead, style, color) + " " + lines[0]] + [" " * (len(lead) + 1) + line for line in lines[1:]]


def render_table(table: TextTable, width: int | None, color: bool = False, wrap_notes: bool = False) -> str:
    """The table drawn within `width` (None: no limit), with its footnotes and notes under it."""
    layout = arrange(table, width)
    shown = layout.table
    lines = _grid_lines(layout, color) if isinstance(layout, Grid) else _stacked_lines(layout, width, color)
    prose_width = width if wrap_notes else None
    if shown.totals:
        lines.append("")
        label_width = max(len(label) for label, _ in shown.totals) + 1
        for label, text in shown.totals:
            lines += _prose(f"  {label + ':':<{label_width}}", text, prose_width, color, "bold")
    if shown.footnotes:
        lines.append("")
        for number, text in enumerate(shown.footnotes, 1):
            lines += _prose(f"[{number}]", text, prose_width, color, "yellow")
    if shown.notes:
        lines.append("")
        for note in shown.notes:
            lines += _prose("note:", note, prose_width, color, "bold")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n") + "\n"


def show_tables(tables: Sequence[TextTable], stream: TextIO, color: bool) -> None:
    """Print `tables` to fit `stream`; prose under them wraps only on a terminal, where it would wrap anyway."""
    width = output_width(stream)
    on_terminal = hasattr(stream, "isatty") and stream.isatty()
    stream.write("\n".join(render_table(table, width, color, wrap_notes=on_terminal) for table in tables))


# ---------------------------------------------------------------- the CLI's tables


def check_table(
    model: Model,
    filename: str,
    macs: bool = False,
    layouts: Mapping[str, str] | None = None,
    depth: int | None = None,
) -> TextTable:
    """`archdsl check`'s table; `macs` adds the multiply-adds, `layouts` (`torch_layouts`) PyTorch's shapes,
    `depth` block calls below it as one row each (`rows`)."""
    columns = [
        Column("Layer", footer="Total"),
        Column("Type", style="cyan"),
        Column("Output shape" if layouts is None else "PyTorch shape", style="green"),
        Column("Keras params", footer=f"{model.params.keras:,}", numeric=True),
        Column("PyTorch params", footer=f"{model.params.torch:,}", numeric=True),
    ]
    if macs:
        columns.append(Column("MACs", footer=f"{model.macs():,}", numeric=True))
    columns.append(Column("Notes", style="yellow", fit=FOOTNOTE))
    body = tuple(row.cells(macs) for row in rows(model, layouts, macs, depth))
    notes = [
        *param_notes(model),
        *(macs_notes(model) if macs else ()),
        *(() if layouts is None else torch_notes(model, layouts)),
    ]
    return TextTable(
        f"{model.name}  ({filename})", tuple(columns), body, tuple(notes), totals=tuple(totals(model, macs))
    )


def layer_table() -> TextTable:
    """Every layer of the language; below about 120 columns its two prose columns cannot fit, and it stacks."""
    columns = (
        Column("Layer", style="bold"),
        Column("Example", style="cyan"),
        Column("Arguments (default)", fit=WRAP, min_width=20),
        Column("What it does", fit=WRAP, min_width=22),
    )
    body = []
    for spec in LAYER_TABLE:
        args = ", ".join(
            a.name if a.default is REQUIRED else f"{a.name}={'none' if a.default is None else a.default}"
            for a in spec.args
        )
        body.append((spec.name, spec.example, args, spec.summary))
    return TextTable("Layers of the .arch language", columns, tuple(body))


def verify_table(report) -> TextTable:
    columns = (
        Column("Layer"),
        Column("Type", style="cyan"),
        Column("Max abs error", numeric=True),
        Column("Max rel error", numeric=True),
        Column("Agrees", cell_styles=(("yes", "green"), ("NO", "red bold"))),
    )
    body = tuple(
        (layer.name, layer.type, f"{layer.max_abs:.2e}", f"{layer.max_rel:.2e}", "yes" if layer.ok else "NO")
        for layer in report.layers
    )
    return TextTable(
        f"{report.model}: Keras and PyTorch on the same weights and inputs (seed {report.seed})",
        columns,
        body,
        report.notes,
    )


def verify_verdict(report, color: bool) -> str:
    tolerance = f"atol={report.atol:g}, rtol={report.rtol:g}"
    first = report.first_mismatch
    kinds = {"Keras": "the Keras code with a function per block", "PyTorch": "the PyTorch code with a class per block"}
    wrong = [(target, found) for target, found in report.structured if not found.ok]
    if first is None and wrong:
        target, found = wrong[0]
        return (
            f"{paint('mismatch', 'red bold', color)}: every layer agrees, but {kinds[target]} "
            f"gives output {found.name} with max abs error {found.max_abs:.2e} > {tolerance}\n"
        )
    if first is None:
        worst = max((layer.max_rel for layer in report.layers), default=0.0)
        verb = "so does" if len(report.structured) == 1 else "so do"
        also = (
            f" and {verb} {' and '.join(kinds[target] for target, _ in report.structured)}" if report.structured else ""
        )
        return (
            f"{paint('ok', 'green', color)}: all {len(report.layers)} layers agree within {tolerance}{also} "
            f"(largest relative error {worst:.1e})\n"
        )
    return (
        f"{paint('mismatch', 'red bold', color)}: the outputs first disagree at layer {first.name} ({first.type}): "
        f"max abs error {first.max_abs:.2e} > {tolerance}\n"
    )


def print_check_tables(
    models: list[Model],
    filename: str,
    stream: TextIO,
    color: bool,
    macs: bool = False,
    layout: str = "keras",
    depth: int | None = None,
) -> None:
    tables = [
        check_table(model, filename, macs, torch_layouts(model) if layout == TORCH else None, depth) for model in models
    ]
    show_tables(tables, stream, color)


def print_layer_table(stream: TextIO, color: bool) -> None:
    show_tables([layer_table()], stream, color)


def print_verify_reports(reports, stream: TextIO, color: bool) -> None:
    width = output_width(stream)
    for index, report in enumerate(reports):
        if index:
            stream.write("\n")
        stream.write(render_table(verify_table(report), width, color) + "\n")
        stream.write(verify_verdict(report, color))
