"""The statement lexer against Lark's own: the same tokens, positions and errors.

`archdsl.frontend.lexer.StatementLexer` scans the grammar's terminals in one fused loop with the
newline filter. The reference here is the plain way to say the same thing: Lark's basic
lexer for the grammar, then the filter as a separate postlexer, written for clarity.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from strategies import seed_corpus, texts

from archdsl.common.resources import grammar_path
from archdsl.frontend.lexer import StatementLexer
from archdsl.frontend.parser import PARSER_OPTIONS, parser, tokens


class ReferenceNewlines:
    """The newline rules of the language, written plainly over a list of Lark's tokens.

    At the top level a newline ends a statement unless the next line starts with '->' or
    '|'. Directly inside '{}' it ends one only before `input`, `@name`, `( @name` or
    `output @name`, and not after '->', '|', '=', '*' or '{'. Inside '()' it never does.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        ahead: collections.deque[Token] = collections.deque()
        failed: list[UnexpectedCharacters] = []  # met while peeking: raised where the text reaches it

        def tokens() -> Iterator[Token]:
            while True:
                if ahead:
                    yield ahead.popleft()
                    continue
                if failed:
                    raise failed[0]
                token = next(stream, None)
                if token is None:
                    return
                yield token

        def peek_past_newlines() -> Token | None:
            for token in ahead:
                if token.type != "_NL":
                    return token
            try:
                for token in stream:
                    ahead.append(token)
                    if token.type != "_NL":
                        return token
            except UnexpectedCharacters as error:
                failed.append(error)
            return None

        opened: list[str] = []
        pending = None
        previous = None
        for token in tokens():
            if token.type == "_NL":
                in_braces = bool(opened) and opened[-1] == "LBRACE"
                may_end = not opened or (
                    in_braces
                    and previous is not None
                    and previous.type not in ("ARROW", "LBRACE", "VBAR", "EQUAL", "STAR")
                )
                if may_end and pending is None:
                    pending = token
                continue
            if pending is not None:
                if not opened:
                    ends = token.type not in ("ARROW", "VBAR")
                else:
                    starts = token.type == "LPAR" or (token.type == "NAME" and str(token) == "output")
                    after = peek_past_newlines() if starts else None
                    ends = token.type in ("INPUT", "REF") or (after is not None and after.type == "REF")
                if ends:
                    yield pending
                pending = None
            if token.type in ("LPAR", "LBRACE"):
                opened.append(token.type)
            elif token.type in ("RPAR", "RBRACE") and opened:
                opened.pop()
            previous = token
            yield token
        if pending is not None and not opened:
            yield pending


def _reference() -> Lark:
    options = {**PARSER_OPTIONS, "lexer": "basic"}
    return Lark(grammar_path().read_text(encoding="utf-8"), postlex=ReferenceNewlines(), **options)


REFERENCE = _reference()


def _described(token: Token) -> tuple:
    return (
        token.type,
        str(token),
        token.start_pos,
        token.line,
        token.column,
        token.end_line,
        token.end_column,
        token.end_pos,
    )


def _outcome_of_lexing(lex) -> tuple[list[tuple], tuple | None]:
    found: list[tuple] = []
    try:
        for token in lex():
            found.append(_described(token))
    except UnexpectedCharacters as error:
        return found, (error.pos_in_stream, error.line, error.column, frozenset(error.allowed))
    return found, None


def assert_same_tokens(text: str) -> None:
    ours = _outcome_of_lexing(lambda: tokens(text))
    reference = _outcome_of_lexing(lambda: REFERENCE.lex(text))
    assert ours == reference


def _tree_tokens(tree: Tree) -> list[tuple]:
    return [_described(t) for t in tree.scan_values(lambda v: isinstance(v, Token))]


def _outcome_of_parsing(lark: Lark, text: str) -> tuple:
    try:
        tree = lark.parse(text)
    except UnexpectedToken as error:
        return (
            "token",
            _described(error.token),
            frozenset(error.expected),
            frozenset(error.interactive_parser.accepts()),
        )
    except UnexpectedInput as error:
        return ("characters", error.pos_in_stream, error.line, error.column)
    return ("tree", tree, _tree_tokens(tree))


def assert_same_parse(text: str) -> None:
    assert _outcome_of_parsing(parser(), text) == _outcome_of_parsing(REFERENCE, text)


def test_the_project_parser_runs_the_statement_lexer() -> None:
    assert parser().options.lexer is StatementLexer


@pytest.mark.parametrize("index", range(len(seed_corpus())))
def test_every_example_and_snippet_lexes_and_parses_as_with_larks_lexer(index: int) -> None:
    text = seed_corpus()[index]
    assert_same_tokens(text)
    assert_same_parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n\n",
        "   # only a comment",
        "input 8 -> dense 4   \n   ",
        "input 8 -> dense 4 # trailing\n# last",
        "input 8\n-> dense 4\n| dense 2\n",
        "(input 8\n -> dense 4\n)",
        "model M {\n  input 8\n\n  -> dense 4\n}\nmodel N { input 2 -> dense 1 }",
        "input 8 -> dense 4 @ 3",
        "input 8 ->   \t\f  $",
        "input 8\r\n-> dense 4\r\n",
        "input 3x3 -> conv2d 8 3x-1 -> dense (2*(3+4)//5)",
        "input 4x4x3 -> normalize mean=0.5x-1.25x2 variance=1 x 0.5 x 2.0 -> rescale 1.x2",
        "block b(n, k=3) = conv2d n k\ninput 8x8x1 -> b(4) * 2",
        "input 8 -> dense 4 'relu'",
        " " * 5000 + "!",  # a long run of spaces before a bad character: no backtracking blow-up
        "input 8 -> dense 4\n" + "    " * 2000 + "\n-> dense 2",
    ],
)
def test_edge_cases_lex_and_parse_as_with_larks_lexer(text: str) -> None:
    assert_same_tokens(text)
    assert_same_parse(text)


@settings(max_examples=400, deadline=None)
@given(texts())
def test_random_texts_lex_and_parse_as_with_larks_lexer(text: str) -> None:
    assert_same_tokens(text)
    assert_same_parse(text)


def test_the_comparison_sees_a_difference() -> None:
    """The oracle is not vacuous: a token stream with one newline dropped differs."""
    text = "input 8\ninput 4\n"
    with_newline = _outcome_of_lexing(lambda: REFERENCE.lex(text))
    without = _outcome_of_lexing(lambda: (t for t in REFERENCE.lex(text) if t.type != "_NL"))
    assert with_newline != without
    assert_same_tokens(text)


def test_ignored_terminals_never_span_lines() -> None:
    """The lexer skips spaces and comments without counting lines in them: they must not hold a newline."""
    lark = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="basic")
    ignored = {name: lark.get_terminal(name).pattern.to_regexp() for name in lark.ignore_tokens}
    assert set(ignored) == {"WS", "COMMENT"}
    for pattern in ignored.values():
        for text in ("\n", " \n", "#\n", "# a\nb", "\r\n"):
            assert re.fullmatch(pattern, text) is None, (pattern, text)
