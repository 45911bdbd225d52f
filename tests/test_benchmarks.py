"""The performance report runs: a quick pass of every section, worker processes and all.

Figures are not checked here (timings belong in benchmarks/, not in tests); only that each
section measures what it says and reports every one of its targets, without failing to run.
The sections run as two reports at once (`--only`), one per core: a smoke run has no
figures to spoil, and the suite waits half as long.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest

ROOT = Path(__file__).resolve().parent.parent

# The target rows of each section at the scale of --quick (docs/performance.md lists them).
TARGETS = {
    "cold start": 3 + 4,  # three commands ÷ python -c pass; four that must import no framework
    "scaling": 3 * 4,  # three styles: check, generate keras, generate torch (ratios), the absolute check
    "alternative": 1,
    "run time": 3 * 2 * 2,  # three models, two frameworks, two batch sizes
    "lsp": 2,  # diagnostics after a change, hover
    "structure": (3 * 2 + 1) * 2,  # three models at batch 1 and 32, ResNet-50 at 2; two frameworks
}
HALVES = ("alternative,runtime", "coldstart,scaling,lsp,structure")  # about as long as each other


@pytest.mark.frameworks  # the runtime, alternative and structure sections build Keras and PyTorch models
def test_a_quick_report_runs_every_section_and_reports_every_target(tmp_path: Path) -> None:
    runs = []
    for index, sections in enumerate(HALVES):
        figures, series, printed = (tmp_path / f"{name}{index}.json" for name in ("figures", "series", "printed"))
        argv = ["--quick", "--only", sections, "--json", str(figures), "--pyperf", str(series)]
        with printed.open("w", encoding="utf-8") as sink:  # a file, not a pipe: no one waits on the other
            process = subprocess.Popen(
                [sys.executable, "benchmarks/run.py", *argv], cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT
            )
        runs.append((process, figures, series, printed))
    targets, names = [], []
    for process, figures, series, printed in runs:
        process.wait(timeout=600)
        out = printed.read_text(encoding="utf-8")
        assert process.returncode == 0, out
        assert "Traceback" not in out and "could not run" not in out, out
        report = json.loads(figures.read_text(encoding="utf-8"))
        targets += report["targets"]
        assert f"of {len(report['targets'])} targets met" in out
        # Every series is a pyperf benchmark that pyperf itself reads back.
        suite = pyperf.BenchmarkSuite.load(str(series))
        assert all(bench.get_nvalue() >= 1 for bench in suite.get_benchmarks())
        names += suite.get_benchmark_names()
        if "alternative" in report:  # the head-to-head of section 3 ran in its two workers, in turns
            assert "Keras build + summary ÷ archdsl.parse" in out
            assert len(report["alternative"]["archdsl_parse"]) >= 2
            assert len(report["alternative"]["keras_by_hand"]) == 2
        if "structure" in report:  # flat and structured compute the same, and the A/A control ran
            assert all(row["max_delta"] <= 1e-5 for row in report["structure"])
            assert {row["framework"] for row in report["structure_control"]} == {"torch", "keras"}
    assert all(t["status"] in ("PASS", "FAIL") for t in targets), [t for t in targets if t["status"] == "ERROR"]
    assert {section: sum(t["section"] == section for t in targets) for section in TARGETS} == TARGETS
    assert len(targets) == sum(TARGETS.values())
    assert "cold start: python -c pass" in names and "alternative: Keras by hand" in names
    assert "lsp: diagnostics after a change, 1,000 layers" in names
    assert "structure: ResNet-50, keras, batch 2, structured" in names
