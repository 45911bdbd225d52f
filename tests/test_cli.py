"""The `archdsl` command, run as a real process on real files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.layers import LAYERS

CARD_CNN = "input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n"
TWO_MODELS = """block conv_bn(c, k=3) = conv2d c k same -> batchnorm -> relu

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
TIMEOUT = 120


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env.pop("COLUMNS", None)  # piped, a table is then as wide as its rows (pytest-xdist's workers may set it)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run(args: list[str], cwd: Path, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", *args],
        cwd=cwd,
        input=data,
        capture_output=True,
        timeout=TIMEOUT,
        env=_env(),
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")
    )


def console_script() -> str | None:
    beside = Path(sys.executable).parent / "archdsl"
    if beside.exists():
        return str(beside)
    return shutil.which("archdsl")


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def spec(tmp_path: Path):
    def write(text: str | bytes, name: str = "net.arch") -> Path:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    return write


# ---------------------------------------------------------------- check: the table


def test_check_table(tmp_path: Path, spec) -> None:
    spec(CARD_CNN, "card_cnn.arch")
    result = run(["check", "card_cnn.arch"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "Model  (card_cnn.arch)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for name in ("input", "conv2d_1", "maxpool_1", "flatten_1", "dense_1"):
        assert name in rows, out
    assert "(None, 64, 64, 1)" in out
    assert "(None, 62, 62, 32)" in out
    assert "(None, 31, 31, 32)" in out
    assert "(None, 30752)" in out
    assert "(None, 10)" in out
    assert rows["conv2d_1"][-2:] == ["320", "320"]
    assert "307,530" in rows["dense_1"]
    assert rows["Total"] == ["Total", "307,850", "307,850"]
    assert "inserted before dense_1: dense takes a vector" in flat(out)
    assert "\x1b[" not in out


def test_check_table_with_symbolic_dims_and_notes(tmp_path: Path, spec) -> None:
    spec("input seq x 8 -> lstm 64 -> dense 1\n")
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 0
    assert "(None, seq, 8)" in result.stdout
    assert "(None, 64)" in result.stdout
    total = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("Total")]
    assert total == [["Total", "18,753", "19,009"]]
    assert "two bias vectors" in flat(result.stdout)


def test_check_says_why_normalize_counts_differ_only_when_they_do(tmp_path: Path, spec) -> None:
    spec("input 8x8x3 -> normalize -> conv2d 4\n")
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 0
    assert [line.split()[1:] for line in result.stdout.splitlines() if "normalize_1" in line] == [
        ["normalize", "(None,", "8,", "8,", "3)", "7", "0"]
    ]
    assert "Normalization's mean, variance and sample count" in flat(result.stdout)
    spec("input 8x8x3 -> normalize mean=0.5 variance=0.25 -> conv2d 4\n")
    assert "Normalization's" not in flat(run(["check", "net.arch"], tmp_path).stdout)


def test_check_every_model_of_a_file(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SmallNet  (net.arch)" in result.stdout
    assert "Tagger  (net.arch)" in result.stdout
    totals = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("Total")]
    assert totals == [["Total", "62,570", "62,314"], ["Total", "31,137", "31,521"]]


def _totals(out: str) -> dict[str, str]:
    """The lines under a table that say what the frameworks' summaries say, by label (`Keras`, `PyTorch`, `MACs`)."""
    found = {}
    for line in out.splitlines():
        label, _, text = line.strip().partition(": ")
        if label in ("Keras", "PyTorch", "MACs") and line.startswith("  "):
            found[label] = text.strip()
    return found


def test_check_says_what_keras_and_torchinfo_say_under_their_tables(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--model", "SmallNet"], tmp_path)
    assert result.returncode == 0, result.stderr
    # Three batchnorms over 32, 32 and 64 channels: Keras' 2 x 128 moving statistics are non-trainable,
    # PyTorch's are buffers, with one num_batches_tracked counter each. Keras' summary writes
    # 62,570 x 4 bytes / 1024 as "244.41 KB"; torchinfo's "Params size (MB)" is 62,314 x 4 / 10^6.
    assert _totals(result.stdout) == {
        "Keras": "62,570 params (244.41 KiB): 62,314 trainable, 256 non-trainable",
        "PyTorch": "62,314 parameters (0.25 MB), 259 values in buffers",
    }
    assert "MACs" not in result.stdout


def test_check_macs_adds_a_column_and_a_total(tmp_path: Path, spec) -> None:
    spec(CARD_CNN)
    result = run(["check", "net.arch", "--macs"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    # torchinfo's rule: 320 weights and biases at each of the 62x62 output positions; a dense layer's once
    assert rows["conv2d_1"][-1] == f"{320 * 62 * 62:,}"
    assert rows["maxpool_1"][-1] == "0"
    assert rows["dense_1"][-1] == "307,530"
    assert rows["Total"] == ["Total", "307,850", "307,850", f"{320 * 62 * 62 + 307530:,}"]
    assert "MACs" in result.stdout.splitlines()[2]
    assert _totals(result.stdout)["MACs"] == "1,537,610 multiply-adds per sample, as torchinfo counts them"


def test_check_macs_with_a_symbolic_size_says_the_length_counted(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--model", "Tagger", "--macs"], tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["lstm_1"][-1] == f"{16 * 18944:,}"  # PyTorch's 18,944 parameters at each of 16 steps
    assert _totals(result.stdout)["MACs"] == (
        f"{16 * 18944 + 16 * 12544 + 33:,} multiply-adds per sample at seq = 16, as torchinfo counts them"
    )


def test_check_macs_on_a_narrow_terminal_keeps_every_figure_whole(tmp_path: Path, spec) -> None:
    spec(CARD_CNN)
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "check", "net.arch", "--macs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**_env(), "COLUMNS": "50"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "    MACs            1,230,080" in lines  # one entry per layer, its figures labelled
    assert "    MACs            1,537,610" in lines
    assert _totals(result.stdout)["MACs"].startswith("1,537,610 multiply-adds")


def test_check_layout_torch_shows_shapes_as_pytorch_holds_them(tmp_path: Path, spec) -> None:
    spec(CARD_CNN)
    result = run(["check", "net.arch", "--layout", "torch"], tmp_path)
    assert result.returncode == 0, result.stderr
    shapes = {
        line.split()[0]: re.search(r"\(N[^)]*\)", line).group(0) for line in result.stdout.splitlines() if "(N" in line
    }
    assert shapes == {
        "input": "(N, 1, 64, 64)",
        "conv2d_1": "(N, 32, 62, 62)",
        "maxpool_1": "(N, 32, 31, 31)",
        "flatten_1": "(N, 30752)",
        "dense_1": "(N, 10)",
    }
    assert "PyTorch shape" in result.stdout
    assert "flattened in PyTorch's (C, H, W) order" in flat(result.stdout)


def test_check_layout_torch_shows_sequences_as_the_generated_code_holds_them(tmp_path: Path, spec) -> None:
    spec("input 20x3 -> conv1d 4 3 -> lstm 5 seq -> dense 2\n")
    result = run(["check", "net.arch", "--layout", "torch"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "(N, 3, 20)" in rows["input"]  # Conv1d reads (N, C, T)
    assert "(N, 4, 18)" in rows["conv1d_1"]
    assert "(N, 18, 5)" in rows["lstm_1"]  # an RNN with batch_first, (N, T, C)
    assert "(N, 18, 2)" in rows["dense_1"]
    source = archdsl.generate(archdsl.parse("input 20x3 -> conv1d 4 3 -> lstm 5 seq -> dense 2").model(), "torch")
    for shape in ("(N, 3, 20)", "(N, 4, 18)", "(N, 18, 5)", "(N, 18, 2)"):
        assert shape in source, shape  # the table and the code's comments say the same
    assert "the code transposes where one meets the other" in flat(out)


def test_check_json_layout_torch_adds_pytorch_shapes(tmp_path: Path, spec) -> None:
    spec(CARD_CNN)
    result = run(["check", "net.arch", "--json", "--layout", "torch"], tmp_path)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    assert list(model) == [*MODEL_KEYS, "torch_input_shape", "torch_output_shapes"]
    assert model["input_shape"] == [64, 64, 1]  # Keras' order stays where it was
    assert model["torch_input_shape"] == [1, 64, 64]
    assert model["torch_output_shapes"] == {
        "conv2d_1": [32, 62, 62],
        "maxpool_1": [32, 31, 31],
        "flatten_1": [30752],
        "dense_1": [10],
    }


def test_check_layout_torch_reports_what_pytorch_cannot_express(tmp_path: Path, spec) -> None:
    spec("input seq x 3 -> conv1d 4 3 same stride=2 -> globalavgpool\n")
    assert run(["check", "net.arch"], tmp_path).returncode == 0
    result = run(["check", "net.arch", "--layout", "torch"], tmp_path)
    assert result.returncode == 1
    assert "net.arch:1:18: error: torch: conv1d with 'same' padding and stride 2" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_check_one_model(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--model", "Tagger"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Tagger  (net.arch)" in result.stdout
    assert "SmallNet" not in result.stdout
    assert "lstm_2" in result.stdout and "conv2d_1" not in result.stdout


def test_unknown_model_is_a_usage_error_with_a_suggestion(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--model", "Taggr"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("net.arch:1:1: error: no model named 'Taggr' — did you mean 'Tagger'? [A403]")
    assert "help: the file has: SmallNet, Tagger" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_in_json(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--model", "Nope", "--json"], tmp_path)
    assert result.returncode == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert error["code"] == "A403" and error["message"] == "no model named 'Nope'"


# ---------------------------------------------------------------- check --json

MODEL_KEYS = [
    "name",
    "input_shape",
    "output_shape",
    "inputs",
    "outputs",
    "params",
    "param_bytes",
    "macs",
    "macs_at",
    "layers",
]
LAYER_KEYS = ["name", "type", "output_shape", "params", "macs", "line", "column"]


def _params(keras: int, torch: int | None = None, non_trainable: int = 0, buffers: int = 0) -> dict[str, int]:
    torch = keras if torch is None else torch
    return {"keras": keras, "torch": torch, "keras_trainable": keras - non_trainable,
            "keras_non_trainable": non_trainable, "torch_buffers": buffers}  # fmt: skip


def test_check_json_has_exactly_the_documented_shape(tmp_path: Path, spec) -> None:
    spec(CARD_CNN)
    result = run(["check", "net.arch", "--json"], tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert data == {
        "models": [
            {
                "name": "Model",
                "input_shape": [64, 64, 1],
                "output_shape": [10],
                "inputs": [{"name": "input", "shape": [64, 64, 1]}],
                "outputs": [{"name": "dense_1", "shape": [10]}],
                "params": _params(307850),
                "param_bytes": {"keras": 4 * 307850, "torch": 4 * 307850},
                # 320 weights and biases at 62x62 positions, then the dense layer's once
                "macs": 320 * 62 * 62 + 307530,
                "macs_at": {},
                "layers": [
                    {"name": "conv2d_1", "type": "conv2d", "output_shape": [62, 62, 32],
                     "params": _params(320), "macs": 320 * 62 * 62, "line": 1, "column": 18},
                    {"name": "maxpool_1", "type": "maxpool", "output_shape": [31, 31, 32],
                     "params": _params(0), "macs": 0, "line": 1, "column": 31},
                    {"name": "flatten_1", "type": "flatten", "output_shape": [30752],
                     "params": _params(0), "macs": 0, "line": 1, "column": 42},
                    {"name": "dense_1", "type": "dense", "output_shape": [10],
                     "params": _params(307530), "macs": 307530, "line": 1, "column": 42},
                ],
            }
        ]
    }  # fmt: skip
    assert list(data["models"][0]) == MODEL_KEYS
    assert all(list(layer) == LAYER_KEYS for layer in data["models"][0]["layers"])


def test_check_json_symbolic_dims_are_strings(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--json"], tmp_path)
    assert result.returncode == 0
    models = json.loads(result.stdout)["models"]
    assert [m["name"] for m in models] == ["SmallNet", "Tagger"]
    tagger = models[1]
    assert tagger["input_shape"] == ["seq", 8]
    assert [(layer["name"], layer["output_shape"]) for layer in tagger["layers"]] == [
        ("lstm_1", ["seq", 64]),
        ("lstm_2", [32]),
        ("dense_1", [1]),
    ]
    assert tagger["params"] == _params(31137, 31521)
    # 16 steps, the length of the generated code's example batch: LSTMs apply their weights at every one
    assert tagger["macs_at"] == {"seq": 16}
    assert [layer["macs"] for layer in tagger["layers"]] == [16 * 18944, 16 * 12544, 33]
    assert [(layer["line"], layer["column"]) for layer in tagger["layers"]] == [(11, 20), (11, 35), (11, 46)]
    for model in models:
        # "blocks" (tests/test_check_depth.py) only for a model that calls blocks: SmallNet, not Tagger
        assert list(model) == MODEL_KEYS + (["blocks"] if model["name"] == "SmallNet" else [])
        for layer in model["layers"]:
            assert list(layer) == LAYER_KEYS
            assert list(layer["params"]) == [
                "keras",
                "torch",
                "keras_trainable",
                "keras_non_trainable",
                "torch_buffers",
            ]
            assert all(isinstance(d, (int, str)) for d in layer["output_shape"])


def test_check_json_one_model(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    result = run(["check", "net.arch", "--json", "--model", "SmallNet"], tmp_path)
    models = json.loads(result.stdout)["models"]
    assert [m["name"] for m in models] == ["SmallNet"]
    # three batchnorms over 32, 32 and 64 channels: 2 x 128 moving statistics, and 3 counters in PyTorch
    assert models[0]["params"] == _params(62570, 62314, non_trainable=256, buffers=259)


def test_check_json_errors(tmp_path: Path, spec) -> None:
    spec("input 64x64x1 -> conv2d 32 -> lstm 64\n")
    result = run(["check", "net.arch", "--json"], tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "errors": [
            {
                "code": "A301",
                "message": "lstm needs a sequence (steps, features) but got 62x62x32 (an image)",
                "hint": "turn the image into a sequence first, e.g. 'reshape 62x1984', or use conv2d layers",
                "file": "net.arch",
                "line": 1,
                "column": 31,
                "end_line": 1,
                "end_column": 38,
            }
        ]
    }


# ---------------------------------------------------------------- stdin


def test_check_stdin(tmp_path: Path) -> None:
    result = run(["check", "-"], tmp_path, stdin="input seq x 8 -> lstm 64 -> dense 1\n")
    assert result.returncode == 0, result.stderr
    assert "Model  (<stdin>)" in result.stdout
    assert "lstm_1" in result.stdout and "dense_1" in result.stdout


def test_check_stdin_json(tmp_path: Path) -> None:
    result = run(["check", "-", "--json"], tmp_path, stdin=CARD_CNN)
    assert result.returncode == 0
    assert json.loads(result.stdout)["models"][0]["params"] == _params(307850)


def test_check_stdin_error(tmp_path: Path) -> None:
    result = run(["check", "-"], tmp_path, stdin="input 64x64x1 -> conv2d 32 -> lstm 64\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[:3] == [
        "<stdin>:1:31: error: lstm needs a sequence (steps, features) but got 62x62x32 (an image) [A301]",
        "1 | input 64x64x1 -> conv2d 32 -> lstm 64",
        "  |                               ^^^^^^^",
    ]


def test_check_stdin_binary(tmp_path: Path) -> None:
    result = run(["check", "-"], tmp_path, stdin=b"input 10 -> \xff\xfe")
    assert result.returncode == 1
    assert result.stderr.startswith("<stdin>:1:13: error: the file is not valid UTF-8 (byte 0xff) [A104]")


# ---------------------------------------------------------------- errors and exit codes


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("input 64x64x1 -> conv2 32\n", "A201"),
        ("input seq x 8 -> lstm 64 -> lstm 32\n", "A301"),
        ("", "A401"),
        ("# just a comment\n", "A401"),
        ("block b(c) = dense c\n", "A401"),
        ("input 10 -> " + "(" * 500 + "dense 3" + ")" * 500, "A501"),
        ("input 10 -> ( dense 3 | dense 4\n", "A103"),
        (b"input 10 -> \xc3\x28", "A104"),
        (b"input 10\x00 -> dense 3", "A104"),
    ],
    ids=["unknown-layer", "last-step", "empty", "comments", "blocks", "nesting", "unterminated", "utf8", "nul"],
)
def test_bad_specs_exit_1_without_a_traceback(tmp_path: Path, spec, data, code: str) -> None:
    spec(data)
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert re.match(rf"net\.arch:\d+:\d+: error: .* \[{code}\]$", first), first


def test_several_errors_on_stderr(tmp_path: Path, spec) -> None:
    spec("model A {\n  input 64x64x1 -> conv2d 32 -> lstm 64\n}\nmodel B {\n  input 10 -> dense 0\n}\n")
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 1
    heads = [line for line in result.stderr.splitlines() if re.match(r"net\.arch:\d+:\d+: error:", line)]
    assert [h.split(": error:")[0] for h in heads] == ["net.arch:2:33", "net.arch:5:21"]
    assert result.stderr.rstrip().endswith("2 errors found")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    result = run(["check", "nope.arch"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("nope.arch:1:1: error: no such file: 'nope.arch' [A100]")
    result = run(["check", "."], tmp_path)
    assert result.returncode == 1
    assert "is a directory" in result.stderr and "Traceback" not in result.stderr


def test_huge_number_is_a_spec_error(tmp_path: Path, spec) -> None:
    spec("input 10 -> dense " + "9" * 5000 + "\n")
    result = run(["check", "net.arch"], tmp_path)
    assert result.returncode == 1, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["check"],
        ["check", "net.arch", "--no-such-option"],
        ["check", "net.arch", "--model"],
        ["layers", "extra"],
    ],
    ids=["nothing", "unknown-command", "no-file", "unknown-option", "model-without-name", "extra-argument"],
)
def test_bad_usage_exits_2(tmp_path: Path, spec, args: list[str]) -> None:
    spec(CARD_CNN)
    result = run(args, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_arguments_print_the_whole_help(tmp_path: Path) -> None:
    """`archdsl` alone is what a newcomer types first: every command, with what it does."""
    result = run([], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == run(["--help"], tmp_path).stdout
    for command in ("check", "generate", "verify", "diff", "graph", "fmt", "layers"):
        assert re.search(rf"^\s+{command}\s+\S", result.stderr, re.MULTILINE), f"{command} and its help"


@pytest.mark.parametrize("fmt", ["html", "markdown", "unified", "side-by-side"])
def test_diff_to_a_file_says_what_it_wrote(tmp_path: Path, spec, fmt: str) -> None:
    """As `generate -o` and `graph -o` do: a command that writes a file says so, on stderr."""
    spec(CARD_CNN)
    result = run(["diff", "net.arch", "--format", fmt, "-o", "diff.out"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"wrote diff.out ({fmt} diff, model Model)\n"
    assert "dense_1" in (tmp_path / "diff.out").read_text(encoding="utf-8")
    to_stdout = run(["diff", "net.arch", "--format", fmt], tmp_path)
    assert to_stdout.stderr == "" and "dense_1" in to_stdout.stdout


def test_verify_help_promises_a_check_not_a_proof(tmp_path: Path) -> None:
    text = flat(run(["verify", "--help"], tmp_path).stdout + run(["--help"], tmp_path).stdout)
    assert "prove" not in text.lower() and "proof" in text, "says what it is not, once"
    assert "same weights" in text and "inference mode" in text and "random" in text


def test_version(tmp_path: Path) -> None:
    result = run(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"archdsl {archdsl.__version__}"
    assert re.fullmatch(r"archdsl \d+\.\d+\.\d+.*", result.stdout.strip())


def test_help(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    assert "check" in result.stdout and "layers" in result.stdout


# ---------------------------------------------------------------- layers


def test_layers_lists_every_layer(tmp_path: Path) -> None:
    result = run(["layers"], tmp_path)
    assert result.returncode == 0, result.stderr
    first_words = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert sorted(set(LAYERS) - first_words) == []
    assert "dense 64 relu" in result.stdout  # an example
    assert "\x1b[" not in result.stdout


# ---------------------------------------------------------------- the installed script


def test_console_script(tmp_path: Path, spec) -> None:
    script = console_script()
    if script is None:
        pytest.skip("the archdsl console script is not installed")
    spec(CARD_CNN)
    result = subprocess.run(
        [script, "check", "net.arch", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["params"]["keras"] == 307850
    version = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    assert version.stdout.strip() == f"archdsl {archdsl.__version__}"
    bad = subprocess.run([script, "check", "missing.arch"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1 and "[A100]" in bad.stderr


def test_no_color_even_when_asked_for_a_terminal_style(tmp_path: Path, spec) -> None:
    spec("input 10 -> conv2 3\n")
    result = run(["check", "net.arch", "--no-color"], tmp_path)
    assert result.returncode == 1
    assert "\x1b[" not in result.stderr


# ---------------------------------------------------------------- no frameworks


def test_check_imports_no_framework(tmp_path: Path, spec) -> None:
    spec(TWO_MODELS)
    spec("input 64x64x1 -> conv2 32\n", "bad.arch")
    program = (
        "import sys, io, contextlib\n"
        "import archdsl.cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):\n"
        "    codes = [archdsl.cli.main(['check', 'net.arch']), archdsl.cli.main(['check', 'net.arch', '--json']),\n"
        "             archdsl.cli.main(['check', 'bad.arch']), archdsl.cli.main(['layers']),\n"
        "             archdsl.cli.main(['check', 'net.arch', '--macs', '--layout', 'torch', '--json'])]\n"
        "heavy = ['tensorflow', 'keras', 'torch', 'numpy', 'jax']\n"
        "print(codes, sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=_env()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 0, 1, 0, 0] []"


def test_importing_archdsl_imports_no_framework(tmp_path: Path) -> None:
    program = (
        "import sys, archdsl\n"
        "archdsl.parse('input 10 -> dense 3').model()\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'numpy', 'jax') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_lsp_without_pygls_says_what_to_install() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['pygls'] = None; from archdsl.cli import main; sys.exit(main(['lsp']))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "pip install 'archdsl[lsp]'" in done.stderr
    assert "Traceback" not in done.stderr
