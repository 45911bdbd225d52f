"""Errors: every code with its place and words, several at once, rendering, JSON, hostile input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

import archdsl
from archdsl.cli import commands as cli
from archdsl.common.diagnostics import CODES
from archdsl.ir.model import SelectionError


def error_of(text: str, filename: str = "t.arch") -> archdsl.ArchError:
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.parse(text, filename)
    return info.value


def load_error(path: Path) -> archdsl.ArchError:
    with pytest.raises(archdsl.ArchError) as info:
        archdsl.load(path)
    return info.value


# ---------------------------------------------------------------- one case per code


@dataclass(frozen=True)
class Case:
    code: str
    spec: str
    line: int
    column: int
    message: str
    hint: str | None = None  # a fragment; None: not checked

    @property
    def id(self) -> str:
        return f"{self.code}-{self.message[:24]}"


SPEC_CASES = [
    Case("A101", "input 10 -> dense 5 @ 3", 1, 21, "unexpected character '@'"),
    Case("A101", 'input 10 -> dense "x"', 1, 19, "unexpected character '\"'", "no strings"),
    Case("A101", "input 10 -> dense 5: relu", 1, 20, "unexpected character ':'", "key=value"),
    Case("A102", "input 10 dense 5", 1, 10, "unexpected name 'dense': expected '->'", "join layers with '->'"),
    Case(
        "A102",
        "model A {\n  input 10 -> dense 5\nmodel B {\n  input 10\n}",
        3,
        1,
        "unexpected 'model'",
        "missing its closing '}'",
    ),
    Case("A102", "input 10 -> dense 3 ) -> relu", 1, 21, "unexpected ')'", "closes nothing"),
    Case("A102", "block x(c) = dense c", 1, 7, "unexpected 'x': expected a name", "reserved word"),
    Case("A103", "input 32x32x64 -> ( conv2d 3 | conv2d 4", 1, 40, "unexpected end of file", "close the '('"),
    Case("A103", "model A {\n  input 10 -> dense 3\n", 2, 22, "unexpected end of file: expected '}'", "close the '{'"),
    Case("A103", "input 10 ->", 1, 12, "unexpected end of file: expected a name"),
    Case(
        "A201",
        "input 64x64x1 -> conv2 32",
        1,
        18,
        "unknown layer 'conv2' — did you mean 'conv2d'?",
        "replace it with 'conv2d'",
    ),
    Case("A201", "input 10 -> qwertyuiop", 1, 13, "unknown layer 'qwertyuiop'", "archdsl layers"),
    Case(
        "A202",
        "input 32x32x3 -> conv2d 32 strides=2",
        1,
        28,
        "conv2d has no argument 'strides'",
        "did you mean 'stride'?",
    ),
    Case("A202", "block a(c) = dense c\ninput 10 -> a 3 z=4", 2, 17, "block a has no parameter 'z'", "c"),
    Case("A203", "input 10 -> dense 0", 1, 19, "dense units must be positive, got 0"),
    Case("A203", "input 10 -> dropout 1.5", 1, 21, "dropout rate must be in [0, 1), got 1.5"),
    Case("A203", "input 10x10x3 -> conv2d 3.5", 1, 25, "conv2d filters must be a whole number, got 3.5"),
    Case("A203", "input 10x10x3 -> conv2d 3 padding=full", 1, 27, "must be 'same' or 'valid', got full"),
    Case("A203", "input 10x10x3 -> conv2d 3 activation=swish", 1, 27, "unknown activation 'swish'", "'silu'"),
    Case("A203", "input 10x10x3 -> conv2d 3 activation=sigmod", 1, 27, "unknown activation 'sigmod'", "'sigmoid'"),
    Case("A203", "input 10x10x3 -> conv2d 3 activation=tanhh", 1, 27, "unknown activation", "'tanh'"),
    Case("A203", "input 10 -> (dense 3) * 0", 1, 25, "a repetition count must be a whole number"),
    Case("A204", "input 10 -> dense 5 6", 1, 21, "dense does not take another number here: 6", "key=value"),
    Case(
        "A204",
        "block a(c) = dense c\ninput 10 -> a 3 4",
        2,
        17,
        "block a takes 1 argument (c) but got 2",
        "defined at line 1",
    ),
    Case("A205", "input 10 -> dense 3 -> dense", 1, 24, "dense needs units", "for example: dense 64"),
    Case("A205", "block a(c, d) = dense c\ninput 10 -> a 3", 2, 13, "block a needs d"),
    Case("A206", "input 10 -> dense 5 units=3", 1, 21, "dense units is given twice", "remove one"),
    Case("A206", "input 10x10x3 -> conv2d 3 relu tanh", 1, 32, "conv2d activation is given twice"),
    Case("A206", "block a(c) = dense c\ninput 10 -> a 3 c=4", 2, 17, "c is given twice"),
    Case(
        "A207",
        "input 10 -> dense 5 as self",
        1,
        24,
        "the layer name 'self' is a name the generated code uses",
        "pick another name",
    ),
    Case("A207", "model class { input 10 -> dense 5 }", 1, 7, "the model name 'class' is a Python keyword"),
    Case("A207", "block dense(c) = relu\ninput 10 -> relu", 1, 7, "the block name 'dense' is already a layer"),
    Case("A208", "input 10 -> dense 5 as fc -> dense 3 as fc", 1, 41, "the layer name 'fc' is used twice", "line 1"),
    Case(
        "A208",
        "model A { input 10 }\nmodel A { input 10 }",
        2,
        7,
        "model 'A' is defined twice",
        "first definition is at line 1",
    ),
    Case("A208", "block a(c) = dense c\nblock a(c) = relu\ninput 10 -> a 3", 2, 7, "block 'a' is defined twice"),
    Case("A208", "block a(c, c) = dense c\ninput 10 -> a 3", 1, 12, "two parameters named 'c'"),
    Case("A209", "block a(c) = b c\nblock b(c) = a c\ninput 10 -> a 3", 2, 14, "block 'a' calls itself (a -> b -> a)"),
    Case("A210", "block a(c) = dense (c // 0)\ninput 10 -> a 3", 1, 21, "division by zero"),
    Case("A210", "block a(c) = dense (c + z)\ninput 10 -> a 3", 1, 25, "unknown name 'z' in an expression"),
    Case("A210", "block a(c) = dense (c*2)\ninput 10 -> a 3x3", 1, 21, "an expression needs a whole number"),
    Case("A211", "input 10 -> dense 5 foo", 1, 21, "dense does not understand 'foo'", "understands the words"),
    Case("A211", "input 10 -> dense 5 conv2d", 1, 21, "dense does not understand 'conv2d'", "forget '->'"),
    Case(
        "A301",
        "input 64x64x1 -> conv2d 32 -> lstm 64",
        1,
        31,
        "lstm needs a sequence (steps, features) but got 62x62x32 (an image)",
        "reshape 62x1984",
    ),
    Case(
        "A301",
        "input 10 -> conv2d 8",
        1,
        13,
        "conv2d needs an image (height, width, channels) but got 10 (a vector)",
        "no reshape of its 10 values into (height, width, channels) fits conv2d",
    ),
    Case(
        "A301",
        "input 100 -> conv2d 16",
        1,
        14,
        "conv2d needs an image (height, width, channels) but got 100 (a vector)",
        "e.g. 'reshape 10x10x1'",
    ),
    Case(
        "A212",
        "model M {\n  input 8 as a -> dense 4 as b\n  @c -> dense 2\n}",
        3,
        3,
        "unknown name '@c'",
        "'as NAME'",
    ),
    Case(
        "A212",
        "model M {\n  input 8 as a\n  @b -> dense 2\n  @a -> dense 4 as b\n}",
        3,
        3,
        "'@b' is used before it is defined (at line 4)",
        "defined before it is used",
    ),
    Case(
        "A212",
        "model A {\n  input 8 -> dense 4 as hidden\n}\nmodel B {\n  input 8\n  @hidden -> dense 2\n}",
        6,
        3,
        "'@hidden' is a name of model A, not of this one",
    ),
    Case(
        "A213",
        "model M {\n  input 8 as a -> dense 4 -> @a -> dense 2\n}",
        2,
        30,
        "'@a' in the middle of a chain: a reference starts a statement or a branch of a group",
    ),
    Case(
        "A213",
        "model M {\n  input 8 as a -> dense 4 as b\n  ( @a | dense 3 ) -> concat\n}",
        3,
        10,
        "this branch has nothing to start from",
    ),
    Case(
        "A214",
        "model M {\n  input 8 as a -> dense 4 as b\n  input 8 -> dense 4 as c\n  output @b @c\n}",
        3,
        3,
        "this model has 2 inputs, so each is named",
        "as input_2",
    ),
    Case(
        "A102",
        "model M {\n  input 8 -> dense 4 as b\n  output b\n}",
        3,
        3,
        "unexpected name 'output'",
        "'output @b'",
    ),
    Case("A301", "input 784 -> reshape 27x-1", 1, 14, "cannot reshape 784 (a vector) (784 values) into 27x-1"),
    Case(
        "A302",
        "input 5x5x3 -> conv2d 8 7x7",
        1,
        16,
        "conv2d 7x7 kernel leaves no output: the input is only 5x5",
        "'same' padding",
    ),
    Case(
        "A303",
        "input 10 -> (dense 5 | dense 6) -> dense 3",
        1,
        36,
        "the 2 branches before this are never merged",
        "merge layer",
    ),
    Case("A303", "input 10 -> (dense 5 | dense 6)", 1, 13, "the model ends with 2 branches that are never merged"),
    Case(
        "A304",
        "input 10 -> add",
        1,
        13,
        "add merges the branches of a group, but nothing before it branches",
        "( A | B ) -> add",
    ),
    Case(
        "A305",
        "input 10 -> (dense 5 | dense 6) -> add",
        1,
        36,
        "add needs branches whose sizes agree on every axis, or are 1 there (NumPy's broadcasting), but got 5 and 6",
    ),
    Case("A305", "input 10 -> (dense 4 | dense 4 | dense 4) -> subtract", 1, 46, "subtract needs exactly 2 branches"),
    Case("A306", "input 10 -> dense 5 -> input 10", 1, 24, "'input' can only begin a statement of a model"),
    Case("A306", "dense 5", 1, 1, "a model must begin with its input", "input SHAPE"),
    Case("A307", "input 1x2x3x4x5 -> dense 3", 1, 7, "an input has 1 to 4 axes", "did you mean 'input 2x3x4x5'?"),
    Case("A307", "input 1x2x3x4x5x6 -> dense 3", 1, 7, "an input has 1 to 4 axes", "channels last"),
    Case("A307", "input 0 -> dense 3", 1, 7, "an input size must be a positive whole number or a name, got 0"),
    Case(
        "A308",
        "model M {\n  input 8 -> dense 4 as trunk\n  @trunk -> dense 2 as label\n  @trunk -> dense 1 as score\n}",
        3,
        24,
        "the value of 'label' is never used",
        "output @label",
    ),
    Case(
        "A309",
        "model M {\n  input 8 as a -> dense 4 as shared\n  input 6 as b -> use shared as again\n"
        "  ( @shared | @again ) -> concat\n}",
        3,
        19,
        "shared was built for 8 (a vector), and cannot be applied again to 6 (a vector)",
    ),
    Case(
        "A309",
        "model M {\n  input 8 as a -> use a -> dense 2\n}",
        2,
        23,
        "'a' is an input, not a layer",
    ),
    Case(
        "A310",
        "model M {\n  input s x 4 as a -> gru 8 as enc\n  input t x 4 as b -> lstm 8 seq init=@enc\n}",
        3,
        23,
        "init=@enc names a gru, but this lstm starts from an lstm's state",
    ),
    Case(
        "A310",
        "model M {\n  input s x 4 as a -> lstm 8 as enc\n  input t x 4 as b -> lstm 16 seq init=@enc\n}",
        3,
        23,
        "init=@enc is an lstm 8, but this layer is an lstm 16",
    ),
    Case("A401", "block a(c) = dense c", 1, 1, "the file defines no model (only blocks)"),
    Case("A401", "", 1, 1, "the file defines no model"),
    Case(
        "A404",
        "model A { input 10 }\ninput 10 -> dense 5",
        2,
        1,
        "a file holds either one bare chain or named models, not both",
        "model Name",
    ),
    Case("A404", "input 10 -> dense 5\ninput 10 -> dense 3", 2, 1, "a file holds at most one bare chain"),
    Case("A501", "input 10 -> " + "(" * 500 + "dense 3" + ")" * 500, 1, 213, "brackets nest deeper than 200 levels"),
    Case(
        "A501",
        "\n".join(f"block b{i}(c) = b{i + 1} c" for i in range(120)) + "\nblock b120(c) = dense c\ninput 10 -> b0 3",
        100,
        16,
        "blocks call each other more than 100 deep",
    ),
    Case("A502", "input 10 -> (dense 5) * 10001", 1, 25, "a repetition count must be a whole number from 1 to 10,000"),
    Case("A502", "input 10 -> ((dense 5) * 1000) * 1000", 1, 15, "the model expands to more than 100,000 layers"),
]


@pytest.mark.parametrize("case", SPEC_CASES, ids=[c.id for c in SPEC_CASES])
def test_error_code_position_and_words(case: Case) -> None:
    error = error_of(case.spec)
    assert (error.code, error.line, error.column) == (case.code, case.line, case.column), error.render()
    assert case.message in error.message, error.render()
    if case.hint is not None:
        assert error.hint is not None and case.hint in error.hint, error.render()
    assert error.file == "t.arch"
    assert error.end_line >= error.line
    assert error.end_line > error.line or error.end_column > error.column


def test_selection_errors() -> None:
    program = archdsl.parse("model A { input 10 }\nmodel Bee { input 10 }", "t.arch")
    with pytest.raises(SelectionError) as info:
        program.model()
    assert (info.value.code, info.value.line) == ("A402", 1)
    assert info.value.message == "the file has 2 models (A, Bee): choose one"
    with pytest.raises(SelectionError) as info:
        program.model("Be")
    assert info.value.code == "A403"
    assert info.value.message == "no model named 'Be' — did you mean 'Bee'?"


def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.arch"
    error = load_error(missing)
    assert (error.code, error.line, error.column) == ("A100", 1, 1)
    assert error.message == f"no such file: '{missing}'"
    error = load_error(tmp_path)
    assert error.code == "A100" and "is a directory" in error.message

    bad = tmp_path / "latin1.arch"
    bad.write_bytes(b"input 10\n-> dense \xff3\n")
    error = load_error(bad)
    assert (error.code, error.line, error.column) == ("A104", 2, 10)
    assert error.message == "the file is not valid UTF-8 (byte 0xff)"
    assert error.hint == "save the file as UTF-8"

    binary = tmp_path / "binary.arch"
    binary.write_bytes(b"input 10\n -> d\x00ense 3\n")
    error = load_error(binary)
    assert (error.code, error.line, error.column) == ("A104", 2, 6)
    assert "NUL byte" in error.message

    huge = tmp_path / "huge.arch"
    huge.write_bytes(b"# " + b"x" * (10 * 1024 * 1024) + b"\ninput 10\n")
    error = load_error(huge)
    assert error.code == "A502" and "specs are limited to" in error.message


def test_every_code_is_tested() -> None:
    """Every code of the stages that read and check a spec (first digit 1 to 5) has a case here.

    Later stages (code generation, A6xx) have their own tests.
    """
    tested = {c.code for c in SPEC_CASES} | {"A100", "A104", "A402", "A403"}
    checking = {code for code in CODES if code[1] in "12345"}
    assert sorted(checking - tested) == []
    assert tested <= set(CODES)


# ---------------------------------------------------------------- the messages of LANGUAGE.md §5


def test_contract_message_lstm_after_an_image() -> None:
    error = error_of("input 64x64x1 -> conv2d 32 -> lstm 64")
    assert error.message == "lstm needs a sequence (steps, features) but got 62x62x32 (an image)"
    assert (error.line, error.column, error.end_column) == (1, 31, 38)  # the lstm that cannot take it


def test_contract_message_unknown_layer() -> None:
    error = error_of("input 64x64x1 -> conv2 32 -> dense 10")
    assert error.message == "unknown layer 'conv2' — did you mean 'conv2d'?"
    assert (error.line, error.column, error.end_column) == (1, 18, 23)


def test_contract_message_lstm_after_a_last_step_lstm() -> None:
    error = error_of("input seq x 8 -> lstm 64 -> lstm 32 -> dense 1")
    assert error.message == (
        "lstm 32 needs a sequence, but the lstm before it returns only its last step: add 'seq' to it"
    )
    assert (error.line, error.column, error.end_column) == (1, 29, 36)
    assert error.hint == "write 'lstm 64 seq' at line 1"


def test_last_step_message_names_the_recurrent_layer_and_its_line() -> None:
    error = error_of("model T {\n  input seq x 8\n  -> gru 64 bidirectional as enc\n  -> gru 32\n}")
    assert error.message == (
        "gru 32 needs a sequence, but the gru before it returns only its last step: add 'seq' to it"
    )
    assert (error.line, error.column) == (4, 6)
    assert error.hint == "write 'gru 64 bidirectional seq' at line 3"


def test_last_step_hint_gives_a_valid_spec() -> None:
    spec = "input seq x 8 -> lstm 64 seq=false -> lstm 32"
    error = error_of(spec)
    suggested = re.fullmatch(r"write '(.*)' at line 1", error.hint or "")
    assert suggested, error.hint
    fixed = spec.replace("lstm 64 seq=false", suggested.group(1))
    assert archdsl.parse(fixed).model().output_shape == (32,)


# ---------------------------------------------------------------- several errors at once


def test_two_broken_models_are_both_reported() -> None:
    text = (
        "model A {\n  input 64x64x1 -> conv2d 32 -> lstm 64\n}\n"
        "model B {\n  input seq x 8 -> lstm 64 -> lstm 32 -> dense 1\n}\n"
        "model C {\n  input 10 -> dense 3\n}\n"
    )
    error = error_of(text)
    assert [(d.code, d.span.line, d.span.column) for d in error.diagnostics] == [("A301", 2, 33), ("A301", 5, 31)]
    assert error.render().endswith("\n\n2 errors found")


def test_several_bad_arguments_in_one_model() -> None:
    error = error_of("input 32x32x3 -> conv2d 32 foo bar=1 -> dense 0")
    assert [(d.code, d.span.column) for d in error.diagnostics] == [("A211", 28), ("A202", 32), ("A203", 47)]


def test_errors_are_in_source_order_across_stages() -> None:
    text = (
        "model A {\n  input 10 -> dense 3 oops\n  -> lstm 4 units=3 foo=1\n}\n"
        "model B {\n  input seq x 8 -> conv2 8 -> dense 0\n}\n"
    )
    error = error_of(text)
    assert [(d.code, d.span.line, d.span.column) for d in error.diagnostics] == [
        ("A211", 2, 23),
        ("A206", 3, 13),
        ("A202", 3, 21),
        ("A201", 6, 20),
        ("A203", 6, 37),
    ]
    assert (error.code, error.line, error.column) == ("A211", 2, 23)  # the first one, on the exception


def test_syntax_errors_in_two_models_are_both_reported() -> None:
    text = "model A {\n  input 10 -> -> dense 5\n}\nmodel B {\n  input 10 -> dense 5 )\n}\n"
    error = error_of(text)
    assert [(d.code, d.span.line, d.span.column) for d in error.diagnostics] == [("A102", 2, 15), ("A102", 5, 23)]


def test_an_error_after_a_bad_layer_is_not_repeated_downstream() -> None:
    # conv2 is unknown: the layers after it are skipped rather than reported again.
    error = error_of("input 64x64x1 -> conv2 32 -> lstm 4 -> dense 3")
    assert [d.code for d in error.diagnostics] == ["A201"]


def test_an_error_in_a_block_called_twice_is_reported_once() -> None:
    error = error_of("block b(c) = dense c foo\ninput 10 -> b 3 -> b 4")
    assert [(d.code, d.span.line, d.span.column) for d in error.diagnostics] == [("A211", 1, 22)]


# ---------------------------------------------------------------- rendering

RENDER_SPEC = "model M {\n  input 64x64x1\n  -> conv2d 32 -> lstm 64\n}\n"


def test_rendered_error() -> None:
    error = error_of(RENDER_SPEC, "nets/m.arch")
    assert error.render() == (
        "nets/m.arch:3:19: error: lstm needs a sequence (steps, features) but got 62x62x32 (an image) [A301]\n"
        "3 |   -> conv2d 32 -> lstm 64\n"
        "  |                   ^^^^^^^\n"
        "help: turn the image into a sequence first, e.g. 'reshape 62x1984', or use conv2d layers"
    )
    assert str(error) == (
        "nets/m.arch:3:19: error: lstm needs a sequence (steps, features) but got 62x62x32 (an image)"
    )


def caret_columns(rendered_block: str) -> tuple[str, int, int]:
    """The source line and the 1-based columns [start, end) the caret covers."""
    lines = rendered_block.split("\n")
    source = re.match(r"(\d+) \| (.*)", lines[1])
    caret = re.match(r"(\s*)\| (\s*)(\^+)$", lines[2])
    assert source and caret, rendered_block
    start = len(caret.group(2)) + 1
    return source.group(2), start, start + len(caret.group(3))


@pytest.mark.parametrize(
    ("text", "underlined"),
    [
        ("input 64x64x1 -> conv2 32", "conv2"),
        ("input 10 -> dense 5 units=3", "units=3"),
        ("input 10 -> dense 5 as fc -> dense 3 as fc", "fc"),
        ("input seq x 8 -> lstm 64 -> lstm 32", "lstm 32"),
        ("input 10 -> dense 5 @ 3", "@"),
        ("input 10 dense 5", "dense"),
    ],
)
def test_caret_under_the_right_columns(text: str, underlined: str) -> None:
    error = error_of(text)
    first = error.render().split("\n\n")[0]
    assert first.startswith(f"t.arch:{error.line}:{error.column}: error: {error.message} [{error.code}]\n")
    source, start, end = caret_columns(first)
    assert source == text.split("\n")[error.line - 1]
    assert source[start - 1 : end - 1] == underlined
    assert text.rfind(underlined) + 1 == start


def test_caret_with_tabs_and_wide_line_numbers() -> None:
    text = "\n" * 11 + "input 10 ->\t dense 5 6"
    error = error_of(text)
    lines = error.render().split("\n")
    assert lines[0].startswith("t.arch:12:22: error:")
    assert lines[1] == "12 | input 10 ->\t dense 5 6"
    assert lines[2] == "   | " + " " * 11 + "\t" + " " * 9 + "^"  # the tab is kept, so the caret lines up


def test_several_rendered_errors() -> None:
    error = error_of("input 10 -> dense 5 6 -> dropout 2")
    blocks = error.render().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == [
        "t.arch:1:21: error: dense does not take another number here: 6 [A204]",
        "t.arch:1:34: error: dropout rate must be in [0, 1), got 2 [A203]",
        "2 errors found",
    ]


def test_render_without_source_has_no_source_line(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope.arch")
    assert (
        error.render()
        == f"{tmp_path / 'nope.arch'}:1:1: error: no such file: '{tmp_path / 'nope.arch'}' [A100]\nhelp: check the path"
    )


def test_color_only_when_asked() -> None:
    error = error_of("input 10 -> conv2 3")
    assert "\x1b[" not in error.render()
    colored = error.render(color=True)
    assert "\x1b[31m" in colored and re.sub(r"\x1b\[[0-9;]*m", "", colored) == error.render()


# ---------------------------------------------------------------- JSON

JSON_ERROR_KEYS = ["code", "message", "hint", "file", "line", "column", "end_line", "end_column"]


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_json_errors_have_exactly_the_documented_shape(tmp_path: Path) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("input 64x64x1 -> conv2 32\n-> dense 10 foo\n", encoding="utf-8")
    code, out, err = run_main(["check", str(spec), "--json"])
    assert code == 1 and err == ""
    data = json.loads(out)
    assert list(data) == ["errors"]
    assert [list(e) for e in data["errors"]] == [JSON_ERROR_KEYS, JSON_ERROR_KEYS]
    assert data["errors"][0] == {
        "code": "A201",
        "message": "unknown layer 'conv2' — did you mean 'conv2d'?",
        "hint": "replace it with 'conv2d'",
        "file": str(spec),
        "line": 1,
        "column": 18,
        "end_line": 1,
        "end_column": 23,
    }
    assert (data["errors"][1]["code"], data["errors"][1]["line"], data["errors"][1]["column"]) == ("A211", 2, 13)


def test_json_error_without_a_hint_has_null() -> None:
    error = error_of("input 10 -> dense 0")
    assert error.to_json() == {
        "errors": [
            {
                "code": "A203",
                "message": "dense units must be positive, got 0",
                "hint": None,
                "file": "t.arch",
                "line": 1,
                "column": 19,
                "end_line": 1,
                "end_column": 20,
            }
        ]
    }


# ---------------------------------------------------------------- hostile input


def spec_file(tmp_path: Path, data: bytes | str, name: str = "spec.arch") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "A401"),
        (b"\n\n   \n", "A401"),
        (b"# only\n# comments\n", "A401"),
        (b"block a(c) = dense c\nblock b() = relu\n", "A401"),
        (b"input 10 -> " + b"(" * 500 + b"dense 3" + b")" * 500, "A501"),
        (b"input 10 -> " + b"(" * 500, "A501"),
        (b"input 10 -> ( dense 3 | dense 4\n", "A103"),
        (b"input 10 -> ( dense 3 | dense 4\n\nmodel X { input 3 }\n", "A102"),
        (b"input 10 -> \xc3\x28 dense 3", "A104"),
        (b"\xff\xfei\x00n\x00", "A104"),
        (b"input 10 -> dense 3\x00", "A104"),
        (b"\x00" * 64, "A104"),
        (b"input 10 -> dense 3 }}}}", "A102"),
        (b"}{)(", "A102"),
        (b"input " + b"x " * 1000, "A102"),
        (b"->" * 1000, "A102"),
        (b"model M {" * 150, "A102"),
        (b"model M {" * 250, "A501"),
        ("input 10 -> dense 3 # ünïcödé 😀 comment\n-> dense ünï".encode(), "A101"),
        (b"\xef\xbb\xbfinput 10 -> conv2 3", "A201"),  # a UTF-8 BOM is fine, the spec is not
    ],
    ids=lambda v: v[:30].decode("utf-8", "replace") if isinstance(v, bytes) else v,
)
def test_hostile_files_give_arch_errors(tmp_path: Path, data: bytes, code: str) -> None:
    error = load_error(spec_file(tmp_path, data))
    assert error.code == code, error.render()
    error.render()  # rendering never fails either
    json.dumps(error.to_json())


def test_directory_and_missing_file_give_arch_errors(tmp_path: Path) -> None:
    assert load_error(tmp_path).code == "A100"
    assert load_error(tmp_path / "no" / "such.arch").code == "A100"


def test_nul_byte_in_a_string_is_an_arch_error() -> None:
    assert error_of("input 10 -> dense 3 \x00").code in ("A101", "A104")


def test_nesting_up_to_the_limit_is_fine() -> None:
    program = archdsl.parse("input 10 -> " + "(" * 150 + "dense 3" + ")" * 150)
    assert program.model().output_shape == (3,)


def test_brackets_in_comments_do_not_count_as_nesting() -> None:
    program = archdsl.parse("# " + "(" * 250 + "\ninput 10 -> dense 3  # ((((((\n")
    assert program.model().output_shape == (3,)


def test_deeply_nested_repeats_within_the_limit() -> None:
    program = archdsl.parse("input 10 -> " + "(" * 199 + "dense 10" + ") * 1" * 199)
    assert program.model().output_shape == (10,)


@pytest.mark.parametrize("where", ["input", "layer", "dims"])
def test_huge_numbers_do_not_crash(where: str) -> None:
    huge = "9" * 5000
    text = {
        "input": f"input {huge} -> dense 3",
        "layer": f"input 10 -> dense {huge}",
        "dims": f"input 8x8x3 -> conv2d 4 {huge}x{huge}",
    }[where]
    with pytest.raises(archdsl.ArchError):
        archdsl.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "input 10 -> (dense 3) * (" + "1+" * 1000 + "1)",
        "block b(c) = dense (" + "-" * 1000 + "c)\ninput 10 -> b 3",
    ],
    ids=["long-sum", "many-negations"],
)
def test_long_expressions_do_not_crash(text: str) -> None:
    try:
        archdsl.parse(text)
    except archdsl.ArchError:
        pass


# ---------------------------------------------------------------- warnings


def test_a_layer_too_large_to_allocate_is_a_warning_not_an_error() -> None:
    program = archdsl.parse("input 300000 -> dense 100000", "huge.arch")
    assert program.model().params.keras == 30_000_100_000
    (warning,) = program.warnings
    assert (warning.code, warning.severity, warning.span.line, warning.span.column) == ("A701", "warning", 1, 17)
    assert "30,000,100,000 parameters" in warning.message


def test_a_model_too_large_in_total_is_a_warning() -> None:
    spec = "input 40000 -> " + " -> ".join(["dense 40000"] * 2)
    (warning,) = archdsl.parse(spec).warnings
    assert "GiB of float32 weights" in warning.message


def test_ordinary_models_have_no_warnings() -> None:
    root = Path(__file__).resolve().parent.parent
    for path in sorted((root / "examples").glob("*.arch")):  # vgg16: 138 million parameters
        assert archdsl.load(path).warnings == (), path.name


def warnings_of(program: archdsl.Program) -> tuple:
    """The warnings, leaving out the notes (A707 on a model whose output keeps its steps)."""
    return tuple(d for d in program.warnings if d.severity == "warning")


@pytest.mark.parametrize("spec", ["input 6x1 -> layernorm -> dense 2", "input 4 -> dense 1 -> layernorm"])
def test_a_layernorm_over_a_single_feature_is_a_warning(spec: str) -> None:
    program = archdsl.parse(spec, "one.arch")
    (warning,) = warnings_of(program)
    layer = next(layer for layer in program.model().layers if layer.type == "layernorm")
    assert (warning.code, warning.severity, warning.span) == ("A702", "warning", layer.span)
    assert "always outputs its offset" in warning.message


@pytest.mark.parametrize("spec", ["input 6x2 -> layernorm", "input seq x 8 -> layernorm", "input 8x8x1 -> batchnorm"])
def test_a_layernorm_over_several_features_is_not_warned_about(spec: str) -> None:
    assert warnings_of(archdsl.parse(spec)) == ()


def test_cli_prints_warnings_on_stderr_and_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "huge.arch"
    path.write_text("input 300000 -> dense 100000\n")
    for extra in ([], ["--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "archdsl", "check", str(path), *extra], capture_output=True, text=True
        )
        assert result.returncode == 0
        assert f"{path}:1:17: warning: dense_1 has 30,000,100,000 parameters" in result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["models", "warnings"]
    (warning,) = data["warnings"]
    assert list(warning) == [*JSON_ERROR_KEYS, "severity"]
    assert (warning["code"], warning["severity"], warning["line"], warning["column"]) == ("A701", "warning", 1, 17)


def test_a_long_source_line_is_shown_as_a_window_around_the_caret() -> None:
    spec = "input 4 -> " + "dense 4 -> " * 40 + "lstm 3 -> " + "dense 2 -> " * 30 + "dense 1"
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.parse(spec, "long.arch")
    source_line, caret_line = caught.value.render().splitlines()[1:3]
    assert len(source_line) < 140 and source_line.startswith("1 | ...") and source_line.endswith("...")
    column = caret_line.index("^")
    assert source_line[column : column + 6] == "lstm 3"


# ---------------------------------------------------------------- errors inside blocks name their calls


def _notes(diagnostic) -> list[tuple[str, int, int]]:
    return [(note.message, note.span.line, note.span.column) for note in diagnostic.notes]


def test_an_error_in_a_block_body_notes_the_call_it_came_from() -> None:
    spec = "block stage(c) = conv2d c 3x3 -> lstm c\n\nmodel M {\n  input 8x8x3\n  -> stage 16\n}\n"
    (error,) = error_of(spec).diagnostics
    assert (error.code, error.span.line, error.span.column) == ("A301", 1, 34)
    assert _notes(error) == [("in block 'stage', called here", 5, 6)]
    assert error.notes[0].span.end_column == 14  # the whole call, 'stage 16'
    text = error_of(spec).render()
    assert "note: in block 'stage', called here\n5 |   -> stage 16\n  |      ^^^^^^^^\nhelp:" in text


def test_nested_calls_are_noted_innermost_first() -> None:
    spec = "block inner(c) = lstm c\nblock outer(c) = conv2d c 3x3 -> inner c\ninput 8x8x3 -> outer 16\n"
    (error,) = error_of(spec).diagnostics
    assert error.span.line == 1
    assert _notes(error) == [("in block 'inner', called here", 2, 34), ("in block 'outer', called here", 3, 16)]


def test_two_calls_failing_differently_are_two_errors_each_with_its_call() -> None:
    spec = "block s(c) = dense c -> lstm 4\ninput 8 -> ( s 4 | s 2 ) -> concat\n"
    first, second = error_of(spec).diagnostics
    assert "got 4 (a vector)" in first.message and _notes(first) == [("in block 's', called here", 2, 14)]
    assert "got 2 (a vector)" in second.message and _notes(second) == [("in block 's', called here", 2, 20)]


def test_the_same_error_from_two_calls_is_one_error_noting_both() -> None:
    spec = "block s(c) = dense c -> lstm 4\ninput 8 -> ( s 4 | s 4 ) -> concat\n"
    (error,) = error_of(spec).diagnostics
    assert _notes(error) == [("in block 's', called here", 2, 14), ("in block 's', called here", 2, 20)]


def test_an_error_at_the_call_itself_needs_no_note() -> None:
    """A bad argument is already shown where the call writes it."""
    spec = "block stage(c) = conv2d c 3x3\ninput 8x8x3 -> stage 0\n"
    (error,) = error_of(spec).diagnostics
    assert (error.span.line, error.notes) == (2, ())


def test_notes_are_in_the_json_errors() -> None:
    spec = "block stage(c) = conv2d c 3x3 -> lstm c\ninput 8x8x3 -> stage 16\n"
    (entry,) = error_of(spec, "net.arch").to_json()["errors"]
    assert entry["notes"] == [
        {
            "message": "in block 'stage', called here",
            "file": "net.arch",
            "line": 2,
            "column": 16,
            "end_line": 2,
            "end_column": 24,
        }
    ]
    plain = error_of("input 8 -> lstm 4\n").to_json()["errors"][0]
    assert "notes" not in plain


# ---------------------------------------------------------------- what a new user trips over

SNAPSHOTS = {
    "a Keras layer name": (
        "input 28x28x1 -> conv2d 32 -> MaxPooling2D",
        "t.arch:1:31: error: unknown layer 'MaxPooling2D' — did you mean 'maxpool'? [A201]\n"
        "1 | input 28x28x1 -> conv2d 32 -> MaxPooling2D\n"
        "  |                               ^^^^^^^^^^^^\n"
        "help: replace it with 'maxpool'",
    ),
    "deconv2d, which spelling distance took for dwconv2d": (
        "input 8x8x16 -> deconv2d 8",
        "t.arch:1:17: error: unknown layer 'deconv2d' — did you mean 'conv2dtranspose'? [A201]\n"
        "1 | input 8x8x16 -> deconv2d 8\n"
        "  |                 ^^^^^^^^\n"
        "help: replace it with 'conv2dtranspose'",
    ),
    "a Keras argument name": (
        "input 28x28x1 -> conv2d 32 kernel_size=5",
        "t.arch:1:28: error: conv2d has no argument 'kernel_size' [A202]\n"
        "1 | input 28x28x1 -> conv2d 32 kernel_size=5\n"
        "  |                            ^^^^^^^^^^^\n"
        "help: did you mean 'kernel'?",
    ),
    "a Keras flag": (
        "input seq x 8 -> lstm 64 return_sequences=True -> lstm 32",
        "t.arch:1:26: error: lstm has no argument 'return_sequences' [A202]\n"
        "1 | input seq x 8 -> lstm 64 return_sequences=True -> lstm 32\n"
        "  |                          ^^^^^^^^^^^^^^^^^^^^^\n"
        "help: write 'seq'",
    ),
    "Python's True": (
        "input 28x28x1 -> conv2d 32 bias=False",
        "t.arch:1:28: error: conv2d bias must be true or false, got False [A203]\n"
        "1 | input 28x28x1 -> conv2d 32 bias=False\n"
        "  |                            ^^^^^^^^^^\n"
        "help: did you mean 'false'?",
    ),
    "a tuple": (
        "input 28x28x1 -> conv2d 32 kernel=(3,3)",
        "t.arch:1:35: error: write dims as 3x3, not (3,3) [A102]\n"
        "1 | input 28x28x1 -> conv2d 32 kernel=(3,3)\n"
        "  |                                   ^^^^^\n"
        "help: write 'kernel=3x3'",
    ),
    "a tuple after input": (
        "input (32, 32, 3) -> conv2d 32",
        "t.arch:1:7: error: write dims as 32x32x3, not (32, 32, 3) [A102]\n"
        "1 | input (32, 32, 3) -> conv2d 32\n"
        "  |       ^^^^^^^^^^^\n"
        "help: write 'input 32x32x3'",
    ),
    "a dropout percentage": (
        "input 784 -> dropout 25",
        "t.arch:1:22: error: dropout rate must be in [0, 1), got 25 [A203]\n"
        "1 | input 784 -> dropout 25\n"
        "  |                      ^^\n"
        "help: did you mean 0.25?",
    ),
    "a vector where an image goes": (
        "input 100 -> conv2d 16",
        "t.arch:1:14: error: conv2d needs an image (height, width, channels) but got 100 (a vector) [A301]\n"
        "1 | input 100 -> conv2d 16\n"
        "  |              ^^^^^^^^^\n"
        "help: reshape the vector into an image first, e.g. 'reshape 10x10x1'",
    ),
    "a block parameter that holds no activation used as a layer": (
        "block b(c) = conv2d 4 -> c\ninput 8x8x1 -> b 16",
        "t.arch:1:26: error: 'c' is a parameter of block 'b' and holds 16 here: only a parameter that holds an "
        "activation may stand as a layer [A201]\n"
        "1 | block b(c) = conv2d 4 -> c\n"
        "  |                          ^\n"
        "note: 'c' is given 16 here\n"
        "2 | input 8x8x1 -> b 16\n"
        "  |                  ^^\n"
        "help: pass an activation (relu, relu6, leakyrelu, ...), or write the layer itself here",
    ),
    "a name glued to an x": (
        "block se(c) = globalavgpool -> reshape 1x1xc\ninput 8x8x16 -> se 16",
        "t.arch:1:40: error: reshape does not understand '1x1xc': a name next to an 'x' needs spaces around the 'x' "
        "[A211]\n"
        "1 | block se(c) = globalavgpool -> reshape 1x1xc\n"
        "  |                                        ^^^^^\n"
        "help: write '1x1 x c'",
    ),
    "a merge of a branch that pooled its axes away": (
        "input 8x8x64 -> ( identity | globalavgpool ) -> multiply",
        "t.arch:1:49: error: multiply needs branches with the same number of axes, but got 8x8x64 and 64 [A305]\n"
        "1 | input 8x8x64 -> ( identity | globalavgpool ) -> multiply\n"
        "  |                                                 ^^^^^^^^\n"
        "help: multiply stretches axes of size 1 but does not add missing ones: keep the pooled axes with "
        "'globalavgpool keepdims'",
    ),
}


@pytest.mark.parametrize(("spec", "rendered"), SNAPSHOTS.values(), ids=SNAPSHOTS.keys())
def test_what_a_new_user_trips_over_is_said_plainly(spec: str, rendered: str) -> None:
    assert error_of(spec).render() == rendered


def test_a_misspelled_required_argument_is_not_also_reported_missing() -> None:
    """`conv2d out_channels=8` names the filters: 'conv2d needs filters' beside it would be noise."""
    error = error_of("input 28x28x1 -> conv2d out_channels=8 kernel_size=3")
    assert [(d.code, d.hint) for d in error.diagnostics] == [
        ("A202", "did you mean 'filters'?"),
        ("A202", "did you mean 'kernel'?"),
    ]


def test_a_block_body_may_start_on_the_line_after_the_equals_sign() -> None:
    spec = "block conv_bn(c) =\n  conv2d c 3x3 same\n  -> batchnorm -> relu\n\ninput 8x8x3 -> conv_bn 4\n"
    model = archdsl.parse(spec).model()
    assert [layer.type for layer in model.layers] == ["conv2d", "batchnorm", "relu"]
    assert model.layers[0].span.line == 2
