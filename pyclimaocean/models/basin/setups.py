"""Ready-made basin configurations: :func:`munk_gyre` (β-plane wind-driven gyre) and
:func:`acc_sector` (spherical sector with a re-entrant southern channel, the geometry of
Veros' ``acc`` setup)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ...grids import CGrid
from ...physics.constants import GRAVITY
from ...physics.equation_of_state import LinearEquationOfState
from .model import BasinMixing, BasinModel, BottomDrag, SurfaceForcing
from .timestepping import substep_weights

__all__ = ["munk_gyre", "acc_sector", "stable_substeps", "VEROS_ACC_DZ"]

#: layer thicknesses of Veros' acc setup, surface to bottom (m): ``ddz / 2.5``
VEROS_ACC_DZ = np.array([50.0, 70.0, 100.0, 140.0, 190.0, 240.0, 290.0, 340.0, 390.0, 440.0,
                         490.0, 540.0, 590.0, 640.0, 690.0]) / 2.5


def stable_substeps(grid: CGrid, dt: float, gravity: float = GRAVITY,
                    courant: float = 0.5) -> int:
    """Smallest substep count whose barotropic step ``Δτ`` keeps the forward–backward gravity
    wave Courant number ``Δτ sqrt(g H) sqrt(1/dx² + 1/dy²)`` below ``courant``."""
    h = float(np.max(np.asarray(grid.hT)))
    inv = np.sqrt(np.asarray(grid.inv_dxT) ** 2 + np.asarray(grid.inv_dyT) ** 2)
    c = math.sqrt(gravity * h) * float(np.max(inv))
    n = 2
    while True:
        _, tau_end = substep_weights(n)
        if dt * tau_end / n * c <= courant:
            return n
        n += 1


def munk_gyre(
    nx: int = 60,
    ny: int | None = None,
    L: float = 1.2e6,
    depth: float = 5000.0,
    nz: int = 1,
    f0: float = 1e-4,
    beta: float = 1e-11,
    wind_stress: float = 0.1,
    viscosity: float = 400.0,
    dt: float = 1200.0,
    n_substeps: int | None = None,
    reference_density: float = 1000.0,
    momentum_advection: bool = False,
    linear_drag: float = 0.0,
    no_slip: bool = False,
    **kwargs,
) -> BasinModel:
    """Munk (1950) gyre as MITgcm's ``tutorial_barotropic_gyre``: a closed ``L × L`` β-plane
    box of depth ``H`` driven by ``τ_x = −τ₀ cos(π y / L)`` with Laplacian viscosity.

    Theory: western boundary layer width ``δ_M = (A_h/β)^{1/3}`` (34.2 km for the defaults)
    and Sverdrup transport ``τ₀ π L_x / (ρ₀ β L_y)`` (31.4 Sv with ρ₀ = 1000 kg m⁻³).
    ``momentum_advection=False`` (default) solves the linear problem of the theory.
    ``no_slip`` selects no-slip walls (default free slip, as the tutorial).
    Extra keyword arguments go to :class:`BasinModel`.
    """
    ny = nx if ny is None else ny
    grid = CGrid.beta_plane(L, L, nx, ny, nz=nz, total_depth=depth, f0=f0, beta=beta)
    shape = -np.cos(np.pi * np.asarray(grid.yT) / L)[:, None] * np.ones((ny, nx))
    n_substeps = stable_substeps(grid, dt) if n_substeps is None else n_substeps
    return BasinModel(
        grid, dt, n_substeps,
        mixing=BasinMixing(horizontal_viscosity=viscosity, vertical_viscosity=1e-4,
                           vertical_diffusivity=1e-5, no_slip=no_slip),
        drag=BottomDrag(linear=linear_drag),
        forcing=SurfaceForcing(wind_stress_amplitude=wind_stress,
                               wind_stress_x_shape=jnp.asarray(shape)),
        momentum_advection=momentum_advection,
        reference_density=reference_density,
        **kwargs,
    )


def acc_sector(
    dlon: float = 2.0,
    dlat: float = 2.0,
    dt: float = 3600.0,
    n_substeps: int | None = None,
    z_faces=None,
    wind_stress: float = 0.1,
    restoring_days: float = 30.0,
    horizontal_viscosity: float | None = None,
    horizontal_diffusivity: float = 1000.0,
    vertical_viscosity: float = 1e-3,
    vertical_diffusivity: float = 2e-5,
    linear_drag: float = 1e-5,
    convective_diffusivity: float | None = None,
    no_slip: bool = False,
    **kwargs,
) -> BasinModel:
    """Spherical sector 0–60°E × 40°S–44°N with a zonally re-entrant channel south of 20°S and
    a one-cell land wall at the western edge north of it, on 15 levels to 2080 m: the geometry,
    levels, wind, SST restoring, viscosity and bottom drag of Veros' ``acc`` setup
    (``veros/setups/acc/acc.py``; adapted from pyOM2).

    Differences (stage 1 of the basin core): no GM/isopycnal mixing or TKE closure — a
    constant horizontal diffusivity (``K_gm_0 = K_iso_0 = 1000`` m² s⁻¹ there) and constant
    vertical coefficients stand in; a linear equation of state; one time step for momentum
    and tracers.

    Forcing (Veros): ``τ_x = τ₀ sin(π (y + 39) / 19)`` for ``y < −20°``,
    ``τ₀ (1 − cos(2π (y − 10) / 33))`` for ``y > 10°`` (τ₀ = 0.1 N m⁻²), SST restored over
    ``restoring_days`` to ``T* = 15 °C`` (linear to 0 °C toward both ends poleward of 20°S /
    20°N); initial ``T = 15 (1 − z / z_b)`` with ``z_b`` the top of the bottom cell, S = 35.
    Laplacian viscosity ``A_h = (2° · a π/180)³ × 2e-11`` m² s⁻¹ scaled by ``cos φ``.
    ``convective_diffusivity`` (m² s⁻¹, e.g. 1) turns on the smooth convection scheme of
    :class:`BasinMixing` (default off); ``no_slip`` selects no-slip walls (default free
    slip).
    """
    if z_faces is None:
        z_faces = np.concatenate([[0.0], -np.cumsum(VEROS_ACC_DZ)])[::-1]
    grid0 = CGrid.spherical(0.0, 60.0, -40.0, 44.0, dlon, dlat, z_faces)
    x, y = np.meshgrid(np.asarray(grid0.xT), np.asarray(grid0.yT))
    land = (x <= float(grid0.xT[0])) & (y >= -20.0)  # the first column (x_t = 1° at 2°)
    depth = np.where(land, 0.0, -float(grid0.z_faces[0]))
    grid = CGrid.spherical(0.0, 60.0, -40.0, 44.0, dlon, dlat, z_faces, depth=depth,
                           periodic_x=True)
    yt = np.asarray(grid.yT)
    y_min, y_max = yt.min(), yt.max()
    taux = np.zeros_like(yt)
    taux = np.where(yt < -20, np.sin(np.pi * (yt - y_min) / (-20.0 - y_min)), taux)
    taux = np.where(yt > 10, 1 - np.cos(2 * np.pi * (yt - 10.0) / (y_max - 10.0)), taux)
    t_star = np.full_like(yt, 15.0)
    t_star = np.where(yt < -20, 15 * (yt - y_min) / (-20 - y_min), t_star)
    t_star = np.where(yt > 20, 15 * (1 - (yt - 20) / (y_max - 20)), t_star)
    ones = np.ones((grid.ny, grid.nx))
    zc = np.asarray(grid.z_centers)
    z_b = float(grid.z_faces[1])
    T0 = (1 - zc / z_b)[:, None, None] * 15.0 * np.ones(grid.shape)
    if horizontal_viscosity is None:
        degtom = grid.radius * np.pi / 180.0
        horizontal_viscosity = (2 * degtom) ** 3 * 2e-11
    n_substeps = stable_substeps(grid, dt) if n_substeps is None else n_substeps
    return BasinModel(
        grid, dt, n_substeps,
        mixing=BasinMixing(horizontal_viscosity=horizontal_viscosity,
                           horizontal_diffusivity=horizontal_diffusivity,
                           vertical_viscosity=vertical_viscosity,
                           vertical_diffusivity=vertical_diffusivity, viscosity_cos_power=1,
                           convective_diffusivity=convective_diffusivity, no_slip=no_slip),
        drag=BottomDrag(linear=linear_drag),
        forcing=SurfaceForcing(
            wind_stress_amplitude=wind_stress,
            wind_stress_x_shape=jnp.asarray(taux[:, None] * ones),
            restoring_rate=1.0 / (restoring_days * 86400.0),
            restoring_temperature=jnp.asarray(t_star[:, None] * ones),
        ),
        equation_of_state=LinearEquationOfState(),
        initial_temperature=jnp.asarray(T0),
        initial_salinity=35.0,
        **kwargs,
    )
