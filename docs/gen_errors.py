"""Keeps docs/errors.md in step with what archdsl prints.

Every section of docs/errors.md has one or more examples, each followed by a
```text block holding what archdsl prints for it:

- an ```arch block is a spec: it is written to `example.arch` in an empty folder
  and `archdsl check example.arch` is run there (through the command's entry point,
  `archdsl.cli.main`, in a child process); the block shows its stderr (for a warning
  or a note the spec checks: the command exits 0 and prints its table on stdout);
- a ```python block is run (in an empty folder) and must raise archdsl.ArchError;
  the block shows `error.render()`, which is what the command line prints too.

An ```arch ok block is a corrected spec: it is not run here, and the tests check
that it parses.

    .venv/bin/python docs/gen_errors.py           # rewrite the ```text blocks
    .venv/bin/python docs/gen_errors.py --check   # exit 1 if any is out of date

tests/test_error_docs.py uses the same functions to compare the doc with archdsl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
ERRORS_MD = DOCS / "errors.md"
EXAMPLE_FILE = "example.arch"

HEADING = re.compile(r"^## (A\d{3}) — (.+)$", re.MULTILINE)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
EXAMPLE_KINDS = ("arch", "python")


@dataclass
class Example:
    """One failing example of a section and the ```text block after it."""

    code: str
    kind: str  # "arch" (a spec) or "python" (code that raises ArchError)
    source: str
    printed: str  # the body of the ```text block, as the doc has it
    printed_start: int  # offsets of that body in the doc
    printed_end: int


@dataclass
class Section:
    code: str
    title: str
    body: str
    examples: list[Example] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)  # ```arch ok blocks


def _info(fence: re.Match[str]) -> list[str]:
    return fence.group(1).split()


def parse_doc(text: str) -> list[Section]:
    """The sections of errors.md with their examples, in the order written."""
    headings = list(HEADING.finditer(text))
    sections: list[Section] = []
    for index, heading in enumerate(headings):
        start = heading.end()
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        section = Section(heading.group(1), heading.group(2).strip(), text[start:end])
        pending: tuple[str, str] | None = None
        for fence in FENCE.finditer(text, start, end):
            info = _info(fence)
            kind = info[0] if info else ""
            if kind == "arch" and info[1:] == ["ok"]:
                section.fixed.append(fence.group(2))
            elif kind in EXAMPLE_KINDS:
                if pending is not None:
                    raise ValueError(f"{section.code}: an example has no ```text block after it")
                pending = (kind, fence.group(2))
            elif kind == "text":
                if pending is None:
                    raise ValueError(f"{section.code}: a ```text block follows no example")
                section.examples.append(
                    Example(section.code, pending[0], pending[1], fence.group(2), fence.start(2), fence.end(2))
                )
                pending = None
        if pending is not None:
            raise ValueError(f"{section.code}: an example has no ```text block after it")
        sections.append(section)
    return sections


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


# Runs in a child process: for each spec, `archdsl check example.arch` through the console
# script's own entry point (archdsl.cli.main), in a fresh empty folder, capturing what it
# writes and its exit status. One process for all of them: starting archdsl once per
# example costs far more than checking it.
_DRIVER = """
import contextlib, io, json, sys, tempfile
from pathlib import Path
from archdsl.cli.commands import main

results = []
for source in json.load(sys.stdin):
    with tempfile.TemporaryDirectory(prefix="archdsl-errors-") as folder, contextlib.chdir(folder):
        Path(folder, "example.arch").write_text(source, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(["check", "example.arch"])
            except SystemExit as exit:
                status = exit.code
        results.append([status, out.getvalue(), err.getvalue()])
json.dump(results, sys.stdout)
"""


def check_specs(sources: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """`archdsl check example.arch` on each spec, each in an empty folder, as a user runs it."""
    if not sources:
        return []
    with tempfile.TemporaryDirectory(prefix="archdsl-errors-") as folder:
        child = subprocess.run(
            [sys.executable, "-c", _DRIVER],
            input=json.dumps(sources),
            cwd=folder,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if child.returncode != 0:
        raise RuntimeError(f"running the examples failed:\n{child.stderr}")
    command = ["archdsl", "check", EXAMPLE_FILE]
    return [subprocess.CompletedProcess(command, status, out, err) for status, out, err in json.loads(child.stdout)]


def check_spec(source: str) -> subprocess.CompletedProcess[str]:
    return check_specs([source])[0]


def raise_python(source: str):
    """Run a ```python example in an empty folder; the ArchError it raises."""
    from archdsl import ArchError

    with tempfile.TemporaryDirectory(prefix="archdsl-errors-") as folder, contextlib.chdir(folder):
        try:
            exec(compile(source, "<docs/errors.md>", "exec"), {"__name__": "__errors_md__"})
        except ArchError as error:
            return error
    raise AssertionError(f"the example raised no ArchError:\n{source}")


def accepted(code: str) -> bool:
    """Whether a code is a warning or a note: the spec checks, `archdsl check` exits 0 and prints a table."""
    from archdsl.common.diagnostics import CODES

    return CODES[code].startswith(("warning:", "note:"))


def _message(example: Example, result: subprocess.CompletedProcess[str]) -> str:
    status = 0 if accepted(example.code) else 1
    if result.returncode != status or bool(result.stdout) != (status == 0):
        raise AssertionError(
            f"{example.code}: 'archdsl check' exited {result.returncode}, not {status}\n{result.stdout}{result.stderr}"
        )
    return result.stderr.rstrip("\n") + "\n"


def printed(example: Example) -> str:
    """What archdsl prints for the example now, as the ```text block should hold it."""
    return printed_all([example])[0]


def printed_all(examples: list[Example]) -> list[str]:
    """`printed` for every example, the ```arch ones checked in one go."""
    specs = [e for e in examples if e.kind == "arch"]
    checked = dict(zip(map(id, specs), check_specs([e.source for e in specs]), strict=True))
    return [
        _message(e, checked[id(e)]) if e.kind == "arch" else raise_python(e.source).render().rstrip("\n") + "\n"
        for e in examples
    ]


def all_examples(text: str) -> list[Example]:
    return [example for section in parse_doc(text) for example in section.examples]


def regenerate(text: str) -> str:
    """The doc with every ```text block rewritten from archdsl's current output."""
    examples = all_examples(text)
    parts: list[str] = []
    position = 0
    for example, message in zip(examples, printed_all(examples), strict=True):
        parts.append(text[position : example.printed_start])
        parts.append(message)
        position = example.printed_end
    parts.append(text[position:])
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether docs/errors.md is up to date")
    args = parser.parse_args(argv)
    old = ERRORS_MD.read_text(encoding="utf-8")
    new = regenerate(old)
    if args.check:
        if new != old:
            print("docs/errors.md is out of date: run python docs/gen_errors.py", file=sys.stderr)
            return 1
        return 0
    if new != old:
        ERRORS_MD.write_text(new, encoding="utf-8")
        print("docs/errors.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
