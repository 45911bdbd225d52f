"""archdsl without Keras or PyTorch: `verify` and `build` say what to install, never 'a bug in archdsl'.

Each case runs in a fresh process where `sys.modules[NAME] = None` is set before archdsl
starts: Python then refuses `import NAME` exactly as in an install without the package
(nothing of archdsl is patched). tests/test_packaging.py runs `verify` in a real install
of the wheel, which holds no framework at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CARD = str(REPO / "examples" / "card_cnn.arch")
INSTALL = 'pip install "archdsl[frameworks]"'

CLI = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from archdsl.cli.commands import main
sys.exit(main(sys.argv[2:]))
"""

API = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
import archdsl
model = archdsl.load(sys.argv[2]).model()
call = sys.argv[3]
try:
    archdsl.build(model, call) if call != "verify" else archdsl.verify(model)
except archdsl.ArchError as error:
    print(json.dumps({
        "type": type(error).__name__,
        "is_framework_missing": isinstance(error, archdsl.FrameworkMissing),
        "frameworks": list(error.frameworks),
        "code": error.code,
        "message": error.message,
        "hint": error.hint,
        "line": error.line,
    }))
"""


def without(missing: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, missing, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        # With one framework missing, the other is imported for real (TensorFlow: 10 s).
        pytest.param("keras", ["Keras 3"], marks=pytest.mark.frameworks, id="no-keras"),
        pytest.param("torch", ["PyTorch"], marks=pytest.mark.frameworks, id="no-torch"),
        pytest.param("keras,torch", ["Keras 3", "PyTorch"], id="neither"),
    ],
)
def test_verify_names_what_is_missing_and_how_to_install_it(missing: str, named: list[str]) -> None:
    result = without(missing, CLI, "verify", CARD)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert all(name in result.stderr for name in named), result.stderr
    assert INSTALL in result.stderr
    assert "[A801]" in result.stderr
    assert "Traceback" not in result.stderr and "bug in archdsl" not in result.stderr
    if missing != "keras,torch":
        assert f'pip install "archdsl[{missing}]"' in result.stderr, "the extra for just what is missing"


def test_commands_that_need_no_framework_still_work_without_them() -> None:
    for args in (["check", CARD], ["generate", CARD, "--target", "torch"], ["diff", CARD]):
        result = without("keras,torch", CLI, *args)
        assert result.returncode == 0, (args, result.stderr)


@pytest.mark.parametrize(
    ("missing", "call", "frameworks"),
    [("torch", "torch", ["torch"]), ("keras", "keras", ["keras"]), ("keras,torch", "verify", ["keras", "torch"])],
    ids=["build-torch", "build-keras", "verify"],
)
def test_the_api_raises_framework_missing_an_arch_error(missing: str, call: str, frameworks: list[str]) -> None:
    result = without(missing, API, CARD, call)
    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)
    assert error["type"] == "FrameworkMissing" and error["is_framework_missing"]
    assert error["frameworks"] == frameworks
    assert error["code"] == "A801" and error["line"] == 0
    assert "not installed" in error["message"]
    assert INSTALL in error["hint"]
