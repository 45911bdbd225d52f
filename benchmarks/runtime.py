"""Section 4, generated code at run time: archdsl's models against the hand-written ones.

The references are in reference_models.py (LeNet-5, a VGG-style stack, a bidirectional-GRU
text model), PyTorch and Keras. Each is first shown to be the same model: the generated
model's parameter count, and its outputs once the generated weights are copied in. Then the
forward passes at batch 1 and 64, generated and reference in turns (`rotated_rounds`), as
many as fit in a time budget; page faults per call; and an A/A control, the reference
against a second instance of itself timed the same way, which shows how far from 1.00 a
ratio strays on noise alone.
"""

from __future__ import annotations

import contextlib
from statistics import median
from typing import Any

from harness import (
    Report,
    control_row,
    control_table,
    fmt_ratio,
    fmt_time,
    import_frameworks,
    native_stderr_silenced,
    new_table,
    paired_quartiles,
    rotated_rounds,
)
from machine import cores

RUNTIME_RATIO_MAX = 1.05  # the target: generated code within 5% of the hand-written
TEXT_STEPS = 100  # tokens per sample fed to the text model
RUNTIME_MODELS = (
    ("lenet5", "LeNet-5", "examples/lenet5.arch"),
    ("vgg_small", "VGG-style", "examples/vgg_small.arch"),
    ("text_bigru", "BiGRU text", "examples/text_bigru.arch"),
)
CONTROLS = (("lenet5", "LeNet-5", 1), ("vgg_small", "VGG-style", 64))


class Frameworks:
    """The loaded frameworks, the inputs of each model and the call that times a Keras model."""

    def __init__(self) -> None:
        self.keras, self.tf, self.torch = import_frameworks()
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(0)
        self.torch.set_num_threads(cores())

    def inputs(self, key: str, framework: str, batch: int):
        np, tf, torch = self.np, self.tf, self.torch
        if key == "text_bigru":
            tokens = self.rng.integers(0, 20000, size=(batch, TEXT_STEPS))
            return torch.from_numpy(tokens).long() if framework == "torch" else tf.constant(tokens.astype("int32"))
        channels = 1 if key == "lenet5" else 3
        image = self.rng.standard_normal((batch, 32, 32, channels)).astype("float32")  # channels last
        if framework == "torch":
            return torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
        return tf.constant(image)

    def keras_call(self, net):
        @self.tf.function(reduce_retracing=True)
        def call(x):
            return net(x, training=False)

        return call

    def context(self, framework: str):
        return self.torch.inference_mode() if framework == "torch" else contextlib.nullcontext()


def reference_models():
    """reference_models.py, beside this file (on sys.path: run.py is the script); it imports both frameworks."""
    with native_stderr_silenced():
        import reference_models as module
    return module


def paired(report: Report, fw: Frameworks, key: str, framework: str, batch: int, runs: int, pair) -> Any:
    """Times (and page faults) of the two models of `pair`, called in turns on the same input."""
    x = fw.inputs(key, framework, batch)
    plan = report.plan
    with fw.context(framework):
        return rotated_rounds(
            [lambda: pair[0](x), lambda: pair[1](x)], plan.rt_warmup, runs, plan.rt_budget_s, plan.rt_max_runs
        )


def same_model(fw: Frameworks, key: str, title: str, framework: str, model) -> tuple[Any, Any, int, float]:
    """The generated and reference callables, once shown to hold the same weights and compute the same."""
    import archdsl

    refs = reference_models()
    if framework == "torch":
        fw.torch.manual_seed(0)
        generated = archdsl.build(model, "torch").eval()
        reference = refs.TORCH_REFERENCES[key]().eval()
        gen_params, ref_params = (sum(p.numel() for p in net.parameters()) for net in (generated, reference))
        assert gen_params == ref_params, f"{title}: generated {gen_params} vs reference {ref_params} parameters"
        state = reference.state_dict()
        assert [v.shape for v in state.values()] == [v.shape for v in generated.state_dict().values()]
        reference.load_state_dict(dict(zip(state, generated.state_dict().values(), strict=True)))
        probe = fw.inputs(key, framework, 4)
        with fw.torch.inference_mode():
            delta = (generated(probe) - reference(probe)).abs().max().item()
        calls = (generated, reference)
    else:
        fw.keras.utils.set_random_seed(0)
        with native_stderr_silenced():
            generated = archdsl.build(model, "keras")
        reference = refs.KERAS_REFERENCES[key]()
        gen_params, ref_params = generated.count_params(), reference.count_params()
        assert gen_params == ref_params, f"{title}: generated {gen_params} vs reference {ref_params} parameters"
        reference.set_weights(generated.get_weights())
        probe = fw.inputs(key, framework, 4)
        outputs = [fw.np.asarray(net(probe, training=False)) for net in (generated, reference)]
        delta = float(fw.np.abs(outputs[0] - outputs[1]).max())
        calls = (fw.keras_call(generated), fw.keras_call(reference))
    assert delta <= 1e-5, f"{title} ({framework}): the reference computes something else (max |Δ| {delta})"
    return calls[0], calls[1], gen_params, delta


def section_runtime(report: Report) -> None:
    import archdsl

    plan = report.plan
    fw = Frameworks()
    checks = new_table(
        "The reference is the same model: parameters, and outputs with the generated model's weights copied in",
        ("model", "left"),
        ("framework", "left"),
        "generated params",
        "reference params",
        "max |Δ output|",
    )
    budget = (
        f"as many as fit in {plan.rt_budget_s:g} s (at least {plan.rt_runs_batch1} at batch 1, "
        f"{plan.rt_runs_batch64} at 64, at most {plan.rt_max_runs})"
        if plan.rt_budget_s > 0
        else f"{plan.rt_runs_batch1} at batch 1, {plan.rt_runs_batch64} at 64"
    )
    timing = new_table(
        "Forward pass: generated against hand-written (median per call)",
        ("model", "left"),
        ("framework", "left"),
        "batch",
        "runs",
        "generated",
        "reference",
        "ratio",
        "paired ratio IQR",
        "page faults per call",
        "target",
        "result",
        caption=(
            f"PyTorch: eval(), torch.inference_mode(), torch.set_num_threads({cores()}). Keras: the same "
            "tf.function(lambda x: model(x, training=False)) for both, traced in the warm-up. Text model: "
            f"{TEXT_STEPS} tokens per sample. Warm-up {plan.rt_warmup} calls, then {budget}, generated and "
            "reference alternating; page faults (minor, median per call, generated / reference) count the fresh "
            "memory a call touches; ratio = generated median ÷ reference median; the paired ratio IQR is the "
            "spread of call-by-call ratios (noise)."
        ),
    )
    results = []
    for key, title, path in RUNTIME_MODELS:
        model = archdsl.load(report.root / path).model()
        for framework in ("torch", "keras"):
            report.progress(f"run time: {title}, {framework}")
            generated, reference, params, delta = same_model(fw, key, title, framework, model)
            checks.add_row(title, framework, f"{params:,}", f"{params:,}", f"{delta:.1e}")
            for batch, runs in ((1, plan.rt_runs_batch1), (64, plan.rt_runs_batch64)):
                rounds = paired(report, fw, key, framework, batch, runs, (generated, reference))
                gen_times, ref_times = rounds.times
                name = f"{title}, {framework}, batch {batch}"
                g = report.record(f"run time: {name}, generated", gen_times, rounds.warmups[0]).median()
                r = report.record(f"run time: {name}, reference", ref_times, rounds.warmups[1]).median()
                low, high = paired_quartiles(gen_times, ref_times)
                result = report.target(
                    "run time",
                    f"{name}: generated ÷ reference",
                    fmt_ratio(g / r),
                    f"≤ {RUNTIME_RATIO_MAX:g}×",
                    g / r <= RUNTIME_RATIO_MAX,
                    f"{fmt_time(g)} vs {fmt_time(r)}",
                )
                faults = f"{median(rounds.faults[0]):,.0f} / {median(rounds.faults[1]):,.0f}"
                timing.add_row(
                    title,
                    framework,
                    str(batch),
                    str(len(gen_times)),
                    fmt_time(g),
                    fmt_time(r),
                    fmt_ratio(g / r),
                    f"{low:.2f}–{high:.2f}",
                    faults,
                    f"≤ {RUNTIME_RATIO_MAX:g}×",
                    result,
                )
                results.append(
                    {
                        "model": key,
                        "framework": framework,
                        "batch": batch,
                        "generated": gen_times,
                        "reference": ref_times,
                        "generated_faults": rounds.faults[0],
                        "reference_faults": rounds.faults[1],
                        "params": params,
                        "max_delta": delta,
                    }
                )
    report.console.print(checks)
    report.console.print(timing)
    report.data["runtime"] = results
    noise_control(report, fw)


def noise_control(report: Report, fw: Frameworks) -> None:
    """Two instances of the same hand-written model, timed the same way (A/A)."""
    plan = report.plan
    refs = reference_models()
    control = control_table("the reference", "generated ÷ reference")
    controls = []
    for key, title, batch in CONTROLS[: plan.rt_controls]:
        runs = plan.rt_runs_batch1 if batch == 1 else plan.rt_runs_batch64
        for framework in ("torch", "keras"):
            report.progress(f"run time: control, {title}, {framework}, batch {batch}")
            if framework == "torch":
                pair = tuple(refs.TORCH_REFERENCES[key]().eval() for _ in range(2))
            else:
                pair = tuple(fw.keras_call(refs.KERAS_REFERENCES[key]()) for _ in range(2))
            a_times, b_times = paired(report, fw, key, framework, batch, runs, pair).times
            controls.append({"model": key, **control_row(control, title, framework, batch, a_times, b_times)})
    report.console.print(control)
    report.data["runtime_control"] = controls
