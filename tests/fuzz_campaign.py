"""A long fuzz campaign against archdsl, outside pytest (docs/fuzzing.md). From the repository root:

    .venv/bin/python -m tests.fuzz_campaign --count 100000 [--seed 0] [--mode programs|mutations|both]
        [--workers 2] [--failures-dir tests/fuzz_failures] [--no-minimize]

It lives with the tests because it is one: the same generators (tests/strategies.py) and the
same checks (tests/test_fuzz.py), run for longer than a test suite can wait.

Inputs come from the generators behind the Hypothesis strategies of tests/strategies.py
(plain functions of a `random.Random`, so the campaign and the tests share one implementation);
input i of a run is drawn from `random.Random(f"{seed}:{i}")`, so any input can be replayed
with `--replay I`. In `both` mode even inputs are valid programs, odd ones mutated texts.

Each input is checked as tests/test_fuzz.py checks it:

- parse gives a Program or an ArchError whose diagnostics lie inside the text, carry a known
  code and render, and whose rendered excerpt is the line the diagnostic points at; never any
  other exception;
- a generated (valid) program checks, and each model has the output shape the generator's own
  shape model predicts;
- every checked model generates code for both targets, or A601 for torch, and the code
  compiles (archdsl itself ast-parses every module it renders); for every 10th input a second
  parse and generation must give the same bytes;
- at the end a sample of programs is generated again in a fresh process with another
  PYTHONHASHSEED, which must give the same bytes.

It prints the inputs tried, the programs that checked, the modules that compiled, the failures
by kind and the rate, and saves the first few failing inputs of each kind (with a minimised
version) to --failures-dir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # as pytest has it: test_fuzz imports `strategies`

from strategies import as_archdsl, mutated_text, random_program, tokens_of  # noqa: E402
from test_fuzz import diagnostic_problems, warning_problems  # noqa: E402

import archdsl  # noqa: E402
from archdsl import ArchError  # noqa: E402
from archdsl.common.diagnostics import SOURCE_WIDTH  # noqa: E402
from archdsl.common.diagnostics import render as render_diagnostic  # noqa: E402

TARGETS = ("keras", "torch")
INPUT_TIMEOUT_S = 60
AGAIN_EVERY = 10  # every 10th input is parsed and generated twice (same bytes?)
KEEP_PER_KIND = 5
# Failure kinds that are bugs already reported, with the regression test that pins each down.
KNOWN: dict[str, str] = {}  # failure kinds of known, open bugs (none: the last three are fixed)


@dataclass
class Failure:
    kind: str  # e.g. 'crash:parse', 'diagnostic', 'render-line', 'compile', 'nondeterministic'
    detail: str
    trace: str = ""


@dataclass
class Outcome:
    index: int
    source: str  # 'program' or 'mutation'
    text: str
    filename: str
    parsed: bool = False
    models: int = 0
    compiled: int = 0
    refused: int = 0  # A601
    warnings: int = 0  # A701 and other warnings of checked programs
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    digests: list[str] | None = None


# ---------------------------------------------------------------- checking one input


def _trace_tail(limit: int = 6) -> str:
    return "".join(traceback.format_exc(limit=-limit).splitlines(keepends=True)[-2 * limit - 1 :])


def _shown_line(diagnostic, text: str) -> str | None:
    rendered = render_diagnostic(diagnostic, text).split("\n")
    if len(rendered) > 1 and rendered[1].startswith(f"{diagnostic.span.line} | "):
        return rendered[1][len(f"{diagnostic.span.line} | ") :]
    return None


def _is_window_of(shown: str | None, line: str) -> bool:
    """A long line is shown as a slice of it, with '...' on each side where it was cut."""
    if shown is None or len(line) <= SOURCE_WIDTH:
        return False
    inner = shown.removeprefix("...").removesuffix("...")
    if len(inner) != SOURCE_WIDTH:
        return False
    # A repeated pattern may match in several places: any position consistent with the '...' will do.
    return any(
        line[start : start + SOURCE_WIDTH] == inner
        and shown.startswith("...") == (start > 0)
        and shown.endswith("...") == (start + SOURCE_WIDTH < len(line))
        for start in range(len(line) - SOURCE_WIDTH + 1)
    )


def render_line_problems(text: str, diagnostics) -> list[str]:
    """The excerpt under each diagnostic must be the line (counted by '\\n') it points at."""
    lines = text.split("\n")
    problems = []
    for d in diagnostics:
        if not 1 <= d.span.line <= len(lines):
            continue
        wanted = "".join(ch if ch == "\t" or ch.isprintable() else "?" for ch in lines[d.span.line - 1].rstrip("\r"))
        shown = _shown_line(d, text)
        if shown is None and not wanted.strip():
            continue
        if shown != wanted and not _is_window_of(shown, wanted):
            problems.append(f"{d.code} at line {d.span.line}: shows {shown!r}, the line is {wanted!r}")
    return problems


def generate_checked(model, outcome: Outcome) -> list[str]:
    """Both targets' code for `model`, checked; digests of what came out."""
    digests = []
    for target in TARGETS:
        try:
            source = archdsl.generate(model, target)
        except ArchError as error:
            codes = [d.code for d in error.diagnostics]
            if codes == ["A601"] and target == "torch":
                outcome.refused += 1
                digests.append(f"{model.name}/{target}/A601")
                continue
            outcome.failures.append(Failure("generate-refused", f"{target} {model.name}: {error.render()}"))
            continue
        except Exception as error:  # noqa: BLE001
            outcome.failures.append(Failure("crash:generate", f"{target} {model.name}: {error!r}", _trace_tail()))
            continue
        try:
            # archdsl's render_module already ast.parses every module; compile() parses it again.
            compile(source, f"<{target} {model.name}>", "exec")
            outcome.compiled += 1
        except (SyntaxError, ValueError) as error:
            outcome.failures.append(Failure("compile", f"{target} {model.name}: {error!r}", source[-2000:]))
        digests.append(f"{model.name}/{target}/{hashlib.sha256(source.encode()).hexdigest()}")
    return digests


def check_text(outcome: Outcome, expected=None, again: bool = True) -> None:
    """Everything the campaign checks about one text; failures go into `outcome`."""
    text, filename = outcome.text, outcome.filename
    try:
        program = archdsl.parse(text, filename)
    except ArchError as error:
        try:
            problems = diagnostic_problems(text, error)
        except Exception as crash:  # noqa: BLE001
            outcome.failures.append(Failure("crash:render", repr(crash), _trace_tail()))
            return
        for problem in problems:
            outcome.failures.append(Failure("diagnostic", problem))
        for problem in render_line_problems(text, error.diagnostics):
            outcome.failures.append(Failure("render-line", problem))
        if expected is not None:
            outcome.failures.append(Failure("program-rejected", error.render()))
        return
    except Exception as error:  # noqa: BLE001
        outcome.failures.append(Failure("crash:parse", f"{type(error).__name__}: {error}", _trace_tail()))
        return
    outcome.parsed = True
    outcome.models = len(program.models)
    warnings = getattr(program, "warnings", ())
    outcome.warnings = len(warnings)
    for problem in warning_problems(text, program):
        outcome.failures.append(Failure("diagnostic", f"warning: {problem}"))
    for problem in render_line_problems(text, warnings):
        outcome.failures.append(Failure("render-line", f"warning: {problem}"))
    if expected is not None:
        got = [(m.name, tuple(m.output_shape)) for m in program.models]
        wanted = [(m.name, as_archdsl(m.output_shape)) for m in expected]
        if got != wanted:
            outcome.failures.append(Failure("shape-mismatch", f"archdsl {got}, the generator {wanted}"))
    digests: list[str] = []
    for model in program.models:
        digests += generate_checked(model, outcome)
    outcome.digests = digests
    if not again:
        return
    try:
        program = archdsl.parse(text, filename)
        scratch = Outcome(outcome.index, outcome.source, text, filename)
        second = [d for model in program.models for d in generate_checked(model, scratch)]
        if second != digests:
            outcome.failures.append(Failure("nondeterministic", f"{digests} then {second}"))
    except Exception as error:  # noqa: BLE001
        outcome.failures.append(Failure("nondeterministic", f"a second parse/generate failed: {error!r}"))


def make_input(seed: int, index: int, mode: str):
    rng = random.Random(f"{seed}:{index}")
    source = mode if mode != "both" else ("program" if index % 2 == 0 else "mutation")
    source = "program" if source == "programs" else "mutation" if source == "mutations" else source
    if source == "program":
        program = random_program(rng)
        return source, program.text, program.filename, program.models
    return source, mutated_text(rng), "fuzz.arch", None


def _timeout(signum, frame):
    raise TimeoutError(f"input took longer than {INPUT_TIMEOUT_S} s")


def run_one(seed: int, index: int, mode: str) -> Outcome:
    source, text, filename, expected = make_input(seed, index, mode)
    outcome = Outcome(index, source, text, filename)
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(INPUT_TIMEOUT_S)
    try:
        check_text(outcome, expected, again=index % AGAIN_EVERY == 0)
    except TimeoutError as error:
        outcome.failures.append(Failure("timeout", str(error)))
    finally:
        signal.alarm(0)
    outcome.seconds = time.perf_counter() - start
    return outcome


def run_chunk(job: tuple[int, int, int, str]) -> list[Outcome]:
    seed, start, stop, mode = job
    results = []
    for index in range(start, stop):
        outcome = run_one(seed, index, mode)
        if not outcome.failures:
            outcome.text = ""  # keep what travels back small
        results.append(outcome)
    return results


# ---------------------------------------------------------------- minimising a failing input


def _same_failure(kind: str, detail: str):
    exception = detail.split(":")[0] if kind.startswith("crash") else None

    def still_fails(text: str) -> bool:
        outcome = Outcome(0, "mutation", text, "fuzz.arch")
        try:
            check_text(outcome)
        except Exception:  # noqa: BLE001
            return False
        return any(f.kind == kind and (exception is None or f.detail.startswith(exception)) for f in outcome.failures)

    return still_fails


def minimise(text: str, still_fails, budget_s: float = 10.0) -> str:
    """Delta debugging over lines, then tokens, then characters."""
    deadline = time.monotonic() + budget_s
    splitters = (
        lambda t: re.findall(r"[^\n]*\n|[^\n]+", t),
        tokens_of,
        list,
    )
    for split in splitters:
        parts = split(text)
        chunks = 2
        while len(parts) >= 2 and time.monotonic() < deadline:
            size = -(-len(parts) // chunks)
            for start in range(0, len(parts), size):
                candidate = parts[:start] + parts[start + size :]
                if still_fails("".join(candidate)):
                    parts = candidate
                    chunks = max(chunks - 1, 2)
                    break
            else:
                if chunks >= len(parts):
                    break
                chunks = min(len(parts), chunks * 2)
        text = "".join(parts)
    return text


# ---------------------------------------------------------------- the campaign


def digests_of(seed: int, mode: str, indices: list[int]) -> dict[str, list[str]]:
    out = {}
    for index in indices:
        outcome = run_one(seed, index, mode)
        out[str(index)] = outcome.digests or []
    return out


def cross_process_check(seed: int, mode: str, recorded: dict[int, list[str]]) -> tuple[int, list[int]]:
    """Generate a sample again in a fresh process with another hash seed: same bytes?"""
    if not recorded:
        return 0, []
    indices = sorted(recorded)
    env = {**os.environ, "PYTHONHASHSEED": str(random.Random(seed).randint(1, 2**31))}
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--digests", json.dumps(indices), "--seed", str(seed)]
        + ["--mode", mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    again = json.loads(result.stdout)
    differing = [i for i in indices if again[str(i)] != recorded[i]]
    return len(indices), differing


def save_failure(folder: Path, outcome: Outcome, failure: Failure, minimise_it: bool, seed: int, mode: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{failure.kind.replace(':', '-')}-{outcome.index}"
    (folder / f"{stem}.arch").write_bytes(outcome.text.encode("utf-8", errors="surrogatepass"))
    report = [
        f"kind: {failure.kind}",
        f"replay: .venv/bin/python -m tests.fuzz_campaign --seed {seed} --mode {mode} --replay {outcome.index}",
        f"filename given to parse: {outcome.filename!r}",
        f"input: {outcome.text!r}",
        f"detail: {failure.detail}",
    ]
    if failure.trace:
        report += ["", failure.trace]
    if minimise_it and failure.kind not in ("shape-mismatch", "program-rejected", "timeout"):
        small = minimise(outcome.text, _same_failure(failure.kind, failure.detail))
        (folder / f"{stem}.min.arch").write_bytes(small.encode("utf-8", errors="surrogatepass"))
        report += ["", f"minimised input: {small!r}"]
    (folder / f"{stem}.txt").write_text("\n".join(report) + "\n", encoding="utf-8")


def campaign(args: argparse.Namespace) -> int:
    chunk = 250
    jobs = [(args.seed, start, min(start + chunk, args.count), args.mode) for start in range(0, args.count, chunk)]
    stats: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    examples: list[tuple[Outcome, Failure]] = []
    slowest: list[tuple[float, int, str]] = []
    sample: dict[int, list[str]] = {}
    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with context.Pool(args.workers) as pool:
        for results in pool.imap_unordered(run_chunk, jobs):
            for outcome in results:
                stats["inputs"] += 1
                stats[f"{outcome.source} inputs"] += 1
                stats[f"{outcome.source} checked" if outcome.parsed else f"{outcome.source} ArchError"] += 1
                stats["models checked"] += outcome.models
                stats["modules compiled"] += outcome.compiled
                stats["A601 (torch)"] += outcome.refused
                stats["warnings (A7xx)"] += outcome.warnings
                for failure in outcome.failures:
                    failures[failure.kind] += 1
                    if kept[failure.kind] < KEEP_PER_KIND:
                        kept[failure.kind] += 1
                        examples.append((outcome, failure))
                if outcome.failures:
                    stats["inputs with a failure"] += 1
                slowest = sorted([*slowest, (outcome.seconds, outcome.index, outcome.source)], reverse=True)[:5]
                if outcome.digests and outcome.index % args.sample_every == 0:
                    sample[outcome.index] = outcome.digests
            done = stats["inputs"]
            if not args.quiet and (done % 5000 < chunk or done == args.count):
                print(f"  {done:>8} inputs, {done / (time.perf_counter() - start):7.1f}/s", file=sys.stderr)
    elapsed = time.perf_counter() - start
    checked, differing = cross_process_check(args.seed, args.mode, sample)
    for index in differing:
        failures["nondeterministic (across processes)"] += 1
        examples.append((run_one(args.seed, index, args.mode), Failure("nondeterministic-process", f"input {index}")))

    print(f"archdsl fuzz campaign: mode={args.mode} seed={args.seed} count={args.count} workers={args.workers}")
    for key in (
        "inputs",
        "program inputs",
        "program checked",
        "program ArchError",
        "mutation inputs",
        "mutation checked",
        "mutation ArchError",
        "models checked",
        "modules compiled",
        "A601 (torch)",
        "warnings (A7xx)",
        "inputs with a failure",
    ):
        if key in stats or key == "inputs with a failure":
            print(f"  {key:<28} {stats[key]:>10}")
    print(f"  {'cross-process sample':<28} {checked:>10} programs, {len(differing)} differ")
    print(f"  {'elapsed':<28} {elapsed:>10.1f} s")
    print(f"  {'rate':<28} {stats['inputs'] / elapsed:>10.1f} inputs/s")
    print("  slowest inputs: " + ", ".join(f"#{i} ({s}) {t:.2f}s" for t, i, s in slowest))
    if failures:
        print("failures by kind:")
        for kind, count in failures.most_common():
            print(f"  {kind:<28} {count:>10}  {KNOWN.get(kind, 'NEW')}")
        folder = Path(args.failures_dir)
        for outcome, failure in examples:
            save_failure(folder, outcome, failure, not args.no_minimize, args.seed, args.mode)
        print(f"first {KEEP_PER_KIND} inputs of each kind saved to {folder}/")
    else:
        print("failures: none")
    return 1 if set(failures) - set(KNOWN) else 0


def replay(args: argparse.Namespace) -> int:
    outcome = run_one(args.seed, args.replay, args.mode)
    print(f"input {args.replay} ({outcome.source}), filename {outcome.filename!r}:\n{outcome.text}")
    print(f"parsed: {outcome.parsed}, models: {outcome.models}, compiled: {outcome.compiled}")
    for failure in outcome.failures:
        print(f"FAILURE {failure.kind}: {failure.detail}\n{failure.trace}")
    return 1 if outcome.failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="number of inputs (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    parser.add_argument("--mode", choices=("programs", "mutations", "both"), default="both")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--failures-dir", default=str(ROOT / "tests" / "fuzz_failures"))
    parser.add_argument("--no-minimize", action="store_true", help="save failing inputs as they are")
    parser.add_argument("--sample-every", type=int, default=250, help="programs re-generated in a fresh process")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--replay", type=int, help="run and show one input of the campaign")
    parser.add_argument("--digests", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.digests is not None:
        print(json.dumps(digests_of(args.seed, args.mode, json.loads(args.digests))))
        return 0
    if args.replay is not None:
        return replay(args)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
