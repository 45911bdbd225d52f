"""`archdsl check --depth N`: the check table in the structure of the spec, as torchinfo's `depth`.

A block call at depth N (0: a call the model makes itself) is one row with its subtotals; a
call above that depth is a row whose layers and calls follow it, indented, and hold its counts. The CLI runs as a
real process; the subtotals are held to the totals they must add up to, and to torchinfo's
count of each module of the generated PyTorch code (one module per block call).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cli import MODEL_KEYS, run

import archdsl
from archdsl.ir.structure import calls
from archdsl.tools.summary import rows

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").rglob("*.arch")) + [REPO / "tests" / "data" / "resnet50.arch"]
RESNET = REPO / "examples" / "resnet.arch"
RESNET50 = REPO / "examples" / "applications" / "resnet50.arch"  # a `stage` block around projection and bottleneck
SIAMESE = REPO / "examples" / "siamese.arch"  # `use enc`: the second call applies the first one's weights
CARD_CNN = REPO / "examples" / "card_cnn.arch"  # no blocks

ROW = re.compile(r"^  (?P<indent> *)(?P<name>\S+)\s+(?P<type>\S+)\s+(?P<shape>\(.*?\))(?P<rest>.*)$")


def _rows(stdout: str) -> list[dict[str, str]]:
    """The table's rows as printed: indentation, name, type, shape and the cells after it."""
    found = []
    for line in stdout.splitlines():
        match = ROW.match(line)
        if match:
            found.append({**match.groupdict(), "rest": match["rest"].split()})
    return found


def _under_the_table(stdout: str) -> str:
    """From the Total line on: the footer, totals and notes, which --depth must leave as they are."""
    return stdout[stdout.index("  Total") :]


def _max_depth(model: archdsl.Model) -> int:
    return max((len(layer.scope) for layer in model.layers), default=0)


def _models() -> list[tuple[str, archdsl.Model]]:
    return [(f"{path.stem}-{model.name}", model) for path in EXAMPLES for model in archdsl.load(path).models]


MODELS = _models()


# ---------------------------------------------------------------- through the CLI


def test_resnet_at_depth_0_shows_each_block_call_as_one_row() -> None:
    result = run(["check", str(RESNET), "--depth", "0"], REPO)
    assert result.returncode == 0 and result.stderr == ""
    table = _rows(result.stdout)
    assert [row["name"] for row in table] == [
        "input", "conv2d_1", "batchnorm_1", "relu_1", "basic_1", "basic_2", "basic_3", "down_1",
        "basic_4", "basic_5", "down_2", "basic_6", "basic_7", "globalavgpool_1", "dense_1",
    ]  # fmt: skip
    assert all(row["indent"] == "" for row in table)
    by_name = {row["name"]: row for row in table}
    # basic 16: two 3x3 convolutions of 16 filters (2 x 2,320) and two BatchNorms (2 x 64 in Keras,
    # 2 x 32 in PyTorch, which keeps the moving statistics as buffers)
    assert by_name["basic_1"]["type"] == "basic"
    assert by_name["basic_1"]["shape"] == "(None, 32, 32, 16)"
    assert by_name["basic_1"]["rest"] == ["4,768", "4,704"]
    # down 32: 3x3 stride 2 (4,640), 3x3 (9,248), the 1x1 projection (544), three BatchNorms
    assert by_name["down_1"]["rest"] == [f"{4640 + 9248 + 544 + 3 * 128:,}", f"{4640 + 9248 + 544 + 3 * 64:,}"]
    assert by_name["down_1"]["shape"] == "(None, 16, 16, 32)"  # its last layer's
    # The totals, the lines under them and the notes are the model's, as without --depth.
    plain = run(["check", str(RESNET)], REPO)
    assert _under_the_table(result.stdout) == _under_the_table(plain.stdout)
    assert "274,826" in _under_the_table(result.stdout)


def test_nested_stages_at_depth_0_1_and_every_layer() -> None:
    model = archdsl.load(RESNET50).model()
    depth0 = _rows(run(["check", str(RESNET50), "--depth", "0"], REPO).stdout)
    stages = [row for row in depth0 if row["type"] == "stage"]
    assert [row["name"] for row in stages] == ["conv2", "conv3", "conv4", "conv5"]
    assert not any(row["type"] in ("projection", "bottleneck") for row in depth0)
    # keras.applications.ResNet50's conv2 stage: the projection block and two identity blocks
    conv2 = next(call for call in calls(model) if call.path == ("conv2",))
    assert stages[0]["rest"] == [f"{conv2.params.keras:,}", f"{conv2.params.torch:,}"]
    assert stages[0]["shape"] == "(None, 56, 56, 256)"

    depth1 = _rows(run(["check", str(RESNET50), "--depth", "1"], REPO).stdout)
    names = [(row["indent"], row["name"], row["type"]) for row in depth1]
    start = names.index(("", "conv2", "stage"))
    assert names[start : start + 4] == [
        ("", "conv2", "stage"),
        ("  ", "projection_1", "projection"),
        ("  ", "bottleneck_1", "bottleneck"),
        ("  ", "bottleneck_2", "bottleneck"),
    ]
    # An expanded call leaves its counts to the rows under it, as torchinfo does: nothing is counted twice.
    assert depth1[start]["rest"] == []
    inner = [depth1[start + i]["rest"] for i in (1, 2, 3)]
    assert sum(int(keras.replace(",", "")) for keras, _ in inner) == conv2.params.keras

    deepest = _max_depth(model)
    full = _rows(run(["check", str(RESNET50), "--depth", str(deepest)], REPO).stdout)
    layers = [row["name"] for row in full if row["type"] not in {call.block for call in calls(model)}]
    assert layers == ["input", *(layer.name for layer in model.layers)]  # every layer, in the model's order
    batchnorm = next(row for row in full if row["name"] == "batchnorm_2")  # in bn_2, in projection_1, in conv2
    assert batchnorm["indent"] == " " * 2 * 3
    assert full == _rows(run(["check", str(RESNET50), "--depth", str(deepest + 5)], REPO).stdout)


def test_a_model_without_blocks_is_the_same_at_every_depth() -> None:
    plain = run(["check", str(CARD_CNN)], REPO)
    assert plain.returncode == 0
    for depth in ("0", "3"):
        assert run(["check", str(CARD_CNN), "--depth", depth], REPO).stdout == plain.stdout
    as_json = run(["check", str(CARD_CNN), "--json"], REPO).stdout
    assert run(["check", str(CARD_CNN), "--json", "--depth", "0"], REPO).stdout == as_json
    assert list(json.loads(as_json)["models"][0]) == MODEL_KEYS  # no "blocks" key for a model without calls


def test_without_depth_the_table_is_a_row_per_layer() -> None:
    """The default stays Keras' list of the layers of the flat model, one row each, none indented."""
    model = archdsl.load(RESNET).model()
    table = _rows(run(["check", str(RESNET)], REPO).stdout)
    assert [row["name"] for row in table] == ["input", *(layer.name for layer in model.layers)]
    assert all(row["indent"] == "" for row in table)


def test_a_call_that_applies_another_ones_weights_counts_none() -> None:
    result = run(["check", str(SIAMESE), "--depth", "0"], REPO)
    by_name = {row["name"]: row for row in _rows(result.stdout)}
    # conv2d 32 3x3 on one channel (320), conv2d 64 3x3 (18,496), dense 64 (4,160)
    assert by_name["enc"]["rest"] == ["22,976", "22,976"]
    assert by_name["enc_right"]["rest"][:2] == ["0", "0"]
    assert " ".join(by_name["enc_right"]["rest"][2:]) == "shares the weights of enc"
    assert "Total                                               23,041           23,041" in result.stdout
    # Expanded, the call says it, and each of its layers says whose weights it applies.
    expanded = run(["check", str(SIAMESE), "--depth", "1"], REPO).stdout
    assert re.search(r"^  enc_right\s+encoder\s+\(None, 64\)\s+shares the weights of enc$", expanded, re.M)
    assert re.search(r"^    conv2d_3\s+conv2d\s+\(None, 103, 103, 32\)\s+0\s+0\s+shares the weights of conv2d_1$",
                     expanded, re.M)  # fmt: skip


def test_depth_combines_with_macs_and_the_torch_layout() -> None:
    model = archdsl.load(RESNET50).model()
    result = run(["check", str(RESNET50), "--depth", "0", "--macs", "--layout", "torch"], REPO)
    assert result.returncode == 0, result.stderr
    conv3 = next(call for call in calls(model) if call.path == ("conv3",))
    row = next(row for row in _rows(result.stdout) if row["name"] == "conv3")
    assert row["shape"] == "(N, 512, 28, 28)"
    assert row["rest"] == [f"{conv3.params.keras:,}", f"{conv3.params.torch:,}", f"{conv3.macs():,}"]
    assert f"{model.macs():,} multiply-adds per sample" in result.stdout


def test_depth_on_an_80_column_terminal_keeps_every_figure_whole() -> None:
    """Piped with COLUMNS=80, as a terminal of that width: the notes become footnotes, no line is longer."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "check", str(SIAMESE), "--depth", "0"],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = result.stdout[: result.stdout.index("  Total")]
    assert all(len(line) <= 80 for line in table.splitlines())
    assert re.search(r"^  enc_right\s+encoder\s+\(None, 64\)\s+0\s+0\s+\[1\]$", result.stdout, re.M)
    assert "[1] shares the weights of enc" in result.stdout


@pytest.mark.parametrize("value", ["-1", "1.5", "deep", ""])
def test_a_depth_that_is_not_a_whole_number_from_0_is_a_usage_error(value: str) -> None:
    result = run(["check", str(RESNET), "--depth", value], REPO)
    assert result.returncode == 2 and result.stdout == ""
    expected = "must be 0 or more: '-1'" if value == "-1" else f"not a whole number: {value!r}"
    assert f"archdsl check: error: argument --depth: {expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_lists_the_block_calls_with_their_subtotals() -> None:
    model = archdsl.load(RESNET50).model()
    every = json.loads(run(["check", str(RESNET50), "--json"], REPO).stdout)["models"][0]
    assert list(every) == [*MODEL_KEYS, "blocks"]  # the keys of before keep their places
    assert [layer["name"] for layer in every["layers"]] == [layer.name for layer in model.layers]
    blocks = every["blocks"]
    assert len(blocks) == len(calls(model)) == 4 + 16 + 53  # stages, the blocks in them, a bn call per BatchNorm
    conv2 = blocks[1]
    assert {key: conv2[key] for key in ("name", "block", "path", "depth", "output", "output_shape")} == {
        "name": "conv2",
        "block": "stage",
        "path": ["conv2"],
        "depth": 0,
        "output": "relu_9",
        "output_shape": [56, 56, 256],
    }
    assert (conv2["line"], conv2["column"]) == (43, 6)  # where `stage 64 3 s=1 as conv2` is written
    assert conv2["params"]["keras"] == sum(
        layer["params"]["keras"] for layer in every["layers"] if layer["name"] in conv2["layers"]
    )
    assert conv2["macs"] == sum(layer["macs"] for layer in every["layers"] if layer["name"] in conv2["layers"])
    inner = blocks[2]
    assert (inner["name"], inner["path"], inner["depth"]) == ("projection_1", ["conv2", "projection_1"], 1)
    shallow = json.loads(run(["check", str(RESNET50), "--json", "--depth", "0"], REPO).stdout)["models"][0]
    assert [block["name"] for block in shallow["blocks"]] == ["bn_1", "conv2", "conv3", "conv4", "conv5"]
    assert (
        sum(block["params"]["torch"] for block in shallow["blocks"])
        + sum(
            layer["params"]["torch"]
            for layer in shallow["layers"]
            if not any(layer["name"] in b["layers"] for b in blocks)
        )
        == model.params.torch
    )
    siamese = json.loads(run(["check", str(SIAMESE), "--json"], REPO).stdout)["models"][0]["blocks"]
    assert [(block["name"], block.get("shares")) for block in siamese] == [("enc", None), ("enc_right", ["enc"])]


# ---------------------------------------------------------------- the rows, for every example


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[name for name, _ in MODELS])
def test_subtotals_add_up_to_the_model_totals_at_every_depth(name: str, model: archdsl.Model) -> None:
    everything = rows(model, macs=True)
    for depth in range(_max_depth(model) + 1):
        table = rows(model, macs=True, depth=depth)
        counted = [row for row in table if not row.expanded]
        assert sum(row.keras for row in counted) == model.params.keras, depth
        assert sum(row.torch for row in counted) == model.params.torch, depth
        assert sum(row.macs for row in counted) == model.macs(), depth
        assert all(row.depth <= depth for row in table)
        # Each shown call's layers have no rows; every other layer has its own, in the model's order.
        hidden = {layer.name for call in calls(model) if call.depth == depth for layer in call.layers}
        shown_layers = [row.name for row in table if not row.block]
        assert shown_layers == [row.name for row in everything if row.name not in hidden]
    # At the deepest level, the rows of layers are the rows of the table without --depth.
    deepest = [row for row in rows(model, macs=True, depth=_max_depth(model)) if not row.block]
    assert [(row.name, row.keras, row.torch, row.macs, row.note) for row in deepest] == [
        (row.name, row.keras, row.torch, row.macs, row.note) for row in everything
    ]


def test_a_row_after_an_expanded_call_is_inside_it_or_one_step_deeper() -> None:
    """Indentation reads as a tree: a row is at most one step deeper than the row before it."""
    for _, model in MODELS:
        for depth in range(_max_depth(model) + 1):
            table = rows(model, depth=depth)
            for before, row in zip(table, table[1:], strict=False):
                assert row.depth <= before.depth + (1 if before.expanded else 0), (model.name, depth, row.name)


# ---------------------------------------------------------------- against torchinfo and Keras


@pytest.mark.frameworks
@pytest.mark.parametrize("path", [RESNET, RESNET50, SIAMESE], ids=lambda path: path.stem)
def test_subtotals_are_torchinfos_count_of_each_block_module(path: Path) -> None:
    """The structured PyTorch code has one module per block call (a Run's calls inside an
    nn.Sequential): torchinfo's parameter count and multiply-adds of each, a module applied
    again counted once ("(recursive)"), are the subtotals of the calls, in the same order."""
    import torch
    import torchinfo

    model = archdsl.load(path).model()
    net = archdsl.build(model, "torch")
    batch = [torch.randn(1, shape[-1], *shape[:-1]) for shape in (given.shape for given in model.inputs)]
    statistics = torchinfo.summary(net, input_data=batch, depth=_max_depth(model) + 2, verbose=0)
    generated = type(net).__module__

    blocks = [info for info in statistics.summary_list if info.depth > 0 and type(info.module).__module__ == generated]
    assert [(info.class_name.lower(), 0 if info.is_recursive else info.num_params) for info in blocks] == [
        (call.block.replace("_", ""), call.params.torch) for call in calls(model)
    ]
    # torchinfo's multiply-adds of a module shown collapsed: those of the leaf modules under it (`children`)
    macs = [sum(child.macs for child in info.children if child.is_leaf_layer) for info in blocks]
    assert macs == [call.macs() for call in calls(model)]
    # The top-level calls are the model's children (or inside the nn.Sequential of a `* N`).
    top = [row for row in rows(model, depth=0) if row.block]
    assert [row.torch for row in top] == [call.params.torch for call in calls(model) if call.depth == 0]


@pytest.mark.frameworks
@pytest.mark.parametrize("path", [RESNET, RESNET50], ids=lambda path: path.stem)
def test_keras_subtotals_are_what_keras_counts(path: Path) -> None:
    """The structured Keras model names each layer by the path of its call (`basic_1.0.conv2d_1`,
    the first call of a `* N`): count_params() summed per top-level call, as Keras names them, is
    the subtotal of each depth-0 row."""
    model = archdsl.load(path).model()
    net = archdsl.build(model, "keras")
    by_call: dict[str, int] = {}
    for layer in net.layers:
        parts = layer.name.split(".")
        if len(parts) > 1:
            call = ".".join(parts[:2] if parts[1].isdigit() else parts[:1])
            by_call[call] = by_call.get(call, 0) + layer.count_params()
    assert list(by_call.values()) == [row.keras for row in rows(model, depth=0) if row.block]
