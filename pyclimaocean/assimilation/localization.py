"""Covariance localisation: Gaspari-Cohn taper and periodic distances."""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["gaspari_cohn", "periodic_distance", "localization_weights"]


def gaspari_cohn(r: jnp.ndarray) -> jnp.ndarray:
    """Gaspari & Cohn (1999, QJRMS 125, eq. 4.10) fifth-order compactly supported taper.

    Args:
        r: distance divided by the half-width c (any shape); the taper is 1 at r = 0 and
            exactly 0 for r >= 2.

    Returns:
        taper values in [0, 1], same shape as ``r``.
    """
    r = jnp.abs(jnp.asarray(r, dtype=float))
    safe_r = jnp.where(r > 0, r, 1.0)
    inner = -0.25 * r**5 + 0.5 * r**4 + 0.625 * r**3 - (5.0 / 3.0) * r**2 + 1.0
    outer = (r**5 / 12.0 - 0.5 * r**4 + 0.625 * r**3 + (5.0 / 3.0) * r**2 - 5.0 * r + 4.0) - 2.0 / (
        3.0 * safe_r
    )
    return jnp.where(r <= 1.0, inner, jnp.where(r < 2.0, outer, 0.0))


def periodic_distance(a: jnp.ndarray, b: jnp.ndarray, length: float) -> jnp.ndarray:
    """Distance on a ring of circumference ``length``: ``min(|a-b| mod L, L - |a-b| mod L)``."""
    d = jnp.mod(jnp.abs(jnp.asarray(a, dtype=float) - jnp.asarray(b, dtype=float)), length)
    return jnp.minimum(d, length - d)


def localization_weights(
    grid: jnp.ndarray, obs_positions: jnp.ndarray, radius: float, length: float
) -> jnp.ndarray:
    """Gaspari-Cohn weights ``(n_grid, p)`` between grid points and observations.

    Args:
        grid: ``(n_grid,)`` grid coordinates.
        obs_positions: ``(p,)`` observation coordinates.
        radius: GC half-width c (grid units); weights vanish beyond 2c.  DAPPER's
            ``loc_rad`` corresponds to ``c = 1.82 * loc_rad``.
        length: period of the domain (n for Lorenz-96).
    """
    d = periodic_distance(grid[:, None], obs_positions[None, :], length)
    return gaspari_cohn(d / radius)
