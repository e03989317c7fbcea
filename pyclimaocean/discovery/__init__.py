"""Equation discovery: libraries of candidate terms and sparse regression (STLSQ).

See ``docs/lorenz96_assimilation.md`` (section "Equation discovery") and
``examples/l96_discovery.py``.
"""

from .library import ShiftedPolynomialLibrary
from .regression import stlsq
from .sparse_model import FitQuality, SparseModel, finite_difference_derivative, fit_sparse_model

__all__ = [
    "ShiftedPolynomialLibrary",
    "stlsq",
    "FitQuality",
    "SparseModel",
    "finite_difference_derivative",
    "fit_sparse_model",
]
