"""An installed wheel works on its own, outside the source tree.

The wheel is built from this checkout, installed into a fresh virtual environment
(its dependencies come from the configured package index), and used from a
directory that is not the checkout, so that nothing can be found by accident
beside the package: the grammar and templates must travel inside the wheel.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import archdsl

pytest.importorskip("build", reason="the 'build' package builds the wheel")

REPO = Path(__file__).resolve().parent.parent
CARD_CNN = REPO / "examples" / "card_cnn.arch"


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    archdsl: Path
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str | os.PathLike[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [os.fspath(a) for a in args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _clean_env() -> dict[str, str]:
    """The environment without anything that could point Python back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "__PYVENV"))}
    env["NO_COLOR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _build_wheel(outdir: Path, env: dict[str, str]) -> Path:
    base = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir)]
    # The hatchling installed beside this interpreter builds the same wheel as an isolated
    # build, several times faster and without the package index; without it, isolate.
    attempts = [["--no-isolation"], []] if importlib.util.find_spec("hatchling") else [[]]
    for extra in attempts:
        result = subprocess.run(
            [*base, *extra, str(REPO)], cwd=outdir, env=env, capture_output=True, text=True, timeout=300
        )
        wheels = sorted(outdir.glob("archdsl-*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[-1]
    pytest.fail(f"building the wheel failed:\n{result.stdout}\n{result.stderr}")


def _install(venv: Path, python: Path, wheel: Path, cwd: Path, env: dict[str, str]) -> None:
    """A fresh venv holding the wheel and its dependencies (from the configured index)."""
    run = {"cwd": cwd, "env": env, "capture_output": True, "text": True, "timeout": 300}
    # Fast path: a venv without pip of its own, filled by this interpreter's pip (pip >= 22.3).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, **run)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)], **run
    )
    if result.returncode != 0 and "no such option" in result.stderr:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, **run)
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], **run)
    assert result.returncode == 0, f"pip install of the wheel failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("packaging")
    env = _clean_env()
    dist = root / "dist"
    dist.mkdir()
    wheel = _build_wheel(dist, env)

    venv = root / "venv"
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _install(venv, python, wheel, root, env)

    workdir = root / "elsewhere"
    workdir.mkdir()
    shutil.copy(CARD_CNN, workdir / "card_cnn.arch")
    script = bindir / ("archdsl.exe" if os.name == "nt" else "archdsl")
    return Installed(wheel, venv, python, script, workdir, env)


def test_wheel_carries_grammar_and_templates(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    assert "archdsl/grammars/arch.lark" in names
    assert any(name.startswith("archdsl/templates/") for name in names), names
    # Every template of the source tree travels, at the place resources.py looks for it.
    for template in sorted((REPO / "templates").rglob("*")):
        if template.is_file():
            assert f"archdsl/templates/{template.relative_to(REPO / 'templates').as_posix()}" in names
    assert "archdsl/__init__.py" in names
    # Nothing from the source tree's top level leaks in beside the package.
    assert not any(name.startswith(("grammars/", "templates/", "tests/", "examples/")) for name in names)


def test_installed_package_is_the_one_imported(installed: Installed) -> None:
    result = installed.run(installed.python, "-c", "import archdsl; print(archdsl.__file__)")
    assert result.returncode == 0, result.stderr
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(installed.venv.resolve()), location
    assert not location.is_relative_to(REPO), location


def test_installed_check_prints_the_table(installed: Installed) -> None:
    result = installed.run(installed.archdsl, "check", "card_cnn.arch")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "Model  (card_cnn.arch)" in out
    assert "conv2d_1" in out
    assert "(None, 62, 62, 32)" in out
    assert "flatten_1" in out
    assert "307,850" in out


def test_installed_check_reports_errors(installed: Installed) -> None:
    result = installed.run(installed.archdsl, "check", "-", stdin="input 64x64x1 -> conv2d 32 -> lstm 64\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "<stdin>:1:31: error: lstm needs a sequence" in result.stderr
    assert "[A301]" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["keras", "torch"])
def test_installed_generate_finds_its_templates(installed: Installed, target: str) -> None:
    result = installed.run(installed.archdsl, "generate", "--target", target, "card_cnn.arch")
    assert result.returncode == 0, result.stderr
    assert "def build_model()" in result.stdout


def test_installed_version(installed: Installed) -> None:
    result = installed.run(installed.archdsl, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"archdsl {archdsl.__version__}"


def test_installed_import_pulls_in_no_framework(installed: Installed) -> None:
    code = (
        "import archdsl, sys; archdsl.parse('input 4 -> dense 2'); "
        "print(sorted(m for m in ('tensorflow','keras','torch','numpy') if m in sys.modules))"
    )
    result = installed.run(installed.python, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_installed_verify_without_frameworks_says_how_to_install_them(installed: Installed) -> None:
    """The wheel installs no framework: verify says which ones and the command, exit 2, no traceback."""
    assert installed.run(installed.python, "-c", "import importlib.util as u; print(u.find_spec('torch'))").stdout == (
        "None\n"
    )
    result = installed.run(installed.archdsl, "verify", "card_cnn.arch")
    assert result.returncode == 2, result.stderr
    assert "Keras 3 (with TensorFlow) and PyTorch are not installed here (No module named 'keras'" in result.stderr
    assert 'pip install "archdsl[frameworks]"' in result.stderr
    assert "Traceback" not in result.stderr and "bug in archdsl" not in result.stderr
