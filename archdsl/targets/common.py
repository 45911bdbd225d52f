"""What both targets share: the record of what each layer became, variable names, the docstring, example inputs."""

from __future__ import annotations

import re
import textwrap
from collections import defaultdict
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYERS
from archdsl.layers.shapes import EXAMPLE_SIZE
from archdsl.targets.pycode import Raw, call, statement
from archdsl.version import __version__

DOCSTRING_WIDTH = 79


class UnsupportedError(Exception):
    """The target has no exact rendering of a layer configuration; becomes an A601 diagnostic."""

    def __init__(self, layer_name: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.layer_name = layer_name
        self.message = message
        self.hint = hint


# The output activations that a training loss applies itself when given logits:
# nn.CrossEntropyLoss (and Keras' from_logits=True) for softmax, nn.BCEWithLogitsLoss for sigmoid.
LOGIT_ACTIVATIONS = ("softmax", "sigmoid")


def output_activation(layer: Layer) -> str | None:
    """The softmax or sigmoid a layer ends in, as a layer of its own or as its `activation=`."""
    if layer.type in LOGIT_ACTIVATIONS:
        return layer.type
    activation = layer.config.get("activation") if LAYERS[layer.type].fuses_activation else None
    return activation if activation in LOGIT_ACTIVATIONS else None


def logits_model(model: Model) -> Model:
    """The model without the softmax or sigmoid its outputs end in (`generate --logits`), for losses that take logits.

    The rest is untouched, so the weights are the same and verify still pairs every other layer.
    An activation layer that is an output and read by nothing else goes, and the output becomes
    what it read; a layer's own `activation=` is cleared.
    """
    by_name = {layer.name: layer for layer in model.layers}
    read = {name for layer in model.layers for name in layer.inputs}
    dropped: dict[str, str] = {}
    cleared: set[str] = set()
    for name in model.outputs:
        layer = by_name.get(name)
        if layer is None or output_activation(layer) is None:
            continue
        if layer.type in LOGIT_ACTIVATIONS:
            if name not in read:
                dropped[name] = layer.inputs[0]
        else:
            cleared.add(name)
    if not dropped and not cleared:
        return model
    layers = tuple(
        replace(layer, config=MappingProxyType({**layer.config, "activation": None}))
        if layer.name in cleared
        else layer
        for layer in model.layers
        if layer.name not in dropped
    )
    outputs = tuple(dropped.get(name, name) for name in model.outputs)
    return replace(model, layers=layers, outputs=outputs)


def token_ids(model: Model, name: str) -> bool:
    """A rank-1 input read by an embedding holds token ids, not features."""
    return len(model.shape_of(name)) == 1 and any(
        layer.type == "embedding" and name in layer.inputs for layer in model.layers
    )


def is_token_input(model: Model) -> bool:
    """Whether some input of the model holds token ids."""
    return any(token_ids(model, model_input.name) for model_input in model.inputs)


def vocabulary(model: Model, name: str | None = None) -> int:
    """The smallest vocabulary of the embeddings that read input `name` (any input by default)."""
    return min(
        layer.config["vocab"]
        for layer in model.layers
        if layer.type == "embedding" and (name is None or name in layer.inputs)
    )


def example_shape(shape) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else EXAMPLE_SIZE for d in shape)


def variables(model: Model, single_input: str, single_output: str | None = None, probe: bool = False) -> dict[str, str]:
    """The variable each input and each layer's output is held in.

    A tensor read only by the very next layer lives in `x`, so a plain chain
    reads `x = ...(x)`; a tensor read later or by several layers (a branch
    point, a branch waiting for its merge) is held under the layer's name, and
    so are the inputs and outputs of a model that has several. With `probe`
    (verify), every layer's output keeps a variable of its own.
    """
    inputs = [model_input.name for model_input in model.inputs]
    order = [*inputs, *(layer.name for layer in model.layers)]
    position = {name: i for i, name in enumerate(order)}
    consumers: dict[str, list[int]] = defaultdict(list)
    for layer in model.layers:
        for name in layer.inputs:
            consumers[name].append(position[layer.name])
    first_layer = len(inputs)
    names: dict[str, str] = {}
    for i, name in enumerate(order):
        readers = consumers[name]
        if i < first_layer:
            if len(inputs) > 1:
                names[name] = name
            elif single_input == "x":
                names[name] = "x" if readers == [first_layer] and not probe else "inputs"
            else:
                names[name] = single_input
        elif probe or (name in model.outputs and len(model.outputs) > 1):
            names[name] = name
        elif not readers and name not in model.outputs:
            names[name] = "_"  # a recurrent layer read only for its final state (`init=@name`)
        elif i == len(order) - 1:
            names[name] = single_output or "x"
        elif len(readers) == 1 and readers[0] == i + 1:
            names[name] = "x"
        else:
            names[name] = name
    return names


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/ ]")


def docstring_lines(
    model: Model, target: str, inputs: list[str], outputs: list[str], container: str = "list"
) -> list[str]:
    """The module docstring: source, model, version (no timestamp: output is deterministic), and what
    each input takes and each output gives, one line per input and per output when there are several."""
    source = {"<stdin>": "standard input", "<string>": "a string", "<cell>": "a notebook cell"}.get(model.source_file)
    source = source or _UNSAFE.sub("?", model.source_file.replace("\\", "/"))
    wrapped = textwrap.wrap(
        f"{model.name}: {target} code generated by archdsl {__version__} from {source}.",
        DOCSTRING_WIDTH,
        break_on_hyphens=False,
    )
    wrapped.append("")
    for title, names, texts, how in (
        ("Input", [given.name for given in model.inputs], inputs, "in order"),
        ("Output", list(model.outputs), outputs, f"as a {container}, in order"),
    ):
        if len(texts) == 1:
            wrapped += textwrap.wrap(f"{title}: {texts[0]}.", DOCSTRING_WIDTH, break_on_hyphens=False)
            continue
        wrapped.append(f"{title}s, {how}:")
        for name, text in zip(names, texts, strict=True):
            wrapped += textwrap.wrap(
                f"- {name}: {text}", DOCSTRING_WIDTH, subsequent_indent="  ", break_on_hyphens=False
            )
    return wrapped


@record
class Note:
    """A difference between the frameworks, told in the values the code was written with.

    The emitter that writes a layer's code writes its notes from the same values, so a
    note cannot contradict the code beside it. Notes with the same topic and text are
    shown once by the diff, naming every layer they were written for (with its `detail`).
    """

    topic: str
    text: str
    detail: str = ""


@record
class LayerCode:
    """What one layer (or one input of the model) became in a target.

    PyTorch: `init` holds the lines of `__init__` that build its module and `forward` the
    lines of `forward`; Keras: `forward` holds the functional call. `layout` is how the
    target holds the layer's output (PyTorch's channels-first or steps-first form).
    """

    name: str
    type: str
    init: tuple[str, ...]
    forward: tuple[str, ...]
    notes: tuple[Note, ...] = ()
    layout: str = ""


@record
class TargetCode:
    """A model in one target: a record per input and per layer, the notes on the whole model,
    and the view its template lays out (`render.render_module`)."""

    target: str
    model: str
    inputs: tuple[LayerCode, ...]
    layers: tuple[LayerCode, ...]
    notes: tuple[Note, ...]
    view: Any
    # Where each layer's weights live in structured code (`basic_1.0.conv2d_1`); flat code: its name.
    paths: tuple[tuple[str, str], ...] = ()
    # Code with a class or function per block: the model's own members as its code writes them (a
    # layer, or a block call named by its label, typed by its block, `block * N` for a run), each
    # with the layer whose output it gives; and the block each class or function was made for, in
    # the order the file defines them (`("bottleneck", "Bottleneck")`). Empty for flat code.
    members: tuple[tuple[str, LayerCode], ...] = ()
    units: tuple[tuple[str, str], ...] = ()

    def path(self, name: str) -> str:
        return dict(self.paths).get(name, name)

    def structured_key(self, flat_key: str) -> str:
        """A flat module's state_dict key in the code with a class per block: `conv2d_5.weight` is
        `basic_1.1.conv2d_1.weight`; a bare nn.Parameter (a class token) has no dot."""
        layer, dot, rest = flat_key.partition(".")
        return f"{self.path(layer)}{dot}{rest}"

    def layer(self, name: str) -> LayerCode:
        for code in self.layers:
            if code.name == name:
                return code
        raise KeyError(name)


def batch_name(model: Model, name: str) -> str:
    """The variable of an example batch in `__main__`: `batch`, or the input's name when there are several."""
    return "batch" if len(model.inputs) == 1 else name


def output_report(model: Model, arguments: str, indent: int) -> tuple[str, ...]:
    """What `__main__` prints of a model with several outputs: each unpacked by its name, then its shape."""
    names = model.outputs
    shapes = call("print", Raw('"output shapes:"'), *(Raw(f"tuple({name}.shape)") for name in names))
    return (
        *statement(f"{', '.join(names)} = ", f"model({arguments})", indent=indent),
        *statement("", shapes, indent=indent),
    )
