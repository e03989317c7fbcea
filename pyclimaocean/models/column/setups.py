"""Ready-made column experiments.

* :func:`free_convection`: surface cooling of a linearly stratified column (no wind, no
  rotation).  Theory: with surface buoyancy loss Jᵇ into N², the mixed layer deepens as
  ``h = sqrt(2 (1 + 2A) Jᵇ t / N²)`` with entrainment ratio A ≈ 0.1–0.25 (zero-order jump model,
  Deardorff, Willis & Stockton 1980; see Van Roekel et al. 2018, JAMES 10, 2647–2685).
* :func:`wind_deepening`: wind stress on a rotating stratified column.  Theory: Pollard, Rhines
  & Thompson (1973, Geophys. Fluid Dyn. 4, 381–404): ``h(t) = u★ [4 (1 − cos f t)]^{1/4} /
  sqrt(N f)``, maximal ``2^{3/4} u★ / sqrt(N f)`` at ``f t = π``.
* :func:`seasonal_cycle` / :func:`diurnal_cycle`: periodic heat and shortwave forcing with solar
  penetration.
"""

from __future__ import annotations

from ...closures.catke import CATKELike
from ...fluxes.surface import SolarPenetration, SurfaceForcing
from ...grids.column import ColumnGrid
from ...physics.equation_of_state import LinearEquationOfState
from .model import ColumnModel, InitialConditions

__all__ = ["free_convection", "wind_deepening", "diurnal_cycle", "seasonal_cycle"]


def free_convection(
    nz: int = 64,
    depth: float = 128.0,
    heat_flux: float = -100.0,
    temperature_gradient: float = 0.01,
    dt: float = 600.0,
    closure=None,
    stretching: float = 0.0,
) -> ColumnModel:
    """Cooling by ``heat_flux`` (W m⁻², negative cools) of a column with dT/dz given (K m⁻¹)."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth, stretching=stretching),
        closure=closure if closure is not None else CATKELike(),
        forcing=SurfaceForcing(heat_flux=heat_flux),
        initial_conditions=InitialConditions(temperature_gradient=temperature_gradient),
        equation_of_state=LinearEquationOfState(),
        dt=dt,
    )


def wind_deepening(
    nz: int = 64,
    depth: float = 128.0,
    wind_stress: float = 0.1,
    coriolis_parameter: float = 1e-4,
    temperature_gradient: float = 0.01,
    dt: float = 300.0,
    closure=None,
) -> ColumnModel:
    """Wind stress ``wind_stress`` (N m⁻², eastward) on a rotating, stratified column."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth),
        closure=closure if closure is not None else CATKELike(),
        forcing=SurfaceForcing(wind_stress_x=wind_stress),
        initial_conditions=InitialConditions(temperature_gradient=temperature_gradient),
        coriolis_parameter=coriolis_parameter,
        dt=dt,
    )


def diurnal_cycle(
    nz: int = 64,
    depth: float = 128.0,
    dt: float = 600.0,
    closure=None,
) -> ColumnModel:
    """Diurnal heating (shortwave peaking at 600 W m⁻²) against steady cooling and a light wind."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth, stretching=1.0),
        closure=closure if closure is not None else CATKELike(),
        forcing=SurfaceForcing(
            heat_flux=-150.0,
            shortwave=100.0,
            shortwave_amplitude=-500.0,  # cos phase: night at t = 0, noon at half period
            wind_stress_x=0.05,
            cycle_period=86400.0,
        ),
        initial_conditions=InitialConditions(temperature_gradient=0.01, mixed_layer_depth=20.0),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        dt=dt,
    )


def seasonal_cycle(
    nz: int = 64,
    depth: float = 256.0,
    dt: float = 3600.0,
    closure=None,
) -> ColumnModel:
    """A year of seasonal forcing (net −180 W m⁻² in winter, +180 W m⁻² in summer, zero annual
    mean) with a steady wind and solar penetration."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth, stretching=1.5),
        closure=closure if closure is not None else CATKELike(),
        forcing=SurfaceForcing(
            heat_flux=-120.0,
            heat_flux_amplitude=-80.0,  # winter at t = 0
            shortwave=120.0,
            shortwave_amplitude=-100.0,
            wind_stress_x=0.08,
            cycle_period=365.0 * 86400.0,
        ),
        initial_conditions=InitialConditions(temperature_gradient=0.02, mixed_layer_depth=50.0,
                                             surface_temperature=15.0),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        dt=dt,
    )
