"""One piece of code for several block calls: renaming, and numbers that become parameters.

The layer emitters write each layer with its own values, and that code is proven by verify.
A block's class or function is built from that very code: each call's lines, with the names
made local to the block, are compared; where they differ only in numbers, those numbers become
the block's parameters (named after the block parameter, or the input size, whose value they
carry in every call), and the calls pass them. So the code of a block is the code of its calls,
and a call whose lines differ in more than numbers gets a class of its own instead of a guess.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence

from archdsl.common.record import record
from archdsl.targets.pycode import INDENT, Call, Raw, statement

_TOKENS = re.compile(r'("[^"]*"|[A-Za-z_]\w*|\d+\.\d*(?:e[-+]?\d+)?|\d+(?:e[-+]?\d+)?)')
_NUMBER = re.compile(r"\d")
_NAME = re.compile(r"[A-Za-z_]\w*")


def _split_comment(line: str) -> tuple[str, str]:
    """The code and the trailing comment of a generated line (its strings never hold '#')."""
    if line.lstrip().startswith("# "):  # a comment on a line of its own
        return "", line.lstrip()[2:]
    code, _, comment = line.partition("  # ")
    return code, comment


def rename(
    lines: Iterable[str],
    names: Mapping[str, str],
    attributes: Mapping[str, str],
    strings: Mapping[str, str] | None = None,
) -> list[str]:
    """`lines` with each variable in `names`, each `self.` attribute in `attributes` and each string in
    `strings` (quotes included) renamed, not attributes of other objects or keyword arguments: the code
    of a call, in its block's names."""
    renamed = []
    for line in lines:
        code, comment = _split_comment(line)
        if not code:
            renamed.append(line)
            continue
        parts = _TOKENS.split(code)
        for index in range(1, len(parts), 2):
            token = parts[index]
            if token.startswith('"'):
                parts[index] = (strings or {}).get(token, token)
                continue
            before, after = parts[index - 1], parts[index + 1]
            table = attributes if before == "." and parts[index - 2] == "self" else names
            if token not in table or before.endswith(".") and table is names:
                continue  # not renamed, or an attribute of something else: x.mean
            if after.startswith("=") and not after.startswith("=="):
                continue  # a keyword argument
            parts[index] = table[token]
        renamed.append("".join(parts) + (f"  # {comment}" if comment else ""))
    return renamed


def _pieces(line: str) -> list[str]:
    return _TOKENS.split(line)


def _shape(pieces: list[str]) -> tuple[str, ...]:
    """The pieces with every number blanked: calls whose lines have the same shape differ in numbers only."""
    return tuple("#" if _NUMBER.match(piece) and not piece.startswith('"') else piece for piece in pieces)


@record
class Generalized:
    """One body for several calls: its lines (numbers that differ replaced by parameters), the parameters
    its constructor takes, and the values each call passes for them."""

    lines: tuple[str, ...]
    parameters: tuple[str, ...]
    arguments: tuple[tuple[object, ...], ...]  # per call, in the order of `parameters`


def variants(bodies: Sequence[tuple[str, ...]]) -> list[list[int]]:
    """The calls grouped by the shape of their code: indices into `bodies`, first seen first."""
    groups: dict[tuple, list[int]] = {}
    for index, body in enumerate(bodies):
        key = tuple(_shape(_pieces(line)) for line in body)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def generalize(
    bodies: Sequence[tuple[str, ...]],
    known: Sequence[tuple[str, Sequence[object]]],
    unknown_comment: str = "?",
    written: Sequence[str] | None = None,
    derived: Sequence[tuple[str, Sequence[object]]] = (),
) -> Generalized:
    """The common body of calls whose lines have the same shape (see `variants`).

    `known` are the candidate parameters in order of preference, each with its value in every
    call (the block's parameters, then the input size). A number that differs between calls
    becomes the first candidate with the same values, or that candidate times a constant; in code,
    a number no candidate explains becomes a parameter of its own, and in a comment (a shape)
    it is written `unknown_comment`. `derived` are expressions the body can compute itself
    (`inputs.shape[-1]`), tried after `known` and never parameters. `written` is the first
    call's lines as its emitters wrote them, where `bodies` differ from them (see
    `with_defaults`): what changed is laid out again.
    """
    used: dict[str, Sequence[object]] = {}
    extra: list[tuple[str, Sequence[object]]] = []

    def explain(values: tuple[object, ...], in_code: bool) -> str | None:
        for candidates, parameters in ((known, True), (derived, False)):
            for name, given in candidates:
                if tuple(given) == values:
                    used.update({name: given} if parameters else {})
                    return name
            for name, given in candidates:
                factor = _factor(values, given)
                if factor is not None:
                    used.update({name: given} if parameters else {})
                    return f"{name} * {factor}"
            for name, given in candidates:
                offset = _offset(values, given)
                if offset is not None:  # `bottleneck f * (n - 1)`: range(n - 1)
                    used.update({name: given} if parameters else {})
                    return f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
        if not in_code:
            return None
        for name, given in extra:
            if tuple(given) == values:
                return name
        name = f"size_{len(extra) + 1}"
        extra.append((name, values))
        return name

    split = [[_pieces(line) for line in body] for body in bodies]
    lines: list[str] = []
    for row in range(len(bodies[0])):
        pieces = list(split[0][row])
        code_end = _comment_start(pieces)
        for index in range(1, len(pieces), 2):
            values = tuple(_number(call[row][index]) for call in split)
            if values[0] is None or len(set(values)) == 1:
                continue
            named = explain(values, in_code=index < code_end)
            pieces[index] = named if named is not None else unknown_comment
        lines.append("".join(pieces))
    names = [name for name, _ in known if name in used] + [name for name, _ in extra]
    values = {**used, **dict(extra)}
    arguments = tuple(tuple(values[name][call] for name in names) for call in range(len(bodies)))
    return Generalized(tuple(relayout(lines, written or bodies[0])), tuple(names), arguments)


def with_defaults(
    bodies: Sequence[tuple[str, ...]], calls: re.Pattern, defaults: dict[str, str]
) -> list[tuple[str, ...]]:
    """The bodies with the keyword arguments in `defaults` written out, at their default value, in the
    calls matching `calls` of those bodies that leave out what another body writes (`stride=2`
    in one call of a block, nothing in another): then both have the same shape and one parameter
    serves, as torchvision's Bottleneck takes `stride`."""
    if len({len(body) for body in bodies}) != 1:
        return list(bodies)
    result = [list(body) for body in bodies]
    for row in range(len(bodies[0])):
        parsed = [_call_arguments(body[row], calls) for body in bodies]
        if any(found is None for found in parsed):
            continue
        order: list[str] = []
        for _, _, keywords, _ in parsed:
            for position, (name, _) in enumerate(keywords):
                if name not in order:
                    previous = keywords[position - 1][0] if position else None
                    order.insert(order.index(previous) + 1 if previous in order else 0, name)
        names = [{name for name, _ in keywords} for _, _, keywords, _ in parsed]
        if all(found == names[0] for found in names) or any(set(order) - found - set(defaults) for found in names):
            continue
        for index, (head, positional, keywords, tail) in enumerate(parsed):
            given = dict(keywords)
            parts = [*positional, *(f"{name}={given.get(name, defaults.get(name))}" for name in order)]
            result[index][row] = f"{head}{', '.join(parts)}{tail}"
    return [tuple(body) for body in result]


def _call_arguments(line: str, calls: re.Pattern) -> tuple[str, list[str], list[tuple[str, str]], str] | None:
    """A one-line call's head (up to its `(`), positional and keyword arguments and the rest of the line."""
    code, comment = _split_comment(line)
    found = calls.search(code)
    if found is None:
        return None
    parts, depth, current = [], 0, ""
    for end in range(found.end(), len(code)):
        char = code[end]
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            break  # the call's own `)`: a Keras layer's call on its input may follow
        current += char
    else:
        return None  # the call goes on to the next line
    if current.strip():
        parts.append(current.strip())
    positional = [part for part in parts if not re.match(r"\w+=", part)]
    keywords = [tuple(part.split("=", 1)) for part in parts if re.match(r"\w+=", part)]
    if parts[: len(positional)] != positional:
        return None
    return code[: found.end()], positional, keywords, code[end:] + ("" if not comment else f"  # {comment}")


def _comment_start(pieces: list[str]) -> int:
    for index, piece in enumerate(pieces):
        if index % 2 == 0 and "#" in piece:
            return index
    return len(pieces)


def _number(piece: str) -> object:
    if piece.startswith('"') or not _NUMBER.match(piece):
        return None
    return float(piece) if any(c in piece for c in ".e") else int(piece)


def _factor(values: tuple[object, ...], given: Sequence[object]) -> int | None:
    if not all(isinstance(v, int) and isinstance(g, int) and g > 0 for v, g in zip(values, given, strict=True)):
        return None
    if values[0] % given[0]:
        return None
    factor = values[0] // given[0]
    if factor > 1 and all(v == g * factor for v, g in zip(values, given, strict=True)):
        return factor
    return None


def _offset(values: tuple[object, ...], given: Sequence[object]) -> int | None:
    """The small constant (one or two) every value differs from `given` by, as `n - 1` does."""
    if not all(isinstance(v, int) and isinstance(g, int) for v, g in zip(values, given, strict=True)):
        return None
    offsets = {v - g for v, g in zip(values, given, strict=True)}  # type: ignore[operator]
    offset = offsets.pop() if len(offsets) == 1 else 0
    return offset if 0 < abs(offset) <= 2 else None


def relayout(lines: Sequence[str], before: Sequence[str]) -> list[str]:
    """`lines` (statements on one line each, or as the targets lay them out) with each statement that
    says what `before`'s says kept as written there, and each other laid out as the targets lay
    them out (ruff's layout)."""
    result: list[str] = []
    for statement_lines, original in zip(_statements(lines), _statements(before), strict=True):
        if _joined(statement_lines) == _joined(original):
            result += original
        else:
            result += _layout(_joined(statement_lines))
    return result


def joined(lines: Sequence[str]) -> list[str]:
    """Each statement on one line, its comments after it: code that says the same reads the same,
    whichever lines a statement was spread over (a longer number can push a call over 88 columns)."""
    return [_joined(group) for group in _statements(lines)]


def _statements(lines: Sequence[str]) -> list[list[str]]:
    """The lines grouped by statement: comments above it, its first line, its continuation lines
    (a statement goes on while a bracket is open)."""
    groups: list[list[str]] = []
    pending: list[str] = []
    depth = 0
    for line in lines:
        code, _ = _split_comment(line)
        if depth > 0:
            groups[-1].append(line)
        elif not code:
            pending.append(line)
            continue
        else:
            groups.append([*pending, line])
            pending = []
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
    if pending:
        groups.append(pending)
    return groups


def _joined(group: Sequence[str]) -> str:
    """One statement's lines as one line: the magic trailing comma of an exploded call dropped, the
    comments above it and after its lines joined after it."""
    comments = [line.strip()[2:] for line in group if line.strip().startswith("# ")]
    code_lines = [line for line in group if not line.strip().startswith("# ")]
    if not code_lines:
        return f"{group[0][: len(group[0]) - len(group[0].lstrip())]}# {'; '.join(comments)}"
    text = ""
    for line in code_lines:
        code, comment = _split_comment(line)
        comments += [comment] if comment else []
        piece = code.strip()
        if piece[:1] in ")]}" and text.endswith(","):
            text = text[:-1]
        if text and not text.endswith(("(", "[", "{")) and piece[:1] not in ")]}.":
            text += " "
        text += piece
    indent = code_lines[0][: len(code_lines[0]) - len(code_lines[0].lstrip())]
    return indent + text + (f"  # {'; '.join(comments)}" if comments else "")


def _layout(line: str) -> list[str]:
    code, comment = _split_comment(line)
    if not code:
        return [line]
    indent = (len(code) - len(code.lstrip())) // len(INDENT)
    text = code.strip()
    applied = _applied_call(text)
    if applied is not None:  # `x = layers.Conv2D(...)(x)`, `self.conv = nn.Conv2d(...)`: as the targets lay calls out
        prefix, made, suffix = applied
        return statement(prefix, made, suffix, indent=indent, comment=comment)
    return statement("", text, indent=indent, comment=comment)


def _applied_call(text: str) -> tuple[str, Call, str] | None:
    """`target = func(arguments)(inputs)` or `target = func(arguments)` taken apart: the assignment, the
    call whose arguments may go one a line, what it is applied to."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return None
    node = body[0] if len(body) == 1 else None
    if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
        return None
    inner = node.value.func if isinstance(node.value.func, ast.Call) else node.value
    if any(keyword.arg is None for keyword in inner.keywords):
        return None  # `**kwargs`: no call the targets write
    made = Call(
        ast.get_source_segment(text, inner.func) or "",
        tuple(Raw(ast.get_source_segment(text, arg) or "") for arg in inner.args),
        tuple((k.arg or "", Raw(ast.get_source_segment(text, k.value) or "")) for k in inner.keywords),
    )
    return text[: node.value.col_offset], made, text[inner.end_col_offset :]
