"""Air–sea–ice fluxes on the exchange grid: each cell split into an open-water tile (area
1 − a) and an ice tile (area a).

:class:`AirSeaIceExchange` computes, from the atmosphere's, the ocean's and the ice's exports:

* over open water: COARE 3.6 bulk fluxes (:class:`~pyclimaocean.fluxes.SimilarityTheoryFluxes`)
  at the sea-surface temperature and current: sensible + latent heat, evaporation, wind stress;
* over ice: the over-ice bulk fluxes (Paulson/Grachev stability, ice saturation humidity,
  sublimation) at the ice surface temperature T_s, and their slope d(Q_sens + Q_lat)/dT_s by
  forward-mode AD (``jax.jvp`` through the fixed-point iteration), so that the ice can solve
  its surface balance with the turbulent fluxes linearised about T_s (as CICE's
  ``dfsurf_dT``; explicit turbulent fluxes at a zero-heat-capacity surface are unstable for
  steps of hours);
* the stress on the ocean: (1 − a) τ_air + a τ_ice, with τ_ice = −ρ_o C_io |u_o| u_o the drag
  of motionless ice on the surface current (C_io = 5.5e-3, ClimaSeaIce ``SemiImplicitStress``;
  the column has no ice dynamics).

Imports it returns (names of :data:`AIR_SEA_ICE_FIELDS`):

* ``seaice``: ``shortwave_down``, ``longwave_down``, ``snowfall`` (from the atmosphere),
  ``sensible``, ``latent``, ``turbulent_flux_slope``, ``turbulent_reference_temperature``
  (over ice), ``open_water_turbulent`` (sensible + latent over open water), and the ocean's
  surface cell ``ocean_temperature``, ``ocean_salinity``, ``ocean_mass`` (passed through: the
  ice exchanges heat and mass with it);
* ``ocean``: ``wind_stress_x``, ``wind_stress_y`` (N m⁻²), ``evaporation_minus_rain``
  (kg m⁻² s⁻¹: (1 − a) E over open water minus all rain; rain on ice drains to the ocean,
  sublimation over ice is heat only).

Sign conventions as in :mod:`pyclimaocean.fluxes`: heat fluxes positive into the surface.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ..fluxes.bulk import AtmosphereState, SimilarityTheoryFluxes, SurfaceState
from ..params import Parameter, ParameterSet, Prior
from .coupler import AbstractExchange, ExchangeField

__all__ = ["AIR_SEA_ICE_FIELDS", "AirSeaIceExchange"]

KELVIN = 273.15

#: every field the air–sea–ice column exchanges (source -> destination)
AIR_SEA_ICE_FIELDS = (
    ExchangeField("shortwave_down", "W m-2", "exchange", "seaice", "downwelling shortwave",
                  "surface_downwelling_shortwave_flux_in_air"),
    ExchangeField("longwave_down", "W m-2", "exchange", "seaice", "downwelling longwave",
                  "surface_downwelling_longwave_flux_in_air"),
    ExchangeField("snowfall", "kg m-2 s-1", "exchange", "seaice", "snowfall", "snowfall_flux"),
    ExchangeField("sensible", "W m-2", "exchange", "seaice",
                  "sensible heat flux into the ice at the previous T_s"),
    ExchangeField("latent", "W m-2", "exchange", "seaice",
                  "latent (sublimation) heat flux into the ice at the previous T_s"),
    ExchangeField("turbulent_flux_slope", "W m-2 K-1", "exchange", "seaice",
                  "d(sensible + latent)/dT_s over ice"),
    ExchangeField("turbulent_reference_temperature", "degC", "exchange", "seaice",
                  "T_s at which the over-ice fluxes were evaluated"),
    ExchangeField("open_water_turbulent", "W m-2", "exchange", "seaice",
                  "sensible + latent heat flux into open water"),
    ExchangeField("ocean_temperature", "degC", "exchange", "seaice", "surface-cell temperature"),
    ExchangeField("ocean_salinity", "g kg-1", "exchange", "seaice", "surface-cell salinity"),
    ExchangeField("ocean_mass", "kg m-2", "exchange", "seaice", "surface-cell mass"),
    ExchangeField("wind_stress_x", "N m-2", "exchange", "ocean", "eastward stress on the ocean",
                  "surface_downward_eastward_stress"),
    ExchangeField("wind_stress_y", "N m-2", "exchange", "ocean", "northward stress on the ocean",
                  "surface_downward_northward_stress"),
    ExchangeField("evaporation_minus_rain", "kg m-2 s-1", "exchange", "ocean",
                  "evaporation over open water minus rain"),
    ExchangeField("heat_flux", "W m-2", "seaice", "ocean",
                  "non-solar heat into the ocean through the ice and the leads"),
    ExchangeField("shortwave", "W m-2", "seaice", "ocean",
                  "shortwave absorbed by the ocean (leads and through the ice)"),
    ExchangeField("salt_flux", "g m-2 s-1", "seaice", "ocean",
                  "virtual salt flux of the ice-ocean mass exchange"),
)


class AirSeaIceExchange(AbstractExchange):
    """Bulk fluxes over the open-water and ice tiles (see the module docstring).

    Attributes:
        ocean_fluxes: over open water (default COARE 3.6, :class:`SimilarityTheoryFluxes`).
        ice_fluxes: over ice (default :meth:`SimilarityTheoryFluxes.over_ice`).
        ice_ocean_drag: C_io of motionless ice on the current (1).
    """

    ocean_fluxes: Any = SimilarityTheoryFluxes()
    ice_fluxes: Any = SimilarityTheoryFluxes.over_ice()
    ice_ocean_drag: Any = 5.5e-3
    ocean_density: float = 1026.0

    def parameters(self, prefix: str = "") -> ParameterSet:
        """Calibratable coefficients: ``ocean_fluxes.*``, ``ice_fluxes.*`` (their
        ``parameter_set``) and ``ice_ocean_drag``."""
        table = dict(self.ocean_fluxes.parameter_set(prefix + "ocean_fluxes.").parameters)
        table.update(self.ice_fluxes.parameter_set(prefix + "ice_fluxes.").parameters)
        table[prefix + "ice_ocean_drag"] = Parameter(
            jnp.asarray(float(self.ice_ocean_drag)), lower=1e-3, upper=2e-2, units="1",
            prior=Prior.make("lognormal", loc=math.log(float(self.ice_ocean_drag)), scale=0.5),
            description="drag coefficient of ice on the surface current (ClimaSeaIce 5.5e-3)")
        return ParameterSet(table)

    def tile_fluxes(self, exports, ice_velocity=(0.0, 0.0)) -> dict:
        """The bulk fluxes of both tiles from the exports, before any area weighting.

        Returns ``{"water": <open-water flux dict of the ocean formulation>, "sensible",
        "latent" (over ice at T_s), "turbulent_flux_slope" (their d/dT_s), "ice_stress_x",
        "ice_stress_y" (air stress on the ice, wind relative to ``ice_velocity``)}``, arrays
        of the broadcast shape of the exports (T points on a grid)."""
        atm, ocean, ice = exports["atmosphere"], exports["ocean"], exports["seaice"]
        air = AtmosphereState(wind_u=atm["wind_u"], wind_v=atm["wind_v"],
                              temperature=atm["air_temperature"],
                              specific_humidity=atm["specific_humidity"],
                              pressure=atm["air_pressure"], height_u=atm["wind_height"],
                              height_t=atm["temperature_height"],
                              height_q=atm["temperature_height"])
        water = self.ocean_fluxes.fluxes(air, SurfaceState(
            temperature=ocean["surface_temperature"] + KELVIN,
            velocity_u=ocean["surface_velocity_u"], velocity_v=ocean["surface_velocity_v"]))

        def over_ice(t_s):
            out = self.ice_fluxes.fluxes(air, SurfaceState(
                temperature=t_s + KELVIN, velocity_u=ice_velocity[0],
                velocity_v=ice_velocity[1]))
            return (out["sensible_heat_flux"], out["latent_heat_flux"], out["wind_stress_x"],
                    out["wind_stress_y"])

        t_s = ice["surface_temperature"]
        (q_sens, q_lat, tx, ty), (d_sens, d_lat, _, _) = jax.jvp(over_ice, (t_s,),
                                                                 (jnp.ones_like(t_s),))
        return {"water": water, "sensible": q_sens, "latent": q_lat,
                "turbulent_flux_slope": d_sens + d_lat, "ice_stress_x": tx, "ice_stress_y": ty}

    def __call__(self, exports, time):
        atm, ocean, ice = exports["atmosphere"], exports["ocean"], exports["seaice"]
        tiles = self.tile_fluxes(exports)
        water = tiles["water"]
        q_sens, q_lat = tiles["sensible"], tiles["latent"]
        t_s = ice["surface_temperature"]
        u_o, v_o = ocean["surface_velocity_u"], ocean["surface_velocity_v"]
        a = ice["concentration"]
        speed = jnp.sqrt(u_o**2 + v_o**2 + 1e-30)
        drag = self.ocean_density * self.ice_ocean_drag * speed
        return {
            "seaice": {
                "shortwave_down": atm["shortwave_down"],
                "longwave_down": atm["longwave_down"],
                "snowfall": atm["snowfall"],
                "sensible": q_sens,
                "latent": q_lat,
                "turbulent_flux_slope": tiles["turbulent_flux_slope"],
                "turbulent_reference_temperature": t_s,
                "open_water_turbulent": water["sensible_heat_flux"] + water["latent_heat_flux"],
                "ocean_temperature": ocean["surface_temperature"],
                "ocean_salinity": ocean["surface_salinity"],
                "ocean_mass": ocean["surface_mass"],
            },
            "ocean": {
                "wind_stress_x": (1.0 - a) * water["wind_stress_x"] - a * drag * u_o,
                "wind_stress_y": (1.0 - a) * water["wind_stress_y"] - a * drag * v_o,
                "evaporation_minus_rain": (1.0 - a) * water["evaporation"] - atm["rainfall"],
            },
        }
