"""Beginner mistakes that check (A703 to A708): each rule fires on the mistake and stays quiet on real models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.analysis.lint import RULES
from archdsl.common.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent
REAL_FILES = sorted(
    [
        *ROOT.glob("examples/*.arch"),
        *ROOT.glob("examples/applications/*.arch"),
        *ROOT.glob("tests/data/language/*.arch"),
    ]
)

# Layers as well-known models have them, each where it sits in its model.
REAL_MODELS = {
    "BERT segment table": "input 128 -> embedding 2 768 -> globalavgpool",
    "BERT-large segment table": "input 128 -> embedding 2 1024 -> globalavgpool",
    "BERT token table": "input 128 -> embedding 30522 768 -> globalavgpool",
    "GPT-2 token table": "input seq -> embedding 50257 768 -> globalavgpool",
    "GPT-2 XL position table": "input 1024 -> embedding 1024 1600 -> globalavgpool",
    "GPT-3 position table": "input 2048 -> embedding 2048 12288 -> globalavgpool",
    "CycleGAN head": "input 256x256x64 -> zeropad 3 -> conv2d 3 7x7 tanh",
    "ResNet stem": "input 224x224x3 -> conv2d 64 7x7 stride=2 same -> batchnorm -> relu -> maxpool 3x3 stride=2 same",
    "AlexNet stem": "input 227x227x3 -> conv2d 96 11x11 stride=4 relu",
    "SincNet front end": "input 3200x1 -> conv1d 80 251 -> globalavgpool",
    "EfficientNet batchnorm": "input 112x112x32 -> batchnorm momentum=0.99 epsilon=0.001 -> silu",
    "TF-slim batchnorm": "input 56x56x64 -> batchnorm momentum=0.9 -> relu",
    "MNIST": "input 28x28x1 -> conv2d 32 3x3 relu -> maxpool -> flatten -> dense 10 softmax",
    "DQN on 84x84x4 frames": "input 84x84x4 -> conv2d 32 8x8 stride=4 relu -> conv2d 64 4x4 stride=2 relu -> dense 512",
    "1-pixel-high spectrogram": "input 1x128x9 -> conv2d 16 1x3 -> globalavgpool",
    "text classifier": "input seq -> embedding 20000 128 -> lstm 64 -> dense 1 sigmoid",
    "masked text classifier": "input seq -> embedding 20000 128 mask_zero -> lstm 64 -> dense 1 sigmoid",
    "masked bag of embeddings": "input seq -> embedding 20000 64 mask_zero -> globalavgpool -> dense 2 softmax",
    "masked class-token transformer": (
        "input 128 -> embedding 30522 64 mask_zero -> clstoken -> posembed -> residual( attention 4 ) -> layernorm"
        " -> residual( dense 256 gelu -> dense 64 ) -> layernorm -> take 0 -> dense 2"
    ),
}


def diagnostics(spec: str, severity: str = "warning") -> list:
    return [d for d in archdsl.parse(spec, "t.arch").warnings if d.severity == severity]


def only(spec: str, code: str, severity: str = "warning"):
    found = diagnostics(spec, severity)
    assert [d.code for d in found] == [code], [d.message for d in found]
    return found[0]


def test_every_rule_has_a_code_of_its_own_and_says_why() -> None:
    codes = [rule.__doc__.split()[0] for rule in RULES]
    assert len(set(codes)) == len(codes)
    assert all(code in CODES for code in codes)
    assert all(rule.__doc__ and len(rule.__doc__.split("\n")) > 2 for rule in RULES), "a rule's docstring says why"


# ---------------------------------------------------------------- quiet on real models


@pytest.mark.parametrize("path", REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_no_warning_on_the_examples_and_the_language_files(path: Path) -> None:
    assert [d for d in archdsl.load(path).warnings if d.severity == "warning"] == []


@pytest.mark.parametrize("spec", REAL_MODELS.values(), ids=REAL_MODELS.keys())
def test_no_warning_on_real_models(spec: str) -> None:
    assert diagnostics(spec) == []


# ---------------------------------------------------------------- A703 channels first


@pytest.mark.parametrize(
    ("spec", "meant"),
    [
        ("input 3x224x224 -> conv2d 32 -> globalavgpool", "224x224x3"),
        ("input 3x480x640 -> conv2d 8 1x1", "480x640x3"),
        ("input 4x84x84 -> conv2d 32 8x8 stride=4 same", "84x84x4"),
        ("input 2x16x64x64 -> conv3d 4 1x3x3", "16x64x64x2"),
    ],
)
def test_a_channels_first_input_is_a_warning(spec: str, meant: str) -> None:
    warning = only(spec, "A703")
    assert warning.hint == f"did you mean {meant}? channels come last, batch axis excluded"
    assert (warning.span.line, warning.span.column) == (1, 7)  # the shape after 'input'
    fixed = warning.fix.apply(spec)
    assert fixed.startswith(f"input {meant} ->") and diagnostics(fixed) == []


@pytest.mark.parametrize(
    ("spec", "meant"),
    [
        ("input 1x28x28 -> conv2d 8 -> flatten -> dense 10", "28x28x1"),
        ("input 3x224x224 -> conv2d 32 5x5", "224x224x3"),
        ("input 1x16x64x64 -> conv3d 4", "16x64x64x1"),
    ],
)
def test_a_kernel_that_cannot_fit_a_channels_first_input_says_so_in_its_a302(spec: str, meant: str) -> None:
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(spec)
    (error,) = raised.value.diagnostics
    assert error.code == "A302"
    assert f"did you mean 'input {meant}'? channels come last" in error.hint
    assert archdsl.parse(error.fix.apply(spec)).warnings == ()


def test_channels_first_message() -> None:
    warning = only("input 3x224x224 -> conv2d 32", "A703")
    assert warning.message == "input 3x224x224 reads as 224 channels of 3x224: archdsl puts the channels last"


# ---------------------------------------------------------------- A704 filters and kernel


def test_filters_and_kernel_swapped_is_a_warning() -> None:
    spec = "input 224x224x3 -> conv2d 3 32 -> globalavgpool"
    warning = only(spec, "A704")
    assert warning.message == "conv2d has 3 filters of 32x32: a kernel that large is rare"
    assert warning.hint == "did you mean 'conv2d 32 3'? the filters come first, then the kernel"
    assert warning.fix.apply(spec) == "input 224x224x3 -> conv2d 32 3 -> globalavgpool"


@pytest.mark.parametrize(
    "spec",
    [
        "input 224x224x3 -> conv2d 3 32 same",
        "input 224x224x3 -> conv2d 1 15 stride=2",
        "input 200x8 -> conv1d 4 64",
        "input 64x64x64x1 -> conv3d 2 16",
        "input 128x128x3 -> sepconv2d 5 13",
        "input 32x32x8 -> conv2dtranspose 3 16",
    ],
)
def test_every_convolution_with_a_huge_kernel_and_few_filters_warns(spec: str) -> None:
    only(spec, "A704")


def test_swapped_numbers_from_a_block_call_are_named_without_a_fix() -> None:
    """The filter count is written at the call: exchanging the two would edit another place."""
    spec = "block c(f) = conv2d f 32\ninput 224x224x3 -> c 3"
    warning = only(spec, "A704")
    assert warning.fix is None
    assert warning.hint == "did you mean 32 filters of 3x3? the filters come first, then the kernel"


def test_a_kernel_too_large_for_a_small_input_offers_the_swap_in_its_a302() -> None:
    spec = "input 28x28x1 -> conv2d 3 32"
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(spec)
    error = raised.value
    assert error.code == "A302"
    assert error.hint.startswith("did you mean 'conv2d 32 3'? the filters come first, then the kernel; or use 'same'")
    assert archdsl.parse(error.diagnostics[0].fix.apply(spec)).model().output_shape == (26, 26, 32)


def test_a_kernel_too_large_whose_swap_would_not_fit_either_keeps_its_plain_a302() -> None:
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse("input 2x2x1 -> conv2d 3 32")
    assert raised.value.hint == "use 'same' padding, a smaller window, or remove a downsampling layer before it"


# ---------------------------------------------------------------- A705 embedding


@pytest.mark.parametrize(
    ("spec", "meant"),
    [
        ("input seq -> embedding 128 20000 -> globalavgpool", "embedding 20000 128"),
        ("input 100 -> embedding 64 10000 -> flatten", "embedding 10000 64"),
        ("input seq -> embedding 4096 32000 -> globalavgpool", "embedding 32000 4096"),  # Llama's, swapped
        ("input seq -> embedding 768 30522 -> globalavgpool", "embedding 30522 768"),  # BERT's, swapped
    ],
)
def test_embedding_swapped_is_a_warning(spec: str, meant: str) -> None:
    warning = only(spec, "A705")
    assert warning.hint == f"did you mean '{meant}'? the vocabulary comes first, then the size of each vector"
    assert diagnostics(warning.fix.apply(spec)) == []


# ---------------------------------------------------------------- A706 batchnorm momentum


@pytest.mark.parametrize(("momentum", "meant"), [("0.1", "0.9"), ("0.01", "0.99"), ("0.003", "0.997"), ("0", "1")])
def test_pytorch_momentum_is_a_warning(momentum: str, meant: str) -> None:
    spec = f"input 8x8x3 -> batchnorm momentum={momentum} -> relu"
    warning = only(spec, "A706")
    assert (
        warning.hint
        == f"in archdsl, as in Keras, momentum is 1 minus the PyTorch value: did you mean 'momentum={meant}'?"
    )
    assert diagnostics(warning.fix.apply(spec)) == []


def test_momentum_from_a_block_parameter_is_named_without_a_fix() -> None:
    warning = only("block bn(m) = batchnorm momentum=m\ninput 8x8x3 -> bn 0.1", "A706")
    assert warning.fix is None and warning.hint.endswith("did you mean momentum=0.9?")


def test_keras_momentum_is_quiet() -> None:
    assert diagnostics("input 8x8x3 -> batchnorm momentum=0.5 -> batchnorm momentum=0.999 -> batchnorm") == []


# ---------------------------------------------------------------- A707 the steps axis


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        (
            "input seq x 8 -> lstm 64 seq -> dense 1 sigmoid",
            "for one per sequence, add globalavgpool before the last layers, or drop 'seq' from the lstm at line 1",
        ),
        ("input 100x12 -> conv1d 16 3 -> dense 2", "for one per sequence, add globalavgpool before the last layers"),
        ("input seq -> embedding 1000 16 -> dense 4", "for one per sequence, add globalavgpool before the last layers"),
    ],
)
def test_an_output_with_steps_is_a_note(spec: str, hint: str) -> None:
    note = only(spec, "A707", severity="note")
    assert note.message.endswith("keeps the steps axis: one prediction per step")
    assert note.hint == hint
    assert diagnostics(spec) == []  # a note, not a warning
    assert note.span == archdsl.parse(spec, "t.arch").model().layers[-1].span


@pytest.mark.parametrize(
    "spec",
    [
        "input seq x 8 -> lstm 64 -> dense 1",
        "input 64x64x1 -> conv2d 8",
        "input seq x 8 -> lstm 4 seq -> globalavgpool",
        "input seq -> embedding 100 16 -> attention 2 causal -> dense 100",  # a language model: next token per step
    ],
)
def test_an_output_without_steps_has_no_note(spec: str) -> None:
    assert diagnostics(spec, "note") == []


def test_a_note_renders_as_a_note() -> None:
    program = archdsl.parse("input seq x 8 -> lstm 64 seq -> dense 1", "tagger.arch")
    assert archdsl.ArchError(program.warnings, program.source).render() == (
        "tagger.arch:1:33: note: the output seq x 1 keeps the steps axis: one prediction per step [A707]\n"
        "1 | input seq x 8 -> lstm 64 seq -> dense 1\n"
        "  |                                 ^^^^^^^\n"
        "help: for one per sequence, add globalavgpool before the last layers, or drop 'seq' from the lstm at line 1"
    )


# ---------------------------------------------------------------- A708 a padding mask that ends unused


@pytest.mark.parametrize(
    ("spec", "at", "why"),
    [
        (
            "input seq -> embedding 1000 64 mask_zero -> conv1d 32 3 same relu -> lstm 32",
            "conv1d_1",
            "Keras cannot mask a conv1d, so it and the layers after it read the padded steps as data",
        ),
        (
            "input 50 -> embedding 1000 64 mask_zero -> lstm 8 seq -> flatten -> dense 2",
            "flatten_1",
            "Keras cannot mask a flatten, so it and the layers after it read the padded steps as data",
        ),
        (
            "input seq -> embedding 1000 64 mask_zero -> globalmaxpool -> dense 2",
            "globalmaxpool_1",
            "Keras cannot mask a globalmaxpool, so it and the layers after it read the padded steps as data",
        ),
        (
            "input 1 -> embedding 1000 8 mask_zero -> ( identity | take 0 -> reshape 1x8 ) -> add -> lstm 4",
            "add_1",
            "Keras keeps a merge's mask only when every branch has one, so the layers after add_1 read the padded "
            "steps as data",
        ),
    ],
)
def test_a_padding_mask_that_ends_before_use_is_a_warning(spec: str, at: str, why: str) -> None:
    warning = only(spec, "A708")
    assert warning.message == f"the padding mask of embedding_1 ends at {at}: {why}"
    assert warning.span == archdsl.parse(spec, "t.arch").model().layer(at).span


def test_a_padding_mask_is_warned_about_once() -> None:
    only("input seq -> embedding 100 8 mask_zero -> conv1d 8 1 -> maxpool -> lstm 4", "A708")


@pytest.mark.parametrize(
    "spec",
    [
        "input seq -> embedding 100 8 mask_zero -> lstm 4 -> dense 2",  # the last real step
        "input seq -> embedding 100 8 mask_zero -> clstoken -> take 0",  # a step taken on purpose
        "input seq -> embedding 100 8 -> conv1d 8 3 -> globalmaxpool",  # no mask to lose
        "input seq -> embedding 100 8 mask_zero -> ( identity | clstoken ) -> concat axis=1 -> lstm 2",  # joined
    ],
)
def test_a_padding_mask_used_up_or_joined_is_quiet(spec: str) -> None:
    assert diagnostics(spec) == []


# ---------------------------------------------------------------- the command line


def run(argv: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *argv], cwd=folder, capture_output=True, text=True, timeout=120
    )


def test_a_warning_on_the_command_line_exits_0_on_stderr_and_leaves_stdout_alone(tmp_path: Path) -> None:
    spec = "input 3x224x224 -> conv2d 32 -> globalavgpool -> dense 10\n"
    (tmp_path / "net.arch").write_text(spec, encoding="utf-8")
    result = run(["generate", "net.arch", "--target", "keras"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "net.arch:1:7: warning: input 3x224x224 reads as 224 channels of 3x224: archdsl puts the channels last [A703]\n"
    )
    assert "help: did you mean 224x224x3? channels come last" in result.stderr
    assert result.stdout == archdsl.generate(archdsl.parse(spec, "net.arch").model(), "keras")


def test_check_json_lists_warnings_and_notes_with_their_severity(tmp_path: Path) -> None:
    (tmp_path / "net.arch").write_text("input seq x 8 -> lstm 64 seq -> batchnorm momentum=0.1\n", encoding="utf-8")
    result = run(["check", "net.arch", "--json"], tmp_path)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [(w["code"], w["severity"]) for w in data["warnings"]] == [("A706", "warning"), ("A707", "note")]
    assert "warning: batchnorm momentum=0.1" in result.stderr and "note: the output seq x 64" in result.stderr
    assert result.stderr.rstrip().endswith("1 warning, 1 note found")
