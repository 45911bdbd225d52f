"""Hand-written reference implementations of three example architectures.

These are what a careful person would write without archdsl, straight from the papers and
the usual framework idioms (nn.Sequential stacks, the final hidden state of a GRU, Keras'
functional API), and they are the baseline of section 4 of `benchmarks/run.py`, which times
the forward pass of archdsl's generated models against them. Nothing here calls archdsl.

To be the *same* architecture as the spec (so that the timing compares like with like),
they follow the spec's Keras semantics where a framework default differs: PyTorch batch
norm gets Keras' eps=1e-3 and momentum 0.01 (Keras' 0.99), PyTorch's GRU and Keras' GRU
(reset_after=True, the Keras 3 default) hold the same weights. The benchmark asserts that
each reference has the parameter count of the generated model, copies the generated
model's weights into it and checks both compute the same outputs.

| spec                        | PyTorch          | Keras                  |
|-----------------------------|------------------|------------------------|
| examples/lenet5.arch        | `LeNet5`         | `lenet5_keras()`       |
| examples/vgg_small.arch     | `VggSmall`       | `vgg_small_keras()`    |
| examples/text_bigru.arch    | `TextBiGRU`      | `text_bigru_keras()`   |

Inputs follow each framework's convention: PyTorch images are (N, C, H, W), Keras images
(N, H, W, C); the text model takes (N, steps) integer token ids in both.

Importing this module imports Keras (set KERAS_BACKEND=tensorflow, the default, first) and
PyTorch.
"""

from __future__ import annotations

import keras
import torch
from keras import layers
from torch import nn

# Keras' BatchNormalization defaults, spelled for PyTorch (PyTorch's momentum is 1 - Keras').
KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01


# ---------------------------------------------------------------------------- PyTorch


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998), modern form: tanh, average pooling, softmax head; 61,706 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),  # C1: 32x32 -> 28x28
            nn.Tanh(),
            nn.AvgPool2d(2),  # S2: 14x14
            nn.Conv2d(6, 16, kernel_size=5),  # C3: 10x10
            nn.Tanh(),
            nn.AvgPool2d(2),  # S4: 5x5
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # 16 * 5 * 5 = 400
            nn.Linear(400, 120),  # C5
            nn.Tanh(),
            nn.Linear(120, 84),  # F6
            nn.Tanh(),
            nn.Linear(84, 10),
            nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM),
        nn.ReLU(inplace=True),
    ]


def vgg_stage(in_channels: int, out_channels: int, rate: float) -> list[nn.Module]:
    return [
        *conv_bn(in_channels, out_channels),
        *conv_bn(out_channels, out_channels),
        nn.MaxPool2d(2),
        nn.Dropout(rate),
    ]


class VggSmall(nn.Module):
    """A VGG-style CIFAR-10 net: three stages of (conv-bn-relu) x 2, max pool, dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *vgg_stage(3, 32, 0.2),  # 32x32 -> 16x16
            *vgg_stage(32, 64, 0.3),  # -> 8x8
            *vgg_stage(64, 128, 0.4),  # -> 4x4
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # 128 * 4 * 4 = 2048
            nn.Linear(2048, 128),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(128, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM),
            nn.Dropout(0.5),
            nn.Linear(128, 10),
            nn.Softmax(dim=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class TextBiGRU(nn.Module):
    """Embedding, two bidirectional GRUs, dropout, a sigmoid unit (the Keras IMDB example with GRUs)."""

    def __init__(self, vocabulary: int = 20000, dim: int = 128) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, dim)
        self.gru1 = nn.GRU(dim, 64, batch_first=True, bidirectional=True)
        self.gru2 = nn.GRU(2 * 64, 32, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.5)
        self.out = nn.Linear(2 * 32, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)
        x, _ = self.gru1(x)  # every step: (N, T, 128)
        _, h = self.gru2(x)  # the final state of each direction: (2, N, 32)
        x = torch.cat([h[0], h[1]], dim=1)  # (N, 64)
        return torch.sigmoid(self.out(self.dropout(x)))


# ---------------------------------------------------------------------------- Keras


def lenet5_keras() -> keras.Model:
    inputs = keras.Input(shape=(32, 32, 1))
    x = layers.Conv2D(6, 5, activation="tanh")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lenet5_reference")


def keras_conv_bn(x, filters: int):
    x = layers.Conv2D(filters, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def keras_vgg_stage(x, filters: int, rate: float):
    x = keras_conv_bn(x, filters)
    x = keras_conv_bn(x, filters)
    x = layers.MaxPooling2D(2)(x)
    return layers.Dropout(rate)(x)


def vgg_small_keras() -> keras.Model:
    inputs = keras.Input(shape=(32, 32, 3))
    x = keras_vgg_stage(inputs, 32, 0.2)
    x = keras_vgg_stage(x, 64, 0.3)
    x = keras_vgg_stage(x, 128, 0.4)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="vgg_small_reference")


def text_bigru_keras() -> keras.Model:
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(20000, 128)(inputs)
    x = layers.Bidirectional(layers.GRU(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.GRU(32))(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="text_bigru_reference")


TORCH_REFERENCES = {"lenet5": LeNet5, "vgg_small": VggSmall, "text_bigru": TextBiGRU}
KERAS_REFERENCES = {"lenet5": lenet5_keras, "vgg_small": vgg_small_keras, "text_bigru": text_bigru_keras}
