"""The generated Keras and PyTorch code, built and run for real.

Every example and a spec for every layer type (with the variants whose
translation is tricky) is generated for both targets, built, and run on a
random batch; the output shape and parameter count must be what archdsl
inferred. Keras is also checked layer by layer (names are shared), and the
PyTorch forward's `# (N, ...)` shape comments are turned into run-time checks.
The generated sources must be deterministic, formatted and lint-clean, runnable
as scripts, and the `generate` command must write them safely.

A symbolic size is 16 in the random batch, as in the generated `__main__`.
"""

from __future__ import annotations

import ast as pyast
import functools
import gc
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import frameworks
import pytest

import archdsl
from archdsl.layers import ACTIVATIONS, LAYERS
from archdsl.targets import torch as torch_target
from archdsl.targets.codegen import emit
from archdsl.targets.torch.layout import CHANNELS_FIRST
from archdsl.tools.verify import keras_layer as found_layer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = frameworks.importorskip("keras")
torch = frameworks.importorskip("torch")

pytestmark = pytest.mark.frameworks

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.arch"))
TARGETS = ("keras", "torch")
BATCH = 2
SYMBOLIC = 16  # what a symbolic size is in a test batch (and in the generated __main__)
TIMEOUT = 300


# ---------------------------------------------------------------- the specs, one or more per layer type


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    covers: tuple[str, ...]  # the layer types this spec is there to exercise


def _case(id: str, text: str, *covers: str) -> Case:
    return Case(id, text, covers)


ACTIVATION_CASES = [
    # each activation as a layer on an image (channels move in PyTorch) and as a dense's activation=
    *(_case(f"{name}_layer_image", f"input 5x5x3 -> {name}", name) for name in ACTIVATIONS),
    *(_case(f"{name}_as_activation", f"input 6 -> dense 4 activation={name}", "dense") for name in ACTIVATIONS),
    _case("softmax_layer_sequence", "input 5x4 -> softmax", "softmax"),
    _case("softmax_layer_channels_first_sequence", "input 7x3 -> conv1d 4 3 -> softmax", "softmax", "conv1d"),
    _case("softmax_layer_vector", "input 6 -> softmax", "softmax"),
    _case("leakyrelu_alpha", "input 6 -> leakyrelu 0.1", "leakyrelu"),
    _case("leakyrelu_alpha_keyword", "input 4x4x2 -> leakyrelu alpha=0.05", "leakyrelu"),
    _case("softmax_as_conv_activation", "input 6x6x2 -> conv2d 3 same softmax", "conv2d"),
    _case("softmax_as_conv1d_activation", "input 9x2 -> conv1d 3 3 softmax", "conv1d"),
    _case("gelu_as_per_step_dense", "input seq x 4 -> dense 3 gelu", "dense"),
]

LAYER_CASES: list[Case] = [
    # dense
    _case("dense_vector", "input 20 -> dense 5", "dense"),
    _case("dense_relu_nobias", "input 20 -> dense 5 relu bias=false", "dense"),
    _case("dense_per_step", "input 6x4 -> dense 3", "dense"),
    _case("dense_per_step_symbolic", "input seq x 4 -> dense 3 relu", "dense"),
    _case("dense_on_image", "input 6x6x2 -> dense 4", "dense"),
    _case("dense_on_volume", "input 3x4x4x2 -> dense 3", "dense"),
    _case("dense_after_conv_on_image", "input 8x8x1 -> conv2d 2 -> dense 3 -> dense 2", "dense", "conv2d"),
    # conv1d, and the (N, C, T) <-> (N, T, C) switches around it
    _case("conv1d_valid", "input 20x3 -> conv1d 4 3", "conv1d"),
    _case("conv1d_same_stride2_even_kernel", "input 20x3 -> conv1d 4 4 same stride=2", "conv1d"),
    _case("conv1d_same_odd_length", "input 21x3 -> conv1d 4 3 same stride=2 relu", "conv1d"),
    _case("conv1d_dilation_groups_nobias", "input 20x4 -> conv1d 8 3 dilation=2 groups=2 bias=false", "conv1d"),
    _case("conv1d_causal_dilated", "input 20x3 -> conv1d 4 3 causal dilation=2 -> conv1d 4 2 causal", "conv1d"),
    _case("conv1d_causal_strided_symbolic", "input seq x 3 -> conv1d 4 4 causal stride=2 -> lstm 2", "conv1d"),
    _case("conv1d_then_lstm", "input seq x 3 -> conv1d 8 3 same relu -> lstm 5", "conv1d", "lstm"),
    _case("lstm_then_conv1d_then_lstm", "input 20x3 -> lstm 4 seq -> conv1d 6 3 -> lstm 5", "conv1d", "lstm"),
    _case("conv1d_then_dense_per_step", "input 12x3 -> conv1d 4 3 -> dense 2", "conv1d", "dense"),
    _case("conv1d_then_flatten", "input 12x3 -> conv1d 4 3 -> flatten -> dense 2", "conv1d", "flatten"),
    _case("conv1d_then_attention", "input 12x3 -> conv1d 4 3 same -> attention heads=2", "conv1d", "attention"),
    # conv2d
    _case("conv2d_default", "input 9x9x3 -> conv2d 4", "conv2d"),
    _case("conv2d_same_stride2", "input 9x9x3 -> conv2d 4 3x3 same stride=2", "conv2d"),
    _case("conv2d_same_stride2_even_size", "input 10x10x3 -> conv2d 4 3x3 same stride=2", "conv2d"),
    _case("conv2d_same_stride2_even_kernel", "input 10x10x3 -> conv2d 4 4x4 same stride=2", "conv2d"),
    _case("conv2d_same_even_kernel", "input 10x10x3 -> conv2d 4 2x2 same", "conv2d"),
    _case("conv2d_same_rectangular", "input 10x7x3 -> conv2d 4 2x3 same stride=1x2", "conv2d"),
    _case("conv2d_dilation_same", "input 11x11x3 -> conv2d 4 3x3 dilation=2 same", "conv2d"),
    _case("conv2d_dilation_valid", "input 11x11x3 -> conv2d 4 3x3 dilation=2", "conv2d"),
    _case("conv2d_groups", "input 8x8x4 -> conv2d 6 3x3 groups=2 same", "conv2d"),
    _case("conv2d_nobias", "input 8x8x3 -> conv2d 4 bias=false relu", "conv2d"),
    _case(
        "conv2d_keywords", "input 8x8x3 -> conv2d filters=4 kernel=5x5 stride=2 padding=same activation=tanh", "conv2d"
    ),
    # conv3d
    _case("conv3d_same", "input 6x6x6x2 -> conv3d 3 same", "conv3d"),
    _case("conv3d_same_stride2_even_kernel", "input 7x7x7x2 -> conv3d 3 2x2x2 stride=2 same", "conv3d"),
    _case("conv3d_valid", "input 6x6x6x2 -> conv3d 3 relu", "conv3d"),
    # separable and depthwise
    _case("sepconv2d_same", "input 9x9x3 -> sepconv2d 5 3x3 same relu", "sepconv2d"),
    _case("sepconv2d_same_stride2", "input 10x10x3 -> sepconv2d 5 3x3 stride=2 same", "sepconv2d"),
    _case("sepconv2d_valid_nobias", "input 9x9x3 -> sepconv2d 5 bias=false", "sepconv2d"),
    _case("dwconv2d_multiplier2", "input 9x9x3 -> dwconv2d 3x3 multiplier=2", "dwconv2d"),
    _case("dwconv2d_same_stride2_nobias", "input 10x10x3 -> dwconv2d 3x3 same stride=2 bias=false", "dwconv2d"),
    # transposed convolutions: Keras' sizes through PyTorch's padding/output_padding/crop
    _case("conv2dtranspose_default", "input 5x5x3 -> conv2dtranspose 4", "conv2dtranspose"),
    _case("conv2dtranspose_k3_s2_valid", "input 5x5x3 -> conv2dtranspose 4 3x3 stride=2", "conv2dtranspose"),
    _case("conv2dtranspose_k3_s2_same", "input 5x5x3 -> conv2dtranspose 4 3x3 stride=2 same", "conv2dtranspose"),
    _case("conv2dtranspose_k2_s2_valid", "input 5x5x3 -> conv2dtranspose 4 2x2 stride=2", "conv2dtranspose"),
    _case("conv2dtranspose_k2_s2_same", "input 5x5x3 -> conv2dtranspose 4 2x2 stride=2 same", "conv2dtranspose"),
    _case("conv2dtranspose_k1_s2_valid", "input 5x5x3 -> conv2dtranspose 4 1x1 stride=2", "conv2dtranspose"),
    _case("conv2dtranspose_k1_s2_same", "input 5x5x3 -> conv2dtranspose 4 1x1 stride=2 same", "conv2dtranspose"),
    _case("conv2dtranspose_k4_s2_same", "input 5x5x3 -> conv2dtranspose 4 4x4 stride=2 same relu", "conv2dtranspose"),
    _case("conv2dtranspose_k5_s1_same", "input 5x5x3 -> conv2dtranspose 4 5x5 same bias=false", "conv2dtranspose"),
    # pooling
    _case("maxpool_default", "input 8x8x3 -> maxpool", "maxpool"),
    _case("maxpool_valid_odd", "input 9x9x3 -> maxpool", "maxpool"),
    _case("maxpool_same_uneven", "input 9x9x3 -> maxpool 2 same", "maxpool"),
    _case("maxpool_same_uneven_stride2_k3", "input 10x10x3 -> maxpool 3x3 stride=2 same", "maxpool"),
    _case("maxpool_same_symmetric", "input 8x8x3 -> maxpool 3x3 stride=1 same", "maxpool"),
    _case("maxpool_1d", "input 9x3 -> maxpool 2 same", "maxpool"),
    _case("maxpool_1d_symbolic_then_lstm", "input seq x 3 -> maxpool 2 -> lstm 4", "maxpool", "lstm"),
    _case("maxpool_3d", "input 4x4x4x2 -> maxpool", "maxpool"),
    _case("avgpool_default", "input 8x8x3 -> avgpool", "avgpool"),
    _case("avgpool_same_even", "input 8x8x3 -> avgpool 2 same", "avgpool"),
    _case("avgpool_same_uneven", "input 9x9x3 -> avgpool 2 same", "avgpool"),
    _case("avgpool_same_uneven_stride2_k3", "input 10x10x3 -> avgpool 3x3 stride=2 same", "avgpool"),
    _case("avgpool_1d_same_uneven", "input 9x3 -> avgpool 2 same", "avgpool"),
    _case("avgpool_same_symmetric", "input 8x8x3 -> avgpool 3x3 stride=1 same", "avgpool"),
    _case("avgpool_same_stride2_symmetric", "input 9x9x3 -> avgpool 3x3 stride=2 same", "avgpool"),
    _case("avgpool_1d", "input 12x3 -> avgpool 3", "avgpool"),
    _case("avgpool_3d", "input 4x4x4x2 -> avgpool 2 same", "avgpool"),
    # PyTorch's avg_pool3d refuses an input smaller than the window, padding or not (fuzz-found).
    _case("avgpool_3d_same_smaller_than_window", "input 1x1x2x7 -> avgpool 3x3x3 stride=1 same", "avgpool"),
    _case("avgpool_3d_same_symmetric", "input 5x5x5x2 -> avgpool 3x3x3 stride=1 same", "avgpool"),
    _case("avgpool_3d_same_symbolic", "input seq x 4x4x2 -> avgpool 3x3x3 stride=1 same", "avgpool"),
    _case("globalavgpool_rank2", "input 10x3 -> globalavgpool", "globalavgpool"),
    _case("globalmaxpool_rank2_symbolic", "input seq x 3 -> globalmaxpool", "globalmaxpool"),
    _case("globalavgpool_after_lstm", "input 10x3 -> lstm 4 seq -> globalavgpool", "globalavgpool", "lstm"),
    _case("globalmaxpool_after_conv1d", "input 10x3 -> conv1d 4 3 -> globalmaxpool", "globalmaxpool", "conv1d"),
    _case("globalavgpool_rank3", "input 5x5x3 -> globalavgpool", "globalavgpool"),
    _case("globalmaxpool_rank3", "input 5x5x3 -> globalmaxpool", "globalmaxpool"),
    _case("globalavgpool_rank4", "input 3x4x4x2 -> globalavgpool", "globalavgpool"),
    _case("globalmaxpool_rank4", "input 3x4x4x2 -> globalmaxpool", "globalmaxpool"),
    _case("globalavgpool_keepdims_rank3", "input 5x5x3 -> globalavgpool keepdims -> conv2d 2 1x1", "globalavgpool"),
    _case("globalmaxpool_keepdims_rank2", "input 10x3 -> globalmaxpool keepdims -> lstm 2", "globalmaxpool"),
    _case("globalavgpool_keepdims_rank4", "input 3x4x4x2 -> globalavgpool keepdims", "globalavgpool"),
    # flatten
    _case("flatten_image", "input 4x4x3 -> flatten", "flatten"),
    _case("flatten_image_then_dense", "input 4x4x3 -> flatten -> dense 5", "flatten", "dense"),
    _case("flatten_sequence", "input 5x3 -> flatten", "flatten"),
    _case("flatten_volume", "input 2x2x2x3 -> flatten", "flatten"),
    _case("flatten_vector", "input 7 -> flatten", "flatten"),
    # dropout
    _case("dropout_vector", "input 10 -> dropout 0.5", "dropout"),
    _case("dropout_image", "input 4x4x3 -> dropout 0.2", "dropout"),
    # normalization
    _case("batchnorm_rank1", "input 10 -> batchnorm", "batchnorm"),
    _case("batchnorm_rank2", "input 10x3 -> batchnorm", "batchnorm"),
    _case("batchnorm_rank2_then_lstm", "input 10x3 -> batchnorm -> lstm 4", "batchnorm", "lstm"),
    _case("batchnorm_rank3", "input 5x5x3 -> batchnorm", "batchnorm"),
    _case("batchnorm_rank4", "input 3x3x3x2 -> batchnorm", "batchnorm"),
    _case("batchnorm_momentum_epsilon", "input 10 -> batchnorm momentum=0.9 epsilon=0.01", "batchnorm"),
    _case("layernorm_rank1", "input 10 -> layernorm", "layernorm"),
    _case("layernorm_rank2", "input 10x3 -> layernorm", "layernorm"),
    _case("layernorm_rank3", "input 5x5x3 -> layernorm epsilon=0.00001", "layernorm"),
    _case("batchnorm_no_scale", "input 5x5x3 -> batchnorm scale=false", "batchnorm"),
    _case("batchnorm_no_center_rank2", "input 10x3 -> batchnorm center=false -> lstm 2", "batchnorm"),
    _case("batchnorm_no_scale_no_center", "input 3x3x3x2 -> batchnorm scale=false center=false", "batchnorm"),
    _case("layernorm_no_scale_rank3", "input 5x5x3 -> layernorm scale=false", "layernorm"),
    _case("layernorm_no_center", "input 10x3 -> layernorm center=false", "layernorm"),
    _case("layernorm_no_scale_no_center", "input 10 -> layernorm scale=false center=false", "layernorm"),
    # activations
    *ACTIVATION_CASES,
    # recurrent
    *(
        _case(f"{kind}{suffix}", f"input {steps} x 3 -> {kind} 4{flags}", kind)
        for kind in ("lstm", "gru", "rnn")
        for suffix, steps, flags in (
            ("_last", "7", ""),
            ("_seq", "7", " seq"),
            ("_bidirectional", "seq", " bidirectional"),
            ("_bidirectional_seq", "7", " bidirectional seq"),
        )
    ),
    _case("rnn_relu", "input 7x3 -> rnn 4 activation=relu", "rnn"),
    _case("rnn_relu_bidirectional_seq", "input 7x3 -> rnn 4 seq bidirectional activation=relu", "rnn"),
    _case("stacked_recurrent", "input seq x 3 -> gru 5 seq -> lstm 4 seq -> rnn 3", "gru", "lstm", "rnn"),
    # embedding
    _case("embedding_symbolic", "input seq -> embedding 50 8", "embedding"),
    _case("embedding_then_lstm", "input 12 -> embedding 50 8 -> lstm 4", "embedding", "lstm"),
    _case("embedding_then_conv1d", "input 12 -> embedding 30 6 -> conv1d 4 3 -> globalmaxpool", "embedding", "conv1d"),
    # reshape
    _case("reshape_vector_to_image", "input 48 -> reshape 4x4x3", "reshape"),
    _case("reshape_vector_to_image_then_conv", "input 48 -> reshape 4x4x3 -> conv2d 2", "reshape"),
    _case("reshape_image_to_vector", "input 4x4x3 -> reshape 48", "reshape"),
    _case("reshape_image_to_vector_after_conv", "input 6x6x1 -> conv2d 3 -> reshape 48 -> dense 2", "reshape"),
    _case("reshape_image_to_sequence", "input 4x4x3 -> reshape 4x12 -> lstm 2", "reshape"),
    _case("reshape_sequence_to_image", "input 12x4 -> reshape 4x4x3", "reshape"),
    _case("reshape_minus_one", "input 4x4x3 -> reshape -1x6", "reshape"),
    # upsample / zeropad, 1-D, 2-D, 3-D
    _case("upsample_1d", "input 5x3 -> upsample", "upsample"),
    _case("upsample_2d", "input 4x4x3 -> upsample 2", "upsample"),
    _case("upsample_2d_rectangular", "input 4x4x3 -> upsample 2x3", "upsample"),
    _case("upsample_3d", "input 2x3x3x2 -> upsample", "upsample"),
    _case("zeropad_1d", "input 5x3 -> zeropad 2", "zeropad"),
    _case("zeropad_2d", "input 4x4x3 -> zeropad", "zeropad"),
    _case("zeropad_2d_rectangular", "input 4x4x3 -> zeropad 1x2", "zeropad"),
    _case("zeropad_3d", "input 2x3x3x2 -> zeropad 1", "zeropad"),
    _case("zeropad_pairs", "input 4x4x3 -> zeropad 0x1 2x1", "zeropad"),
    _case("zeropad_1d_before_after", "input 5x3 -> zeropad 2x0 -> lstm 2", "zeropad"),
    _case("zeropad_3d_pairs", "input 2x3x3x2 -> zeropad 1 0x1 1x0", "zeropad"),
    _case("crop_1d", "input 7x3 -> crop 1x2", "crop"),
    _case("crop_2d", "input 6x6x3 -> crop 1", "crop"),
    _case("crop_2d_pairs_then_relu", "input 6x6x3 -> conv2d 3 1x1 -> crop 0x1 2x0 -> relu", "crop", "relu"),
    _case("crop_3d_symbolic", "input seq x 5x5x2 -> crop 1 0 1x2", "crop"),
    _case("crop_after_lstm", "input 8x3 -> lstm 4 seq -> crop 1x0 -> gru 2", "crop"),
    # rescale, normalize (preprocessing), scale (LayerScale), droppath
    _case("rescale_image", "input 6x6x3 -> rescale 0.00392156862745098", "rescale"),
    _case("rescale_offset_per_channel", "input 6x6x3 -> rescale 0.5x0.25x2 offset=-1x0x1", "rescale"),
    _case("rescale_sequence_per_channel", "input seq x 3 -> rescale 2x3x4 -> lstm 2", "rescale"),
    _case("rescale_channels_first_sequence", "input 8x3 -> conv1d 3 1 -> rescale 2x3x4 offset=1", "rescale"),
    _case("normalize_adapted_image", "input 6x6x3 -> normalize", "normalize"),
    _case("normalize_given_image", "input 6x6x3 -> normalize mean=0.5x0.4x0.3 variance=4x1x0.25", "normalize"),
    _case("normalize_given_scalars_vector", "input 10 -> normalize mean=1 variance=2 -> dense 2", "normalize"),
    _case("normalize_adapted_sequence", "input 8x4 -> normalize -> conv1d 2 3", "normalize"),
    _case("normalize_volume_mixed", "input 2x3x3x2 -> normalize mean=1x2 variance=3", "normalize"),
    _case("scale_image", "input 6x6x8 -> scale", "scale"),
    _case("scale_sequence", "input seq x 8 -> scale init=0.1 -> relu", "scale"),
    _case("scale_channels_first_sequence", "input 8x3 -> conv1d 4 1 -> scale -> lstm 2", "scale"),
    _case("droppath_residual", "input 6x6x4 -> residual( conv2d 4 same -> scale -> droppath 0.1 )", "droppath"),
    _case("droppath_sequence", "input 8x4 -> droppath 0.5 -> relu", "droppath"),
    # identity
    _case("identity_alone", "input 10 -> identity", "identity"),
    _case("identity_in_chain", "input 10 -> dense 4 -> identity -> dense 2", "identity"),
    _case("identity_residual", "input 5x5x3 -> (conv2d 3 same | identity) -> add", "identity", "add"),
    # merges
    _case("add_vectors", "input 6 -> (dense 4 | dense 4) -> add", "add"),
    _case("subtract_vectors", "input 6 -> (dense 4 | dense 4 relu) -> subtract", "subtract"),
    _case("multiply_images", "input 5x5x3 -> (conv2d 2 same | conv2d 2 3x3 same) -> multiply", "multiply"),
    _case("average_three", "input 6 -> (dense 4 | dense 4 | dense 4) -> average", "average"),
    _case("average_sequences", "input 7x3 -> (lstm 4 seq | gru 4 seq) -> average", "average"),
    _case("maximum_images", "input 6x6x2 -> (conv2d 3 same | conv2d 3 same | conv2d 3 same) -> maximum", "maximum"),
    _case("minimum_sequences", "input 7x3 -> (lstm 4 seq | conv1d 4 1) -> minimum", "minimum"),
    _case(
        "multiply_squeeze_excitation",
        "input 6x6x8 -> ( identity | globalavgpool keepdims -> conv2d 2 1x1 relu -> conv2d 8 1x1 sigmoid ) -> multiply",
        "multiply",
    ),
    _case("add_broadcast_channel", "input 5x5x3 -> ( conv2d 1 1x1 | identity ) -> add", "add"),
    _case("subtract_broadcast_both_ways", "input 6x1x4 -> ( identity | reshape 1x6x4 ) -> subtract", "subtract"),
    _case(
        "average_broadcast_sequences",
        "input 7x3 -> ( lstm 4 seq | conv1d 4 3 same -> globalmaxpool keepdims ) -> average",
        "average",
    ),
    _case("add_mixed_layouts", "input 10x4 -> (conv1d 4 3 same | lstm 4 seq) -> add", "add", "conv1d"),
    _case("add_mixed_layouts_reversed", "input 10x4 -> (lstm 4 seq | conv1d 4 3 same) -> add", "add"),
    _case("concat_vectors", "input 6 -> (dense 4 | dense 3) -> concat", "concat"),
    _case("concat_images_channels", "input 5x5x3 -> (conv2d 2 same | conv2d 4 1x1) -> concat", "concat"),
    _case("concat_images_axis1", "input 5x5x3 -> (conv2d 2 same | identity | conv2d 2 same) -> concat", "concat"),
    _case("concat_images_axis1_explicit", "input 5x5x3 -> (conv2d 2 same | conv2d 2 same) -> concat axis=1", "concat"),
    _case("concat_images_axis_minus1", "input 5x5x3 -> (conv2d 2 same | identity) -> concat axis=-1", "concat"),
    _case("concat_sequences_axis1", "input 7x3 -> (lstm 4 seq | gru 4 seq) -> concat axis=1", "concat"),
    _case("concat_sequences_axis_minus1", "input 7x3 -> (lstm 4 seq | gru 2 seq) -> concat axis=-1", "concat"),
    _case("concat_conv1d_axis1", "input 8x3 -> (conv1d 4 3 same | conv1d 4 1) -> concat axis=1", "concat"),
    _case("concat_conv1d_channels", "input 8x3 -> (conv1d 4 3 same | conv1d 2 1) -> concat", "concat"),
    _case("concat_volumes_axis1", "input 2x3x3x2 -> (conv3d 2 same | identity) -> concat axis=1", "concat"),
    # layouts and variants met in real models
    _case("concat_images_axis2", "input 5x4x3 -> (conv2d 2 same | conv2d 2 same) -> concat axis=2", "concat"),
    _case("concat_images_axis_minus2", "input 5x4x3 -> (conv2d 2 same | conv2d 2 same) -> concat axis=-2", "concat"),
    _case("concat_images_axis_minus3", "input 5x4x3 -> (conv2d 2 same | conv2d 2 same) -> concat axis=-3", "concat"),
    _case("concat_volumes_axis3", "input 2x3x4x2 -> (conv3d 2 same | identity) -> concat axis=3", "concat"),
    _case("concat_input_and_dense", "input 10 -> (dense 10 | identity) -> concat", "concat", "identity"),
    _case("add_two_identities", "input 10 -> (identity | identity) -> add", "add", "identity"),
    _case("add_volumes", "input 2x3x3x2 -> (conv3d 2 same | identity) -> add", "add"),
    _case("multiply_mixed_layouts", "input 10x4 -> (conv1d 4 3 same | lstm 4 seq | dense 4) -> multiply", "multiply"),
    _case("subtract_channels_first", "input 10x4 -> (conv1d 4 3 same | conv1d 4 1) -> subtract -> lstm 2", "subtract"),
    _case("reshape_channels_first_sequence", "input 12x4 -> conv1d 4 1 -> reshape 48", "reshape"),
    _case("reshape_channels_first_sequence_to_image", "input 12x4 -> conv1d 4 1 -> reshape 4x3x4", "reshape"),
    _case("layernorm_channels_first_sequence", "input 10x3 -> conv1d 4 3 -> layernorm", "layernorm"),
    _case("upsample_after_lstm", "input 6x3 -> lstm 4 seq -> upsample 2 -> lstm 2", "upsample"),
    _case("zeropad_after_lstm", "input 6x3 -> lstm 4 seq -> zeropad 1 -> gru 2", "zeropad"),
    _case("flatten_channels_first_sequence_then_relu", "input 6x3 -> conv1d 4 3 -> flatten -> relu", "flatten"),
    _case("flatten_image_then_relu_dense", "input 4x4x3 -> conv2d 2 -> flatten -> relu -> dense 3", "flatten"),
    _case("flatten_image_into_branches", "input 4x4x3 -> flatten -> (dense 3 | dense 3) -> add", "flatten"),
    _case("flatten_image_into_dense_and_identity", "input 4x4x3 -> flatten -> (dense 48 | identity) -> add", "flatten"),
    _case("embedding_then_dense", "input seq -> embedding 20 6 -> dense 3", "embedding"),
    _case("embeddings_added", "input 8 -> (embedding 20 6 | embedding 10 6) -> add -> lstm 3", "embedding"),
    _case("sepconv2d_multiplier2", "input 9x9x3 -> sepconv2d 5 3x3 multiplier=2 same", "sepconv2d"),
    _case("dwconv2d_relu", "input 9x9x3 -> dwconv2d 3x3 relu", "dwconv2d"),
    _case(
        "conv2dtranspose_rectangular_same",
        "input 5x4x3 -> conv2dtranspose 4 3x2 stride=2x1 same bias=false",
        "conv2dtranspose",
    ),
    _case("conv2dtranspose_rectangular_valid", "input 5x4x3 -> conv2dtranspose 4 3x2 stride=2x3", "conv2dtranspose"),
    _case("conv2dtranspose_k3_s3_same", "input 5x5x3 -> conv2dtranspose 4 3x3 stride=3 same", "conv2dtranspose"),
    _case("conv2dtranspose_k2_s3_same", "input 5x5x3 -> conv2dtranspose 4 2x2 stride=3 same", "conv2dtranspose"),
    _case("conv2dtranspose_k6_s2_same", "input 5x5x3 -> conv2dtranspose 4 6x6 stride=2 same", "conv2dtranspose"),
    _case("conv2dtranspose_k5_s2_same", "input 5x5x3 -> conv2dtranspose 4 5x5 stride=2 same", "conv2dtranspose"),
    _case("conv3d_groups", "input 4x4x4x4 -> conv3d 4 groups=2 same", "conv3d"),
    _case("avgpool_3d_same_uneven", "input 5x5x5x2 -> avgpool 2 same", "avgpool"),
    _case("maxpool_3d_same_uneven", "input 5x5x5x2 -> maxpool 2 same", "maxpool"),
    _case("conv1d_symbolic_even_kernel_same", "input seq x 3 -> conv1d 4 4 same", "conv1d"),
    _case("conv1d_symbolic_valid_stride2", "input seq x 3 -> conv1d 4 3 stride=2 -> lstm 2", "conv1d"),
    _case("maxpool_symbolic_stride2", "input seq x 3 -> maxpool 3 stride=2 -> gru 2", "maxpool"),
    _case("dropout_channels_first_sequence", "input 10x3 -> conv1d 4 3 -> dropout 0.1 -> globalavgpool", "dropout"),
    _case("batchnorm_after_lstm", "input 10x3 -> lstm 4 seq -> batchnorm", "batchnorm"),
    _case("softmax_channels_first_then_lstm", "input 7x3 -> conv1d 4 3 -> softmax -> lstm 2", "softmax"),
    _case("globalmaxpool_after_conv3d", "input 4x4x4x2 -> conv3d 3 same -> globalmaxpool", "globalmaxpool"),
    _case("leakyrelu_as_conv_activation", "input 5x5x3 -> conv2d 2 leakyrelu", "conv2d"),
    _case("relu6_as_conv1d_activation", "input 5x3 -> conv1d 2 1 relu6", "conv1d"),
    _case("softmax_as_per_step_dense", "input 5x3 -> dense 4 softmax", "dense"),
    _case("gru_bidirectional_after_conv1d", "input 12x3 -> conv1d 4 3 -> gru 3 bidirectional", "gru"),
    _case(
        "gru_after_embedding_symbolic", "input seq -> embedding 10 4 -> gru 3 bidirectional seq -> globalmaxpool", "gru"
    ),
    _case("repetition", "input 8x8x3 -> (conv2d 4 same relu) * 3 -> globalavgpool", "conv2d"),
    _case(
        "block_call",
        "block b(c, k=3) = conv2d c k same -> batchnorm -> relu\n"
        "input 8x8x3 -> b 4 -> b (4*2) k=5 -> flatten -> dense 2",
        "conv2d",
    ),
    _case("residual_sugar", "input 8x8x4 -> residual( conv2d 4 same -> batchnorm ) -> relu", "add"),
    _case("model_named_module", "model Module { input 10 -> dense 2 }", "dense"),
    # position embeddings and class tokens
    _case("posembed_known_steps", "input 10x8 -> posembed", "posembed"),
    _case("posembed_symbolic_steps", "input seq x 8 -> posembed max=32 -> dense 2", "posembed"),
    _case("posembed_after_conv1d", "input 12x3 -> conv1d 4 3 -> posembed max=12", "posembed"),
    _case("clstoken_then_posembed", "input 9x8 -> clstoken -> posembed -> take 0", "clstoken", "posembed"),
    _case("clstoken_symbolic", "input seq x 4 -> clstoken -> lstm 3", "clstoken"),
    # take: a class token's head
    _case("take_first", "input 7x8 -> dense 8 -> take 0 -> dense 2", "take"),
    _case("take_last_symbolic", "input seq x 8 -> take -1", "take"),
    _case("take_after_conv1d", "input 9x3 -> conv1d 4 3 -> take 2 -> relu", "take"),
    # attention
    _case("attention_heads2", "input seq x 8 -> attention heads=2", "attention"),
    _case("attention_heads2_key_dim", "input 6x8 -> attention heads=2 key_dim=4", "attention"),
    _case("attention_after_embedding", "input seq -> embedding 40 8 -> attention 2 -> globalavgpool", "attention"),
    _case("attention_heads3", "input seq x 12 -> attention heads=3", "attention"),
    _case("attention_between_conv1d", "input 8x4 -> conv1d 4 1 -> attention 2 -> conv1d 2 1", "attention"),
    _case("attention_causal", "input seq x 8 -> attention heads=2 causal", "attention"),
    _case("attention_any_key_dim", "input 6x10 -> attention heads=3 key_dim=4", "attention"),
    _case("attention_any_key_dim_causal", "input seq x 6 -> attention 2 key_dim=5 causal -> dense 2", "attention"),
    # cross-attention: ( query | keys and values ) or ( query | keys | values )
    _case("cross_attention_same_features", "input seq x 8 -> ( identity | dense 8 ) -> attention 2", "attention"),
    _case(
        "cross_attention_keys_apart",
        "input 6x8 -> ( identity | dense 4 | dense 5 ) -> attention 2 key_dim=3",
        "attention",
    ),
    _case(
        "cross_attention_causal_shorter",
        "input seq x 6 -> ( identity | conv1d 6 3 ) -> attention 2 causal",
        "attention",
    ),
    # padding masks: the PyTorch code passes them by hand
    _case(
        "masked_recurrent",
        "input seq -> embedding 40 8 mask_zero -> lstm 4 seq -> gru 3 bidirectional seq -> rnn 2",
        "embedding",
        "lstm",
        "gru",
        "rnn",
    ),
    _case(
        "masked_attention_and_pooling",
        "input seq -> embedding 40 8 mask_zero -> clstoken -> attention 2 causal -> globalavgpool",
        "attention",
        "globalavgpool",
    ),
    _case("masked_then_lost", "input 12 -> embedding 40 8 mask_zero -> conv1d 4 3 -> globalmaxpool", "conv1d"),
]

CASES = {case.id: case for case in LAYER_CASES}
assert len(CASES) == len(LAYER_CASES), "duplicate case ids"

# Cases where a target is known to disagree with archdsl: (case or example, target) -> reason.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _params(ids, known=KNOWN_BUGS):
    return [
        pytest.param(i, target, id=f"{i}-{target}",
                     marks=[pytest.mark.xfail(strict=True, reason=known[i, target])] if (i, target) in known else [])
        for i in ids
        for target in TARGETS
    ]  # fmt: skip


def test_every_layer_type_is_exercised():
    covered = {t for case in LAYER_CASES for t in case.covers}
    used = set()
    for case in LAYER_CASES:
        used |= {layer.type for layer in program_of(case.id).models[0].layers}
    assert set(LAYERS) - covered == set(), "layer types without a spec in LAYER_CASES"
    assert set(LAYERS) - used == set(), "layer types no spec actually builds"
    assert covered <= set(LAYERS)


# ---------------------------------------------------------------- helpers


@functools.cache
def program_of(case_id: str) -> archdsl.Program:
    return archdsl.parse(CASES[case_id].text, f"{case_id}.arch")


@functools.cache
def example_program(stem: str) -> archdsl.Program:
    path = REPO / "examples" / f"{stem}.arch"
    return archdsl.parse(path.read_text(encoding="utf-8"), f"examples/{stem}.arch")


def example_models() -> list[tuple[str, str]]:
    return [(path.stem, model.name) for path in EXAMPLES for model in example_program(path.stem).models]


def _evaluate(dim: int | str, size: int = SYMBOLIC) -> int:
    """A size from archdsl's shapes with every symbolic name set to `size`: `ceil((seq-2)/2)`."""
    if isinstance(dim, int):
        return dim

    def walk(node: pyast.AST) -> Fraction:
        if isinstance(node, pyast.Expression):
            return walk(node.body)
        if isinstance(node, pyast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, pyast.Name):
            return Fraction(size)
        if isinstance(node, pyast.UnaryOp) and isinstance(node.op, pyast.USub):
            return -walk(node.operand)
        if isinstance(node, pyast.BinOp):
            left, right = walk(node.left), walk(node.right)
            operations = {pyast.Add: left + right, pyast.Sub: left - right, pyast.Mult: left * right}
            if isinstance(node.op, pyast.FloorDiv):
                return Fraction(left // right)
            if isinstance(node.op, pyast.Div):
                return left / right
            return operations[type(node.op)]
        if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name) and node.func.id in ("ceil", "floor"):
            return Fraction(getattr(math, node.func.id)(walk(node.args[0])))
        raise ValueError(f"not a size expression: {dim!r}")

    value = walk(pyast.parse(str(dim), mode="eval"))
    assert value.denominator == 1, f"size {dim!r} is not an integer for {size}"
    return int(value)


def concrete(shape) -> tuple[int, ...]:
    return tuple(_evaluate(d) for d in shape)


def is_token_input(model: archdsl.Model, name: str | None = None) -> bool:
    name = name or model.input_name
    return len(model.shape_of(name)) == 1 and any(
        layer.type == "embedding" and name in layer.inputs for layer in model.layers
    )


def vocabulary(model: archdsl.Model) -> int:
    return min(layer.config["vocab"] for layer in model.layers if layer.type == "embedding")


def channels_first(shape: tuple) -> tuple:
    return (shape[-1], *shape[:-1]) if len(shape) >= 2 else tuple(shape)


def keras_batch(model: archdsl.Model):
    """A batch for each input: one array, or a list of them for a model of several inputs."""
    batches = []
    for given in model.inputs:
        shape = (BATCH, *concrete(given.shape))
        if is_token_input(model, given.name):
            batches.append(keras.random.randint(shape, 0, vocabulary(model), seed=1))
        else:
            batches.append(keras.random.normal(shape, seed=1))
    return batches[0] if len(batches) == 1 else batches


def torch_input_shape(model: archdsl.Model, name: str | None = None) -> tuple[int, ...]:
    """Images channels first; sequences (N, T, C) unless the first reader wants (N, C, T)."""
    name = name or model.input_name
    shape = concrete(model.shape_of(name))
    if len(shape) >= 3:
        return (BATCH, *channels_first(shape))
    if len(shape) == 2 and torch_target.input_layout(model, name) == CHANNELS_FIRST:
        return (BATCH, *channels_first(shape))
    return (BATCH, *shape)


def torch_batch(model: archdsl.Model) -> tuple:
    """The arguments of forward: one batch per input."""
    generator = torch.Generator().manual_seed(1)
    batches = []
    for given in model.inputs:
        shape = torch_input_shape(model, given.name)
        if is_token_input(model, given.name):
            batches.append(torch.randint(0, vocabulary(model), shape, generator=generator))
        else:
            batches.append(torch.randn(*shape, generator=generator))
    return tuple(batches)


def as_list(found) -> list:
    """A model's outputs as a list, one or several."""
    return list(found) if isinstance(found, list | tuple) else [found]


def _docstring_outputs(source: str) -> list[str]:
    """The shapes the docstring gives: `Output: (N, 10).`, or one `- name: (N, 10)` line per output."""
    docstring = pyast.get_docstring(pyast.parse(source)) or ""
    match = re.search(r"^Output: (.*)\.$", docstring, re.MULTILINE)
    if match:
        return [match.group(1)]
    listed = docstring.split("\nOutputs, ", 1)[-1]
    found = re.findall(r"^- \w+: (\(.*\))$", listed, re.MULTILINE)
    assert found, "the docstring has no 'Output:' line"
    return found


def torch_output_candidates(model: archdsl.Model, name: str | None = None) -> list[tuple]:
    """The output shapes the PyTorch module may return, symbolic: images channels first;
    a sequence (N, T, C), or (N, C, T) when it ends in the channels-first layout."""
    shape = tuple(model.shape_of(name or model.output_name))
    if len(shape) >= 3:
        return [("N", *channels_first(shape))]
    if len(shape) == 2:
        return [("N", *shape), ("N", *channels_first(shape))]
    return [("N", *shape)]


def expected_torch_outputs(model: archdsl.Model, source: str) -> list[tuple[int, ...]]:
    """The documented output layouts, each of which must be one of its candidates."""
    found = []
    for name, documented in zip(model.outputs, _docstring_outputs(source), strict=True):
        candidates = torch_output_candidates(model, name)
        texts = ["(" + ", ".join(str(d) for d in c) + ")" for c in candidates]
        assert documented in texts, f"the docstring's output {documented} is none of {texts}"
        chosen = candidates[texts.index(documented)]
        found.append((BATCH, *concrete(chosen[1:])))
    return found


def expected_torch_output(model: archdsl.Model, source: str) -> tuple[int, ...]:
    (only,) = expected_torch_outputs(model, source)
    return only


@functools.cache
def generated(kind: str, key: str, model_name: str | None, target: str) -> str:
    model = model_for(kind, key, model_name)
    return archdsl.generate(model, target)


def model_for(kind: str, key: str, model_name: str | None) -> archdsl.Model:
    program = program_of(key) if kind == "case" else example_program(key)
    return program.model(model_name)


def exec_source(source: str, name: str):
    namespace: dict = {"__name__": f"archdsl_test_{name}"}
    exec(compile(source, f"<generated {name}>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]()


def _fresh_keras(force: bool = False) -> None:
    """Drop Keras' global state now and then: a clear_session costs a garbage collection (~0.4 s)."""
    _KERAS_MODELS[0] += 1
    if force or _KERAS_MODELS[0] % 60 == 0:
        keras.backend.clear_session(free_memory=True)


_KERAS_MODELS = [0]


# ---------------------------------------------------------------- running the torch shape comments


def _shape_in_comment(line: str) -> str | None:
    """`(N, ceil(seq/2), 4)` from `... # (N, ceil(seq/2), 4), a note`: brackets balanced.

    A tensor without a batch axis (the share of real values in uneven avgpool) starts `(1, 1, ...`.
    """
    match = re.search(r"#\s*\((N|1, 1)\b", line)
    if not match:
        return None
    start = line.index("(", match.start())
    depth = 0
    for index in range(start, len(line)):
        depth += {"(": 1, ")": -1}.get(line[index], 0)
        if depth == 0:
            return line[start : index + 1]
    return None


def _comment_of(lines: list[str], statement: pyast.stmt) -> str | None:
    """The `# (N, ...)` comment of a forward statement: at its end, or on the line above."""
    shape = _shape_in_comment(lines[statement.end_lineno - 1])
    above = lines[statement.lineno - 2] if statement.lineno >= 2 else ""
    if shape is None and above.lstrip().startswith("#"):
        shape = _shape_in_comment(above)
    return shape


def forward_statements(source: str) -> list[tuple[pyast.stmt, str | None]]:
    """Every statement of `forward` before the return, with its shape comment (or None)."""
    tree = pyast.parse(source)
    lines = source.splitlines()
    # The model's class (what build_model returns), not a class the module defines for a layer PyTorch lacks.
    build = next(node for node in tree.body if isinstance(node, pyast.FunctionDef) and node.name == "build_model")
    model = next(node for node in tree.body if isinstance(node, pyast.ClassDef) and node.name == build.returns.id)
    forward = next(node for node in model.body if isinstance(node, pyast.FunctionDef) and node.name == "forward")
    return [(stmt, _comment_of(lines, stmt)) for stmt in forward.body if not isinstance(stmt, pyast.Return)]


def _comment_dims(comment: str) -> list[str]:
    inner = comment[1:-1]
    dims, depth, current = [], 0, ""
    for char in inner:
        if char == "," and depth == 0:
            dims.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    dims.append(current.strip())
    return dims


def instrument_forward(source: str, symbols: tuple[str, ...] = ()) -> str:
    """The source with `_archdsl_check_shape(var, "(N, ...)")` after every commented forward line.

    A block's class serving calls of several sizes writes the sizes that differ as its
    parameters (`c * 4`) or `?`: those lines are checked through the calls of the model's class.
    """
    lines = source.splitlines()
    inserts: dict[int, str] = {}
    for stmt, comment in forward_statements(source):
        if comment is None or not isinstance(stmt, pyast.Assign):
            continue
        dims = _comment_dims(comment)[1:]
        if any(not re.fullmatch(r"-?\d+", d) and not set(re.findall(r"[A-Za-z_]\w*", d)) <= set(symbols) for d in dims):
            continue
        target = stmt.targets[0]
        # Of `x, _ = ...`, `_, x = ...` and `x, (h, c) = ...`, the comment describes the first value kept.
        names = (
            [e.id for e in target.elts if isinstance(e, pyast.Name)] if isinstance(target, pyast.Tuple) else [target.id]
        )
        name = next((n for n in names if n != "_"), "_")
        if name == "_":  # a recurrent layer read for its final state only: its output is not kept
            continue
        indent = re.match(r"\s*", lines[stmt.lineno - 1]).group(0)
        inserts[stmt.end_lineno] = f"{indent}_archdsl_check_shape({name}, {comment!r})"
    out = []
    for number, line in enumerate(lines, start=1):
        out.append(line)
        if number in inserts:
            out.append(inserts[number])
    return "\n".join(out) + "\n"


def _check_shape(tensor, comment: str) -> None:
    dims = _comment_dims(comment)
    assert dims[0] in ("N", "1"), comment
    batch = BATCH if dims[0] == "N" else 1
    expected = (batch, *(_evaluate(int(d) if re.fullmatch(r"-?\d+", d) else d) for d in dims[1:]))
    assert tuple(tensor.shape) == expected, f"a forward line says {comment} but gives {tuple(tensor.shape)}"


# ---------------------------------------------------------------- the checks, per target


def check_keras(model: archdsl.Model, source: str, name: str, params: int | None = None, net=None) -> None:
    _fresh_keras()
    net = exec_source(source, f"{name}_keras") if net is None else net
    assert isinstance(net, keras.Model)
    batch = keras_batch(model)
    out = as_list(net(batch, training=False))
    wanted_outputs = [(BATCH, *concrete(model.shape_of(name))) for name in model.outputs]
    assert [tuple(o.shape) for o in out] == wanted_outputs, "Keras output shapes"
    expected_params = model.params.keras if params is None else params
    assert net.count_params() == expected_params, "Keras parameter count"
    # model.summary()'s "Trainable params" and "Non-trainable params"
    assert _size(net.trainable_weights) == model.params.keras_trainable, "Keras trainable parameters"
    assert _size(net.non_trainable_weights) == model.params.keras_non_trainable, "Keras non-trainable parameters"
    # layer by layer: names are shared with archdsl
    symbolic, counts, frozen = {}, {}, {}
    own = [layer for layer in model.layers if layer.shares is None]  # a shared layer is its owner called again
    code = emit(model, "keras")  # a layer in a block's function: `bottleneck_1.0.conv2d_1`
    if code.paths:  # the layers of a block call applied again (`use`) are its original's
        own = [layer for layer in own if layer.name in dict(code.paths)]
    for layer in own:
        keras_layer = found_layer(net, code.path(layer.name))
        symbolic[layer.name] = tuple(_first_output(keras_layer).shape)
        counts[layer.name] = keras_layer.count_params()
        frozen[layer.name] = _size(keras_layer.non_trainable_weights)
    wanted_symbolic = {
        layer.name: (None, *(d if isinstance(d, int) else None for d in layer.output_shape)) for layer in own
    }
    assert symbolic == wanted_symbolic, "Keras per-layer output shapes"
    assert counts == {layer.name: layer.params.keras for layer in own}, "Keras per-layer parameters"
    assert frozen == {layer.name: layer.params.keras_non_trainable for layer in own}, "Keras non-trainable"
    top = {found.name for found in net.layers}
    own = [layer for layer in own if code.path(layer.name) in top]  # not inside a block made a model (`use`)
    if own:
        probe = keras.Model(net.inputs, [_first_output(net.get_layer(code.path(layer.name))) for layer in own])
        outputs = as_list(probe(batch, training=False))
        actual = {layer.name: tuple(o.shape) for layer, o in zip(own, outputs, strict=True)}
        wanted = {layer.name: (BATCH, *concrete(layer.output_shape)) for layer in own}
        assert actual == wanted, "Keras per-layer run-time shapes"


def _first_output(keras_layer):
    """A layer's output; of a recurrent layer that also returns its state (`init=@NAME`), the first."""
    output = keras_layer.output
    return output[0] if isinstance(output, list | tuple) else output


def check_torch(model: archdsl.Model, source: str, name: str, params: int | None = None, net=None) -> None:
    net = exec_source(source, f"{name}_torch") if net is None else net
    assert isinstance(net, torch.nn.Module)
    assert not any(isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) for m in net.modules()), "lazy module"
    net.eval()
    batch = torch_batch(model)
    with torch.no_grad():
        out = as_list(net(*batch))
    assert [tuple(o.shape) for o in out] == expected_torch_outputs(model, source), "PyTorch output shapes"
    expected_params = model.params.torch if params is None else params
    assert sum(p.numel() for p in net.parameters()) == expected_params, "PyTorch parameter count"
    assert sum(b.numel() for b in net.buffers()) == model.params.torch_buffers, "PyTorch buffers"
    modules = module_of_layer(model, net, source)

    def held(layer) -> tuple[int, int]:
        """A layer's parameters and buffers: its module's, or itself when it is a bare nn.Parameter (a class token)."""
        if layer.name in modules:
            module = modules[layer.name]
            return sum(p.numel() for p in module.parameters()), sum(b.numel() for b in module.buffers())
        return (
            sum(p.numel() for key, p in net.named_parameters() if key.split(".")[0] == layer.name),
            sum(b.numel() for key, b in net.named_buffers() if key.split(".")[0] == layer.name),
        )

    counts = {layer.name: held(layer) for layer in model.layers}
    wanted = {layer.name: (layer.params.torch, layer.params.torch_buffers) for layer in model.layers}
    assert counts == wanted, "PyTorch per-layer parameters and buffers"
    # One sample without padding (token 0 is padding under mask_zero): archdsl counts every step.
    sample = [b[:1].clamp(min=1) if not b.is_floating_point() else b[:1] for b in batch]
    per_layer, reported, extra = torchinfo_macs(net, sample, modules)
    assert set(per_layer) <= {layer.name for layer in model.layers}, "modules that are no layer of the model"
    # torchinfo counts a shared module's calls under its one attribute: the owner's name
    wanted_macs = {layer.name: 0 for layer in model.layers}
    for layer in model.layers:
        wanted_macs[layer.shares or layer.name] += layer.macs(SYMBOLIC)
    found_macs = {layer.name: per_layer.get(layer.name, 0) for layer in model.layers}
    assert found_macs == wanted_macs, "multiply-adds per layer"
    assert reported + extra == model.macs(SYMBOLIC), "torchinfo's total mult-adds, and what it leaves out"
    # every `# (N, ...)` comment of forward, checked at run time
    namespace: dict = {"__name__": f"archdsl_test_{name}_torch_checked", "_archdsl_check_shape": _check_shape}
    exec(compile(instrument_forward(source, model.symbols), f"<instrumented {name}>", "exec"), namespace)  # noqa: S102
    checked = namespace["build_model"]().eval()
    with torch.no_grad():
        checked(*batch)


def _size(weights) -> int:
    return sum(math.prod(weight.shape) for weight in weights)


def module_of_layer(model: archdsl.Model, net, source: str) -> dict:
    """Each layer's module in `net`: an attribute of the model, or inside a block's module
    (`basic_1.0.conv2d_1`) where the code has a class per block."""
    from archdsl.targets.codegen import emit

    flat = archdsl.generate(model, "torch", flat=True) == source
    code = emit(model, "torch", flat=flat)
    found = {}
    for layer in model.layers:
        try:
            found[layer.name] = net.get_submodule(code.path(layer.name))
        except AttributeError:
            continue  # no module of its own: a function call, or the module of the layer it shares
    return found


def torchinfo_macs(net, sample, modules: dict | None = None) -> tuple[dict[str, int], int, int]:
    """torchinfo's multiply-adds for one sample: per layer (the modules of each attribute of `net`),
    its "Total mult-adds", and what the two rules below add to that total.

    The figures are torchinfo's own (`LayerInfo.macs`), but for two modules, read by its
    rules from what it recorded: an nn.Linear over a sequence, which torchinfo counts once per
    row since its pull request #318 and release 1.8.0 once per sample; and
    nn.MultiheadAttention, whose figure torchinfo computes but leaves out of its total, as
    the module has a child (out_proj) and is not a leaf. A recurrent module run on a packed
    sequence is read by torchinfo's rule for a tensor, see below.
    """
    import torchinfo

    stats = torchinfo.summary(net, input_data=sample, device="cpu", verbose=0)
    children = modules if modules is not None else dict(net.named_children())
    owner = {id(module): name for name, child in children.items() for module in child.modules()}
    per_layer: dict[str, int] = {}
    extra = 0
    for info in stats.summary_list:
        name = owner.get(id(info.module))
        if name is None:
            continue
        if info.class_name == "MultiheadAttention":
            macs = info.macs
            extra += macs
        elif not info.is_leaf_layer:
            continue
        elif info.class_name in ("LSTM", "GRU", "RNN") and len(info.output_size) == 2:
            # Run on a PackedSequence (under a padding mask), whose data is (steps, features): torchinfo
            # reads that as (batch, steps). Each weight is applied once per step, as for a tensor.
            macs = info.num_params * info.output_size[0]
            extra += macs - info.macs
        elif info.class_name == "Linear":
            macs = info.num_params * math.prod(info.output_size[:-1])
            if len(info.output_size) == 2:
                assert macs == info.macs, "torchinfo's rule for a Linear over vectors"
            extra += macs - info.macs
        else:
            macs = info.macs
        per_layer[name] = per_layer.get(name, 0) + macs
    return per_layer, stats.total_mult_adds, extra


def check(model: archdsl.Model, source: str, target: str, name: str, params: int | None = None, net=None) -> None:
    if target == "keras":
        check_keras(model, source, name, params, net)
    else:
        check_torch(model, source, name, params, net)


# ---------------------------------------------------------------- a. the examples


@functools.cache
def cli_check_json(stem: str) -> dict[str, dict]:
    """`archdsl check --json` of an example, by model name."""
    result = subprocess.run(
        [sys.executable, "-m", "archdsl", "check", f"examples/{stem}.arch", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return {model["name"]: model for model in json.loads(result.stdout)["models"]}


EXAMPLE_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize(
    ("example", "target"),
    [
        pytest.param(f"{stem}:{name}", target, id=f"{stem}-{name}-{target}",
                     marks=[pytest.mark.xfail(strict=True, reason=EXAMPLE_BUGS[stem, target])]
                     if (stem, target) in EXAMPLE_BUGS else [])
        for stem, name in example_models()
        for target in TARGETS
    ],
)  # fmt: skip
def test_example_builds_runs_and_matches_check(example: str, target: str):
    stem, name = example.split(":")
    model = example_program(stem).model(name)
    reported = cli_check_json(stem)[name]
    assert [tuple(output["shape"]) for output in reported["outputs"]] == [model.shape_of(n) for n in model.outputs]
    assert reported["params"] == model.params.to_json()
    assert reported["macs"] == model.macs(SYMBOLIC)
    symbolic = {d for given in model.inputs for d in given.shape if isinstance(d, str)}
    assert reported["macs_at"] == dict.fromkeys(sorted(symbolic), SYMBOLIC)
    source = generated("example", stem, name, target)
    # archdsl.build's live object, against `archdsl check --json`'s parameter figure
    live = archdsl.build(model, target)
    try:
        check(model, source, target, f"{stem}_{name}", params=reported["params"][target], net=live)
    finally:
        del live
        if reported["params"][target] > 5_000_000:  # VGG16: give the memory back
            if target == "keras":
                _fresh_keras(force=True)
            gc.collect()


# ---------------------------------------------------------------- b. every layer type


@pytest.mark.parametrize(("case_id", "target"), _params(CASES))
def test_layer_spec(case_id: str, target: str):
    model = program_of(case_id).models[0]
    source = generated("case", case_id, None, target)
    check(model, source, target, case_id)


def test_maxpool_same_pads_with_minus_infinity():
    """Uneven 'same' max pooling over all-negative values: a zero padding would show up as 0."""
    model = program_of("maxpool_same_uneven").models[0]
    net = exec_source(generated("case", "maxpool_same_uneven", None, "torch"), "maxpool_inf")
    batch = -1.0 - torch.rand(*torch_input_shape(model), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = net(batch)
    assert (out < 0).all(), "PyTorch max pooling saw the padding"
    _fresh_keras()
    keras_net = exec_source(generated("case", "maxpool_same_uneven", None, "keras"), "maxpool_inf_keras")
    keras_out = keras.ops.convert_to_numpy(keras_net(batch.permute(0, 2, 3, 1).numpy()))
    assert (keras_out < 0).all()
    assert abs(keras_out - out.permute(0, 2, 3, 1).numpy()).max() < 1e-6


def test_strided_same_over_a_symbolic_size_is_a_clean_error_in_torch():
    """The padding would depend on the length at run time: A601 for PyTorch, not wrong numbers."""
    model = archdsl.parse("input seq x 3 -> conv1d 4 3 same stride=2", "strided.arch").models[0]
    assert "Conv1D" in archdsl.generate(model, "keras")
    with pytest.raises(archdsl.ArchError) as error:
        archdsl.generate(model, "torch")
    assert error.value.diagnostics[0].code == "A601"


# ---------------------------------------------------------------- c. determinism


ALL_SOURCES = [("example", stem, name) for stem, name in example_models()] + [
    ("case", case_id, None) for case_id in CASES
]


def _generate_all() -> dict[str, str]:
    out = {}
    for kind, key, name in ALL_SOURCES:
        model = model_for(kind, key, name)
        for target in TARGETS:
            try:
                out[f"{key}:{name}:{target}"] = archdsl.generate(model, target)
            except archdsl.ArchError as error:
                out[f"{key}:{name}:{target}"] = f"error {error.diagnostics[0].code}"
    return out


def test_generation_is_deterministic_in_process():
    first = _generate_all()
    second = _generate_all()
    assert first == second
    cached = {f"{key}:{name}:{target}": generated(kind, key, name, target)
              for kind, key, name in ALL_SOURCES for target in TARGETS}  # fmt: skip
    assert cached == first


def test_generation_is_deterministic_across_processes():
    """A fresh interpreter (fresh hash seed) generates the same bytes."""
    specs = {f"{key}:{name}": (kind, key, name) for kind, key, name in ALL_SOURCES}
    payload = {
        ident: (CASES[key].text, f"{key}.arch", None)
        if kind == "case"
        else ((REPO / "examples" / f"{key}.arch").read_text(encoding="utf-8"), f"examples/{key}.arch", name)
        for ident, (kind, key, name) in specs.items()
    }
    script = (
        "import hashlib, json, sys\n"
        "import archdsl\n"
        "payload = json.load(sys.stdin)\n"
        "out = {}\n"
        "for ident, (text, filename, name) in payload.items():\n"
        "    model = archdsl.parse(text, filename).model(name)\n"
        "    for target in ('keras', 'torch'):\n"
        "        try:\n"
        "            code = archdsl.generate(model, target)\n"
        "        except archdsl.ArchError as error:\n"
        "            code = 'error ' + error.diagnostics[0].code\n"
        "        out[ident + ':' + target] = hashlib.sha256(code.encode()).hexdigest()\n"
        "json.dump(out, sys.stdout)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    fresh = json.loads(result.stdout)
    here = {ident: hashlib.sha256(code.encode()).hexdigest() for ident, code in _generate_all().items()}
    different = sorted(ident for ident in here if fresh.get(ident) != here[ident])
    assert not different, f"generated differently in a fresh process: {different}"


# ---------------------------------------------------------------- d. formatting and lint


def _ruff() -> list[str]:
    local = REPO / ".venv" / "bin" / "ruff"
    if local.exists():
        return [str(local)]
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


# Generated files that ruff is known to reject: (case or example, target) -> reason.
LINT_BUGS: dict[tuple[str, str], str] = {}

RUFF_COMMANDS = {
    "ruff-format-check": ["format", "--isolated", "--check", "--diff"],
    "ruff-check": ["check", "--isolated", "--no-cache"],
    "ruff-check-EFWIBUP": ["check", "--isolated", "--no-cache", "--select", "E,F,W,I,B,UP"],
}


@pytest.fixture(scope="module")
def generated_files(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Every generated source (examples and layer specs, both targets) written to a folder."""
    folder = tmp_path_factory.mktemp("generated")
    files: dict[tuple[str, str], Path] = {}
    for kind, key, name in ALL_SOURCES:
        for target in TARGETS:
            try:
                source = generated(kind, key, name, target)
            except archdsl.ArchError:
                continue  # a documented A601 (tested above)
            path = folder / f"{key}_{name or 'model'}_{target}.py"
            path.write_text(source, encoding="utf-8")
            files[key if name is None else f"{key}:{name}", target] = path
    assert len(files) >= 2 * len(ALL_SOURCES) - 4
    return files


def _run_ruff(command: list[str], paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_ruff(), *command, *sorted(p.name for p in paths)],
        cwd=paths[0].parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("check_name", RUFF_COMMANDS)
def test_generated_code_is_formatted_and_lint_clean(generated_files, check_name):
    """All generated files in one ruff call per check (the known bugs are tested apart, below)."""
    known = {(key.split(":")[0], target) for key, target in generated_files} & set(LINT_BUGS)
    paths = [path for (key, target), path in generated_files.items() if (key.split(":")[0], target) not in known]
    result = _run_ruff(RUFF_COMMANDS[check_name], paths)
    assert result.returncode == 0, f"{check_name} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


# ---------------------------------------------------------------- e. the generated files run as scripts


def _cli(*args: str, cwd: Path = REPO, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("stem", ["card_cnn", "card_rnn", "text_bigru"])
def test_generated_file_runs_as_a_script(tmp_path, stem, target):
    destination = tmp_path / "model.py"
    result = _cli("generate", f"examples/{stem}.arch", "--target", target, "-o", str(destination))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    run = subprocess.run(
        [sys.executable, str(destination)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=TIMEOUT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    model = example_program(stem).models[0]
    if target == "keras":
        shape = (BATCH, *concrete(model.output_shape))
        params = model.params.keras
    else:
        shape = expected_torch_output(model, destination.read_text(encoding="utf-8"))
        params = model.params.torch
    assert f"output shape: {shape}" in run.stdout, run.stdout
    assert f"parameters: {params}" in run.stdout, run.stdout


# ---------------------------------------------------------------- f. archdsl generate, the command


def test_generate_writes_to_stdout_without_o():
    result = _cli("generate", "examples/card_cnn.arch", "--target", "torch")
    assert result.returncode == 0, result.stderr
    assert result.stdout == generated("example", "card_cnn", None, "torch")


def test_generate_o_writes_the_file_atomically(tmp_path):
    destination = tmp_path / "model.py"
    destination.write_text("old contents\n", encoding="utf-8")
    result = _cli("generate", "examples/card_cnn.arch", "--target", "keras", "-o", str(destination))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert destination.read_text(encoding="utf-8") == generated("example", "card_cnn", None, "keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"], "temporary files left behind"


def test_generate_refuses_to_overwrite_its_input(tmp_path):
    spec = tmp_path / "net.arch"
    text = "input 10 -> dense 2\n"
    spec.write_text(text, encoding="utf-8")
    result = _cli("generate", str(spec), "--target", "keras", "-o", str(spec))
    assert result.returncode == 2
    assert "input file" in result.stderr
    assert "Traceback" not in result.stderr
    assert spec.read_text(encoding="utf-8") == text
    # the same file through another spelling of its path
    result = _cli("generate", "net.arch", "--target", "torch", "-o", "./net.arch", cwd=tmp_path)
    assert result.returncode == 2
    assert spec.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.arch"]


def test_generate_to_an_unwritable_path_is_a_clean_error(tmp_path):
    destination = tmp_path / "missing" / "folder" / "model.py"
    result = _cli("generate", "examples/card_cnn.arch", "--target", "keras", "-o", str(destination))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("archdsl: error: cannot write"), result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "missing").exists()


def test_generate_needs_model_for_a_file_with_several():
    result = _cli("generate", "examples/multi_model.arch", "--target", "keras")
    assert result.returncode == 2
    assert "SmallNet" in result.stderr and "Tagger" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    chosen = _cli("generate", "examples/multi_model.arch", "--target", "keras", "--model", "Tagger")
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout == generated("example", "multi_model", "Tagger", "keras")


def test_generate_broken_spec_writes_nothing(tmp_path):
    spec = tmp_path / "broken.arch"
    spec.write_text("input 64x64x1 -> conv2 32 -> dense 10\n", encoding="utf-8")
    fresh = tmp_path / "fresh.py"
    result = _cli("generate", str(spec), "--target", "torch", "-o", str(fresh))
    assert result.returncode == 1
    assert "conv2d" in result.stderr  # did you mean
    assert "Traceback" not in result.stderr
    assert not fresh.exists()
    existing = tmp_path / "existing.py"
    existing.write_text("keep me\n", encoding="utf-8")
    result = _cli("generate", str(spec), "--target", "keras", "-o", str(existing))
    assert result.returncode == 1
    assert existing.read_text(encoding="utf-8") == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.arch", "existing.py"]


# ---------------------------------------------------------------- g. what the code says about itself


_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}(:\d{2})?\b")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(("stem", "name"), example_models())
def test_docstring_names_source_model_and_version(stem, name, target):
    source = generated("example", stem, name, target)
    docstring = pyast.get_docstring(pyast.parse(source))
    assert docstring is not None
    assert source.startswith('"""')
    assert f"examples/{stem}.arch" in docstring
    assert name in docstring.splitlines()[0]
    assert f"archdsl {archdsl.__version__}" in docstring
    assert archdsl.__version__ == "0.1.0"
    assert not _TIMESTAMP.search(docstring), "the docstring looks like it has a date or time"
    # nothing from the spec's comments reaches the code
    assert "Szegedy" not in source and "LeCun" not in source and "Chollet" not in source


def test_docstring_through_the_cli_names_the_path_given(tmp_path):
    result = _cli("generate", "examples/lenet5.arch", "--target", "torch")
    assert result.returncode == 0
    first = pyast.get_docstring(pyast.parse(result.stdout)).splitlines()[0]
    assert first == f"LeNet5: PyTorch code generated by archdsl {archdsl.__version__} from examples/lenet5.arch."


# Forward lines known to lack their `# (N, ...)` comment: case -> reason.
COMMENT_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "ident",
    [pytest.param(f"{kind}:{key}:{name or ''}", marks=[pytest.mark.xfail(strict=True, reason=COMMENT_BUGS[key])]
                  if key in COMMENT_BUGS else []) for kind, key, name in ALL_SOURCES],
)  # fmt: skip
def test_torch_code_has_explicit_sizes_and_shape_comments(ident):
    kind, key, name = ident.split(":")
    try:
        source = generated(kind, key, name or None, "torch")
    except archdsl.ArchError:
        pytest.skip("no PyTorch rendering (A601)")
    assert "Lazy" not in source
    statements = forward_statements(source)
    missing = [pyast.unparse(stmt) for stmt, comment in statements if isinstance(stmt, pyast.Assign) and not comment]
    assert not missing, f"forward lines without a '# (N, ...)' comment: {missing}"
