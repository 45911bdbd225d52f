"""The benchmark script runs: a quick pass of the comparison with Keras, worker processes and all.

Figures are not checked here (timings belong in benchmarks/, not in tests); only that the
script measures what it says, without a section failing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.frameworks
def test_the_quick_comparison_with_keras_runs_and_reports_its_target(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--only", "alternative", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Keras build + summary ÷ archdsl.parse" in result.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))["alternative"]
    assert len(figures["archdsl_parse"]) >= 2 and len(figures["keras_by_hand"]) == 2
    assert all(t > 0 for t in figures["archdsl_parse"] + figures["keras_by_hand"])
