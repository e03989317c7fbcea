r"""Equation discovery of a QG momentum closure: sparse regression (STLSQ) of coarse-grained
momentum subgrid forcings on the velocity-gradient library of
:mod:`pyclimaocean.models.qg.gradient_library`, as Zanna & Bolton (2020, GRL, "Data-driven
equation discovery of ocean mesoscale closures") did with relevance vector machines.

The regression is rotation-covariant by construction: one coefficient per *vector* term, the
``x`` and ``y`` components of every layer, grid point and snapshot stacked as samples of one
least-squares problem ``Θ ξ ≈ (S_u, S_v)``.  Columns are normalised to unit RMS before
thresholding (``threshold`` is then the smallest kept contribution relative to the target's
RMS, see :func:`pyclimaocean.discovery.stlsq`), and the kept terms are refitted by plain least
squares.  :func:`discover_momentum_closure` returns the coefficients (SI units, see
:data:`~pyclimaocean.models.qg.gradient_library.TERM_UNITS`), the fit quality and the
:class:`~pyclimaocean.models.qg.gradient_library.SparseMomentumClosure` they define.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..models.qg import TwoLayerQG
from ..models.qg.gradient_library import TERMS, SparseMomentumClosure, gradient_terms
from .regression import stlsq

__all__ = ["DiscoveredClosure", "discover_momentum_closure", "library_matrix"]


@dataclass(frozen=True)
class DiscoveredClosure:
    """Result of :func:`discover_momentum_closure`.

    Attributes:
        coefficients: ``{term: coefficient}`` of every library term (0 for removed ones; SI).
        r2: coefficient of determination of the sparse fit on the data.
        r2_full: the same of the dense least-squares fit on all terms (an upper bound).
        closure: the :class:`SparseMomentumClosure` of the kept terms (``None`` if none).
    """

    coefficients: dict[str, float]
    r2: float
    r2_full: float
    closure: SparseMomentumClosure | None

    @property
    def active(self) -> dict[str, float]:
        return {n: c for n, c in self.coefficients.items() if c != 0.0}


def library_matrix(model: TwoLayerQG, q, names=TERMS) -> np.ndarray:
    """``Θ`` ``(2 × samples × 2 × ny × nx, n_terms)``: the library terms of coarse PV snapshots
    ``q`` ``(samples, 2, ny, nx)`` (s⁻¹), x components then y components, in the order of
    ``names``."""
    q = jnp.asarray(q)

    @jax.jit
    def one(qs):
        terms = gradient_terms(model.fields(model.fft(qs)), names)
        return jnp.stack([jnp.stack([terms[n][0] for n in names], -1),
                          jnp.stack([terms[n][1] for n in names], -1)])

    cols = jax.lax.map(one, q)  # (samples, 2 components, 2, ny, nx, n_terms)
    cols = jnp.moveaxis(cols, 1, 0)
    return np.asarray(cols).reshape(-1, len(names))


def _r2(theta, xi, y) -> float:
    resid = theta @ xi - y
    return 1.0 - float(np.sum(resid**2) / np.sum((y - y.mean()) ** 2))


def discover_momentum_closure(model: TwoLayerQG, q, u_forcing, v_forcing, *,
                              names=TERMS, threshold: float = 0.05,
                              max_iterations: int = 20) -> DiscoveredClosure:
    """Sparse regression of the momentum subgrid forcing on the library (module docstring).

    Args:
        model: the coarse model (grid for the spectral derivatives).
        q: coarse-grained PV ``(samples, 2, ny, nx)`` (s⁻¹).
        u_forcing, v_forcing: momentum subgrid forcing ``(S_u, S_v)``, same shape (m s⁻²),
            e.g. ``u_forcing`` / ``v_forcing`` of :func:`pyclimaocean.models.qg.coarse_grain`.
        names: library terms to offer.
        threshold: STLSQ threshold on the column-normalised coefficients, relative to the RMS of
            the target (a term whose contribution is below ``threshold`` × RMS is removed).
        max_iterations: STLSQ sweeps.
    """
    q = np.asarray(q, dtype=float)
    su, sv = np.asarray(u_forcing, dtype=float), np.asarray(v_forcing, dtype=float)
    if q.ndim != 4 or su.shape != q.shape or sv.shape != q.shape:
        raise ValueError(f"q {q.shape}, u_forcing {su.shape}, v_forcing {sv.shape} must all be "
                         "(samples, 2, ny, nx)")
    theta = library_matrix(model, q, names)
    y = np.concatenate([su.reshape(-1), sv.reshape(-1)])
    scale = float(np.sqrt(np.mean(y**2)))
    if not scale > 0:
        raise ValueError("the momentum forcing is identically zero: nothing to discover")
    xi = np.asarray(stlsq(theta, y / scale, threshold, max_iterations=max_iterations,
                          normalize_columns=True)) * scale
    dense = np.linalg.lstsq(theta, y, rcond=None)[0]
    coefficients = {n: float(c) for n, c in zip(names, xi, strict=True)}
    kept = {n: c for n, c in coefficients.items() if c != 0.0}
    return DiscoveredClosure(coefficients=coefficients, r2=_r2(theta, xi, y),
                             r2_full=_r2(theta, dense, y),
                             closure=SparseMomentumClosure(**kept) if kept else None)
