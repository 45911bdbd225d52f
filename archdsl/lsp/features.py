"""What the server answers, computed from one `Analysis`: diagnostics, hover, inlay hints,
code actions, formatting, symbols, definitions, references and renaming.

Each function takes the analysis of the document's current version and returns lsprotocol
objects; none of them touches the protocol or raises for anything in the document.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from functools import cached_property

from lsprotocol import types

from archdsl.common.diagnostics import ArchError, Diagnostic
from archdsl.frontend import nodes
from archdsl.ir.model import Layer, Model
from archdsl.layers import LAYERS, show
from archdsl.layers.shapes import Shape, display_shape, format_dims
from archdsl.layers.spec import REQUIRED
from archdsl.lsp.document import TARGETS, Analysis, Instance, walk
from archdsl.lsp.names import ALIAS, BLOCK, MODEL, Names, Occurrence, blank_comments, rename_problem
from archdsl.lsp.text import Text

SOURCE = "archdsl"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "note": types.DiagnosticSeverity.Information,
}
_TARGET_NAMES = {"keras": "Keras", "torch": "PyTorch"}
MAX_INSTANCES_SHOWN = 8
MAX_CODE_LINES = 24
MAX_HINT_SHAPES = 3


class Features:
    """The answers for one version of a document; built once per version, like its analysis."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self.text = analysis.text
        self.names = Names(analysis)

    # ---------------------------------------------------------------- diagnostics and their fixes

    @cached_property
    def diagnostics(self) -> list[types.Diagnostic]:
        return [self._diagnostic(d) for d in self.analysis.diagnostics]

    def _diagnostic(self, diagnostic: Diagnostic) -> types.Diagnostic:
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=self.analysis.uri, range=self.text.span_range(note.span)),
                message=note.message,
            )
            for note in diagnostic.notes
        ]
        message = diagnostic.message + (f"\nhelp: {diagnostic.hint}" if diagnostic.hint else "")
        return types.Diagnostic(
            range=self.text.span_range(diagnostic.span),
            message=message,
            severity=_SEVERITY[diagnostic.severity],
            code=diagnostic.code,
            source=SOURCE,
            related_information=related or None,
        )

    def code_actions(self, range_: types.Range) -> list[types.CodeAction]:
        """The edit of every diagnostic that proposes one (`Diagnostic.fix`) and touches `range_`."""
        start, end = self.text.offset_at(range_.start), self.text.offset_at(range_.end)
        actions = []
        for diagnostic, shown in zip(self.analysis.diagnostics, self.diagnostics, strict=True):
            fix = diagnostic.fix
            if fix is None:
                continue
            spans = [self.text.span_offsets(diagnostic.span), self.text.span_offsets(fix.span)]
            if not any(low <= end and start <= high for low, high in spans):
                continue
            low, high = self.text.span_offsets(fix.span)
            actions.append(
                types.CodeAction(
                    title=_fix_title(self.text.source[low:high], fix.text),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[shown],
                    is_preferred=True,
                    edit=types.WorkspaceEdit(
                        changes={
                            self.analysis.uri: [types.TextEdit(range=self.text.range(low, high), new_text=fix.text)]
                        }
                    ),
                )
            )
        return actions

    # ---------------------------------------------------------------- formatting

    def formatting(self) -> list[types.TextEdit] | None:
        """`archdsl fmt` as one edit; nothing while the document does not parse."""
        from archdsl.tools.formatter import FormatterError, format_source

        source = self.text.source
        try:
            formatted = format_source(source, self.analysis.uri)
        except (ArchError, FormatterError):
            return None
        if formatted == source:
            return []
        return [types.TextEdit(range=self.text.range(0, len(source)), new_text=formatted)]

    # ---------------------------------------------------------------- symbols and navigation

    def document_symbols(self) -> list[types.DocumentSymbol]:
        symbols = []
        checked = {model.span: model for model in self.analysis.models}
        for statement in self.analysis.statements:
            span = self.text.span_range(statement.span)
            children = [
                types.DocumentSymbol(
                    name=node.alias,
                    kind=types.SymbolKind.Variable,
                    range=self.text.span_range(node.span),
                    selection_range=self.text.span_range(node.alias_span),
                    detail=node.name,
                )
                for node in walk(statement)
                if isinstance(node, nodes.Layer) and node.alias is not None and node.alias_span is not None
            ]
            if isinstance(statement, nodes.BlockDef):
                params = [
                    types.DocumentSymbol(
                        name=param.name,
                        kind=types.SymbolKind.TypeParameter,
                        range=self.text.span_range(param.span),
                        selection_range=self.text.span_range(param.span),
                    )
                    for param in statement.params
                ]
                symbols.append(
                    types.DocumentSymbol(
                        name=statement.name,
                        kind=types.SymbolKind.Function,
                        range=span,
                        selection_range=self.text.span_range(statement.name_span),
                        detail=_signature(statement, self.text),
                        children=params + children,
                    )
                )
                continue
            model = checked.get(statement.span)
            name = statement.name if isinstance(statement, nodes.ModelDef) else (model.name if model else "Model")
            selection = statement.name_span if isinstance(statement, nodes.ModelDef) else statement.span
            symbols.append(
                types.DocumentSymbol(
                    name=name,
                    kind=types.SymbolKind.Class,
                    range=span,
                    selection_range=self.text.span_range(selection),
                    detail=_model_detail(model) if model else None,
                    children=children,
                )
            )
        return symbols

    def _location(self, occurrence: Occurrence) -> types.Location:
        return types.Location(uri=self.analysis.uri, range=self.text.range(occurrence.start, occurrence.end))

    def definition(self, offset: int) -> types.Location | None:
        occurrence = self.names.at(offset)
        if occurrence is None:
            return None
        found = self.names.definition(occurrence)
        return self._location(found) if found is not None else None

    def references(self, offset: int, include_declaration: bool) -> list[types.Location]:
        occurrence = self.names.at(offset)
        if occurrence is None:
            return []
        return [self._location(o) for o in self.names.of(occurrence.symbol) if include_declaration or not o.definition]

    def prepare_rename(self, offset: int) -> types.PrepareRenamePlaceholder | None:
        occurrence = self.names.at(offset)
        if occurrence is None:
            return None
        return types.PrepareRenamePlaceholder(
            range=self.text.range(occurrence.start, occurrence.end), placeholder=occurrence.symbol.name
        )

    def rename(self, offset: int, new_name: str) -> types.WorkspaceEdit | str | None:
        """The edit that renames the name under the cursor everywhere, or why it cannot."""
        occurrence = self.names.at(offset)
        if occurrence is None:
            return None
        problem = rename_problem(occurrence.symbol, new_name, self.names)
        if problem:
            return problem
        edits = [
            types.TextEdit(range=self.text.range(o.start, o.end), new_text=new_name)
            for o in self.names.of(occurrence.symbol)
        ]
        return types.WorkspaceEdit(changes={self.analysis.uri: edits})

    # ---------------------------------------------------------------- hover

    @cached_property
    def _nodes(self) -> list[tuple[int, int, nodes.Layer | nodes.Input]]:
        found = []
        for statement in self.analysis.statements:
            for node in walk(statement):
                if isinstance(node, nodes.Layer | nodes.Input):
                    found.append((*self.text.span_offsets(node.span), node))
        return found

    def node_at(self, offset: int) -> nodes.Layer | nodes.Input | None:
        """The innermost layer, block call or input whose text holds `offset`."""
        best = None
        for start, end, node in self._nodes:
            if start <= offset <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end, node)
        return best[2] if best else None

    def hover(self, offset: int) -> types.Hover | None:
        occurrence = self.names.at(offset)
        text = None
        if occurrence is not None and occurrence.definition and occurrence.symbol.kind in (MODEL, BLOCK):
            text = self._hover_definition(occurrence)
            start, end = occurrence.start, occurrence.end
        elif occurrence is not None and not occurrence.definition and occurrence.symbol.kind == ALIAS:
            text = self._hover_value(occurrence, offset)  # `@enc`, `use enc`: what the name holds
            start, end = occurrence.start, occurrence.end
        if text is None:
            node = self.node_at(offset)
            if node is None:
                return None
            text = self._hover_input(node) if isinstance(node, nodes.Input) else self._hover_layer(node)
            start, end = self.text.span_offsets(node.span)
        if text is None:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=self.text.range(start, end),
        )

    def _hover_definition(self, occurrence: Occurrence) -> str | None:
        name = occurrence.symbol.name
        if occurrence.symbol.kind == MODEL:
            model = next((m for m in self.analysis.models if m.name == name), None)
            if model is None:
                return f"**model {name}**: not checked (see the errors)"
            return f"**model {name}**\n\n{_model_detail(model)}"
        block = self.analysis.blocks.get(name)
        if block is None:
            return None
        calls = [o for o in self.names.of(occurrence.symbol) if not o.definition]
        return f"**block {_signature(block, self.text)}**\n\ncalled {len(calls)} time{'s' if len(calls) != 1 else ''}"

    def _hover_value(self, occurrence: Occurrence, offset: int) -> str | None:
        name = occurrence.symbol.name
        lines = []
        for model in self.analysis.models:
            start, end = self.text.span_offsets(model.span)
            shape = _value_shape(model, name) if start <= offset <= end else None
            if shape is not None:
                lines.append(f"**{name}** in {model.name}: `{display_shape(shape)}`")
        return "\n\n".join(lines) or None

    def _hover_input(self, node: nodes.Input) -> str | None:
        found = self.analysis.input_shape_of(node)
        if not found:
            return None
        lines = [f"**input** of {model.name}: `{display_shape(shape)}`" for model, shape in found]
        return "\n\n".join(lines)

    def _hover_layer(self, node: nodes.Layer) -> str | None:
        instances = self.analysis.layer_instances(node)
        block = self.analysis.blocks.get(node.name)
        spec = LAYERS.get(node.name)
        if block is not None:
            head = f"**{node.name}**: a call of block `{_signature(block, self.text)}`"
        elif spec is not None:
            head = f"**{node.name}**: {spec.summary}"
        else:
            return None
        if not instances:
            return head + "\n\nnot checked: the model it is in has errors" + (_arguments(node.name) if spec else "")
        parts = [head, _instances_table(instances)]
        parts += self._code(instances[0])
        if len(instances) > 1:
            parts.append(f"_the code of {_instance_name(instances[0])}; {len(instances) - 1} more not shown_")
        return "\n\n".join(parts)

    def _code(self, instance: Instance) -> list[str]:
        parts = []
        written: list[Layer] = []
        for layer in instance.layers:
            written += [*self.analysis.inserted_before(layer, instance.model), layer]
        for target in TARGETS:
            code = self.analysis.code(instance.model, target)
            if isinstance(code, ArchError):
                parts.append(f"{_TARGET_NAMES[target]}: {code.message}")
                continue
            records = self.analysis.layer_codes(instance.model, target)
            found = [records[layer.name] for layer in written if layer.name in records]
            if target == "torch":
                init = [line for record in found for line in _dedented(record.init)]
                forward = [line for record in found for line in _dedented(record.forward)]
                lines = ["# in __init__", *init, "# in forward", *forward] if init else forward
            else:
                lines = [line for record in found for line in _dedented(record.forward)]
            parts.append(f"```python\n# {_TARGET_NAMES[target]}\n{_clip(lines)}\n```")
        return parts

    # ---------------------------------------------------------------- inlay hints

    @cached_property
    def _line_hints(self) -> dict[int, tuple[int, str]]:
        """Per line (the parser's count) that ends a node: where its code ends and the shape after it."""
        by_layer, by_call = self.analysis.instances_by_span()
        anchors: dict[int, tuple[int, list[Shape]]] = {}

        def offer(span, shapes: list[Shape]) -> None:
            _, end = self.text.span_offsets(span)
            best = anchors.get(span.end_line)
            if best is None or end > best[0]:
                anchors[span.end_line] = (end, shapes)

        for span, instances in by_layer.items():
            offer(span, [instance.output.output_shape for instance in instances])
        for span, instances in by_call.items():
            offer(span, [instance.output.output_shape for instance in instances])
        for statement in self.analysis.statements:
            for node in walk(statement):
                if isinstance(node, nodes.Input):
                    shapes = [shape for _model, shape in self.analysis.input_shape_of(node)]
                    if shapes:
                        offer(node.span, shapes)
        source = blank_comments(self.text.source)
        hints = {}
        for line, (end, shapes) in anchors.items():
            line_end = source.find("\n", end)
            line_end = len(source) if line_end < 0 else line_end
            stop = end + len(source[end:line_end].rstrip(" \t\f\r"))
            distinct = list(dict.fromkeys(shapes))
            label = " | ".join(format_dims(shape) or "()" for shape in distinct[:MAX_HINT_SHAPES])
            if len(distinct) > MAX_HINT_SHAPES:
                label += f" | … {len(distinct) - MAX_HINT_SHAPES} more"
            hints[line] = (stop, f"→ {label}")
        return hints

    def inlay_hints(self, range_: types.Range) -> list[types.InlayHint]:
        start, end = self.text.offset_at(range_.start), self.text.offset_at(range_.end)
        return [
            types.InlayHint(
                position=self.text.position(offset),
                label=label,
                kind=types.InlayHintKind.Type,
                padding_left=True,
                tooltip="output shape per sample, channels last (one per call of the block it is in)",
            )
            for _line, (offset, label) in sorted(self._line_hints.items())
            if start <= offset <= end
        ]


# ---------------------------------------------------------------- text of the answers


def _fix_title(old: str, new: str) -> str:
    if not old:
        return f"Insert '{new.strip()}'"
    if not new:
        return f"Remove '{old}'"
    return f"Replace '{old}' with '{new}'"


def _signature(block: nodes.BlockDef, text: Text) -> str:
    """`conv_bn(c, k=3)`, its parameters as written."""
    params = ", ".join(text.source[slice(*text.span_offsets(param.span))] for param in block.params)
    return f"{block.name}({params})"


def _value_shape(model: Model, name: str) -> Shape | None:
    """The shape a name given with `as` holds: an input's, a layer's output, or a block call's last layer's."""
    if name in {given.name for given in model.inputs} or any(layer.name == name for layer in model.layers):
        return model.shape_of(name)
    inside = [layer for layer in model.layers if name in layer.scope]
    return inside[-1].output_shape if inside else None


def _model_detail(model: Model) -> str:
    return (
        f"{display_shape(model.input_shape)} → {display_shape(model.output_shape)}, "
        f"{len(model.layers)} layers, {model.params.keras:,} parameters in Keras, {model.params.torch:,} in PyTorch"
    )


def _instance_name(instance: Instance) -> str:
    if instance.scope and (len(instance.layers) > 1 or instance.layers[0].scope != instance.scope):
        return f"`{'.'.join(instance.scope)}`"
    return f"`{instance.output.name}`"


def _instances_table(instances: Sequence[Instance]) -> str:
    rows = ["| | input | output | Keras params | PyTorch params |", "|---|---|---|---:|---:|"]
    for instance in instances[:MAX_INSTANCES_SHOWN]:
        first = instance.layers[0]
        inputs = " + ".join(f"`{display_shape(shape)}`" for shape in first.input_shapes)
        keras = sum(layer.params.keras for layer in instance.layers)
        torch = sum(layer.params.torch for layer in instance.layers)
        where = f" in {instance.model.name}" if _several_models(instances) else ""
        rows.append(
            f"| {_instance_name(instance)}{where} | {inputs} | `{display_shape(instance.output.output_shape)}` "
            f"| {keras:,} | {torch:,} |"
        )
    if len(instances) > MAX_INSTANCES_SHOWN:
        rows.append(f"| … {len(instances) - MAX_INSTANCES_SHOWN} more | | | | |")
    return "\n".join(rows)


def _several_models(instances: Sequence[Instance]) -> bool:
    return len({instance.model.name for instance in instances}) > 1


def _arguments(name: str) -> str:
    spec = LAYERS[name]
    if not spec.args:
        return ""
    lines = [
        f"- `{arg.name}`"
        + ("" if arg.default is REQUIRED else f" = `{_default(arg.default)}`")
        + (f": {arg.doc}" if arg.doc else "")
        for arg in spec.args
    ]
    return "\n\n" + "\n".join(lines)


def _default(value: object) -> str:
    return "none" if value is None else show(value)


def _dedented(lines: Sequence[str]) -> list[str]:
    return textwrap.dedent("\n".join(lines)).splitlines()


def _clip(lines: list[str]) -> str:
    if len(lines) > MAX_CODE_LINES:
        lines = [*lines[:MAX_CODE_LINES], f"# ... {len(lines) - MAX_CODE_LINES} more lines"]
    return "\n".join(lines)
