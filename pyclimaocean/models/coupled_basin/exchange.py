"""Air–sea–ice fluxes on the T points of a basin grid, with moving ice.

:class:`BasinAirSeaIceExchange` is :class:`~pyclimaocean.coupling.AirSeaIceExchange` (the
same bulk formulations, parameters and thermodynamic imports of the ice) with the momentum
exchange of a dynamic ice cover:

* the open-water tile's stress on the ocean, ``(1 − a) τ_air`` at T points (the ocean
  averages it to its U and V points);
* the air stress on the ice tile ``τ_ai`` at T points from the over-ice bulk formula, with
  the wind relative to the ice velocity (the ice averages it to U and V points; its momentum
  equation weights it by the concentration there);
* the ocean's surface current at its U/V points and η, passed through to the ice (water
  drag, sea-surface tilt);
* no ice–ocean stress: the ice component produces it after its momentum step
  (``ice_ocean_stress_x``, ``ice_ocean_stress_y`` at U/V points, from the new ice
  velocity), and the ocean adds it to the open-water stress.

Exports it reads: ``atmosphere`` as :class:`~pyclimaocean.coupling.AirSeaIceExchange`;
``ocean`` surface temperature, salinity, mass and the current at T points; ``seaice``
concentration, surface temperature and the ice velocity at T points (``velocity_u``,
``velocity_v``).
"""

from __future__ import annotations

from ...coupling import AIR_SEA_ICE_FIELDS, AirSeaIceExchange, ExchangeField

__all__ = ["BASIN_AIR_SEA_ICE_FIELDS", "BasinAirSeaIceExchange"]

_REPLACED = ("wind_stress_x", "wind_stress_y", "salt_flux")

#: every field the coupled basin exchanges (source -> destination)
BASIN_AIR_SEA_ICE_FIELDS = tuple(f for f in AIR_SEA_ICE_FIELDS if f.name not in _REPLACED) + (
    ExchangeField("air_ice_stress_x", "N m-2", "exchange", "seaice",
                  "eastward air stress on the ice tile (T points)",
                  "surface_downward_eastward_stress"),
    ExchangeField("air_ice_stress_y", "N m-2", "exchange", "seaice",
                  "northward air stress on the ice tile (T points)",
                  "surface_downward_northward_stress"),
    ExchangeField("ocean_u", "m s-1", "exchange", "seaice",
                  "surface-level ocean velocity at U points (passed through)",
                  "sea_water_x_velocity"),
    ExchangeField("ocean_v", "m s-1", "exchange", "seaice",
                  "surface-level ocean velocity at V points (passed through)",
                  "sea_water_y_velocity"),
    ExchangeField("sea_surface_height", "m", "exchange", "seaice",
                  "free-surface height at T points (passed through: the tilt force)",
                  "sea_surface_height_above_geoid"),
    ExchangeField("air_sea_stress_x", "N m-2", "exchange", "ocean",
                  "eastward air stress on open water times (1 - a) (T points)"),
    ExchangeField("air_sea_stress_y", "N m-2", "exchange", "ocean",
                  "northward air stress on open water times (1 - a) (T points)"),
    ExchangeField("salt_flux", "g m-2 s-1", "seaice", "ocean",
                  "salt into the ocean from the ice (melt returns S_i, growth takes it)"),
    ExchangeField("freshwater_flux", "kg m-2 s-1", "seaice", "ocean",
                  "water into the ocean from the ice (melt, snow into leads, minus growth)"),
    ExchangeField("ice_ocean_stress_x", "N m-2", "seaice", "ocean",
                  "eastward stress of the ice on the ocean (U points, concentration-weighted)"),
    ExchangeField("ice_ocean_stress_y", "N m-2", "seaice", "ocean",
                  "northward stress of the ice on the ocean (V points, concentration-weighted)"),
)


class BasinAirSeaIceExchange(AirSeaIceExchange):
    """The air–sea–ice exchange of the coupled basin (module docstring).  Its fields and
    :meth:`parameters` are those of :class:`~pyclimaocean.coupling.AirSeaIceExchange`
    (``ice_ocean_drag`` is unused: the ice dynamics' ``ocean_drag`` sets the ice–ocean
    stress)."""

    def __call__(self, exports, time):
        atm, ocean, ice = exports["atmosphere"], exports["ocean"], exports["seaice"]
        tiles = self.tile_fluxes(exports, (ice["velocity_u"], ice["velocity_v"]))
        water = tiles["water"]
        a = ice["concentration"]
        return {
            "seaice": {
                "shortwave_down": atm["shortwave_down"],
                "longwave_down": atm["longwave_down"],
                "snowfall": atm["snowfall"],
                "sensible": tiles["sensible"],
                "latent": tiles["latent"],
                "turbulent_flux_slope": tiles["turbulent_flux_slope"],
                "turbulent_reference_temperature": ice["surface_temperature"],
                "open_water_turbulent": water["sensible_heat_flux"] + water["latent_heat_flux"],
                "ocean_temperature": ocean["surface_temperature"],
                "ocean_salinity": ocean["surface_salinity"],
                "ocean_mass": ocean["surface_mass"],
                "air_ice_stress_x": tiles["ice_stress_x"],
                "air_ice_stress_y": tiles["ice_stress_y"],
                "ocean_u": ocean["surface_u"],
                "ocean_v": ocean["surface_v"],
                "sea_surface_height": ocean["sea_surface_height"],
            },
            "ocean": {
                "air_sea_stress_x": (1.0 - a) * water["wind_stress_x"],
                "air_sea_stress_y": (1.0 - a) * water["wind_stress_y"],
                "evaporation_minus_rain": (1.0 - a) * water["evaporation"] - atm["rainfall"],
            },
        }
