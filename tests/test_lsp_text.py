"""The pure parts of the language server, in process: positions, and completion of the graph syntax.

Positions: archdsl's spans count lines at `\\n` and columns in characters; LSP counts lines at
`\\r\\n`, `\\r` and `\\n` and columns in UTF-16 units (or what the client chose). The completion
of `@NAME` is checked with the grammar's answer forced, so that it is ready when the graph syntax
of LANGUAGE.md §7 lands (tests/test_lsp.py checks it through the server once it has).
"""

from __future__ import annotations

import pytest
from lsprotocol import types

from archdsl.common.diagnostics import Span
from archdsl.lsp import completion
from archdsl.lsp.completion import complete, place_at
from archdsl.lsp.text import Text

TEXT = "# 😀 é\r\n\fmodel A {  # a \r in a comment\r\n  input 10 -> lstm 3\r\n}\r\n"


def test_a_span_is_converted_through_offsets() -> None:
    text = Text(TEXT)
    # The parser's line 3 is `  input 10 -> lstm 3\r`; LSP sees a line break at the lone \r too.
    span = Span("x", 3, 15, 3, 21)
    start, end = text.span_offsets(span)
    assert TEXT[start:end] == "lstm 3"
    assert text.span_range(span) == types.Range(
        start=types.Position(line=3, character=14), end=types.Position(line=3, character=20)
    )


@pytest.mark.parametrize(("encoding", "column"), [("utf-16", 6), ("utf-8", 9), ("utf-32", 5)])
def test_columns_in_the_units_the_client_chose(encoding: str, column: int) -> None:
    text = Text(TEXT, encoding)
    offset = TEXT.index("é") + 1
    assert text.position(offset) == types.Position(line=0, character=column)
    assert text.offset_at(types.Position(line=0, character=column)) == offset


def test_positions_past_the_end_are_clamped() -> None:
    text = Text("input 10\n-> dense 3")
    assert text.offset_at(types.Position(line=0, character=99)) == len("input 10")
    assert text.offset_at(types.Position(line=7, character=0)) == len(text.source)
    assert text.offset(9, 9) == len(text.source)
    assert text.end_position() == types.Position(line=1, character=10)


def test_an_incremental_change_is_applied_at_lsp_positions() -> None:
    text = Text("a\r\nb\fc\rd\n")
    changed = text.replaced(
        types.Range(start=types.Position(line=1, character=2), end=types.Position(line=2, character=1)), "X"
    )
    assert changed.source == "a\r\nb\fX\n"
    assert text.replaced(None, "whole").source == "whole"


def test_references_are_completed_once_the_grammar_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "model A {\n  input 64x64x3 -> conv2d 8 relu as trunk -> dense 3 as head  # as nope\n  @t"
    monkeypatch.setattr(completion, "has_references", lambda: True)
    items = complete(Text(source), len(source))
    assert [item.label for item in items] == ["@trunk", "@head"]
    assert items[0].text_edit.range.start == types.Position(line=2, character=2)  # the '@' is replaced too
    # At the start of a new line of a model body: a reference starts a statement.
    source = source[: -len("@t")]
    assert place_at(source, len(source)).state == completion.HEAD
    labels = [item.label for item in complete(Text(source), len(source))]
    assert "@trunk" in labels and "conv2d" in labels


def test_without_the_graph_syntax_no_reference_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(completion, "has_references", lambda: False)
    source = "model A {\n  input 64x64x3 -> conv2d 8 relu as trunk\n  -> @t"
    assert [item.label for item in complete(Text(source), len(source))] == []
