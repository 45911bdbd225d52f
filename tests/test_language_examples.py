"""Every example of LANGUAGE.md parses and checks, and every example in examples/ matches Keras.

tests/data/language/ holds a copy of each spec snippet of LANGUAGE.md (fragments wrapped
into whole models, as the comment at the top of each copy says). When the contract
itself is available (../shared/LANGUAGE.md beside the repository) a test makes sure every
code block of it is represented by those copies, so a new example cannot go untested.

tests/data/examples_expected.json holds the figures of each examples/*.arch as real Keras
reported them for a hand-written equivalent of the model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import archdsl

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
LANGUAGE_COPIES = DATA / "language"
CONTRACT = ROOT.parent / "shared" / "LANGUAGE.md"
EXAMPLES = ROOT / "examples"
EXAMPLES_EXPECTED = DATA / "examples_expected.json"

# model name -> (output shape, Keras total, PyTorch total) of each copy.
LANGUAGE_EXPECTED: dict[str, dict[str, tuple[tuple, int, int]]] = {
    "s1_bare_chain.arch": {"Model": ((10,), 307850, 307850)},
    "s1_models.arch": {
        "SmallNet": ((10,), 62570, 62314),
        "Tagger": ((1,), 31137, 31521),
    },
    "s2_shapes.arch": {
        "Vector": ((10,), 7850, 7850),
        "Tokens": ((16,), 16000, 16000),
        "Sequence": (("seq", 16), 400, 400),
        "Signal": ((98, 16), 592, 592),
        "Image": ((62, 62, 8), 80, 80),
        "ImageSpaced": ((62, 62, 8), 80, 80),
        "Volume": ((14, 62, 62, 4), 112, 112),
    },
    "s3_keyword_arguments.arch": {"Model": ((32, 32, 32), 288, 288)},
    "s4_parallel_branches.arch": {"Model": ((32, 32, 192), 41088, 41088)},
    "s4_residual_group.arch": {"Model": ((32, 32, 64), 74112, 73984)},
    "s4_residual_sugar.arch": {"Model": ((32, 32, 64), 74112, 73984)},
    "s4_repetition.arch": {"Model": ((32, 32, 64), 110784, 110784)},
    "s4_repeat_block_call.arch": {"Model": ((32, 32, 64), 74368, 74112)},
    "s4_block_expressions.arch": {"Expressions": ((32,), 3096, 3096)},
    "s7_graphs.arch": {
        "UNet": ((128, 128, 1), 1925601, 1925601),
        "TwoHeads": ((10,), 1259, 1259),
        "Siamese": ((1,), 23041, 23041),  # tests/test_graphs_keras.py: Koch et al.'s twins by hand
        "Seq2Seq": (("tgt", 93), 718173, 720221),  # Keras' lstm_seq2seq example: 718,173
    },
}


# The contract's sections that archdsl implements: all nine (section 9, the structure of the
# generated code, is tested in tests/test_structure.py).
IMPLEMENTED_SECTIONS = 9


def copies() -> list[Path]:
    return sorted(LANGUAGE_COPIES.glob("*.arch"))


# ---------------------------------------------------------------- the copies of LANGUAGE.md


def test_every_copy_has_expectations() -> None:
    assert sorted(p.name for p in copies()) == sorted(LANGUAGE_EXPECTED)


@pytest.mark.parametrize("path", copies(), ids=lambda p: p.name)
def test_language_example_parses_and_checks(path: Path) -> None:
    program = archdsl.load(path)
    expected = LANGUAGE_EXPECTED[path.name]
    assert program.model_names == tuple(expected)
    for name, (shape, keras, torch) in expected.items():
        model = program.model(name)
        assert model.output_shape == shape, name
        assert (model.params.keras, model.params.torch) == (keras, torch), name


def test_residual_sugar_is_the_same_model_as_the_explicit_group() -> None:
    sugar = archdsl.load(LANGUAGE_COPIES / "s4_residual_sugar.arch").model()
    group = archdsl.load(LANGUAGE_COPIES / "s4_residual_group.arch").model()
    # The sugar has no identity layer and ends with the relu written after it.
    assert [layer.type for layer in sugar.layers] == ["conv2d", "batchnorm", "relu", "conv2d", "add", "relu"]
    assert [layer.type for layer in group.layers] == ["conv2d", "batchnorm", "relu", "conv2d", "identity", "add"]
    assert sugar.params == group.params
    assert sugar.layer("add_1").inputs == ("conv2d_2", "input")
    assert group.layer("add_1").inputs == ("conv2d_2", "identity_1")


def _code_blocks(markdown: str, sections: int | None = None) -> list[tuple[int, list[str]]]:
    """(line of the opening fence, lines) of every ``` block whose language is empty or 'arch'.

    With `sections`, only the blocks under the headings `## 1.` to `## {sections}.`.
    """
    blocks: list[tuple[int, list[str]]] = []
    lines = markdown.splitlines()
    index = 0
    section = 0
    while index < len(lines):
        heading = re.match(r"^## (\d+)\.", lines[index])
        if heading:
            section = int(heading.group(1))
        fence = re.match(r"^\s*```\s*([\w-]*)\s*$", lines[index])
        if not fence:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
            body.append(lines[index])
            index += 1
        index += 1
        if fence.group(1) in ("", "arch") and (sections is None or section <= sections):
            blocks.append((start + 1, body))
    return blocks


def _normalize(line: str) -> str:
    return " ".join(line.split("#", 1)[0].split())


def test_code_block_reader() -> None:
    text = "intro\n```\na -> b   # c\n\n# only a comment\n```\n```python\nx = 1\n```\n```arch\nz\n```\n"
    assert _code_blocks(text) == [(2, ["a -> b   # c", "", "# only a comment"]), (10, ["z"])]
    assert _normalize("  input 64 x 64   -> relu   # comment") == "input 64 x 64 -> relu"
    sectioned = "## 1. One\n```\na\n```\n## 2. Two\n```arch\nb\n```\n"
    assert _code_blocks(sectioned, sections=1) == [(2, ["a"])]
    assert len(_code_blocks(sectioned)) == 2


def test_every_code_block_of_the_contract_is_copied() -> None:
    if not CONTRACT.exists():
        pytest.skip(f"{CONTRACT} is not beside the repository")
    blocks = _code_blocks(CONTRACT.read_text(encoding="utf-8"), IMPLEMENTED_SECTIONS)
    assert len(blocks) >= 3
    copied = [_normalize(line) for path in copies() for line in path.read_text(encoding="utf-8").splitlines()]
    copied = [line for line in copied if line]
    missing = []
    for fence_line, body in blocks:
        for line in body:
            wanted = _normalize(line)
            if wanted and not any(wanted in have for have in copied):
                missing.append(f"LANGUAGE.md:{fence_line}: {line.strip()}")
    assert missing == [], "copy these into tests/data/language/:\n" + "\n".join(missing)


def test_every_code_block_of_the_contract_checks_as_a_whole() -> None:
    """Blocks that are whole programs (they begin with a model, a block or an input) check as they are."""
    if not CONTRACT.exists():
        pytest.skip(f"{CONTRACT} is not beside the repository")
    whole = 0
    for fence_line, body in _code_blocks(CONTRACT.read_text(encoding="utf-8"), IMPLEMENTED_SECTIONS):
        code = [_normalize(line) for line in body if _normalize(line)]
        if code and re.match(r"(model|block|input)\b", code[0]) and not any(line.startswith("(") for line in code):
            program = archdsl.parse("\n".join(body) + "\n", f"LANGUAGE.md:{fence_line}")
            assert program.models, fence_line
            whole += 1
    assert whole >= 2


# ---------------------------------------------------------------- examples/ against Keras


def expected_examples() -> dict[str, dict]:
    return json.loads(EXAMPLES_EXPECTED.read_text(encoding="utf-8"))


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.arch"))


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_example_parses_and_checks(path: Path) -> None:
    program = archdsl.load(path)
    assert program.models
    for model in program.models:
        assert model.layers
        assert model.params.keras > 0


def test_every_example_has_reference_figures() -> None:
    covered = {key.split(":")[0] for key in expected_examples()}
    assert sorted(p.name for p in example_files() if p.name not in covered) == []


@pytest.mark.parametrize("key", sorted(expected_examples()), ids=str)
def test_example_matches_keras(key: str) -> None:
    reference = expected_examples()[key]
    filename, _, name = key.partition(":")
    program = archdsl.load(EXAMPLES / filename)
    model = program.model(name or None)
    assert model.name == reference["model"]
    assert model.params.keras == reference["keras_params"]
    # Keras writes a symbolic size (`tgt`) as None
    assert [None if isinstance(d, str) else d for d in model.output_shape] == reference["output_shape"]
    # Keras' non-trainable weights are BatchNorm's moving mean and variance: 2 per channel.
    moving = sum(2 * layer.input_shape[-1] for layer in model.layers if layer.type == "batchnorm")
    assert model.params.keras - moving == reference["keras_trainable_params"]


def test_reference_figures_are_sane() -> None:
    data = expected_examples()
    assert len(data) >= 10
    assert data["card_cnn.arch"]["keras_params"] == 307850
    assert data["vgg16.arch"]["keras_params"] == 138357544  # keras.applications.VGG16
