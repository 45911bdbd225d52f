"""archdsl's performance report: every figure beside a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py [--quick] [--only SECTION[,SECTION...]] [--strict]
        [--json PATH] [--pyperf PATH] [--root DIR]

Sections (names for --only), one module each beside this file:

1. ``coldstart``   (coldstart.py, importtime.py) wall time of ``python -m archdsl check /
   generate --target torch / diff`` against ``python -c pass`` and ``python -c "import keras"``;
   which modules the commands import (never a framework); where the time goes.
2. ``scaling``     (scaling.py) ``archdsl.parse`` and ``archdsl.generate`` on generated specs
   of 10 to 10,000 layers in three styles; peak memory; why the largest cost more.
3. ``alternative`` (alternative.py) a 100-layer model built in Keras against ``archdsl.parse``
   of the same spec, in two worker processes taking turns; what the parse consists of.
4. ``runtime``     (runtime.py) the forward pass of generated models against the hand-written
   ones of reference_models.py, PyTorch and Keras, batch 1 and 64, with an A/A control.
5. ``lsp``         (lsp.py) the language server through a real client: diagnostics after a
   change to a 1,000-layer file against the parse alone, hover against an empty round trip.
6. ``structure``   (structure.py) the forward pass of the code with a class (PyTorch) or a
   function (Keras) per block against the flat code of the same model, the same weights;
   batch 1 and a larger one, with an A/A control.

harness.py holds what they share (pyperf for the statistics and the record of every series;
the sampler that times a figure and its baseline in turns), machine.py the description of
the machine and of what else ran on it. Targets (from the
performance issue) are checked in a PASS/FAIL column and summarised at the end. The report
exits 0 (it is a report, not a test) unless --strict is given: then it exits 1 when a target
fails or a section could not run. --quick is a smoke run (tests/test_benchmarks.py runs it),
not figures to quote.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pyperf
from alternative import section_alternative
from coldstart import section_coldstart
from harness import FULL, PYTHON, QUICK, REPO, Report, new_table, verdict
from lsp import section_lsp
from machine import contention, cores, cpu_snapshot, git_state, machine_metadata, machine_now, package_version
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from runtime import section_runtime
from scaling import section_scaling
from structure import section_structure

SECTIONS = {
    "coldstart": ("1. Cold start", "cold start", section_coldstart),
    "scaling": ("2. Scaling with the size of the spec", "scaling", section_scaling),
    "alternative": ("3. Against the alternative: building the model in Keras", "alternative", section_alternative),
    "runtime": ("4. Generated code at run time", "run time", section_runtime),
    "lsp": ("5. The language server", "lsp", section_lsp),
    "structure": ("6. Structured code at run time: a class or function per block", "structure", section_structure),
}
ALIASES = {
    "1": "coldstart",
    "cold": "coldstart",
    "cold-start": "coldstart",
    "cold_start": "coldstart",
    "startup": "coldstart",
    "2": "scaling",
    "scale": "scaling",
    "3": "alternative",
    "alt": "alternative",
    "keras": "alternative",
    "4": "runtime",
    "forward": "runtime",
    "run-time": "runtime",
    "5": "lsp",
    "editor": "lsp",
    "server": "lsp",
    "6": "structure",
    "blocks": "structure",
    "structured": "structure",
}


def parse_sections(values: Sequence[str] | None) -> list[str]:
    if not values:
        return list(SECTIONS)
    chosen = []
    for value in values:
        for name in filter(None, (part.strip().lower() for part in value.split(","))):
            name = ALIASES.get(name, name)
            if name not in SECTIONS:
                raise ValueError(f"unknown section '{name}': choose from {', '.join(SECTIONS)}")
            if name not in chosen:
                chosen.append(name)
    return [name for name in SECTIONS if name in chosen]


def print_header(report: Report, sections: Sequence[str], quick: bool) -> None:
    import archdsl  # which archdsl is measured

    machine = machine_metadata()
    rows = [
        ("date", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("mode", ("quick (smoke run: few repetitions)" if quick else "full") + f"; sections: {', '.join(sections)}"),
        ("archdsl", f"{archdsl.__file__} ({git_state(report.root)})"),
        ("python", f"{platform.python_implementation()} {platform.python_version()} ({PYTHON})"),
        (
            "packages",
            ", ".join(f"{n} {package_version(n)}" for n in ("lark", "rich", "tensorflow", "keras", "torch", "numpy")),
        ),
        ("machine", f"{machine.get('platform')}; {cores()} cores usable; {machine.get('cpu_model_name', '?')}"),
    ]
    rows += [
        (f"pyperf: {key}", pyperf.format_metadata(key, machine[key]))
        for key in ("cpu_freq", "cpu_config", "aslr", "load_avg_1min", "runnable_threads", "perf_version")
        if key in machine
    ]
    table = Table(
        box=None, show_header=False, title="archdsl performance report", title_justify="left", title_style="bold"
    )
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, escape(value))
    report.console.print(table)
    report.data["header"] = dict(rows)


def print_summary(report: Report) -> None:
    table = new_table(
        "Summary: every target",
        ("section", "left"),
        ("target", "left"),
        "measured",
        "threshold",
        "result",
        ("detail", "left"),
    )
    for t in report.targets:
        table.add_row(
            t.section, escape(t.name), escape(t.measured), escape(t.threshold), verdict(t.status), escape(t.note[:120])
        )
    report.console.print(table)
    failed = [t for t in report.targets if t.status != "PASS"]
    colour = "green" if not failed else "red"
    report.console.print(
        f"[bold {colour}]{len(report.targets) - len(failed)} of {len(report.targets)} targets met[/]"
        + (f"; not met: {len(failed)}" if failed else "")
    )


def run_section(report: Report, name: str) -> None:
    """One section; an error ends the section, not the report, and is a failed target."""
    title, label, section = SECTIONS[name]
    console = report.console
    console.rule(f"[bold]{title}")
    started = time.perf_counter()
    snapshot = cpu_snapshot()
    try:
        section(report)
    except Exception as error:  # noqa: BLE001 - a report goes on to the next section
        report.error(label, error)
        console.print(f"[bold red]{title} could not run:[/] {escape(f'{type(error).__name__}: {error}')}")
        console.print(escape("".join(traceback.format_exception(error)[-4:])), style="dim")
    busy, others = contention(snapshot, cpu_snapshot())
    report.data.setdefault("contention", {})[name] = busy
    if others > 0.25:
        console.print(
            f"[bold yellow]warning:[/] other processes kept {others:.2f} cores busy during this section: "
            "its figures are slowed and noisier than on a quiet machine"
        )
    console.print(f"[dim]{title}: {time.perf_counter() - started:.0f} s; {busy}; now {machine_now()}[/]")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not figures to quote")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these sections ({', '.join(SECTIONS)}; comma-separated or repeated)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target fails or a section errs")
    parser.add_argument("--json", metavar="PATH", help="also write every raw figure and target to PATH as JSON")
    parser.add_argument(
        "--pyperf",
        metavar="PATH",
        help="also write every timed series to PATH as a pyperf suite (python -m pyperf compare_to A.json B.json)",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        default=REPO,
        help="measure the archdsl checkout in DIR (default: this repository)",
    )
    args = parser.parse_args(argv)
    try:
        sections = parse_sections(args.only)
    except ValueError as error:
        parser.error(str(error))
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    report = Report(console=console, plan=QUICK if args.quick else FULL, root=root)
    report.data["plan"] = asdict(report.plan)

    print_header(report, sections, args.quick)
    for name in sections:
        run_section(report, name)
    console.rule("[bold]Summary")
    print_summary(report)
    if args.json:
        report.data["targets"] = [asdict(t) for t in report.targets]
        Path(args.json).write_text(json.dumps(report.data, indent=1, default=str) + "\n")
    if args.pyperf and report.series:
        pyperf.BenchmarkSuite(report.series).dump(args.pyperf, replace=True)
    if args.strict and any(t.status != "PASS" for t in report.targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
