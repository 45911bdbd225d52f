"""The layer table is complete in every target: adding a layer cannot half-succeed.

Every layer type of the table has a Keras builder and a PyTorch translation; one with
weights has a weight rule (for verify), one without has none. The traits that the targets
read (element-wise, merge, how a sequence is read) are checked where they can be without a
framework: an element-wise layer keeps its shape in every layout, a merge takes branches.
Runs without the frameworks; tests/test_parity.py checks the weight rules for real.
"""

from __future__ import annotations

import pytest

import archdsl
from archdsl.layers import LAYER_TABLE, LAYERS
from archdsl.layers.spec import ACTIVATIONS, ANY, SEQUENCE_READINGS
from archdsl.targets import keras as keras_target
from archdsl.targets import torch as torch_target

NAMES = [spec.name for spec in LAYER_TABLE]


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_has_a_keras_builder(name):
    assert name in keras_target.BUILDERS, f"add a @builds({name!r}) function to archdsl/targets/keras/__init__.py"


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_has_a_pytorch_translation(name):
    assert name in torch_target.TRANSLATIONS, f"add a @translates({name!r}) emitter to archdsl/targets/torch/"


@pytest.mark.parametrize("name", NAMES)
def test_a_layer_has_a_weight_rule_exactly_when_it_has_weights(name):
    rule = torch_target.TRANSLATIONS[name].weights
    if LAYERS[name].has_weights:
        assert rule is not None, f"{name} has weights: give its PyTorch translation a weight rule (weights=...)"
    else:
        assert rule is None, f"{name} has no weights, yet its PyTorch translation has a weight rule"


def test_the_targets_know_no_layer_the_table_does_not():
    assert set(keras_target.BUILDERS) == set(LAYERS)
    assert set(torch_target.TRANSLATIONS) == set(LAYERS)


def test_every_activation_word_is_an_activation_layer():
    activation_layers = {spec.name for spec in LAYER_TABLE if spec.category == "activation"}
    assert activation_layers == set(ACTIVATIONS)


@pytest.mark.parametrize("spec", LAYER_TABLE, ids=lambda spec: spec.name)
def test_traits_are_consistent(spec):
    assert spec.reads_sequence in SEQUENCE_READINGS
    if spec.elementwise or spec.merge:
        assert spec.reads_sequence == ANY, "an element-wise layer or a merge works in any layout"
    if spec.elementwise:
        assert spec.keeps_shape and not spec.has_weights and not spec.merge


ELEMENTWISE_INPUTS = ("input 12", "input 7x5", "input 6x6x3", "input 4x5x6x2")


@pytest.mark.parametrize("spec", [s for s in LAYER_TABLE if s.keeps_shape and not s.merge], ids=lambda s: s.name)
def test_a_layer_that_keeps_its_shape_does(spec):
    for head in ELEMENTWISE_INPUTS:
        try:
            model = archdsl.parse(f"{head} -> {spec.example}").model()
        except archdsl.ArchError:
            continue  # the layer does not take this rank (attention wants a sequence)
        assert model.layers[-1].output_shape == model.layers[-1].input_shape, head


@pytest.mark.parametrize("spec", [s for s in LAYER_TABLE if s.merge], ids=lambda s: s.name)
def test_a_merge_takes_the_branches_of_a_group(spec):
    model = archdsl.parse(f"input 6x6x3 -> ( relu | tanh ) -> {spec.name}").model()
    assert len(model.layers[-1].inputs) == 2
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.parse(f"input 6x6x3 -> relu -> {spec.name}")
    assert caught.value.code == "A304"


def test_a_fused_activation_is_exactly_an_activation_argument():
    fused = {spec.name for spec in LAYER_TABLE if spec.fuses_activation}
    assert "conv2d" in fused and "dense" in fused
    assert "rnn" not in fused  # its activation is a choice of tanh or relu, not an activation word


MACS_INPUTS = ("input 12", "input 7x8", "input 6x6x8", "input 7x7x64", "input 4x5x6x8")


@pytest.mark.parametrize("spec", LAYER_TABLE, ids=lambda spec: spec.name)
def test_a_layer_counts_multiply_adds_exactly_when_it_has_weights(spec):
    """torchinfo's convention counts a module's parameters once per position they are applied at, so
    a layer without PyTorch parameters counts none (normalize keeps Keras' statistics as buffers), nor
    does a bare learned tensor that is only added or put in place (posembed, clstoken);
    tests/test_targets.py holds every count to torchinfo's."""
    layers = []
    for head in MACS_INPUTS:
        try:
            layers.append(archdsl.parse(f"{head} -> {spec.example}").model().layers[-1])
        except archdsl.ArchError:
            continue  # the layer does not take this rank
    assert layers, f"{spec.name}'s example takes none of {MACS_INPUTS}"
    for layer in layers:
        assert (layer.macs() > 0) == (spec.counts_macs and layer.params.torch > 0), layer
        assert layer.params.torch == 0 or spec.has_weights, layer
        assert spec.counts_macs <= spec.has_weights
        assert 0 <= layer.params.keras_non_trainable <= layer.params.keras
        assert layer.params.torch_buffers >= 0


@pytest.mark.parametrize("spec", [s for s in LAYER_TABLE if s.branches], ids=lambda s: s.name)
def test_a_layer_that_takes_branches_takes_those_counts_and_no_others(spec):
    assert not spec.merge, "a merge takes any number of branches"
    head = "input 6x8"  # every branch a sequence, as attention reads
    for count in range(2, max(spec.branches) + 2):
        text = f"{head} -> ( {' | '.join(['identity'] * count)} ) -> {spec.example}"
        if count in spec.branches:
            assert len(archdsl.parse(text).model().layers[-1].inputs) == count
        else:
            with pytest.raises(archdsl.ArchError) as caught:
                archdsl.parse(text)
            assert caught.value.code == "A303"
