"""The coupled ocean–sea-ice basin (``coupled_basin``): the 3-D basin ocean under a
dynamic–thermodynamic sea ice on the same C-grid, the atmosphere prescribed, fluxes through
the generic :class:`~pyclimaocean.coupling.Coupler`.

One step (Δt, the same for every component):

1. exports at tⁿ: the atmosphere on the T points (:class:`GriddedAtmosphere`), the ocean's
   surface level (T, S, current, η), the ice's concentration, surface temperature and
   velocity;
2. exchange (:class:`BasinAirSeaIceExchange`, T points): bulk fluxes over the open-water and
   ice tiles of each cell — the thermodynamic imports of the ice as in the coupled column,
   the air stress on the ice (wind relative to the ice) and ``(1 − a) τ_air`` for the ocean;
3. ice (:class:`BasinSeaIceComponent`): zero-layer thermodynamics of every column against
   the ocean's surface cell, EVP momentum with air stress, water drag against the surface
   current, Coriolis and the tilt of η, then advection of h, A, h_s; produces the heat,
   shortwave, salt and water fluxes into the ocean and the ice–ocean stress;
4. ocean (:class:`BasinOceanComponent`): one basin step under ``(1 − a) τ_air + a τ_io``,
   then the heat and (virtual) salt fluxes on the top cell.

Budgets (:func:`budgets`, domain integrals over wet cells), constant to round-off:

* energy E = ρ₀ c_p Σ T dV − L Σ (ρ_i h + ρ_s h_s) dA, minus the cumulative heat input
  from the air (all of it passes through the ice's slab step);
* freshwater W = Σ (ρ_i h + ρ_s h_s) dA + (water given to the ocean), minus the cumulative
  snow + rain − evaporation;
* salt Σ = ρ₀ Σ S dV + S_i ρ_i Σ h dA + S_ref (water given to the ocean): the ocean's
  virtual salt flux removes S_ref per kg of water it receives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...coupling import Coupler
from ...params import ParameterSet
from ...physics.constants import HEAT_CAPACITY
from ..basin import BasinModel, BasinState
from ..basin.metadata import cgrid_coordinates
from ..seaice import IceDynamics, SeaIceState, SlabSeaIceThermodynamics
from .atmosphere import GriddedAtmosphere
from .components import BasinIceState, BasinOceanComponent, BasinSeaIceComponent
from .exchange import BASIN_AIR_SEA_ICE_FIELDS, BasinAirSeaIceExchange
from .plots import coupled_basin_figures

__all__ = ["CoupledBasin", "CoupledBasinState", "budgets"]


class CoupledBasinState(eqx.Module):
    """State of the coupled basin.

    Attributes:
        ocean: :class:`~pyclimaocean.models.basin.BasinState`.
        seaice: :class:`BasinIceState` (its ``thermo.heat_input`` is the cumulative heat from
            the air into each column, J m⁻²; ``thermo.water_input`` the snowfall, kg m⁻²).
        air_water_input: ``(ny, nx)`` cumulative rain − evaporation over leads (kg m⁻²).
        ocean_water_input: ``(ny, nx)`` cumulative water the ocean received from the ice and
            the air (kg m⁻²; the virtual salt flux removes S_ref per kg).
        time: model time (s); iteration: steps taken.
    """

    ocean: BasinState
    seaice: BasinIceState
    air_water_input: Any
    ocean_water_input: Any
    time: Any
    iteration: Any


class CoupledBasin(AbstractModel):
    """Basin ocean + dynamic–thermodynamic sea ice + prescribed atmosphere (module docstring).

    Attributes:
        ocean: the :class:`BasinModel` (its forcing is replaced by the coupler's fluxes each
            step; mixing and drag are calibratable as ``ocean.*``).
        thermodynamics: :class:`SlabSeaIceThermodynamics` (``thermodynamics.*``); its ocean
            density and heat capacity are set to the ocean's.
        dynamics: :class:`IceDynamics` on the ocean's grid (``dynamics.*``); its densities
            are set to the thermodynamics'.
        atmosphere: :class:`GriddedAtmosphere`.
        exchange: :class:`BasinAirSeaIceExchange` (``exchange.ocean_fluxes.*``,
            ``exchange.ice_fluxes.*``).
        initial_ice_thickness, initial_concentration, initial_snow_thickness: ``(ny, nx)``
            (m, 1, m; thickness of the ice-covered part).
        heat_capacity: c_p of the ocean (J kg⁻¹ K⁻¹, static).
        reference_salinity: S_ref of the virtual salt flux (g kg⁻¹, static).
        dt: time step (s, static; the ocean's).
    """

    name: ClassVar[str] = "coupled_basin"

    ocean: BasinModel
    thermodynamics: SlabSeaIceThermodynamics
    dynamics: IceDynamics
    atmosphere: GriddedAtmosphere
    exchange: BasinAirSeaIceExchange
    initial_ice_thickness: Any
    initial_concentration: Any
    initial_snow_thickness: Any
    heat_capacity: float = eqx.field(static=True)
    reference_salinity: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)

    def __init__(self, ocean: BasinModel, atmosphere: GriddedAtmosphere,
                 thermodynamics: SlabSeaIceThermodynamics | None = None,
                 dynamics: IceDynamics | None = None,
                 exchange: BasinAirSeaIceExchange | None = None,
                 initial_ice_thickness=0.0, initial_concentration=0.0,
                 initial_snow_thickness=0.0, heat_capacity: float = HEAT_CAPACITY,
                 reference_salinity: float = 35.0):
        g = ocean.grid
        th = thermodynamics or SlabSeaIceThermodynamics()
        th = eqx.tree_at(lambda p: (p.ocean_density, p.ocean_heat_capacity), th,
                         (ocean.reference_density, float(heat_capacity)))
        dyn = dynamics or IceDynamics(g)
        if dyn.grid is not g and dyn.grid.shape != g.shape:
            raise ValueError(f"the ice dynamics grid {dyn.grid.shape} is not the ocean grid "
                             f"{g.shape}")
        dyn = eqx.tree_at(lambda d: (d.grid, d.ice_density, d.snow_density, d.ocean_density),
                          dyn, (g, th.ice_density, th.snow_density, ocean.reference_density))
        wet = np.asarray(g.maskT[-1])
        fields = {}
        for name, value, lo, hi in (("initial_ice_thickness", initial_ice_thickness, 0, 50),
                                    ("initial_concentration", initial_concentration, 0, 1),
                                    ("initial_snow_thickness", initial_snow_thickness, 0, 10)):
            arr = np.broadcast_to(np.asarray(value, dtype=float), (g.ny, g.nx))
            if not (np.all(np.isfinite(arr)) and arr.min() >= lo and arr.max() <= hi):
                raise ValueError(f"{name} must lie in [{lo}, {hi}]; got values from "
                                 f"{arr.min():g} to {arr.max():g}")
            fields[name] = jnp.asarray(arr * wet)
        self.ocean = ocean
        self.thermodynamics = th
        self.dynamics = dyn
        self.atmosphere = atmosphere
        self.exchange = exchange or BasinAirSeaIceExchange(
            ocean_density=ocean.reference_density)
        self.initial_ice_thickness = fields["initial_ice_thickness"]
        self.initial_concentration = fields["initial_concentration"]
        self.initial_snow_thickness = fields["initial_snow_thickness"]
        self.heat_capacity = float(heat_capacity)
        self.reference_salinity = float(reference_salinity)
        self.dt = ocean.dt

    @property
    def grid(self):
        """The shared :class:`~pyclimaocean.grids.CGrid`."""
        return self.ocean.grid

    # -- the coupler ----------------------------------------------------------------------
    def coupler(self) -> Coupler:
        """The :class:`Coupler` of one step (built from this model's leaves)."""
        return Coupler(
            components={
                "atmosphere": self.atmosphere,
                "seaice": BasinSeaIceComponent(self.thermodynamics, self.dynamics,
                                               self.reference_salinity),
                "ocean": BasinOceanComponent(self.ocean, self.heat_capacity,
                                             self.reference_salinity)},
            exchange=self.exchange, order=("seaice", "ocean"), fields=BASIN_AIR_SEA_ICE_FIELDS)

    # -- the contract ---------------------------------------------------------------------
    def initial_state(self) -> CoupledBasinState:
        g = self.grid
        ocean = self.ocean.initial_state()
        a = self.initial_concentration * (self.initial_ice_thickness > 0)
        s_top = ocean.S[-1]
        zero = jnp.zeros((g.ny, g.nx))
        thermo = SeaIceState(
            ice_volume=a * self.initial_ice_thickness,
            snow_volume=a * self.initial_snow_thickness, concentration=a,
            surface_temperature=self.thermodynamics.freezing_temperature(s_top),
            ocean_temperature=ocean.T[-1], ocean_salinity=s_top,
            ocean_mass=self.ocean.reference_density * g.dz[-1] + zero,
            heat_input=zero, water_input=zero, time=ocean.time, iteration=ocean.iteration)
        ice = BasinIceState(thermo=thermo, u=zero, v=zero, sigma1=zero, sigma2=zero,
                            sigma12=jnp.zeros((g.ny + 1, g.nx + 1)))
        return CoupledBasinState(ocean=ocean, seaice=ice, air_water_input=zero,
                                 ocean_water_input=zero, time=ocean.time,
                                 iteration=ocean.iteration)

    def step(self, state: CoupledBasinState) -> CoupledBasinState:
        states, imports = self.coupler().step(
            {"atmosphere": None, "seaice": state.seaice, "ocean": state.ocean},
            state.time, self.dt)
        wet = self.grid.maskT[-1]
        o = imports["ocean"]
        air = -o["evaporation_minus_rain"] * wet * self.dt
        to_ocean = (o["freshwater_flux"] - o["evaporation_minus_rain"]) * wet * self.dt
        return CoupledBasinState(ocean=states["ocean"], seaice=states["seaice"],
                                 air_water_input=state.air_water_input + air,
                                 ocean_water_input=state.ocean_water_input + to_ocean,
                                 time=state.time + self.dt, iteration=state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        c3, c2 = ("z", "y", "x"), ("y", "x")
        mean_ice = {"cell_methods": "area: mean where sea_ice"}
        total = {"cell_methods": "area: sum"}
        return (
            Variable("T", c3, "degC", "sea water (conservative) temperature",
                     "sea_water_conservative_temperature", valid_range=(-10.0, 60.0),
                     source="ocean.T"),
            Variable("S", c3, "g kg-1", "sea water (absolute) salinity",
                     "sea_water_absolute_salinity", valid_range=(-1.0, 100.0), source="ocean.S"),
            Variable("eta", c2, "m", "free-surface height (filtered)",
                     "sea_surface_height_above_geoid", valid_range=(-50.0, 50.0),
                     source="ocean.eta"),
            Variable("u_surface", ("y", "x_u"), "m s-1", "surface-level ocean velocity (east "
                     "faces)", "sea_water_x_velocity", location="u", valid_range=(-20.0, 20.0),
                     derived=True),
            Variable("v_surface", ("y_v", "x"), "m s-1", "surface-level ocean velocity (north "
                     "faces)", "sea_water_y_velocity", location="v", valid_range=(-20.0, 20.0),
                     derived=True),
            Variable("sst", c2, "degC", "sea surface temperature (top cell)",
                     "sea_surface_temperature", valid_range=(-10.0, 60.0), derived=True),
            Variable("sss", c2, "g kg-1", "sea surface salinity (top cell)",
                     "sea_surface_salinity", valid_range=(-1.0, 100.0), derived=True),
            Variable("siconc", c2, "1", "sea-ice area fraction", "sea_ice_area_fraction",
                     valid_range=(0.0, 1.0), source="seaice.thermo.concentration"),
            Variable("sithick", c2, "m", "sea-ice thickness of the ice-covered part",
                     "sea_ice_thickness", valid_range=(0.0, 50.0), derived=True,
                     attrs={**mean_ice, "comment": "CMIP6 sithick"}),
            Variable("sivol", c2, "m", "sea-ice volume per unit area", "sea_ice_thickness",
                     valid_range=(0.0, 50.0), source="seaice.thermo.ice_volume",
                     attrs={"cell_methods": "area: mean", "comment": "grid-cell mean: "
                            "thickness times area fraction (CMIP6 sivol)"}),
            Variable("sisnthick", c2, "m", "snow thickness on the ice",
                     "surface_snow_thickness", valid_range=(0.0, 20.0), derived=True,
                     attrs=mean_ice),
            Variable("sitemptop", c2, "degC", "ice or snow surface temperature",
                     "sea_ice_surface_temperature", valid_range=(-90.0, 1.0),
                     source="seaice.thermo.surface_temperature"),
            Variable("siu", ("y", "x_u"), "m s-1", "sea-ice velocity (east faces)",
                     "sea_ice_x_velocity", location="u", valid_range=(-5.0, 5.0),
                     source="seaice.u"),
            Variable("siv", ("y_v", "x"), "m s-1", "sea-ice velocity (north faces)",
                     "sea_ice_y_velocity", location="v", valid_range=(-5.0, 5.0),
                     source="seaice.v"),
            Variable("sea_ice_area", (), "m2", "total sea-ice area", "sea_ice_area",
                     derived=True, attrs=total),
            Variable("sea_ice_volume", (), "m3", "total sea-ice volume", "sea_ice_volume",
                     derived=True, attrs=total),
            Variable("energy_residual", (), "J", "energy minus cumulative heat input "
                     "(constant if conserved)", derived=True),
            Variable("freshwater_residual", (), "kg", "ice + snow mass plus water given to "
                     "the ocean minus water input (constant if conserved)", derived=True),
            Variable("salt_residual", (), "g", "ocean + ice salt plus S_ref x water given to "
                     "the ocean (constant if conserved)", derived=True),
        )

    def output_fields(self, state) -> dict:
        fields = super().output_fields(state)
        th = state.seaice.thermo
        a = th.concentration
        safe = jnp.where(a > 0, a, 1.0)
        area = self.grid.areaT * self.grid.maskT[-1]
        b = budgets(self, state)
        fields.update({
            "u_surface": state.ocean.u[..., -1, :, :],
            "v_surface": state.ocean.v[..., -1, :, :],
            "sst": state.ocean.T[..., -1, :, :],
            "sss": state.ocean.S[..., -1, :, :],
            "sithick": jnp.where(a > 0, th.ice_volume / safe, 0.0),
            "sisnthick": jnp.where(a > 0, th.snow_volume / safe, 0.0),
            "sea_ice_area": jnp.sum(a * area, axis=(-2, -1)),
            "sea_ice_volume": jnp.sum(th.ice_volume * area, axis=(-2, -1)),
            "energy_residual": b["energy_residual"],
            "freshwater_residual": b["freshwater_residual"],
            "salt_residual": b["salt_residual"],
        })
        return fields

    def coordinates(self) -> tuple[Coordinate, ...]:
        return cgrid_coordinates(self.grid)

    def parameters(self, names=None) -> ParameterSet:
        """``thermodynamics.*`` (ice), ``dynamics.*`` (P*, C, e, C_w), ``exchange.*`` (bulk
        fluxes over water and ice) and ``ocean.*`` (the basin's mixing and drag)."""
        table = dict(self.thermodynamics.parameters("thermodynamics.").parameters)
        table.update(self.dynamics.parameters("dynamics.").parameters)
        table.update({k: v for k, v in self.exchange.parameters("exchange.").parameters.items()
                      if k != "exchange.ice_ocean_drag"})
        table.update({"ocean." + k: v for k, v in self.ocean.parameters().parameters.items()
                      if not k.startswith("forcing.")})
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """``sea_ice_volume`` (m³), ``sea_ice_area`` (m²), ``mean_sst`` (°C, area mean over
        wet cells), ``ice_kinetic_energy`` (J, ½ Σ m |u|² dA at U and V points):
        differentiable functions of a state."""
        return {"sea_ice_volume": _ice_volume, "sea_ice_area": _ice_area,
                "mean_sst": _mean_sst, "ice_kinetic_energy": _ice_kinetic_energy}

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        e = np.asarray(dataset["energy_residual"].values, dtype=float)
        s = np.asarray(dataset["salt_residual"].values, dtype=float)
        w = np.asarray(dataset["freshwater_residual"].values, dtype=float)
        speed = np.hypot(np.asarray(dataset["siu"].values)[-1],
                         np.asarray(dataset["siv"].values)[-1])
        return {
            "final_ice_area": (float(dataset["sea_ice_area"].values[-1]) / 1e12, "1e6 km2",
                               "sea-ice area at the end"),
            "final_ice_volume": (float(dataset["sea_ice_volume"].values[-1]) / 1e12,
                                 "1e3 km3", "sea-ice volume at the end"),
            "max_ice_speed": (float(speed.max()), "m s-1",
                              "largest ice velocity component at the end"),
            "max_sithick": (float(np.asarray(dataset["sithick"].values)[-1].max()), "m",
                            "thickest ice at the end"),
            "energy_drift": (float(np.abs(e - e[0]).max()), "J",
                             "largest change of energy minus heat input"),
            "freshwater_drift": (float(np.abs(w - w[0]).max()), "kg",
                                 "largest change of the freshwater residual"),
            "salt_drift": (float(np.abs(s - s[0]).max()), "g",
                           "largest change of the salt residual"),
        }

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        return coupled_basin_figures(dataset, directory, title=title)

    def describe(self) -> dict[str, str]:
        d = self.dynamics
        return {"coupled_basin": "basin ocean under dynamic-thermodynamic sea ice, "
                                 "prescribed gridded atmosphere",
                "ocean": self.ocean.describe()["grid"],
                "ice_dynamics": "free drift" if d.free_drift else
                f"{d.scheme} EVP, {d.substeps} substeps",
                "ice_ocean_flux": self.thermodynamics.ice_ocean_flux,
                "fluxes": type(self.exchange.ocean_fluxes).__name__}


def _areas(model):
    g = model.grid
    return g.areaT * g.maskT[-1]


def _ice_volume(model, state):
    return jnp.sum(state.seaice.thermo.ice_volume * _areas(model), axis=(-2, -1))


def _ice_area(model, state):
    return jnp.sum(state.seaice.thermo.concentration * _areas(model), axis=(-2, -1))


def _mean_sst(model, state):
    area = _areas(model)
    return jnp.sum(state.ocean.T[..., -1, :, :] * area, axis=(-2, -1)) / jnp.sum(area)


def _ice_kinetic_energy(model, state):
    g, d = model.grid, model.dynamics
    th = state.seaice.thermo
    m = (d.ice_density * th.ice_volume + d.snow_density * th.snow_volume) * g.maskT[-1]
    mU = g.ax_plus(m, "T") * g.maskU[-1]
    mV = g.ay_plus(m, "T") * g.maskV[-1]
    return 0.5 * (jnp.sum(mU * state.seaice.u**2 * g.areaU)
                  + jnp.sum(mV * state.seaice.v**2 * g.areaV))


def budgets(model: CoupledBasin, state: CoupledBasinState) -> dict[str, Any]:
    """Energy (J), freshwater (kg) and salt (g) of the coupled basin and their residuals
    (module docstring); the residuals are constant in time when the system conserves.

    ``energy_scale`` (ρ₀ c_p Σ |T| dV + L × ice and snow mass), ``freshwater_scale`` (ice and
    snow mass + water input magnitude) and ``salt_scale`` (ρ₀ Σ S dV) size relative errors.
    Works on single or stacked states.
    """
    g, p = model.grid, model.thermodynamics
    area = g.areaT * g.maskT[-1]
    vol = g.volumeT

    def total2(x):
        return jnp.sum(x * area, axis=(-2, -1))

    def total3(x):
        return jnp.sum(x * vol, axis=(-3, -2, -1))

    th = state.seaice.thermo
    rho0, cp, s_ref = model.ocean.reference_density, model.heat_capacity, model.reference_salinity
    ice_mass = total2(p.ice_density * th.ice_volume + p.snow_density * th.snow_volume)
    energy = rho0 * cp * total3(state.ocean.T) - p.latent_heat * ice_mass
    to_ocean = total2(state.ocean_water_input)
    water_in = total2(th.water_input + state.air_water_input)
    ocean_salt = rho0 * total3(state.ocean.S)
    salt = ocean_salt + p.ice_salinity * p.ice_density * total2(th.ice_volume)
    return {
        "energy": energy,
        "energy_residual": energy - total2(th.heat_input),
        "energy_scale": rho0 * cp * total3(jnp.abs(state.ocean.T)) + p.latent_heat * ice_mass,
        "freshwater": ice_mass + to_ocean,
        "freshwater_residual": ice_mass + to_ocean - water_in,
        "freshwater_scale": ice_mass + jnp.abs(to_ocean) + jnp.abs(water_in),
        "salt": salt,
        "salt_residual": salt + s_ref * to_ocean,
        "salt_scale": ocean_salt,
    }
