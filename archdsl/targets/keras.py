"""The Keras target: Keras 3's functional API.

Keras is the reference semantics of the language (channels last, its defaults),
so this target is mostly a naming table; the interesting differences live in
`torch.py`. Only arguments that differ from Keras' defaults are written, so the
code reads as a person would write it.
"""

from __future__ import annotations

from collections.abc import Callable

from archdsl.ir.model import Layer, Model
from archdsl.layers.shapes import batch_shape
from archdsl.targets.common import ModuleView, docstring_lines, example_shape, is_token_input, variables, vocabulary
from archdsl.targets.pycode import Call, Raw, call, literal, statement

NAME = "keras"
ACTIVATION_NAMES = {"leakyrelu": "leaky_relu"}  # Keras' spelling where it differs from ours


def size(value: tuple[int, ...]) -> int | tuple[int, ...]:
    """Keras takes one int for a size that is the same on every axis."""
    return value[0] if len(set(value)) == 1 else value


def _common(layer: Layer, **kwargs: object) -> dict[str, object]:
    """Keyword arguments shared by the layers that have them, defaults left out."""
    config = layer.config
    out: dict[str, object] = {}
    if "stride" in config and set(config["stride"]) != {1} and layer.type not in ("maxpool", "avgpool"):
        out["strides"] = size(config["stride"])
    if config.get("padding") == "same":
        out["padding"] = "same"
    if "dilation" in config and set(config["dilation"]) != {1}:
        out["dilation_rate"] = size(config["dilation"])
    if config.get("groups", 1) != 1:
        out["groups"] = config["groups"]
    if config.get("multiplier", 1) != 1:
        out["depth_multiplier"] = config["multiplier"]
    out.update(kwargs)
    if config.get("activation"):
        out["activation"] = ACTIVATION_NAMES.get(config["activation"], config["activation"])
    if config.get("bias") is False:
        out["use_bias"] = False
    return out


def _named(layer: Layer, func: str, *args: object, **kwargs: object) -> Call:
    return call(func, *args, **kwargs, name=layer.name)


def _spatial_rank(layer: Layer) -> int:
    return len(layer.input_shape) - 1


def dense(layer: Layer) -> Call:
    return _named(layer, "layers.Dense", layer.config["units"], **_common(layer))


def conv(layer: Layer) -> Call:
    axes = int(layer.type[4])
    return _named(layer, f"layers.Conv{axes}D", layer.config["filters"], size(layer.config["kernel"]), **_common(layer))


def sepconv2d(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.SeparableConv2D", c["filters"], size(c["kernel"]), **_common(layer))


def dwconv2d(layer: Layer) -> Call:
    return _named(layer, "layers.DepthwiseConv2D", size(layer.config["kernel"]), **_common(layer))


def conv2dtranspose(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.Conv2DTranspose", c["filters"], size(c["kernel"]), **_common(layer))


def pool(layer: Layer) -> Call:
    c = layer.config
    kind = "MaxPooling" if layer.type == "maxpool" else "AveragePooling"
    kwargs: dict[str, object] = {}
    if c["stride"] != c["pool"]:
        kwargs["strides"] = size(c["stride"])
    if c["padding"] == "same":
        kwargs["padding"] = "same"
    return _named(layer, f"layers.{kind}{_spatial_rank(layer)}D", size(c["pool"]), **kwargs)


def global_pool(layer: Layer) -> Call:
    kind = "GlobalAveragePooling" if layer.type == "globalavgpool" else "GlobalMaxPooling"
    return _named(layer, f"layers.{kind}{_spatial_rank(layer)}D")


def flatten(layer: Layer) -> Call:
    return _named(layer, "layers.Flatten")


def dropout(layer: Layer) -> Call:
    return _named(layer, "layers.Dropout", layer.config["rate"])


def batchnorm(layer: Layer) -> Call:
    c = layer.config
    kwargs = {
        k: v for k, v, default in (("momentum", c["momentum"], 0.99), ("epsilon", c["epsilon"], 1e-3)) if v != default
    }
    return _named(layer, "layers.BatchNormalization", **kwargs)


def layernorm(layer: Layer) -> Call:
    epsilon = layer.config["epsilon"]
    return _named(layer, "layers.LayerNormalization", **({"epsilon": epsilon} if epsilon != 1e-3 else {}))


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
    return _named(layer, "layers.Activation", layer.type)


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


def embedding(layer: Layer) -> Call:
    return _named(layer, "layers.Embedding", layer.config["vocab"], layer.config["dim"])


def reshape(layer: Layer) -> Call:
    return _named(layer, "layers.Reshape", tuple(layer.config["target"]))


def upsample(layer: Layer) -> Call:
    return _named(layer, f"layers.UpSampling{_spatial_rank(layer)}D", size(layer.config["size"]))


def zeropad(layer: Layer) -> Call:
    return _named(layer, f"layers.ZeroPadding{_spatial_rank(layer)}D", size(layer.config["padding"]))


def identity(layer: Layer) -> Call:
    return _named(layer, "layers.Identity")


def merge(layer: Layer) -> Call:
    cls = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average"}[layer.type]
    return _named(layer, f"layers.{cls}")


def concat(layer: Layer) -> Call:
    axis = layer.config["axis"]
    return _named(layer, "layers.Concatenate", **({"axis": axis} if axis != -1 else {}))


def attention(layer: Layer) -> Call:
    c = layer.config
    return _named(layer, "layers.MultiHeadAttention", num_heads=c["heads"], key_dim=c["key_dim"])


# One function per layer type: the whole of what Keras needs to know.
CONSTRUCTORS: dict[str, Callable[[Layer], Call]] = {
    "dense": dense,
    "conv1d": conv,
    "conv2d": conv,
    "conv3d": conv,
    "sepconv2d": sepconv2d,
    "dwconv2d": dwconv2d,
    "conv2dtranspose": conv2dtranspose,
    "maxpool": pool,
    "avgpool": pool,
    "globalavgpool": global_pool,
    "globalmaxpool": global_pool,
    "flatten": flatten,
    "dropout": dropout,
    "batchnorm": batchnorm,
    "layernorm": layernorm,
    **{
        name: activation
        for name in ("relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "silu", "sigmoid", "tanh", "softmax")
    },
    "lstm": recurrent,
    "gru": recurrent,
    "rnn": recurrent,
    "embedding": embedding,
    "reshape": reshape,
    "upsample": upsample,
    "zeropad": zeropad,
    "identity": identity,
    "add": merge,
    "subtract": merge,
    "multiply": merge,
    "average": merge,
    "concat": concat,
    "attention": attention,
}


def constructor(layer: Layer) -> Call:
    try:
        return CONSTRUCTORS[layer.type](layer)
    except KeyError:
        raise AssertionError(f"the Keras target has no rendering for layer type '{layer.type}'") from None


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


def view(model: Model) -> ModuleView:
    names = variables(model, "inputs", "outputs")
    tokens = is_token_input(model)
    body = input_lines(model)
    for layer in model.layers:
        body += layer_lines(layer, names)
    outputs = names[model.output_name] if model.layers else "inputs"
    body += statement("return ", call("keras.Model", Raw("inputs"), Raw(outputs), name=model.name), indent=1)

    example = (2, *example_shape(model.input_shape))
    if tokens:
        batch = call("keras.random.randint", example, 0, vocabulary(model))
    else:
        batch = call("keras.random.normal", example)
    main = [
        "    model = build_model()",
        *statement("batch = ", batch, indent=1),
        '    print("output shape:", tuple(model(batch).shape))',
        '    print("parameters:", model.count_params())',
    ]
    if tokens:
        kind = "token ids"
    elif len(model.input_shape) == 2:
        kind = "steps, then features"
    elif len(model.input_shape) > 2:
        kind = "channels last, as Keras expects"
    else:
        kind = "features"
    input_text = f"a batch of shape {batch_shape(model.input_shape)} ({kind})"
    return ModuleView(
        docstring=docstring_lines(model, "Keras", input_text, batch_shape(model.output_shape)),
        imports=["import keras", "from keras import layers"],
        body=body,
        main=main,
    )


__all__ = ["CONSTRUCTORS", "NAME", "constructor", "literal", "view"]
