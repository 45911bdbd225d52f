"""Finds the grammar and templates, which live outside the package in the source tree.

An installed wheel carries them inside the package (pyproject's force-include), an
editable install or a checkout has them beside the package; look in that order.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # archdsl/


@cache
def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"archdsl is installed without its '{name}' folder (looked beside {_PACKAGE_DIR})")


def grammar_path() -> Path:
    return resource_dir("grammars") / "arch.lark"


def templates_dir() -> Path:
    return resource_dir("templates")
