"""The words of the language, read from the grammar's terminals and the layer table.

Completion, renaming and the TextMate grammar ask these questions; none keeps a list of its
own, so a terminal or a layer added to the language reaches the editor without a change here.
The graph syntax of LANGUAGE.md §7 (`@NAME`, `use NAME`, `output`) is recognised as soon as
the grammar has its terminals.
"""

from __future__ import annotations

import re
from functools import cache

from archdsl.frontend.parser import parser
from archdsl.layers import ACTIVATIONS, PADDINGS, LayerSpec
from archdsl.layers.spec import BOOLEAN_WORDS

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What binding accepts for "no activation" beside the activation words.
NO_ACTIVATION = ("none", "linear")


@cache
def terminals() -> dict[str, tuple[str, str]]:
    """Each terminal of the grammar: its name, and whether it is a plain string ('str') or a regex ('re')."""
    return {t.name: (t.pattern.type, t.pattern.value) for t in parser().terminals}


@cache
def reserved_words() -> tuple[str, ...]:
    """The words the lexer turns into keywords (`block`, `model`, `input`, `as`, ...): never names."""
    return tuple(value for kind, value in terminals().values() if kind == "str" and NAME.fullmatch(value))


def has_references() -> bool:
    """Whether the grammar reads `@NAME` (LANGUAGE.md §7)."""
    return any("@" in value for _kind, value in terminals().values())


def has_keyword(word: str) -> bool:
    return word in reserved_words()


def values_of(spec: LayerSpec, argument: str) -> tuple[str, ...]:
    """The words an argument takes: activations, paddings, booleans or the argument's own choices."""
    arg = spec.arg_index.get(argument)
    if arg is None:
        return ()
    if arg.choices:
        return arg.choices
    if arg.kind == "activation":
        return (*ACTIVATIONS, *NO_ACTIVATION)
    if arg.kind == "padding":
        return PADDINGS
    if arg.kind == "bool":
        return tuple(BOOLEAN_WORDS)
    return ()


def bare_words(spec: LayerSpec) -> tuple[str, ...]:
    """The words that may stand alone among a layer's arguments, as binding reads them: flags, then
    the values of its `activation` and `padding` arguments."""
    return tuple(dict.fromkeys((*spec.flags, *values_of(spec, "activation"), *values_of(spec, "padding"))))
