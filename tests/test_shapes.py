"""Shape inference against the fixture file tests/data/shapes.txt.

Each entry of the fixture is a spec and what archdsl must make of it: the output
shape (with the parameter totals, sometimes) or the error code. The expected values
follow Keras' rules and were checked against real Keras layers. A symbolic size is
compared by value: both the expected and the inferred expression are evaluated for
several sizes, so `seq//2` and `(seq-2)//2+1` are the same size, `ceil(seq-1/2)`
and `ceil((seq-1)/2)` are not.
"""

from __future__ import annotations

import ast as pyast
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

import archdsl
from archdsl.layers import LAYERS

FIXTURE = Path(__file__).parent / "data" / "shapes.txt"
SAMPLE_SIZES = (7, 8, 13, 50, 64, 101)


@dataclass(frozen=True)
class Entry:
    line: int
    spec: str
    shape: tuple[int | str, ...] | None
    keras: int | None
    torch: int | None
    error: str | None
    at: tuple[int, int] | None


def _dims(text: str) -> tuple[int | str, ...]:
    parts = text.split(" x ") if " x " in text else text.split("x")
    return tuple(int(p) if re.fullmatch(r"-?[0-9]+", p.strip()) else p.strip() for p in parts)


def _parse_expected(line_no: int, spec_lines: list[str], expected: str) -> Entry:
    spec = "\n".join(spec_lines)
    error = re.fullmatch(r"error (A[0-9]{3})(?: at ([0-9]+):([0-9]+))?", expected)
    if error:
        at = (int(error.group(2)), int(error.group(3))) if error.group(2) else None
        return Entry(line_no, spec, None, None, None, error.group(1), at)
    counts = dict(re.findall(r"\b(keras|torch)=([0-9]+)", expected))
    shape_text = re.sub(r"\s*\b(keras|torch)=[0-9]+", "", expected).strip()
    return Entry(
        line_no,
        spec,
        _dims(shape_text),
        int(counts["keras"]) if "keras" in counts else None,
        int(counts["torch"]) if "torch" in counts else None,
        None,
        None,
    )


def load_fixture(path: Path = FIXTURE) -> list[Entry]:
    entries: list[Entry] = []
    spec_lines: list[str] = []
    first_line = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if not line:
            assert not spec_lines, f"{path.name}:{first_line}: entry without a '=>' line"
            continue
        if line.startswith("=>"):
            assert spec_lines, f"{path.name}:{number}: '=>' without a spec"
            entries.append(_parse_expected(first_line, spec_lines, line[2:].strip()))
            spec_lines = []
            continue
        if line.startswith("#") and not spec_lines:
            continue  # a description of the entry (or of the file)
        if not spec_lines:
            first_line = number
        spec_lines.append(line)
    assert not spec_lines, f"{path.name}:{first_line}: the last entry has no '=>' line"
    return entries


ENTRIES = load_fixture()


# ---------------------------------------------------------------- symbolic sizes

_ALLOWED_BINOPS = {
    pyast.Add: lambda a, b: a + b,
    pyast.Sub: lambda a, b: a - b,
    pyast.Mult: lambda a, b: a * b,
    pyast.Div: lambda a, b: Fraction(a) / Fraction(b),
    pyast.FloorDiv: lambda a, b: a // b,
}


def evaluate_dim(text: str, env: dict[str, int]) -> Fraction:
    """The value of a symbolic size such as `ceil((seq-3)/2)` for given sizes of its names."""

    def walk(node: pyast.AST) -> Fraction:
        if isinstance(node, pyast.Expression):
            return walk(node.body)
        if isinstance(node, pyast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, pyast.Name):
            return Fraction(env[node.id])
        if isinstance(node, pyast.UnaryOp) and isinstance(node.op, pyast.USub):
            return -walk(node.operand)
        if isinstance(node, pyast.BinOp) and type(node.op) in _ALLOWED_BINOPS:
            return Fraction(_ALLOWED_BINOPS[type(node.op)](walk(node.left), walk(node.right)))
        if (
            isinstance(node, pyast.Call)
            and isinstance(node.func, pyast.Name)
            and node.func.id in ("ceil", "floor")
            and len(node.args) == 1
        ):
            return Fraction(getattr(math, node.func.id)(walk(node.args[0])))
        raise ValueError(f"not a size expression: {pyast.dump(node)} in {text!r}")

    return walk(pyast.parse(text, mode="eval"))


def names_in(text: str) -> set[str]:
    return {n.id for n in pyast.walk(pyast.parse(text, mode="eval")) if isinstance(n, pyast.Name)} - {"ceil", "floor"}


def same_dim(expected: int | str, actual: int | str) -> bool:
    if isinstance(expected, int):
        return isinstance(actual, int) and not isinstance(actual, bool) and actual == expected
    if not isinstance(actual, str):
        return False
    if expected.isidentifier():
        return actual == expected  # a plain name flows through unchanged
    names = names_in(expected)
    if names_in(actual) != names:
        return False
    for size in SAMPLE_SIZES:
        env = {name: size + offset for offset, name in enumerate(sorted(names))}
        if evaluate_dim(expected, env) != evaluate_dim(actual, env):
            return False
    return True


def same_shape(expected: tuple, actual: tuple) -> bool:
    return len(expected) == len(actual) and all(same_dim(e, a) for e, a in zip(expected, actual, strict=True))


# ---------------------------------------------------------------- the fixture

# Known bugs in archdsl, by the spec of the entry that shows them.
KNOWN_BUGS: dict[str, str] = {}


def _params(entries: list[Entry]):
    for entry in entries:
        marks = []
        if entry.spec in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, raises=pytest.fail.Exception, reason=KNOWN_BUGS[entry.spec]))
        yield pytest.param(entry, id=f"shapes.txt:{entry.line}", marks=marks)


@pytest.mark.parametrize("entry", list(_params(ENTRIES)))
def test_fixture_entry(entry: Entry) -> None:
    where = f"shapes.txt:{entry.line}: {entry.spec!r}"
    if entry.error is not None:
        with pytest.raises(archdsl.ArchError) as info:
            archdsl.parse(entry.spec + "\n", "shapes.arch")
        codes = [d.code for d in info.value.diagnostics]
        assert info.value.code == entry.error, f"{where}: got {codes}: {info.value.render()}"
        if entry.at is not None:
            assert (info.value.line, info.value.column) == entry.at, f"{where}: {info.value.render()}"
        return
    try:
        program = archdsl.parse(entry.spec + "\n", "shapes.arch")
    except archdsl.ArchError as error:  # pragma: no cover - shown on failure
        pytest.fail(f"{where}: unexpected error\n{error.render()}")
    model = program.model()
    assert same_shape(entry.shape, model.output_shape), f"{where}: expected {entry.shape}, got {model.output_shape}"
    if entry.keras is not None:
        assert model.params.keras == entry.keras, where
    if entry.torch is not None:
        assert model.params.torch == entry.torch, where


# ---------------------------------------------------------------- the fixture itself


def test_fixture_is_well_formed() -> None:
    assert len(ENTRIES) > 150
    lines = [e.line for e in ENTRIES]
    assert lines == sorted(set(lines))
    assert sum(e.error is not None for e in ENTRIES) >= 30
    assert sum(e.keras is not None for e in ENTRIES) >= 50


def test_fixture_covers_every_layer_type() -> None:
    """Every layer of the table appears in at least one entry that must check."""
    used: set[str] = set()
    for entry in ENTRIES:
        if entry.error is not None or entry.spec in KNOWN_BUGS:
            continue
        for layer in archdsl.parse(entry.spec + "\n").model().layers:
            if not layer.inserted:
                used.add(layer.type)
    assert sorted(set(LAYERS) - used) == []


def test_fixture_covers_every_rank_of_pooling_resizing() -> None:
    ranks: dict[str, set[int]] = {"maxpool": set(), "avgpool": set(), "upsample": set(), "zeropad": set()}
    for entry in ENTRIES:
        if entry.error is not None or entry.spec in KNOWN_BUGS:
            continue
        model = archdsl.parse(entry.spec + "\n").model()
        for layer in model.layers:
            if layer.type in ranks:
                ranks[layer.type].add(len(layer.input_shape) - 1)
    assert ranks == {"maxpool": {1, 2, 3}, "avgpool": {1, 2, 3}, "upsample": {1, 2, 3}, "zeropad": {1, 2, 3}}


# ---------------------------------------------------------------- the comparison helpers


def test_symbolic_sizes_compare_by_value() -> None:
    assert same_dim("seq//2", "(seq-2)//2+1")
    assert same_dim("seq*2", "seq+seq")
    assert same_dim("ceil(seq/2)", "ceil(seq/2)")
    assert not same_dim("ceil((seq-1)/2)", "ceil(seq-1/2)")
    assert not same_dim("seq", "seq-0+0")  # a plain name must stay a plain name
    assert not same_dim("seq-2", "time-2")
    assert not same_dim(8, "8")
    assert not same_dim("seq", 8)
    assert same_shape(_dims("seq-4 x 16"), ("seq-4", 16))
    assert _dims("62x62x32") == (62, 62, 32)
    assert _dims("(seq-3)//2+1 x 16") == ("(seq-3)//2+1", 16)


def test_symbolic_shapes_keep_their_names() -> None:
    model = archdsl.parse("input seq x 12 -> conv1d 16 3 same -> dense 4").model()
    assert model.input_shape == ("seq", 12)
    assert [layer.output_shape for layer in model.layers] == [("seq", 16), ("seq", 4)]


def test_strided_same_after_a_symbolic_expression() -> None:
    model = archdsl.parse("input seq x 8 -> conv1d 4 3 -> conv1d 4 3 same stride=2").model()
    assert same_shape(("ceil((seq-2)/2)", 4), model.output_shape), model.output_shape


def test_archdsl_evaluates_every_symbolic_size_of_the_fixture_as_this_test_does() -> None:
    """`check --macs` counts with numbers for the symbolic sizes: archdsl's reading of its own
    expressions must agree with the independent one above, on every expression the fixture makes."""
    from archdsl.layers.shapes import evaluate, symbols

    seen = 0
    for entry in ENTRIES:
        if entry.error is not None:
            continue
        for model in archdsl.parse(entry.spec).models:
            for layer in model.layers:
                for dim in (*layer.input_shape, *layer.output_shape):
                    if isinstance(dim, int):
                        continue
                    assert symbols(dim) == names_in(dim), dim
                    for size in SAMPLE_SIZES:
                        assert evaluate(dim, size) == evaluate_dim(dim, dict.fromkeys(names_in(dim), size)), dim
                    seen += 1
    assert seen >= 50, "the fixture has too few symbolic sizes to say much"


@pytest.mark.parametrize(
    ("dim", "names", "value"),
    [
        ("ceil(None/2)-2", {"None"}, 6),  # a name Python would read as a constant
        ("True", {"True"}, 16),
        ("(lambda-2)//2+1", {"lambda"}, 8),  # or as a keyword
        ("ceil(ceil/3)", {"ceil"}, 6),  # the name of the function, called and as a size
        ("seq+ceil(seq/2)", {"seq"}, 24),
    ],
)
def test_any_name_the_user_chose_is_a_size(dim: str, names: set[str], value: int) -> None:
    from archdsl.layers.shapes import evaluate, symbols

    assert symbols(dim) == names
    assert evaluate(dim, 16) == value


def test_a_name_that_python_would_misread_is_counted_as_a_size() -> None:
    model = archdsl.parse("input None x 8 -> conv1d 4 3 same stride=2 -> conv1d 4 3").model()
    assert model.layers[-1].output_shape == ("ceil(None/2)-2", 4)
    assert model.symbols == ("None",)
    assert model.layers[-1].macs() == (4 * 4 * 3 + 4) * 6  # 52 parameters at ceil(16/2)-2 steps
