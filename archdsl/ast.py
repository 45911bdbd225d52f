"""The syntax tree: what the user wrote, with a span on every node.

Nothing here is resolved yet: block parameters are still words, expressions are
still trees, repetition is still a count. `expand.py` turns this into the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagnostics import Span


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Word:
    """A bare name: an option word (`same`, `relu`, `seq`), a parameter or a symbolic dim."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    """Integer arithmetic in a block body: `+`, `-`, `*` or `//`."""

    op: str
    left: Value
    right: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Dims:
    """`3x3`, `seq x 8`, `(k) x (k)`: one part per axis."""

    parts: tuple[Value, ...]
    span: Span


Value = Number | Word | BinOp | Negate | Dims


@dataclass(frozen=True, slots=True)
class Keyword:
    name: str
    value: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Layer:
    """A layer or a block call: `conv2d 32 3x3 same as stem`."""

    name: str
    args: tuple[Value, ...]
    keywords: tuple[Keyword, ...]
    alias: str | None
    span: Span
    name_span: Span
    alias_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Input:
    shape: Value
    span: Span


@dataclass(frozen=True, slots=True)
class Group:
    branches: tuple[Chain, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Residual:
    body: Chain
    span: Span


@dataclass(frozen=True, slots=True)
class Repeat:
    node: Node
    count: Value
    span: Span


Node = Input | Layer | Group | Residual | Repeat


@dataclass(frozen=True, slots=True)
class Chain:
    nodes: tuple[Node, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Value | None
    span: Span


@dataclass(frozen=True, slots=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: Chain
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class ModelDef:
    name: str
    body: Chain
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class BareChain:
    body: Chain
    span: Span


Statement = BlockDef | ModelDef | BareChain


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file."""

    filename: str
    statements: tuple[Statement, ...]
