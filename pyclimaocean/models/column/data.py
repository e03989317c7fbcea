"""Column forcing and initial profiles read from data files (netCDF or CSV).

Used by the experiment builder (``[forcing] file = ...``, ``[initial_conditions] file = ...``);
the model itself never reads files.  Every error names the file, the variable and what is
accepted.

Surface forcing file (:func:`read_surface_forcing`)
    A ``time`` variable (or coordinate) and any of ``heat_flux``, ``shortwave``,
    ``wind_stress_x``, ``wind_stress_y``, ``freshwater_flux`` on it (missing fluxes are zero;
    at least one must be present).  Other names are mapped with ``variables = {heat_flux =
    "Qnet", time = "t"}``.

    =================  ============================================  =======================
    variable           meaning                                       accepted units
    =================  ============================================  =======================
    time               since the start of the run                    s, min, h, d (``seconds
                                                                     since <date>`` etc.: the
                                                                     date is taken as the
                                                                     start of the run)
    heat_flux          non-solar heat flux into the ocean            W m-2
    shortwave          shortwave into the ocean (≥ 0)                W m-2
    wind_stress_x/_y   stress of the atmosphere on the ocean         N m-2, Pa
    freshwater_flux    E − P (positive: evaporation, saltier)        m s-1, kg m-2 s-1
                                                                     (÷ 1000 kg m⁻³),
                                                                     mm day-1
    =================  ============================================  =======================

    netCDF variables must carry a ``units`` attribute.  A CSV file has one header line of
    column names, optionally with units in brackets (``heat_flux [W m-2]``; without brackets
    the first unit of the table is assumed), then one row per time; lines starting with ``#``
    are comments.

Initial profile file (:func:`read_initial_profiles`)
    A vertical coordinate ``z`` (m, height: negative below the surface; or with attribute
    ``positive = "down"``) or ``depth`` (m, positive down), and ``temperature`` (°C; required)
    and optionally ``salinity`` (g kg⁻¹), ``u``, ``v`` (m s⁻¹) on it.  Dimensions of length
    one (a single time, say) are dropped.  The profile must span the grid's cell centres;
    values are interpolated linearly onto them.

    ===========  ===================================================================
    variable     accepted units
    ===========  ===================================================================
    z, depth     m
    temperature  degC (degree_Celsius, degrees_C, celsius)
    salinity     g kg-1 (g/kg, psu, PSU, 1e-3, 0.001)
    u, v         m s-1
    ===========  ===================================================================
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "FORCING_UNITS",
    "PROFILE_UNITS",
    "DataFileError",
    "read_initial_profiles",
    "read_surface_forcing",
]


class DataFileError(ValueError):
    """A forcing or profile file is missing, unreadable or inconsistent (message names it)."""


def _norm(units: str) -> str:
    """``"W/m^2"``, ``"W m**-2"``, ``"W.m-2"`` -> ``"w m-2"``."""
    u = units.strip().lower().replace("**", "").replace("^", "").replace(".", " ")
    u = re.sub(r"/\s*([a-z]+)(\d*)", lambda m: f" {m.group(1)}-{m.group(2) or '1'}", u)
    return " ".join(u.split())


#: accepted units of each forcing variable -> factor to the model's units (first: canonical)
FORCING_UNITS: dict[str, dict[str, float]] = {
    "time": {"s": 1.0, "seconds": 1.0, "second": 1.0, "sec": 1.0, "min": 60.0, "minutes": 60.0,
             "h": 3600.0, "hours": 3600.0, "hour": 3600.0, "d": 86400.0, "days": 86400.0,
             "day": 86400.0},
    "heat_flux": {"W m-2": 1.0},
    "shortwave": {"W m-2": 1.0},
    "wind_stress_x": {"N m-2": 1.0, "Pa": 1.0},
    "wind_stress_y": {"N m-2": 1.0, "Pa": 1.0},
    "freshwater_flux": {"m s-1": 1.0, "kg m-2 s-1": 1e-3, "mm day-1": 1e-3 / 86400.0},
}

#: accepted units of each profile variable -> factor to the model's units (first: canonical)
PROFILE_UNITS: dict[str, dict[str, float]] = {
    "z": {"m": 1.0, "meters": 1.0, "metres": 1.0},
    "depth": {"m": 1.0, "meters": 1.0, "metres": 1.0},
    "temperature": {"degC": 1.0, "degree_Celsius": 1.0, "degrees_Celsius": 1.0,
                    "degree_C": 1.0, "degrees_C": 1.0, "celsius": 1.0, "deg_C": 1.0},
    "salinity": {"g kg-1": 1.0, "psu": 1.0, "1e-3": 1.0, "0.001": 1.0},
    "u": {"m s-1": 1.0},
    "v": {"m s-1": 1.0},
}

_FLUXES = ("heat_flux", "shortwave", "wind_stress_x", "wind_stress_y", "freshwater_flux")
_NETCDF = (".nc", ".nc4", ".cdf", ".netcdf")


def _factor(table: Mapping[str, float], units: str, path, var: str, name: str) -> float:
    u = units
    if name == "time":
        u = units.split(" since ")[0]
    wanted = {_norm(k): v for k, v in table.items()}
    if _norm(u) not in wanted:
        raise DataFileError(
            f"{path}: variable {var!r} ({name}) has units {units!r}, which are not accepted. "
            f"Accepted units: {', '.join(table)}"
        )
    return wanted[_norm(u)]


def _names(kind: str, variables: Mapping[str, str] | None, known) -> dict[str, str]:
    variables = dict(variables or {})
    unknown = [k for k in variables if k not in known]
    if unknown:
        raise DataFileError(
            f"{kind} variables: {unknown} are not {kind} quantities. Quantities are: "
            f"{', '.join(known)}"
        )
    return {k: variables.get(k, k) for k in known}


def _check_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            f"data file {str(path)!r} does not exist (relative paths are taken from the current "
            f"directory, {os.getcwd()})"
        )
    if path.suffix.lower() not in _NETCDF + (".csv",):
        raise DataFileError(
            f"data file {str(path)!r}: unknown format {path.suffix!r}. Supported: netCDF "
            f"({', '.join(_NETCDF)}) or CSV (.csv)"
        )
    return path


def _read_netcdf(path: Path) -> dict[str, tuple[np.ndarray, str | None, tuple[str, ...]]]:
    import xarray as xr

    try:
        with xr.open_dataset(path, decode_times=False, decode_timedelta=False) as ds:
            return {
                str(n): (np.asarray(v.values), v.attrs.get("units"), tuple(map(str, v.dims)))
                for n, v in ds.variables.items()
            }
    except (OSError, ValueError) as err:
        raise DataFileError(f"{path}: cannot read it as netCDF ({err})") from None


def _read_csv(path: Path) -> dict[str, tuple[np.ndarray, str | None, tuple[str, ...]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].lstrip().startswith("#")]
    if len(rows) < 2:
        raise DataFileError(f"{path}: a CSV file needs a header line and at least one row")
    header = []
    for cell in rows[0]:
        m = re.fullmatch(r"\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*", cell)
        if not m:
            raise DataFileError(f"{path}: cannot read column name {cell!r} (use name [units])")
        header.append((m.group(1), m.group(2)))
    out = {}
    for j, (name, units) in enumerate(header):
        try:
            values = np.array([float(r[j]) for r in rows[1:]])
        except (IndexError, ValueError):
            raise DataFileError(
                f"{path}: column {name!r} has a missing or non-numeric value"
            ) from None
        out[name] = (values, units, ("row",))
    return out


def _read(path: Path):
    return _read_csv(path) if path.suffix.lower() == ".csv" else _read_netcdf(path)


def _squeeze(values, dims, path, var, want_dim=None):
    keep = [d for d, n in zip(dims, values.shape, strict=True) if n != 1]
    values = np.squeeze(values)
    if values.ndim != 1:
        raise DataFileError(
            f"{path}: variable {var!r} has dimensions {dims} of shape {values.shape}; a 1-D "
            "series/profile is needed (dimensions of length one are dropped)"
        )
    if want_dim is not None and keep and keep[0] != want_dim:
        raise DataFileError(f"{path}: variable {var!r} is on {keep[0]!r}, not on {want_dim!r}")
    return values.astype(float)


def read_surface_forcing(path: str | os.PathLike,
                         variables: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Read forcing time series: ``{"times": (nt,), "heat_flux": (nt,), ...}`` in model units
    (s, W m⁻², N m⁻², m s⁻¹); fluxes absent from the file are zero (see the module docstring
    for names and units)."""
    path = _check_file(path)
    names = _names("forcing", variables, ("time",) + _FLUXES)
    data = _read(path)
    csv_file = path.suffix.lower() == ".csv"

    def get(quantity, required):
        var = names[quantity]
        if var not in data:
            if required:
                raise DataFileError(
                    f"{path}: no variable {var!r} ({quantity}). The file has: "
                    f"{', '.join(data)}. Name it {quantity!r} or map it with "
                    f"variables = {{ {quantity} = \"<name in the file>\" }}"
                )
            return None
        values, units, dims = data[var]
        if units is None:
            if not csv_file:
                raise DataFileError(
                    f"{path}: variable {var!r} ({quantity}) has no 'units' attribute. Accepted "
                    f"units: {', '.join(FORCING_UNITS[quantity])}"
                )
            units = next(iter(FORCING_UNITS[quantity]))
        factor = _factor(FORCING_UNITS[quantity], str(units), path, var, quantity)
        return _squeeze(values, dims, path, var) * factor, dims

    times, time_dims = get("time", True)
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise DataFileError(f"{path}: {names['time']!r} must be finite and strictly increasing")
    out = {"times": times}
    for q in _FLUXES:
        got = get(q, False)
        if got is None:
            continue
        values, dims = got
        if values.shape != times.shape:
            raise DataFileError(
                f"{path}: variable {names[q]!r} ({q}) has {values.shape[0]} values but "
                f"{names['time']!r} has {times.shape[0]}"
            )
        if not np.all(np.isfinite(values)):
            i = int(np.argmax(~np.isfinite(values)))
            raise DataFileError(f"{path}: variable {names[q]!r} ({q}) is {values[i]} at time "
                                f"index {i}; fill missing values first")
        if q == "shortwave" and np.any(values < 0):
            i = int(np.argmax(values < 0))
            raise DataFileError(
                f"{path}: variable {names[q]!r} (shortwave into the ocean) is {values[i]:g} W m-2 "
                f"< 0 at time index {i}; shortwave must be >= 0"
            )
        out[q] = values
    if len(out) == 1:
        raise DataFileError(
            f"{path}: none of the fluxes {', '.join(names[q] for q in _FLUXES)} is in the file "
            f"(it has: {', '.join(data)}); map names with variables = {{ heat_flux = \"...\" }}"
        )
    return out


def read_initial_profiles(path: str | os.PathLike,
                          variables: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Read initial profiles: ``{"z": (n,) increasing heights (m, < 0 below the surface),
    "temperature": (n,), and any of "salinity", "u", "v"}`` in model units (see the module
    docstring for names and units)."""
    path = _check_file(path)
    names = _names("initial profile", variables, tuple(PROFILE_UNITS))
    data = _read(path)

    def units_of(var, quantity):
        units = data[var][1]
        if units is None:
            if path.suffix.lower() != ".csv":
                raise DataFileError(
                    f"{path}: variable {var!r} ({quantity}) has no 'units' attribute. Accepted "
                    f"units: {', '.join(PROFILE_UNITS[quantity])}"
                )
            units = next(iter(PROFILE_UNITS[quantity]))
        return _factor(PROFILE_UNITS[quantity], str(units), path, var, quantity)

    if names["z"] in data:
        var = names["z"]
        values, _, dims = data[var]
        nc_attrs_down = False
        if path.suffix.lower() != ".csv":
            import xarray as xr

            with xr.open_dataset(path, decode_times=False) as ds:
                nc_attrs_down = str(ds[var].attrs.get("positive", "up")).lower() == "down"
        sign = -1.0 if nc_attrs_down else 1.0
    elif names["depth"] in data:
        var, sign = names["depth"], -1.0
        values, _, dims = data[var]
    else:
        raise DataFileError(
            f"{path}: no vertical coordinate: neither {names['z']!r} (height, m) nor "
            f"{names['depth']!r} (depth, m, positive down) is in the file (it has: "
            f"{', '.join(data)}); map one with variables = {{ depth = \"<name>\" }}"
        )
    quantity = "z" if var == names["z"] else "depth"
    z = sign * _squeeze(values, dims, path, var) * units_of(var, quantity) + 0.0  # no -0.0
    zdim = [d for d, n in zip(dims, values.shape, strict=True) if n != 1]
    zdim = zdim[0] if zdim else None
    if not np.all(np.isfinite(z)) or np.any(z > 0):
        raise DataFileError(
            f"{path}: {var!r} must be finite and at or below the surface (heights <= 0 m, or "
            f"depths >= 0 m); got {z.min():g} to {z.max():g} m as heights"
        )
    order = np.argsort(z)
    if np.any(np.diff(z[order]) == 0):
        raise DataFileError(f"{path}: {var!r} has repeated levels")
    out = {"z": z[order]}
    for quantity in ("temperature", "salinity", "u", "v"):
        name = names[quantity]
        if name not in data:
            if quantity == "temperature":
                raise DataFileError(
                    f"{path}: no variable {name!r} (temperature, °C, required). The file has: "
                    f"{', '.join(data)}. Name it 'temperature' or map it with "
                    "variables = { temperature = \"<name in the file>\" }"
                )
            continue
        values, _, dims = data[name]
        values = _squeeze(values, dims, path, name, want_dim=zdim) * units_of(name, quantity)
        if values.shape != z.shape:
            raise DataFileError(
                f"{path}: variable {name!r} has {values.shape[0]} levels, {var!r} has "
                f"{z.shape[0]}"
            )
        if not np.all(np.isfinite(values)):
            raise DataFileError(f"{path}: variable {name!r} ({quantity}) has missing values; "
                                "fill them or trim the profile")
        out[quantity] = values[order]
    return out
