"""The layer table and the binding of written arguments to it."""

from .binding import bind, show
from .spec import ACTIVATIONS, PADDINGS, Arg, BindError, LayerSpec, Params
from .table import LAYER_TABLE, LAYERS, RECURRENT

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "LAYER_TABLE",
    "PADDINGS",
    "RECURRENT",
    "Arg",
    "BindError",
    "LayerSpec",
    "Params",
    "bind",
    "show",
]
