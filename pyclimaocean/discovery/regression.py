"""Sequentially thresholded least squares (STLSQ; Brunton, Proctor & Kutz 2016, PNAS 113).

Solve ``Theta xi ~ y`` for a sparse ``xi``: least squares (optionally ridge-regularised),
set coefficients with ``|xi_i| < threshold`` to zero, refit on the remaining terms, repeat
until the support stops changing.  Same algorithm as pysindy's ``STLSQ``; written here with
``jax.numpy`` because the shared-coefficient (translation-equivariant) lattice fit stacks all
sites into one regression, which pysindy's per-variable libraries do not express directly.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["stlsq"]


def stlsq(
    theta: jnp.ndarray,
    target: jnp.ndarray,
    threshold: float,
    ridge: float = 0.0,
    max_iterations: int = 20,
    normalize_columns: bool = False,
) -> jnp.ndarray:
    """Sparse coefficients by sequentially thresholded least squares.

    Args:
        theta: library matrix ``(m, p)`` (m samples, p candidate terms).
        target: ``(m,)`` values to explain (e.g. time derivatives).
        threshold: coefficients with ``|xi| < threshold`` are removed (in the units of the
            coefficients, or of the column-normalised problem with ``normalize_columns``).
        ridge: Tikhonov parameter alpha of ``||Theta xi - y||^2 + alpha ||xi||^2``.
        max_iterations: maximal number of threshold / refit sweeps.
        normalize_columns: scale columns to unit RMS before fitting (thresholds then act on
            the contribution of each term rather than its raw coefficient).

    Returns:
        ``(p,)`` coefficients with exact zeros for removed terms; every nonzero one has
        ``|xi| >= threshold`` (in the normalised units with ``normalize_columns``), also when
        the sweeps stop at ``max_iterations``.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold!r}")
    theta = np.asarray(theta, dtype=float)
    target = np.asarray(target, dtype=float)
    if theta.ndim != 2 or target.shape != (theta.shape[0],):
        raise ValueError(
            f"theta must be (m, p) and target (m,); got {theta.shape} and {target.shape}"
        )
    scale = np.sqrt(np.mean(theta**2, axis=0)) if normalize_columns else np.ones(theta.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    a = theta / scale

    def solve(cols):
        sub = a[:, cols]
        lhs = sub.T @ sub + ridge * np.eye(sub.shape[1])
        return np.linalg.lstsq(lhs, sub.T @ target, rcond=None)[0]

    support = np.ones(a.shape[1], dtype=bool)
    xi = np.zeros(a.shape[1])
    xi[support] = solve(support)
    for _ in range(max_iterations):
        new_support = np.abs(xi) >= threshold
        if not new_support.any():
            xi[:] = 0.0
            break
        if np.array_equal(new_support, support):
            break
        support = new_support
        xi = np.zeros(a.shape[1])
        xi[support] = solve(support)
    # stopping at max_iterations right after a refit can leave coefficients below threshold
    xi[np.abs(xi) < threshold] = 0.0
    return jnp.asarray(xi / scale)
