"""Expansion: blocks, repetition and residual sugar become one flat graph with stable names."""

from __future__ import annotations

import pytest

import archdsl
from archdsl.common.diagnostics import DiagnosticSink
from archdsl.frontend.expand import expand
from archdsl.frontend.tree_builder import parse_module
from archdsl.ir.graph import Graph, GraphNode
from archdsl.ir.model import SelectionError


def graphs_of(text: str) -> tuple[list[Graph], list[str], DiagnosticSink]:
    sink = DiagnosticSink()
    graphs, blocks = expand(parse_module(text, "t.arch"), sink)
    return graphs, blocks, sink


def graph(text: str) -> Graph:
    graphs, _, sink = graphs_of(text)
    assert not sink.items, sink.items
    (only,) = graphs
    return only


def plain(arg) -> object:
    return arg.value


def summary(g: Graph) -> list[tuple[str, str, tuple, tuple[str, ...]]]:
    return [(n.name, n.type, tuple(plain(a) for a in n.args), n.inputs) for n in g.nodes]


def node(g: Graph, name: str) -> GraphNode:
    (found,) = [n for n in g.nodes if n.name == name]
    return found


def codes(text: str) -> list[str]:
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.parse(text, "t.arch")
    return [d.code for d in info.value.diagnostics]


# ---------------------------------------------------------------- a plain chain


def test_chain_becomes_a_linear_graph() -> None:
    g = graph("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10")
    assert g.name == "Model"
    assert summary(g) == [
        ("input", "input", ((64, 64, 1),), ()),
        ("conv2d_1", "conv2d", (32,), ("input",)),
        ("maxpool_1", "maxpool", (), ("conv2d_1",)),
        ("dense_1", "dense", (10,), ("maxpool_1",)),
    ]


def test_expand_returns_every_block_name() -> None:
    _, blocks, sink = graphs_of("block a() = relu\nblock b(c) = dense c\ninput 10 -> b 3")
    assert blocks == ["a", "b"] and not sink


# ---------------------------------------------------------------- blocks


def test_block_positional_arguments() -> None:
    g = graph("block conv_bn(c, k) = conv2d c k same -> batchnorm -> relu\ninput 32x32x3 -> conv_bn 16 5")
    conv = node(g, "conv2d_1")
    assert [plain(a) for a in conv.args] == [16, 5, "same"]
    assert [n.type for n in g.nodes] == ["input", "conv2d", "batchnorm", "relu"]
    assert node(g, "relu_1").scope == ("conv_bn_1",)


def test_block_keyword_arguments_and_defaults() -> None:
    text = (
        "block conv_bn(c, k=3, act=relu) = conv2d c k same act\n"
        "input 32x32x3 -> conv_bn 8 -> conv_bn 8 k=5 -> conv_bn c=4 act=tanh"
    )
    g = graph(text)
    convs = [n for n in g.nodes if n.type == "conv2d"]
    assert [[plain(a) for a in n.args] for n in convs] == [
        [8, 3, "same", "relu"],
        [8, 5, "same", "relu"],
        [4, 3, "same", "tanh"],
    ]


def test_block_dims_parameters() -> None:
    g = graph("block b(k=3x3) = conv2d 8 k\ninput 16x16x3 -> b -> b 1x5")
    assert [plain(n.args[1]) for n in g.nodes[1:]] == [(3, 3), (1, 5)]


def test_block_arithmetic() -> None:
    text = (
        "block bottleneck(c, d=64) = conv2d (c//4) 1x1 -> conv2d (c*4) 1x1 -> dense (d//2) -> dense (c+d-1)\n"
        "input 8x8x16 -> bottleneck 64"
    )
    g = graph(text)
    assert [plain(n.args[0]) for n in g.nodes[1:]] == [16, 256, 32, 127]


def test_block_dims_from_expressions() -> None:
    g = graph("block b(k) = conv2d 8 (k) x (k+2)\ninput 16x16x3 -> b 3")
    assert plain(g.nodes[1].args[1]) == (3, 5)


def test_nested_block_calls_pass_their_parameters_on() -> None:
    text = """block conv_bn(c, k=3) = conv2d c k same -> batchnorm -> relu
block stage(c, n=2) = conv_bn c * n -> conv_bn (c*2) k=1 -> maxpool
model M { input 32x32x3 -> stage 8 -> stage 16 n=1 }
"""
    g = graph(text)
    convs = [n for n in g.nodes if n.type == "conv2d"]
    assert [(plain(n.args[0]), plain(n.args[1])) for n in convs] == [(8, 3), (8, 3), (16, 1), (16, 3), (32, 1)]
    assert [n.name for n in convs] == [f"conv2d_{k}" for k in range(1, 6)]
    assert [n.scope for n in convs] == [
        ("stage_1", "conv_bn_1"),
        ("stage_1", "conv_bn_2"),
        ("stage_1", "conv_bn_3"),
        ("stage_2", "conv_bn_4"),
        ("stage_2", "conv_bn_5"),
    ]
    assert node(g, "maxpool_2").inputs == ("relu_5",)


def test_layers_of_a_block_point_at_the_block_body() -> None:
    g = graph("block b(c) = dense c -> relu\ninput 10 -> b 3")
    dense = node(g, "dense_1")
    assert (dense.span.line, dense.span.column) == (1, 14)


def test_block_parameters_do_not_leak_into_the_caller() -> None:
    # 'relu' is a block parameter inside b, and a plain word outside it.
    g = graph("block b(relu) = dense relu\ninput 10 -> b 4 -> dense 2 relu")
    assert [[plain(a) for a in n.args] for n in g.nodes[1:]] == [[4], [2, "relu"]]


def test_a_parameter_that_holds_an_activation_stands_as_that_layer() -> None:
    g = graph("block b(act=relu) = dense 4 -> act\ninput 8 -> b -> b gelu -> b act=leakyrelu -> b none -> b linear")
    assert [n.type for n in g.nodes if n.type != "dense"] == [
        "input",
        "relu",
        "gelu",
        "leakyrelu",
        "identity",
        "identity",
    ]
    assert node(g, "gelu_1").scope == ("b_2",)


def test_a_parameter_standing_as_a_layer_takes_its_arguments() -> None:
    model = archdsl.parse("block b(act) = dense 4 -> act 0.1\ninput 8 -> b leakyrelu").model()
    assert model.layers[-1].type == "leakyrelu" and model.layers[-1].config["alpha"] == 0.1


@pytest.mark.parametrize("value", ["16", "3x3", "same", "ReLU", "flatten"])
def test_a_parameter_that_holds_anything_else_is_no_layer(value: str) -> None:
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.parse(f"block b(p) = dense 4 -> p\ninput 8 -> b {value}", "t.arch")
    (error,) = info.value.diagnostics
    assert (error.code, error.span.line, error.span.column) == ("A201", 1, 25)
    assert f"holds {value} here" in error.message
    assert [(note.span.line, note.span.column) for note in error.notes] == [(2, 14)]
    assert (error.fix is not None) == (value == "ReLU")


def test_block_call_as_name_labels_its_scope() -> None:
    g = graph("block b(c) = dense c -> relu\ninput 10 -> b 3 as head")
    assert [n.scope for n in g.nodes[1:]] == [("head",), ("head",)]
    assert [n.name for n in g.nodes[1:]] == ["dense_1", "relu_1"]


def test_blocks_may_call_earlier_blocks_but_not_themselves() -> None:
    assert codes("block a(c) = a c\ninput 10 -> a 3") == ["A209"]
    assert codes("block a(c) = b c\nblock b(c) = a c\ninput 10 -> a 3") == ["A209"]


# ---------------------------------------------------------------- repetition


def test_repetition_chains_copies() -> None:
    g = graph("input 8x8x3 -> (conv2d 8 same relu) * 3")
    assert summary(g)[1:] == [
        ("conv2d_1", "conv2d", (8, "same", "relu"), ("input",)),
        ("conv2d_2", "conv2d", (8, "same", "relu"), ("conv2d_1",)),
        ("conv2d_3", "conv2d", (8, "same", "relu"), ("conv2d_2",)),
    ]


def test_repetition_of_a_chain_in_a_group() -> None:
    g = graph("input 10 -> (dense 4 -> relu) * 2")
    assert [n.name for n in g.nodes] == ["input", "dense_1", "relu_1", "dense_2", "relu_2"]
    assert node(g, "dense_2").inputs == ("relu_1",)


def test_repeat_a_block_call() -> None:
    g = graph("block conv_bn(c) = conv2d c same -> batchnorm -> relu\ninput 8x8x3 -> conv_bn 64 * 2")
    assert [n.type for n in g.nodes[1:]] == ["conv2d", "batchnorm", "relu"] * 2
    assert [n.scope for n in g.nodes[1:]] == [("conv_bn_1",)] * 3 + [("conv_bn_2",)] * 3


def test_repeat_count_from_parameters_and_expressions() -> None:
    g = graph("block b(n) = (dense 3) * (n+1) -> relu * n\ninput 10 -> b 2")
    assert [n.type for n in g.nodes[1:]] == ["dense"] * 3 + ["relu"] * 2


def test_repeat_once_is_the_node_itself() -> None:
    assert summary(graph("input 10 -> dense 3 * 1")) == summary(graph("input 10 -> dense 3"))


def test_nested_repetition_multiplies() -> None:
    g = graph("input 10 -> ((dense 3) * 2 -> relu) * 3")
    assert [n.type for n in g.nodes[1:]] == ["dense", "dense", "relu"] * 3


@pytest.mark.parametrize("count", ["0", "relu", "2.5"])
def test_invalid_repeat_counts(count: str) -> None:
    assert codes(f"input 10 -> (dense 3) * {count}") == ["A203"]


def test_repeat_limit() -> None:
    assert codes("input 10 -> (dense 3) * 10001") == ["A502"]


# ---------------------------------------------------------------- residual


def test_residual_is_the_body_plus_an_add_with_the_group_input() -> None:
    g = graph("input 8x8x4 -> conv2d 4 same -> residual( conv2d 4 same -> relu ) -> relu")
    assert summary(g)[1:] == [
        ("conv2d_1", "conv2d", (4, "same"), ("input",)),
        ("conv2d_2", "conv2d", (4, "same"), ("conv2d_1",)),
        ("relu_1", "relu", (), ("conv2d_2",)),
        ("add_1", "add", (), ("relu_1", "conv2d_1")),
        ("relu_2", "relu", (), ("add_1",)),
    ]


def test_residual_sugar_equals_the_explicit_group() -> None:
    sugar = graph("input 8x8x64 -> residual( conv2d 64 same -> batchnorm -> relu -> conv2d 64 same ) -> relu")
    explicit = graph(
        "input 8x8x64 -> ( conv2d 64 same -> batchnorm -> relu -> conv2d 64 same | identity ) -> add -> relu"
    )
    # The explicit form has an identity branch; without it the graphs are the same.
    explicit_nodes = [(n.name, n.type, n.inputs) for n in explicit.nodes if n.type != "identity"]
    sugar_nodes = [(n.name, n.type, n.inputs) for n in sugar.nodes]
    assert sugar_nodes == [
        (a, t, tuple("input" if i == "identity_1" else i for i in ins)) for a, t, ins in explicit_nodes
    ]
    a = archdsl.parse(
        "input 8x8x64 -> residual( conv2d 64 same -> batchnorm -> relu -> conv2d 64 same ) -> relu"
    ).model()
    b = archdsl.parse(
        "input 8x8x64 -> ( conv2d 64 same -> batchnorm -> relu -> conv2d 64 same | identity ) -> add -> relu"
    ).model()
    assert (a.output_shape, a.params) == (b.output_shape, b.params)


def test_residual_repeated_and_in_blocks() -> None:
    g = graph("block basic(c) = residual( conv2d c same -> relu ) -> relu\ninput 8x8x4 -> basic 4 * 2")
    adds = [n for n in g.nodes if n.type == "add"]
    assert [n.inputs for n in adds] == [("relu_1", "input"), ("relu_3", "relu_2")]


# ---------------------------------------------------------------- names


def test_names_count_per_type_in_order() -> None:
    g = graph("input 8x8x3 -> conv2d 4 -> relu -> conv2d 4 -> relu -> flatten -> dense 3 -> relu")
    assert [n.name for n in g.nodes] == [
        "input", "conv2d_1", "relu_1", "conv2d_2", "relu_2", "flatten_1", "dense_1", "relu_3",
    ]  # fmt: skip


def test_as_names_a_layer() -> None:
    g = graph("input 10 -> dense 5 as fc1 -> dense 3 -> dense 2 as out")
    assert [n.name for n in g.nodes] == ["input", "fc1", "dense_1", "out"]
    assert [n.named_by_user for n in g.nodes] == [False, True, False, True]
    assert node(g, "dense_1").inputs == ("fc1",)


def test_automatic_names_skip_names_the_user_took() -> None:
    g = graph("input 10 -> dense 5 as dense_2 -> dense 3 -> dense 4")
    assert [n.name for n in g.nodes] == ["input", "dense_2", "dense_1", "dense_3"]


def test_a_named_layer_inside_a_repeat_is_numbered() -> None:
    g = graph("input 10 -> (dense 5 as fc) * 3 -> dense 2")
    assert [n.name for n in g.nodes] == ["input", "fc_1", "fc_2", "fc_3", "dense_1"]
    assert node(g, "fc_3").inputs == ("fc_2",)


def test_a_named_layer_in_a_block_called_twice_is_numbered() -> None:
    g = graph("block b(c) = dense c as fc\ninput 10 -> b 3 -> b 4")
    assert [n.name for n in g.nodes] == ["input", "fc_1", "fc_2"]


def test_the_same_name_on_two_layers_is_an_error() -> None:
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.parse("input 10 -> dense 5 as fc\n-> dense 3 as fc", "t.arch")
    error = info.value
    assert error.code == "A208"
    assert "'fc' is used twice" in error.message
    assert (error.line, error.column, error.end_column) == (2, 15, 17)
    assert "line 1" in error.hint


def test_a_numbered_name_that_collides_is_an_error() -> None:
    assert codes("input 10 -> (dense 5 as fc) * 2 -> dense 3 as fc_1") == ["A208"]


@pytest.mark.parametrize("name", ["self", "x_", "class", "torch", "print", "__init"])
def test_names_the_generated_code_needs_are_refused(name: str) -> None:
    if name == "x_":
        # 'x_' is an ordinary name: only 'x' itself is reserved.
        assert graph(f"input 10 -> dense 3 as {name}").nodes[1].name == "x_"
        return
    assert codes(f"input 10 -> dense 3 as {name}") == ["A207"]


def test_model_names() -> None:
    graphs, _, sink = graphs_of("model A { input 10 -> dense 1 }\nmodel B { input 10 -> dense 2 }")
    assert [g.name for g in graphs] == ["A", "B"] and not sink
    assert codes("model A { input 10 }\nmodel A { input 10 }") == ["A208"]
    assert codes("model class { input 10 }") == ["A207"]


# ---------------------------------------------------------------- branches and merges


def test_branches_take_the_group_input_and_the_merge_takes_every_branch() -> None:
    g = graph("input 32x32x64 -> ( conv2d 64 3x3 same | conv2d 64 1x1 -> relu | maxpool 3x3 stride=1 same ) -> concat")
    assert node(g, "conv2d_1").inputs == ("input",)
    assert node(g, "conv2d_2").inputs == ("input",)
    assert node(g, "relu_1").inputs == ("conv2d_2",)
    assert node(g, "maxpool_1").inputs == ("input",)
    assert node(g, "concat_1").inputs == ("conv2d_1", "relu_1", "maxpool_1")


def test_nested_groups_wire_to_their_own_inputs() -> None:
    g = graph("input 10 -> dense 8 -> ( (dense 8 | identity) -> add | dense 8 ) -> multiply")
    assert node(g, "dense_2").inputs == ("dense_1",)
    assert node(g, "identity_1").inputs == ("dense_1",)
    assert node(g, "add_1").inputs == ("dense_2", "identity_1")
    assert node(g, "dense_3").inputs == ("dense_1",)
    assert node(g, "multiply_1").inputs == ("add_1", "dense_3")


def test_group_of_one_branch_is_plain_grouping() -> None:
    assert summary(graph("input 10 -> (dense 3 -> relu) -> dense 2")) == summary(
        graph("input 10 -> dense 3 -> relu -> dense 2")
    )


def test_unmerged_branches_and_merges_without_branches() -> None:
    assert codes("input 10 -> (dense 3 | dense 3) -> dense 2") == ["A303"]
    assert codes("input 10 -> (dense 3 | dense 3)") == ["A303"]
    assert codes("input 10 -> dense 3 -> add") == ["A304"]


# ---------------------------------------------------------------- inserted flatten


def test_flatten_is_inserted_before_dense_on_an_image() -> None:
    model = archdsl.parse("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10").model()
    assert [(layer.name, layer.type, layer.inserted) for layer in model.layers] == [
        ("conv2d_1", "conv2d", False),
        ("maxpool_1", "maxpool", False),
        ("flatten_1", "flatten", True),
        ("dense_1", "dense", False),
    ]
    flatten = model.layer("flatten_1")
    assert flatten.notes == ("inserted before dense_1: dense takes a vector",)
    assert flatten.output_shape == (31 * 31 * 32,)
    assert flatten.inputs == ("maxpool_1",)
    assert model.layer("dense_1").inputs == ("flatten_1",)
    assert (flatten.line, flatten.column) == (1, 42)  # where the dense was written
    assert all(not layer.notes for layer in model.layers if layer is not flatten)


def test_inserted_flatten_gets_a_free_name() -> None:
    model = archdsl.parse("input 8x8x2 -> flatten -> reshape 8x8x2 -> dense 4 as head").model()
    assert [(layer.name, layer.inserted) for layer in model.layers] == [
        ("flatten_1", False),
        ("reshape_1", False),
        ("flatten_2", True),
        ("head", False),
    ]
    assert model.layer("flatten_2").notes == ("inserted before head: dense takes a vector",)


def test_no_flatten_before_dense_on_a_vector_or_a_sequence() -> None:
    for text in ("input 10 -> dense 3", "input 10x4 -> dense 3", "input 8x8x3 -> flatten -> dense 3"):
        assert not any(layer.inserted for layer in archdsl.parse(text).model().layers), text


def test_flatten_on_a_volume() -> None:
    model = archdsl.parse("input 2x4x4x3 -> dense 5").model()
    assert [(layer.type, layer.output_shape, layer.inserted) for layer in model.layers] == [
        ("flatten", (96,), True),
        ("dense", (5,), False),
    ]


# ---------------------------------------------------------------- programs and selection

TWO = """block conv_bn(c, k=3) = conv2d c k same -> batchnorm -> relu

model SmallNet {
  input 32x32x3
  -> conv_bn 32 -> conv_bn 32 -> maxpool
  -> conv_bn 64 k=5 -> globalavgpool
  -> dense 10 softmax
}

model Tagger {
  input seq x 8 -> lstm 64 seq -> lstm 32 -> dense 1 sigmoid
}
"""


def test_every_model_of_a_file() -> None:
    program = archdsl.parse(TWO, "two.arch")
    assert program.model_names == ("SmallNet", "Tagger")
    assert program.blocks == ("conv_bn",)
    assert program.filename == "two.arch"


def test_select_a_model_by_name() -> None:
    program = archdsl.parse(TWO, "two.arch")
    tagger = program.model("Tagger")
    assert tagger.name == "Tagger"
    assert tagger.input_shape == ("seq", 8)
    assert tagger.output_shape == (1,)
    assert program.model("SmallNet").output_shape == (10,)


def test_several_models_without_a_name_is_an_error_listing_them() -> None:
    program = archdsl.parse(TWO, "two.arch")
    with pytest.raises(SelectionError) as info:
        program.model()
    assert isinstance(info.value, archdsl.ArchError)
    assert info.value.code == "A402"
    assert "SmallNet, Tagger" in info.value.message
    assert "--model" in info.value.hint


def test_unknown_model_is_an_error_with_a_suggestion() -> None:
    program = archdsl.parse(TWO, "two.arch")
    with pytest.raises(SelectionError) as info:
        program.model("Tager")
    assert info.value.code == "A403"
    assert info.value.message == "no model named 'Tager' — did you mean 'Tagger'?"
    assert info.value.hint == "the file has: SmallNet, Tagger"
    with pytest.raises(SelectionError) as info:
        program.model("Completely")
    assert "did you mean" not in info.value.message


def test_one_model_needs_no_name() -> None:
    program = archdsl.parse("model Only { input 10 -> dense 1 }")
    assert program.model().name == "Only"
    assert program.model("Only") is program.model()
    bare = archdsl.parse("input 10 -> dense 1")
    assert bare.model().name == "Model"
    assert bare.model("Model").name == "Model"


def test_bare_chain_beside_models_or_a_second_bare_chain() -> None:
    assert codes("model A { input 10 }\ninput 10 -> dense 1") == ["A404"]
    assert codes("input 10 -> dense 1\ninput 10 -> dense 2") == ["A404"]


def test_blocks_with_a_bare_chain() -> None:
    program = archdsl.parse("block b(c) = dense c\ninput 10 -> b 3")
    assert program.model_names == ("Model",)


def test_file_without_a_model() -> None:
    assert codes("block b(c) = dense c") == ["A401"]
    assert codes("# only a comment\n") == ["A401"]


def test_input_must_begin_the_model_once() -> None:
    assert codes("model A { dense 3 }") == ["A306"]
    assert codes("input 10 -> dense 3 -> input 10") == ["A306"]
    assert codes("block b(c) = input 10 -> dense c\nmodel A { input 10 -> b 3 }") == ["A306"]
