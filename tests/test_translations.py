"""What each layer becomes in Keras and in PyTorch, and what the diff says of it: tests/data/translations.txt.

Each entry of the fixture is a spec whose LAST layer is shown: its Keras line, its PyTorch
`__init__` and `forward` lines, and the notes the PyTorch target wrote for it. The file doubles
as the reference of what differs between the frameworks, layer by layer (in the manner of
sqlglot's fixture files). Runs without the frameworks: only code text is compared.

After an intended change to generated code or notes, rewrite the file and review its diff:

    .venv/bin/python tests/test_translations.py --update
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import archdsl  # noqa: E402
from archdsl.layers import LAYERS  # noqa: E402
from archdsl.targets.codegen import emit  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "data" / "translations.txt"
HEADER = """\
# What the last layer of each spec becomes: its Keras line, its PyTorch __init__ and forward
# lines, and the notes the diff shows for it. Written by tests/test_translations.py --update;
# checked by tests/test_translations.py. Entries are separated by blank lines.
"""
KINDS = ("keras", "torch init", "torch", "note")


def render_entry(spec: str) -> list[str]:
    """The fixture lines of one spec, as archdsl writes them today."""
    model = archdsl.parse(spec).model()
    keras, torch = emit(model, "keras"), emit(model, "torch")
    name = model.layers[-1].name
    keras_layer, torch_layer = keras.layer(name), torch.layer(name)
    lines = [f"spec: {line}" for line in spec.splitlines()]
    lines += [f"keras: {line.strip()}" for line in keras_layer.forward]
    lines += [f"torch init: {line.strip()}" for line in torch_layer.init]
    lines += [f"torch: {line.strip()}" for line in torch_layer.forward]
    for note in (*keras_layer.notes, *torch_layer.notes):
        topic = f"{note.topic} ({note.detail})" if note.detail else note.topic
        lines.append(f"note: {topic}: {note.text}")
    return lines


def read_fixture() -> list[list[str]]:
    entries: list[list[str]] = []
    current: list[str] = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                entries.append(current)
            current = []
            continue
        current.append(line)
    if current:
        entries.append(current)
    return entries


def spec_of(entry: list[str]) -> str:
    """An entry's spec: its leading `spec:` lines, so a graph can span several."""
    lines = [line.removeprefix("spec: ") for line in entry if line.startswith("spec: ")]
    return "\n".join(lines)


def specs() -> list[str]:
    return [spec_of(entry) for entry in read_fixture()]


def update() -> None:
    text = HEADER + "".join("\n" + "\n".join(render_entry(spec)) + "\n" for spec in specs())
    FIXTURE.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("entry", read_fixture(), ids=spec_of)
def test_translation(entry: list[str]) -> None:
    assert render_entry(spec_of(entry)) == entry, "run `python tests/test_translations.py --update` and review the diff"


def test_every_line_of_the_fixture_is_of_a_known_kind() -> None:
    for entry in read_fixture():
        assert entry[0].startswith("spec: ")
        for line in entry[1:]:
            assert line.startswith("spec: ") or line.split(": ", 1)[0] in KINDS, line


def _normalized(value, default):
    """A resolved value compared with its written default: `3` stands for `(3, 3)`."""
    if isinstance(value, tuple) and isinstance(default, int) and not isinstance(default, bool):
        return default if set(value) == {default} else value
    return value


def _written(layer, arg):
    """A reference argument (`init=@encoder`) lives on the layer, not in its config."""
    return layer.state_from if arg.kind == "ref" else layer.config[arg.name]


def test_the_fixture_covers_every_layer_and_every_argument_at_a_non_default_value() -> None:
    last_layers = [archdsl.parse(spec).model().layers[-1] for spec in specs()]
    missing_layers = sorted(set(LAYERS) - {layer.type for layer in last_layers})
    assert not missing_layers, f"add entries whose last layer is one of {missing_layers}"
    missing_args = []
    for spec in LAYERS.values():
        for arg in spec.args:
            if not any(
                layer.type == spec.name and _normalized(_written(layer, arg), arg.default) != arg.default
                for layer in last_layers
            ):
                missing_args.append(f"{spec.name} {arg.name}")
    assert not missing_args, f"add entries with these arguments at a value other than their default: {missing_args}"


_QUOTED = re.compile(r"`([^`]+)`")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


@pytest.mark.parametrize("entry", read_fixture(), ids=spec_of)
def test_notes_quote_only_what_the_code_says(entry: list[str]) -> None:
    """Code in a note (between backticks) is in the layer's code, and so is every number the note gives."""
    code = [line.split(": ", 1)[1] for line in entry if not line.startswith(("spec: ", "note: "))]
    code_numbers = {number for line in code for number in _NUMBER.findall(line)}
    for line in entry[1:]:
        if not line.startswith("note: "):
            continue
        note = line.removeprefix("note: ")
        for quoted in _QUOTED.findall(note):
            assert any(quoted in code_line for code_line in code), f"{quoted!r} is not in the code of: {spec_of(entry)}"
        prose = _QUOTED.sub("", note)
        for number in _NUMBER.findall(prose):
            assert number in code_numbers, f"the note gives {number}, which the code does not: {note}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_translations.py --update")
    update()
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
