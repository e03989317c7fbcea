"""CF-convention xarray datasets for model output.

Every variable carries ``units``, ``long_name`` and, where the CF standard-name table has one,
``standard_name``; coordinates are named ``time`` (s since start) and ``z`` (m, positive up).
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import xarray as xr

__all__ = ["column_dataset", "global_attributes"]


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
        "time": ("time", time, {"units": "s", "long_name": "model time since start",
                                "axis": "T"}),
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
