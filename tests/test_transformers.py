"""The transformers of examples/transformers/: full sizes held to their published parameter counts
and to hand-written Keras models, reduced sizes verified layer by layer (masked inputs included).

The full-size models (ViT-B/16, GPT-2 small) are checked for shapes and parameter counts only:
verifying 86 and 163 million weights would take minutes. Their reduced twins in the same files
are the same blocks at small sizes, and go through `archdsl verify` and through a comparison
with the same architecture written by hand in Keras, independently of archdsl.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import archdsl

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "examples" / "transformers"
FILES = sorted(FOLDER.glob("*.arch"))

# model -> (file, published parameters, output shape). ViT-B/16: timm's vit_base_patch16_224 and
# the paper; GPT-2 small with its output layer written out (OpenAI's checkpoint ties it to the
# token table: 124,439,808 = 163,037,184 - 50,257 x 768).
PUBLISHED = {
    "ViT_B16": ("vit.arch", 86_567_656, (1000,)),
    "GPT2_Small": ("gpt2.arch", 163_037_184, ("seq", 50257)),
}
REDUCED = {"ViT_Tiny": "vit.arch", "GPT2_Tiny": "gpt2.arch"}


def model(name: str, file: str) -> archdsl.Model:
    return archdsl.load(FOLDER / file).model(name)


@pytest.mark.parametrize("name", PUBLISHED)
def test_full_size_has_the_published_parameter_count(name: str) -> None:
    file, params, output = PUBLISHED[name]
    checked = model(name, file)
    assert (checked.params.keras, checked.params.torch) == (params, params)
    assert checked.output_shape == output


def test_gpt2_small_tied_would_have_its_published_count() -> None:
    """The 124,439,808 of GPT-2 small is this model less its output layer, which it shares with the token table."""
    checked = model("GPT2_Small", "gpt2.arch")
    output_layer = checked.layers[-1]
    assert output_layer.config["bias"] is False
    assert checked.params.keras - output_layer.params.keras == 124_439_808


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_the_files_are_canonical_and_check_without_warnings(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert archdsl.format_source(text) == text
    program = archdsl.load(path)
    assert [d for d in program.warnings if d.severity == "warning"] == []
    assert {m.name for m in program.models} <= set(PUBLISHED) | set(REDUCED)


def test_generated_code_is_formatted_and_lint_clean(tmp_path: Path) -> None:
    names = [*((n, f) for n, (f, _, _) in PUBLISHED.items()), *REDUCED.items()]
    for name, file in names:
        for target in ("keras", "torch"):
            (tmp_path / f"{name}_{target}.py").write_text(archdsl.generate(model(name, file), target), encoding="utf-8")
    for command in (
        ["format", "--isolated", "--check"],
        ["check", "--isolated", "--no-cache", "--select", "E,F,W,I,B,UP"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "."], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- against Keras, written by hand


def keras_pieces():
    """A class token and a position table as a Keras user writes them (keras_hub's PositionEmbedding)."""
    import keras
    from keras import ops

    class ClassToken(keras.layers.Layer):
        def build(self, shape):
            self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="zeros")

        def call(self, x):
            return ops.concatenate([ops.broadcast_to(self.token, (ops.shape(x)[0], 1, x.shape[-1])), x], axis=1)

    class Positions(keras.layers.Layer):
        def __init__(self, length, **kwargs):
            super().__init__(**kwargs)
            self.length = length
            self.supports_masking = True

        def build(self, shape):
            self.table = self.add_weight(shape=(self.length, shape[-1]), initializer="random_normal")

        def call(self, x):
            return x + self.table[: ops.shape(x)[1]]

    return ClassToken, Positions


def keras_vit(image: int, patch: int, d: int, depth: int, heads: int, mlp: int, classes: int):
    """ViT as in the paper: patches, class token, positions, pre-norm blocks, the class token's head."""
    import keras
    from keras import layers

    ClassToken, Positions = keras_pieces()
    patches = (image // patch) ** 2
    inputs = keras.Input((image, image, 3))
    x = layers.Conv2D(d, patch, strides=patch)(inputs)
    x = Positions(patches + 1)(ClassToken()(layers.Reshape((patches, d))(x)))
    for _ in range(depth):
        y = layers.LayerNormalization(epsilon=1e-6)(x)
        x = layers.Add()([x, layers.MultiHeadAttention(heads, d // heads)(y, y)])
        y = layers.LayerNormalization(epsilon=1e-6)(x)
        x = layers.Add()([x, layers.Dense(d)(layers.Dense(mlp, activation="gelu")(y))])
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x[:, 0]))


def keras_gpt2(vocab: int, positions: int, d: int, depth: int, heads: int, mask_zero: bool):
    """GPT-2 as in OpenAI's code: token and position tables, pre-norm causal blocks, logits."""
    import keras
    from keras import layers

    _, Positions = keras_pieces()
    inputs = keras.Input((None,), dtype="int32")
    x = Positions(positions)(layers.Embedding(vocab, d, mask_zero=mask_zero)(inputs))
    for _ in range(depth):
        y = layers.LayerNormalization(epsilon=1e-5)(x)
        x = layers.Add()([x, layers.MultiHeadAttention(heads, d // heads)(y, y, use_causal_mask=True)])
        y = layers.LayerNormalization(epsilon=1e-5)(x)
        y = layers.Dense(4 * d, activation=lambda t: keras.activations.gelu(t, approximate=True))(y)
        x = layers.Add()([x, layers.Dense(d)(y)])
    x = layers.LayerNormalization(epsilon=1e-5)(x)
    return keras.Model(inputs, layers.Dense(vocab, use_bias=False)(x))


HAND_WRITTEN = {
    "ViT_B16": lambda: keras_vit(224, 16, 768, 12, 12, 3072, 1000),
    "GPT2_Small": lambda: keras_gpt2(50257, 1024, 768, 12, 12, mask_zero=False),
    "ViT_Tiny": lambda: keras_vit(32, 4, 32, 2, 4, 64, 10),
    "GPT2_Tiny": lambda: keras_gpt2(100, 64, 32, 2, 4, mask_zero=True),
}


@pytest.mark.frameworks
@pytest.mark.parametrize("name", PUBLISHED)
def test_full_size_is_the_hand_written_keras_model(name: str) -> None:
    import keras

    file, params, output = PUBLISHED[name]
    checked = model(name, file)
    hand = HAND_WRITTEN[name]()
    assert hand.count_params() == params
    assert tuple(hand.output.shape[1:]) == tuple(d if isinstance(d, int) else None for d in output)
    generated = archdsl.build(checked, "keras")
    assert [tuple(w.shape) for w in generated.weights] == [tuple(w.shape) for w in hand.weights]
    del generated, hand
    keras.backend.clear_session()


@pytest.mark.frameworks
@pytest.mark.parametrize("name", REDUCED)
def test_reduced_size_computes_what_the_hand_written_keras_model_does(name: str) -> None:
    """The generated Keras model's weights in the hand-written one: the same outputs, padding included."""
    import numpy as np

    from archdsl.tools.verify import BATCH, token_batch

    checked = model(name, REDUCED[name])
    generated = archdsl.build(checked, "keras")
    hand = HAND_WRITTEN[name]()
    rng = np.random.default_rng(7)
    generated.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in generated.get_weights()])
    hand.set_weights(generated.get_weights())
    if name.startswith("GPT2"):
        inputs, padding = token_batch(rng, (12,), 100, masked=True)
        assert padding is not None and (inputs == 0).any()
    else:
        inputs = rng.normal(size=(BATCH, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(generated(inputs, training=False), hand(inputs, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", REDUCED)
def test_reduced_size_verifies(name: str) -> None:
    report = archdsl.verify(model(name, REDUCED[name]), seed=2)
    assert report.ok, report.first_mismatch
    assert bool(report.notes) == name.startswith("GPT2")  # its token ids are padded: mask_zero


@pytest.mark.frameworks
def test_full_size_pytorch_counts_the_published_parameters() -> None:
    torch_model = archdsl.build(model("ViT_B16", "vit.arch"), "torch")
    assert sum(p.numel() for p in torch_model.parameters()) == PUBLISHED["ViT_B16"][1]
