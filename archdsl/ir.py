"""The graph IR (after expansion) and the checked model (after shape inference).

Both are frozen: passes build new objects instead of mutating, so a checked
model handed to a tool or a target can be shared without defensive copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from .diagnostics import Diagnostic, Span
from .layers.spec import Params
from .record import record
from .shapes import Shape, keras_shape

ArgValue = int | float | str | tuple


@record
class WrittenArg:
    """An argument after block parameters were substituted, with where it was written."""

    value: ArgValue
    span: Span


@record
class WrittenKeyword:
    name: str
    value: ArgValue
    span: Span


@record
class CallSite:
    """A block call a node was expanded from: the block's name and where the call is written."""

    block: str
    span: Span


@record
class GraphNode:
    """One layer of the expanded graph; `inputs` name earlier nodes.

    `called_from` lists the block calls the node was expanded through, outermost first, so
    that an error inside a block body can say which call it came from.
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


@record
class Graph:
    """One model, flattened: nodes in a topological order, the input first."""

    name: str
    nodes: tuple[GraphNode, ...]
    span: Span
    name_span: Span


@record
class Layer:
    """A checked layer: its full configuration, its output shape and its parameters.

    Shapes are per sample, channels last, batch axis excluded; a symbolic
    dimension is a string. `notes` says what archdsl did that the user did not
    write (an inserted flatten, say).
    """

    name: str
    type: str
    config: Mapping[str, Any]
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    params: Params
    span: Span
    scope: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    inserted: bool = False

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": {"keras": self.params.keras, "torch": self.params.torch},
            "line": self.line,
            "column": self.column,
        }


@record
class Model:
    """A checked model, ready for the targets and the tools."""

    name: str
    input_name: str
    input_shape: Shape
    layers: tuple[Layer, ...]
    span: Span
    source_file: str
    params: Params = field(default_factory=Params)

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def output_name(self) -> str:
        return self.layers[-1].name if self.layers else self.input_name

    @property
    def keras_input_shape(self) -> tuple[int | None, ...]:
        return keras_shape(self.input_shape)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": {"keras": self.params.keras, "torch": self.params.torch},
            "layers": [layer.to_json() for layer in self.layers],
        }


@record
class Program:
    """Every model of one file, checked."""

    filename: str
    source: str
    models: tuple[Model, ...]
    blocks: tuple[str, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def model(self, name: str | None = None) -> Model:
        """The named model; without a name, the only one (several is an error naming them)."""
        from .selection import select_model

        return select_model(self, name)

    def to_json(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models]}
