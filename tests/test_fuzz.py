"""Fuzz tests: whatever text comes in, archdsl answers with a model or with diagnostics.

Properties (Hypothesis; inputs from tests/strategies.py, the long campaign is
tests/fuzz_campaign.py, docs/fuzzing.md says what was run):

(a) `parse` of mutated and random text succeeds or raises ArchError, whose every diagnostic
    lies inside the text, carries a known code and renders; never another exception. Models
    that do check generate code for both targets (or A601) that compiles.
(b) random VALID programs check, have the output shapes the generator's own shape model
    predicts, and generate code for both targets (or A601) that compiles and ast-parses.
(c) generation is deterministic: same spec, same bytes, across parses and processes.

Also: the command line on fuzzed files and random bytes exits 0 or 1 (2 only for a model
selection) and never prints a traceback; a few random programs are built and run in Keras
and PyTorch (marked `frameworks`). Bugs the fuzzer found are regression tests at the end:
they were fixed, and the tests keep them fixed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import (
    LAYER_TYPES,
    GeneratedProgram,
    as_archdsl,
    mutated_text,
    programs,
    random_program,
    runtime,
    seed_corpus,
    texts,
)

import archdsl
from archdsl import ArchError
from archdsl.cli import commands as cli
from archdsl.common.diagnostics import CODES
from archdsl.common.diagnostics import render as render_diagnostic
from archdsl.layers import LAYERS
from archdsl.tools.summary import rows

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("keras", "torch")
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


# ---------------------------------------------------------------- checks shared with tests/fuzz_campaign.py


def span_problems(text: str, diagnostics) -> list[str]:
    """What is wrong with where `diagnostics` point in `text` (empty when all is well).

    Lines count '\\n' as the lexer does; an end-of-file error (A103) may point one line past
    the last, and a column one past the end of its line.
    """
    problems: list[str] = []
    lines = text.split("\n")
    for d in diagnostics:
        s = d.span
        eof = d.code == "A103"
        if d.code not in CODES:
            problems.append(f"unknown code {d.code}")
        if not 1 <= s.line <= len(lines) + eof:
            problems.append(f"{d.code} at line {s.line} of a text of {len(lines)} lines")
            continue
        if s.column < 1:
            problems.append(f"{d.code} at column {s.column}")
        elif s.line <= len(lines) and s.column > len(lines[s.line - 1]) + 1 + eof:
            problems.append(f"{d.code} at column {s.column} of a line of {len(lines[s.line - 1])} characters")
        if (s.end_line, s.end_column) < (s.line, s.column):
            problems.append(f"{d.code} ends ({s.end_line}:{s.end_column}) before it starts ({s.line}:{s.column})")
        if not render_diagnostic(d, text):
            problems.append(f"{d.code} renders as nothing")
    return problems


def diagnostic_problems(text: str, error: ArchError) -> list[str]:
    """span_problems for an ArchError, which must hold diagnostics, render and serialise."""
    problems = span_problems(text, error.diagnostics)
    if not error.diagnostics:
        problems.append("an ArchError without diagnostics")
    for color in (False, True):
        rendered = error.render(color=color)
        if not isinstance(rendered, str) or not rendered:
            problems.append("render() gave nothing")
    json.dumps(error.to_json())
    str(error)
    return problems


def warning_problems(text: str, program) -> list[str]:
    """The warnings of a checked program (A701, ...) must point inside the text too."""
    return span_problems(text, getattr(program, "warnings", ()))


def generated_sources(model) -> dict[str, str | None]:
    """The code of `model` for each target (None for A601), checked to compile and ast-parse."""
    sources: dict[str, str | None] = {}
    for target in TARGETS:
        try:
            source = archdsl.generate(model, target)
        except ArchError as error:
            assert [d.code for d in error.diagnostics] == ["A601"], error.render()
            assert target == "torch", f"{target} refused {model.name}: {error.render()}"
            sources[target] = None
            continue
        assert isinstance(source, str) and source.endswith("\n")
        compile(source, f"<{target} {model.name}>", "exec")
        ast.parse(source)
        sources[target] = source
    return sources


def parse_or_error(text: str, filename: str = "fuzz.arch"):
    try:
        return archdsl.parse(text, filename), None
    except ArchError as error:
        return None, error


# ---------------------------------------------------------------- (a) any text


@settings(FUZZ, max_examples=2000)
@given(texts())
def test_parse_of_any_text_gives_a_program_or_diagnostics(text: str) -> None:
    program, error = parse_or_error(text)
    if error is not None:
        assert diagnostic_problems(text, error) == []
        return
    assert warning_problems(text, program) == []
    for model in program.models:
        generated_sources(model)


@settings(FUZZ, max_examples=150)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("utf-8", errors="replace")))
def test_parse_of_arbitrary_unicode(text: str) -> None:
    program, error = parse_or_error(text)
    if error is not None:
        assert diagnostic_problems(text, error) == []


# ---------------------------------------------------------------- (b) valid programs


@settings(FUZZ, max_examples=400)
@given(programs())
def test_generated_programs_check_and_generate(program: GeneratedProgram) -> None:
    parsed, error = parse_or_error(program.text, program.filename)
    if error is not None:  # allowed now and then (see the rate test), but only as an ArchError
        note(error.render())
        assert diagnostic_problems(program.text, error) == []
        return
    assert warning_problems(program.text, parsed) == []
    assert [m.name for m in parsed.models] == [m.name for m in program.models]
    for model, expected in zip(parsed.models, program.models, strict=True):
        assert tuple(model.output_shape) == as_archdsl(expected.output_shape), model.name
        generated_sources(model)
        _subtotals_add_up(model)


def _subtotals_add_up(model: archdsl.Model) -> None:
    """`check --depth N` at every depth: the rows that count (calls shown whole, layers) make the totals."""
    for depth in range(max((len(layer.scope) for layer in model.layers), default=0) + 1):
        counted = [row for row in rows(model, depth=depth) if not row.expanded]
        assert sum(row.keras for row in counted) == model.params.keras, (model.name, depth)
        assert sum(row.torch for row in counted) == model.params.torch, (model.name, depth)


def test_most_generated_programs_check() -> None:
    """At least 80% of generated programs check (in practice all do); the rest are ArchErrors."""
    total, ok, codes = 300, 0, Counter()
    for seed in range(total):
        program = random_program(random.Random(seed))
        parsed, error = parse_or_error(program.text, program.filename)
        if error is None:
            ok += 1
            shapes = [tuple(m.output_shape) for m in parsed.models]
            assert shapes == [as_archdsl(m.output_shape) for m in program.models], program.text
        else:
            codes.update(d.code for d in error.diagnostics)
    assert ok >= 0.8 * total, f"only {ok} of {total} generated programs checked: {codes.most_common()}"


def test_generator_reaches_every_layer_and_construct() -> None:
    assert set(LAYER_TYPES) == set(LAYERS), "a layer type is missing from tests/strategies.py"
    types: Counter[str] = Counter()
    features: Counter[str] = Counter()
    checks = {
        "bare chain": lambda p: p.bare,
        "several models": lambda p: len(p.models) > 1,
        "block with a default": lambda p: re.search(r"(?m)^\s*block\s+\w+\s*\([^)]*=", p.text),
        "(p*2)": lambda p: re.search(r"\(\s*[a-z]\w*\s*\*\s*2\s*\)", p.text),
        "(q+1)": lambda p: re.search(r"\(\s*[a-z]\w*\s*\+\s*1\s*\)", p.text),
        "(p//2)": lambda p: re.search(r"\(\s*[a-z]\w*\s*//\s*2\s*\)", p.text),
        "key=value call": lambda p: any(
            re.search(rf"\b{name}\b[^\n>]*\b\w+\s*=", p.text) for name in re.findall(r"(?m)^\s*block\s+(\w+)", p.text)
        ),
        "4 branches": lambda p: re.search(r"\|[^|()]*\|[^|()]*\|", p.text),
        "residual": lambda p: "residual" in p.text,
        "a parameter as a layer": lambda p: any(
            re.search(rf"(->|\|)\s*{name}\b", code)
            for code in [re.sub(r"#[^\n]*", "", p.text)]
            for params in re.findall(r"(?m)^\s*block\s+\w+\s*\(([^)]*)\)", code)
            for name in re.findall(r"(?:^|,)\s*(\w+)", params)
        ),
        "* N": lambda p: re.search(r"\*\s*(\d|\(|[a-z])", p.text),
        "as NAME": lambda p: re.search(r"\bas\s+\w", p.text),
        "comment": lambda p: "#" in p.text,
        "-> continuation line": lambda p: re.search(r"\n[ \t\f]*->", p.text),
        "newline in ()": lambda p: re.search(r"\([^()#]*\n", p.text),
        "spaced dims": lambda p: re.search(r"\d\s+x\s+\d", p.text),
        "mask_zero": lambda p: "mask_zero" in p.text,
        "cross-attention": lambda p: re.search(r"\|[^|]*\)\s*->\s*attention\b", p.text),
        "symbolic dims": lambda p: any(not isinstance(d, int) for m in p.models for d in m.input_shape),
        "odd unicode in a comment": lambda p: re.search(r"#[^\n]*[^\x00-\x7f]", p.text),
    }
    for seed in range(300):
        program = random_program(random.Random(seed))
        parsed, error = parse_or_error(program.text, program.filename)
        if parsed is not None:
            types.update(layer.type for model in parsed.models for layer in model.layers)
        features.update(name for name, check in checks.items() if check(program))
    assert set(LAYERS) <= set(types), f"never generated: {sorted(set(LAYERS) - set(types))}"
    assert set(checks) <= set(features), f"never generated: {sorted(set(checks) - set(features))}"


def test_mutated_texts_start_from_the_examples_and_the_contract() -> None:
    corpus = seed_corpus()
    examples = list((ROOT / "examples").glob("*.arch"))
    assert len(corpus) > len(examples) >= 5
    outcomes = Counter()
    for seed in range(200):
        outcomes["ok" if parse_or_error(mutated_text(random.Random(seed)))[1] is None else "error"] += 1
    assert outcomes["ok"] and outcomes["error"], outcomes


# ---------------------------------------------------------------- (c) determinism


def digests(program: GeneratedProgram) -> list[str]:
    out = []
    for model in archdsl.parse(program.text, program.filename).models:
        for target, source in generated_sources(model).items():
            out.append(f"{model.name}/{target}/" + (hashlib.sha256(source.encode()).hexdigest() if source else "A601"))
    return out


@settings(FUZZ, max_examples=60)
@given(programs())
def test_generate_is_deterministic(program: GeneratedProgram) -> None:
    first = archdsl.parse(program.text, program.filename)
    second = archdsl.parse(program.text, program.filename)
    for a, b in zip(first.models, second.models, strict=True):
        for target in TARGETS:
            try:
                one = archdsl.generate(a, target)
            except ArchError as error:
                assert error.code == "A601"
                with pytest.raises(ArchError):
                    archdsl.generate(b, target)
                continue
            assert archdsl.generate(a, target) == one
            assert archdsl.generate(b, target) == one


def test_generate_is_deterministic_across_processes() -> None:
    """Same bytes whatever the hash seed (set and dict order, ids): run in two fresh processes."""
    seeds = list(range(1000, 1040))
    script = (
        "import json, random, sys; sys.path.insert(0, sys.argv[1]); import test_fuzz as t; "
        "print(json.dumps([t.digests(t.random_program(random.Random(s))) for s in json.loads(sys.argv[2])]))"
    )
    here = [digests(random_program(random.Random(s))) for s in seeds]
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", script, str(Path(__file__).parent), json.dumps(seeds)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == here, f"PYTHONHASHSEED={hash_seed} changed the generated code"


# ---------------------------------------------------------------- the command line


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@settings(FUZZ, max_examples=60)
@given(texts().map(lambda t: t.encode("utf-8")) | st.binary(max_size=200))
def test_cli_on_fuzzed_files(capsys, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.arch")
        with open(path, "wb") as handle:
            handle.write(data)
        for argv, allowed in (
            (["check", "--no-color", path], {0, 1}),
            (["check", "--json", path], {0, 1}),
            (["check", "--no-color", "--depth", "0", path], {0, 1}),
            (["generate", "--no-color", path, "-t", "keras"], {0, 1, 2}),
            (["generate", "--no-color", path, "-t", "torch", "-o", os.path.join(folder, "out.py")], {0, 1, 2}),
        ):
            code, out, err = run_cli(capsys, argv)
            note(f"{argv[0]}: exit {code}\n{err}")
            assert code in allowed, (argv, code, err)
            if code == 2:  # only a file of several models without --model
                assert "[A402]" in err, err
            assert "Traceback" not in err and "internal error" not in err, err
            assert "Traceback" not in out and "internal error" not in out
            if "--json" in argv:
                json.loads(out)


# ---------------------------------------------------------------- for real, in both frameworks


def _symbolic_sizes():
    class Sizes(dict):
        def __missing__(self, key):
            if key == "ceil":
                raise KeyError(key)  # the function, from eval's globals: `ceil(h/2)`
            return 16

    return Sizes(N=2)


@pytest.mark.frameworks
@pytest.mark.filterwarnings("ignore:You are using a softmax over axis:UserWarning")
@settings(FUZZ, max_examples=10)
@given(programs(max_size=2))
def test_random_programs_build_and_run_in_both_frameworks(program: GeneratedProgram) -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    parsed = archdsl.parse(program.text, program.filename)
    for model, expected in zip(parsed.models, program.models, strict=True):
        rng = np.random.default_rng(0)
        shape = (2, *(runtime(d) for d in expected.input_shape))
        if expected.token_vocab:
            x = rng.integers(0, expected.token_vocab, size=shape).astype("int32")
        else:
            x = rng.standard_normal(shape).astype("float32")
        out = (2, *(runtime(d) for d in expected.output_shape))

        keras_model = archdsl.build(model, "keras")
        y = np.asarray(keras_model(x, training=False))
        assert y.shape == out, model.name
        # Multiplying branches squares magnitudes: a deep stack of them overflows float32 with
        # random weights in any framework. Elsewhere a non-finite output is a bug.
        may_overflow = any(layer.type == "multiply" for layer in model.layers)
        assert may_overflow or np.isfinite(y).all()

        try:
            source = archdsl.generate(model, "torch")
        except ArchError as error:
            assert error.code == "A601"
            continue
        docstring = " ".join(source.split('"""')[1].split())
        module = archdsl.build(model, "torch").eval()
        xt = torch.from_numpy(x).long() if expected.token_vocab else torch.from_numpy(x)
        if "channels first" in docstring.split("Output:")[0] and xt.ndim >= 3:
            xt = xt.movedim(-1, 1)
        with torch.no_grad():
            yt = module(xt)
        # The module docstring states the output shape, symbolic sizes by name.
        stated = re.search(r"Output: \((.*?)\)\.", docstring).group(1)
        wanted = tuple(eval(d, {"ceil": math.ceil, "__builtins__": {}}, _symbolic_sizes()) for d in stated.split(", "))  # noqa: S307
        assert tuple(yt.shape) == wanted, (model.name, stated)
        assert yt.numel() == y.size
        assert torch.isfinite(yt).all() or not np.isfinite(y).all()


# ---------------------------------------------------------------- bugs the fuzzer found


def _line_shown(rendered: str) -> str:
    """The source line a rendered diagnostic quotes (`N | text`)."""
    match = re.search(r"(?m)^\d+ \| (.*)$", rendered)
    assert match, rendered
    return match.group(1)


@pytest.mark.parametrize(
    "text",
    [
        "\f\ninput 4 -> dense 0",  # a form feed is whitespace in the grammar
        "# \x85\ninput 4 -> dense 0",  # NEL in a comment
        "# \u2028\ninput 4 -> dense 0",  # LINE SEPARATOR in a comment
    ],
    ids=["form-feed", "nel-in-comment", "line-separator-in-comment"],
)
def test_render_quotes_the_line_the_diagnostic_points_at(text: str) -> None:
    with pytest.raises(ArchError) as caught:
        archdsl.parse(text, "f.arch")
    error = caught.value
    assert error.line == 2
    assert _line_shown(error.render()) == "input 4 -> dense 0"


def test_messages_quote_the_layer_as_written_after_a_form_feed() -> None:
    with pytest.raises(ArchError) as caught:
        archdsl.parse("input seq x 4 -> lstm 8 # \f\n-> lstm 4", "f.arch")
    assert caught.value.message.startswith("lstm 4 needs a sequence"), caught.value.message


@pytest.mark.frameworks
def test_verify_reports_a601_for_a_layer_torch_cannot_express(capsys, tmp_path: Path) -> None:
    spec = tmp_path / "pool.arch"
    spec.write_text("input n x 4 -> avgpool same stride=2\n", encoding="utf-8")
    code, _, err = run_cli(capsys, ["verify", "--no-color", str(spec)])
    assert "internal error" not in err, err
    assert code == 1 and "[A601]" in err, (code, err)


@pytest.mark.parametrize(
    "text",
    [
        "block encoder()=u->dense\nmodel e{x1->encoder as enc\ninput 1->use enc}",  # campaign of 2026-12-04, #6379
        "block encoder()=l->dense 4\nmodel P{input 4 -> encoder as enc->use enc as e}",
    ],
)
def test_use_of_a_call_whose_block_has_an_unknown_layer_is_an_error(text: str) -> None:
    """`use` of a block call looked the weights of each of its layers up in the table, unknown ones too."""
    with pytest.raises(ArchError) as caught:
        archdsl.parse(text, "fuzz.arch")
    assert "A201" in {diagnostic.code for diagnostic in caught.value.diagnostics}


def test_a_block_of_ten_thousand_layers_generates_a_function_and_a_class() -> None:
    """Campaign of 2026-12-04, #8699: one call of a block holding 10,000 layers took minutes in the Keras
    target (the renaming tables were rebuilt for every layer of the block) and in finding each
    layer's readers; now both are built once per block."""
    text = "block stage() = dense 4 -> relu * 10000\nmodel Deep {\n  input 4 -> stage -> dense 2\n}\n"
    model = archdsl.parse(text, "deep.arch").model()
    keras_source, torch_source = archdsl.generate(model, "keras"), archdsl.generate(model, "torch")
    assert "def stage(x: keras.KerasTensor, name: str) -> keras.KerasTensor:" in keras_source
    assert "class Stage(nn.Module):" in torch_source
    assert keras_source.count("layers.ReLU(") == 10_000
