"""The Keras target: Keras 3's functional API.

Keras is the reference semantics of the language (channels last, its defaults),
so this target is mostly a naming table; the interesting differences live in
the PyTorch target. Only arguments that differ from Keras' defaults are written,
so the code reads as a person would write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYER_TABLE, LAYERS
from archdsl.layers.shapes import batch_shape
from archdsl.layers.spec import ACTIVATIONS
from archdsl.targets.common import (
    LayerCode,
    TargetCode,
    docstring_lines,
    example_shape,
    is_token_input,
    variables,
    vocabulary,
)
from archdsl.targets.pycode import Call, Raw, call, statement
from archdsl.targets.render import defined_classes

NAME = "keras"
# Keras' spelling where it differs from ours; `abs` is no activation name in Keras, so the
# function itself is passed.
ACTIVATION_NAMES: dict[str, object] = {
    "leakyrelu": "leaky_relu",
    "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid",
    "abs": Raw("keras.ops.abs"),
}
assert set(ACTIVATION_NAMES) <= set(ACTIVATIONS)


def keras_activation(name: str) -> object:
    """The `activation=` value Keras takes for one of the language's activation words."""
    return ACTIVATION_NAMES.get(name, name)


Builder = Callable[[Layer], Call]
# One function per layer type: the whole of what Keras needs to know (tests/test_layer_traits.py
# fails when a layer of the table has none).
BUILDERS: dict[str, Builder] = {}
# Layer types whose Keras layer the generated module defines itself (Keras has none built in):
# the name of its class template in templates/keras/classes/.
DEFINES: dict[str, str] = {}


def builds(*layer_types: str, defines: str | None = None) -> Callable[[Builder], Builder]:
    """Register the decorated function as the Keras layer of these types.

    `defines` names the class template the module must hold for the layer to exist.
    """

    def register(builder: Builder) -> Builder:
        for name in layer_types:
            assert name not in BUILDERS, f"two Keras builders for {name}"
            BUILDERS[name] = builder
            if defines is not None:
                DEFINES[name] = defines
        return builder

    return register


def _default(layer_type: str, arg: str):
    return LAYERS[layer_type].arg_index[arg].default


def size(value: tuple[int, ...]) -> int | tuple[int, ...]:
    """Keras takes one int for a size that is the same on every axis."""
    return value[0] if len(set(value)) == 1 else value


def _common(layer: Layer, **kwargs: object) -> dict[str, object]:
    """Keyword arguments shared by the layers that have them, defaults left out."""
    config = layer.config
    out: dict[str, object] = {}
    if "stride" in config and set(config["stride"]) != {1}:
        out["strides"] = size(config["stride"])
    if config.get("padding") in ("same", "causal"):
        out["padding"] = config["padding"]
    if "dilation" in config and set(config["dilation"]) != {1}:
        out["dilation_rate"] = size(config["dilation"])
    if config.get("groups", 1) != 1:
        out["groups"] = config["groups"]
    if config.get("multiplier", 1) != 1:
        out["depth_multiplier"] = config["multiplier"]
    out.update(kwargs)
    if config.get("activation"):
        out["activation"] = keras_activation(config["activation"])
    if config.get("bias") is False:
        out["use_bias"] = False
    return out


def _named(layer: Layer, func: str, *args: object, **kwargs: object) -> Call:
    return call(func, *args, **kwargs, name=layer.name)


def _spatial_rank(layer: Layer) -> int:
    return len(layer.input_shape) - 1


@builds("dense")
def dense(layer: Layer) -> Call:
    return _named(layer, "layers.Dense", layer.config["units"], **_common(layer))


@builds("conv1d", "conv2d", "conv3d")
def conv(layer: Layer) -> Call:
    axes = _spatial_rank(layer)
    return _named(layer, f"layers.Conv{axes}D", layer.config["filters"], size(layer.config["kernel"]), **_common(layer))


@builds("sepconv2d")
def sepconv2d(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.SeparableConv2D", c["filters"], size(c["kernel"]), **_common(layer))


@builds("dwconv2d")
def dwconv2d(layer: Layer) -> Call:
    return _named(layer, "layers.DepthwiseConv2D", size(layer.config["kernel"]), **_common(layer))


@builds("conv2dtranspose")
def conv2dtranspose(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.Conv2DTranspose", c["filters"], size(c["kernel"]), **_common(layer))


@builds("maxpool", "avgpool")
def pool(layer: Layer) -> Call:
    c = layer.config
    kind = "MaxPooling" if layer.type == "maxpool" else "AveragePooling"
    kwargs: dict[str, object] = {}
    if c["stride"] != c["pool"]:
        kwargs["strides"] = size(c["stride"])
    if c["padding"] == "same":
        kwargs["padding"] = "same"
    return _named(layer, f"layers.{kind}{_spatial_rank(layer)}D", size(c["pool"]), **kwargs)


@builds("globalavgpool", "globalmaxpool")
def global_pool(layer: Layer) -> Call:
    kind = "GlobalAveragePooling" if layer.type == "globalavgpool" else "GlobalMaxPooling"
    kwargs = {"keepdims": True} if layer.config["keepdims"] else {}
    return _named(layer, f"layers.{kind}{_spatial_rank(layer)}D", **kwargs)


@builds("flatten")
def flatten(layer: Layer) -> Call:
    return _named(layer, "layers.Flatten")


@builds("dropout")
def dropout(layer: Layer) -> Call:
    return _named(layer, "layers.Dropout", layer.config["rate"])


@builds("batchnorm", "layernorm")
def normalization(layer: Layer) -> Call:
    c = layer.config
    kwargs = {k: c[k] for k in ("momentum", "epsilon", "center", "scale") if k in c and c[k] != _default(layer.type, k)}
    cls = "layers.BatchNormalization" if layer.type == "batchnorm" else "layers.LayerNormalization"
    return _named(layer, cls, **kwargs)


@builds("rescale")
def rescale(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.Rescaling", c["scale"], **({"offset": c["offset"]} if c["offset"] != 0.0 else {}))


@builds("normalize")
def normalize(layer: Layer) -> Call:
    c = layer.config
    given = {"mean": c["mean"], "variance": c["variance"]} if c["mean"] is not None else {}
    return _named(layer, "layers.Normalization", **given)


@builds("scale", defines="layer_scale")
def scale(layer: Layer) -> Call:
    return _named(layer, "LayerScale", layer.config["init"])


@builds("droppath", defines="drop_path")
def droppath(layer: Layer) -> Call:
    return _named(layer, "DropPath", layer.config["rate"])


def activation(layer: Layer) -> Call:
    if layer.type == "relu":
        return _named(layer, "layers.ReLU")
    if layer.type == "relu6":
        return _named(layer, "layers.ReLU", max_value=6.0)
    if layer.type == "leakyrelu":
        return _named(layer, "layers.LeakyReLU", negative_slope=layer.config["alpha"])
    if layer.type == "elu":
        return _named(layer, "layers.ELU")
    if layer.type == "softmax":
        return _named(layer, "layers.Softmax")
    return _named(layer, "layers.Activation", keras_activation(layer.type))


@builds("lstm", "gru", "rnn")
def recurrent(layer: Layer) -> Call:
    c = layer.config
    cls = {"lstm": "layers.LSTM", "gru": "layers.GRU", "rnn": "layers.SimpleRNN"}[layer.type]
    kwargs: dict[str, object] = {}
    if c["seq"]:
        kwargs["return_sequences"] = True
    if layer.type == "rnn" and c["activation"] != "tanh":
        kwargs["activation"] = c["activation"]
    if c["bidirectional"]:
        inner = call(cls, c["units"], **kwargs)
        return _named(layer, "layers.Bidirectional", Raw(inner.inline()))
    return _named(layer, cls, c["units"], **kwargs)


@builds("embedding")
def embedding(layer: Layer) -> Call:
    return _named(layer, "layers.Embedding", layer.config["vocab"], layer.config["dim"])


@builds("reshape")
def reshape(layer: Layer) -> Call:
    return _named(layer, "layers.Reshape", tuple(layer.config["target"]))


@builds("upsample")
def upsample(layer: Layer) -> Call:
    return _named(layer, f"layers.UpSampling{_spatial_rank(layer)}D", size(layer.config["size"]))


def pads(pairs: tuple[tuple[int, int], ...]) -> object:
    """(before, after) per axis as Keras' ZeroPadding and Cropping layers take them, most briefly:
    one int, one per axis, a 1-D layer's (before, after), or ((top, bottom), (left, right))."""
    if all(before == after for before, after in pairs):
        return size(tuple(before for before, _ in pairs))
    return pairs[0] if len(pairs) == 1 else pairs


@builds("zeropad")
def zeropad(layer: Layer) -> Call:
    return _named(layer, f"layers.ZeroPadding{_spatial_rank(layer)}D", pads(layer.config["padding"]))


@builds("crop")
def crop(layer: Layer) -> Call:
    return _named(layer, f"layers.Cropping{_spatial_rank(layer)}D", pads(layer.config["cropping"]))


@builds("identity")
def identity(layer: Layer) -> Call:
    return _named(layer, "layers.Identity")


def merge(layer: Layer) -> Call:
    return _named(layer, f"layers.{layer.type.capitalize()}")  # Add, Subtract, ..., Maximum, Minimum


@builds("concat")
def concat(layer: Layer) -> Call:
    axis = layer.config["axis"]
    return _named(layer, "layers.Concatenate", **({"axis": axis} if axis != -1 else {}))


@builds("attention")
def attention(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.MultiHeadAttention", num_heads=c["heads"], key_dim=c["key_dim"])


for _spec in LAYER_TABLE:
    if _spec.category == "activation":
        builds(_spec.name)(activation)
    elif _spec.merge and _spec.name != "concat":
        builds(_spec.name)(merge)


def constructor(layer: Layer) -> Call:
    try:
        return BUILDERS[layer.type](layer)
    except KeyError:
        raise AssertionError(f"the Keras target has no builder for layer type '{layer.type}'") from None


def layer_lines(layer: Layer, names: dict[str, str]) -> list[str]:
    """`x = layers.Conv2D(...)(x)`: the functional call of one layer."""
    args = [names[name] for name in layer.inputs]
    if layer.type == "attention":
        applied = f"({args[0]}, {args[0]})"  # self-attention: the sequence is query and value
    elif len(args) > 1:
        applied = f"([{', '.join(args)}])"
    else:
        applied = f"({args[0]})"
    return statement(f"{names[layer.name]} = ", constructor(layer), applied, indent=1)


def input_lines(model: Model) -> list[str]:
    """`inputs = keras.Input(...)`: symbolic sizes are None, token ids are integers."""
    shape = tuple(d if isinstance(d, int) else None for d in model.input_shape)
    kwargs: dict[str, object] = {"shape": shape}
    if is_token_input(model):
        kwargs["dtype"] = "int32"
    return statement("inputs = ", call("keras.Input", **kwargs, name=model.input_name), indent=1)


@record
class KerasView:
    """What templates/keras/model.py.j2 lays out: every line already decided and formatted."""

    docstring: tuple[str, ...]
    imports: tuple[str, ...]
    classes: tuple[str, ...]
    inputs: tuple[str, ...]
    body: tuple[str, ...]
    returns: tuple[str, ...]
    batch: tuple[str, ...]


def emit_model(model: Model) -> TargetCode:
    names = variables(model, "inputs", "outputs")
    tokens = is_token_input(model)
    inputs = input_lines(model)
    body: list[str] = []
    records: list[LayerCode] = []
    for layer in model.layers:
        lines = layer_lines(layer, names)
        body += lines
        records.append(LayerCode(layer.name, layer.type, (), tuple(lines), layout="channels last"))
    outputs = names[model.output_name] if model.layers else "inputs"
    returns = statement("return ", call("keras.Model", Raw("inputs"), Raw(outputs), name=model.name), indent=1)

    example = (2, *example_shape(model.input_shape))
    if tokens:
        batch = call("keras.random.randint", example, 0, vocabulary(model))
    else:
        batch = call("keras.random.normal", example)
    if tokens:
        kind = "token ids"
    elif len(model.input_shape) == 2:
        kind = "steps, then features"
    elif len(model.input_shape) > 2:
        kind = "channels last, as Keras expects"
    else:
        kind = "features"
    input_text = f"a batch of shape {batch_shape(model.input_shape)} ({kind})"
    view = KerasView(
        docstring=tuple(docstring_lines(model, "Keras", input_text, batch_shape(model.output_shape))),
        imports=("import keras", *(["from keras import layers"] if any("layers." in line for line in body) else [])),
        classes=defined_classes(NAME, model.layers, DEFINES),
        inputs=tuple(inputs),
        body=tuple(body),
        returns=tuple(returns),
        batch=tuple(statement("batch = ", batch, indent=1)),
    )
    input_code = LayerCode(model.input_name, "input", (), tuple(inputs), layout="channels last")
    return TargetCode(NAME, model.name, (input_code,), tuple(records), (), view)


def outline(view: KerasView, marker: str) -> KerasView:
    """The view with the layers' lines (inputs included) replaced by one `marker` comment."""
    return replace(view, inputs=(f"    {marker}",), body=())
