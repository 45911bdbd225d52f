"""The Pygments lexer for .arch specs (`pygmentize -l arch`, Sphinx and MkDocs code blocks).

Pygments finds it through the `pygments.lexers` entry point in pyproject.toml. A word's
colour depends on its place, as in the grammar (grammars/arch.lark): the first word of a
node is a layer (`Name.Builtin`) or a block call (`Name.Function`); after it come arguments,
where `stride=` is a `Name.Attribute` and `relu` an activation (`Name.Builtin.Pseudo`).
The place is tracked with one lexer state per bracket level, in one of two modes: "a node
starts here" (after `->`, `|`, `(`, `{`, `=`, a new statement) or "arguments follow" (after
the first word of a node, or after a group's `)`), so `(` opens a group in the first and an
integer expression in the second. A newline ends a statement only outside brackets, and
not when the next line starts with `->` or `|`, as the parser's lexer does.

Which words are layers, activations, paddings and flags comes from the layer table, looked
up on first use rather than at import: Pygments imports every plugin lexer whenever it scans
for one, so importing this module should cost no more than the `archdsl` package itself.
`Error` tokens mark only characters that cannot appear in .arch outside a comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from re import Match

from pygments.lexer import RegexLexer, bygroups, default, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    Whitespace,
    _TokenType,
)

from archdsl.frontend.expand import OUTPUT, USE

__all__ = ["ArchLexer"]

_END = r"(?![A-Za-z0-9_])"  # a word ends where NAME ([A-Za-z_][A-Za-z0-9_]*) would stop
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_RESERVED = ("block", "model", "input", "residual", "as", "x")
_PLAIN_NAME = rf"(?!(?:{'|'.join(_RESERVED)}){_END}){_NAME}"
# The grammar's DIMS and NUMBER terminals, tried in the grammar's order: `3x3` and `-1x64` are
# one dims word, `8xseq` is the number 8 and then the name `xseq`.
_DIMS = rf"-?[0-9]+(?:\.[0-9]+)?(?:x-?[0-9]+(?:\.[0-9]+)?)+{_END}"
_FLOAT = r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+"
_INT = r"[0-9]+"
_REFERENCE = rf"@{_NAME}"  # the grammar's REF

_SPACE = r"[ \t\f]+"  # a newline is a token of its own outside brackets
_SPACE_NL = r"[ \t\f\r\n]+"  # inside brackets newlines are free
_NEWLINE = r"\r?\n"


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    layers: frozenset[str]
    words: dict[str, _TokenType]


@cache
def vocabulary() -> _Vocabulary:
    """The layer table's words, with the token each one gets as an argument (the TextMate grammar reads it too)."""
    from archdsl.layers.spec import ACTIVATIONS, BOOLEAN_WORDS, NO_ACTIVATION, PADDINGS
    from archdsl.layers.table import LAYERS

    argument_words: dict[str, _TokenType] = {}
    for spec in LAYERS.values():
        for flag in spec.flags:
            argument_words[flag] = Name.Attribute  # `seq` is short for `seq=true`
    for spec in LAYERS.values():
        for arg in spec.args:
            for choice in arg.choices:
                # A value wins over a flag of the same word: conv1d's padding `causal` and
                # attention's flag `causal` read alike.
                argument_words[choice] = Keyword.Constant
    for word in (*PADDINGS, *BOOLEAN_WORDS):
        argument_words[word] = Keyword.Constant
    for word in (*ACTIVATIONS, *NO_ACTIVATION):
        argument_words[word] = Name.Builtin.Pseudo
    return _Vocabulary(frozenset(LAYERS), argument_words)


def _node_name(lexer: RegexLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    """The first word of a node: a layer of the table, a parameter of the block being defined
    (one that holds an activation stands as a layer), or else a call of a block."""
    name = match.group()
    if name in (USE, OUTPUT):  # words of the graph syntax, written where a layer stands
        yield match.start(), Keyword, name
        return
    if name in vocabulary().layers:
        kind = Name.Builtin
    elif name in getattr(lexer, "block_params", ()):
        kind = Name.Variable
    else:
        kind = Name.Function
    yield match.start(), kind, name


def _definition(lexer: RegexLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    """`block` or `model`: a new definition, whose body knows only its own parameters."""
    lexer.block_params = set()
    yield match.start(), Keyword.Declaration, match.group()


def _parameter(lexer: RegexLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    lexer.block_params.add(match.group())
    yield match.start(), Name.Variable, match.group()


def _argument_word(lexer: RegexLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    """A word among a layer's arguments: an option the table knows, or else a block parameter."""
    word = match.group()
    yield match.start(), vocabulary().words.get(word, Name.Variable), word


# ---------------------------------------------------------------- the states


def _comment() -> list:
    return [(r"#[^\n]*", Comment.Single)]


def _loose() -> list:
    """Reserved words out of place and stray punctuation: coloured, never an Error."""
    return [
        (words(("block", "model"), suffix=_END), Keyword.Declaration),
        (words(("input", "residual", "as"), suffix=_END), Keyword),
        (rf"x{_END}", Operator),
        (r"->|//|[-+*|]", Operator),
        (r"=", Operator),
        (r",", Punctuation),
        (r"[(){}]", Punctuation),
    ]


def _values(word) -> list:
    """Numbers, dims (`3x3`, `64 x seq`), negative numbers and words of an argument value."""
    return [
        (_REFERENCE, Name.Label),  # `@trunk` reads the value named `as trunk`
        (_DIMS, Number),
        (_FLOAT, Number.Float),
        (_INT, Number.Integer),
        (rf"x{_END}", Operator),
        (r"-", Operator),
        (_PLAIN_NAME, word),
    ]


def _chain_states(nested: bool) -> dict[str, list]:
    """The head, argument and input modes of one bracket level (nested) or of the top level.

    Each bracket level is one state on the stack; switching mode replaces it ('#pop' first),
    a closing bracket pops it and so returns to the mode the enclosing level was left in.
    """
    suffix = "" if nested else "0"
    head, args, inputs, alias = (f"{state}{suffix}" for state in ("chain", "args", "input", "alias"))
    if nested:
        # Inside a model's '{}' a line may start a statement from any mode: `output @a`, `( @a | @b )`.
        statement = rf"(\n{_SPACE_NL[:-1]}*)"
        space = [
            (rf"{statement}({OUTPUT}{_END})(?=[ \t\f]+@)", bygroups(Whitespace, Keyword)),
            (rf"{statement}(\()(?={_SPACE_NL[:-1]}*@)", bygroups(Whitespace, Punctuation), ("#pop", args, "chain")),
            (_SPACE_NL, Whitespace),
        ]
        close = [(r"[)}]", Punctuation, "#pop")]
    else:
        space = [(_SPACE, Whitespace), (_NEWLINE, Whitespace, ("#pop", "eol"))]
        close = [(r"[)}]", Punctuation)]  # unbalanced at the top level: nothing to pop
    # What may stand between a keyword argument's name and its '='; possessive, so that a long
    # run of spaces or comments not followed by '=' costs linear time.
    keyword_gap = r"(?:[ \t\f\r\n]++|#[^\n]*+)*+" if nested else r"[ \t\f]*+"
    after_node = [
        (r"->|\|", Operator, ("#pop", head)),
        (r"\(", Punctuation, "expr"),  # an integer expression: `dense (d//2)`, `* (n+1)`
        (r"\*", Operator),  # a repetition count follows
        *close,
    ]
    return {
        head: [
            *space,
            *_comment(),
            (rf"input{_END}", Keyword, ("#pop", inputs)),
            (rf"residual{_END}", Keyword),
            (r"[({]", Punctuation, ("#pop", args, "chain")),  # a group, then what may follow it
            *close,
            *_loose(),
            (_NAME, _node_name, ("#pop", args)),
            *_values(Name.Variable),
        ],
        args: [
            *space,
            *_comment(),
            *after_node,
            (rf"as{_END}", Keyword, alias),
            (rf"{_PLAIN_NAME}(?={keyword_gap}=)", Name.Attribute),  # `stride=2`; '=' is an Operator below
            *_values(_argument_word),
            *_loose(),
        ],
        # `input seq x 8`: the words of an input's shape are symbolic dimensions.
        inputs: [
            *space,
            *_comment(),
            *after_node,
            (rf"as{_END}", Keyword, alias),
            *_values(Name.Variable),
            *_loose(),
        ],
        alias: [
            (_SPACE_NL if nested else _SPACE, Whitespace),
            *_comment(),
            (_PLAIN_NAME, Name.Label, "#pop"),
            default("#pop"),
        ],
    }


class ArchLexer(RegexLexer):
    """Lexer for archdsl's `.arch` neural-network architecture specs."""

    name = "Arch"
    aliases = ["arch", "archdsl"]
    filenames = ["*.arch"]
    mimetypes = ["text/x-arch"]
    # archdsl has no public home page yet: this names the language reference in its sources.
    url = "docs/language.md"
    version_added = "0.1.0"  # archdsl's version, not Pygments'

    def get_tokens_unprocessed(self, text, stack=("root",)):
        self.block_params: set[str] = set()
        yield from super().get_tokens_unprocessed(text, stack)

    tokens = {
        # Between statements: a block, a model, or else a bare chain.
        "root": [
            (r"\ufeff", Whitespace),  # the byte-order mark a spec may start with
            (_SPACE_NL, Whitespace),
            *_comment(),
            (rf"block{_END}", _definition, "blockdef"),
            (rf"model{_END}", _definition, "modeldef"),
            default("chain0"),
        ],
        # After a newline at the top level: a line starting with '->' or '|' goes on.
        "eol": [
            (_SPACE_NL, Whitespace),
            *_comment(),
            (r"->|\|", Operator, ("#pop", "chain0")),
            default("#pop"),
        ],
        "blockdef": [
            (_SPACE, Whitespace),
            *_comment(),
            (r"\(", Punctuation, "params"),
            (r"=", Operator, ("#pop", "chain0")),
            (_NEWLINE, Whitespace, "#pop"),  # a header cut by a newline is a syntax error: start afresh
            *_loose(),
            (_NAME, Name.Function),
        ],
        "params": [
            (_SPACE_NL, Whitespace),
            *_comment(),
            (r"\)", Punctuation, "#pop"),
            (r"=", Operator, "default"),
            (r",", Punctuation),
            *_loose(),
            (_NAME, _parameter),
        ],
        # A parameter's default value, up to the ',' or ')' that ends it.
        "default": [
            (_SPACE_NL, Whitespace),
            *_comment(),
            (r"\(", Punctuation, "expr"),
            *_values(_argument_word),
            default("#pop"),
        ],
        "modeldef": [
            (_SPACE, Whitespace),
            *_comment(),
            (r"\{", Punctuation, ("#pop", "chain")),
            (_NEWLINE, Whitespace, "#pop"),
            *_loose(),
            (_NAME, Name.Class),
        ],
        **_chain_states(nested=False),
        **_chain_states(nested=True),
        # `(c*4)`, `(n+1)`, `(d//2)`: integers and block parameters.
        "expr": [
            (_SPACE_NL, Whitespace),
            *_comment(),
            (r"\(", Punctuation, "#push"),
            (r"[)}]", Punctuation, "#pop"),
            *_loose(),
            *_values(Name.Variable),
        ],
    }
