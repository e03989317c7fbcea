"""Grids: the vertical grid of a column (:class:`ColumnGrid`)."""

from .column import ColumnGrid

__all__ = ["ColumnGrid"]
