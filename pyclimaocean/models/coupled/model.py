"""The coupled ocean–sea-ice column: the ocean column model under a zero-layer ice slab, the
atmosphere prescribed from files, fluxes through the generic :class:`~pyclimaocean.coupling.Coupler`.

One step (Δt, the same for both components):

1. exports: atmosphere at tⁿ (interpolated), ocean surface cell, ice concentration and T_s;
2. exchange (:class:`~pyclimaocean.coupling.AirSeaIceExchange`): COARE 3.6 fluxes over the
   leads, over-ice bulk fluxes at T_s with their slope, stress on the ocean;
3. ice (:class:`SeaIceComponent`): surface balance, penetrating shortwave, melt and growth,
   lead ice, ice–ocean heat flux against the ocean's surface cell; produces the heat,
   shortwave and virtual salt fluxes into the ocean;
4. ocean (:class:`OceanColumnComponent`): one implicit column step under those fluxes.

Budgets (:func:`budgets`), conserved to round-off:

* energy E = ρ₀ c_p Σ T Δz − L (ρ_i v_i + ρ_s v_s); E − ``heat_input`` is constant;
* salt (virtual) V = ρ₀ Σ S Δz + S_i ρ_i v_i − S_ref (ρ_i v_i + ρ_s v_s); V + S_ref
  ``freshwater_input`` is constant (freshwater input = rain + snow − evaporation over leads).

Example::

    from pyclimaocean.models.coupled import CoupledColumn, arctic_atmosphere
    m = CoupledColumn(atmosphere=arctic_atmosphere())
    final, states = m.run(m.initial_state(), 360 * 24, save_every=24)   # a year, hourly steps
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ...closures import CATKELike
from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...coupling import AIR_SEA_ICE_FIELDS, AirSeaIceExchange, Coupler, PrescribedAtmosphere
from ...fluxes.surface import SolarPenetration
from ...grids.column import ColumnGrid
from ...params import ParameterSet
from ..column import ColumnModel, ColumnState, InitialConditions
from ..seaice import SeaIceState, SlabSeaIceThermodynamics
from .components import OceanColumnComponent, SeaIceComponent
from .plots import plot_coupled_column

__all__ = ["CoupledColumn", "CoupledState", "budgets"]

YEAR = 360 * 86400.0


class CoupledState(eqx.Module):
    """State of the coupled column.

    Attributes:
        ocean: :class:`~pyclimaocean.models.column.ColumnState`.
        seaice: :class:`~pyclimaocean.models.seaice.SeaIceState` (its ocean fields are the
            surface cell as the ice left it; its ``heat_input`` is the cumulative heat into
            the air–ice–ocean system, J m⁻²).
        freshwater_input: cumulative rain + snow − evaporation over leads (kg m⁻²).
        time: model time (s); iteration: steps taken.
    """

    ocean: ColumnState
    seaice: SeaIceState
    freshwater_input: Any
    time: Any
    iteration: Any


class CoupledColumn(AbstractModel):
    """Ocean column + zero-layer sea ice + prescribed atmosphere (see the module docstring).

    Attributes:
        ocean: the :class:`ColumnModel` (its ``forcing`` is replaced each step by the coupler;
            its closure parameters are calibratable as ``ocean.closure.*``).
        thermodynamics: :class:`SlabSeaIceThermodynamics` (``thermodynamics.*``); its ocean
            density and heat capacity are set to the column's.
        atmosphere: :class:`PrescribedAtmosphere`.
        exchange: :class:`AirSeaIceExchange` (``exchange.ocean_fluxes.*`` e.g. the Charnock
            coefficients, ``exchange.ice_fluxes.*``, ``exchange.ice_ocean_drag``).
        initial_ice_thickness: (m); initial_snow_thickness (m) and initial_concentration
            likewise.
        dt: time step (s, static).
    """

    name: ClassVar[str] = "coupled_column"

    ocean: ColumnModel
    thermodynamics: SlabSeaIceThermodynamics
    atmosphere: PrescribedAtmosphere
    exchange: AirSeaIceExchange
    initial_ice_thickness: float
    initial_snow_thickness: float
    initial_concentration: float
    dt: float = eqx.field(static=True)

    def __init__(self, atmosphere: PrescribedAtmosphere, ocean: ColumnModel | None = None,
                 thermodynamics: SlabSeaIceThermodynamics | None = None,
                 exchange: AirSeaIceExchange | None = None, initial_ice_thickness: float = 2.0,
                 initial_snow_thickness: float = 0.1, initial_concentration: float = 1.0,
                 dt: float | None = None):
        ocean = ocean or default_ocean()
        if dt is not None and float(dt) != ocean.dt:
            ocean = dataclasses.replace(ocean, dt=float(dt))
        for name, value, lo, hi in (("initial_ice_thickness", initial_ice_thickness, 0, 50),
                                    ("initial_snow_thickness", initial_snow_thickness, 0, 10),
                                    ("initial_concentration", initial_concentration, 0, 1)):
            if isinstance(value, int | float) and not lo <= value <= hi:
                raise ValueError(f"{name} = {value!r} is outside [{lo}, {hi}]")
        th = thermodynamics or SlabSeaIceThermodynamics()
        th = eqx.tree_at(lambda p: (p.ocean_density, p.ocean_heat_capacity), th,
                         (ocean.reference_density, ocean.heat_capacity))
        self.ocean = ocean
        self.thermodynamics = th
        self.atmosphere = atmosphere
        self.exchange = exchange or AirSeaIceExchange(ocean_density=ocean.reference_density)
        self.initial_ice_thickness = initial_ice_thickness
        self.initial_snow_thickness = initial_snow_thickness
        self.initial_concentration = initial_concentration
        self.dt = float(ocean.dt)

    # -- the coupler ----------------------------------------------------------------------
    def coupler(self) -> Coupler:
        """The :class:`Coupler` of one step (built from this model's leaves)."""
        return Coupler(
            components={"atmosphere": self.atmosphere,
                        "seaice": SeaIceComponent(self.thermodynamics,
                                                  self.ocean.reference_salinity),
                        "ocean": OceanColumnComponent(self.ocean)},
            exchange=self.exchange, order=("seaice", "ocean"), fields=AIR_SEA_ICE_FIELDS)

    # -- the contract ---------------------------------------------------------------------
    def initial_state(self) -> CoupledState:
        ocean = self.ocean.initial_state()
        p = self.thermodynamics
        a = jnp.asarray(float(self.initial_concentration))
        has_ice = a * self.initial_ice_thickness > 0
        s_top = ocean.salinity[-1]
        t_f = p.freezing_temperature(s_top)
        zero = jnp.asarray(0.0)
        ice = p.make_state(
            ice_volume=a * self.initial_ice_thickness,
            snow_volume=jnp.where(has_ice, a * self.initial_snow_thickness, 0.0),
            concentration=jnp.where(has_ice, a, 0.0),
            surface_temperature=t_f, ocean_temperature=ocean.temperature[-1],
            ocean_salinity=s_top,
            ocean_mass=jnp.asarray(self.ocean.reference_density * self.ocean.grid.dz_centers[-1]),
            heat_input=zero, water_input=zero, time=ocean.time, iteration=ocean.iteration)
        return CoupledState(ocean=ocean, seaice=ice, freshwater_input=zero, time=ocean.time,
                            iteration=ocean.iteration)

    def step(self, state: CoupledState) -> CoupledState:
        states, imports = self.coupler().step(
            {"atmosphere": None, "seaice": state.seaice, "ocean": state.ocean},
            state.time, self.dt)
        freshwater = (imports["seaice"]["snowfall"]
                      - imports["ocean"]["evaporation_minus_rain"]) * self.dt
        return CoupledState(ocean=states["ocean"], seaice=states["seaice"],
                            freshwater_input=state.freshwater_input + freshwater,
                            time=state.time + self.dt, iteration=state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        z = ("z",)
        return (
            Variable("T", z, "degC", "sea water temperature", "sea_water_temperature",
                     valid_range=(-5.0, 40.0), source="ocean.temperature"),
            Variable("S", z, "g kg-1", "sea water salinity", "sea_water_salinity",
                     valid_range=(0.0, 60.0), source="ocean.salinity"),
            Variable("u", z, "m s-1", "eastward sea water velocity", "eastward_sea_water_velocity",
                     valid_range=(-20.0, 20.0), source="ocean.u"),
            Variable("v", z, "m s-1", "northward sea water velocity",
                     "northward_sea_water_velocity", valid_range=(-20.0, 20.0),
                     source="ocean.v"),
            Variable("sst", (), "degC", "sea surface temperature (surface cell)",
                     "sea_surface_temperature", valid_range=(-5.0, 40.0), derived=True),
            Variable("h", (), "m", "sea-ice thickness of the ice-covered part",
                     "sea_ice_thickness", valid_range=(0.0, 50.0), derived=True,
                     attrs={"cell_methods": "area: mean where sea_ice",
                            "comment": "thickness of the ice-covered part (CMIP6 sithick)"}),
            Variable("ice_volume", (), "m", "sea-ice volume per unit area", "sea_ice_thickness",
                     valid_range=(0.0, 50.0), source="seaice.ice_volume",
                     attrs={"cell_methods": "area: mean",
                            "comment": "grid-cell mean: thickness times area fraction (CMIP6 "
                                       "sivol)"}),
            Variable("concentration", (), "1", "sea-ice area fraction", "sea_ice_area_fraction",
                     valid_range=(0.0, 1.0), source="seaice.concentration"),
            Variable("hs", (), "m", "snow thickness on the ice", "surface_snow_thickness",
                     valid_range=(0.0, 20.0), derived=True,
                     attrs={"cell_methods": "area: mean where sea_ice"}),
            Variable("Ts", (), "degC", "ice or snow surface temperature",
                     "sea_ice_surface_temperature", valid_range=(-90.0, 1.0),
                     source="seaice.surface_temperature"),
            Variable("energy_residual", (), "J m-2",
                     "energy content minus cumulative heat input (constant if conserved)",
                     valid_range=None, derived=True),
            Variable("salt_residual", (), "g m-2",
                     "virtual salt content plus S_ref x freshwater input (constant if conserved)",
                     valid_range=None, derived=True),
        )

    def output_fields(self, state) -> dict:
        fields = super().output_fields(state)
        a = state.seaice.concentration
        safe = jnp.where(a > 0, a, 1.0)
        b = budgets(self, state)
        fields.update({
            "sst": state.ocean.temperature[..., -1],
            "h": jnp.where(a > 0, state.seaice.ice_volume / safe, 0.0),
            "hs": jnp.where(a > 0, state.seaice.snow_volume / safe, 0.0),
            "energy_residual": b["energy_residual"],
            "salt_residual": b["salt_residual"],
        })
        return fields

    def coordinates(self) -> tuple[Coordinate, ...]:
        return self.ocean.coordinates()

    def parameters(self, names=None) -> ParameterSet:
        """``thermodynamics.*`` (ice), ``exchange.*`` (bulk fluxes, ice–ocean drag) and
        ``ocean.closure.*`` (mixing)."""
        table = dict(self.thermodynamics.parameters("thermodynamics.").parameters)
        table.update(self.exchange.parameters("exchange.").parameters)
        table.update({"ocean." + k: v for k, v in self.ocean.parameters().parameters.items()})
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """``sea_surface_temperature`` (°C), ``ice_thickness`` (m), ``concentration``,
        ``ice_volume`` (m): differentiable functions of a state."""
        return {
            "sea_surface_temperature": lambda m, s: s.ocean.temperature[-1],
            "ice_thickness": lambda m, s: s.seaice.ice_volume / jnp.where(
                s.seaice.concentration > 0, s.seaice.concentration, 1.0),
            "concentration": lambda m, s: s.seaice.concentration,
            "ice_volume": lambda m, s: s.seaice.ice_volume,
        }

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        t = dataset["time"].values
        seconds = np.asarray((t - t[0]) / np.timedelta64(1, "s") if np.issubdtype(
            t.dtype, np.datetime64) else t - t[0], dtype=float)
        last = seconds >= seconds[-1] - YEAR + 1.0
        h = np.asarray(dataset["h"].values, dtype=float)[last]
        a = np.asarray(dataset["concentration"].values, dtype=float)[last]
        sst = np.asarray(dataset["sst"].values, dtype=float)[last]
        e = np.asarray(dataset["energy_residual"].values, dtype=float)
        return {
            "duration": (float(seconds[-1] / YEAR), "year", "length of the output (360-day years)"),
            "mean_thickness_last_year": (float(h.mean()), "m", "mean ice thickness, last year"),
            "min_concentration_last_year": (float(a.min()), "1", "lowest ice fraction, last year"),
            "max_sst_last_year": (float(sst.max()), "degC", "warmest surface cell, last year"),
            "energy_drift": (float(np.abs(e - e[0]).max()), "J m-2",
                             "largest change of energy minus heat input"),
        }

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        path = Path(directory) / "coupled_column.png"
        plot_coupled_column(dataset, path, title=title)
        return [path]

    def describe(self) -> dict[str, str]:
        g = self.ocean.grid
        return {"coupled_column": "ocean column under zero-layer sea ice, prescribed atmosphere",
                "ocean": f"{type(self.ocean.closure).__name__}, nz = {g.nz}, depth = {g.depth:g} m",
                "ice_ocean_flux": self.thermodynamics.ice_ocean_flux}


def default_ocean(dt: float = 3600.0, nz: int = 20, depth: float = 100.0,
                  surface_temperature: float = -1.75, surface_salinity: float = 32.0,
                  mixed_layer_depth: float = 30.0) -> ColumnModel:
    """A 100 m Arctic column: 30 m mixed layer at freezing over a halocline (0.02 g kg⁻¹ m⁻¹)
    and a weakly warmer layer below, CATKE mixing, Jerlov-I shortwave penetration."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth), closure=CATKELike(),
        initial_conditions=InitialConditions(
            surface_temperature=surface_temperature, temperature_gradient=-0.005,
            surface_salinity=surface_salinity, salinity_gradient=-0.02,
            mixed_layer_depth=mixed_layer_depth),
        solar_penetration=SolarPenetration(), dt=dt)


def budgets(model: CoupledColumn, state: CoupledState) -> dict[str, Any]:
    """Energy and (virtual) salt of the coupled column and their residuals.

    ``energy`` = ρ₀ c_p Σ T Δz − L (ρ_i v_i + ρ_s v_s) (J m⁻²; the ice term is the
    thermodynamics' ``ice_enthalpy``, with the layer heat of Winton ice), ``energy_residual`` = energy −
    heat input; ``salt`` = ρ₀ Σ S Δz + S_i ρ_i v_i − S_ref (ρ_i v_i + ρ_s v_s) (g m⁻²),
    ``salt_residual`` = salt + S_ref × freshwater input; both residuals are constant in time.
    ``energy_scale`` (ρ₀ c_p Σ |T| Δz + L m) and ``salt_scale`` (ρ₀ Σ S Δz) size relative
    errors.  Works on single or stacked states.
    """
    o, p = model.ocean, model.thermodynamics
    dz = o.grid.dz_centers
    rho0, cp, s_ref = o.reference_density, o.heat_capacity, o.reference_salinity
    mi = p.ice_density * state.seaice.ice_volume
    ms = p.snow_density * state.seaice.snow_volume
    heat = rho0 * cp * jnp.sum(state.ocean.temperature * dz, axis=-1)
    ice = p.ice_enthalpy(state.seaice)         # −L (m_i + m_s), plus the Winton layer heat
    energy = heat + ice
    ocean_salt = rho0 * jnp.sum(state.ocean.salinity * dz, axis=-1)
    salt = ocean_salt + p.ice_salinity * mi - s_ref * (mi + ms)
    return {
        "energy": energy,
        "energy_residual": energy - state.seaice.heat_input,
        "energy_scale": rho0 * cp * jnp.sum(jnp.abs(state.ocean.temperature) * dz, axis=-1)
        + jnp.abs(ice),
        "salt": salt,
        "salt_residual": salt + s_ref * state.freshwater_input,
        "salt_scale": ocean_salt,
    }
