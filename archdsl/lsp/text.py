"""One version of a document's text, and the two ways of counting its lines.

archdsl's spans count lines as the parser does (only `\n` ends a line) and columns in
characters, from 1. LSP counts lines from 0, ends them at `\r\n`, `\r` or `\n`, and counts
columns in the code units the client and server agreed on (UTF-16 unless the client offers
another). Every conversion goes through an offset into the text, so the two never mix: a
form feed (whitespace in .arch) or a `\r` in a comment moves nothing.

The server applies incremental changes here rather than through pygls' documents, which split
lines as `str.splitlines` does (at form feeds and U+2028 too) and would misplace an edit.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import cached_property

from lsprotocol import types

from archdsl.common.diagnostics import Span

_CLIENT_LINE_END = re.compile(r"\r\n|\r|\n")
UNITS = {"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}
_WIDTH = {"utf-8": 1, "utf-16": 2, "utf-32": 4}


class Text:
    """The text of a document at one version; positions are converted lazily and cheaply."""

    def __init__(self, source: str, encoding: str = "utf-16"):
        self.source = source
        self.encoding = encoding if encoding in UNITS else "utf-16"

    @cached_property
    def _parser_starts(self) -> list[int]:
        starts = [0]
        find = self.source.find
        index = find("\n")
        while index >= 0:
            starts.append(index + 1)
            index = find("\n", index + 1)
        return starts

    @cached_property
    def _client_starts(self) -> list[int]:
        return [0, *(match.end() for match in _CLIENT_LINE_END.finditer(self.source))]

    # ---------------------------------------------------------------- archdsl's spans

    def offset(self, line: int, column: int) -> int:
        """The offset of a parser position (1-based line and column), clamped into its line."""
        starts = self._parser_starts
        if line < 1:
            return 0
        if line > len(starts):
            return len(self.source)
        start = starts[line - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.source)
        return min(max(start + column - 1, start), end)

    def span_offsets(self, span: Span) -> tuple[int, int]:
        start = self.offset(span.line, span.column)
        return start, max(start, self.offset(span.end_line, span.end_column))

    def span_range(self, span: Span) -> types.Range:
        return self.range(*self.span_offsets(span))

    # ---------------------------------------------------------------- LSP's positions

    def position(self, offset: int) -> types.Position:
        offset = min(max(offset, 0), len(self.source))
        starts = self._client_starts
        line = bisect_right(starts, offset) - 1
        before = self.source[starts[line] : offset]
        return types.Position(line=line, character=self._units(before))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(end))

    def offset_at(self, position: types.Position) -> int:
        """The offset of an LSP position; a position past a line's end is its end, as the protocol says."""
        starts = self._client_starts
        if position.line < 0:
            return 0
        if position.line >= len(starts):
            return len(self.source)
        start = starts[position.line]
        end = starts[position.line + 1] if position.line + 1 < len(starts) else len(self.source)
        line = self.source[start:end]
        stripped = line.rstrip("\r\n")
        wanted = max(position.character, 0)
        if stripped.isascii() or self.encoding == "utf-32":
            return start + min(wanted, len(stripped))
        units = 0
        for index, char in enumerate(stripped):
            if units >= wanted:
                return start + index
            units += len(char.encode(UNITS[self.encoding])) // _WIDTH[self.encoding]
        return start + len(stripped)

    def end_position(self) -> types.Position:
        return self.position(len(self.source))

    def _units(self, text: str) -> int:
        if text.isascii() or self.encoding == "utf-32":
            return len(text)
        return len(text.encode(UNITS[self.encoding])) // _WIDTH[self.encoding]

    # ---------------------------------------------------------------- edits

    def replaced(self, range_: types.Range | None, new_text: str) -> Text:
        """The text after one change event: a range replaced, or (no range) the whole text."""
        if range_ is None:
            return Text(new_text, self.encoding)
        start = self.offset_at(range_.start)
        end = max(start, self.offset_at(range_.end))
        return Text(self.source[:start] + new_text + self.source[end:], self.encoding)
