"""docs/errors.md and docs/language.md stay in step with archdsl.

- every error code of `archdsl.diagnostics.CODES` has a section in errors.md, with the
  same title, and every section is a code that exists;
- every example of errors.md still raises its section's code, every corrected example
  checks, and every printed message is what archdsl prints now
  (`python docs/gen_errors.py` rewrites them);
- the layer tables pasted in language.md are what docs/gen_layers.py prints now
  (`python docs/gen_layers.py --write` pastes them), and its `arch` examples check.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from functools import cache
from pathlib import Path

import pytest

import archdsl
from archdsl.common.diagnostics import CODES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"archdsl_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


gen_errors = _load("gen_errors")
gen_layers = _load("gen_layers")

ERRORS_TEXT = gen_errors.ERRORS_MD.read_text(encoding="utf-8")
SECTIONS = gen_errors.parse_doc(ERRORS_TEXT)
EXAMPLES = [example for section in SECTIONS for example in section.examples]
LANGUAGE_TEXT = gen_layers.LANGUAGE_MD.read_text(encoding="utf-8")


def _ids(examples) -> list[str]:
    counts: dict[str, int] = {}
    ids = []
    for example in examples:
        counts[example.code] = counts.get(example.code, 0) + 1
        ids.append(f"{example.code}-{example.kind}-{counts[example.code]}")
    return ids


# ---------------------------------------------------------------- errors.md


def test_every_code_has_a_section_and_every_section_a_code() -> None:
    documented = [section.code for section in SECTIONS]
    assert len(documented) == len(set(documented)), "a code has two sections"
    missing = sorted(set(CODES) - set(documented))
    unknown = sorted(set(documented) - set(CODES))
    assert not missing, f"codes without a section in docs/errors.md: {missing}"
    assert not unknown, f"sections of docs/errors.md for codes archdsl does not have: {unknown}"
    assert documented == sorted(documented), "sections should be in the order of their codes"


@pytest.mark.parametrize("section", SECTIONS, ids=[s.code for s in SECTIONS])
def test_section_title_is_the_code_title(section) -> None:
    assert section.title == CODES.get(section.code), (
        f"'## {section.code} — {section.title}' should read '## {section.code} — {CODES.get(section.code)}'"
    )


@pytest.mark.parametrize("section", SECTIONS, ids=[s.code for s in SECTIONS])
def test_section_has_an_example_and_a_fix(section) -> None:
    assert section.examples, f"{section.code} has no example"
    assert "**When it happens:**" in section.body
    assert "**Fix:**" in section.body


ARCH_EXAMPLES = [e for e in EXAMPLES if e.kind == "arch"]
PYTHON_EXAMPLES = [e for e in EXAMPLES if e.kind == "python"]


@pytest.mark.parametrize("example", ARCH_EXAMPLES, ids=_ids(ARCH_EXAMPLES))
def test_spec_example_raises_its_code(example) -> None:
    if gen_errors.accepted(example.code):  # a warning or a note: the spec checks and reports it
        codes = [d.code for d in archdsl.parse(example.source, gen_errors.EXAMPLE_FILE).warnings]
    else:
        with pytest.raises(archdsl.ArchError) as raised:
            archdsl.parse(example.source, gen_errors.EXAMPLE_FILE)
        codes = [d.code for d in raised.value.diagnostics]
    assert example.code in codes, f"expected {example.code}, archdsl reports {codes}"


@pytest.mark.parametrize("example", PYTHON_EXAMPLES, ids=_ids(PYTHON_EXAMPLES))
def test_python_example_raises_its_code(example) -> None:
    error = gen_errors.raise_python(example.source)
    codes = [d.code for d in error.diagnostics]
    assert example.code in codes, f"expected {example.code}, archdsl reports {codes}"


FIXED = [(section.code, source) for section in SECTIONS for source in section.fixed]


@pytest.mark.parametrize(("code", "source"), FIXED, ids=[f"{c}-fixed" for c, _ in FIXED])
def test_fixed_example_checks(code: str, source: str) -> None:
    program = archdsl.parse(source, gen_errors.EXAMPLE_FILE)
    assert program.models
    assert code not in [d.code for d in program.warnings], "the fixed example of a warning still has it"


@cache
def _printed_now() -> tuple[str, ...]:
    return tuple(gen_errors.printed_all(EXAMPLES))


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=_ids(EXAMPLES))
def test_printed_message_is_current(index: int) -> None:
    example = EXAMPLES[index]
    now = _printed_now()[index]
    assert example.printed == now, (
        f"the message under a {example.code} example in docs/errors.md is not what archdsl prints now; "
        "run '.venv/bin/python docs/gen_errors.py' and read the diff"
    )


def test_printed_messages_have_no_control_characters() -> None:
    for example in EXAMPLES:
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", example.printed), example.code


def test_regenerating_changes_nothing() -> None:
    """The same check as test_printed_message_is_current, through the script's own path."""
    examples = gen_errors.all_examples(ERRORS_TEXT)
    assert [e.printed for e in examples] == list(_printed_now())


# ---------------------------------------------------------------- language.md


def test_layer_table_is_current() -> None:
    assert gen_layers.pasted(LANGUAGE_TEXT) == gen_layers.tables(), (
        "the layer tables in docs/language.md are not what docs/gen_layers.py prints; "
        "run '.venv/bin/python docs/gen_layers.py --write'"
    )


def test_layer_table_lists_every_layer() -> None:
    from archdsl.layers import LAYERS

    table = gen_layers.layer_table()
    for name in LAYERS:
        assert f"| `{name}` |" in table, name


_FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
LANGUAGE_EXAMPLES = [
    (fence.group(2).split()[1:], textwrap.dedent(fence.group(3)), LANGUAGE_TEXT.count("\n", 0, fence.start()) + 1)
    for fence in _FENCE.finditer(LANGUAGE_TEXT)
    if fence.group(2).split()[:1] == ["arch"]
]


@pytest.mark.parametrize(
    ("marks", "source"),
    [(m, s) for m, s, _ in LANGUAGE_EXAMPLES],
    ids=[f"line-{line}" for _, _, line in LANGUAGE_EXAMPLES],
)
def test_language_example(marks: list[str], source: str) -> None:
    if "error" in marks:
        with pytest.raises(archdsl.ArchError):
            archdsl.parse(source, "language.arch")
    else:
        assert archdsl.parse(source, "language.arch").models
