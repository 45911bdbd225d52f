"""Framework gating, and the proof that the light run tests the installed wheel.

- Tests marked `frameworks` skip, with the reason and the install command, where
  TensorFlow/Keras, PyTorch or numpy is not installed (tests/frameworks.py).
- ARCHDSL_REQUIRE_FRAMEWORKS=1 (`make test`, CI) turns a missing framework into an error
  before any test runs, so a run never passes by skipping the framework tests.
- ARCHDSL_EXPECT_INSTALLED=1 (`make test-light`) refuses to run unless archdsl comes from
  the environment's site-packages, in this process and in a subprocess started in the
  checkout as the CLI tests start theirs, and none of the frameworks is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from frameworks import FRAMEWORKS, INSTALL, missing, skip_reason

import archdsl

REPO = Path(__file__).resolve().parent.parent
WHERE_FROM = "import archdsl; print(archdsl.__file__)"


def _light_wheel_problems() -> list[str]:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    problems = []
    here = Path(archdsl.__file__).resolve()
    if not here.is_relative_to(site):
        problems.append(f"archdsl is imported from {here}, not from {site}")
    child = subprocess.run(
        [sys.executable, "-c", WHERE_FROM], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    if not Path(child).resolve().is_relative_to(site):
        problems.append(f"a subprocess started in {REPO} imports archdsl from {child} (PYTHONSAFEPATH=1 prevents it)")
    present = [name for name in FRAMEWORKS.values() if name not in missing()]
    if present:
        problems.append(f"{', '.join(present)} installed, though the light run promises to do without")
    return problems


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("ARCHDSL_REQUIRE_FRAMEWORKS") == "1" and missing():
        raise pytest.UsageError(
            f"ARCHDSL_REQUIRE_FRAMEWORKS=1, but {', '.join(missing())} not installed: {INSTALL}, "
            "or unset it to skip the tests marked frameworks"
        )
    if os.environ.get("ARCHDSL_EXPECT_INSTALLED") == "1" and (problems := _light_wheel_problems()):
        raise pytest.UsageError("ARCHDSL_EXPECT_INSTALLED=1, but " + "; ".join(problems))


def pytest_report_header(config: pytest.Config) -> list[str]:
    frameworks = f"missing {', '.join(missing())}" if missing() else "all installed"
    return [f"archdsl {archdsl.__version__} from {Path(archdsl.__file__).parent}; frameworks: {frameworks}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not missing():
        return
    skip = pytest.mark.skip(reason=skip_reason(missing()))
    for item in items:
        if item.get_closest_marker("frameworks"):
            item.add_marker(skip)
