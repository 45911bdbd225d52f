"""The checked model: what shape inference produces and every target and tool reads.

Frozen: passes build new objects instead of mutating, so a checked model handed
to a tool or a target can be shared without defensive copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from archdsl.common.diagnostics import ArchError, Diagnostic, Span, did_you_mean
from archdsl.common.record import record
from archdsl.ir.graph import CallSite
from archdsl.layers.shapes import EXAMPLE_SIZE, Shape, evaluate, symbols
from archdsl.layers.spec import Params
from archdsl.layers.table import LAYERS

FLOAT32_BYTES = 4


def sharing_note(original: str) -> str:
    """The note on a layer, or a block call, that applies the weights of `original` again (`use NAME`)."""
    return f"shares the weights of {original}"


def concrete(shape: Shape, size: int = EXAMPLE_SIZE) -> tuple[int, ...]:
    """A shape with numbers for its symbolic sizes; a size that leaves nothing is 0."""
    return tuple(max(evaluate(d, size), 0) for d in shape)


@record
class Layer:
    """A checked layer: its full configuration, its output shape and its parameters.

    Shapes are per sample, channels last, batch axis excluded; a symbolic
    dimension is a string. `notes` says what archdsl did that the user did not
    write (an inserted flatten, say). `mask` names the padding mask the output
    carries (`embedding mask_zero`): the token input it was computed from, or the
    layer that changed it (a class token, a merge of different masks); None
    when the output has none. `input_masks` are those of its inputs.
    """

    name: str
    type: str
    config: Mapping[str, Any]
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    params: Params
    span: Span
    scope: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    called_from: tuple[CallSite, ...] = ()  # the block calls it was expanded through, outermost first
    inserted: bool = False
    mask: str | None = None
    input_masks: tuple[str | None, ...] = ()
    shares: str | None = None  # the layer whose weights it applies again (`use NAME`)
    state_from: str | None = None  # the recurrent layer whose final state it starts from (`init=@NAME`)
    returns_state: bool = False  # a later layer starts from its final state, so the code keeps it

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.column

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0]

    @property
    def input_mask(self) -> str | None:
        return self.input_masks[0] if self.input_masks else None

    def macs(self, size: int = EXAMPLE_SIZE) -> int:
        """Multiply-adds for one sample, as torchinfo counts them, every symbolic size being `size`."""
        spec = LAYERS[self.type]
        if not spec.has_weights:
            return 0
        inputs = tuple(concrete(shape, size) for shape in self.input_shapes)
        config = {**self.config, "_name": self.type}  # as the shape pass gave it to the layer's rules
        return spec.macs(config, inputs, concrete(self.output_shape, size))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params.to_json(),
            "macs": self.macs(),
            "line": self.line,
            "column": self.column,
            **({"shares": self.shares} if self.shares else {}),
            **({"init": self.state_from} if self.state_from else {}),
        }


@record
class ModelInput:
    """One input of a model: its name (the Keras input's, the PyTorch forward argument's) and sample shape."""

    name: str
    shape: Shape
    span: Span

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape)}


@record
class Model:
    """A checked model, ready for the targets and the tools.

    `inputs` in the order they are written; `layers` in an order where every layer comes
    after what it reads; `outputs` names the layers (or inputs) the model returns, in order.
    """

    name: str
    inputs: tuple[ModelInput, ...]
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...]
    span: Span
    source_file: str
    params: Params = field(default_factory=Params)

    @property
    def input_name(self) -> str:
        """The name of the first input (the only one, in most models)."""
        return self.inputs[0].name

    @property
    def input_shape(self) -> Shape:
        return self.inputs[0].shape

    @property
    def output_name(self) -> str:
        """The name of the first output (the only one, in most models)."""
        return self.outputs[0]

    @property
    def output_shape(self) -> Shape:
        return self.shape_of(self.outputs[0])

    def shape_of(self, name: str) -> Shape:
        """The sample shape of an input or of a layer's output."""
        for model_input in self.inputs:
            if model_input.name == name:
                return model_input.shape
        return self.layer(name).output_shape

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbolic sizes of the model, in order of appearance (`seq`)."""
        found: dict[str, None] = {}
        for shape in (*(i.shape for i in self.inputs), *(layer.output_shape for layer in self.layers)):
            for dim in shape:
                found.update(dict.fromkeys(sorted(symbols(dim))))
        return tuple(found)

    def macs(self, size: int = EXAMPLE_SIZE) -> int:
        """Multiply-adds for one sample, torchinfo's "Total mult-adds" for a batch of one."""
        return sum(layer.macs(size) for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if len(self.inputs) == 1:
            data["input_shape"] = list(self.input_shape)
        if len(self.outputs) == 1:
            data["output_shape"] = list(self.output_shape)
        data["inputs"] = [model_input.to_json() for model_input in self.inputs]
        data["outputs"] = [{"name": name, "shape": list(self.shape_of(name))} for name in self.outputs]
        data["params"] = self.params.to_json()
        data["param_bytes"] = {"keras": self.params.keras * FLOAT32_BYTES, "torch": self.params.torch * FLOAT32_BYTES}
        data["macs"] = self.macs()
        data["macs_at"] = dict.fromkeys(self.symbols, EXAMPLE_SIZE)
        data["layers"] = [layer.to_json() for layer in self.layers]
        return data


@record
class Program:
    """Every model of one file, checked."""

    filename: str
    source: str
    models: tuple[Model, ...]
    blocks: tuple[str, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models)

    def model(self, name: str | None = None) -> Model:
        """The named model; without a name, the only one (several is an error naming them)."""
        return select_model(self, name)

    def to_json(self) -> dict[str, Any]:
        return {"models": [m.to_json() for m in self.models]}


class SelectionError(ArchError):
    """The model asked for is not there, or several are and none was asked for.

    The spec is fine; the command line is what needs fixing, so the CLI exits 2.
    """


def select_model(program: Program, name: str | None) -> Model:
    models = program.models
    start = Span(program.filename, 1, 1, 1, 2)
    if name is None:
        if len(models) == 1:
            return models[0]
        names = ", ".join(m.name for m in models)
        raise SelectionError(
            [
                Diagnostic(
                    "A402",
                    f"the file has {len(models)} models ({names}): choose one",
                    models[0].span if models else start,
                    f"pass --model NAME (one of: {names})",
                )
            ],
        )
    for model in models:
        if model.name == name:
            return model
    near = did_you_mean(name, program.model_names)
    names = ", ".join(program.model_names)
    raise SelectionError(
        [
            Diagnostic(
                "A403",
                f"no model named '{name}'" + (f" — did you mean '{near}'?" if near else ""),
                start,
                f"the file has: {names}",
            )
        ],
    )
