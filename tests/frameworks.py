"""Which of the frameworks this environment lacks, for the tests marked `frameworks`.

The wheel promises parsing, checking, generating, diffing and formatting without
TensorFlow/Keras, PyTorch or numpy; only building and comparing real models needs them.
tests/conftest.py skips the marked tests where one is absent (and fails the run instead under
ARCHDSL_REQUIRE_FRAMEWORKS=1); a test module that cannot even be imported without a framework
skips itself through `importorskip` below, with the same reason.
"""

from __future__ import annotations

import importlib.util
from functools import cache

import pytest

# import name: the name a reader knows it by
FRAMEWORKS = {"tensorflow": "TensorFlow", "keras": "Keras", "torch": "PyTorch", "numpy": "numpy"}
INSTALL = 'pip install -e ".[frameworks]"'


@cache
def missing() -> tuple[str, ...]:
    """The frameworks that are not installed at all; one installed but broken is not skipped, it fails."""
    return tuple(name for module, name in FRAMEWORKS.items() if importlib.util.find_spec(module) is None)


def skip_reason(absent: tuple[str, ...]) -> str:
    return f"needs {', '.join(absent)}, not installed here ({INSTALL})"


def importorskip(module: str):
    """The framework module, or a skip of the whole test module where it is not installed."""
    __tracebackhide__ = True  # the skip is reported at the test module's line, not here
    return pytest.importorskip(module, reason=skip_reason((FRAMEWORKS[module],)))


def optional(module: str):
    """The framework module, or None where it is not installed (for helpers of marked tests)."""
    return importlib.import_module(module) if importlib.util.find_spec(module) is not None else None
