"""One Jinja environment for every target; each generated module is compiled before it is returned.

The templates lay out text and nothing else: every line they place was decided
and formatted by the target modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from functools import cache
from typing import Any

from archdsl.common.resources import templates_dir

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


def render_text(target: str, view: Any) -> str:
    """The template of `target` filled from the fields of its view record."""
    return template(target).render({field.name: getattr(view, field.name) for field in fields(view)})


def render_module(target: str, view: Any) -> str:
    """The generated module, compiled before it is returned: a failure is a bug in a target."""
    text = render_text(target, view)
    try:
        # Compiling (not ast.parse) is the stricter check and twice as fast: it builds no AST objects.
        compile(text, f"<archdsl {target}>", "exec", dont_inherit=True)
    except SyntaxError as error:  # a bug in a target, never in the user's spec
        raise AssertionError(f"archdsl generated invalid Python for {target}: {error}") from error
    return text


@cache
def support_source(target: str, name: str) -> str:
    """A class the generated module defines for itself (a layer the framework lacks), from
    `templates/<target>/classes/<name>.py.j2`: fixed text, rendered once per process."""
    return environment().get_template(f"{target}/classes/{name}.py.j2").render().rstrip("\n")


def defined_classes(target: str, names: Iterable[str]) -> tuple[str, ...]:
    """The sources of the classes a module defines, once each, in the order its layers first need them."""
    return tuple(support_source(target, name) for name in dict.fromkeys(names))
