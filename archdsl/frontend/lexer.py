"""The lexer Lark runs for the .arch grammar: its terminals, and the newlines that end statements."""

from __future__ import annotations

import re
from collections.abc import Iterator

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, Lexer, LexerState

_OPENERS = {"LPAR": "RPAR", "LBRACE": "RBRACE"}
_CLOSERS = frozenset(_OPENERS.values())
# Inside '{}', a line that ends with one of these goes on: the statement is not over.
_GOES_ON = frozenset({"ARROW", "LBRACE", "VBAR", "EQUAL", "STAR", "_NL"})
# Inside '{}' newlines are free, as they always were, except before what can only start a
# statement of a model (section 7 of LANGUAGE.md): `input`, a reference, a group whose
# first branch starts with a reference, and `output @...`.
_STARTS_STATEMENT = frozenset({"INPUT", "REF"})
_STARTS_STATEMENT_BEFORE_REF = frozenset({"LPAR", "NAME"})  # `( @a | ...`, `output @a ...`


def _may_end_statement_in_braces(last: Token | None) -> bool:
    """Whether a newline after `last`, directly inside '{}', may end a statement."""
    return last is not None and last.type not in _GOES_ON


# Token(...) checks its keyword arguments for a deprecated spelling on every call; calling
# the constructor it hands over to (Lark 1.1 and later) saves a fifth of the lexer's time.
_new_token = getattr(Token, "_future_new", Token)


class StatementLexer(Lexer):
    """The lexer Lark runs: the grammar's terminals, and newlines that end statements.

    A newline ends a statement only at the top level, before a line that does not start with
    '->' or '|', and directly inside a model's {}, before what can only start a statement
    (`input`, `@name`, `( @name`, `output @name`) and after a line that does not end with
    '->', '|', '=' or '*'. Everywhere else it is dropped, so a chain may go on over lines.
    That filter is fused into one loop with the scanning, instead of a
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

    def _next_kind(self, text: str, pos: int, end: int) -> str | None:
        """The kind of the token after `pos` (newlines skipped), without consuming it."""
        while pos < end:
            found = self._next.match(text, pos, end)
            if found is None:
                return None
            if found.lastgroup != "_NL":
                return found.lastgroup
            pos = found.end()
        return None

    def lex(self, lexer_state: LexerState, parser_state: object) -> Iterator[Token]:
        text = lexer_state.text.text
        end = lexer_state.text.end
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        match, reserved, multiline, new_token = self._next.match, self._reserved, self._multiline, _new_token
        # The open brackets, innermost last: a newline can end a statement at the top level and
        # directly inside '{}' (a model's statements), never inside '()'.
        opened: list[str] = []
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
                    if held is None and (not opened or (opened[-1] == "LBRACE" and _may_end_statement_in_braces(last))):
                        held = token
                    continue
                if held is not None:
                    if not opened:
                        ends = kind != "ARROW" and kind != "VBAR"
                    elif kind in _STARTS_STATEMENT:
                        ends = True
                    elif kind in _STARTS_STATEMENT_BEFORE_REF and (kind == "LPAR" or value == "output"):
                        ends = self._next_kind(text, stop, end) == "REF"
                    else:
                        ends = False
                    if ends:
                        last = held
                        yield held
                    held = None
                if kind in _OPENERS:
                    opened.append(kind)
                elif kind in _CLOSERS and opened:
                    opened.pop()
                last = token
                yield token
            if held is not None and not opened:  # inside an unclosed '{' the end says it
                last = held
                yield held
        finally:
            counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
            counter.column = pos - line_start + 1
            lexer_state.last_token = last
