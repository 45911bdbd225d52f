"""The Keras target: Keras 3's functional API.

Keras is the reference semantics of the language (channels last, its defaults),
so this target is mostly a naming table; the interesting differences live in
the PyTorch target. Only arguments that differ from Keras' defaults are written,
so the code reads as a person would write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.ir.structure import structure
from archdsl.layers import LAYER_TABLE, LAYERS
from archdsl.layers.shapes import batch_shape
from archdsl.layers.spec import ACTIVATIONS
from archdsl.targets.blocks import blocks_note
from archdsl.targets.common import (
    LayerCode,
    TargetCode,
    batch_name,
    docstring_lines,
    example_shape,
    output_report,
    token_ids,
    variables,
    vocabulary,
)
from archdsl.targets.keras.blocks import BlockFunction, structured_body
from archdsl.targets.pycode import Call, Raw, call, statement
from archdsl.targets.render import defined_classes

NAME = "keras"
# Names the module's code uses itself: no block's function may take them.
RESERVED = {"keras", "layers", "build_model", "model", "i", "x", "inputs", "outputs", "name"}
# Activations Keras has no name for: a function the module defines (templates/keras/classes/),
# passed to Keras by name.
ACTIVATION_FUNCTIONS = {"gelu_tanh": "gelu_tanh"}  # keras.activations.gelu(x, approximate=True)
# Keras' spelling where it differs from ours; `abs` is no activation name in Keras, so the
# function itself is passed.
ACTIVATION_NAMES: dict[str, object] = {
    "leakyrelu": "leaky_relu",
    "hardswish": "hard_swish",
    "hardsigmoid": "hard_sigmoid",
    "abs": Raw("keras.ops.abs"),
    **{k: Raw(v) for k, v in ACTIVATION_FUNCTIONS.items()},
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
    if layer.type == "softmax" and layer.input_mask is None:
        # Keras' Softmax layer applies a padding mask over its own axis, the features, and refuses a
        # mask of the steps; Activation passes the mask on, as the other activation layers do.
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
    if layer.returns_state:
        kwargs["return_state"] = True  # a later layer starts from its final state
    if c["bidirectional"]:
        inner = call(cls, c["units"], **kwargs)
        return _named(layer, "layers.Bidirectional", Raw(inner.inline()))
    return _named(layer, cls, c["units"], **kwargs)


@builds("embedding")
def embedding(layer: Layer) -> Call:
    mask = {"mask_zero": True} if layer.config["mask_zero"] else {}
    return _named(layer, "layers.Embedding", layer.config["vocab"], layer.config["dim"], **mask)


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


@builds("posembed", defines="position_embedding")
def posembed(layer: Layer) -> Call:
    return _named(layer, "PositionEmbedding", max_length=layer.config["max"])


@builds("clstoken", defines="class_token")
def clstoken(layer: Layer) -> Call:
    return _named(layer, "ClassToken")


@builds("take", defines="take_step")
def take(layer: Layer) -> Call:
    return _named(layer, "TakeStep", layer.config["index"])


# Keras' MultiHeadAttention takes the padding masks off its input tensors when it runs, which
# loses them for every other reader (a residual's skip); under a mask the module defines a
# subclass that puts them back (tests/test_masks.py holds Keras to that).
MASK_KEEPING = "MaskKeepingAttention"


def _keeps_masks(layer: Layer) -> bool:
    return layer.type == "attention" and any(layer.input_masks)


@builds("attention")
def attention(layer: Layer) -> Call:
    c = layer.config
    cls = MASK_KEEPING if _keeps_masks(layer) else "layers.MultiHeadAttention"
    return _named(layer, cls, num_heads=c["heads"], key_dim=c["key_dim"])


for _spec in LAYER_TABLE:
    if _spec.category == "activation":
        # The function an activation needs is defined wherever the word is used, as a layer or as
        # another layer's activation= (`defined_for` looks up both).
        builds(_spec.name, defines=ACTIVATION_FUNCTIONS.get(_spec.name))(activation)
    elif _spec.merge and _spec.name != "concat":
        builds(_spec.name)(merge)


def defined_for(layers) -> list[str]:
    """The class templates the layers need: by layer type, by activation word (`dense 8 gelu_tanh`), and
    the attention that keeps masks."""
    found = []
    for layer in layers:
        found += [DEFINES[key] for key in (layer.type, layer.config.get("activation")) if key in DEFINES]
        found += ["mask_keeping_attention"] if _keeps_masks(layer) else []
    return found


def constructor(layer: Layer) -> Call:
    try:
        return BUILDERS[layer.type](layer)
    except KeyError:
        raise AssertionError(f"the Keras target has no builder for layer type '{layer.type}'") from None


def attention_applied(layer: Layer, query: str, value: str, key: str | None = None) -> str:
    """`(query, value)`: MultiHeadAttention's call (keys apart from the values as `key=`), with Keras'
    causal mask asked for there."""
    key_arg = f", key={key}" if key is not None else ""
    causal = ", use_causal_mask=True" if layer.config["causal"] else ""
    return f"({query}, {value}{key_arg}{causal})"


def state_variables(layer: Layer) -> list[str]:
    """The variables of a recurrent layer's final state, in the order Keras returns them."""
    parts = ["h", "c"] if layer.type == "lstm" else ["h"]
    if layer.config["bidirectional"]:
        return [f"{layer.name}_{part}_{way}" for way in ("forward", "backward") for part in parts]
    return [f"{layer.name}_{part}" for part in parts]


def layer_lines(
    layer: Layer,
    names: dict[str, str],
    shared: frozenset[str] = frozenset(),
    states: dict[str, list[str]] | None = None,
) -> list[str]:
    """`x = layers.Conv2D(...)(x)`: the functional call of one layer.

    A layer that another applies again (`use`) is made once, into a variable, and called by
    every user of its weights; a layer whose final state a later one starts from returns it.
    """
    args = [names[name] for name in layer.inputs]
    if layer.type == "attention":
        # Self-attention: one sequence is query and value; ( query | keys and values ); ( query | keys | values ).
        applied = attention_applied(layer, args[0], args[-1], args[1] if len(args) == 3 else None)
    elif len(args) > 1:
        applied = f"([{', '.join(args)}])"
    else:
        applied = f"({args[0]}"
        if layer.state_from is not None:
            applied += f", initial_state=[{', '.join((states or {})[layer.state_from])}]"
        applied += ")"
    target = names[layer.name]
    if layer.returns_state:
        target = ", ".join([target, *(states or {})[layer.name]])
    if layer.shares is not None:
        return statement(f"{target} = ", f"{layer.shares}_layer{applied}", indent=1)
    if layer.name in shared:
        made = statement(f"{layer.name}_layer = ", constructor(layer), indent=1)
        return made + statement(f"{target} = ", f"{layer.name}_layer{applied}", indent=1)
    return statement(f"{target} = ", constructor(layer), applied, indent=1)


def input_lines(model: Model, names: dict[str, str]) -> list[list[str]]:
    """`inputs = keras.Input(...)`, one per input: symbolic sizes are None, token ids are integers."""
    lines = []
    for model_input in model.inputs:
        shape = tuple(d if isinstance(d, int) else None for d in model_input.shape)
        kwargs: dict[str, object] = {"shape": shape}
        if token_ids(model, model_input.name):
            kwargs["dtype"] = "int32"
        made = call("keras.Input", **kwargs, name=model_input.name)
        lines.append(statement(f"{names[model_input.name]} = ", made, indent=1))
    return lines


@record
class KerasView:
    """What templates/keras/model.py.j2 lays out: every line already decided and formatted."""

    docstring: tuple[str, ...]
    imports: tuple[str, ...]
    classes: tuple[str, ...]
    functions: tuple[BlockFunction, ...]  # one per block, as keras.applications writes them
    inputs: tuple[str, ...]
    body: tuple[str, ...]
    returns: tuple[str, ...]
    batch: tuple[str, ...]
    call: str  # what the __main__ passes to the model
    report: tuple[str, ...]  # several outputs: __main__ unpacks them and prints their shapes


def _listed(names: list[str]) -> Raw:
    return Raw(names[0] if len(names) == 1 else f"[{', '.join(names)}]")


BLOCKS = (
    "Keras makes each block a function that creates the block's layers and applies them, as"
    " keras.applications writes its blocks: Keras layers find their input sizes themselves, and the"
    " call's name prefixes its layers' names ({path}), so they read as PyTorch's state_dict keys",
    "identical calls in a row are a Python loop",
)


def emit_model(model: Model, probe: bool = False, flat: bool = False) -> TargetCode:
    """The model in Keras; with `probe` (verify), the model returns every layer's output, by name."""
    names = variables(model, "inputs", "outputs", probe=probe)
    shared = frozenset(layer.shares for layer in model.layers if layer.shares)
    states = {layer.name: state_variables(layer) for layer in model.layers if layer.returns_state}
    per_input = input_lines(model, names)
    body: list[str] = []
    records: list[LayerCode] = []
    for layer in model.layers:
        lines = layer_lines(layer, names, shared, states)
        body += lines
        records.append(LayerCode(layer.name, layer.type, (), tuple(lines), layout="channels last"))
    inputs = _listed([names[model_input.name] for model_input in model.inputs])
    results = {name: names[name] for name in model.outputs}
    found = None if flat or probe else structure(model)
    functions: tuple[BlockFunction, ...] = ()
    structured: dict[str, Any] = {}
    if found is not None:
        taken = {*RESERVED, model.name, *names, *names.values(), *(layer.type for layer in model.layers)}
        by_name = {code.name: code for code in records}
        # A layer shared across block calls is in a block applied again (`use`), which Keras shares as
        # one model: in the block's function it is made and applied as any other.
        for layer in model.layers:
            if layer.name in shared and any(
                other.shares == layer.name and other.scope != layer.scope for other in model.layers
            ):
                plain = tuple(layer_lines(layer, names, frozenset(), states))
                by_name[layer.name] = replace(by_name[layer.name], forward=plain)
        built = structured_body(model, found, by_name, names, taken)
        body, functions, results = list(built.body), built.functions, built.result
        structured = {"paths": tuple(built.paths.items()), "members": built.members, "units": built.units}
        structured["notes"] = (blocks_note(*BLOCKS, built.paths, built.members),)
    if probe:
        outputs = Raw("{" + ", ".join(f'"{layer.name}": {names[layer.name]}' for layer in model.layers) + "}")
    else:
        outputs = _listed([results[name] for name in model.outputs])
    returns = statement("return ", call("keras.Model", inputs, outputs, name=model.name), indent=1)

    batch: list[str] = []
    for model_input in model.inputs:
        example = (2, *example_shape(model_input.shape))
        if token_ids(model, model_input.name):
            made = call("keras.random.randint", example, 0, vocabulary(model, model_input.name))
        else:
            made = call("keras.random.normal", example)
        batch += statement(f"{batch_name(model, model_input.name)} = ", made, indent=1)
    view = KerasView(
        docstring=tuple(docstring_lines(model, "Keras", _inputs_text(model), _outputs_text(model))),
        # A model of defined layers alone (`clstoken -> posembed`) uses nothing of keras.layers.
        imports=("import keras", *(["from keras import layers"] if _uses_layers(body, functions) else [])),
        classes=defined_classes(NAME, defined_for(model.layers)),
        functions=functions,
        inputs=tuple(line for lines in per_input for line in lines),
        body=tuple(body),
        returns=tuple(returns),
        batch=tuple(batch),
        call=(arguments := str(_listed([batch_name(model, given.name) for given in model.inputs]))),
        report=output_report(model, arguments, indent=1) if len(model.outputs) > 1 else (),
    )
    input_codes = tuple(
        LayerCode(model_input.name, "input", (), tuple(lines), layout="channels last")
        for model_input, lines in zip(model.inputs, per_input, strict=True)
    )
    return TargetCode(NAME, model.name, input_codes, tuple(records), view=view, **{"notes": (), **structured})


def _uses_layers(body: list[str], functions: tuple[BlockFunction, ...]) -> bool:
    return any("layers." in line for line in (*body, *(line for made in functions for line in made.body)))


def _inputs_text(model: Model) -> list[str]:
    def kind(model_input) -> str:
        if token_ids(model, model_input.name):
            return "token ids"
        rank = len(model_input.shape)
        return "steps, then features" if rank == 2 else "channels last, as Keras expects" if rank > 2 else "features"

    return [f"a batch of shape {batch_shape(i.shape)} ({kind(i)})" for i in model.inputs]


def _outputs_text(model: Model) -> list[str]:
    return [batch_shape(model.shape_of(name)) for name in model.outputs]


def outline(view: KerasView, marker: str) -> KerasView:
    """The view with the layers' lines (inputs included) replaced by one `marker` comment."""
    return replace(view, inputs=(f"    {marker}",), body=(), functions=())
