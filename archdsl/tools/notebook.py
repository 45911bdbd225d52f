"""`%%arch` and `%arch` for IPython and Jupyter: the check table and the generated code as cell output.

Loaded with `%load_ext archdsl` (see `archdsl.load_ipython_extension`); IPython is the
optional `notebook` dependency, imported only here. The display objects carry an HTML
form for Jupyter and a plain-text form for terminal IPython, both built from the same
rows as `archdsl check`. A spec error fails the cell like any exception, but IPython
shows archdsl's diagnostic (code, source line, caret, help) instead of a traceback.
Generating code never imports a framework, so neither does the magic.
"""

from __future__ import annotations

import html
import keyword
import os
from collections.abc import Sequence

try:
    from IPython.core.error import UsageError
    from IPython.core.magic import Magics, line_cell_magic, magics_class
    from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
    from IPython.display import display
except ImportError as error:  # pragma: no cover - only without the optional dependency
    raise ImportError('archdsl.notebook needs IPython: pip install "archdsl[notebook]"') from error

from archdsl.common.diagnostics import ArchError, Diagnostic, render_all
from archdsl.ir.model import Model, Program, SelectionError
from archdsl.pipeline import load, parse
from archdsl.targets.codegen import generate
from archdsl.tools.summary import param_notes, rows, totals

CELL_FILENAME = "<cell>"
TARGET_TITLES = {"keras": "Keras", "torch": "PyTorch"}
TARGET_CHOICES = {"none": (), "keras": ("keras",), "torch": ("torch",), "both": ("keras", "torch")}

HEADERS = ("Layer", "Type", "Output shape", "Keras params", "PyTorch params", "Notes")
NUMERIC = (False, False, False, True, True, False)


def escape(text: object) -> str:
    """HTML-escape anything shown in HTML: file names, messages and notes come from the user."""
    return html.escape(str(text), quote=True)


def _text_table(header: Sequence[str], body: Sequence[Sequence[str]], footer: Sequence[str]) -> list[str]:
    """Columns padded to their widest cell; numbers right-aligned, the last column not padded."""
    every = [header, *body, footer]
    widths = [max(len(row[i]) for row in every) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = zip(row, widths, NUMERIC, strict=True)
        return "  ".join(cell.rjust(w) if numeric else cell.ljust(w) for cell, w, numeric in cells).rstrip()

    rule = "  ".join("-" * w for w in widths).rstrip()
    return [line(header), rule, *(line(row) for row in body), rule, line(footer)]


class ShapeTable:
    """The check table of one model: layer, type, output shape, parameters per framework, notes."""

    def __init__(self, model: Model, filename: str = CELL_FILENAME, depth: int | None = None):
        self.model = model
        self.filename = filename
        self.title = f"{model.name}  ({filename})"
        self.rows = [row.cells() for row in rows(model, depth=depth)]
        self.footer = ("Total", "", "", f"{model.params.keras:,}", f"{model.params.torch:,}", "")
        self.totals = totals(model)  # what Keras' model.summary() and torchinfo say under their tables
        self.notes = param_notes(model)

    def text(self) -> str:
        lines = [self.title, "", *_text_table(HEADERS, self.rows, self.footer), ""]
        lines.extend(f"{label + ':':<8} {text}" for label, text in self.totals)
        lines.extend(f"note: {note}" for note in self.notes)
        # A blank line after the table, as after the generated code, where outputs are printed one after another.
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        def cells(values: Sequence[str], tag: str) -> str:
            # A cell that starts with spaces keeps them: they indent the rows inside a block call.
            return "".join(
                f'<{tag} style="text-align: {"right" if numeric else "left"}'
                f'{"; white-space: pre" if value.startswith(" ") else ""}">{escape(value)}</{tag}>'
                for value, numeric in zip(values, NUMERIC, strict=True)
            )

        body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in self.rows)
        summary = "".join(
            f'<p class="archdsl-totals"><b>{escape(label)}:</b> {escape(text)}</p>' for label, text in self.totals
        )
        notes = "".join(f'<p class="archdsl-note">note: {escape(note)}</p>' for note in self.notes)
        return (
            '<div class="archdsl">'
            '<table class="archdsl-table" style="font-family: monospace">'
            f'<caption style="text-align: left"><b>{escape(self.model.name)}</b> ({escape(self.filename)})</caption>'
            f"<thead><tr>{cells(HEADERS, 'th')}</tr></thead>"
            f"<tbody>{body}</tbody>"
            f"<tfoot><tr>{cells(self.footer, 'th')}</tr></tfoot>"
            f"</table>{summary}{notes}</div>"
        )

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<ShapeTable of model {self.model.name}>"


class GeneratedCode:
    """The module `archdsl.generate` wrote for one model and target: highlighted in Jupyter, plain elsewhere."""

    def __init__(self, code: str, target: str, model_name: str):
        self.code = code
        self.target = target
        self.model_name = model_name

    def _repr_html_(self) -> str:
        # Inline colours (noclasses): a <style> block would restyle every highlighted cell of the page.
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        body = highlight(self.code, PythonLexer(), HtmlFormatter(noclasses=True, nobackground=True))
        title = f"{TARGET_TITLES.get(self.target, self.target)} code for {self.model_name}"
        return f'<div class="archdsl-code"><div><b>{escape(title)}</b></div>{body}</div>'

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.code)

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"<GeneratedCode {self.target} for model {self.model_name}>"


class Diagnostics:
    """Warnings of an accepted spec, rendered as `archdsl check` prints them on stderr."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str | None):
        self.text = render_all(diagnostics, source, color=False)

    def _repr_html_(self) -> str:
        return f'<pre class="archdsl-diagnostic">{escape(self.text)}</pre>'

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text)

    def __str__(self) -> str:
        return self.text


class CellError(ArchError):
    """A spec error raised by the magic. IPython calls `_render_traceback_` for what to show,
    so the cell fails (Run All stops there) and shows the diagnostic, not a Python traceback."""

    def __init__(self, error: ArchError, source: str | None, color: bool):
        super().__init__(error.diagnostics, error.source if error.source is not None else source)
        self.color = color

    def _render_traceback_(self) -> list[str]:
        return self.render(color=self.color).split("\n")


def _path(argument: str) -> str:
    """IPython's magic argument splitter keeps quotes: `%arch "my spec.arch"` means the name inside them."""
    if len(argument) >= 2 and argument[0] == argument[-1] and argument[0] in "'\"":
        argument = argument[1:-1]
    return os.path.expanduser(argument)


@magics_class
class ArchMagics(Magics):
    """`%%arch` checks the spec in the cell; `%arch FILE` checks a file. Both take the same options."""

    @magic_arguments()
    @argument(
        "--target",
        "-t",
        default="none",
        choices=list(TARGET_CHOICES),
        help="also show the code generated for keras, torch or both (default: none, the table only)",
    )
    @argument("--model", "-m", metavar="NAME", help="show only this model (default: every model of the spec)")
    @argument("--name", "-n", metavar="VAR", help="store the checked archdsl.Program in the variable VAR")
    @argument("--no-table", action="store_true", help="do not show the shape table")
    @argument(
        "--depth",
        type=int,
        metavar="N",
        help="show block calls nested to depth N, each call at depth N as one row with its subtotals "
        "(0: the model's own layers and calls)",
    )
    @argument("file", nargs="?", metavar="FILE", help="with %%arch: a .arch file to check instead of a cell")
    @line_cell_magic
    def arch(self, line: str, cell: str | None = None) -> None:
        """Check an archdsl spec: show its shape table and, with --target, the generated code.

        %%arch [options]      the spec is the rest of the cell
        %arch [options] FILE  the spec is a .arch file
        """
        args = parse_argstring(self.arch, line)
        if args.name is not None and (not args.name.isidentifier() or keyword.iskeyword(args.name)):
            raise UsageError(f"--name needs a Python variable name, not {args.name!r}")
        if args.depth is not None and args.depth < 0:
            raise UsageError(f"--depth must be 0 or more, not {args.depth}")
        if cell is None and args.file is None:
            raise UsageError("%arch needs a .arch file; for a spec written in the cell use %%arch")
        if cell is not None and args.file is not None:
            raise UsageError(f"%%arch checks the spec in the cell; remove {args.file!r} or use %arch FILE")
        color = str(getattr(self.shell, "colors", "")).lower() != "nocolor" and not os.environ.get("NO_COLOR")
        try:
            program = parse(cell, CELL_FILENAME) if cell is not None else load(_path(args.file))
        except ArchError as error:
            raise CellError(error, cell, color) from None
        try:
            models = list(program.models) if args.model is None else [program.model(args.model)]
        except SelectionError as error:
            raise UsageError(f"{error.message} ({error.hint})" if error.hint else error.message) from None
        try:
            outputs = self.outputs(
                program, models, TARGET_CHOICES[args.target], show_table=not args.no_table, depth=args.depth
            )
        except ArchError as error:
            raise CellError(error, program.source, color) from None
        if args.name is not None:
            self.shell.push({args.name: program})
        for output in outputs:
            display(output)

    @staticmethod
    def outputs(
        program: Program, models: Sequence[Model], targets: Sequence[str], show_table: bool, depth: int | None = None
    ) -> list:
        """Everything the cell shows, built before any of it is shown: a failing target shows nothing."""
        result: list = [Diagnostics(program.warnings, program.source)] if program.warnings else []
        for model in models:
            if show_table:
                result.append(ShapeTable(model, program.filename, depth))
            result.extend(GeneratedCode(generate(model, target), target, model.name) for target in targets)
        return result


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(ArchMagics)
