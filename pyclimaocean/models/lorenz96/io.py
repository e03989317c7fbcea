"""CF-style xarray output of Lorenz-96 trajectories.

Lorenz-96 is nondimensional: values carry ``units = "1"`` and time is in model time units
(MTU), recorded as ``units = "1"`` with a ``long_name`` that says so (CF allows
dimensionless coordinates; no calendar applies).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .state import TwoScaleState

__all__ = ["to_xarray"]


def _time_coord(n_saved: int, dt: float, save_every: int, t0: float, includes_initial: bool):
    offset = 0 if includes_initial else 1
    t = t0 + dt * save_every * (np.arange(n_saved) + offset)
    return xr.DataArray(
        t,
        dims="time",
        attrs={"units": "1", "long_name": "time in Lorenz-96 model time units (MTU)", "axis": "T"},
    )


def to_xarray(
    traj: Any,
    *,
    dt: float,
    save_every: int = 1,
    t0: float = 0.0,
    includes_initial: bool = False,
    forcing: float | None = None,
    name: str = "x",
    long_name: str = "Lorenz-96 variable",
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Turn a trajectory from :func:`simulate` into a CF-style :class:`xarray.Dataset`.

    Args:
        traj: ``(T, n)`` array (one-scale), or a :class:`TwoScaleState` with x ``(T, K)`` and
            y ``(T, K*J)`` (two-scale), or a single state without the time axis.
        dt: model time step (MTU); with ``save_every`` it sets the ``time`` coordinate.
        save_every: steps between saved states.
        t0: time of the initial state.
        includes_initial: whether entry 0 is the initial state (time ``t0``) rather than the
            state after ``save_every`` steps.
        forcing: F, recorded as a global attribute if given.
        name, long_name: variable name and long_name for the one-scale case.
        attrs: extra global attributes.

    Returns:
        Dataset with dimensions ``time``, ``k`` (and ``j`` for the fast variables); variables
        carry ``units`` and ``long_name``.
    """
    gattrs = {
        "Conventions": "CF-1.10",
        "title": "Lorenz-96 trajectory",
        "source": "pyclimaocean.models.lorenz96 (RK4)",
        "time_step": float(dt),
        "save_every": int(save_every),
    }
    if forcing is not None:
        gattrs["forcing"] = float(forcing)
    gattrs.update(attrs or {})

    if isinstance(traj, TwoScaleState):
        x = np.asarray(traj.x)
        y = np.asarray(traj.y)
        if x.ndim == 1:
            x, y = x[None], y[None]
        n_t, K = x.shape
        if y.shape[-1] % K:
            raise ValueError(f"fast state length {y.shape[-1]} is not a multiple of K={K}")
        J = y.shape[-1] // K
        gattrs["title"] = "two-scale Lorenz-96 trajectory"
        ds = xr.Dataset(
            {
                "X": (
                    ("time", "k"),
                    x,
                    {"units": "1", "long_name": "slow (resolved) variable X_k"},
                ),
                "Y": (
                    ("time", "k", "j"),
                    y.reshape(n_t, K, J),
                    {"units": "1", "long_name": "fast (unresolved) variable Y_{j,k}"},
                ),
            },
            coords={
                "time": _time_coord(n_t, dt, save_every, t0, includes_initial),
                "k": ("k", np.arange(K), {"long_name": "slow variable index", "units": "1"}),
                "j": ("j", np.arange(J), {"long_name": "fast variable index", "units": "1"}),
            },
            attrs=gattrs,
        )
        return ds

    x = np.asarray(traj)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"one-scale trajectory must have shape (time, n); got {x.shape}")
    n_t, n = x.shape
    return xr.Dataset(
        {name: (("time", "k"), x, {"units": "1", "long_name": long_name})},
        coords={
            "time": _time_coord(n_t, dt, save_every, t0, includes_initial),
            "k": ("k", np.arange(n), {"long_name": "variable index", "units": "1"}),
        },
        attrs=gattrs,
    )
