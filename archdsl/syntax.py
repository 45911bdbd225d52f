"""Text to syntax tree: the Lark LALR parser, its lexer, and syntax errors.

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

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import BasicLexer, Lexer, LexerState
from lark.utils import TextSlice

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
_CLOSERS = frozenset(_OPENERS.values())
_MAX_SYNTAX_ERRORS = 20
_MAX_NUMBER_DIGITS = 15
MAX_NESTING = 200
# Building the syntax tree and the expansion recurse once per level of brackets and operators.
RECURSION_LIMIT = 20_000


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


def tokens(text: str) -> Iterator[Token]:
    """The tokens the parser sees for `text` (newlines only where they end a statement)."""
    return parser().parser.lexer.lex(LexerState(TextSlice.cast_from(text)), None)


PARSER_ARTIFACT = "arch.lark.parser"

# How the parser is built. Lark's own position tracking (`propagate_positions`) is off: it
# cost nearly half of Lark's parse time, and `_build` computes the same spans from the
# tokens. For that every token stays in the tree (`keep_all_tokens`: '(' and ')' bound a
# group's span, '-' starts a negative number's), which costs nothing measurable.
PARSER_OPTIONS: dict[str, object] = {
    "parser": "lalr",
    "lexer": StatementLexer,
    "propagate_positions": False,
    "keep_all_tokens": True,
    "maybe_placeholders": True,
}


def _grammar_key(grammar: str) -> str:
    """Names the grammar text, the build options and the Lark version a saved parser was built from."""
    import lark

    options = zlib.crc32(repr(sorted(PARSER_OPTIONS.items())).encode("utf-8"))
    return f"archdsl-parser {zlib.crc32(grammar.encode('utf-8')):08x} options-{options:08x} lark-{lark.__version__}"


def build_parser(grammar: str) -> Lark:
    """The LALR parser built from the grammar text (about 0.1 s: the tables are computed)."""
    return Lark(grammar, **PARSER_OPTIONS)


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
    if text.count("(") + text.count("{") <= MAX_NESTING:
        return  # too few brackets to nest that deep (comments counted too): no need to look closer
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


# ---------------------------------------------------------------- Lark's tree to the syntax tree
#
# One plain function per rule (or alias) of the grammar, applied bottom-up by `_build`. Each
# gets the values of its children, in order: tokens as they are (every token is kept, see
# PARSER_OPTIONS), None for an absent optional part, a subtree already built. And it gets the
# node's span: from the first token of the node to the last, brackets included, which is
# what Lark's `propagate_positions` used to give. A plain dict and a recursive function cost
# less than half of what a lark Transformer did (which was also built anew for every parse, to
# hold the file name); here the file name travels down as an argument.

_INTEGER = re.compile(r"[0-9]+")


def _check_digits(text: str, span: Span) -> None:
    if len(text) > _MAX_NUMBER_DIGITS:
        raise ArchError(
            [
                Diagnostic(
                    "A502",
                    f"the number {text[:12]}... has {len(text)} digits",
                    span,
                    "sizes are limited to 2,147,483,647",
                )
            ],
        )


def _number_of(token: Token, span: Span) -> ast.Number:
    text = str(token)
    _check_digits(text, span)
    value: int | float = int(text) if _INTEGER.fullmatch(text) else float(text)
    return ast.Number(value, text, span)


def _number(values, span: Span) -> ast.Number:
    (token,) = values
    return _number_of(token, span)


def _negative(values, span: Span) -> ast.Number:
    _minus, token = values
    number = _number_of(token, _token_span(token, span.file))
    return ast.Number(-number.value, "-" + number.text, span)


def _word(values, span: Span) -> ast.Word:
    (token,) = values
    return ast.Word(str(token), span)


def _dims_literal(values, span: Span) -> ast.Dims:
    (token,) = values
    texts = str(token).split("x")
    for text in texts:
        _check_digits(text.lstrip("-"), span)
    return ast.Dims(tuple(ast.Number(int(text), text, span) for text in texts), span)


def _dims(values, span: Span) -> ast.Dims:
    parts: list[ast.Value] = []
    for part in values[::2]:  # between them the 'x' tokens
        if isinstance(part, ast.Dims):
            parts.extend(part.parts)
        else:
            parts.append(part)
    return ast.Dims(tuple(parts), span)


def _binop(values, span: Span) -> ast.BinOp:
    left, op, right = values
    return ast.BinOp(str(op), left, right, span)


def _negate(values, span: Span) -> ast.Value:
    _minus, operand = values
    if isinstance(operand, ast.Number):
        return ast.Number(-operand.value, "-" + operand.text, span)
    return ast.Negate(operand, span)


def _parenthesised(values, span: Span) -> ast.Value:
    """`( expr )`: the expression itself; its parent's span still takes in the brackets."""
    _open, inner, _close = values
    return inner


def _keyword(values, span: Span) -> ast.Keyword:
    name, _equal, value = values
    return ast.Keyword(str(name), value, span)


def _layer(values, span: Span) -> ast.Layer:
    name, *arguments, _as, alias = values
    positional: list[ast.Value] = []
    keywords: list[ast.Keyword] = []
    for argument in arguments:
        (keywords if isinstance(argument, ast.Keyword) else positional).append(argument)
    return ast.Layer(
        str(name),
        tuple(positional),
        tuple(keywords),
        str(alias) if alias is not None else None,
        span,
        _token_span(name, span.file),
        _token_span(alias, span.file) if alias is not None else None,
    )


def _input(values, span: Span) -> ast.Input:
    _input_keyword, shape = values
    return ast.Input(shape, span)


def _group(values, span: Span) -> ast.Group:
    return ast.Group(tuple(values[1:-1:2]), span)  # '(' chain '|' chain ... ')'


def _residual(values, span: Span) -> ast.Residual:
    _residual_keyword, _open, body, _close = values
    return ast.Residual(body, span)


def _repeat(values, span: Span) -> ast.Repeat:
    node, _star, count = values
    return ast.Repeat(node, count, span)


def _chain(values, span: Span) -> ast.Chain:
    return ast.Chain(tuple(values[::2]), span)  # between the nodes the '->' tokens


def _param(values, span: Span) -> ast.Param:
    name, _equal, default = values
    return ast.Param(str(name), default, span)


def _block_def(values, span: Span) -> ast.BlockDef:
    # 'block' NAME '(' [param (',' param)*] ')' '=' chain
    name, body = values[1], values[-1]
    params = tuple(p for p in values[3:-3:2] if p is not None)
    return ast.BlockDef(str(name), params, body, span, _token_span(name, span.file))


def _model_def(values, span: Span) -> ast.ModelDef:
    _model, name, _open, body, _close = values
    return ast.ModelDef(str(name), body, span, _token_span(name, span.file))


def _bare_chain(values, span: Span) -> ast.BareChain:
    (body,) = values
    return ast.BareChain(body, span)


def _start(values, span: Span | None) -> tuple[ast.Statement, ...]:
    return tuple(v for v in values if not isinstance(v, Token))  # between the statements, new lines


_BUILDERS = {
    "number": _number,
    "negative": _negative,
    "word": _word,
    "dims_literal": _dims_literal,
    "dims": _dims,
    "binop": _binop,
    "minus": _binop,
    "times": _binop,
    "negate": _negate,
    "paren_expr": _parenthesised,
    "factor": _parenthesised,  # only its bracketed form is a tree of its own
    "keyword": _keyword,
    "layer": _layer,
    "input": _input,
    "group": _group,
    "residual": _residual,
    "repeat": _repeat,
    "chain": _chain,
    "param": _param,
    "block_def": _block_def,
    "model_def": _model_def,
    "bare_chain": _bare_chain,
    "start": _start,
}


def _build(tree: Tree, filename: str) -> tuple[object, Token | None, Token | None]:
    """The syntax-tree value of `tree`, with the first and the last token it covers.

    Recursive, one frame per level of the tree, like the passes after it: a tree too deep
    for RECURSION_LIMIT (a very long expression) is a RecursionError, which `parse_module`
    reports as A501.
    """
    values: list[object] = []
    first = last = None
    for child in tree.children:
        if child is None:
            values.append(None)
            continue
        if isinstance(child, Token):
            value = start = end = child
        else:
            value, start, end = _build(child, filename)
        values.append(value)
        if first is None:
            first = start
        last = end
    span = None if first is None else Span(filename, first.line, first.column, last.end_line, last.end_column)
    return _BUILDERS[tree.data](values, span), first, last


def parse_module(text: str, filename: str = "<string>") -> ast.Module:
    """Parse one file into its syntax tree; raises ArchError with every syntax error."""
    tree = parse_tree(text, filename)
    try:
        with deep_recursion():
            statements, _first, _last = _build(tree, filename)
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
