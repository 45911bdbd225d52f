"""Forward time of the PyTorch code with a class per block against the flat code: paired, same run.

A class per block adds one Python call per block call (and nn.Sequential's loop) to each
forward; the question is whether that shows beside the convolutions. Both modules hold the
same weights (copied by path, as verify does); each round times one forward of each, in an
order that alternates, so that drift in the machine (frequency, other processes) falls on
both alike, and the figure is the median of the per-round ratios.

    python benchmarks/structure.py [--rounds N] [--threads T]

Prints one line per model; docs/performance.md keeps the figures of a run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archdsl  # noqa: E402
from archdsl.targets.codegen import emit  # noqa: E402

MODELS = (  # spec, batch
    ("examples/resnet.arch", 32),
    ("examples/transformer_encoder.arch", 32),
    ("examples/vgg_small.arch", 32),
    ("tests/data/resnet50.arch", 2),
)


def _module(source: str):
    namespace: dict = {"__name__": "archdsl_benchmark"}
    exec(compile(source, "<benchmark>", "exec"), namespace)  # noqa: S102
    return namespace["build_model"]().eval()


def paired(spec: str, batch_size: int, rounds: int) -> tuple[float, float, float]:
    """Median forward seconds of the flat and the structured module, and the median per-round ratio."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    import test_targets

    model = archdsl.load(spec).model()
    flat = _module(archdsl.generate(model, "torch", flat=True))
    structured = _module(archdsl.generate(model, "torch"))
    code = emit(model, "torch")
    state = {}
    for key, value in flat.state_dict().items():
        layer, rest = key.split(".", 1)
        state[f"{code.path(layer)}.{rest}"] = value
    structured.load_state_dict(state, strict=True)
    batch = [b.repeat(batch_size // b.shape[0] or 1, *[1] * (b.dim() - 1)) for b in test_targets.torch_batch(model)]
    times: dict[str, list[float]] = {"flat": [], "structured": []}
    with torch.no_grad():
        for net in (flat, structured):
            for _ in range(3):
                net(*batch)  # warm-up: allocator, kernels chosen
        for index in range(rounds):
            order = (("flat", flat), ("structured", structured))
            for name, net in order if index % 2 == 0 else reversed(order):
                start = time.perf_counter()
                net(*batch)
                times[name].append(time.perf_counter() - start)
    ratios = [s / f for s, f in zip(times["structured"], times["flat"], strict=True)]
    return statistics.median(times["flat"]), statistics.median(times["structured"]), statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} paired rounds")
    for spec, batch_size in MODELS:
        flat, structured, ratio = paired(spec, batch_size, args.rounds)
        print(
            f"{spec:38} batch {batch_size:3}  flat {flat * 1e3:8.2f} ms  structured {structured * 1e3:8.2f} ms  "
            f"ratio {ratio:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
