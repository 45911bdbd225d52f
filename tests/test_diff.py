"""`archdsl diff`: both generated files aligned by layer, with notes drawn from the model."""

from __future__ import annotations

import html.parser
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.cli.diff_formats import render_diff
from archdsl.tools.diff import SHOWN_ABOVE, build_diff, unified

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch"))


def view_of(text: str):
    return build_diff(archdsl.parse(text).model())


def test_one_row_per_layer_plus_the_input():
    view = build_diff(archdsl.load(ROOT / "examples" / "card_cnn.arch").model())
    assert [row.name for row in view.rows] == ["input", "conv2d_1", "maxpool_1", "flatten_1", "dense_1"]
    conv = view.rows[1]
    assert conv.keras == ('x = layers.Conv2D(32, 3, name="conv2d_1")(inputs)',)
    assert conv.torch[0] == "self.conv2d_1 = nn.Conv2d(1, 32, kernel_size=3)"
    assert conv.torch[-1] == "x = self.conv2d_1(x)  # (N, 32, 62, 62)"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_nothing_is_hidden(path):
    """Every line of both generated files is in a block, a layer or call row, or in the rest of the file."""
    program = archdsl.load(path)
    model = program.models[0]
    view = build_diff(model)
    assert view.keras_source == archdsl.generate(model, "keras") or view.blocks == ()
    assert view.torch_source == archdsl.generate(model, "torch") or view.blocks == ()
    for source, rows, rest in (
        (view.keras_source, [r.keras for r in view.rows] + [b.keras for b in view.blocks], view.keras_only),
        (view.torch_source, [r.torch for r in view.rows] + [b.torch for b in view.blocks], view.torch_only),
    ):
        shown = {line.strip() for row in rows for line in row} | {line.strip() for line in rest}
        for line in source.splitlines():
            assert line.strip() in shown, line


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_rest_of_the_file_marks_where_rows_were_taken_out(path):
    """`return x` never seems to follow `super().__init__()`: the frame stays, a comment marks each gap."""
    view = build_diff(archdsl.load(path).models[0])
    torch_rest = [line.strip() for line in view.torch_only]
    forward = next(i for i, line in enumerate(torch_rest) if line.startswith("def forward("))
    assert torch_rest[forward + 1] == SHOWN_ABOVE
    assert torch_rest.index("super().__init__()") + 1 == torch_rest.index(SHOWN_ABOVE)
    keras_rest = [line.strip() for line in view.keras_only]
    assert keras_rest[keras_rest.index("def build_model() -> keras.Model:") + 1] == SHOWN_ABOVE
    for rest in (view.torch_only, view.keras_only):
        assert all(not (a.strip() == b.strip() == SHOWN_ABOVE) for a, b in zip(rest, rest[1:], strict=False)), (
            "one mark per gap"
        )


def test_notes_speak_about_this_model():
    cnn = view_of("input 64x64x1 -> conv2d 32 -> maxpool -> dense 10")
    rnn = view_of("input seq x 8 -> lstm 64 -> dense 1")
    cnn_text, rnn_text = " ".join(cnn.notes), " ".join(rnn.notes)
    assert "(N, 1, 64, 64), channels first" in cnn_text
    assert "x.permute(0, 3, 1, 2)" in cnn_text
    assert "flatten_1" in cnn_text and "(C, H, W)" in cnn_text
    assert "dense_1 reads 30752 features" in cnn_text
    assert "LSTM" not in cnn_text and "BatchNorm" not in cnn_text
    assert "steps first" in rnn_text
    assert "Parameters (lstm_1): PyTorch's nn.LSTM keeps two bias vectors" in rnn_text
    assert "picks the last one by hand" in rnn_text
    assert "permute" not in rnn_text and "Flatten" not in rnn_text


def test_notes_cover_batchnorm_padding_and_transposed_convolutions():
    notes = " ".join(
        view_of(
            "input 8x8x3 -> conv2d 4 3x3 same -> conv2d 4 3x3 stride=2 same -> batchnorm"
            " -> conv2dtranspose 2 3x3 stride=2 same -> leakyrelu"
        ).notes
    )
    assert "`eps=0.001, momentum=0.01` to match Keras' default momentum and default epsilon" in notes
    assert "PyTorch keeps them as buffers" in notes
    assert "Padding (conv2d_1 `padding=1`): Keras' padding='same' is an explicit padding=" in notes
    assert "Padding (conv2d_2 `(0, 1, 0, 1)`): TensorFlow puts the extra row" in notes
    assert "Transposed convolutions (conv2dtranspose_1)" in notes
    assert "LeakyReLU (leakyrelu_1): the slope is written out in both (`negative_slope=0.3`" in notes


def test_the_batchnorm_note_quotes_the_values_written():
    """Regression: the note once said eps=0.001 and momentum=0.01 beside `eps=1e-05, momentum=0.1`."""
    view = view_of("input 8x8x3 -> conv2d 4 -> batchnorm momentum=0.9 epsilon=0.00001 -> dense 2")
    row = next(row for row in view.rows if row.name == "batchnorm_1")
    assert row.torch[0] == "self.batchnorm_1 = nn.BatchNorm2d(4, eps=1e-05, momentum=0.1)"
    assert row.keras == ('x = layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name="batchnorm_1")(x)',)
    (note,) = [note for note in view.notes if note.startswith("BatchNorm")]
    assert "`eps=1e-05, momentum=0.1` to match Keras' `momentum=0.9` and `epsilon=1e-05`" in note
    assert "0.001" not in note and "0.01" not in note and "0.99" not in note


def test_sequence_layout_changes_are_explained():
    notes = " ".join(view_of("input 20x3 -> conv1d 8 3 -> lstm 4").notes)
    assert "x.transpose(1, 2)" in notes
    assert "transposes where one meets the other" in notes


def test_unified_is_a_real_unified_diff():
    view = view_of("input 8 -> dense 4 relu")
    text = unified(view)
    assert text.startswith("--- Model_keras.py\n+++ Model_torch.py\n@@ ")
    assert "-import keras\n" in text and "+import torch\n" in text


def test_side_by_side_fits_the_width_and_wraps_long_lines():
    view = build_diff(archdsl.load(ROOT / "examples" / "inception.arch").model())
    text = render_diff(view, "side-by-side", color=False, width=100)
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "…" not in text  # rich folds long lines; an ellipsis would mean it cut one
    wide = render_diff(view, "side-by-side", color=False, width=400)
    for row in view.rows:
        assert row.name in wide
        for line in row.keras + row.torch:
            assert line in wide


def test_markdown_table_escapes_code():
    text = render_diff(view_of("input 4x4x2 -> (conv2d 2 same | identity) -> add"), "markdown")
    lines = text.splitlines()
    assert lines[2] == "| Layer | Keras | PyTorch |"
    assert any(line.startswith("| **add_1**") for line in lines)
    assert "### Differences to know" in text


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.external.append(value)


def test_html_is_one_self_contained_highlighted_page():
    text = render_diff(build_diff(archdsl.load(ROOT / "examples" / "resnet.arch").model()), "html")
    parser = _Collector()
    parser.feed(text)
    assert parser.external == []  # no stylesheet, script or font to fetch
    assert "style" in parser.tags and "table" in parser.tags
    assert 'class="highlight"' in text  # Pygments
    assert "<script" not in text


def test_cli_diff_formats_and_output_file(tmp_path):
    for fmt in ("side-by-side", "unified", "markdown", "html"):
        result = subprocess.run(
            [sys.executable, "-m", "archdsl", "diff", "examples/card_rnn.arch", "--format", fmt],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "lstm_1" in result.stdout
    out = tmp_path / "diff.html"
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "diff", "examples/card_cnn.arch", "-f", "html", "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0 and out.read_text().startswith("<!DOCTYPE html>")
    bad = subprocess.run(
        [sys.executable, "-m", "archdsl", "diff", "examples/multi_model.arch"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "SmallNet, Tagger" in bad.stderr


def test_diff_never_imports_a_framework():
    code = (
        "import sys, archdsl.cli as c; c.main(['diff', 'examples/card_cnn.arch']); "
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'numpy') if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stderr.strip().endswith("[]"), result.stderr


# ---------------------------------------------------------------- code written with blocks

RESNET50 = ROOT / "tests" / "data" / "resnet50.arch"


def test_each_block_is_shown_once_then_the_models_calls():
    model = archdsl.load(RESNET50).model()
    view = build_diff(model)
    assert [block.block for block in view.blocks] == ["projection", "bottleneck"]
    bottleneck = view.blocks[1]
    assert bottleneck.keras[0].startswith("def bottleneck(") and bottleneck.keras[-1] == "    return x"
    assert bottleneck.torch[0] == "class Bottleneck(nn.Module):" and bottleneck.torch[-1] == "        return x"
    rows = {row.name: row for row in view.rows}
    assert "conv2d_2" not in rows, "a block's layers are in its block, not in the model's rows"
    run = rows["bottleneck_3"]
    assert (run.type, run.shape) == ("bottleneck * 5", "(None, 14, 14, 1024)")
    assert run.keras == ("for i in range(5):", 'x = bottleneck(x, 256, name=f"bottleneck_3.{i}")')
    assert run.torch == (
        "self.bottleneck_3 = nn.Sequential(*(Bottleneck(256, 1024) for _ in range(5)))",
        "# forward:",
        "x = self.bottleneck_3(x)  # (N, 1024, 14, 14)",
    )
    assert [row.name for row in view.rows][:2] == ["input", "zeropad_1"]


def test_the_blocks_note_quotes_a_name_the_code_has():
    view = build_diff(archdsl.load(ROOT / "examples" / "resnet.arch").model())
    keras_note, torch_note = (note for note in view.notes if note.startswith("Blocks: "))
    layer = keras_note.split("layers' names (", 1)[1].split(")", 1)[0]
    assert f'"{{name}}.{layer.rsplit(".", 1)[1]}"' in view.keras_source.replace('f"{name}', '"{name}')
    assert "Python loop" in keras_note and "nn.Sequential" in torch_note  # ResNet-20 repeats `basic`
    assert f"self.{layer.split('.')[0]} = " in view.torch_source


def test_flat_diff_and_shared_calls_stay_layer_by_layer():
    model = archdsl.load(RESNET50).model()
    flat = build_diff(model, flat=True)
    assert flat.blocks == () and "conv2d_2" in {row.name for row in flat.rows}
    assert flat.torch_source == archdsl.generate(model, "torch", flat=True)
    # A block call applied again (`use`): Keras makes it a model, PyTorch calls its module again.
    siamese = build_diff(archdsl.load(ROOT / "examples" / "siamese.arch").model())
    rows = {row.name: row for row in siamese.rows}
    assert rows["enc"].keras[-1] == "enc = enc_model(left)" and rows["enc_right"].keras == ("x = enc_model(right)",)
    assert rows["enc_right"].torch == ("x = self.enc(right)  # (N, 64)",)


def test_blocks_collapse_in_html_and_markdown():
    view = build_diff(archdsl.load(ROOT / "examples" / "resnet.arch").model())
    page = render_diff(view, "html")
    assert page.count('<details class="block" open>') == len(view.blocks) == 2
    assert page.index("<summary>basic</summary>") < page.index(
        "<h1>ResNet20: Keras and PyTorch, layer by layer and call"
    )
    text = render_diff(view, "markdown")
    assert text.count("<details><summary><b>") == 2 and "```python\ndef basic(" in text


def test_cli_diff_flat(tmp_path):
    def run(*extra: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "archdsl", "diff", "examples/resnet.arch", "-f", "markdown", *extra],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "each block once" in run() and "class Basic(nn.Module):" in run()
    flat = run("--flat")
    assert "each block once" not in flat and "conv2d_5" in flat
