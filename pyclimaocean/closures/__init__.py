"""Vertical mixing closures: one interface, :class:`AbstractClosure`, for physical and neural
closures (``diffusivities(ctx) -> (viscosity, diffusivity)`` at interior faces).

* :class:`ConstantDiffusivity`, :class:`ConvectiveAdjustment`,
  :class:`RichardsonNumberClosure` (simple closures);
* :class:`CATKELike` (prognostic TKE, after Wagner et al. 2025);
* :class:`NeuralDiffusivityClosure` (an equinox MLP of local nondimensional features).

Any of them goes into ``ColumnModel(closure=...)``.
"""

from .base import AbstractClosure, ColumnContext
from .catke import CATKELike
from .neural import FEATURE_NAMES, FeatureScales, NeuralDiffusivityClosure
from .simple import ConstantDiffusivity, ConvectiveAdjustment, RichardsonNumberClosure

__all__ = [
    "AbstractClosure",
    "ColumnContext",
    "CATKELike",
    "ConstantDiffusivity",
    "ConvectiveAdjustment",
    "RichardsonNumberClosure",
    "NeuralDiffusivityClosure",
    "FeatureScales",
    "FEATURE_NAMES",
]
