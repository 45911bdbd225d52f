"""The VS Code extension (editors/vscode/): its TextMate grammar against the parser, its manifest.

The grammar is generated (`python -m archdsl.lsp.textmate --write`); a stale copy fails here.
The colours are checked as VS Code computes them: Node runs vscode-textmate with
vscode-oniguruma (editors/vscode/test/tokenize.cjs) over every example and snippet that
parses, and each token of the parser's tree must get the TextMate scope of the token type the
parser's reading calls for (`test_highlight.expected_tokens`, the oracle of the Pygments lexer,
mapped through `textmate.SCOPES`). That needs `npm ci` in editors/vscode; without it the test
skips, unless ARCHDSL_REQUIRE_NODE=1 (.ci/run sets it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pygments.token import Name
from test_highlight import VALID, expected_tokens

from archdsl.lsp.textmate import GRAMMAR_PATH, SCOPES, build_grammar, grammar_text

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "editors" / "vscode"
TOKENIZER = EXTENSION / "test" / "tokenize.cjs"
_LINE_END = re.compile(r"\r\n|\r|\n")


def test_the_committed_grammar_is_the_generated_one() -> None:
    committed = (ROOT / GRAMMAR_PATH).read_text(encoding="utf-8")
    assert committed == grammar_text(), "stale: run `python -m archdsl.lsp.textmate --write` and commit the result"


def test_every_layer_and_activation_is_in_the_grammar() -> None:
    from archdsl.layers import ACTIVATIONS, LAYERS

    text = json.dumps(build_grammar())
    for word in (*LAYERS, *ACTIVATIONS):
        assert re.search(rf"[(|:]{word}[|)]", text), word


def test_the_manifest_names_files_that_exist() -> None:
    manifest = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert language["extensions"] == [".arch"] and grammar["language"] == language["id"]
    assert grammar["scopeName"] == build_grammar()["scopeName"]
    for path in (manifest["main"], language["configuration"], grammar["path"], "README.md", "LICENSE"):
        assert (EXTENSION / path).is_file(), path
    assert manifest["contributes"]["configuration"]["properties"]["archdsl.server.command"]["default"] == [
        "archdsl",
        "lsp",
    ]
    assert (EXTENSION / "package-lock.json").is_file()
    configuration = json.loads((EXTENSION / language["configuration"]).read_text(encoding="utf-8"))
    assert configuration["comments"] == {"lineComment": "#"}


def _node_tokens(texts: dict[str, str]) -> dict[str, list]:
    node = shutil.which("node")
    ready = node is not None and (EXTENSION / "node_modules" / "vscode-textmate").is_dir()
    if not ready:
        if os.environ.get("ARCHDSL_REQUIRE_NODE") == "1":
            pytest.fail("Node or editors/vscode/node_modules is missing: run `npm ci` in editors/vscode")
        pytest.skip("needs Node and `npm ci` in editors/vscode")
    done = subprocess.run(
        [node, str(TOKENIZER)], input=json.dumps(texts), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _parameter_as_layer(text: str, value: str, kind, scope: str) -> bool:
    """A block parameter standing as a layer (`block b(act=relu) = conv2d 8 -> act`) is a variable to
    the parser, and a block call to TextMate: a grammar matches each line on its own and cannot
    remember a block's parameters, so VS Code colours it as a call (docs/editors.md says so)."""
    if kind != Name.Variable or scope != SCOPES[Name.Function]:
        return False
    params = re.findall(r"block\s+\w+\s*\(([^)]*)\)", text)
    return value in {part.split("=")[0].strip() for group in params for part in group.split(",")}


def test_every_spec_is_coloured_in_vs_code_as_the_parser_reads_it() -> None:
    texts = dict(VALID)
    found = _node_tokens(texts)
    by_scope = {scope: kind for kind, scope in SCOPES.items()}
    problems = []
    for name, text in texts.items():
        lines = _LINE_END.split(text)
        starts = [0, *(m.end() for m in _LINE_END.finditer(text))]
        tokens = {(line, start): (end, scopes[-1]) for line, start, end, scopes in found[name]}
        for offset, (value, kind) in sorted(expected_tokens(text).items()):
            line = max(i for i, start in enumerate(starts) if start <= offset)
            column = _utf16(lines[line][: offset - starts[line]])
            got = tokens.get((line, column))
            expected = (column + _utf16(value), SCOPES[kind])
            if got is not None and got[0] == expected[0] and _parameter_as_layer(text, value, kind, got[1]):
                continue
            if got != expected:
                shown = (got[0], by_scope.get(got[1], got[1])) if got else None
                problems.append(f"{name} line {line + 1}: {value!r} should be {kind}, VS Code gives {shown}")
    assert not problems, f"{len(problems)} tokens differ:\n" + "\n".join(problems[:40])
    assert len(texts) >= 20
