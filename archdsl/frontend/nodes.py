"""The syntax tree: what the user wrote, with a span on every node.

Nothing here is resolved yet: block parameters are still words, expressions are
still trees, repetition is still a count. `expand.py` turns this into the graph.
"""

from __future__ import annotations

from archdsl.common.diagnostics import Span
from archdsl.common.record import record


@record
class Number:
    value: int | float
    text: str
    span: Span


@record
class Word:
    """A bare name: an option word (`same`, `relu`, `seq`), a parameter or a symbolic dim."""

    name: str
    span: Span


@record
class Reference:
    """`@name`: the output of the node named `name` with `as` (a chain's start, a branch's, or `init=`)."""

    name: str
    span: Span


@record
class BinOp:
    """Integer arithmetic in a block body: `+`, `-`, `*` or `//`."""

    op: str
    left: Value
    right: Value
    span: Span


@record
class Negate:
    operand: Value
    span: Span


@record
class Dims:
    """`3x3`, `seq x 8`, `(k) x (k)`: one part per axis."""

    parts: tuple[Value, ...]
    span: Span


Value = Number | Word | BinOp | Negate | Dims | Reference


@record
class Keyword:
    name: str
    value: Value
    span: Span


@record
class Layer:
    """A layer or a block call: `conv2d 32 3x3 same as stem`."""

    name: str
    args: tuple[Value, ...]
    keywords: tuple[Keyword, ...]
    alias: str | None
    span: Span
    name_span: Span
    alias_span: Span | None = None


@record
class Input:
    shape: Value
    span: Span
    alias: str | None = None
    alias_span: Span | None = None


@record
class Group:
    branches: tuple[Chain, ...]
    span: Span


@record
class Residual:
    body: Chain
    span: Span


@record
class Repeat:
    node: Node
    count: Value
    span: Span


Node = Input | Layer | Group | Residual | Repeat | Reference


@record
class Chain:
    nodes: tuple[Node, ...]
    span: Span


@record
class Param:
    name: str
    default: Value | None
    span: Span


@record
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: Chain
    span: Span
    name_span: Span


@record
class ModelDef:
    """`model Name { ... }`: one or more chain statements (an `output @a @b` statement is a
    chain of one layer named 'output' whose arguments are references)."""

    name: str
    statements: tuple[Chain, ...]
    span: Span
    name_span: Span


@record
class BareChain:
    body: Chain
    span: Span


Statement = BlockDef | ModelDef | BareChain


@record
class Module:
    """One parsed file."""

    filename: str
    statements: tuple[Statement, ...]
