// Tokenizes texts with the extension's TextMate grammar exactly as VS Code does (vscode-textmate
// with the Oniguruma regular expressions compiled to WebAssembly, vscode-oniguruma).
//
//   node test/tokenize.cjs < texts.json > tokens.json
//
// Reads {"name": "text", ...} on stdin and writes {"name": [[line, start, end, [scopes...]], ...]}:
// for every token of every line, 0-based line, start and end columns in UTF-16 units, and its
// scopes from the outermost. tests/test_vscode.py holds the scopes to the parser's reading.
"use strict";

const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

async function main() {
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.arch") return null;
      const file = path.join(__dirname, "..", "syntaxes", "arch.tmLanguage.json");
      return textmate.parseRawGrammar(fs.readFileSync(file, "utf8"), file);
    },
  });
  const grammar = await registry.loadGrammar("source.arch");
  const texts = JSON.parse(fs.readFileSync(0, "utf8"));
  const result = {};
  for (const [name, text] of Object.entries(texts)) {
    const tokens = [];
    let stack = textmate.INITIAL;
    text.split(/\r\n|\r|\n/).forEach((line, number) => {
      const lineTokens = grammar.tokenizeLine(line, stack);
      for (const token of lineTokens.tokens) {
        tokens.push([number, token.startIndex, Math.min(token.endIndex, line.length), token.scopes]);
      }
      stack = lineTokens.ruleStack;
    });
    result[name] = tokens;
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
