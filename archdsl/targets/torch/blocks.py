"""Blocks as nn.Module subclasses, as torchvision writes `Bottleneck`: a call of a block is one
attribute, and `* N` of identical calls one `nn.Sequential` (see targets/blocks.py for how a
block's code is found from its calls')."""

from __future__ import annotations

import re

from archdsl.common.record import record
from archdsl.ir.model import Model
from archdsl.ir.structure import Instance, Structure
from archdsl.targets.blocks import BlockWriter, class_name, paths, typed_parameters
from archdsl.targets.common import LayerCode
from archdsl.targets.generalize import Generalized, relayout, rename
from archdsl.targets.pycode import Call, Raw, call, literal, statement
from archdsl.targets.torch.layout import torch_shape


@record
class BlockClass:
    """One nn.Module subclass for a block: its constructor's parameters and the lines of its two methods."""

    name: str
    parameters: tuple[str, ...]
    init: tuple[str, ...]
    forward: tuple[str, ...]
    result: str
    argument: str  # the name forward takes its input under


@record
class StructuredModule:
    """The model's own `__init__` and `forward` lines, the block classes they use, and where each layer's
    module lives (`basic_1.0.conv2d_1`), for verify's weight transfer."""

    classes: tuple[BlockClass, ...]
    init: tuple[str, ...]
    forward: tuple[str, ...]
    result: str
    paths: dict[str, str]
    members: tuple[tuple[str, LayerCode], ...]  # see TargetCode.members
    units: tuple[tuple[str, str], ...]


# PyTorch's defaults for the convolution arguments the emitters leave out when they hold them: a
# block whose calls differ in stride gets one class that takes it, as torchvision's Bottleneck.
CONVOLUTIONS = re.compile(r"= nn\.Conv(?:Transpose)?[123]d\(")
CONVOLUTION_DEFAULTS = {"stride": "1", "padding": "0", "dilation": "1", "groups": "1"}
FORWARD = "@forward"  # between a body's `__init__` lines and its `forward` lines while they are compared


class _ClassWriter(BlockWriter):
    DEFAULTED = CONVOLUTIONS
    DEFAULTS = CONVOLUTION_DEFAULTS

    def layer_lines(self, code: LayerCode, mapping: dict[str, str], layers: dict[str, str], root: bool):
        init = relayout(rename(code.init, mapping, layers), code.init)  # `self.conv2d_5` -> `self.conv2d_1`
        return init, relayout(rename(code.forward, mapping, layers), code.forward)

    def call_lines(self, instances: tuple[Instance, ...], name: str, source: str, target: str, root: bool):
        first, last = instances[0], instances[-1]
        init: list[str] = []
        if first.shares is not None:
            name = self.attributes[first.shares]
        else:
            init = statement(f"self.{name} = ", self._construction(instances), indent=2)
        shape = torch_shape(self.layers[last.output].output_shape, self.records[last.output].layout)
        return init, statement(f"{target} = ", f"self.{name}({source})", indent=2, comment=shape)

    def _construction(self, instances: tuple[Instance, ...]) -> str | Call:
        made = [f"{name}({', '.join(literal(value) for value in values)})" for name, values in self._called(instances)]
        if len(instances) == 1:
            return made[0]
        if len(set(made)) == 1:
            return f"nn.Sequential(*({made[0]} for _ in range({len(made)})))"
        return call("nn.Sequential", *(Raw(text) for text in made))  # exploded a call a line if too long

    def _called(self, instances: tuple[Instance, ...]) -> list[tuple[str, tuple[object, ...]]]:
        return [self.calls[instance.path] for instance in instances]  # type: ignore[misc]

    def comparable(self, init: list[str], forward: list[str], result: str) -> tuple[str, ...]:
        return (*init, FORWARD, *forward, f"return {result}")

    def split(self, bodies: list[tuple[str, ...]], group: list[int]) -> list[list[int]]:
        """A number in `forward` that differs between calls (a padding that depends on the input's size)
        is no constructor parameter: each such call gets a class."""
        parts: dict[tuple[str, ...], list[int]] = {}
        for index in group:
            body = bodies[index]
            forward = body[body.index(FORWARD) :]
            parts.setdefault(tuple(line.partition("  # ")[0] for line in forward), []).append(index)
        return list(parts.values())

    def unit(self, block: str, common: Generalized, known, argument: str):
        name = class_name(block, self.taken)
        split = common.lines.index(FORWARD)
        init, forward, result = common.lines[:split], common.lines[split + 1 : -1], common.lines[-1]
        made = BlockClass(name, typed_parameters(common, known), init, forward, result[len("return ") :], argument)
        return made, name


def structured_module(
    model: Model, structure: Structure, records: dict[str, LayerCode], names: dict[str, str], taken: set[str]
) -> StructuredModule:
    """The model's module with a class per block, from the flat code's records."""
    writer = _ClassWriter(model, records, names, taken)
    writer.write(structure)
    init, forward, _, _, mapping = writer.body(structure.members, None, root=True)
    results = ", ".join(mapping.get(names[output], names[output]) for output in model.outputs)
    classes = tuple(writer.units)  # type: ignore[arg-type]
    found = paths(structure)
    members, units = tuple(writer.members), tuple(writer.unit_names)
    return StructuredModule(classes, tuple(init), tuple(forward), results, found, members, units)
