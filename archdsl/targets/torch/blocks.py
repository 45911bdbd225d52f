"""Blocks as nn.Module subclasses: the model's code in the structure its spec was written in.

Built around the flat code, never beside it: each layer's lines are the ones its emitter
wrote for the flat module (so verify's proof carries over), renamed into the names of the
block that holds it (`conv2d_1` is the first conv2d of the block), and a call of a block is
one attribute, as torchvision writes `self.layer1 = nn.Sequential(Bottleneck(...), ...)`.
"""

from __future__ import annotations

import re

from archdsl.common.record import record
from archdsl.frontend.names import reserved_reason
from archdsl.ir.model import Layer, Model
from archdsl.ir.structure import Instance, Member, Run, Structure
from archdsl.targets.common import LayerCode
from archdsl.targets.generalize import generalize, relayout, rename, variants, with_defaults
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


def class_name(block: str, taken: set[str]) -> str:
    """`vgg_stage` -> `VggStage`; a name the file already uses, or one Python keeps, gets a number.

    Block names are not checked as layer names are (they never reached code before): one that
    would not make a safe class name becomes `Block`.
    """
    base = "".join(part[:1].upper() + part[1:] for part in block.split("_") if part)
    if reserved_reason(base) is not None:
        base = "Block"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    taken.add(name)
    return name


def _local_names(members: tuple[Member, ...], root: bool) -> dict[int, str]:
    """Each member's name in the code of the block that holds it, by position: `{type}_{k}` counted in the
    block, or the `as` name. The model's own layers keep the names `archdsl check` shows."""
    counts: dict[str, int] = {}
    names: dict[int, str] = {}
    for index, member in enumerate(members):
        if isinstance(member, Layer):
            if root or not re.fullmatch(rf"{re.escape(member.type)}_\d+", member.name):
                names[index] = member.name
                continue
            kind = member.type
        else:
            first = member.first if isinstance(member, Run) else member
            if not re.fullmatch(rf"{re.escape(first.block)}_\d+", first.label):
                names[index] = first.label
                continue
            kind = first.block if reserved_reason(f"{first.block}_1") is None else "block"
        counts[kind] = counts.get(kind, 0) + 1
        names[index] = f"{kind}_{counts[kind]}"
    return names


def _reads(member: Member) -> list[str]:
    """The tensors a member reads from outside itself."""
    if isinstance(member, Layer):
        return list(member.inputs)
    return [member.input]


def _height(instance: Instance) -> int:
    inner = [
        _height(nested)
        for member in instance.members
        for nested in (member.instances if isinstance(member, Run) else (member,))
        if isinstance(nested, Instance)
    ]
    return 1 + max(inner, default=0)


# PyTorch's defaults for the convolution arguments the emitters leave out when they hold them: a
# block whose calls differ in stride gets one class that takes it, as torchvision's Bottleneck.
CONVOLUTIONS = re.compile(r"= nn\.Conv(?:Transpose)?[123]d\(")
CONVOLUTION_DEFAULTS = {"stride": "1", "padding": "0", "dilation": "1", "groups": "1"}
FORWARD = "@forward"  # between a body's `__init__` lines and its `forward` lines while they are compared


class _Builder:
    """The block classes of one model, made innermost first, and the lines that call them."""

    def __init__(self, model: Model, records: dict[str, LayerCode], names: dict[str, str], taken: set[str]):
        self.model = model
        self.records = records
        self.names = names  # each layer's variable in the flat forward
        self.taken = taken
        self.calls: dict[tuple[str, ...], str] = {}  # an instance's path -> `ClassName(args)`
        self.classes: list[BlockClass] = []
        self.attributes: dict[tuple[str, ...], str] = {}  # an instance's path -> its attribute in its holder

    def body(self, members: tuple[Member, ...], entering: str | None, root: bool):
        """The lines of one block (or of the model) in its own names; its result's variable."""
        local = _local_names(members, root)
        mapping: dict[str, str] = {}  # the flat code's variables -> this block's
        attributes: dict[str, str] = {}  # the flat code's `self.` attributes -> this block's
        reads = [(index, name) for index, member in enumerate(members) for name in _reads(member)]
        argument = "x"
        if entering is not None:
            # Inside a block, the flat code's names (which depend on who reads a tensor outside
            # it too) give way to the block's own: the input is `x` when only the first member
            # reads it, once; a member's output is `x` when only the next member reads it, once,
            # and the result is `x` when one statement makes it. The same in every call.
            argument = "x" if [index for index, name in reads if name == entering] == [0] else "inputs"
            mapping[self.names[entering]] = argument
        for index, member in enumerate(members):
            out = member.name if isinstance(member, Layer) else member.output
            if isinstance(member, Layer):
                attributes[member.name] = local[index]
            if self.names[out] != out:
                continue  # `x`, or a layer that computes nothing and passes on another's variable
            readers = [reader for reader, name in reads if name == out]
            if index == len(members) - 1 and entering is not None:
                made_by = self.records[out].forward if isinstance(member, Layer) else ("out = call",)
                single = len([line for line in made_by if " = " in line]) == 1
                mapping[self.names[out]] = "x" if single else local[index]
            elif readers == [index + 1] and out not in self.model.outputs:
                mapping[self.names[out]] = "x"
            else:
                mapping[self.names[out]] = local[index]
        init: list[str] = []
        forward: list[str] = []
        for index, member in enumerate(members):
            if isinstance(member, Layer):
                code = self.records[member.name]
                init += relayout(rename(code.init, mapping, attributes), code.init)
                forward += relayout(rename(code.forward, mapping, attributes), code.forward)
                continue
            instances = member.instances if isinstance(member, Run) else (member,)
            first, last = instances[0], instances[-1]
            for instance in instances:
                self.attributes[instance.path] = local[index]
            if first.shares is not None:
                attribute = self.attributes[first.shares]
            else:
                attribute = local[index]
                made = self._construction(instances)
                init += statement(f"self.{attribute} = ", made, indent=2)
            source = mapping.get(self.names[first.input], self.names[first.input])
            target = mapping.get(self.names[last.output], self.names[last.output])
            output = self.model.layer(last.output)
            shape = torch_shape(output.output_shape, self.records[last.output].layout)
            forward += statement(f"{target} = ", f"self.{attribute}({source})", indent=2, comment=shape)
        last = members[-1]
        result = self.names[last.name if isinstance(last, Layer) else last.output]
        return init, forward, mapping.get(result, result), argument, mapping

    def _construction(self, instances: tuple[Instance, ...]) -> str | Call:
        made = [self.calls[instance.path] for instance in instances]
        if len(instances) == 1:
            return made[0]
        if len(set(made)) == 1:
            return f"nn.Sequential(*({made[0]} for _ in range({len(made)})))"
        return call("nn.Sequential", *(Raw(text) for text in made))  # exploded a call a line if too long

    def blocks(self, structure: Structure) -> None:
        """The classes, innermost blocks first: a block's code names the classes of the calls inside it."""
        instances = [instance for instance in structure.instances() if instance.shares is None]
        for height in sorted({_height(instance) for instance in instances}):
            level = [instance for instance in instances if _height(instance) == height]
            by_block: dict[str, list[Instance]] = {}
            for instance in level:
                by_block.setdefault(instance.block, []).append(instance)
            for block, calls in by_block.items():
                self._classes(block, calls)

    def _classes(self, block: str, calls: list[Instance]) -> None:
        rendered = [self.body(instance.members, instance.input, root=False) for instance in calls]
        written = [(*init, FORWARD, *forward, f"return {result}") for init, forward, result, *_ in rendered]
        bodies = with_defaults(written, CONVOLUTIONS, CONVOLUTION_DEFAULTS)
        for group in (part for shaped in variants(bodies) for part in _same_forward(bodies, shaped)):
            known = [
                *(
                    (_parameter(name, position, self.taken), [dict(calls[i].arguments)[name] for i in group])
                    for position, (name, value) in enumerate(calls[group[0]].arguments, 1)
                    if isinstance(value, int | float) and not isinstance(value, bool)
                ),
                ("in_channels", [_channels(calls[i]) for i in group]),
            ]
            common = generalize(
                [bodies[i] for i in group], [(n, v) for n, v in known if None not in v], written=written[group[0]]
            )
            name = class_name(block, self.taken)
            split = common.lines.index(FORWARD)
            init, forward, result = common.lines[:split], common.lines[split + 1 : -1], common.lines[-1]
            self.classes.append(
                BlockClass(name, _typed(common, known), init, forward, result[len("return ") :], rendered[group[0]][3])
            )
            for position, index in enumerate(group):
                arguments = ", ".join(literal(value) for value in common.arguments[position])
                self.calls[calls[index].path] = f"{name}({arguments})"


def _same_forward(bodies: list[tuple[str, ...]], group: list[int]) -> list[list[int]]:
    """The calls of `group` split by the code of their `forward`: a number there that differs between
    calls (a padding that depends on the input's size) is no constructor parameter, so each gets a class."""
    parts: dict[tuple[str, ...], list[int]] = {}
    for index in group:
        body = bodies[index]
        forward = body[body.index(FORWARD) :]
        parts.setdefault(tuple(line.partition("  # ")[0] for line in forward), []).append(index)
    return list(parts.values())


def _parameter(name: str, position: int, classes: set[str]) -> str:
    """A block parameter's name in the constructor: as written, unless Python or the code needs it."""
    if reserved_reason(name) is not None or name in classes or name == "in_channels" or name.startswith("size_"):
        return f"param_{position}"
    return name


def _channels(instance: Instance) -> int | None:
    size = instance.input_shape[-1] if instance.input_shape else None
    return size if isinstance(size, int) else None


def _typed(common, known) -> tuple[str, ...]:
    kinds = {name: ("float" if any(isinstance(v, float) for v in values) else "int") for name, values in known}
    return tuple(f"{name}: {kinds.get(name, 'int')}" for name in common.parameters)


def structured_module(
    model: Model, structure: Structure, records: dict[str, LayerCode], names: dict[str, str], taken: set[str]
) -> StructuredModule:
    """The model's module with a class per block, from the flat code's records."""
    builder = _Builder(model, records, names, taken)
    builder.blocks(structure)
    init, forward, _, _, mapping = builder.body(structure.members, None, root=True)
    results = ", ".join(mapping.get(names[output], names[output]) for output in model.outputs)
    return StructuredModule(tuple(builder.classes), tuple(init), tuple(forward), results, _paths(structure))


def _paths(structure: Structure) -> dict[str, str]:
    """Each layer's module in the structured model (`basic_1.0.conv2d_1`): verify copies weights by it."""
    paths: dict[str, str] = {}

    def visit(members: tuple[Member, ...], prefix: str, root: bool) -> None:
        local = _local_names(members, root)
        for index, member in enumerate(members):
            if isinstance(member, Layer):
                paths[member.name] = prefix + local[index]
                continue
            instances = member.instances if isinstance(member, Run) else (member,)
            for position, instance in enumerate(instances):
                if instance.shares is not None:
                    continue
                inner = prefix + local[index] + (f".{position}" if len(instances) > 1 else "") + "."
                visit(instance.members, inner, root=False)

    visit(structure.members, "", root=True)
    return paths
