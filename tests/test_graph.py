"""`archdsl graph`: every example drawn for real, as DOT, SVG and PNG, by the CLI and the API.

Nothing is mocked: the SVG and PNG come from Graphviz's own `dot` (CI installs it),
and `dot` being missing is a real PATH without it.
"""

from __future__ import annotations

import os
import pty
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import archdsl
from archdsl.ir.model import Model
from archdsl.tools.diagram import (
    CALL_NODE,
    FAMILY_FILL,
    OUTPUT_NODE,
    GraphOptions,
    build_graph,
    compact_shape,
    layer_summary,
    render,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.arch"))
MODELS = [(path, name) for path in EXAMPLES for name in archdsl.load(path).model_names]
TIMEOUT = 120
SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _env(**changes: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(changes)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: bytes | None = None):
    """The real command in a fresh process; stdout stays bytes (it may be a PNG)."""
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        env=env or _env(),
    )


def load_model(path: Path, name: str) -> Model:
    return archdsl.load(path).model(name)


# ---------------------------------------------------------------- reading what dot drew


def _points(element: ET.Element) -> list[tuple[float, float]]:
    """The coordinates of the first shape drawn in an SVG group (path, polygon or ellipse)."""
    for child in element:
        tag = child.tag.removeprefix(SVG)
        if tag == "ellipse":
            cx, cy, rx, ry = (float(child.get(k)) for k in ("cx", "cy", "rx", "ry"))
            return [(cx - rx, cy - ry), (cx + rx, cy + ry)]
        if tag in ("path", "polygon"):
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", child.get("d") or child.get("points"))]
            return list(zip(numbers[::2], numbers[1::2], strict=False))
        if tag in ("g", "a"):
            inner = _points(child)
            if inner:
                return inner
    return []


def _box(element: ET.Element) -> tuple[float, float, float, float]:
    xs, ys = zip(*_points(element), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def _texts(element: ET.Element) -> list[str]:
    return [(t.text or "").strip() for t in element.iter(f"{SVG}text")]


def _first_fill(element: ET.Element) -> str | None:
    for child in element.iter():
        if child.tag.removeprefix(SVG) in ("path", "polygon", "ellipse") and child.get("fill"):
            return child.get("fill")
    return None


class Drawing:
    """An SVG that dot drew, read back: nodes, edges and clusters by their Graphviz names."""

    def __init__(self, svg: str):
        root = ET.fromstring(svg)
        groups = list(root.iter(f"{SVG}g"))
        by_class: dict[str, list[ET.Element]] = {}
        for group in groups:
            by_class.setdefault(group.get("class", ""), []).append(group)
        self.nodes = {g.find(f"{SVG}title").text: g for g in by_class.get("node", [])}
        self.clusters = {g.find(f"{SVG}title").text: g for g in by_class.get("cluster", [])}
        self.edges: list[tuple[str, str, str]] = []
        for group in by_class.get("edge", []):
            source, target = group.find(f"{SVG}title").text.split("->")
            self.edges.append((source, target, " ".join(_texts(group))))

    def incoming(self, name: str) -> list[str]:
        return [s for s, t, _ in self.edges if t == name]

    def outgoing(self, name: str) -> list[str]:
        return [t for s, t, _ in self.edges if s == name]


def check_svg(svg: str, model: Model) -> Drawing:
    """The drawing holds the model: one box per layer, every edge with its shape, every merge joined."""
    drawing = Drawing(svg)
    outputs = {name: OUTPUT_NODE if len(model.outputs) == 1 else f"{OUTPUT_NODE}/{name}" for name in model.outputs}
    inputs = [given.name for given in model.inputs]
    assert set(drawing.nodes) == {*inputs, *outputs.values(), *(layer.name for layer in model.layers)}
    for layer in model.layers:
        assert layer_summary(layer) in _texts(drawing.nodes[layer.name])
        assert layer.name in " ".join(_texts(drawing.nodes[layer.name]))
        link = [layer.shares or layer.state_from] if layer.shares or layer.state_from else []
        assert sorted(drawing.incoming(layer.name)) == sorted([*layer.inputs, *link])
    shapes = {name: model.shape_of(name) for name in (*inputs, *(layer.name for layer in model.layers))}
    expected = [(s, layer.name) for layer in model.layers for s in layer.inputs] + list(outputs.items())
    links = [(layer.shares or layer.state_from, layer.name) for layer in model.layers]
    links = [(source, target) for source, target in links if source is not None]
    assert sorted((s, t) for s, t, _ in drawing.edges) == sorted(expected + links)
    for source, target, label in drawing.edges:
        if (source, target) in links:
            assert label in ("same weights", "final state")
        else:
            assert label == compact_shape(shapes[source])
    for name in inputs:
        assert compact_shape(model.shape_of(name)) in _texts(drawing.nodes[name])
    for name, node in outputs.items():
        assert compact_shape(model.shape_of(name)) in _texts(drawing.nodes[node])
    return drawing


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(data: bytes, model: Model) -> None:
    """A real image, and one that reads: narrow enough for a screen, tall as the model is deep."""
    width, height = png_size(data)
    assert data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    assert 100 <= width <= 1400, width
    assert 200 <= height <= 200 * (len(model.layers) + 2), height


def dot_clusters(dot: str) -> dict[str, tuple[str, ...]]:
    """For each node statement of DOT text, the clusters it sits in, outermost first."""
    stack: list[str] = []
    where: dict[str, tuple[str, ...]] = {}
    for line in dot.splitlines():
        text = line.strip()
        opened = re.match(r'subgraph ("cluster_[^"]+"|cluster_\w+) \{$', text)
        if opened:
            stack.append(opened.group(1).strip('"'))
        elif text == "}":
            if stack:
                stack.pop()
        elif "->" not in text:
            node = re.match(r'("[^"]+"|\w+) \[label=', text)
            if node:
                where[node.group(1).strip('"')] = tuple(stack)
    assert not stack
    return where


# ---------------------------------------------------------------- every example, through the CLI


@pytest.mark.parametrize(("path", "name"), MODELS, ids=[f"{p.stem}-{n}" for p, n in MODELS])
def test_cli_draws_every_example_as_dot_svg_and_png(tmp_path: Path, path: Path, name: str) -> None:
    model = load_model(path, name)
    for suffix in ("dot", "svg", "png"):
        out = tmp_path / f"model.{suffix}"
        result = run(["graph", str(path), "--model", name, "-o", str(out)], tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == b""
        assert result.stderr.decode() == f"wrote {out} ({suffix}, model {name})\n"
    dot = (tmp_path / "model.dot").read_text(encoding="utf-8")
    assert dot.startswith(f"digraph {name} {{") or dot.startswith(f'digraph "{name}" {{')
    # The DOT file stands on its own: Graphviz draws it as archdsl's SVG is drawn.
    redrawn = subprocess.run(["dot", "-Tsvg", str(tmp_path / "model.dot")], capture_output=True, timeout=TIMEOUT)
    assert redrawn.returncode == 0, redrawn.stderr
    check_svg(redrawn.stdout.decode("utf-8"), model)
    check_svg((tmp_path / "model.svg").read_text(encoding="utf-8"), model)
    check_png((tmp_path / "model.png").read_bytes(), model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dot", "model.png", "model.svg"]


@pytest.mark.parametrize(("path", "name"), MODELS, ids=[f"{p.stem}-{n}" for p, n in MODELS])
def test_api_draws_every_example(path: Path, name: str) -> None:
    model = load_model(path, name)
    dot = render(model, "dot")
    assert isinstance(dot, str) and dot == build_graph(model).source
    check_svg(render(model, "svg"), model)
    png = render(model, "png")
    assert isinstance(png, bytes)
    check_png(png, model)


def test_format_from_the_option_and_to_stdout(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    model = archdsl.load(card).model()
    dot = run(["graph", str(card)], tmp_path)
    assert dot.returncode == 0 and dot.stderr == b""
    assert dot.stdout.decode("utf-8") == render(model, "dot")
    svg = run(["graph", str(card), "--format", "svg"], tmp_path)
    assert svg.returncode == 0
    check_svg(svg.stdout.decode("utf-8"), model)
    png = run(["graph", "-", "-f", "png"], tmp_path, stdin=card.read_bytes())
    assert png.returncode == 0, png.stderr
    check_png(png.stdout, model)
    gv = tmp_path / "net.gv"
    assert run(["graph", str(card), "-o", str(gv)], tmp_path).returncode == 0
    assert gv.read_text(encoding="utf-8") == dot.stdout.decode("utf-8")
    named = tmp_path / "picture"
    assert run(["graph", str(card), "-o", str(named), "--format", "svg"], tmp_path).returncode == 0
    check_svg(named.read_text(encoding="utf-8"), model)


# ---------------------------------------------------------------- what the picture shows


def test_block_calls_are_clusters_around_their_layers() -> None:
    for example, calls in (
        ("resnet", {"basic_1", "basic_7", "down_1", "down_2"}),
        ("inception", {"inception_1", "inception_2", "inception_3"}),
        ("transformer_encoder", {"encoder_1", "encoder_2", "self_attention_2", "feed_forward_1"}),
    ):
        model = archdsl.load(REPO / "examples" / f"{example}.arch").model()
        where = dot_clusters(render(model, "dot"))
        for layer in model.layers:
            expected = tuple("cluster_" + "/".join(layer.scope[: i + 1]) for i in range(len(layer.scope)))
            assert where[layer.name] == expected, layer.name
        drawing = Drawing(render(model, "svg"))
        labels = {_texts(group)[0] for group in drawing.clusters.values()}
        assert calls <= labels
        assert len(drawing.clusters) == len(
            {layer.scope[: i + 1] for layer in model.layers for i in range(len(layer.scope))}
        )
        # dot drew each layer inside the frame of every block call it belongs to.
        for layer in model.layers:
            for depth in range(1, len(layer.scope) + 1):
                left, top, right, bottom = _box(drawing.clusters["cluster_" + "/".join(layer.scope[:depth])])
                x0, y0, x1, y1 = _box(drawing.nodes[layer.name])
                assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, (layer.name, depth)
        outside = [layer.name for layer in model.layers if not layer.scope]
        assert all(where[name] == () for name in outside)


def test_nested_block_calls_are_nested_clusters() -> None:
    model = archdsl.load(REPO / "examples" / "transformer_encoder.arch").model()
    dot = render(model, "dot")
    outer = dot.index("subgraph cluster_encoder_1 {")
    inner = dot.index('subgraph "cluster_encoder_1/self_attention_1" {')
    assert outer < inner < dot.index("subgraph cluster_encoder_2 {")
    drawing = Drawing(render(model, "svg"))
    ol, ot, orr, ob = _box(drawing.clusters["cluster_encoder_1"])
    il, it, ir, ib = _box(drawing.clusters["cluster_encoder_1/self_attention_1"])
    assert ol < il and ir < orr and ot < it and ib <= ob


def test_a_block_whose_name_joins_two_others_gets_a_frame_of_its_own() -> None:
    """`a__b` called once must not share the frame of `b` called inside `a`."""
    spec = "block b(n) = dense n\nblock a(n) = dense n -> b n\nblock a_1__b(n) = dense n\ninput 8 -> a 4 -> a_1__b 2\n"
    model = archdsl.parse(spec).model()
    where = dot_clusters(render(model, "dot"))
    frames = {where[layer.name][-1] for layer in model.layers if layer.scope}
    assert len(frames) == len({layer.scope for layer in model.layers if layer.scope}) == 3


def test_merges_join_their_branches_and_branch_points_fan_out() -> None:
    inception = archdsl.load(REPO / "examples" / "inception.arch").model()
    drawing = Drawing(render(inception, "svg"))
    concats = [layer for layer in inception.layers if layer.type == "concat"]
    assert len(concats) == 3
    for concat in concats:
        assert len(drawing.incoming(concat.name)) == 4
        assert "ellipse" in {child.tag.removeprefix(SVG) for child in drawing.nodes[concat.name].iter()}
    assert len(drawing.outgoing(inception.input_name)) == 4
    assert len(drawing.outgoing("concat_1")) == 4
    resnet = archdsl.load(REPO / "examples" / "resnet.arch").model()
    drawing = Drawing(render(resnet, "svg"))
    adds = [layer for layer in resnet.layers if layer.type == "add"]
    assert len(adds) == 9
    for add in adds:
        assert sorted(drawing.incoming(add.name)) == sorted(add.inputs) and len(add.inputs) == 2
    # The skip of the first residual block leaves relu_1 beside the block's body.
    assert sorted(drawing.outgoing("relu_1")) == ["add_1", "conv2d_2"]


def test_boxes_say_type_and_the_arguments_that_differ_from_defaults() -> None:
    spec = (
        "input 32x32x3 -> conv2d 16 3x3 stride=2 same relu -> conv2d 8 bias=false -> maxpool"
        " -> maxpool 3x3 stride=1 same -> dwconv2d 3x3 multiplier=2 -> batchnorm momentum=0.9"
        " -> reshape 16x-1 -> lstm 8 seq bidirectional -> rnn 4 activation=relu seq"
        " -> attention heads=2 -> layernorm -> dense 10 softmax -> leakyrelu -> dropout 0.5\n"
    )
    summaries = [layer_summary(layer) for layer in archdsl.parse(spec).model().layers]
    assert summaries == [
        "conv2d 16 3x3 same stride=2, relu",
        "conv2d 8 3x3 bias=false",
        "maxpool 2x2",
        "maxpool 3x3 same stride=1",
        "dwconv2d 3x3 multiplier=2",
        "batchnorm momentum=0.9",
        "reshape 16x-1",
        "lstm 8 seq bidirectional",
        "rnn 4 seq activation=relu",
        "attention heads=2 key_dim=2",
        "layernorm",
        "dense 10, softmax",
        "leakyrelu 0.3",
        "dropout 0.5",
    ]


def test_inserted_layers_are_dashed_and_say_so() -> None:
    model = archdsl.load(REPO / "examples" / "card_cnn.arch").model()
    (inserted,) = [layer for layer in model.layers if layer.inserted]
    assert inserted.type == "flatten"
    drawing = Drawing(render(model, "svg"))
    assert "flatten_1 · added by archdsl" in _texts(drawing.nodes["flatten_1"])
    dashed = {child.get("stroke-dasharray") for child in drawing.nodes["flatten_1"].iter()} - {None}
    assert dashed, "the inserted flatten has no dashed border"
    for layer in model.layers:
        if not layer.inserted:
            assert {c.get("stroke-dasharray") for c in drawing.nodes[layer.name].iter()} == {None}
            assert "added by archdsl" not in " ".join(_texts(drawing.nodes[layer.name]))


def test_colours_follow_the_layer_family() -> None:
    model = archdsl.load(REPO / "examples" / "resnet.arch").model()
    drawing = Drawing(render(model, "svg"))
    expected = {"conv2d": "convolution", "batchnorm": "normalization", "relu": "activation", "add": "merge"}
    for layer in model.layers:
        if layer.type in expected:
            assert _first_fill(drawing.nodes[layer.name]) == FAMILY_FILL[expected[layer.type]], layer.name
    assert _first_fill(drawing.nodes["globalavgpool_1"]) == FAMILY_FILL["pooling"]
    assert len(set(FAMILY_FILL.values())) == len(FAMILY_FILL)


def test_every_family_of_the_layer_table_has_its_colour() -> None:
    from archdsl.layers import LAYER_TABLE

    assert {spec.category for spec in LAYER_TABLE} <= set(FAMILY_FILL)


def test_dot_output_is_deterministic(tmp_path: Path) -> None:
    path = REPO / "examples" / "inception.arch"
    first = run(["graph", str(path)], tmp_path, env=_env(PYTHONHASHSEED="1"))
    second = run(["graph", str(path)], tmp_path, env=_env(PYTHONHASHSEED="2"))
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.decode("utf-8") == render(archdsl.load(path).model(), "dot")


# ---------------------------------------------------------------- when things go wrong


def _no_dot_path(tmp_path: Path) -> dict[str, str]:
    """A PATH with nothing on it: the command runs (by absolute path) but finds no `dot`."""
    empty = tmp_path / "bin"
    empty.mkdir()
    return _env(PATH=str(empty))


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_missing_dot_is_a_clean_error_and_writes_nothing(tmp_path: Path, fmt: str) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"model.{fmt}"
    env = _no_dot_path(tmp_path)
    result = run(["graph", str(card), "-o", str(out)], tmp_path, env=env)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert "Traceback" not in stderr
    assert stderr.startswith(f"archdsl: error: {fmt.upper()} needs the Graphviz program 'dot'")
    for advice in (
        "apt-get install graphviz",
        "brew install graphviz",
        "https://graphviz.org/download/",
        "--format dot",
    ):
        assert advice in stderr
    assert list(out_dir.iterdir()) == []
    # An older picture stays as it was, with no temporary file beside it.
    out.write_bytes(b"old picture")
    again = run(["graph", str(card), "-o", str(out)], tmp_path, env=env)
    assert again.returncode == 1
    assert out.read_bytes() == b"old picture"
    assert list(out_dir.iterdir()) == [out]


def test_dot_format_needs_no_dot_program(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    result = run(["graph", str(card), "--format", "dot"], tmp_path, env=_no_dot_path(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8") == render(archdsl.load(card).model(), "dot")


def test_output_into_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    result = run(["graph", str(card), "-o", str(tmp_path / "nowhere" / "model.svg")], tmp_path)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 1
    assert stderr.startswith("archdsl: error: cannot write ")
    assert "No such file or directory" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "nowhere").exists()


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    result = run(["graph", str(card), "--format", "jpg"], tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'jpg'" in result.stderr.decode("utf-8")
    assert result.stdout == b""
    guessed = run(["graph", str(card), "-o", str(tmp_path / "model.jpg")], tmp_path)
    assert guessed.returncode == 2
    assert "cannot tell the format from" in guessed.stderr.decode("utf-8")
    clash = run(["graph", str(card), "-o", str(tmp_path / "model.png"), "--format", "svg"], tmp_path)
    assert clash.returncode == 2
    assert "--format svg does not match the file name" in clash.stderr.decode("utf-8")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- options: direction, resolution, PDF, collapse


def _collapsed_expectation(model: Model) -> tuple[set[str], set[tuple[str, str, str]]]:
    """The boxes and edges (with shapes) a collapsed drawing must have, worked out from the model directly."""
    box = {model.input_name: model.input_name}
    shapes = {model.input_name: model.input_shape}
    for layer in model.layers:
        box[layer.name] = CALL_NODE + layer.scope[0] if layer.scope else layer.name
        shapes[layer.name] = layer.output_shape
    edges = {
        (box[source], box[layer.name], compact_shape(shapes[source]))
        for layer in model.layers
        for source in layer.inputs
        if box[source] != box[layer.name]
    }
    edges.add((box[model.output_name], OUTPUT_NODE, compact_shape(model.output_shape)))
    return {*box.values(), OUTPUT_NODE}, edges


@pytest.mark.parametrize("example", ["resnet", "inception", "transformer_encoder", "card_cnn"])
def test_collapse_draws_one_box_per_block_call(example: str) -> None:
    model = archdsl.load(REPO / "examples" / f"{example}.arch").model()
    drawing = Drawing(render(model, "svg", GraphOptions(collapse=True)))
    boxes, edges = _collapsed_expectation(model)
    assert set(drawing.nodes) == boxes
    assert {(s, t, label) for s, t, label in drawing.edges} == edges
    assert len(drawing.edges) == len(edges), "a tensor entering a call by two of its layers is one edge"
    assert not drawing.clusters
    calls = {layer.scope[0] for layer in model.layers if layer.scope}
    for call in calls:
        members = [layer for layer in model.layers if layer.scope[:1] == (call,)]
        texts = _texts(drawing.nodes[CALL_NODE + call])
        assert texts[0] == call and texts[1].startswith(f"{len(members)} layers")
    if example == "card_cnn":  # no blocks: the same drawing as without --collapse
        assert render(model, "dot", GraphOptions(collapse=True)) == render(model, "dot")


def test_collapse_turns_resnet_from_a_strip_into_a_picture(tmp_path: Path) -> None:
    resnet = REPO / "examples" / "resnet.arch"
    full = tmp_path / "full.png"
    collapsed = tmp_path / "collapsed.png"
    wide = tmp_path / "wide.png"
    assert run(["graph", str(resnet), "-o", str(full)], tmp_path).returncode == 0
    result = run(["graph", str(resnet), "--collapse", "-o", str(collapsed)], tmp_path)
    assert result.returncode == 0 and result.stderr.decode() == f"wrote {collapsed} (png, model ResNet20)\n"
    assert run(["graph", str(resnet), "--collapse", "--rankdir", "LR", "-o", str(wide)], tmp_path).returncode == 0
    (full_w, full_h), (col_w, col_h), (wide_w, wide_h) = (png_size(p.read_bytes()) for p in (full, collapsed, wide))
    assert col_h * 3 < full_h, (full_h, col_h)  # 72 layers become 16 boxes
    assert wide_w > wide_h * 10, "left to right, the flow runs across"


def test_rankdir_and_dpi(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    model = archdsl.load(card).model()
    assert "rankdir=LR" in run(["graph", str(card), "--rankdir", "LR"], tmp_path).stdout.decode()
    assert "rankdir=TB" in render(model, "dot")
    assert "dpi=" not in render(model, "dot"), "Graphviz's own resolution unless asked"
    plain = png_size(render(model, "png"))
    sharp = tmp_path / "sharp.png"
    assert run(["graph", str(card), "--dpi", "192", "-o", str(sharp)], tmp_path).returncode == 0
    doubled = png_size(sharp.read_bytes())
    assert all(abs(d - 2 * p) <= 4 for d, p in zip(doubled, plain, strict=True)), (plain, doubled)
    for bad in ("0", "5000", "high"):
        refused = run(["graph", str(card), "--dpi", bad], tmp_path)
        assert refused.returncode == 2 and "--dpi" in refused.stderr.decode()
    assert run(["graph", str(card), "--rankdir", "up"], tmp_path).returncode == 2


def test_pdf_from_the_suffix_or_the_option(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    out = tmp_path / "card.pdf"
    result = run(["graph", str(card), "-o", str(out)], tmp_path)
    assert result.returncode == 0 and result.stderr.decode() == f"wrote {out} (pdf, model Model)\n"
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    piped = run(["graph", str(card), "--format", "pdf"], tmp_path)
    assert piped.returncode == 0 and piped.stdout.startswith(b"%PDF-")


@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_png_is_not_written_to_a_terminal(tmp_path: Path, fmt: str) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "archdsl", "graph", str(card), "--format", fmt],
            cwd=tmp_path,
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT,
            env=_env(),
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert f"refusing to write {fmt.upper()} to a terminal" in result.stderr.decode("utf-8")


def test_several_models_need_a_choice(tmp_path: Path) -> None:
    path = REPO / "examples" / "multi_model.arch"
    result = run(["graph", str(path)], tmp_path)
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == 2
    assert "error: the file has 2 models (SmallNet, Tagger): choose one [A402]" in stderr
    assert result.stdout == b""
    wrong = run(["graph", str(path), "--model", "Taggr"], tmp_path)
    assert wrong.returncode == 2
    assert "no model named 'Taggr' — did you mean 'Tagger'?" in wrong.stderr.decode("utf-8")
    chosen = run(["graph", str(path), "--model", "Tagger"], tmp_path)
    assert chosen.returncode == 0
    assert "lstm 64 seq" in chosen.stdout.decode("utf-8") and "conv2d" not in chosen.stdout.decode("utf-8")


def test_spec_errors_are_reported_as_by_check(tmp_path: Path) -> None:
    result = run(["graph", "-", "-o", str(tmp_path / "x.svg")], tmp_path, stdin=b"input 64x64x1 -> lstm 8\n")
    assert result.returncode == 1
    assert "lstm needs a sequence" in result.stderr.decode("utf-8")
    assert not (tmp_path / "x.svg").exists()


def test_other_commands_do_not_import_graphviz(tmp_path: Path) -> None:
    card = REPO / "examples" / "card_cnn.arch"
    program = (
        "import sys, io, contextlib\n"
        "import archdsl.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    codes = [archdsl.cli.main([c, {str(card)!r}, *extra]) for c, extra in\n"
        "             [('check', []), ('generate', ['-t', 'keras']), ('generate', ['-t', 'torch']), ('diff', [])]]\n"
        "before = 'graphviz' in sys.modules\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    codes.append(archdsl.cli.main(['graph', {str(card)!r}]))\n"
        "print(codes, before, 'graphviz' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 0, 0, 0, 0] False True"
