"""Write the small data files of ``column_observed_forcing.toml`` (synthetic "observations").

    python examples/column_observed_forcing_data.py [OUTPUT_DIR]

* ``column_observed_forcing.nc``: hourly surface fluxes for 4 days, the way a mooring or a
  reanalysis gives them: a diurnal shortwave cycle whose noon peak varies from day to day
  (clouds), a non-solar heat loss that strengthens during a storm on day 2, a wind stress that
  rises and turns with the storm, and E − P with a rain event (negative).  Variables
  ``heat_flux``, ``shortwave`` (W m-2), ``wind_stress_x``, ``wind_stress_y`` (N m-2),
  ``freshwater_flux`` (kg m-2 s-1, converted by the reader) on ``time`` (hours since start).
* ``column_observed_profile.nc``: an initial CTD-like profile (temperature, salinity) at 19
  depths from 0 to 150 m (``depth`` positive down): a 25 m mixed layer over a thermocline.

Deterministic (no random numbers): the files committed next to this script are what it writes
(the test ``tests/test_forcing_data.py`` checks it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import xarray as xr


def forcing_dataset() -> xr.Dataset:
    hours = np.arange(0.0, 4 * 24 + 1)  # 0 .. 96 h
    day = hours / 24.0
    clouds = np.array([1.0, 0.55, 0.35, 0.85])[np.minimum(day.astype(int), 3)]
    noon = np.cos(2 * np.pi * (day - 0.5))  # 1 at noon, -1 at midnight
    shortwave = np.round(np.maximum(650.0 * clouds * noon, 0.0), 1)
    storm = np.exp(-(((day - 1.6) / 0.35) ** 2))
    heat_flux = np.round(-60.0 - 180.0 * storm, 1)
    wind = 0.04 + 0.26 * storm
    angle = np.deg2rad(20.0 + 70.0 * storm)
    rain = np.exp(-(((day - 1.8) / 0.15) ** 2))
    evaporation_minus_precipitation = np.round(3e-5 - 4e-4 * rain, 7)  # kg m-2 s-1
    attrs = {"title": "synthetic hourly surface fluxes for examples/column_observed_forcing.toml",
             "source": "examples/column_observed_forcing_data.py"}
    return xr.Dataset(
        {
            "heat_flux": ("time", heat_flux, {"units": "W m-2",
                                              "long_name": "non-solar heat flux into the ocean"}),
            "shortwave": ("time", shortwave, {"units": "W m-2",
                                              "long_name": "shortwave radiation into the ocean"}),
            "wind_stress_x": ("time", np.round(wind * np.cos(angle), 4),
                              {"units": "N m-2", "long_name": "eastward wind stress"}),
            "wind_stress_y": ("time", np.round(wind * np.sin(angle), 4),
                              {"units": "N m-2", "long_name": "northward wind stress"}),
            "freshwater_flux": ("time", evaporation_minus_precipitation,
                                {"units": "kg m-2 s-1",
                                 "long_name": "evaporation minus precipitation"}),
        },
        coords={"time": ("time", hours, {"units": "hours since 2000-01-01 00:00:00",
                                         "long_name": "time since the start of the run"})},
        attrs=attrs,
    )


def profile_dataset() -> xr.Dataset:
    depth = np.array([0.0, 2, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100, 125,
                      150])
    below = np.maximum(depth - 25.0, 0.0)
    temperature = np.round(22.0 - 5.0 * np.tanh(below / 20.0) - 0.02 * below, 3)
    salinity = np.round(35.2 + 0.4 * np.tanh(below / 30.0), 3)
    return xr.Dataset(
        {
            "temperature": ("depth", temperature, {"units": "degC",
                                                   "long_name": "sea water temperature"}),
            "salinity": ("depth", salinity, {"units": "g kg-1",
                                             "long_name": "sea water salinity"}),
        },
        coords={"depth": ("depth", depth, {"units": "m", "positive": "down"})},
        attrs={"title": "synthetic initial profile for examples/column_observed_forcing.toml",
               "source": "examples/column_observed_forcing_data.py"},
    )


def main(output_dir: str | Path = Path(__file__).parent) -> list[Path]:
    output_dir = Path(output_dir)
    paths = [output_dir / "column_observed_forcing.nc", output_dir / "column_observed_profile.nc"]
    for ds, path in zip((forcing_dataset(), profile_dataset()), paths, strict=True):
        ds.to_netcdf(path, engine="netcdf4")
    return paths


if __name__ == "__main__":
    for p in main(*sys.argv[1:]):
        print(p)
