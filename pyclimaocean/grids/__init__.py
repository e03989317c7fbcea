"""Grids: the vertical grid of a column (:class:`ColumnGrid`) and the Arakawa C-grid of the
3-D basin model (:class:`CGrid`)."""

from .cgrid import CGrid
from .column import ColumnGrid

__all__ = ["CGrid", "ColumnGrid"]
