"""Terminal tables with rich; imported only by commands that print one (rich is slow to import)."""

from __future__ import annotations

import shutil
import sys

from .ir import Model
from .layers import LAYER_TABLE
from .layers.spec import REQUIRED
from .report import param_notes, rows


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


def print_check_tables(models: list[Model], filename: str, color: bool) -> None:
    from rich import box
    from rich.table import Table

    console = _console(color)
    for index, model in enumerate(models):
        if index:
            console.print()
        table = Table(
            title=f"{model.name}  ({filename})",
            box=box.SIMPLE_HEAD,
            title_justify="left",
            show_footer=True,
        )
        table.add_column("Layer", footer="Total", no_wrap=True)
        table.add_column("Type", no_wrap=True)
        table.add_column("Output shape", no_wrap=True)
        table.add_column("Keras params", justify="right", footer=f"{model.params.keras:,}")
        table.add_column("PyTorch params", justify="right", footer=f"{model.params.torch:,}")
        table.add_column("Notes", overflow="fold")
        for row in rows(model):
            table.add_row(row.name, row.type, row.shape, f"{row.keras:,}", f"{row.torch:,}", row.note)
        console.print(table)
        for note in param_notes(model):
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
