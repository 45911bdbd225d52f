"""The stages behind the public API, each usable on its own by tools that embed archdsl."""

from __future__ import annotations

import os

from archdsl.analysis.infer import check_graph
from archdsl.common.diagnostics import ArchError, Diagnostic, DiagnosticSink, Span
from archdsl.common.gcpause import gc_paused
from archdsl.frontend.expand import expand
from archdsl.frontend.tree_builder import deep_recursion, parse_module, too_deep
from archdsl.ir.model import Program

MAX_SOURCE_BYTES = 10 * 1024 * 1024


def parse(text: str, filename: str = "<string>") -> Program:
    """Parse, expand and check a spec; raises ArchError listing every problem found."""
    with gc_paused():
        return _parse(text, filename)


def _parse(text: str, filename: str) -> Program:
    module = parse_module(text, filename)
    sink = DiagnosticSink()
    try:
        with deep_recursion():
            graphs, blocks = expand(module, sink)
    except RecursionError:
        raise too_deep(filename, text) from None
    models = [check_graph(graph, sink, text) for graph in graphs]
    sink.raise_if_any(text)
    return Program(
        filename, text, tuple(m for m in models if m is not None), tuple(blocks), tuple(dict.fromkeys(sink.warnings))
    )


def _file_error(path: str, message: str, hint: str | None = None, code: str = "A100") -> ArchError:
    return ArchError([Diagnostic(code, message, Span(path, 1, 1, 1, 1), hint)])


def read_source(path: str | os.PathLike[str]) -> str:
    """The text of a spec file; unreadable, binary or huge files are ArchErrors, not tracebacks."""
    name = os.fspath(path)
    try:
        if os.path.isdir(name):
            raise _file_error(name, f"'{name}' is a directory, not a spec file", "give the path of a .arch file")
        with open(name, "rb") as stream:
            # Read one byte past the limit rather than trust the size: pipes and devices report 0.
            data = stream.read(MAX_SOURCE_BYTES + 1)
            size = os.fstat(stream.fileno()).st_size
        if len(data) > MAX_SOURCE_BYTES:
            amount = f"{size:,} bytes" if size > MAX_SOURCE_BYTES else f"more than {MAX_SOURCE_BYTES:,} bytes"
            raise _file_error(name, f"the file is {amount}; specs are limited to {MAX_SOURCE_BYTES:,}", code="A502")
    except FileNotFoundError:
        raise _file_error(name, f"no such file: '{name}'", "check the path") from None
    except PermissionError:
        raise _file_error(name, f"permission denied reading '{name}'") from None
    except OSError as error:
        raise _file_error(name, f"cannot read '{name}': {error.strerror or error}") from None
    return decode_source(data, name)


def decode_source(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ArchError(
            [
                Diagnostic(
                    "A104",
                    f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x})",
                    Span(name, line, column, line, column + 1),
                    "save the file as UTF-8",
                )
            ]
        ) from None
    if "\x00" in text:
        index = text.index("\x00")
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        raise ArchError(
            [
                Diagnostic(
                    "A104",
                    "the file contains a NUL byte: it looks binary, not a spec",
                    Span(name, line, column, line, column + 1),
                )
            ],
            text,
        )
    return text


def load(path: str | os.PathLike[str]) -> Program:
    """Read and check a spec file."""
    return parse(read_source(path), os.fspath(path))
