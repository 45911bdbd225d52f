"""Section 6, structured code at run time: a class (PyTorch) or function (Keras) per block against the flat code.

For a model written with blocks, archdsl generates a PyTorch `nn.Module` class per block and
a Keras function per block; `flat=True` gives the same model as one straight chain of layers.
The issue's target: the structured forward within 2 % of the flat one. A class per block adds
one Python call per block call (and nn.Sequential's loop over a repeated block) to each
forward; a Keras function per block only runs while the model is built, so its graph should
be the flat one's. Each model is first shown to be the same computation both ways: equal
parameter counts, and equal outputs once the flat model's weights are copied into the
structured one by path (`archdsl.tools.verify.copy_by_path`, what verify uses). Then the two
forward passes in turns (`rotated_rounds`), at batch 1, where a fixed Python cost per call
shows most, and at a batch where the arithmetic dominates; and a flat-against-flat control
(A/A), which shows how far from 1.00 a ratio strays on noise alone.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from harness import (
    Report,
    control_row,
    control_table,
    fmt_ratio,
    fmt_time,
    native_stderr_silenced,
    new_table,
    paired_quartiles,
    rotated_rounds,
)
from runtime import Frameworks

STRUCTURE_RATIO_MAX = 1.02  # the target: structured code within 2 % of the flat code
SEQUENCE_STEPS = 100  # steps per sample fed to a model whose input has a symbolic length
STRUCTURE_MODELS = (  # key, title, spec, batch sizes
    ("resnet20", "ResNet-20", "examples/resnet.arch", (1, 32)),
    ("vgg_small", "VGG-style", "examples/vgg_small.arch", (1, 32)),
    ("transformer", "Transformer encoder", "examples/transformer_encoder.arch", (1, 32)),
    ("resnet50", "ResNet-50", "tests/data/resnet50.arch", (2,)),  # 25.6 M parameters: a small batch
)
CONTROLS = (("transformer", 1), ("resnet20", 32))  # the cheapest call, then a convolutional one
# One PyTorch thread: what is compared is the code around the kernels, and on a machine whose
# cores other work shares, PyTorch's threads wait for each other at every operator (ResNet-20
# at batch 32 took 0.8-1.3 s with 2 threads against 57 ms with 1, 1.2 cores busy elsewhere).
TORCH_THREADS = 1


class Pair:
    """One model's flat and structured forms in one framework, the same weights in both."""

    def __init__(self, fw: Frameworks, model, framework: str) -> None:
        from archdsl.targets.codegen import emit
        from archdsl.tools.verify import copy_by_path

        self.fw, self.model, self.framework = fw, model, framework
        self.code = emit(model, framework)
        with native_stderr_silenced():
            self.flat = self.build(flat=True)
            self.structured = self.build(flat=False)
        copy_by_path(model, self.code, self.flat, self.structured)
        self.calls = (self.callable(self.flat), self.callable(self.structured))  # what is timed

    def build(self, flat: bool):
        import archdsl

        net = archdsl.build(self.model, self.framework, flat=flat)
        return net.eval() if self.framework == "torch" else net

    def callable(self, net):
        """Keras through runtime.py's tf.function, traced once per input shape, as section 4 times it."""
        return self.fw.keras_call(net) if self.framework == "keras" else net

    def flat_copy(self):
        """A second flat instance holding the same weights, ready to call: the A/A control's other side."""
        other = self.build(flat=True)
        if self.framework == "torch":
            other.load_state_dict(self.flat.state_dict())
        else:
            other.set_weights(self.flat.get_weights())
        return self.callable(other)

    def params(self) -> tuple[int, int]:
        if self.framework == "torch":
            return tuple(sum(p.numel() for p in net.parameters()) for net in (self.flat, self.structured))
        return self.flat.count_params(), self.structured.count_params()

    def inputs(self, batch: int):
        """A random batch for the model's one input, channels last for Keras and as the PyTorch code reads it."""
        from archdsl.targets.torch.layout import CHANNELS_FIRST

        fw = self.fw
        (given,) = self.model.inputs
        shape = tuple(d if isinstance(d, int) else SEQUENCE_STEPS for d in given.shape)
        array = fw.rng.standard_normal((batch, *shape)).astype("float32")
        if self.framework == "keras":
            return fw.tf.constant(array)
        if self.code.inputs[0].layout == CHANNELS_FIRST:
            array = array.transpose(0, array.ndim - 1, *range(1, array.ndim - 1))
        return fw.torch.from_numpy(fw.np.ascontiguousarray(array))

    def max_delta(self) -> float:
        """The largest difference between the two forms' outputs on one random batch."""
        probe = self.inputs(2)
        with self.fw.context(self.framework):
            if self.framework == "torch":
                flat, structured = (net(probe).numpy() for net in (self.flat, self.structured))
            else:
                flat, structured = (
                    self.fw.np.asarray(net(probe, training=False)) for net in (self.flat, self.structured)
                )
        return float(self.fw.np.abs(flat - structured).max())

    def work(self) -> tuple[str, dict[str, int]]:
        """What one forward runs, flat and structured: PyTorch's module calls (a class per block adds
        calls, each a fixed Python cost), or the ops of the graph Keras traces (a function per block
        only shapes the building: the graphs should hold the same ops)."""
        from collections import Counter

        probe = self.inputs(1)
        if self.framework == "torch":
            calls = [0]
            hooks = [
                module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
                for net in (self.flat, self.structured)
                for module in net.modules()
            ]
            counts = []
            with self.fw.context(self.framework):
                for net in (self.flat, self.structured):
                    calls[0] = 0
                    net(probe)
                    counts.append(calls[0])
            for hook in hooks:
                hook.remove()
            return f"{counts[0]} → {counts[1]} module calls", {"flat_calls": counts[0], "structured_calls": counts[1]}
        graphs = [
            Counter(op.type for op in call.get_concrete_function(probe).graph.get_operations()) for call in self.calls
        ]
        flat_ops, structured_ops = (sum(graph.values()) for graph in graphs)
        same = "the same op types" if graphs[0] == graphs[1] else "other op types"
        return f"{flat_ops} → {structured_ops} graph ops, {same}", {
            "flat_ops": flat_ops,
            "structured_ops": structured_ops,
            "same_op_types": graphs[0] == graphs[1],
        }

    def timed(self, report: Report, batch: int, calls: tuple[Any, Any]):
        """The two `calls` in turns on the same input."""
        plan = report.plan
        x = self.inputs(batch)
        first, second = calls
        with self.fw.context(self.framework):
            return rotated_rounds(
                [lambda: first(x), lambda: second(x)], plan.st_warmup, plan.st_runs, plan.st_budget_s, plan.st_max_runs
            )


def section_structure(report: Report) -> None:
    fw = Frameworks()
    threads = fw.torch.get_num_threads()
    fw.torch.set_num_threads(TORCH_THREADS)
    # Eight models each trace a tf.function per input shape, as they should: TensorFlow's
    # warning about frequent retracing would only be noise in the report.
    tf_logger = fw.tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel("ERROR")
    try:
        compare(report, fw)
    finally:
        fw.torch.set_num_threads(threads)
        tf_logger.setLevel(level)


def compare(report: Report, fw: Frameworks) -> None:
    """Each model, both frameworks: the same computation first, then the forward passes in turns."""
    import archdsl

    plan = report.plan
    checks = new_table(
        "Flat and structured code are the same model: parameters, and outputs with the flat weights copied in by path",
        ("model", "left"),
        ("framework", "left"),
        "flat params",
        "structured params",
        "max |Δ output|",
        ("per forward, flat → structured", "left"),
        caption="PyTorch: modules called (forward hooks); Keras: ops of the graph tf.function traces, counted by type.",
    )
    budget = (
        f"as many rounds as fit in {plan.st_budget_s:g} s (at least {plan.st_runs}, at most {plan.st_max_runs})"
        if plan.st_budget_s > 0
        else f"{plan.st_runs} rounds"
    )
    timing = new_table(
        "Forward pass: structured against flat (median per call)",
        ("model", "left"),
        ("framework", "left"),
        "batch",
        "runs",
        "flat",
        "structured",
        "ratio",
        "paired ratio IQR",
        "Δ per call",
        "target",
        "result",
        caption=(
            f"PyTorch: eval(), torch.inference_mode(), torch.set_num_threads({TORCH_THREADS}). Keras: the same "
            "tf.function(lambda x: model(x, training=False)) for both, traced in the warm-up. Symbolic lengths: "
            f"{SEQUENCE_STEPS} steps. Warm-up {plan.st_warmup} rounds, then {budget}, flat and structured "
            "alternating; ratio = structured median ÷ flat median; the paired ratio IQR is the spread of "
            "call-by-call ratios (noise); Δ per call = median of structured − flat, call by call (a fixed "
            "Python cost per block call shows as the same Δ at every batch size)."
        ),
    )
    pairs: dict[tuple[str, str], Pair] = {}
    results = []
    for key, title, path, batches in STRUCTURE_MODELS:
        model = archdsl.load(report.root / path).model()
        for framework in ("torch", "keras"):
            report.progress(f"structure: {title}, {framework}")
            pair = pairs[key, framework] = Pair(fw, model, framework)
            flat_params, structured_params = pair.params()
            assert flat_params == structured_params, f"{title} ({framework}): {flat_params} vs {structured_params}"
            delta = pair.max_delta()
            assert delta <= 1e-5, f"{title} ({framework}): structured and flat compute apart (max |Δ| {delta})"
            work, counts = pair.work()
            checks.add_row(title, framework, f"{flat_params:,}", f"{structured_params:,}", f"{delta:.1e}", work)
            for batch in batches:
                rounds = pair.timed(report, batch, pair.calls)
                flat_times, structured_times = rounds.times
                name = f"{title}, {framework}, batch {batch}"
                f = report.record(f"structure: {name}, flat", flat_times, rounds.warmups[0]).median()
                s = report.record(f"structure: {name}, structured", structured_times, rounds.warmups[1]).median()
                low, high = paired_quartiles(structured_times, flat_times)
                extra = median(b - a for a, b in zip(flat_times, structured_times, strict=True))
                result = report.target(
                    "structure",
                    f"{name}: structured ÷ flat",
                    fmt_ratio(s / f),
                    f"≤ {STRUCTURE_RATIO_MAX:g}×",
                    s / f <= STRUCTURE_RATIO_MAX,
                    f"{fmt_time(s)} vs {fmt_time(f)}; paired IQR {low:.2f}–{high:.2f}",
                )
                timing.add_row(
                    title,
                    framework,
                    str(batch),
                    str(len(flat_times)),
                    fmt_time(f),
                    fmt_time(s),
                    fmt_ratio(s / f),
                    f"{low:.2f}–{high:.2f}",
                    ("+" if extra >= 0 else "−") + fmt_time(abs(extra)),
                    f"≤ {STRUCTURE_RATIO_MAX:g}×",
                    result,
                )
                results.append(
                    {
                        "model": key,
                        "framework": framework,
                        "batch": batch,
                        "flat": flat_times,
                        "structured": structured_times,
                        "params": flat_params,
                        "max_delta": delta,
                        **counts,
                    }
                )
    report.console.print(checks)
    report.console.print(timing)
    report.data["structure"] = results
    noise_control(report, pairs)


def noise_control(report: Report, pairs: dict[tuple[str, str], Pair]) -> None:
    """The flat model against a second instance of itself with the same weights (A/A), timed the same way."""
    control = control_table("the flat model", "structured ÷ flat")
    titles = {key: title for key, title, _, _ in STRUCTURE_MODELS}
    controls = []
    for key, batch in CONTROLS[: report.plan.st_controls]:
        for framework in ("torch", "keras"):
            report.progress(f"structure: control, {titles[key]}, {framework}, batch {batch}")
            pair = pairs[key, framework]
            a_times, b_times = pair.timed(report, batch, (pair.calls[0], pair.flat_copy())).times
            controls.append({"model": key, **control_row(control, titles[key], framework, batch, a_times, b_times)})
    report.console.print(control)
    report.data["structure_control"] = controls
