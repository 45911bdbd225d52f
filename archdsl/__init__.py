"""archdsl: concise neural-network architectures, checked, as Keras and PyTorch code.

Importing archdsl never imports a framework: only `build` and `verify` do.
"""

from .api import load, parse
from .diagnostics import ArchError, Diagnostic, Span
from .ir import Layer, Model, Program

__version__ = "0.1.0"

__all__ = ["ArchError", "Diagnostic", "Layer", "Model", "Program", "Span", "__version__", "load", "parse"]
