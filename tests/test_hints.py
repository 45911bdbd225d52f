"""Every hint that shows what to write carries the edit, and the edit, applied, gives a spec that checks.

An example in a hint is a quoted fragment of spec that starts with a layer or `input` and
says more than the name (`'reshape 10x10x1'`, `'input 28x28x1'`, `'lstm 64 seq'`), or sets an
argument (`'kernel=3x3'`); a template with placeholders (`'input SHAPE'`, `'( A | B ) -> add'`,
`'model Name { ... }'`) is not one. The specs below are every failing example the tests and
docs/errors.md hold, and more written for the hints.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import test_errors  # beside this file: pytest puts tests/ on the path
import test_lint
import test_spellings

import archdsl
from archdsl.common.diagnostics import Diagnostic
from archdsl.layers import LAYERS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _errors_md_examples() -> list[str]:
    spec = importlib.util.spec_from_file_location("archdsl_docs_gen_errors_hints", DOCS / "gen_errors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    text = module.ERRORS_MD.read_text(encoding="utf-8")
    return [e.source for section in module.parse_doc(text) for e in section.examples if e.kind == "arch"]


HINT_SPECS = [
    # real sizes in reshape hints
    "input 100 -> conv2d 16",
    "input 784 -> conv2d 8 5x5",
    "input 300 -> conv2d 4",
    "input 13 -> conv2d 4",
    "input 4096 -> conv3d 2",
    "input 100 -> lstm 8",
    "input 64x64x1 -> conv2d 32 -> lstm 64",
    "input 6x6x2 -> conv1d 4 3",
    "model M {\n  input 100\n  -> conv2d 16 as features\n  -> globalavgpool\n}",
    # the step the recurrent layer dropped
    "input seq x 8 -> lstm 64 -> lstm 32",
    "input seq x 8 -> gru 64 seq=false -> dropout 0.2 -> gru 32",
    "block enc(u) = lstm u\ninput seq x 8 -> enc 16 -> lstm 4",
    # merges of branches that lost their axes
    "input 8x8x64 -> ( identity | globalavgpool -> dense 64 sigmoid ) -> multiply",
    "input 8x8x64 -> ( globalavgpool as squeeze | identity ) -> add",
    "input 8x8x64 -> ( identity | (globalavgpool -> dense 64) * 1 ) -> multiply",
    "block se(c) = globalavgpool -> dense c sigmoid\ninput 8x8x64 -> ( identity | se 64 ) -> multiply",
    # numbers written the wrong way round, channels first, percentages
    "input 28x28x1 -> conv2d 3 32",
    "input 1x28x28 -> conv2d 8 -> flatten -> dense 10",
    "input 10 -> dropout 25",
    "input 32x28x28x1x1 -> dense 10",
    # syntax people write
    "block b(act) = conv2d 4 -> act\ninput 8x8x1 -> b ReLU",
    "block b(act=Swish) = conv2d 4 as c -> act\ninput 8x8x1 -> b",
    "block b(c) = conv2d 4 -> c\ninput 8x8x1 -> b 16",
    "block b(c) = conv2d 4 -> reshape 1x1xc\ninput 6x6x1 -> b 64",
    "block b(c) = conv2d 4 -> reshape cx1x1\ninput 6x6x1 -> b 64",
    "# nothing but a comment\n",
    "block head(n) = dense n\n",
]
CORPUS = list(
    dict.fromkeys(
        [
            *(case.spec for case in test_errors.SPEC_CASES),
            *_errors_md_examples(),
            *(spec for spec, *_ in test_spellings.LAYER_CASES),
            *(spec for spec, *_ in test_spellings.ARGUMENT_CASES),
            *(spec for spec, *_ in test_spellings.VALUE_CASES),
            *(spec for spec, *_ in test_spellings.TUPLE_CASES),
            *test_lint.REAL_MODELS.values(),
            "input 3x224x224 -> conv2d 32 -> globalavgpool",
            "input 224x224x3 -> conv2d 3 32 -> globalavgpool",
            "input seq -> embedding 128 20000 -> globalavgpool",
            "input 8x8x3 -> batchnorm momentum=0.1 -> relu",
            *HINT_SPECS,
        ]
    )
)

_QUOTED = re.compile(r"(?<!\w)'([^']+)'(?!\w)")  # not the apostrophe of "Keras' momentum"
_TEMPLATE = re.compile(r"[A-Z]|\.\.\.")


def examples_in(hint: str | None) -> list[str]:
    """The quoted fragments of spec that a hint proposes to write."""
    found = []
    for fragment in _QUOTED.findall(hint or ""):
        words = fragment.split()
        if _TEMPLATE.search(fragment):
            continue
        if (words[0] in LAYERS or words[0] == "input") and len(words) > 1 or re.fullmatch(r"\w+=\S+", fragment):
            found.append(fragment)
    return found


def reported(spec: str) -> list[Diagnostic]:
    try:
        return list(archdsl.parse(spec, "t.arch").warnings)
    except archdsl.ArchError as error:
        return list(error.diagnostics)


def test_the_corpus_holds_the_hints_this_file_is_about() -> None:
    """A test that finds no example would pass whatever the hints say."""
    hinted = [d for spec in CORPUS for d in reported(spec) if examples_in(d.hint)]
    assert len(hinted) > 30
    assert {d.code for d in hinted} >= {
        "A101",
        "A102",
        "A202",
        "A301",
        "A302",
        "A305",
        "A307",
        "A401",
        "A704",
        "A705",
        "A706",
    }


@pytest.mark.parametrize("spec", CORPUS)
def test_every_example_in_a_hint_comes_with_its_edit(spec: str) -> None:
    for diagnostic in reported(spec):
        for example in examples_in(diagnostic.hint):
            assert diagnostic.fix is not None, f"{diagnostic.code}: '{example}' in the hint, but no edit"
            text = diagnostic.fix.text.strip(" \n->")
            assert text in example or example in text, (example, diagnostic.fix.text)


@pytest.mark.parametrize("spec", CORPUS)
def test_every_edit_applied_gives_a_spec_that_checks(spec: str) -> None:
    """Alone in its spec, the fixed problem leaves a spec that checks; beside others, it at least goes away.

    A syntax error is never alone for sure: the parser skips the rest of its statement.
    """
    found = reported(spec)
    problems = [d for d in found if d.severity != "note"]
    for diagnostic in found:
        if diagnostic.fix is None:
            continue
        fixed = diagnostic.fix.apply(spec)
        after = [d for d in reported(fixed) if d.severity != "note"]
        if len(problems) == 1 and not diagnostic.code.startswith("A1"):
            assert after == [], (fixed, [d.message for d in after])
        else:
            assert (diagnostic.code, diagnostic.span) not in [(d.code, d.span) for d in after], fixed
            if diagnostic.severity == "error" and not diagnostic.code.startswith("A1"):
                assert len(after) < len(problems), fixed


def test_hints_speak_of_the_real_sizes() -> None:
    """The issue that started this: 100 values are not MNIST's 28x28x1."""
    (error,) = reported("input 100 -> conv2d 16")
    assert error.hint == "reshape the vector into an image first, e.g. 'reshape 10x10x1'"
    (error,) = reported("input 13 -> conv2d 4")
    assert error.hint == (
        "no reshape of its 13 values into (height, width, channels) fits conv2d as configured: "
        "change the layer, or the layers before it"
    )
    (error,) = reported("input 300 -> conv2d 4")
    assert error.hint == "reshape the vector into an image first, e.g. 'reshape 15x20x1'"


def test_a_merge_of_a_branch_that_lost_its_axes_suggests_keeping_or_restoring_them() -> None:
    (error,) = reported("input 8x8x64 -> ( identity | globalavgpool -> dense 64 sigmoid ) -> multiply")
    assert error.hint == (
        "multiply stretches axes of size 1 but does not add missing ones: "
        "give the 64 branch its missing axes with 'reshape 1x1x64'"
    )
    (error,) = reported("input 8x8x64 -> ( globalmaxpool as squeeze | identity ) -> add")
    assert error.hint.endswith("keep the pooled axes with 'globalmaxpool keepdims'")
    (error,) = reported("input 8x8x64 -> ( identity | globalavgpool -> dense 32 ) -> add")
    assert error.fix is None and "64" not in error.hint  # 1x1x32 would not broadcast either
    (error,) = reported("input 8x8x64 -> ( identity | conv2d 32 1x1 ) -> add")
    assert error.hint == "make every branch end with the same number of channels (a 1x1 convolution can change them)"
    (error,) = reported("input 8x8x64 -> ( identity | conv2d 64 3x3 ) -> add")
    assert error.hint == "use 'same' padding in every branch so that their sizes agree"
