"""The structure a model was written in: which layers make up each block call.

The checked model is flat, so that shapes, parameters and the weight transfer see every layer
alike. The generated code should still read as the spec was written, with a class or a function
per block: this pass recovers the block calls from each layer's `scope` and `called_from`, and
says which calls are the same computation (same block, same arguments, same input shape), so
that one piece of code can serve them all, and which follow each other from one `* N`.

A block call becomes a unit of code only when it is one: a tensor goes in, one comes out of its
last layer, and its weights are its own or all those of another call (`use NAME`). A model
whose calls are not all such units has no structure here, and the targets write it flat.
The check table asks less (`calls`): which layers each call holds, read from their scopes,
which every model has, so that its block rows and subtotals never depend on the code's form.
"""

from __future__ import annotations

from collections import Counter

from archdsl.common.diagnostics import Span
from archdsl.common.record import record
from archdsl.ir.graph import ArgValue, CallSite
from archdsl.ir.model import Layer, Model
from archdsl.layers.shapes import EXAMPLE_SIZE, Shape
from archdsl.layers.spec import Params


@record
class Instance:
    """One block call, expanded: its layers and the calls inside it (`members`, in order).

    `label` is the call's name in the checked model (its `as` name or `{block}_{n}`), `path`
    the labels of the calls around it and its own, outermost first. `shares` is the path of
    the call whose weights this one applies again (`use NAME`).
    """

    label: str
    block: str
    arguments: tuple[tuple[str, ArgValue], ...]
    call: Span
    path: tuple[str, ...]
    members: tuple[Member, ...]
    layers: tuple[Layer, ...]
    input: str
    input_shape: Shape
    shares: tuple[str, ...] | None = None

    @property
    def output(self) -> str:
        """The layer whose output leaves the call: its last."""
        return self.layers[-1].name

    @property
    def key(self) -> tuple:
        """Calls with the same key compute the same function of their input, with weights of their own."""
        return (self.block, self.arguments, self.input_shape)


@record
class Run:
    """Consecutive identical calls written once with `* N`: each reads the output of the one before."""

    instances: tuple[Instance, ...]

    @property
    def first(self) -> Instance:
        return self.instances[0]

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for instance in self.instances for layer in instance.layers)

    @property
    def input(self) -> str:
        return self.instances[0].input

    @property
    def output(self) -> str:
        return self.instances[-1].output


Member = Layer | Instance | Run


@record
class Structure:
    """A model as written: its own layers and its block calls, each call with its members."""

    members: tuple[Member, ...]

    def instances(self) -> tuple[Instance, ...]:
        """Every call, outer ones before the calls inside them."""
        found: list[Instance] = []

        def visit(members: tuple[Member, ...]) -> None:
            for member in members:
                for instance in member.instances if isinstance(member, Run) else (member,):
                    if isinstance(instance, Instance):
                        found.append(instance)
                        visit(instance.members)

        visit(self.members)
        return tuple(found)


@record
class Call:
    """One block call as its layers' scopes give it: its path (the labels of the calls around it
    and its own, outermost first), where it is written, and every layer inside it, nested calls
    included. `shares` is the path of the call whose weights all of its weights are (`use NAME`)."""

    path: tuple[str, ...]
    site: CallSite
    layers: tuple[Layer, ...]
    shares: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        return self.path[-1]

    @property
    def block(self) -> str:
        return self.site.block

    @property
    def depth(self) -> int:
        """0 for a call the model makes itself, 1 for a call inside one of those, and so on."""
        return len(self.path) - 1

    @property
    def output(self) -> Layer:
        """The layer whose output leaves the call: its last."""
        return self.layers[-1]

    @property
    def params(self) -> Params:
        """Its layers' counts; a shared layer counts 0, as in the model's totals, so subtotals add up to them."""
        return sum((layer.params for layer in self.layers), Params())

    def macs(self, size: int = EXAMPLE_SIZE) -> int:
        return sum(layer.macs(size) for layer in self.layers)


def calls(model: Model) -> tuple[Call, ...]:
    """Every block call of `model`, each before the calls inside it, in the order of their first layers."""
    layers: dict[tuple[str, ...], list[Layer]] = {}
    sites: dict[tuple[str, ...], CallSite] = {}
    for layer in model.layers:
        for depth, site in enumerate(layer.called_from):
            path = layer.scope[: depth + 1]
            layers.setdefault(path, []).append(layer)
            sites.setdefault(path, site)
    scopes = {layer.name: layer.scope for layer in model.layers}
    return tuple(
        Call(path, sites[path], tuple(members), _shared_call(path, members, scopes)) for path, members in layers.items()
    )


def _shared_call(
    path: tuple[str, ...], layers: list[Layer], scopes: dict[str, tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The one other call every weight of this call belongs to, when it has weights and none of its own."""
    weighted = [layer for layer in layers if layer.shares is not None or layer.params.keras or layer.params.torch]
    if not weighted or any(layer.shares is None for layer in weighted):
        return None
    owners = {scopes[layer.shares][: len(path)] for layer in weighted if layer.shares is not None}
    if len(owners) != 1:
        return None
    (owner,) = owners
    return owner if len(owner) == len(path) and owner != path else None


class _NotUnits(Exception):
    """A block call that is not a unit of code (several tensors in or out, weights shared across it)."""


def structure(model: Model) -> Structure | None:
    """The block calls of `model`; None when it has none or they cannot each become a unit of code."""
    if not any(layer.scope for layer in model.layers):
        return None
    readers = Counter(name for layer in model.layers for name in layer.inputs)
    readers.update(model.outputs)
    try:
        shapes = {given.name: given.shape for given in model.inputs} | {
            layer.name: layer.output_shape for layer in model.layers
        }  # by name, once: a model may make thousands of calls
        members = _members(shapes, model.layers, 0, readers, built := [])
        _check_sharing(model, tuple(built))
    except _NotUnits:
        return None
    originals = {instance.shares for instance in built if instance.shares is not None}
    return Structure(_split_runs(members, originals))


def _split_runs(members: tuple[Member, ...], originals: set[tuple[str, ...]]) -> tuple[Member, ...]:
    """A call that another applies again keeps a name of its own: it leaves its Run."""
    result: list[Member] = []
    for member in members:
        if isinstance(member, Run) and any(instance.path in originals for instance in member.instances):
            result.extend(member.instances)
        else:
            result.append(member)
    return tuple(result)


def _members(
    shapes: dict[str, Shape], layers: tuple[Layer, ...], depth: int, readers: Counter, built: list[Instance]
) -> tuple[Member, ...]:
    members: list[Member] = []
    index = 0
    seen: set[str] = set()
    while index < len(layers):
        layer = layers[index]
        if len(layer.scope) <= depth:
            members.append(layer)
            index += 1
            continue
        label = layer.scope[depth]
        if label in seen:
            raise _NotUnits(label)  # its layers are not contiguous
        seen.add(label)
        end = index
        while end < len(layers) and len(layers[end].scope) > depth and layers[end].scope[depth] == label:
            end += 1
        members.append(_instance(shapes, layers[index:end], depth, readers, built))
        index = end
    return _runs(members, depth, readers)


def _instance(
    shapes: dict[str, Shape], layers: tuple[Layer, ...], depth: int, readers: Counter, built: list[Instance]
) -> Instance:
    produced = {layer.name for layer in layers}
    entering = {name for layer in layers for name in layer.inputs if name not in produced}
    if len(entering) != 1:
        raise _NotUnits(layers[0].scope[depth])
    read_inside = Counter(name for layer in layers for name in layer.inputs)
    for layer in layers:
        leaves = readers[layer.name] - read_inside[layer.name]
        if (leaves > 0) != (layer is layers[-1]) or layer.returns_state:
            raise _NotUnits(layers[0].scope[depth])  # read from outside, or not the last
        if layer.state_from is not None and layer.state_from not in produced:
            raise _NotUnits(layers[0].scope[depth])
    site = layers[0].called_from[depth]
    (name,) = entering
    original = _original(layers, built)
    instance = Instance(
        label=layers[0].scope[depth],
        block=site.block,
        arguments=site.arguments,
        call=site.span,
        path=layers[0].scope[: depth + 1],
        members=_members(shapes, layers, depth + 1, readers, built),
        layers=layers,
        input=name,
        input_shape=shapes[name],
        shares=original.path if original is not None else None,
    )
    built.append(instance)
    return instance


def _runs(members: list[Member], depth: int, readers: Counter) -> tuple[Member, ...]:
    """Consecutive calls from the same `* N`, with the same key, each reading the last: one Run."""
    grouped: list[Member] = []
    for member in members:
        previous = grouped[-1] if grouped else None
        last = previous.instances[-1] if isinstance(previous, Run) else previous
        if (
            isinstance(member, Instance)
            and isinstance(last, Instance)
            and member.call == last.call
            and member.key == last.key
            and member.input == last.output
            and readers[last.output] == sum(layer.inputs.count(last.output) for layer in member.layers)
            and member.shares is None
            and last.shares is None
        ):
            grouped[-1] = Run((*previous.instances, member) if isinstance(previous, Run) else (last, member))
        else:
            grouped.append(member)
    return tuple(grouped)


def _check_sharing(model: Model, instances: tuple[Instance, ...]) -> None:
    """A layer may share the weights of a layer in its own call, or its whole call those of another call."""
    scopes = {layer.name: layer.scope for layer in model.layers}
    copies = [(instance.path, instance.shares) for instance in instances if instance.shares is not None]
    if any(copy[:-1] != original[:-1] for copy, original in copies):
        raise _NotUnits(copies[0][0][-1])  # the code calls the original's module: it must be in reach
    for layer in model.layers:
        if layer.shares is None or scopes[layer.shares] == layer.scope:
            continue
        if not any(
            layer.scope[: len(copy)] == copy and scopes[layer.shares][: len(original)] == original
            for copy, original in copies
        ):
            raise _NotUnits(layer.name)


def _original(instance_layers: tuple[Layer, ...], built: list[Instance]) -> Instance | None:
    """The earlier call whose weights these layers apply again, when they share outside themselves."""
    own = {layer.name for layer in instance_layers}
    outside = [layer.shares for layer in instance_layers if layer.shares is not None and layer.shares not in own]
    if not outside:
        return None
    for other in built:
        if outside[0] in {layer.name for layer in other.layers} and _copies(instance_layers, other.layers):
            return other
    raise _NotUnits(instance_layers[0].name)


def _copies(copy: tuple[Layer, ...], original: tuple[Layer, ...]) -> bool:
    """`copy` applies `original` again: layer for layer the same types, every weighted one shared."""
    if len(copy) != len(original):
        return False
    for mine, theirs in zip(copy, original, strict=True):
        owner = theirs.shares or theirs.name
        if mine.type != theirs.type or (mine.shares is not None and mine.shares != owner):
            return False
        if (theirs.params.keras or theirs.params.torch) and mine.shares != owner:
            return False
    return True
