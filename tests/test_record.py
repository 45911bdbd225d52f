"""`record` keeps what `@dataclass(frozen=True, slots=True)` gives, with a faster `__init__`."""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import pkgutil
from dataclasses import FrozenInstanceError, dataclass, field, fields, is_dataclass, replace

import pytest

import archdsl
from archdsl.common.record import record


def _records() -> list[type]:
    """Every class in the package built with `record`."""
    found = []
    for info in pkgutil.walk_packages(archdsl.__path__, "archdsl."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and is_dataclass(value)
                and value.__dataclass_params__.frozen
            ):
                found.append(value)
    return found


RECORDS = _records()


def _as_dataclasses_would(cls: type) -> type:
    """The same fields through dataclasses alone: the signature `record` must keep."""
    namespace = {"__annotations__": dict(cls.__annotations__)}
    for f in fields(cls):
        namespace[f.name] = field(default=f.default, default_factory=f.default_factory, init=f.init)
    return dataclass(frozen=True, slots=True)(type(cls.__name__, (), namespace))


def test_the_package_has_records() -> None:
    names = {cls.__name__ for cls in RECORDS}
    assert {"Span", "Diagnostic", "Layer", "Model", "Number", "Chain"} <= names


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_record_keeps_the_signature_dataclasses_would_give(cls: type) -> None:
    ours = inspect.signature(cls.__init__)
    theirs = inspect.signature(_as_dataclasses_would(cls).__init__)
    assert [(p.name, p.kind, repr(p.default)) for p in ours.parameters.values()] == [
        (p.name, p.kind, repr(p.default)) for p in theirs.parameters.values()
    ]


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


def test_a_record_builds_with_defaults_and_fresh_factories() -> None:
    a, b = Point(1), Point(1)
    assert (a.x, a.y, a.tags) == (1, 0, [])
    assert a.tags is not b.tags
    assert Point(1, 2, ["t"]) == Point(x=1, y=2, tags=["t"])
    assert "__init__" in Point.__init__.__qualname__ and Point.__init__.__qualname__.startswith("Point")
    with pytest.raises(TypeError):
        Point()  # x is required
    with pytest.raises(TypeError):
        Point(1, z=3)


def test_a_record_is_frozen_hashable_and_copyable() -> None:
    p = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):  # slots: no new attributes (TypeError: CPython 3.11's dataclasses)
        p.z = 5  # type: ignore[attr-defined]
    assert replace(p, y=7) == Point(1, 7)
    assert pickle.loads(pickle.dumps(p)) == p
    assert copy.deepcopy(p) == p
    assert repr(p) == "Point(x=1, y=2, tags=[])"
    assert hash(archdsl.Span("f", 1, 2, 3, 4)) == hash(archdsl.Span("f", 1, 2, 3, 4))


def test_a_record_with_post_init_keeps_the_dataclasses_init() -> None:
    seen = []

    @record
    class Checked:
        value: int

        def __post_init__(self) -> None:
            seen.append(self.value)

    Checked(3)
    assert seen == [3]


def test_the_classes_built_in_bulk_store_through_their_slots() -> None:
    """The point of `record`: the hot classes do not fall back to dataclasses' frozen __init__."""
    from archdsl.common.diagnostics import Span
    from archdsl.frontend import nodes
    from archdsl.ir.graph import GraphNode
    from archdsl.ir.model import Layer
    from archdsl.layers.spec import Params

    for cls in (Span, nodes.Number, nodes.Word, nodes.Layer, nodes.Chain, GraphNode, Layer, Params):
        assert "_set_0" in cls.__init__.__code__.co_names, cls
