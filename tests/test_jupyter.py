"""`%%arch` in a real Jupyter kernel: a notebook executed by nbclient, outputs read as Jupyter stores them.

tests/test_notebook.py drives IPython's shell in this process; this file checks what only a
kernel shows: the MIME bundles a notebook stores (HTML and plain text), and a spec error as
the kernel reports it (the `error` output whose traceback a notebook front end displays).
"""

from __future__ import annotations

import re

import pytest

nbformat = pytest.importorskip("nbformat", reason="the test extra (nbclient, ipykernel) runs a real kernel")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from IPython.lib.pretty import pretty  # noqa: E402

import archdsl  # noqa: E402
from archdsl.tools.notebook import CELL_FILENAME, GeneratedCode, ShapeTable  # noqa: E402

CARD = "input 64x64x1 -> conv2d 32 -> maxpool -> dense 10\n"
BAD = "input 64x64x1 -> conv2d 32 -> lstm 64\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory):
    """One notebook, run top to bottom in a fresh kernel, as 'Run all' would (errors do not stop it)."""
    cells = [
        "%load_ext archdsl",
        "%%arch --name net\n" + CARD,
        "net.model().params.keras",
        "%%arch --target torch --no-table\n" + CARD,
        "%%arch\n" + BAD,
        "print('after the error')",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    workdir = tmp_path_factory.mktemp("notebook")
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook.cells


def test_the_extension_loads_quietly(executed) -> None:
    assert executed[0].outputs == []


def test_a_cell_shows_the_shape_table_as_html_and_text(executed) -> None:
    (output,) = executed[1].outputs
    assert output.output_type == "display_data"
    expected = ShapeTable(archdsl.parse(CARD, CELL_FILENAME).model(), CELL_FILENAME)
    assert output.data["text/html"] == expected._repr_html_()
    assert output.data["text/plain"] == pretty(expected)
    assert "<table" in output.data["text/html"]
    assert "conv2d_1" in output.data["text/plain"] and "307,850" in output.data["text/plain"]


def test_the_named_program_is_there_for_the_next_cell(executed) -> None:
    (output,) = executed[2].outputs
    assert output.output_type == "execute_result"
    assert output.data["text/plain"] == str(archdsl.parse(CARD).model().params.keras)


def test_target_shows_the_generated_code_exactly(executed) -> None:
    (output,) = executed[3].outputs
    code = archdsl.generate(archdsl.parse(CARD, CELL_FILENAME).model(), "torch")
    expected = GeneratedCode(code, "torch", "Model")
    assert output.data["text/html"] == expected._repr_html_()
    assert output.data["text/plain"] == pretty(expected)
    assert code.strip() in output.data["text/plain"]


def test_a_spec_error_is_the_diagnostic_without_a_python_traceback(executed) -> None:
    (output,) = executed[4].outputs
    assert output.output_type == "error"
    assert output.ename == "CellError"
    shown = ANSI.sub("", "\n".join(output.traceback))
    with pytest.raises(archdsl.ArchError) as raised:
        archdsl.parse(BAD, CELL_FILENAME)
    assert shown == raised.value.render(color=False)
    assert "error: lstm needs a sequence" in shown and "[A301]" in shown and "^^^^^^^" in shown
    assert "Traceback" not in shown and "File " not in shown and "archdsl/" not in shown


def test_the_notebook_goes_on_after_an_error(executed) -> None:
    (output,) = executed[5].outputs
    assert output.text == "after the error\n"
