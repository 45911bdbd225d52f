"""Importing the frameworks, only when code is built or verified, without their start-up chatter.

TensorFlow's native logger prints several lines at import (oneDNN notices,
missing CUDA drivers) that drown archdsl's own output; they are not errors.
archdsl installs without Keras or PyTorch (checking and generating need neither),
so a framework that cannot be imported is the user's next step, not a bug:
`require` turns the ImportError into `FrameworkMissing`, which names the
framework and the install command.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import Any

from archdsl.common.diagnostics import ArchError, Diagnostic, Span

INSTALL_COMMAND = 'pip install "archdsl[frameworks]"'
# What each framework is called in a message, and the extra that installs it alone.
FRAMEWORKS = {
    "keras": ("Keras 3 (with TensorFlow)", "keras"),
    "torch": ("PyTorch", "torch"),
}
NOWHERE = Span("", 0, 0, 0, 0)  # no place in a spec caused it


class FrameworkMissing(ArchError):
    """A framework that building or verifying a model needs cannot be imported.

    An ArchError, so that `except archdsl.ArchError` around `build` and `verify`
    catches it too; its line and column are 0, as no place in the spec is at fault.
    The CLI exits 2 for it, as for a command line that cannot be carried out.
    """

    def __init__(self, missing: dict[str, str]):
        self.frameworks = tuple(missing)
        titles = " and ".join(FRAMEWORKS[name][0] for name in missing)
        reasons = "; ".join(missing.values())
        verb = "is" if len(missing) == 1 else "are"
        extras = " or ".join(f'"archdsl[{FRAMEWORKS[name][1]}]"' for name in missing)
        hint = f"install the frameworks with: {INSTALL_COMMAND}" + (
            f" (or only what is missing: pip install {extras})" if len(missing) < len(FRAMEWORKS) else ""
        )
        them = "it" if len(missing) == 1 else "them"
        message = f"{titles} {verb} not installed here ({reasons}); archdsl needs {them} to build and verify models"
        super().__init__([Diagnostic("A801", message, NOWHERE, hint)])

    def __str__(self) -> str:
        return f"error: {self.message}"

    def render(self, color: bool = False) -> str:
        """The message and the install command: there is no source line to show."""
        bold, red, cyan, reset = ("\x1b[1m", "\x1b[31m", "\x1b[36m", "\x1b[0m") if color else ("",) * 4
        return f"{red}{bold}error:{reset}{bold} {self.message}{reset} [{self.code}]\n{cyan}help:{reset} {self.hint}"


@contextlib.contextmanager
def native_stderr_silenced():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real file descriptor (a notebook, a test capture)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import(name: str) -> Any:
    if name == "keras" and "keras" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with native_stderr_silenced():
            return importlib.import_module(name)
    return importlib.import_module(name)


def require(*names: str) -> tuple[Any, ...]:
    """The framework modules (`"keras"`, `"torch"`), or FrameworkMissing naming every one that cannot be imported.

    An ImportError from inside a framework (Keras without TensorFlow, a broken
    PyTorch) counts as missing too: the same install command mends it.
    """
    modules: list[Any] = []
    missing: dict[str, str] = {}
    for name in names:
        try:
            modules.append(_import(name))
        except ImportError as error:
            missing[name] = str(error) or type(error).__name__
    if missing:
        raise FrameworkMissing(missing)
    return tuple(modules)


def keras() -> Any:
    """The keras module, TensorFlow backend, imported quietly."""
    return require("keras")[0]


def torch() -> Any:
    return require("torch")[0]
