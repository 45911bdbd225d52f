"""`archdsl graph`: a checked model drawn with Graphviz.

Every decision (labels, colours, clusters) is made here in Python; Graphviz only
lays the boxes out. Building the graph needs the `graphviz` package but not the
`dot` program, so `--format dot` works everywhere; SVG, PNG and PDF run `dot`.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYERS, show
from archdsl.layers.shapes import Shape
from archdsl.layers.spec import REQUIRED, Arg, LayerSpec

if TYPE_CHECKING:
    import graphviz

FORMATS = ("dot", "svg", "png", "pdf")
SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}
INSTALL_HINT = (
    "install Graphviz: apt-get install graphviz / brew install graphviz / https://graphviz.org/download/"
    " (or use --format dot, which needs no Graphviz program)"
)

# A list, so that both SVG viewers and `dot`'s own PNG renderer (Pango) find a sans-serif face.
FONT = "Helvetica,Arial,sans-serif"
# One fill per family of the layer table (LayerSpec.category): the eye groups a
# diagram by colour long before it reads a label.
FAMILY_FILL = {
    "convolution": "#cfe2f3",
    "pooling": "#d9ead3",
    "core": "#fff2cc",
    "recurrent": "#f4cccc",
    "attention": "#ead1dc",
    "normalization": "#e4dcf5",
    "activation": "#fce5cd",
    "regularization": "#eeeeee",
    "resizing": "#d0e0e3",
    "merge": "#ffe599",
    "preprocessing": "#e2efd9",
}
DEFAULT_FILL = "#ffffff"
ENDPOINT_FILL = "#444444"
OUTPUT_NODE = "@output"  # '@' cannot start a layer name, so it never collides with one
CALL_NODE = "@call/"  # the prefix of a collapsed block call's box: nor can '@' start an instance name
CALL_FILL = "#ededed"  # the grey of a block's frame: a collapsed call reads as a closed frame


@record
class GraphOptions:
    """How to draw: the direction of flow, a PNG's resolution, and whether block calls are drawn closed."""

    rankdir: str = "TB"  # TB, LR, BT or RL, as Graphviz names them
    dpi: int | None = None  # None: Graphviz's own (96 for PNG)
    collapse: bool = False  # one box per top-level block call instead of its layers in a frame


DEFAULT_OPTIONS = GraphOptions()


class GraphvizError(Exception):
    """`dot` could not draw the diagram; the message says why and what to do."""


class GraphvizNotFound(GraphvizError):
    """The `dot` program is not on PATH: the message says how to get it."""


class UnknownFormat(ValueError):
    """The output format cannot be told from the command line."""


def output_format(explicit: str | None, path: str | None) -> str:
    """The format to write: the one asked for, else the file's suffix, else dot text.

    A suffix that names another known format than the one asked for is refused,
    because `-o net.png --format svg` would leave an SVG behind a .png name.
    """
    suffix = os.path.splitext(path)[1].lower() if path not in (None, "-") else ""
    implied = SUFFIXES.get(suffix)
    if explicit is not None:
        if implied is not None and implied != explicit:
            raise UnknownFormat(f"--format {explicit} does not match the file name '{path}' ({implied})")
        return explicit
    if implied is not None:
        return implied
    if suffix:
        known = ", ".join(SUFFIXES)
        raise UnknownFormat(f"cannot tell the format from '{path}': name it {known}, or pass --format")
    return "dot"


# ---------------------------------------------------------------- labels


def compact_shape(shape: Shape) -> str:
    """`62×62×32`, `seq × 64`: short enough to sit on an edge without widening the layout."""
    if not shape:
        return "scalar"
    joiner = "×" if all(isinstance(d, int) for d in shape) else " × "
    return joiner.join(str(d) for d in shape)


def _is_default(spec: LayerSpec, arg: Arg, value: Any, config: Mapping[str, Any]) -> bool:
    """True when the value is what the layer table would have filled in unwritten.

    Resolution spreads a per-axis default over the axes (stride 1 becomes 1x1),
    and a None default stands for a value derived from the positional size
    (a pool's stride is its pool size), so both count as the default too.
    """
    default = arg.default
    if default is REQUIRED:
        return False
    if value == default:
        return True
    if isinstance(value, tuple) and isinstance(default, int) and all(v == default for v in value):
        return True
    if default is None and arg.kind == "dims":
        sizes = [config.get(a.name) for a in spec.args if a.positional and a.kind == "dims"]
        return value in sizes
    return False


def _per_axis(value: Any) -> str:
    """`stride=2` for a stride of 2x2: the language spreads one number over every axis."""
    if isinstance(value, tuple) and value and all(v == value[0] for v in value):
        return show(value[0])
    return show(value)


def _written_as_keyword(spec: LayerSpec, arg: Arg) -> bool:
    """A positional argument the table's own example names (`attention heads=4`) reads better named."""
    return f"{arg.name}=" in spec.example


def layer_summary(layer: Layer) -> str:
    """`conv2d 32 3x3 same stride=2, relu`: the type and what differs from the defaults.

    Positional sizes always show (they are what the layer is: 32 filters, a 3x3
    kernel) even when they equal a default; everything else shows only when the
    user, or a block, chose something other than the table's default. Words come
    in a fixed order (sizes, bare words, key=value, then the activation after a
    comma, as it is applied last), not the order written, so equal layers read
    the same.
    """
    spec = LAYERS.get(layer.type)
    if spec is None:
        return layer.type
    sizes: list[str] = []
    bare: list[str] = []
    named: list[str] = []
    activation = ""
    for arg in spec.args:
        if arg.name not in layer.config:
            continue
        value = layer.config[arg.name]
        if arg.positional:
            target = named if _written_as_keyword(spec, arg) else sizes
            target.append(f"{arg.name}={show(value)}" if target is named else show(value))
        elif _is_default(spec, arg, value, layer.config):
            continue
        elif arg.kind == "activation":
            activation = f", {value}"
        elif arg.kind == "padding" or (arg.kind == "bool" and arg.name in spec.flags and value):
            bare.append(arg.name if arg.kind == "bool" else str(value))
        else:
            named.append(f"{arg.name}={_per_axis(value)}")
    return " ".join([layer.type, *sizes, *bare, *named]) + activation


def _node_label(layer: Layer) -> str:
    """An HTML label: the summary in bold, the layer's name below it in grey."""
    summary = html.escape(layer_summary(layer), quote=False)
    name = html.escape(layer.name, quote=False)
    if layer.inserted:
        name += " · added by archdsl"
    return f'<<b>{summary}</b><br/><font point-size="9" color="#555555">{name}</font>>'


def _tooltip(layer: Layer) -> str:
    """What an SVG viewer shows on hover: the parts a box has no room for."""
    parts = [f"{layer.name}: {layer.type}", f"output {compact_shape(layer.output_shape)}"]
    if layer.params.keras or layer.params.torch:
        parts.append(f"params keras {layer.params.keras:,} / torch {layer.params.torch:,}")
    parts.extend(layer.notes)
    return "; ".join(parts)


# ---------------------------------------------------------------- structure


def _family(layer: Layer) -> str:
    spec = LAYERS.get(layer.type)
    return spec.category if spec is not None else ""


def _is_merge(layer: Layer) -> bool:
    spec = LAYERS.get(layer.type)
    return spec is not None and spec.merge


def _node_attrs(layer: Layer) -> dict[str, str]:
    """Merges are ellipses so a join reads as one; layers archdsl added are dashed."""
    style = ["filled"] if _is_merge(layer) else ["rounded", "filled"]
    if layer.inserted:
        style.append("dashed")
    return {
        "label": _node_label(layer),
        "shape": "ellipse" if _is_merge(layer) else "box",
        "style": ",".join(style),
        "fillcolor": FAMILY_FILL.get(_family(layer), DEFAULT_FILL),
        "tooltip": _tooltip(layer),
    }


def _endpoint_label(title: str, shape: Shape) -> str:
    size = html.escape(compact_shape(shape), quote=False)
    return f'<<b>{title}</b><br/><font point-size="10">{size}</font>>'


def _cluster_id(path: Sequence[str]) -> str:
    """Graphviz draws a subgraph as a box only when its name starts with `cluster`.

    The path is joined with '/', which no name can contain: joined with '_' or '__', a
    block named `a__b` called once would share the frame of `b` called inside `a`.
    """
    return "cluster_" + "/".join(path)


def _add_scoped(parent: graphviz.Digraph, path: tuple[str, ...], layers: Sequence[Layer]) -> None:
    """Put each layer into the cluster of its innermost block call, nesting clusters as calls nest.

    Children keep the order of their first layer, so the clusters appear in the
    order the model runs them and the output is the same on every run.
    """
    import graphviz

    depth = len(path)
    children: dict[str, list[Layer]] = {}
    for layer in layers:
        if len(layer.scope) == depth:
            parent.node(layer.name, **_node_attrs(layer))
        else:
            children.setdefault(layer.scope[depth], []).append(layer)
    for instance, members in children.items():
        inner = (*path, instance)
        cluster = graphviz.Digraph(name=_cluster_id(inner))
        cluster.attr(label=instance, **_cluster_style(depth))
        _add_scoped(cluster, inner, members)
        parent.subgraph(cluster)


def _cluster_style(depth: int) -> dict[str, str]:
    """Nested calls get a slightly darker frame, so an outer block stays visible around an inner one."""
    shades = ("#f7f7f7", "#ededed", "#e3e3e3")
    return {
        "style": "rounded,filled",
        "fillcolor": shades[min(depth, len(shades) - 1)],
        "color": "#999999",
        "fontcolor": "#333333",
        "fontsize": "10",
        "labeljust": "l",
        "margin": "10",
    }


def _edges(model: Model) -> list[tuple[str, str, Shape, bool]]:
    """(source, target, shape, spine) for every tensor passed, the model's output included.

    A spine edge continues the one obvious path: the first input of a layer, from
    a source that is the first input of nothing else, into a layer with at most
    two inputs. Graphviz keeps those straight, so a residual body runs straight
    down and its skip bends around it; the equal branches of an inception module
    get no spine, which keeps the merge centred under them instead of under the
    first branch.
    """
    shapes: dict[str, Shape] = {given.name: given.shape for given in model.inputs}
    firsts: dict[str, int] = {}
    for layer in model.layers:
        if layer.inputs:
            firsts[layer.inputs[0]] = firsts.get(layer.inputs[0], 0) + 1
    edges = []
    for layer in model.layers:
        for index, source in enumerate(layer.inputs):
            spine = index == 0 and firsts[source] == 1 and len(layer.inputs) <= 2
            edges.append((source, layer.name, shapes[source], spine))
        shapes[layer.name] = layer.output_shape
    for name, node in _output_nodes(model).items():
        edges.append((name, node, shapes[name], True))
    return edges


def _output_nodes(model: Model) -> dict[str, str]:
    """The box of each output, by the name of what it returns: `@output`, or `@output/NAME` for several."""
    if len(model.outputs) == 1:
        return {model.outputs[0]: OUTPUT_NODE}
    return {name: f"{OUTPUT_NODE}/{name}" for name in model.outputs}


def _links(model: Model) -> list[tuple[str, str, str]]:
    """(from, to, label) for what passes between layers besides tensors: shared weights and recurrent state."""
    links = []
    for layer in model.layers:
        if layer.shares is not None:
            links.append((layer.shares, layer.name, "same weights"))
        if layer.state_from is not None:
            links.append((layer.state_from, layer.name, "final state"))
    return links


def _call_of(layer: Layer) -> str | None:
    """The box a layer is drawn in when calls are collapsed: its outermost block call, if any."""
    return CALL_NODE + layer.scope[0] if layer.scope else None


def _calls(model: Model) -> dict[str, list[Layer]]:
    """The layers of every top-level block call, by the call's box, in the order the model runs them."""
    calls: dict[str, list[Layer]] = {}
    for layer in model.layers:
        call = _call_of(layer)
        if call is not None:
            calls.setdefault(call, []).append(layer)
    return calls


def _call_label(instance: str, members: Sequence[Layer]) -> str:
    keras = sum(layer.params.keras for layer in members)
    size = f"{len(members)} layer{'s' if len(members) != 1 else ''}" + (f" · {keras:,} params" if keras else "")
    return f'<<b>{html.escape(instance, quote=False)}</b><br/><font point-size="9" color="#555555">{size}</font>>'


def _call_tooltip(instance: str, members: Sequence[Layer]) -> str:
    keras = sum(layer.params.keras for layer in members)
    torch = sum(layer.params.torch for layer in members)
    kinds = ", ".join(layer.type for layer in members)
    shape = compact_shape(members[-1].output_shape)
    return f"{instance}: {kinds}; output {shape}; params keras {keras:,} / torch {torch:,}"


def _collapsed_edges(model: Model) -> list[tuple[str, str, Shape, bool]]:
    """The edges between boxes when every block call is one box: the ones inside a call go, and a
    tensor that enters a call by several of its layers (a residual's body and skip) is one edge."""
    box = {layer.name: _call_of(layer) or layer.name for layer in model.layers}
    merged: dict[tuple[str, str, str], tuple[Shape, bool]] = {}
    for source, target, shape, spine in _edges(model):
        start, end = box.get(source, source), box.get(target, target)
        if start == end:
            continue
        key = (start, end, source)
        merged[key] = (shape, spine or merged.get(key, (shape, False))[1])
    return [(start, end, shape, spine) for (start, end, _), (shape, spine) in merged.items()]


def build_graph(model: Model, options: GraphOptions = DEFAULT_OPTIONS) -> graphviz.Digraph:
    """The diagram of a checked model: input, one box per layer (or per block call), output."""
    import graphviz

    graph = graphviz.Digraph(name=model.name)
    graph.attr(
        rankdir=options.rankdir,
        label=f"<<b>{html.escape(model.name, quote=False)}</b>>",
        labelloc="t",
        fontname=FONT,
        fontsize="16",
        nodesep="0.3",
        ranksep="0.3",
        newrank="true",
        bgcolor="white",
        pad="0.2",
    )
    if options.dpi is not None:
        graph.attr(dpi=str(options.dpi))
    graph.attr("node", fontname=FONT, fontsize="11", color="#555555", penwidth="1", margin="0.15,0.05", height="0.4")
    graph.attr("edge", fontname=FONT, fontsize="9", fontcolor="#333333", color="#777777", arrowsize="0.6")
    endpoint = {"shape": "box", "style": "rounded,filled", "fillcolor": ENDPOINT_FILL, "fontcolor": "white"}
    several = len(model.inputs) > 1
    for given in model.inputs:
        graph.node(given.name, _endpoint_label(given.name if several else "input", given.shape), **endpoint)
    if options.collapse:
        calls = _calls(model)
        drawn: set[str] = set()
        for layer in model.layers:
            call = _call_of(layer)
            if call is None:
                graph.node(layer.name, **_node_attrs(layer))
            elif call not in drawn:
                drawn.add(call)
                instance, members = layer.scope[0], calls[call]
                graph.node(
                    call,
                    _call_label(instance, members),
                    shape="box",
                    style="rounded,filled",
                    fillcolor=CALL_FILL,
                    tooltip=_call_tooltip(instance, members),
                )
        edges = _collapsed_edges(model)
    else:
        _add_scoped(graph, (), model.layers)
        edges = _edges(model)
    outputs = _output_nodes(model)
    for name, node in outputs.items():
        title = "output" if len(outputs) == 1 else f"output {name}"
        graph.node(node, _endpoint_label(title, model.shape_of(name)), **endpoint)
    for source, target, shape, spine in edges:
        graph.edge(source, target, label=" " + compact_shape(shape), weight="4" if spine else "1")
    by_name = {layer.name: layer for layer in model.layers}
    box = (lambda name: _call_of(by_name[name]) or name) if options.collapse else (lambda name: name)
    links = dict.fromkeys((box(source), box(target), label) for source, target, label in _links(model))
    for source, target, label in links:
        if source != target:
            # Dashed and outside the layout's ranks: it tells what is shared, it does not order the boxes.
            graph.edge(
                source,
                target,
                label=" " + label,
                style="dashed",
                color="#aa5555",
                fontcolor="#aa5555",
                constraint="false",
                dir="none" if label == "same weights" else "forward",
            )
    return graph


def render(model: Model, fmt: str, options: GraphOptions = DEFAULT_OPTIONS) -> str | bytes:
    """The diagram as DOT text, SVG text, or PNG or PDF bytes; all but DOT run `dot`."""
    import graphviz

    if fmt not in FORMATS:
        raise ValueError(f"unknown graph format {fmt!r}; one of {', '.join(FORMATS)}")
    if options.rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"unknown rankdir {options.rankdir!r}; one of TB, LR, BT, RL")
    graph = build_graph(model, options)
    if fmt == "dot":
        return graph.source
    try:
        data = graph.pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFound(
            f"{fmt.upper()} needs the Graphviz program 'dot', which is not on PATH; {INSTALL_HINT}"
        ) from None
    except graphviz.CalledProcessError as error:
        # A `dot` built without the renderer for this format (PNG needs cairo) says so on stderr.
        detail = (error.stderr or b"").decode("utf-8", "replace").strip() or f"exit status {error.returncode}"
        raise GraphvizError(f"Graphviz 'dot' could not draw {fmt.upper()}: {detail}; try --format dot") from None
    return data.decode("utf-8") if fmt == "svg" else data
