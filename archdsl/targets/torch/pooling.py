"""Pooling: functions in forward (no weights), TensorFlow's 'same' windows reproduced."""

from __future__ import annotations

from archdsl.layers.shapes import Shape
from archdsl.targets.common import Note
from archdsl.targets.pycode import Raw, call
from archdsl.targets.torch.layout import CHANNELS_FIRST, FLAT, STEPS_FIRST, torch_shape
from archdsl.targets.torch.padding import padding
from archdsl.targets.torch.registry import Code, Emit, Step, one, translates

AVERAGE_OF_REAL_VALUES = (
    "Keras averages a 'same' window over the values inside the input only; PyTorch is told so with "
    "`count_include_pad=False`."
)
UNEVEN_AVERAGE = (
    "Keras averages a 'same' window over the values inside the input only; PyTorch cannot pad unevenly, so "
    "the code averages over the zero-padded input and divides by the share of each window that is real."
)
MAX_OF_REAL_VALUES = "an uneven 'same' max-pool pads with -inf (`float(\"-inf\")`), which no window can pick."


def _may_be_smaller(sizes: Shape, window: tuple[int, ...]) -> bool:
    """Whether some axis may be shorter than the window: it is, or its size is only known at run time."""
    return any(not isinstance(size, int) or size < k for size, k in zip(sizes, window, strict=True))


@translates("maxpool", "avgpool", fresh_output=True)
def pool(emit: Emit) -> Code:
    layer, c = emit.layer, emit.layer.config
    axes = len(layer.input_shape) - 1
    kind = "max" if layer.type == "maxpool" else "avg"
    kwargs: dict[str, object] = {}
    if c["stride"] != c["pool"]:
        kwargs["stride"] = one(c["stride"])
    # PyTorch's avg_pool3d refuses an input smaller than the window even when its `padding=`
    # makes up the difference (avg_pool1d/2d and max_pool3d do not): there, pad first.
    explicit = kind == "avg" and axes == 3 and _may_be_smaller(layer.input_shape[:-1], c["pool"])
    pad_kwargs, pre_pad, notes = padding(layer, c["pool"], c["stride"], explicit=explicit)
    x = emit.x
    if pre_pad is not None and kind == "avg":
        # Keras averages only the real values; PyTorch cannot pad unevenly, so divide the
        # average over the zero-padded input by the share of each window that is real.
        share = call(
            f"F.avg_pool{axes}d", Raw(f"F.pad(torch.ones_like({x}[:1, :1]), {pre_pad})"), one(c["pool"]), **kwargs
        )
        value = call(f"F.avg_pool{axes}d", Raw(f"F.pad({x}, {pre_pad})"), one(c["pool"]), **kwargs)
        out_shape = torch_shape(layer.output_shape, CHANNELS_FIRST)
        share_shape = "(1, 1, " + out_shape.split(", ", 2)[2]
        steps = [
            Step("_share", share, "the share of each window inside the input", shape=share_shape),
            Step("{out}", value, "the sum over the window / its size", shape=out_shape),
            Step("{out}", "{out} / _share"),
        ]
        return Code(None, steps, CHANNELS_FIRST, [*notes, Note("Average pooling", UNEVEN_AVERAGE)])
    if pre_pad is not None:
        x = f'F.pad({x}, {pre_pad}, value=float("-inf"))'
        notes.append(Note("Max pooling", MAX_OF_REAL_VALUES))
    kwargs.update(pad_kwargs)
    if kind == "avg" and pad_kwargs:
        kwargs["count_include_pad"] = False  # Keras averages only the real values
        notes.append(Note("Average pooling", AVERAGE_OF_REAL_VALUES))
    value = call(f"F.{kind}_pool{axes}d", Raw(x), one(c["pool"]), **kwargs)
    return Code(None, [Step("{out}", value)], CHANNELS_FIRST, notes)


MASKED_AVERAGE = (
    "Keras' GlobalAveragePooling1D averages the real steps only (the mask of mask_zero); the code sums the "
    "steps where `{mask}` is True and divides by their number."
)

KEEPDIMS = "Keras' keepdims=True is `keepdim=True` in PyTorch's reductions (no s): the pooled axes stay, with size 1."


# amax's backward reads its own output, so an activation may not overwrite a global max-pool's.
@translates("globalmaxpool")
@translates("globalavgpool", fresh_output=True)
def global_pool(emit: Emit) -> Code:
    layer = emit.layer
    rank = len(layer.input_shape)
    dims: tuple[int, ...] | int = (1,) if emit.layout == STEPS_FIRST else tuple(range(2, rank + 1))
    method = "mean" if layer.type == "globalavgpool" else "amax"
    dims = dims[0] if len(dims) == 1 else dims
    if emit.mask is not None and layer.type == "globalavgpool":
        # A mask is (N, T): spread over the features, which come last or, in (N, C, T), first.
        spread = f"{emit.mask}[..., None]" if emit.layout == STEPS_FIRST else f"{emit.mask}[:, None]"
        keep = ", keepdim=True" if layer.config["keepdims"] else ""
        count = f"{emit.mask}.sum(dim=1, keepdim=True)" + ("[..., None]" if keep else "")
        average = f"({emit.x} * {spread}).sum(dim={dims}{keep}) / {count}"
        notes = [Note("Padding mask", MASKED_AVERAGE.format(mask=emit.mask))]
        notes += [Note("Global pooling", KEEPDIMS)] if keep else []
        step = Step("{out}", average, "the mean of the real steps")
        return Code(None, [step], emit.layout if keep else FLAT, notes)
    if layer.config["keepdims"]:
        step = Step("{out}", f"{emit.x}.{method}(dim={dims}, keepdim=True)")
        return Code(None, [step], emit.layout, [Note("Global pooling", KEEPDIMS)])
    return Code(None, [Step("{out}", f"{emit.x}.{method}(dim={dims})")], FLAT)
