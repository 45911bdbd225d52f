"""The fuzz campaign (tests/fuzz_campaign.py) runs: a few dozen inputs, the cross-process check and a replay.

The campaign is run by hand for hours (docs/fuzzing.md); this keeps it from rotting between
campaigns. What it checks of each input is tested in tests/test_fuzz.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def campaign(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tests/fuzz_campaign.py", *args],  # by path: PYTHONSAFEPATH keeps the checkout off sys.path
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_short_campaign_runs_both_kinds_of_input_and_finds_nothing(tmp_path: Path) -> None:
    failures = tmp_path / "failures"
    result = campaign(
        "--count", "40", "--workers", "1", "--sample-every", "10", "--quiet", "--failures-dir", str(failures)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = dict(re.findall(r"^  ([a-zA-Z][^\d]*?)\s{2,}(\d+)", result.stdout, re.MULTILINE))
    assert counts["inputs"] == "40"
    assert counts["program inputs"] == counts["mutation inputs"] == "20"
    assert int(counts["program checked"]) == 20  # the generator writes valid programs
    assert int(counts["modules compiled"]) > 0
    assert "cross-process sample                  4 programs, 0 differ" in result.stdout
    assert "failures: none" in result.stdout
    assert not failures.exists()


def test_an_input_of_the_campaign_replays(tmp_path: Path) -> None:
    result = campaign("--seed", "0", "--mode", "both", "--replay", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("input 4 (program)")
    assert "parsed: True" in result.stdout
