"""The generated code, byte for byte, against the reviewed files in tests/golden/.

A failure here means the code archdsl generates changed. If the change is
intended, run `make golden` (python -m tests.golden_update) and review the diff
of tests/golden/ before committing it.
"""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("golden_update", Path(__file__).with_name("golden_update.py"))
golden_update = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(golden_update)

HINT = "run `make golden` and review the diff"


def test_every_golden_file_is_expected():
    expected = {golden_update.golden_path(e, t).name for e in golden_update.EXAMPLES for t in golden_update.TARGETS}
    present = {path.name for path in golden_update.GOLDEN_DIR.glob("*.py")}
    assert present == expected, f"tests/golden/ holds unexpected or missing files; {HINT}"


@pytest.mark.parametrize("target", golden_update.TARGETS)
@pytest.mark.parametrize("example", golden_update.EXAMPLES)
def test_generated_code_matches_golden(example: str, target: str):
    path = golden_update.golden_path(example, target)
    assert path.exists(), f"no golden file {path.name}: {HINT}"
    golden = path.read_text(encoding="utf-8")
    current = golden_update.current_source(example, target)
    if current != golden:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True),
                current.splitlines(keepends=True),
                f"tests/golden/{path.name}",
                f"archdsl generate examples/{example}.arch --target {target}",
            )
        )
        pytest.fail(f"the generated code for {example} ({target}) changed; {HINT}:\n{diff[:8000]}", pytrace=False)
