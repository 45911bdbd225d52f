"""The graph examples (LANGUAGE.md section 7) against Keras functional models written here by hand.

Each hand-written model is the one a Keras user would write from the same paper, without
archdsl: the generated Keras model must hold the same weights in the same order, return
the same outputs once given those weights, and `verify` must find the PyTorch code equal.
Agreement with archdsl's own figures would prove nothing; agreement with these does.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path  # noqa: E402

import frameworks  # noqa: E402
import pytest  # noqa: E402

import archdsl  # noqa: E402

np = frameworks.importorskip("numpy")
keras = frameworks.importorskip("keras")
frameworks.importorskip("torch")

from keras import layers  # noqa: E402

pytestmark = pytest.mark.frameworks

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _twice(x, c):
    x = layers.Conv2D(c, 3, padding="same", activation="relu")(x)
    return layers.Conv2D(c, 3, padding="same", activation="relu")(x)


def unet():
    inputs = keras.Input((128, 128, 3))
    e1 = _twice(inputs, 16)
    e2 = _twice(layers.MaxPooling2D()(e1), 32)
    e3 = _twice(layers.MaxPooling2D()(e2), 64)
    up3 = layers.Conv2DTranspose(64, 2, strides=2)(_twice(layers.MaxPooling2D()(e3), 128))
    up2 = layers.Conv2DTranspose(32, 2, strides=2)(_twice(layers.Concatenate()([e3, up3]), 64))
    up1 = layers.Conv2DTranspose(16, 2, strides=2)(_twice(layers.Concatenate()([e2, up2]), 32))
    outputs = layers.Conv2D(1, 1, activation="sigmoid")(_twice(layers.Concatenate()([e1, up1]), 16))
    return keras.Model(inputs, outputs)


def fpn():
    def stage(x, c):
        x = layers.Conv2D(c, 3, strides=2, padding="same", activation="relu")(x)
        return layers.Conv2D(c, 3, padding="same", activation="relu")(x)

    inputs = keras.Input((256, 256, 3))
    c2 = stage(layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs), 64)
    c3 = stage(c2, 128)
    c4 = stage(c3, 256)
    c5 = stage(c4, 512)
    p5 = layers.Conv2D(128, 1)(c5)
    m4 = layers.Add()([layers.Conv2D(128, 1)(c4), layers.UpSampling2D()(p5)])
    m3 = layers.Add()([layers.Conv2D(128, 1)(c3), layers.UpSampling2D()(m4)])
    m2 = layers.Add()([layers.Conv2D(128, 1)(c2), layers.UpSampling2D()(m3)])
    p4 = layers.Conv2D(128, 3, padding="same")(m4)
    p3 = layers.Conv2D(128, 3, padding="same")(m3)
    p2 = layers.Conv2D(128, 3, padding="same")(m2)
    p6 = layers.MaxPooling2D(1, strides=2)(p5)
    return keras.Model(inputs, [p2, p3, p4, p5, p6])


def two_heads():
    inputs = keras.Input((64, 64, 3))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(layers.MaxPooling2D()(x))
    trunk = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, [layers.Dense(10, activation="softmax")(trunk), layers.Dense(1)(trunk)])


def seq2seq():
    """Keras' own lstm_seq2seq example (keras.io/examples/nlp/lstm_seq2seq), training model."""
    source = keras.Input((None, 71))
    target = keras.Input((None, 93))
    _, h, c = layers.LSTM(256, return_state=True)(source)
    x = layers.LSTM(256, return_sequences=True)(target, initial_state=[h, c])
    return keras.Model([source, target], layers.Dense(93, activation="softmax")(x))


SIAMESE = """\
block encoder() = conv2d 8 3x3 relu -> maxpool -> conv2d 16 3x3 relu -> globalavgpool -> dense 16

model Siamese {
  input 28x28x1 as left -> encoder as enc
  input 28x28x1 as right -> use enc as enc_right
  ( @enc | @enc_right ) -> subtract -> dense 1 sigmoid
}
"""


def twins(side: int, filters: tuple[int, int], code: int, absolute: bool):
    """Koch et al.'s twin network, the usual way: one encoder model called on both inputs."""
    image = keras.Input((side, side, 1))
    x = layers.Conv2D(filters[0], 3, activation="relu")(image)
    x = layers.Conv2D(filters[1], 3, activation="relu")(layers.MaxPooling2D()(x))
    encoder = keras.Model(image, layers.Dense(code)(layers.GlobalAveragePooling2D()(x)))
    left, right = keras.Input((side, side, 1)), keras.Input((side, side, 1))
    distance = layers.Subtract()([encoder(left), encoder(right)])
    if absolute:
        distance = keras.ops.abs(distance)
    return keras.Model([left, right], layers.Dense(1, activation="sigmoid")(distance))


def siamese():
    return twins(28, (8, 16), 16, absolute=False)


def siamese_of_the_contract():
    """LANGUAGE.md section 7's Siamese model: the distance is the absolute difference of the towers."""
    return twins(105, (32, 64), 64, absolute=True)


# spec -> (hand-written model, sizes of the symbolic axes to run at)
CASES = {
    "unet.arch": (unet, {}),
    "fpn.arch": (fpn, {}),
    "two_heads.arch": (two_heads, {}),
    "seq2seq.arch": (seq2seq, {"src": 7, "tgt": 5}),
    SIAMESE: (siamese, {}),
    "siamese.arch": (siamese_of_the_contract, {}),
}


def _model(key: str):
    return archdsl.load(EXAMPLES / key).model() if key.endswith(".arch") else archdsl.parse(key).model()


def _inputs(reference, sizes: dict[str, int], rng):
    """A batch of two for each input; a symbolic axis (None in Keras) gets the run-time size asked for."""
    runs = iter(sizes.values())
    batch = []
    for tensor in reference.inputs:
        shape = [next(runs) if size is None else size for size in tensor.shape[1:]]
        batch.append(rng.standard_normal((2, *shape)).astype("float32"))
    return batch


def _outputs(model, batch):
    found = model(batch if len(batch) > 1 else batch[0], training=False)
    return [np.asarray(value) for value in (found if isinstance(found, (list, tuple)) else [found])]


@pytest.mark.parametrize("key", CASES, ids=lambda key: key if key.endswith(".arch") else "siamese")
def test_the_generated_keras_model_is_the_hand_written_one(key: str) -> None:
    make, sizes = CASES[key]
    model = _model(key)
    reference = make()
    generated = archdsl.build(model, "keras")
    assert model.params.keras == reference.count_params() == generated.count_params()
    assert [tuple(t.shape[1:]) for t in generated.inputs] == [tuple(t.shape[1:]) for t in reference.inputs]
    assert [tuple(t.shape[1:]) for t in generated.outputs] == [tuple(t.shape[1:]) for t in reference.outputs]
    expected = [tuple(None if isinstance(d, str) else d for d in model.shape_of(name)) for name in model.outputs]
    assert expected == [tuple(t.shape[1:]) for t in reference.outputs]
    # The same weights in the same order: what a hand-written training script saved, the generated model loads.
    assert [w.shape for w in generated.get_weights()] == [w.shape for w in reference.get_weights()]
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.1 for w in reference.get_weights()]
    reference.set_weights(weights)
    generated.set_weights(weights)
    batch = _inputs(reference, sizes, rng)
    for got, want in zip(_outputs(generated, batch), _outputs(reference, batch), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", CASES, ids=lambda key: key if key.endswith(".arch") else "siamese")
def test_verify_finds_the_pytorch_code_equal(key: str) -> None:
    report = archdsl.verify(_model(key))
    assert report.ok, report.first_mismatch


NESTED_UNET = """\
block twice(c) = conv2d c 3x3 same relu -> conv2d c 3x3 same relu

model UNet {
  input 128x128x3 -> twice 16 -> (
    identity
  | maxpool -> twice 32 -> (
      identity
    | maxpool -> twice 64 -> (
        identity
      | maxpool -> twice 128 -> conv2dtranspose 64 2x2 stride=2
      ) -> concat -> twice 64 -> conv2dtranspose 32 2x2 stride=2
    ) -> concat -> twice 32 -> conv2dtranspose 16 2x2 stride=2
  ) -> concat -> twice 16 -> conv2d 1 1x1 sigmoid
}
"""


def test_the_unet_with_names_is_the_nested_unet() -> None:
    """Long skips by name compute what the nested groups of section 4 compute."""
    named = archdsl.load(EXAMPLES / "unet.arch").model()
    nested = archdsl.parse(NESTED_UNET).model()
    assert named.params == nested.params
    first, second = archdsl.build(named, "keras"), archdsl.build(nested, "keras")
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.1 for w in first.get_weights()]
    first.set_weights(weights)
    second.set_weights(weights)
    batch = rng.standard_normal((2, 128, 128, 3)).astype("float32")
    np.testing.assert_allclose(_outputs(first, [batch])[0], _outputs(second, [batch])[0], rtol=1e-5, atol=1e-5)
