"""The Pygments lexer for .arch (archdsl/highlight.py), through the entry point Pygments really uses.

The token types of every name are checked against the parser: for each token of Lark's parse
tree the lexer must give a token at the same place, with the same text, of the type its place
in the tree calls for (a layer, a block call, a keyword argument, an option word...).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from lark import Token, Tree
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import (
    find_lexer_class_by_name,
    get_lexer_by_name,
    get_lexer_for_filename,
    get_lexer_for_mimetype,
)
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, Punctuation, Whitespace
from strategies import GeneratedProgram, programs, texts

from archdsl import ArchError
from archdsl.frontend.parser import parse_tree, tokens
from archdsl.layers import ACTIVATIONS, LAYERS, PADDINGS
from archdsl.tools.highlight import ArchLexer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch")) + sorted((ROOT / "examples" / "applications").glob("*.arch"))
CONTRACT = ROOT.parent / "shared" / "LANGUAGE.md"
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lex(text: str) -> list[tuple[int, object, str]]:
    """The raw token stream: no newline normalisation, no stripping, no added newline."""
    return list(ArchLexer().get_tokens_unprocessed(text))


def significant(text: str) -> list[tuple[str, object]]:
    return [(value, token) for _, token, value in lex(text) if token is not Whitespace]


# ---------------------------------------------------------------- the parser as the oracle

# What the layer table says a word among a layer's arguments is (written out again here, not
# taken from the lexer): activations, then paddings and booleans, then flags.
ARGUMENT_WORDS = {
    **{flag: Name.Attribute for spec in LAYERS.values() for flag in spec.flags},
    **{word: Keyword.Constant for word in (*PADDINGS, "causal", "true", "false")},
    **{word: Name.Builtin.Pseudo for word in (*ACTIVATIONS, "none", "linear")},
}
TERMINALS = {
    "BLOCK": Keyword.Declaration,
    "MODEL": Keyword.Declaration,
    "INPUT": Keyword,
    "RESIDUAL": Keyword,
    "AS": Keyword,
    "X": Operator,
    "ARROW": Operator,
    "PLUS": Operator,
    "FLOORDIV": Operator,
    "VBAR": Operator,
    "STAR": Operator,
    "EQUAL": Operator,
    "MINUS": Operator,
    "LPAR": Punctuation,
    "RPAR": Punctuation,
    "LBRACE": Punctuation,
    "RBRACE": Punctuation,
    "COMMA": Punctuation,
    "DIMS": Number,
    "REF": Name.Label,
}
FIRST_NAME = {"block_def": Name.Function, "model_def": Name.Class, "param": Name.Variable, "keyword": Name.Attribute}
EXPRESSIONS = frozenset({"paren_expr", "binop", "minus", "times", "negate"})


def expected_tokens(text: str) -> dict[int, tuple[str, object]]:
    """offset -> (text, token type) for every token of the parse tree (newlines aside).

    Written for the tree with or without the anonymous tokens ('(', '=', ...) kept in it.
    """
    expected: dict[int, tuple[str, object]] = {}
    # Where the tree drops the brackets, `(n)` (an expression of one word) is found in the token stream.
    stream = list(tokens(text))
    in_parens = {token.start_pos for before, token in pairwise(stream) if before.type == "LPAR"}

    params: set[str] = set()  # of the block being defined

    def put(token: Token, kind) -> None:
        expected[token.start_pos] = (str(token), kind)

    def visit(node, place: str) -> None:
        if node is None:
            return
        if isinstance(node, Token):
            if node.type == "NUMBER":
                put(node, Number.Integer if node.isdigit() else Number.Float)
            elif node.type == "NAME" and (place in ("input", "expr") or node.start_pos in in_parens):
                put(node, Name.Variable)
            elif node.type == "NAME":
                put(node, ARGUMENT_WORDS.get(str(node), Name.Variable))
            elif node.type != "_NL":  # newlines: the lexer may split the spaces after one differently
                assert node.type in TERMINALS, f"a terminal this test does not know: {node.type}"
                put(node, TERMINALS[node.type])
            return
        assert isinstance(node, Tree)
        rule = node.data
        names = [kid for kid in node.children if isinstance(kid, Token) and kid.type == "NAME"]
        first = names[0] if names and (rule in FIRST_NAME or rule == "layer") else None
        if rule == "block_def":  # its parameters may stand as layers in its body
            params.clear()
            params.update(str(p.children[0]) for p in node.children if isinstance(p, Tree) and p.data == "param")
        elif rule == "model_def":
            params.clear()
        if first is not None and rule == "layer":
            if first in ("use", "output"):
                kind = Keyword
            else:
                kind = Name.Builtin if first in LAYERS else Name.Variable if first in params else Name.Function
            put(first, kind)
        elif first is not None:
            put(first, FIRST_NAME[rule])
        after_as = False
        for kid in node.children:
            if kid is first:
                continue
            if isinstance(kid, Token) and kid.type == "AS":
                after_as = True
            elif after_as and isinstance(kid, Token) and kid.type == "NAME":
                put(kid, Name.Label)
                continue
            visit(kid, "input" if rule == "input" else "expr" if rule in EXPRESSIONS else place)

    visit(parse_tree(text, "spec.arch"), "arg")
    return expected


def assert_highlighted(text: str) -> None:
    """No Error token, an exact round trip, and every token of the parse tree typed as it should be."""
    tokens = lex(text)
    assert "".join(value for _, _, value in tokens) == text
    assert all(value for _, _, value in tokens), "an empty token"
    errors = [(text.count("\n", 0, index) + 1, value) for index, token, value in tokens if token in Error]
    assert not errors, f"Error tokens (line, text): {errors}"
    got = {index: (value, token) for index, token, value in tokens}
    for index, (value, kind) in sorted(expected_tokens(text).items()):
        line = text.count("\n", 0, index) + 1
        assert index in got, f"line {line}: no token starts at {value!r}"
        assert got[index] == (value, kind), f"line {line}: {value!r} should be {kind}, the lexer says {got[index]}"


# ---------------------------------------------------------------- Pygments finds it


def test_the_entry_point_is_installed() -> None:
    found = [ep for ep in entry_points(group="pygments.lexers") if ep.name == "arch"]
    assert len(found) == 1, "archdsl's pygments.lexers entry point is not installed (pip install -e .)"
    assert found[0].value == "archdsl.tools.highlight:ArchLexer"
    assert found[0].load() is ArchLexer


@pytest.mark.parametrize("alias", ["arch", "archdsl", "ARCH"])
def test_found_by_alias(alias: str) -> None:
    assert type(get_lexer_by_name(alias)) is ArchLexer


def test_found_by_name_filename_and_mimetype() -> None:
    assert find_lexer_class_by_name("arch") is ArchLexer
    assert type(get_lexer_for_filename("x.arch")) is ArchLexer
    assert type(get_lexer_for_filename("models/resnet.arch")) is ArchLexer
    assert type(get_lexer_for_mimetype("text/x-arch")) is ArchLexer
    assert ArchLexer.name == "Arch"
    assert ArchLexer.url and ArchLexer.version_added


def _pygmentize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pygments", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_pygmentize_colours_an_example_for_a_terminal() -> None:
    path = ROOT / "examples" / "resnet.arch"
    done = _pygmentize("-l", "arch", "-f", "terminal", str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b[" in done.stdout
    assert ANSI.sub("", done.stdout) == path.read_text(encoding="utf-8")


def test_pygmentize_picks_the_lexer_from_the_file_name_for_html(tmp_path: Path) -> None:
    path = tmp_path / "net.arch"
    path.write_text("model Net {\n  input 28x28x1 -> conv2d 8 3x3 same relu -> stage 8\n}\n", encoding="utf-8")
    done = _pygmentize("-f", "html", "-O", "full", str(path))
    assert done.returncode == 0, done.stderr
    html = done.stdout
    assert html.startswith("<!DOCTYPE html")
    assert '<span class="kd">model</span>' in html
    assert '<span class="nc">Net</span>' in html
    assert '<span class="nb">conv2d</span>' in html
    assert '<span class="nf">stage</span>' in html
    assert '<span class="m">28x28x1</span>' in html
    assert 'class="err"' not in html


# ---------------------------------------------------------------- token types

SNIPPET = """\
# an encoder
block conv_bn(c, k=3x3, act=relu) = conv2d c k same act -> batchnorm
model Tagger {
  input seq x 8 -> conv1d 16 3 stride = 2 -> lstm 64 seq as enc
  -> conv_bn 32 * 2 -> dense (c*4) softmax -> reshape -1x64
}
"""


def test_every_token_of_a_representative_snippet() -> None:
    assert significant(SNIPPET) == [
        ("# an encoder", Comment.Single),
        ("block", Keyword.Declaration),
        ("conv_bn", Name.Function),
        ("(", Punctuation),
        ("c", Name.Variable),
        (",", Punctuation),
        ("k", Name.Variable),
        ("=", Operator),
        ("3x3", Number),
        (",", Punctuation),
        ("act", Name.Variable),
        ("=", Operator),
        ("relu", Name.Builtin.Pseudo),
        (")", Punctuation),
        ("=", Operator),
        ("conv2d", Name.Builtin),
        ("c", Name.Variable),
        ("k", Name.Variable),
        ("same", Keyword.Constant),
        ("act", Name.Variable),
        ("->", Operator),
        ("batchnorm", Name.Builtin),
        ("model", Keyword.Declaration),
        ("Tagger", Name.Class),
        ("{", Punctuation),
        ("input", Keyword),
        ("seq", Name.Variable),
        ("x", Operator),
        ("8", Number.Integer),
        ("->", Operator),
        ("conv1d", Name.Builtin),
        ("16", Number.Integer),
        ("3", Number.Integer),
        ("stride", Name.Attribute),
        ("=", Operator),
        ("2", Number.Integer),
        ("->", Operator),
        ("lstm", Name.Builtin),
        ("64", Number.Integer),
        ("seq", Name.Attribute),
        ("as", Keyword),
        ("enc", Name.Label),
        ("->", Operator),
        ("conv_bn", Name.Function),
        ("32", Number.Integer),
        ("*", Operator),
        ("2", Number.Integer),
        ("->", Operator),
        ("dense", Name.Builtin),
        ("(", Punctuation),
        ("c", Name.Variable),
        ("*", Operator),
        ("4", Number.Integer),
        (")", Punctuation),
        ("softmax", Name.Builtin.Pseudo),
        ("->", Operator),
        ("reshape", Name.Builtin),
        ("-1x64", Number),
        ("}", Punctuation),
    ]
    assert_highlighted(SNIPPET)


GRAPH = """\
model M {
  input 8 as left -> dense 4 as enc
  input 8 as right -> use enc as again
  ( @enc | @again ) -> add -> lstm 4 seq init=@enc
  output @again
}
"""


def test_the_words_of_the_graph_syntax() -> None:
    """References read as the names they point at, `use` and `output` as words of the language."""
    tokens = significant(GRAPH)
    assert tokens.count(("@enc", Name.Label)) == 2
    assert ("@again", Name.Label) in tokens and ("again", Name.Label) in tokens
    assert ("left", Name.Label) in tokens and ("right", Name.Label) in tokens
    assert ("use", Keyword) in tokens and ("output", Keyword) in tokens
    assert ("init", Name.Attribute) in tokens


def test_whitespace_is_whitespace() -> None:
    assert {token for _, token, value in lex(SNIPPET) if not value.strip()} == {Whitespace}


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("input 8 -> dense 4 relu", "relu", Name.Builtin.Pseudo),  # an activation as an argument
        ("input 8 -> dense 4 -> relu", "relu", Name.Builtin),  # the same word as a layer
        ("input 8 -> dense 4 none", "none", Name.Builtin.Pseudo),
        ("input 8 -> dense 4 bias=false", "false", Keyword.Constant),
        ("input 4x4x1 -> maxpool valid", "valid", Keyword.Constant),
        ("input seq x 8 -> gru 4 bidirectional", "bidirectional", Name.Attribute),
        ("input seq x 8 -> gru 4", "seq", Name.Variable),  # a symbolic dimension
        ("input 8 -> dense 0.5e-3", "0.5e-3", Number.Float),
        ("input 8 -> dense .5", ".5", Number.Float),
        ("input 8 -> dense 1.", "1.", Number.Float),
        ("input 8 -> concat axis=-1", "-", Operator),
        ("input 8 -> dense (d//2)", "//", Operator),
        ("input 8 -> dense (n+1)", "+", Operator),
        ("input 8xseq", "xseq", Name.Variable),  # `8` then the name `xseq`, as the grammar reads it
        ("input 8 -> dense 4 as x_", "x_", Name.Label),  # not the reserved `x`
        ("block b(act) = dense 4 -> act", "act", Name.Variable),  # a parameter standing as a layer
        ("block b(act) = dense 4\nmodel M { input 8 -> act }", "act", Name.Function),  # only in its block
    ],
)
def test_a_word_in_its_place(text: str, value: str, kind) -> None:
    assert (value, kind) in significant(text)


def test_a_parenthesis_opens_a_group_where_a_node_starts_and_an_expression_after_a_layer() -> None:
    text = "block b(n, c) = (conv2d c same | identity) -> add -> (conv2d (c*2) same) * (n+1)"
    tokens = significant(text)
    assert tokens[tokens.index(("=", Operator)) + 2] == ("conv2d", Name.Builtin)
    assert ("identity", Name.Builtin) in tokens
    assert tokens.count(("c", Name.Variable)) == 3
    assert ("n", Name.Variable) in tokens
    assert_highlighted(text)


def test_residual_opens_a_group() -> None:
    assert significant("input 8 -> residual( dense 8 )")[3:6] == [
        ("residual", Keyword),
        ("(", Punctuation),
        ("dense", Name.Builtin),
    ]


def test_a_newline_ends_a_statement_only_outside_brackets() -> None:
    inside = "model M {\n  input 8x8x1 -> conv2d 4\n    same\n}\n"
    assert ("same", Keyword.Constant) in significant(inside)
    outside = "input 8x8x1 -> conv2d 4\nsame\n"  # a second statement: `same` is read as a block call
    assert ("same", Name.Function) in significant(outside)


def test_a_block_body_on_the_line_after_the_equals_sign_is_a_chain() -> None:
    text = "block b(c, act=relu) =  # the body\n  conv2d c same act\n  -> batchnorm\ninput 8x8x1 -> b 4\n"
    assert_highlighted(text)
    tokens = significant(text)
    assert (
        ("conv2d", Name.Builtin) in tokens and ("act", Name.Variable) in tokens and ("same", Keyword.Constant) in tokens
    )


def test_a_line_starting_with_an_arrow_goes_on() -> None:
    text = "input 784\n  # a comment line between\n  -> dense 10\n\n  -> relu\nblock b(c) = dense c\n"
    tokens = significant(text)
    assert ("dense", Name.Builtin) in tokens
    assert ("relu", Name.Builtin) in tokens
    assert tokens[-8:-6] == [("block", Keyword.Declaration), ("b", Name.Function)]
    assert_highlighted(text)


def test_the_reserved_words_of_the_grammar_are_never_names() -> None:
    grammar = (ROOT / "grammars" / "arch.lark").read_text(encoding="utf-8")
    reserved = re.findall(r'^[A-Z]+: "([a-z]+)"$', grammar, re.MULTILINE)
    assert sorted(reserved) == ["as", "block", "input", "model", "residual", "x"]
    for word in reserved:
        for text in (f"input 8 -> dense 4 {word}", f"input 8 -> {word}", f"model M {{ input 8 -> dense 4 {word} }}"):
            kinds = [token for value, token in significant(text) if value == word]
            assert kinds and all(kind in Keyword or kind is Operator for kind in kinds), (text, kinds)
    assert ("x_1", Name.Function) in significant("input 8 -> x_1")  # longer names are names


def test_error_only_for_characters_outside_the_language() -> None:
    text = "input 8 -> dense 4 $ # a comment may hold anything: $ ü \u2028\n"
    assert [(value, token) for _, token, value in lex(text) if token in Error] == [("$", Error)]


def test_get_tokens_round_trips_as_pygments_normalises() -> None:
    text = "\ufeffinput 8\r\n  -> dense 4"
    tokens = list(ArchLexer(stripnl=False).get_tokens(text))
    assert "".join(value for _, value in tokens) == "input 8\n  -> dense 4\n"  # BOM dropped, CRLF, ensurenl
    assert not [value for token, value in tokens if token in Error]
    assert "".join(value for _, _, value in lex(text)) == text


def test_html_through_the_pygments_api() -> None:
    html = highlight("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n", ArchLexer(), HtmlFormatter())
    assert '<span class="nb">maxpool</span>' in html
    assert '<span class="o">-&gt;</span>' in html


# ---------------------------------------------------------------- every spec we have


def _fences(path: Path, languages: tuple[str, ...]) -> list[tuple[str, str]]:
    text = path.read_text(encoding="utf-8")
    fence = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
    found = []
    for match in fence.finditer(text):
        if match.group(2).split()[:1] in [[language] for language in languages] or (
            not match.group(2).strip() and "" in languages
        ):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.name}:{line}", textwrap.dedent(match.group(3))))
    return found


def _corpus() -> list[tuple[str, str]]:
    corpus = [(path.name, path.read_text(encoding="utf-8")) for path in EXAMPLES]
    corpus += [
        (f"language/{path.name}", path.read_text(encoding="utf-8"))
        for path in sorted((ROOT / "tests" / "data" / "language").glob("*.arch"))
    ]
    for doc in sorted((ROOT / "docs").glob("*.md")):
        corpus += _fences(doc, ("arch",))
    if CONTRACT.exists():  # the contract beside the repository, where it is checked out
        corpus += _fences(CONTRACT, ("",))
    return corpus


def _syntax_ok(text: str) -> bool:
    try:
        parse_tree(text, "spec.arch")
    except ArchError:
        return False
    return True


CORPUS = _corpus()
VALID = [(name, text) for name, text in CORPUS if _syntax_ok(text)]


def test_the_corpus_is_what_it_should_be() -> None:
    names = {name for name, _ in VALID}
    assert {path.name for path in EXAMPLES} <= names, "an example does not parse"
    assert len(EXAMPLES) >= 10
    assert sum(name.startswith("language.md:") for name in names) >= 5
    assert any(name.startswith("highlighting.md:") for name in names)


@pytest.mark.parametrize(("name", "text"), VALID, ids=[name for name, _ in VALID])
def test_every_valid_spec_is_highlighted_as_the_parser_reads_it(name: str, text: str) -> None:
    assert_highlighted(text)


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[name for name, _ in CORPUS])
def test_every_snippet_round_trips(name: str, text: str) -> None:
    assert "".join(value for _, _, value in lex(text)) == text
    assert "".join(value for _, value in ArchLexer(stripnl=False).get_tokens(text)) == (
        text.replace("\r\n", "\n") + ("" if text.endswith("\n") else "\n")
    )


@PROPERTY
@given(programs())
def test_generated_programs_are_highlighted_as_the_parser_reads_them(program: GeneratedProgram) -> None:
    assert_highlighted(program.text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts())
def test_any_text_round_trips(text: str) -> None:
    tokens = lex(text)
    assert "".join(value for _, _, value in tokens) == text
    assert all(value for _, _, value in tokens)


def test_per_channel_decimals_are_one_number_as_the_grammar_reads_them() -> None:
    text = "input 8x8x3 -> normalize mean=0.485x0.456x-0.406 variance=1 x 0.5 x 2.0 -> zeropad 0x1 1\n"
    assert ("0.485x0.456x-0.406", Number) in significant(text)
    assert_highlighted(text)
