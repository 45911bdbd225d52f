"""Section 3, against the alternative: a 100-layer model built in Keras against `archdsl.parse`.

The headline comparison runs its two sides in two worker processes that take turns (a
hundred parses, then one Keras build, which take about as long, then the other way round),
so that both meet the machine in the same state: this machine switches between speeds a
factor of 1.8 apart for seconds at a time, and a process that has built Keras models (a
larger heap), or has just run the scaling section, parses 15-50% slower, which a tool using
archdsl instead of Keras would not pay. pyperf's workers run one benchmark at a time, never
two in turns, hence this small protocol: `python benchmarks/alternative.py parse|keras
[ROOT]` reads one count per line and answers with one JSON line of times. The worker not on
turn waits on its pipe and uses no CPU.

The other rows run in the report's own process, after the frameworks are loaded.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from harness import REPO, Report, fmt_ratio, fmt_time, import_frameworks, new_table, profile_call, timed
from rich.markup import escape

ALTERNATIVE_SPEEDUP_MIN = 100.0  # the target: knowing the shapes 100x faster than building in Keras
DENSE_UNITS, DENSE_LAYERS = 64, 100


def dense_stack_spec() -> str:
    lines = ["model DenseStack {", f"  input {DENSE_UNITS}"]
    lines += [f"  -> dense {DENSE_UNITS} relu"] * (DENSE_LAYERS - 1)
    lines += ["  -> dense 10", "}", ""]
    return "\n".join(lines)


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


def torch_dense_stack(torch: Any) -> Any:
    """The same stack in PyTorch by hand, printed and counted to nowhere."""
    stack: list = []
    for _ in range(DENSE_LAYERS - 1):
        stack += [torch.nn.Linear(DENSE_UNITS, DENSE_UNITS), torch.nn.ReLU()]
    net = torch.nn.Sequential(*stack, torch.nn.Linear(DENSE_UNITS, 10))
    io.StringIO().write(f"{net}\n{sum(p.numel() for p in net.parameters())}")
    return net


def worker(role: str) -> None:
    """The worker's side of the protocol (see the module docstring)."""
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


class Worker:
    """A worker process, started at once; `ready()` waits until it has warmed up."""

    def __init__(self, role: str, root: Path) -> None:
        self.role = role
        argv = [sys.executable, str(Path(__file__).resolve()), role, str(root)]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ready(self) -> int:
        """The parameter count the worker found for the model."""
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the {self.role} worker did not start (see its error above)")
        return json.loads(line)["params"]

    def run(self, count: int) -> list[float]:
        self.process.stdin.write(f"{count}\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        return json.loads(self.process.stdout.readline())  # type: ignore[union-attr]

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=60)


def head_to_head(report: Report, params: int) -> tuple[list[float], list[float], tuple[Any, Any, Any]]:
    """Parse times and Keras times, from the two workers taking turns (AB, BA, ...); and the frameworks.

    This process loads the frameworks while the workers start (they take as long), and waits
    for the turns on its pipes, using no CPU.
    """
    rounds, per_round = report.plan.alt_keras_runs, report.plan.alt_parses_per_round
    report.progress(
        f"alternative: {rounds} rounds of {per_round} x archdsl.parse and 1 x Keras, in two worker processes"
    )
    parse_times: list[float] = []
    keras_times: list[float] = []
    workers = [Worker("parse", report.root), Worker("keras", report.root)]
    try:
        frameworks = import_frameworks()
        parse_worker, keras_worker = workers
        found = [side.ready() for side in workers]
        assert found == [params, params], (found, params)
        for i in range(rounds):
            turns = [(parse_worker, per_round, parse_times), (keras_worker, 1, keras_times)]
            for side, count, store in turns if i % 2 == 0 else turns[::-1]:
                store.extend(side.run(count))
    finally:
        for side in workers:
            side.close()
    return parse_times, keras_times, frameworks


def section_alternative(report: Report) -> None:
    import archdsl

    plan = report.plan
    text = dense_stack_spec()
    model = archdsl.parse(text).model()  # warm
    assert len(model.layers) == DENSE_LAYERS, len(model.layers)
    # The rest for scale, in this process, after the frameworks are loaded.
    parse_times, keras_times, (keras, _tf, torch) = head_to_head(report, model.params.keras)
    assert sum(p.numel() for p in torch_dense_stack(torch).parameters()) == model.params.torch
    others = [
        (
            "archdsl.parse, frameworks loaded",
            "the same, in a process that has imported Keras and PyTorch",
            timed(lambda: archdsl.parse(text), plan.alt_archdsl_runs),
        ),
        (
            "archdsl.parse + generate(keras)",
            "the Keras module's source text",
            timed(lambda: archdsl.generate(archdsl.parse(text).model(), "keras"), plan.alt_archdsl_runs),
        ),
        (
            "archdsl.build(model, 'keras')",
            "parse, generate, exec, a live keras.Model (no summary)",
            timed(
                lambda: archdsl.build(archdsl.parse(text).model(), "keras"),
                plan.alt_keras_runs,
                keras.backend.clear_session,
            ),
        ),
        (
            "PyTorch by hand",
            "nn.Sequential + print(model) + parameter count",
            timed(lambda: torch_dense_stack(torch), plan.alt_keras_runs),
        ),
    ]

    parse_median = report.record("alternative: archdsl.parse", parse_times).median()
    keras_median = report.record("alternative: Keras by hand", keras_times).median()
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
    what = "parse, expand, every shape and parameter count"
    table.add_row("archdsl.parse(spec)", what, str(len(parse_times)), fmt_time(parse_median), "1.00×", "", "baseline")
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
    for label, does, values in others:
        value = report.record(f"alternative: {label}", values).median()
        table.add_row(label, does, str(len(values)), fmt_time(value), fmt_ratio(value / parse_median), "", "info")
    report.console.print(table)
    by_module = print_parse_profile(report, text)
    report.data["alternative"] = {
        "archdsl_parse": parse_times,
        "keras_by_hand": keras_times,
        **{key: values for key, (_l, _d, values) in zip(OTHER_KEYS, others, strict=True)},
        "parse_profile_by_file": by_module,
    }


OTHER_KEYS = ("archdsl_parse_frameworks_loaded", "archdsl_generate_keras", "archdsl_build_keras", "torch_by_hand")


def print_parse_profile(report: Report, text: str) -> dict[str, float]:
    """What the parse of those 100 layers consists of, by file (cProfile self time)."""
    import archdsl

    stats = profile_call(lambda: archdsl.parse(text))
    stdlib = sysconfig.get_paths()["stdlib"]
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
    report.console.print(split)
    return by_module


if __name__ == "__main__":
    sys.path.insert(0, str(Path(sys.argv[2]).resolve()))  # the checkout measured
    worker(sys.argv[1])
