"""The lexer Lark runs for the .arch grammar: its terminals, and the newlines that end statements."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, Lexer, LexerState

_OPENERS = {"LPAR": "RPAR", "LBRACE": "RBRACE"}
_CLOSERS = frozenset(_OPENERS.values())

# Token(...) checks its keyword arguments for a deprecated spelling on every call; calling
# the constructor it hands over to (Lark 1.1 and later) saves a fifth of the lexer's time.
_new_token = getattr(Token, "_future_new", Token)


class StatementLexer(Lexer):
    """The lexer Lark runs: the grammar's terminals, and newlines that end statements.

    A newline ends a statement only at the top level: inside () and {} and before a line
    that starts with '->' or '|' it is dropped, so a bare chain or a block body may go on
    over several lines. That filter is fused into one loop with the scanning, instead of a
    postlexer generator after Lark's basic lexer: with the whitespace and comments before
    each token skipped by the same regular expression, lexing costs half as much.

    The terminals, their order of precedence and the reserved words are still Lark's own
    (taken from its basic lexer for this grammar), so the grammar file stays the reference;
    tests check token for token against Lark's lexer with the filter applied separately.
    Ignored terminals (spaces, comments) must not span lines: the line count skips them.
    """

    __future_interface__ = 2  # lex(lexer_state, parser_state), as Lark's own lexers

    def __init__(self, conf) -> None:
        basic = BasicLexer(conf)
        in_order = basic.scanner.terminals  # by precedence, reserved words left out
        ignored = [t for t in in_order if t.name in basic.ignore_types]
        scanned = [t for t in in_order if t.name not in basic.ignore_types]
        # A reserved word is not a terminal of its own in the scan: NAME matches it and the
        # word decides the type, as in Lark's basic lexer.
        self._reserved = {
            kind: {t.pattern.value: t.name for t in callback.scanner.terminals}
            for kind, callback in basic.callback.items()
        }
        skip = "|".join(t.pattern.to_regexp() for t in ignored)
        tokens = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanned)
        self._skip = re.compile(f"(?:{skip})*+", conf.g_regex_flags)
        self._next = re.compile(f"(?:{skip})*+(?:{tokens})", conf.g_regex_flags)
        self._multiline = basic.newline_types
        self._allowed = {t.name for t in scanned}  # as Lark reports it: reserved words aside
        self._terminals_by_name = basic.terminals_by_name

    def lex(self, lexer_state: LexerState, parser_state: object) -> Iterator[Token]:
        text = lexer_state.text.text
        end = lexer_state.text.end
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        match, reserved, multiline, new_token = self._next.match, self._reserved, self._multiline, _new_token
        depth = 0
        held: Token | None = None  # a newline, until the next token says whether it ends a statement
        last: Token | None = lexer_state.last_token
        try:
            while pos < end:
                found = match(text, pos, end)
                if found is None:
                    pos = self._skip.match(text, pos, end).end()
                    if pos == end:
                        break
                    last = held or last
                    raise UnexpectedCharacters(
                        text,
                        pos,
                        line,
                        pos - line_start + 1,
                        allowed=self._allowed,
                        token_history=last and [last],
                        state=parser_state,
                        terminals_by_name=self._terminals_by_name,
                    )
                kind = found.lastgroup
                start = found.start(kind)
                stop = found.end()
                value = text[start:stop]
                first_line, column = line, start - line_start + 1
                if kind in multiline and "\n" in value:
                    line += value.count("\n")
                    line_start = start + value.rindex("\n") + 1
                words = reserved.get(kind)
                if words is not None:
                    kind = words.get(value, kind)
                token = new_token(kind, value, start, first_line, column, line, stop - line_start + 1, stop)
                pos = stop
                if kind == "_NL":
                    if depth == 0 and held is None:
                        held = token
                    continue
                if held is not None:
                    if kind != "ARROW" and kind != "VBAR":
                        last = held
                        yield held
                    held = None
                if kind in _OPENERS:
                    depth += 1
                elif kind in _CLOSERS and depth:
                    depth -= 1
                last = token
                yield token
            if held is not None:
                last = held
                yield held
        finally:
            counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
            counter.column = pos - line_start + 1
            lexer_state.last_token = last
