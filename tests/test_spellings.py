"""Framework spellings: the tables against the layer table, and the errors a Keras or PyTorch habit gets."""

from __future__ import annotations

from collections import defaultdict

import pytest

import archdsl
from archdsl.layers import LAYERS
from archdsl.layers.spellings import ARGUMENT_SPELLINGS, LAYER_SPELLINGS, argument_spelled, layer_spelled


def error_of(spec: str) -> archdsl.ArchError:
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(spec, "t.arch")
    return raised.value


def fixed(spec: str) -> str:
    """The spec with the first diagnostic's fix applied."""
    fix = error_of(spec).diagnostics[0].fix
    assert fix is not None
    return fix.apply(spec)


# ---------------------------------------------------------------- the tables


def test_every_layer_has_its_spellings_and_every_entry_is_a_layer() -> None:
    assert sorted(LAYER_SPELLINGS) == sorted(LAYERS)


def test_no_spelling_leads_to_two_layers_or_shadows_a_layer() -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for layer, spellings in LAYER_SPELLINGS.items():
        for spelling in spellings:
            owners[spelling.lower()].add(layer)
    assert {s: o for s, o in owners.items() if len(o) > 1} == {}
    assert {s: o for s, o in owners.items() if s in LAYERS and o != {s}} == {}


def test_spellings_are_listed_once_whatever_their_case() -> None:
    for layer, spellings in LAYER_SPELLINGS.items():
        lowered = [s.lower() for s in spellings]
        assert len(lowered) == len(set(lowered)), layer


def test_every_argument_spelling_is_keyed_by_an_argument_of_some_layer() -> None:
    arguments = {arg.name for spec in LAYERS.values() for arg in spec.args}
    assert set(ARGUMENT_SPELLINGS) <= arguments
    for spec in LAYERS.values():  # within one layer, a spelling names one argument
        seen: dict[str, str] = {}
        for arg in spec.args:
            for spelling in ARGUMENT_SPELLINGS.get(arg.name, ()):
                assert seen.setdefault(spelling.lower(), arg.name) == arg.name, (spec.name, spelling)
        assert not set(seen) & set(spec.arg_index), spec.name  # a spelling never hides a real argument


def test_the_lookups() -> None:
    assert layer_spelled("maxpooling2d") == layer_spelled("MaxPooling2D") == "maxpool"
    assert layer_spelled("Dense") == "dense" and layer_spelled("nonsense") is None
    assert argument_spelled(LAYERS["maxpool"], "kernel_size") == "pool"
    assert argument_spelled(LAYERS["conv2d"], "kernel_size") == "kernel"
    assert argument_spelled(LAYERS["dense"], "kernel_size") is None


# ---------------------------------------------------------------- what a framework habit gets

LAYER_CASES = [
    ("input seq x 8 -> LSTM 32", "lstm"),
    ("input seq x 8 -> GRU 32", "gru"),
    ("input 28x28x1 -> Conv2D 32", "conv2d"),
    ("input 28x28x1 -> MaxPooling2D", "maxpool"),
    ("input 28x28x1 -> MaxPool2d", "maxpool"),
    ("input 28x28x1 -> BatchNormalization", "batchnorm"),
    ("input 28x28x1 -> BatchNorm2d", "batchnorm"),
    ("input 28x28x1 -> GlobalAveragePooling2D", "globalavgpool"),
    ("input 784 -> Linear 10", "dense"),
    ("input 784 -> Dense 10", "dense"),
    ("input 784 -> ReLU", "relu"),
    ("input seq x 8 -> LayerNormalization", "layernorm"),
    ("input 8x8x16 -> Conv2DTranspose 8", "conv2dtranspose"),
    ("input 8x8x16 -> ConvTranspose2d 8", "conv2dtranspose"),
    ("input 8x8x16 -> deconv2d 8", "conv2dtranspose"),
    ("input 8x8x16 -> conv 8", "conv2d"),
    ("input seq -> Embedding 100 8", "embedding"),
    ("input 8x8x16 -> Flatten", "flatten"),
    ("input seq x 8 -> MultiHeadAttention heads=2", "attention"),
]


@pytest.mark.parametrize(("spec", "layer"), LAYER_CASES, ids=[s.split("-> ")[-1] for s, _ in LAYER_CASES])
def test_a_framework_name_for_a_layer_suggests_the_layer(spec: str, layer: str) -> None:
    error = error_of(spec)
    written = spec.split("-> ")[-1].split()[0]
    assert (error.code, error.message) == ("A201", f"unknown layer '{written}' — did you mean '{layer}'?")
    assert error.hint == f"replace it with '{layer}'"
    assert archdsl.parse(fixed(spec)).models


def test_bidirectional_is_a_flag() -> None:
    error = error_of("input seq x 8 -> Bidirectional lstm 64")
    assert error.message == "unknown layer 'Bidirectional': bidirectional is a flag of lstm, gru and rnn, not a layer"
    assert error.hint == "add the word bidirectional to the lstm, gru or rnn instead"


ARGUMENT_CASES = [
    (
        "input seq x 8 -> lstm 32 return_sequences=True -> lstm 4",
        "lstm has no argument 'return_sequences'",
        "write 'seq'",
    ),
    ("input seq x 8 -> lstm 32 return_sequences=False", "lstm has no argument 'return_sequences'", "write 'seq=false'"),
    ("input 28x28x1 -> conv2d 32 kernel_size=5", "conv2d has no argument 'kernel_size'", "did you mean 'kernel'?"),
    ("input 28x28x1 -> conv2d 32 strides=2", "conv2d has no argument 'strides'", "did you mean 'stride'?"),
    ("input 28x28x1 -> conv2d 32 use_bias=False", "conv2d has no argument 'use_bias'", "write 'bias=false'"),
    ("input 28x28x1 -> conv2d 32 use_bias=false", "conv2d has no argument 'use_bias'", "did you mean 'bias'?"),
    ("input 28x28x1 -> maxpool kernel_size=3", "maxpool has no argument 'kernel_size'", "did you mean 'pool'?"),
    ("input 28x28x1 -> maxpool pool_size=3", "maxpool has no argument 'pool_size'", "did you mean 'pool'?"),
    ("input 28x28x1 -> conv2d out_channels=8", "conv2d has no argument 'out_channels'", "did you mean 'filters'?"),
    ("input 784 -> dropout p=0.5", "dropout has no argument 'p'", "did you mean 'rate'?"),
    ("input seq x 8 -> attention num_heads=2", "attention has no argument 'num_heads'", "did you mean 'heads'?"),
    ("input 28x28x1 -> batchnorm eps=0.001", "batchnorm has no argument 'eps'", "did you mean 'epsilon'?"),
]


@pytest.mark.parametrize(("spec", "message", "hint"), ARGUMENT_CASES)
def test_a_framework_name_for_an_argument_suggests_the_argument(spec: str, message: str, hint: str) -> None:
    error = error_of(spec)
    assert (error.code, error.message, error.hint) == ("A202", message, hint)
    assert archdsl.parse(fixed(spec)).models


def test_a_renamed_argument_is_underlined_alone_and_keeps_its_value_as_written() -> None:
    spec = "block b(s) = conv2d 8 strides=s\ninput 28x28x1 -> b 2"
    error = error_of(spec)
    assert (error.line, error.column, error.end_column) == (1, 23, 30)  # 'strides'
    assert fixed(spec).startswith("block b(s) = conv2d 8 stride=s\n")


VALUE_CASES = [
    ("input 28x28x1 -> conv2d 8 bias=True", "conv2d bias must be true or false, got True", "did you mean 'true'?"),
    ("input 28x28x1 -> conv2d 8 bias=FALSE", "conv2d bias must be true or false, got FALSE", "did you mean 'false'?"),
    (
        "input 28x28x1 -> conv2d 8 padding=SAME",
        "conv2d padding must be 'same' or 'valid', got SAME",
        "did you mean 'same'?",
    ),
    ("input 28x28x1 -> conv2d 8 activation=ReLU", "unknown activation 'ReLU' for conv2d", "did you mean 'relu'?"),
    ("input 28x28x1 -> conv2d 8 activation=swish", "unknown activation 'swish' for conv2d", "did you mean 'silu'?"),
    ("input 28x28x1 -> conv2d 8 ReLU", "conv2d does not understand 'ReLU'", "did you mean 'relu'?"),
    ("input 28x28x1 -> conv2d 8 SAME", "conv2d does not understand 'SAME'", "did you mean 'same'?"),
    ("input seq x 8 -> lstm 8 Seq", "lstm does not understand 'Seq'", "did you mean 'seq'?"),
]


@pytest.mark.parametrize(("spec", "message", "hint"), VALUE_CASES)
def test_a_framework_spelling_of_a_value_suggests_the_word(spec: str, message: str, hint: str) -> None:
    error = error_of(spec)
    assert (error.message, error.hint) == (message, hint)
    assert archdsl.parse(fixed(spec)).models


def test_a_value_fix_edits_the_value_where_it_was_written() -> None:
    """Given at a block call, the value is fixed at the call; the block body is left alone."""
    spec = "block b(p) = conv2d 8 padding=p\ninput 28x28x1 -> b SAME"
    assert fixed(spec) == "block b(p) = conv2d 8 padding=p\ninput 28x28x1 -> b same"


TUPLE_CASES = [
    ("input 28x28x1 -> conv2d 8 kernel=(3,3)", "write dims as 3x3, not (3,3)", "write 'kernel=3x3'", 34),
    ("input 28x28x1 -> conv2d 8 kernel=(3, 3) stride=2", "write dims as 3x3, not (3, 3)", "write 'kernel=3x3'", 34),
    ("input (32, 32, 3) -> conv2d 8", "write dims as 32x32x3, not (32, 32, 3)", "write 'input 32x32x3'", 7),
    ("input (784,) -> dense 10", "write dims as 784, not (784,)", "write 'input 784'", 7),
    ("input 28x28x1 -> conv2d 8 kernel=[5, 5]", "write dims as 5x5, not [5, 5]", "write 'kernel=5x5'", 34),
    (
        "input (None, 8) -> lstm 4",
        "write dims as seq x 8, not (None, 8)",
        "write 'input seq x 8' (a size known only at run time is a name, such as seq)",
        7,
    ),
    ("block b(k=(3,3)) = conv2d 8 k\ninput 28x28x1 -> b", "write dims as 3x3, not (3,3)", "write 'k=3x3'", 11),
]


@pytest.mark.parametrize(("spec", "message", "hint", "column"), TUPLE_CASES)
def test_a_python_tuple_says_how_dims_are_written(spec: str, message: str, hint: str, column: int) -> None:
    error = error_of(spec)
    assert (error.message, error.hint, error.line, error.column) == (message, hint, 1, column)
    assert error.code in ("A101", "A102")
    assert archdsl.parse(fixed(spec)).models


def test_a_quoted_word_says_to_write_it_bare() -> None:
    spec = "input 28x28x1 -> conv2d 8 activation='relu'"
    error = error_of(spec)
    assert (error.code, error.message, error.hint) == (
        "A101",
        'unexpected character "\'": the language has no strings',
        "write 'activation=relu'",
    )
    assert archdsl.parse(fixed(spec)).models
