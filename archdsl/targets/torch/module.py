"""Assembling the nn.Module: layouts between layers, variables, in-place activations, the template's view."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from archdsl.analysis.masks import ends_unexpectedly
from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.ir.structure import structure
from archdsl.layers import LAYERS
from archdsl.targets.blocks import blocks_note
from archdsl.targets.common import (
    LayerCode,
    Note,
    TargetCode,
    batch_name,
    docstring_lines,
    example_shape,
    output_activation,
    output_report,
    token_ids,
    variables,
    vocabulary,
)
from archdsl.targets.pycode import call, signature, statement
from archdsl.targets.render import defined_classes
from archdsl.targets.torch.activation import IN_PLACE_CALLS
from archdsl.targets.torch.blocks import BlockClass, structured_module
from archdsl.targets.torch.layout import (
    CHANNELS_FIRST,
    FLAT,
    STEPS_FIRST,
    convert,
    layout_of,
    needs_transpose,
    to_channels_first,
    torch_shape,
    wanted_layout,
)
from archdsl.targets.torch.masks import mask_ended, mask_variables, new_mask
from archdsl.targets.torch.registry import TRANSLATIONS, Code, Emit, Translation

NAME = "torch"


@record
class ModuleClass:
    """One nn.Module subclass of the generated file."""

    name: str
    init: tuple[str, ...]
    signature: tuple[str, ...]  # the `def forward(...)` line(s), laid out as ruff would
    forward: tuple[str, ...]
    result: str
    constructor: tuple[str, ...] = ("    def __init__(self) -> None:",)  # a block's takes its sizes


@record
class TorchView:
    """What templates/torch/model.py.j2 lays out: every line already decided and formatted."""

    docstring: tuple[str, ...]
    imports: tuple[str, ...]
    helpers: tuple[str, ...]  # classes PyTorch lacks, from templates/torch/classes/
    classes: tuple[ModuleClass, ...]
    model_class: str
    batch: tuple[str, ...]
    call: str  # the arguments __main__ passes to the model
    report: tuple[str, ...]  # several outputs: __main__ unpacks them and prints their shapes


def translation(layer_type: str) -> Translation:
    try:
        return TRANSLATIONS[layer_type]
    except KeyError:
        raise AssertionError(f"the PyTorch target has no translation for layer type '{layer_type}'") from None


def in_place_activations(model: Model) -> frozenset[str]:
    """The layers whose activation may overwrite its input: `F.relu(x, inplace=True)`.

    A fused activation (`conv2d 32 relu`) reads the fresh output of its own module, which
    nothing else sees. A relu layer reads a tensor that may be read elsewhere, so it runs in
    place only when, following it back through layers that may pass their input on
    (dropout, flatten, reshape, identity), every tensor on the way has that one reader and
    the chain starts at a layer whose output is fresh (a new tensor its backward does not
    read). So the model's input, a tensor that a residual's skip or another branch still
    reads, and a tensor that autograd keeps for backward (an activation's output) are never
    overwritten.
    """
    layers = {layer.name: layer for layer in model.layers}
    readers: dict[str, int] = {}
    for name in (*(name for layer in model.layers for name in layer.inputs), *model.outputs):
        readers[name] = readers.get(name, 0) + 1  # an output is read by the model's caller

    def overwritable(name: str) -> bool:
        while readers.get(name) == 1 and name in layers:
            source = layers[name]
            found = translation(source.type)
            if found.passes_input:
                name = source.inputs[0]
                continue
            return found.fresh_output and not source.config.get("activation")
        return False  # the model's input, or a tensor read more than once

    chosen = set()
    for layer in model.layers:
        spec = LAYERS[layer.type]
        if spec.fuses_activation and layer.config["activation"] in IN_PLACE_CALLS:
            chosen.add(layer.name)
        elif layer.type in IN_PLACE_CALLS and overwritable(layer.inputs[0]):
            if layer.type != "leakyrelu" or layer.config["alpha"] >= 0:  # PyTorch needs slope >= 0
                chosen.add(layer.name)
    return frozenset(chosen)


def input_layout(model: Model, name: str | None = None) -> str:
    """A sequence input comes as (N, C, T) when the first layer reading it wants that."""
    name = name or model.input_name
    shape = model.shape_of(name)
    if len(shape) != 2:
        return layout_of(shape, STEPS_FIRST)
    for layer in model.layers:
        if name in layer.inputs:
            want = wanted_layout(LAYERS[layer.type], layer.input_shape)
            if want is not None:
                return want
    return STEPS_FIRST


LAYOUTS_INSIDE = (
    "PyTorch's Conv1d, pooling and BatchNorm read sequences as (N, C, T), its RNNs, attention and Linear as "
    "(N, T, C); the code transposes where one meets the other (`.transpose(1, 2)`)."
)
TRAINING_ON_LOGITS = {
    "softmax": (
        "the model ends in a softmax, and PyTorch's nn.CrossEntropyLoss applies (log-)softmax itself: trained "
        "on these outputs, it would apply it twice. Train on logits: archdsl generate --logits leaves the "
        "final softmax out (in Keras, pair that with from_logits=True)."
    ),
    "sigmoid": (
        "the model ends in a sigmoid; PyTorch's nn.BCEWithLogitsLoss (the numerically stable loss) applies it "
        "itself, so train on logits: archdsl generate --logits leaves the final sigmoid out."
    ),
}
FUNCTION_CALLS = (
    "Keras makes every step a layer object; in PyTorch a step without weights is a function call in forward."
)


SHARED = (
    "Keras makes a layer object once and calls it again; PyTorch calls the same module again "
    "(`{module}`): one set of weights either way."
)
OUTPUTS = "Keras' model returns its outputs as a list; PyTorch's forward returns them as a tuple, in the same order."


def _input_note(model: Model, name: str, layout: str) -> Note:
    shape = model.shape_of(name)
    keras_in = torch_shape(shape, STEPS_FIRST)  # (N, ...) in Keras' own order
    torch_in = torch_shape(shape, layout)
    rank = len(shape)
    topic = "Input layout" if len(model.inputs) == 1 else f"Input layout of {name}"
    if rank >= 3:
        return Note(
            topic,
            f"Keras takes {keras_in}, channels last; PyTorch takes {torch_in}, channels first. Move a "
            f"Keras-style batch over with x.permute({to_channels_first(rank)}).",
        )
    if rank == 2 and layout == CHANNELS_FIRST:
        return Note(
            topic,
            f"Keras takes a sequence as {keras_in} (steps, channels); PyTorch's Conv1d wants {torch_in}, "
            "channels first: move a batch over with x.transpose(1, 2).",
        )
    if rank == 2:
        return Note(topic, f"both take {keras_in}: steps first, as PyTorch's batch_first=True layers do.")
    return Note(topic, f"both take {keras_in}: a batch of feature vectors.")


BLOCKS = (
    "PyTorch makes each block an nn.Module subclass: its constructor builds the block's modules from the"
    " sizes they need (the input's channels among them, as torchvision's Bottleneck takes inplanes), and"
    " a call is an attribute whose state_dict keys nest under it ({path}.weight)",
    "identical calls in a row are one nn.Sequential",
)


def emit_model(model: Model, probe: bool = False, in_place: bool = True, flat: bool = False) -> TargetCode:
    """The model in PyTorch; with `probe`, forward also reports each layer's output (for verify).

    `in_place` lets activations overwrite their input where that is safe (see
    in_place_activations); a probe forward never does, as it would overwrite a reported tensor.
    A model written with blocks gets a class per block (see blocks.py) unless `flat` or `probe`:
    the records of the layers are the same either way.
    """
    overwrite = in_place_activations(model) if in_place and not probe else frozenset()
    names = variables(model, "x", probe=probe)
    layouts: dict[str, str] = {i.name: input_layout(model, i.name) for i in model.inputs}
    init: list[str] = []
    forward: list[str] = []
    records: list[LayerCode] = []
    defines: list[str] = []  # the class templates the code uses, in order of first use
    mask_names = mask_variables(model)  # padding mask (Layer.mask) -> the variable forward holds it in
    made: set[str] = set()  # the masks computed so far
    for layer in model.layers:
        found = translation(layer.type)
        in_layouts = [layouts[name] for name in layer.inputs]
        want = wanted_layout(LAYERS[layer.type], layer.input_shape)
        if want is None and LAYERS[layer.type].merge:
            want = in_layouts[0]  # the branches meet in the layout of the first
        inputs = tuple(convert(names[name], have, want) for name, have in zip(layer.inputs, in_layouts, strict=True))
        masks = tuple(mask_names.get(mask) if mask else None for mask in layer.input_masks)
        mask_out = mask_names.get(layer.mask) if layer.mask is not None and layer.mask not in made else None
        made.add(layer.mask or "")
        source = names[layer.inputs[0]]
        emit = Emit(
            layer, inputs, want or in_layouts[0], source, layer.name in overwrite, model, masks, mask_out, probe
        )
        code = found.emit(emit)
        defines += ([found.defines] if found.defines else []) + list(code.defines)
        # a shared layer builds nothing: what its module was built with is the owner's note
        notes = [note for note in code.notes if not (layer.shares and note.topic == "Sizes")]
        made_here = new_mask(emit)
        if made_here is not None:
            code.steps.insert(0, made_here[0])
            notes.append(made_here[1])
        if ends_unexpectedly(layer):
            notes.append(mask_ended(layer))
        if any(needs_transpose(have, want) for have in in_layouts):
            notes.append(Note("Layouts inside the model", LAYOUTS_INSIDE))
        if code.module is None and code.steps:
            notes.append(Note("Function calls", FUNCTION_CALLS))
        if layer.shares is not None and code.module is not None:
            notes.append(Note("Shared weights", SHARED.format(module=emit.module)))
        if layer.name in model.outputs and output_activation(layer):
            notes.append(Note("Training", TRAINING_ON_LOGITS[output_activation(layer)]))
        init_lines, forward_lines = _lines(layer, code, names)
        layouts[layer.name] = code.layout
        init += init_lines
        forward += forward_lines
        if probe:
            forward.append(f'        self._archdsl_probe("{layer.name}", {names[layer.name]})')
        records.append(
            LayerCode(layer.name, layer.type, tuple(init_lines), tuple(forward_lines), tuple(notes), code.layout)
        )
    results = [names[name] for name in model.outputs]
    returns = "torch.Tensor" if len(results) == 1 else f"tuple[{', '.join(['torch.Tensor'] * len(results))}]"
    if len(results) > 3:
        returns = "tuple[torch.Tensor, ...]"  # the docstring names them
    parameters = ["self", *(f"{names[given.name]}: torch.Tensor" for given in model.inputs)]
    header = tuple(signature("forward", parameters, returns))
    model_class = ModuleClass(model.name, tuple(init), header, tuple(forward), ", ".join(results))
    found = None if flat or probe else structure(model)
    if found is not None and any(layer.mask is not None for layer in model.layers):
        # A padding mask is a second value each block would take and give, beside its tensor: in
        # PyTorch such a model is written flat (Keras carries the mask on the tensor itself).
        found = None
    classes: tuple[ModuleClass, ...] = (model_class,)
    structured: dict[str, Any] = {}
    notes_on_blocks: list[Note] = []
    if found is not None:
        taken = {model.name, *defines, *(found_.defines for found_ in TRANSLATIONS.values() if found_.defines)}
        built = structured_module(model, found, {code.name: code for code in records}, names, taken)
        classes = (
            *(_block_class(block) for block in built.classes),
            replace(model_class, init=built.init, forward=built.forward, result=built.result),
        )
        structured = {"paths": tuple(built.paths.items()), "members": built.members, "units": built.units}
        notes_on_blocks = [blocks_note(*BLOCKS, built.paths, built.members)]
    view = _view(model, classes, layouts, names, defined_classes(NAME, defines))
    input_codes = tuple(
        LayerCode(i.name, "input", (), (f"{names[i.name]}: torch.Tensor",), (), layouts[i.name]) for i in model.inputs
    )
    notes = [_input_note(model, i.name, layouts[i.name]) for i in model.inputs]
    if len(model.outputs) > 1:
        notes.append(Note("Outputs", OUTPUTS))
    notes += notes_on_blocks
    return TargetCode(NAME, model.name, input_codes, tuple(records), tuple(notes), view, **structured)


def _block_class(block: BlockClass) -> ModuleClass:
    parameters = ["self", *block.parameters]
    return ModuleClass(
        block.name,
        block.init,
        tuple(signature("forward", ["self", f"{block.argument}: torch.Tensor"], "torch.Tensor")),
        block.forward,
        block.result,
        tuple(signature("__init__", parameters, "None")),
    )


def _lines(layer: Layer, code: Code, names: dict[str, str]) -> tuple[list[str], list[str]]:
    """The `__init__` and `forward` lines of one layer."""
    out = names[layer.name]
    if not code.steps:
        # Nothing to compute: later layers read the same tensor.
        source = names[layer.inputs[0]]
        if out == source or source != "x":
            names[layer.name] = source
            return [], []
        return [], statement(f"{out} = ", source, indent=2, comment=torch_shape(layer.output_shape, code.layout))
    init = []
    if code.module is not None and layer.shares is None:  # a shared layer's module is made once
        init = statement(f"self.{layer.name} = ", code.module, indent=2, comment=code.module_comment)
    for given in code.attributes:
        init += statement(f"self.{layer.name}.{given.name} = ", given.value, indent=2, comment=given.comment)
    forward: list[str] = []
    for index, step in enumerate(code.steps):
        last = index == len(code.steps) - 1
        shape = torch_shape(layer.output_shape, code.layout) if last else step.shape
        comment = ", ".join(part for part in (shape, step.comment) if part)
        value = step.value.format(out=out) if isinstance(step.value, str) else step.value
        forward += statement(f"{step.target.format(out=out)} = ", value, indent=2, comment=comment)
    return init, forward


def _view(
    model: Model,
    classes: tuple[ModuleClass, ...],
    layouts: dict[str, str],
    names: dict[str, str],
    helpers: tuple[str, ...],
) -> TorchView:
    batch: list[str] = []
    texts: list[str] = []
    for model_input in model.inputs:
        example = example_shape(model_input.shape)
        layout = layouts[model_input.name]
        if token_ids(model, model_input.name):
            made = call("torch.randint", 0, vocabulary(model, model_input.name), (2, *example))
            texts.append(f"a batch of token ids of shape {torch_shape(model_input.shape, FLAT)}, dtype torch.long")
        else:
            dims = torch_shape(example, layout)[1:-1].split(", ")[1:]
            made = call("torch.randn", 2, *(int(d) for d in dims))
            order = {
                CHANNELS_FIRST: "channels first",
                STEPS_FIRST: "steps first, as batch_first RNNs take it",
                FLAT: "features",
            }[layout]
            texts.append(f"a batch of shape {torch_shape(model_input.shape, layout)} ({order})")
        batch += statement(f"{batch_name(model, model_input.name)} = ", made, indent=1)
    shapes = [torch_shape(model.shape_of(name), layouts[name]) for name in model.outputs]
    imports = ["import torch", "from torch import nn"]
    if any("F." in line for cls in classes for line in (*cls.init, *cls.forward, *helpers)):
        imports.insert(1, "import torch.nn.functional as F")
    return TorchView(
        docstring=tuple(docstring_lines(model, "PyTorch", texts, shapes, container="tuple")),
        imports=tuple(imports),
        helpers=helpers,
        classes=classes,
        model_class=model.name,
        batch=tuple(batch),
        call=(arguments := ", ".join(batch_name(model, given.name) for given in model.inputs)),
        report=output_report(model, arguments, indent=2) if len(model.outputs) > 1 else (),
    )


def outline(view: TorchView, marker: str) -> TorchView:
    """The view with the layers' lines replaced by one `marker` comment in each method, and the classes
    of the blocks (shown apart) left out: the model's class is the last."""
    pad = "        "
    model = view.classes[-1]
    classes = (replace(model, init=(pad + marker,) if model.init else (), forward=(pad + marker,)),)
    return replace(view, classes=classes)
