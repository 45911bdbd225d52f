// The VS Code client of archdsl's language server: it starts `archdsl lsp` (the command is the
// `archdsl.server.command` setting) and hands it every .arch document. Everything the editor
// shows beyond colours (diagnostics, hover, inlay hints, completion, navigation, formatting,
// quick fixes) comes from the server, so every editor gets the same.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("archdsl")
    .get("server.command", ["archdsl", "lsp"]);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "arch" },
      { scheme: "untitled", language: "arch" },
    ],
  };
  client = new LanguageClient("archdsl", "archdsl", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("archdsl.server.command")) {
        vscode.commands.executeCommand("workbench.action.restartExtensionHost");
      }
    }),
  );
  return client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `archdsl: could not start '${[command, ...args].join(" ")}' (${error.message}). ` +
        "Install archdsl with `pip install 'archdsl[lsp]'`, or set archdsl.server.command.",
    );
  });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
