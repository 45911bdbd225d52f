"""Section 1, cold start: a fresh `python -m archdsl check / generate / diff` against `python -c pass`.

Every command runs in rounds with the baseline (`rotated_rounds`: the order rotates each
round), so that the ratio compares runs made in the same state of the machine. The commands
run with a private bytecode cache (PYTHONPYCACHEPREFIX, created for the run and filled by
the warm-ups) so that they measure what an installed archdsl costs, whatever
PYTHONDONTWRITEBYTECODE says; one extra row measures the environment as given, and so does
`import keras` (its installed bytecode). Then: which
modules each command loads (never a framework), where the wall time of one command goes
(interpreter, `import archdsl.cli`, the first command, the same again), and the import time
attributed (importtime.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from harness import PYTHON, REPO, Report, fmt_ratio, fmt_time, new_table, rotated_rounds
from importtime import print_importtime
from rich.markup import escape

COLD_RATIO_MAX = 3.0  # the target: a command within 3x of the interpreter's own start
COLD_SPEC = "examples/card_cnn.arch"
FRAMEWORKS = ("tensorflow", "keras", "torch", "numpy")
# The floor: the standard-library modules a Lark parser, a dataclass IR and an argparse CLI
# import before archdsl does any work of its own.
STDLIB_FLOOR = "import argparse, dataclasses, re"

# Run in a fresh interpreter: import archdsl.cli, run a command twice, report timings and modules.
PROBE = r"""
import contextlib, io, json, sys, time
argv = json.loads(sys.argv[1])
before = set(sys.modules)
t0 = time.perf_counter()
import archdsl.cli.commands
t1 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    rc1 = archdsl.cli.main(argv)
t2 = time.perf_counter()
after_first = set(sys.modules)
with contextlib.redirect_stdout(io.StringIO()):
    rc2 = archdsl.cli.main(argv)
t3 = time.perf_counter()
frameworks = sorted({m.split(".")[0] for m in after_first} & set(json.loads(sys.argv[2])))
new = after_first - before
third_party = sorted({m.split(".")[0] for m in new} - set(sys.stdlib_module_names) - {"archdsl", "_distutils_hack"})
print(json.dumps({"rc": [rc1, rc2], "import": t1 - t0, "first": t2 - t1, "again": t3 - t2,
                  "frameworks": frameworks, "modules": len(new), "third_party": third_party}))
"""


def subprocess_env(root: Path, pycache: str | None) -> dict[str, str]:
    """The environment of the timed commands: a bytecode cache of their own unless `pycache` is None."""
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    if root != REPO:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def command(argv: Sequence[str], env: dict[str, str], cwd: Path):
    """A call that runs `argv` to the end (output discarded) and fails loudly if it fails."""

    def run() -> None:
        process = subprocess.run(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if process.returncode != 0:
            tail = process.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"`{' '.join(argv)}` exited with status {process.returncode}: {' / '.join(tail)}")

    return run


def section_coldstart(report: Report) -> None:
    pycache = tempfile.mkdtemp(prefix="archdsl-bench-pycache-")
    try:
        coldstart(report, subprocess_env(report.root, pycache))
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


def coldstart(report: Report, env: dict[str, str]) -> None:
    plan, root = report.plan, report.root
    spec = COLD_SPEC
    if not (root / spec).is_file():
        raise FileNotFoundError(root / spec)
    module = [PYTHON, "-m", "archdsl"]
    commands = [
        ("archdsl check", ["check", spec]),
        ("archdsl generate --target torch", ["generate", spec, "--target", "torch"]),
        ("archdsl diff", ["diff", spec]),
    ]
    extra = []
    script = Path(PYTHON).with_name("archdsl")
    if script.exists():
        extra.append(("archdsl check (console script)", [str(script), "check", spec]))
    extra.append((f"floor: python -c {STDLIB_FLOOR!r}", [PYTHON, "-c", STDLIB_FLOOR]))
    timed = [("python -c pass", [PYTHON, "-c", "pass"]), *[(n, [*module, *cli]) for n, cli in commands], *extra]

    report.progress(
        f"cold start: {plan.cold_warmups} warm-ups, then {plan.cold_runs} interleaved rounds of {len(timed)} commands"
    )
    rounds = rotated_rounds([command(argv, env, root) for _, argv in timed], plan.cold_warmups, plan.cold_runs)
    series = {
        name: report.record(f"cold start: {name}", values, warmups)
        for (name, _), values, warmups in zip(timed, rounds.times, rounds.warmups, strict=True)
    }

    # Keras as installed: pip compiled its bytecode, which a private PYTHONPYCACHEPREFIX would
    # hide (every run, or the first, would then compile TensorFlow, some 10 s).
    report.progress(
        f"cold start: python -c 'import keras', {plan.keras_import_warmups} warm-up + {plan.keras_import_runs} runs"
    )
    given = subprocess_env(root, None)
    keras_rounds = rotated_rounds(
        [command([PYTHON, "-c", "import keras"], given, root)], plan.keras_import_warmups, plan.keras_import_runs
    )
    keras = report.record("cold start: python -c 'import keras'", keras_rounds.times[0], keras_rounds.warmups[0])

    # The environment as given (here PYTHONDONTWRITEBYTECODE may be set: archdsl compiled every run).
    report.progress(f"cold start: environment as given, {plan.env_as_given_runs} rounds")
    given_rounds = rotated_rounds(
        [command(timed[0][1], given, root), command(timed[1][1], given, root)], 1, plan.env_as_given_runs
    )

    base, keras_median = series["python -c pass"].median(), keras.median()
    table = new_table(
        "Cold start: wall time of a fresh process (examples/card_cnn.arch)",
        ("command", "left"),
        "runs",
        "median",
        "min",
        "max",
        "baseline: python -c pass",
        "ratio",
        "target",
        "result",
        "÷ import keras",
        caption=(
            f"Baselines in the same run: `python -c pass` median {fmt_time(base)}; "
            f'`python -c "import keras"` median {fmt_time(keras_median)} ({len(keras.get_values())} runs). '
            f"archdsl's bytecode cached in a private PYTHONPYCACHEPREFIX, Keras' as installed; commands interleaved "
            f"round-robin after {plan.cold_warmups} warm-up(s)."
        ),
    )

    def row(name: str, values: list[float], baseline: float | None, target: str, result: str) -> None:
        middle = median(values)
        if baseline is None:  # the row is the baseline
            against = ["—", "1.00×"]
        else:
            against = [fmt_time(baseline), fmt_ratio(middle / baseline)]
        times = [fmt_time(middle), fmt_time(min(values)), fmt_time(max(values))]
        keras_ratio = fmt_ratio(middle / keras_median)
        table.add_row(escape(name), str(len(values)), *times, *against, target, result, keras_ratio)

    row("python -c pass", series["python -c pass"].get_values(), None, "", "baseline")
    for name, _cli in commands:
        value = series[name].median()
        ratio = value / base
        result = report.target(
            "cold start",
            f"{name}: ÷ python -c pass",
            fmt_ratio(ratio),
            f"≤ {COLD_RATIO_MAX:g}×",
            ratio <= COLD_RATIO_MAX,
            f"{fmt_time(value)} vs {fmt_time(base)}",
        )
        row(name, series[name].get_values(), base, f"≤ {COLD_RATIO_MAX:g}×", result)
    for name, _argv in extra:
        row(name, series[name].get_values(), base, "", "info")
    row('python -c "import keras"', keras.get_values(), base, "", "baseline")
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    row(
        f"archdsl check, environment as given (PYTHONDONTWRITEBYTECODE={flag or 'unset'})",
        given_rounds.times[1],
        median(given_rounds.times[0]),
        "",
        "info",
    )
    report.console.print(table)

    probed = [*commands, ("archdsl generate --target keras", ["generate", spec, "--target", "keras"])]
    probes = probe_commands(report, probed, env)
    print_phases(report, [name for name, _ in commands], base, {n: series[n].median() for n, _ in commands}, probes)
    print_importtime(report, [(name, [*module, *cli]) for name, cli in commands], env)
    report.data.setdefault("coldstart", {}).update(
        {
            "baseline_pass": series["python -c pass"].get_values(),
            "import_keras": keras.get_values(),
            "commands": {name: bench.get_values() for name, bench in series.items()},
            "environment_as_given": {"python -c pass": given_rounds.times[0], "archdsl check": given_rounds.times[1]},
            "probes": probes,
        }
    )


def probe_commands(report: Report, commands, env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Run each command twice in fresh interpreters (PROBE); a target row: no framework imported."""
    runs = report.plan.breakdown_runs
    report.progress(f"cold start: probing imports and phases, {runs} runs per command")
    probes: dict[str, list[dict[str, Any]]] = {}
    for name, cli in commands:
        probes[name] = []
        for _ in range(runs):
            process = subprocess.run(
                [PYTHON, "-c", PROBE, json.dumps(cli), json.dumps(FRAMEWORKS)],
                cwd=report.root,
                env=env,
                capture_output=True,
                text=True,
            )
            if process.returncode != 0:
                raise RuntimeError(f"probe of {name} failed: {process.stderr.strip().splitlines()[-1:]}")
            probes[name].append(json.loads(process.stdout.strip().splitlines()[-1]))

    imports = new_table(
        "Frameworks imported by each command (sys.modules after archdsl.cli.main([...]) in a fresh process)",
        ("command", "left"),
        "exit status",
        "modules loaded",
        ("third-party packages loaded", "left"),
        ("tensorflow / keras / torch / numpy", "left"),
        "result",
    )
    for name, _cli in commands:
        first = probes[name][0]
        heavy = sorted({f for p in probes[name] for f in p["frameworks"]})
        ok = not heavy and all(rc == 0 for p in probes[name] for rc in p["rc"])
        result = report.target("cold start", f"{name}: imports no framework", ", ".join(heavy) or "none", "none", ok)
        imports.add_row(
            escape(name),
            "/".join(str(rc) for rc in first["rc"]),
            str(first["modules"]),
            ", ".join(first["third_party"]),
            ", ".join(heavy) or "none",
            result,
        )
    report.console.print(imports)
    return probes


def print_phases(report: Report, names: list[str], base: float, measured: dict[str, float], probes) -> None:
    phases = new_table(
        "Where the wall time of one command goes (medians)",
        ("phase", "left"),
        *[escape(name) for name in names],
        caption="The first command includes its lazy imports, loading the parser and rendering the output; "
        "'again' is the same command a second time in the same process.",
    )
    rows = {
        "interpreter start-up (python -c pass)": [base] * len(names),
        "import archdsl.cli": [median([p["import"] for p in probes[n]]) for n in names],
        "first command (parse, lazy imports, output)": [median([p["first"] for p in probes[n]]) for n in names],
        "the same command again, warm": [median([p["again"] for p in probes[n]]) for n in names],
    }
    for label, values in rows.items():
        phases.add_row(label, *[fmt_time(v) for v in values])
    phases.add_row(
        "start-up + import + first command",
        *[fmt_time(sum(rows[label][i] for label in list(rows)[:3])) for i in range(len(names))],
    )
    phases.add_row("measured wall time (table above)", *[fmt_time(measured[name]) for name in names])
    report.console.print(phases)
