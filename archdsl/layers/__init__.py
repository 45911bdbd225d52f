"""The layer table and the binding of written arguments to it."""

from archdsl.layers.binding import bind, show
from archdsl.layers.spec import ACTIVATIONS, PADDINGS, Arg, BindError, LayerSpec, Params
from archdsl.layers.table import LAYER_TABLE, LAYERS

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "LAYER_TABLE",
    "PADDINGS",
    "Arg",
    "BindError",
    "LayerSpec",
    "Params",
    "bind",
    "show",
]
