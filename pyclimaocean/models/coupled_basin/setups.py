"""The idealised high-latitude configuration of the coupled basin: :func:`polar_basin`."""

from __future__ import annotations

import numpy as np

from ...fluxes.bulk import (
    CoefficientBasedFluxes,
    IceSaturationHumidity,
    SimilarityTheoryFluxes,
)
from ...grids import CGrid
from ...physics.equation_of_state import LinearEquationOfState
from ..basin import BasinMixing, BasinModel, BottomDrag, stable_substeps
from ..coupled.forcing import arctic_atmosphere
from ..seaice import IceDynamics, SlabSeaIceThermodynamics
from .atmosphere import GriddedAtmosphere
from .exchange import BasinAirSeaIceExchange
from .model import CoupledBasin

__all__ = ["FLUX_FORMULATIONS", "bulk_fluxes", "polar_basin"]

#: bulk-flux formulations of the exchange
FLUX_FORMULATIONS = ("coefficient", "similarity_theory")
DAY = 86400.0


def bulk_fluxes(kind: str = "coefficient"):
    """``(over open water, over ice)`` bulk formulations.

    * ``"coefficient"``: constant transfer coefficients
      (:class:`~pyclimaocean.fluxes.CoefficientBasedFluxes`): C_D = 1.3e-3, C_H = C_E = 1.2e-3
      over water; C_D = C_H = C_E = 1.5e-3 over ice with saturation over ice and the latent
      heat of sublimation (2.834e6 J kg⁻¹).  Cheap to compile and differentiate.
    * ``"similarity_theory"``: COARE 3.6 over water and the over-ice similarity theory, as the
      coupled column (:class:`~pyclimaocean.fluxes.SimilarityTheoryFluxes`).
    """
    if kind == "coefficient":
        return (CoefficientBasedFluxes(drag_coefficient=1.3e-3,
                                       sensible_heat_transfer_coefficient=1.2e-3,
                                       latent_heat_transfer_coefficient=1.2e-3),
                CoefficientBasedFluxes(drag_coefficient=1.5e-3,
                                       sensible_heat_transfer_coefficient=1.5e-3,
                                       latent_heat_transfer_coefficient=1.5e-3,
                                       surface_humidity=IceSaturationHumidity(),
                                       latent_heat=2.834e6, latent_heat_slope=0.0))
    if kind == "similarity_theory":
        return SimilarityTheoryFluxes(), SimilarityTheoryFluxes.over_ice()
    raise ValueError(f"fluxes = {kind!r} is not supported. Supported bulk-flux formulations "
                     f"are: {', '.join(FLUX_FORMULATIONS)}")


def polar_basin(
    dlon: float = 4.0,
    dlat: float = 2.0,
    nz: int = 6,
    depth: float = 1000.0,
    dt: float = 3600.0,
    n_substeps: int | None = None,
    time_stepper: str = "rk3",
    start_day: float = 270.0,
    easterly_wind: float = 6.0,
    northerly_wind: float = 3.0,
    temperature_gradient: float = 0.6,
    initial_ice_thickness: float = 1.5,
    initial_concentration: float = 0.95,
    ice_edge_latitude: float = 74.0,
    fluxes: str = "coefficient",
    ice_substeps: int = 100,
    ice_free_drift: bool = False,
    horizontal_viscosity: float = 5e4,
    horizontal_diffusivity: float = 500.0,
    thermodynamics: SlabSeaIceThermodynamics | None = None,
) -> CoupledBasin:
    """An idealised Arctic marginal sea: 0–40°E × 62–82°N, ``depth`` m on ``nz`` levels
    (stretched toward the surface), closed by walls, with a land block in the south-east
    (east of 28°E, south of 68°N) and a one-cell island.

    * Ocean (:class:`~pyclimaocean.models.basin.BasinModel`, linear equation of state):
      a fresh, cold surface layer over a warm, salty Atlantic-like layer —
      ``S = 34.8 − 1.8 e^{z/100}`` g kg⁻¹, ``T = 0.5 + (T_s(φ) − 0.5) e^{z/100}`` °C with
      ``T_s`` from −1.7 °C at 82°N to +2 °C at 62°N; at rest.  Laplacian viscosity and
      diffusivity, implicit vertical mixing with the smooth convection scheme (κ_c = 1 m²
      s⁻¹) so that brine rejection and surface cooling overturn the mixed layer; the RK3
      time stepper (quasi-AB2 with Δt = 1 h is unstable at these latitudes, f Δt ≈ 0.5).
    * Ice: ``initial_ice_thickness`` at ``initial_concentration`` north of
      ``ice_edge_latitude``; EVP rheology (Hibler P* = 27 500 N m⁻², C = 20, e = 2;
      ``ice_substeps`` mEVP substeps with α = β = 100), or free drift.
    * Atmosphere (:class:`GriddedAtmosphere`): the idealised Arctic climatology of the
      coupled column (Semtner 1976 radiation, MU71 snowfall, idealised air temperature) at
      82°N, warmer by ``temperature_gradient`` K per degree southward; easterlies
      ``−easterly_wind sin(π (φ − 62°)/20°)`` and a uniform northerly ``−northerly_wind``
      (m s⁻¹) that push the ice south, toward warmer air and water; the clock starts on
      ``start_day`` of the 360-day climatology (270: early October, freeze-up).
    """
    lon0, lon1, lat0, lat1 = 0.0, 40.0, 62.0, 82.0
    grid0 = CGrid.spherical(lon0, lon1, lat0, lat1, dlon, dlat, nz=nz, total_depth=depth,
                            stretching=2.0)
    x, y = np.meshgrid(np.asarray(grid0.xT), np.asarray(grid0.yT))
    land = (x > 28.0) & (y < 68.0)
    ix, iy = int(np.argmin(np.abs(grid0.xT - 10.0))), int(np.argmin(np.abs(grid0.yT - 76.0)))
    land[iy, ix] = True
    grid = CGrid.spherical(lon0, lon1, lat0, lat1, dlon, dlat, nz=nz, total_depth=depth,
                           stretching=2.0, depth=np.where(land, 0.0, depth))
    z = np.asarray(grid.z_centers)[:, None, None]
    t_surface = -1.7 + 3.7 * (lat1 - y) / (lat1 - lat0)
    decay = np.exp(z / 100.0)
    T0 = 0.5 + (t_surface[None] - 0.5) * decay
    S0 = 34.8 - 1.8 * decay * np.ones_like(T0)
    n_substeps = stable_substeps(grid, dt) if n_substeps is None else n_substeps
    ocean = BasinModel(
        grid, dt, n_substeps,
        mixing=BasinMixing(horizontal_viscosity=horizontal_viscosity,
                           horizontal_diffusivity=horizontal_diffusivity,
                           vertical_viscosity=1e-3, vertical_diffusivity=1e-5,
                           convective_diffusivity=1.0),
        drag=BottomDrag(linear=1e-6),
        equation_of_state=LinearEquationOfState(),
        initial_temperature=T0, initial_salinity=S0, time_stepper=time_stepper)
    yT = np.asarray(grid.yT)[:, None] * np.ones((grid.ny, grid.nx))
    atmosphere = GriddedAtmosphere(
        base=arctic_atmosphere(), latitude=yT,
        wind_u=-easterly_wind * np.sin(np.pi * (yT - lat0) / (lat1 - lat0)),
        wind_v=-northerly_wind * np.ones_like(yT),
        temperature_gradient=temperature_gradient, reference_latitude=lat1,
        start_time=start_day * DAY)
    water, ice = bulk_fluxes(fluxes)
    dynamics = IceDynamics(grid, substeps=ice_substeps, alpha=100.0, beta=100.0,
                           free_drift=ice_free_drift)
    north = (yT > ice_edge_latitude).astype(float)
    return CoupledBasin(
        ocean=ocean, atmosphere=atmosphere, thermodynamics=thermodynamics,
        dynamics=dynamics,
        exchange=BasinAirSeaIceExchange(ocean_fluxes=water, ice_fluxes=ice,
                                        ocean_density=ocean.reference_density),
        initial_ice_thickness=initial_ice_thickness * north,
        initial_concentration=initial_concentration * north,
        initial_snow_thickness=0.05 * north)
