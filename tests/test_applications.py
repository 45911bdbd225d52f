"""keras.applications, reproduced by specs a person can read: examples/applications/.

Each spec is held to the model Keras ships, built for real (`weights=None`, the default
top and input): the same total and trainable parameters, the same output shape and the
same weights size for size, and archdsl's own figures (`check`) and the Keras code it
generates, built for real, agree with both. The totals Keras publishes are written here
too, so that a spec that drifted and a Keras release that changed a model are both noticed.

A full-size model is too slow to verify layer by layer on every run; instead a small model
written with each family's own blocks (a small input, a few blocks, the same layer types)
goes through `archdsl verify`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import archdsl  # noqa: E402
from archdsl.layers.shapes import batch_shape  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
APPLICATIONS = REPO / "examples" / "applications"

# The spec, the keras.applications model, and its total as Keras publishes it.
REPRODUCED = {
    "vgg19": ("VGG19", 143_667_240),
    "resnet50": ("ResNet50", 25_636_712),
    "densenet121": ("DenseNet121", 8_062_504),
    "xception": ("Xception", 22_910_480),
    "mobilenet": ("MobileNet", 4_253_864),
    "mobilenet_v2": ("MobileNetV2", 3_538_984),
    "efficientnet_b0": ("EfficientNetB0", 5_330_571),
    "inception_v3": ("InceptionV3", 23_851_784),
    "mobilenet_v3_small": ("MobileNetV3Small", 2_554_968),
    "convnext_tiny": ("ConvNeXtTiny", 28_589_128),
    "resnet50_v2": ("ResNet50V2", 25_613_800),
}

# A small model of each family, written with the blocks of its spec.
SMALL = {
    "vgg19": """
model SmallVGG {
  input 32x32x3 -> vgg_stage 8 2 -> vgg_stage 16 4 -> flatten -> dense 32 relu -> dense 10 softmax
}""",
    "resnet50": """
model SmallResNet {
  input 32x32x3 -> zeropad 3 -> conv2d 8 7x7 stride=2 -> bn -> relu -> zeropad 1 -> maxpool 3x3 stride=2
  -> stage 4 2 s=1 -> stage 8 2 -> globalavgpool -> dense 10 softmax
}""",
    "densenet121": """
model SmallDenseNet {
  input 32x32x3 -> zeropad 3 -> conv2d 16 7x7 stride=2 bias=false -> bn -> relu -> zeropad 1
  -> maxpool 3x3 stride=2 -> dense_layer 8 * 2 -> transition 16 -> dense_layer 8 * 2 -> bn -> relu
  -> globalavgpool -> dense 10 softmax
}""",
    "xception": """
model SmallXception {
  input 32x32x3 -> conv2d 8 3x3 stride=2 bias=false -> batchnorm -> relu
  -> conv2d 16 3x3 bias=false -> batchnorm -> relu -> down 16 16 first_relu=linear -> down 24 24
  -> middle 24 -> down 24 32 -> sep 48 -> relu -> globalavgpool -> dense 10 softmax
}""",
    "mobilenet": """
model SmallMobileNet {
  input 32x32x3 -> conv_bn 8 s=2 -> dw_pw 16 -> dw_pw_down 32 -> dw_pw 32 -> globalavgpool keepdims
  -> dropout 0.001 -> conv2d 10 1x1 same -> reshape 10 -> softmax
}""",
    "mobilenet_v2": """
model SmallMobileNetV2 {
  input 32x32x3 -> conv2d 8 3x3 stride=2 same bias=false -> bn -> relu6 -> depthwise -> project 8
  -> down 24 8 -> inverted 24 8 -> widen 24 16 -> conv2d 32 1x1 bias=false -> bn -> relu6
  -> globalavgpool -> dense 10 softmax
}""",
    "efficientnet_b0": """
model SmallEfficientNet {
  input 32x32x3 -> rescale 0.00392156862745098 -> normalize -> zeropad 0x1 0x1
  -> conv2d 8 3x3 stride=2 bias=false -> bn -> silu -> depthwise 3 -> squeeze_excite 8 2 -> project 8
  -> mbconv_down 24 16 5 2 1x2 -> mbconv 48 16 3 4 0.1 -> mbconv_widen 48 24 5 4
  -> conv2d 32 1x1 same bias=false -> bn -> silu -> globalavgpool -> dropout 0.2 -> dense 10 softmax
}""",
    "inception_v3": """
model SmallInception {
  input 35x35x3 -> cbn 16 3x3 -> maxpool 3x3 stride=1 -> inception_a 8 -> reduction_a
  -> inception_b 16 -> reduction_b -> inception_c -> globalavgpool -> dense 10 softmax
}""",
    "mobilenet_v3_small": """
model SmallMobileNetV3 {
  input 32x32x3 -> rescale 0.00784313725490196 offset=-1 -> conv2d 16 3x3 stride=2 same bias=false -> bn
  -> hardswish -> depthwise_down 3 0x1 relu -> squeeze_excite 16 8 -> project 16
  -> expand 32 relu -> depthwise 3 relu -> project 16 -> bneck_down 48 24 5 16 1x2
  -> bneck_residual 72 24 5 24 -> bneck 72 32 5 24 -> conv2d 64 1x1 same bias=false -> bn -> hardswish
  -> globalavgpool keepdims -> conv2d 128 1x1 same hardswish -> dropout 0.2 -> conv2d 10 1x1 same
  -> flatten -> softmax
}""",
    "convnext_tiny": """
model SmallConvNeXt {
  input 32x32x3 -> normalize mean=123.675x116.28x103.53 variance=3409.976025x3262.6944x3291.890625
  -> conv2d 16 4x4 stride=4 -> ln -> convnext 16 * 2 -> downsample 32 -> convnext 32
  -> globalavgpool -> ln -> dense 10 softmax
}""",
    "resnet50_v2": """
model SmallResNetV2 {
  input 32x32x3 -> zeropad 3 -> conv2d 16 7x7 stride=2 -> zeropad 1 -> maxpool 3x3 stride=2
  -> stage 8 3 -> project 16 -> bottleneck 16 -> preact -> globalavgpool -> dense 10 softmax
}""",
}


def _sizes(weights) -> Counter[int]:
    """The weights by size: the same layers hold the same numbers, whatever their layout."""
    import numpy as np

    return Counter(int(np.prod(w.shape)) for w in weights)


def _spec(stem: str) -> archdsl.Model:
    return archdsl.load(APPLICATIONS / f"{stem}.arch").model()


def test_every_spec_of_the_folder_is_held_to_keras():
    assert {path.stem for path in APPLICATIONS.glob("*.arch")} == set(REPRODUCED) == set(SMALL)


def test_the_readme_claims_what_is_tested_here():
    rows = re.findall(r"^  \| `(\w+)\.arch` \| (\w+) \| ([\d,]+) \|$", (REPO / "README.md").read_text("utf-8"), re.M)
    assert {stem: (name, int(total.replace(",", ""))) for stem, name, total in rows} == REPRODUCED


@pytest.mark.frameworks
@pytest.mark.parametrize("stem", sorted(REPRODUCED))
def test_the_spec_reproduces_the_keras_application(stem):
    import keras

    name, published = REPRODUCED[stem]
    model = _spec(stem)
    reference = getattr(keras.applications, name)(weights=None)
    generated = archdsl.build(model, "keras")
    try:
        assert model.params.keras == reference.count_params() == generated.count_params() == published
        trainable = sum(_sizes(reference.trainable_weights).elements())
        assert sum(_sizes(generated.trainable_weights).elements()) == trainable == model.params.keras_trainable
        # PyTorch's parameters are Keras' trainable weights: the statistics are buffers there.
        assert model.params.torch == trainable
        assert _sizes(generated.weights) == _sizes(reference.weights)
        assert batch_shape(model.output_shape) == "(N, 1000)"
        assert generated.output_shape == reference.output_shape == (None, 1000)
        if None not in reference.input_shape[1:3]:  # MobileNetV3 takes any size; its spec says 224x224
            assert generated.input_shape == reference.input_shape
    finally:
        keras.backend.clear_session()  # each is built once; keep neither


@pytest.mark.frameworks
@pytest.mark.parametrize("stem", sorted(SMALL))
def test_a_small_model_of_the_family_verifies(stem):
    text = (APPLICATIONS / f"{stem}.arch").read_text(encoding="utf-8") + SMALL[stem]
    program = archdsl.parse(text, f"{stem}.arch")
    full, small = program.models
    assert {layer.type for layer in small.layers} == {layer.type for layer in full.layers}
    report = archdsl.verify(small)
    assert report.ok, report.first_mismatch
