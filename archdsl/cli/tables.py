"""The tables the CLI prints: rich on a terminal, plain aligned text otherwise.

rich is slow to import (about a fifth of a cold `archdsl check`), and colour is all it
adds when the output goes to a pipe or a file, so the check table has a plain renderer
of its own and rich is imported only when a terminal will show its colours.
"""

from __future__ import annotations

import shutil
import sys

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.layers import LAYER_TABLE
from archdsl.layers.spec import REQUIRED
from archdsl.tools.summary import param_notes, rows


@record
class Column:
    header: str
    footer: str = ""
    numeric: bool = False
    style: str = ""  # rich's style on a terminal; plain text has none


@record
class TextTable:
    """What a table says, apart from how it is drawn."""

    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


def check_table(model: Model, filename: str) -> TextTable:
    columns = (
        Column("Layer", footer="Total"),
        Column("Type", style="cyan"),
        Column("Output shape", style="green"),
        Column("Keras params", footer=f"{model.params.keras:,}", numeric=True),
        Column("PyTorch params", footer=f"{model.params.torch:,}", numeric=True),
        Column("Notes", style="yellow"),
    )
    body = tuple((r.name, r.type, r.shape, f"{r.keras:,}", f"{r.torch:,}", r.note) for r in rows(model))
    return TextTable(f"{model.name}  ({filename})", columns, body, tuple(param_notes(model)))


def plain_table(table: TextTable) -> str:
    """The layout of rich's SIMPLE_HEAD box in plain text, without trailing spaces or wrapping.

    Long notes stay on one line, so the output can be searched with grep line by line.
    """
    widths = [
        max(len(c.header), len(c.footer), *(len(row[i]) for row in table.rows)) for i, c in enumerate(table.columns)
    ]

    def line(cells) -> str:
        parts = [
            cell.rjust(width) if column.numeric else cell.ljust(width)
            for cell, column, width in zip(cells, table.columns, widths, strict=True)
        ]
        return ("  " + "   ".join(parts)).rstrip()

    out = [table.title, "", line(c.header for c in table.columns), " " + "─" * (sum(widths) + 3 * len(widths) - 1)]
    out += [line(row) for row in table.rows]
    if any(c.footer for c in table.columns):
        out += ["", line(c.footer for c in table.columns)]
    out += [""] + [f"note: {note}" for note in table.notes]
    return "\n".join(out).rstrip("\n") + "\n"


def _console(color: bool):
    from rich.console import Console

    width = None if sys.stdout.isatty() else max(shutil.get_terminal_size((120, 24)).columns, 120)
    return Console(
        file=sys.stdout,
        color_system="auto" if color else None,
        no_color=not color,
        width=width,
        highlight=False,
        force_terminal=color,
    )


def _rich_table(table: TextTable):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    drawn = Table(title=table.title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold", show_footer=True)
    for index, column in enumerate(table.columns):
        last = index == len(table.columns) - 1
        drawn.add_column(
            column.header,
            footer=column.footer,
            justify="right" if column.numeric else "left",
            no_wrap=not last,
            overflow="fold" if last else "ellipsis",
            style=column.style or None,
        )
    for row in table.rows:
        drawn.add_row(*(Text(cell) for cell in row))  # Text: a '[' in a name is not rich markup
    return drawn


def print_check_tables(models: list[Model], filename: str, color: bool) -> None:
    tables = [check_table(model, filename) for model in models]
    if not color:
        sys.stdout.write("\n".join(plain_table(table) for table in tables))
        return
    console = _console(color)
    for index, table in enumerate(tables):
        if index:
            console.print()
        console.print(_rich_table(table), markup=False)
        for note in table.notes:
            console.print(f"note: {note}", markup=False)


def print_layer_table(color: bool) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = _console(color)
    table = Table(box=box.SIMPLE_HEAD, title="Layers of the .arch language", title_justify="left")
    table.add_column("Layer", no_wrap=True)
    table.add_column("Example", no_wrap=True)
    table.add_column("Arguments (default)")
    table.add_column("What it does")
    for spec in LAYER_TABLE:
        args = ", ".join(
            a.name if a.default is REQUIRED else f"{a.name}={'none' if a.default is None else a.default}"
            for a in spec.args
        )
        table.add_row(Text(spec.name), Text(spec.example), Text(args), Text(spec.summary))
    console.print(table)


def print_verify_reports(reports, color: bool) -> None:
    from rich import box
    from rich.table import Table

    console = _console(color)
    for index, report in enumerate(reports):
        if index:
            console.print()
        table = Table(
            title=f"{report.model}: Keras and PyTorch on the same weights and inputs (seed {report.seed})",
            box=box.SIMPLE_HEAD,
            title_justify="left",
            min_width=90,
        )
        table.add_column("Layer", no_wrap=True)
        table.add_column("Type", no_wrap=True)
        table.add_column("Max abs error", justify="right")
        table.add_column("Max rel error", justify="right")
        table.add_column("Agrees", justify="center")
        for layer in report.layers:
            mark = "[green]yes[/green]" if layer.ok else "[red bold]NO[/red bold]"
            table.add_row(layer.name, layer.type, f"{layer.max_abs:.2e}", f"{layer.max_rel:.2e}", mark)
        console.print(table)
        tolerance = f"atol={report.atol:g}, rtol={report.rtol:g}"
        first = report.first_mismatch
        if first is None:
            worst = max((layer.max_rel for layer in report.layers), default=0.0)
            console.print(
                f"[green]ok[/green]: all {len(report.layers)} layers agree within {tolerance} "
                f"(largest relative error {worst:.1e})"
            )
        else:
            console.print(
                f"[red bold]mismatch[/red bold]: the outputs first disagree at layer {first.name} ({first.type}): "
                f"max abs error {first.max_abs:.2e} > {tolerance}"
            )
