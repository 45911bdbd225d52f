"""Generated code in the structure of the spec (LANGUAGE.md section 9): a class (PyTorch) or a function
(Keras) per block.

The structured code is built from the flat code's own lines, so the claim to test is
that the two compute the same function: for every example and for generated programs, the
weights of the flat module copied into the structured one by path give the same outputs, bit
for bit, and the parameter counts are equal. ResNet-50, written with a projection and a
bottleneck block, is checked against keras.applications' own count and through verify.
"""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import pytest
import strategies

import archdsl
from archdsl.ir.model import Layer
from archdsl.ir.structure import Instance, Run, structure
from archdsl.targets.codegen import emit

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = [*sorted((REPO / "examples").glob("*.arch")), *sorted((REPO / "examples" / "applications").glob("*.arch"))]
EXAMPLES += sorted((REPO / "examples" / "transformers").glob("*.arch"))
RUN_UP_TO = 30_000_000  # parameters: the full-size transformers (ViT-B/16, GPT-2) run in their small variants
RESNET50 = REPO / "tests" / "data" / "resnet50.arch"
KERAS_RESNET50_PARAMS = 25_636_712  # keras.applications.ResNet50(weights=None).count_params()
FUZZ_SEEDS = range(40)


def _models(path: Path) -> list[archdsl.Model]:
    return list(archdsl.load(str(path.relative_to(REPO))).models)


def _classes(source: str) -> list[str]:
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]


def _functions(source: str) -> list[str]:
    return [node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)]


# ---------------------------------------------------------------- the structure pass


def test_block_calls_are_recovered_with_their_arguments_and_runs():
    model = archdsl.load("examples/resnet.arch").model()
    found = structure(model)
    assert found is not None
    kinds = [
        ("layer", m.name)
        if isinstance(m, Layer)
        else ("run", m.first.block, len(m.instances), m.first.arguments)
        if isinstance(m, Run)
        else ("call", m.block, m.arguments)
        for m in found.members
    ]
    assert kinds == [
        ("layer", "conv2d_1"),
        ("layer", "batchnorm_1"),
        ("layer", "relu_1"),
        ("run", "basic", 3, (("c", 16),)),
        ("call", "down", (("c", 32),)),
        ("run", "basic", 2, (("c", 32),)),
        ("call", "down", (("c", 64),)),
        ("run", "basic", 2, (("c", 64),)),
        ("layer", "globalavgpool_1"),
        ("layer", "dense_1"),
    ]
    run = found.members[3]
    assert len({instance.key for instance in run.instances}) == 1, "a run's calls are the same computation"
    assert [instance.input for instance in run.instances[1:]] == [i.output for i in run.instances[:-1]]


def test_nested_calls_and_a_model_without_blocks():
    model = archdsl.load("examples/transformer_encoder.arch").model()
    outer = [m for m in structure(model).members if isinstance(m, Run | Instance)]
    inner = outer[0].first.members
    assert [m.block for m in inner if isinstance(m, Instance)] == ["self_attention", "feed_forward"]
    assert inner[0].path == (outer[0].first.label, inner[0].label)
    assert structure(archdsl.load("examples/lenet5.arch").model()) is None


def test_a_call_used_again_shares_the_whole_call():
    text = (
        "block enc() = conv2d 4 3x3 relu -> globalavgpool -> dense 8\n"
        "model Siamese {\n"
        "  input 16x16x1 as left -> enc as a\n"
        "  input 16x16x1 as right -> use a as b\n"
        "  ( @a | @b ) -> subtract -> dense 1\n"
        "}\n"
    )
    model = archdsl.parse(text, "siamese.arch").model()
    calls = [m for m in structure(model).members if isinstance(m, Instance)]
    assert [(c.label, c.shares) for c in calls] == [("a", None), ("b", ("a",))]
    source = archdsl.generate(model, "torch")
    assert source.count("Enc()") == 1, "one module, called twice"
    assert re.search(r"= self\.a\(left\)", source) and re.search(r"= self\.a\(right\)", source)


# ---------------------------------------------------------------- the code


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_models_without_blocks_generate_the_flat_code(path):
    for model in _models(path):
        flat = archdsl.generate(model, "torch", flat=True)
        source = archdsl.generate(model, "torch")
        masked = any(layer.mask is not None for layer in model.layers)  # PyTorch writes it flat
        if structure(model) is None or masked:
            assert source == flat
        else:
            assert len(_classes(source)) > len(_classes(flat)), "a class per block, beside any helper class"
            assert _classes(source)[-1] == _classes(flat)[-1] == model.name
        keras_code = archdsl.generate(model, "keras")
        if structure(model) is None:
            assert keras_code == archdsl.generate(model, "keras", flat=True)
        else:
            assert _functions(keras_code)[:-1] and _functions(keras_code)[-1] == "build_model"


def test_cli_generate_flat_keeps_one_class():
    import test_cli

    def run(*extra: str) -> str:
        result = test_cli.run(["generate", "examples/resnet.arch", "-t", "torch", *extra], REPO)
        assert result.returncode == 0, result.stderr
        return result.stdout

    model = archdsl.load("examples/resnet.arch").model()
    assert run("--flat") == archdsl.generate(model, "torch", flat=True)
    assert run() == archdsl.generate(model, "torch")
    assert _classes(run("--flat")) == ["ResNet20"] and _classes(run()) == ["Basic", "Down", "ResNet20"]


def test_structured_code_is_deterministic():
    model = archdsl.load("examples/vgg_small.arch").model()
    assert archdsl.generate(model, "torch") == archdsl.generate(model, "torch")


def test_resnet50_has_a_class_per_block_and_fits_in_120_lines():
    model = archdsl.load(str(RESNET50.relative_to(REPO))).model()
    source = archdsl.generate(model, "torch")
    assert len(source.splitlines()) < 120
    assert _classes(source) == ["Projection", "Bottleneck", "ResNet50"]
    assert "def __init__(self, f: int, s: int, in_channels: int) -> None:" in source
    assert "nn.Sequential(*(Bottleneck(256, 1024) for _ in range(5)))" in source
    assert model.params.keras == KERAS_RESNET50_PARAMS
    flat = archdsl.generate(model, "torch", flat=True)
    assert len(flat.splitlines()) > 300
    keras_source = archdsl.generate(model, "keras")
    assert _functions(keras_source) == ["projection", "bottleneck", "build_model"]
    assert "def bottleneck(inputs: keras.KerasTensor, f: int, name: str) -> keras.KerasTensor:" in keras_source
    assert '    for i in range(5):\n        x = bottleneck(x, 256, name=f"bottleneck_3.{i}")' in keras_source
    assert len(keras_source.splitlines()) < 100 and len(archdsl.generate(model, "keras", flat=True).splitlines()) > 190


def test_code_size_grows_with_the_spec_not_the_expanded_model():
    def source(repeats: int, target: str = "torch") -> str:
        text = f"block unit(c) = dense c -> relu\ninput 16 -> unit 16 * {repeats} -> dense 2\n"
        return archdsl.generate(archdsl.parse(text, "deep.arch").model(), target)

    small, deep = source(5), source(5000)  # 11 and 10,001 layers
    assert len(deep.splitlines()) == len(small.splitlines())
    assert abs(len(deep) - len(small)) <= 16, "only the count and the last layer's number grow"
    assert "for _ in range(5000)" in deep
    small, deep = source(5, "keras"), source(5000, "keras")
    assert len(deep.splitlines()) == len(small.splitlines())
    assert abs(len(deep) - len(small)) <= 16
    assert "    for i in range(5000):" in deep


def test_block_paths_name_every_weighted_layer():
    model = archdsl.load("examples/resnet.arch").model()
    paths = dict(emit(model, "torch").paths)
    assert paths["conv2d_1"] == "conv2d_1"
    assert paths["conv2d_2"] == "basic_1.0.conv2d_1"
    assert paths["conv2d_4"] == "basic_1.1.conv2d_1"
    assert paths["conv2d_10"] == "down_1.conv2d_3"


# ---------------------------------------------------------------- the same function, with frameworks


def _same_function(model: archdsl.Model) -> None:
    import test_targets
    import torch

    from archdsl.tools.verify import copy_by_path

    structured = test_targets.exec_source(archdsl.generate(model, "torch"), f"{model.name}_structured")
    flat = test_targets.exec_source(archdsl.generate(model, "torch", flat=True), f"{model.name}_flat")
    copy_by_path(model, emit(model, "torch"), flat, structured)
    count = [sum(p.numel() for p in net.parameters()) for net in (structured, flat)]
    assert count[0] == count[1] == model.params.torch
    batch = test_targets.torch_batch(model)
    with torch.no_grad():
        outputs = [test_targets.as_list(net.eval()(*batch)) for net in (structured, flat)]
    for mine, theirs in zip(*outputs, strict=True):
        assert torch.equal(mine, theirs)


def _shown(weight, rng):
    """Kernels keep their random start; a weight that starts constant (biases at 0, scales and
    variances at 1) is given random values of its kind, so that a wrong copy cannot hide."""
    import numpy as np

    if weight.size == 0 or not np.all(weight == weight.flat[0]):
        return weight
    if weight.flat[0] == 1:
        return rng.uniform(0.5, 1.5, weight.shape).astype(weight.dtype)
    return rng.normal(0.0, 0.1, weight.shape).astype(weight.dtype)


def _same_keras_function(model: archdsl.Model) -> None:
    import numpy as np
    import test_targets

    from archdsl.tools.verify import copy_by_path

    structured = test_targets.exec_source(archdsl.generate(model, "keras"), f"{model.name}_structured")
    flat = test_targets.exec_source(archdsl.generate(model, "keras", flat=True), f"{model.name}_flat")
    rng = np.random.default_rng(0)
    for layer in flat.layers:  # weights that show: a layer left out of the copy cannot hide
        layer.set_weights([_shown(w, rng) for w in layer.get_weights()])
    copy_by_path(model, emit(model, "keras"), flat, structured)
    assert structured.count_params() == flat.count_params() == model.params.keras
    batch = test_targets.keras_batch(model)
    outputs = [test_targets.as_list(net(batch, training=False)) for net in (structured, flat)]
    for mine, theirs in zip(*outputs, strict=True):
        assert np.isfinite(np.asarray(theirs)).all()
        assert np.array_equal(np.asarray(mine), np.asarray(theirs))


@pytest.mark.frameworks
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_structured_and_flat_code_compute_the_same_function(path):
    for model in _models(path):
        if structure(model) is not None and model.params.keras <= RUN_UP_TO:
            _same_function(model)
            _same_keras_function(model)


@pytest.mark.frameworks
def test_generated_programs_compute_the_same_function_structured_and_flat():
    checked = 0
    for seed in FUZZ_SEEDS:
        program = strategies.random_program(random.Random(seed))
        for model in archdsl.parse(program.text, program.filename).models:
            if structure(model) is None:
                continue
            try:
                emit(model, "torch")
            except archdsl.ArchError:
                continue  # a layer PyTorch cannot express: refused alike, flat or not
            _same_function(model)
            _same_keras_function(model)
            checked += 1
    assert checked >= 10, "the fuzzer's programs should call blocks"


@pytest.mark.frameworks
def test_resnet50_counts_as_keras_applications_does():
    keras = pytest.importorskip("keras")
    reference = keras.applications.ResNet50(weights=None)
    assert reference.count_params() == KERAS_RESNET50_PARAMS
    built = archdsl.build(archdsl.load(str(RESNET50.relative_to(REPO))).model(), "keras")
    assert built.count_params() == KERAS_RESNET50_PARAMS


@pytest.mark.frameworks
def test_verify_checks_the_structured_code_too():
    from archdsl.tools.verify import verify_model

    report = verify_model(archdsl.load("examples/resnet.arch").model())
    assert report.ok and [target for target, found in report.structured if found.ok] == ["Keras", "PyTorch"]
    flat = verify_model(archdsl.load("examples/lenet5.arch").model())
    assert flat.ok and flat.structured == ()


@pytest.mark.frameworks
def test_a_masked_model_has_keras_functions_and_flat_pytorch():
    """Keras carries a padding mask on the tensor, into a block's function and out; in PyTorch it would
    be a second value every block takes and gives, so that code stays flat, and verify says which ran."""
    from archdsl.tools.verify import verify_model

    model = archdsl.load("examples/transformers/gpt2.arch").model("GPT2_Tiny")
    assert _functions(archdsl.generate(model, "keras"))[-4:] == ["attn", "mlp", "decoder", "build_model"]
    assert archdsl.generate(model, "torch") == archdsl.generate(model, "torch", flat=True)
    report = verify_model(model)
    assert report.ok and [target for target, _ in report.structured] == ["Keras"]
