"""Python source fragments: literals, calls, and statements wrapped the way ruff formats them.

Generated code must pass `ruff format --check` without running the formatter at
generation time (it would cost a process per file), so calls that do not fit
are exploded one argument per line with a magic trailing comma, which ruff
keeps as written. Values only reach code through `literal`, which accepts
nothing but numbers, booleans, None, tuples and identifier-like strings.
"""

from __future__ import annotations

import json
import re

from archdsl.common.record import record

LINE_LENGTH = 88
INDENT = "    "
_SAFE_STRING = re.compile(r"[A-Za-z0-9_.\- ]*\Z")


class Raw(str):
    """Code written by a target itself (a variable, an attribute), emitted as is."""


def literal(value: object) -> str:
    """A Python literal for a value that came from the checked model."""
    if isinstance(value, Raw):
        return str(value)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if text not in ("inf", "-inf", "nan") else f'float("{text}")'
    if isinstance(value, str):
        if not _SAFE_STRING.match(value):
            raise ValueError(f"refusing to emit the string {value!r} into code")
        return json.dumps(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Call):  # a call as an argument of another: its parts are literals already
        return value.inline()
    raise TypeError(f"no literal for {type(value).__name__}")


@record
class Call:
    """`func(args..., key=value...)`, optionally applied again: `func(...)(applied)`."""

    func: str
    args: tuple[object, ...] = ()
    kwargs: tuple[tuple[str, object], ...] = ()

    def parts(self) -> list[str]:
        return [literal(a) for a in self.args] + [f"{k}={literal(v)}" for k, v in self.kwargs]

    def inline(self) -> str:
        return f"{self.func}({', '.join(self.parts())})"

    def keywords_text(self, *names: str) -> str:
        """The keyword arguments as written in the call (all, or those named): `eps=1e-05, momentum=0.1`.

        Notes quote the code through this, so that they cannot quote other values than it has.
        """
        return ", ".join(f"{k}={literal(v)}" for k, v in self.kwargs if not names or k in names)


def call(func: str, *args: object, **kwargs: object) -> Call:
    """A call whose keyword arguments keep the order they are given in."""
    return Call(func, tuple(args), tuple(kwargs.items()))


def statement(prefix: str, value: Call | str, suffix: str = "", indent: int = 2, comment: str = "") -> list[str]:
    """`prefix + value + suffix` as lines of at most LINE_LENGTH, the value's call exploded if needed.

    ruff counts a trailing comment in the line's length, so a comment that
    would not fit goes on its own line above the statement.
    """
    pad = INDENT * indent
    above: list[str] = []

    def with_comment(line: str) -> list[str]:
        if not comment:
            return [line]
        trailing = f"{line}  # {comment}"
        if len(trailing) <= LINE_LENGTH:
            return [trailing]
        above.append(f"{pad}# {comment}")
        return [line]

    if isinstance(value, str):
        line = f"{pad}{prefix}{value}{suffix}"
        chain = _fluent_links(value) if len(line) > LINE_LENGTH and not suffix and prefix.endswith("= ") else None
        if chain is not None:
            # ruff's fluent layout of a call chain: one `.method(...)` a line, in parentheses.
            body = [f"{pad}{prefix}(", *(f"{pad}{INDENT}{link}" for link in chain), f"{pad})"]
            return _with_above(above, body[:-1] + with_comment(body[-1]))
        if len(line) > LINE_LENGTH and not suffix:
            # ruff's right-hand split: the last bracket's content on a line of its own.
            head, inner, close = _right_hand_split(value)
            body = [f"{pad}{prefix}{head}", f"{pad}{INDENT}{inner}", f"{pad}{close}"]
            return _with_above(above, body[:-1] + with_comment(body[-1]))
        return _with_above(above, with_comment(line))
    one_line = f"{pad}{prefix}{value.inline()}{suffix}"
    if len(one_line) <= LINE_LENGTH:
        return _with_above(above, with_comment(one_line))
    lines = [f"{pad}{prefix}{value.func}("]
    arguments = [("", a) for a in value.args] + [(f"{k}=", v) for k, v in value.kwargs]
    for (key, argument), part in zip(arguments, value.parts(), strict=True):
        if isinstance(argument, Call) and len(f"{pad}{INDENT}{part},") > LINE_LENGTH:
            lines += statement(key, argument, ",", indent + 1)  # a call too long for its line is exploded too
        else:
            lines.append(f"{pad}{INDENT}{part},")
    return _with_above(above, lines + with_comment(f"{pad}){suffix}"))


def _fluent_links(value: str) -> list[str] | None:
    """`a.b(1).c(2).d(3)` as ruff lays out a call chain that does not fit: `a.b(1)`, `.c(2)`,
    `.d(3)`, when at least two of its calls are made on the result of a call (ruff's fluent
    style); None for any other expression."""
    import ast

    try:
        node = ast.parse(value, mode="eval").body
    except SyntaxError:
        return None
    links: list[str] = []
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, (ast.Call, ast.Subscript))
    ):
        start = node.func.value.end_col_offset
        links.append(value[start : node.end_col_offset])
        node = node.func.value
    if len(links) < 2 or node.col_offset != 0:
        return None
    return [value[: node.end_col_offset], *reversed(links)]


def signature(name: str, params: list[str], returns: str, indent: int = 1) -> list[str]:
    """`def name(params) -> returns:` as ruff lays it out: on one line, else the parameters on a
    line of their own, else one parameter a line with a magic trailing comma."""
    pad = INDENT * indent
    one_line = f"{pad}def {name}({', '.join(params)}) -> {returns}:"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    closing = f"{pad}) -> {returns}:"
    inner = f"{pad}{INDENT}{', '.join(params)}"
    if len(inner) <= LINE_LENGTH:
        return [f"{pad}def {name}(", inner, closing]
    return [f"{pad}def {name}(", *(f"{pad}{INDENT}{param}," for param in params), closing]


def _right_hand_split(value: str) -> tuple[str, str, str]:
    if value.endswith(")"):
        depth = 0
        for index in range(len(value) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(value[index], 0)
            if depth == 0:
                return value[: index + 1], value[index + 1 : -1], ")"
    return "(", value, ")"


def _with_above(above: list[str], lines: list[str]) -> list[str]:
    return above + lines
