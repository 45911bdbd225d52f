"""A block's code, once, from the code of its calls: what both targets do to write a model as it was written.

Built around the flat code, never beside it: each layer's lines are the ones its emitter
wrote for the flat model (so verify's proof carries over), renamed into the names of the
block that holds it (`conv2d_1` is the first conv2d of the block); the calls of a block that
compute the same function share one piece of code, with the numbers that differ between them
as its parameters (see generalize.py). What a block becomes (an nn.Module subclass, a
function) and how it is called is each target's: a subclass of `BlockWriter` says.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from archdsl.frontend.names import reserved_reason
from archdsl.ir.model import Layer, Model
from archdsl.ir.structure import Instance, Member, Run, Structure
from archdsl.targets.common import LayerCode, Note
from archdsl.targets.generalize import Generalized, generalize, joined, variants, with_defaults


def class_name(block: str, taken: set[str]) -> str:
    """`vgg_stage` -> `VggStage`; a name the file already uses, or one Python keeps, gets a number.

    Block names are not checked as layer names are (they never reached code before): one that
    would not make a safe name becomes `Block`.
    """
    base = "".join(part[:1].upper() + part[1:] for part in block.split("_") if part)
    return unique_name(base if reserved_reason(base) is None else "Block", taken)


def function_name(block: str, taken: set[str]) -> str:
    """A block's function: its own name, unless Python, the file or a layer's variable has it."""
    return unique_name(block if reserved_reason(block) is None else "block", taken)


def unique_name(base: str, taken: set[str]) -> str:
    name, number = base, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    taken.add(name)
    return name


def local_names(members: tuple[Member, ...], root: bool) -> dict[int, str]:
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


def paths(structure: Structure) -> dict[str, str]:
    """Each layer's place in the structured code (`basic_1.0.conv2d_1`): its PyTorch module's path and
    its Keras layer's name, by which verify copies weights."""
    found: dict[str, str] = {}

    def visit(members: tuple[Member, ...], prefix: str, root: bool) -> None:
        local = local_names(members, root)
        for index, member in enumerate(members):
            if isinstance(member, Layer):
                found[member.name] = prefix + local[index]
                continue
            instances = member.instances if isinstance(member, Run) else (member,)
            for position, instance in enumerate(instances):
                if instance.shares is not None:
                    continue
                inner = prefix + local[index] + (f".{position}" if len(instances) > 1 else "") + "."
                visit(instance.members, inner, root=False)

    visit(structure.members, "", root=True)
    return found


def _repeats(structure: Structure) -> dict[tuple[str, ...], tuple[str, ...]]:
    """The calls of a `* N` whose code is, for certain, that of the second call of their run: each
    reads only the output of the call before, in the layout the block itself gives, so 5,000 calls
    cost two bodies, not 5,000 to be compared. (The first call may differ: its input may be read
    elsewhere, which decides in-place activations, or come in another layout.)"""
    found: dict[tuple[str, ...], tuple[str, ...]] = {}
    for members in (structure.members, *(instance.members for instance in structure.instances())):
        for run in (member for member in members if isinstance(member, Run)):
            second = run.instances[1]
            for instance in run.instances[2:]:
                if _as_names(instance) == _as_names(second):
                    found[instance.path] = second.path
    return found


def _as_names(instance: Instance) -> tuple[str, ...]:
    """The names a call's code keeps as the model has them (`as` names, which differ from call to
    call: `act_1`, `act_2`): calls of a block whose code is the same also have these the same."""
    found: list[str] = []
    for members in _nested_members(instance):
        names = local_names(members, root=False)
        found += [names[index] for index, member in enumerate(members) if names[index] == _own_name(member)]
    return tuple(found)


def _nested_members(instance: Instance) -> list[tuple[Member, ...]]:
    found = [instance.members]
    for member in instance.members:
        for nested in member.instances if isinstance(member, Run) else (member,):
            if isinstance(nested, Instance):
                found += _nested_members(nested)
    return found


def _own_name(member: Member) -> str:
    return member.name if isinstance(member, Layer) else (member.first if isinstance(member, Run) else member).label


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


def parameter_name(name: str, position: int, taken: set[str]) -> str:
    """A block parameter's name in the code: as written, unless Python or the code needs it."""
    if (
        reserved_reason(name) is not None
        or name in taken
        or name in ("in_channels", "name")
        or name.startswith("size_")
    ):
        return f"param_{position}"
    return name


def _channels(instance: Instance) -> int | None:
    size = instance.input_shape[-1] if instance.input_shape else None
    return size if isinstance(size, int) else None


def typed_parameters(common: Generalized, known: Sequence[tuple[str, Sequence[object]]]) -> tuple[str, ...]:
    kinds = {name: ("float" if any(isinstance(v, float) for v in values) else "int") for name, values in known}
    return tuple(f"{name}: {kinds.get(name, 'int')}" for name in common.parameters)


def blocks_note(made: str, repeated: str, paths: dict[str, str], members: Sequence[tuple[str, LayerCode]]) -> Note:
    """What a target made of the blocks (`made`, with a `{path}` of this model's), and of `* N` when
    the model repeats a call (`repeated`): told with the code's own names."""
    nested = next(path for path in paths.values() if "." in path)
    text = made.format(path=nested)
    if any(" * " in code.type for _, code in members):
        text += f"; {repeated}"
    return Note("Blocks", text + ".")


class BlockWriter:
    """The code of one model's blocks, made innermost first, and the lines that call them.

    A target fills in what its lines look like: `layer_lines` (one layer in a block's names),
    `call_lines` (the statement that runs a block call), `comparable` and `split` (which calls can
    share one piece of code) and `unit` (the class or function made for them).
    """

    # The calls whose leaving out of a default (`stride=2` in one call of a block, nothing in another)
    # would keep two calls from one piece of code, and those defaults (see generalize.with_defaults).
    DEFAULTED: re.Pattern = re.compile(r"$^")
    DEFAULTS: dict[str, str] = {}

    def __init__(self, model: Model, records: dict[str, LayerCode], names: dict[str, str], taken: set[str]):
        self.model = model
        self.records = records
        self.names = names  # each layer's variable in the flat code
        self.taken = taken
        self.calls: dict[tuple[str, ...], object] = {}  # an instance's path -> how the target calls its code
        self.units: list[object] = []
        self.unit_names: list[tuple[str, str]] = []  # (block, the name of its class or function)
        self.members: list[tuple[str, LayerCode]] = []  # the model's own, as its code writes them
        self.attributes: dict[tuple[str, ...], str] = {}  # an instance's path -> its name in its holder
        self.layers = {layer.name: layer for layer in model.layers}
        self.held = Counter(names.values())  # how many tensors each variable of the flat code holds
        self.same_as: dict[tuple[str, ...], tuple[str, ...]] = {}  # a call -> the call whose code it has

    # -- what each target says -------------------------------------------------------------------

    def layer_lines(
        self, code: LayerCode, mapping: dict[str, str], layers: dict[str, str], root: bool
    ) -> tuple[list[str], list[str]]:
        """One layer's construction and application lines, in the names of the block that holds it:
        `mapping` renames variables, `layers` the block's layers (`conv2d_5` -> `conv2d_1`)."""
        raise NotImplementedError

    def call_lines(
        self, instances: tuple[Instance, ...], name: str, source: str, target: str, root: bool
    ) -> tuple[list[str], list[str]]:
        """The lines that make (if the target makes anything) and run a block call, or a Run of them."""
        raise NotImplementedError

    def comparable(self, init: list[str], forward: list[str], result: str) -> tuple[str, ...]:
        """A call's code as one sequence of lines, for comparing with the other calls of its block."""
        raise NotImplementedError

    def split(self, bodies: list[tuple[str, ...]], group: list[int]) -> list[list[int]]:
        """Calls whose code has the same shape, split further where one piece of code cannot serve."""
        return [group]

    def sizes(self, argument: str, channels: list[int | None]) -> tuple[list, list]:
        """How the code of a block may write the size of its input's last axis: as a parameter the
        call passes (PyTorch's `in_channels`), or as an expression of the input itself."""
        return [("in_channels", channels)], []

    def unit(self, block: str, common: Generalized, known, argument: str) -> tuple[object, str]:
        """The class or function for calls with `common` code, and its name."""
        raise NotImplementedError

    # -- the same for both -----------------------------------------------------------------------

    def body(self, members: tuple[Member, ...], entering: str | None, root: bool):
        """The lines of one block (or of the model) in its own names; its result's variable."""
        local = local_names(members, root)
        mapping: dict[str, str] = {}  # the flat code's variables -> this block's
        readers_of: dict[str, list[int]] = {}  # a tensor -> the members that read it, in order
        for index, member in enumerate(members):
            for name in _reads(member):
                readers_of.setdefault(name, []).append(index)
        argument = "x"
        if entering is not None:
            # Inside a block, the flat code's names (which depend on who reads a tensor outside
            # it too) give way to the block's own: the input is `x` when only the first member
            # reads it, once; a member's output is `x` when only the next member reads it, once,
            # and the result is `x` when one statement makes it. The same in every call.
            argument = "x" if readers_of.get(entering) == [0] else "inputs"
            mapping[self.names[entering]] = argument
        for index, member in enumerate(members):
            out = member.name if isinstance(member, Layer) else member.output
            if self.names[out] != out and (entering is None or self.held[self.names[out]] > 1):
                continue  # `x`, or a layer that computes nothing and passes on another's variable
            readers = readers_of.get(out, [])
            if index == len(members) - 1 and entering is not None:
                made_by = self.records[out].forward if isinstance(member, Layer) else ("out = call",)
                single = len([line for line in made_by if " = " in line]) == 1
                mapping[self.names[out]] = "x" if single else local[index]
            elif readers == [index + 1] and out not in self.model.outputs:
                mapping[self.names[out]] = "x"
            else:
                mapping[self.names[out]] = local[index]
        layers = {member.name: local[index] for index, member in enumerate(members) if isinstance(member, Layer)}
        init: list[str] = []
        forward: list[str] = []
        for index, member in enumerate(members):
            if isinstance(member, Layer):
                made, applied = self.layer_lines(self.records[member.name], mapping, layers, root)
            else:
                instances = member.instances if isinstance(member, Run) else (member,)
                first, last = instances[0], instances[-1]
                for instance in instances:
                    self.attributes[instance.path] = local[index]
                source = mapping.get(self.names[first.input], self.names[first.input])
                target = mapping.get(self.names[last.output], self.names[last.output])
                made, applied = self.call_lines(instances, local[index], source, target, root)
            init += made
            forward += applied
            if root:
                self.members.append(self._member(member, local[index], made, applied))
        last = members[-1]
        result = self.names[last.name if isinstance(last, Layer) else last.output]
        return init, forward, mapping.get(result, result), argument, mapping

    def _member(self, member: Member, local: str, init: list[str], forward: list[str]) -> tuple[str, LayerCode]:
        if isinstance(member, Layer):
            code = self.records[member.name]
            return member.name, LayerCode(member.name, member.type, tuple(init), tuple(forward), (), code.layout)
        instances = member.instances if isinstance(member, Run) else (member,)
        kind = instances[0].block + (f" * {len(instances)}" if len(instances) > 1 else "")
        layout = self.records[member.output].layout
        return member.output, LayerCode(local, kind, tuple(init), tuple(forward), (), layout)

    def write(self, structure: Structure) -> None:
        """The code of every block, innermost first: a block's code names the code of the calls inside it."""
        instances = [instance for instance in structure.instances() if instance.shares is None]
        self.same_as = _repeats(structure)
        for height in sorted({_height(instance) for instance in instances}):
            level = [instance for instance in instances if _height(instance) == height]
            by_block: dict[str, list[Instance]] = {}
            for instance in level:
                by_block.setdefault(instance.block, []).append(instance)
            for block, calls in by_block.items():
                self._units(block, calls)

    def _units(self, block: str, every_call: list[Instance]) -> None:
        calls = [instance for instance in every_call if instance.path not in self.same_as]
        rendered = [self.body(instance.members, instance.input, root=False) for instance in calls]
        written = [self.comparable(init, forward, result) for init, forward, result, *_ in rendered]
        bodies = with_defaults([tuple(joined(body)) for body in written], self.DEFAULTED, self.DEFAULTS)
        for group in (part for shaped in variants(bodies) for part in self.split(bodies, shaped)):
            known = [
                *(
                    (parameter_name(name, position, self.taken), [dict(calls[i].arguments)[name] for i in group])
                    for position, (name, value) in enumerate(calls[group[0]].arguments, 1)
                    if isinstance(value, int | float) and not isinstance(value, bool)
                ),
            ]
            parameters, derived = self.sizes(rendered[group[0]][3], [_channels(calls[i]) for i in group])
            known = [(name, values) for name, values in [*known, *parameters] if None not in values]
            derived = [(name, values) for name, values in derived if None not in values]
            common = generalize([bodies[i] for i in group], known, written=written[group[0]], derived=derived)
            made, name = self.unit(block, common, known, rendered[group[0]][3])
            self.units.append(made)
            self.unit_names.append((block, name))
            for position, index in enumerate(group):
                self.calls[calls[index].path] = (name, common.arguments[position])
        for instance in every_call:
            if instance.path in self.same_as:
                self.calls[instance.path] = self.calls[self.same_as[instance.path]]
