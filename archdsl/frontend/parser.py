"""Text to Lark's parse tree: the LALR parser built once, and syntax errors as diagnostics.

The grammar file is the reference for the syntax; this module turns Lark's
exceptions into diagnostics that say what was found, what was expected and how
to fix it, and recovers statement by statement so that one run reports them all.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import LexerState
from lark.utils import TextSlice

from archdsl.common.diagnostics import ArchError, Diagnostic, Fix, Span
from archdsl.common.resources import grammar_path
from archdsl.frontend.lexer import StatementLexer

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
    "REF": "a reference such as @name",
    "MODEL": "'model'",
    "BLOCK": "'block'",
    "RESIDUAL": "'residual'",
}
_VALUE_STARTS = frozenset({"NAME", "NUMBER", "DIMS", "LPAR", "MINUS"})
_MAX_SYNTAX_ERRORS = 20
MAX_NESTING = 200


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


def token_span(token: Token, filename: str) -> Span:
    end_col = token.end_column if token.end_column is not None else token.column + max(len(token), 1)
    end_line = token.end_line if token.end_line is not None else token.line
    return Span(filename, token.line, token.column, end_line, end_col)


def _syntax_hint(token: Token, expected: set[str], text: str) -> str | None:
    if token.type in ("MODEL", "BLOCK") and "RBRACE" in expected:
        return "the model before this line is missing its closing '}'"
    if token.type in {"X", "AS", "INPUT", "MODEL", "BLOCK", "RESIDUAL"} and "NAME" in expected:
        return f"'{token}' is a reserved word of the language; pick another name"
    if token.type == "NAME" and str(token) == "output" and "ARROW" in expected:
        following = re.match(r"[ \t]*([A-Za-z_]\w*)", text[token.end_pos :]) if token.end_pos is not None else None
        example = f"output @{following.group(1)}" if following else "output @label @score"
        return f"write the outputs as references, on a line of their own: '{example}'"
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


_RESERVED = frozenset({"block", "model", "input", "residual", "as", "x"})  # the grammar's reserved words
_TUPLE_PART = re.compile(r"[0-9]+|[A-Za-z_][A-Za-z0-9_]*")
_KEY_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*$")
_INPUT_BEFORE = re.compile(r"(?:^|[\s({|])input\s*$")


def _in_context(text: str, start: int, written: str) -> str:
    """What replaces a value, as it reads in its place: `kernel=3x3`, `input 32x32x3`, or the value alone."""
    before = text[text.rfind("\n", 0, start) + 1 : start]
    key = _KEY_BEFORE.search(before)
    if key:
        return f"{key.group(1)}={written}"
    return f"input {written}" if _INPUT_BEFORE.search(before) else written


def _written_as_python(text: str, position: int, filename: str) -> Diagnostic | None:
    """`kernel=(3,3)`, `input (32, 32, 3)`, `[3, 3]`, `activation='relu'`: Python where the language has its own.

    `position` is where the parser stopped: a ',' inside the brackets, a '[' or a quote.
    """
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line_end = len(text) if line_end < 0 else line_end
    line = text.count("\n", 0, position) + 1
    if text[position] in "\"'":
        close = text.find(text[position], position + 1, line_end)
        word = text[position + 1 : close]
        if close < 0 or not _TUPLE_PART.fullmatch(word) or word in _RESERVED:
            return None
        start, end, meant = position, close + 1, word
        message = f"unexpected character {text[position]!r}: the language has no strings"
        code = "A101"
    else:
        opened: list[int] = []
        for index in range(line_start, position + 1):
            if text[index] in "([":
                opened.append(index)
            elif text[index] in ")]" and opened:
                opened.pop()
        if not opened:
            return None
        start = opened[-1]
        end = text.find(")" if text[start] == "(" else "]", position, line_end) + 1
        parts = [part.strip() for part in text[start + 1 : max(end - 1, start)].split(",")]
        if parts and not parts[-1] and len(parts) > 1:
            parts.pop()  # `(784,)`: a tuple of one
        if not end or not all(_TUPLE_PART.fullmatch(part) and part not in _RESERVED for part in parts):
            return None
        names = ["seq" if part == "None" else part for part in parts]
        meant = ("x" if all(n.isdigit() for n in names) else " x ").join(names)
        message = f"write dims as {meant}, not {text[start:end]}"
        code = "A101" if text[position] == "[" else "A102"
    span = Span(filename, line, start - line_start + 1, line, end - line_start + 1)
    hint = f"write '{_in_context(text, start, meant)}'"
    if "None" in text[start:end]:
        hint += " (a size known only at run time is a name, such as seq)"
    return Diagnostic(code, message, span, hint, fix=Fix(span, meant))


def _diagnostic_for(error: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        span = Span(filename, error.line, error.column, error.line, error.column + 1)
        hint = None
        python = _written_as_python(text, error.pos_in_stream, filename) if char in "[\"'" else None
        if python is not None:
            return python
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
        expected = expected - {"_NL"} or expected  # no new line can finish a file that ends early
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
    if token.type == "COMMA" and token.start_pos is not None:
        python = _written_as_python(text, token.start_pos, filename)
        if python is not None:
            return python
    span = token_span(token, filename)
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


def parse_tree(text: str, filename: str) -> Tree:
    """Lark's tree for `text`, or an ArchError holding every syntax error found."""
    tree, diagnostics = recover_tree(text, filename)
    if diagnostics or tree is None:
        raise ArchError(diagnostics, text)
    return tree


def recover_tree(text: str, filename: str) -> tuple[Tree | None, tuple[Diagnostic, ...]]:
    """Lark's tree and every syntax error: after an error, the tree of the text with each broken statement blanked.

    Blanking keeps every line and column, so the spans of the statements that did parse are
    true of `text` itself: an editor can still show their shapes while one statement is being
    typed. The tree is None when no statement was left to parse or the errors went on past
    the limit; too deep a nesting raises ArchError (A501), as it does in `parse_tree`.
    """
    _check_nesting(text, filename)
    diagnostics: list[Diagnostic] = []
    current = text
    for _ in range(_MAX_SYNTAX_ERRORS):
        try:
            return parser().parse(current), tuple(diagnostics)
        except UnexpectedInput as error:
            diagnostic = _diagnostic_for(error, current, filename)
            diagnostics.append(diagnostic)
            token_type = getattr(getattr(error, "token", None), "type", None)
            blanked = _blank_statement(current, diagnostic.span.line, token_type)
            if blanked == current:
                break
            current = blanked
    return None, tuple(diagnostics)
