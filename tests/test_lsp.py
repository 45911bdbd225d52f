"""`archdsl lsp` driven as an editor drives it: pytest-lsp starts the server process and talks
to it over stdio with a real LSP client (VS Code's capabilities), for every feature.

One server serves the whole module, as one editor session would; each test opens documents of
its own. Expected figures come from outside the server where they can: published parameter
counts (LeNet-5: 61,706), `archdsl.parse` and `archdsl fmt` run in this process.
"""

from __future__ import annotations

import asyncio
import sys
from itertools import count
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

import archdsl
from archdsl.layers import ACTIVATIONS, LAYERS
from archdsl.pipeline import check
from archdsl.tools.formatter import format_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.arch"))
PUBLISHED = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
TIMEOUT = 60
_serial = count()

pytestmark = pytest.mark.asyncio(loop_scope="module")


def record_diagnostics(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    """Keep every publication by document and version: waiting for the next notification would
    miss those that arrive while the test is not waiting."""
    client.diagnostics[params.uri] = params.diagnostics
    client.publications[(params.uri, params.version)] = list(params.diagnostics)


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    client.publications = {}
    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, PUBLISHED: record_diagnostics})
    return client


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "archdsl", "lsp", "--stdio"], client_factory=make_client
    ),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=ROOT.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


# ---------------------------------------------------------------- helpers


def new_uri(name: str = "spec") -> str:
    return f"file:///work/{name}_{next(_serial)}.arch"


async def published(client: LanguageClient, uri: str, version: int | None) -> list[types.Diagnostic]:
    """The diagnostics the server publishes for `uri` at `version`."""
    async with asyncio.timeout(TIMEOUT):
        while (uri, version) not in client.publications:
            await asyncio.sleep(0.002)
    return client.publications[(uri, version)]


async def open_spec(client: LanguageClient, text: str, uri: str | None = None) -> tuple[str, list[types.Diagnostic]]:
    uri = uri or new_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="arch", version=1, text=text)
        )
    )
    return uri, await published(client, uri, 1)


def change(client: LanguageClient, uri: str, version: int, edits: list[tuple[types.Range | None, str]]) -> None:
    changes: list[types.TextDocumentContentChangeEvent] = [
        types.TextDocumentContentChangeWholeDocument(text=text)
        if where is None
        else types.TextDocumentContentChangePartial(range=where, text=text)
        for where, text in edits
    ]
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes
        )
    )


def at(text: str, needle: str, nth: int = 0, delta: int = 0) -> types.Position:
    """The position of the nth `needle` in `text` (plus `delta` characters); the texts here are ASCII."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    index += delta
    line = text.count("\n", 0, index)
    return types.Position(line=line, character=index - (text.rfind("\n", 0, index) + 1))


def span(start: types.Position, end: types.Position) -> types.Range:
    return types.Range(start=start, end=end)


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


async def hover_text(client: LanguageClient, uri: str, position: types.Position) -> str:
    hover = await client.text_document_hover_async(types.HoverParams(text_document=doc(uri), position=position))
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value


async def labels(client: LanguageClient, uri: str, position: types.Position) -> list[str]:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc(uri), position=position)
    )
    items = result.items if isinstance(result, types.CompletionList) else result or []
    return [item.label for item in items]


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text, lines ended by \\n) from the last to the first."""
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)

    def offset(position: types.Position) -> int:
        return starts[position.line] + position.character if position.line < len(starts) else len(text)

    for edit in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def no_internal_errors(client: LanguageClient) -> None:
    errors = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
    assert not errors, errors


# ---------------------------------------------------------------- diagnostics


async def test_a_shape_error_is_published_with_its_range_code_and_help(client: LanguageClient) -> None:
    text = "input 64x64x1 -> conv2d 32 -> lstm 64\n"
    _, diagnostics = await open_spec(client, text)
    (diagnostic,) = diagnostics
    assert diagnostic.code == "A301"
    assert diagnostic.source == "archdsl"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range == span(at(text, "lstm"), at(text, "lstm 64", delta=7))
    assert diagnostic.message.startswith("lstm needs a sequence (steps, features) but got 62x62x32")
    assert "\nhelp: " in diagnostic.message


async def test_an_error_in_a_block_body_names_the_call_as_related_information(client: LanguageClient) -> None:
    text = "block b(c) = dense c -> lstm 3\nmodel A {\n  input 10 -> b 4\n}\n"
    uri, diagnostics = await open_spec(client, text)
    (diagnostic,) = diagnostics
    assert diagnostic.range.start == at(text, "lstm")
    (related,) = diagnostic.related_information
    assert related.location.uri == uri
    assert related.location.range == span(at(text, "b 4"), at(text, "b 4", delta=3))
    assert "called here" in related.message


async def test_warnings_are_warnings_and_a_clean_spec_has_no_diagnostics(client: LanguageClient) -> None:
    _, diagnostics = await open_spec(client, "input 3x64x64 -> conv2d 8 -> flatten -> dense 2\n")
    assert [(d.code, d.severity) for d in diagnostics] == [("A703", types.DiagnosticSeverity.Warning)]
    for path in EXAMPLES:
        _, diagnostics = await open_spec(client, path.read_text(encoding="utf-8"))
        assert [d.code for d in diagnostics if d.severity == types.DiagnosticSeverity.Error] == [], path.name


async def test_every_syntax_error_is_reported_as_the_cli_reports_it(client: LanguageClient) -> None:
    text = "model A {\n  input 10 -> dense 3 -> \n}\nmodel B {\n  input 10 -> (dense 3\n}\n"
    _, diagnostics = await open_spec(client, text)
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(text, "x.arch")
    expected = [(d.code, d.span.line - 1, d.span.column - 1) for d in raised.value.diagnostics]
    assert [(d.code, d.range.start.line, d.range.start.character) for d in diagnostics] == expected
    assert len(expected) == 2


async def test_diagnostics_follow_incremental_edits(client: LanguageClient) -> None:
    text = "input 28x28x1\n-> conv2d 8 3x3\n-> flatten\n-> dense 10\n"
    uri, diagnostics = await open_spec(client, text)
    assert diagnostics == []
    # Type 'lstm 4 ->' before the flatten: an error on line 3.
    where = at(text, "-> flatten", delta=3)
    change(client, uri, 2, [(span(where, where), "lstm 4 -> ")])
    (diagnostic,) = await published(client, uri, 2)
    assert diagnostic.code == "A301"
    assert diagnostic.range.start == where
    # Undo it: the diagnostics go.
    end = types.Position(line=where.line, character=where.character + len("lstm 4 -> "))
    change(client, uri, 3, [(span(where, end), "")])
    assert await published(client, uri, 3) == []


async def test_lines_are_counted_as_lsp_counts_them(client: LanguageClient) -> None:
    """CRLF line ends, a form feed (whitespace in .arch), a lone CR and an emoji inside comments."""
    text = (
        "# 😀 a comment\r\n\fmodel A {  # \r ends a line for LSP, not for the parser\r\n  input 10 -> lstm 3\r\n}\r\n"
    )
    _, diagnostics = await open_spec(client, text)
    (diagnostic,) = diagnostics
    assert diagnostic.code == "A301"
    assert diagnostic.range.start == types.Position(line=3, character=14)


async def test_a_closed_document_has_its_diagnostics_cleared(client: LanguageClient) -> None:
    uri, diagnostics = await open_spec(client, "input 10 -> lstm 3\n")
    assert diagnostics
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc(uri)))
    assert await published(client, uri, None) == []


# ---------------------------------------------------------------- hover and inlay hints


async def test_hover_on_a_layer_shows_shapes_counts_and_the_code_it_becomes(client: LanguageClient) -> None:
    text = (ROOT / "examples" / "lenet5.arch").read_text(encoding="utf-8")
    uri, _ = await open_spec(client, text)
    shown = await hover_text(client, uri, at(text, "conv2d 16", delta=2))
    assert "`(None, 14, 14, 6)`" in shown and "`(None, 10, 10, 16)`" in shown  # input, output
    assert "| 2,416 | 2,416 |" in shown  # 5*5*6*16 + 16, in both frameworks
    assert 'layers.Conv2D(16, 5, activation="tanh", name="c3")' in shown
    assert "self.c3 = nn.Conv2d(6, 16, kernel_size=5)" in shown
    assert "# in forward" in shown and "self.c3(" in shown
    model = await hover_text(client, uri, at(text, "LeNet5", delta=1))
    assert "61,706 parameters in Keras, 61,706 in PyTorch" in model  # the published count


async def test_hover_on_a_block_call_covers_the_layers_of_the_call(client: LanguageClient) -> None:
    text = (ROOT / "examples" / "resnet.arch").read_text(encoding="utf-8")
    uri, _ = await open_spec(client, text)
    model = archdsl.parse(text).model()
    shown = await hover_text(client, uri, at(text, "down 32"))
    assert "a call of block `down(c)`" in shown
    layers = [layer for layer in model.layers if layer.scope[:1] == ("down_1",)]
    keras = sum(layer.params.keras for layer in layers)
    torch = sum(layer.params.torch for layer in layers)
    assert f"| `down_1` | `(None, 32, 32, 16)` | `(None, 16, 16, 32)` | {keras:,} | {torch:,} |" in shown
    assert shown.count("layers.Conv2D(") == 3 and shown.count("nn.Conv2d(") == 3
    # A layer of a block body: one row per call of the block.
    body = await hover_text(client, uri, at(text, "conv2d c 1x1"))
    assert body.count("| `conv2d_") == 2  # down 32, down 64


async def test_hover_on_an_inserted_flatten_and_on_nothing(client: LanguageClient) -> None:
    text = "input 8x8x1 -> conv2d 4 -> dense 10  # a comment\n"
    uri, _ = await open_spec(client, text)
    shown = await hover_text(client, uri, at(text, "dense"))
    assert "layers.Flatten(" in shown and "torch.flatten(" in shown
    nothing = await client.text_document_hover_async(
        types.HoverParams(text_document=doc(uri), position=at(text, "comment"))
    )
    assert nothing is None


async def test_inlay_hints_give_the_shape_at_the_end_of_each_chain_line(client: LanguageClient) -> None:
    text = (ROOT / "examples" / "resnet.arch").read_text(encoding="utf-8")
    uri, _ = await open_spec(client, text)
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=doc(uri), range=span(types.Position(line=0, character=0), at(text, "}")))
    )
    by_line = {hint.position.line: hint for hint in hints}
    lines = text.split("\n")
    assert by_line[at(text, "input 32x32x3").line].label == "→ 32x32x3"
    assert by_line[at(text, "-> basic 16 * 3").line].label == "→ 32x32x16"
    assert by_line[at(text, "-> globalavgpool").line].label == "→ 64"
    assert by_line[at(text, "-> dense 10 softmax").line].label == "→ 10"
    # In a block body, one shape per call: down 32 and down 64.
    assert by_line[at(text, "| conv2d c 1x1").line].label == "→ 16x16x32 | 8x8x64"
    for line, hint in by_line.items():  # at the end of the line's code, never inside it
        assert hint.position.character == len(lines[line].split("#")[0].rstrip())
    assert at(text, "block down(c) = (").line not in by_line  # a line that ends no node


# ---------------------------------------------------------------- completion


async def test_completion_offers_what_the_grammar_expects_at_the_cursor(client: LanguageClient) -> None:
    text = "block conv_bn(c, k=3) = conv2d c k same -> batchnorm\nmodel A {\n  input 32x32x3\n  -> conv2d 32 \n}\n"
    uri, _ = await open_spec(client, text)
    after_layer = at(text, "conv2d 32 ", delta=len("conv2d 32 "))
    offered = await labels(client, uri, after_layer)
    assert {"kernel=", "stride=", "padding=", "activation=", "same", "valid", *ACTIVATIONS, "as"} <= set(offered)
    assert "conv2d" not in offered and "lstm" not in offered
    # A new node: every layer, the block, and no argument names.
    change(client, uri, 2, [(span(after_layer, after_layer), "-> ")])
    await published(client, uri, 2)
    head = types.Position(line=after_layer.line, character=after_layer.character + 3)
    offered = await labels(client, uri, head)
    assert set(LAYERS) | {"conv_bn"} <= set(offered)
    assert "stride=" not in offered
    # After `padding=`: the paddings only.
    change(client, uri, 3, [(span(head, head), "maxpool padding=")])
    await published(client, uri, 3)
    value = types.Position(line=head.line, character=head.character + len("maxpool padding="))
    assert sorted(await labels(client, uri, value)) == ["same", "valid"]


async def test_completion_of_block_calls_and_parameters_in_a_broken_document(client: LanguageClient) -> None:
    text = "block conv_bn(c, k=3) = conv2d c k same -> \nmodel A {\n  input 32x32x3 -> conv_bn 16 \n"
    uri, diagnostics = await open_spec(client, text)
    assert diagnostics  # it does not parse
    offered = await labels(client, uri, at(text, "conv_bn 16 ", delta=len("conv_bn 16 ")))
    assert {"c=", "k=", "as"} <= set(offered)
    in_body = await labels(client, uri, at(text, "-> \n", delta=3))
    assert {"c", "k", "batchnorm"} <= set(in_body)  # a parameter may stand as a layer


async def test_completion_of_references_to_named_values(client: LanguageClient) -> None:
    text = "model A {\n  input 64x64x3 -> conv2d 8 3x3 relu as trunk\n  @tr\n}\n"
    uri, _ = await open_spec(client, text)
    assert "@trunk" in await labels(client, uri, at(text, "@tr", delta=3))
    start = "model A {\n  input 64x64x3 -> conv2d 8 3x3 relu as trunk\n  \n}\n"
    uri, _ = await open_spec(client, start)
    assert {"@trunk", "output", "use", "input"} <= set(await labels(client, uri, at(start, "  \n", delta=2)))


# ---------------------------------------------------------------- names


RENAMING = """\
block stage(c) = conv2d c 3x3 same relu -> conv2d c 3x3 same relu
model Net {
  input 32x32x3 -> stage 16 as first -> maxpool -> stage 32 -> globalavgpool -> dense 10
}
"""


async def test_definition_and_references_of_a_block(client: LanguageClient) -> None:
    uri, _ = await open_spec(client, RENAMING)
    definition = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc(uri), position=at(RENAMING, "stage 32", delta=2))
    )
    assert definition.range == span(at(RENAMING, "stage"), at(RENAMING, "stage", delta=5))
    references = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc(uri),
            position=at(RENAMING, "stage"),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert sorted(r.range.start for r in references) == [at(RENAMING, "stage 16"), at(RENAMING, "stage 32")]
    parameter = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc(uri), position=at(RENAMING, "c 3x3"))
    )
    assert parameter.range.start == at(RENAMING, "(c)", delta=1)


async def test_rename_a_block_and_an_as_name(client: LanguageClient) -> None:
    uri, _ = await open_spec(client, RENAMING)
    prepared = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc(uri), position=at(RENAMING, "stage 16"))
    )
    assert prepared.placeholder == "stage"
    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc(uri), position=at(RENAMING, "stage 16"), new_name="double")
    )
    renamed = apply_edits(RENAMING, edit.changes[uri])
    assert renamed == RENAMING.replace("stage", "double")
    assert archdsl.parse(renamed).model().params == archdsl.parse(RENAMING).model().params
    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc(uri), position=at(RENAMING, "first"), new_name="stem")
    )
    assert apply_edits(RENAMING, edit.changes[uri]) == RENAMING.replace("as first", "as stem")


GRAPH = """\
block encoder() = conv2d 8 3x3 relu -> globalavgpool -> dense 16

model Twin {
  input 28x28x1 as left -> encoder as enc
  input 32x32x1 as right -> conv2d 1 5x5 -> use enc as again
  ( @enc | @again ) -> subtract -> dense 1 sigmoid
}
"""


async def test_references_to_named_values_go_to_their_as_and_rename_together(client: LanguageClient) -> None:
    uri, diagnostics = await open_spec(client, GRAPH)
    assert diagnostics == []
    definition = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc(uri), position=at(GRAPH, "@enc", delta=2))
    )
    assert definition.range == span(at(GRAPH, "as enc", delta=3), at(GRAPH, "as enc", delta=6))
    references = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc(uri),
            position=at(GRAPH, "as enc", delta=4),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert sorted(r.range.start for r in references) == [at(GRAPH, "use enc", delta=4), at(GRAPH, "@enc", delta=1)]
    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc(uri), position=at(GRAPH, "@enc", delta=2), new_name="tower")
    )
    renamed = apply_edits(GRAPH, edit.changes[uri])
    expected = GRAPH.replace("as enc\n", "as tower\n").replace("use enc", "use tower")
    assert renamed == expected.replace("@enc ", "@tower ")
    assert archdsl.parse(renamed).model().params == archdsl.parse(GRAPH).model().params


async def test_hover_on_each_input_and_on_a_reference_shows_its_own_shape(client: LanguageClient) -> None:
    uri, _ = await open_spec(client, GRAPH)
    assert "28 × 28 × 1" in await hover_text(client, uri, at(GRAPH, "input 28", delta=2)) or "28, 28, 1" in (
        await hover_text(client, uri, at(GRAPH, "input 28", delta=2))
    )
    right = await hover_text(client, uri, at(GRAPH, "input 32", delta=2))
    assert "32" in right and "28" not in right
    value = await hover_text(client, uri, at(GRAPH, "@again", delta=3))
    assert value.startswith("**again** in Twin") and "16" in value


@pytest.mark.parametrize(
    ("where", "new_name", "why"),
    [("stage 16", "dense", "is a layer"), ("stage 16", "model", "reserved word"), ("first", "self", "generated")],
)
async def test_a_rename_to_a_name_that_cannot_be_is_refused(
    client: LanguageClient, where: str, new_name: str, why: str
) -> None:
    uri, _ = await open_spec(client, RENAMING)
    with pytest.raises(Exception, match=why):
        await client.text_document_rename_async(
            types.RenameParams(text_document=doc(uri), position=at(RENAMING, where), new_name=new_name)
        )


async def test_document_symbols_are_the_models_and_blocks(client: LanguageClient) -> None:
    uri, _ = await open_spec(client, RENAMING)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc(uri)))
    assert [(s.name, s.kind, s.detail) for s in symbols][0] == ("stage", types.SymbolKind.Function, "stage(c)")
    net = symbols[1]
    assert (net.name, net.kind) == ("Net", types.SymbolKind.Class)
    assert net.selection_range == span(at(RENAMING, "Net"), at(RENAMING, "Net", delta=3))
    assert [child.name for child in net.children] == ["first"]
    assert "(None, 32, 32, 3) → (None, 10)" in net.detail


# ---------------------------------------------------------------- edits: formatting, quick fixes


async def test_formatting_is_archdsl_fmt(client: LanguageClient) -> None:
    text = "model  A{input 32x32x3->conv2d 8   relu # the stem\n->flatten->dense 10}\n"
    uri, _ = await open_spec(client, text)
    edits = await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc(uri), options=types.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    assert apply_edits(text, edits) == format_source(text)
    broken, _ = await open_spec(client, "model A {\n  input 10 ->\n")
    assert not await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc(broken), options=types.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )


@pytest.mark.parametrize(
    "text",
    [
        "input 8x8x1 -> conv2 3\n",  # did you mean 'conv2d'?
        "input 64x64x3 -> conv2d 3 32 -> flatten -> dense 2\n",  # filters and kernel swapped
        "input 10 -> dense 3 -> lstm 3\n",  # a reshape first
        "input 8 -> dense 4 sigmoidd\n",  # did you mean 'sigmoid'?
    ],
)
async def test_a_quick_fix_applies_the_suggestion_of_a_diagnostic(client: LanguageClient, text: str) -> None:
    uri, diagnostics = await open_spec(client, text)
    (diagnostic,) = diagnostics
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc(uri), range=diagnostic.range, context=types.CodeActionContext(diagnostics=diagnostics)
        )
    )
    (action,) = actions
    assert action.kind == types.CodeActionKind.QuickFix and action.is_preferred
    fixed = apply_edits(text, action.edit.changes[uri])
    checked = check(text)
    (expected,) = [d.fix for d in (*checked.errors, *checked.program.warnings) if d.fix is not None]
    assert fixed == expected.apply(text)
    assert not check(fixed).errors  # the fixed spec checks


# ---------------------------------------------------------------- malformed input mid-edit


async def ask_everything(client: LanguageClient, uri: str, text: str, position: types.Position) -> None:
    """Every request the server answers; each must come back (None or a value), never an error."""
    whole = span(types.Position(line=0, character=0), types.Position(line=text.count("\n") + 1, character=0))
    await client.text_document_hover_async(types.HoverParams(text_document=doc(uri), position=position))
    await client.text_document_completion_async(types.CompletionParams(text_document=doc(uri), position=position))
    await client.text_document_inlay_hint_async(types.InlayHintParams(text_document=doc(uri), range=whole))
    await client.text_document_definition_async(types.DefinitionParams(text_document=doc(uri), position=position))
    await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc(uri), position=position, context=types.ReferenceContext(include_declaration=True)
        )
    )
    await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc(uri)))
    await client.text_document_code_action_async(
        types.CodeActionParams(text_document=doc(uri), range=whole, context=types.CodeActionContext(diagnostics=[]))
    )
    await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc(uri), options=types.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )


async def test_typing_an_example_character_by_character_never_breaks_the_server(client: LanguageClient) -> None:
    text = (ROOT / "examples" / "inception.arch").read_text(encoding="utf-8")
    uri, _ = await open_spec(client, "")
    typed = ""
    version = 1
    for index, char in enumerate(text):
        end = types.Position(line=typed.count("\n"), character=len(typed) - (typed.rfind("\n") + 1))
        version += 1
        change(client, uri, version, [(span(end, end), char)])
        typed += char
        if index % 7 == 0 or char == "\n":
            await published(client, uri, version)
            await ask_everything(client, uri, typed, end)
    assert typed == text
    change(client, uri, version + 1, [(None, text)])
    assert await published(client, uri, version + 1) == []
    no_internal_errors(client)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01 binary",
        "((((((((((" * 30,
        "input 99999999999999999999999999 -> dense 3",
        "model { } } } ->",
        "block b( = \nmodel A {\n  input 10 -> b\n}",
        "input 😀 -> dense 3\u2028-> relu",
        "input 10 -> dense (1//0)",
        "input 10 -> " + "dense 3 -> " * 2000,
        "@ @x -> use y output @z\n",
    ],
)
async def test_malformed_documents_are_answered(client: LanguageClient, text: str) -> None:
    uri, _ = await open_spec(client, text)
    for position in (types.Position(line=0, character=0), types.Position(line=0, character=5)):
        await ask_everything(client, uri, text, position)
    # A change that ranges past the end of the document, and a whole-document replacement.
    far = types.Position(line=10_000, character=10_000)
    change(client, uri, 2, [(span(far, far), "\n-> relu")])
    await published(client, uri, 2)
    change(client, uri, 3, [(None, "input 10 -> dense 3\n")])
    assert await published(client, uri, 3) == []
    no_internal_errors(client)


async def test_requests_on_a_document_never_opened_are_answered(client: LanguageClient) -> None:
    await ask_everything(client, "file:///never/opened.arch", "", types.Position(line=0, character=0))
    no_internal_errors(client)
