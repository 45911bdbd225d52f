"""The generated code costs nothing at run time that the architecture does not need.

The performance issue asks for no needless permutes, copies or Python loops in `forward`,
and for Keras RNNs that keep the arguments under which Keras may use its fused (cuDNN)
kernels. Timing is benchmarks/run.py's job; here the code itself is held to that: PyTorch's
`forward` read as Python syntax, Keras' recurrent layers read through their public config.
"""

from __future__ import annotations

import ast as pyast
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from strategies import programs

import archdsl

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch"))

# Calls that copy a tensor or make it contiguous: never needed in generated code.
COPIES = {"clone", "contiguous", "copy_", "detach", "cpu", "numpy", "tolist", "to"}
LAYOUT_CHANGES = {"transpose", "permute", "movedim", "swapaxes"}
# Keras documents these as the conditions for its cuDNN kernels (LSTM, and GRU with reset_after).
FUSED_CONDITIONS = {
    "activation": "tanh",
    "recurrent_activation": "sigmoid",
    "recurrent_dropout": 0.0,
    "unroll": False,
    "use_bias": True,
}


def forward_of(source: str) -> pyast.FunctionDef:
    """The model's forward (the class build_model returns), not one of a class defined for a layer PyTorch lacks."""
    tree = pyast.parse(source)
    build = next((n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name == "build_model"), None)
    classes = [n for n in tree.body if isinstance(n, pyast.ClassDef)]
    model = next(n for n in classes if build is None or n.name == build.returns.id)
    return next(n for n in model.body if isinstance(n, pyast.FunctionDef) and n.name == "forward")


def method_calls(node: pyast.AST) -> list[str]:
    return [
        call.func.attr
        for call in pyast.walk(node)
        if isinstance(call, pyast.Call) and isinstance(call.func, pyast.Attribute)
    ]


def assert_forward_is_straight_line(source: str) -> None:
    forward = forward_of(source)
    loops = (pyast.For, pyast.While, pyast.ListComp, pyast.GeneratorExp, pyast.SetComp, pyast.DictComp)
    assert not [n for n in pyast.walk(forward) if isinstance(n, loops)], "a Python loop in forward"
    copies = sorted(set(method_calls(forward)) & COPIES)
    assert not copies, f"forward copies tensors: {copies}"


def layout_changes(source: str) -> int:
    return sum(1 for name in method_calls(forward_of(source)) if name in LAYOUT_CHANGES)


def torch_source(spec: str) -> str:
    return archdsl.generate(archdsl.parse(spec).model(), "torch")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_forward_has_no_loops_or_copies(path: Path) -> None:
    for model in archdsl.load(path).models:
        assert_forward_is_straight_line(archdsl.generate(model, "torch"))


@settings(max_examples=60, deadline=None)
@given(programs())
def test_generated_programs_forward_has_no_loops_or_copies(program) -> None:
    for model in archdsl.parse(program.text).models:
        try:
            source = archdsl.generate(model, "torch")
        except archdsl.ArchError:  # A601: a layer PyTorch cannot express exactly
            continue
        assert_forward_is_straight_line(source)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # The input is taken in the layout its first layer wants, so a conv1d stack needs none.
        ("input seq x 8 -> conv1d 16 3 same -> conv1d 16 3 same relu -> maxpool -> globalavgpool", 0),
        ("input seq x 8 -> lstm 16 seq -> gru 8 seq -> lstm 4", 0),
        ("input 100 -> embedding 1000 32 -> lstm 16 seq -> dense 4", 0),
        ("input 28x28x1 -> conv2d 8 3x3 -> maxpool -> conv2d 16 3x3 -> flatten -> dense 10", 0),
        # One transpose each time the layout really changes: conv1d (N, C, T) <-> lstm (N, T, C).
        ("input seq x 8 -> conv1d 16 3 same -> lstm 8 seq -> conv1d 4 3 -> globalavgpool -> dense 2", 2),
        ("input seq x 8 -> lstm 8 seq -> conv1d 4 3 -> maxpool -> conv1d 4 3 -> globalavgpool", 1),
    ],
)
def test_layout_changes_only_where_the_layout_changes(spec: str, expected: int) -> None:
    source = torch_source(spec)
    assert_forward_is_straight_line(source)
    assert layout_changes(source) == expected, source


def test_the_layout_count_sees_a_transpose() -> None:
    """The counter is not vacuous: a forward that transposes is counted."""
    source = (
        "class M:\n"
        "    def forward(self, x):\n"
        "        x = self.a(x.transpose(1, 2))\n"
        "        return x.permute(0, 2, 1)\n"
    )
    assert layout_changes(source) == 2


# ---------------------------------------------------------------- Keras recurrent layers

RECURRENT_SPECS = [
    "input seq x 8 -> lstm 16 seq -> lstm 8",
    "input seq x 8 -> gru 16 seq -> gru 8",
    "input seq x 8 -> lstm 16 bidirectional seq -> gru 8 bidirectional",
    "input 50 -> embedding 100 16 -> lstm 8 seq -> dropout 0.2 -> gru 4",
]


def _recurrent_layers(net) -> list:
    import keras

    found = []
    for layer in net.layers:
        inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if isinstance(inner, (keras.layers.LSTM, keras.layers.GRU)):
            found.append(inner)
            if isinstance(layer, keras.layers.Bidirectional):
                found.append(layer.backward_layer)
    return found


@pytest.mark.frameworks
@pytest.mark.parametrize("spec", RECURRENT_SPECS + [str(p) for p in EXAMPLES if "rnn" in p.stem or "gru" in p.stem])
def test_keras_rnns_keep_the_arguments_of_the_fused_kernels(spec: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    program = archdsl.load(spec) if spec.endswith(".arch") else archdsl.parse(spec)
    for model in program.models:
        keras.backend.clear_session()
        net = archdsl.build(model, "keras")
        recurrent = _recurrent_layers(net)
        assert recurrent, "the spec has recurrent layers"
        for layer in recurrent:
            config = layer.get_config()
            for key, wanted in FUSED_CONDITIONS.items():
                assert config[key] == wanted, (layer.name, key, config[key])
            assert config.get("use_cudnn", "auto") in ("auto", True), layer.name
            if isinstance(layer, keras.layers.GRU):
                assert config["reset_after"] is True, layer.name
