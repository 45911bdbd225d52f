"""`%%arch` and `%arch` in a real IPython shell: what a cell shows, stores and reports.

The magic runs through `shell.run_cell`, as a notebook cell would, and its outputs are
captured as IPython's display machinery produces them (HTML for Jupyter, plain text for
the terminal). Every IPython example of docs/notebooks.md runs here too, and terminal
IPython runs a cell end to end in a subprocess.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("IPython", reason="the notebook extra (IPython) is needed for the magic")

from IPython.core.error import UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

import archdsl  # noqa: E402
from archdsl.common.diagnostics import Diagnostic, Span  # noqa: E402
from archdsl.tools import summary  # noqa: E402
from archdsl.tools.notebook import CellError, Diagnostics, GeneratedCode, ShapeTable, escape  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "notebooks.md"
CARD = "input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n"
MULTI = (ROOT / "examples" / "multi_model.arch").read_text(encoding="utf-8")
BAD = "input 64x64x1 -> conv2d 32 -> lstm 64\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "archdsl")
    return shell


@pytest.fixture
def ip(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch):
    """The shell with colours off and a namespace cleared of what the previous test stored."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    colors = shell.colors
    shell.colors = "nocolor"
    before = set(shell.user_ns)
    yield shell
    shell.colors = colors
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def run(shell: InteractiveShell, cell: str):
    with capture_output() as captured:
        result = shell.run_cell(cell, store_history=False)
    return result, captured


def shown(captured) -> list[dict[str, str]]:
    return [output.data for output in captured.outputs]


def text_of(html_text: str) -> str:
    """What a browser shows of an HTML fragment (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


# ---------------------------------------------------------------- the extension


def test_importing_archdsl_does_not_import_ipython() -> None:
    code = (
        "import sys, archdsl; archdsl.parse('input 4 -> dense 2'); "
        "heavy = ('IPython', 'archdsl.tools.notebook', 'torch', 'tensorflow', 'keras'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_load_ipython_extension_is_public() -> None:
    assert "load_ipython_extension" in archdsl.__all__
    assert callable(archdsl.load_ipython_extension)


def test_load_ext_registers_the_magic_for_cells_and_lines(shell: InteractiveShell) -> None:
    assert "arch" in shell.magics_manager.magics["cell"]
    assert "arch" in shell.magics_manager.magics["line"]


def test_running_the_magic_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'archdsl')\n"
        f"shell.run_cell_magic('arch', '--target both', {CARD!r})\n"
        "print('LOADED', sorted(m for m in ('torch', 'tensorflow', 'keras', 'numpy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "class Model(nn.Module)" in result.stdout
    assert "LOADED []" in result.stdout


# ---------------------------------------------------------------- what a cell shows


def test_cell_shows_the_shape_table(ip: InteractiveShell) -> None:
    result, captured = run(ip, "%%arch\n" + CARD)
    assert result.success, result.error_in_exec
    (table,) = shown(captured)
    model = archdsl.parse(CARD).model()
    for view in (table["text/plain"], text_of(table["text/html"])):
        for layer in ("input", "conv2d_1", "maxpool_1", "flatten_1", "dense_1"):
            assert layer in view
        assert "(None, 62, 62, 32)" in view
        assert "(None, 30752)" in view
        assert "307,530" in view
        assert "307,850" in view
        assert "inserted before dense_1: dense takes a vector" in view
        assert "<cell>" in view
        for row in summary.rows(model):
            assert row.name in view and row.shape in view
    # Number columns are right-aligned, text columns left-aligned, in both forms.
    assert '<td style="text-align: right">307,530</td>' in table["text/html"]
    assert '<td style="text-align: left">dense_1</td>' in table["text/html"]
    assert re.search(r"^dense_1\s+dense\s+\(None, 10\)\s+307,530\s+307,530$", table["text/plain"], re.M)
    # Nothing is printed besides the display, and the cell has no value to echo as Out[n].
    assert captured.stdout == "" and captured.stderr == ""
    assert result.result is None


def test_plain_table_text_is_exact(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch\ninput 8 -> dense 4 relu -> dense 2\n")
    (table,) = shown(captured)
    assert table["text/plain"] == (
        "Model  (<cell>)\n"
        "\n"
        "Layer    Type   Output shape  Keras params  PyTorch params  Notes\n"
        "-------  -----  ------------  ------------  --------------  -----\n"
        "input    input  (None, 8)                0               0\n"
        "dense_1  dense  (None, 4)               36              36\n"
        "dense_2  dense  (None, 2)               10              10\n"
        "-------  -----  ------------  ------------  --------------  -----\n"
        "Total                                   46              46\n"
        "\n"
        "Keras:   46 params (184.00 B): 46 trainable, 0 non-trainable\n"
        "PyTorch: 46 parameters (0.00 MB), 0 values in buffers\n"
    )


def test_depth_shows_block_calls_as_rows_with_their_subtotals(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch --depth 0 --model SmallNet\n" + MULTI)
    (table,) = shown(captured)
    model = archdsl.parse(MULTI).model("SmallNet")
    rows = [row for row in summary.rows(model, depth=0) if row.block]
    assert [row.name for row in rows] == ["conv_bn_1", "conv_bn_2", "conv_bn_3"]
    for row in rows:
        # conv_bn 32 on 3 channels: 896 + BatchNorm's 128 in Keras (64 of them moving statistics), 64 in PyTorch
        assert re.search(rf"^{row.name}\s+conv_bn\s+\(None, \d+, \d+, \d+\)\s+{row.keras:,}\s+{row.torch:,}$",
                         table["text/plain"], re.M)  # fmt: skip
        assert f'<td style="text-align: left">{row.name}</td>' in table["text/html"]
    assert "conv2d_1" not in table["text/plain"]
    assert "Total" in table["text/plain"] and f"{model.params.keras:,}" in table["text/plain"]
    _, captured = run(ip, "%%arch --depth 1 --model SmallNet\n" + MULTI)
    (table,) = shown(captured)
    # Inside a call, rows are indented; the HTML keeps the spaces.
    assert re.search(r"^  conv2d_1\s+conv2d", table["text/plain"], re.M)
    assert '<td style="text-align: left; white-space: pre">  conv2d_1</td>' in table["text/html"]


def test_table_says_what_keras_and_torchinfo_say_under_theirs(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch\ninput 8x8x3 -> conv2d 4 -> batchnorm -> flatten -> dense 2\n")
    (table,) = shown(captured)
    # 112 conv, 16 batchnorm of which 8 moving statistics (PyTorch: 8 in buffers and a counter), 290 dense
    keras = "418 params (1.63 KiB): 410 trainable, 8 non-trainable"
    torch = "410 parameters (0.00 MB), 9 values in buffers"
    assert f"Keras:   {keras}\nPyTorch: {torch}\n" in table["text/plain"]
    assert f"<b>Keras:</b> {keras}" in table["text/html"] and f"<b>PyTorch:</b> {torch}" in table["text/html"]


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_target_shows_exactly_the_generated_code(ip: InteractiveShell, target: str) -> None:
    result, captured = run(ip, f"%%arch --target {target}\n{CARD}")
    assert result.success, result.error_in_exec
    table, code = shown(captured)
    expected = archdsl.generate(archdsl.parse(CARD, "<cell>").model(), target)
    assert code["text/plain"] == expected
    assert expected in text_of(code["text/html"])
    assert "<span" in code["text/html"], "the HTML form is highlighted"
    assert "Model" in table["text/plain"]
    marker = "class Model(nn.Module)" if target == "torch" else "import keras"
    assert marker in code["text/plain"]


def test_target_both_shows_keras_then_torch(ip: InteractiveShell) -> None:
    _, captured = run(ip, f"%%arch -t both\n{CARD}")
    table, keras_code, torch_code = shown(captured)
    assert "Keras code for Model" in text_of(keras_code["text/html"])
    assert "PyTorch code for Model" in text_of(torch_code["text/html"])
    assert "keras.Model(inputs, outputs" in keras_code["text/plain"]
    assert "class Model(nn.Module)" in torch_code["text/plain"]


def test_no_table_shows_only_the_code(ip: InteractiveShell) -> None:
    _, captured = run(ip, f"%%arch --no-table --target torch\n{CARD}")
    (code,) = shown(captured)
    assert "class Model(nn.Module)" in code["text/plain"]


def test_several_models_one_table_each_with_its_code(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch --target torch\n" + MULTI)
    outputs = shown(captured)
    assert [o["text/plain"].splitlines()[0] for o in outputs[::2]] == ["SmallNet  (<cell>)", "Tagger  (<cell>)"]
    assert "class SmallNet(nn.Module)" in outputs[1]["text/plain"]
    assert "class Tagger(nn.Module)" in outputs[3]["text/plain"]
    assert len(outputs) == 4
    # The param notes of a model with an LSTM come with its table.
    assert "two bias vectors" in outputs[2]["text/plain"]
    assert "two bias vectors" in text_of(outputs[2]["text/html"])
    assert "two bias vectors" not in outputs[0]["text/plain"]


def test_model_option_selects_one(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch --model Tagger\n" + MULTI)
    (table,) = shown(captured)
    assert table["text/plain"].startswith("Tagger  (<cell>)")
    assert "31,521" in table["text/plain"]


def test_warnings_are_shown_above_the_table_and_accepted(ip: InteractiveShell) -> None:
    result, captured = run(ip, "%%arch\ninput 100000 -> dense 100000\n")
    assert result.success
    warning, table = shown(captured)
    assert "warning: dense_1 has 10,000,100,000 parameters" in warning["text/plain"]
    assert "[A701]" in warning["text/plain"]
    assert warning["text/html"].startswith('<pre class="archdsl-diagnostic">')
    assert "&lt;cell&gt;:1:17" in warning["text/html"]
    assert "10,000,100,000" in table["text/plain"]


# ---------------------------------------------------------------- --name and the line magic


def test_name_stores_the_program_for_the_next_cell(ip: InteractiveShell) -> None:
    result, captured = run(ip, f"%%arch --name net\n{CARD}")
    assert result.success
    assert isinstance(ip.user_ns["net"], archdsl.Program)
    result, captured = run(ip, "print(net.model().name, net.model().output_shape, net.filename)")
    assert result.success, result.error_in_exec
    assert captured.stdout == "Model (10,) <cell>\n"


def test_name_with_no_table_and_no_target_shows_nothing(ip: InteractiveShell) -> None:
    result, captured = run(ip, f"%%arch --no-table -n quiet\n{CARD}")
    assert result.success
    assert shown(captured) == [] and captured.stdout == ""
    assert ip.user_ns["quiet"].model().params.keras == 307_850


def test_line_magic_checks_a_file(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result, captured = run(ip, "%arch examples/card_cnn.arch --target torch --name card")
    assert result.success, result.error_in_exec
    table, code = shown(captured)
    assert table["text/plain"].startswith("Model  (examples/card_cnn.arch)")
    program = archdsl.load("examples/card_cnn.arch")
    assert code["text/plain"] == archdsl.generate(program.model(), "torch")
    assert ip.user_ns["card"].filename == "examples/card_cnn.arch"


def test_line_magic_missing_file_is_a_diagnostic(ip: InteractiveShell, tmp_path: Path) -> None:
    result, captured = run(ip, f"%arch {tmp_path / 'absent.arch'}")
    assert isinstance(result.error_in_exec, archdsl.ArchError)
    assert "no such file" in captured.stdout and "[A100]" in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr


def test_file_name_with_html_characters_is_escaped(ip: InteractiveShell, tmp_path: Path) -> None:
    spec = tmp_path / "a<b>&c.arch"
    spec.write_text(CARD, encoding="utf-8")
    _, captured = run(ip, f"%arch '{spec}'")
    (table,) = shown(captured)
    assert "a&lt;b&gt;&amp;c.arch" in table["text/html"]
    assert "<b>&" not in table["text/html"] and "a<b>" not in table["text/html"]
    assert f"{spec}" in table["text/plain"]


# ---------------------------------------------------------------- errors


def test_spec_error_shows_the_diagnostic_not_a_traceback(ip: InteractiveShell) -> None:
    result, captured = run(ip, "%%arch --name broken\n" + BAD)
    assert not result.success
    assert isinstance(result.error_in_exec, CellError)
    assert isinstance(result.error_in_exec, archdsl.ArchError)
    assert shown(captured) == []
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(BAD, "<cell>")
    assert captured.stdout == raised.value.render(color=False) + "\n"
    assert "<cell>:1:31: error: lstm needs a sequence" in captured.stdout
    assert "[A301]" in captured.stdout
    assert "  |                               ^^^^^^^\n" in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr
    assert "broken" not in ip.user_ns


def test_syntax_error_has_its_caret(ip: InteractiveShell) -> None:
    result, captured = run(ip, "%%arch\ninput 8 -> dense 4 ->\n")
    assert not result.success
    assert "[A103]" in captured.stdout or "[A102]" in captured.stdout
    assert "^" in captured.stdout
    assert "Traceback" not in captured.stdout + captured.stderr


def test_error_from_a_target_shows_the_source_line_and_nothing_else(ip: InteractiveShell) -> None:
    spec = "input seq x 8 -> conv1d 16 3 same stride=2\n"
    result, captured = run(ip, "%%arch --target torch\n" + spec)
    assert isinstance(result.error_in_exec, CellError)
    assert "[A601]" in captured.stdout
    assert "1 | input seq x 8 -> conv1d 16 3 same stride=2" in captured.stdout
    assert shown(captured) == [], "no half-shown output before the error"
    # Keras can express it.
    result, captured = run(ip, "%%arch --target keras\n" + spec)
    assert result.success


def test_diagnostic_colour_follows_ipython_and_no_color(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    ip.colors = "neutral"
    _, captured = run(ip, "%%arch\n" + BAD)
    assert ANSI.search(captured.stdout)
    assert "[A301]" in ANSI.sub("", captured.stdout)
    monkeypatch.setenv("NO_COLOR", "1")
    _, captured = run(ip, "%%arch\n" + BAD)
    assert not ANSI.search(captured.stdout)


def test_run_cell_magic_raises_an_arch_error(ip: InteractiveShell) -> None:
    with pytest.raises(archdsl.ArchError) as raised:
        ip.run_cell_magic("arch", "", BAD)
    assert raised.value.code == "A301"
    assert raised.value._render_traceback_()[0].startswith("<cell>:1:31: error")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("%%arch --target jax", "invalid choice: 'jax'"),
        ("%%arch --model Nope", "no model named 'Nope'"),
        ("%%arch --name 2x", "--name needs a Python variable name"),
        ("%%arch --name class", "--name needs a Python variable name"),
        ("%%arch --colour", "unrecognized arguments: --colour"),
        ("%%arch examples/card_cnn.arch", "%%arch checks the spec in the cell"),
        ("%%arch --depth -1", "--depth must be 0 or more, not -1"),
        ("%%arch --depth two", "argument --depth: invalid int value: 'two'"),
    ],
)
def test_bad_options_are_usage_errors(ip: InteractiveShell, line: str, message: str) -> None:
    result, captured = run(ip, f"{line}\n{MULTI if 'model' in line else CARD}")
    assert isinstance(result.error_in_exec, UsageError)
    assert "UsageError: " in captured.stderr and message in captured.stderr
    assert shown(captured) == []


def test_line_magic_without_a_file_is_a_usage_error(ip: InteractiveShell) -> None:
    result, captured = run(ip, "%arch --target torch")
    assert isinstance(result.error_in_exec, UsageError)
    assert "%arch needs a .arch file" in captured.stderr


def test_selection_error_suggests_a_name(ip: InteractiveShell) -> None:
    _, captured = run(ip, "%%arch --model Tager\n" + MULTI)
    assert "did you mean 'Tagger'?" in captured.stderr
    assert "the file has: SmallNet, Tagger" in captured.stderr


# ---------------------------------------------------------------- escaping, directly


def test_escape() -> None:
    assert escape("<b>a & 'b' \"c\"</b>") == "&lt;b&gt;a &amp; &#x27;b&#x27; &quot;c&quot;&lt;/b&gt;"


def test_table_html_escapes_file_name_and_notes() -> None:
    model = archdsl.parse(CARD, "x<script>&.arch").model()
    table = ShapeTable(model, model.source_file)
    page = table._repr_html_()
    assert "<script>" not in page
    assert "(x&lt;script&gt;&amp;.arch)" in page
    assert str(table).startswith("Model  (x<script>&.arch)")


def test_diagnostics_html_escapes_messages() -> None:
    diagnostic = Diagnostic("A701", "a <i>huge</i> layer & more", Span("<cell>", 1, 1, 1, 2), severity="warning")
    view = Diagnostics([diagnostic], "input 8")
    assert "a &lt;i&gt;huge&lt;/i&gt; layer &amp; more" in view._repr_html_()
    assert "<i>" not in view._repr_html_()
    assert "a <i>huge</i> layer & more" in str(view)


def test_code_html_escapes_the_code() -> None:
    code = GeneratedCode('x = "<b>&</b>"\n', "torch", "M<1>")
    page = code._repr_html_()
    assert "<b>&" not in page and "M<1>" not in page
    assert 'x = "<b>&</b>"\n' in text_of(page)


# ---------------------------------------------------------------- docs/notebooks.md


def doc_blocks() -> list[tuple[str, str, int]]:
    """(language, text, line) of each fenced block of the doc."""
    doc = DOC.read_text(encoding="utf-8")
    return [
        (match.group(1), match.group(2), doc.count("\n", 0, match.start()) + 1)
        for match in re.finditer(r"^```(\w*)\n(.*?)^```\n", doc, re.M | re.S)
    ]


def test_every_magic_example_of_the_doc_is_run() -> None:
    blocks = doc_blocks()
    assert sum(1 for language, _, _ in blocks if language == "ipython") >= 6
    for language, text, line in blocks:
        if re.search(r"^%%?arch|^%load_ext", text, re.M):
            assert language == "ipython", f"docs/notebooks.md:{line}: a magic example must be an ipython block"


def test_doc_examples_run_as_shown(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ipython block runs in order; a text block right after one is its exact terminal output."""
    monkeypatch.chdir(ROOT)
    blocks = doc_blocks()
    for index, (language, text, line) in enumerate(blocks):
        if language != "ipython":
            continue
        result, captured = run(ip, text)
        output = "".join(data["text/plain"] + "\n" for data in shown(captured)) + captured.stdout + captured.stderr
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if following is not None and following[0] == "text":
            assert output.rstrip("\n") == following[1].rstrip("\n"), f"docs/notebooks.md:{line}"
        else:
            assert result.success, f"docs/notebooks.md:{line}: {result.error_in_exec}\n{output}"


def test_doc_lists_every_option() -> None:
    from archdsl.tools.notebook import ArchMagics

    doc = DOC.read_text(encoding="utf-8")
    options = re.findall(r"(--[a-z-]+)", ArchMagics.arch.__doc__)
    assert {"--target", "--model", "--name", "--no-table"} <= set(options)
    for option in set(options):
        assert f"`{option}`" in doc, option


# ---------------------------------------------------------------- terminal IPython, end to end


def _ipython(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", *args]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_terminal_ipython_runs_a_cell(tmp_path: Path) -> None:
    (tmp_path / "cell.ipy").write_text("%%arch --target torch\n" + CARD, encoding="utf-8")
    result = _ipython("--ext", "archdsl", "cell.ipy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = str(ShapeTable(archdsl.parse(CARD, "<cell>").model()))
    code = archdsl.generate(archdsl.parse(CARD, "<cell>").model(), "torch")
    assert result.stdout == table + "\n" + code + "\n"


def test_terminal_ipython_loads_the_extension_and_reports_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.arch").write_text(BAD, encoding="utf-8")
    (tmp_path / "script.ipy").write_text("%load_ext archdsl\n%arch bad.arch\n", encoding="utf-8")
    result = _ipython("script.ipy", cwd=tmp_path)
    assert "bad.arch:1:31: error: lstm needs a sequence" in result.stdout
    assert "  |                               ^^^^^^^" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
