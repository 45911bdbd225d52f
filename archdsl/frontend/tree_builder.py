"""Lark's parse tree to the syntax tree of `nodes.py`, with a span on every node."""

from __future__ import annotations

import contextlib
import re
import sys

from lark import Token, Tree

from archdsl.common.diagnostics import ArchError, Diagnostic, Span
from archdsl.frontend import nodes
from archdsl.frontend.parser import parse_tree, recover_tree, token_span

_MAX_NUMBER_DIGITS = 15  # a whole number: sizes stop at 2**31 - 1 long before
_MAX_DECIMAL_LENGTH = 32  # a decimal, such as 0.00392156862745098 (1/255 as repr() writes it)
# Building the syntax tree and the expansion recurse once per level of brackets and operators.
RECURSION_LIMIT = 20_000

# ---------------------------------------------------------------- Lark's tree to the syntax tree
#
# One plain function per rule (or alias) of the grammar, applied bottom-up by `_build`. Each
# gets the values of its children, in order: tokens as they are (every token is kept, see
# PARSER_OPTIONS), None for an absent optional part, a subtree already built. And it gets the
# node's span: from the first token of the node to the last, brackets included, which is
# what Lark's `propagate_positions` used to give. A plain dict and a recursive function cost
# less than half of what a lark Transformer did (which was also built anew for every parse, to
# hold the file name); here the file name travels down as an argument.

_INTEGER = re.compile(r"[0-9]+")


def _check_digits(text: str, span: Span) -> None:
    decimal = not _INTEGER.fullmatch(text)  # as many digits as repr() gives a float (1/255: 19 characters)
    if len(text) > (_MAX_DECIMAL_LENGTH if decimal else _MAX_NUMBER_DIGITS):
        raise ArchError(
            [
                Diagnostic(
                    "A502",
                    f"the number {text[:12]}... has {len(text)} digits",
                    span,
                    "sizes are limited to 2,147,483,647",
                )
            ],
        )


def _number_of(token: Token, span: Span) -> nodes.Number:
    text = str(token)
    _check_digits(text, span)
    value: int | float = int(text) if _INTEGER.fullmatch(text) else float(text)
    return nodes.Number(value, text, span)


def _number(values, span: Span) -> nodes.Number:
    (token,) = values
    return _number_of(token, span)


def _negative(values, span: Span) -> nodes.Number:
    _minus, token = values
    number = _number_of(token, token_span(token, span.file))
    return nodes.Number(-number.value, "-" + number.text, span)


def _word(values, span: Span) -> nodes.Word:
    (token,) = values
    return nodes.Word(str(token), span)


def _dims_literal(values, span: Span) -> nodes.Dims:
    (token,) = values
    texts = str(token).split("x")
    for text in texts:
        _check_digits(text.lstrip("-"), span)
    # Sizes are whole; per-channel values (`normalize mean=0.5x0.4x0.4`) may have decimals.
    return nodes.Dims(tuple(nodes.Number(float(t) if "." in t else int(t), t, span) for t in texts), span)


def _dims(values, span: Span) -> nodes.Dims:
    parts: list[nodes.Value] = []
    for part in values[::2]:  # between them the 'x' tokens
        if isinstance(part, nodes.Dims):
            parts.extend(part.parts)
        else:
            parts.append(part)
    return nodes.Dims(tuple(parts), span)


def _binop(values, span: Span) -> nodes.BinOp:
    left, op, right = values
    return nodes.BinOp(str(op), left, right, span)


def _negate(values, span: Span) -> nodes.Value:
    _minus, operand = values
    if isinstance(operand, nodes.Number):
        return nodes.Number(-operand.value, "-" + operand.text, span)
    return nodes.Negate(operand, span)


def _parenthesised(values, span: Span) -> nodes.Value:
    """`( expr )`: the expression itself; its parent's span still takes in the brackets."""
    _open, inner, _close = values
    return inner


def _keyword(values, span: Span) -> nodes.Keyword:
    name, _equal, value = values
    return nodes.Keyword(str(name), value, span)


def _layer(values, span: Span) -> nodes.Layer:
    name, *arguments, _as, alias = values
    positional: list[nodes.Value] = []
    keywords: list[nodes.Keyword] = []
    for argument in arguments:
        (keywords if isinstance(argument, nodes.Keyword) else positional).append(argument)
    return nodes.Layer(
        str(name),
        tuple(positional),
        tuple(keywords),
        str(alias) if alias is not None else None,
        span,
        token_span(name, span.file),
        token_span(alias, span.file) if alias is not None else None,
    )


def _input(values, span: Span) -> nodes.Input:
    _input_keyword, shape, _as, alias = values
    if alias is None:
        return nodes.Input(shape, span)
    return nodes.Input(shape, span, str(alias), token_span(alias, span.file))


def _reference(values, span: Span) -> nodes.Reference:
    (token,) = values
    return nodes.Reference(str(token)[1:], span)


def _group(values, span: Span) -> nodes.Group:
    return nodes.Group(tuple(values[1:-1:2]), span)  # '(' chain '|' chain ... ')'


def _residual(values, span: Span) -> nodes.Residual:
    _residual_keyword, _open, body, _close = values
    return nodes.Residual(body, span)


def _repeat(values, span: Span) -> nodes.Repeat:
    node, _star, count = values
    return nodes.Repeat(node, count, span)


def _chain(values, span: Span) -> nodes.Chain:
    return nodes.Chain(tuple(values[::2]), span)  # between the nodes the '->' tokens


def _param(values, span: Span) -> nodes.Param:
    name, _equal, default = values
    return nodes.Param(str(name), default, span)


def _block_def(values, span: Span) -> nodes.BlockDef:
    # 'block' NAME '(' [param (',' param)*] ')' '=' [new line] chain
    if isinstance(values[-2], Token) and values[-2].type == "_NL":
        values = values[:-2] + values[-1:]
    name, body = values[1], values[-1]
    params = tuple(p for p in values[3:-3:2] if p is not None)
    return nodes.BlockDef(str(name), params, body, span, token_span(name, span.file))


def _model_def(values, span: Span) -> nodes.ModelDef:
    # 'model' NAME '{' chain (new line chain)* '}'
    name = values[1]
    statements = tuple(v for v in values[3:-1] if isinstance(v, nodes.Chain))
    return nodes.ModelDef(str(name), statements, span, token_span(name, span.file))


def _bare_chain(values, span: Span) -> nodes.BareChain:
    (body,) = values
    return nodes.BareChain(body, span)


def _start(values, span: Span | None) -> tuple[nodes.Statement, ...]:
    return tuple(v for v in values if not isinstance(v, Token))  # between the statements, new lines


_BUILDERS = {
    "number": _number,
    "negative": _negative,
    "word": _word,
    "dims_literal": _dims_literal,
    "dims": _dims,
    "binop": _binop,
    "minus": _binop,
    "times": _binop,
    "negate": _negate,
    "paren_expr": _parenthesised,
    "factor": _parenthesised,  # only its bracketed form is a tree of its own
    "keyword": _keyword,
    "layer": _layer,
    "input": _input,
    "reference": _reference,
    "group": _group,
    "residual": _residual,
    "repeat": _repeat,
    "chain": _chain,
    "param": _param,
    "block_def": _block_def,
    "model_def": _model_def,
    "bare_chain": _bare_chain,
    "start": _start,
}


def _build(tree: Tree, filename: str) -> tuple[object, Token | None, Token | None]:
    """The syntax-tree value of `tree`, with the first and the last token it covers.

    Recursive, one frame per level of the tree, like the passes after it: a tree too deep
    for RECURSION_LIMIT (a very long expression) is a RecursionError, which `parse_module`
    reports as A501.
    """
    values: list[object] = []
    first = last = None
    for child in tree.children:
        if child is None:
            values.append(None)
            continue
        if isinstance(child, Token):
            value = start = end = child
        else:
            value, start, end = _build(child, filename)
        values.append(value)
        if first is None:
            first = start
        last = end
    span = None if first is None else Span(filename, first.line, first.column, last.end_line, last.end_column)
    return _BUILDERS[tree.data](values, span), first, last


def parse_module(text: str, filename: str = "<string>") -> nodes.Module:
    """Parse one file into its syntax tree; raises ArchError with every syntax error."""
    return _module(parse_tree(text, filename), text, filename)


def recover_module(text: str, filename: str = "<string>") -> tuple[nodes.Module | None, tuple[Diagnostic, ...]]:
    """The syntax tree of the statements that parse, and every syntax error (`parser.recover_tree`).

    For tools that answer on a spec while it is being typed; the module is None when
    nothing could be recovered. Never raises for a problem of the spec.
    """
    try:
        tree, diagnostics = recover_tree(text, filename)
    except ArchError as error:  # nested too deeply to parse at all
        return None, error.diagnostics
    if tree is None:
        return None, diagnostics
    try:
        return _module(tree, text, filename), diagnostics
    except ArchError as error:  # a number too long, a very long expression: nothing sensible to build
        return None, diagnostics + error.diagnostics


def _module(tree: Tree, text: str, filename: str) -> nodes.Module:
    try:
        with deep_recursion():
            statements, _first, _last = _build(tree, filename)
    except RecursionError:
        raise too_deep(filename, text) from None
    return nodes.Module(filename, statements)


@contextlib.contextmanager
def deep_recursion():
    """Room for specs nested up to MAX_NESTING, and for long expressions, in the recursive passes."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def too_deep(filename: str, text: str) -> ArchError:
    return ArchError(
        [
            Diagnostic(
                "A501",
                "the spec nests too deeply to process (brackets or a very long expression)",
                Span(filename, 1, 1, 1, 2),
                "split long expressions, or use blocks for repeated structure",
            )
        ],
        text,
    )
