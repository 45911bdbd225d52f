"""The stages behind the public API, each usable on its own by tools that embed archdsl."""

from __future__ import annotations

import os

from archdsl.analysis.infer import check_graph
from archdsl.common.diagnostics import ArchError, Diagnostic, DiagnosticSink, Span
from archdsl.common.gcpause import gc_paused
from archdsl.common.record import record
from archdsl.frontend import nodes
from archdsl.frontend.expand import expand
from archdsl.frontend.tree_builder import deep_recursion, parse_module, recover_module, too_deep
from archdsl.ir.graph import Graph
from archdsl.ir.model import Program

MAX_SOURCE_BYTES = 10 * 1024 * 1024


def parse(text: str, filename: str = "<string>") -> Program:
    """Parse, expand and check a spec; raises ArchError listing every problem found."""
    with gc_paused():
        checked = _check(text, filename, recover=False)
    if checked.errors:
        raise ArchError(checked.errors, text)
    return checked.program


@record
class Checked:
    """What every stage made of a text, problems included: for tools that must answer on any text.

    `errors` are what `parse` raises. With syntax errors they are those alone, and the rest is
    made from the statements that parse (`recover_module`): the syntax tree, the graphs and the
    models that check, with their spans true of the text, so that an editor can still show the
    shapes of a model while another statement is being typed. `program.models` are the models
    that checked; `program.warnings` the warnings when the syntax is right.
    """

    module: nodes.Module | None
    graphs: tuple[Graph, ...]
    program: Program
    errors: tuple[Diagnostic, ...]


def check(text: str, filename: str = "<string>") -> Checked:
    """Every stage on `text`, never raising for a problem of the spec (the language server's view)."""
    with gc_paused():
        try:
            return _check(text, filename, recover=True)
        except ArchError as error:  # nested too deeply for the recursive passes
            return Checked(None, (), Program(filename, text, ()), error.diagnostics)


def _check(text: str, filename: str, recover: bool) -> Checked:
    if recover:
        module, syntax = recover_module(text, filename)
    else:
        module, syntax = parse_module(text, filename), ()
    if module is None:
        return Checked(None, (), Program(filename, text, ()), syntax)
    sink = DiagnosticSink()
    try:
        with deep_recursion():
            graphs, blocks = expand(module, sink)
    except RecursionError:
        raise too_deep(filename, text) from None
    models = tuple(m for m in (check_graph(graph, sink, text) for graph in graphs) if m is not None)
    warnings = () if syntax else tuple(dict.fromkeys(sink.warnings))
    program = Program(filename, text, models, tuple(blocks), warnings)
    return Checked(module, tuple(graphs), program, syntax or sink.errors())


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
