"""Fit sparse, translation-equivariant models of lattice dynamics and closures.

:func:`fit_sparse_model` regresses a per-site target (a time derivative, or a subgrid
forcing) on a :class:`~.library.ShiftedPolynomialLibrary` with one coefficient vector shared
by all sites, using STLSQ.  :func:`finite_difference_derivative` gives time derivatives from
trajectories when the exact tendency is not available.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .library import ShiftedPolynomialLibrary
from .regression import stlsq

__all__ = ["SparseModel", "FitQuality", "fit_sparse_model", "finite_difference_derivative"]


def finite_difference_derivative(traj: jnp.ndarray, dt: float, order: int = 4) -> jnp.ndarray:
    """Central finite-difference time derivative of a trajectory.

    Args:
        traj: ``(T, ...)`` states sampled every ``dt``.
        dt: sampling interval.
        order: 2 (``(x_{t+1} - x_{t-1}) / 2dt``) or 4
            (``(-x_{t+2} + 8x_{t+1} - 8x_{t-1} + x_{t-2}) / 12dt``).

    Returns:
        ``(T - order, ...)`` derivatives at times ``order/2 .. T-1-order/2`` of ``traj``.
    """
    x = jnp.asarray(traj)
    if order == 2:
        return (x[2:] - x[:-2]) / (2 * dt)
    if order == 4:
        return (-x[4:] + 8 * x[3:-1] - 8 * x[1:-3] + x[:-4]) / (12 * dt)
    raise ValueError(f"order must be 2 or 4, got {order!r}")


@dataclass(frozen=True)
class FitQuality:
    """Goodness of fit on the training data.

    Attributes:
        r2: coefficient of determination 1 - SS_res / SS_tot.
        rmse: root-mean-square residual (units of the target).
        target_std: standard deviation of the target.
        n_terms: number of non-zero coefficients.
    """

    r2: float
    rmse: float
    target_std: float
    n_terms: int


class SparseModel(eqx.Module):
    """Sparse per-site model ``target_k = sum_i xi_i theta_i(x)_k`` (same xi for every k).

    Attributes:
        library: the candidate-term library.
        coefficients: ``(n_terms,)``, zeros for discarded terms.
    """

    library: ShiftedPolynomialLibrary
    coefficients: jnp.ndarray

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        """Evaluate at every site: ``(..., n) -> (..., n)``."""
        return self.library(x) @ self.coefficients

    def tendency(self, x: jnp.ndarray) -> jnp.ndarray:
        """Alias of ``__call__`` for use with ``simulate`` / ``rk4_step``."""
        return self(x)

    def active_terms(self, tol: float = 0.0) -> dict[str, float]:
        """``{term name: coefficient}`` of the non-zero terms."""
        c = np.asarray(self.coefficients)
        return {n: float(v) for n, v in zip(self.library.names, c, strict=True) if abs(v) > tol}

    def equation(self, lhs: str = "dx[k]/dt", digits: int = 4) -> str:
        """Readable equation, e.g. ``dx[k]/dt = 8 - 1 x[k] + 1 x[k-1]*x[k+1] - ...``."""
        parts = []
        for name, v in self.active_terms().items():
            coef = f"{abs(v):.{digits}g}"
            term = coef if name == "1" else f"{coef} {name}"
            parts.append(("- " if v < 0 else "+ ") + term)
        rhs = " ".join(parts).lstrip("+ ") if parts else "0"
        return f"{lhs} = {rhs}"


def fit_sparse_model(
    states: jnp.ndarray,
    target: jnp.ndarray,
    library: ShiftedPolynomialLibrary,
    threshold: float = 0.05,
    ridge: float = 0.0,
    normalize_columns: bool = False,
    max_iterations: int = 20,
) -> tuple[SparseModel, FitQuality]:
    """Fit one sparse coefficient vector shared by all lattice sites (STLSQ).

    Args:
        states: ``(T, n)`` samples of the periodic field.
        target: ``(T, n)`` per-site values to explain (dx/dt or a subgrid forcing).
        library: candidate terms.
        threshold, ridge, normalize_columns, max_iterations: see :func:`.regression.stlsq`.

    Returns:
        ``(model, quality)``.
    """
    states = jnp.asarray(states)
    target = jnp.asarray(target)
    if states.shape != target.shape or states.ndim != 2:
        raise ValueError(
            f"states and target must both be (T, n); got {states.shape} and {target.shape}"
        )
    theta = library(states).reshape(-1, library.n_terms)
    y = target.reshape(-1)
    xi = stlsq(theta, y, threshold, ridge, max_iterations, normalize_columns)
    model = SparseModel(library, xi)
    resid = np.asarray(theta @ xi - y)
    y_np = np.asarray(y)
    ss_tot = float(np.sum((y_np - y_np.mean()) ** 2))
    quality = FitQuality(
        r2=1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan"),
        rmse=float(np.sqrt(np.mean(resid**2))),
        target_std=float(y_np.std()),
        n_terms=int(np.count_nonzero(np.asarray(xi))),
    )
    return model, quality
