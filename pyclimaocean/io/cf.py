"""CF-convention xarray datasets for model output.

Every variable carries ``units``, ``long_name`` and, where the CF standard-name table has one,
``standard_name``; coordinates are named ``time`` and ``z`` (m, positive up).

Time.  The model's clock is seconds since the start of the run.  CF requires a time coordinate
to name a reference date, so ``time`` is written as ``"seconds since 2000-01-01 00:00:00"``
(:data:`TIME_UNITS`; a nominal start date, stated in the variable's ``comment``): CF tools
recognise the axis, and xarray decodes it to dates.  :func:`seconds_since_start` turns a decoded
or raw ``time`` back into the model's float seconds; pyclimaocean's own readers use it.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

__all__ = ["column_dataset", "global_attributes", "seconds_since_start", "time_attributes",
           "TIME_UNITS", "REFERENCE_DATE"]

#: nominal start date of every run (the model's clock starts at 0 s)
REFERENCE_DATE = "2000-01-01 00:00:00"
TIME_UNITS = f"seconds since {REFERENCE_DATE}"


def time_attributes(**extra) -> dict:
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
        units = str(getattr(time, "encoding", {}).get("units", ""))
        if units.replace("T", " ").strip() != TIME_UNITS:
            raise ValueError(
                f"'time' holds dates (decoded from units {units!r}, first {values.flat[0]}); the "
                "model's clock is seconds since the start of the run. Convert, e.g. "
                "ds['time'] = (ds.time - np.datetime64('START')) / np.timedelta64(1, 's'), or open "
                "the file with decode_times=False if its units count from the start of the run"
            )
        return (values - np.datetime64(REFERENCE_DATE.replace(" ", "T"))) / np.timedelta64(1, "s")
    try:
        return values.astype(float)
    except (TypeError, ValueError):
        raise ValueError(
            f"'time' must be numbers (s since the start), got dtype {values.dtype}"
        ) from None


def global_attributes(**extra) -> dict:
    from .. import __version__

    attrs = {
        "Conventions": "CF-1.10",
        "source": f"pyclimaocean {__version__}",
        "history": f"{_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')} created by pyclimaocean",
    }
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def column_dataset(model, outputs, attrs: dict | None = None) -> xr.Dataset:
    """Dataset of stacked column states ``outputs`` (leading axis = time) for ``model``."""
    from ..models.column.state import VARIABLES

    g = model.grid
    time = np.atleast_1d(np.asarray(outputs.time, dtype=float))
    z = np.asarray(g.z_centers)
    data_vars = {}
    for name, (attr, units, long_name, standard_name, _) in VARIABLES.items():
        values = np.asarray(getattr(outputs, attr), dtype=float).reshape(len(time), g.nz)
        a = {"units": units, "long_name": long_name}
        if standard_name:
            a["standard_name"] = standard_name
        data_vars[name] = (("time", "z"), values, a)
    b = np.asarray(
        model.equation_of_state.buoyancy(
            np.asarray(outputs.temperature), np.asarray(outputs.salinity), 0.0 * z
        )
    ).reshape(len(time), g.nz)
    data_vars["b"] = (("time", "z"), b, {"units": "m s-2",
                                          "long_name": "potential buoyancy (surface reference)"})
    coords = {
        "time": ("time", time, time_attributes()),
        "z": ("z", z, {"units": "m", "long_name": "height of cell centre", "positive": "up",
                       "standard_name": "height", "axis": "Z"}),
        "z_face": ("z_face", np.asarray(g.z_faces), {"units": "m", "long_name": "height of cell face",
                                                      "positive": "up"}),
        "dz": ("z", np.asarray(g.dz_centers), {"units": "m", "long_name": "cell thickness"}),
    }
    base = dict(model="column", closure=type(model.closure).__name__, dt=float(model.dt),
                coriolis_parameter=float(np.asarray(model.coriolis_parameter)))
    base.update(attrs or {})
    return xr.Dataset(data_vars, coords=coords, attrs=global_attributes(**base))
