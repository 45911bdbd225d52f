"""How Keras, PyTorch and habit spell the layers and arguments of the language.

Someone who knows a framework writes `MaxPooling2D`, `Linear`, `deconv2d` or
`return_sequences=True`. Spelling distance answers those badly (`deconv2d` is one letter
from `dwconv2d`, `conv` nearest to `conv3d`), so the errors look these tables up first,
case-insensitively. Both are keyed by the language's own names and
tests/test_spellings.py holds them to the layer table: every key is a layer or an
argument, and no spelling leads to two places.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from archdsl.layers.spec import LayerSpec
from archdsl.layers.table import LAYERS

# Keras class names, PyTorch class names, then common aliases. A spelling that differs from
# another only in case (Keras' Conv2D, PyTorch's Conv2d) is listed once: the lookup ignores case.
LAYER_SPELLINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "dense": ("Dense", "Linear", "fc", "fully_connected"),
        "conv1d": ("Conv1D", "Convolution1D"),
        "conv2d": ("Conv2D", "Convolution2D", "conv", "convolution"),
        "conv3d": ("Conv3D", "Convolution3D"),
        "sepconv2d": ("SeparableConv2D", "SeparableConvolution2D", "separable_conv2d"),
        "dwconv2d": ("DepthwiseConv2D", "depthwise_conv2d"),
        "conv2dtranspose": (
            "Conv2DTranspose",
            "ConvTranspose2d",
            "Convolution2DTranspose",
            "deconv2d",
            "deconv",
            "deconvolution",
            "transposed_conv2d",
        ),
        "maxpool": (
            "MaxPooling1D",
            "MaxPooling2D",
            "MaxPooling3D",
            "MaxPool1D",
            "MaxPool2D",
            "MaxPool3D",
            "max_pool",
            "max_pooling",
            "maxpooling",
        ),
        "avgpool": (
            "AveragePooling1D",
            "AveragePooling2D",
            "AveragePooling3D",
            "AvgPool1D",
            "AvgPool2D",
            "AvgPool3D",
            "avg_pool",
            "average_pooling",
            "averagepooling",
        ),
        "globalavgpool": (
            "GlobalAveragePooling1D",
            "GlobalAveragePooling2D",
            "GlobalAveragePooling3D",
            "GlobalAvgPool1D",
            "GlobalAvgPool2D",
            "GlobalAvgPool3D",
            "AdaptiveAvgPool2d",  # as torchvision's ResNet uses it: AdaptiveAvgPool2d((1, 1)), then flatten
            "global_avg_pool",
            "gap",
        ),
        "globalmaxpool": (
            "GlobalMaxPooling1D",
            "GlobalMaxPooling2D",
            "GlobalMaxPooling3D",
            "GlobalMaxPool1D",
            "GlobalMaxPool2D",
            "GlobalMaxPool3D",
            "AdaptiveMaxPool2d",
            "global_max_pool",
        ),
        "flatten": ("Flatten",),
        "dropout": ("Dropout",),
        "batchnorm": (
            "BatchNormalization",
            "BatchNorm1d",
            "BatchNorm2d",
            "BatchNorm3d",
            "batch_norm",
            "batch_normalization",
            "bn",
        ),
        "layernorm": ("LayerNormalization", "LayerNorm", "layer_norm", "layer_normalization", "ln"),
        "rescale": ("Rescaling",),
        "normalize": ("Normalization", "Normalize"),
        "scale": ("LayerScale", "layer_scale", "gamma"),
        "droppath": ("DropPath", "StochasticDepth", "drop_path", "stochastic_depth"),
        "relu": ("ReLU",),
        "relu6": ("ReLU6",),
        "leakyrelu": ("LeakyReLU", "leaky_relu"),
        "elu": ("ELU",),
        "selu": ("SELU",),
        "gelu": ("GELU",),
        # Hugging Face's names of the tanh approximation (GPT-2's `activation_function`).
        "gelu_tanh": ("gelu_new", "gelu_pytorch_tanh", "approximate_gelu"),
        "silu": ("SiLU", "swish"),
        "sigmoid": ("Sigmoid",),
        "tanh": ("Tanh",),
        "softmax": ("Softmax",),
        "hardswish": ("Hardswish", "hard_swish", "hard_silu", "h_swish"),
        "hardsigmoid": ("Hardsigmoid", "hard_sigmoid", "h_sigmoid"),
        "abs": ("absolute",),
        "lstm": ("LSTM",),
        "gru": ("GRU",),
        "rnn": ("SimpleRNN", "RNN"),
        "embedding": ("Embedding", "embed"),
        "reshape": ("Reshape", "view"),
        "upsample": ("UpSampling1D", "UpSampling2D", "UpSampling3D", "Upsample", "upsampling"),
        "zeropad": (
            "ZeroPadding1D",
            "ZeroPadding2D",
            "ZeroPadding3D",
            "ZeroPad1d",
            "ZeroPad2d",
            "ZeroPad3d",
            "pad",
            "padding",
        ),
        "crop": ("Cropping1D", "Cropping2D", "Cropping3D", "cropping", "CenterCrop"),
        "identity": ("Identity",),
        "add": ("Add",),
        "subtract": ("Subtract",),
        "multiply": ("Multiply",),
        "average": ("Average",),
        "maximum": ("Maximum",),
        "minimum": ("Minimum",),
        "concat": ("Concatenate", "cat"),
        "posembed": ("PositionEmbedding", "PositionalEmbedding", "pos_embed", "position_embedding", "wpe"),
        "clstoken": ("ClassToken", "cls_token", "class_token"),
        "take": ("select", "index_select", "TakeStep"),
        "attention": ("MultiHeadAttention", "mha", "self_attention"),  # PyTorch's MultiheadAttention too
    }
)

# Argument names as Keras or PyTorch write them, keyed by the language's argument name. A
# spelling may stand for different arguments of different layers (`kernel_size` is a
# convolution's kernel and a PyTorch pool's window): the layer at hand picks.
ARGUMENT_SPELLINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "units": ("out_features", "hidden_size", "output_size"),
        "filters": ("out_channels", "num_filters"),
        "kernel": ("kernel_size",),
        "pool": ("pool_size", "kernel_size"),
        "stride": ("strides",),
        "dilation": ("dilation_rate",),
        "bias": ("use_bias",),
        "seq": ("return_sequences",),
        "rate": ("p", "dropout_rate", "drop_path_rate", "drop_prob"),
        "init": ("init_values", "layer_scale_init_value"),
        "epsilon": ("eps",),
        "heads": ("num_heads",),
        "causal": ("use_causal_mask", "is_causal"),
        "multiplier": ("depth_multiplier",),
        "alpha": ("negative_slope",),
        "vocab": ("input_dim", "num_embeddings", "vocab_size"),
        "dim": ("output_dim", "embedding_dim"),
        "size": ("scale_factor",),
        "target": ("target_shape", "shape"),
        "index": ("idx",),
        "max": ("sequence_length", "max_length", "max_len", "max_position_embeddings", "n_positions", "num_positions"),
    }
)


@cache
def _layers_by_spelling() -> Mapping[str, str]:
    found = {name.lower(): name for name in LAYERS}
    for layer, spellings in LAYER_SPELLINGS.items():
        found.update((spelling.lower(), layer) for spelling in spellings)
    return MappingProxyType(found)


def layer_spelled(word: str) -> str | None:
    """The layer that `word` names in a framework or in any case (`MaxPooling2D`: maxpool), or None."""
    return _layers_by_spelling().get(word.lower())


def argument_spelled(spec: LayerSpec, word: str) -> str | None:
    """The argument of `spec` that `word` names in a framework or in any case (`strides`: stride), or None."""
    lowered = word.lower()
    for arg in spec.args:
        if lowered == arg.name.lower() or lowered in (s.lower() for s in ARGUMENT_SPELLINGS.get(arg.name, ())):
            return arg.name
    return None


def flag_of(word: str) -> tuple[str, ...]:
    """The layers that have `word` as a flag (`Bidirectional`: lstm, gru, rnn): a wrapper in Keras, a word here."""
    lowered = word.lower()
    return tuple(spec.name for spec in LAYERS.values() if lowered in spec.flags)
