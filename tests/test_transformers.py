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
# token table: 124,439,808 = 163,037,184 - 50,257 x 768); BERT-base with its pooler, Hugging
# Face's bert-base-uncased.
PUBLISHED = {
    "ViT_B16": ("vit.arch", 86_567_656, (1000,)),
    "GPT2_Small": ("gpt2.arch", 163_037_184, ("seq", 50257)),
    "BERT_Base": ("bert.arch", 109_482_240, (768,)),
}
REDUCED = {"ViT_Tiny": "vit.arch", "GPT2_Tiny": "gpt2.arch", "BERT_Tiny": "bert.arch", "Translator": "translator.arch"}


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


def keras_bert(vocab: int, positions: int, d: int, depth: int, heads: int):
    """BERT as in Google's code: token, segment and position tables summed and normalised, post-norm
    blocks, the pooler's tanh dense layer on the first token."""
    import keras
    from keras import layers

    _, Positions = keras_pieces()
    tokens, segments = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    x = layers.Add()(
        [layers.Embedding(vocab, d, mask_zero=True)(tokens), layers.Embedding(2, d, mask_zero=True)(segments)]
    )
    x = layers.LayerNormalization(epsilon=1e-12)(Positions(positions)(x))
    for _ in range(depth):
        x = layers.LayerNormalization(epsilon=1e-12)(
            layers.Add()([layers.MultiHeadAttention(heads, d // heads)(x, x), x])
        )
        y = layers.Dense(d)(layers.Dense(4 * d, activation="gelu")(x))
        x = layers.LayerNormalization(epsilon=1e-12)(layers.Add()([y, x]))
    return keras.Model([tokens, segments], layers.Dense(d, activation="tanh")(x[:, 0]))


def keras_translator():
    """The encoder-decoder as Keras' translation example builds it, at the example's small size."""
    import keras
    from keras import layers

    _, Positions = keras_pieces()

    def attention_block(x, causal=False):
        attended = layers.MultiHeadAttention(4, 8)(x, x, use_causal_mask=causal)
        return layers.LayerNormalization()(layers.Add()([attended, x]))

    def feed_forward(x):
        return layers.LayerNormalization()(layers.Add()([layers.Dense(32)(layers.Dense(64, activation="relu")(x)), x]))

    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    memory = feed_forward(attention_block(Positions(64)(layers.Embedding(120, 32, mask_zero=True)(source))))
    queries = attention_block(Positions(64)(layers.Embedding(100, 32, mask_zero=True)(target)), causal=True)
    attended = layers.MultiHeadAttention(4, 8)(queries, memory)  # cross-attention: (query, value)
    x = feed_forward(layers.LayerNormalization()(layers.Add()([queries, attended])))
    return keras.Model([source, target], layers.Dense(100, activation="softmax")(x))


HAND_WRITTEN = {
    "ViT_B16": lambda: keras_vit(224, 16, 768, 12, 12, 3072, 1000),
    "GPT2_Small": lambda: keras_gpt2(50257, 1024, 768, 12, 12, mask_zero=False),
    "ViT_Tiny": lambda: keras_vit(32, 4, 32, 2, 4, 64, 10),
    "GPT2_Tiny": lambda: keras_gpt2(100, 64, 32, 2, 4, mask_zero=True),
    "BERT_Base": lambda: keras_bert(30522, 512, 768, 12, 12),
    "BERT_Tiny": lambda: keras_bert(100, 64, 32, 2, 4),
    "Translator": keras_translator,
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


def sample_inputs(name: str, rng, padded: bool) -> list:
    """A batch for a reduced model: images, or token ids (padded with 0 at the end where asked); BERT's
    segments are 0 then 1 (sentence A, then B) and 0 at padding, as its tokenizers give them."""
    import numpy as np

    from archdsl.tools.verify import BATCH, token_batch

    if name.startswith("ViT"):
        return [rng.normal(size=(BATCH, 32, 32, 3)).astype("float32")]
    ids = [token_batch(rng, (12,), vocab, masked=True)[0] for vocab in {"Translator": (120, 100)}.get(name, (100,))]
    if not padded:
        ids = [np.where(tokens == 0, 1, tokens) for tokens in ids]
    if name.startswith("BERT"):
        ids.append(np.where(ids[0] == 0, 0, (np.arange(12) >= 5).astype("int32")))
    return ids


@pytest.mark.frameworks
@pytest.mark.parametrize("name", REDUCED)
def test_reduced_size_computes_what_the_hand_written_keras_model_does(name: str) -> None:
    """The generated Keras model's weights in the hand-written one: the same outputs.

    Padding is left out for the post-norm models (BERT, the translator): Keras'
    MultiHeadAttention takes the mask off the tensor its skip connection reads, so the
    hand-written model loses it there, which the generated one does not (test_masks.py).
    """
    import numpy as np

    checked = model(name, REDUCED[name])
    generated = archdsl.build(checked, "keras")
    hand = HAND_WRITTEN[name]()
    rng = np.random.default_rng(7)
    generated.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in generated.get_weights()])
    hand.set_weights(generated.get_weights())
    inputs = sample_inputs(name, rng, padded=name.startswith("GPT2"))
    feed = inputs[0] if len(inputs) == 1 else inputs
    np.testing.assert_allclose(generated(feed, training=False), hand(feed, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["BERT_Tiny", "Translator"])
def test_padded_inputs_give_pytorch_what_they_give_keras(name: str) -> None:
    """BERT's segment 0 is real in sentence A and padding after it; the translator pads both sequences."""
    import numpy as np
    import torch

    from archdsl.tools import verify

    checked = model(name, REDUCED[name])
    keras_model = archdsl.build(checked, "keras", flat=True)  # layer by layer beside the flat PyTorch code
    rng = np.random.default_rng(5)
    verify._randomize(keras_model, rng)
    torch_module, code = verify._torch_instance(checked)
    verify.copy_weights(checked, keras_model, torch_module, code)
    torch_module._archdsl_probe = lambda name, value: None  # verify's forward reports every layer
    inputs = sample_inputs(name, rng, padded=True)
    assert all((ids == 0).any() for ids in inputs)
    with torch.no_grad():
        torch_out = torch_module(*(torch.as_tensor(ids, dtype=torch.long) for ids in inputs)).numpy()
    np.testing.assert_allclose(torch_out, keras_model(inputs, training=False), rtol=1e-4, atol=1e-5)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", REDUCED)
def test_reduced_size_verifies(name: str) -> None:
    report = archdsl.verify(model(name, REDUCED[name]), seed=2)
    assert report.ok, report.first_mismatch
    assert bool(report.notes) == (not name.startswith("ViT"))  # token ids are padded: mask_zero


@pytest.mark.frameworks
def test_full_size_pytorch_counts_the_published_parameters() -> None:
    torch_model = archdsl.build(model("ViT_B16", "vit.arch"), "torch")
    assert sum(p.numel() for p in torch_model.parameters()) == PUBLISHED["ViT_B16"][1]
