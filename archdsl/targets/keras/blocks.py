"""Blocks as functions, as keras.applications writes its blocks: `def name(x, ..., name)` makes the
block's layers, applies them and returns the result; the layers' names start with the call's, so
they read as PyTorch's state_dict keys do (`bottleneck_1.0.conv2d_1`). See targets/blocks.py for
how a block's code is found from its calls'."""

from __future__ import annotations

import re
from collections import ChainMap

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.ir.structure import Instance, Structure
from archdsl.targets.blocks import BlockWriter, function_name, paths, typed_parameters
from archdsl.targets.common import LayerCode
from archdsl.targets.generalize import Generalized, relayout, rename
from archdsl.targets.pycode import INDENT, Raw, call, literal, signature, statement

PREFIX = "name"  # the parameter a block's function takes its call's name under


@record
class BlockFunction:
    """One function for a block: its signature's lines and its body's (the return included)."""

    name: str
    header: tuple[str, ...]
    body: tuple[str, ...]


@record
class StructuredBody:
    """The lines of `build_model` between its inputs and its return, the functions they call, and each
    layer's name in the model (`basic_1.0.conv2d_1`), for verify's weight transfer."""

    functions: tuple[BlockFunction, ...]
    body: tuple[str, ...]
    result: dict[str, str]  # the variable each output of the model is held in
    paths: dict[str, str]
    members: tuple[tuple[str, LayerCode], ...]  # see TargetCode.members
    units: tuple[tuple[str, str], ...]


CONVOLUTIONS = re.compile(r"= layers\.Conv[123]D(?:Transpose)?\(")
# Keras' defaults for what the emitters leave out when they hold them (see generalize.with_defaults).
CONVOLUTION_DEFAULTS = {"strides": "1", "padding": '"valid"', "dilation_rate": "1", "groups": "1"}


def _prefixed(local: str, root: bool) -> Raw:
    """A layer's or a call's `name=` where it is written: its own at the top; in a block, the call's, then its own."""
    return Raw(literal(local) if root else f'f"{{{PREFIX}}}.{local}"')


class _FunctionWriter(BlockWriter):
    DEFAULTED = CONVOLUTIONS
    DEFAULTS = CONVOLUTION_DEFAULTS
    _renames: tuple[dict[str, str], dict[str, str], dict[str, str]] | None = None
    reused: set[tuple[str, ...]] = set()  # noqa: RUF012 (set by structured_body before writing)

    def layer_lines(self, code: LayerCode, mapping: dict[str, str], layers: dict[str, str], root: bool):
        # A layer another applies again is held in `{name}_layer`; its name string says where it lives.
        # Made once per body (the same `layers`), not per layer: a block may hold thousands.
        if self._renames is None or self._renames[0] is not layers:
            held = {f"{flat}_layer": f"{local}_layer" for flat, local in layers.items()}
            strings = {literal(flat): _prefixed(local, root) for flat, local in layers.items()}
            self._renames = (layers, held, strings)
        _, held, strings = self._renames
        renamed = rename(code.forward, ChainMap(held, mapping), {}, strings)
        return [], relayout(renamed, code.forward)

    def call_lines(self, instances: tuple[Instance, ...], name: str, source: str, target: str, root: bool):
        first = instances[0]
        if first.shares is not None:  # `use NAME`: the model made for that call, applied again
            return [], statement(f"{target} = ", f"{self.attributes[first.shares]}_model({source})", indent=1)
        called = [self.calls[instance.path] for instance in instances]
        if first.path in self.reused:
            return [], self._nested_model(first, name, source, target, root)
        if len(instances) == 1:
            function, values = called[0]
            made = call(function, Raw(source), *values, **{PREFIX: _prefixed(name, root)})
            return [], statement(f"{target} = ", made, indent=1)
        if len(set(called)) == 1:
            function, values = called[0]
            label = f"{{{PREFIX}}}.{name}" if not root else name
            made = call(function, Raw(target), *values, **{PREFIX: Raw(f'f"{label}.{{i}}"')})
            loop = f"{INDENT}for i in range({len(instances)}):"
            start = [] if source == target else [f"{INDENT}{target} = {source}"]  # `x = inputs`
            return [], [*start, loop, *statement(f"{target} = ", made, indent=2)]
        lines: list[str] = []
        for position, (function, values) in enumerate(called):
            made = call(function, Raw(source), *values, **{PREFIX: _prefixed(f"{name}.{position}", root)})
            lines += statement(f"{target} = ", made, indent=1)
            source = target
        return [], lines

    def sizes(self, argument: str, channels: list[int | None]) -> tuple[list, list]:
        return [], [(f"{argument}.shape[-1]", channels)]  # Keras layers take no input sizes

    def _nested_model(self, instance: Instance, name: str, source: str, target: str, root: bool) -> list[str]:
        """A call that `use` applies again is a model of its own, as Keras shares a block: its layers
        are made once, by one call of the block's function on an input of the call's shape."""
        function, values = self.calls[instance.path]
        shape = tuple(size if isinstance(size, int) else None for size in instance.input_shape)
        first = next(layer for layer in instance.layers if instance.input in layer.inputs)
        typed = {"dtype": "int32"} if first.type == "embedding" and len(shape) == 1 else {}
        given = f"{name}_inputs"
        made = call(function, Raw(given), *values, **{PREFIX: _prefixed(name, root)})
        return [
            *statement(f"{given} = ", call("keras.Input", shape=shape, **typed), indent=1),
            *statement(f"{name}_model = ", call("keras.Model", Raw(given), made, name=_prefixed(name, root)), indent=1),
            *statement(f"{target} = ", f"{name}_model({source})", indent=1),
        ]

    def comparable(self, init: list[str], forward: list[str], result: str) -> tuple[str, ...]:
        return (*forward, f"{INDENT}return {result}")

    def unit(self, block: str, common: Generalized, known, argument: str):
        name = function_name(block, self.taken)
        parameters = [f"{argument}: keras.KerasTensor", *typed_parameters(common, known), f"{PREFIX}: str"]
        header = signature(name, parameters, "keras.KerasTensor", indent=0)
        return BlockFunction(name, tuple(header), common.lines), name


def structured_body(
    model: Model, structure: Structure, records: dict[str, LayerCode], names: dict[str, str], taken: set[str]
) -> StructuredBody:
    """`build_model`'s layers with a function per block, from the flat code's records."""
    writer = _FunctionWriter(model, records, names, taken)
    # The calls that `use` applies again, found once: each becomes a model of its own.
    writer.reused = {instance.shares for instance in structure.instances() if instance.shares is not None}
    writer.write(structure)
    _, body, _, _, mapping = writer.body(structure.members, None, root=True)
    results = {output: mapping.get(names[output], names[output]) for output in model.outputs}
    functions = tuple(writer.units)  # type: ignore[arg-type]
    members, units = tuple(writer.members), tuple(writer.unit_names)
    return StructuredBody(functions, tuple(body), results, paths(structure), members, units)
