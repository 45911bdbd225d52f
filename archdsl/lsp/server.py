"""The language server over stdio (`archdsl lsp`), built on pygls.

The shape of ruff's and taplo's servers: one check per version of a document, its results
cached for that version (`Analysis`, `Features`), every handler total. A document that does not
parse gives diagnostics, never an exception: a handler that fails for a reason of archdsl's own
logs the error to the client and still answers, with nothing.

Changes are applied to the server's own copy of each document (`Text`) and checked in a task
that first lets the messages already waiting be read: a burst of keystrokes is checked once, at
its last version. The code each layer becomes (for hover) is generated once the document has been
quiet for a moment, so the first hover after an edit finds it ready.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from archdsl.lsp.completion import complete
from archdsl.lsp.document import Analysis
from archdsl.lsp.features import Features
from archdsl.lsp.text import Text
from archdsl.version import __version__

logger = logging.getLogger(__name__)
Handler = TypeVar("Handler", bound=Callable[..., Any])
WARM_AFTER = 0.3  # seconds of quiet before the code of every layer is generated ahead of hovers
TRIGGERS = ["@", "=", ">"]


@dataclass
class Document:
    text: Text
    version: int | None
    features: Features | None = None


class ArchLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archdsl", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.documents: dict[str, Document] = {}

    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or "utf-16")
        except RuntimeError:  # no workspace before initialize
            return "utf-16"

    def features(self, uri: str) -> Features | None:
        """The answers for the document's current version, checked on first need."""
        document = self.documents.get(uri)
        if document is None:
            return None
        if document.features is None:
            document.features = Features(Analysis(uri, document.version, document.text))
        return document.features

    def publish(self, uri: str) -> None:
        document = self.documents.get(uri)
        features = self.features(uri)
        if document is None or features is None:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=document.version, diagnostics=features.diagnostics)
        )

    def report(self, where: str, error: BaseException) -> None:
        """An error of archdsl's own: logged to the client's output, never shown as the user's."""
        message = f"archdsl: internal error in {where}: {type(error).__name__}: {error}"
        logger.error("%s\n%s", message, "".join(traceback.format_exception(error)))
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=message))
        except Exception:  # noqa: BLE001 - reporting must not fail the handler
            pass


def total(default: Any = None) -> Callable[[Handler], Handler]:
    """Make a handler answer `default` instead of failing when archdsl has a bug.

    A JsonRpcException is a deliberate answer (a new name that cannot be used) and passes.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(ls: ArchLanguageServer, params: Any) -> Any:
            try:
                return handler(ls, params)
            except JsonRpcException:
                raise
            except Exception as error:  # noqa: BLE001 - every handler answers
                ls.report(handler.__name__, error)
                return default

        return run  # type: ignore[return-value]

    return wrap


def build_server() -> ArchLanguageServer:
    server = ArchLanguageServer()

    def offset(ls: ArchLanguageServer, uri: str, position: types.Position) -> tuple[Features, int] | None:
        features = ls.features(uri)
        if features is None:
            return None
        return features, features.text.offset_at(position)

    # ---------------------------------------------------------------- documents

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @total()
    def did_open(ls: ArchLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents[item.uri] = Document(Text(item.text, ls.encoding()), item.version)
        ls.publish(item.uri)
        schedule_warm(ls, item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @total()
    def did_change(ls: ArchLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.documents.get(uri)
        text = document.text if document is not None else Text("", ls.encoding())
        for change in params.content_changes:
            text = text.replaced(getattr(change, "range", None), change.text)
        version = params.text_document.version
        ls.documents[uri] = Document(text, version)
        asyncio.ensure_future(check_soon(ls, uri, version))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @total()
    def did_close(ls: ArchLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.pop(uri, None)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    async def check_soon(ls: ArchLanguageServer, uri: str, version: int | None) -> None:
        await asyncio.sleep(0)  # changes already waiting are applied first: only the last one is checked
        document = ls.documents.get(uri)
        if document is None or document.version != version:
            return
        try:
            ls.publish(uri)
        except Exception as error:  # noqa: BLE001 - the server goes on
            ls.report("diagnostics", error)
        schedule_warm(ls, uri)

    def schedule_warm(ls: ArchLanguageServer, uri: str) -> None:
        document = ls.documents.get(uri)
        if document is None:
            return
        version = document.version

        def warm() -> None:
            current = ls.documents.get(uri)
            if current is None or current.version != version or current.features is None:
                return
            try:
                current.features.analysis.warm()
            except Exception as error:  # noqa: BLE001
                ls.report("code generation", error)

        asyncio.get_event_loop().call_later(WARM_AFTER, warm)

    # ---------------------------------------------------------------- requests

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @total()
    def hover(ls: ArchLanguageServer, params: types.HoverParams) -> types.Hover | None:
        found = offset(ls, params.text_document.uri, params.position)
        return found[0].hover(found[1]) if found else None

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    @total([])
    def inlay_hint(ls: ArchLanguageServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        features = ls.features(params.text_document.uri)
        return features.inlay_hints(params.range) if features else []

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=TRIGGERS, resolve_provider=False)
    )
    @total(types.CompletionList(is_incomplete=False, items=[]))
    def completion(ls: ArchLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return types.CompletionList(is_incomplete=False, items=[])
        items = complete(document.text, document.text.offset_at(params.position))
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @total()
    def definition(ls: ArchLanguageServer, params: types.DefinitionParams) -> types.Location | None:
        found = offset(ls, params.text_document.uri, params.position)
        return found[0].definition(found[1]) if found else None

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @total([])
    def references(ls: ArchLanguageServer, params: types.ReferenceParams) -> list[types.Location]:
        found = offset(ls, params.text_document.uri, params.position)
        return found[0].references(found[1], params.context.include_declaration) if found else []

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    @total()
    def prepare_rename(ls: ArchLanguageServer, params: types.PrepareRenameParams):
        found = offset(ls, params.text_document.uri, params.position)
        return found[0].prepare_rename(found[1]) if found else None

    @server.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
    @total()
    def rename(ls: ArchLanguageServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        found = offset(ls, params.text_document.uri, params.position)
        if not found:
            return None
        answer = found[0].rename(found[1], params.new_name)
        if isinstance(answer, str):
            raise JsonRpcInvalidParams(answer)
        return answer

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @total([])
    def document_symbol(ls: ArchLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        features = ls.features(params.text_document.uri)
        return features.document_symbols() if features else []

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @total()
    def formatting(ls: ArchLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
        features = ls.features(params.text_document.uri)
        return features.formatting() if features else None

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    )
    @total([])
    def code_action(ls: ArchLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        features = ls.features(params.text_document.uri)
        return features.code_actions(params.range) if features else []

    return server


def serve() -> None:
    """Run the server on stdin and stdout until the client says exit."""
    build_server().start_io()
