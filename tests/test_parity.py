"""`archdsl verify`: the generated Keras and PyTorch models compute the same function.

Runs the real frameworks: every example and a spec for every layer type go
through weight transfer and a layer-by-layer comparison. The sensitivity tests
break one weight rule at a time and expect verify to name the layer.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import archdsl  # noqa: E402
from archdsl.layers import LAYERS  # noqa: E402
from archdsl.targets import keras as keras_target  # noqa: E402
from archdsl.targets.torch import TRANSLATIONS, recurrent  # noqa: E402
from archdsl.tools.verify import verify_model  # noqa: E402

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch"))

# Specs that between them use every layer type and every layout change in the PyTorch target.
LAYER_SPECS = {
    "dense_vector": "input 12 -> dense 7 relu -> dense 3 bias=false",
    "dense_steps": "input 5x6 -> dense 4 gelu",
    "dense_image_flatten": "input 6x5x3 -> conv2d 4 same -> dense 3",
    "flatten_to_reshape": "input 4x4x2 -> flatten -> reshape 2x4x4 -> conv2d 3 1x1",
    "conv1d_layout": "input 20x3 -> conv1d 8 5 stride=2 same relu -> maxpool -> lstm 6 -> dense 2",
    "conv1d_valid_dilation": "input 20x3 -> conv1d 4 3 dilation=2 -> globalmaxpool",
    "conv1d_causal": (
        "input 20x3 -> conv1d 4 3 causal dilation=2 relu -> conv1d 4 2 causal dilation=4 -> conv1d 5 4 causal stride=2"
        " -> lstm 3"
    ),
    "global_pool_keepdims": (
        "input 5x5x3 -> globalavgpool keepdims -> conv2d 4 1x1 -> reshape 1x4 -> globalmaxpool keepdims -> dense 2"
    ),
    "conv2d_even_same_stride": "input 9x7x3 -> conv2d 5 4x2 stride=2 same -> conv2d 4 2 same elu",
    "conv2d_groups_nobias": "input 8x8x4 -> conv2d 6 3x3 groups=2 bias=false dilation=2",
    "conv3d": "input 6x7x8x2 -> conv3d 3 3 same -> conv3d 2 2x3x2 stride=2 -> globalavgpool",
    "sepconv_dwconv": (
        "input 9x9x3 -> sepconv2d 5 3x3 same multiplier=2 relu -> dwconv2d 3x3 stride=2 same multiplier=2"
    ),
    "conv_transpose": (
        "input 5x5x3 -> conv2dtranspose 4 3x3 stride=2 same -> conv2dtranspose 3 2 stride=2"
        " -> conv2dtranspose 2 1 stride=2 -> conv2dtranspose 2 4 stride=3 same"
    ),
    "pools_uneven_same": "input 7x7x2 -> maxpool 2 same -> avgpool 3 stride=1 same -> maxpool 3 stride=2",
    "pools_3d": "input 4x6x6x2 -> maxpool 2 -> avgpool 1x2x2 same -> globalmaxpool",
    "norms": (
        "input 6x6x4 -> batchnorm momentum=0.9 epsilon=0.01 -> layernorm -> globalavgpool -> batchnorm -> layernorm"
    ),
    "norms_sequence": "input 9x4 -> batchnorm -> layernorm -> lstm 3 seq -> batchnorm",
    "norms_scale_center": (
        "input 6x6x4 -> conv2d 4 same bias=false -> batchnorm scale=false -> batchnorm center=false"
        " -> batchnorm scale=false center=false -> layernorm scale=false -> layernorm center=false"
        " -> reshape 36x4 -> layernorm scale=false center=false -> batchnorm center=false"
    ),
    "activations": (
        "input 10 -> relu -> relu6 -> leakyrelu -> leakyrelu 0.1 -> elu -> selu -> gelu -> gelu_tanh -> silu -> sigmoid"
        " -> tanh -> softmax -> hardswish -> hardsigmoid -> abs -> dense 4 leakyrelu -> dense 4 hardswish"
        " -> dense 4 abs -> dense 4 gelu_tanh -> dense 4 softmax"
    ),
    "activation_args": "input 5x5x2 -> conv2d 3 same silu -> conv2d 3 same softmax -> conv2d 3 same relu6",
    "recurrent": "input 7x3 -> lstm 4 seq bidirectional -> gru 5 seq -> rnn 3 relu seq -> gru 2 bidirectional",
    "rnn_last_step": "input 7x3 -> rnn 4 bidirectional",
    "embedding_text": "input seq -> embedding 50 6 -> gru 4 -> dense 1 sigmoid",
    "embedding_masked": (
        "input seq -> embedding 50 6 mask_zero -> lstm 6 seq bidirectional -> attention 2 -> clstoken -> gru 4 seq"
        " -> globalavgpool -> dense 2 softmax"
    ),
    "reshape_image_to_vector": "input 3x4x2 -> reshape 24 -> dense 2",
    "reshape_sequence": "input 8x2 -> conv1d 4 1 -> reshape 4x8 -> lstm 2",
    "upsample_zeropad": ("input 3x4x2 -> upsample 2 -> zeropad 1 -> upsample 2x3 -> zeropad 1x2 -> conv2d 2 1x1"),
    "upsample_zeropad_1d_3d": "input 5x2 -> upsample 3 -> zeropad 2 -> conv1d 2 1",
    "upsample_3d": "input 2x3x3x1 -> upsample 2 -> zeropad 1",
    "zeropad_crop_pairs": (
        "input 6x7x2 -> zeropad 0x1 2x1 -> crop 1x0 0x2 -> conv2d 3 3x3 -> reshape 4x18 -> zeropad 2x0"
        " -> crop 0x1 -> lstm 2 seq -> zeropad 1 -> crop 1"
    ),
    "crop_3d": "input 4x5x5x2 -> crop 1 0x1 1x0 -> conv3d 2 1",
    "merges": (
        "input 6x6x3 -> ( conv2d 4 same | conv2d 4 same | identity -> conv2d 4 1x1 ) -> add"
        " -> ( identity | conv2d 4 same ) -> subtract -> ( relu | tanh ) -> multiply"
        " -> ( relu | sigmoid | tanh ) -> average -> ( conv2d 2 same | maxpool 3 stride=1 same ) -> concat"
        " -> ( identity | identity ) -> concat axis=1"
    ),
    "maximum_minimum": (
        "input 6x6x3 -> ( conv2d 4 same | conv2d 4 same | identity -> conv2d 4 1x1 ) -> maximum"
        " -> ( relu | tanh ) -> minimum -> ( identity | sigmoid ) -> maximum"
    ),
    "merges_broadcast": (
        "input 6x6x8 -> ( identity | globalavgpool keepdims -> conv2d 2 1x1 relu -> conv2d 8 1x1 hardsigmoid )"
        " -> multiply -> ( globalmaxpool keepdims | identity | conv2d 1 1x1 ) -> add"
        " -> ( conv2d 1 1x1 | identity ) -> subtract -> ( identity | globalavgpool keepdims ) -> maximum"
        " -> reshape 36x8 -> ( globalavgpool keepdims | lstm 8 seq ) -> average"
        " -> ( identity | globalmaxpool keepdims -> dense 1 ) -> minimum"
    ),
    "concat_sequences": (
        "input 6x4 -> ( lstm 3 seq | conv1d 2 1 ) -> concat -> ( identity | identity ) -> concat axis=1"
    ),
    "residual_attention": (
        "input 6x8 -> residual( attention heads=2 ) -> layernorm -> residual( dense 16 relu -> dense 8 )"
    ),
    "vit_head": "input 6x4 -> clstoken -> posembed -> dense 4 gelu -> layernorm -> take 0 -> dense 3",
    "posembed_longer_than_the_steps": "input seq x 4 -> posembed max=20 -> conv1d 4 3 -> clstoken -> lstm 2",
    "take": "input 7x4 -> conv1d 6 3 -> take 0 -> relu -> dense 2 -> ( identity | identity ) -> add",
    "take_last_symbolic": "input seq x 4 -> lstm 3 seq -> take -1",
    "attention_causal_and_any_key_dim": (
        "input 7x6 -> attention heads=2 causal -> attention 3 key_dim=5 -> attention 2 key_dim=4 causal"
    ),
    "cross_attention": (
        "input 7x8 -> ( identity | dense 8 ) -> attention 2"
        " -> ( identity | dense 4 | dense 5 ) -> attention 2 key_dim=3"
        " -> ( identity | conv1d 8 3 ) -> attention 4 causal"
    ),
    "preprocessing": (
        "input 6x6x3 -> rescale 0.00392156862745098 offset=-1 -> normalize -> rescale 0.5x2x1 offset=1x0x-1"
        " -> normalize mean=0.5x0.4x0.3 variance=4x1x0.25"
    ),
    "preprocessing_sequence": (
        "input 9x4 -> normalize -> conv1d 3 2 -> normalize mean=1x0x2 variance=2 -> rescale 2x3x4 offset=0.5 -> lstm 2"
        " -> normalize mean=0.5 variance=2 -> rescale -2"
    ),
    "layer_scale_drop_path": (
        "input 6x6x4 -> residual( dwconv2d 3x3 same -> layernorm -> conv2d 8 1x1 gelu -> conv2d 4 1x1 -> scale init=0.5"
        " -> droppath 0.2 ) -> reshape 36x4 -> residual( dense 4 -> scale -> droppath 0.1 ) -> conv1d 2 1 -> scale"
    ),
    "dropout_identity": "input 6x6x2 -> dropout 0.5 -> identity -> conv2d 2 -> flatten -> dropout 0.2 -> dense 2",
}


def _specs_cover_every_layer() -> set[str]:
    used = set()
    for text in LAYER_SPECS.values():
        for layer in archdsl.parse(text).model().layers:
            used.add(layer.type)
    return used


def test_layer_specs_cover_every_layer_type():
    assert _specs_cover_every_layer() == set(LAYERS)


def test_the_has_weights_trait_is_what_keras_builds():
    """LayerSpec.has_weights decides which layers need a weight rule: hold it to real Keras layers.

    A layer type has weights when some configuration of it does (`layernorm scale=false
    center=false` has none), and every layer's Keras parameter count says whether it does.
    """
    holds = {name: False for name in LAYERS}
    for text in LAYER_SPECS.values():
        model = archdsl.parse(text).model()
        built = archdsl.build(model, "keras")
        for layer in model.layers:
            weights = built.get_layer(layer.name).weights
            assert bool(weights) == (layer.params.keras > 0), layer.name
            holds[layer.type] |= bool(weights)
    assert holds == {name: spec.has_weights for name, spec in LAYERS.items()}


@pytest.mark.parametrize("spec", list(LAYER_SPECS.values()), ids=list(LAYER_SPECS))
def test_every_layer_type_agrees(spec):
    report = verify_model(archdsl.parse(spec).model(), seed=1)
    assert report.ok, report.first_mismatch
    assert [r.name for r in report.layers] == [layer.name for layer in archdsl.parse(spec).model().layers]


@pytest.mark.parametrize(
    "path, model",
    [(p, m.name) for p in EXAMPLES for m in archdsl.load(p).models],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_every_example_agrees(path, model):
    report = archdsl.verify(archdsl.load(path).model(model))
    assert report.ok, report.first_mismatch
    assert report.output is not None and report.output.max_rel < 1e-4


def test_droppath_drops_whole_samples_while_training_in_both_frameworks():
    """verify compares inference, where droppath passes its input on. In training the two
    frameworks draw different random numbers, so their outputs cannot be compared value for
    value; what both must do is keep or drop each sample whole, a kept one divided by 1 - rate."""
    import keras
    import numpy as np
    import torch

    keras.utils.set_random_seed(0)
    torch.manual_seed(0)
    model = archdsl.parse("input 4x4x3 -> droppath 0.25").model()
    x = np.random.default_rng(0).uniform(1.0, 2.0, (200, 4, 4, 3)).astype("float32")  # no zeros of its own
    in_keras = np.asarray(archdsl.build(model, "keras")(x, training=True))
    module = archdsl.build(model, "torch").train()
    in_torch = module(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    for framework, y in (("keras", in_keras), ("torch", in_torch)):
        kept = np.all(np.isclose(y, x / 0.75), axis=(1, 2, 3))
        dropped = np.all(y == 0, axis=(1, 2, 3))
        assert np.all(kept | dropped), f"{framework}: a sample was neither kept whole nor dropped whole"
        assert 0.1 < dropped.mean() < 0.4, f"{framework} dropped {dropped.mean():.0%} of the samples, not 25%"
    with torch.no_grad():
        assert torch.equal(module.eval()(torch.from_numpy(x)), torch.from_numpy(x))


def _break(monkeypatch, layer_type, rule):
    """Replace the PyTorch target's weight rule for one layer type."""
    monkeypatch.setitem(TRANSLATIONS, layer_type, dataclasses.replace(TRANSLATIONS[layer_type], weights=rule))


def test_verify_names_the_dense_after_flatten_when_its_rows_are_not_reordered(monkeypatch):
    _break(monkeypatch, "dense", lambda layer, w, ctx: {"weight": w[0].T, "bias": w[1]})
    report = verify_model(archdsl.load(ROOT / "examples" / "lenet5.arch").model())
    assert not report.ok
    assert report.first_mismatch.name == "c5"
    assert [r.ok for r in report.layers[:5]] == [True] * 5


def test_verify_catches_a_wrong_gru_gate_order(monkeypatch):
    monkeypatch.setattr(recurrent, "_gru_order", lambda array, units: array)
    report = verify_model(archdsl.parse("input 5x3 -> gru 4 -> dense 2").model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "gru_1"


def test_verify_catches_an_untransposed_conv_kernel(monkeypatch):
    def wrong(layer, weights, ctx):
        kernel = weights[0]
        return {"weight": kernel.transpose(3, 2, 1, 0), "bias": weights[1]}  # kh and kw swapped

    _break(monkeypatch, "conv2d", wrong)
    report = verify_model(archdsl.parse("input 6x6x2 -> conv2d 3 3x3").model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "conv2d_1"


def test_verify_catches_batchnorm_statistics_left_out(monkeypatch):
    def no_stats(layer, weights, ctx):
        gamma, beta, mean, variance = weights
        return {"weight": gamma, "bias": beta, "running_mean": mean * 0, "running_var": variance * 0 + 1}

    _break(monkeypatch, "batchnorm", no_stats)
    report = verify_model(archdsl.parse("input 4x4x3 -> conv2d 2 same -> batchnorm -> relu").model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "batchnorm_1"


def test_verify_catches_a_class_token_left_at_its_initial_zeros(monkeypatch):
    """Keras starts the token at zeros too: verify must randomise it, or a lost token would pass."""
    _break(monkeypatch, "clstoken", lambda layer, weights, ctx: {"": weights[0] * 0})
    report = verify_model(archdsl.parse("input 5x4 -> clstoken -> take 0").model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "clstoken_1"


def test_verify_catches_position_embeddings_in_the_wrong_order(monkeypatch):
    _break(monkeypatch, "posembed", lambda layer, weights, ctx: {"": weights[0][::-1]})
    report = verify_model(archdsl.parse("input 5x4 -> posembed -> dense 2").model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "posembed_1"


@pytest.mark.parametrize("spec", ["input 6x4 -> attention 2 causal", "input 6x4 -> attention 2 key_dim=3 causal"])
def test_verify_catches_attention_that_sees_the_future(monkeypatch, spec):
    """Keras built without its causal mask: both PyTorch forms must disagree with it at the first step."""
    monkeypatch.setattr(keras_target, "attention_applied", lambda layer, query, value, key=None: f"({query}, {value})")
    report = verify_model(archdsl.parse(spec).model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "attention_1"


def test_the_report_is_deterministic_for_a_seed():
    model = archdsl.parse("input 8x3 -> lstm 4 -> dense 2").model()
    assert verify_model(model, seed=5) == verify_model(model, seed=5)


def _run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_cli_verify_prints_every_layer_and_exits_0():
    result = _run("verify", "examples/card_cnn.arch", "--seed", "2")
    assert result.returncode == 0, result.stderr
    for name in ("conv2d_1", "maxpool_1", "flatten_1", "dense_1"):
        assert name in result.stdout
    assert "all 4 layers agree" in result.stdout
    assert "Traceback" not in result.stderr


def test_cli_verify_exits_1_when_tolerance_is_impossible():
    # A zero tolerance cannot hold across a 30752-wide dot product in float32.
    result = _run("verify", "examples/card_cnn.arch", "--atol", "0", "--rtol", "0")
    assert result.returncode == 1
    assert "first disagree at layer" in result.stdout


def test_cli_verify_usage_errors():
    assert _run("verify", "examples/card_cnn.arch", "--atol", "-1").returncode == 2
    assert _run("verify", "examples/multi_model.arch", "--model", "Nope").returncode == 2
