"""Random .arch inputs for the fuzz tests (tests/test_fuzz.py) and the campaign (tests/fuzz_campaign.py).

Two families, each a plain function of a `random.Random` so that the Hypothesis strategies
and the long campaign outside pytest share one implementation:

- `random_program(rng)`: a VALID program built from the grammar, shape-aware. The generator
  keeps its own model of every shape (`infer` below, written from LANGUAGE.md and
  docs/language.md, not taken from archdsl) and only writes a layer where it accepts the
  current shape, so nearly every program checks. It uses every construct of the language:
  bare chains and files of several models, blocks with parameters (used as numbers, dims,
  words and in `(p*2)` / `(q+1)` / `(p//2)` expressions; defaults; positional and key=value
  calls), groups of 2-4 branches and every merge, `residual( )`, `* N`, `as NAME`, comments
  (with odd unicode), newlines inside () and {}, continuation lines starting with `->`, spaced
  dims, symbolic dims, every layer type with random arguments written positionally or as
  key=value. It also says what archdsl must answer: each model's name and output shape.
- `mutated_text(rng)`: the examples, the LANGUAGE.md snippets and generated programs with
  tokens deleted, inserted, swapped and duplicated, lines shuffled, truncated, and odd
  unicode, control characters and replaced bytes inserted. Anything may come out.

Hypothesis' own `st.randoms()` gives up after about a thousand draws (a program takes
several thousand), so the strategies draw a seed and a size and run the plain generators;
shrinking then goes towards small sizes and seed 0.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LENGTH = 16  # what a symbolic size is when a generated model is run (archdsl's __main__ uses 16 too)
SOFT = "\ue000"  # "a space here": layout() turns it into spaces, tabs, newlines and comments

ACTIVATIONS = (
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "selu",
    "gelu",
    "gelu_tanh",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "hardswish",
    "hardsigmoid",
    "abs",
)
ACTIVATION_WORDS = (*ACTIVATIONS, "none", "linear")
MERGES = ("add", "subtract", "multiply", "average", "maximum", "minimum", "concat")
# Every layer type the generator writes; tests check this against archdsl.layers.LAYERS.
LAYER_TYPES = (
    "dense",
    "conv1d",
    "conv2d",
    "conv3d",
    "sepconv2d",
    "dwconv2d",
    "conv2dtranspose",
    "maxpool",
    "avgpool",
    "globalavgpool",
    "globalmaxpool",
    "flatten",
    "dropout",
    "batchnorm",
    "layernorm",
    "rescale",
    "normalize",
    "scale",
    "droppath",
    *ACTIVATIONS,
    "lstm",
    "gru",
    "rnn",
    "embedding",
    "reshape",
    "upsample",
    "zeropad",
    "crop",
    "identity",
    *MERGES,
    "posembed",
    "clstoken",
    "take",
    "attention",
)
SYMBOLIC_NAMES = ("seq", "time", "n", "steps", "length", "t", "h", "w")
# Block parameter names: never a word a body uses literally (a parameter shadows it there).
PARAM_NAMES = (
    "c",
    "k",
    "m",
    "p",
    "q",
    "f",
    "u",
    "d",
    "r",
    "act",
    "pad",
    "width",
    "depth",
    "units",
    "filters",
    "ks",
    "mult",
    "drop",
    "bb",
    "fl",
    "cnt",
    "nrep",
    "size2",
)
BLOCK_NAMES = ("conv_bn", "stage", "unit", "proj", "mixer", "cell", "tower", "down", "stem", "bottleneck", "enc")
ALIAS_WORDS = ("stem", "head", "trunk", "neck", "tail", "feat", "proj", "mix", "enc", "dec", "gate", "core", "hid")
MODEL_WORDS = ("Net", "Classifier", "Tagger", "Encoder", "Tiny", "Auto", "Fuzz", "Sequence", "Image")
RATES = (0.0, 0.1, 0.2, 0.25, 0.5, 0.75, 0.9)
FILENAMES = (
    "spec.arch",
    "<string>",
    "models/net.arch",
    "my model.arch",
    'quo"te.arch',
    "tri'''ple\"\"\".arch",
    "back\\slash.arch",
    "ünï cødé.arch",
    "line\nbreak.arch",
    "{braces}.arch",
    "%s %d {0}.arch",
    "\u202eevil.arch",
    "/abs/path/to/x.arch",
)
# Characters that break naive code: bidi controls, zero-width, BOM, emoji (with ZWJ),
# combining marks, NUL and other controls, line separators Python's splitlines honours,
# non-characters, private use, astral planes, homoglyphs, case-changing letters.
ODD_CHARS = (
    "\u200f",
    "\u202e",
    "\u202d",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\U0001f916",
    "\U0001f469\u200d\U0001f4bb",
    "e\u0301",
    "\u0301",
    "\u0336",
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x1c",
    "\x1e",
    "\x7f",
    "\x85",
    "\x9b",
    "\u2028",
    "\u2029",
    "\r",
    "\t",
    "\ufffe",
    "\uffff",
    "\ufffd",
    "\ue000",
    "\U0010ffff",
    "\U000e0001",
    "\uff11\uff12",
    "\u0663",
    "\u2167",
    "\u0445",
    "\u2192",
    "\uff0d",
    "\u0130",
    "\u00df",
    "\ufb01",
    "\u4e2d\u6587",
    "\u05e9\u05dc\u05d5\u05dd",
    "\\",
    '"""',
    "'''",
    "{{ x }}",
    "{% if %}",
    "$(rm -rf)",
    "%s",
    "\\N{BULLET}",
)


# ---------------------------------------------------------------- shapes (our own model)


@dataclass(frozen=True)
class Sym:
    """A symbolic size: archdsl's text for it, and its value when the model runs (at 16)."""

    text: str
    at: int

    def __str__(self) -> str:
        return self.text


Dim = int | Sym
Shape = tuple[Dim, ...]


def _wrap(text: str) -> str:
    return text if text.isidentifier() else f"({text})"


def d_add(d: Dim, amount: int) -> Dim:
    if isinstance(d, int):
        return d + amount
    if amount == 0:
        return d
    return Sym(f"{d.text}{'+' if amount > 0 else '-'}{abs(amount)}", d.at + amount)


def d_mul(d: Dim, factor: int) -> Dim:
    if isinstance(d, int):
        return d * factor
    return d if factor == 1 else Sym(f"{_wrap(d.text)}*{factor}", d.at * factor)


def d_ceil(d: Dim, divisor: int) -> Dim:
    if isinstance(d, int):
        return -(-d // divisor)
    return d if divisor == 1 else Sym(f"ceil({_wrap(d.text)}/{divisor})", -(-d.at // divisor))


def d_floor(d: Dim, divisor: int) -> Dim:
    if isinstance(d, int):
        return d // divisor
    return d if divisor == 1 else Sym(f"{_wrap(d.text)}//{divisor}", d.at // divisor)


def conv_len(d: Dim, kernel: int, padding: str, stride: int, dilation: int = 1) -> Dim:
    """Keras: valid shrinks by the dilated kernel, then strides; same and causal only stride (ceil)."""
    effective = (kernel - 1) * dilation + 1
    if padding in ("same", "causal"):
        return d_ceil(d, stride)
    if isinstance(d, int):
        return (d - effective) // stride + 1
    if stride > 1:
        return d_add(d_floor(d_add(d, -effective), stride), 1)
    return d_add(d, 1 - effective)


def deconv_len(d: Dim, kernel: int, padding: str, stride: int) -> Dim:
    if padding == "same":
        return d_mul(d, stride)
    return d_add(d_mul(d, stride), max(kernel - stride, 0))


def runtime(d: Dim) -> int:
    return d if isinstance(d, int) else d.at


def known(shape: Shape) -> bool:
    return all(isinstance(d, int) for d in shape)


def as_archdsl(shape: Shape) -> tuple[int | str, ...]:
    """The shape as archdsl writes it: symbolic sizes as their text."""
    return tuple(d if isinstance(d, int) else d.text for d in shape)


MAX_RUNTIME_DIM = 48
MAX_ELEMENTS = 6144
CONV_AXES = {"conv1d": 1, "conv2d": 2, "conv3d": 3, "sepconv2d": 2, "dwconv2d": 2, "conv2dtranspose": 2}
SHAPE_KEEPING = frozenset({"dropout", "droppath", "identity", *ACTIVATIONS})
PER_CHANNEL = frozenset({"batchnorm", "layernorm", "rescale", "normalize", "scale"})  # need known channels
SCALES = (0.00392156862745098, 0.5, 2.0, -1.0)  # rescale's; offsets and statistics below
OFFSETS = (0.0, 0.0, -1.0, 0.5)


def small_enough(shape: Shape) -> bool:
    sizes = [runtime(d) for d in shape]
    return all(1 <= s <= MAX_RUNTIME_DIM for s in sizes) and math.prod(sizes) <= MAX_ELEMENTS


def infer(kind: str, cfg: dict, shape: Shape) -> Shape | None:
    """The output shape of one layer on `shape`, or None where the language refuses it."""
    rank = len(shape)
    last = shape[-1]
    channels = last if isinstance(last, int) else None
    if kind in SHAPE_KEEPING:
        return shape
    if kind in PER_CHANNEL:
        return shape if channels is not None else None
    if kind == "dense":
        if rank in (1, 2) and channels is not None:
            return (*shape[:-1], cfg["units"])
        if rank in (3, 4) and known(shape):
            return (cfg["units"],)
        return None
    if kind in CONV_AXES:
        axes = CONV_AXES[kind]
        if rank != axes + 1 or channels is None:
            return None
        stride, kernel = cfg["stride"], cfg["kernel"]
        if kind == "conv2dtranspose":
            lengths = [deconv_len(d, k, cfg["padding"], s) for d, k, s in zip(shape[:-1], kernel, stride, strict=True)]
            return (*lengths, cfg["filters"])
        dilation = cfg["dilation"]
        if kind.startswith("conv") and any(s > 1 for s in stride) and any(r > 1 for r in dilation):
            return None
        groups = cfg.get("groups", 1)
        if kind.startswith("conv") and (channels % groups or cfg["filters"] % groups):
            return None
        windows = zip(shape[:-1], kernel, stride, dilation, strict=True)
        lengths = [conv_len(d, k, cfg["padding"], s, r) for d, k, s, r in windows]
        if any(runtime(d) <= 0 for d in lengths):
            return None
        out = channels * cfg["multiplier"] if kind == "dwconv2d" else cfg["filters"]
        return (*lengths, out)
    if kind in ("maxpool", "avgpool"):
        if rank not in (2, 3, 4):
            return None
        stride = cfg["stride"] if cfg["stride"] is not None else cfg["pool"]
        lengths = [conv_len(d, p, cfg["padding"], s) for d, p, s in zip(shape[:-1], cfg["pool"], stride, strict=True)]
        if any(runtime(d) <= 0 for d in lengths):
            return None
        return (*lengths, last)
    if kind in ("globalavgpool", "globalmaxpool"):
        if rank not in (2, 3, 4):
            return None
        return (*(1 for _ in shape[:-1]), last) if cfg["keepdims"] else (last,)
    if kind == "flatten":
        return (math.prod(shape),) if known(shape) else None  # type: ignore[arg-type]
    if kind == "reshape":
        if not known(shape):
            return None
        total = math.prod(shape)  # type: ignore[arg-type]
        target = cfg["target"]
        fixed = math.prod(d for d in target if d != -1)
        if -1 in target:
            return tuple(total // fixed if d == -1 else d for d in target) if total % fixed == 0 else None
        return tuple(target) if fixed == total else None
    if kind in ("upsample", "zeropad", "crop"):
        if rank not in (2, 3, 4):
            return None
        if kind == "upsample":
            return (*(d_mul(d, s) for d, s in zip(shape[:-1], cfg["size"], strict=True)), last)
        if kind == "zeropad":
            return (*(d_add(d, b + a) for d, (b, a) in zip(shape[:-1], cfg["padding"], strict=True)), last)
        lengths = [d_add(d, -b - a) for d, (b, a) in zip(shape[:-1], cfg["cropping"], strict=True)]
        return (*lengths, last) if all(runtime(d) >= 1 for d in lengths) else None
    if kind == "embedding":
        return (shape[0], cfg["dim"]) if rank == 1 else None
    if kind in ("lstm", "gru", "rnn"):
        if rank != 2 or channels is None:
            return None
        units = cfg["units"] * (2 if cfg["bidirectional"] else 1)
        return (shape[0], units) if cfg["seq"] else (units,)
    if kind == "posembed":
        steps = shape[0]
        positions = cfg["max"] if cfg["max"] is not None else steps
        if rank != 2 or channels is None or not isinstance(positions, int):
            return None
        return shape if not isinstance(steps, int) or steps <= positions else None
    if kind == "clstoken":
        return (d_add(shape[0], 1), last) if rank == 2 and channels is not None else None
    if kind == "take":
        steps = shape[0]
        if rank != 2 or (isinstance(steps, int) and not -steps <= cfg["index"] < steps):
            return None
        return shape[1:]
    if kind == "attention":
        if rank != 2 or channels is None or (cfg["key_dim"] is None and channels % cfg["heads"]):
            return None
        return shape
    raise AssertionError(f"no shape rule for {kind}")


def merge_infer(kind: str, axis: int, shapes: list[Shape]) -> Shape | None:
    if kind == "subtract" and len(shapes) != 2:
        return None
    first = shapes[0]
    if kind != "concat":
        # NumPy's broadcasting over sample axes of one rank: sizes agree, or are 1 and stretched.
        if len({len(s) for s in shapes}) > 1:
            return None
        out: list[Dim] = []
        for sizes in zip(*shapes, strict=True):
            stretched = {d if isinstance(d, int) else d.text for d in sizes} - {1}
            if len(stretched) > 1:
                return None
            out.append(next((d for d in sizes if d != 1), 1))
        return tuple(out)
    rank = len(first)
    if axis == 0 or not -rank <= axis <= rank:
        return None
    index = axis + rank if axis < 0 else axis - 1
    if any(len(s) != rank for s in shapes):
        return None
    if any(s[i] != first[i] for s in shapes for i in range(rank) if i != index):
        return None
    joined: Dim = first[index]
    for s in shapes[1:]:
        d = s[index]
        if isinstance(joined, int) and isinstance(d, int):
            joined = joined + d
        else:
            joined = Sym(f"{joined}+{d}", runtime(joined) + runtime(d))
    out = list(first)
    out[index] = joined
    return tuple(out)


# ---------------------------------------------------------------- writing values


def float_text(rng: random.Random, value: float) -> str:
    """A number the lexer reads as `value`, written one of several ways."""
    forms = {repr(float(value))}
    if value == int(value):
        forms |= {str(int(value)), f"{int(value)}.", f"{int(value)}.0"}
    if 0 < value < 1:
        forms.add(repr(value)[1:] if repr(value).startswith("0.") else repr(value))
        mantissa, exponent = f"{value:e}".split("e")
        forms.add(f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}")
        forms.add(f"{mantissa.rstrip('0').rstrip('.')}E{int(exponent):+d}")
    return rng.choice(sorted(forms))


def dims_text(rng: random.Random, parts: list[str]) -> str:
    """`3x3` (one token) when every part is a plain number, else `a x b` with spaces."""
    plain = all(re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", p) for p in parts)
    if plain and rng.random() < 0.6:
        return "x".join(parts)
    return f"{SOFT}x{SOFT}".join(parts)


def int_literal(rng: random.Random, value: int) -> str:
    """An integer, now and then as a constant expression: `(2*4)`, `(9-1)`, `(17//2)`."""
    roll = rng.random()
    if roll > 0.06 or value < 0:
        return str(value)
    forms = [f"({value - 1}+1)", f"({value + 1}-1)", f"({2 * value}//2)", f"({2 * value + 1}//2)", f"(-{value}*-1)"]
    if value % 2 == 0:
        forms.append(f"(2*{value // 2})")
    return rng.choice(forms).replace("+", f"{SOFT}+{SOFT}") if rng.random() < 0.3 else rng.choice(forms)


@dataclass
class Param:
    name: str
    kind: str  # 'int', 'dims', 'word', 'float'
    value: object  # the value the body was generated with
    domain: tuple | None = None  # neutral parameters: every call may pass any of these
    default: object = None
    has_default: bool = False


class BlockScope:
    """The parameters of the block being written, and how its values are written with them."""

    def __init__(self, gen: Generator):
        self.gen = gen
        self.params: list[Param] = []
        self.repeat_param_ok = True

    def _new(self, kind: str, value: object, domain: tuple | None = None) -> Param:
        taken = {p.name for p in self.params}
        free = [n for n in PARAM_NAMES if n not in taken]
        name = self.gen.rng.choice(free) if free else f"p{len(self.params)}"
        param = Param(name, kind, value, domain)
        self.params.append(param)
        return param

    def int_text(self, value: int, chance: float = 0.45) -> str:
        rng = self.gen.rng
        if rng.random() >= chance:
            return int_literal(rng, value)
        ints = [p for p in self.params if p.kind == "int" and p.domain is None]
        sp = SOFT if rng.random() < 0.4 else ""
        ways: list[str] = []
        for p in ints:
            pv = p.value
            assert isinstance(pv, int)
            if pv == value:
                ways.append(p.name)
            if pv * 2 == value:
                ways.append(f"({sp}{p.name}{sp}*{sp}2{sp})")
            if pv // 2 == value:
                ways.append(f"({p.name}{sp}//{sp}2)")
            if pv + 1 == value:
                ways.append(f"({p.name}{sp}+{sp}1)")
            if pv - 1 == value:
                ways.append(f"({p.name}-1)")
            if pv * pv == value and pv > 1:
                ways.append(f"({p.name}*{p.name})")
            for other in ints:
                if other is not p and pv + other.value == value:  # type: ignore[operator]
                    ways.append(f"({p.name}{sp}+{sp}{other.name})")
            if rng.random() < 0.2:
                ways.append(f"(-{p.name}{sp}+{sp}{value + pv})")
        if ways and rng.random() < 0.75:
            return rng.choice(ways)
        # A new parameter, used directly or through an expression.
        options = [("direct", value)]
        if value % 2 == 0 and value >= 2:
            options.append(("times", value // 2))
        if value >= 2:
            options.append(("plus", value - 1))
        options.append(("floordiv", 2 * value + rng.randint(0, 1)))
        options.append(("minus", value + 1))
        how, pvalue = rng.choice(options)
        p = self._new("int", pvalue)
        return {
            "direct": p.name,
            "times": f"({sp}{p.name}{sp}*{sp}2{sp})",
            "plus": f"({p.name}{sp}+{sp}1)",
            "floordiv": f"({p.name}{sp}//{sp}2)",
            "minus": f"({p.name}-1)",
        }[how]

    def dims_text(self, values: tuple[int, ...], single_ok: bool) -> str:
        """Spatial sizes: a parameter holding dims, `k x k` over an int parameter, or literals."""
        rng = self.gen.rng
        roll = rng.random()
        if roll < 0.2:
            existing = [p for p in self.params if p.kind == "dims" and p.value == values]
            p = existing[0] if existing and rng.random() < 0.7 else self._new("dims", values)
            return p.name
        if roll < 0.4 and len(values) > 1:
            return f"{SOFT}x{SOFT}".join(self.int_text(v, 0.8) for v in values)
        if roll < 0.5 and single_ok and len(set(values)) == 1:
            return self.int_text(values[0], 0.9)
        return self.gen.spatial_literal(values, single_ok)

    def word_text(self, word: str, domain: tuple | None) -> str:
        """A word (activation, padding, flag...), maybe through a parameter.

        With a domain the word is neutral to shapes: each call may pass any word of it.
        """
        rng = self.gen.rng
        if rng.random() >= 0.35:
            return word
        for p in self.params:
            if p.kind == "word" and p.domain == domain and (domain is not None or p.value == word):
                if rng.random() < 0.7:
                    return p.name
        return self._new("word", word, domain).name

    def float_text(self, value: float) -> str:
        rng = self.gen.rng
        if rng.random() >= 0.3:
            return float_text(rng, value)
        return self._new("float", value, RATES).name

    def count_text(self, count: int) -> str:
        if self.gen.rng.random() < 0.5:
            return self.int_text(count, 0.9)
        return str(count)


@dataclass
class Block:
    name: str
    scope: BlockScope
    in_shape: Shape
    out_shape: Shape
    text: str = ""
    calls: int = 0


@dataclass
class ModelInfo:
    name: str
    input_shape: Shape
    output_shape: Shape
    token_vocab: int | None = None


@dataclass
class GeneratedProgram:
    """A generated spec and what archdsl must make of it."""

    text: str
    filename: str
    models: list[ModelInfo]
    layer_types: set[str] = field(default_factory=set)
    bare: bool = False

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        return f"GeneratedProgram(filename={self.filename!r}, text=\n{self.text}\n)"


class _Give(Exception):
    """This construct cannot be made here; the caller tries another."""


class Generator:
    """Writes one valid program. Every `node`/`layer` method returns (text, output shape)."""

    def __init__(self, rng: random.Random, size: int = 3):
        self.rng = rng
        self.size = max(1, size)
        self.blocks: list[Block] = []
        self.aliases = 0
        self.used: Counter[str] = Counter()
        self.layers_left = 0  # expanded layers still allowed in the current model

    # ------------------------------------------------------------ small helpers
    def alias(self) -> str:
        self.aliases += 1
        return f"{self.rng.choice(ALIAS_WORDS)}{self.aliases}"

    def spatial_literal(self, values: tuple[int, ...], single_ok: bool) -> str:
        if single_ok and len(set(values)) == 1 and self.rng.random() < 0.6:
            return int_literal(self.rng, values[0])
        return dims_text(self.rng, [str(v) for v in values])

    def pick_spatial(self, axes: int, low: int, high: int) -> tuple[int, ...]:
        if self.rng.random() < 0.75:
            return (self.rng.randint(low, high),) * axes
        return tuple(self.rng.randint(low, high) for _ in range(axes))

    # ------------------------------------------------------------ layers
    def candidates(self, shape: Shape) -> list[str]:
        rank = len(shape)
        last_known = isinstance(shape[-1], int)
        types = ["dropout", "droppath", "identity", *ACTIVATIONS]
        if last_known:
            types += ["batchnorm", "layernorm", "rescale", "normalize", "scale"]
        sizes = math.prod(runtime(d) for d in shape)
        if (rank in (1, 2) and last_known) or (rank in (3, 4) and known(shape) and sizes <= 2048):
            types += ["dense"] * 3
        if rank == 2 and last_known:
            types += ["conv1d"] * 3 + ["lstm", "gru", "rnn", "attention"] * 2 + ["take", "posembed", "clstoken"]
        if rank == 3 and last_known:
            types += ["conv2d"] * 4 + ["sepconv2d", "dwconv2d", "conv2dtranspose"] * 2
        if rank == 4 and last_known:
            types += ["conv3d"] * 5
        if rank in (2, 3, 4):
            types += ["maxpool", "avgpool"] * 2 + ["globalavgpool", "globalmaxpool", "upsample", "zeropad", "crop"]
        if known(shape):
            types += ["flatten", "reshape", "reshape"]
        return types

    def config(self, kind: str, shape: Shape, preserve: bool) -> dict:
        rng = self.rng
        channels = shape[-1] if isinstance(shape[-1], int) else 1
        rank = len(shape)
        if kind in CONV_AXES:
            axes = CONV_AXES[kind]
            cfg: dict = {}
            groups = 1
            if kind in ("conv1d", "conv2d", "conv3d") and rng.random() < 0.2:
                groups = rng.choice([g for g in range(1, channels + 1) if channels % g == 0])
                cfg["groups"] = groups
            elif kind in ("conv1d", "conv2d", "conv3d"):
                cfg["groups"] = 1
            if kind != "dwconv2d":
                cfg["filters"] = channels if preserve else groups * rng.randint(1, max(1, 8 // groups))
            cfg["kernel"] = self.pick_spatial(axes, 1, 3 if rng.random() < 0.9 else 5)
            cfg["activation"] = rng.choice((None, None, None, *ACTIVATIONS))
            paddings = ("same", "valid", "causal") if kind == "conv1d" else ("same", "valid")
            cfg["padding"] = "same" if preserve and rng.random() < 0.8 else rng.choice(paddings)
            strided = not preserve and rng.random() < 0.3
            cfg["stride"] = self.pick_spatial(axes, 1, 2) if strided else (1,) * axes
            if kind != "conv2dtranspose":
                dilate = rng.random() < 0.15 and (
                    not strided or (kind in ("sepconv2d", "dwconv2d") and rng.random() < 0.3)
                )
                cfg["dilation"] = self.pick_spatial(axes, 1, 2) if dilate else (1,) * axes
            if kind in ("sepconv2d", "dwconv2d"):
                cfg["multiplier"] = 1 if preserve or rng.random() < 0.7 else 2
            cfg["bias"] = rng.random() < 0.85
            return cfg
        if kind in ("maxpool", "avgpool"):
            axes = rank - 1
            cfg = {"pool": self.pick_spatial(axes, 1, 3), "padding": rng.choice(("valid", "valid", "same"))}
            cfg["stride"] = None if rng.random() < 0.6 else self.pick_spatial(axes, 1, 2)
            if preserve:
                cfg.update(stride=(1,) * axes, padding="same" if rng.random() < 0.7 else cfg["padding"])
            return cfg
        if kind == "dense":
            return {
                "units": channels if preserve else rng.randint(1, 8),
                "activation": rng.choice((None, None, *ACTIVATIONS)),
                "bias": rng.random() < 0.85,
            }
        if kind in ("lstm", "gru", "rnn"):
            bidirectional = rng.random() < 0.3 and (not preserve or channels % 2 == 0)
            units = (channels // 2 if bidirectional else channels) if preserve else rng.randint(1, 6)
            cfg = {"units": units, "seq": preserve or rng.random() < 0.5, "bidirectional": bidirectional}
            if kind == "rnn":
                cfg["activation"] = rng.choice(("tanh", "relu"))
            return cfg
        if kind == "attention":
            if rng.random() < 0.3:  # any size per head
                return {"heads": rng.randint(1, 4), "key_dim": rng.randint(1, 6), "causal": rng.random() < 0.3}
            heads = rng.choice([h for h in range(1, min(channels, 4) + 1) if channels % h == 0])
            key_dim = channels // heads if rng.random() < 0.3 else None
            return {"heads": heads, "key_dim": key_dim, "causal": rng.random() < 0.3}
        if kind == "posembed":
            steps = shape[0]
            if isinstance(steps, int) and rng.random() < 0.5:
                return {"max": None}  # the steps
            # A symbolic length is RUNTIME_LENGTH or less when the model runs (small_enough keeps it so).
            return {"max": max(runtime(steps), MAX_RUNTIME_DIM) + rng.randint(0, 8)}
        if kind == "take":
            steps = shape[0]
            # A symbolic length is only known at run time: the first and the last step always exist.
            return {"index": rng.randint(-steps, steps - 1) if isinstance(steps, int) else rng.choice((0, -1))}
        if kind == "embedding":
            return {"vocab": rng.randint(2, 40), "dim": rng.randint(1, 8), "mask_zero": rng.random() < 0.3}
        if kind == "reshape":
            total = math.prod(shape)  # type: ignore[arg-type]
            if preserve:
                target = list(shape)
            else:
                target = self.factor(total, rng.choice((1, 2, 2, 3, 3, 4)))
            if rng.random() < 0.3:
                target[rng.randrange(len(target))] = -1
            return {"target": tuple(target)}
        if kind == "upsample":
            return {"size": (1,) * (rank - 1) if preserve else self.pick_spatial(rank - 1, 1, 2)}
        if kind in ("zeropad", "crop"):
            axes = rank - 1
            if preserve:
                pairs = ((0, 0),) * axes
            elif rng.random() < 0.5:
                pairs = tuple((p, p) for p in self.pick_spatial(axes, 0, 2))
            else:  # before and after apart: `zeropad 0x1 0x1`
                pairs = tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(axes))
            return {"padding" if kind == "zeropad" else "cropping": pairs}
        if kind in ("globalavgpool", "globalmaxpool"):
            return {"keepdims": rng.random() < 0.3}
        if kind in ("dropout", "droppath"):
            return {"rate": rng.choice(RATES)}
        if kind == "rescale":
            return {"scale": self.per_channel(SCALES, channels), "offset": self.per_channel(OFFSETS, channels)}
        if kind == "normalize":
            if rng.random() < 0.5:
                return {"mean": None, "variance": None}  # weights, to load or adapt
            return {
                "mean": self.per_channel((0.0, 0.5, -1.0, 123.675), channels),
                "variance": self.per_channel((1.0, 0.25, 4.0), channels),
            }
        if kind == "scale":
            return {"init": rng.choice((1e-6, 1e-6, 0.1, 1.0))}
        if kind == "batchnorm":
            return {
                "momentum": rng.choice((0.99, 0.99, 0.9, 0.5, 0.0, 1.0)),
                "epsilon": rng.choice((1e-3, 1e-3, 1e-5, 0.01)),
                "scale": rng.random() < 0.8,
                "center": rng.random() < 0.8,
            }
        if kind == "layernorm":
            return {
                "epsilon": rng.choice((1e-3, 1e-3, 1e-6, 0.1)),
                "scale": rng.random() < 0.8,
                "center": rng.random() < 0.8,
            }
        if kind == "leakyrelu":
            return {"alpha": rng.choice((0.3, 0.3, 0.0, 0.1, 1.0, 2.5))}
        return {}

    def per_channel(self, values: tuple[float, ...], channels: int) -> float | tuple[float, ...]:
        """One of `values` for every channel, or one per channel (rescale's scale, normalize's mean)."""
        if self.rng.random() < 0.7:
            return self.rng.choice(values)
        return tuple(self.rng.choice(values) for _ in range(channels))

    def factor(self, total: int, rank: int) -> list[int]:
        parts = [1] * rank
        left = total
        for i in range(rank - 1):
            divisors = [d for d in range(1, min(left, MAX_RUNTIME_DIM) + 1) if left % d == 0]
            parts[i] = self.rng.choice(divisors)
            left //= parts[i]
        parts[-1] = left
        self.rng.shuffle(parts)
        return parts

    def layer(self, shape: Shape, scope: BlockScope | None, preserve: bool = False, kind: str | None = None):
        """One layer that accepts `shape` (and keeps it, with `preserve`)."""
        kinds = [kind] if kind else self.candidates(shape)
        for attempt in range(12):
            chosen = kinds[0] if kind else self.rng.choice(kinds)
            if preserve and attempt >= 8:
                chosen = self.rng.choice(("relu", "identity", "dropout", "tanh"))
            cfg = self.config(chosen, shape, preserve)
            out = infer(chosen, cfg, shape)
            if out is None or not small_enough(out) or (preserve and out != shape):
                continue
            return self.write_layer(chosen, cfg, shape, scope), out
        raise _Give

    def write_layer(self, kind: str, cfg: dict, shape: Shape, scope: BlockScope | None) -> str:
        rng = self.rng
        self.used[kind] += 1
        self.layers_left -= 1 if kind != "dense" or len(shape) < 3 else 2
        axes = len(shape) - 1
        slots: list[tuple[str, str]] = {
            "dense": [("units", "int")],
            "dwconv2d": [("kernel", "dims")],
            "maxpool": [("pool", "dims")],
            "avgpool": [("pool", "dims")],
            "dropout": [("rate", "float")],
            "droppath": [("rate", "float")],
            "rescale": [("scale", "floats")],
            "leakyrelu": [("alpha", "float")],
            "lstm": [("units", "int")],
            "gru": [("units", "int")],
            "rnn": [("units", "int")],
            "embedding": [("vocab", "int"), ("dim", "int")],
            "reshape": [("target", "shape")],
            "upsample": [("size", "dims")],
            "zeropad": [("padding", "dims")],
            "crop": [("cropping", "dims")],
            "attention": [("heads", "int")],
            "take": [("index", "int")],
            "posembed": [],
        }.get(kind, [("filters", "int"), ("kernel", "dims")] if kind in CONV_AXES else [])
        defaults = {"kernel": (3,) * axes, "pool": (2,) * axes, "size": (2,) * axes, "padding": (1,) * axes}
        defaults["alpha"] = 0.3
        required = {"units", "filters", "rate", "vocab", "dim", "target", "heads", "cropping", "scale", "index"}
        pairs_text: list[str] = []  # zeropad or crop with before and after apart, one pair per axis
        for name in ("padding", "cropping"):
            pairs = cfg.get(name) if kind in ("zeropad", "crop") else None
            if pairs is None:
                continue
            if all(b == a for b, a in pairs):
                cfg = {**cfg, name: tuple(b for b, _ in pairs)}  # a size for both sides of each axis
            elif axes == 1:
                cfg = {**cfg, name: pairs[0]}  # a sequence's before x after is dims too
            else:
                pairs_text = [
                    str(b)
                    if b == a and rng.random() < 0.5
                    else (scope.dims_text((b, a), False) if scope else f"{b}x{a}")
                    for b, a in pairs
                ]
                slots = []  # written positionally, one pair after another: `padding=` takes one value

        def value_text(name: str, kind_: str, value, positional: bool) -> str:
            if kind_ == "int":
                return scope.int_text(value) if scope else int_literal(rng, value)
            if kind_ == "float":
                if scope and name == "rate":
                    return scope.float_text(value)
                return float_text(rng, value)
            if kind_ == "shape":
                parts = [str(v) for v in value]
                return parts[0] if len(parts) == 1 else dims_text(rng, parts)
            if kind_ == "floats":
                return self.floats_text(value)
            # dims: a single number means the same size on every axis.
            if scope:
                return scope.dims_text(value, True)
            return self.spatial_literal(value, True)

        positional: list[str] = []
        floating: list[str] = []  # words and key=value: anywhere among the positional numbers
        n_positional = rng.randint(0, len(slots))
        for i, (name, kind_) in enumerate(slots):
            value = cfg[name]
            if i < n_positional:
                positional.append(value_text(name, kind_, value, True))
                continue
            if name not in required and defaults.get(name) == value and rng.random() < 0.6:
                continue
            if kind_ == "dims" and len(value) > 1 and rng.random() < 0.3 and (scope is None or rng.random() < 0.5):
                # Dims with no number before them still find their slot: `conv2d 3x3 filters=8`.
                floating.append(dims_text(rng, [str(v) for v in value]))
                continue
            floating.append(self.keyword(name, value_text(name, kind_, value, False)))

        def word(name: str, value: str, domain: tuple | None, positional_word: bool = True) -> None:
            text = scope.word_text(value, domain) if scope else value
            if positional_word and rng.random() < 0.6:
                floating.append(text)
            else:
                floating.append(self.keyword(name, text))

        if "activation" in cfg:
            act = cfg["activation"]
            if kind == "rnn":
                if act != "tanh" or rng.random() < 0.3:
                    word("activation", act, ("tanh", "relu"))
            elif act is None:
                roll = rng.random()
                if roll < 0.1:
                    word("activation", rng.choice(("none", "linear")), ACTIVATION_WORDS)
            else:
                word("activation", act, ACTIVATION_WORDS)
        if "padding" in cfg and kind not in ("zeropad",):
            if cfg["padding"] != "valid" or rng.random() < 0.25:
                word("padding", cfg["padding"], None)
        for flag in ("seq", "bidirectional", "causal", "mask_zero", "keepdims"):
            if flag in cfg and (cfg[flag] or rng.random() < 0.2):
                if cfg[flag] and rng.random() < 0.6:
                    floating.append(scope.word_text(flag, None) if scope else flag)
                else:
                    value = "true" if cfg[flag] else "false"
                    floating.append(self.keyword(flag, scope.word_text(value, None) if scope else value))
        for flag in ("bias", "scale", "center"):
            if isinstance(cfg.get(flag), bool) and (not cfg[flag] or rng.random() < 0.1):  # not rescale's scale
                value = "true" if cfg[flag] else "false"
                floating.append(self.keyword(flag, scope.word_text(value, ("true", "false")) if scope else value))
        for name in ("stride", "dilation"):
            value = cfg.get(name)
            if value is None:
                continue
            # A pool's stride defaults to its pool size, a convolution's to 1.
            if value != (1,) * axes or kind in ("maxpool", "avgpool") or rng.random() < 0.1:
                floating.append(
                    self.keyword(name, scope.dims_text(value, True) if scope else self.spatial_literal(value, True))
                )
        for name, default in (("groups", 1), ("multiplier", 1), ("key_dim", None), ("max", None)):
            if name in cfg and cfg[name] != default and cfg[name] is not None:
                floating.append(self.keyword(name, scope.int_text(cfg[name]) if scope else str(cfg[name])))
            elif name in cfg and cfg[name] == 1 and rng.random() < 0.1:
                floating.append(self.keyword(name, "1"))
        for name, default in (("momentum", 0.99), ("epsilon", 1e-3), ("init", 1e-6)):
            if name in cfg and (cfg[name] != default or rng.random() < 0.2):
                floating.append(self.keyword(name, float_text(rng, cfg[name])))
        for name, default in (("offset", 0.0), ("mean", None), ("variance", None)):
            if cfg.get(name) is not None and (cfg[name] != default or rng.random() < 0.2):
                floating.append(self.keyword(name, self.floats_text(cfg[name])))

        if pairs_text:
            positional = pairs_text
        items = list(positional)
        for item in floating:
            items.insert(rng.randint(0, len(items)), item)
        head = kind
        if scope and kind in ACTIVATIONS and not items:
            # A parameter that holds an activation word may stand as the layer: `-> act`.
            head = scope.word_text(kind, ACTIVATION_WORDS)
        text = SOFT.join([head, *items])
        if rng.random() < 0.15:
            text += f"{SOFT}as{SOFT}{self.alias()}"
        return text

    def floats_text(self, value: float | tuple[float, ...]) -> str:
        """A number, or one per channel as dims of decimals (`0.5x0.25x2.0`, or spaced: `0.5 x 2`)."""
        if not isinstance(value, tuple):
            return float_text(self.rng, value)
        return dims_text(self.rng, [repr(v) for v in value])

    def keyword(self, name: str, value: str) -> str:
        return f"{name}={value}" if self.rng.random() < 0.85 else f"{name}{SOFT}={SOFT}{value}"

    # ------------------------------------------------------------ structure
    def chain(self, shape: Shape, scope: BlockScope | None, depth: int, length: int, preserve: bool = False):
        """`length` nodes from `shape`; with `preserve` the chain ends in the shape it began with."""
        texts: list[str] = []
        current = shape
        for _ in range(length):
            if self.layers_left <= 0 and texts:
                break
            try:
                text, current = self.node(current, scope, depth, preserve=preserve)
            except _Give:
                continue
            texts.append(text)
        if preserve and current != shape:
            texts.append(self.adapter(current, shape, scope))
            current = shape
        if not texts:
            text, current = self.layer(current, scope, preserve=True)
            texts.append(text)
        return f"{SOFT}->{SOFT}".join(texts), current

    def adapter(self, current: Shape, target: Shape, scope: BlockScope | None) -> str:
        """A layer from `current` to `target` where they differ only in the last axis."""
        if len(current) != len(target) or current[:-1] != target[:-1]:
            raise _Give
        channels = target[-1]
        assert isinstance(channels, int)
        rank = len(current)
        choices = {1: ["dense"], 2: ["dense", "conv1d", "lstm", "gru"], 3: ["conv2d", "sepconv2d", "conv2dtranspose"]}
        kind = self.rng.choice(choices.get(rank, ["conv3d"]))
        for _ in range(6):
            cfg = self.config(kind, current, preserve=True)
            if "filters" in cfg:
                cfg["filters"] = channels
                if "groups" in cfg:
                    cfg["groups"] = 1
            if "units" in cfg:
                cfg["units"] = channels
            if "seq" in cfg:
                cfg.update(seq=True, bidirectional=False)
            if infer(kind, cfg, current) == target:
                return self.write_layer(kind, cfg, current, scope)
        raise _Give

    def node(self, shape: Shape, scope: BlockScope | None, depth: int, preserve: bool = False):
        """One node; what an abandoned attempt wrote is not counted."""
        used, left = Counter(self.used), self.layers_left
        try:
            return self._node(shape, scope, depth, preserve)
        except _Give:
            self.used, self.layers_left = used, left
            raise

    def _node(self, shape: Shape, scope: BlockScope | None, depth: int, preserve: bool):
        rng = self.rng
        deep = depth >= 3
        roll = rng.random()
        if deep or roll < 0.55:
            return self.layer(shape, scope, preserve)
        if roll < 0.67:
            return self.group(shape, scope, depth + 1, preserve)
        if roll < 0.74:
            return self.residual(shape, scope, depth + 1)
        if roll < 0.84:
            return self.repeat(shape, scope, depth + 1, preserve)
        if roll < 0.95:
            return self.call(shape, scope, depth + 1, preserve)
        body, out = self.chain(shape, scope, depth + 1, rng.randint(1, 2), preserve)
        return f"({SOFT}{body}{SOFT})", out

    def residual(self, shape: Shape, scope: BlockScope | None, depth: int):
        body, _ = self.chain(shape, scope, depth, self.rng.randint(1, 3), preserve=True)
        self.used["add"] += 1
        self.layers_left -= 1
        return f"residual{SOFT if self.rng.random() < 0.3 else ''}({SOFT}{body}{SOFT})", shape

    def group(self, shape: Shape, scope: BlockScope | None, depth: int, preserve: bool):
        rng = self.rng
        if len(shape) == 2 and isinstance(shape[-1], int) and rng.random() < 0.15:
            return self.cross_attention(shape, scope, depth)
        merge = rng.choice(MERGES + ("concat", "add"))
        if preserve and merge == "concat":
            merge = "add"
        count = 2 if merge == "subtract" else rng.choice((2, 2, 3, 4))
        rank = len(shape)
        axis = -1
        if merge == "concat" and rng.random() < 0.3:
            axis = rng.choice([a for a in range(-rank, rank + 1) if a != 0])
        channel_axis = axis in (-1, rank)
        branches: list[str] = []
        outs: list[Shape] = []
        mode = rng.choice(("keep", "channels", "down", "free")) if not preserve else "keep"
        if merge == "concat" and not channel_axis:
            mode = "keep"
        if mode == "down" and (rank < 2 or not isinstance(shape[-1], int)):
            mode = "keep"
        if mode == "channels" and not isinstance(shape[-1], int):
            mode = "keep"
        if merge != "concat" and rank >= 2 and isinstance(shape[-1], int) and rng.random() < 0.2:
            mode = "squeeze"  # squeeze-and-excitation: branches pooled to size 1 broadcast against one that is not
        family = rng.choice(("same", "valid"))
        target_channels = rng.randint(1, 8) if mode == "channels" else shape[-1]
        first: Shape | None = None
        kept = rng.randrange(count)
        for index in range(count):
            if mode == "squeeze" and index != kept:
                text, out = self.squeeze_branch(shape, scope, depth)
            elif mode in ("keep", "squeeze"):
                text, out = self.chain(shape, scope, depth, rng.randint(1, 2), preserve=True)
            elif mode == "down":
                text, out = self.down_branch(shape, scope, depth, family, merge == "concat")
            elif mode == "channels":
                channels = rng.randint(1, 8) if merge == "concat" else target_channels
                text, out = self.channel_branch(shape, channels, scope, depth)
            else:
                text, out = self.free_branch(shape, first, scope, depth, merge == "concat")
            if first is None:
                first = out
            branches.append(text)
            outs.append(out)
        out = merge_infer(merge, axis, outs)
        if out is None or not small_enough(out) or (preserve and out != shape):
            raise _Give
        self.used[merge] += 1
        self.layers_left -= 1
        words = [merge]
        if merge == "concat" and (axis != -1 or rng.random() < 0.15):
            words.append(self.keyword("axis", str(axis)))
        if rng.random() < 0.1:
            words += ["as", self.alias()]
        sep = f"{SOFT}|{SOFT}"
        return f"({SOFT}{sep.join(branches)}{SOFT}){SOFT}->{SOFT}{SOFT.join(words)}", out

    def cross_attention(self, shape: Shape, scope: BlockScope | None, depth: int):
        """`( query | keys and values ) -> attention H`, or three branches (query | keys | values): the
        keys and values keep the steps and may change the features; the output is the query's shape."""
        rng = self.rng
        branches = [self.chain(shape, scope, depth, 1, preserve=True)[0]]
        for _ in range(rng.choice((1, 2))):
            branches.append(self.channel_branch(shape, rng.randint(1, 8), scope, depth)[0])
        features = shape[-1]
        assert isinstance(features, int)
        words = ["attention"]
        if rng.random() < 0.5:
            words.append(str(rng.choice([h for h in range(1, 5) if features % h == 0])))
        else:
            words += [str(rng.randint(1, 4)), self.keyword("key_dim", str(rng.randint(1, 6)))]
        if rng.random() < 0.3:
            words.append("causal")
        self.used["attention"] += 1
        self.layers_left -= 1
        sep = f"{SOFT}|{SOFT}"
        return f"({SOFT}{sep.join(branches)}{SOFT}){SOFT}->{SOFT}{SOFT.join(words)}", shape

    def squeeze_branch(self, shape: Shape, scope, depth):
        """A global pool that keeps its axes (size 1), maybe with layers after it that keep that shape."""
        kind = self.rng.choice(("globalavgpool", "globalmaxpool"))
        cfg = {"keepdims": True}
        out = infer(kind, cfg, shape)
        assert out is not None
        parts = [self.write_layer(kind, cfg, shape, scope)]
        if self.rng.random() < 0.5:
            parts.append(self.chain(out, scope, depth, 1, preserve=True)[0])
        return f"{SOFT}->{SOFT}".join(parts), out

    def channel_branch(self, shape: Shape, channels: int, scope, depth):
        parts = []
        if self.rng.random() < 0.4:
            text, _ = self.chain(shape, scope, depth, 1, preserve=True)
            parts.append(text)
        target = (*shape[:-1], channels)
        parts.append(shape == target and self.layer(shape, scope, True)[0] or self.adapter(shape, target, scope))
        if self.rng.random() < 0.3:
            parts.append(self.chain(target, scope, depth, 1, preserve=True)[0])
        return f"{SOFT}->{SOFT}".join(parts), target

    def down_branch(self, shape: Shape, scope, depth, family: str, free_channels: bool):
        """Halve every spatial size the same way in every branch (same: ceil, valid: floor)."""
        rng = self.rng
        rank = len(shape)
        axes = rank - 1
        channels = shape[-1]
        assert isinstance(channels, int)
        parts = []
        if rng.random() < 0.3:
            parts.append(self.chain(shape, scope, depth, 1, preserve=True)[0])
        kinds = ["maxpool", "avgpool"]
        kinds += {2: ["conv1d"], 3: ["conv2d", "sepconv2d", "dwconv2d"], 4: ["conv3d"]}[rank]
        kind = rng.choice(kinds)
        cfg = self.config(kind, shape, preserve=False)
        two = (2,) * axes
        if kind in ("maxpool", "avgpool"):
            if family == "same":
                cfg.update(padding="same", pool=self.pick_spatial(axes, 1, 3), stride=two)
            else:
                cfg.update(padding="valid", pool=two, stride=rng.choice((None, two)))
        else:
            cfg.update(stride=two, dilation=(1,) * axes, padding=family)
            cfg["kernel"] = self.pick_spatial(axes, 1, 3) if family == "same" else two
            if kind == "dwconv2d":
                cfg["multiplier"] = 1 if not free_channels else cfg["multiplier"]
            else:
                cfg["filters"] = channels if not free_channels else rng.randint(1, 8)
                if "groups" in cfg:
                    cfg["groups"] = 1
        out = infer(kind, cfg, shape)
        if out is None:
            raise _Give
        parts.append(self.write_layer(kind, cfg, shape, scope))
        return f"{SOFT}->{SOFT}".join(parts), out

    def free_branch(self, shape: Shape, first: Shape | None, scope, depth, concat: bool):
        rng = self.rng
        for _ in range(4):
            text, out = self.chain(shape, scope, depth, rng.randint(1, 2))
            if first is None or out == first or (concat and out[:-1] == first[:-1] and len(out) == len(first)):
                return text, out
            if first == shape:
                return self.chain(shape, scope, depth, 1, preserve=True)
            if len(out) == len(first) and out[:-1] == first[:-1] and isinstance(first[-1], int):
                try:
                    return f"{text}{SOFT}->{SOFT}{self.adapter(out, first, scope)}", first
                except _Give:
                    pass
            if first[:-1] == shape[:-1] and len(first) == len(shape) and isinstance(first[-1], int):
                return self.channel_branch(shape, first[-1], scope, depth)
        raise _Give

    def repeat(self, shape: Shape, scope: BlockScope | None, depth: int, preserve: bool):
        rng = self.rng
        count = rng.randint(1, 3)
        count_text = scope.count_text(count) if scope else int_literal(rng, count)
        star = f"{SOFT}*{SOFT}{count_text}"
        before = self.layers_left
        if rng.random() < 0.5:
            # One layer applied `count` times; its shape rule decides whether that works.
            for _ in range(6):
                kinds = self.candidates(shape)
                kind = rng.choice(kinds)
                cfg = self.config(kind, shape, preserve)
                out: Shape | None = shape
                for _ in range(count):
                    out = infer(kind, cfg, out) if out is not None else None
                    if out is None or not small_enough(out):
                        out = None
                        break
                if out is None or (preserve and out != shape):
                    continue
                text = self.write_layer(kind, cfg, shape, scope)
                self.used[kind] += count - 1
                self.layers_left -= count - 1
                if " as " in text.replace(SOFT, " ") and rng.random() < 0.5:
                    return f"({SOFT}{text}{SOFT}){star}", out
                return f"{text}{star}", out
            raise _Give
        # A group, a residual or a block call that keeps the shape, repeated.
        kind = rng.choice(("paren", "residual", "call", "group"))
        if kind == "call":
            text, _ = self.call(shape, scope, depth, preserve=True)
        elif kind == "residual":
            text, _ = self.residual(shape, scope, depth)
            text = f"{text}"
        elif kind == "group":
            text, _ = self.group(shape, scope, depth, preserve=True)
            text = f"({SOFT}{text}{SOFT})"
        else:
            body, _ = self.chain(shape, scope, depth, rng.randint(1, 2), preserve=True)
            text = f"({SOFT}{body}{SOFT})"
        self.layers_left -= (before - self.layers_left) * (count - 1)
        return f"{text}{star}", shape

    # ------------------------------------------------------------ blocks
    def call(self, shape: Shape, scope: BlockScope | None, depth: int, preserve: bool):
        rng = self.rng
        reusable = [b for b in self.blocks if b.in_shape == shape and (not preserve or b.out_shape == shape)]
        if reusable and rng.random() < 0.5:
            block = rng.choice(reusable)
        elif len(self.blocks) < 2 + self.size and depth < 3:
            block = self.define_block(shape, depth, preserve)
        else:
            raise _Give
        block.calls += 1
        return self.call_text(block, scope), block.out_shape

    def define_block(self, shape: Shape, depth: int, preserve: bool) -> Block:
        rng = self.rng
        scope = BlockScope(self)
        body, out = self.chain(shape, scope, depth, rng.randint(1, 3), preserve=preserve)
        taken = {b.name for b in self.blocks}
        base = rng.choice(BLOCK_NAMES)
        name = base if base not in taken else f"{base}{len(self.blocks) + 1}"
        while name in taken:
            name += "_b"
        params = list(scope.params)
        rng.shuffle(params)
        scope.params = params
        for p in params:
            if rng.random() < 0.45:
                p.has_default = True
                if p.domain is not None:
                    p.default = rng.choice(p.domain)
                else:
                    p.default = p.value if rng.random() < 0.75 else self.other_value(p)
        header = ",".join(
            f"{SOFT}{p.name}" + (f"{SOFT}={SOFT}{self.value_text(p, p.default, None)}" if p.has_default else "")
            for p in params
        )
        text = f"block{SOFT}{name}{SOFT if rng.random() < 0.2 else ''}({header}{SOFT}){SOFT}={SOFT}{body}"
        block = Block(name, scope, shape, out, text)
        self.blocks.append(block)
        return block

    def other_value(self, p: Param):
        if p.kind == "int":
            return self.rng.randint(1, 9)
        if p.kind == "dims":
            return tuple(self.rng.randint(1, 5) for _ in p.value)  # type: ignore[attr-defined]
        if p.kind == "word":
            return self.rng.choice(("relu", "same", "valid", "tanh", "seq"))
        return 0.5

    def value_text(self, p: Param, value, scope: BlockScope | None) -> str:
        if p.kind == "int":
            return scope.int_text(value) if scope else int_literal(self.rng, value)
        if p.kind == "dims":
            if scope and self.rng.random() < 0.3:
                return scope.dims_text(value, False) if len(value) > 1 else scope.int_text(value[0])
            return dims_text(self.rng, [str(v) for v in value]) if len(value) > 1 else str(value[0])
        if p.kind == "float":
            return float_text(self.rng, value)
        if scope and p.domain is not None:
            same = [q for q in scope.params if q.kind == "word" and q.domain == p.domain]
            if same and self.rng.random() < 0.3:
                return same[0].name
        return str(value)

    def call_text(self, block: Block, scope: BlockScope | None) -> str:
        """`name args...`: positional in order, then key=value in any order; defaults left out."""
        rng = self.rng
        positional: list[str] = []
        keywords: list[str] = []
        still_positional = rng.random() < 0.7
        for p in block.scope.params:
            value = rng.choice(p.domain) if p.domain is not None else p.value
            if p.has_default and p.default == value and rng.random() < 0.7:
                still_positional = False
                continue
            text = self.value_text(p, value, scope)
            if still_positional and rng.random() < 0.8:
                positional.append(text)
            else:
                still_positional = False
                keywords.append(self.keyword(p.name, text))
        items = list(positional)
        for item in keywords:
            items.insert(rng.randint(0, len(items)), item)
        text = SOFT.join([block.name, *items])
        if rng.random() < 0.1:
            text += f"{SOFT}as{SOFT}{self.alias()}"
        self.layers_left -= 2
        return text

    # ------------------------------------------------------------ models and files
    def model_input(self) -> tuple[str, Shape, bool]:
        """The text after `input`, the shape, and whether the input holds token ids."""
        rng = self.rng
        kind = rng.choice(("image", "image", "image", "sequence", "sequence", "vector", "tokens", "volume", "symbolic"))
        sym = rng.choice(SYMBOLIC_NAMES)
        if kind == "image":
            shape: Shape = (rng.randint(4, 12), rng.randint(4, 12), rng.randint(1, 4))
        elif kind == "sequence":
            steps: Dim = Sym(sym, RUNTIME_LENGTH) if rng.random() < 0.5 else rng.randint(4, 16)
            shape = (steps, rng.randint(1, 8))
        elif kind == "vector":
            shape = (rng.randint(1, 16),)
        elif kind == "tokens":
            shape = (Sym(sym, RUNTIME_LENGTH) if rng.random() < 0.6 else rng.randint(2, 12),)
        elif kind == "volume":
            shape = (rng.randint(2, 6), rng.randint(4, 8), rng.randint(4, 8), rng.randint(1, 3))
        else:
            other = rng.choice([n for n in SYMBOLIC_NAMES if n != sym])
            shape = (Sym(sym, RUNTIME_LENGTH), rng.choice((Sym(sym, RUNTIME_LENGTH), Sym(other, RUNTIME_LENGTH), 8)), 2)
        parts = [str(d) if not (isinstance(d, int) and rng.random() < 0.05) else f"({d}*1)" for d in shape]
        if len(parts) == 1:
            text = parts[0]
        elif all(p.isdigit() for p in parts) and rng.random() < 0.15 and len(parts) > 2:
            text = f"{'x'.join(parts[:2])}{SOFT}x{SOFT}{'x'.join(parts[2:])}"  # 8x8 x 3
        else:
            text = dims_text(rng, parts)
        return text, shape, kind == "tokens"

    def model(self, name: str, graph: bool = False) -> tuple[str, ModelInfo]:
        rng = self.rng
        self.layers_left = 8 + 4 * self.size
        text, shape, tokens = self.model_input()
        input_shape = shape
        nodes = [f"input{SOFT}{text}"]
        shapes = [shape]  # the output shape of each node
        vocab = None
        if tokens:
            cfg = self.config("embedding", shape, False)
            vocab = cfg["vocab"]
            nodes.append(self.write_layer("embedding", cfg, shape, None))
            shape = infer("embedding", cfg, shape)  # type: ignore[assignment]
            shapes.append(shape)
        for _ in range(rng.randint(1, 2 + self.size)):
            if self.layers_left <= 0:
                break
            try:
                text, shape = self.node(shape, None, 0)
            except _Give:
                continue
            nodes.append(text)
            shapes.append(shape)
        if len(nodes) == 1 or (tokens and len(nodes) == 2 and rng.random() < 0.5):
            text, shape = self.layer(shape, None)
            nodes.append(text)
            shapes.append(shape)
        if graph:
            return self.statements(nodes, shapes), ModelInfo(name, input_shape, shape, vocab)
        return f"{SOFT}->{SOFT}".join(nodes), ModelInfo(name, input_shape, shape, vocab)

    def statements(self, nodes: list[str], shapes: list[Shape]) -> str:
        """One chain written as a graph (LANGUAGE.md section 7): cut into statements at named
        values, each statement reading the one before with `@NAME`; sometimes a last statement
        adds or concatenates two named values of one shape. The model is the same function."""
        rng = self.rng
        # A cut may follow a plain node: a layer or a block call, which `as` may name.
        plain = [i for i, text in enumerate(nodes) if not re.search(r"[(*]|(?:^|\s|\ue000)as(?:\s|\ue000)", text)]
        cuts = [i for i in plain if i < len(nodes) - 1]
        cuts = sorted(rng.sample(cuts, min(len(cuts), rng.randint(1, 3))))
        named: list[tuple[str, Shape]] = []
        lines: list[str] = []
        start = 0
        for cut in cuts:
            value = f"v{len(named) + 1}_{self.alias()}"
            chain = f"{SOFT}->{SOFT}".join(nodes[start : cut + 1])
            lines.append(f"{chain}{SOFT}as{SOFT}{value}")
            named.append((value, shapes[cut]))
            start = cut + 1
            nodes[start] = f"@{value}{SOFT}->{SOFT}{nodes[start]}" if start < len(nodes) else nodes[start]
        last = f"{SOFT}->{SOFT}".join(nodes[start:])
        twins = [(a, b) for i, a in enumerate(named) for b in named[i + 1 :] if a[1] == b[1] == shapes[-1]]
        if twins and len(nodes) - 1 in plain and rng.random() < 0.5:
            # the chain's end, named, and merged with an earlier value of its shape
            (first, _), _ = rng.choice(twins)
            end = f"v{len(named) + 1}_{self.alias()}"
            lines.append(f"{last}{SOFT}as{SOFT}{end}")
            merge = rng.choice(("add", "maximum", "average"))
            lines.append(f"({SOFT}@{first}{SOFT}|{SOFT}@{end}{SOFT}){SOFT}->{SOFT}{merge}")
        else:
            lines.append(last)
        return "\n".join(lines)

    def program(self) -> tuple[str, list[ModelInfo], bool]:
        rng = self.rng
        bare = rng.random() < 0.35
        statements: list[str] = []
        infos: list[ModelInfo] = []
        if bare:
            chain, info = self.model("Model")
            infos.append(info)
            # Blocks sit before a bare chain.
            statements = [b.text for b in self.blocks] + [chain]
        else:
            names: set[str] = set()
            models: list[str] = []
            for _ in range(rng.randint(1, 1 + min(self.size, 3))):
                name = f"{rng.choice(MODEL_WORDS)}{rng.randint(1, 99)}"
                while name in names:
                    name += "X"
                names.add(name)
                graph = rng.random() < 0.3
                chain, info = self.model(name, graph)
                infos.append(info)
                brace = "\n" if graph else SOFT if rng.random() < 0.7 else " "
                models.append(f"model{SOFT}{name}{SOFT}{{{brace}{chain}{brace}}}")
            if rng.random() < 0.6:
                statements = [b.text for b in self.blocks] + models  # blocks first, in definition order
            else:
                # Blocks may be defined anywhere, before or after the models that call them.
                statements = list(models)
                for block in self.blocks:
                    statements.insert(rng.randint(0, len(statements)), block.text)
        return self.layout(statements), infos, bare

    # ------------------------------------------------------------ layout
    def comment(self) -> str:
        rng = self.rng
        words = ["conv", "stage", "TODO", "->", "(", "{", "x", "3x3", "input", "model", "block", '"', "'''", "#"]
        parts = [rng.choice(words) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.5:
            parts += [rng.choice(ODD_CHARS) for _ in range(rng.randint(1, 3))]
        rng.shuffle(parts)
        text = " ".join(parts).replace("\n", " ")
        return "#" + ("" if rng.random() < 0.2 else " ") + text

    def layout(self, statements: list[str]) -> str:
        """Turn SOFT markers into spaces, line breaks (where allowed) and comments."""
        rng = self.rng
        newline_rate = rng.choice((0.0, 0.1, 0.3, 0.6))
        comment_rate = rng.choice((0.0, 0.2, 0.5))
        out: list[str] = []
        for index, statement in enumerate(statements):
            if index or rng.random() < 0.2:
                if index:
                    out.append(self.end_of_line(comment_rate))
                for _ in range(rng.choice((0, 0, 1, 2))):
                    out.append(self.comment() if rng.random() < comment_rate else rng.choice(("", "  ", "\t")))
                    out.append("\n")
            depth = 0
            pieces = statement.split(SOFT)
            for i, piece in enumerate(pieces):
                for ch in piece:
                    if ch in "({":
                        depth += 1
                    elif ch in ")}":
                        depth -= 1
                out.append(piece)
                if i == len(pieces) - 1:
                    break
                following = next((p for p in pieces[i + 1 :] if p), "")
                if depth > 0 and rng.random() < newline_rate:
                    out.append(self.end_of_line(comment_rate) + rng.choice(("", "  ", "    ", "\t", " \f ")))
                elif depth == 0 and following.startswith("->") and rng.random() < newline_rate:
                    out.append(self.end_of_line(comment_rate) + rng.choice(("", "  ", "\t")))
                else:
                    out.append(rng.choice((" ", " ", " ", " ", "  ", "\t")))
        if rng.random() < 0.3:
            out.append("  " + self.comment())
        if rng.random() < 0.8:
            out.append("\n" * rng.randint(1, 2))
        text = "".join(out)
        if rng.random() < 0.15:
            text = text.replace("\n", "\r\n")
        return text

    def end_of_line(self, comment_rate: float) -> str:
        rng = self.rng
        if rng.random() < comment_rate:
            return rng.choice((" ", "  ", "\t")) + self.comment() + "\n"
        return rng.choice(("", " ", "")) + "\n"


def random_program(rng: random.Random, size: int | None = None) -> GeneratedProgram:
    """A random valid program (see the module docstring); `size` 1-4 bounds its length."""
    for _ in range(20):
        gen = Generator(rng, size if size is not None else rng.randint(1, 4))
        try:
            text, models, bare = gen.program()
        except _Give:
            continue
        filename = rng.choice(FILENAMES) if rng.random() < 0.3 else "spec.arch"
        return GeneratedProgram(text, filename, models, set(gen.used), bare)
    raise AssertionError("the program generator gave up twenty times")


# ---------------------------------------------------------------- mutated texts

TOKEN = re.compile(
    r"#[^\n]*|\r?\n|[ \t\f]+|->|//|-?[0-9]+(?:x-?[0-9]+)+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+"
    r"|[A-Za-z_][A-Za-z0-9_]*|.",
    re.S,
)
WEIRD_NUMBERS = (
    "0",
    "-0",
    "-1",
    "00",
    "007",
    "1.5",
    "2.0",
    "1e3",
    "1e309",
    "1e-400",
    ".5",
    "5.",
    "2147483647",
    "2147483648",
    "4294967297",
    "999999999999999",
    "9999999999999999999999",
    "1" * 40,
    "0x10",
    "1_000",
    "10000",
    "10001",
    "-2147483649",
    "3x3x3x3x3",
    "0x0",
    "-1x-1",
    "99999x99999",
    "1x1x1x1x1x1",
    "(2**8)",
    "(1//0)",
    "(0-5)",
    "(10**13)",
    "(999999*999999*99)",
    "(-(-(-1)))",
)


@cache
def grammar_vocabulary() -> tuple[str, ...]:
    """Every literal of the grammar, every layer, argument and option word."""
    from archdsl.layers import LAYERS

    grammar = (ROOT / "grammars" / "arch.lark").read_text(encoding="utf-8")
    literals = set(re.findall(r'"([^"\\]+)"', grammar))
    words = set(LAYERS) | {a.name for spec in LAYERS.values() for a in spec.args}
    words |= {"same", "valid", "true", "false", "none", "linear", "seq", "bidirectional", *SYMBOLIC_NAMES}
    words |= {"Model", "self", "class", "print", "input", "lambda", "x_", "_", "__init__", "relu6", "conv2", "desne"}
    return tuple(sorted(literals | words | {"->", "//", "\n", "\r\n", "#", " "}))


def language_snippets() -> list[str]:
    """The code blocks of the language contract and of docs/language.md."""
    snippets: list[str] = []
    for path in (ROOT.parent / "shared" / "LANGUAGE.md", ROOT / "docs" / "language.md", ROOT / "docs" / "errors.md"):
        if path.exists():
            text = path.read_text(encoding="utf-8")
            snippets += [m.group(1) for m in re.finditer(r"```[a-z ]*\n(.*?)```", text, re.S)]
    return [s for s in snippets if s.strip()]


@cache
def seed_corpus() -> tuple[str, ...]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "examples").glob("*.arch"))]
    texts += [p.read_text(encoding="utf-8") for p in sorted((ROOT / "tests" / "data" / "language").glob("*.arch"))]
    texts += language_snippets()
    return tuple(texts)


def random_unicode(rng: random.Random, length: int) -> str:
    out = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.4:
            out.append(rng.choice(ODD_CHARS))
        elif roll < 0.6:
            out.append(chr(rng.randint(0x20, 0x7E)))
        elif roll < 0.75:
            out.append(chr(rng.randint(0, 0x1F)))
        else:
            code = rng.randint(0x80, 0x10FFFF)
            if 0xD800 <= code <= 0xDFFF:  # lone surrogates cannot be in a str that reaches a file
                code = 0xFFFD
            out.append(chr(code))
    return "".join(out)


def random_bytes_text(rng: random.Random, length: int) -> str:
    data = bytes(rng.randint(0, 255) for _ in range(length))
    return data.decode(rng.choice(("utf-8", "utf-8", "latin-1")), errors="replace")


def tokens_of(text: str) -> list[str]:
    return TOKEN.findall(text)


def mutate(rng: random.Random, text: str) -> str:
    """One random edit of `text`."""
    tokens = tokens_of(text) or [""]
    op = rng.randrange(16)
    i = rng.randrange(len(tokens))
    if op == 0:  # delete tokens
        del tokens[i : i + rng.randint(1, 3)]
    elif op == 1:  # insert a token of the language
        tokens.insert(i, rng.choice((" ", "")) + rng.choice(grammar_vocabulary()) + rng.choice((" ", "")))
    elif op == 2:  # insert garbage
        tokens.insert(i, random_unicode(rng, rng.randint(1, 6)))
    elif op == 3:  # swap two tokens
        j = rng.randrange(len(tokens))
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif op == 4:  # duplicate a run of tokens
        j = min(len(tokens), i + rng.randint(1, 12))
        tokens[i:i] = tokens[i:j]
    elif op == 5:  # shuffle, drop or duplicate lines
        lines = "".join(tokens).split("\n")
        how = rng.randrange(3)
        if how == 0:
            rng.shuffle(lines)
        elif how == 1 and lines:
            del lines[rng.randrange(len(lines))]
        else:
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k])
        return "\n".join(lines)
    elif op == 6:  # truncate
        joined = "".join(tokens)
        return joined[: rng.randint(0, len(joined))]
    elif op == 7:  # a number replaced by an odd one
        numbers = [k for k, t in enumerate(tokens) if t[:1].isdigit() or t[:1] == "-" and t[1:2].isdigit()]
        k = rng.choice(numbers) if numbers else i
        tokens[k] = rng.choice(WEIRD_NUMBERS)
    elif op == 8:  # a name replaced by another word
        names = [k for k, t in enumerate(tokens) if t[:1].isalpha() or t[:1] == "_"]
        k = rng.choice(names) if names else i
        tokens[k] = rng.choice(grammar_vocabulary())
    elif op == 9:  # deep nesting or unbalanced brackets
        n = rng.choice((1, 2, 5, 50, 199, 200, 201, 400))
        opener, closer = rng.choice((("(", ")"), ("{", "}"), ("residual(", ")"), ("(relu|", ")->add")))
        tokens.insert(i, opener * n + (closer * n if rng.random() < 0.5 else ""))
    elif op == 10:  # a huge repetition or a long chain
        tokens.insert(i, rng.choice((" * 10000", " * 10001", " * 0", " * -1", " * 2.5", " * (5000*5000)")))
        if rng.random() < 0.3:
            tokens.insert(i, " -> relu" * rng.randint(10, 300))
    elif op == 11:  # odd line breaks
        breaks = ("\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\n\n\n", "\x1c", "\x1d", "\x1e")
        newline = rng.choice(breaks)
        joined = "".join(tokens)
        return joined.replace("\n", newline, rng.choice((1, 2, -1)))
    elif op == 12:  # odd characters around a token
        tokens.insert(i, rng.choice(ODD_CHARS))
    elif op == 13:  # replaced bytes
        tokens.insert(i, random_bytes_text(rng, rng.randint(1, 12)))
    elif op == 14:  # a piece of another text spliced in
        other = tokens_of(rng.choice(seed_corpus()))
        if other:
            a = rng.randrange(len(other))
            tokens[i:i] = other[a : a + rng.randint(1, 20)]
    else:  # case and spelling
        k = i
        tokens[k] = rng.choice((tokens[k].upper(), tokens[k].capitalize(), tokens[k][:-1], tokens[k] + "_"))
    return "".join(tokens)


def mutated_text(rng: random.Random) -> str:
    """A random text near the language: a seed text edited 1 to 8 times, or garbage."""
    roll = rng.random()
    if roll < 0.45:
        text = rng.choice(seed_corpus())
    elif roll < 0.9:
        text = random_program(rng, rng.randint(1, 2)).text
    elif roll < 0.95:
        return random_unicode(rng, rng.randint(0, 80))
    else:
        return random_bytes_text(rng, rng.randint(0, 200))
    for _ in range(rng.choice((1, 1, 2, 3, 4, 8))):
        text = mutate(rng, text)
    return text


# ---------------------------------------------------------------- Hypothesis strategies

SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


def programs(max_size: int = 4) -> st.SearchStrategy[GeneratedProgram]:
    """Random valid programs (see `random_program`); shrinks towards small ones."""
    return st.builds(
        lambda seed, size: random_program(random.Random(seed), size),
        SEEDS,
        st.integers(min_value=1, max_value=max_size),
    )


def texts() -> st.SearchStrategy[str]:
    """Mutated examples, LANGUAGE.md snippets and generated programs; anything may come out."""
    return SEEDS.map(lambda seed: mutated_text(random.Random(seed)))
