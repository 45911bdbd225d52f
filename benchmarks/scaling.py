"""Section 2, scaling: `archdsl.parse` (the check) and `archdsl.generate` on specs of 10 to 10,000 layers.

In-process, parser and code generators warmed on a small spec first, best of `scale_best_of`
rounds; rounds outside, sizes inside, so that a slow spell of the machine falls on every size
and not on one (the target is the ratio of the 10,000-layer time to the 1,000-layer one).
Peak Python memory is tracemalloc's. Then, for each operation in the style where it scales
worst, the garbage collector's part and the functions that grow fastest (cProfile).
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import REPO, Report, fmt_mib, fmt_ratio, fmt_time, new_table, profile_call
from rich.markup import escape

SCALING_RATIO_MAX = 12.0  # the target for 10x the layers
SCALING_10K_CHECK_MAX_S = 1.0
OPERATIONS = ("check", "generate keras", "generate torch")

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


def size_label(layers: int) -> str:
    return f"{layers // 1000}k" if layers >= 1000 and layers % 1000 == 0 else str(layers)


def timings(report: Report, style: str, texts: dict[int, str]) -> dict[int, dict[str, float]]:
    """Best time of each operation at each size, and the pyperf record of every round."""
    import archdsl

    rounds: dict[tuple[int, str], list[float]] = {(size, op): [] for size in texts for op in OPERATIONS}
    for round_ in range(report.plan.scale_best_of):
        report.progress(f"scaling: {style}, round {round_ + 1} of {report.plan.scale_best_of}")
        for size, text in texts.items():
            gc.collect()
            start = time.perf_counter()
            program = archdsl.parse(text)
            rounds[size, "check"].append(time.perf_counter() - start)
            model = program.model()
            for target in ("keras", "torch"):
                gc.collect()
                start = time.perf_counter()
                archdsl.generate(model, target)
                rounds[size, f"generate {target}"].append(time.perf_counter() - start)
            del program, model
    best: dict[int, dict[str, float]] = {size: {} for size in texts}
    for (size, op), values in rounds.items():
        bench = report.record(f"scaling: {style}, {op}, {size} layers", values)
        best[size][op] = min(bench.get_values())
    return best


def memory(text: str) -> dict[str, float]:
    """tracemalloc's peaks: during the check, what the checked model keeps, during generation."""
    import archdsl

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
    found = {
        "layers": len(model.layers),
        "lines": text.count("\n"),
        "bytes": len(text.encode()),
        "check peak": check_peak,
        "retained": retained,
        "generate peak": generate_peak,
    }
    del program, model
    gc.collect()
    return found


def section_scaling(report: Report) -> None:
    import archdsl

    plan = report.plan
    warm = archdsl.parse("input 64 -> dense 64 relu -> dense 10").model()  # the parser is warm before any timing
    for target in ("keras", "torch"):  # and so are the code generators (templates loaded, compiled)
        archdsl.generate(warm, target)
    results: dict[str, dict[int, dict[str, float]]] = {}
    for style, make in STYLES.items():
        texts = {size: make(size) for size in plan.scale_sizes}
        results[style] = timings(report, style, texts)
        report.progress(f"scaling: {style}, memory (tracemalloc)")
        for size, text in texts.items():
            results[style][size].update(memory(text))

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
    report.console.print(table)
    print_targets(report, results)
    report.data["scaling"] = {style: {str(k): v for k, v in by_size.items()} for style, by_size in results.items()}
    diagnose_scaling(report, results)


def print_targets(report: Report, results: dict[str, dict[int, dict[str, float]]]) -> None:
    small, large = report.plan.scale_compared
    ratio_name = f"{size_label(large)} ÷ {size_label(small)} layers"
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
        for operation in OPERATIONS:
            a, b = by_size[small][operation], by_size[large][operation]
            ratio = b / a
            result = report.target(
                "scaling",
                f"{style}: {operation}, {ratio_name}",
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
            f"{style}: check of {size_label(large)} layers",
            fmt_time(check),
            f"< {SCALING_10K_CHECK_MAX_S:g} s",
            check < SCALING_10K_CHECK_MAX_S,
        )
        targets.add_row(style, "check, absolute", "", fmt_time(check), "", f"< {SCALING_10K_CHECK_MAX_S:g} s", result)
    report.console.print(targets)


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


def diagnose_scaling(report: Report, results) -> None:
    """For each operation, in the style where it scales worst: the GC's part, and which functions grow fastest."""
    import archdsl

    small, large = report.plan.scale_compared
    table = new_table(
        f"Why {large:,} layers cost more than 10× {small:,}: each operation in the style where it scales worst",
        ("operation", "left"),
        ("style", "left"),
        "ratio",
        "ratio, GC off",
        f"GC's part at {large:,}",
        (f"largest costs at {large:,} layers (cProfile self time, GC off): share, own ratio to {small:,}", "left"),
        caption="A function whose own ratio is well above 10 is what makes the operation superlinear; 'GC's part' "
        "is the time the cyclic garbage collector adds (best with it on minus best with it off).",
    )
    diagnosis = {}
    for operation in OPERATIONS:
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
        off = {size: best_of_without_gc(calls[size], report.plan.scale_best_of) for size in (small, large)}
        stats = {size: profile_call(calls[size]) for size in (small, large)}
        self_times = {size: {k: v[2] for k, v in stats[size].stats.items()} for size in (small, large)}
        total = sum(self_times[large].values())
        lines = []
        for key, value in sorted(self_times[large].items(), key=lambda item: -item[1])[:4]:
            own = value / self_times[small][key] if self_times[small].get(key) else float("nan")
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
        diagnosis[operation] = {
            "style": style,
            "gc_on": {str(k): v for k, v in on.items()},
            "gc_off": {str(k): v for k, v in off.items()},
            "top": lines,
        }
    report.console.print(table)
    report.data["scaling_diagnosis"] = diagnosis
