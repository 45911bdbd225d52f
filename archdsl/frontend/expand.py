"""Syntax tree to graph: blocks, repetition, sugar and references become plain layers.

The result is one flat graph per model whose layers have unique, deterministic,
valid Python names: the user's `as NAME`, or `{type}_{k}` counted per type in
the order the layers appear. References (`@NAME`), `use NAME` and `init=@NAME`
are resolved here, in the order they are written: a name is defined before it is
used, and belongs to its model (or to the block body that gives it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from archdsl.common.diagnostics import DiagnosticSink, Fix, Note, Span, did_you_mean
from archdsl.frontend import nodes
from archdsl.frontend.names import reserved_reason
from archdsl.ir.graph import ArgValue, CallSite, Graph, GraphNode, WrittenArg, WrittenKeyword
from archdsl.layers import ACTIVATIONS, LAYERS, show
from archdsl.layers.binding import activation_spelled
from archdsl.layers.spec import NO_ACTIVATION
from archdsl.layers.spellings import flag_of, layer_spelled

MAX_REPEAT = 10_000
MAX_LAYERS = 100_000
MAX_BLOCK_DEPTH = 100
UNKNOWN = "?"  # the type of a node that could not be expanded; later passes skip it
DEFAULT_MODEL_NAME = "Model"
USE = "use"  # `use NAME`: a word of the language that is written like a layer
OUTPUT = "output"  # `output @a @b`: a statement written like a layer of references


class _Abort(Exception):
    """Stops expanding one model after an error that leaves nothing sensible to continue with."""


class _ValueError(Exception):
    def __init__(self, code: str, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.hint = code, message, span, hint


@dataclass
class _Pending:
    id: int
    type: str
    args: tuple[WrittenArg, ...]
    keywords: tuple[WrittenKeyword, ...]
    inputs: tuple[int, ...]
    span: Span
    scope: tuple[str, ...]
    alias: str | None = None
    alias_span: Span | None = None
    called_from: tuple[CallSite, ...] = ()
    shares: int | None = None
    state_from: int | None = None


@dataclass
class _Call:
    """A block call, remembered so that `use NAME` can apply it again with the same weights."""

    block: nodes.BlockDef
    bound: Env
    first: int  # the ids of the nodes it expanded to: first <= id < last
    last: int


@dataclass
class _Named:
    """What an `as NAME` names: a node (a layer, an input), or a block call whose output is `node`."""

    node: int
    span: Span
    call: _Call | None = None


@dataclass
class _ModelState:
    nodes: list[_Pending] = field(default_factory=list)
    block_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    inputs: list[int] = field(default_factory=list)
    # The names in reach: the model's own, then one table per block call being expanded
    # (a block body sees only the names it gives itself).
    names: list[dict[str, _Named]] = field(default_factory=lambda: [{}])
    outputs: list[int] | None = None


Env = dict[str, WrittenArg]
Current = tuple[int, ...] | None


def evaluate(value: nodes.Value, env: Env) -> WrittenArg:
    """A written value with block parameters substituted and arithmetic done."""
    if isinstance(value, nodes.Reference):
        raise _ValueError(
            "A213",
            f"'@{value.name}' is a reference, not a value: only init= takes one",
            value.span,
            "a reference starts a statement or a branch of a group: '( @a | @b ) -> add'",
        )
    if isinstance(value, nodes.Number):
        return WrittenArg(value.value, value.span)
    if isinstance(value, nodes.Word):
        return env.get(value.name, WrittenArg(value.name, value.span))
    if isinstance(value, nodes.Dims):
        parts: list[ArgValue] = []
        for part in value.parts:
            resolved = evaluate(part, env).value  # a decimal is left to the layer (normalize's mean)
            if isinstance(resolved, tuple):
                parts.extend(resolved)
            else:
                parts.append(resolved)
        return WrittenArg(tuple(parts), value.span)
    return WrittenArg(_integer(value, env), value.span)


def _keyword(keyword: nodes.Keyword, env: Env) -> WrittenKeyword:
    value = evaluate(keyword.value, env)
    return WrittenKeyword(keyword.name, value.value, keyword.span, value.span)


def _integer(value: nodes.Value, env: Env) -> int:
    if isinstance(value, nodes.Number):
        if isinstance(value.value, float):
            raise _ValueError("A210", f"integer expressions take whole numbers, got {value.text}", value.span)
        return value.value
    if isinstance(value, nodes.Word):
        if value.name not in env:
            near = did_you_mean(value.name, env)
            raise _ValueError(
                "A210",
                f"unknown name '{value.name}' in an expression",
                value.span,
                f"did you mean '{near}'?" if near else "expressions may use the block's parameters and whole numbers",
            )
        bound = env[value.name].value
        if not isinstance(bound, int):
            raise _ValueError(
                "A210",
                f"'{value.name}' is {bound!r} here, but an expression needs a whole number",
                value.span,
            )
        return bound
    if isinstance(value, nodes.Negate):
        return -_integer(value.operand, env)
    if isinstance(value, nodes.BinOp):
        left, right = _integer(value.left, env), _integer(value.right, env)
        if value.op == "+":
            return left + right
        if value.op == "-":
            return left - right
        if value.op == "*":
            result = left * right
            if abs(result) > 10**12:
                raise _ValueError("A210", f"{left} * {right} is too large for a size", value.span)
            return result
        if right == 0:
            raise _ValueError("A210", "division by zero", value.span)
        return left // right
    raise _ValueError("A210", "dims cannot be used in an integer expression", value.span)


class _Expander:
    def __init__(self, blocks: dict[str, nodes.BlockDef], sink: DiagnosticSink, names_of: dict[str, dict[str, Span]]):
        self.blocks = blocks
        self.sink = sink
        self.known = sorted(set(LAYERS) | set(blocks))
        self.reported: set[Span] = set()
        self.names_of = names_of  # every model's `as` names, for errors that say where a name is
        self.model_name = ""

    # -- nodes ---------------------------------------------------------------
    def _add(self, state: _ModelState, **fields) -> tuple[int, ...]:
        if len(state.nodes) >= MAX_LAYERS:
            self.sink.error(
                "A502",
                f"the model expands to more than {MAX_LAYERS:,} layers",
                fields["span"],
                "lower a repetition count",
            )
            raise _Abort
        node = _Pending(id=len(state.nodes), **fields)
        state.nodes.append(node)
        return (node.id,)

    def _poison(self, state: _ModelState, span: Span, scope, inputs: tuple[int, ...] = ()) -> tuple[int, ...]:
        return self._add(state, type=UNKNOWN, args=(), keywords=(), inputs=inputs, span=span, scope=scope)

    def chain(self, chain: nodes.Chain, current: Current, env: Env, scope, stack, state: _ModelState) -> Current:
        for node in chain.nodes:
            current = self.node(node, current, env, scope, stack, state)
        return current

    def node(self, node: nodes.Node, current: Current, env: Env, scope, stack, state: _ModelState) -> Current:
        if isinstance(node, nodes.Input):
            return self.input(node, current, env, scope, state)
        if isinstance(node, nodes.Reference):
            return self.reference(node, current, scope, state)
        if isinstance(node, nodes.Group):
            return self.group(node, current, env, scope, stack, state)
        if current is None:
            self.sink.error(
                "A306",
                "a model must begin with its input"
                if not state.nodes
                else "a statement starts with 'input', a reference such as '@name', or a group of references",
                node.span,
                "start the chain with 'input SHAPE', e.g. 'input 28x28x1 -> ...'"
                if not state.nodes
                else "start it from a named value: '@name -> ...'",
            )
            current = self._poison(state, node.span, scope)
        if isinstance(node, nodes.Layer):
            return self.layer(node, current, env, scope, stack, state)
        if isinstance(node, nodes.Residual):
            body = self.chain(node.body, self._single(current, node.span, scope, state), env, scope, stack, state)
            body = self._single(body, node.span, scope, state)
            return self._add(
                state,
                type="add",
                args=(),
                keywords=(),
                inputs=(*body, *self._single(current, node.span, scope, state)),
                span=node.span,
                scope=scope,
                called_from=stack,
            )
        assert isinstance(node, nodes.Repeat)
        try:
            count = evaluate(node.count, env)
        except _ValueError as error:
            self.sink.error(error.code, error.message, error.span, error.hint)
            return self._poison(state, node.span, scope, current)
        if not isinstance(count.value, int) or isinstance(count.value, bool) or not 1 <= count.value <= MAX_REPEAT:
            self.sink.error(
                "A203" if not isinstance(count.value, int) or count.value < 1 else "A502",
                f"a repetition count must be a whole number from 1 to {MAX_REPEAT:,}, got {count.value}",
                count.span,
            )
            return self._poison(state, node.span, scope, current)
        for _ in range(count.value):
            current = self.node(node.node, current, env, scope, stack, state)
        return current

    def _single(self, current: Current, span: Span, scope, state: _ModelState) -> tuple[int, ...]:
        assert current is not None
        if len(current) == 1:
            return current
        self.sink.error(
            "A303",
            f"the {len(current)} branches before this are never merged",
            span,
            "join them with a merge layer such as 'concat' or 'add' first",
        )
        return self._poison(state, span, scope, current)

    def input(self, node: nodes.Input, current: Current, env: Env, scope, state: _ModelState) -> Current:
        if current is not None or scope:
            self.sink.error(
                "A306",
                "'input' can only begin a statement of a model" if not scope else "a block body cannot hold an input",
                node.span,
                "each input of a model starts a line of its own: 'input 28x28x1 as image -> ...'",
            )
            return current if current is not None else self._poison(state, node.span, scope)
        try:
            shape = evaluate(node.shape, env)
        except _ValueError as error:
            self.sink.error(error.code, error.message, error.span, error.hint)
            return self._poison(state, node.span, scope)
        alias = self._checked_alias(node, "input name")
        added = self._add(
            state,
            type="input",
            args=(shape,),
            keywords=(),
            inputs=(),
            span=node.span,
            scope=scope,
            alias=alias,
            alias_span=node.alias_span,
        )
        state.inputs.append(added[0])
        self._name(state, alias, node.alias_span, added[0])
        return added

    def group(self, node: nodes.Group, current: Current, env: Env, scope, stack, state: _ModelState) -> Current:
        start = None if current is None else self._single(current, node.span, scope, state)
        outputs: list[int] = []
        for branch in node.branches:
            from_reference = isinstance(branch.nodes[0], nodes.Reference)
            if start is None and not from_reference:
                self.sink.error(
                    "A213",
                    "this branch has nothing to start from: in a group that begins a statement, every branch "
                    "starts with a reference",
                    branch.nodes[0].span,
                    "start the branch with '@name', e.g. '( @a | @b ) -> concat'",
                )
                outputs.extend(self._poison(state, branch.span, scope))
                continue
            result = self.chain(branch, None if from_reference else start, env, scope, stack, state)
            outputs.extend(self._single(result, branch.span, scope, state))
        return tuple(outputs)

    # -- names ---------------------------------------------------------------
    def _name(self, state: _ModelState, alias: str | None, span: Span | None, node: int, call=None) -> None:
        if alias is not None and span is not None:
            state.names[-1].setdefault(alias, _Named(node, span, call))

    def reference(self, node: nodes.Reference, current: Current, scope, state: _ModelState) -> Current:
        if current is not None:
            self.sink.error(
                "A213",
                f"'@{node.name}' in the middle of a chain: a reference starts a statement or a branch of a group",
                node.span,
                f"start a new line with it, '@{node.name} -> ...', or a branch: '( identity | @{node.name} ) -> add'",
            )
            return self._poison(state, node.span, scope, current)
        found = self.resolve(node.name, node.span, state)
        return (found,) if found is not None else self._poison(state, node.span, scope)

    def resolve(self, name: str, span: Span, state: _ModelState) -> int | None:
        """The node `name` stands for here, or None after an A212 that says why it does not."""
        named = state.names[-1].get(name)
        if named is not None:
            return named.node
        in_block = len(state.names) > 1
        later = self.names_of.get(self.model_name, {}).get(name)
        elsewhere = [model for model, names in self.names_of.items() if model != self.model_name and name in names]
        if in_block and name in state.names[0]:
            message = f"'@{name}' names a value of the model, which a block body cannot see"
            hint = "a block body refers only to names given inside the same body; pass the value in by the chain"
        elif not in_block and later is not None and (later.line, later.column) > (span.line, span.column):
            message = f"'@{name}' is used before it is defined (at line {later.line})"
            hint = "a name must be defined before it is used: move that statement up"
        elif elsewhere:
            message = f"'@{name}' is a name of model {elsewhere[0]}, not of this one"
            hint = "each model's names are its own; write the layers here, or share a block"
        else:
            near = did_you_mean(name, state.names[-1])
            message = f"unknown name '@{name}'" + (f" — did you mean '@{near}'?" if near else "")
            hint = (
                f"replace it with '@{near}'"
                if near
                else "give a layer, a block call or an input the name with 'as NAME' before referring to it"
            )
        self.sink.error("A212", message, span, hint)
        return None

    def output(self, statement: nodes.Layer, state: _ModelState) -> None:
        """`output @a @b`: the model's outputs, in order."""
        if state.outputs is not None:
            self.sink.error(
                "A214", "a model has one 'output' statement", statement.span, "list every output in it: 'output @a @b'"
            )
            return
        refs = [arg for arg in statement.args if isinstance(arg, nodes.Reference)]
        if not refs or len(refs) != len(statement.args) or statement.keywords or statement.alias:
            self.sink.error(
                "A214",
                "'output' lists the model's outputs as references",
                statement.span,
                "write them as 'output @label @score'",
            )
            state.outputs = []
            return
        outputs = []
        for ref in refs:
            found = self.resolve(ref.name, ref.span, state)
            if found is None:
                continue
            if found in outputs:
                self.sink.error("A214", f"'@{ref.name}' is listed twice in 'output'", ref.span)
                continue
            outputs.append(found)
        state.outputs = outputs

    def layer(self, node: nodes.Layer, current: Current, env: Env, scope, stack, state: _ModelState) -> Current:
        assert current is not None
        if node.name in self.blocks:
            return self.call(node, current, env, scope, stack, state)
        if node.name == USE:
            return self.use(node, current, scope, stack, state)
        if node.name in env and node.name not in LAYERS:
            # `block b(act=relu) = conv2d 8 same -> act`: the activation the parameter holds, as a layer.
            layer_type = self._parameter_as_layer(node, env, stack)
            if layer_type is None:
                return self._poison(state, node.span, scope, current)
            node = replace(node, name=layer_type)
        spec = LAYERS.get(node.name)
        if spec is None and node.name_span in self.reported:
            return self._poison(state, node.span, scope, current)  # expanded again: said once already
        if spec is None:
            self.reported.add(node.name_span)
            self._unknown_layer(node)
            return self._poison(state, node.span, scope, current)
        glued = _glued_dims(node.args, env)
        if glued is not None:
            text, meant, span = glued
            self.sink.error(
                "A211",
                f"{node.name} does not understand '{text}': a name next to an 'x' needs spaces around the 'x'",
                span,
                f"write '{meant}'",
                fix=Fix(span, meant),
            )
            return self._poison(state, node.span, scope, current)
        if spec.merge and len(current) == 1 and state.nodes[current[0]].type != UNKNOWN:  # (else said already)
            self.sink.error(
                "A304",
                f"{node.name} merges the branches of a group, but nothing before it branches",
                node.name_span,
                f"write the branches in a group first: '( A | B ) -> {node.name}'",
            )
            return self._poison(state, node.span, scope, current)
        if spec.branches and len(current) > 1 and len(current) not in spec.branches:
            counts = " or ".join(str(n) for n in spec.branches)
            self.sink.error(
                "A303",
                f"{node.name} takes a group of {counts} branches, but got {len(current)}",
                node.name_span,
                "after a group, the first branch is the query and the keys and values come from the second "
                "('( Q | KV ) -> attention 4') or from the second and the third ('( Q | K | V ) -> attention 4')",
            )
            return self._poison(state, node.span, scope, current)
        if not spec.merge and len(current) not in spec.branches:
            current = self._single(current, node.span, scope, state)
        state_from = None
        written = []
        for keyword in node.keywords:
            init = spec.arg_index.get("init")
            if keyword.name == "init" and isinstance(keyword.value, nodes.Reference) and init and init.kind == "ref":
                state_from = self.resolve(keyword.value.name, keyword.value.span, state)
                if state_from is None:
                    return self._poison(state, node.span, scope, current)
            else:
                written.append(keyword)
        try:
            args = tuple(evaluate(a, env) for a in node.args)
            keywords = tuple(_keyword(k, env) for k in written)
        except _ValueError as error:
            self.sink.error(error.code, error.message, error.span, error.hint)
            return self._poison(state, node.span, scope, current)
        alias = self._checked_alias(node, "layer name")
        added = self._add(
            state,
            type=node.name,
            args=args,
            keywords=keywords,
            inputs=current,
            span=node.span,
            scope=scope,
            alias=alias,
            alias_span=node.alias_span,
            called_from=stack,
            state_from=state_from,
        )
        self._name(state, alias, node.alias_span, added[0])
        return added

    def _unknown_layer(self, node: nodes.Layer) -> None:
        """A201, saying what the name is when it is something: a framework's spelling, a flag."""
        flagged = flag_of(node.name)
        if flagged:
            self.sink.error(
                "A201",
                f"unknown layer '{node.name}': {node.name.lower()} is a flag of {_listed(flagged)}, not a layer",
                node.name_span,
                f"add the word {node.name.lower()} to the {_listed(flagged, 'or')} instead",
            )
            return
        near = layer_spelled(node.name) or did_you_mean(node.name, self.known)
        self.sink.error(
            "A201",
            f"unknown layer '{node.name}'" + (f" — did you mean '{near}'?" if near else ""),
            node.name_span,
            f"replace it with '{near}'" if near else "see 'archdsl layers' for the layers there are",
            fix=Fix(node.name_span, near) if near else None,
        )

    def _parameter_as_layer(self, node: nodes.Layer, env: Env, stack) -> str | None:
        """The layer type a block parameter standing as a layer names, or None (reported as A201).

        Only an activation word may stand as a layer (`-> act` with act=gelu is a gelu layer);
        `none` and `linear`, which mean no activation, make it an identity layer.
        """
        bound = env[node.name]
        value = bound.value
        if value in ACTIVATIONS:
            return str(value)
        if value in NO_ACTIVATION:
            return "identity"
        block = stack[-1].block if stack else "?"
        near = activation_spelled(value) if isinstance(value, str) else None
        self.sink.error(
            "A201",
            f"'{node.name}' is a parameter of block '{block}' and holds {show(value)} here: "
            "only a parameter that holds an activation may stand as a layer",
            node.name_span,
            f"did you mean '{near}'?"
            if near
            else f"pass an activation ({', '.join(ACTIVATIONS[:3])}, ...), or write the layer itself here",
            (Note(f"'{node.name}' is given {show(value)} here", bound.span),),
            fix=Fix(bound.span, near) if near else None,
        )
        return None

    def _checked_alias(self, node: nodes.Layer, what: str) -> str | None:
        """The `as NAME` of a node, or None (reported as A207) when the name is refused."""
        if node.alias is None:
            return None
        reason = reserved_reason(node.alias)
        if reason is None:
            return node.alias
        self.sink.error(
            "A207",
            f"the {what} '{node.alias}' {reason}",
            node.alias_span or node.span,
            f"pick another name, e.g. '{_suggest(node.alias)}'",
        )
        return None

    def call(self, node: nodes.Layer, current: Current, env: Env, scope, stack, state: _ModelState) -> Current:
        block = self.blocks[node.name]
        called = [site.block for site in stack]
        if node.name in called:
            cycle = " -> ".join((*called[called.index(node.name) :], node.name))
            self.sink.error(
                "A209",
                f"block '{node.name}' calls itself ({cycle})",
                node.name_span,
                "a block cannot use itself, directly or through another block",
            )
            return self._poison(state, node.span, scope, current)
        if len(stack) >= MAX_BLOCK_DEPTH:
            self.sink.error("A501", f"blocks call each other more than {MAX_BLOCK_DEPTH} deep", node.span)
            raise _Abort
        bound = self.bind_call(block, node, env)
        if bound is None:
            return self._poison(state, node.span, scope, current)
        alias = self._checked_alias(node, "block call name") if node.alias is not None else None
        return self._expand_call(block, bound, node, alias, current, scope, stack, state)

    def _expand_call(self, block, bound: Env, node: nodes.Layer, alias, current, scope, stack, state) -> Current:
        """A block's body for one call (or a `use` of a call), with names of its own."""
        if alias is not None:
            label = alias
        else:
            state.block_calls[block.name] += 1
            label = f"{block.name}_{state.block_calls[block.name]}"
        first = len(state.nodes)
        arguments = tuple((param.name, bound[param.name].value) for param in block.params if param.name in bound)
        state.names.append({})
        try:
            result = self.chain(
                block.body, current, bound, (*scope, label), (*stack, CallSite(block.name, node.span, arguments)), state
            )
        finally:
            state.names.pop()
        if result is not None and len(result) == 1:
            self._name(state, alias, node.alias_span, result[0], _Call(block, bound, first, len(state.nodes)))
        return result

    def use(self, node: nodes.Layer, current: Current, scope, stack, state: _ModelState) -> Current:
        """`use NAME`: the layer or block call named NAME applied again, with the same weights."""
        current = self._single(current, node.span, scope, state)
        if len(node.args) != 1 or not isinstance(node.args[0], nodes.Word) or node.keywords:
            self.sink.error(
                "A309",
                "use takes the name of one layer or block call",
                node.span,
                "write 'use NAME', where NAME was given with 'as NAME' earlier: 'use encoder as encoder_2'",
            )
            return self._poison(state, node.span, scope, current)
        word = node.args[0]
        found = self.resolve(word.name, word.span, state)
        if found is None:
            return self._poison(state, node.span, scope, current)
        named = state.names[-1][word.name]
        original = state.nodes[found]
        if original.type in ("input", UNKNOWN):
            self.sink.error(
                "A309",
                f"'{word.name}' is an input, not a layer: use applies a layer or a block call again",
                word.span,
                f"read the input with '@{word.name}' instead",
            )
            return self._poison(state, node.span, scope, current)
        alias = self._checked_alias(node, "layer name")
        if named.call is None:
            added = self._add(
                state,
                type=original.type,
                args=original.args,
                keywords=original.keywords,
                inputs=current,
                span=node.span,
                scope=scope,
                alias=alias,
                alias_span=node.alias_span,
                called_from=stack,
                shares=_owner(original) if original.type in LAYERS and LAYERS[original.type].has_weights else None,
            )
            self._name(state, alias, node.alias_span, added[0])
            return added
        call = named.call
        first = len(state.nodes)
        result = self._expand_call(call.block, call.bound, node, alias, current, scope, stack, state)
        for copy, source in zip(state.nodes[first:], state.nodes[call.first : call.last], strict=False):
            if copy.type == source.type and source.type in LAYERS and LAYERS[source.type].has_weights:
                copy.shares = _owner(source)  # layers without weights are simply made again
        return result

    def bind_call(self, block: nodes.BlockDef, node: nodes.Layer, env: Env) -> Env | None:
        bound: Env = {}
        ok = True
        names = [p.name for p in block.params]
        try:
            if len(node.args) > len(block.params):
                extra = node.args[len(block.params)]
                self.sink.error(
                    "A204",
                    f"block {block.name} takes {len(block.params)} argument{'s' if len(block.params) != 1 else ''} "
                    f"({', '.join(names) or 'none'}) but got {len(node.args)}",
                    extra.span,
                    f"{block.name} is defined at line {block.span.line}",
                )
                ok = False
            for param, value in zip(block.params, node.args, strict=False):  # extra args reported above
                bound[param.name] = evaluate(value, env)
            for keyword in node.keywords:
                if keyword.name not in names:
                    near = did_you_mean(keyword.name, names)
                    self.sink.error(
                        "A202",
                        f"block {block.name} has no parameter '{keyword.name}'",
                        keyword.span,
                        f"did you mean '{near}'?" if near else f"its parameters are: {', '.join(names) or 'none'}",
                    )
                    ok = False
                elif keyword.name in bound:
                    self.sink.error("A206", f"{block.name} {keyword.name} is given twice", keyword.span)
                    ok = False
                else:
                    bound[keyword.name] = evaluate(keyword.value, env)
            for param in block.params:
                if param.name in bound:
                    continue
                if param.default is None:
                    self.sink.error(
                        "A205",
                        f"block {block.name} needs {param.name}",
                        node.span,
                        f"call it as '{block.name} {' '.join(names)}', giving each parameter without a default",
                    )
                    ok = False
                else:
                    # A default may use the parameters before it: block b(n, m=n).
                    bound[param.name] = evaluate(param.default, dict(bound))
        except _ValueError as error:
            self.sink.error(error.code, error.message, error.span, error.hint)
            return None
        return bound if ok else None

    # -- models --------------------------------------------------------------
    def model(self, name: str, statements: tuple[nodes.Chain, ...], span: Span, name_span: Span) -> Graph | None:
        state = _ModelState()
        self.model_name = name
        errors_before = len(self.sink.items)
        last: Current = None
        try:
            for index, statement in enumerate(statements):
                written_output = _output_statement(statement, self.blocks)
                if written_output is not None:
                    self.output(written_output, state)
                    continue
                last = self.chain(statement, None, {}, (), (), state)
                if last is not None and len(last) > 1:
                    what = "the model" if index == len(statements) - 1 else "this line"
                    self.sink.error(
                        "A303",
                        f"{what} ends with {len(last)} branches that are never merged",
                        statement.nodes[-1].span,
                        "end the group with a merge layer such as 'concat' or 'add'",
                    )
        except _Abort:
            return None
        if len(self.sink.items) > errors_before and not state.nodes:
            return None
        outputs = state.outputs if state.outputs is not None else list(last[-1:] if last else ())
        if len(self.sink.items) == errors_before:
            self._check_inputs_and_uses(state, outputs)
        named = _finalize(state.nodes, self.sink)
        return Graph(name, tuple(named), span, name_span, tuple(named[i].name for i in outputs))

    def _check_inputs_and_uses(self, state: _ModelState, outputs: list[int]) -> None:
        """Several inputs are named; every value is read by something or is an output (A308)."""
        if len(state.inputs) > 1:
            for position, index in enumerate(state.inputs, 1):
                node = state.nodes[index]
                if node.alias is None:
                    name = f"input_{position}"
                    self.sink.error(
                        "A214",
                        f"this model has {len(state.inputs)} inputs, so each is named",
                        node.span,
                        f"name it with 'as NAME' after its shape (here 'as {name}'); "
                        "the names become the inputs of the code",
                        fix=Fix(Span(node.span.file, *_end(node.span), *_end(node.span)), f" as {name}"),
                    )
        used = set(outputs)
        for node in state.nodes:
            used.update(node.inputs)
            if node.state_from is not None:
                used.add(node.state_from)
        for node in state.nodes:
            if node.id in used or node.type == UNKNOWN:
                continue
            what = "input" if node.type == "input" else "value of"
            label = f"'{node.alias}'" if node.alias else f"this {node.type}"
            self.sink.error(
                "A308",
                f"the {what} {label} is never used",
                node.alias_span or node.span,
                f"list it in 'output @{node.alias}', read it with '@{node.alias}' in a later line, or remove it"
                if node.alias
                else "name it with 'as NAME' and list it in 'output @NAME', or remove it",
            )


def _finalize(pending: list[_Pending], sink: DiagnosticSink) -> list[GraphNode]:
    """Give every node its final name: user names first, then `{type}_{k}`."""
    names: dict[int, str] = {}
    taken: set[str] = {"input"}
    by_alias: dict[str, list[_Pending]] = defaultdict(list)
    for node in pending:
        if node.alias:
            by_alias[node.alias].append(node)
    for alias, named in by_alias.items():
        spans: list[Span] = []
        for node in named:
            if node.alias_span not in spans:
                spans.append(node.alias_span)  # type: ignore[arg-type]
        if len(spans) > 1:
            first = spans[0]
            sink.error(
                "A208",
                f"the layer name '{alias}' is used twice",
                spans[1],
                f"it is already the name of the layer at line {first.line}; layer names must be unique",
            )
        if len(named) == 1:
            chosen = [alias]
        else:
            # The same written name expanded several times (repetition, a block called twice).
            chosen = [f"{alias}_{k}" for k in range(1, len(named) + 1)]
        for node, name in zip(named, chosen, strict=True):
            if name in taken:
                sink.error("A208", f"the layer name '{name}' is used twice", node.alias_span or node.span)
            names[node.id] = name
            taken.add(name)
    counters: dict[str, int] = defaultdict(int)
    for node in pending:
        if node.id in names:
            continue
        if node.type == "input":
            names[node.id] = "input"  # a named input took its alias above
            continue
        base = "unknown" if node.type == UNKNOWN else node.type
        while True:
            counters[base] += 1
            candidate = f"{base}_{counters[base]}"
            if candidate not in taken:
                break
        names[node.id] = candidate
        taken.add(candidate)
    return [
        GraphNode(
            name=names[node.id],
            type=node.type,
            args=node.args,
            keywords=node.keywords,
            inputs=tuple(names[i] for i in node.inputs),
            span=node.span,
            scope=node.scope,
            named_by_user=node.alias is not None,
            called_from=node.called_from,
            shares=names[node.shares] if node.shares is not None else None,
            state_from=names[node.state_from] if node.state_from is not None else None,
        )
        for node in pending
    ]


def _owner(node: _Pending) -> int:
    """The node that holds the weights `node` uses: itself, or the one it shares them with."""
    return node.shares if node.shares is not None else node.id


def _output_statement(chain: nodes.Chain, blocks) -> nodes.Layer | None:
    """`output @a @b` parses as a chain of one layer named 'output': that layer, or None."""
    if len(chain.nodes) != 1:
        return None
    (node,) = chain.nodes
    if isinstance(node, nodes.Layer) and node.name == OUTPUT and OUTPUT not in blocks and OUTPUT not in LAYERS:
        return node
    return None


def _names_given(statements) -> dict[str, Span]:
    """Every `as NAME` written in a model's own statements (not inside blocks), where first given."""
    found: dict[str, Span] = {}

    def visit(node) -> None:
        if isinstance(node, nodes.Layer | nodes.Input) and node.alias and node.alias_span:
            found.setdefault(node.alias, node.alias_span)
        for child in _children(node):
            visit(child)

    for statement in statements:
        visit(statement)
    return found


def _children(node) -> tuple:
    if isinstance(node, nodes.Chain):
        return node.nodes
    if isinstance(node, nodes.Group):
        return node.branches
    if isinstance(node, nodes.Residual):
        return (node.body,)
    if isinstance(node, nodes.Repeat):
        return (node.node,)
    return ()


def _end(span: Span) -> tuple[int, int]:
    return span.end_line, span.end_column


def _listed(names: tuple[str, ...], conjunction: str = "and") -> str:
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}" if len(names) > 1 else names[0]


def _glued_dims(args: tuple[nodes.Value, ...], env: Env) -> tuple[str, str, Span] | None:
    """`reshape 1x1xc` in a block: read as 1 and the name `x1xc`. The text, what was meant, and where.

    The lexer reads `1x1` as dims only when no letter follows, so a parameter glued to an `x`
    joins a name; written with spaces (`1x1 x c`), it is an axis.
    """
    for index, arg in enumerate(args):
        if not isinstance(arg, nodes.Word) or "x" not in arg.name:
            continue
        before = args[index - 1] if index else None
        glued = (
            _digits(before) if before is not None and _end(before.span) == (arg.span.line, arg.span.column) else None
        )
        text = (glued or "") + arg.name
        parts = text.split("x")
        if not all(p.isdigit() or p in env for p in parts) or all(p.isdigit() for p in parts):
            continue
        groups: list[str] = []
        for part in parts:
            if part.isdigit() and groups and groups[-1][-1].isdigit():
                groups[-1] += f"x{part}"
            else:
                groups.append(part)
        start = before.span if glued and before is not None else arg.span
        return text, " x ".join(groups), Span(arg.span.file, start.line, start.column, *_end(arg.span))
    return None


def _digits(value: nodes.Value) -> str | None:
    """A number or a dims literal as written (`1`, `1x1`), or None for anything else."""
    if isinstance(value, nodes.Number) and isinstance(value.value, int) and value.value >= 0:
        return value.text
    if isinstance(value, nodes.Dims) and all(isinstance(p, nodes.Number) and p.value >= 0 for p in value.parts):
        return "x".join(p.text for p in value.parts)  # type: ignore[union-attr]
    return None


def _suggest(name: str) -> str:
    base = name.strip("_") or "layer"
    return f"{base}_layer" if reserved_reason(f"{base}_layer") is None else "head"


def expand(module: nodes.Module, sink: DiagnosticSink) -> tuple[list[Graph], list[str]]:
    """Every model of the file as a graph, and the names of its blocks."""
    blocks: dict[str, nodes.BlockDef] = {}
    models: list[tuple[str, tuple[nodes.Chain, ...], Span, Span]] = []
    bare: list[nodes.BareChain] = []
    seen_models: dict[str, nodes.ModelDef] = {}
    for statement in module.statements:
        if isinstance(statement, nodes.BlockDef):
            _define_block(statement, blocks, sink)
        elif isinstance(statement, nodes.ModelDef):
            reason = reserved_reason(statement.name)
            if reason:
                sink.error(
                    "A207",
                    f"the model name '{statement.name}' {reason}",
                    statement.name_span,
                    f"pick another name, e.g. '{statement.name.capitalize()}Net'",
                )
            elif statement.name in seen_models:
                sink.error(
                    "A208",
                    f"model '{statement.name}' is defined twice",
                    statement.name_span,
                    f"the first definition is at line {seen_models[statement.name].span.line}",
                )
            else:
                seen_models[statement.name] = statement
                models.append((statement.name, statement.statements, statement.span, statement.name_span))
        else:
            bare.append(statement)
    if bare and (seen_models or len(bare) > 1):
        sink.error(
            "A404",
            "a file holds either one bare chain or named models, not both"
            if seen_models
            else "a file holds at most one bare chain",
            bare[-1].span if len(bare) > 1 else bare[0].span,
            "wrap each chain in 'model Name { ... }'",
        )
    elif bare:
        models.append((DEFAULT_MODEL_NAME, (bare[0].body,), bare[0].span, bare[0].span))
    if not models and not sink:
        last = module.statements[-1].span if module.statements else Span(module.filename, 1, 1, 1, 1)
        example = "input 28x28x1 -> conv2d 32 -> dense 10"
        end = Span(last.file, *_end(last), *_end(last))
        sink.error(
            "A401",
            "the file defines no model" + (" (only blocks)" if blocks else ""),
            Span(last.file, last.line, last.column, last.line, last.column + 1),
            f"write a chain such as '{example}', or 'model Name {{ ... }}'",
            fix=Fix(end, f"\n{example}") if module.statements else Fix(end, f"{example}\n"),
        )
    expander = _Expander(blocks, sink, {name: _names_given(statements) for name, statements, _, _ in models})
    graphs = [g for g in (expander.model(*m) for m in models) if g is not None]
    return graphs, list(blocks)


def _define_block(block: nodes.BlockDef, blocks: dict[str, nodes.BlockDef], sink: DiagnosticSink) -> None:
    if block.name in LAYERS:
        sink.error(
            "A207",
            f"the block name '{block.name}' is already a layer",
            block.name_span,
            f"pick another name, e.g. '{block.name}_block'",
        )
        return
    if block.name in blocks:
        sink.error(
            "A208",
            f"block '{block.name}' is defined twice",
            block.name_span,
            f"the first definition is at line {blocks[block.name].span.line}",
        )
        return
    seen: set[str] = set()
    for param in block.params:
        if param.name in seen:
            sink.error("A208", f"block {block.name} has two parameters named '{param.name}'", param.span)
        seen.add(param.name)
    blocks[block.name] = block
