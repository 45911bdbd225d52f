"""Text to syntax tree: the Lark LALR parser, its postlexer, and syntax errors.

The grammar file is the reference for the syntax; this module only shapes Lark's
tree into the dataclasses of `ast.py` and turns Lark's exceptions into
diagnostics that say what was found, what was expected and how to fix it.
"""

from __future__ import annotations

import contextlib
import re
import sys
import zlib
from collections.abc import Iterator
from functools import cache

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .diagnostics import ArchError, Diagnostic, Span
from .resources import grammar_path

# How the terminals read in "expected ..." messages.
TERMINAL_NAMES: dict[str, str] = {
    "ARROW": "'->'",
    "NAME": "a name",
    "NUMBER": "a number",
    "DIMS": "dims such as 3x3",
    "_NL": "a new line",
    "$END": "the end of the file",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "VBAR": "'|'",
    "EQUAL": "'='",
    "COMMA": "','",
    "STAR": "'*'",
    "MINUS": "'-'",
    "PLUS": "'+'",
    "FLOORDIV": "'//'",
    "X": "'x'",
    "AS": "'as'",
    "INPUT": "'input'",
    "MODEL": "'model'",
    "BLOCK": "'block'",
    "RESIDUAL": "'residual'",
}
RESERVED_WORDS = frozenset({"block", "model", "input", "residual", "as", "x"})
_VALUE_STARTS = frozenset({"NAME", "NUMBER", "DIMS", "LPAR", "MINUS"})
_OPENERS = {"LPAR": "RPAR", "LBRACE": "RBRACE"}
_MAX_SYNTAX_ERRORS = 20
_MAX_NUMBER_DIGITS = 15
MAX_NESTING = 200
# Lark's transformer and the expansion recurse once per level of brackets and operators.
RECURSION_LIMIT = 20_000


class _NewlinePostlexer:
    """Drops newlines inside () and {} and before a line starting with '->' or '|'.

    That makes a newline the end of a statement only at the top level, so a bare
    chain or a block body may go on over several lines that begin with '->'.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        pending: Token | None = None
        for token in stream:
            if token.type == "_NL":
                if depth == 0 and pending is None:
                    pending = token
                continue
            if pending is not None:
                if token.type not in ("ARROW", "VBAR"):
                    yield pending
                pending = None
            if token.type in _OPENERS:
                depth += 1
            elif token.type in _OPENERS.values():
                depth = max(depth - 1, 0)
            yield token
        if pending is not None:
            yield pending


PARSER_ARTIFACT = "arch.lark.parser"


def _grammar_key(grammar: str) -> str:
    """Names the grammar text and the Lark version a saved parser was built from."""
    import lark

    return f"archdsl-parser {zlib.crc32(grammar.encode('utf-8')):08x} lark-{lark.__version__}"


def build_parser(grammar: str) -> Lark:
    """The LALR parser built from the grammar text (about 0.1 s: the tables are computed)."""
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        postlex=_NewlinePostlexer(),
        propagate_positions=True,
        maybe_placeholders=True,
    )


@cache
def parser() -> Lark:
    """The parser, built once per process.

    Building the LALR tables is most of a cold start, so the tables ship beside the
    grammar (`make parser` writes them). They are used only when they were made
    from this very grammar text by this Lark version; otherwise the grammar is
    compiled here, so a stale file can slow archdsl down but never change the language.
    No cache is written at run time (read-only installs, shared machines).
    """
    grammar = grammar_path().read_text(encoding="utf-8")
    try:
        with grammar_path().with_name(PARSER_ARTIFACT).open("rb") as saved:
            if saved.readline().decode("ascii", "replace").strip() == _grammar_key(grammar):
                return Lark.load(saved)
    except Exception:  # noqa: BLE001 - missing, unreadable or from another Lark: compile instead
        pass
    return build_parser(grammar)


def write_parser_artifact() -> str:
    """Save the compiled parser beside the grammar; returns the path written."""
    grammar = grammar_path().read_text(encoding="utf-8")
    target = grammar_path().with_name(PARSER_ARTIFACT)
    with target.open("wb") as out:
        out.write((_grammar_key(grammar) + "\n").encode("ascii"))
        build_parser(grammar).save(out)
    return str(target)


def _describe(terminals: set[str] | frozenset[str]) -> str:
    names = set(terminals)
    parts: list[str] = []
    if _VALUE_STARTS <= names:
        parts.append("an argument")
        names -= _VALUE_STARTS
    order = list(TERMINAL_NAMES)
    parts += [TERMINAL_NAMES.get(n, n) for n in sorted(names, key=lambda n: order.index(n) if n in order else 99)]
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " or " + parts[-1]
    return parts[0] if parts else "nothing more"


def _found(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "end of line"
    if token.type in ("NAME", "NUMBER", "DIMS"):
        return f"{TERMINAL_NAMES[token.type].split(' ')[-1] if token.type != 'DIMS' else 'dims'} '{token}'"
    return TERMINAL_NAMES.get(token.type, repr(str(token)))


def _token_span(token: Token, filename: str) -> Span:
    end_col = token.end_column if token.end_column is not None else token.column + max(len(token), 1)
    end_line = token.end_line if token.end_line is not None else token.line
    return Span(filename, token.line, token.column, end_line, end_col)


def _syntax_hint(token: Token, expected: set[str], text: str) -> str | None:
    if token.type in ("MODEL", "BLOCK") and "RBRACE" in expected:
        return "the model before this line is missing its closing '}'"
    if token.type in {"X", "AS", "INPUT", "MODEL", "BLOCK", "RESIDUAL"} and "NAME" in expected:
        return f"'{token}' is a reserved word of the language; pick another name"
    if token.type == "NAME" and "ARROW" in expected:
        return f"join layers with '->': '... -> {token}'"
    if token.type in ("NUMBER", "DIMS") and "ARROW" in expected:
        return "an input takes a single shape such as 64x64x1 or seq x 8"
    if token.type == "$END":
        depth = _open_brackets(text)
        if depth:
            return f"close the {' and '.join(depth)} opened earlier"
    if token.type in ("RPAR", "RBRACE"):
        return "this bracket closes nothing, or something inside it is incomplete"
    if token.type == "_NL" and "RPAR" in expected:
        return "a ')' is missing"
    return None


def _open_brackets(text: str) -> list[str]:
    stack: list[str] = []
    for ch in re.sub(r"#[^\n]*", "", text):
        if ch in "({":
            stack.append(ch)
        elif ch in ")}" and stack:
            stack.pop()
    return [f"'{c}'" for c in reversed(stack)]


def _acceptable(error: UnexpectedToken) -> set[str]:
    """What could really come next: LALR's table also lists tokens only a reduction would allow."""
    try:
        accepted = set(error.interactive_parser.accepts())
    except Exception:  # the exact set is a nicety; Lark's own set is still right, only longer
        accepted = set(error.expected)
    return accepted - {"$END"} if error.token.type != "$END" else accepted


def _diagnostic_for(error: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        span = Span(filename, error.line, error.column, error.line, error.column + 1)
        hint = None
        if char in "\"'":
            hint = "the language has no strings: names are written bare, as in 'as stem'"
        elif char == ":":
            hint = "keyword arguments are written key=value"
        elif char == ";":
            hint = "layers are joined with '->', statements end at a new line"
        return Diagnostic("A101", f"unexpected character {char!r}", span, hint)
    assert isinstance(error, UnexpectedToken)
    token = error.token
    expected = _acceptable(error)
    if token.type == "$END":
        # LALR's $END borrows the last token's position: point just after it.
        line = token.end_line if token.end_line is not None else 1
        column = token.end_column if token.end_column is not None else 1
        span = Span(filename, line, column, line, column + 1)
        return Diagnostic(
            "A103",
            f"unexpected end of file: expected {_describe(expected)}",
            span,
            _syntax_hint(token, expected, text),
        )
    span = _token_span(token, filename)
    if token.type == "_NL":
        span = Span(filename, token.line, token.column, token.line, token.column + 1)
    return Diagnostic(
        "A102",
        f"unexpected {_found(token)}: expected {_describe(expected)}",
        span,
        _syntax_hint(token, expected, text),
    )


_STATEMENT_START = re.compile(r"^[\t \f]*(model|block)\b")


def _blank_statement(text: str, line: int, token_type: str | None) -> str:
    """Blank the statement holding `line` (keeping newlines) so parsing can go on past it.

    Statements begin on lines that start with 'model' or 'block'. A statement
    keyword found where a '}' was expected belongs to the next statement: then
    the statement before it is the broken one.
    """
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    starts = [i for i, s in enumerate(lines, start=1) if _STATEMENT_START.match(s)]
    if token_type in ("MODEL", "BLOCK") and line in starts:
        before = [s for s in starts if s < line]
        first, last = (before[-1] if before else 1), line - 1
    else:
        before = [s for s in starts if s <= line]
        after = [s for s in starts if s > line]
        first = before[-1] if before else 1
        last = (after[0] - 1) if after else len(lines)
    for i in range(first - 1, last):
        lines[i] = " " * len(lines[i])
    return "\n".join(lines)


def _check_nesting(text: str, filename: str) -> None:
    """Refuse absurd nesting before Lark and the recursive passes see it."""
    depth = 0
    line, column = 1, 0
    for ch in re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), text):
        column += 1
        if ch == "\n":
            line, column = line + 1, 0
        elif ch in "({":
            depth += 1
            if depth > MAX_NESTING:
                span = Span(filename, line, column, line, column + 1)
                raise ArchError(
                    [
                        Diagnostic(
                            "A501",
                            f"brackets nest deeper than {MAX_NESTING} levels",
                            span,
                            "flatten the structure, or define a block for the repeated part",
                        )
                    ],
                    text,
                )
        elif ch in ")}":
            depth = max(depth - 1, 0)


def parse_tree(text: str, filename: str):
    """Lark's tree for `text`, or an ArchError holding every syntax error found."""
    _check_nesting(text, filename)
    diagnostics: list[Diagnostic] = []
    current = text
    for _ in range(_MAX_SYNTAX_ERRORS):
        try:
            tree = parser().parse(current)
        except UnexpectedInput as error:
            diagnostic = _diagnostic_for(error, current, filename)
            diagnostics.append(diagnostic)
            token_type = getattr(getattr(error, "token", None), "type", None)
            blanked = _blank_statement(current, diagnostic.span.line, token_type)
            if blanked == current:
                break
            current = blanked
            continue
        if not diagnostics:
            return tree
        break
    raise ArchError(diagnostics, text)


def _span_of(meta, filename: str) -> Span:
    return Span(filename, meta.line, meta.column, meta.end_line, meta.end_column)


_KEYWORD_TOKENS = frozenset({"BLOCK", "MODEL", "INPUT", "RESIDUAL", "AS", "X", "ARROW", "PLUS", "FLOORDIV"})


def _strip(children):
    return [c for c in children if not (isinstance(c, Token) and c.type in _KEYWORD_TOKENS)]


@v_args(meta=True)
class _ToSyntax(Transformer):
    """Lark tree to `ast` dataclasses; the grammar already shaped the tree."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    def _span(self, meta) -> Span:
        return _span_of(meta, self.filename)

    def _tok_span(self, token: Token) -> Span:
        return _token_span(token, self.filename)

    # values
    def number(self, meta, children):
        (token,) = children
        text = str(token)
        if len(text) > _MAX_NUMBER_DIGITS:
            raise ArchError(
                [
                    Diagnostic(
                        "A502",
                        f"the number {text[:12]}... has {len(text)} digits",
                        self._tok_span(token),
                        "sizes are limited to 2,147,483,647",
                    )
                ],
            )
        value: int | float = int(text) if re.fullmatch(r"[0-9]+", text) else float(text)
        return ast.Number(value, text, self._tok_span(token))

    def negative(self, meta, children):
        (token,) = children
        number = self.number(meta, [token])
        return ast.Number(-number.value, "-" + number.text, self._span(meta))

    def word(self, meta, children):
        (token,) = children
        return ast.Word(str(token), self._tok_span(token))

    def dims_literal(self, meta, children):
        (token,) = children
        span = self._tok_span(token)
        for part in str(token).split("x"):
            self.number(
                meta,
                [
                    Token(
                        "NUMBER",
                        part.lstrip("-"),
                        token.start_pos,
                        token.line,
                        token.column,
                        token.end_line,
                        token.end_column,
                    )
                ],
            )
        parts = tuple(ast.Number(int(p), p, span) for p in str(token).split("x"))
        return ast.Dims(parts, span)

    def dims(self, meta, children):
        parts: list[ast.Value] = []
        for child in _strip(children):
            parts.extend(child.parts if isinstance(child, ast.Dims) else [child])
        return ast.Dims(tuple(parts), self._span(meta))

    def binop(self, meta, children):
        left, op, right = children
        return ast.BinOp(str(op), left, right, self._span(meta))

    def minus(self, meta, children):
        left, right = children
        return ast.BinOp("-", left, right, self._span(meta))

    def times(self, meta, children):
        left, right = children
        return ast.BinOp("*", left, right, self._span(meta))

    def negate(self, meta, children):
        (operand,) = children
        if isinstance(operand, ast.Number):
            return ast.Number(-operand.value, "-" + operand.text, self._span(meta))
        return ast.Negate(operand, self._span(meta))

    def keyword(self, meta, children):
        name, value = children
        return ast.Keyword(str(name), value, self._span(meta))

    # nodes
    def layer(self, meta, children):
        name, *rest = children
        alias_token = rest.pop() if rest else None
        rest = [c for c in _strip(rest) if c is not None]
        args = tuple(c for c in rest if not isinstance(c, ast.Keyword))
        keywords = tuple(c for c in rest if isinstance(c, ast.Keyword))
        alias = str(alias_token) if alias_token is not None else None
        return ast.Layer(
            str(name),
            args,
            keywords,
            alias,
            self._span(meta),
            self._tok_span(name),
            self._tok_span(alias_token) if alias_token is not None else None,
        )

    def input(self, meta, children):
        (shape,) = _strip(children)
        return ast.Input(shape, self._span(meta))

    def group(self, meta, children):
        return ast.Group(tuple(children), self._span(meta))

    def residual(self, meta, children):
        (body,) = _strip(children)
        return ast.Residual(body, self._span(meta))

    def repeat(self, meta, children):
        node, count = children
        return ast.Repeat(node, count, self._span(meta))

    def chain(self, meta, children):
        return ast.Chain(tuple(_strip(children)), self._span(meta))

    # statements
    def param(self, meta, children):
        name, default = children
        return ast.Param(str(name), default, self._span(meta))

    def block_def(self, meta, children):
        name, *params, body = _strip(children)
        return ast.BlockDef(
            str(name), tuple(p for p in params if p is not None), body, self._span(meta), self._tok_span(name)
        )

    def model_def(self, meta, children):
        name, body = _strip(children)
        return ast.ModelDef(str(name), body, self._span(meta), self._tok_span(name))

    def bare_chain(self, meta, children):
        (body,) = children
        return ast.BareChain(body, self._span(meta))

    def start(self, meta, children):
        return tuple(children)


def parse_module(text: str, filename: str = "<string>") -> ast.Module:
    """Parse one file into its syntax tree; raises ArchError with every syntax error."""
    tree = parse_tree(text, filename)
    try:
        with deep_recursion():
            statements = _ToSyntax(filename).transform(tree)
    except VisitError as error:  # an exception inside a callback: unwrap it
        raise error.orig_exc from None
    except RecursionError:
        raise too_deep(filename, text) from None
    return ast.Module(filename, statements)


@contextlib.contextmanager
def deep_recursion():
    """Room for specs nested up to MAX_NESTING, and for long expressions, in the recursive passes."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def too_deep(filename: str, text: str) -> ArchError:
    return ArchError(
        [
            Diagnostic(
                "A501",
                "the spec nests too deeply to process (brackets or a very long expression)",
                Span(filename, 1, 1, 1, 2),
                "split long expressions, or use blocks for repeated structure",
            )
        ],
        text,
    )
