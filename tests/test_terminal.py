"""Colour on a terminal, plain text everywhere else: the CLI run on a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CARD = "examples/card_cnn.arch"
ESC = "\x1b["


def _env(**extra: str | None) -> dict[str, str]:
    """The environment of a run; a variable given as None is left out."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "LINES")}
    changes = {"PYTHONIOENCODING": "utf-8", "TERM": "xterm-256color", "COLUMNS": "140", **extra}
    env.update({k: v for k, v in changes.items() if v is not None})
    return env


def on_terminal(args: list[str], columns: int | None = None, **env: str) -> tuple[int, str]:
    """Run archdsl with stdout and stderr on a pseudo-terminal; returns (exit status, what it showed).

    With `columns`, the terminal is that wide, as a window is, and COLUMNS is not set.
    """
    leader, follower = pty.openpty()
    if columns is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
        env = {**env, "COLUMNS": None}
    process = subprocess.Popen(
        [sys.executable, "-m", "archdsl", *args], cwd=ROOT, stdout=follower, stderr=follower, env=_env(**env)
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            pytest.fail("archdsl did not finish on the terminal within 60 s")
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closes when the process exits (EIO on Linux)
            break
        if not data:
            break
        shown += data
    os.close(leader)
    return process.wait(timeout=60), shown.decode("utf-8").replace("\r\n", "\n")


def piped(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args], cwd=ROOT, capture_output=True, text=True, env=_env(**env), timeout=60
    )


def test_check_table_is_coloured_on_a_terminal() -> None:
    status, shown = on_terminal(["check", CARD])
    assert status == 0
    assert ESC in shown
    assert "\x1b[32m" in shown or "\x1b[32;" in shown or ";32m" in shown, "shapes are drawn green"
    assert "conv2d_1" in shown and "307,850" in shown


def test_errors_are_coloured_on_a_terminal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("input 64x64x1 -> conv2 32\n")
    status, shown = on_terminal(["check", str(bad)])
    assert status == 1
    assert ESC in shown and "A201" in shown


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_no_color_on_a_terminal(how: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("input 64x64x1 -> conv2 32\n")
    extra = ["--no-color"] if how == "flag" else []
    env = {"NO_COLOR": "1"} if how == "environment" else {}
    status, table = on_terminal(["check", CARD, *extra], **env)
    assert status == 0 and ESC not in table and "307,850" in table
    status, error = on_terminal(["check", str(bad), *extra], **env)
    assert status == 1 and ESC not in error and "A201" in error


def test_piped_output_is_plain_aligned_text() -> None:
    result = piped(["check", CARD])
    assert result.returncode == 0
    assert ESC not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == f"Model  ({CARD})"
    assert all(line == line.rstrip() for line in lines), "no trailing spaces when piped"
    header = next(line for line in lines if line.lstrip().startswith("Layer"))
    dense = next(line for line in lines if line.lstrip().startswith("dense_1"))
    # Parameter counts are right-aligned under their headers.
    assert dense.index("307,530") + len("307,530") == header.index("Keras params") + len("Keras params")
    assert lines[-4].split() == ["Total", "307,850", "307,850"]
    assert lines[-2:] == [
        "  Keras:   307,850 params (1.17 MiB): 307,850 trainable, 0 non-trainable",
        "  PyTorch: 307,850 parameters (1.23 MB), 0 values in buffers",
    ]


def test_piped_and_terminal_tables_say_the_same() -> None:
    """The terminal adds colour and nothing else: the same cells in the same order."""
    _, coloured = on_terminal(["check", "examples/multi_model.arch"])
    shown = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    plain = piped(["check", "examples/multi_model.arch"]).stdout
    assert ESC in coloured and ESC not in plain

    def cells(text: str) -> list[list[str]]:
        return [line.split() for line in text.splitlines() if line.strip() and not set(line.strip()) <= {"─"}]

    assert cells(shown) == cells(plain)


def test_long_notes_are_not_wrapped_when_piped() -> None:
    result = piped(["check", "examples/multi_model.arch"], COLUMNS="60")
    note = [line for line in result.stdout.splitlines() if line.startswith("note: Keras counts BatchNorm")]
    assert note and note[0].endswith("outside parameters().")


# ---------------------------------------------------------------- fitting the terminal

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTE = "inserted before dense_1: dense takes a vector"


def _shapes(path: str) -> list[str]:
    """Every output shape of the spec, as the check table writes them."""
    result = piped(["check", path, "--json"])
    models = json.loads(result.stdout)["models"]
    return [
        "(" + ", ".join(["None", *map(str, shape)]) + ")"
        for model in models
        for shape in [model["input_shape"], *(layer["output_shape"] for layer in model["layers"])]
    ]


@pytest.mark.parametrize("columns", [80, 100, 140])
@pytest.mark.parametrize("path", [CARD, "examples/resnet.arch", "examples/text_bigru.arch"])
def test_check_fits_the_terminal_and_cuts_no_shape(columns: int, path: str) -> None:
    status, shown = on_terminal(["check", path], columns=columns)
    assert status == 0
    lines = ANSI.sub("", shown).splitlines()
    table = [line for line in lines if not line.startswith(("note: ", "      "))]  # prose wraps, a table does not
    assert all(len(line) <= columns for line in table), [line for line in table if len(line) > columns]
    assert not [line for line in lines if len(line.strip()) == 1], "no cell is broken one letter per line"
    for shape in _shapes(path):
        assert any(shape in line for line in lines), f"{shape} is cut at {columns} columns"


@pytest.mark.parametrize(("columns", "inline"), [(80, False), (100, False), (140, True)])
def test_notes_become_footnotes_when_the_table_does_not_fit(columns: int, inline: bool) -> None:
    _, shown = on_terminal(["check", CARD], columns=columns)
    lines = ANSI.sub("", shown).splitlines()
    flatten = next(line for line in lines if line.lstrip().startswith("flatten_1"))
    if inline:
        assert flatten.endswith(NOTE)
    else:
        assert flatten.endswith("[1]")
        assert f"[1] {NOTE}" in lines


@pytest.mark.parametrize("columns", [80, 100, 140])
def test_layers_fits_the_terminal(columns: int) -> None:
    status, shown = on_terminal(["layers"], columns=columns)
    assert status == 0
    lines = ANSI.sub("", shown).splitlines()
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    stacked = "dense" in lines  # a layer's name alone on its line: one entry per layer
    assert stacked == (columns < 120)
    assert any("conv2dtranspose 32 3x3 stride=2 same" in line for line in lines), "examples are never cut"


def test_columns_is_honoured_when_piped() -> None:
    narrow = piped(["check", CARD], COLUMNS="80").stdout.splitlines()
    assert all(len(line) <= 80 for line in narrow)
    assert f"[1] {NOTE}" in narrow
    unlimited = piped(["check", CARD], COLUMNS=None).stdout.splitlines()
    assert any(line.endswith(NOTE) for line in unlimited), "without COLUMNS a pipe gets the whole row"
    layers = piped(["layers"], COLUMNS="80").stdout.splitlines()
    assert "dense" in layers and all(len(line) <= 80 for line in layers)


def test_totals_wrap_on_a_narrow_terminal_under_their_text() -> None:
    _, shown = on_terminal(["check", "examples/vgg_small.arch", "--macs"], columns=60)
    lines = ANSI.sub("", shown).splitlines()
    start = lines.index("  Keras:   552,874 params (2.11 MiB): 551,722 trainable,")
    assert lines[start : start + 6] == [
        "  Keras:   552,874 params (2.11 MiB): 551,722 trainable,",
        "           1,152 non-trainable",
        "  PyTorch: 551,722 parameters (2.21 MB), 1,159 values in",
        "           buffers",
        "  MACs:    39,012,874 multiply-adds per sample, as torchinfo",
        "           counts them",
    ]
