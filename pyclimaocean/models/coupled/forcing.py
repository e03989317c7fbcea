"""An idealised Arctic atmosphere for the coupled column (a periodic 360-day climatology).

* Downwelling shortwave and longwave: the Maykut & Untersteiner (1971) / Semtner (1976,
  Table 1) monthly values of :mod:`pyclimaocean.models.seaice.forcing`.
* Snowfall: MU71's 40 cm a year at 330 kg m⁻³ (same monthly increments).
* Near-surface air temperature, humidity and wind are **idealised** (not observations): a
  monthly 2-m temperature cycle of SHEBA-like magnitude (about −32 °C in February, 0 °C in
  July), specific humidity at 90 % of saturation over ice at that temperature, a 5 m s⁻¹
  wind, surface pressure 101 325 Pa, and 0.5 mm day⁻¹ of rain in July and August.

All series are mid-month values, interpolated linearly and periodically in time.
:func:`arctic_atmosphere_dataset` gives them as a CF-annotated :class:`xarray.Dataset`
(what ``examples/coupled_arctic_atmosphere.nc`` holds).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ...coupling import PrescribedAtmosphere
from ...fluxes.bulk import saturation_vapour_pressure
from ..seaice.forcing import KCAL_CM2_MONTH, MONTH, MU71_SNOW_DEPTH, SEMTNER_1976_TABLE, YEAR

__all__ = ["AIR_TEMPERATURE_C", "arctic_atmosphere", "arctic_atmosphere_dataset"]

#: idealised monthly 2-m air temperature (°C), January to December
AIR_TEMPERATURE_C = (-31.0, -32.0, -30.0, -24.0, -11.0, -1.0, 0.0, -1.0, -6.0, -16.0, -25.0,
                     -29.0)
_RAIN_MM_DAY = (0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0, 0)


def arctic_atmosphere_dataset(wind_speed: float = 5.0, relative_humidity: float = 0.9,
                              snow_density: float = 330.0, warming: float = 0.0,
                              longwave_offset: float = 0.0) -> xr.Dataset:
    """The idealised Arctic atmosphere (module docstring) as a dataset on ``time`` (days since
    the start, mid-months of a 360-day year); ``warming`` (K) is added to the air temperature
    and ``longwave_offset`` (W m⁻²) to LW↓ (a warmer, seasonally ice-free variant)."""
    days = (np.arange(12) + 0.5) * 30.0
    ta = np.asarray(AIR_TEMPERATURE_C) + 273.15 + warming
    pressure = 101325.0
    e_sat = np.asarray(saturation_vapour_pressure(jnp.asarray(ta), pressure, True))
    e = relative_humidity * e_sat
    q = 0.622 * e / (pressure - 0.378 * e)
    snow = np.asarray(MU71_SNOW_DEPTH) * snow_density / MONTH
    table = {k: np.asarray(v) * KCAL_CM2_MONTH for k, v in SEMTNER_1976_TABLE.items()}

    def var(values, units, long_name, standard_name=None):
        attrs = {"units": units, "long_name": long_name}
        if standard_name:
            attrs["standard_name"] = standard_name
        return ("time", np.asarray(values, dtype=float), attrs)

    return xr.Dataset(
        {
            "wind_u": var(np.full(12, wind_speed), "m s-1", "eastward wind at 10 m",
                          "eastward_wind"),
            "wind_v": var(np.zeros(12), "m s-1", "northward wind at 10 m", "northward_wind"),
            "air_temperature": var(ta, "K", "air temperature at 10 m", "air_temperature"),
            "specific_humidity": var(q, "kg kg-1", "specific humidity at 10 m",
                                     "specific_humidity"),
            "air_pressure": var(np.full(12, pressure), "Pa", "surface air pressure",
                                "surface_air_pressure"),
            "shortwave_down": var(table["shortwave_down"], "W m-2", "downwelling shortwave",
                                  "surface_downwelling_shortwave_flux_in_air"),
            "longwave_down": var(table["longwave_down"] + longwave_offset, "W m-2", "downwelling longwave",
                                 "surface_downwelling_longwave_flux_in_air"),
            "rainfall": var(np.asarray(_RAIN_MM_DAY) / 86400.0, "kg m-2 s-1", "rainfall",
                            "rainfall_flux"),
            "snowfall": var(snow, "kg m-2 s-1", "snowfall (water equivalent)", "snowfall_flux"),
        },
        coords={"time": ("time", days, {"units": "days", "long_name": "mid-month, 360-day year"})},
        attrs={"title": "idealised Arctic atmosphere for the coupled ocean-sea-ice column",
               "source": "pyclimaocean.models.coupled.forcing (Semtner 1976 Table 1 radiation, "
                         "MU71 snowfall, idealised air temperature/humidity/wind)",
               "wind_height": 10.0, "temperature_height": 10.0, "period_days": 360.0},
    )


def arctic_atmosphere(**kwargs) -> PrescribedAtmosphere:
    """:func:`arctic_atmosphere_dataset` as a periodic :class:`PrescribedAtmosphere`."""
    ds = arctic_atmosphere_dataset(**kwargs)
    values = {k: jnp.asarray(ds[k].values) for k in ds.data_vars}
    return PrescribedAtmosphere(times=jnp.asarray(ds["time"].values * 86400.0), **values,
                                period=YEAR)
