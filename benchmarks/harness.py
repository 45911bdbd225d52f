"""What every section of the performance report shares: the plan, the report, the sampler, formatting.

Statistics, the record of every timed series and the machine's description (machine.py) come
from pyperf (https://pyperf.readthedocs.io): each series becomes a `pyperf.Benchmark` (with pyperf's system
metadata, as pyperf's own workers collect it), the report reads its median and quartiles from
there, and `--pyperf PATH` writes them all as a pyperf suite, so that two runs compare with
`python -m pyperf compare_to before.json after.json` and one is examined with `pyperf stats`,
`pyperf hist` or `pyperf check`.

What pyperf does not give, and is kept here, small:

- `rotated_rounds`, the sampler. pyperf's Runner times one benchmark after another, each in
  worker processes of its own; every figure of this report is a ratio to a baseline (`python -c
  pass`, the hand-written model, a 1,000-layer spec), and this machine switches between speeds
  1.8x apart for seconds at a time, so a ratio is only worth quoting when both sides are timed
  in turns, call by call, within one round (AB, BA, ...). The paired ratios then give their own
  noise measure (their quartiles), which a ratio of two separately taken medians cannot.
- PASS/FAIL against the issue's targets, and the tables (`Report`).

machine.py describes the machine and what else ran on it.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # imported where used: the parse worker of alternative.py stays as light as archdsl's users
    import pyperf

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable


@dataclass(frozen=True)
class Plan:
    """How many repetitions each section makes: FULL for figures to quote, QUICK to see that it runs."""

    cold_runs: int = 21
    cold_warmups: int = 2
    keras_import_runs: int = 5
    keras_import_warmups: int = 1
    env_as_given_runs: int = 7
    breakdown_runs: int = 5
    importtime_runs: int = 5
    scale_sizes: tuple[int, ...] = (10, 100, 1000, 10_000)
    scale_compared: tuple[int, int] = (1000, 10_000)  # the target is the ratio of the second to the first
    scale_best_of: int = 3
    alt_archdsl_runs: int = 30  # the rows timed in the report's process
    alt_keras_runs: int = 9  # rounds of the head-to-head: one Keras build each
    alt_parses_per_round: int = 100  # about as long as one Keras build: both sides see the same machine
    rt_warmup: int = 10
    rt_runs_batch1: int = 60
    rt_runs_batch64: int = 24
    rt_budget_s: float = 3.0  # per model, framework and batch: cheap calls get more runs
    rt_max_runs: int = 2000
    rt_controls: int = 2  # A/A noise controls: LeNet-5 at batch 1, then VGG-style at batch 64
    lsp_changes: int = 40  # edits of the 1,000-layer file, each timed to its diagnostics
    lsp_hovers: int = 60
    st_warmup: int = 5  # rounds of structured against flat code (section 6)
    st_runs: int = 20
    st_budget_s: float = 4.0  # per model, framework and batch: cheap calls get more runs
    st_max_runs: int = 2000
    st_controls: int = 2  # A/A noise controls: the transformer at batch 1, then ResNet-20 at 32


FULL = Plan()
# A smoke run (tests/test_benchmarks.py runs it): every section and every target row, one of
# everything, scaling on sizes a tenth of the real ones. Not figures to quote.
QUICK = Plan(
    cold_runs=3,
    cold_warmups=1,
    keras_import_runs=1,
    keras_import_warmups=0,
    env_as_given_runs=1,
    breakdown_runs=1,
    importtime_runs=1,
    scale_sizes=(10, 100, 1000),
    scale_compared=(100, 1000),
    scale_best_of=1,
    alt_archdsl_runs=3,
    alt_keras_runs=2,
    alt_parses_per_round=3,
    rt_warmup=2,
    rt_runs_batch1=3,
    rt_runs_batch64=2,
    rt_budget_s=0.0,
    rt_controls=1,
    lsp_changes=3,
    lsp_hovers=3,
    st_warmup=1,
    st_runs=2,
    st_budget_s=0.0,
    st_controls=1,
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
    series: list[pyperf.Benchmark] = field(default_factory=list)  # every timed series, for --pyperf

    def target(self, section: str, name: str, measured: str, threshold: str, ok: bool, note: str = "") -> str:
        status = "PASS" if ok else "FAIL"
        self.targets.append(Target(section, name, measured, threshold, status, note))
        return verdict(status)

    def error(self, section: str, error: BaseException) -> None:
        self.targets.append(Target(section, "the section ran", type(error).__name__, "no error", "ERROR", str(error)))

    def record(self, name: str, values: Sequence[float], warmups: Sequence[float] = ()) -> pyperf.Benchmark:
        """A timed series (seconds per call) as a pyperf benchmark, kept for `--pyperf`."""
        import pyperf

        run = pyperf.Run(
            [max(v, 1e-9) for v in values],  # pyperf wants every value > 0; a timer can tie
            warmups=[(1, w) for w in warmups] or None,
            metadata={"name": name, "unit": "second", "loops": 1},
        )
        bench = pyperf.Benchmark([run])
        self.series.append(bench)
        return bench

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


def paired_quartiles(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Quartiles of the call-by-call ratios a[i] / b[i]: the noise a paired ratio carries."""
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    if len(ratios) < 4:
        return min(ratios), max(ratios)
    q = statistics.quantiles(ratios, n=4, method="inclusive")
    return q[0], q[2]


def new_table(title: str, *columns: str | tuple[str, str], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAVY, title_justify="left", caption_justify="left")
    for column in columns:
        name, justify = column if isinstance(column, tuple) else (column, "right")
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


def control_table(baseline: str, compared: str) -> Table:
    """The table of an A/A noise control: `baseline` against a second instance of itself."""
    return new_table(
        f"Noise control: {baseline} against a second instance of itself (A/A), timed the same way",
        ("model", "left"),
        ("framework", "left"),
        "batch",
        "runs",
        "instance 1",
        "instance 2",
        "ratio",
        "paired ratio IQR",
        caption=f"Any distance of this ratio from 1.00× is noise; a {compared} ratio no further from 1 "
        "than this says nothing either way.",
    )


def control_row(table: Table, title: str, framework: str, batch: int, a: Sequence[float], b: Sequence[float]) -> dict:
    """One A/A row of `control_table`; returns the raw figures for the report's JSON."""
    low, high = paired_quartiles(a, b)
    table.add_row(
        title,
        framework,
        str(batch),
        str(len(a)),
        fmt_time(statistics.median(a)),
        fmt_time(statistics.median(b)),
        fmt_ratio(statistics.median(a) / statistics.median(b)),
        f"{low:.2f}–{high:.2f}",
    )
    return {"framework": framework, "batch": batch, "a": list(a), "b": list(b)}


# ---------------------------------------------------------------------------- the sampler


@dataclass
class Rounds:
    times: list[list[float]]  # per call, one value per round after the warm-up
    warmups: list[list[float]]
    faults: list[list[int]]  # minor page faults of this process per call: memory touched for the first time


def minor_faults() -> int:
    try:
        import resource
    except ImportError:  # not on Unix
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def rotated_rounds(
    calls: Sequence[Callable[[], Any]], warmup: int, min_rounds: int, budget_s: float = 0.0, max_rounds: int = 0
) -> Rounds:
    """Each round calls every one of `calls` once, in an order rotated by one each round (AB, BA, ...).

    Drift, a slow spell of the machine and cache effects thus fall on every call alike. After
    `warmup` rounds, `min_rounds` more; or, given `budget_s`, as many as fit in it at the pace
    of the second half of the warm-up (at most `max_rounds`): cheap calls get more samples.
    The garbage collector is paused throughout, so that its pauses land on no one call.
    """
    n = len(calls)
    result = Rounds([[] for _ in calls], [[] for _ in calls], [[] for _ in calls])
    pace: list[float] = []
    rounds = min_rounds
    gc.collect()
    gc.disable()
    try:
        i = 0
        while i < warmup + rounds:
            round_start = time.perf_counter()
            for which in [(i + k) % n for k in range(n)]:
                faults_before = minor_faults()
                start = time.perf_counter()
                calls[which]()
                elapsed = time.perf_counter() - start
                if i < warmup:
                    result.warmups[which].append(elapsed)
                else:
                    result.times[which].append(elapsed)
                    result.faults[which].append(minor_faults() - faults_before)
            pace.append(time.perf_counter() - round_start)
            i += 1
            if i == warmup and budget_s > 0 and pace:
                per_round = statistics.median(pace[warmup // 2 :])
                if per_round > 0:
                    rounds = max(min_rounds, min(max_rounds, int(budget_s / per_round)))
    finally:
        gc.enable()
    return result


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


# ---------------------------------------------------------------------------- the frameworks


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
