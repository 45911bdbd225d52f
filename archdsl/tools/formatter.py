"""`archdsl fmt`: the canonical layout of a spec, computed from its syntax tree.

The formatter reads the syntax tree (`syntax.parse_module`), never the text: what it
writes is decided by the structure alone, plus the comments, which are the only thing
of the text the tree does not hold. The language has no strings, so a comment is exactly
`#` to the end of its line; each one is attached to a *unit* of the layout (a layer, a
bracket, a statement's header) and written back beside it:

- a comment inside a unit, or after code on its line, trails the unit it follows;
- a comment on a line of its own leads the next unit, above the line that unit starts;
- comments after the last statement stay at the end of the file.

Layout (docs/fmt.md shows it): a construct is written on one line when it fits in
`LINE_LENGTH` columns and holds no comment that would end up inside the line; otherwise it
is broken, outermost first: a chain one node per line with `->` leading each continuation,
a group with each branch on a line of its own and `|` leading each one after the first.
A model's body is always one node per line.

Every result is checked before it is returned, as black does: it must parse to the same
syntax tree (spans aside), hold the same comments, and format to itself. A failure there
is a bug in archdsl (`FormatterError`), never the user's.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from archdsl.common.diagnostics import ArchError, Span
from archdsl.frontend import nodes
from archdsl.frontend.tree_builder import deep_recursion, parse_module, too_deep

__all__ = ["LINE_LENGTH", "FormatterError", "comments_of", "format_source", "syntax_key", "unified_diff"]

LINE_LENGTH = 88
INDENT = 2

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)"
_PLAIN_NUMBER = re.compile(_NUMBER)  # what the NUMBER terminal reads: a count as written
_SIGNED_NUMBER = re.compile(r"-?" + _NUMBER)  # a number where an argument may be (`-1`)
_DIMS_PART = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # what may be part of one dims word: 3x3, -1x64, 0.5x2.5
_COMMENT = re.compile(r"#[^\n]*")
_SEPARATORS = re.compile(r"\s*(?:(?:->|\|)\s*)*")
_TRAILING_SPACE = " \t\f\v\r"
# Binding strength of the integer operators: `+ -` < `* //` < unary minus.
_SUM, _PRODUCT, _FACTOR = 1, 2, 3
_PRECEDENCE = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "//": _PRODUCT}


class FormatterError(Exception):
    """The formatted text would not mean what the spec meant: a bug in archdsl."""


def format_source(text: str, filename: str = "<string>") -> str:
    """The canonical layout of a spec; raises ArchError when the spec does not parse.

    Only the syntax has to be right: a spec whose shapes do not check yet is formatted
    all the same (`archdsl check` is the tool for those).
    """
    text = text.removeprefix("\ufeff")
    module = _parse(text, filename)
    with deep_recursion():
        try:
            result = _format(text, module)
            _verify(text, module, result, filename)
        except RecursionError:
            raise too_deep(filename, text) from None
    return result


def comments_of(text: str) -> list[str]:
    """The comments of a spec, in order, as the formatter writes them (no trailing blanks)."""
    return [m.group().rstrip(_TRAILING_SPACE) for m in _COMMENT.finditer(text)]


def unified_diff(before: str, after: str, name: str) -> str:
    """What formatting changes, as a unified diff ('' when nothing); `patch -p0` applies it."""
    lines = difflib.unified_diff(_lines(before), _lines(after), f"{name}\t(original)", f"{name}\t(formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _lines(text: str) -> list[str]:
    """Lines as the lexer counts them: ended by a newline only (`splitlines` also splits at form feeds)."""
    pieces = text.split("\n")
    return [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


def syntax_key(node: Any) -> Any:
    """A syntax tree as plain nested tuples without spans: equal keys mean the same spec."""
    with deep_recursion():
        return _key(node)


def _key(node: Any) -> Any:
    if isinstance(node, tuple):
        return tuple(_key(item) for item in node)
    if isinstance(node, Span) or node is None or isinstance(node, str | int | float):
        return None if isinstance(node, Span) else node
    names = [f.name for f in fields(node) if not f.name.endswith("span") and f.name != "filename"]
    return (type(node).__name__, *(_key(getattr(node, name)) for name in names))


def _parse(text: str, filename: str) -> nodes.Module:
    try:
        return parse_module(text, filename)
    except ArchError as error:
        if error.source is None:  # raised inside the transformer: show the line all the same
            raise ArchError(error.diagnostics, text) from None
        raise


def _format(text: str, module: nodes.Module) -> str:
    return _Layout(_Source(text), module).render()


def _verify(text: str, module: nodes.Module, result: str, filename: str) -> None:
    """Black's safety check: same tree, same comments, and formatting again changes nothing."""
    try:
        again = parse_module(result, filename)
    except ArchError as error:
        raise FormatterError(f"the formatted spec does not parse: {error}") from None
    if syntax_key(again.statements) != syntax_key(module.statements):
        raise FormatterError("the formatted spec means something other than the original")
    if Counter(comments_of(result)) != Counter(comments_of(text)):
        raise FormatterError("the formatted spec lost or duplicated a comment")
    if _format(result, again) != result:
        raise FormatterError("formatting the formatted spec changes it again")


# ---------------------------------------------------------------- the source text


@dataclass(eq=False)
class _Comment:
    offset: int
    text: str
    own_line: bool  # nothing but blanks before it on its line
    blank_before: bool  # an empty line right above it


@dataclass(eq=False)
class _Unit:
    """A piece of the layout that is always written on one line (a layer, `(`, `) * 2`, ...)."""

    start: int
    end: int
    blank_before: bool
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)


class _Source:
    """Offsets, comments and blank lines of the text; `code` is the text with comments blanked."""

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        self.blank_lines = {n for n, line in enumerate(text.split("\n"), start=1) if not line.strip(" \t\f\v\r")}
        self.comments: list[_Comment] = []
        for match in _COMMENT.finditer(text):
            start = match.start()
            line = self.line_of(start)
            own_line = not text[self.line_starts[line - 1] : start].strip()  # a comment runs to the end of its line
            blank_before = own_line and line - 1 in self.blank_lines
            self.comments.append(_Comment(start, match.group().rstrip(_TRAILING_SPACE), own_line, blank_before))
        self.code = _COMMENT.sub(lambda m: " " * len(m.group()), text)

    def line_of(self, offset: int) -> int:
        return bisect_right(self.line_starts, offset)

    def start(self, span: Span) -> int:
        return self.line_starts[span.line - 1] + span.column - 1

    def end(self, span: Span) -> int:
        return self.line_starts[span.end_line - 1] + span.end_column - 1

    def close_parens(self, scan_from: int, end: int) -> int:
        """`end`, moved past the `)` that close what opened in [scan_from, end).

        A node's span stops at the last child of its rule, so a final `(c*2)` or
        `* (n+1)` ends before its `)`.
        """
        depth = self.code.count("(", scan_from, end) - self.code.count(")", scan_from, end)
        for _ in range(depth):
            end = self.code.index(")", end) + 1
        return end

    def blank_before(self, offset: int) -> bool:
        """Whether the code at `offset` starts its line (arrows aside) below an empty line."""
        line = self.line_of(offset)
        first = _SEPARATORS.fullmatch(self.code, self.line_starts[line - 1], offset) is not None
        return first and line - 1 in self.blank_lines


# ---------------------------------------------------------------- flat text


def _expr(value: nodes.Value, context: int) -> str:
    """An integer expression with the fewest parentheses that keep its tree."""
    if isinstance(value, nodes.Number):
        return value.text
    if isinstance(value, nodes.Word):
        return value.name
    if isinstance(value, nodes.Negate):
        return "-" + _expr(value.operand, _FACTOR)
    if isinstance(value, nodes.BinOp):
        level = _PRECEDENCE[value.op]
        text = f"{_expr(value.left, level)} {value.op} {_expr(value.right, level + 1)}"
        return f"({text})" if context > level else text
    raise AssertionError(f"no expression text for {type(value).__name__}")


def _value(value: nodes.Value) -> str:
    """A value where an argument, a keyword's value, a default or a shape stands."""
    if isinstance(value, nodes.Dims):
        if all(isinstance(p, nodes.Number) and _DIMS_PART.fullmatch(p.text) for p in value.parts):
            return "x".join(p.text for p in value.parts)  # type: ignore[union-attr]
        return " x ".join(_value(part) for part in value.parts)
    if isinstance(value, nodes.Number) and _SIGNED_NUMBER.fullmatch(value.text):
        return value.text
    if isinstance(value, nodes.Word):
        return value.name
    if isinstance(value, nodes.Reference):
        return f"@{value.name}"
    return f"({_expr(value, _SUM)})"


def _count(value: nodes.Value) -> str:
    if isinstance(value, nodes.Number) and _PLAIN_NUMBER.fullmatch(value.text):
        return value.text
    if isinstance(value, nodes.Word):
        return value.name
    return f"({_expr(value, _SUM)})"


def _layer(node: nodes.Layer | nodes.Input) -> str:
    if isinstance(node, nodes.Input):
        return f"input {_value(node.shape)}" + (f" as {node.alias}" if node.alias else "")
    # The tree keeps positional arguments apart from key=value ones; write them in the
    # order the spec had them (`conv2d 32 3x3 stride=2 same` stays as it is).
    arguments = sorted([*node.args, *node.keywords], key=lambda a: (a.span.line, a.span.column))
    words = [node.name, *(_argument(a) for a in arguments)]
    if node.alias is not None:
        words += ["as", node.alias]
    return " ".join(words)


def _argument(argument: nodes.Value | nodes.Keyword) -> str:
    return f"{argument.name}={_value(argument.value)}" if isinstance(argument, nodes.Keyword) else _value(argument)


def _header(block: nodes.BlockDef) -> str:
    params = ", ".join(p.name if p.default is None else f"{p.name}={_value(p.default)}" for p in block.params)
    return f"block {block.name}({params}) = "


def _flat(node: nodes.Node | nodes.Chain) -> str:
    if isinstance(node, nodes.Chain):
        return " -> ".join(_flat(n) for n in node.nodes)
    if isinstance(node, nodes.Repeat):
        return f"{_flat(node.node)} * {_count(node.count)}"
    if isinstance(node, nodes.Group):
        return "( " + " | ".join(_flat(b) for b in node.branches) + " )"
    if isinstance(node, nodes.Residual):
        return f"residual( {_flat(node.body)} )"
    if isinstance(node, nodes.Reference):
        return f"@{node.name}"
    return _layer(node)


# ---------------------------------------------------------------- layout


@dataclass(eq=False)
class _Line:
    indent: int
    text: str
    units: list[_Unit]
    blank: str = "source"  # before it: "never", "source" (one if the spec had one), "always"
    closes: bool = False  # a `)` or `}`: comments above it sit one level deeper


class _Layout:
    def __init__(self, source: _Source, module: nodes.Module):
        self.source = source
        self.module = module
        self.all_units: list[_Unit] = []
        self.leaf: dict[int, _Unit] = {}  # id(layer, input, or the repeat around one)
        self.brackets: dict[int, tuple[_Unit, _Unit]] = {}  # id(group or residual): its ( and )
        self.heads: dict[int, _Unit] = {}  # id(statement): `model M {` or `block b(...) =`
        self.tails: dict[int, _Unit] = {}  # id(model): its `}`
        self.memo: dict[int, list[_Unit]] = {}
        for statement in module.statements:
            self._statement_units(statement)
        self.trailer = self._attach_comments()

    # ------------------------------------------------------------ units and comments
    def _unit(self, start: int, end: int) -> _Unit:
        unit = _Unit(start, end, self.source.blank_before(start))
        self.all_units.append(unit)
        return unit

    def _statement_units(self, statement: nodes.Statement) -> None:
        src = self.source
        start = src.start(statement.span)
        if isinstance(statement, nodes.ModelDef):
            brace = src.code.index("{", src.end(statement.name_span)) + 1
            self.heads[id(statement)] = self._unit(start, brace)
            for chain in statement.statements:
                self._chain_units(chain)
            end = src.end(statement.span)
            self.tails[id(statement)] = self._unit(end - 1, end)
        elif isinstance(statement, nodes.BlockDef):
            equals = src.code.rindex("=", start, src.start(statement.body.span)) + 1
            self.heads[id(statement)] = self._unit(start, equals)
            self._chain_units(statement.body)
        else:
            self._chain_units(statement.body)

    def _chain_units(self, chain: nodes.Chain) -> None:
        for node in chain.nodes:
            self._node_units(node)

    def _node_units(self, node: nodes.Node) -> None:
        src = self.source
        inner = node.node if isinstance(node, nodes.Repeat) else node
        outer_end = src.end(node.span)
        if isinstance(inner, nodes.Layer | nodes.Input | nodes.Reference):
            start = src.start(inner.span)
            self.leaf[id(node)] = self._unit(start, src.close_parens(start, outer_end))
            return
        assert isinstance(inner, nodes.Group | nodes.Residual)
        start, inner_end = src.start(inner.span), src.end(inner.span)
        opener = start + 1 if isinstance(inner, nodes.Group) else src.code.index("(", start + len("residual")) + 1
        open_unit = self._unit(start, opener)
        for chain in inner.branches if isinstance(inner, nodes.Group) else (inner.body,):
            self._chain_units(chain)
        close_unit = self._unit(inner_end - 1, src.close_parens(inner_end, outer_end))
        self.brackets[id(inner)] = (open_unit, close_unit)

    def _attach_comments(self) -> list[_Comment]:
        """Give each comment to the unit it trails or leads; returns those after all code."""
        units = sorted(self.all_units, key=lambda u: u.start)
        starts = [u.start for u in units]
        trailer: list[_Comment] = []
        for comment in self.source.comments:
            i = bisect_right(starts, comment.offset) - 1
            if i >= 0 and (comment.offset < units[i].end or not comment.own_line):
                units[i].trailing.append(comment)
            elif i + 1 < len(units):
                units[i + 1].leading.append(comment)
            else:
                trailer.append(comment)
        return trailer

    def units(self, node: nodes.Node | nodes.Chain) -> list[_Unit]:
        """The units of a construct, in order."""
        key = id(node)
        if key not in self.memo:
            if isinstance(node, nodes.Chain):
                found = [u for n in node.nodes for u in self.units(n)]
            elif key in self.leaf:
                found = [self.leaf[key]]
            elif isinstance(node, nodes.Repeat):
                found = self.units(node.node)
            else:
                opener, closer = self.brackets[key]
                chains = node.branches if isinstance(node, nodes.Group) else (node.body,)
                found = [opener, *(u for c in chains for u in self.units(c)), closer]
            self.memo[key] = found
        return self.memo[key]

    def fits_flat(self, node: nodes.Node | nodes.Chain, column: int) -> tuple[bool, str]:
        """The one-line text, and whether it fits and leaves no comment inside the line."""
        text = _flat(node)
        units = self.units(node)
        clean = not any(u.trailing for u in units[:-1]) and not any(u.leading for u in units[1:])
        return clean and column + len(text) <= LINE_LENGTH, text

    # ------------------------------------------------------------ lines
    def chain(self, chain: nodes.Chain, column: int, cont: int, hang: int, force: bool = False) -> list[_Line]:
        """A chain starting at `column`; continuation lines `-> ...` at `cont`.

        `hang` is where a bracket of the first node breaks to: its column when the chain
        starts a line, or one step in from the line when something precedes it.
        """
        if not force:
            fits, text = self.fits_flat(chain, column)
            if fits:
                return [_Line(column, text, self.units(chain))]
        lines = self.node(chain.nodes[0], column, hang)
        for node in chain.nodes[1:]:
            first, *rest = self.node(node, cont + 3, cont + 3)
            lines.append(_Line(cont, "-> " + first.text, first.units))
            lines += rest
        return lines

    def node(self, node: nodes.Node, column: int, hang: int) -> list[_Line]:
        inner = node.node if isinstance(node, nodes.Repeat) else node
        fits, text = self.fits_flat(node, column)
        if fits or isinstance(inner, nodes.Layer | nodes.Input | nodes.Reference):
            return [_Line(column, text, self.units(node))]
        assert isinstance(inner, nodes.Group | nodes.Residual)
        opener, closer = self.brackets[id(inner)]
        inside = hang + INDENT
        if isinstance(inner, nodes.Group):
            lines = [_Line(column, "(", [opener])]
            for i, branch in enumerate(inner.branches):
                first, *rest = self.chain(branch, inside, inside, inside)
                if i == 0:
                    lines.append(_Line(inside, first.text, first.units, "never"))
                else:
                    lines.append(_Line(hang, "| " + first.text, first.units))
                lines += rest
        else:
            first, *rest = self.chain(inner.body, inside, inside, inside)
            lines = [_Line(column, "residual(", [opener]), _Line(inside, first.text, first.units, "never"), *rest]
        suffix = f" * {_count(node.count)}" if isinstance(node, nodes.Repeat) else ""
        lines.append(_Line(hang, ")" + suffix, [closer], "never", closes=True))
        return lines

    def statement(self, statement: nodes.Statement) -> list[_Line]:
        if isinstance(statement, nodes.ModelDef):
            head = _Line(0, f"model {statement.name} {{", [self.heads[id(statement)]])
            # A model of one chain reads top to bottom, a layer a line; one of several
            # statements (a graph: section 7) keeps each statement on a line where it fits.
            single = len(statement.statements) == 1
            body: list[_Line] = []
            for index, chain in enumerate(statement.statements):
                # a statement's continuation lines step in, so that each statement's start stands out
                cont = INDENT if single else 2 * INDENT
                first, *rest = self.chain(chain, INDENT, cont, INDENT, force=single)
                body += [_Line(INDENT, first.text, first.units, "never" if index == 0 else "source"), *rest]
            tail = _Line(0, "}", [self.tails[id(statement)]], "never", closes=True)
            return [head, *body, tail]
        if isinstance(statement, nodes.BlockDef):
            header = _header(statement)
            first, *rest = self.chain(statement.body, len(header), INDENT, INDENT)
            return [_Line(0, header + first.text, [self.heads[id(statement)], *first.units]), *rest]
        return self.chain(statement.body, 0, INDENT, 0)

    # ------------------------------------------------------------ text
    def render(self) -> str:
        rows: list[tuple[str, str | None]] = []  # (code, trailing comment); ("", None) is a blank line

        def blank() -> None:
            if rows and rows[-1] != ("", None):
                rows.append(("", None))

        previous_one_line_block = False
        for index, statement in enumerate(self.module.statements):
            lines = self.statement(statement)
            one_line_block = isinstance(statement, nodes.BlockDef) and len(lines) == 1
            if index:
                lines[0].blank = "source" if one_line_block and previous_one_line_block else "always"
            previous_one_line_block = one_line_block
            for line in lines:
                self._emit(line, rows, blank)
        for comment in self.trailer:
            if comment.blank_before:
                blank()
            rows.append((comment.text, None))
        return _align(rows)

    def _emit(self, line: _Line, rows: list[tuple[str, str | None]], blank) -> None:
        comments = sorted((c for u in line.units for c in (*u.leading, *u.trailing)), key=lambda c: c.offset)
        trailing = [c for u in line.units for c in u.trailing]
        kept = max(trailing, key=lambda c: c.offset) if trailing else None
        above = [c for c in comments if c is not kept]
        leading = {id(c) for u in line.units for c in u.leading}
        indent = " " * (line.indent + (INDENT if line.closes else 0))
        items: list[tuple[bool, str | None]] = [(id(c) in leading and c.blank_before, c.text) for c in above]
        items.append((line.units[0].blank_before and not line.closes, None))
        for i, (blank_in_spec, comment_text) in enumerate(items):
            if i == 0:
                wanted = line.blank == "always" or (line.blank == "source" and blank_in_spec)
            else:
                wanted = blank_in_spec
            if wanted:
                blank()
            if comment_text is not None:
                rows.append((indent + comment_text, None))
        rows.append((" " * line.indent + line.text, None if kept is None else kept.text))


def _align(rows: list[tuple[str, str | None]]) -> str:
    """Trailing comments of consecutive lines share a column, two spaces after the longest code."""
    out: list[str] = []
    for run in _runs(rows):
        if run[0][1] is None:
            out += [code for code, _ in run]
        else:
            column = max(len(code) for code, _ in run) + 2
            out += [code.ljust(column) + (comment or "") for code, comment in run]
    return "\n".join(out) + "\n" if out else ""


def _runs(rows: list[tuple[str, str | None]]) -> Iterator[list[tuple[str, str | None]]]:
    run: list[tuple[str, str | None]] = []
    for row in rows:
        if run and (run[-1][1] is None) != (row[1] is None):
            yield run
            run = []
        run.append(row)
    if run:
        yield run
