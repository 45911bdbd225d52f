"""The lines under the check table say what Keras' `model.summary()` and torchinfo's `summary()` say.

tests/test_targets.py holds every example's and every layer case's counts to the real
frameworks (trainable and non-trainable weights, parameters and buffers, torchinfo's
multiply-adds per layer). Here the printed figures themselves are read back from the two
summaries, memory and rounding included, and the multiply-adds are held to a published
figure. The framework tests are marked; the rest runs in the light venv.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import archdsl
from archdsl.tools.summary import keras_memory, torchinfo_memory, totals

REPO = Path(__file__).resolve().parent.parent
# Small examples with BatchNorm (non-trainable weights, buffers), an LSTM (PyTorch's second bias) and neither.
SUMMARIZED = ["card_cnn", "vgg_small", "card_rnn", "timeseries_conv1d"]


def example(stem: str) -> archdsl.Model:
    return archdsl.load(REPO / "examples" / f"{stem}.arch").model()


def test_vgg16_multiply_adds_are_the_published_figure() -> None:
    """timm's model card for VGG16 says 15.5 GMACs; torchvision's documentation 15.47 GFLOPS,
    which is the same count without the biases (one multiply-add each per output position)."""
    model = example("vgg16")
    biases = sum(
        layer.config.get("filters", layer.config.get("units", 0)) * (layer.macs() // layer.params.torch)
        for layer in model.layers
        if layer.params.torch
    )
    assert round(model.macs() / 1e9, 1) == 15.5
    assert round((model.macs() - biases) / 1e9, 2) == 15.47


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0.00 B"), (1023, "1023.00 B"), (1024, "1.00 KiB"), (1_231_400, "1.17 MiB"), (553_430_176, "527.79 MiB")],
)
def test_keras_memory_is_written_in_the_units_keras_divides_by(size: int, text: str) -> None:
    assert keras_memory(size) == text


def test_torchinfo_memory_is_in_millions_of_bytes() -> None:
    assert torchinfo_memory(1_231_400) == "1.23 MB"
    assert torchinfo_memory(0) == "0.00 MB"


# ---------------------------------------------------------------- against the summaries themselves

KERAS_UNITS = {"B": "B", "KB": "KiB", "MB": "MiB", "GB": "GiB"}


def keras_summary(model: archdsl.Model) -> dict[str, tuple[str, str]]:
    """{"Total": ("552,874", "2.11 MiB"), "Trainable": ..., "Non-trainable": ...} from model.summary()."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    net = archdsl.build(model, "keras")
    lines: list[str] = []
    net.summary(print_fn=lambda line, **_: lines.append(line))
    found = re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+) \(([\d.]+) (\w+)\)", "\n".join(lines))
    return {kind: (count, f"{size} {KERAS_UNITS[unit]}") for kind, count, size, unit in found}


def torchinfo_summary(model: archdsl.Model) -> str:
    import torch
    import torchinfo

    from archdsl.targets.torch import input_layout
    from archdsl.targets.torch.layout import torch_dims

    net = archdsl.build(model, "torch").eval()
    dims = torch_dims(tuple(d if isinstance(d, int) else 16 for d in model.input_shape), input_layout(model))
    return str(torchinfo.summary(net, input_data=[torch.randn(1, *dims)], device="cpu", verbose=0))


@pytest.mark.frameworks
@pytest.mark.parametrize("stem", SUMMARIZED)
def test_the_keras_line_says_what_model_summary_says(stem: str) -> None:
    model = example(stem)
    said = keras_summary(model)
    total, trainable, frozen = said["Total"], said["Trainable"], said["Non-trainable"]
    assert dict(totals(model))["Keras"] == (
        f"{total[0]} params ({total[1]}): {trainable[0]} trainable, {frozen[0]} non-trainable"
    )


@pytest.mark.frameworks
@pytest.mark.parametrize("stem", SUMMARIZED)
def test_the_pytorch_and_macs_lines_say_what_torchinfo_says(stem: str) -> None:
    model = example(stem)
    said = torchinfo_summary(model)
    count = re.search(r"^Total params: ([\d,]+)$", said, re.M).group(1)
    size = re.search(r"^Params size \(MB\): ([\d.]+)$", said, re.M).group(1)
    macs = float(re.search(r"^Total mult-adds \([^)]*\): ([\d.]+)$", said, re.M).group(1))
    lines = dict(totals(model, macs=True))
    assert lines["PyTorch"].startswith(f"{count} parameters ({size} MB), ")
    assert lines["MACs"].startswith(f"{model.macs():,} multiply-adds per sample")
    assert round(model.macs() / 1e6, 2) == macs  # torchinfo prints millions, with two decimals
