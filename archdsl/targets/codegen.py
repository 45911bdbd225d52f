"""Checked model to source code, and to live framework objects."""

from __future__ import annotations

import contextlib
from typing import Any

from archdsl.common.diagnostics import ArchError, Diagnostic
from archdsl.common.gcpause import gc_paused
from archdsl.ir.model import Model
from archdsl.targets import keras as keras_target
from archdsl.targets import torch as torch_target
from archdsl.targets.common import TargetCode, UnsupportedError, logits_model
from archdsl.targets.render import render_module, render_text

TARGETS = {"keras": keras_target, "torch": torch_target}
TARGET_ALIASES = {"pytorch": "torch", "tf": "keras", "tensorflow": "keras"}


def target_module(target: str):
    name = TARGET_ALIASES.get(target, target)
    if name not in TARGETS:
        raise ValueError(f"unknown target '{target}': choose one of {', '.join(TARGETS)}")
    return TARGETS[name]


@contextlib.contextmanager
def reported_as_diagnostic(model: Model, target_name: str):
    """A layer a target cannot express becomes an A601 error at that layer, not a crash."""
    try:
        yield
    except UnsupportedError as error:
        layer = next((layer for layer in model.layers if layer.name == error.layer_name), None)
        span = layer.span if layer is not None else model.span
        raise ArchError([Diagnostic("A601", f"{target_name}: {error.message}", span, error.hint)]) from None


def emit(model: Model, target: str, flat: bool = False) -> TargetCode:
    """What each layer of `model` becomes in `target`: lines and notes, and the view of the whole module
    (with a class or function per block, unless `flat`)."""
    module = target_module(target)
    with reported_as_diagnostic(model, module.NAME):
        return module.emit_model(model, flat=flat)


def outline(code: TargetCode, marker: str) -> str:
    """The rest of a generated file: the module with every layer's lines replaced by `marker`."""
    return render_text(code.target, target_module(code.target).outline(code.view, marker))


def generate(model: Model, target: str, logits: bool = False, flat: bool = False) -> str:
    """The source of a runnable Python module that builds `model` in `target`.

    `logits` leaves out the model's final softmax or sigmoid, for training with a loss that
    applies it itself (PyTorch's nn.CrossEntropyLoss, Keras' from_logits=True). `flat` writes every
    layer in the model's own class or function, as for a model without blocks.
    """
    module = target_module(target)
    if logits:
        model = logits_model(model)
    with gc_paused():
        code = emit(model, target, flat)
        source = render_module(module.NAME, code.view)
        # Freed while the collector is still paused, the records' objects are no longer counted
        # when it resumes: otherwise its first allocation would scan them all, and the older
        # generations with them (a sixth of the time for 10,000 layers).
        del code
    return source


def build(model: Model, target: str, logits: bool = False, flat: bool = False) -> Any:
    """A live `keras.Model` or `torch.nn.Module` for `model`: imports the framework only now."""
    module = target_module(target)
    source = generate(model, target, logits, flat)
    from archdsl.common.frameworks import require

    require(module.NAME)
    namespace: dict[str, Any] = {"__name__": f"archdsl_generated_{module.NAME}"}
    exec(compile(source, f"<archdsl {module.NAME} {model.name}>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]()
