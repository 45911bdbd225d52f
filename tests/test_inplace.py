"""In-place activations in the generated PyTorch forward: where they are written, and that they are safe.

The PyTorch target writes `F.relu(x, inplace=True)` (and relu6, leaky_relu, elu)
where nothing else reads the tensor the activation overwrites, as careful
PyTorch code does (docs/performance.md, section 4). Two kinds of checks:

- the generated source: which activation lines are in place, which are not
  (the skip of a residual, a branch point, the model's input, a tensor whose
  producer's backward reads it), and that verify's probe forward has none;
- the generated model run for real against the same code generated without
  in-place activations: same outputs in eval and train mode, same gradients
  through `loss.backward()` (no autograd in-place error), an unchanged input.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import frameworks
import pytest

import archdsl
from archdsl.layers import LAYERS
from archdsl.targets import torch as torch_target
from archdsl.targets.common import example_shape, token_ids, vocabulary
from archdsl.targets.render import render_module
from archdsl.targets.torch import module as torch_module
from archdsl.targets.torch.activation import IN_PLACE_CALLS
from archdsl.targets.torch.layout import CHANNELS_FIRST

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
# every example but VGG16, whose 138M parameters are too many to build twice and train in a test
EXAMPLES = sorted(path for path in EXAMPLES_DIR.glob("*.arch") if path.stem != "vgg16")

# spec -> the layers whose activation is in place (every other activation is out of place)
SPECS = {
    # a plain conv-bn-relu chain, and a dense with a fused relu: all in place
    "chain": (
        "input 8x8x3 -> conv2d 4 3x3 same -> batchnorm -> relu -> conv2d 4 3x3 same relu -> maxpool -> relu"
        " -> flatten -> dense 8 relu -> dense 3",
        {"relu_1", "conv2d_2", "relu_2", "dense_1"},
    ),
    # pre-activation residual: the relu reads the skip tensor, which the add reads afterwards
    "residual_skip_feeds_relu": (
        "input 8x8x4 -> conv2d 4 3x3 same -> residual( relu -> conv2d 4 3x3 same ) -> relu",
        {"relu_2"},
    ),
    # post-activation residual (ResNet's basic block): relu after batchnorm and after add
    "residual_after_bn_and_add": (
        "input 8x8x4 -> conv2d 4 3x3 same -> batchnorm -> relu"
        " -> residual( conv2d 4 3x3 same -> batchnorm -> relu -> conv2d 4 3x3 same -> batchnorm ) -> relu"
        " -> globalavgpool -> dense 3",
        {"relu_1", "relu_2", "relu_3"},
    ),
    # a relu straight on a branch point stays out of place; one after a branch's own batchnorm does not
    "branches": (
        "input 8x8x3 -> conv2d 4 3x3 same -> (relu | conv2d 4 1x1 -> batchnorm -> relu) -> add -> relu",
        {"relu_2", "relu_3"},
    ),
    # the model's input is never overwritten, not even through a dropout (its input itself in eval mode)
    "input_direct": ("input 6x6x3 -> relu -> conv2d 4 3x3 -> relu", {"relu_2"}),
    "input_through_dropout": ("input 6 -> dropout 0.5 -> relu -> dense 2", set()),
    "input_through_flatten": ("input 4x3 -> flatten -> relu -> dense 2", set()),  # torch.flatten: a view
    # through a dropout from a fresh tensor it is fine; and the other in-place activations
    "relu_family": (
        "input 6 -> dense 8 -> dropout 0.5 -> relu6 -> dense 8 -> leakyrelu 0.1 -> dense 8 -> elu"
        " -> dense 8 relu6 -> dense 2 leakyrelu",
        {"relu6_1", "leakyrelu_1", "elu_1", "dense_4", "dense_5"},
    ),
    # producers whose backward reads their output: an activation (sigmoid, relu) and amax
    "saved_outputs": (
        "input 6x6x2 -> conv2d 4 3x3 same sigmoid -> relu -> relu -> globalmaxpool -> relu -> dense 2",
        set(),
    ),
    # a relu on a tensor a parallel branch reads; on the merge after it; on an RNN's output
    "branch_point_and_rnn": (
        "input 5x4 -> dense 4 -> (relu | identity) -> add -> relu -> lstm 3 seq -> relu -> dense 2",
        {"relu_2"},
    ),
    # dropout in eval mode returns its input itself: a relu after it would overwrite the other branch's tensor
    "branch_through_dropout": (
        "input 6 -> dense 4 -> (dropout 0.5 -> relu | identity) -> add -> dense 2 relu",
        {"dense_2"},
    ),
    # activations that stay out of place everywhere
    "not_relu_like": ("input 6 -> dense 8 -> gelu -> dense 8 -> tanh -> dense 8 silu -> dense 2 sigmoid", set()),
}


def model_of(spec: str) -> archdsl.Model:
    return archdsl.parse(spec, "<string>").model()


def activation_lines(model: archdsl.Model, probe: bool = False, in_place: bool = True) -> dict[str, str]:
    """The forward line of each layer that has an activation, by layer name."""
    built = torch_target.emit_model(model, probe=probe, in_place=in_place)
    lines = {}
    for layer, code in zip(model.layers, built.layers, strict=True):
        spec = LAYERS[layer.type]
        if spec.category == "activation" or (spec.fuses_activation and layer.config["activation"]):
            lines[layer.name] = "\n".join(code.forward)
    return lines


# ---------------------------------------------------------------- the generated source


@pytest.mark.parametrize("case", SPECS)
def test_in_place_exactly_where_safe(case):
    spec, expected = SPECS[case]
    model = model_of(spec)
    assert torch_target.in_place_activations(model) == expected
    lines = activation_lines(model)
    assert expected <= set(lines), "a layer expected in place has no activation line"
    for name, line in lines.items():
        assert ("inplace=True" in line) == (name in expected), f"{name}: {line.strip()}"


def test_skip_tensor_is_read_out_of_place_in_the_source():
    model = model_of(SPECS["residual_skip_feeds_relu"][0])
    source = archdsl.generate(model, "torch")
    # conv2d_1 is the skip: the relu reads it and must leave it for the add
    assert "F.relu(conv2d_1)  #" in source
    assert "x + conv2d_1" in source
    assert "F.relu(conv2d_1, inplace=True)" not in source


def test_probe_and_opt_out_forward_have_no_in_place_op():
    for spec, _ in SPECS.values():
        model = model_of(spec)
        for built in (torch_target.emit_model(model, probe=True), torch_target.emit_model(model, in_place=False)):
            source = render_module(torch_target.NAME, built.view)
            assert "inplace=True" not in source
            assert not re.search(r"\.[a-z0-9]+_\(", source)  # no x.relu_() either


def test_examples_use_in_place_relu():
    """The VGG and ResNet examples: every relu in place, as in the hand-written references."""
    for stem in ("vgg_small", "resnet"):
        model = model_of((EXAMPLES_DIR / f"{stem}.arch").read_text(encoding="utf-8"))
        relus = [layer.name for layer in model.layers if "relu" in (layer.type, layer.config.get("activation"))]
        assert relus
        assert set(relus) <= torch_target.in_place_activations(model), stem


# ---------------------------------------------------------------- run for real


# None without PyTorch: the tests below are marked frameworks and skip there (tests/conftest.py).
torch = frameworks.optional("torch")


def _module(model: archdsl.Model, in_place: bool):
    source = render_module(torch_target.NAME, torch_target.emit_model(model, in_place=in_place).view)
    namespace: dict = {"__name__": f"archdsl_test_inplace_{in_place}"}
    exec(compile(source, f"<{model.name} in_place={in_place}>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]()


def _pair(model: archdsl.Model):
    """The model generated with and without in-place activations, holding the same weights."""
    torch.manual_seed(0)
    fast = _module(model, in_place=True)
    slow = _module(model, in_place=False)
    slow.load_state_dict(fast.state_dict())
    return fast, slow


def _batch(model: archdsl.Model, batch: int = 3):
    """One tensor per input of the model, a tuple when there are several."""
    tensors = []
    for given in model.inputs:
        shape = example_shape(given.shape)
        if token_ids(model, given.name):
            tensors.append(torch.randint(0, vocabulary(model, given.name), (batch, *shape)))
            continue
        if torch_target.input_layout(model, given.name) == CHANNELS_FIRST:
            shape = (shape[-1], *shape[:-1])
        tensors.append(torch.randn(batch, *shape))
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _run(net, x, train: bool, seed: int = 1):
    """The model's outputs, several joined into one flat tensor so that they compare and back-propagate as one."""
    net.train(train)
    torch.manual_seed(seed)  # the same dropout masks in both models
    found = net(*x) if isinstance(x, tuple) else net(x)
    return torch.cat([value.flatten() for value in found]) if isinstance(found, tuple) else found


def _copy(x):
    return tuple(value.clone() for value in x) if isinstance(x, tuple) else x.clone()


def _same(x, y) -> bool:
    return all(map(torch.equal, x, y)) if isinstance(x, tuple) else torch.equal(x, y)


def _check_against_out_of_place(model: archdsl.Model) -> None:
    fast, slow = _pair(model)
    x = _batch(model)
    before = _copy(x)

    with torch.no_grad():
        expected = _run(slow, x, train=False)
        actual = _run(fast, x, train=False)
    assert _same(x, before), "the eval forward changed its input"
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)

    # training: batch statistics, dropout, and autograd through every in-place op
    expected = _run(slow, x, train=True)
    actual = _run(fast, x, train=True)
    assert _same(x, before), "the training forward changed its input"
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    weights = torch.randn_like(expected)
    (expected * weights).sum().backward()
    (actual * weights).sum().backward()  # raises if an in-place op overwrote a tensor saved for backward
    slow_grads = dict(slow.named_parameters())
    for name, parameter in fast.named_parameters():
        if parameter.grad is None:
            assert slow_grads[name].grad is None, name
            continue
        torch.testing.assert_close(parameter.grad, slow_grads[name].grad, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(
        dict(fast.named_buffers()), dict(slow.named_buffers()), rtol=0, atol=0, msg="batch-norm statistics"
    )


@pytest.mark.frameworks
@pytest.mark.parametrize("case", SPECS)
def test_spec_computes_what_out_of_place_code_computes(case):
    _check_against_out_of_place(model_of(SPECS[case][0]))


@pytest.mark.frameworks
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_computes_what_out_of_place_code_computes(path):
    program = archdsl.parse(path.read_text(encoding="utf-8"), str(path))
    for name in program.model_names:
        _check_against_out_of_place(program.model(name))


def _everywhere(model: archdsl.Model) -> frozenset[str]:
    """A careless rule: every relu-like activation in place."""
    relu_like = set(IN_PLACE_CALLS)
    return frozenset(
        layer.name for layer in model.layers if layer.type in relu_like or layer.config.get("activation") in relu_like
    )


@pytest.mark.frameworks
@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("residual_skip_feeds_relu", AssertionError),  # the add reads the overwritten skip
        ("branches", AssertionError),
        ("branch_through_dropout", AssertionError),
        ("input_direct", AssertionError),  # the input changed
        ("input_through_dropout", AssertionError),  # eval-mode dropout returns the input itself
        ("input_through_flatten", AssertionError),  # a view of the input
        ("saved_outputs", RuntimeError),  # autograd: a tensor saved for backward was modified
    ],
)
def test_a_careless_rule_would_be_caught(monkeypatch, case, error):
    """The checks above can fail: with every relu in place, each of these specs breaks one."""
    model = model_of(SPECS[case][0])
    monkeypatch.setattr(torch_module, "in_place_activations", _everywhere)
    assert "inplace=True" in render_module(torch_target.NAME, torch_target.emit_model(model).view)
    with pytest.raises(error):
        _check_against_out_of_place(model)


@pytest.mark.frameworks
def test_input_is_left_unchanged_and_may_require_grad():
    """A leaf input that requires grad would make an in-place op on it raise."""
    for case in ("input_direct", "input_through_dropout", "input_through_flatten"):
        model = model_of(SPECS[case][0])
        fast, _ = _pair(model)
        x = _batch(model).requires_grad_()
        before = x.detach().clone()
        for train in (False, True):
            _run(fast, x, train=train).sum().backward()
            assert torch.equal(x.detach(), before), case
        assert x.grad is not None
