"""`generate --logits`: the model without its final softmax or sigmoid, for losses that apply it themselves.

A generated PyTorch classifier ends in softmax, and nn.CrossEntropyLoss applies log-softmax
again; the diff says so, and --logits (API: `logits=True`) writes the model without it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import archdsl
from archdsl.tools.diff import build_diff

ROOT = Path(__file__).resolve().parent.parent

CLASSIFIERS = {
    "fused_softmax": "input 784 -> dense 64 relu -> dense 10 softmax",
    "softmax_layer": "input 28x28x1 -> conv2d 8 -> globalavgpool -> dense 10 -> softmax",
    "fused_sigmoid": "input seq x 8 -> lstm 16 -> dense 1 sigmoid",
}


def model_of(spec: str) -> archdsl.Model:
    return archdsl.parse(spec).model()


@pytest.mark.parametrize("spec", CLASSIFIERS.values(), ids=CLASSIFIERS)
def test_logits_leaves_out_only_the_final_activation(spec):
    model = model_of(spec)
    for target, final in (
        ("torch", ("torch.softmax", "torch.sigmoid")),
        ("keras", ('"softmax"', '"sigmoid"', "Softmax")),
    ):
        full = archdsl.generate(model, target)
        logits = archdsl.generate(model, target, logits=True)
        assert any(word in full for word in final)
        assert not any(word in logits for word in final), logits
        assert "relu" not in full or "relu" in logits  # the other activations stay


def test_logits_changes_nothing_without_a_final_softmax():
    model = model_of("input 784 -> dense 64 softmax -> dense 10")
    assert archdsl.generate(model, "torch", logits=True) == archdsl.generate(model, "torch")


def test_the_diff_warns_of_softmax_before_cross_entropy():
    notes = " ".join(build_diff(model_of(CLASSIFIERS["fused_softmax"])).notes)
    assert "Training (dense_2): the model ends in a softmax, and PyTorch's nn.CrossEntropyLoss" in notes
    assert "archdsl generate --logits" in notes
    sigmoid = " ".join(build_diff(model_of(CLASSIFIERS["fused_sigmoid"])).notes)
    assert "nn.BCEWithLogitsLoss" in sigmoid
    plain = " ".join(build_diff(model_of("input 784 -> dense 10")).notes)
    assert "Training" not in plain


def _run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_logits():
    spec = CLASSIFIERS["fused_softmax"] + "\n"
    result = _run("generate", "-", "-t", "torch", "--logits", stdin=spec)
    assert result.returncode == 0, result.stderr
    assert "torch.softmax" not in result.stdout and "x = self.dense_2(x)  # (N, 10)" in result.stdout
    noop = _run("generate", "-", "-t", "keras", "--logits", stdin="input 8 -> dense 2\n")
    assert noop.returncode == 0
    assert "ends in no softmax or sigmoid; --logits changes nothing" in noop.stderr


@pytest.mark.frameworks
@pytest.mark.parametrize("spec", CLASSIFIERS.values(), ids=CLASSIFIERS)
def test_logits_give_the_same_predictions_through_the_activation(spec):
    """With the same weights, softmax (or sigmoid) of the logits model is the full model's output."""
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    model = model_of(spec)
    full, logits = archdsl.build(model, "torch").eval(), archdsl.build(model, "torch", logits=True).eval()
    logits.load_state_dict(full.state_dict())
    shape = [3, *(16 if isinstance(d, str) else d for d in model.input_shape)]
    if len(shape) == 4:
        shape = [shape[0], shape[3], shape[1], shape[2]]
    batch = torch.as_tensor(np.random.default_rng(0).normal(size=shape).astype("float32"))
    with torch.no_grad():
        expected, raw = full(batch), logits(batch)
    activate = torch.sigmoid if "sigmoid" in spec else (lambda t: torch.softmax(t, dim=-1))
    assert torch.allclose(activate(raw), expected, atol=1e-6)
    assert not torch.allclose(raw, expected, atol=1e-3)
