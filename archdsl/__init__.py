"""archdsl: concise neural-network architectures, checked, as Keras and PyTorch code.

Importing archdsl never imports a framework: only `build` and `verify` do.
"""

from .api import load, parse
from .diagnostics import ArchError, Diagnostic, Span
from .generate import build, generate
from .ir import Layer, Model, Program
from .version import __version__


def verify(model: Model, seed: int = 0, atol: float | None = None, rtol: float | None = None):
    """Prove the generated Keras and PyTorch code agree; returns a `verification.VerifyReport`."""
    from .verification import DEFAULT_ATOL, DEFAULT_RTOL, verify_model

    return verify_model(model, seed, DEFAULT_ATOL if atol is None else atol, DEFAULT_RTOL if rtol is None else rtol)


__all__ = [
    "ArchError",
    "Diagnostic",
    "Layer",
    "Model",
    "Program",
    "Span",
    "__version__",
    "build",
    "generate",
    "load",
    "parse",
    "verify",
]
