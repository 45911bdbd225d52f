"""docs/guide.md stays true: every fenced block in it is tested against the real archdsl.

The kinds of block the guide may hold (its markdown source shows them):

- ```` ```arch ````: a spec that checks without errors. After a line
  `<!-- include: examples/NAME.arch -->` it must also be that file's text, and after
  `<!-- include: examples/NAME.arch lines=A-B -->` exactly those lines of it (an excerpt
  is not checked on its own, the whole file is).
- ```` ```arch error A301 file=NAME.arch ````: a spec that `archdsl check NAME.arch` refuses
  with that code (exit status 1). The ```` ```text ```` block right after it is what the
  command prints.
- ```` ```console [exit=N] [approx] ````: `$ archdsl ...` lines, each followed by its output
  (standard output, then standard error; trailing whitespace is ignored). A command may be
  fed a spec with `echo '...' |` and cut with `| head -n N` or `| tail -n N`; nothing else
  of the shell is understood. Every command must exit with N (default 0). With `approx`,
  numbers such as `1.13e-06` (verify's measured errors) may differ.
- any block after a line `<!-- excerpt: archdsl ARGS -->`: its lines appear, one after
  another, in the standard output of that command (generated code, a diff).

Commands run as a user would run them: the `archdsl` next to this Python, from the
repository root, with NO_COLOR=1 and COLUMNS=120.

When archdsl's output changes on purpose, regenerate the console outputs, the error texts
and the included examples in one go, then read the diff:

    .venv/bin/python -m tests.test_guide --update
    git diff docs/guide.md

Excerpts are chosen by hand and are never rewritten: a failing excerpt needs an edit.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "guide.md"

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"^<!--\s*(include|excerpt):\s*(.*?)\s*-->$")
_FLOAT = re.compile(r"\d\.\d+e[+-]\d+")
_DEFAULT_ERROR_FILE = "model.arch"


@dataclass(frozen=True)
class Block:
    """One fenced block of the guide: its info string, its text and where the text sits."""

    info: tuple[str, ...]
    body: str
    start: int  # offset of the body in the guide
    end: int
    line: int  # line of the opening fence, for test ids and messages
    marker: tuple[str, str] | None  # ("include" | "excerpt", argument) from the line before

    @property
    def kind(self) -> str:
        return " ".join(self.info[:2]) if self.info[:2] == ("arch", "error") else (self.info[0] if self.info else "")

    def option(self, key: str, default: str) -> str:
        for word in self.info[1:]:
            if word.startswith(f"{key}="):
                return word.split("=", 1)[1]
        return default

    @property
    def id(self) -> str:
        return f"line-{self.line}"


def parse_guide(text: str) -> list[Block]:
    blocks = []
    previous_end = 0
    for fence in _FENCE.finditer(text):
        before = [line.strip() for line in text[previous_end : fence.start()].splitlines() if line.strip()]
        found = _MARKER.match(before[-1]) if before else None
        blocks.append(
            Block(
                info=tuple(fence.group(1).split()),
                body=fence.group(2),
                start=fence.start(2),
                end=fence.end(2),
                line=text.count("\n", 0, fence.start()) + 1,
                marker=(found.group(1), found.group(2)) if found else None,
            )
        )
        previous_end = fence.end()
    return blocks


# ---------------------------------------------------------------- running archdsl


def _archdsl() -> list[str]:
    script = Path(sys.executable).parent / "archdsl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "archdsl"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")}
    env.update(NO_COLOR="1", COLUMNS="120", PYTHONIOENCODING="utf-8", TF_CPP_MIN_LOG_LEVEL="3")
    return env


def normalise(text: str) -> str:
    """Trailing whitespace of every line and trailing blank lines are not part of an output."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str  # normalised, after head/tail
    stderr: str  # normalised

    @property
    def output(self) -> str:
        return "\n".join(part for part in (self.stdout, self.stderr) if part)


def run_archdsl(args: list[str], stdin: str | None = None, cwd: Path = REPO) -> Result:
    process = subprocess.run(
        _archdsl() + args,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=_env(),
        timeout=600,
    )
    return Result(process.returncode, normalise(process.stdout), normalise(process.stderr))


def run_console(command: str) -> Result:
    """`[echo 'SPEC' |] archdsl ARGS [| head -n N | tail -n N]`, run without a shell."""
    stages: list[list[str]] = [[]]
    for token in shlex.split(command):
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    stdin = None
    if stages[0][:1] == ["echo"]:
        stdin = " ".join(stages.pop(0)[1:]) + "\n"
    main, *filters = stages
    if main[:1] != ["archdsl"]:
        raise ValueError(f"a console command must run archdsl: {command!r}")
    result = run_archdsl(main[1:], stdin)
    lines = result.stdout.split("\n")
    for cut in filters:
        if len(cut) != 3 or cut[0] not in ("head", "tail") or cut[1] != "-n" or not cut[2].isdigit():
            raise ValueError(f"only '| head -n N' and '| tail -n N' may follow archdsl: {command!r}")
        count = int(cut[2])
        lines = lines[:count] if cut[0] == "head" else lines[len(lines) - count :]
    return Result(result.status, normalise("\n".join(lines)), result.stderr)


def error_file(block: Block) -> str:
    name = block.option("file", _DEFAULT_ERROR_FILE)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+\.arch", name):
        raise ValueError(f"guide line {block.line}: file={name!r} should be a plain name such as model.arch")
    return name


def run_error_spec(source: str, filename: str) -> Result:
    """`archdsl check FILENAME` on the spec, in a folder of its own."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, filename).write_text(source, encoding="utf-8")
        return run_archdsl(["check", filename], cwd=Path(folder))


# ---------------------------------------------------------------- reading the blocks


@dataclass(frozen=True)
class ConsoleCommand:
    block: Block
    command: str
    expected: str  # normalised


def console_commands(block: Block) -> list[ConsoleCommand]:
    commands: list[ConsoleCommand] = []
    command, lines = None, []
    for line in [*block.body.split("\n"), "$ "]:
        if line.startswith("$ "):
            if command is not None:
                commands.append(ConsoleCommand(block, command, normalise("\n".join(lines))))
            command, lines = line[2:].strip(), []
        elif command is None:
            if line.strip():
                raise ValueError(f"guide line {block.line}: console output before any '$ ' command")
        else:
            lines.append(line)
    return commands


def render_console(block: Block, outputs: list[str]) -> str:
    chunks = [
        f"$ {c.command}\n" + (f"{output}\n" if output else "")
        for c, output in zip(console_commands(block), outputs, strict=True)
    ]
    return "\n".join(chunks)


def included_text(argument: str) -> str:
    words = argument.split()
    text = (REPO / words[0]).read_text(encoding="utf-8")
    for word in words[1:]:
        if word.startswith("lines="):
            first, last = (int(n) for n in word.split("=", 1)[1].split("-"))
            return "".join(text.splitlines(keepends=True)[first - 1 : last])
    return text


def approx(text: str) -> str:
    return _FLOAT.sub("<number>", text)


GUIDE_TEXT = GUIDE.read_text(encoding="utf-8")
BLOCKS = parse_guide(GUIDE_TEXT)
ARCH = [b for b in BLOCKS if b.kind == "arch"]
INCLUDES = [b for b in BLOCKS if b.marker and b.marker[0] == "include"]
ERRORS = [b for b in BLOCKS if b.kind == "arch error"]
EXCERPTS = [b for b in BLOCKS if b.marker and b.marker[0] == "excerpt"]
COMMANDS = [c for b in BLOCKS if b.kind == "console" for c in console_commands(b)]


def framework_marked(command: ConsoleCommand):
    """`archdsl verify` builds the models in Keras and PyTorch: a framework test."""
    if command.command.split()[:2] == ["archdsl", "verify"]:
        return pytest.param(command, marks=pytest.mark.frameworks)
    return command


def error_output_block(block: Block) -> Block:
    following = BLOCKS[BLOCKS.index(block) + 1 :]
    assert following and following[0].kind == "text", (
        f"guide line {block.line}: an 'arch error' block is followed by a ```text block with the error"
    )
    return following[0]


# ---------------------------------------------------------------- the tests


def test_the_guide_has_every_kind_of_block() -> None:
    assert ARCH and INCLUDES and ERRORS and EXCERPTS and COMMANDS


def test_every_fence_is_read() -> None:
    """A fence the pattern missed (indented, unclosed) would be a snippet nobody tests."""
    assert GUIDE_TEXT.count("```") == 2 * len(BLOCKS)


def test_every_block_is_a_kind_the_tests_know() -> None:
    error_texts = {error_output_block(b).line for b in ERRORS}
    for block in BLOCKS:
        known = (
            block.kind in ("arch", "arch error", "console")
            or (block.marker is not None and block.marker[0] == "excerpt")
            or block.line in error_texts
        )
        assert known, f"guide line {block.line}: a ```{' '.join(block.info)} block that no test reads"
        if block.marker and block.marker[0] == "include":
            assert block.kind == "arch", f"guide line {block.line}: an include marker belongs before an ```arch block"


def test_every_marker_is_before_a_block() -> None:
    markers = [line for line in GUIDE_TEXT.splitlines() if _MARKER.match(line.strip())]
    assert len(markers) == sum(1 for b in BLOCKS if b.marker), "a marker is not the line just before a fence"


@pytest.mark.parametrize("block", ARCH, ids=[b.id for b in ARCH])
def test_arch_block_checks(block: Block) -> None:
    import archdsl

    if block.marker and block.marker[0] == "include" and "lines=" in block.marker[1]:
        path = block.marker[1].split()[0]
        assert archdsl.load(str(REPO / path)).models
    else:
        assert archdsl.parse(block.body, "guide.arch").models


@pytest.mark.parametrize("block", INCLUDES, ids=[b.id for b in INCLUDES])
def test_included_block_is_the_file(block: Block) -> None:
    assert block.marker is not None
    assert block.body == included_text(block.marker[1]), (
        f"guide line {block.line} no longer quotes {block.marker[1]}: run "
        "'.venv/bin/python -m tests.test_guide --update'"
    )


@pytest.mark.parametrize("block", ERRORS, ids=[b.id for b in ERRORS])
def test_error_block_fails_with_its_code(block: Block) -> None:
    import archdsl

    codes = [word for word in block.info[2:] if re.fullmatch(r"A\d{3}", word)]
    assert len(codes) == 1, f"guide line {block.line}: write the expected code, as in ```arch error A301"
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(block.body, "guide.arch")
    assert codes[0] in [d.code for d in raised.value.diagnostics]

    result = run_error_spec(block.body, error_file(block))
    assert result.status == 1
    printed = error_output_block(block)
    assert f"[{codes[0]}]" in printed.body
    assert normalise(printed.body) == result.output, (
        f"the error text at guide line {printed.line} is not what archdsl prints now: run "
        "'.venv/bin/python -m tests.test_guide --update' and read the diff"
    )


@pytest.mark.parametrize(
    "command", [framework_marked(c) for c in COMMANDS], ids=[f"{c.block.id}-{c.command}" for c in COMMANDS]
)
def test_console_command_prints_what_the_guide_shows(command: ConsoleCommand) -> None:
    result = run_console(command.command)
    expected_status = int(command.block.option("exit", "0"))
    assert result.status == expected_status, f"'{command.command}' exited with {result.status}:\n{result.output}"
    expected, actual = command.expected, result.output
    if "approx" in command.block.info:
        expected, actual = approx(expected), approx(actual)
    assert expected == actual, (
        f"the output of '{command.command}' at guide line {command.block.line} is not what archdsl prints now: "
        "run '.venv/bin/python -m tests.test_guide --update' and read the diff"
    )


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    return any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


@cache
def _excerpt_source(command: str) -> Result:
    return run_console(command)


@pytest.mark.parametrize("block", EXCERPTS, ids=[b.id for b in EXCERPTS])
def test_excerpt_is_in_the_output(block: Block) -> None:
    assert block.marker is not None
    result = _excerpt_source(block.marker[1])
    assert result.status == 0, result.output
    excerpt = normalise(block.body).split("\n")
    assert excerpt != [""], f"guide line {block.line}: an empty excerpt"
    assert _contains_run(result.stdout.split("\n"), excerpt), (
        f"the excerpt at guide line {block.line} is not (any more) a run of lines of '{block.marker[1]}'; "
        "edit it by hand"
    )


def test_updating_with_the_shown_outputs_changes_nothing() -> None:
    """`--update` writes blocks in the layout the guide has, so a real update shows only real changes."""
    shown = {c.command: c.expected for c in COMMANDS}
    errors = {b.line: normalise(error_output_block(b).body) for b in ERRORS}
    assert (
        updated(
            GUIDE_TEXT,
            console=lambda command: shown[command],
            error=lambda block: errors[block.line],
            include=lambda block: block.body,
        )
        == GUIDE_TEXT
    )


# ---------------------------------------------------------------- --update


def updated(
    text: str,
    console: Callable[[str], str],
    error: Callable[[Block], str],
    include: Callable[[Block], str],
) -> str:
    """The guide with every console output, error text and include block regenerated."""
    blocks = parse_guide(text)
    replacements: list[tuple[Block, str]] = []
    for index, block in enumerate(blocks):
        if block.kind == "console":
            outputs = [console(c.command) for c in console_commands(block)]
            replacements.append((block, render_console(block, outputs)))
        elif block.kind == "arch error":
            following = blocks[index + 1] if index + 1 < len(blocks) else None
            if following is None or following.kind != "text":
                raise ValueError(f"guide line {block.line}: an 'arch error' block needs a ```text block after it")
            replacements.append((following, error(block) + "\n"))
        if block.marker and block.marker[0] == "include":
            replacements.append((block, include(block)))
    for block, body in sorted(replacements, key=lambda item: item[0].start, reverse=True):
        text = text[: block.start] + body + text[block.end :]
    return text


def _console_now(command: str) -> str:
    return run_console(command).output


def _include_now(block: Block) -> str:
    assert block.marker is not None
    return included_text(block.marker[1])


def _error_now(block: Block) -> str:
    result = run_error_spec(block.body, error_file(block))
    if result.status != 1:
        raise SystemExit(f"guide line {block.line}: the spec no longer fails (exit {result.status}); fix it by hand")
    return result.output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.test_guide", description="Test docs/guide.md, or regenerate its outputs."
    )
    parser.add_argument("--update", action="store_true", help="rewrite the outputs in docs/guide.md from archdsl")
    args = parser.parse_args(argv)
    if not args.update:
        return pytest.main([__file__, "-q"])
    text = GUIDE.read_text(encoding="utf-8")
    new = updated(text, console=_console_now, error=_error_now, include=_include_now)
    if new == text:
        print("docs/guide.md is up to date")
    else:
        GUIDE.write_text(new, encoding="utf-8", newline="\n")
        print("updated docs/guide.md; review it with 'git diff docs/guide.md' (excerpts are checked by the tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
