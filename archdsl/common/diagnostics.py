"""Source positions, diagnostics and their rendering.

Every error archdsl reports about a spec goes through here, so that the CLI, the
JSON output and the Python API all say the same thing in the same words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import replace

from archdsl.common.record import record

# Stable error codes. The first digit is the stage that finds the error:
# 1 reading and syntax, 2 names, blocks and arguments, 3 shapes and structure,
# 4 program level (models, selection), 5 limits, 6 code generation, 7 warnings and notes (the spec is
# accepted), 8 the installation (a framework that build or verify needs). docs/errors.md lists them all.
CODES: dict[str, str] = {
    "A100": "the file cannot be read",
    "A101": "unexpected character",
    "A102": "unexpected token",
    "A103": "unexpected end of input",
    "A104": "the file is not valid UTF-8",
    "A201": "unknown layer or block",
    "A202": "unknown keyword argument",
    "A203": "invalid argument value",
    "A204": "too many or misplaced positional arguments",
    "A205": "missing argument",
    "A206": "argument given twice",
    "A207": "invalid or reserved name",
    "A208": "duplicate definition",
    "A209": "recursive block",
    "A210": "invalid integer expression",
    "A211": "unknown word",
    "A212": "unknown or undefined reference",
    "A213": "reference in the wrong place",
    "A214": "inputs and outputs of a model",
    "A301": "layer cannot accept its input shape",
    "A302": "output size would be zero or negative",
    "A303": "branches must be merged",
    "A304": "merge without branches",
    "A305": "merged shapes do not agree",
    "A306": "input misplaced",
    "A307": "invalid input shape",
    "A308": "a value that is never used",
    "A309": "use of a layer on another shape, or of something that is not a layer",
    "A310": "init= names a recurrent layer of another type or size",
    "A401": "no model in the file",
    "A402": "several models, none selected",
    "A403": "unknown model",
    "A404": "a bare chain beside models",
    "A501": "nesting too deep",
    "A502": "spec too large",
    "A601": "the target cannot express this layer exactly",
    "A701": "warning: more parameters than a framework can comfortably allocate",
    "A702": "warning: a layer whose output cannot depend on its input",
    "A703": "warning: the input looks channels-first",
    "A704": "warning: filters and kernel size look swapped",
    "A705": "warning: embedding vocabulary and dimension look swapped",
    "A706": "warning: batchnorm momentum written in PyTorch's meaning",
    "A707": "note: the output keeps the steps axis",
    "A801": "a framework is not installed",
}


@record
class Span:
    """A range in a source file; lines and columns count from 1, end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def contains(self, other: Span) -> bool:
        """Whether `other` lies within this span."""
        return (self.line, self.column) <= (other.line, other.column) and (other.end_line, other.end_column) <= (
            self.end_line,
            self.end_column,
        )


@record
class Note:
    """A second place that explains an error, such as the block call that an error in a block body came from."""

    message: str
    span: Span

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, **_location(self.span)}


@record
class Fix:
    """The edit a hint proposes, ready to apply: replace the text of `span` (empty: insert) with `text`.

    A hint that shows what to write carries one, so that a test can apply every such hint
    and check that what it proposes is a spec that checks, and an editor can offer it.
    """

    span: Span
    text: str

    def apply(self, source: str) -> str:
        """`source` with the edit made; lines and columns count as the parser counts them."""
        starts = [0]
        for line in source.split("\n")[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        start = starts[self.span.line - 1] + self.span.column - 1
        end = starts[self.span.end_line - 1] + self.span.end_column - 1
        return source[:start] + self.text + source[end:]


SEVERITIES = ("error", "warning", "note")


@record
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: str = "error"  # "warning": likely a mistake, but the spec is accepted; "note": worth knowing
    notes: tuple[Note, ...] = ()
    fix: Fix | None = None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            **_location(self.span),
        }
        if self.severity != "error":  # errors keep their documented shape; warnings and notes say which they are
            data["severity"] = self.severity
        if self.notes:
            data["notes"] = [note.to_json() for note in self.notes]
        return data


def _location(span: Span) -> dict[str, object]:
    return {
        "file": span.file,
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


class ArchError(Exception):
    """A spec that archdsl cannot accept; carries every diagnostic found.

    The attributes of the first diagnostic are repeated on the exception so that
    the common case (`except ArchError as e: e.line`) needs no indexing.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str | None = None):
        if not diagnostics:
            raise ValueError("ArchError needs at least one diagnostic")
        self.diagnostics = tuple(diagnostics)
        self.source = source
        first = self.diagnostics[0]
        self.code = first.code
        self.message = first.message
        self.hint = first.hint
        self.file = first.span.file
        self.line = first.span.line
        self.column = first.span.column
        self.end_line = first.span.end_line
        self.end_column = first.span.end_column
        super().__init__(f"{self.file}:{self.line}:{self.column}: error: {self.message}")

    def render(self, color: bool = False) -> str:
        return render_all(self.diagnostics, self.source, color=color)

    def to_json(self) -> dict[str, object]:
        return {"errors": [d.to_json() for d in self.diagnostics]}


class DiagnosticSink:
    """Collects diagnostics during a pass so that one run reports them all."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def error(
        self,
        code: str,
        message: str,
        span: Span,
        hint: str | None = None,
        notes: tuple[Note, ...] = (),
        fix: Fix | None = None,
    ) -> None:
        assert code in CODES, code
        assert isinstance(span, Span), span
        self.items.append(Diagnostic(code, message, span, hint, notes=notes, fix=fix))

    def warn(self, code: str, message: str, span: Span, hint: str | None = None, fix: Fix | None = None) -> None:
        self.report(Diagnostic(code, message, span, hint, severity="warning", fix=fix))

    def report(self, diagnostic: Diagnostic) -> None:
        """A warning or a note: shown, and the spec is still accepted."""
        assert diagnostic.code in CODES, diagnostic.code
        assert diagnostic.severity in SEVERITIES[1:], diagnostic.severity
        self.warnings.append(diagnostic)

    def __bool__(self) -> bool:
        return bool(self.items)

    def errors(self) -> tuple[Diagnostic, ...]:
        """The errors in the order of the text, each once.

        The same problem found twice (a block expanded twice) is reported once, with the
        notes of every time it was found (each call of the block).
        """
        merged: dict[Diagnostic, list[Note]] = {}
        for item in self.items:
            notes = merged.setdefault(replace(item, notes=()), [])
            notes += [note for note in item.notes if note not in notes]
        unique = [replace(item, notes=tuple(notes)) for item, notes in merged.items()]
        return tuple(sorted(unique, key=lambda d: (d.span.line, d.span.column)))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest known spelling, for 'did you mean' hints; None when nothing is close.

    The same word in other letter case wins outright: `ReLU`, `SAME` and `True` are how
    the frameworks write `relu`, `same` and `true`, yet far from them by spelling distance.
    """
    known = sorted(set(candidates))
    lowered = word.lower()
    same_letters = [candidate for candidate in known if candidate.lower() == lowered]
    if same_letters:
        return same_letters[0]
    matches = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _caret_line(line_text: str, span: Span) -> str:
    start = max(span.column - 1, 0)
    if span.end_line == span.line:
        width = max(span.end_column - span.column, 1)
    else:
        width = max(len(line_text) - start, 1)
    # Keep tabs so the caret lines up under the same characters.
    pad = "".join("\t" if ch == "\t" else " " for ch in line_text[:start])
    return pad + "^" * width


SOURCE_WIDTH = 120


def _window(line: str, span: Span) -> tuple[str, Span]:
    """A long line cut to SOURCE_WIDTH columns around the caret, with '...' where it was cut."""
    if len(line) <= SOURCE_WIDTH:
        return line, span
    start = max(0, min(span.column - 1 - SOURCE_WIDTH // 3, len(line) - SOURCE_WIDTH))
    end = start + SOURCE_WIDTH
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(line) else ""
    column = span.column - start + len(prefix)
    end_column = span.end_column - start + len(prefix) if span.end_line == span.line else column + 1
    end_column = min(end_column, len(prefix) + SOURCE_WIDTH + 1)
    shown = Span(span.file, span.line, column, span.line, max(end_column, column + 1))
    return prefix + line[start:end] + suffix, shown


def printable(text: str, keep_tabs: bool = False) -> str:
    """Control characters (a crafted file name, a spec line) would drive the terminal: show '?'."""
    return "".join(ch if ch.isprintable() or (keep_tabs and ch == "\t") else "?" for ch in text)


_SEVERITY_COLOURS = {"error": "\x1b[31m", "warning": "\x1b[33m", "note": "\x1b[36m"}  # red, yellow, cyan


def render(diagnostic: Diagnostic, source: str | None, color: bool = False) -> str:
    """rustc-style text: the location line, the source line, a caret, a help line."""
    span = diagnostic.span
    bold, blue, cyan, reset = ("\x1b[1m", "\x1b[34m", "\x1b[36m", "\x1b[0m")
    severity_colour = _SEVERITY_COLOURS[diagnostic.severity]
    if not color:
        bold = blue = cyan = reset = severity_colour = ""
    head = (
        f"{bold}{printable(span.file)}:{span.line}:{span.column}:{reset} "
        f"{severity_colour}{bold}{diagnostic.severity}:{reset}{bold} {diagnostic.message}{reset} [{diagnostic.code}]"
    )
    lines = [head]
    # Lines as the parser counts them: str.splitlines() would also break at form feeds and the like.
    text_lines = source.split("\n") if source is not None else []
    lines += _snippet(text_lines, span, blue, severity_colour, reset)
    for note in diagnostic.notes:
        where = f" (line {note.span.line})" if not 1 <= note.span.line <= len(text_lines) else ""
        lines.append(f"{bold}note:{reset} {note.message}{where}")
        lines += _snippet(text_lines, note.span, blue, blue, reset)
    if diagnostic.hint:
        lines.append(f"{cyan}help:{reset} {diagnostic.hint}")
    return "\n".join(lines)


def _snippet(text_lines: list[str], span: Span, gutter_colour: str, caret_colour: str, reset: str) -> list[str]:
    """The source line of `span` with a caret under it, or nothing when the line is not in the text."""
    if not 1 <= span.line <= len(text_lines):
        return []
    # Control characters would garble a terminal: show them as '?', one column each.
    line_text = printable(text_lines[span.line - 1].rstrip("\r"), keep_tabs=True)
    line_text, shown = _window(line_text, span)
    gutter = str(span.line)
    return [
        f"{gutter_colour}{gutter} |{reset} {line_text}",
        f"{gutter_colour}{' ' * len(gutter)} |{reset} {caret_colour}{_caret_line(line_text, shown)}{reset}",
    ]


def render_all(diagnostics: Iterable[Diagnostic], source: str | None, color: bool = False) -> str:
    items = list(diagnostics)
    parts = [render(d, source, color) for d in items]
    counts = {kind: sum(1 for d in items if d.severity == kind) for kind in SEVERITIES}
    summary = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items() if n) + " found"
    return "\n\n".join(parts) + ("\n\n" + summary if len(parts) > 1 else "")
