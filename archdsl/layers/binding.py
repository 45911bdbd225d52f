"""Binding the written arguments of a layer to its schema.

"Positional words are read by kind" (LANGUAGE.md §3): a number fills the next
positional slot, dims fill the next dims slot, an activation word sets the
activation, same/valid the padding, and a flag word its flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from archdsl.common.diagnostics import Fix, Span, did_you_mean
from archdsl.layers.shapes import format_pads
from archdsl.layers.spec import (
    ACTIVATIONS,
    BOOLEAN_WORDS,
    CAUSAL,
    NO_ACTIVATION,
    REQUIRED,
    Arg,
    BindError,
    LayerSpec,
)
from archdsl.layers.spellings import argument_spelled, layer_spelled


class WrittenArg(Protocol):
    """A value as written (after block parameters were substituted) and where: the graph IR's arguments."""

    value: Any
    span: Span


class WrittenKeyword(WrittenArg, Protocol):
    name: str
    value_span: Span | None


Value = int | float | str | tuple
MAX_VALUE = 2**31 - 1  # what the frameworks can index
DIMS_KINDS = ("dims", "shape", "pads", "floats")  # the kinds that take a dims literal


def show(value: Value) -> str:
    """A value as the user would write it: pads per axis (`zeropad`, `crop`) as `0x1 0x1`."""
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) for v in value):
        return format_pads(value)
    if isinstance(value, tuple):
        return "x".join(show(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce(spec: LayerSpec, arg: Arg, value: Value, span: Span, value_span: Span | None) -> Any:
    """The value read as the argument's kind; errors point at `span`, fixes rewrite `value_span`."""
    where = f"{spec.name} {arg.name}"
    if arg.kind == "int":
        if not isinstance(value, int):
            raise BindError("A203", f"{where} must be a whole number, got {show(value)}", span=span)
        result: Any = value
    elif arg.kind == "float":
        if not isinstance(value, (int, float)):
            raise BindError("A203", f"{where} must be a number, got {show(value)}", span=span)
        result = float(value)
    elif arg.kind == "floats":
        parts = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in parts):
            raise BindError(
                "A203",
                f"{where} must be a number, or one per channel such as 0.5x0.4x0.4, got {show(value)}",
                span=span,
            )
        result = tuple(float(p) for p in parts) if isinstance(value, tuple) else float(value)  # type: ignore[arg-type]
    elif arg.kind in ("dims", "shape", "pads"):
        parts = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(p, int) for p in parts):
            raise BindError("A203", f"{where} must be whole numbers such as 3 or 3x3, got {show(value)}", span=span)
        result = tuple(parts) if arg.kind == "shape" else value
    elif arg.kind == "activation":
        if value in NO_ACTIVATION:
            result = None
        elif value in ACTIVATIONS:
            result = value
        else:
            near = activation_spelled(str(value))
            raise BindError(
                "A203",
                f"unknown activation '{show(value)}' for {spec.name}",
                f"did you mean '{near}'?" if near else f"one of: {', '.join(ACTIVATIONS)}",
                span,
                _rewrite(value_span, near),
            )
    elif arg.kind == "padding":
        if value not in arg.choices:
            error = _not_one_of(
                f"{where} must be {_either(arg.choices)}, got {show(value)}", value, arg.choices, span, value_span
            )
            if value == CAUSAL:
                error.hint = CAUSAL_ONLY
            raise error
        result = value
    elif arg.kind == "bool":
        if value not in BOOLEAN_WORDS:
            raise _not_one_of(
                f"{where} must be true or false, got {show(value)}", value, BOOLEAN_WORDS, span, value_span
            )
        result = BOOLEAN_WORDS[value]  # type: ignore[index]
    elif arg.kind == "axis":
        if not isinstance(value, int):
            raise BindError("A203", f"{where} must be a whole number, got {show(value)}", span=span)
        result = value
    elif arg.kind == "choice":
        if value not in arg.choices:
            raise _not_one_of(
                f"{where} must be one of {', '.join(arg.choices)}, got {show(value)}",
                value,
                arg.choices,
                span,
                value_span,
            )
        result = value
    elif arg.kind == "ref":
        # A reference never reaches binding: expansion takes `init=@name` as the layer's state.
        raise BindError(
            "A213",
            f"{where} takes a reference to a recurrent layer, got {show(value)}",
            f"write {arg.name}=@NAME, where NAME was given with 'as NAME' to an lstm, gru or rnn before",
            span,
        )
    else:  # pragma: no cover - a table entry with a kind nobody reads
        raise AssertionError(f"unknown argument kind {arg.kind}")
    for n in result if isinstance(result, tuple) else (result,):
        if isinstance(n, (int, float)) and not isinstance(n, bool) and abs(n) > MAX_VALUE:
            raise BindError("A203", f"{where} is too large: {show(value)}", f"sizes are limited to {MAX_VALUE:,}", span)
    if arg.check is not None:
        problem = arg.check(result)
        if isinstance(problem, tuple):
            problem, meant = problem
            raise BindError(
                "A203",
                f"{where} {problem}, got {show(value)}",
                f"did you mean {show(meant)}?",
                span,
                _rewrite(value_span, show(meant)),
            )
        if problem:
            raise BindError("A203", f"{where} {problem}, got {show(value)}", span=span)
    return result


CAUSAL_ONLY = "causal padding is for conv1d only, as in Keras; use 'same' padding here"


def _either(words: Sequence[str]) -> str:
    """`'same' or 'valid'`, `'same', 'valid' or 'causal'`."""
    quoted = [f"'{word}'" for word in words]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else quoted[0]


def _not_one_of(message: str, value: Value, choices: Sequence[str], span: Span, value_span: Span | None) -> BindError:
    """A word that is none of the choices; `SAME` or `True` are one of them in other letter case."""
    near = did_you_mean(str(value), choices) if isinstance(value, str) else None
    return BindError("A203", message, f"did you mean '{near}'?" if near else None, span, _rewrite(value_span, near))


def _rewrite(span: Span | None, text: str | None) -> Fix | None:
    return Fix(span, text) if span is not None and text is not None else None


def activation_spelled(word: str) -> str | None:
    """The activation `word` stands for: `ReLU` and `swish` as the frameworks write them, or a near spelling."""
    spelled = layer_spelled(word)
    return spelled if spelled in ACTIVATIONS else did_you_mean(word, ACTIVATIONS)


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
    per_axis: dict[str, list[tuple[Value, Span]]] = {}  # pads written once per axis: `zeropad 0x1 0x1`

    def assign(arg: Arg, value: Value, span: Span, value_span: Span | None) -> None:
        if arg.name in given_at:
            errors.append(BindError("A206", f"{spec.name} {arg.name} is given twice", "remove one of them", span))
            return
        try:
            values[arg.name] = _coerce(spec, arg, value, span, value_span)
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
            if slot.name not in given_at and slot.name not in per_axis and (not wants_dims or slot.kind in DIMS_KINDS):
                break
        else:
            repeated = next((name for name in per_axis), None)
            if repeated is not None:
                per_axis[repeated].append((value, span))
                continue
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
        if slot.kind == "pads":
            per_axis[slot.name] = [(value, span)]
            continue
        assign(slot, value, span, span)
    for name, items in per_axis.items():
        if len(items) == 1:
            (value, span), *_ = items
            assign(spec.arg_index[name], value, span, span)
        else:
            _assign_pairs(spec, spec.arg_index[name], items, values, given_at, errors)

    meant: set[str] = set()  # arguments that a misspelled keyword stands for: not missing, only misspelled
    for keyword in keywords:
        arg = spec.arg_index.get(keyword.name)
        if arg is None:
            error, near = _unknown_keyword(spec, keyword)
            errors.append(error)
            meant.add(near or "")
            continue
        assign(arg, keyword.value, keyword.span, keyword.value_span)

    for arg in spec.args:
        if arg.name in values or arg.name in given_at or arg.name in meant:
            continue
        if arg.default is REQUIRED:
            example = spec.example or f"{spec.name} {arg.name}=..."
            errors.append(BindError("A205", f"{spec.name} needs {arg.name}", f"for example: {example}", layer_span))
            continue
        values[arg.name] = arg.default
    return MappingProxyType(values), errors


def _assign_pairs(
    spec: LayerSpec,
    arg: Arg,
    items: list[tuple[Value, Span]],
    values: dict[str, Any],
    given_at: dict[str, Span],
    errors: list[BindError],
) -> None:
    """Pads written once per spatial axis, each a size for both sides or a `BEFORExAFTER` pair,
    as Keras' `ZeroPadding2D(((top, bottom), (left, right)))`: a tuple of (before, after) pairs."""
    pairs: list[tuple[int, int]] = []
    given_at[arg.name] = items[0][1]
    for value, span in items:
        try:
            size = _coerce(spec, arg, value, span, span)
        except BindError as error:
            errors.append(error)
            return
        if isinstance(size, int):
            pairs.append((size, size))
        elif len(size) == 2:
            pairs.append(size)
        else:
            errors.append(
                BindError(
                    "A203",
                    f"{spec.name} {arg.name}: {show(value)} is neither a size nor a BEFORExAFTER pair",
                    "write one size, or one BEFORExAFTER pair, per spatial axis: 0x1 0x1 on an image",
                    span,
                )
            )
            return
    values[arg.name] = tuple(pairs)


def _unknown_keyword(spec: LayerSpec, keyword: WrittenKeyword) -> tuple[BindError, str | None]:
    """A202, naming the argument a framework's word stands for (`strides=2` is `stride=2`), and that argument.

    A Keras flag set to True becomes the flag itself: `return_sequences=True` is `seq`.
    """
    name, value = keyword.name, keyword.value
    near = argument_spelled(spec, name) or did_you_mean(name, spec.arg_index)
    if near is None:
        choices = ", ".join(spec.arg_index) or "none"
        return BindError(
            "A202", f"{spec.name} has no argument '{name}'", f"its arguments are: {choices}", keyword.span
        ), None
    message = f"{spec.name} has no argument '{name}'"
    span = keyword.span
    written_here = keyword.value_span is not None and span.contains(keyword.value_span)
    if spec.arg_index[near].kind == "bool" and isinstance(value, str) and value.lower() in BOOLEAN_WORDS:
        # `return_sequences=True`, `use_bias=False`: the value needs writing again too.
        lowered = value.lower()
        replacement = near if near in spec.flags and lowered == "true" else f"{near}={lowered}"
        if replacement != f"{near}={value}":
            fix = Fix(span, replacement) if written_here else None
            return BindError("A202", message, f"write '{replacement}'", span, fix), near
    # Only the name is wrong: the fix renames it and leaves the value as written (a block parameter, say).
    name_span = Span(span.file, span.line, span.column, span.line, span.column + len(name))
    return BindError("A202", message, f"did you mean '{near}'?", name_span, Fix(name_span, near)), near


def _bind_word(spec, word, span, assign, errors, known_layers) -> None:
    activation = spec.arg_index.get("activation")
    padding = spec.arg_index.get("padding")
    if word in spec.flags:
        assign(spec.arg_index[word], "true", span, None)
    elif activation is not None and (word in ACTIVATIONS or word in NO_ACTIVATION):
        assign(activation, word, span, span)
    elif padding is not None and word in padding.choices:
        assign(padding, word, span, span)
    else:
        words = spec.words()
        spelled = layer_spelled(word)  # `ReLU`, `swish`: an activation as a framework writes it
        near = spelled if activation is not None and spelled in ACTIVATIONS else did_you_mean(word, words)
        if word in known_layers:
            hint = f"did you forget '->' before '{word}'?"
            near = None
        elif padding is not None and word == CAUSAL:
            hint = CAUSAL_ONLY
            near = None
        elif near:
            hint = f"did you mean '{near}'?"
        elif words:
            hint = f"{spec.name} understands the words: {', '.join(dict.fromkeys(words))}"
        else:
            hint = f"{spec.name} takes no words"
        errors.append(BindError("A211", f"{spec.name} does not understand '{word}'", hint, span, _rewrite(span, near)))
