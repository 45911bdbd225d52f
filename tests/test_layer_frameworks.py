"""The layer table against the real frameworks.

For every layer type, Hypothesis writes .arch text (arguments positional, key=value or left
out), archdsl checks it, and the same layer is built for real in Keras and as a hand-written
PyTorch module (tests/framework_oracles.py). Shapes, parameter counts and what is refused
must agree: archdsl's output shape with Keras' (symbolic sizes as None) and with a forward
pass of both frameworks at run-time sizes (archdsl's symbolic expressions evaluated there);
`params.keras` with `count_params()`; `params.torch` with the module's parameters; and a spec
archdsl refuses must be refused by the framework too.
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import math  # noqa: E402
from pathlib import Path  # noqa: E402

import frameworks  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, given, note, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import archdsl  # noqa: E402
from archdsl import ArchError  # noqa: E402
from archdsl.layers import LAYERS  # noqa: E402
from archdsl.layers.spec import REQUIRED  # noqa: E402

np = frameworks.importorskip("numpy")
keras = frameworks.importorskip("keras")
torch = frameworks.importorskip("torch")

from framework_oracles import ORACLES, Case, channels_first, channels_last  # noqa: E402
from keras import layers as kl  # noqa: E402

pytestmark = [
    pytest.mark.frameworks,
    # Drawn cases may softmax a single channel; Keras warns, and the shape is still checked.
    pytest.mark.filterwarnings("ignore:You are using a softmax over axis:UserWarning"),
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# What archdsl may answer when a layer cannot take its configuration; anything else (a syntax
# error, say) means the strategy wrote bad text, and the test says so instead of passing.
REFUSAL_CODES = {"A203", "A205", "A301", "A302", "A305"}


# ---------------------------------------------------------------- running one case


def keras_dims(shape) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


def evaluate(shape, lengths: dict[str, int]) -> tuple[int, ...]:
    """archdsl's symbolic sizes (`seq-2`, `ceil(seq/2)`) at the run-time lengths."""
    return tuple(
        d if isinstance(d, int) else eval(d, {"__builtins__": {}, "ceil": math.ceil}, dict(lengths))  # noqa: S307
        for d in shape
    )


def sample(case: Case) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (2, *evaluate(case.input_shape, case.lengths))
    if case.vocab is not None:
        return rng.integers(0, case.vocab, size=shape).astype("int32")
    return rng.standard_normal(shape).astype("float32")


def torch_input(x: np.ndarray) -> torch.Tensor:
    tensor = torch.from_numpy(x)
    return tensor.long() if x.dtype.kind == "i" else channels_first(tensor)


def build_keras(case: Case):
    inputs = keras.Input(keras_dims(case.input_shape), dtype="int32" if case.vocab is not None else "float32")
    outputs = case.keras(inputs)
    return keras.Model(inputs, outputs), tuple(outputs.shape[1:])


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def empty(dims) -> bool:
    return any(d is not None and d <= 0 for d in dims)


def framework_accepts(case: Case, x: np.ndarray) -> str | None:
    """What the framework that must refuse `case` makes of it; None when it refuses (or the output is empty)."""
    try:
        if case.refused_by == "keras":
            model, symbolic = build_keras(case)
            ran = tuple(np.asarray(model(x, training=False)).shape[1:])
        else:
            module = case.torch(tuple(x.shape[1:]), None).eval()
            with torch.no_grad():
                ran = symbolic = tuple(channels_last(module(torch_input(x))).shape[1:])
    except Exception:  # noqa: BLE001 - any refusal by the framework is what we want
        return None
    if empty(symbolic) or empty(ran):
        return None
    return f"output {symbolic}, {ran} at run time"


_built = 0


def check_case(name: str, case: Case) -> None:
    global _built
    _built += 1
    if _built % 40 == 0:
        keras.backend.clear_session()
    note(case.spec)
    x = sample(case)
    try:
        model = archdsl.parse(case.spec).model()
    except ArchError as error:
        codes = {d.code for d in error.diagnostics}
        assert codes <= REFUSAL_CODES, f"{case.spec!r} was refused for its text, not its layer: {error}"
        accepted = framework_accepts(case, x)
        assert accepted is None, (
            f"archdsl refuses {case.spec!r} ({error.message}), but {case.refused_by} accepts it: {accepted}"
        )
        return

    layer = model.layers[-1]
    assert layer.type == name
    for key, value in case.config.items():
        assert layer.config[key] == value, f"{case.spec!r}: config {key}={layer.config[key]!r}, wrote {value!r}"
    expected = evaluate(layer.output_shape, case.lengths)

    # Keras: the symbolic output shape, a real run, and count_params().
    kmodel, symbolic = build_keras(case)
    assert symbolic == keras_dims(layer.output_shape), f"{case.spec!r}: archdsl {layer.output_shape}"
    y_keras = np.asarray(kmodel(x, training=False))
    assert y_keras.shape[1:] == expected, f"{case.spec!r} at {case.lengths}: archdsl {layer.output_shape}"
    assert kmodel.count_params() == model.params.keras, case.spec
    assert kmodel.layers[-1].count_params() == layer.params.keras, case.spec
    if name == "dense" and len(case.input_shape) > 2:  # the flatten archdsl inserts before it
        flatten = model.layers[-2]
        assert flatten.inserted and flatten.type == "flatten"
        assert tuple(kmodel.layers[-2].output.shape[1:]) == keras_dims(flatten.output_shape)

    # PyTorch: a forward pass on channels-first data and the parameters of the module.
    module = case.torch(tuple(x.shape[1:]), y_keras.shape[1:]).eval()
    with torch.no_grad():
        y_torch = channels_last(module(torch_input(x)))
    assert tuple(y_torch.shape[1:]) == expected, f"{case.spec!r} at {case.lengths}: archdsl {layer.output_shape}"
    assert count(module) == model.params.torch, case.spec
    assert count(getattr(module, "under_test", module)) == layer.params.torch, case.spec
    if case.numeric:
        np.testing.assert_allclose(y_torch.numpy(), y_keras, rtol=1e-5, atol=1e-5, err_msg=case.spec)


# ---------------------------------------------------------------- 1. every layer type, property-tested


def test_every_layer_type_has_an_oracle():
    assert set(ORACLES) == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYERS))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_layer_agrees_with_keras_and_pytorch(name, data):
    check_case(name, data.draw(ORACLES[name], label=name))


# A few refusals drawn by hand, so that the refusing path runs on every test run.
REFUSED = [
    ("input 5x5x3 -> conv2d 4 7x7", lambda x: kl.Conv2D(4, 7)(x)),
    ("input seq x 3 -> conv1d 4 3 stride=2 dilation=2", lambda x: kl.Conv1D(4, 3, strides=2, dilation_rate=2)(x)),
    ("input 9x9x6 -> conv2d 4 3 groups=3", lambda x: kl.Conv2D(4, 3, groups=3)(x)),
    ("input 9x9x4 -> conv2d 6 3 groups=3", lambda x: kl.Conv2D(6, 3, groups=3)(x)),
    ("input 9x3 -> conv1d 4 3x3", lambda x: kl.Conv1D(4, (3, 3))(x)),
    ("input 4x4x3 -> maxpool 5", lambda x: kl.MaxPooling2D(5)(x)),
    ("input 3x3x3x2 -> avgpool 2x2x4", lambda x: kl.AveragePooling3D((2, 2, 4))(x)),
    ("input 12 -> reshape 5x-1", lambda x: kl.Reshape((5, -1))(x)),
    ("input 12 -> reshape 5x2", lambda x: kl.Reshape((5, 2))(x)),
    ("input 8x8x3 -> lstm 8", lambda x: kl.LSTM(8)(x)),
    ("input 16 -> gru 8", lambda x: kl.GRU(8)(x)),
    ("input 16 -> maxpool", lambda x: kl.MaxPooling1D()(x)),
    ("input 16 -> globalavgpool", lambda x: kl.GlobalAveragePooling1D()(x)),
    ("input 8 x 8 x ch -> conv2d 4", lambda x: kl.Conv2D(4, 3)(x)),
    ("input seq x ch -> dense 4", lambda x: kl.Dense(4)(x)),
    ("input h x 4 x 2 -> dense 4", lambda x: kl.Dense(4)(kl.Flatten()(x))),
    (
        "input 6x6x3 -> ( conv2d 4 same | conv2d 5 same ) -> add",
        lambda x: kl.Add()([kl.Conv2D(4, 3, padding="same")(x), kl.Conv2D(5, 3, padding="same")(x)]),
    ),
    (
        "input 6x6x3 -> ( conv2d 4 | conv2d 4 same ) -> concat",
        lambda x: kl.Concatenate()([kl.Conv2D(4, 3)(x), kl.Conv2D(4, 3, padding="same")(x)]),
    ),
    (
        "input 4x2 -> ( identity | identity | identity ) -> subtract",
        lambda x: kl.Subtract()([kl.Identity()(x), kl.Identity()(x), kl.Identity()(x)]),
    ),
]


def keras_input_of(spec: str):
    """`input seq x 3 -> ...` as keras.Input((None, 3))."""
    dims = spec.split(" -> ")[0].removeprefix("input ").replace(" x ", "x").split("x")
    return keras.Input(tuple(int(d) if d.isdigit() else None for d in dims))


@pytest.mark.parametrize(("spec", "build"), REFUSED, ids=[spec for spec, _ in REFUSED])
def test_refused_by_archdsl_and_keras(spec, build):
    with pytest.raises(ArchError) as refused:
        archdsl.parse(spec)
    assert refused.value.code in REFUSAL_CODES
    with pytest.raises((ValueError, TypeError)):
        inputs = keras_input_of(spec)
        outputs = build(inputs)
        keras.Model(inputs, outputs).count_params()
        if empty(outputs.shape[1:]):
            raise ValueError(f"empty output {outputs.shape}")


@pytest.mark.parametrize(
    ("spec", "keras_layer", "torch_layers"),
    [
        (
            "input 11x10x3 -> dwconv2d 3x2 stride=2 dilation=2 multiplier=2",
            lambda: kl.DepthwiseConv2D((3, 2), strides=2, dilation_rate=2, depth_multiplier=2),
            lambda: [torch.nn.Conv2d(3, 6, (3, 2), stride=2, dilation=2, groups=3)],
        ),
        (
            "input 12x9x2 -> sepconv2d 5 3 stride=3x2 dilation=2 valid",
            lambda: kl.SeparableConv2D(5, 3, strides=(3, 2), dilation_rate=2),
            lambda: [
                torch.nn.Conv2d(2, 2, 3, stride=(3, 2), dilation=2, groups=2, bias=False),
                torch.nn.Conv2d(2, 5, 1),
            ],
        ),
    ],
)
def test_depthwise_and_separable_convs_take_a_stride_with_a_dilation(spec, keras_layer, torch_layers):
    """Unlike Conv2D, Keras' DepthwiseConv2D and SeparableConv2D accept the pair (and compute what PyTorch does)."""
    model = archdsl.parse(spec).model()
    layer = model.layers[-1]
    built = keras_layer()
    y = built(np.zeros((1, *model.input_shape), "float32"))
    assert tuple(y.shape[1:]) == layer.output_shape
    assert built.count_params() == layer.params.keras
    module = torch.nn.Sequential(*torch_layers())
    out = module(torch.zeros(1, model.input_shape[-1], *model.input_shape[:-1]))
    assert tuple(channels_last(out).shape[1:]) == layer.output_shape
    assert count(module) == layer.params.torch


def test_attention_heads_must_divide_the_features_in_pytorch():
    with pytest.raises(ArchError) as refused:
        archdsl.parse("input seq x 6 -> attention heads=4")
    assert refused.value.code in REFUSAL_CODES
    with pytest.raises(AssertionError):
        torch.nn.MultiheadAttention(6, 4, batch_first=True)


# ---------------------------------------------------------------- defaults


def keras_default(layer: str, arg: str):
    """The value Keras uses when the argument is left out, in archdsl's terms."""
    conv = kl.Conv2D(1, 3)
    pool = kl.MaxPooling2D()
    table = {
        "padding": conv.padding,
        "stride": conv.strides[0],
        "dilation": conv.dilation_rate[0],
        "groups": conv.groups,
        "bias": conv.use_bias,
        "activation": None if conv.activation is keras.activations.linear else conv.activation,
        "multiplier": kl.DepthwiseConv2D(3).depth_multiplier,
    }
    if layer in ("maxpool", "avgpool"):
        table |= {
            "pool": pool.pool_size[0],
            "padding": pool.padding,
            "stride": None if pool.strides == pool.pool_size else pool.strides,
        }
    if layer == "conv2dtranspose":
        t = kl.Conv2DTranspose(1, 3)
        table |= {"padding": t.padding, "stride": t.strides[0], "bias": t.use_bias}
    if layer == "sepconv2d":
        s = kl.SeparableConv2D(1, 3)
        table |= {"multiplier": s.depth_multiplier, "dilation": s.dilation_rate[0], "bias": s.use_bias}
    if layer == "dense":
        table |= {"bias": kl.Dense(1).use_bias}
    if layer == "batchnorm":
        bn = kl.BatchNormalization()
        table |= {"momentum": bn.momentum, "epsilon": bn.epsilon, "scale": bn.scale, "center": bn.center}
    if layer == "layernorm":
        ln = kl.LayerNormalization()
        table |= {"epsilon": ln.epsilon, "scale": ln.scale, "center": ln.center}
    if layer == "leakyrelu":
        table |= {"alpha": kl.LeakyReLU().negative_slope}
    if layer in ("lstm", "gru", "rnn"):
        cell = kl.SimpleRNN(1)
        # init= is the call's initial_state, not a constructor argument
        initial_state = inspect.signature(kl.SimpleRNN.call).parameters["initial_state"].default
        table |= {"seq": cell.return_sequences, "activation": cell.activation.__name__, "init": initial_state}
    if layer == "upsample":
        table |= {"size": kl.UpSampling2D().size[0]}
    if layer == "zeropad":
        table |= {"padding": kl.ZeroPadding2D().padding[0][0]}
    if layer in ("globalavgpool", "globalmaxpool"):
        table |= {"keepdims": kl.GlobalAveragePooling2D().keepdims}
    if layer == "concat":
        table |= {"axis": kl.Concatenate().axis}
    if layer == "embedding":
        table |= {"mask_zero": kl.Embedding(2, 1).mask_zero}
    if layer == "attention":  # an argument of the call in Keras
        table |= {"causal": inspect.signature(kl.MultiHeadAttention.call).parameters["use_causal_mask"].default}
    if layer == "rescale":
        table |= {"offset": kl.Rescaling(1.0).offset}
    if layer == "normalize":
        norm = kl.Normalization()
        table |= {"mean": norm.input_mean, "variance": norm.input_variance}
    if layer == "scale":  # no Keras layer: keras.applications' ConvNeXt starts its LayerScale at this
        from keras.src.applications.convnext import ConvNeXt

        table |= {"init": inspect.signature(ConvNeXt).parameters["layer_scale_init_value"].default}
    return table[arg]


DEFAULTED = sorted(
    (spec.name, arg.name)
    for spec in LAYERS.values()
    for arg in spec.args
    # Keras has no default for these: LANGUAGE.md sets the kernel (3), attention's key_dim
    # (features / heads) and posembed's max (the steps); bidirectional is a wrapper in Keras,
    # not an argument.
    if arg.default is not REQUIRED and arg.name not in ("kernel", "key_dim", "bidirectional", "max")
)


@pytest.mark.parametrize(("layer", "arg"), DEFAULTED, ids=[f"{layer}.{arg}" for layer, arg in DEFAULTED])
def test_defaults_follow_keras(layer, arg):
    assert LAYERS[layer].arg_index[arg].default == keras_default(layer, arg)


def test_gru_holds_the_same_weights_in_both_frameworks():
    """LANGUAGE.md: gru uses Keras' reset_after=True, so that PyTorch's nn.GRU holds the same weights."""
    assert kl.GRU(1).reset_after is True
    layer = archdsl.parse("input 5x3 -> gru 4").model().layers[-1]
    assert layer.params.keras == layer.params.torch == count(torch.nn.GRU(3, 4))


# ---------------------------------------------------------------- symbolic sizes through several layers


def chain(*factories):
    def build(x):
        outs = []
        for make in factories:
            x = make()(x)
            outs.append(x)
        return outs

    return build


SYMBOLIC_CHAINS = [
    ("upsample 2 -> conv1d 2 3 stride=2", chain(kl.UpSampling1D, lambda: kl.Conv1D(2, 3, strides=2))),
    ("conv1d 2 3 stride=2 -> upsample 3", chain(lambda: kl.Conv1D(2, 3, strides=2), lambda: kl.UpSampling1D(3))),
    (
        "zeropad 2 -> conv1d 4 5 dilation=2 -> maxpool 2",
        chain(lambda: kl.ZeroPadding1D(2), lambda: kl.Conv1D(4, 5, dilation_rate=2), kl.MaxPooling1D),
    ),
    (
        "conv1d 4 3 stride=3 same -> lstm 5 seq -> dense 2",
        chain(
            lambda: kl.Conv1D(4, 3, strides=3, padding="same"),
            lambda: kl.LSTM(5, return_sequences=True),
            lambda: kl.Dense(2),
        ),
    ),
    # ceil() of an expression: archdsl once wrote 'ceil(seq-2/2)' here.
    (
        "conv1d 2 3 -> conv1d 2 3 stride=2 same",
        chain(lambda: kl.Conv1D(2, 3), lambda: kl.Conv1D(2, 3, strides=2, padding="same")),
    ),
    ("conv1d 2 3 -> maxpool 2 same", chain(lambda: kl.Conv1D(2, 3), lambda: kl.MaxPooling1D(padding="same"))),
    (
        "maxpool 3 stride=2 -> avgpool 2 same",
        chain(lambda: kl.MaxPooling1D(3, strides=2), lambda: kl.AveragePooling1D(2, padding="same")),
    ),
]


@pytest.mark.parametrize(("layers", "build"), SYMBOLIC_CHAINS)
def test_symbolic_sizes_evaluate_to_the_run_time_size(layers, build):
    model = archdsl.parse(f"input seq x 3 -> {layers}").model()
    inputs = keras.Input((None, 3))
    outputs = build(inputs)
    kmodel = keras.Model(inputs, outputs)
    assert [tuple(o.shape[1:]) for o in outputs] == [keras_dims(layer.output_shape) for layer in model.layers]
    for length in (9, 10, 13):
        ran = kmodel(np.zeros((1, length, 3), "float32"))
        got = [tuple(np.asarray(r).shape[1:]) for r in ran]
        assert got == [evaluate(layer.output_shape, {"seq": length}) for layer in model.layers], length


def test_symbolic_sizes_join_in_concat():
    model = archdsl.parse("input seq x 4 -> ( identity | conv1d 4 3 ) -> concat axis=1 -> lstm 2 seq").model()
    inputs = keras.Input((None, 4))
    joined = kl.Concatenate(axis=1)([kl.Identity()(inputs), kl.Conv1D(4, 3)(inputs)])
    kmodel = keras.Model(inputs, [joined, kl.LSTM(2, return_sequences=True)(joined)])
    for length in (3, 8):
        got = [tuple(np.asarray(r).shape[1:]) for r in kmodel(np.zeros((1, length, 4), "float32"))]
        assert got == [evaluate(layer.output_shape, {"seq": length}) for layer in model.layers[-2:]]


def test_zeropad_may_leave_an_axis_unpadded():
    """archdsl once refused a padding of 0, which Keras and PyTorch take."""
    layer = archdsl.parse("input 5x6x2 -> zeropad 0x1").model().layers[-1]
    assert keras_dims(layer.output_shape) == tuple(kl.ZeroPadding2D((0, 1))(keras.Input((5, 6, 2))).shape[1:])


# ---------------------------------------------------------------- 2. published totals


def test_lenet5_has_its_published_61706_parameters():
    model = archdsl.load(EXAMPLES / "lenet5.arch").model()
    inputs = keras.Input((32, 32, 1))
    x = inputs
    for layer in (
        kl.Conv2D(6, 5, activation="tanh"),
        kl.AveragePooling2D(2),
        kl.Conv2D(16, 5, activation="tanh"),
        kl.AveragePooling2D(2),
        kl.Flatten(),
        kl.Dense(120, activation="tanh"),
        kl.Dense(84, activation="tanh"),
        kl.Dense(10, activation="softmax"),
    ):
        x = layer(x)
    reference = keras.Model(inputs, x)
    assert model.params.keras == reference.count_params() == 61706
    assert [keras_dims(layer.output_shape) for layer in model.layers] == [
        tuple(layer.output.shape[1:]) for layer in reference.layers[1:]
    ]


def test_vgg16_matches_keras_applications():
    model = archdsl.load(EXAMPLES / "vgg16.arch").model()
    keras.backend.clear_session()
    reference = keras.applications.VGG16(weights=None)
    try:
        assert model.params.keras == reference.count_params() == 138_357_544
        built = reference.layers[1:]  # after the InputLayer
        assert [keras_dims(layer.output_shape) for layer in model.layers] == [
            tuple(layer.output.shape[1:]) for layer in built
        ]
        assert [layer.params.keras for layer in model.layers] == [layer.count_params() for layer in built]
    finally:
        del reference
        keras.backend.clear_session()
