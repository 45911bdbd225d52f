"""Padding masks (`embedding V D mask_zero`): which layers a mask reaches, and that both targets
leave the padded steps out where Keras does.

archdsl/analysis/masks.py follows Keras' rules from the layer table (`LayerSpec.mask`); the
framework tests hold those rules to the masks real Keras attaches to every layer of the
generated model, and run the generated PyTorch code on padded token ids, trailing padding
(what verify draws) and token 0 anywhere else too, since Keras masks it wherever it is.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import pytest

import archdsl
from archdsl.layers import LAYER_TABLE, LAYERS
from archdsl.layers.spec import MASK_LOST
from archdsl.tools.summary import rows

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# A spec per case, and the layers whose output carries a mask (Keras' `_keras_mask`).
PROPAGATION = {
    "passes_through_dense_norms_activations": (
        "input seq -> embedding 20 8 mask_zero -> dense 8 relu -> layernorm -> batchnorm -> dropout 0.1 -> gelu"
        " -> identity -> posembed max=32 -> lstm 4",
        {"embedding_1", "dense_1", "layernorm_1", "batchnorm_1", "dropout_1", "gelu_1", "identity_1", "posembed_1"},
    ),
    "recurrent_layers_pass_it_while_they_return_steps": (
        "input seq -> embedding 20 8 mask_zero -> gru 4 seq bidirectional -> rnn 4 seq -> lstm 4",
        {"embedding_1", "gru_1", "rnn_1"},
    ),
    "attention_passes_the_query_mask": (
        "input seq -> embedding 20 8 mask_zero -> attention 2 causal -> globalavgpool",
        {"embedding_1", "attention_1"},
    ),
    "a_class_token_prepends_a_real_step": (
        "input seq -> embedding 20 8 mask_zero -> clstoken -> attention 2 -> take 0",
        {"embedding_1", "clstoken_1", "attention_1"},
    ),
    "lost_at_a_convolution": (
        "input seq -> embedding 20 8 mask_zero -> conv1d 8 3 same -> lstm 4 seq -> globalmaxpool",
        {"embedding_1"},
    ),
    "merges_of_masked_branches_keep_it": (
        "input seq -> embedding 20 8 mask_zero -> ( lstm 8 seq | dense 8 ) -> add -> ( identity | relu ) -> concat"
        " -> gru 2",
        {"embedding_1", "lstm_1", "dense_1", "add_1", "identity_1", "relu_1", "concat_1"},
    ),
    "an_unmasked_branch_ends_it": (
        "input seq -> embedding 20 8 mask_zero -> ( identity | conv1d 8 1 ) -> add -> lstm 2",
        {"embedding_1", "identity_1"},
    ),
    "a_concat_of_steps_joins_the_masks": (
        "input seq -> embedding 20 8 mask_zero -> ( identity | conv1d 8 1 ) -> concat axis=1 -> lstm 2",
        {"embedding_1", "identity_1", "concat_1"},
    ),
    "a_concat_of_features_with_an_unmasked_branch_has_every_step_real": (
        "input seq -> embedding 20 8 mask_zero -> ( identity | conv1d 8 1 ) -> concat -> lstm 2",
        {"embedding_1", "identity_1"},
    ),
    "cross_attention_goes_on_with_the_query_mask": (
        "model M {\n  input src as source -> embedding 20 8 mask_zero as memory\n"
        "  input tgt as target -> embedding 20 8 as queries\n  ( @queries | @memory ) -> attention 2\n}",
        {"memory"},
    ),
    "without_mask_zero_nothing": ("input seq -> embedding 20 8 -> lstm 4 seq -> attention 2", set()),
}


def carriers(spec: str) -> set[str]:
    return {layer.name for layer in archdsl.parse(spec).model().layers if layer.mask is not None}


@pytest.mark.parametrize(("spec", "expected"), PROPAGATION.values(), ids=PROPAGATION.keys())
def test_where_the_mask_goes(spec: str, expected: set[str]) -> None:
    assert carriers(spec) == expected


def test_two_embeddings_of_the_same_ids_make_one_mask_and_a_class_token_a_new_one() -> None:
    model = archdsl.parse(
        "input seq -> ( embedding 20 8 mask_zero | embedding 20 8 mask_zero ) -> add -> clstoken -> take 1"
    ).model()
    masks = {layer.name: layer.mask for layer in model.layers}
    assert masks["embedding_1"] == masks["embedding_2"] == masks["add_1"] == model.input_name
    assert masks["clstoken_1"] == "clstoken_1"
    assert masks["take_1"] is None


def test_the_check_table_says_what_each_layer_does_with_the_mask() -> None:
    model = archdsl.parse("input seq -> embedding 20 8 mask_zero -> lstm 4 seq -> conv1d 4 1 -> dense 2").model()
    notes = {row.name: row.note for row in rows(model)}
    assert notes == {
        "input": "",
        "embedding_1": "token 0 is padding: masked",
        "lstm_1": "leaves padded steps out",
        "conv1d_1": "padding mask lost here",
        "dense_1": "",
    }


def test_mask_variables_never_take_a_name_the_model_uses() -> None:
    spec = "input seq -> embedding 20 8 mask_zero -> lstm 8 seq as mask -> dense 8 as mask_ -> lstm 2"
    source = archdsl.generate(archdsl.parse(spec).model(), "torch")
    assert "mask__ = x != 0" in source
    assert "run_over_real_steps(self.lstm_1, x, mask__)" in source


def test_every_layer_type_has_a_mask_rule_and_only_embedding_makes_one() -> None:
    assert {spec.name for spec in LAYER_TABLE if spec.makes_mask is not None} == {"embedding"}
    lost = {spec.name for spec in LAYER_TABLE if spec.mask == MASK_LOST}
    assert {"conv1d", "maxpool", "flatten", "reshape", "globalmaxpool"} <= lost
    assert not lost & {"dense", "lstm", "attention", "globalavgpool", "layernorm", "add", "concat"}


# ---------------------------------------------------------------- against Keras

# For every layer type, a spec whose last layer reads a masked sequence (or, for the layers that
# cannot read one, a masked tensor of the rank they take: embedding makes the mask itself).
MASKED_INPUT = "input 10 -> embedding 20 8 mask_zero"
EVERY_LAYER = {
    **{name: f"{MASKED_INPUT} -> {LAYERS[name].example or name}" for name in LAYERS},
    "embedding": "input 10 -> embedding 20 8 mask_zero -> lstm 3",
    "conv2d": f"{MASKED_INPUT} -> reshape 10x8x1 -> conv2d 2 3x3",
    "conv3d": f"{MASKED_INPUT} -> reshape 10x2x4x1 -> conv3d 2 2",
    "sepconv2d": f"{MASKED_INPUT} -> reshape 10x8x1 -> sepconv2d 2 3x3",
    "dwconv2d": f"{MASKED_INPUT} -> reshape 10x8x1 -> dwconv2d 3x3",
    "conv2dtranspose": f"{MASKED_INPUT} -> reshape 10x8x1 -> conv2dtranspose 2 3x3",
    "reshape": f"{MASKED_INPUT} -> reshape 8x10",
    "conv1d": f"{MASKED_INPUT} -> conv1d 4 3",
    "maxpool": f"{MASKED_INPUT} -> maxpool",
    "avgpool": f"{MASKED_INPUT} -> avgpool",
    "upsample": f"{MASKED_INPUT} -> upsample",
    "zeropad": f"{MASKED_INPUT} -> zeropad 1",
    "dense": f"{MASKED_INPUT} -> dense 4",
    "lstm": f"{MASKED_INPUT} -> lstm 4 seq -> lstm 3",
    "gru": f"{MASKED_INPUT} -> gru 4 seq bidirectional",
    "rnn": f"{MASKED_INPUT} -> rnn 4",
    **{spec.name: f"{MASKED_INPUT} -> ( identity | dense 8 ) -> {spec.name}" for spec in LAYER_TABLE if spec.merge},
    "posembed": f"{MASKED_INPUT} -> posembed",
    "take": f"{MASKED_INPUT} -> take 0",
    "attention": f"{MASKED_INPUT} -> attention 2",
}


def test_there_is_a_keras_case_for_every_layer_type() -> None:
    assert set(EVERY_LAYER) == set(LAYERS)
    for name, spec in EVERY_LAYER.items():
        assert name in {layer.type for layer in archdsl.parse(spec).model().layers}, spec


@pytest.mark.frameworks
@pytest.mark.parametrize("name", sorted(EVERY_LAYER))
def test_a_mask_goes_where_keras_takes_it_and_is_lost_where_keras_warns(name: str) -> None:
    model = archdsl.parse(EVERY_LAYER[name]).model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = archdsl.build(model, "keras")
    for layer in model.layers:
        keras_mask = getattr(built.get_layer(layer.name).output, "_keras_mask", None)
        assert (keras_mask is not None) == (layer.mask is not None), layer.name
    keras_lost = {
        layer.name for layer in model.layers if any(f"Layer '{layer.name}'" in str(w.message) for w in caught)
    }
    archdsl_lost = {
        layer.name for layer in model.layers if LAYERS[layer.type].mask == MASK_LOST and any(layer.input_masks)
    }
    assert keras_lost == archdsl_lost


MASKED_MODELS = {
    "recurrent": "input seq -> embedding 30 6 mask_zero -> lstm 5 seq -> gru 4 bidirectional seq -> rnn 3",
    "recurrent_last_steps": "input seq -> embedding 30 6 mask_zero -> ( lstm 4 | gru 4 bidirectional ) -> concat",
    "attention": "input seq -> embedding 30 8 mask_zero -> attention 2 -> attention 3 key_dim=2 causal -> dense 2",
    "class_token": "input seq -> embedding 30 8 mask_zero -> clstoken -> posembed max=20 -> attention 2 -> take 0",
    "pooling_after_batchnorm": "input 12 -> embedding 30 6 mask_zero -> batchnorm -> globalavgpool",
    "post_norm_residuals": (
        "input seq -> embedding 30 8 mask_zero -> residual( attention 2 ) -> layernorm -> residual( attention 2 )"
        " -> layernorm -> globalavgpool"
    ),
    "cross_attention": (
        "model M {\n  input src as source -> embedding 30 8 mask_zero as memory\n"
        "  input tgt as target -> embedding 40 8 mask_zero -> attention 2 causal as queries\n"
        "  ( @queries | @memory ) -> attention 2 -> globalavgpool\n}"
    ),
}


def _outputs_on(model, ids, seed: int = 0):
    """The generated Keras and PyTorch models' outputs on `ids`, with the same (randomised) weights."""
    import keras
    import numpy as np
    import torch

    from archdsl.tools import verify

    keras.utils.set_random_seed(seed)
    keras_model = archdsl.build(model, "keras")
    verify._randomize(keras_model, np.random.default_rng(seed))
    torch_module, code = verify._torch_instance(model)
    verify.copy_weights(model, keras_model, torch_module, code)
    torch_module._archdsl_probe = lambda name, value: None  # verify's forward reports every layer
    with torch.no_grad():
        torch_out = torch_module(torch.as_tensor(ids, dtype=torch.long)).numpy()
    return np.asarray(keras_model(ids, training=False)), torch_out


@pytest.mark.frameworks
@pytest.mark.parametrize("spec", MASKED_MODELS.values(), ids=MASKED_MODELS.keys())
def test_verify_pads_the_token_ids_and_every_layer_agrees(spec: str) -> None:
    report = archdsl.verify(archdsl.parse(spec).model(), seed=3)
    assert report.ok, report.first_mismatch
    assert report.notes and "padded steps" in report.notes[0]


@pytest.mark.frameworks
@pytest.mark.parametrize("spec", [MASKED_MODELS[k] for k in ("recurrent", "recurrent_last_steps", "attention")])
def test_token_0_is_padding_wherever_it_is(spec: str) -> None:
    """Keras masks a 0 in the middle of a sequence too, and a sequence of padding alone."""
    import numpy as np

    ids = np.array([[3, 0, 5, 0, 0, 7, 2, 0], [0, 0, 4, 9, 1, 1, 0, 0], [0] * 8, [5, 4, 3, 2, 1, 1, 2, 3]], "int32")
    keras_out, torch_out = _outputs_on(archdsl.parse(spec).model(), ids)
    np.testing.assert_allclose(torch_out, keras_out, atol=1e-5, rtol=1e-4)


def _forgetting_the_mask(monkeypatch, layer_type: str) -> None:
    """The PyTorch emitter of `layer_type` given no mask, as if it ignored the padding."""
    from archdsl.targets.torch import TRANSLATIONS

    found = TRANSLATIONS[layer_type]

    def unmasked(emit):
        return found.emit(dataclasses.replace(emit, masks=tuple(None for _ in emit.masks)))

    monkeypatch.setitem(TRANSLATIONS, layer_type, dataclasses.replace(found, emit=unmasked))


@pytest.mark.frameworks
@pytest.mark.parametrize(
    ("layer_type", "spec"),
    [
        ("lstm", "input seq -> embedding 30 6 mask_zero -> lstm 4"),
        ("gru", "input seq -> embedding 30 6 mask_zero -> gru 4 bidirectional seq"),
        ("attention", "input seq -> embedding 30 8 mask_zero -> attention 2 key_dim=3"),
        ("globalavgpool", "input seq -> embedding 30 6 mask_zero -> globalavgpool"),
    ],
)
def test_verify_catches_a_layer_that_reads_the_padding(monkeypatch, layer_type: str, spec: str) -> None:
    _forgetting_the_mask(monkeypatch, layer_type)
    report = archdsl.verify(archdsl.parse(spec).model())
    assert report.first_mismatch is not None and report.first_mismatch.type == layer_type


@pytest.mark.frameworks
def test_keras_attention_takes_the_masks_off_its_inputs_and_the_generated_code_puts_them_back(monkeypatch) -> None:
    """Keras 3.15's MultiHeadAttention removes the masks of the tensors it is called with when it
    runs (not when the model is built), so the skip connection around it loses the mask and the
    next attention sees padding. With plain layers.MultiHeadAttention the generated Keras model
    would do that; MaskKeepingAttention gives the mask back. If Keras stops doing it, the first
    assertion fails, and the subclass can go."""
    from archdsl.targets import keras as keras_target

    spec = MASKED_MODELS["post_norm_residuals"]
    assert "MaskKeepingAttention(" in archdsl.generate(archdsl.parse(spec).model(), "keras")
    monkeypatch.setattr(keras_target, "MASK_KEEPING", "layers.MultiHeadAttention")
    report = archdsl.verify(archdsl.parse(spec).model())
    assert report.first_mismatch is not None and report.first_mismatch.name == "attention_2"
