"""The names of a document and every place each is written: definitions, references, renaming.

A name is a block (defined by `block NAME(...)`, used by every call), a model, a block
parameter (used in its block's body), or a value named with `as` (used by `@NAME` and
`use NAME` within its own model or block body, LANGUAGE.md §7). The syntax tree gives the
definitions and the calls; references to `as` names are read from the text of their statement,
so they are found whatever syntax-tree nodes the graph syntax brings, and only once the grammar
has them.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

from archdsl.common.diagnostics import Span
from archdsl.frontend import nodes
from archdsl.frontend.names import reserved_reason
from archdsl.layers import LAYERS
from archdsl.lsp.document import Analysis, walk
from archdsl.lsp.language import NAME, has_references, reserved_words

_COMMENT = re.compile(r"#[^\n]*")
_REFERENCE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_USE = re.compile(r"(?<![A-Za-z0-9_@])use[ \t\f]+([A-Za-z_][A-Za-z0-9_]*)")

BLOCK, MODEL, PARAM, ALIAS = "block", "model", "parameter", "value"


@dataclass(frozen=True, slots=True)
class Symbol:
    kind: str
    name: str
    scope: int  # the statement a parameter or `as` name belongs to; -1 for blocks and models


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: int
    end: int
    symbol: Symbol
    definition: bool


def blank_comments(text: str) -> str:
    """The text with each comment replaced by spaces: offsets stay, names in comments go."""
    return _COMMENT.sub(lambda match: " " * len(match.group()), text)


class Names:
    """Every occurrence of every name in one version of a document, sorted by place."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis

    @cached_property
    def occurrences(self) -> list[Occurrence]:
        found: list[Occurrence] = []
        analysis = self.analysis
        blocks = analysis.blocks
        for index, statement in enumerate(analysis.statements):
            if isinstance(statement, nodes.BlockDef):
                found.append(self._at(statement.name_span, Symbol(BLOCK, statement.name, -1), True))
                found += self._parameters(statement, index)
            elif isinstance(statement, nodes.ModelDef):
                found.append(self._at(statement.name_span, Symbol(MODEL, statement.name, -1), True))
            for node in walk(statement):
                if not isinstance(node, nodes.Layer):
                    continue
                if node.name in blocks:
                    found.append(self._at(node.name_span, Symbol(BLOCK, node.name, -1), False))
                if node.alias is not None and node.alias_span is not None:
                    found.append(self._at(node.alias_span, Symbol(ALIAS, node.alias, index), True))
            found += self._references(statement, index)
        found.sort(key=lambda o: (o.start, o.end))
        return found

    @cached_property
    def _starts(self) -> list[int]:
        return [o.start for o in self.occurrences]

    def _at(self, span: Span, symbol: Symbol, definition: bool) -> Occurrence:
        start, end = self.analysis.text.span_offsets(span)
        return Occurrence(start, end, symbol, definition)

    def _parameters(self, block: nodes.BlockDef, index: int) -> list[Occurrence]:
        params = {param.name for param in block.params}
        found = []
        for param in block.params:
            start, _ = self.analysis.text.span_offsets(param.span)
            found.append(Occurrence(start, start + len(param.name), Symbol(PARAM, param.name, index), True))
        for node in walk(block):
            if isinstance(node, nodes.Word) and node.name in params:
                found.append(self._at(node.span, Symbol(PARAM, node.name, index), False))
            elif isinstance(node, nodes.Layer) and node.name in params:
                found.append(self._at(node.name_span, Symbol(PARAM, node.name, index), False))
        return found

    def _references(self, statement: nodes.Statement, index: int) -> list[Occurrence]:
        """`@NAME` and `use NAME` in the statement's text, once the grammar has them."""
        patterns = [_REFERENCE, _USE] if has_references() else []
        if not patterns:
            return []
        start, end = self.analysis.text.span_offsets(statement.span)
        text = blank_comments(self.analysis.text.source[start:end])
        return [
            Occurrence(start + match.start(1), start + match.end(1), Symbol(ALIAS, match.group(1), index), False)
            for pattern in patterns
            for match in pattern.finditer(text)
        ]

    # ---------------------------------------------------------------- questions

    def at(self, offset: int) -> Occurrence | None:
        """The occurrence under the cursor (touching either end of the name counts)."""
        occurrences = self.occurrences
        index = bisect_right(self._starts, offset) - 1
        for candidate in occurrences[max(index - 1, 0) : index + 2]:
            if candidate.start <= offset <= candidate.end:
                return candidate
        return None

    def of(self, symbol: Symbol) -> list[Occurrence]:
        return [o for o in self.occurrences if o.symbol == symbol]

    def definition(self, occurrence: Occurrence) -> Occurrence | None:
        """Where the name is defined: for an `as` name, the last definition before the use (or any)."""
        definitions = [o for o in self.of(occurrence.symbol) if o.definition]
        before = [o for o in definitions if o.start <= occurrence.start]
        return (before or definitions or [None])[-1]


def rename_problem(symbol: Symbol, new_name: str, names: Names) -> str | None:
    """Why `new_name` cannot replace `symbol`'s name, or None."""
    if not NAME.fullmatch(new_name):
        return f"'{new_name}' is not a name: letters, digits and '_', not starting with a digit"
    if new_name in reserved_words():
        return f"'{new_name}' is a reserved word of the language"
    if symbol.kind == BLOCK and new_name in LAYERS:
        return f"'{new_name}' is a layer of the language"
    reason = reserved_reason(new_name)
    if reason and symbol.kind in (MODEL, ALIAS):  # the names that reach the generated code as written
        return f"'{new_name}' {reason}"
    taken = {o.symbol.name for o in names.occurrences if o.definition and _clash(o.symbol, symbol)}
    if new_name in taken and new_name != symbol.name:
        return f"there is already a {symbol.kind} named '{new_name}'"
    return None


def _clash(other: Symbol, symbol: Symbol) -> bool:
    if symbol.kind in (BLOCK, MODEL):
        return other.kind == symbol.kind
    return other.scope == symbol.scope and other.kind in (PARAM, ALIAS)
