"""Graph to checked model: binds arguments, infers every shape, counts parameters.

This pass applies the layer table and nothing else decides a shape. Errors are
collected, not raised, so one run reports every layer that is wrong; a layer
whose input is already wrong is skipped rather than reported again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from archdsl.analysis.lint import lint
from archdsl.analysis.masks import output_mask
from archdsl.analysis.suggest import Failure, refine
from archdsl.common.diagnostics import DiagnosticSink, Fix, Note, Span
from archdsl.frontend.expand import UNKNOWN
from archdsl.ir.graph import Graph, GraphNode, WrittenArg
from archdsl.ir.model import Layer, Model, ModelInput, sharing_note
from archdsl.layers import LAYERS, Params, bind
from archdsl.layers.shapes import RANK_NAMES, Shape, ShapeError, describe, format_dims

MAX_DIM = 2**31 - 1
MAX_TENSOR = 2**31 - 1  # elements one weight tensor may have
MAX_PARAMS = 2_000_000_000  # 7.5 GiB of float32 weights
_KNOWN_WORDS = tuple(LAYERS)


def input_shape(arg: WrittenArg, sink: DiagnosticSink) -> Shape | None:
    """The sample shape written after 'input', validated."""
    parts = arg.value if isinstance(arg.value, tuple) else (arg.value,)
    if not 1 <= len(parts) <= 4:
        message = f"an input has 1 to 4 axes ({', '.join(RANK_NAMES.values())}) but got {len(parts)}"
        if len(parts) == 5:  # most likely with the batch axis written first
            meant = format_dims(parts[1:])
            hint = f"leave the batch axis out: did you mean 'input {meant}'?"
            sink.error("A307", message, arg.span, hint, fix=Fix(arg.span, meant))
        else:
            sink.error("A307", message, arg.span, "batch axis excluded, channels last, as in input 64x64x3")
        return None
    for part in parts:
        if isinstance(part, bool) or isinstance(part, float) or (isinstance(part, int) and not 0 < part <= MAX_DIM):
            sink.error(
                "A307",
                f"an input size must be a positive whole number or a name, got {part}",
                arg.span,
                "write a symbolic name such as 'seq' for a size known only at run time",
            )
            return None
    return tuple(parts)  # type: ignore[return-value]


def _fresh(base: str, taken: set[str]) -> str:
    k = 1
    while f"{base}_{k}" in taken:
        k += 1
    name = f"{base}_{k}"
    taken.add(name)
    return name


def check_graph(graph: Graph, sink: DiagnosticSink, source: str) -> Model | None:
    """The checked model for one graph, or None when it has errors (they are in `sink`)."""
    input_nodes = [node for node in graph.nodes if node.type == "input"]
    if not input_nodes:
        return None
    shapes: dict[str, Shape | None] = {}
    inputs: list[ModelInput] = []
    for node in input_nodes:
        shape = input_shape(node.args[0], sink)
        shapes[node.name] = shape
        if shape is not None:
            inputs.append(ModelInput(node.name, shape, node.span))
    checked: dict[str, Layer] = {}
    taken = {node.name for node in graph.nodes}
    result: list[Layer] = []
    ok = len(inputs) == len(input_nodes)
    for node in graph.nodes:
        if node.type == "input":
            continue
        if node.type == UNKNOWN:
            shapes[node.name] = None
            ok = False
            continue
        layer_or_none = _check_node(node, input_nodes[0], shapes, checked, taken, sink, source, result)
        shapes[node.name] = layer_or_none.output_shape if layer_or_none else None
        if layer_or_none is None:
            ok = False
            continue
        incoming = [checked[name].mask if name in checked else None for name in layer_or_none.inputs]
        layer_or_none = replace(layer_or_none, mask=output_mask(layer_or_none, incoming), input_masks=tuple(incoming))
        checked[node.name] = layer_or_none
        result.append(layer_or_none)
    if not ok:
        return None
    stated = {layer.state_from for layer in result if layer.state_from}
    result = [replace(layer, returns_state=True) if layer.name in stated else layer for layer in result]
    total = sum((layer.params for layer in result), Params())  # a shared layer's copies count nothing
    _warn_if_huge(graph, result, total, sink)
    model = Model(
        name=graph.name,
        inputs=tuple(inputs),
        layers=tuple(result),
        outputs=graph.outputs,
        span=graph.span,
        source_file=graph.span.file,
        params=total,
    )
    for diagnostic in lint(model, graph, source):
        sink.report(diagnostic)
    return model


def _check_node(
    node: GraphNode,
    model_input: GraphNode,
    shapes: Mapping[str, Shape | None],
    checked: Mapping[str, Layer],
    taken: set[str],
    sink: DiagnosticSink,
    source: str,
    result: list[Layer],
) -> Layer | None:
    spec = LAYERS[node.type]
    config, errors = bind(
        spec,
        node.args,
        node.keywords,
        node.span,
        _KNOWN_WORDS,
    )
    for error in errors:
        span = error.span or node.span
        sink.error(error.code, error.message, span, error.hint, _call_notes(node, span), error.fix)
    input_shapes = [shapes.get(name) for name in node.inputs]
    if errors or None in input_shapes:
        return None
    inputs: tuple[Shape, ...] = tuple(input_shapes)  # type: ignore[arg-type]
    input_names = node.inputs

    if node.type == "dense" and len(inputs[0]) >= 3:
        flatten = _insert_flatten(node, inputs[0], taken, sink)
        if flatten is None:
            return None
        result.append(flatten)
        inputs, input_names = (flatten.output_shape,), (flatten.name,)

    work: dict[str, Any] = {**config, "_name": spec.name}
    try:
        work = spec.resolve(work, inputs)
        output = spec.infer(work, inputs)
        params = spec.params(work, inputs, output)
    except ShapeError as error:
        said = refine(Failure(error, node, spec, config, inputs, checked, source, model_input))
        sink.error(error.code, said.message, node.span, said.hint, _call_notes(node, node.span), said.fix)
        return None
    work.pop("_name", None)
    if spec.ignores_input is not None:
        ignored = spec.ignores_input(work, inputs)
        if ignored is not None:
            sink.warn("A702", f"{node.name} {ignored[0]}", node.span, ignored[1])
    notes: tuple[str, ...] = ()
    if (node.shares is not None and node.shares not in checked) or (
        node.state_from is not None and node.state_from not in checked
    ):
        return None  # the layer it depends on has an error of its own, reported already
    if node.shares is not None:
        owner = checked[node.shares]
        if inputs != owner.input_shapes:
            sink.error(
                "A309",
                f"{node.shares} was built for {_shapes(owner.input_shapes)}, and cannot be applied again to "
                f"{_shapes(inputs)}",
                node.span,
                "a layer used again keeps its weights, so its input must have the shape it was built for",
                _call_notes(node, node.span),
            )
            return None
        params, notes = Params(), (sharing_note(node.shares),)
    if node.state_from is not None:
        if not _state_fits(node, work, checked[node.state_from], sink):
            return None
        notes += (f"starts from the final state of {node.state_from}",)
    return Layer(
        name=node.name,
        type=node.type,
        config=MappingProxyType(work),
        inputs=input_names,
        input_shapes=inputs,
        output_shape=output,
        params=params,
        span=node.span,
        scope=node.scope,
        notes=notes,
        called_from=node.called_from,
        shares=node.shares,
        state_from=node.state_from,
    )


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return " and ".join(describe(shape) for shape in shapes)


def _a(words: str) -> str:
    """With its article as it is said: an lstm, an rnn, an embedding, a gru, a dense."""
    spoken_vowel = words[0] in "aeiou" or words.split()[0] in ("lstm", "rnn")
    return f"{'an' if spoken_vowel else 'a'} {words}"


def _state_fits(node: GraphNode, config: Mapping[str, Any], source: Layer, sink: DiagnosticSink) -> bool:
    """`init=@NAME`: NAME's final state must be the state this layer holds (A310 otherwise)."""
    wanted = f"{node.type} {config['units']}" + (" bidirectional" if config["bidirectional"] else "")
    if source.type != node.type:
        problem = (
            f"init=@{source.name} names {_a(source.type)}, but this {node.type} starts from {_a(node.type)}'s state"
        )
    elif (source.config["units"], source.config["bidirectional"]) != (config["units"], config["bidirectional"]):
        written = f"{source.type} {source.config['units']}"
        written += " bidirectional" if source.config["bidirectional"] else ""
        problem = f"init=@{source.name} is {_a(written)}, but this layer is {_a(wanted)}: their states differ in size"
    else:
        return True
    sink.error(
        "A310",
        problem,
        node.span,
        f"make {source.name} {_a(wanted)} (same type, units and direction), or start from another layer",
        _call_notes(node, node.span),
    )
    return False


def _call_notes(node: GraphNode, span: Span) -> tuple[Note, ...]:
    """For an error inside a block body: the calls it was expanded through, innermost first.

    A call whose own text holds the error (a bad argument written at the call) needs no note.
    """
    return tuple(
        Note(f"in block '{site.block}', called here", site.span)
        for site in reversed(node.called_from)
        if not site.span.contains(span)
    )


def _insert_flatten(node: GraphNode, shape: Shape, taken: set[str], sink: DiagnosticSink) -> Layer | None:
    """LANGUAGE.md: dense on an image or volume flattens it first, and check says so."""
    flatten = LAYERS["flatten"]
    try:
        output = flatten.infer({}, (shape,))
    except ShapeError as error:
        sink.error(
            error.code,
            f"dense needs a vector, and {describe(shape)} cannot be flattened: it has a symbolic size",
            node.span,
            "use globalavgpool before dense to drop the spatial axes",
            _call_notes(node, node.span),
        )
        return None
    return Layer(
        name=_fresh("flatten", taken),
        type="flatten",
        config=MappingProxyType({}),
        inputs=node.inputs,
        input_shapes=(shape,),
        output_shape=output,
        params=Params(),
        span=node.span,
        scope=node.scope,
        called_from=node.called_from,
        notes=(f"inserted before {node.name}: dense takes a vector",),
        inserted=True,
    )


def _warn_if_huge(graph: Graph, layers: list[Layer], total: Params, sink: DiagnosticSink) -> None:
    """A valid spec may still describe weights no machine will hold: say so, but accept it."""
    biggest = max(layers, key=lambda layer: layer.params.keras, default=None)
    if biggest is not None and biggest.params.keras > MAX_TENSOR:
        sink.warn(
            "A701",
            f"{biggest.name} has {biggest.params.keras:,} parameters; frameworks index a tensor with 32-bit "
            "integers and may refuse to allocate it",
            biggest.span,
            "shrink the layer, e.g. pool or stride before it",
        )
    elif total.keras > MAX_PARAMS:
        gigabytes = total.keras * 4 / 2**30
        sink.warn(
            "A701",
            f"model {graph.name} has {total.keras:,} parameters: {gigabytes:,.1f} GiB of float32 weights",
            graph.name_span,
            "building it in Keras or PyTorch may run out of memory",
        )
