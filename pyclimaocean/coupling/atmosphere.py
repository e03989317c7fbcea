"""A prescribed atmosphere: near-surface state and downwelling radiation from files.

:class:`PrescribedAtmosphere` holds time series (``(nt,)`` leaves: differentiable controls,
like :class:`~pyclimaocean.fluxes.surface.TabulatedSurfaceForcing`) and interpolates them
linearly in time inside the compiled step (``jnp.interp``; with ``period`` set, periodically,
for a climatology).  :func:`read_atmosphere` builds one from a netCDF file (any file xarray
opens) or an :class:`xarray.Dataset`, converting units; every error names the file, the
variable and what is accepted.

=====================  ===================================  ===============================
variable               meaning                              accepted units
=====================  ===================================  ===============================
time                   since the start of the run           s, min, h, d (``... since
                                                            <date>``: the date is the start)
wind_u, wind_v         wind at ``wind_height``              m s-1
air_temperature        at ``temperature_height``            K, degC
specific_humidity      at ``temperature_height``            kg kg-1, 1, g kg-1
air_pressure           at the surface                       Pa, hPa
shortwave_down         downwelling shortwave                W m-2
longwave_down          downwelling longwave                 W m-2
rainfall, snowfall     precipitation (water equivalent)     kg m-2 s-1, mm day-1, m s-1
=====================  ===================================  ===============================

``air_pressure`` (101325 Pa), ``rainfall`` and ``snowfall`` (0) may be absent; the others are
required.  Heights are attributes ``wind_height`` / ``temperature_height`` of the file (m;
default 10 m).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .coupler import AbstractComponent

__all__ = ["ATMOSPHERE_VARIABLES", "AtmosphereFileError", "PrescribedAtmosphere",
           "read_atmosphere"]

#: variable -> (units -> (factor, offset)) to model units; first units = model units
ATMOSPHERE_VARIABLES = {
    "wind_u": {"m s-1": (1.0, 0.0), "m/s": (1.0, 0.0)},
    "wind_v": {"m s-1": (1.0, 0.0), "m/s": (1.0, 0.0)},
    "air_temperature": {"K": (1.0, 0.0), "degC": (1.0, 273.15), "degree_Celsius": (1.0, 273.15),
                        "celsius": (1.0, 273.15)},
    "specific_humidity": {"kg kg-1": (1.0, 0.0), "1": (1.0, 0.0), "kg/kg": (1.0, 0.0),
                          "g kg-1": (1e-3, 0.0)},
    "air_pressure": {"Pa": (1.0, 0.0), "hPa": (100.0, 0.0)},
    "shortwave_down": {"W m-2": (1.0, 0.0)},
    "longwave_down": {"W m-2": (1.0, 0.0)},
    "rainfall": {"kg m-2 s-1": (1.0, 0.0), "mm day-1": (1.0 / 86400.0, 0.0),
                 "m s-1": (1000.0, 0.0)},
    "snowfall": {"kg m-2 s-1": (1.0, 0.0), "mm day-1": (1.0 / 86400.0, 0.0),
                 "m s-1": (1000.0, 0.0)},
}
_OPTIONAL = {"air_pressure": 101325.0, "rainfall": 0.0, "snowfall": 0.0}
_TIME_UNITS = {"s": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0, "minutes": 60.0,
               "h": 3600.0, "hour": 3600.0, "hours": 3600.0, "d": 86400.0, "day": 86400.0,
               "days": 86400.0}


class AtmosphereFileError(ValueError):
    """An atmosphere file is missing, unreadable or inconsistent (the message names it)."""


class PrescribedAtmosphere(AbstractComponent):
    """Near-surface atmosphere given as time series (see the module docstring).

    Attributes:
        times: ``(nt,)`` increasing, s since the start of the run.
        wind_u: eastward wind (m s⁻¹), ``(nt,)``; wind_v likewise northward.
        air_temperature: (K), ``(nt,)``.
        specific_humidity: (kg kg⁻¹), ``(nt,)``.
        air_pressure: (Pa), ``(nt,)``.
        shortwave_down: downwelling shortwave (W m⁻²); longwave_down likewise longwave.
        rainfall: (kg m⁻² s⁻¹); snowfall likewise (water equivalent).
        wind_height, temperature_height: measurement heights (m, static).
        period: ``None`` (end values held outside the table) or the period of a climatology
            (s, static; e.g. a 360-day year).
    """

    times: jnp.ndarray
    wind_u: jnp.ndarray
    wind_v: jnp.ndarray
    air_temperature: jnp.ndarray
    specific_humidity: jnp.ndarray
    air_pressure: jnp.ndarray
    shortwave_down: jnp.ndarray
    longwave_down: jnp.ndarray
    rainfall: jnp.ndarray
    snowfall: jnp.ndarray
    wind_height: float = eqx.field(static=True, default=10.0)
    temperature_height: float = eqx.field(static=True, default=10.0)
    period: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        t = np.asarray(self.times)
        if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
            raise ValueError("PrescribedAtmosphere: times must be a 1-D, finite, strictly "
                             f"increasing array of at least two times; got {t!r}")
        for name in ATMOSPHERE_VARIABLES:
            if np.shape(getattr(self, name)) != t.shape:
                raise ValueError(f"PrescribedAtmosphere: {name} has shape "
                                 f"{np.shape(getattr(self, name))}, times has {t.shape}")
        if self.period is not None and not t[-1] - t[0] < self.period:
            raise ValueError(f"PrescribedAtmosphere: period {self.period} s must exceed the "
                             f"span of the times ({t[-1] - t[0]} s)")

    def at(self, time) -> dict:
        """Every variable at ``time`` (s; traceable), a dict of scalars."""
        out = {}
        for name in ATMOSPHERE_VARIABLES:
            out[name] = jnp.interp(time, self.times, getattr(self, name), period=self.period)
        return out

    def export(self, state, time) -> dict:
        """:meth:`at` plus the measurement heights ``wind_height``, ``temperature_height``."""
        out = self.at(time)
        out["wind_height"] = self.wind_height
        out["temperature_height"] = self.temperature_height
        return out

    def advance(self, state, imports, time, dt):
        return state, {}

    def check_covers(self, start: float, stop: float, source: str = "the atmosphere") -> None:
        """Raise ``ValueError`` unless a non-periodic table covers ``[start, stop]`` (s)."""
        t = np.asarray(self.times)
        if self.period is None and (t[0] > start or t[-1] < stop):
            raise ValueError(f"{source} covers t = {t[0]:g} s to {t[-1]:g} s but the run needs "
                             f"t = {start:g} s to {stop:g} s; extend it, make it periodic or "
                             "shorten time.stop_time")


def _time_seconds(values, units: str | None, where: str) -> np.ndarray:
    if np.issubdtype(np.asarray(values).dtype, np.datetime64):
        v = np.asarray(values)
        return ((v - v[0]) / np.timedelta64(1, "s")).astype(float)
    if units is None:
        raise AtmosphereFileError(f"{where}: 'time' has no units; accepted: "
                                  f"{', '.join(_TIME_UNITS)} (or '<unit> since <date>')")
    unit = units.split(" since ")[0].strip()
    if unit not in _TIME_UNITS:
        raise AtmosphereFileError(f"{where}: time units {units!r} are not supported; accepted: "
                                  f"{', '.join(_TIME_UNITS)} (or '<unit> since <date>')")
    return np.asarray(values, dtype=float) * _TIME_UNITS[unit]


def read_atmosphere(source: str | os.PathLike | xr.Dataset,
                    variables: Mapping[str, str] | None = None,
                    period: float | None = None) -> PrescribedAtmosphere:
    """A :class:`PrescribedAtmosphere` from a file or an :class:`xarray.Dataset`.

    ``variables`` maps model names to names in the file (``{"air_temperature": "t2m"}``);
    ``period`` (s) makes the series periodic (a climatology).  Raises
    :class:`AtmosphereFileError` naming the file and the variable.
    """
    if isinstance(source, xr.Dataset):
        ds, where = source, "the atmosphere dataset"
    else:
        where = str(source)
        if not os.path.exists(source):
            raise AtmosphereFileError(f"atmosphere file {where} does not exist")
        with xr.open_dataset(source, decode_times=False) as opened:
            ds = opened.load()
    names = {k: k for k in ("time", *ATMOSPHERE_VARIABLES)}
    names.update(dict(variables or {}))
    if names["time"] not in ds.variables:
        raise AtmosphereFileError(f"{where}: no time variable {names['time']!r}; it has "
                                  f"{', '.join(map(str, ds.variables))}")
    tvar = ds[names["time"]]
    times = _time_seconds(tvar.values, tvar.attrs.get("units"), where)
    values = {}
    for quantity, table in ATMOSPHERE_VARIABLES.items():
        var = names[quantity]
        if var not in ds.variables:
            if quantity in _OPTIONAL:
                values[quantity] = np.full(times.shape, _OPTIONAL[quantity])
                continue
            raise AtmosphereFileError(
                f"{where}: no variable {var!r} ({quantity}). The file has: "
                f"{', '.join(map(str, ds.data_vars))}. Name it {quantity!r} or map it with "
                f"variables = {{ {quantity} = \"<name in the file>\" }}")
        units = ds[var].attrs.get("units")
        if units not in table:
            raise AtmosphereFileError(
                f"{where}: variable {var!r} ({quantity}) has units {units!r}; accepted: "
                f"{', '.join(table)}")
        factor, offset = table[units]
        v = np.squeeze(np.asarray(ds[var].values, dtype=float)) * factor + offset
        if v.shape != times.shape or not np.all(np.isfinite(v)):
            raise AtmosphereFileError(
                f"{where}: variable {var!r} ({quantity}) must be finite with one value per "
                f"time ({times.shape[0]}); got shape {v.shape}")
        values[quantity] = v
    try:
        return PrescribedAtmosphere(
            times=jnp.asarray(times), **{k: jnp.asarray(v) for k, v in values.items()},
            wind_height=float(ds.attrs.get("wind_height", 10.0)),
            temperature_height=float(ds.attrs.get("temperature_height", 10.0)),
            period=period)
    except ValueError as err:
        raise AtmosphereFileError(f"{where}: {err}") from None
