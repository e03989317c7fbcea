"""Single-column ocean model (pure JAX, float64).  See :class:`ColumnModel`."""

from . import setups
from .model import ColumnModel, InitialConditions, InitialProfiles, mixed_layer_depth
from .state import ColumnState

__all__ = [
    "ColumnModel",
    "ColumnState",
    "InitialConditions",
    "InitialProfiles",
    "mixed_layer_depth",
    "setups",
]
