"""Regenerate the golden files: `make golden` (or `python -m tests.golden_update`).

The golden files in tests/golden/ hold the exact code archdsl generates for a
few examples, one file per example and target (`card_cnn.keras.py`,
`card_cnn.torch.py`, ...). tests/test_golden.py compares the current output to
them, so any change to the generated code shows up as a diff to review: run
this after an intended change and commit the new files with it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
EXAMPLES = ("card_cnn", "card_rnn", "lenet5", "resnet", "text_bigru", "autoencoder", "transformer_encoder", "vgg_small")
TARGETS = ("keras", "torch")


def golden_path(example: str, target: str) -> Path:
    return GOLDEN_DIR / f"{example}.{target}.py"


def current_source(example: str, target: str) -> str:
    """What archdsl generates now; the spec is named as the CLI run from the repo root names it."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import archdsl

    spec = f"examples/{example}.arch"
    program = archdsl.parse((REPO / spec).read_text(encoding="utf-8"), spec)
    return archdsl.generate(program.model(), target)


def update() -> list[Path]:
    """Write every golden file whose contents changed; the paths written."""
    GOLDEN_DIR.mkdir(exist_ok=True)
    written = []
    for example in EXAMPLES:
        for target in TARGETS:
            path = golden_path(example, target)
            source = current_source(example, target)
            if not path.exists() or path.read_text(encoding="utf-8") != source:
                path.write_text(source, encoding="utf-8", newline="\n")
                written.append(path)
    return written


def main() -> int:
    written = update()
    for path in written:
        print(f"updated {path.relative_to(REPO)}")
    total = len(EXAMPLES) * len(TARGETS)
    print(f"{len(written)} of {total} golden files changed" + ("; review them with git diff" if written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
