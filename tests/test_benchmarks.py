"""The performance report runs: a quick pass of every section, worker processes and all.

Figures are not checked here (timings belong in benchmarks/, not in tests); only that each
section measures what it says and reports every one of its targets, without failing to run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyperf

ROOT = Path(__file__).resolve().parent.parent

# The target rows of each section: the report's sections, at the scale of --quick (docs/performance.md).
TARGETS = {
    "cold start": 3 + 4,  # three commands ÷ python -c pass; four that must import no framework
    "scaling": 3 * 4,  # three styles: check, generate keras, generate torch (ratios), the absolute check
    "alternative": 1,
    "run time": 3 * 2 * 2,  # three models, two frameworks, two batch sizes
}


def test_a_quick_report_runs_every_section_and_reports_every_target(tmp_path: Path) -> None:
    figures, series = tmp_path / "figures.json", tmp_path / "series.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--json", str(figures), "--pyperf", str(series)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out and "could not run" not in out, out
    report = json.loads(figures.read_text(encoding="utf-8"))
    targets = report["targets"]
    assert all(t["status"] in ("PASS", "FAIL") for t in targets), [t for t in targets if t["status"] == "ERROR"]
    assert {section: sum(t["section"] == section for t in targets) for section in TARGETS} == TARGETS
    assert len(targets) == sum(TARGETS.values())
    assert f"of {len(targets)} targets met" in result.stdout
    assert "Keras build + summary ÷ archdsl.parse" in result.stdout
    # The head-to-head of section 3 ran in its two workers, in turns.
    alternative = report["alternative"]
    assert len(alternative["archdsl_parse"]) >= 2 and len(alternative["keras_by_hand"]) == 2
    # Every series is a pyperf benchmark that pyperf itself reads back.
    suite = pyperf.BenchmarkSuite.load(str(series))
    names = suite.get_benchmark_names()
    assert "cold start: python -c pass" in names and "alternative: Keras by hand" in names
    assert all(bench.get_nvalue() >= 1 for bench in suite.get_benchmarks())
