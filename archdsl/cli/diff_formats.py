"""The diff's formats: side by side on a terminal, Markdown for a README, one HTML page."""

from __future__ import annotations

import html
import io
import shutil

from archdsl.tools.diff import DiffView, unified
from archdsl.version import __version__

FORMATS = ("side-by-side", "unified", "markdown", "html")


def side_by_side(view: DiffView, color: bool, width: int | None = None) -> str:
    """A rich table that fits the terminal; long lines wrap (fold), never cut."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if width is None:
        width = shutil.get_terminal_size((140, 24)).columns  # COLUMNS, the terminal, or 140 in a pipe
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="auto" if color else None,
        no_color=not color,
        force_terminal=color,
        highlight=False,
    )

    def table(title: str, first: str) -> Table:
        made = Table(title=title, box=box.SQUARE, title_justify="left", show_lines=True, expand=True)
        made.add_column(first, overflow="fold", ratio=1, style="bold")
        made.add_column("Keras", overflow="fold", ratio=3)
        made.add_column("PyTorch", overflow="fold", ratio=3)
        return made

    # Code is plain Text: rich would read `[a, b]` as markup and drop it.
    if view.blocks:
        blocks = table(f"{view.model}: each block once, a Keras function beside a PyTorch class", "Block")
        for block in view.blocks:
            blocks.add_row(Text(block.block), Text("\n".join(block.keras)), Text("\n".join(block.torch)))
        console.print(blocks)
    table = table(f"{view.model}: Keras and PyTorch, {_unit(view)}", "Layer")
    for row in view.rows:
        table.add_row(
            Text(f"{row.name}\n{row.type}\n{row.shape}"), Text("\n".join(row.keras)), Text("\n".join(row.torch))
        )
    table.add_row(Text("rest of the file"), Text("\n".join(view.keras_only)), Text("\n".join(view.torch_only)))
    console.print(table)
    console.print("Differences to know:", style="bold")
    for note in view.notes:
        console.print(Text(f"- {note}"))
    return buffer.getvalue()


def _unit(view: DiffView) -> str:
    return "layer by layer and call by call" if view.blocks else "layer by layer"


def markdown(view: DiffView) -> str:
    def cell(lines) -> str:
        return "<br>".join(f"<code>{html.escape(line).replace('|', '&#124;')}</code>" for line in lines) or " "

    out = []
    if view.blocks:
        out += [f"## {view.model}: each block once, a Keras function beside a PyTorch class", ""]
        for block in view.blocks:
            out += [f"<details><summary><b>{html.escape(block.block)}</b></summary>", ""]
            for target, lines in (("Keras", block.keras), ("PyTorch", block.torch)):
                out += [f"{target}:", "", "```python", *lines, "```", ""]
            out += ["</details>", ""]
    out += [f"## {view.model}: Keras and PyTorch, {_unit(view)}", "", "| Layer | Keras | PyTorch |", "|---|---|---|"]
    for row in view.rows:
        out.append(f"| **{row.name}**<br>{row.type}<br>`{row.shape}` | {cell(row.keras)} | {cell(row.torch)} |")
    out += [
        "",
        "### The rest of each file",
        "",
        "Keras:",
        "",
        "```python",
        *view.keras_only,
        "```",
        "",
        "PyTorch:",
        "",
        "```python",
        *view.torch_only,
        "```",
        "",
        "### Differences to know",
        "",
    ]
    out += [f"- {note}" for note in view.notes]
    return "\n".join(out) + "\n"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1400px;
       color: #1f2328; padding: 0 1rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; }}
table.diff {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
table.diff th {{ text-align: left; background: #f6f8fa; padding: .5rem; border: 1px solid #d0d7de; }}
table.diff td {{ vertical-align: top; border: 1px solid #d0d7de; padding: .35rem .5rem; }}
td.layer {{ width: 14%; font-size: .85rem; }} td.layer b {{ font-size: .95rem; }}
td.layer code {{ color: #57606a; }}
.highlight pre {{ margin: 0; white-space: pre-wrap; word-break: break-word; font-size: .82rem; background: none; }}
ul.notes li {{ margin: .4rem 0; line-height: 1.4; }}
details.block {{ margin: .5rem 0; border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .6rem; }}
details.block summary {{ cursor: pointer; font-weight: 600; }}
footer {{ color: #57606a; font-size: .8rem; margin-top: 2rem; }}
{css}
</style>
</head>
<body>
{blocks}<h1>{title}</h1>
<table class="diff">
<tr><th style="width:14%">Layer</th><th>Keras</th><th>PyTorch</th></tr>
{rows}
</table>
<h2>Differences to know</h2>
<ul class="notes">
{notes}
</ul>
<footer>Generated by archdsl {version}.</footer>
</body>
</html>
"""


def html_page(view: DiffView) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    formatter = HtmlFormatter(style="friendly")
    lexer = PythonLexer()

    def code(lines) -> str:
        return highlight("\n".join(lines) + "\n", lexer, formatter) if lines else ""

    rows = []
    for row in view.rows:
        rows.append(
            f'<tr><td class="layer"><b>{html.escape(row.name)}</b><br>{html.escape(row.type)}<br>'
            f"<code>{html.escape(row.shape)}</code></td><td>{code(row.keras)}</td><td>{code(row.torch)}</td></tr>"
        )
    rows.append(
        f'<tr><td class="layer"><b>rest of the file</b></td><td>{code(view.keras_only)}</td>'
        f"<td>{code(view.torch_only)}</td></tr>"
    )
    notes = "\n".join(f"<li>{html.escape(note)}</li>" for note in view.notes)
    blocks = ""
    if view.blocks:
        # Each block collapsible, open at first: the calls below refer to them by name.
        blocks = f"<h1>{html.escape(view.model)}: each block once</h1>\n" + "".join(
            f'<details class="block" open><summary>{html.escape(block.block)}</summary>\n'
            '<table class="diff"><tr><th>Keras</th><th>PyTorch</th></tr>\n'
            f"<tr><td>{code(block.keras)}</td><td>{code(block.torch)}</td></tr></table>\n</details>\n"
            for block in view.blocks
        )
    return _PAGE.format(
        blocks=blocks,
        title=html.escape(f"{view.model}: Keras and PyTorch, {_unit(view)}"),
        css=formatter.get_style_defs(".highlight"),
        rows="\n".join(rows),
        notes=notes,
        version=__version__,
    )


def render_diff(view: DiffView, fmt: str, color: bool = False, width: int | None = None) -> str:
    if fmt == "unified":
        return unified(view)
    if fmt == "markdown":
        return markdown(view)
    if fmt == "html":
        return html_page(view)
    return side_by_side(view, color, width)
