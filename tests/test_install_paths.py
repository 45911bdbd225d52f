"""The ways README.md says to install archdsl are the ones that work, and the docs claim no more than verify does.

`make -n` shows what a target would run without running it, in a venv folder that does
not exist yet, so the whole install is listed as a fresh clone would run it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def planned(target: str, tmp_path: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_make_demo_installs_archdsl_and_the_frameworks_only(tmp_path: Path) -> None:
    installs = planned("demo", tmp_path)
    assert len(installs) == 1, installs
    assert installs[0].endswith('-e ".[frameworks]"')
    assert "-c constraints-cpu.txt" in installs[0]


def test_make_test_installs_the_dev_tools(tmp_path: Path) -> None:
    installs = planned("test", tmp_path)
    assert len(installs) == 1 and installs[0].endswith('-e ".[dev]"'), installs
    assert "-c constraints-cpu.txt" in installs[0]


def test_framework_extras_are_ranges_and_the_constraints_pin_the_cpu_torch_in_them() -> None:
    for extra in ("keras", "torch"):
        for requirement in EXTRAS[extra]:
            assert "==" not in requirement, f"{extra}: {requirement} pins one release"
            assert re.search(r">=[\d.]+,<[\d.]+$", requirement), f"{extra}: {requirement} is not a range"
    (torch,) = EXTRAS["torch"]
    low, high = (tuple(map(int, v.split("."))) for v in re.findall(r"[\d.]+", torch.removeprefix("torch")))
    pins = [line for line in (REPO / "constraints-cpu.txt").read_text().splitlines() if line.startswith("torch")]
    assert pins == ["torch==2.13.0"]
    assert low <= (2, 13, 0) < high, "the pinned torch lies in the extra's range"


def test_every_extra_the_readme_names_exists() -> None:
    named = set(re.findall(r"(?:archdsl|\.)\[([a-z,-]+)\]", README)) - {"EXTRA"}
    assert {"frameworks", "notebook"} <= named
    for extras in named:
        for extra in extras.split(","):
            assert extra in EXTRAS, f"README.md names the extra [{extra}], which pyproject.toml lacks"


def test_the_readme_installs_from_a_clone_or_a_wheel_not_from_an_index() -> None:
    assert 'pip install -e ".[frameworks]"' in README and "make wheel" in README
    first_steps = README[: README.index("## What it does")]
    # `pip install "archdsl[...]"` only works once archdsl is installed: never as the first step.
    for match in re.finditer(r'pip install "archdsl\[', first_steps):
        before = first_steps[max(0, match.start() - 200) : match.start()]
        assert "installed" in before, f"an index install of archdsl: {first_steps[match.start() : match.end() + 30]}"


@pytest.mark.parametrize("doc", ["README.md", "docs/guide.md", "docs/generation.md", "archdsl/__init__.py"])
def test_no_doc_says_verify_proves(doc: str) -> None:
    """verify runs random inputs through both models: a test, which the docs call a check, never a proof."""
    text = (REPO / doc).read_text(encoding="utf-8")
    assert not re.search(r"\bprov(e|es|ed|ably)\b", text, re.IGNORECASE), doc
