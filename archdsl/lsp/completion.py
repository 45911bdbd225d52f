"""Completion: what may be written at the cursor, read from the text before it.

A document being typed rarely parses, so the place is found by scanning the text of the
current statement up to the cursor with a tolerant tokenizer and a small state machine that
follows the grammar's shape (a node starts after `->`, `|`, `(`, `{`, a block's `=`; then its
arguments; `key=` then a value; `as` then a new name). Block names and parameters, and the
names given with `as`, are read from the text too, so they are there while the statement that
defines them is still broken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lsprotocol import types

from archdsl.frontend.expand import OUTPUT, USE
from archdsl.layers import ACTIVATIONS, LAYERS, LayerSpec
from archdsl.layers.spec import REQUIRED
from archdsl.lsp.language import bare_words, has_keyword, has_references, values_of
from archdsl.lsp.names import blank_comments
from archdsl.lsp.text import Text

_TOKEN = re.compile(
    r"(?P<space>[ \t\f\r]+)|(?P<nl>\n)|(?P<comment>#[^\n]*)"
    r"|(?P<ref>@[A-Za-z_][A-Za-z0-9_]*|@)"
    r"|(?P<dims>-?[0-9]+(?:x-?[0-9]+)+(?![A-Za-z0-9_]))"
    r"|(?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>->|//|.)"
)
_STATEMENT_START = re.compile(r"^[\t \f]*(?:model|block)\b", re.MULTILINE)
_BLOCK_HEADER = re.compile(r"^[\t \f]*block[\t \f]+([A-Za-z_][A-Za-z0-9_]*)[\t \f]*\(([^)]*)\)", re.MULTILINE)
_ALIAS = re.compile(r"(?<![A-Za-z0-9_])as[ \t\f\r\n]+([A-Za-z_][A-Za-z0-9_]*)")

# Where the cursor is, as the grammar sees it.
START = "start"  # a statement starts: model, block, or a bare chain's first node
HEAD = "head"  # a node starts: a layer, a block call, input, residual, a reference
ARGS = "args"  # after a node's first word: its arguments
VALUE = "value"  # after `key=`
NONE = "none"  # a new name, a shape, a count: nothing to offer


@dataclass
class _Level:
    kind: str  # "top", "body" (of a model), "chain" (a group), "expr", "params"
    state: str = HEAD
    layer: str = ""
    key: str = ""


@dataclass
class Place:
    state: str
    layer: str = ""
    key: str = ""
    prefix_start: int = 0
    block: str | None = None  # the block whose body the cursor is in
    given: set[str] = field(default_factory=set)  # keyword arguments already written


def _statement_start(source: str, offset: int) -> int:
    starts = [m.start() for m in _STATEMENT_START.finditer(source, 0, offset)]
    return starts[-1] if starts else 0


def place_at(source: str, offset: int) -> Place:
    """What the grammar expects at `offset`, and where the word being typed there starts."""
    start = _statement_start(source, offset)
    text = source[start:offset]
    prefix = re.search(r"@?[A-Za-z_][A-Za-z0-9_]*$|@$", text)
    prefix_start = start + (prefix.start() if prefix else len(text))
    stack = [_Level("top", START)]
    block = None
    expect_block_name = expect_model_name = False
    given: set[str] = set()
    previous = ""
    for match in _TOKEN.finditer(text, 0, prefix_start - start):
        kind, value = match.lastgroup, match.group()
        level = stack[-1]
        if kind in ("space", "comment"):
            continue
        if kind == "nl":
            if level.kind == "top" and not (level.state == HEAD and previous in ("->", "|", "=")):
                level.state = START  # a new line ends a statement at the top level
            elif level.kind == "body" and has_references():
                level.state = HEAD  # with the graph syntax, a model body holds a statement per line
            continue
        if expect_block_name and kind == "name":
            block, expect_block_name = value, False
            level.state = NONE
        elif expect_model_name and kind == "name":
            expect_model_name = False
            level.state = NONE
        elif value == "block" and level.state == START:
            expect_block_name = True
        elif value == "model" and level.state == START:
            expect_model_name = True
        elif value in ("(", "{"):
            if level.kind == "top" and block is not None and level.state == NONE and value == "(":
                stack.append(_Level("params", NONE))
            elif value == "{":
                stack.append(_Level("body", HEAD))
            elif level.state in (HEAD, START):
                stack.append(_Level("chain", HEAD))
            else:
                stack.append(_Level("expr", NONE))
        elif value in (")", "}"):
            if len(stack) > 1:
                closed = stack.pop()
                if closed.kind == "chain":  # after a group: `* N`, `as NAME`, `->`
                    stack[-1].state = ARGS
                    stack[-1].layer = ""
        elif value in ("->", "|"):
            level.state, level.layer = HEAD, ""
            given = set()
        elif level.kind == "params":
            pass
        elif value == "=":
            if level.state == NONE and level.kind == "top" and block is not None:
                level.state = HEAD  # the body of a block
            elif level.state == ARGS and previous and kind == "op":
                level.state, level.key = VALUE, previous
                given.add(previous)
        elif value == "*":
            level.state = NONE
        elif level.state in (HEAD, START) and kind == "name":
            if value == "input":
                level.state = NONE
            elif value != "residual":
                level.state, level.layer = ARGS, value
        elif level.state in (HEAD, START) and kind == "ref":
            level.state, level.layer = ARGS, ""
        elif level.state == ARGS and value == "as":
            level.state = NONE
        elif level.state == VALUE:
            level.state = ARGS
        previous = value if kind == "name" else ("=" if value == "=" else value)
    level = stack[-1]
    state = level.state if level.kind in ("top", "body", "chain") else NONE
    return Place(state, level.layer, level.key, prefix_start, block, given)


def _block_params(source: str) -> dict[str, list[str]]:
    """Each block's parameters, read from its header as written (`block b(c, k=3)`)."""
    found: dict[str, list[str]] = {}
    for match in _BLOCK_HEADER.finditer(blank_comments(source)):
        params = [part.split("=")[0].strip() for part in match.group(2).split(",")]
        found.setdefault(match.group(1), [p for p in params if p])
    return found


def _item(label: str, kind: types.CompletionItemKind, edit: types.Range, **extra) -> types.CompletionItem:
    return types.CompletionItem(
        label=label, kind=kind, text_edit=types.TextEdit(range=edit, new_text=extra.pop("insert", label)), **extra
    )


def _layer_doc(spec: LayerSpec) -> types.MarkupContent:
    lines = [spec.summary]
    if spec.example:
        lines.append(f"`{spec.example}`")
    for arg in spec.args:
        default = "" if arg.default is REQUIRED else f" = `{'none' if arg.default is None else arg.default}`"
        lines.append(f"- `{arg.name}`{default}{': ' + arg.doc if arg.doc else ''}")
    return types.MarkupContent(
        kind=types.MarkupKind.Markdown, value="\n\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:])
    )


def complete(text: Text, offset: int) -> list[types.CompletionItem]:
    source = text.source
    place = place_at(source, offset)
    edit = text.range(place.prefix_start, offset)
    typed = source[place.prefix_start : offset]
    blocks = _block_params(source)
    params = blocks.get(place.block, []) if place.block else []
    items: list[types.CompletionItem] = []
    if typed.startswith("@") or (place.state == HEAD and has_references()):
        if has_references():
            start = _statement_start(source, offset)
            before = blank_comments(source[start : place.prefix_start])
            for name in dict.fromkeys(m.group(1) for m in _ALIAS.finditer(before)):
                items.append(
                    _item(f"@{name}", types.CompletionItemKind.Variable, edit, detail="a value named with 'as'")
                )
        if typed.startswith("@"):
            return items
    if place.state in (START, HEAD):
        if place.state == START:
            for word in ("model", "block"):
                items.append(_item(word, types.CompletionItemKind.Keyword, edit))
        for word in ("input", "residual", USE, OUTPUT):
            # `use` and `output` are words of the graph syntax that the expansion reads, not reserved
            if has_keyword(word) or (word in (USE, OUTPUT) and has_references()):
                items.append(_item(word, types.CompletionItemKind.Keyword, edit))
        for name, spec in LAYERS.items():
            items.append(
                _item(name, types.CompletionItemKind.Class, edit, detail=spec.summary, documentation=_layer_doc(spec))
            )
        for name, block_params in blocks.items():
            if name != place.block:
                items.append(
                    _item(
                        name, types.CompletionItemKind.Function, edit, detail=f"block {name}({', '.join(block_params)})"
                    )
                )
        for param in params:  # a parameter holding an activation word may stand as a layer
            items.append(_item(param, types.CompletionItemKind.Variable, edit, detail=f"parameter of {place.block}"))
    elif place.state == ARGS:
        spec = LAYERS.get(place.layer)
        if spec is not None:
            for arg in spec.args:
                if arg.name not in place.given:
                    items.append(
                        _item(f"{arg.name}=", types.CompletionItemKind.Property, edit, detail=arg.doc or arg.kind)
                    )
            for word in bare_words(spec):
                kind = types.CompletionItemKind.EnumMember if word in ACTIVATIONS else types.CompletionItemKind.Constant
                items.append(_item(word, kind, edit))
        elif place.layer in blocks:
            for param in blocks[place.layer]:
                if param not in place.given:
                    items.append(
                        _item(
                            f"{param}=", types.CompletionItemKind.Property, edit, detail=f"parameter of {place.layer}"
                        )
                    )
        for param in params:
            items.append(_item(param, types.CompletionItemKind.Variable, edit, detail=f"parameter of {place.block}"))
        items.append(_item("as", types.CompletionItemKind.Keyword, edit, detail="name this layer"))
    elif place.state == VALUE:
        spec = LAYERS.get(place.layer)
        for word in values_of(spec, place.key) if spec is not None else ():
            items.append(_item(word, types.CompletionItemKind.Value, edit))
        for param in params:
            items.append(_item(param, types.CompletionItemKind.Variable, edit, detail=f"parameter of {place.block}"))
    return items
