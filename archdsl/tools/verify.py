"""Checking that the generated Keras and PyTorch code compute the same outputs.

Both generated modules are built, the Keras weights (randomised, biases and
normalisation statistics included, so a wrong transpose cannot hide behind a
zero) are copied into the PyTorch model by the weight rules of the PyTorch
target, and the same random inputs go through both in inference mode. Every
layer's output is compared, not only the last, so a disagreement is reported
where it starts.
"""

from __future__ import annotations

from typing import Any

from archdsl.common.record import record
from archdsl.ir.model import Layer, Model
from archdsl.ir.structure import structure
from archdsl.targets import keras as keras_target
from archdsl.targets import torch as torch_target
from archdsl.targets.common import LayerCode, TargetCode, example_shape, token_ids, vocabulary
from archdsl.targets.render import render_module
from archdsl.targets.torch.layout import CHANNELS_FIRST, FLAT_CHANNELS_FIRST

DEFAULT_RTOL = 1e-4
DEFAULT_ATOL = 1e-5
BATCH = 3


@record
class LayerAgreement:
    name: str
    type: str
    max_abs: float
    max_rel: float
    ok: bool


@record
class VerifyReport:
    """`notes` says what the inputs were where that matters to the verdict (padding, for a masked model)."""

    model: str
    layers: tuple[LayerAgreement, ...]
    atol: float
    rtol: float
    seed: int
    notes: tuple[str, ...] = ()
    # The model's outputs from the code with a class or function per block, its weights copied by
    # path (`basic_1.0.conv2d_1`), against the flat Keras model's: by target (`"PyTorch"`), the
    # output that agrees least. Empty for a model the code writes flat.
    structured: tuple[tuple[str, LayerAgreement], ...] = ()

    @property
    def ok(self) -> bool:
        return all(layer.ok for layer in self.layers) and all(found.ok for _, found in self.structured)

    @property
    def first_mismatch(self) -> LayerAgreement | None:
        return next((layer for layer in self.layers if not layer.ok), None)

    @property
    def output(self) -> LayerAgreement | None:
        return self.layers[-1] if self.layers else None


def _randomize(keras_model: Any, rng: Any) -> None:
    """Keras starts biases at 0 and statistics at 0/1: give every weight a value that shows."""
    for variable in keras_model.weights:
        name = variable.path.rsplit("/", 1)[-1]
        shape = tuple(variable.shape)
        if name in ("gamma", "moving_variance", "variance"):  # `variance`, `mean`: Keras' Normalization
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("bias", "beta", "moving_mean", "mean") or name.endswith("bias") or _constant(variable):
            value = rng.normal(0.0, 0.2, shape)  # a class token starts at zeros too
        else:
            continue  # kernels keep Keras' seeded initialisation, already random and well scaled
        variable.assign(value.astype("float32"))
    for layer in keras_model.layers:
        if hasattr(layer, "finalize_state"):  # as load_weights() does: Normalization rereads its statistics
            layer.finalize_state()


def _constant(variable: Any) -> bool:
    import numpy as np

    value = np.asarray(variable)
    return bool(value.size) and bool(np.all(value == value.flat[0]))


def padded_lengths(steps: int, batch: int = BATCH) -> list[int]:
    """How many padded steps end each sample of a masked model's batch: none in the first, then more in each,
    down to one real token in the last (a sample of padding alone has no mean for globalavgpool to take)."""
    return [round(i * (steps - 1) / max(batch - 1, 1)) for i in range(batch)]


def token_batch(rng: Any, shape: tuple[int, ...], vocab: int, masked: bool) -> tuple[Any, str | None]:
    """Random token ids of `BATCH` samples, and a note on their padding.

    Where token 0 is padding (`embedding mask_zero`), the ids are drawn from 1 and each sample ends in
    the zeros of `padded_lengths`, so that every layer is also compared on how it treats padded steps.
    """
    if not masked or vocab < 2:
        return rng.integers(0, vocab, (BATCH, *shape)).astype("int32"), None
    ids = rng.integers(1, vocab, (BATCH, *shape)).astype("int32")
    lengths = padded_lengths(shape[0])
    for sample, padded in enumerate(lengths):
        ids[sample, shape[0] - padded :] = 0
    counts = ", ".join(str(n) for n in lengths[:-1]) + f" and {lengths[-1]}"
    return ids, f"token 0 is padding: the samples end in {counts} padded steps of {shape[0]}"


def _keras_probe(model: Model) -> Any:
    """The generated Keras model in probe form: it returns every layer's output, by layer name."""
    from archdsl.common.frameworks import require
    from archdsl.targets import keras as keras_target

    require("keras")
    source = render_module(keras_target.NAME, keras_target.emit_model(model, probe=True).view)
    namespace: dict[str, Any] = {"__name__": "archdsl_verify"}
    exec(compile(source, f"<archdsl verify {model.name}>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]()


def _torch_instance(model: Model) -> tuple[Any, TargetCode]:
    from archdsl.targets.codegen import reported_as_diagnostic

    with reported_as_diagnostic(model, torch_target.NAME):
        code = torch_target.emit_model(model, probe=True)
    source = render_module(torch_target.NAME, code.view)
    namespace: dict[str, Any] = {"__name__": "archdsl_verify"}
    exec(compile(source, f"<archdsl verify {model.name}>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]().eval(), code


def copy_weights(model: Model, keras_model: Any, torch_module: Any, code: TargetCode) -> None:
    """Load every Keras weight of `keras_model` into `torch_module`, by the PyTorch target's weight rules."""
    import torch

    layers = {layer.name: layer for layer in model.layers}
    layouts = {record.name: record.layout for record in (*code.inputs, *code.layers)}
    context = torch_target.WeightContext(
        producer=lambda layer: layers.get(layer.inputs[0]) if layer.inputs else None,
        layout=layouts.__getitem__,
    )
    whole = torch_module.state_dict()
    for layer in model.layers:
        if layer.shares is not None:
            continue  # the same weights as the layer it uses again: copied with that one
        weights = keras_model.get_layer(layer.name).get_weights()
        rule = torch_target.TRANSLATIONS[layer.type].weights
        if rule is None:
            if weights:
                raise AssertionError(f"no weight rule for layer type '{layer.type}', which has weights")
            continue
        state = {
            _state_key(layer.name, key): torch.as_tensor(value.copy())
            for key, value in rule(layer, weights, context).items()
        }
        own = {key: value for key, value in whole.items() if key.split(".", 1)[0] == layer.name}
        missing = {key for key in set(own) - set(state) if not key.endswith("num_batches_tracked")}
        if missing or set(state) - set(own):
            raise AssertionError(
                f"weight mapping for {layer.name} does not cover {sorted(missing ^ (set(state) - set(own)))}"
            )
        for key, value in state.items():
            if tuple(own[key].shape) != tuple(value.shape):
                raise AssertionError(f"{key}: Keras gives {tuple(value.shape)}, PyTorch wants {tuple(own[key].shape)}")
        torch_module.load_state_dict(state, strict=False)


def _state_key(layer_name: str, key: str) -> str:
    """A weight rule's key in the model's state_dict: under the layer's module (`dense_1.weight`), or
    the layer's own name for a bare nn.Parameter, whose rule gives the empty key."""
    return f"{layer_name}.{key}" if key else layer_name


def keras_layer(keras_model: Any, path: str) -> Any:
    """The layer of a generated Keras model by its name, also inside the model a block applied again
    (`use`) is made into: `enc.conv2d_1` is in the nested model `enc`."""
    for found in keras_model.layers:
        if found.name == path:
            return found
        if hasattr(found, "get_layer") and path.startswith(f"{found.name}."):
            return keras_layer(found, path)
    raise KeyError(f"no Keras layer {path}")


def _to_keras_layout(value: Any, layer: Layer, code: LayerCode) -> Any:
    """A PyTorch activation in Keras' layout (channels last), for comparison."""
    array = value.detach().cpu().numpy()
    if code.layout == FLAT_CHANNELS_FIRST:
        spatial = layer.input_shape  # (H, W, C) in Keras; PyTorch flattened (C, H, W)
        rank = len(spatial)
        cf = array.reshape(array.shape[0], spatial[-1], *spatial[:-1])
        return cf.transpose(0, *range(2, rank + 1), 1).reshape(array.shape[0], -1)
    if code.layout == CHANNELS_FIRST and array.ndim >= 3:
        return array.transpose(0, *range(2, array.ndim), 1)
    return array


def verify_model(model: Model, seed: int = 0, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> VerifyReport:
    """Compare every layer of the generated Keras and PyTorch models on the same random input."""
    from archdsl.common.frameworks import require

    keras, torch = require("keras", "torch")
    import numpy as np

    keras.utils.set_random_seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    keras_model = _keras_probe(model)
    _randomize(keras_model, rng)
    torch_module, code = _torch_instance(model)
    copy_weights(model, keras_model, torch_module, code)

    keras_inputs, torch_inputs, notes = [], [], []
    for model_input, input_code in zip(model.inputs, code.inputs, strict=True):
        shape = example_shape(model_input.shape)
        if token_ids(model, model_input.name):
            masked = any(layer.mask == model_input.name for layer in model.layers)
            batch, padding = token_batch(rng, shape, vocabulary(model, model_input.name), masked)
            if padding:
                notes.append(padding if len(model.inputs) == 1 else f"{model_input.name}: {padding}")
            keras_inputs.append(batch)
            torch_inputs.append(torch.as_tensor(batch, dtype=torch.long))
            continue
        batch = rng.normal(0.0, 1.0, (BATCH, *shape)).astype("float32")
        keras_inputs.append(batch)
        if input_code.layout == CHANNELS_FIRST and batch.ndim >= 3:
            batch = batch.transpose(0, batch.ndim - 1, *range(1, batch.ndim - 1))
        torch_inputs.append(torch.as_tensor(np.ascontiguousarray(batch)))

    by_name = keras_model(keras_inputs[0] if len(keras_inputs) == 1 else keras_inputs, training=False)
    keras_outputs = [by_name[layer.name] for layer in model.layers]
    recorded: dict[str, Any] = {}
    torch_module._archdsl_probe = lambda name, value: recorded.__setitem__(name, value)
    with torch.no_grad():
        torch_module(*torch_inputs)

    def agreement(name: str, kind: str, actual: Any, expected: Any) -> LayerAgreement:
        if actual.shape != expected.shape:
            return LayerAgreement(name, kind, float("inf"), float("inf"), False)
        error = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        relative = error / scale if scale > 0 else error
        return LayerAgreement(name, kind, error, relative, error <= atol + rtol * scale)

    results = []
    for layer, layer_code, keras_value in zip(model.layers, code.layers, keras_outputs, strict=True):
        actual = _to_keras_layout(recorded[layer.name], layer, layer_code)
        results.append(agreement(layer.name, layer.type, actual, np.asarray(keras_value)))
    structured: list[tuple[str, LayerAgreement]] = []

    def worst_output(found: Any, layout: bool) -> LayerAgreement:
        found = found if isinstance(found, list | tuple) else (found,)
        worst = None
        for name, value in zip(model.outputs, found, strict=True):
            layer = model.layer(name)
            actual = _to_keras_layout(value, layer, code.layer(name)) if layout else np.asarray(value)
            result = agreement(name, layer.type, actual, np.asarray(by_name[name]))
            worst = result if worst is None or not result.ok or result.max_abs > worst.max_abs else worst
        assert worst is not None
        return worst

    if structure(model) is not None:
        keras_code = keras_target.emit_model(model)
        if keras_code.paths:
            built = _structured_instance(model, keras_code, keras_model)
            structured.append(
                (
                    "Keras",
                    worst_output(
                        built(keras_inputs[0] if len(keras_inputs) == 1 else keras_inputs, training=False), layout=False
                    ),
                )
            )
        torch_code = torch_target.emit_model(model)
        if torch_code.paths:  # not a model with a padding mask, which PyTorch's code holds flat
            module = _structured_instance(model, torch_code, torch_module)
            with torch.no_grad():
                structured.append(("PyTorch", worst_output(module(*torch_inputs), layout=True)))
    return VerifyReport(model.name, tuple(results), atol, rtol, seed, tuple(notes), tuple(structured))


def _structured_instance(model: Model, code: TargetCode, flat: Any) -> Any:
    """The generated model with a class or function per block, holding the weights of `flat` (the same
    target's model, written flat)."""
    source = render_module(code.target, code.view)
    namespace: dict[str, Any] = {"__name__": "archdsl_verify"}
    exec(compile(source, f"<archdsl verify {model.name} structured>", "exec"), namespace)  # noqa: S102
    built = namespace["build_model"]()
    copy_by_path(model, code, flat, built)
    return built if code.target == keras_target.NAME else built.eval()


def copy_by_path(model: Model, code: TargetCode, flat: Any, structured: Any) -> None:
    """Give `structured` (the model with a class or function per block, of `code`'s target) the weights
    of `flat`, the same model written flat: verify and the structure benchmark compare the two.

    Weights are copied by each layer's identity, whatever the nesting: the flat module's
    `conv2d_5.weight` is the structured one's `basic_1.1.conv2d_1.weight`, the flat Keras
    model's layer `conv2d_5` the structured one's `basic_1.1.conv2d_1`.
    """
    if code.target == keras_target.NAME:
        placed = dict(code.paths)  # not the layers of a block call applied again: they are the original's
        for layer in model.layers:
            if layer.shares is None and layer.name in placed:
                keras_layer(structured, code.path(layer.name)).set_weights(flat.get_layer(layer.name).get_weights())
        return
    state = {code.structured_key(key): value for key, value in flat.state_dict().items()}
    structured.load_state_dict(state, strict=True)
