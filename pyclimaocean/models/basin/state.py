"""State pytree of the 3-D basin model."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

__all__ = ["BasinState"]


class BasinState(eqx.Module):
    """Prognostic state of :class:`~pyclimaocean.models.basin.BasinModel` (C-grid locations as
    in :mod:`pyclimaocean.grids.cgrid`).

    Attributes:
        u: ``(nz, ny, nx)`` zonal velocity at U points (m s⁻¹), total (barotropic included).
        v: ``(nz, ny, nx)`` meridional velocity at V points (m s⁻¹).
        T: ``(nz, ny, nx)`` (conservative) temperature at T points (°C).
        S: ``(nz, ny, nx)`` salinity at T points (g kg⁻¹).
        eta: ``(ny, nx)`` free-surface height at T points (m), the filtered (time-averaged)
            value of the barotropic substeps.
        U, V: ``(ny, nx)`` barotropic transports ``∫u dz``, ``∫v dz`` at U and V points
            (m² s⁻¹), filtered; the depth integral of ``u``/``v`` equals them after each step.
        Gu, Gv, GT, GS: explicit tendencies of the previous step (AB2 history; m s⁻², °C s⁻¹,
            g kg⁻¹ s⁻¹).  Unused (zeros) with the RK3 stepper.
        time: model time (s).
        iteration: number of steps taken (the first step is forward Euler).

    Leading axes (a trajectory, an ensemble under ``vmap``) are allowed.
    """

    u: jnp.ndarray
    v: jnp.ndarray
    T: jnp.ndarray
    S: jnp.ndarray
    eta: jnp.ndarray
    U: jnp.ndarray
    V: jnp.ndarray
    Gu: jnp.ndarray
    Gv: jnp.ndarray
    GT: jnp.ndarray
    GS: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray
