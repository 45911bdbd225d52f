"""One version of a document, checked once: the cache every feature of the server reads.

A change makes a new `Analysis`; nothing in it is ever updated. The check runs at once (the
diagnostics need it); everything else (the map from syntax to checked layers, the code each
layer becomes, the names and their uses) is computed on the first request that needs it and
kept for the version's life, so a second hover or hint costs a lookup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from archdsl.common.diagnostics import ArchError, Diagnostic, Span
from archdsl.frontend import nodes
from archdsl.ir.model import Layer, Model, Program
from archdsl.lsp.text import Text
from archdsl.pipeline import MAX_SOURCE_BYTES, Checked, check
from archdsl.targets.codegen import emit
from archdsl.targets.common import LayerCode, TargetCode

TARGETS = ("keras", "torch")


@dataclass(frozen=True, slots=True)
class Instance:
    """One expansion of a syntax node: a layer, or the layers of one block call, in one model."""

    model: Model
    scope: tuple[str, ...]
    layers: tuple[Layer, ...]

    @property
    def output(self) -> Layer:
        return self.layers[-1]


def walk(node: object) -> Iterator[object]:
    """Every syntax node under `node` (itself included), in the order of the text."""
    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        children: list[object] = []
        if isinstance(item, nodes.Module):
            children = list(item.statements)
        elif isinstance(item, nodes.BlockDef):
            children = [*item.params, item.body]
        elif isinstance(item, nodes.ModelDef):
            children = list(item.statements)
        elif isinstance(item, nodes.BareChain | nodes.Residual):
            children = [item.body]
        elif isinstance(item, nodes.Chain):
            children = list(item.nodes)
        elif isinstance(item, nodes.Group):
            children = list(item.branches)
        elif isinstance(item, nodes.Repeat):
            children = [item.node, item.count]
        elif isinstance(item, nodes.Layer):
            children = [*item.args, *item.keywords]
        elif isinstance(item, nodes.Keyword):
            children = [item.value]
        elif isinstance(item, nodes.Input):
            children = [item.shape]
        elif isinstance(item, nodes.Param):
            children = [item.default] if item.default is not None else []
        elif isinstance(item, nodes.BinOp):
            children = [item.left, item.right]
        elif isinstance(item, nodes.Negate):
            children = [item.operand]
        elif isinstance(item, nodes.Dims):
            children = list(item.parts)
        stack.extend(reversed(children))


class Analysis:
    """A document at one version: its text, what the pipeline made of it, and caches for the features."""

    def __init__(self, uri: str, version: int | None, text: Text):
        self.uri = uri
        self.version = version
        self.text = text
        if len(text.source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            too_large = Diagnostic(
                "A502",
                f"the document is larger than {MAX_SOURCE_BYTES:,} bytes, the limit of a spec",
                Span(uri, 1, 1, 1, 2),
            )
            self.checked = Checked(None, (), Program(uri, text.source, ()), (too_large,))
        else:
            self.checked = check(text.source, uri)
        self._code: dict[tuple[str, str], TargetCode | ArchError] = {}
        self._records: dict[tuple[str, str], dict[str, LayerCode]] = {}

    @property
    def module(self) -> nodes.Module | None:
        return self.checked.module

    @property
    def models(self) -> tuple[Model, ...]:
        return self.checked.program.models

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Errors, then warnings and notes: what `archdsl check` prints for the text."""
        return self.checked.errors + self.checked.program.warnings

    @cached_property
    def statements(self) -> tuple[nodes.Statement, ...]:
        return self.module.statements if self.module is not None else ()

    @cached_property
    def blocks(self) -> dict[str, nodes.BlockDef]:
        found: dict[str, nodes.BlockDef] = {}
        for statement in self.statements:
            if isinstance(statement, nodes.BlockDef):
                found.setdefault(statement.name, statement)
        return found

    def statement_at(self, offset: int) -> nodes.Statement | None:
        for statement in self.statements:
            start, end = self.text.span_offsets(statement.span)
            if start <= offset <= end:
                return statement
        return None

    # ---------------------------------------------------------------- syntax to checked layers

    @cached_property
    def _instances(self) -> tuple[dict[Span, list[Instance]], dict[Span, list[Instance]]]:
        """Per layer span, its checked layers; per block call span, the layers of each call.

        A layer in a block body, or repeated with `* N`, is checked once per expansion: each
        is an Instance. The input of a model is an Instance with no layers of its own.
        """
        by_layer: dict[Span, list[Instance]] = defaultdict(list)
        by_call: dict[Span, list[Instance]] = defaultdict(list)
        for graph, model in self._graph_of_model():
            calls: dict[tuple[Span, tuple[str, ...]], list[Layer]] = {}
            origin = {node.name: node for node in graph.nodes}
            for layer in model.layers:
                if layer.inserted:
                    continue
                by_layer[layer.span].append(Instance(model, layer.scope, (layer,)))
                node = origin.get(layer.name)
                if node is None:
                    continue
                for depth, site in enumerate(node.called_from):
                    calls.setdefault((site.span, node.scope[: depth + 1]), []).append(layer)
            for (span, scope), layers in calls.items():
                by_call[span].append(Instance(model, scope, tuple(layers)))
        return by_layer, by_call

    def _graph_of_model(self) -> Iterator[tuple[object, Model]]:
        graphs = {graph.name: graph for graph in self.checked.graphs}
        for model in self.models:
            graph = graphs.get(model.name)
            if graph is not None:
                yield graph, model

    def instances_by_span(self) -> tuple[dict[Span, list[Instance]], dict[Span, list[Instance]]]:
        return self._instances

    def layer_instances(self, node: nodes.Layer) -> list[Instance]:
        by_layer, by_call = self._instances
        return by_call.get(node.span, []) if node.name in self.blocks else by_layer.get(node.span, [])

    def inserted_before(self, layer: Layer, model: Model) -> list[Layer]:
        """Layers archdsl inserted before `layer` (a flatten before a dense), which the user did not write."""
        found = []
        for candidate in model.layers:
            if candidate is layer:
                break
            if candidate.inserted and candidate.span == layer.span and candidate.scope == layer.scope:
                found.append(candidate)
        return found

    def input_shape_of(self, node: nodes.Input) -> list[tuple[Model, object]]:
        """The shape of the input written at `node`, in each model it is an input of."""
        return [(model, given.shape) for model in self.models for given in model.inputs if given.span == node.span]

    # ---------------------------------------------------------------- generated code

    def code(self, model: Model, target: str) -> TargetCode | ArchError:
        """What every layer of `model` becomes in `target`, computed once per version (or why it cannot be)."""
        key = (model.name, target)
        if key not in self._code:
            try:
                self._code[key] = emit(model, target)
            except ArchError as error:
                self._code[key] = error
        return self._code[key]

    def layer_codes(self, model: Model, target: str) -> dict[str, LayerCode]:
        """The record of each layer of `model` in `target`, by layer name (empty when the target cannot)."""
        key = (model.name, target)
        if key not in self._records:
            code = self.code(model, target)
            self._records[key] = {} if isinstance(code, ArchError) else {c.name: c for c in code.layers}
        return self._records[key]

    def warm(self) -> None:
        """Compute the code of every model ahead of the first hover."""
        for model in self.models:
            for target in TARGETS:
                self.code(model, target)
