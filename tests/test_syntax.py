"""The grammar and the syntax tree: every construct of LANGUAGE.md, with its spans.

These tests run the real Lark parser on the real grammar file; the syntax tree is
checked through `archdsl.frontend.tree_builder.parse_module`, the parse tree through `parse_tree`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark, Token, Tree
from lark.exceptions import GrammarError, LexError

from archdsl import ArchError
from archdsl.common.diagnostics import Span
from archdsl.common.resources import grammar_path
from archdsl.frontend import nodes
from archdsl.frontend.parser import TERMINAL_NAMES, parse_tree, parser
from archdsl.frontend.tree_builder import parse_module

F = "t.arch"


def grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")


def module(text: str) -> nodes.Module:
    return parse_module(text, F)


def only_chain(text: str) -> nodes.Chain:
    (statement,) = module(text).statements
    assert isinstance(statement, nodes.BareChain)
    return statement.body


def span(line: int, column: int, end_line: int, end_column: int) -> Span:
    return Span(F, line, column, end_line, end_column)


def layers_of(chain: nodes.Chain) -> list[nodes.Layer]:
    return [n for n in chain.nodes if isinstance(n, nodes.Layer)]


# ---------------------------------------------------------------- the grammar itself


def test_grammar_is_strict_lalr_without_conflicts_or_collisions() -> None:
    # strict=True turns shift/reduce conflicts and terminal collisions into errors.
    strict = Lark(grammar_text(), parser="lalr", lexer="basic", strict=True)
    assert strict.options.parser == "lalr"
    assert strict.options.lexer == "basic"
    tree = strict.parse("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n")
    assert tree.data == "start"


def test_strict_mode_would_catch_a_collision() -> None:
    """The strict check above is a real check: a colliding terminal makes it fail."""
    broken = grammar_text() + "\nextra: WORDY\nWORDY: /[a-z]+/\n"
    with pytest.raises((LexError, GrammarError)):
        Lark(broken, parser="lalr", lexer="basic", strict=True, start="extra")


def test_project_parser_is_lalr_with_the_statement_lexer() -> None:
    from archdsl.frontend.lexer import StatementLexer

    lark = parser()
    assert lark.options.parser == "lalr"
    assert lark.options.lexer is StatementLexer
    assert parser() is lark  # built once per process


def test_every_terminal_has_a_human_name_for_messages() -> None:
    lark = Lark(grammar_text(), parser="lalr", lexer="basic")
    names = {t.name for t in lark.terminals} - {"COMMENT", "WS"}
    assert sorted(names - set(TERMINAL_NAMES)) == []


@pytest.mark.parametrize(
    ("text", "types"),
    [
        ("3x3", ["DIMS"]),
        ("64x64x1", ["DIMS"]),
        ("-1x64", ["DIMS"]),
        ("3 x 3", ["NUMBER", "X", "NUMBER"]),
        ("seq x 8", ["NAME", "X", "NUMBER"]),
        ("xs", ["NAME"]),
        ("x", ["X"]),
        ("0.5", ["NUMBER"]),
        ("1e-5", ["NUMBER"]),
        ("conv2d", ["NAME"]),
        ("as", ["AS"]),
        ("residual", ["RESIDUAL"]),
        ("->", ["ARROW"]),
        ("//", ["FLOORDIV"]),
    ],
)
def test_lexer_tokens(text: str, types: list[str]) -> None:
    lark = Lark(grammar_text(), parser="lalr", lexer="basic")
    assert [t.type for t in lark.lex(text)] == types


# ---------------------------------------------------------------- parse trees


def test_parse_tree_of_a_bare_chain() -> None:
    tree = parse_tree("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n", F)
    statement, newline = tree.children  # every token stays in the tree (spans are taken from them)
    assert newline.type == "_NL"
    assert statement.data == "bare_chain"
    (chain,) = statement.children
    nodes = [c for c in chain.children if not isinstance(c, Token)]
    assert [n.data for n in nodes] == ["input", "layer", "layer", "layer"]
    assert [str(n.children[0]) for n in nodes[1:]] == ["conv2d", "maxpool", "dense"]
    shape = nodes[0].children[1]
    assert shape.data == "dims_literal" and str(shape.children[0]) == "64x64x1"


def test_parse_tree_of_a_group_and_repeat() -> None:
    tree = parse_tree("input 10 -> (dense 3 | relu) * 2 -> add\n", F)
    chain = tree.children[0].children[0]
    nodes = [c for c in chain.children if not isinstance(c, Token)]
    assert [n.data for n in nodes] == ["input", "repeat", "layer"]
    group, star, count = nodes[1].children
    assert group.data == "group" and [c.data for c in group.children if isinstance(c, Tree)] == ["chain", "chain"]
    assert [str(c) for c in group.children if isinstance(c, Token)] == ["(", "|", ")"]
    assert star.type == "STAR"
    assert count.data == "number"


# ---------------------------------------------------------------- comments and lines


def test_comments_are_ignored_everywhere() -> None:
    text = "# heading\n\ninput 10 # the input\n-> dense 3   # a layer\n# trailing comment\n"
    chain = only_chain(text)
    assert [type(n).__name__ for n in chain.nodes] == ["Input", "Layer"]
    assert chain.nodes[1].name == "dense"


def test_only_comments_and_blank_lines_is_an_empty_module() -> None:
    assert module("# nothing here\n\n   \n# at all\n").statements == ()
    assert module("").statements == ()


def test_bare_chain() -> None:
    chain = only_chain("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10")
    assert isinstance(chain.nodes[0], nodes.Input)
    assert [n.name for n in layers_of(chain)] == ["conv2d", "maxpool", "dense"]
    assert chain.span == span(1, 1, 1, 50)


def test_bare_chain_continues_on_lines_starting_with_arrow() -> None:
    text = "input 28x28x1\n  -> conv2d 8\n\n  # a comment between\n  -> flatten\n-> dense 10\n"
    chain = only_chain(text)
    assert [n.name for n in layers_of(chain)] == ["conv2d", "flatten", "dense"]
    conv, flatten, dense = layers_of(chain)
    assert (conv.span.line, conv.span.column) == (2, 6)
    assert (flatten.span.line, flatten.span.column) == (5, 6)
    assert (dense.span.line, dense.span.column) == (6, 4)
    assert chain.span == span(1, 1, 6, 12)


def test_a_new_line_not_starting_with_arrow_ends_the_statement() -> None:
    statements = module("input 10 -> dense 3\ninput 10 -> dense 4\n").statements
    assert [type(s).__name__ for s in statements] == ["BareChain", "BareChain"]


def test_windows_line_endings() -> None:
    chain = only_chain("input 10\r\n-> dense 3\r\n-> dense 4\r\n")
    assert [n.args[0].value for n in layers_of(chain)] == [3, 4]


def test_newlines_are_free_inside_parens_and_braces() -> None:
    text = """model M {
  input
    10x10x3
  ->
  (
    conv2d 4
      same
  |
    conv2d
      4 same
  )
  -> concat
}
"""
    (model,) = module(text).statements
    assert isinstance(model, nodes.ModelDef)
    group = model.statements[0].nodes[1]
    assert isinstance(group, nodes.Group) and len(group.branches) == 2
    assert [layers_of(b)[0].args[-1].name for b in group.branches] == ["same", "same"]
    assert model.statements[0].nodes[0].shape.parts[0].span == span(3, 5, 3, 12)
    assert model.span == span(1, 1, 13, 2)


def test_arguments_continue_inside_parens_of_a_block_body() -> None:
    text = "block b(c) = (\n  conv2d c\n    same relu\n)\ninput 8x8x3 -> b 4\n"
    block = module(text).statements[0]
    assert isinstance(block, nodes.BlockDef)
    (layer,) = layers_of(block.body.nodes[0].branches[0])
    assert [a.name if isinstance(a, nodes.Word) else a.value for a in layer.args] == ["c", "same", "relu"]


# ---------------------------------------------------------------- blocks and expressions


def test_block_with_parameters_and_defaults() -> None:
    text = "block conv_bn(c, k=3, act=relu, pool=2x2, rate=0.5) = conv2d c k same -> batchnorm -> relu"
    (block,) = module(text).statements
    assert isinstance(block, nodes.BlockDef)
    assert block.name == "conv_bn"
    assert block.name_span == span(1, 7, 1, 14)
    assert [p.name for p in block.params] == ["c", "k", "act", "pool", "rate"]
    c, k, act, pool, rate = block.params
    assert c.default is None
    assert isinstance(k.default, nodes.Number) and k.default.value == 3
    assert isinstance(act.default, nodes.Word) and act.default.name == "relu"
    assert isinstance(pool.default, nodes.Dims) and [p.value for p in pool.default.parts] == [2, 2]
    assert isinstance(rate.default, nodes.Number) and rate.default.value == 0.5
    assert k.span == span(1, 18, 1, 21)
    assert [n.name for n in layers_of(block.body)] == ["conv2d", "batchnorm", "relu"]


@pytest.mark.parametrize("gap", ["\n", "\n\n", "  # the body follows\n", "\n  # a comment line\n\n", "\r\n"], ids=repr)
def test_a_block_body_may_start_on_the_line_after_the_equals_sign(gap: str) -> None:
    text = f"block b(c) ={gap}  dense c -> relu\ninput 8 -> b 4\n"
    block, chain = module(text).statements
    assert isinstance(block, nodes.BlockDef) and isinstance(chain, nodes.BareChain)
    assert [n.name for n in layers_of(block.body)] == ["dense", "relu"]
    line = 1 + text.count("\n", 0, text.index("dense"))
    assert block.body.span.line == line and block.span == span(1, 1, line, 18)


def test_a_new_line_after_the_body_still_ends_the_block() -> None:
    with pytest.raises(ArchError) as raised:
        module("block b(c) =\n\n")
    assert raised.value.code == "A103"


def test_block_without_parameters() -> None:
    (block, _) = module("block stem() = conv2d 8 -> relu\ninput 8x8x1 -> stem\n").statements
    assert block.params == ()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(c*4)", ("*", "c", 4)),
        ("(d//2)", ("//", "d", 2)),
        ("(n+1)", ("+", "n", 1)),
        ("(n-1)", ("-", "n", 1)),
        ("(c+2*3)", ("+", "c", ("*", 2, 3))),
        ("(c-1-1)", ("-", ("-", "c", 1), 1)),
        ("(c//2*2)", ("*", ("//", "c", 2), 2)),
        ("((c+1)*2)", ("*", ("+", "c", 1), 2)),
        ("(-c)", ("neg", "c")),
        ("(-(3))", -3),
        ("(7)", 7),
    ],
)
def test_integer_expressions(expression: str, expected) -> None:
    def shape(value):
        if isinstance(value, nodes.Number):
            return value.value
        if isinstance(value, nodes.Word):
            return value.name
        if isinstance(value, nodes.Negate):
            return ("neg", shape(value.operand))
        assert isinstance(value, nodes.BinOp)
        return (value.op, shape(value.left), shape(value.right))

    (block, _) = module(f"block b(c, d, n) = dense {expression}\ninput 10 -> b 1 2 3\n").statements
    (layer,) = layers_of(block.body)
    (arg,) = layer.args
    assert shape(arg) == expected


def test_expression_spans() -> None:
    (block,) = module("block b(c) = conv2d (c*4) 1x1").statements
    (layer,) = layers_of(block.body)
    product, kernel = layer.args
    assert isinstance(product, nodes.BinOp)
    assert product.left.span == span(1, 22, 1, 23)
    assert product.right.span == span(1, 24, 1, 25)
    assert isinstance(kernel, nodes.Dims) and kernel.span == span(1, 27, 1, 30)


def test_repeat_counts() -> None:
    text = "block b(c, n) = (conv2d c same) * (n+1) -> conv_x c * 2 -> relu * n\n"
    (block,) = module(text).statements
    first, second, third = block.body.nodes
    assert isinstance(first, nodes.Repeat) and isinstance(first.node, nodes.Group)
    assert isinstance(first.count, nodes.BinOp) and first.count.op == "+"
    assert first.span == span(1, 17, 1, 40)
    assert isinstance(second, nodes.Repeat) and isinstance(second.node, nodes.Layer)
    assert second.node.name == "conv_x" and isinstance(second.count, nodes.Number) and second.count.value == 2
    assert isinstance(third.count, nodes.Word) and third.count.name == "n"


def test_repeat_applies_to_one_node() -> None:
    chain = only_chain("input 10 -> dense 3 -> relu * 3 -> dense 4")
    assert [type(n).__name__ for n in chain.nodes] == ["Input", "Layer", "Repeat", "Layer"]
    repeat = chain.nodes[2]
    assert repeat.node.name == "relu" and repeat.count.value == 3
    assert repeat.span == span(1, 24, 1, 32)


# ---------------------------------------------------------------- groups, residual, names


def test_group_with_branches() -> None:
    chain = only_chain(
        "input 32x32x64 -> ( conv2d 64 3x3 same | conv2d 64 1x1 -> relu | maxpool 3x3 stride=1 same ) -> concat"
    )
    group = chain.nodes[1]
    assert isinstance(group, nodes.Group)
    assert [[n.name for n in layers_of(b)] for b in group.branches] == [["conv2d"], ["conv2d", "relu"], ["maxpool"]]
    assert group.span == span(1, 19, 1, 93)
    assert group.branches[1].span == span(1, 42, 1, 63)
    assert chain.nodes[2].name == "concat"


def test_group_with_one_branch_is_grouping() -> None:
    chain = only_chain("input 10 -> (dense 3 -> relu) -> dense 2")
    group = chain.nodes[1]
    assert isinstance(group, nodes.Group) and len(group.branches) == 1
    assert [n.name for n in layers_of(group.branches[0])] == ["dense", "relu"]


def test_nested_groups() -> None:
    chain = only_chain("input 10 -> ((dense 3 | dense 3) -> add | identity -> dense 3) -> add")
    outer = chain.nodes[1]
    inner = outer.branches[0].nodes[0]
    assert isinstance(inner, nodes.Group) and len(inner.branches) == 2


def test_residual() -> None:
    chain = only_chain("input 8x8x4 -> residual( conv2d 4 same -> relu ) -> relu")
    residual = chain.nodes[1]
    assert isinstance(residual, nodes.Residual)
    assert [n.name for n in layers_of(residual.body)] == ["conv2d", "relu"]
    assert residual.span == span(1, 16, 1, 49)
    assert residual.body.span == span(1, 26, 1, 47)


def test_layer_names_with_as() -> None:
    chain = only_chain("input 10 -> dense 3 relu as fc1 -> dense 2 as out")
    fc1, out = layers_of(chain)
    assert fc1.alias == "fc1" and out.alias == "out"
    assert fc1.alias_span == span(1, 29, 1, 32)
    assert fc1.name_span == span(1, 13, 1, 18)
    assert fc1.span == span(1, 13, 1, 32)
    assert [a.value if isinstance(a, nodes.Number) else a.name for a in fc1.args] == [3, "relu"]
    plain = only_chain("input 10 -> dense 3")
    assert layers_of(plain)[0].alias is None and layers_of(plain)[0].alias_span is None


def test_keyword_arguments() -> None:
    chain = only_chain("input 8x8x3 -> conv2d 8 kernel=3x3 stride=2 padding=same activation=relu bias=false")
    (conv,) = layers_of(chain)
    assert [a.value for a in conv.args] == [8]
    assert [k.name for k in conv.keywords] == ["kernel", "stride", "padding", "activation", "bias"]
    kernel, stride, padding, activation, bias = conv.keywords
    assert isinstance(kernel.value, nodes.Dims) and [p.value for p in kernel.value.parts] == [3, 3]
    assert stride.value.value == 2
    assert padding.value.name == "same" and activation.value.name == "relu" and bias.value.name == "false"
    assert kernel.span == span(1, 25, 1, 35)
    assert bias.span == span(1, 74, 1, 84)


def test_keywords_and_positionals_may_mix() -> None:
    chain = only_chain("input 8x8x3 -> conv2d stride=2 8 same")
    (conv,) = layers_of(chain)
    assert [k.name for k in conv.keywords] == ["stride"]
    assert [a.value if isinstance(a, nodes.Number) else a.name for a in conv.args] == [8, "same"]


# ---------------------------------------------------------------- values and dims


def dims_values(value: nodes.Dims) -> list:
    return [p.value if isinstance(p, nodes.Number) else p.name for p in value.parts]


def test_dims_as_one_token() -> None:
    shape = only_chain("input 64x64x1").nodes[0].shape
    assert isinstance(shape, nodes.Dims) and dims_values(shape) == [64, 64, 1]
    assert shape.span == span(1, 7, 1, 14)


def test_dims_with_spaces() -> None:
    shape = only_chain("input 64 x 64 x 1").nodes[0].shape
    assert isinstance(shape, nodes.Dims) and dims_values(shape) == [64, 64, 1]
    assert [p.span.column for p in shape.parts] == [7, 12, 17]
    assert shape.span == span(1, 7, 1, 18)


def test_symbolic_dims() -> None:
    shape = only_chain("input seq x 8").nodes[0].shape
    assert isinstance(shape, nodes.Dims) and dims_values(shape) == ["seq", 8]
    assert isinstance(shape.parts[0], nodes.Word)
    shape = only_chain("input time x h x w x 3").nodes[0].shape
    assert dims_values(shape) == ["time", "h", "w", 3]


def test_single_dimension_inputs() -> None:
    shape = only_chain("input 784").nodes[0].shape
    assert isinstance(shape, nodes.Number) and shape.value == 784
    shape = only_chain("input seq").nodes[0].shape
    assert isinstance(shape, nodes.Word) and shape.name == "seq"


def test_negative_dims() -> None:
    chain = only_chain("input 784 -> reshape -1x64 -> reshape 64 x -1 -> reshape -1")
    first, second, third = (layer.args[0] for layer in layers_of(chain))
    assert dims_values(first) == [-1, 64]
    assert dims_values(second) == [64, -1]
    assert isinstance(third, nodes.Number) and third.value == -1 and third.text == "-1"


def test_floats() -> None:
    chain = only_chain("input 10 -> dropout 0.5 -> leakyrelu .25 -> batchnorm epsilon=1e-5 -> dropout 0.")
    values = [layer.args[0].value if layer.args else layer.keywords[0].value.value for layer in layers_of(chain)]
    assert values == [0.5, 0.25, 1e-5, 0.0]
    assert all(isinstance(v, float) for v in values)
    first = layers_of(chain)[0].args[0]
    assert first.text == "0.5" and first.span == span(1, 21, 1, 24)


def test_integers_stay_integers() -> None:
    (layer,) = layers_of(only_chain("input 10 -> dense 32"))
    assert layer.args[0].value == 32 and isinstance(layer.args[0].value, int)


# ---------------------------------------------------------------- programs


def test_several_models_and_blocks_in_one_file() -> None:
    text = """block conv_bn(c, k=3) = conv2d c k same -> batchnorm -> relu

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
    statements = module(text).statements
    assert [type(s).__name__ for s in statements] == ["BlockDef", "ModelDef", "ModelDef"]
    small, tagger = statements[1:]
    assert (small.name, tagger.name) == ("SmallNet", "Tagger")
    assert small.span == span(3, 1, 8, 2)
    assert small.name_span == span(3, 7, 3, 15)
    assert tagger.span == span(10, 1, 12, 2)
    call = small.statements[0].nodes[4]
    assert isinstance(call, nodes.Layer) and call.name == "conv_bn"
    assert [a.value for a in call.args] == [64] and call.keywords[0].name == "k"
    assert call.span == span(6, 6, 6, 20)
    lstm = tagger.statements[0].nodes[1]
    assert lstm.span == span(11, 20, 11, 31) and lstm.args[1].name == "seq"


def test_models_on_one_line_each() -> None:
    statements = module("model A { input 10 -> dense 1 }\nmodel B { input 10 -> dense 2 }").statements
    assert [s.name for s in statements] == ["A", "B"]
    assert statements[1].span == span(2, 1, 2, 32)


def test_model_with_only_an_input() -> None:
    (model,) = module("model A { input 10 }").statements
    assert [type(n).__name__ for n in model.statements[0].nodes] == ["Input"]


def test_filename_is_on_every_span() -> None:
    mod = parse_module("input 10 -> dense 3", "some/dir/net.arch")
    assert mod.filename == "some/dir/net.arch"
    chain = mod.statements[0].body
    assert {chain.span.file, chain.nodes[1].span.file, chain.nodes[1].args[0].span.file} == {"some/dir/net.arch"}


def test_tabs_count_as_one_column() -> None:
    (layer,) = layers_of(only_chain("input 10 ->\tdense 3"))
    assert layer.span.column == 13


# Spans are computed from the first and last token of each node (syntax._build), no longer by
# Lark's propagate_positions; these are the spans that Lark gave, written out by hand. A node
# that ends in a bracketed expression takes in its brackets; the expression inside does not.
TRICKY = (
    "block unit(c, k=3x3, m=(2*4)) = conv2d c (k) x (k) same\n"
    "    -> residual(dense (c+1) as proj)\n"
    "model Net {\n"
    "  input seq x 8\n"
    "  -> (dense 4 | relu) * (m-1) -> concat axis=- 1\n"
    "  -> reshape -1x64 -> zeropad (-(2)) -> unit 8 k=(3) as u\n"
    "}\n"
)


def test_spans_of_tricky_constructs() -> None:
    block, model = module(TRICKY).statements
    assert (block.span, block.name_span) == (span(1, 1, 2, 37), span(1, 7, 1, 11))
    c, k, m = block.params
    assert (c.span, c.default) == (span(1, 12, 1, 13), None)
    assert k.span == span(1, 15, 1, 20)
    assert k.default.span == k.default.parts[0].span == k.default.parts[1].span == span(1, 17, 1, 20)
    assert m.span == span(1, 22, 1, 29)  # the brackets of the default are in the parameter
    assert m.default.span == span(1, 25, 1, 28)  # but not in the expression
    conv, residual = block.body.nodes
    assert block.body.span == span(1, 33, 2, 37)  # a chain over two lines
    assert conv.span == span(1, 33, 1, 56)
    word, kernel, padding = conv.args
    assert (word.span, padding.span) == (span(1, 40, 1, 41), span(1, 52, 1, 56))
    assert kernel.span == span(1, 42, 1, 51)  # (k) x (k), brackets included
    assert [p.span for p in kernel.parts] == [span(1, 43, 1, 44), span(1, 49, 1, 50)]
    assert residual.span == span(2, 8, 2, 37)
    assert residual.body.span == span(2, 17, 2, 36)
    (dense,) = residual.body.nodes
    assert (dense.span, dense.name_span) == (span(2, 17, 2, 36), span(2, 17, 2, 22))
    assert dense.alias_span == span(2, 32, 2, 36)
    assert dense.args[0].span == span(2, 24, 2, 27)

    assert (model.span, model.name_span) == (span(3, 1, 7, 2), span(3, 7, 3, 10))  # to the closing brace
    assert model.statements[0].span == span(4, 3, 6, 58)
    inp, repeat, concat, reshape, zeropad, call = model.statements[0].nodes
    assert inp.span == span(4, 3, 4, 16)
    assert inp.shape.span == span(4, 9, 4, 16)  # seq x 8
    assert [p.span for p in inp.shape.parts] == [span(4, 9, 4, 12), span(4, 15, 4, 16)]
    assert repeat.span == span(5, 6, 5, 30)  # to the bracket closing the count
    assert repeat.node.span == span(5, 6, 5, 22)  # the group, brackets included
    assert [b.span for b in repeat.node.branches] == [span(5, 7, 5, 14), span(5, 17, 5, 21)]
    assert repeat.count.span == span(5, 26, 5, 29)
    (axis,) = concat.keywords
    assert (concat.span, axis.span) == (span(5, 34, 5, 49), span(5, 41, 5, 49))
    assert (axis.value.value, axis.value.text, axis.value.span) == (-1, "-1", span(5, 46, 5, 49))  # '- 1'
    assert reshape.span == span(6, 6, 6, 19)
    assert [(p.value, p.text, p.span) for p in reshape.args[0].parts] == [
        (-1, "-1", span(6, 14, 6, 19)),
        (64, "64", span(6, 14, 6, 19)),
    ]
    (minus_two,) = zeropad.args
    assert (zeropad.span, minus_two.value, minus_two.text) == (span(6, 23, 6, 37), -2, "-2")
    assert minus_two.span == span(6, 32, 6, 36)  # -(2): the minus and the inner brackets
    (eight,) = call.args
    (k_three,) = call.keywords
    assert (call.span, call.alias, call.alias_span) == (span(6, 41, 6, 58), "u", span(6, 57, 6, 58))
    assert (eight.span, k_three.span) == (span(6, 46, 6, 47), span(6, 48, 6, 53))
    assert k_three.value.span == span(6, 51, 6, 52)  # k=(3): the keyword takes in the brackets


def test_windows_line_ends_give_the_same_spans() -> None:
    assert module(TRICKY.replace("\n", "\r\n")) == module(TRICKY)


def test_an_empty_file_and_blank_lines_around_statements() -> None:
    assert module("").statements == ()
    (chain,) = module("\n\n  \ninput 10 -> dense 3\n\n").statements
    assert chain.span == span(4, 1, 4, 20)


@pytest.mark.parametrize(
    "text",
    [
        "block x(c) = dense c",  # 'x' is the dims operator
        "input 10 -> dense 3 as input",
        "model model { input 10 }",
        "block residual(c) = dense c",
        "input 10 -> as 3",
    ],
)
def test_reserved_words_cannot_be_names(text: str) -> None:
    with pytest.raises(ArchError) as info:
        module(text)
    assert info.value.code == "A102"
    assert "reserved word" in (info.value.hint or "")


# ---------------------------------------------------------------- the shipped parser tables


def test_the_shipped_parser_was_built_from_this_grammar() -> None:
    from archdsl.common.resources import grammar_path
    from archdsl.frontend.parser import PARSER_ARTIFACT, _grammar_key

    grammar = grammar_path().read_text(encoding="utf-8")
    header = grammar_path().with_name(PARSER_ARTIFACT).read_bytes().split(b"\n", 1)[0].decode()
    # The Lark version may differ where the suite runs; then parser() compiles the grammar instead.
    assert header.split(" lark-")[0] == _grammar_key(grammar).split(" lark-")[0], (
        "grammars/arch.lark changed: run 'make parser' to rebuild grammars/arch.lark.parser"
    )


def test_the_shipped_parser_parses_exactly_as_the_grammar() -> None:
    from archdsl.common.resources import grammar_path
    from archdsl.frontend.parser import build_parser, parser

    fresh = build_parser(grammar_path().read_text(encoding="utf-8"))
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "examples").glob("*.arch")) + sorted((root / "tests" / "data" / "language").glob("*")):
        text = path.read_text(encoding="utf-8")
        assert parser().parse(text) == fresh.parse(text), path


def test_a_stale_parser_file_is_ignored(tmp_path, monkeypatch) -> None:
    import archdsl.frontend.parser as syntax

    grammar = tmp_path / "arch.lark"
    grammar.write_text(syntax.grammar_path().read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / syntax.PARSER_ARTIFACT).write_bytes(b"archdsl-parser 00000000 lark-0\nnot a parser")
    monkeypatch.setattr(syntax, "grammar_path", lambda: grammar)
    syntax.parser.cache_clear()
    try:
        assert syntax.parser().parse("input 3 -> dense 2") is not None
    finally:
        syntax.parser.cache_clear()
