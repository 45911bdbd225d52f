"""Choosing one model of a file, for the commands that work on one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .diagnostics import ArchError, Diagnostic, Span, did_you_mean

if TYPE_CHECKING:
    from .ir import Model, Program


class SelectionError(ArchError):
    """The model asked for is not there, or several are and none was asked for.

    The spec is fine; the command line is what needs fixing, so the CLI exits 2.
    """


def select_model(program: Program, name: str | None) -> Model:
    models = program.models
    start = Span(program.filename, 1, 1, 1, 2)
    if name is None:
        if len(models) == 1:
            return models[0]
        names = ", ".join(m.name for m in models)
        raise SelectionError(
            [
                Diagnostic(
                    "A402",
                    f"the file has {len(models)} models ({names}): choose one",
                    models[0].span if models else start,
                    f"pass --model NAME (one of: {names})",
                )
            ],
        )
    for model in models:
        if model.name == name:
            return model
    near = did_you_mean(name, program.model_names)
    names = ", ".join(program.model_names)
    raise SelectionError(
        [
            Diagnostic(
                "A403",
                f"no model named '{name}'" + (f" — did you mean '{near}'?" if near else ""),
                start,
                f"the file has: {names}",
            )
        ],
    )
