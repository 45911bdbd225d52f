"""`record`: the frozen, slotted dataclass that the syntax tree, the IR and the diagnostics are made of.

Why not `@dataclass(frozen=True, slots=True)` as it stands: for a frozen class, dataclasses
writes `__init__` as one `object.__setattr__(self, name, value)` per field, which makes an
object four times dearer to build than an unfrozen one; checking a spec of a hundred layers
builds a few thousand of them, and that was a sixth of `archdsl.parse`. `record` keeps
everything dataclasses gives (fields, eq, hash, repr, `replace`, pickling, and
FrozenInstanceError on assignment) and swaps only `__init__`, for one with the same signature
and defaults that stores each field straight into its slot: half the cost.

A class that needs more than fields (`__post_init__`, `init=False` or keyword-only fields)
keeps the `__init__` dataclasses wrote; `tests/test_record.py` holds every record to the
signature dataclasses would give it.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import TypeVar

T = TypeVar("T")


class _Factory:
    """The default of a field with a default factory, shown as dataclasses shows it."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def record(cls: type[T]) -> type[T]:
    """`@dataclass(frozen=True, slots=True)`, built faster."""
    made = dataclass(frozen=True, slots=True)(cls)
    init = _slot_init(made)
    if init is not None:
        made.__init__ = init  # type: ignore[misc]
    return made


def _slot_init(cls: type) -> object | None:
    """An `__init__` that sets the slots through their descriptors, or None where it cannot."""
    if hasattr(cls, "__post_init__"):
        return None
    namespace: dict[str, object] = {"FACTORY": _FACTORY}
    parameters: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields(cls)):
        if not field.init or field.kw_only:
            return None
        setter = f"_set_{index}"
        namespace[setter] = getattr(cls, field.name).__set__
        name = field.name
        if field.default is not MISSING:
            namespace[f"_default_{index}"] = field.default
            parameters.append(f"{name}=_default_{index}")
            body.append(f"{setter}(self, {name})")
        elif field.default_factory is not MISSING:
            namespace[f"_factory_{index}"] = field.default_factory
            parameters.append(f"{name}=FACTORY")
            body.append(f"{setter}(self, _factory_{index}() if {name} is FACTORY else {name})")
        else:
            parameters.append(name)
            body.append(f"{setter}(self, {name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n    " + ("\n    ".join(body) or "pass") + "\n"
    exec(source, namespace)  # noqa: S102 - code made from the field names of our own classes
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    init.__module__ = cls.__module__
    return init
