"""The graph IR: what expansion produces from the syntax tree, before any shape is known.

Blocks, repetition and sugar are gone; every node names its inputs. The shape
pass (`archdsl.analysis`) turns a Graph into a checked `Model`.
"""

from __future__ import annotations

from archdsl.common.diagnostics import Span
from archdsl.common.record import record

ArgValue = int | float | str | tuple


@record
class WrittenArg:
    """An argument after block parameters were substituted, with where it was written."""

    value: ArgValue
    span: Span


@record
class WrittenKeyword:
    """`name=value`: `span` covers both, `value_span` the value (at the block call that gave it, if one did)."""

    name: str
    value: ArgValue
    span: Span
    value_span: Span | None = None


@record
class CallSite:
    """A block call a node was expanded from: the block's name, where the call is written and
    the values its parameters took (in the block's order), which the generated code passes on."""

    block: str
    span: Span
    arguments: tuple[tuple[str, ArgValue], ...] = ()


@record
class GraphNode:
    """One layer of the expanded graph; `inputs` name earlier nodes.

    `called_from` lists the block calls the node was expanded through, outermost first, so
    that an error inside a block body can say which call it came from. `shares` names the
    node whose layer (and so weights) this one applies again (`use NAME`); `state_from` the
    recurrent node whose final state it starts from (`init=@NAME`).
    """

    name: str
    type: str
    args: tuple[WrittenArg, ...]
    keywords: tuple[WrittenKeyword, ...]
    inputs: tuple[str, ...]
    span: Span
    scope: tuple[str, ...] = ()
    named_by_user: bool = False
    called_from: tuple[CallSite, ...] = ()
    shares: str | None = None
    state_from: str | None = None


@record
class Graph:
    """One model, flattened: nodes in a topological order (every input before what reads it),
    and the names of its outputs in order."""

    name: str
    nodes: tuple[GraphNode, ...]
    span: Span
    name_span: Span
    outputs: tuple[str, ...] = ()
