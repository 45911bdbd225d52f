"""archdsl's performance report: every figure beside a baseline measured in the same run.

    .venv/bin/python benchmarks/run.py [--quick] [--only SECTION[,SECTION...]] [--strict]
        [--json PATH] [--root DIR]

Sections (names for --only):

1. ``coldstart``  wall time of ``python -m archdsl check / generate --target torch / diff`` on
   examples/card_cnn.arch against ``python -c pass`` and ``python -c "import keras"`` (same
   interpreter); which modules the commands import (never a framework); where the time goes
   (interpreter, ``import archdsl.cli``, the first command, ``-X importtime``).
2. ``scaling``    ``archdsl.parse`` (the check) and ``archdsl.generate`` for both targets on
   generated specs of 10 to 10,000 layers in three styles (a plain chain, block calls, branches),
   in-process, best of 3 with the parser warm; peak Python memory (tracemalloc); for each
   operation, the garbage collector's part and the functions that grow fastest (cProfile).
3. ``alternative`` a 100-layer model built in Keras (construct + ``summary()``, Keras already
   imported) against ``archdsl.parse`` of the same spec; what that parse consists of (cProfile).
4. ``runtime``    forward pass of the models archdsl generates against the hand-written ones in
   benchmarks/reference_models.py (LeNet-5, a VGG-style stack, a bidirectional-GRU text model),
   PyTorch and Keras, batch 1 and 64, generated and reference runs interleaved, after checking
   that each reference has the generated model's parameter count and, with its weights, its
   outputs; page faults per call; an A/A control (the reference against a copy of itself).

Targets (from the performance issue) are checked in a PASS/FAIL column, and summarised at the
end. The report always exits 0 (it is a report, not a test) unless --strict is given: then it
exits 1 when a target fails or a section could not run.

Cold-start subprocesses run with a private bytecode cache (PYTHONPYCACHEPREFIX, created for the
run and filled by the warm-ups) so that they measure what an installed archdsl costs, whatever
PYTHONDONTWRITEBYTECODE says; one extra row measures the environment as given. Other processes
on the machine slow every figure: the header names the busy ones and the load average, and each
section prints the load average at its end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
FRAMEWORKS = ("tensorflow", "keras", "torch", "numpy")
SECTIONS = ("coldstart", "scaling", "alternative", "runtime")
SECTION_TITLES = {
    "coldstart": "1. Cold start",
    "scaling": "2. Scaling with the size of the spec",
    "alternative": "3. Against the alternative: building the model in Keras",
    "runtime": "4. Generated code at run time",
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
}

# Targets of the issue.
COLD_RATIO_MAX = 3.0
SCALING_RATIO_MAX = 12.0
SCALING_10K_CHECK_MAX_S = 1.0
ALTERNATIVE_SPEEDUP_MIN = 100.0
RUNTIME_RATIO_MAX = 1.05

COLD_SPEC = "examples/card_cnn.arch"
TEXT_STEPS = 100  # tokens per sample fed to the text model


@dataclass(frozen=True)
class Plan:
    cold_runs: int = 21
    cold_warmups: int = 2
    keras_import_runs: int = 5
    env_as_given_runs: int = 7
    breakdown_runs: int = 5
    importtime_runs: int = 5
    scale_sizes: tuple[int, ...] = (10, 100, 1000, 10_000)
    scale_best_of: int = 3
    alt_archdsl_runs: int = 30  # the rows timed in this process
    alt_keras_runs: int = 9  # rounds of the head-to-head: one Keras build each
    alt_parses_per_round: int = 100  # about as long as one Keras build: both sides see the same machine
    rt_warmup: int = 10
    rt_runs_batch1: int = 60
    rt_runs_batch64: int = 24
    rt_budget_s: float = 3.0  # per model, framework and batch: cheap calls get more runs
    rt_max_runs: int = 2000


FULL = Plan()
QUICK = Plan(
    cold_runs=5,
    cold_warmups=1,
    keras_import_runs=2,
    env_as_given_runs=3,
    breakdown_runs=2,
    importtime_runs=1,
    scale_best_of=1,
    alt_archdsl_runs=5,
    alt_keras_runs=2,
    alt_parses_per_round=3,
    rt_warmup=2,
    rt_runs_batch1=5,
    rt_runs_batch64=3,
    rt_budget_s=0.0,
)


# ---------------------------------------------------------------------------- the report


@dataclass
class Target:
    section: str
    name: str
    measured: str
    threshold: str
    status: str  # PASS, FAIL or ERROR
    note: str = ""


@dataclass
class Report:
    console: Console
    plan: Plan
    root: Path
    targets: list[Target] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def target(self, section: str, name: str, measured: str, threshold: str, ok: bool, note: str = "") -> str:
        status = "PASS" if ok else "FAIL"
        self.targets.append(Target(section, name, measured, threshold, status, note))
        return verdict(status)

    def error(self, section: str, error: BaseException) -> None:
        self.targets.append(Target(section, "the section ran", type(error).__name__, "no error", "ERROR", str(error)))

    def progress(self, message: str) -> None:
        print(f"  … {message}", file=sys.stderr, flush=True)


def verdict(status: str) -> str:
    colour = {"PASS": "green", "FAIL": "red", "ERROR": "red"}.get(status, "yellow")
    return f"[bold {colour}]{status}[/]"


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.1 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def fmt_ratio(ratio: float) -> str:
    if ratio < 0.1:
        return f"{ratio:.3f}×"
    if ratio >= 100:
        return f"{ratio:,.0f}×"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"


def fmt_mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.2f} MiB" if n_bytes < 10 * 2**20 else f"{n_bytes / 2**20:.1f} MiB"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def new_table(title: str, *columns: str | tuple[str, str], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAVY, title_justify="left", caption_justify="left")
    for column in columns:
        name, justify = column if isinstance(column, tuple) else (column, "right")
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float  # every CPU's non-idle time, steal excluded
    steal_s: float
    total_s: float
    own_s: float  # this process and the children it waited for
    wall: float


def cpu_snapshot() -> CpuSnapshot | None:
    """/proc/stat and os.times(): to tell how much CPU other processes took during a section."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    times = os.times()
    return CpuSnapshot(
        busy_s=(user + nice + system + irq + softirq) / tick,
        steal_s=steal / tick,
        total_s=sum(fields) / tick,
        own_s=times.user + times.system + times.children_user + times.children_system,
        wall=time.perf_counter(),
    )


def contention(before: CpuSnapshot | None, after: CpuSnapshot | None) -> tuple[str, float]:
    """A sentence, and the cores other processes kept busy on average between the two snapshots."""
    if before is None or after is None:
        return "other processes' CPU use unknown", 0.0
    wall = after.wall - before.wall
    others = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s)) / wall
    steal = 100 * (after.steal_s - before.steal_s) / max(after.total_s - before.total_s, 1e-9)
    return f"other processes used {others:.2f} of {cores()} cores on average; CPU steal {steal:.1f}%", others


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def busy_processes(interval: float = 0.5, threshold: float = 10.0) -> list[str]:
    """Other processes using more than `threshold` % of a core over `interval` s (Linux /proc)."""

    def sample() -> dict[int, tuple[int, str]]:
        found: dict[int, tuple[int, str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_text()
                command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            found[int(entry)] = (
                int(fields[11]) + int(fields[12]),
                command.strip() or raw[raw.index("(") : raw.rindex(")") + 1],
            )
        return found

    if not Path("/proc/self/stat").exists():
        return []
    ticks = os.sysconf("SC_CLK_TCK")
    before = sample()
    time.sleep(interval)
    after = sample()
    own = os.getpid()
    busy = []
    for pid, (cpu, command) in after.items():
        if pid == own or pid not in before:
            continue
        percent = 100.0 * (cpu - before[pid][0]) / ticks / interval
        if percent >= threshold:
            busy.append(f"pid {pid} {percent:.0f}% {command[:90]}")
    return busy


def git_state(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "archdsl", "grammars", "templates"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else " (clean)")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def native_stderr_silenced():
    """archdsl's own silencer of TensorFlow's import notices (imported late: --root may name another checkout)."""
    from archdsl.common.frameworks import native_stderr_silenced as silenced

    return silenced()


def import_frameworks(torch: bool = True):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with native_stderr_silenced():
        import keras
        import tensorflow as tf

        if torch:
            import torch as torch_module
    return keras, tf, (torch_module if torch else None)


# ---------------------------------------------------------------------------- 1. cold start


def subprocess_env(root: Path, pycache: str | None) -> dict[str, str]:
    """The environment of the timed commands: a bytecode cache of their own unless `pycache` is None."""
    env = dict(os.environ)
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    if root != REPO:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def run_timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    process = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        tail = process.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"`{' '.join(argv)}` exited with status {process.returncode}: {' / '.join(tail)}")
    return elapsed


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

IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")


def importtime_profile(argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int) -> dict[str, Any]:
    """Where the import time of a command goes, medians over `runs` runs of `python -X importtime`.

    `modules`: self time per module. `groups`: the whole import time split into archdsl's own
    modules (self time), each package or stdlib module that archdsl imports (cumulative: with all
    it imports in turn), the interpreter's own start-up imports, and those made later, while the
    command runs (lazy imports, which -X importtime shows at the top level).
    """
    per_module: dict[str, list[float]] = {}
    per_group: dict[str, list[float]] = {}
    pulls_in: dict[str, set[str]] = {}
    totals = []
    for run_index in range(runs):
        process = subprocess.run(
            [PYTHON, "-X", "importtime", *argv[1:]], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        entries = []
        for line in process.stderr.decode(errors="replace").splitlines():
            match = IMPORTTIME_LINE.match(line)
            if match:
                self_us, cumulative_us, indent, name = match.groups()
                entries.append((len(indent), name, int(self_us) / 1e6, int(cumulative_us) / 1e6))
        modules: dict[str, float] = {}
        groups: dict[str, float] = {}
        first_archdsl = next((i for i, e in enumerate(entries) if e[0] <= 1 and is_archdsl(e[1])), len(entries))
        # Each line is printed when its import ends, after those it caused: read backwards, a
        # line's parent is the nearest earlier-read line one level up.
        stack: list[tuple[int, str, str | None]] = []
        for index in range(len(entries) - 1, -1, -1):
            depth, name, self_s, cumulative_s = entries[index]
            modules[name] = modules.get(name, 0.0) + self_s
            while stack and stack[-1][0] >= depth:
                stack.pop()
            parent = stack[-1] if stack else None
            if is_archdsl(name):
                group = None
                groups["archdsl's own modules"] = groups.get("archdsl's own modules", 0.0) + self_s
            elif parent is not None and parent[2] is not None:
                group = parent[2]
                top = name.split(".")[0]
                if top != group.split()[0] and package_kind(top) in ("third party", "absent"):
                    pulls_in.setdefault(group, set()).add(top if package_kind(top) != "absent" else f"{top} (tried)")
            else:
                if parent is not None:  # imported by an archdsl module
                    group = name.split(".")[0] if package_kind(name.split(".")[0]) == "third party" else name
                elif index < first_archdsl:
                    group = "interpreter start-up (site, encodings, runpy, ...)"
                else:
                    group = name.split(".")[0] + " (lazy)"
                groups[group] = groups.get(group, 0.0) + cumulative_s
            stack.append((depth, name, group))
        totals.append(sum(modules.values()))
        for store, found in ((per_module, modules), (per_group, groups)):
            for name in set(store) | set(found):
                store.setdefault(name, [0.0] * run_index).append(found.get(name, 0.0))
    return {
        "total": median(totals),
        "modules": {k: median(v) for k, v in per_module.items()},
        "groups": {k: median(v) for k, v in per_group.items()},
        "pulls_in": {k: sorted(v) for k, v in pulls_in.items()},
    }


def is_archdsl(module: str) -> bool:
    return module == "archdsl" or module.startswith("archdsl.")


def package_kind(name: str) -> str:
    """archdsl, stdlib, third party, or absent (an optional import that failed: lark tries `regex`)."""
    import importlib.util

    if name == "archdsl":
        return "archdsl"
    if name in sys.stdlib_module_names or name.startswith("_"):
        return "stdlib"
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    return "third party" if found else "absent"


def section_coldstart(report: Report) -> None:
    plan, root, console = report.plan, report.root, report.console
    pycache = tempfile.mkdtemp(prefix="archdsl-bench-pycache-")
    try:
        _coldstart(report, plan, root, console, pycache)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


STDLIB_FLOOR = "import argparse, dataclasses, re"


def _coldstart(report: Report, plan: Plan, root: Path, console: Console, pycache: str) -> None:
    env = subprocess_env(root, pycache)
    spec = COLD_SPEC
    if not (root / spec).is_file():
        raise FileNotFoundError(root / spec)
    module = [PYTHON, "-m", "archdsl"]
    baseline = ("python -c pass", [PYTHON, "-c", "pass"])
    commands = [
        ("archdsl check", [*module, "check", spec], ["check", spec]),
        (
            "archdsl generate --target torch",
            [*module, "generate", spec, "--target", "torch"],
            ["generate", spec, "--target", "torch"],
        ),
        ("archdsl diff", [*module, "diff", spec], ["diff", spec]),
    ]
    script = Path(PYTHON).with_name("archdsl")
    extra = [("archdsl check (console script)", [str(script), "check", spec])] if script.exists() else []
    # The floor: the standard-library modules a Lark parser, a dataclass IR and an argparse CLI
    # import before archdsl does any work of its own.
    extra.append((f"floor: python -c {STDLIB_FLOOR!r}", [PYTHON, "-c", STDLIB_FLOOR]))
    timed = [baseline, *[(name, argv) for name, argv, _ in commands], *extra]

    report.progress(
        f"cold start: {plan.cold_warmups} warm-ups, then {plan.cold_runs} interleaved rounds of {len(timed)} commands"
    )
    for _ in range(plan.cold_warmups):
        for _name, argv in timed:
            run_timed(argv, env, root)
    times: dict[str, list[float]] = {name: [] for name, _ in timed}
    for round_ in range(plan.cold_runs):
        rotation = timed[round_ % len(timed) :] + timed[: round_ % len(timed)]
        for name, argv in rotation:
            times[name].append(run_timed(argv, env, root))

    report.progress(f"cold start: python -c 'import keras', 1 warm-up + {plan.keras_import_runs} runs")
    keras_argv = [PYTHON, "-c", "import keras"]
    run_timed(keras_argv, env, root)
    keras_times = [run_timed(keras_argv, env, root) for _ in range(plan.keras_import_runs)]

    # The environment as given (here PYTHONDONTWRITEBYTECODE may be set: archdsl compiled every run).
    report.progress(f"cold start: environment as given, {plan.env_as_given_runs} rounds")
    given = subprocess_env(root, None)
    given_times: dict[str, list[float]] = {"python -c pass": [], "archdsl check": []}
    run_timed(baseline[1], given, root)
    run_timed(commands[0][1], given, root)
    for _ in range(plan.env_as_given_runs):
        given_times["python -c pass"].append(run_timed(baseline[1], given, root))
        given_times["archdsl check"].append(run_timed(commands[0][1], given, root))

    base = median(times[baseline[0]])
    keras_median = median(keras_times)
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
            f'`python -c "import keras"` median {fmt_time(keras_median)} ({len(keras_times)} runs). '
            f"Bytecode cached in a private PYTHONPYCACHEPREFIX; commands interleaved round-robin after "
            f"{plan.cold_warmups} warm-up(s)."
        ),
    )
    table.add_row(
        "python -c pass",
        str(len(times[baseline[0]])),
        fmt_time(base),
        fmt_time(min(times[baseline[0]])),
        fmt_time(max(times[baseline[0]])),
        "—",
        "1.00×",
        "",
        "baseline",
        fmt_ratio(base / keras_median),
    )
    rows = {}
    for name, _argv, _cli in commands:
        value = median(times[name])
        ratio = value / base
        rows[name] = {"median": value, "ratio": ratio, "runs": times[name]}
        result = report.target(
            "cold start",
            f"{name}: ÷ python -c pass",
            fmt_ratio(ratio),
            f"≤ {COLD_RATIO_MAX:g}×",
            ratio <= COLD_RATIO_MAX,
            f"{fmt_time(value)} vs {fmt_time(base)}",
        )
        table.add_row(
            escape(name),
            str(len(times[name])),
            fmt_time(value),
            fmt_time(min(times[name])),
            fmt_time(max(times[name])),
            fmt_time(base),
            fmt_ratio(ratio),
            f"≤ {COLD_RATIO_MAX:g}×",
            result,
            fmt_ratio(value / keras_median),
        )
    for name, _argv in extra:
        value = median(times[name])
        table.add_row(
            escape(name),
            str(len(times[name])),
            fmt_time(value),
            fmt_time(min(times[name])),
            fmt_time(max(times[name])),
            fmt_time(base),
            fmt_ratio(value / base),
            "",
            "info",
            fmt_ratio(value / keras_median),
        )
    table.add_row(
        'python -c "import keras"',
        str(len(keras_times)),
        fmt_time(keras_median),
        fmt_time(min(keras_times)),
        fmt_time(max(keras_times)),
        fmt_time(base),
        fmt_ratio(keras_median / base),
        "",
        "baseline",
        "1.00×",
    )
    given_base = median(given_times["python -c pass"])
    given_check = median(given_times["archdsl check"])
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    table.add_row(
        f"archdsl check, environment as given (PYTHONDONTWRITEBYTECODE={flag or 'unset'})",
        str(plan.env_as_given_runs),
        fmt_time(given_check),
        fmt_time(min(given_times["archdsl check"])),
        fmt_time(max(given_times["archdsl check"])),
        fmt_time(given_base),
        fmt_ratio(given_check / given_base),
        "",
        "info",
        fmt_ratio(given_check / keras_median),
    )
    console.print(table)

    # Which modules the commands load, and where the time of one command goes.
    report.progress(f"cold start: probing imports and phases, {plan.breakdown_runs} runs per command")
    probe_commands = [
        *[(name, cli) for name, _argv, cli in commands],
        ("archdsl generate --target keras", ["generate", spec, "--target", "keras"]),
    ]
    probes: dict[str, list[dict[str, Any]]] = {}
    for name, cli in probe_commands:
        probes[name] = []
        for _ in range(plan.breakdown_runs):
            process = subprocess.run(
                [PYTHON, "-c", PROBE, json.dumps(cli), json.dumps(FRAMEWORKS)],
                cwd=root,
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
    for name, _cli in probe_commands:
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
    console.print(imports)

    phases = new_table(
        "Where the wall time of one command goes (medians)",
        ("phase", "left"),
        *[escape(name) for name, _argv, _cli in commands],
        caption="The first command includes its lazy imports, loading the parser and rendering the output; "
        "'again' is the same command a second time in the same process.",
    )
    phase_rows: dict[str, list[float]] = {"interpreter start-up (python -c pass)": [base] * len(commands)}
    for label, key in (
        ("import archdsl.cli", "import"),
        ("first command (parse, lazy imports, output)", "first"),
        ("the same command again, warm", "again"),
    ):
        phase_rows[label] = [median([p[key] for p in probes[name]]) for name, _argv, _cli in commands]
    for label, values in phase_rows.items():
        phases.add_row(label, *[fmt_time(v) for v in values])
    phases.add_row(
        "start-up + import + first command",
        *[
            fmt_time(
                base
                + phase_rows["import archdsl.cli"][i]
                + phase_rows["first command (parse, lazy imports, output)"][i]
            )
            for i in range(len(commands))
        ],
    )
    phases.add_row("measured wall time (table above)", *[fmt_time(rows[name]["median"]) for name, _a, _c in commands])
    console.print(phases)

    report.progress(f"cold start: python -X importtime, {plan.importtime_runs} runs per command")
    profiles = {name: importtime_profile(argv, env, root, plan.importtime_runs) for name, argv, _cli in commands}
    names = [name for name, _argv, _cli in commands]
    attributed = new_table(
        f"Import time, attributed (python -X importtime, median of {plan.importtime_runs} runs; time and share of "
        "all imports)",
        ("imported", "left"),
        ("kind", "left"),
        ("which pulls in", "left"),
        *[escape(name.removeprefix("archdsl ")) for name in names],
        caption="Totals: "
        + ", ".join(f"{escape(name)} {fmt_time(profiles[name]['total'])}" for name in names)
        + " (-X importtime's own overhead included, so more than the 'import archdsl.cli' phase above). Packages and "
        "stdlib modules count with everything they import; archdsl's modules count their own time only; (lazy): "
        "imported while the command runs, not when archdsl.cli is imported.",
    )
    every_group = {group for profile in profiles.values() for group in profile["groups"]}
    ranked = sorted(every_group, key=lambda g: -max(p["groups"].get(g, 0.0) for p in profiles.values()))
    shown, rest = ranked[:15], ranked[15:]
    for group in shown:
        if group.startswith("archdsl"):
            kind = "archdsl"
        elif group.startswith("interpreter"):
            kind = "python"
        else:
            kind = package_kind(group.split()[0].split(".")[0])
        pulls = sorted({p for profile in profiles.values() for p in profile["pulls_in"].get(group, [])})
        cells = []
        for name in names:
            value = profiles[name]["groups"].get(group, 0.0)
            cells.append(f"{fmt_time(value)} {100 * value / profiles[name]['total']:3.0f}%" if value else "—")
        attributed.add_row(escape(group), kind, escape(", ".join(pulls)), *cells)
    if rest:
        cells = []
        for name in names:
            value = sum(profiles[name]["groups"].get(group, 0.0) for group in rest)
            cells.append(f"{fmt_time(value)} {100 * value / profiles[name]['total']:3.0f}%")
        attributed.add_row(f"{len(rest)} others", "", "", *cells)
    console.print(attributed)
    check_profile = profiles[names[0]]
    slow = new_table(
        f"The slowest single modules to import for `archdsl check` (self time, median of {plan.importtime_runs})",
        ("module", "left"),
        "self time",
        "share",
    )
    for name, value in sorted(check_profile["modules"].items(), key=lambda item: -item[1])[:12]:
        slow.add_row(name, fmt_time(value), f"{100 * value / check_profile['total']:.0f}%")
    console.print(slow)

    report.data["coldstart"] = {
        "baseline_pass": times[baseline[0]],
        "import_keras": keras_times,
        "commands": {name: times[name] for name in times},
        "environment_as_given": given_times,
        "probes": probes,
        "importtime": profiles,
    }


# ---------------------------------------------------------------------------- 2. scaling

# Layers that keep a (64,) vector a (64,) vector, in turn.
FILLER = ("dense 64 relu", "layernorm", "dropout 0.1", "dense 64", "gelu", "batchnorm")

# stage = pair (unit 3 + dense + unit 3 = 7) + gelu + (dense) * 2 = 10 layers, blocks three deep.
BLOCKS = """\
block unit(d, rate=0.1) = dense d relu -> layernorm -> dropout rate
block pair(d) = unit d -> dense d -> unit d rate=0.2
block stage(d, n=2) = pair d -> gelu -> (dense (d) relu) * n
"""
BLOCK_CALL = "stage 64"
BLOCK_LAYERS = 10

# residual (dense, dense, add) + relu + a group with a nested group merged twice: 10 layers.
BRANCH_UNIT = (
    "residual( dense 64 relu -> dense 64 ) -> relu\n"
    "  -> ( dense 32 relu | dense 16 -> ( dense 16 | dense 16 gelu ) -> concat ) -> concat"
)
BRANCH_LAYERS = 10


def filler(count: int) -> list[str]:
    return [f"  -> {FILLER[i % len(FILLER)]}" for i in range(count)]


def spec_plain(layers: int) -> str:
    return "\n".join(["# a plain chain", "model Plain {", "  input 64", *filler(layers), "}", ""])


def spec_blocks(layers: int) -> str:
    calls, rest = divmod(layers, BLOCK_LAYERS)
    body = [f"  -> {BLOCK_CALL}"] * calls + filler(rest)
    return "\n".join(["# nested blocks called many times", BLOCKS, "model Blocks {", "  input 64", *body, "}", ""])


def spec_branches(layers: int) -> str:
    units, rest = divmod(layers, BRANCH_LAYERS)
    body = [f"  -> {BRANCH_UNIT}"] * units + filler(rest)
    return "\n".join(["# residuals and groups", "model Branches {", "  input 64", *body, "}", ""])


STYLES: dict[str, Callable[[int], str]] = {
    "plain chain": spec_plain,
    "block-heavy": spec_blocks,
    "branch-heavy": spec_branches,
}


def section_scaling(report: Report) -> None:
    import archdsl

    plan, console = report.plan, report.console
    warm = archdsl.parse("input 64 -> dense 64 relu -> dense 10").model()  # the parser is warm before any timing
    for target in ("keras", "torch"):  # and so are the code generators (templates loaded, compiled)
        archdsl.generate(warm, target)
    results: dict[str, dict[int, dict[str, float]]] = {}
    operations = ("check", "generate keras", "generate torch")
    for style, make in STYLES.items():
        texts = {size: make(size) for size in plan.scale_sizes}
        results[style] = {size: dict.fromkeys(operations, float("inf")) for size in plan.scale_sizes}
        # Rounds outside, sizes inside: a slow spell of the machine falls on every size, not on one.
        for round_ in range(plan.scale_best_of):
            report.progress(f"scaling: {style}, round {round_ + 1} of {plan.scale_best_of}")
            for size in plan.scale_sizes:
                best = results[style][size]
                gc.collect()
                start = time.perf_counter()
                program = archdsl.parse(texts[size])
                best["check"] = min(best["check"], time.perf_counter() - start)
                model = program.model()
                for target in ("keras", "torch"):
                    gc.collect()
                    start = time.perf_counter()
                    archdsl.generate(model, target)
                    best[f"generate {target}"] = min(best[f"generate {target}"], time.perf_counter() - start)
                del program, model
        report.progress(f"scaling: {style}, memory (tracemalloc)")
        for size in plan.scale_sizes:
            text = texts[size]
            gc.collect()
            tracemalloc.start()
            program = archdsl.parse(text)
            _current, check_peak = tracemalloc.get_traced_memory()
            model = program.model()
            gc.collect()
            retained, _ = tracemalloc.get_traced_memory()
            generate_peak = 0
            for target in ("keras", "torch"):
                tracemalloc.reset_peak()
                before, _ = tracemalloc.get_traced_memory()
                archdsl.generate(model, target)
                generate_peak = max(generate_peak, tracemalloc.get_traced_memory()[1] - before)
            tracemalloc.stop()
            results[style][size].update(
                {
                    "layers": len(model.layers),
                    "lines": text.count("\n"),
                    "bytes": len(text.encode()),
                    "check peak": check_peak,
                    "retained": retained,
                    "generate peak": generate_peak,
                }
            )
            del program, model
            gc.collect()

    table = new_table(
        f"Time (best of {plan.scale_best_of}, parser warm, in-process), peak Python memory (tracemalloc) per spec size",
        ("style", "left"),
        "layers",
        "spec",
        "check",
        "µs/layer",
        "generate keras",
        "generate torch",
        "peak, check",
        "model kept",
        "peak, generate",
        caption="check = archdsl.parse(text) (parse, expand, shape inference); generate = archdsl.generate(model, "
        "target) on the checked model; both warmed up on a small spec first. 'model kept' is what the checked "
        "Program holds after the parse; 'peak, generate' is the larger of the two targets, above what was held before.",
    )
    for style, by_size in results.items():
        for r in by_size.values():
            table.add_row(
                style,
                f"{r['layers']:,}",
                f"{r['lines']:,} lines",
                fmt_time(r["check"]),
                f"{1e6 * r['check'] / r['layers']:.0f}",
                fmt_time(r["generate keras"]),
                fmt_time(r["generate torch"]),
                fmt_mib(r["check peak"]),
                fmt_mib(r["retained"]),
                fmt_mib(r["generate peak"]),
            )
    console.print(table)

    small, large = 1000, 10_000
    targets = new_table(
        f"Scaling targets: {large:,} layers against {small:,} (the baseline), and the {large:,}-layer check",
        ("style", "left"),
        ("operation", "left"),
        f"{small:,} layers",
        f"{large:,} layers",
        "ratio",
        "target",
        "result",
    )
    for style, by_size in results.items():
        if small not in by_size or large not in by_size:
            continue
        for operation in ("check", "generate keras", "generate torch"):
            a, b = by_size[small][operation], by_size[large][operation]
            ratio = b / a
            result = report.target(
                "scaling",
                f"{style}: {operation}, 10k ÷ 1k layers",
                fmt_ratio(ratio),
                f"≤ {SCALING_RATIO_MAX:g}×",
                ratio <= SCALING_RATIO_MAX,
                f"{fmt_time(a)} → {fmt_time(b)}",
            )
            targets.add_row(
                style, operation, fmt_time(a), fmt_time(b), fmt_ratio(ratio), f"≤ {SCALING_RATIO_MAX:g}×", result
            )
        check = by_size[large]["check"]
        result = report.target(
            "scaling",
            f"{style}: check of 10k layers",
            fmt_time(check),
            f"< {SCALING_10K_CHECK_MAX_S:g} s",
            check < SCALING_10K_CHECK_MAX_S,
        )
        targets.add_row(style, "check, absolute", "", fmt_time(check), "", f"< {SCALING_10K_CHECK_MAX_S:g} s", result)
    console.print(targets)
    report.data["scaling"] = {style: {str(k): v for k, v in by_size.items()} for style, by_size in results.items()}
    if all(small in by_size and large in by_size for by_size in results.values()):
        diagnose_scaling(report, results, small, large)


def best_of_without_gc(fn: Callable[[], Any], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def profile_call(fn: Callable[[], Any]):
    """cProfile statistics of one call, the garbage collector off (its pauses land on random functions)."""
    import cProfile
    import pstats

    gc.collect()
    gc.disable()
    profiler = cProfile.Profile()
    try:
        profiler.runcall(fn)
    finally:
        gc.enable()
    return pstats.Stats(profiler)


def function_label(key: tuple, stats) -> str:
    """'archdsl/targets/torch.py:build', or a built-in with the function that called it most."""
    filename, line, name = key
    if filename == "~":
        name = name.removeprefix("<built-in method ").removeprefix("<method ").rstrip(">")
        callers = stats.stats[key][4]
        if callers:
            caller = max(callers, key=lambda k: callers[k][3] if isinstance(callers[k], tuple) else 0)
            name += f" (from {Path(caller[0]).stem}.{caller[2]})"
        return name
    short = filename
    if "site-packages/" in short:
        short = short.split("site-packages/")[-1]
    elif short.startswith(str(REPO) + os.sep):
        short = short[len(str(REPO)) + 1 :]
    return f"{short}:{name}"


def diagnose_scaling(report: Report, results, small: int, large: int) -> None:
    """For each operation, in the style where it scales worst: the GC's part, and which functions grow fastest."""
    import archdsl

    plan = report.plan
    table = new_table(
        f"Why {large:,} layers cost more than 10× {small:,}: each operation in the style where it scales worst",
        ("operation", "left"),
        ("style", "left"),
        "ratio",
        "ratio, GC off",
        f"GC's part at {large:,}",
        (
            f"largest costs at {large:,} layers (cProfile self time, GC off): share, own {large // small}k÷1k ratio",
            "left",
        ),
        caption="A function whose own ratio is well above 10 is what makes the operation superlinear; 'GC's part' "
        "is the time the cyclic garbage collector adds (best with it on minus best with it off).",
    )
    diagnosis = {}
    for operation in ("check", "generate keras", "generate torch"):
        style = max(results, key=lambda st: results[st][large][operation] / results[st][small][operation])
        report.progress(f"scaling: diagnosing {operation} ({style})")
        calls = {}
        for size in (small, large):
            text = STYLES[style](size)
            if operation == "check":
                calls[size] = lambda text=text: archdsl.parse(text)
            else:
                target = operation.split()[-1]
                model = archdsl.parse(text).model()
                calls[size] = lambda model=model, target=target: archdsl.generate(model, target)
        on = {size: results[style][size][operation] for size in (small, large)}
        off = {size: best_of_without_gc(calls[size], plan.scale_best_of) for size in (small, large)}
        stats = {size: profile_call(calls[size]) for size in (small, large)}
        self_times = {size: {k: v[2] for k, v in stats[size].stats.items()} for size in (small, large)}
        total = sum(self_times[large].values())
        top = sorted(self_times[large].items(), key=lambda item: -item[1])[:4]
        lines = []
        for key, value in top:
            own = value / self_times[small].get(key, float("nan")) if self_times[small].get(key) else float("nan")
            lines.append(f"{function_label(key, stats[large])}: {100 * value / total:.0f}%, ×{own:.1f}")
        gc_part = max(0.0, on[large] - off[large]) / on[large]
        table.add_row(
            operation,
            style,
            fmt_ratio(on[large] / on[small]),
            fmt_ratio(off[large] / off[small]),
            f"{100 * gc_part:.0f}%",
            escape("\n".join(lines)),
        )
        diagnosis[operation] = {"style": style, "gc_on": on, "gc_off": off, "top": lines}
    report.console.print(table)
    report.data["scaling_diagnosis"] = {
        op: {
            **d,
            "gc_on": {str(k): v for k, v in d["gc_on"].items()},
            "gc_off": {str(k): v for k, v in d["gc_off"].items()},
        }
        for op, d in diagnosis.items()
    }


# ---------------------------------------------------------------------------- 3. the alternative

DENSE_UNITS, DENSE_LAYERS = 64, 100


def dense_stack_spec() -> str:
    lines = ["model DenseStack {", f"  input {DENSE_UNITS}"]
    lines += [f"  -> dense {DENSE_UNITS} relu"] * (DENSE_LAYERS - 1)
    lines += ["  -> dense 10", "}", ""]
    return "\n".join(lines)


def timed(fn: Callable[[], Any], runs: int, setup: Callable[[], Any] | None = None) -> list[float]:
    """Wall times of `runs` calls, each after `setup` (not timed) and a full collection."""
    values = []
    for _ in range(runs):
        if setup is not None:
            setup()
        gc.collect()
        start = time.perf_counter()
        fn()
        values.append(time.perf_counter() - start)
    return values


def keras_dense_stack(keras: Any) -> Any:
    """The 100-layer stack written in Keras by hand, with its summary printed to nowhere."""
    inputs = keras.Input(shape=(DENSE_UNITS,))
    x = inputs
    for _ in range(DENSE_LAYERS - 1):
        x = keras.layers.Dense(DENSE_UNITS, activation="relu")(x)
    outputs = keras.layers.Dense(10)(x)
    net = keras.Model(inputs, outputs)
    with contextlib.redirect_stdout(io.StringIO()):
        net.summary()
    return net


# The headline comparison runs its two sides in processes of their own, taking turns (a
# hundred parses, then one Keras build, which take about as long, then the other way round),
# so that both meet the machine in the same state: this machine switches between speeds a
# factor of 1.8 apart for seconds at a time, and a process that has built Keras models (a
# larger heap), or has just run the scaling section, parses 15-50% slower, which a tool using
# archdsl instead of Keras would not pay.
ALTERNATIVE_WORKER_FLAG = "--alternative-worker"


def alternative_worker(role: str) -> None:
    """`run.py --alternative-worker parse|keras`: one line per request (a count), one JSON line of times back."""
    import archdsl

    text = dense_stack_spec()
    setup = None
    if role == "parse":
        call = lambda: archdsl.parse(text)  # noqa: E731
        count = archdsl.parse(text).model().params.keras
    else:
        keras, _tf, _torch = import_frameworks(torch=False)
        call, setup = (lambda: keras_dense_stack(keras)), keras.backend.clear_session
        count = keras_dense_stack(keras).count_params()
    call()  # warm
    print(json.dumps({"params": count}), flush=True)
    for line in sys.stdin:
        print(json.dumps(timed(call, int(line), setup)), flush=True)


class AlternativeWorker:
    def __init__(self, role: str, root: Path) -> None:
        argv = [sys.executable, str(Path(__file__).resolve()), ALTERNATIVE_WORKER_FLAG, role, "--root", str(root)]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self.process.stdout.readline()  # type: ignore[union-attr]
        if not ready:
            raise RuntimeError(f"the {role} worker did not start (see its error above)")
        self.params = json.loads(ready)["params"]

    def run(self, count: int) -> list[float]:
        self.process.stdin.write(f"{count}\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=60)


def section_alternative(report: Report) -> None:
    import archdsl

    plan, console = report.plan, report.console
    text = dense_stack_spec()
    program = archdsl.parse(text)  # warm
    model = program.model()
    assert len(model.layers) == DENSE_LAYERS, len(model.layers)

    def torch_by_hand():
        stack: list = []
        for _ in range(DENSE_LAYERS - 1):
            stack += [torch.nn.Linear(DENSE_UNITS, DENSE_UNITS), torch.nn.ReLU()]
        net = torch.nn.Sequential(*stack, torch.nn.Linear(DENSE_UNITS, 10))
        io.StringIO().write(f"{net}\n{sum(p.numel() for p in net.parameters())}")
        return net

    rounds, per_round = plan.alt_keras_runs, plan.alt_parses_per_round
    report.progress(
        f"alternative: {rounds} rounds of {per_round} x archdsl.parse and 1 x Keras, in two worker processes"
    )
    parse_times: list[float] = []
    keras_times: list[float] = []
    workers = [AlternativeWorker("parse", report.root), AlternativeWorker("keras", report.root)]
    try:
        parse_worker, keras_worker = workers
        assert parse_worker.params == keras_worker.params == model.params.keras, (
            parse_worker.params,
            keras_worker.params,
        )
        for i in range(rounds):
            turns = [(parse_worker, per_round, parse_times), (keras_worker, 1, keras_times)]
            for worker, count, store in turns if i % 2 == 0 else turns[::-1]:
                store.extend(worker.run(count))  # the other worker waits idle (its CPU time does not move)
    finally:
        for worker in workers:
            worker.close()

    # The rest for scale, in this process, after the frameworks are loaded.
    keras, _tf, torch = import_frameworks()
    torch_check = torch_by_hand()
    assert sum(p.numel() for p in torch_check.parameters()) == model.params.torch
    clear = keras.backend.clear_session
    parse_loaded_times = timed(lambda: archdsl.parse(text), plan.alt_archdsl_runs)
    generate_times = timed(lambda: archdsl.generate(archdsl.parse(text).model(), "keras"), plan.alt_archdsl_runs)
    build_times = timed(lambda: archdsl.build(archdsl.parse(text).model(), "keras"), plan.alt_keras_runs, clear)
    torch_by_hand()
    torch_times = timed(torch_by_hand, plan.alt_keras_runs)

    parse_median, keras_median = median(parse_times), median(keras_times)
    speedup = keras_median / parse_median
    table = new_table(
        f"A {DENSE_LAYERS}-layer dense stack ({model.params.keras:,} parameters): knowing its shapes and parameters",
        ("approach", "left"),
        ("what it does", "left"),
        "runs",
        "median",
        "÷ archdsl.parse",
        "target",
        "result",
        caption="Warm: everything imported and used once. The first two rows run in two worker processes "
        "taking turns (AB, BA, ...): archdsl.parse in one that never imports a framework, Keras in one of its "
        "own, each model built after keras.backend.clear_session() (not timed). The other rows run one after "
        "another in this process, after the frameworks are loaded. Every approach checks the same parameter "
        "count.",
    )
    table.add_row(
        "archdsl.parse(spec)",
        "parse, expand, every shape and parameter count",
        str(len(parse_times)),
        fmt_time(parse_median),
        "1.00×",
        "",
        "baseline",
    )
    result = report.target(
        "alternative",
        f"Keras build + summary ÷ archdsl.parse ({DENSE_LAYERS} layers)",
        fmt_ratio(speedup),
        f"≥ {ALTERNATIVE_SPEEDUP_MIN:g}×",
        speedup >= ALTERNATIVE_SPEEDUP_MIN,
        f"{fmt_time(keras_median)} vs {fmt_time(parse_median)}",
    )
    table.add_row(
        "Keras by hand",
        "functional API + model.summary() to a discarded stream",
        str(len(keras_times)),
        fmt_time(keras_median),
        fmt_ratio(speedup),
        f"≥ {ALTERNATIVE_SPEEDUP_MIN:g}×",
        result,
    )
    for label, what, values in (
        (
            "archdsl.parse, frameworks loaded",
            "the same, in a process that has imported Keras and PyTorch",
            parse_loaded_times,
        ),
        ("archdsl.parse + generate(keras)", "the Keras module's source text", generate_times),
        ("archdsl.build(model, 'keras')", "parse, generate, exec, a live keras.Model (no summary)", build_times),
        ("PyTorch by hand", "nn.Sequential + print(model) + parameter count", torch_times),
    ):
        table.add_row(
            label,
            what,
            str(len(values)),
            fmt_time(median(values)),
            fmt_ratio(median(values) / parse_median),
            "",
            "info",
        )
    console.print(table)

    # What the parse of those 100 layers consists of.
    stats = profile_call(lambda: archdsl.parse(text))
    by_module: dict[str, float] = {}
    for (filename, _line, _name), value in stats.stats.items():
        if filename == "~":
            group = "built-ins (str, re, dict, ... called from the modules above)"
        elif "site-packages/" in filename:
            group = filename.split("site-packages/")[-1].split("/")[0] + " (third party)"
        elif filename.startswith(str(REPO) + os.sep) or filename.startswith(str(report.root) + os.sep):
            group = str(Path(filename).relative_to(REPO if filename.startswith(str(REPO)) else report.root))
        elif filename.startswith("<"):
            group = f"{filename} (code made at run time: dataclass methods, ...)"
        else:
            stdlib = sysconfig.get_paths()["stdlib"]
            group = (filename[len(stdlib) + 1 :] if filename.startswith(stdlib) else Path(filename).name) + " (stdlib)"
        by_module[group] = by_module.get(group, 0.0) + value[2]
    total = sum(by_module.values())
    split = new_table(
        f"Where archdsl.parse of the {DENSE_LAYERS}-layer spec spends its time (cProfile self time by file, GC off)",
        ("file", "left"),
        "self time",
        "share",
        caption="cProfile's overhead inflates code that makes many small calls; the shares, not the times, are "
        "the point.",
    )
    for group, value in sorted(by_module.items(), key=lambda item: -item[1])[:10]:
        split.add_row(escape(group), fmt_time(value), f"{100 * value / total:.0f}%")
    console.print(split)
    report.data["alternative"] = {
        "archdsl_parse": parse_times,
        "archdsl_parse_frameworks_loaded": parse_loaded_times,
        "keras_by_hand": keras_times,
        "archdsl_generate_keras": generate_times,
        "archdsl_build_keras": build_times,
        "torch_by_hand": torch_times,
        "parse_profile_by_file": by_module,
    }


# ---------------------------------------------------------------------------- 4. run time

RUNTIME_MODELS = (
    ("lenet5", "LeNet-5", "examples/lenet5.arch"),
    ("vgg_small", "VGG-style", "examples/vgg_small.arch"),
    ("text_bigru", "BiGRU text", "examples/text_bigru.arch"),
)


def minor_faults() -> int:
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(
    first: Callable[[], Any], second: Callable[[], Any], warmup: int, min_runs: int, budget_s: float, max_runs: int
) -> tuple[list[float], list[float], list[int], list[int]]:
    """Alternate the two calls (AB, BA, ...) so that drift and cache effects fall on both alike.

    After the warm-up, as many rounds as fit in `budget_s` (the pace taken from the second half of
    the warm-up), at least `min_runs` and at most `max_runs`: cheap calls get many more samples.
    Also returns the minor page faults of each call (memory the call touched for the first time).
    """
    a_times: list[float] = []
    b_times: list[float] = []
    faults: tuple[list[int], list[int]] = ([], [])
    pace: list[float] = []
    gc.collect()
    gc.disable()
    try:
        i = 0
        runs = min_runs
        while i < warmup + runs:
            pair = ((first, a_times, 0), (second, b_times, 1))
            if i % 2:
                pair = pair[::-1]
            round_start = time.perf_counter()
            for fn, store, which in pair:
                faults_before = minor_faults()
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    store.append(elapsed)
                    faults[which].append(minor_faults() - faults_before)
            pace.append(time.perf_counter() - round_start)
            i += 1
            if i == warmup:
                per_round = median(pace[warmup // 2 :]) if pace else 0.0
                if per_round > 0:
                    runs = max(min_runs, min(max_runs, int(budget_s / per_round)))
    finally:
        gc.enable()
    return a_times, b_times, faults[0], faults[1]


def section_runtime(report: Report) -> None:
    import archdsl

    plan, root, console = report.plan, report.root, report.console
    keras, tf, torch = import_frameworks()
    import numpy as np

    sys.path.insert(0, str(HERE))
    with native_stderr_silenced():
        import reference_models

    threads = cores()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)

    def inputs(key: str, framework: str, batch: int):
        if key == "text_bigru":
            tokens = rng.integers(0, 20000, size=(batch, TEXT_STEPS))
            return torch.from_numpy(tokens).long() if framework == "torch" else tf.constant(tokens.astype("int32"))
        channels = 1 if key == "lenet5" else 3
        image = rng.standard_normal((batch, 32, 32, channels)).astype("float32")  # channels last
        if framework == "torch":
            return torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
        return tf.constant(image)

    def keras_call(net):
        @tf.function(reduce_retracing=True)
        def call(x):
            return net(x, training=False)

        return call

    checks = new_table(
        "The reference is the same model: parameters, and outputs with the generated model's weights copied in",
        ("model", "left"),
        ("framework", "left"),
        "generated params",
        "reference params",
        "max |Δ output|",
    )
    timing = new_table(
        "Forward pass: generated against hand-written (median per call)",
        ("model", "left"),
        ("framework", "left"),
        "batch",
        "runs",
        "generated",
        "reference",
        "ratio",
        "paired ratio IQR",
        "page faults per call",
        "target",
        "result",
        caption=(
            f"PyTorch: eval(), torch.inference_mode(), torch.set_num_threads({threads}). Keras: the same "
            "tf.function(lambda x: model(x, training=False)) for both, traced in the warm-up. Text model: "
            f"{TEXT_STEPS} tokens per sample. Warm-up {plan.rt_warmup} calls, then "
            + (
                f"as many as fit in {plan.rt_budget_s:g} s (at least {plan.rt_runs_batch1} at batch 1, "
                f"{plan.rt_runs_batch64} at 64, at most {plan.rt_max_runs})"
                if plan.rt_budget_s > 0
                else f"{plan.rt_runs_batch1} at batch 1, {plan.rt_runs_batch64} at 64"
            )
            + ", generated and reference alternating; page faults (minor, median per call, generated / reference) "
            "count the fresh memory a call touches; "
            "ratio = generated median ÷ reference median; the paired ratio IQR is the spread of call-by-call "
            "ratios (noise)."
        ),
    )
    results = []
    for key, title, path in RUNTIME_MODELS:
        model = archdsl.load(root / path).model()
        for framework in ("torch", "keras"):
            report.progress(f"run time: {title}, {framework}")
            if framework == "torch":
                torch.manual_seed(0)
                generated = archdsl.build(model, "torch").eval()
                reference = reference_models.TORCH_REFERENCES[key]().eval()
                count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
                gen_params, ref_params = count(generated), count(reference)
                assert gen_params == ref_params, f"{title}: generated {gen_params} vs reference {ref_params} parameters"
                state = reference.state_dict()
                assert [v.shape for v in state.values()] == [v.shape for v in generated.state_dict().values()]
                reference.load_state_dict(dict(zip(state, generated.state_dict().values(), strict=True)))
            else:
                keras.utils.set_random_seed(0)
                with native_stderr_silenced():
                    generated = archdsl.build(model, "keras")
                reference = reference_models.KERAS_REFERENCES[key]()
                gen_params, ref_params = generated.count_params(), reference.count_params()
                assert gen_params == ref_params, f"{title}: generated {gen_params} vs reference {ref_params} parameters"
                reference.set_weights(generated.get_weights())
            probe = inputs(key, framework, 4)
            if framework == "torch":
                with torch.inference_mode():
                    delta = (generated(probe) - reference(probe)).abs().max().item()
                run_gen = lambda x, net=generated: net(x)  # noqa: E731
                run_ref = lambda x, net=reference: net(x)  # noqa: E731
            else:
                delta = float(
                    np.abs(
                        np.asarray(generated(probe, training=False)) - np.asarray(reference(probe, training=False))
                    ).max()
                )
                run_gen, run_ref = keras_call(generated), keras_call(reference)
            assert delta <= 1e-5, f"{title} ({framework}): the reference computes something else (max |Δ| {delta})"
            checks.add_row(title, framework, f"{gen_params:,}", f"{ref_params:,}", f"{delta:.1e}")

            for batch, runs in ((1, plan.rt_runs_batch1), (64, plan.rt_runs_batch64)):
                x = inputs(key, framework, batch)
                context = torch.inference_mode() if framework == "torch" else contextlib.nullcontext()
                with context:
                    gen_times, ref_times, gen_faults, ref_faults = interleaved(
                        lambda x=x, f=run_gen: f(x),
                        lambda x=x, f=run_ref: f(x),
                        plan.rt_warmup,
                        runs,
                        plan.rt_budget_s,
                        plan.rt_max_runs,
                    )
                runs = len(gen_times)
                g, r = median(gen_times), median(ref_times)
                ratio = g / r
                low, high = quartiles([a / b for a, b in zip(gen_times, ref_times, strict=True)])
                result = report.target(
                    "run time",
                    f"{title}, {framework}, batch {batch}: generated ÷ reference",
                    fmt_ratio(ratio),
                    f"≤ {RUNTIME_RATIO_MAX:g}×",
                    ratio <= RUNTIME_RATIO_MAX,
                    f"{fmt_time(g)} vs {fmt_time(r)}",
                )
                timing.add_row(
                    title,
                    framework,
                    str(batch),
                    str(runs),
                    fmt_time(g),
                    fmt_time(r),
                    fmt_ratio(ratio),
                    f"{low:.2f}–{high:.2f}",
                    f"{median(gen_faults):,.0f} / {median(ref_faults):,.0f}",
                    f"≤ {RUNTIME_RATIO_MAX:g}×",
                    result,
                )
                results.append(
                    {
                        "model": key,
                        "framework": framework,
                        "batch": batch,
                        "generated": gen_times,
                        "reference": ref_times,
                        "generated_faults": gen_faults,
                        "reference_faults": ref_faults,
                        "params": gen_params,
                        "max_delta": delta,
                    }
                )
    console.print(checks)
    console.print(timing)

    # Noise control: two instances of the same hand-written model, timed the same way (A/A).
    control = new_table(
        "Noise control: the reference against a second instance of itself (A/A), timed the same way",
        ("model", "left"),
        ("framework", "left"),
        "batch",
        "runs",
        "instance 1",
        "instance 2",
        "ratio",
        "paired ratio IQR",
        caption="Any distance of this ratio from 1.00× is noise; a generated ÷ reference ratio no further from 1 "
        "than this says nothing either way.",
    )
    controls = []
    for key, title, batch, runs in (
        ("lenet5", "LeNet-5", 1, plan.rt_runs_batch1),
        ("vgg_small", "VGG-style", 64, plan.rt_runs_batch64),
    ):
        for framework in ("torch", "keras"):
            report.progress(f"run time: control, {title}, {framework}, batch {batch}")
            if framework == "torch":
                first, second = (reference_models.TORCH_REFERENCES[key]().eval() for _ in range(2))
                calls = (first, second)
            else:
                calls = tuple(keras_call(reference_models.KERAS_REFERENCES[key]()) for _ in range(2))
            x = inputs(key, framework, batch)
            context = torch.inference_mode() if framework == "torch" else contextlib.nullcontext()
            with context:
                a_times, b_times, _fa, _fb = interleaved(
                    lambda x=x, f=calls[0]: f(x),
                    lambda x=x, f=calls[1]: f(x),
                    plan.rt_warmup,
                    runs,
                    plan.rt_budget_s,
                    plan.rt_max_runs,
                )
            low, high = quartiles([a / b for a, b in zip(a_times, b_times, strict=True)])
            control.add_row(
                title,
                framework,
                str(batch),
                str(len(a_times)),
                fmt_time(median(a_times)),
                fmt_time(median(b_times)),
                fmt_ratio(median(a_times) / median(b_times)),
                f"{low:.2f}–{high:.2f}",
            )
            controls.append({"model": key, "framework": framework, "batch": batch, "a": a_times, "b": b_times})
    console.print(control)
    report.data["runtime"] = results
    report.data["runtime_control"] = controls


# ---------------------------------------------------------------------------- main

SECTION_FUNCTIONS = {
    "coldstart": section_coldstart,
    "scaling": section_scaling,
    "alternative": section_alternative,
    "runtime": section_runtime,
}
SECTION_LABELS = {"coldstart": "cold start", "scaling": "scaling", "alternative": "alternative", "runtime": "run time"}


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
    console = report.console
    busy = busy_processes()
    table = Table(
        box=None, show_header=False, title="archdsl performance report", title_justify="left", title_style="bold"
    )
    table.add_column(style="bold")
    table.add_column()
    import archdsl  # noqa: F401 - which archdsl is measured

    rows = [
        ("date", datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("mode", ("quick (smoke run: few repetitions)" if quick else "full") + f"; sections: {', '.join(sections)}"),
        ("archdsl", f"{sys.modules['archdsl'].__file__} ({git_state(report.root)})"),
        ("python", f"{platform.python_implementation()} {platform.python_version()} ({PYTHON})"),
        (
            "packages",
            ", ".join(f"{n} {package_version(n)}" for n in ("lark", "rich", "tensorflow", "keras", "torch", "numpy")),
        ),
        (
            "machine",
            f"{platform.platform()}; {cores()} cores usable ({os.cpu_count()} in all); "
            f"{platform.processor() or platform.machine()}",
        ),
        ("load average", load_average()),
        ("other busy processes", "\n".join(escape(line) for line in busy) if busy else "none seen (>10% of a core)"),
    ]
    for key, value in rows:
        table.add_row(key, escape(value) if key != "other busy processes" else value)
    console.print(table)
    report.data["header"] = dict(rows)
    report.data["header"]["busy"] = busy


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
    passed = len(report.targets) - len(failed)
    colour = "green" if not failed else "red"
    report.console.print(
        f"[bold {colour}]{passed} of {len(report.targets)} targets met[/]"
        + (f"; not met: {len(failed)}" if failed else "")
    )


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
    parser.add_argument("--json", metavar="PATH", help="also write every raw figure to PATH as JSON")
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        default=REPO,
        help="measure the archdsl checkout in DIR (default: this repository)",
    )
    parser.add_argument(ALTERNATIVE_WORKER_FLAG, choices=("parse", "keras"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.alternative_worker:
        if args.root.resolve() != REPO:
            sys.path.insert(0, str(args.root.resolve()))
        alternative_worker(args.alternative_worker)
        return 0
    try:
        sections = parse_sections(args.only)
    except ValueError as error:
        parser.error(str(error))
    root = args.root.resolve()
    if root != REPO:
        sys.path.insert(0, str(root))
    width = None if sys.stdout.isatty() else 160
    console = Console(highlight=False, width=width)
    report = Report(console=console, plan=QUICK if args.quick else FULL, root=root)
    report.data["plan"] = asdict(report.plan)

    print_header(report, sections, args.quick)
    for name in sections:
        console.rule(f"[bold]{SECTION_TITLES[name]}")
        started = time.perf_counter()
        snapshot = cpu_snapshot()
        try:
            SECTION_FUNCTIONS[name](report)
        except Exception as error:  # noqa: BLE001 - a report goes on to the next section
            report.error(SECTION_LABELS[name], error)
            console.print(
                f"[bold red]{SECTION_TITLES[name]} could not run:[/] {escape(f'{type(error).__name__}: {error}')}"
            )
            console.print(escape("".join(traceback.format_exception(error)[-4:])), style="dim")
        busy, others = contention(snapshot, cpu_snapshot())
        report.data.setdefault("contention", {})[name] = busy
        if others > 0.25:
            console.print(
                f"[bold yellow]warning:[/] other processes kept {others:.2f} cores busy during this section: "
                "its figures are slowed and noisier than on a quiet machine"
            )
        console.print(
            f"[dim]{SECTION_TITLES[name]}: {time.perf_counter() - started:.0f} s; {busy}; "
            f"load average now {load_average()}[/]"
        )
    console.rule("[bold]Summary")
    print_summary(report)
    if args.json:
        report.data["targets"] = [asdict(t) for t in report.targets]
        Path(args.json).write_text(json.dumps(report.data, indent=1, default=str) + "\n")
    if args.strict and any(t.status != "PASS" for t in report.targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
