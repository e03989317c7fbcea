"""CF-convention :class:`xarray.Dataset` objects built from a model's variable metadata.

Every variable carries ``units``, ``long_name``, ``grid_location`` and, where the CF table has
one, ``standard_name``; coordinates come from :meth:`AbstractModel.coordinates` (with
``bounds`` where the model gives cell boundaries).

Time.  A model whose clock counts seconds (``time_units = "s"``) writes ``time`` as
``"seconds since 2000-01-01 00:00:00"`` (:data:`TIME_UNITS`; a nominal start date, stated in
the ``comment``): CF tools recognise the axis and xarray decodes it to dates, in memory exactly
as on disk.  :func:`seconds_since_start` turns a decoded or raw ``time`` back into model
seconds.  Nondimensional clocks (Lorenz-96) are written as plain numbers with their units.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__

__all__ = [
    "REFERENCE_DATE",
    "TIME_UNITS",
    "cf_time_attributes",
    "fields_dataset",
    "global_attributes",
    "model_dataset",
    "seconds_since_start",
]

#: nominal start date of every run (the model's clock starts at 0 s)
REFERENCE_DATE = "2000-01-01 00:00:00"
TIME_UNITS = f"seconds since {REFERENCE_DATE}"
_REFERENCE = np.datetime64(REFERENCE_DATE.replace(" ", "T"), "ns")


def cf_time_attributes(**extra) -> dict:
    """CF attributes of a model-time coordinate holding seconds since the start of the run."""
    attrs = {
        "units": TIME_UNITS,
        "calendar": "proleptic_gregorian",
        "standard_name": "time",
        "long_name": "model time",
        "axis": "T",
        "comment": f"seconds since the start of the run; {REFERENCE_DATE} is a nominal start date",
    }
    attrs.update(extra)
    return attrs


def seconds_since_start(time) -> np.ndarray:
    """A ``time`` coordinate as float seconds since the start of the run.

    Accepts numbers (seconds), durations (``timedelta64``) and dates (``datetime64``) decoded
    from :data:`TIME_UNITS`.  Dates decoded from another reference raise ``ValueError`` naming
    the conversion, since the model's clock cannot know the run's real start date.
    """
    values = np.asarray(getattr(time, "values", time))
    if np.issubdtype(values.dtype, np.timedelta64):
        return values / np.timedelta64(1, "s")
    if np.issubdtype(values.dtype, np.datetime64):
        encoding = getattr(time, "encoding", {}) or {}
        units = str(encoding.get("units", TIME_UNITS if not encoding else ""))
        if not _is_reference_units(units):
            raise ValueError(
                f"'time' holds dates (decoded from units {units!r}, first {values.flat[0]}); the "
                "model's clock is seconds since the start of the run. Convert, e.g. "
                "ds['time'] = (ds.time - np.datetime64('START')) / np.timedelta64(1, 's'), or open "
                "the file with decode_times=False if its units count from the start of the run"
            )
        return (values - _REFERENCE) / np.timedelta64(1, "s")
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        raise ValueError(
            f"'time' must be numbers (s since the start), got dtype {values.dtype}"
        ) from None


def _is_reference_units(units: str) -> bool:
    """``units`` is "seconds since" the nominal start date (in any spelling of that date)."""
    head, sep, date = units.partition(" since ")
    if not sep or head.strip() not in ("seconds", "second", "s"):
        return False
    try:
        return np.datetime64(date.strip().replace(" ", "T"), "ns") == _REFERENCE
    except ValueError:
        return False


def global_attributes(**extra) -> dict:
    attrs = {
        "Conventions": "CF-1.10",
        "source": f"pyclimaocean {__version__}",
        "history": f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} created by pyclimaocean",
    }
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def _time_coordinate(model, times) -> xr.Variable:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    attrs = model.time_attributes()
    if attrs.get("units") == TIME_UNITS:
        # decoded in memory exactly as xarray decodes the file: dates from the nominal start
        values = _REFERENCE + np.round(times * 1e9).astype("timedelta64[ns]")
        encoding = {"units": TIME_UNITS, "calendar": attrs["calendar"], "dtype": "float64"}
        decoded = {k: v for k, v in attrs.items() if k not in ("units", "calendar")}
        var = xr.Variable("time", values, decoded)
        var.encoding = encoding
        return var
    return xr.Variable("time", times, attrs)


def coordinate_variables(model) -> dict[str, xr.Variable]:
    """The model's coordinates (and their CF cell bounds) as xarray variables."""
    coords: dict[str, Any] = {}
    for c in model.coordinates():
        dims = c.dims or (c.name,)
        attrs = dict(c.attrs)
        if c.bounds is not None:
            bname = f"{c.name}_bounds"
            attrs["bounds"] = bname
            coords[bname] = xr.Variable(dims + ("nv",), np.asarray(c.bounds))
        coords[c.name] = xr.Variable(dims, np.asarray(c.values), attrs)
    return coords


def fields_dataset(
    model,
    fields: Mapping[str, Any],
    times,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Dataset of output fields stacked along a leading time axis.

    Args:
        model: an :class:`~pyclimaocean.core.AbstractModel` (metadata and coordinates).
        fields: ``{variable name: (n_times, *dims)}``; a subset of ``model.variables()``.
        times: ``(n_times,)`` model times.
        attrs: extra global attributes.
    """
    meta = {v.name: v for v in model.variables()}
    unknown = set(fields) - set(meta)
    if unknown:
        raise KeyError(
            f"fields {sorted(unknown)} are not variables of the {model.name} model. "
            f"Variables are: {', '.join(meta)}"
        )
    n_t = np.atleast_1d(np.asarray(times)).shape[0]
    data_vars = {}
    for name, values in fields.items():
        v = meta[name]
        arr = np.asarray(values)
        arr = arr.reshape((n_t,) + arr.shape[arr.ndim - len(v.dims):]) if v.dims else arr.reshape(n_t)
        data_vars[name] = (("time",) + tuple(v.dims), arr, v.cf_attributes())
    coords = coordinate_variables(model)
    coords["time"] = _time_coordinate(model, times)
    base = {"model": model.name, "time_step": float(model.dt)}
    base.update(model.describe())
    base.update(attrs or {})
    ds = xr.Dataset(data_vars, coords=coords, attrs=global_attributes(**base))
    ds["time"].encoding.update(coords["time"].encoding)  # (dropped by the constructor)
    return ds


def model_dataset(
    model,
    states,
    attrs: Mapping[str, Any] | None = None,
    include: Iterable[str] | None = None,
) -> xr.Dataset:
    """Dataset of states stacked along a leading time axis (``include`` selects fields)."""
    import jax

    times = np.atleast_1d(np.asarray(model.time(states), dtype=float))
    single = np.asarray(model.time(states)).ndim == 0
    if single:
        states = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], states)
    fields = jax.vmap(model.output_fields)(states)
    if include is not None:
        include = list(include)
        missing = [n for n in include if n not in fields]
        if missing:
            raise KeyError(
                f"output fields {missing} are not variables of the {model.name} model. "
                f"Variables are: {', '.join(fields)}"
            )
        fields = {n: fields[n] for n in include}
    return fields_dataset(model, fields, times, attrs)
