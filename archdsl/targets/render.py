"""One Jinja environment for every target; each generated module is compiled before it is returned.

The templates lay out text and nothing else: every line they place was decided
and formatted by the target modules.
"""

from __future__ import annotations

from functools import cache

from archdsl.common.resources import templates_dir
from archdsl.targets.common import ModuleView

TEMPLATE = "model.py.j2"


@cache
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


@cache
def template(target: str):
    return environment().get_template(f"{target}/{TEMPLATE}")


def render_module(target: str, view: ModuleView) -> str:
    text = template(target).render(docstring=view.docstring, imports=view.imports, body=view.body, main=view.main)
    try:
        # Compiling (not ast.parse) is the stricter check and twice as fast: it builds no AST objects.
        compile(text, f"<archdsl {target}>", "exec", dont_inherit=True)
    except SyntaxError as error:  # a bug in a target, never in the user's spec
        raise AssertionError(f"archdsl generated invalid Python for {target}: {error}") from error
    return text
