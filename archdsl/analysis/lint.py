"""Beginner mistakes that check: specs that are valid but almost certainly not what was meant.

Each rule is a pure function of a checked model (with its graph, for where each value was
written, and the source, for the fix it proposes) and reports warnings (A703 to A706) or a
note (A707); the spec is accepted either way. A rule fires only on a pattern that real
architectures do not have: its docstring says where its threshold comes from, and
tests/test_lint.py holds every rule to both sides, firing on the mistake and silent on the
examples and on layers taken from well-known models (BERT, GPT-2, ResNet, CycleGAN,
EfficientNet).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

from archdsl.analysis.suggest import COMMON_KERNEL_MAX, channels_last, fits, swapped_positionals, written
from archdsl.common.diagnostics import Diagnostic, Fix
from archdsl.ir.graph import Graph, GraphNode
from archdsl.ir.model import Model
from archdsl.layers import LAYERS
from archdsl.layers.shapes import format_dims

Rule = Callable[[Model, Mapping[str, GraphNode], str], Iterator[Diagnostic]]

# A705: vectors are as wide as the model, at most 16,384 in the largest published models,
# and a multiple of 64 in nearly all of them (BERT 768 and 1,024; GPT-2 XL 1,600; GPT-3 12,288).
# Vocabularies are counts of words: 10,000, 20,000, BERT's 30,522, GPT-2's 50,257.
EMBEDDING_DIM_LARGE = 1000
MODEL_WIDTH_MAX = 16384
MODEL_WIDTH_STEP = 64

# A706: Keras' momentum is the share of the running statistics kept at each step (0.99 by
# default; 0.9 to 0.999 in published models), PyTorch's the share of the new batch (0.1 by
# default; 0.01 in EfficientNet's PyTorch ports). Below one half, each batch would outweigh
# all the history, which no Keras model does: the number is PyTorch's.
KERAS_MOMENTUM_MIN = 0.5


def lint(model: Model, graph: Graph, source: str) -> list[Diagnostic]:
    """Every warning and note of the rules for one checked model, in the order of the rules."""
    nodes = {node.name: node for node in graph.nodes}
    return [diagnostic for rule in RULES for diagnostic in rule(model, nodes, source)]


def channels_first_input(model: Model, nodes: Mapping[str, GraphNode], source: str) -> Iterator[Diagnostic]:
    """A703 `input 3x224x224`: PyTorch's (channels, height, width) where archdsl reads channels last.

    Fires on an image or volume whose first axis is at most CHANNELS_FIRST_MAX while every other
    axis is at least SPATIAL_MIN (see `channels_last`): a first axis that small is channels; real
    images are not a few pixels high with many channels (MNIST's 28x28x1, ImageNet's 224x224x3
    and DQN's 84x84x4 stay quiet). When a kernel cannot fit those few pixels, the A302 error
    says the same.
    """
    for model_input in model.inputs:
        shape = model_input.shape
        meant = channels_last(shape)
        if meant is None:
            continue
        arg = nodes[model_input.name].args[0]
        yield Diagnostic(
            "A703",
            f"input {format_dims(shape)} reads as {shape[-1]} channels of {format_dims(shape[:-1])}: "
            "archdsl puts the channels last",
            arg.span,
            f"did you mean {format_dims(meant)}? channels come last, batch axis excluded",
            severity="warning",
            fix=Fix(arg.span, format_dims(meant)),
        )


def swapped_filters_and_kernel(model: Model, nodes: Mapping[str, GraphNode], source: str) -> Iterator[Diagnostic]:
    """A704 `conv2d 3 32`: 3 filters of 32x32 where 32 filters of 3x3 were meant.

    Fires when the kernel is larger than COMMON_KERNEL_MAX (11, AlexNet's first layer) and the
    filter count is not, so that the two exchanged make an ordinary layer that fits the input.
    ResNet's 7x7 stem and CycleGAN's `conv2d 3 7x7` head stay quiet (7 is a common kernel), and
    so do audio models with long 1-D kernels, which have many filters (SincNet's 80 of 251).
    """
    for layer in model.layers:
        if "filters" not in layer.config or "kernel" not in layer.config:
            continue
        filters, kernel = layer.config["filters"], layer.config["kernel"]
        side = max(kernel)
        if not (side > COMMON_KERNEL_MAX and filters <= COMMON_KERNEL_MAX):
            continue
        exchanged = {**layer.config, "filters": side, "kernel": (filters,) * len(kernel)}
        if not fits(LAYERS[layer.type], exchanged, layer.input_shapes):
            continue
        found = swapped_positionals(nodes[layer.name], source) if len(set(kernel)) == 1 else None
        hint = f"did you mean {side} filters of {format_dims((filters,) * len(kernel))}?"
        if found is not None:
            hint = f"did you mean '{found[0]}'?"
        yield Diagnostic(
            "A704",
            f"{layer.type} has {filters} filter{'s' if filters != 1 else ''} of {format_dims(kernel)}: "
            "a kernel that large is rare",
            layer.span,
            f"{hint} the filters come first, then the kernel",
            severity="warning",
            fix=found[1] if found else None,
        )


def swapped_embedding(model: Model, nodes: Mapping[str, GraphNode], source: str) -> Iterator[Diagnostic]:
    """A705 `embedding 128 20000`: 128 tokens of 20,000 values each, where 20,000 tokens of 128 were meant.

    Fires when the dimension is at least EMBEDDING_DIM_LARGE and larger than the vocabulary,
    and is either wider than any model (MODEL_WIDTH_MAX) or not a multiple of MODEL_WIDTH_STEP.
    Tables whose vocabulary really is the smaller number stay quiet: BERT's segments
    (`embedding 2 768`, BERT-large's `embedding 2 1024`) and GPT-3's positions
    (`embedding 2048 12288`); so do ordinary vocabularies (`embedding 50257 768`).
    """
    for layer in model.layers:
        if layer.type != "embedding":
            continue
        vocab, dim = layer.config["vocab"], layer.config["dim"]
        if not (dim >= EMBEDDING_DIM_LARGE and dim > vocab and (dim > MODEL_WIDTH_MAX or dim % MODEL_WIDTH_STEP)):
            continue
        found = swapped_positionals(nodes[layer.name], source)
        hint = (
            f"did you mean '{found[0]}'?" if found else f"did you mean a vocabulary of {dim:,} and vectors of {vocab}?"
        )
        yield Diagnostic(
            "A705",
            f"embedding {vocab} {dim} has a vocabulary of {vocab:,} tokens and vectors of {dim:,} values",
            layer.span,
            f"{hint} the vocabulary comes first, then the size of each vector",
            severity="warning",
            fix=found[1] if found else None,
        )


def pytorch_momentum(model: Model, nodes: Mapping[str, GraphNode], source: str) -> Iterator[Diagnostic]:
    """A706 `batchnorm momentum=0.1`: PyTorch's default, which is 0.9 in Keras' terms (archdsl's).

    Fires below KERAS_MOMENTUM_MIN: a Keras momentum that low would let every batch outweigh
    the whole history of the running statistics. Keras' default 0.99, EfficientNet's 0.99 and
    the 0.9 of TF-slim's models stay quiet.
    """
    for layer in model.layers:
        momentum = layer.config.get("momentum") if layer.type == "batchnorm" else None
        if momentum is None or momentum >= KERAS_MOMENTUM_MIN:
            continue
        meant = f"momentum={round(1 - momentum, 6):g}"
        keyword = next((k for k in nodes[layer.name].keywords if k.name == "momentum"), None)
        text = written(source, keyword.span) if keyword is not None else None
        literal = text is not None and re.fullmatch(r"momentum\s*=\s*[0-9.eE+-]+", text[0]) is not None
        yield Diagnostic(
            "A706",
            f"batchnorm momentum={momentum:g} keeps only {momentum:.0%} of the running statistics at each step: "
            "that is PyTorch's momentum, the share of the new batch",
            keyword.span if keyword is not None else layer.span,
            "in archdsl, as in Keras, momentum is 1 minus the PyTorch value: "
            + (f"did you mean '{meant}'?" if literal else f"did you mean {meant}?"),
            severity="warning",
            fix=Fix(keyword.span, meant) if literal and keyword is not None else None,
        )


def steps_kept(model: Model, nodes: Mapping[str, GraphNode], source: str) -> Iterator[Diagnostic]:
    """A707 `lstm 64 seq -> dense 1`: the output is a sequence, one prediction per step.

    Taggers, sequence-to-sequence models and per-step regressors mean that, so this is a note,
    not a warning; it says how to get one prediction per sequence, which a first model
    usually wants. A decoder that starts from an encoder's state (`init=@NAME`) is a
    sequence-to-sequence model: one output per step is what it is for, and it says nothing.
    """
    if any(layer.state_from for layer in model.layers):
        return
    for name in model.outputs:
        shape = model.shape_of(name)
        if len(shape) != 2 or all(layer.name != name for layer in model.layers):
            continue
        before = model.layers[: [layer.name for layer in model.layers].index(name) + 1]
        recurrent = next((layer for layer in reversed(before) if LAYERS[layer.type].category == "recurrent"), None)
        drop = (
            f", or drop 'seq' from the {recurrent.type} at line {recurrent.span.line}"
            if recurrent is not None and recurrent.config["seq"]
            else ""
        )
        yield Diagnostic(
            "A707",
            f"the output {format_dims(shape)} keeps the steps axis: one prediction per step",
            model.layer(name).span,
            f"for one per sequence, add globalavgpool before the last layers{drop}",
            severity="note",
        )


RULES: tuple[Rule, ...] = (
    channels_first_input,
    swapped_filters_and_kernel,
    swapped_embedding,
    pytorch_momentum,
    steps_kept,
)
