"""`archdsl fmt`: the canonical layout, its promises, and the command.

The promises (docs/fmt.md), checked on hand-written specs, on every example, on the code
blocks of the docs and on random programs of tests/strategies.py with comments added:

- formatting is idempotent: fmt(fmt(x)) == fmt(x);
- the formatted spec means the same: the same syntax tree (spans aside) and the same checked
  models (names, types, configurations, inputs, shapes, parameters);
- every comment is kept, exactly once;
- a spec that does not parse is refused with the usual diagnostics, and no file is written.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import GeneratedProgram, programs, texts

import archdsl
from archdsl import ArchError
from archdsl.frontend.tree_builder import deep_recursion, parse_module
from archdsl.tools import formatter
from archdsl.tools.formatter import LINE_LENGTH, FormatterError, comments_of, format_source, syntax_key, unified_diff

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch")) + sorted((ROOT / "examples" / "applications").glob("*.arch"))
LANGUAGE_COPIES = sorted((ROOT / "tests" / "data" / "language").glob("*.arch"))
FMT_DOC = ROOT / "docs" / "fmt.md"
LANGUAGE_DOC = ROOT / "docs" / "language.md"
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- what "the same" means


def model_key(model: archdsl.Model) -> tuple:
    layers = tuple(
        (
            layer.name,
            layer.type,
            tuple(sorted((k, repr(v)) for k, v in layer.config.items())),
            layer.inputs,
            layer.input_shapes,
            layer.output_shape,
            layer.params,
            layer.scope,
            layer.notes,
            layer.inserted,
        )
        for layer in model.layers
    )
    json = model.to_json()
    for layer in json["layers"]:  # where a layer was written is the one thing allowed to move
        del layer["line"], layer["column"]
    return model.name, model.input_name, model.input_shape, model.params, layers, repr(json)


def meaning(text: str) -> tuple:
    """What archdsl makes of a spec, without positions: its models, or its error codes."""
    try:
        program = archdsl.parse(text, "spec.arch")
    except ArchError as error:
        return ("errors", tuple(d.code for d in error.diagnostics))
    warnings = tuple((w.code, w.message) for w in program.warnings)
    return tuple(model_key(m) for m in program.models), program.blocks, warnings


def assert_formats_faithfully(text: str, filename: str = "spec.arch") -> str:
    """Format `text` and check every promise; returns the formatted text."""
    result = format_source(text, filename)
    assert format_source(result, filename) == result, "not idempotent"
    with deep_recursion():  # comparing the trees of long expressions recurses deeply too
        assert syntax_key(parse_module(result).statements) == syntax_key(
            parse_module(text.removeprefix("\ufeff")).statements
        )
    assert meaning(result) == meaning(text.removeprefix("\ufeff"))
    assert Counter(comments_of(result)) == Counter(comments_of(text))
    assert_tidy(result)
    return result


def assert_tidy(result: str) -> None:
    if not result:
        return
    assert result.endswith("\n") and not result.endswith("\n\n"), "one final newline"
    assert not result.startswith("\n"), "no empty line at the start"
    assert "\n\n\n" not in result, "at most one empty line in a row"
    for line in result.split("\n"):
        code = line.split("#", 1)[0]
        assert line == line.rstrip(" \t\f\r\v"), f"trailing blanks: {line!r}"
        assert "\t" not in code and "\r" not in code and "\f" not in code, f"odd blanks in code: {line!r}"
        assert not re.search(r"\S  +\S", code.rstrip()), f"double spaces inside code: {line!r}"
        if len(code.rstrip()) > LINE_LENGTH:  # only a single layer (after its `-> ` or `| `) may be too long
            body = re.sub(r"^(->|\|) ", "", code.strip())
            assert not any(s in body for s in (" -> ", " | ", "( ")), f"a line that could be broken: {line!r}"


# ---------------------------------------------------------------- hand-written specs


CASES: dict[str, tuple[str, str]] = {
    "spacing": (
        "input 64 x 64 x 1->conv2d   32->maxpool->dense 10",
        "input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n",
    ),
    "crlf_tabs_bom": (
        "\ufeffinput\t3\r\n\t->\tdense\t2   \r\n",
        "input 3 -> dense 2\n",
    ),
    "keyword_spacing_and_order": (
        "input 8x8x3 -> conv2d 16 kernel = 3x3 stride= 2 same   relu as  stem",
        "input 8x8x3 -> conv2d 16 kernel=3x3 stride=2 same relu as stem\n",
    ),
    "per_channel_decimals": (
        "input 8x8x3 -> normalize mean=0.485 x 0.456x0.406 variance = 0.5x0.25x-1.0 -> zeropad 0x1   1",
        "input 8x8x3 -> normalize mean=0.485x0.456x0.406 variance=0.5x0.25x-1.0 -> zeropad 0x1 1\n",
    ),
    "numbers_as_written": (
        "input 4 -> dropout .5 -> dropout 5. -> leakyrelu 1e-1 -> batchnorm epsilon=1E-3",
        "input 4 -> dropout .5 -> dropout 5. -> leakyrelu 1e-1 -> batchnorm epsilon=1E-3\n",
    ),
    "dims": (
        "input seq x 8 -> reshape ( -1 ) x 8 -> dense 8\n"
        "block b(k) = conv2d 4 (k) x (k) -> reshape 2 x -1 -> zeropad 1 x (k+1)\n",
        "input seq x 8 -> reshape -1x8 -> dense 8\n\n"
        "block b(k) = conv2d 4 k x k -> reshape 2x-1 -> zeropad 1 x (k + 1)\n",
    ),
    "expressions": (
        "block b(c, n=2) = dense ((c*2)+1) -> dense (c*(n+1)) -> dense (-(c)) -> dense (8//(2*2)) "
        "-> dense (c-(n-1)) -> dense ((c-n)-1) -> dense (3) -> (dense c)*(n)\n",
        "block b(c, n=2) = dense (c * 2 + 1)\n"
        "  -> dense (c * (n + 1))\n"
        "  -> dense (-c)\n"
        "  -> dense (8 // (2 * 2))\n"
        "  -> dense (c - (n - 1))\n"
        "  -> dense (c - n - 1)\n"
        "  -> dense 3\n"
        "  -> ( dense c ) * n\n",
    ),
    "repetition": (
        "block cb(c) = conv2d c 3x3 same\n"
        "model M { input 8x8x3 -> (conv2d 8 same)*3 -> cb 8*2 -> (cb 8|identity)*2->add -> residual(cb 8)*(1+1) }",
        "block cb(c) = conv2d c 3x3 same\n\n"
        "model M {\n"
        "  input 8x8x3\n"
        "  -> ( conv2d 8 same ) * 3\n"
        "  -> cb 8 * 2\n"
        "  -> ( cb 8 | identity ) * 2\n"
        "  -> add\n"
        "  -> residual( cb 8 ) * (1 + 1)\n"
        "}\n",
    ),
    "blocks_with_defaults": (
        "block  stage ( c,n = 2 , act=relu, k=3x3)=( conv2d c k same act )* n->maxpool\n"
        "model M{input 32x32x3->stage 16->stage 32 n=3 act=gelu}",
        "block stage(c, n=2, act=relu, k=3x3) = ( conv2d c k same act ) * n -> maxpool\n\n"
        "model M {\n  input 32x32x3\n  -> stage 16\n  -> stage 32 n=3 act=gelu\n}\n",
    ),
    "multi_model_blank_lines": (
        "\n\n\nmodel A { input 3 -> dense 2 }\nmodel B {\n\n input 3 -> dense 4\n\n}\n"
        "\n\n\n\nmodel C { input 3 }\n\n\n",
        "model A {\n  input 3\n  -> dense 2\n}\n\nmodel B {\n  input 3\n  -> dense 4\n}\n\nmodel C {\n  input 3\n}\n",
    ),
    "one_line_blocks_keep_their_grouping": (
        "block a() = relu\nblock b() = relu\n\n\nblock c() = relu\nmodel M { input 3 -> a -> b -> c }\n",
        "block a() = relu\nblock b() = relu\n\nblock c() = relu\n\nmodel M {\n  input 3\n  -> a\n  -> b\n  -> c\n}\n",
    ),
    "long_bare_chain": (
        "input seq x 8 -> conv1d 16 3 -> maxpool -> lstm 64 seq -> lstm 32 seq -> lstm 16 -> dropout 0.25 -> dense 1",
        "input seq x 8\n  -> conv1d 16 3\n  -> maxpool\n  -> lstm 64 seq\n  -> lstm 32 seq\n  -> lstm 16\n"
        "  -> dropout 0.25\n  -> dense 1\n",
    ),
    "long_group_in_a_model": (
        "model M { input 28x28x192 -> ( conv2d 64 1x1 relu | conv2d 96 1x1 relu -> conv2d 128 3x3 same relu "
        "| maxpool 3x3 stride=1 same -> conv2d 32 1x1 relu ) -> concat }",
        "model M {\n"
        "  input 28x28x192\n"
        "  -> (\n"
        "       conv2d 64 1x1 relu\n"
        "     | conv2d 96 1x1 relu -> conv2d 128 3x3 same relu\n"
        "     | maxpool 3x3 stride=1 same -> conv2d 32 1x1 relu\n"
        "     )\n"
        "  -> concat\n"
        "}\n",
    ),
    "long_group_in_a_block": (
        "block inception(c1, c3r, c3, c5r, c5, pp) = ( conv2d c1 1x1 relu | conv2d c3r 1x1 relu -> "
        "conv2d c3 3x3 same relu | conv2d c5r 1x1 relu -> conv2d c5 5x5 same relu | maxpool 3x3 stride=1 same "
        "-> conv2d pp 1x1 relu ) -> concat",
        "block inception(c1, c3r, c3, c5r, c5, pp) = (\n"
        "    conv2d c1 1x1 relu\n"
        "  | conv2d c3r 1x1 relu -> conv2d c3 3x3 same relu\n"
        "  | conv2d c5r 1x1 relu -> conv2d c5 5x5 same relu\n"
        "  | maxpool 3x3 stride=1 same -> conv2d pp 1x1 relu\n"
        "  )\n"
        "  -> concat\n",
    ),
    "nested_groups_break_outermost_first": (
        "model M { input 16x16x8 -> ( conv2d 8 3x3 same relu -> ( conv2d 8 1x1 same relu | conv2d 8 3x3 same relu "
        "| identity ) -> add -> batchnorm | ( identity | conv2d 8 1x1 same ) -> average ) -> add }",
        "model M {\n"
        "  input 16x16x8\n"
        "  -> (\n"
        "       conv2d 8 3x3 same relu\n"
        "       -> ( conv2d 8 1x1 same relu | conv2d 8 3x3 same relu | identity )\n"
        "       -> add\n"
        "       -> batchnorm\n"
        "     | ( identity | conv2d 8 1x1 same ) -> average\n"
        "     )\n"
        "  -> add\n"
        "}\n",
    ),
    "long_residual_repeated": (
        "model M { input 16x16x8 -> residual( conv2d 8 3x3 same -> batchnorm -> relu -> conv2d 8 3x3 same "
        "-> batchnorm -> relu -> conv2d 8 1x1 ) * 2 -> relu }",
        "model M {\n"
        "  input 16x16x8\n"
        "  -> residual(\n"
        "       conv2d 8 3x3 same\n"
        "       -> batchnorm\n"
        "       -> relu\n"
        "       -> conv2d 8 3x3 same\n"
        "       -> batchnorm\n"
        "       -> relu\n"
        "       -> conv2d 8 1x1\n"
        "     ) * 2\n"
        "  -> relu\n"
        "}\n",
    ),
    "comments_everywhere": (
        "# header\n"
        "\n"
        "# about the block\n"
        "block b(c) = dense c   # trailing after a block\n"
        "model   M {  # after the brace\n"
        "  # before the input\n"
        "  input 3 # the input\n"
        "  -> ( dense 3 # first branch\n"
        "     # before the second branch\n"
        "     | dense 3 ) -> add   # after the merge\n"
        "\n"
        "\n"
        "  # a new stage\n"
        "  -> b 4\n"
        "  # before the brace\n"
        "} # after the brace\n"
        "# the end\n",
        "# header\n"
        "\n"
        "# about the block\n"
        "block b(c) = dense c  # trailing after a block\n"
        "\n"
        "model M {  # after the brace\n"
        "  # before the input\n"
        "  input 3  # the input\n"
        "  -> (\n"
        "       dense 3  # first branch\n"
        "     # before the second branch\n"
        "     | dense 3\n"
        "     )\n"
        "  -> add  # after the merge\n"
        "\n"
        "  # a new stage\n"
        "  -> b 4\n"
        "  # before the brace\n"
        "}  # after the brace\n"
        "# the end\n",
    ),
    "comments_inside_a_layer_and_a_header": (
        "block b(c,  # the width\n  k=3) = conv2d c k  # conv\n  -> relu\n"
        "model M { input 8x8x3 -> conv2d 8 # eight filters\n  3x3 same -> b 8 }\n",
        "# the width\n"
        "block b(c, k=3) = conv2d c k  # conv\n"
        "  -> relu\n"
        "\n"
        "model M {\n"
        "  input 8x8x3\n"
        "  -> conv2d 8 3x3 same  # eight filters\n"
        "  -> b 8\n"
        "}\n",
    ),
    "comment_after_an_arrow_stays_with_its_node": (
        "model M {\n  input 3 ->   # hidden\n  dense 4 -> dense 2\n}\n",
        "model M {\n  input 3  # hidden\n  -> dense 4\n  -> dense 2\n}\n",
    ),
    "block_body_on_the_line_after_the_equals_sign": (
        "block conv_bn(c) =\n    conv2d c 3x3 same\n    -> batchnorm -> relu\ninput 8x8x3 -> conv_bn 4\n",
        "block conv_bn(c) = conv2d c 3x3 same -> batchnorm -> relu\n\ninput 8x8x3 -> conv_bn 4\n",
    ),
    "comment_after_the_equals_sign_of_a_block": (
        "block b(c) =  # the body\n  dense c\ninput 3 -> b 2\n",
        "block b(c) = dense c  # the body\n\ninput 3 -> b 2\n",
    ),
    "comment_only": ("# nothing yet\n\n\n# more  \n", "# nothing yet\n\n# more\n"),
    "empty": ("", ""),
    "blank": ("\n \n\t\n", ""),
    "trailing_comment_without_newline": ("input 3 -> dense 2 #done", "input 3 -> dense 2  #done\n"),
}


@pytest.mark.parametrize(("before", "after"), list(CASES.values()), ids=list(CASES))
def test_hand_written_spec_formats_to_the_canonical_layout(before: str, after: str) -> None:
    assert assert_formats_faithfully(before) == after


@pytest.mark.parametrize("after", [after for _, after in CASES.values()], ids=list(CASES))
def test_canonical_layout_is_a_fixed_point(after: str) -> None:
    assert format_source(after) == after


def test_a_chain_that_fits_in_the_line_length_stays_on_one_line() -> None:
    def chain(n: int) -> str:
        return "input 3" + " -> relu" * n

    longest = max(n for n in range(30) if len(chain(n)) <= LINE_LENGTH)
    assert len(chain(longest)) <= LINE_LENGTH < len(chain(longest + 1))
    assert format_source(chain(longest)) == chain(longest) + "\n"
    assert format_source(chain(longest + 1)).count("\n") == longest + 2


def test_no_line_is_longer_than_the_limit_when_it_can_be_broken() -> None:
    layers = " -> ".join(f"conv2d {8 + i} 3x3 same relu" for i in range(12))
    text = f"block b() = ( {layers} | {layers} ) -> add -> ( ( {layers} ) * 2 | identity ) -> add\n"
    result = assert_formats_faithfully(text)
    assert max(len(line) for line in result.splitlines()) <= LINE_LENGTH


def test_deep_nesting_and_long_expressions_are_formatted() -> None:
    deep = "input 3 -> " + "( " * 150 + "relu" + " )" * 150
    assert_formats_faithfully(deep)
    long_expression = "input 3 -> dense (" + " + ".join(["1"] * 3000) + ")"
    assert_formats_faithfully(long_expression)


def test_a_spec_that_does_not_check_is_formatted_all_the_same() -> None:
    text = "model M {input 64x64x1->lstm 32}"
    with pytest.raises(ArchError):
        archdsl.parse(text)
    assert format_source(text) == "model M {\n  input 64x64x1\n  -> lstm 32\n}\n"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("input 3 -> -> dense 2", "A102"),
        ("model M { input 3 -> dense 2", "A103"),
        ("input 3 -> dense 'two'", "A101"),
        ("input 3 -> dense 12345678901234567890", "A502"),
        ("input 3 -> " + "(" * 300 + "relu" + ")" * 300, "A501"),
    ],
    ids=["syntax", "end-of-file", "character", "huge-number", "nesting"],
)
def test_a_spec_that_does_not_parse_is_refused_with_the_usual_diagnostic(text: str, code: str) -> None:
    with pytest.raises(ArchError) as caught:
        format_source(text, "bad.arch")
    assert caught.value.code == code
    assert caught.value.file == "bad.arch"
    assert caught.value.source is not None and "bad.arch:1:" in caught.value.render()


def test_the_safety_check_refuses_a_result_that_would_change_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Black's check, proven: a layout bug becomes an internal error, never a changed spec."""
    real = formatter._format
    monkeypatch.setattr(formatter, "_format", lambda text, module: real(text, module).replace("dense 2", "dense 3"))
    with pytest.raises(FormatterError, match="means something other"):
        format_source("input 3 -> dense 2")
    monkeypatch.setattr(formatter, "_format", lambda text, module: real(text, module).replace("# c", ""))
    with pytest.raises(FormatterError, match="comment"):
        format_source("input 3 -> dense 2  # c")


def test_unified_diff() -> None:
    assert unified_diff("input 3\n", "input 3\n", "a.arch") == ""
    diff = unified_diff("input 3->dense 2", "input 3 -> dense 2\n", "a.arch")
    assert diff.splitlines() == [
        "--- a.arch\t(original)",
        "+++ a.arch\t(formatted)",
        "@@ -1 +1 @@",
        "-input 3->dense 2",
        "\\ No newline at end of file",
        "+input 3 -> dense 2",
    ]
    # Only '\n' ends a line, as in the lexer: a form feed in a comment does not.
    assert unified_diff("input 3 # a\fb\n", "input 3  # a\fb\n", "a.arch").count("\n") == 5


# ---------------------------------------------------------------- docs/fmt.md

_DOC_PAIR = re.compile(r"^Before:\n\n```arch\n(.*?)^```\n\nAfter:\n\n```arch\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOC_PAIRS = _DOC_PAIR.findall(FMT_DOC.read_text(encoding="utf-8"))


def test_the_formatting_doc_has_its_examples() -> None:
    text = FMT_DOC.read_text(encoding="utf-8")
    assert text.startswith("# Formatting\n")
    assert len(DOC_PAIRS) >= 6
    assert len(DOC_PAIRS) == text.count("\nBefore:\n") == text.count("\nAfter:\n")


@pytest.mark.parametrize(("before", "after"), DOC_PAIRS, ids=[f"pair-{i}" for i in range(1, len(DOC_PAIRS) + 1)])
def test_each_before_of_the_doc_formats_to_its_after(before: str, after: str) -> None:
    assert archdsl.parse(before).models, "the doc's examples are specs that check"
    assert assert_formats_faithfully(before) == after
    assert format_source(after) == after


def test_the_doc_states_the_line_length() -> None:
    assert f"At most {LINE_LENGTH} columns" in FMT_DOC.read_text(encoding="utf-8")


# ---------------------------------------------------------------- examples and the language docs

_FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
LANGUAGE_SNIPPETS = [
    textwrap.dedent(m.group(3))
    for m in _FENCE.finditer(LANGUAGE_DOC.read_text(encoding="utf-8"))
    if m.group(2).split()[:1] == ["arch"] and "error" not in m.group(2).split()
]


@pytest.mark.parametrize("path", EXAMPLES + LANGUAGE_COPIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_files_round_trip(path: Path) -> None:
    assert_formats_faithfully(path.read_text(encoding="utf-8"), str(path))


@pytest.mark.parametrize("snippet", LANGUAGE_SNIPPETS, ids=[f"snippet-{i}" for i in range(len(LANGUAGE_SNIPPETS))])
def test_language_doc_snippets_round_trip(snippet: str) -> None:
    assert_formats_faithfully(snippet)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_examples_are_in_the_canonical_layout(path: Path) -> None:
    """archdsl's own examples are formatted by archdsl fmt, and fmt leaves them byte for byte.

    Except multi_model.arch: it is the file of LANGUAGE.md section 1, kept verbatim.
    """
    text = path.read_text(encoding="utf-8")
    if path.stem == "multi_model":
        assert format_source(text) != text  # written with several layers on a line, as the contract has it
        return
    assert format_source(text) == text, f"run: archdsl fmt --write {path.relative_to(ROOT)}"


# ---------------------------------------------------------------- properties over random programs

_COMMENT_WORDS = ("note", "->", "(", ")", "|", "{", "}", "x", "3x3", "input", "model", "#", "=", "*")


def with_comments(text: str, seed: int) -> str:
    """`text` with comments added at line ends and on lines of their own (always valid: a
    comment is ignored, and a line of nothing but a comment joins the newlines around it)."""
    rng = random.Random(seed)
    out: list[str] = []
    for number, line in enumerate(text.split("\n")):
        words = " ".join(rng.choice(_COMMENT_WORDS) for _ in range(rng.randint(0, 3)))
        if rng.random() < 0.2:
            out.append(rng.choice(("", "  ", "\t")) + f"# own {number} {words}")
        if rng.random() < 0.3:
            body, cr = (line[:-1], "\r") if line.endswith("\r") else (line, "")
            line = body + rng.choice(("", " ", "   ", "\t")) + f"# end {number} {words}" + cr
        out.append(line)
    return "\n".join(out)


@PROPERTY
@given(programs(max_size=3))
def test_random_programs_format_faithfully(program: GeneratedProgram) -> None:
    assert_formats_faithfully(program.text, program.filename)


@PROPERTY
@given(programs(max_size=3), st.integers(min_value=0, max_value=2**32))
def test_random_programs_with_comments_everywhere_keep_every_comment(program: GeneratedProgram, seed: int) -> None:
    text = with_comments(program.text, seed)
    note(text)
    assert_formats_faithfully(text, program.filename)


@PROPERTY
@given(texts())
def test_any_text_is_formatted_or_refused_with_diagnostics(text: str) -> None:
    """Mutated specs and garbage: an ArchError or a faithful result, never another exception."""
    try:
        format_source(text, "fuzz.arch")
    except ArchError as error:
        assert error.diagnostics and error.render()
        return
    assert_formats_faithfully(text, "fuzz.arch")


# ---------------------------------------------------------------- the command

TIMEOUT = 120
MESSY = "input 3->dense 2"
TIDY = "input 3 -> dense 2\n"


def run(args: list[str], cwd: Path, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("NO_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "fmt", *args],
        cwd=cwd,
        input=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=TIMEOUT,
        env=env,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    )


@pytest.fixture
def spec(tmp_path: Path):
    def write(text: str | bytes, name: str = "net.arch") -> Path:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    return write


def test_cli_prints_the_formatted_spec(spec, tmp_path: Path) -> None:
    spec(MESSY)
    result = run(["net.arch"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, TIDY, "")
    assert (tmp_path / "net.arch").read_text(encoding="utf-8") == MESSY


def test_cli_reads_standard_input(tmp_path: Path) -> None:
    result = run(["-"], tmp_path, stdin="\ufeff" + MESSY + "\r\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, TIDY, "")
    check = run(["--check", "-"], tmp_path, stdin=MESSY)
    assert (check.returncode, check.stderr) == (1, "would reformat <stdin>\n")
    assert run(["--check", "-"], tmp_path, stdin=TIDY).returncode == 0


def test_cli_check(spec, tmp_path: Path) -> None:
    spec(TIDY, "tidy.arch")
    spec(MESSY, "messy.arch")
    clean = run(["--check", "tidy.arch"], tmp_path)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    dirty = run(["--check", "tidy.arch", "messy.arch"], tmp_path)
    assert (dirty.returncode, dirty.stdout, dirty.stderr) == (1, "", "would reformat messy.arch\n")
    assert (tmp_path / "messy.arch").read_text(encoding="utf-8") == MESSY


@pytest.mark.parametrize("raw", [b"input 3 -> dense 2\r\n", b"\xef\xbb\xbfinput 3 -> dense 2\n", b"input 3 -> dense 2"])
def test_cli_check_sees_line_ends_marks_and_final_newlines(spec, tmp_path: Path, raw: bytes) -> None:
    path = spec(raw)
    assert run(["--check", "net.arch"], tmp_path).returncode == 1
    assert run(["--write", "net.arch"], tmp_path).returncode == 0
    assert path.read_bytes() == TIDY.encode("ascii")
    assert run(["--check", "net.arch"], tmp_path).returncode == 0


def test_cli_write_rewrites_only_what_changes(spec, tmp_path: Path) -> None:
    messy = spec(MESSY, "messy.arch")
    tidy = spec(TIDY, "tidy.arch")
    os.utime(tidy, (1_000_000_000, 1_000_000_000))
    messy.chmod(0o600)
    result = run(["--write", "messy.arch", "tidy.arch"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "reformatted messy.arch\n")
    assert messy.read_text(encoding="utf-8") == TIDY
    assert messy.stat().st_mode & 0o777 == 0o600, "the file keeps its permissions"
    assert tidy.stat().st_mtime == 1_000_000_000, "a formatted file is not touched"
    assert run(["--check", "messy.arch", "tidy.arch"], tmp_path).returncode == 0
    again = run(["--write", "messy.arch"], tmp_path)
    assert (again.returncode, again.stderr) == (0, "")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".archdsl-")], "no temporary file left"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="symbolic links")
def test_cli_write_through_a_symbolic_link_rewrites_the_file_it_names(spec, tmp_path: Path) -> None:
    real = spec(MESSY, "real.arch")
    link = tmp_path / "link.arch"
    link.symlink_to(real)
    assert run(["--write", "link.arch"], tmp_path).returncode == 0
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == TIDY


def test_cli_write_leaves_an_invalid_file_untouched(spec, tmp_path: Path) -> None:
    bad = spec("model M {\n  input 3 -> -> dense 2\n}\n", "bad.arch")
    messy = spec(MESSY, "messy.arch")
    before = bad.read_bytes()
    result = run(["--write", "bad.arch", "messy.arch"], tmp_path)
    assert result.returncode == 1
    assert "bad.arch:2:14: error: unexpected '->'" in result.stderr
    assert "reformatted messy.arch" in result.stderr, "the other files are still formatted"
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == before
    assert messy.read_text(encoding="utf-8") == TIDY


def test_cli_reports_a_file_that_does_not_parse(spec, tmp_path: Path) -> None:
    spec("input 3 -> dense 'two'\n", "bad.arch")
    result = run(["bad.arch"], tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("bad.arch:1:18: error: unexpected character")
    missing = run(["--check", "missing.arch"], tmp_path)
    assert missing.returncode == 1 and "no such file: 'missing.arch'" in missing.stderr


def test_cli_diff(spec, tmp_path: Path) -> None:
    spec(MESSY)
    result = run(["--diff", "net.arch"], tmp_path)
    assert result.returncode == 0
    assert result.stdout == unified_diff(MESSY, TIDY, "net.arch")
    assert "+input 3 -> dense 2" in result.stdout.splitlines()
    both = run(["--check", "--diff", "net.arch"], tmp_path)
    assert (both.returncode, both.stdout, both.stderr) == (1, result.stdout, "would reformat net.arch\n")
    spec(TIDY)
    assert run(["--diff", "net.arch"], tmp_path).stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.arch", "b.arch"], "give one FILE"),
        (["--write", "-"], "--write cannot rewrite standard input"),
        (["--check", "--write", "a.arch"], "not allowed with argument"),
        ([], "the following arguments are required"),
    ],
    ids=["several-files-to-print", "write-stdin", "check-and-write", "no-file"],
)
def test_cli_usage_errors(spec, tmp_path: Path, args: list[str], message: str) -> None:
    spec(MESSY, "a.arch")
    spec(MESSY, "b.arch")
    result = run(args, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert (tmp_path / "a.arch").read_text(encoding="utf-8") == MESSY


def test_cli_formats_the_examples_as_the_library_does(tmp_path: Path) -> None:
    result = run(["--check", *(str(p) for p in EXAMPLES)], ROOT)
    expected = {str(p) for p in EXAMPLES if format_source(p.read_text(encoding="utf-8")) != p.read_text("utf-8")}
    assert result.returncode == (1 if expected else 0)
    assert set(re.findall(r"^would reformat (.*)$", result.stderr, re.MULTILINE)) == expected


def test_the_package_exports_the_formatter():
    import archdsl

    assert archdsl.format_source("input 3->dense 4  # four\n") == "input 3 -> dense 4  # four\n"
    with pytest.raises(archdsl.ArchError):
        archdsl.format_source("input 3 -> -> dense 4\n")
