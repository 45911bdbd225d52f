"""Pausing Python's cyclic garbage collector while a pass builds many objects.

The passes allocate tens of thousands of small objects (syntax nodes, layers, lines of
code) and free none of them until they return, and none of them form cycles that need
the collector. With the collector on, every 700 allocations trigger a collection and
the older generations are rescanned again and again, which made a 10,000-layer model
cost 34-41 % more and grow faster than linearly (docs/performance.md). Reference
counting still frees everything as usual.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic collection inside; the caller's setting is restored on the way out."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
