"""archdsl: concise neural-network architectures, checked, as Keras and PyTorch code.

Importing archdsl never imports a framework: only `build` and `verify` do.
"""

from .api import load, parse
from .diagnostics import ArchError, Diagnostic, Span
from .generate import build, generate
from .ir import Layer, Model, Program
from .version import __version__

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
]
