"""Importing the frameworks, only when code is built or verified, without their start-up chatter.

TensorFlow's native logger prints several lines at import (oneDNN notices,
missing CUDA drivers) that drown archdsl's own output; they are not errors.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real file descriptor (a notebook, a test capture)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras():
    """The keras module, TensorFlow backend, imported quietly."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with native_stderr_silenced():
        import keras as module
    return module


def torch():
    import torch as module

    return module
