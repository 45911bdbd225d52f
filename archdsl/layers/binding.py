"""Binding the written arguments of a layer to its schema.

"Positional words are read by kind" (LANGUAGE.md §3): a number fills the next
positional slot, dims fill the next dims slot, an activation word sets the
activation, same/valid the padding, and a flag word its flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from archdsl.common.diagnostics import Span, did_you_mean
from archdsl.layers.spec import ACTIVATIONS, BOOLEAN_WORDS, PADDINGS, REQUIRED, Arg, BindError, LayerSpec


class WrittenArg(Protocol):
    """A value as written (after block parameters were substituted) and where: the graph IR's arguments."""

    value: Any
    span: Span


class WrittenKeyword(WrittenArg, Protocol):
    name: str


Value = int | float | str | tuple
MAX_VALUE = 2**31 - 1  # what the frameworks can index


def show(value: Value) -> str:
    """A value as the user would write it."""
    if isinstance(value, tuple):
        return "x".join(show(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(spec: LayerSpec, arg: Arg, value: Value, span: Span) -> Any:
    where = f"{spec.name} {arg.name}"
    if arg.kind == "int":
        if not isinstance(value, int):
            raise BindError("A203", f"{where} must be a whole number, got {show(value)}", span=span)
        result: Any = value
    elif arg.kind == "float":
        if not isinstance(value, (int, float)):
            raise BindError("A203", f"{where} must be a number, got {show(value)}", span=span)
        result = float(value)
    elif arg.kind in ("dims", "shape"):
        parts = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(p, int) for p in parts):
            raise BindError("A203", f"{where} must be whole numbers such as 3 or 3x3, got {show(value)}", span=span)
        result = value if arg.kind == "dims" else tuple(parts)
    elif arg.kind == "activation":
        if value in ("none", "linear"):
            result = None
        elif value in ACTIVATIONS:
            result = value
        else:
            near = did_you_mean(str(value), ACTIVATIONS)
            raise BindError(
                "A203",
                f"unknown activation '{show(value)}' for {spec.name}",
                f"did you mean '{near}'?" if near else f"one of: {', '.join(ACTIVATIONS)}",
                span,
            )
    elif arg.kind == "padding":
        if value not in PADDINGS:
            raise BindError("A203", f"{where} must be 'same' or 'valid', got {show(value)}", span=span)
        result = value
    elif arg.kind == "bool":
        if value not in BOOLEAN_WORDS:
            raise BindError("A203", f"{where} must be true or false, got {show(value)}", span=span)
        result = BOOLEAN_WORDS[value]  # type: ignore[index]
    elif arg.kind == "axis":
        if not isinstance(value, int):
            raise BindError("A203", f"{where} must be a whole number, got {show(value)}", span=span)
        result = value
    elif arg.kind == "choice":
        if value not in arg.choices:
            raise BindError("A203", f"{where} must be one of {', '.join(arg.choices)}, got {show(value)}", span=span)
        result = value
    else:  # pragma: no cover - a table entry with a kind nobody reads
        raise AssertionError(f"unknown argument kind {arg.kind}")
    for n in result if isinstance(result, tuple) else (result,):
        if isinstance(n, (int, float)) and not isinstance(n, bool) and abs(n) > MAX_VALUE:
            raise BindError("A203", f"{where} is too large: {show(value)}", f"sizes are limited to {MAX_VALUE:,}", span)
    if arg.check is not None:
        problem = arg.check(result)
        if problem:
            raise BindError("A203", f"{where} {problem}, got {show(value)}", span=span)
    return result


def bind(
    spec: LayerSpec,
    positional: Sequence[WrittenArg],
    keywords: Sequence[WrittenKeyword],
    layer_span: Span,
    known_layers: Sequence[str] = (),
) -> tuple[Mapping[str, Any], list[BindError]]:
    """The complete configuration of one layer, and every problem with what was written."""
    errors: list[BindError] = []
    values: dict[str, Any] = {}
    given_at: dict[str, Span] = {}
    slots = spec.positional_args

    def assign(arg: Arg, value: Value, span: Span) -> None:
        if arg.name in given_at:
            errors.append(BindError("A206", f"{spec.name} {arg.name} is given twice", "remove one of them", span))
            return
        try:
            values[arg.name] = _coerce(spec, arg, value, span)
            given_at[arg.name] = span
        except BindError as error:
            errors.append(error)
            given_at[arg.name] = span

    for written in positional:
        value, span = written.value, written.span
        if isinstance(value, str):
            _bind_word(spec, value, span, assign, errors, known_layers)
            continue
        wants_dims = isinstance(value, tuple)
        for slot in slots:
            if slot.name not in given_at and (not wants_dims or slot.kind in ("dims", "shape")):
                break
        else:
            taken = ", ".join(a.name for a in slots) or "no positional numbers"
            kind = "dims" if wants_dims else "number"
            errors.append(
                BindError(
                    "A204",
                    f"{spec.name} does not take another {kind} here: {show(value)}",
                    f"{spec.name} reads its positional numbers as: {taken}; name the argument with key=value"
                    if slots
                    else f"{spec.name} takes no positional numbers",
                    span,
                )
            )
            continue
        assign(slot, value, span)

    for keyword in keywords:
        name, value, span = keyword.name, keyword.value, keyword.span
        arg = spec.arg_index.get(name)
        if arg is None:
            near = did_you_mean(name, spec.arg_index)
            choices = ", ".join(spec.arg_index) or "none"
            errors.append(
                BindError(
                    "A202",
                    f"{spec.name} has no argument '{name}'",
                    f"did you mean '{near}'?" if near else f"its arguments are: {choices}",
                    span,
                )
            )
            continue
        assign(arg, value, span)

    for arg in spec.args:
        if arg.name in values or arg.name in given_at:
            continue
        if arg.default is REQUIRED:
            example = spec.example or f"{spec.name} {arg.name}=..."
            errors.append(BindError("A205", f"{spec.name} needs {arg.name}", f"for example: {example}", layer_span))
            continue
        values[arg.name] = arg.default
    return MappingProxyType(values), errors


def _bind_word(spec, word, span, assign, errors, known_layers) -> None:
    activation = spec.arg_index.get("activation")
    padding = spec.arg_index.get("padding")
    if word in spec.flags:
        assign(spec.arg_index[word], "true", span)
    elif activation is not None and (word in ACTIVATIONS or word in ("none", "linear")):
        assign(activation, word, span)
    elif padding is not None and word in PADDINGS:
        assign(padding, word, span)
    else:
        words = spec.words()
        near = did_you_mean(word, words)
        if word in known_layers:
            hint = f"did you forget '->' before '{word}'?"
        elif near:
            hint = f"did you mean '{near}'?"
        elif words:
            hint = f"{spec.name} understands the words: {', '.join(dict.fromkeys(words))}"
        else:
            hint = f"{spec.name} takes no words"
        errors.append(BindError("A211", f"{spec.name} does not understand '{word}'", hint, span))
