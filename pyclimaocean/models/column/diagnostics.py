"""Named diagnostics of the column model: differentiable functions of a state (usable as
losses) and the key numbers of an output dataset shown in reports."""

from __future__ import annotations

from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np

from ...core.dataset import seconds_since_start
from .mixed_layer import mixed_layer_depth

__all__ = ["DIAGNOSTICS", "heat_content", "sea_surface_temperature", "summary"]


def heat_content(model, state):
    """ρ₀ c_p ∫ T dz (J m⁻²)."""
    rho_cp = model.reference_density * model.heat_capacity
    return rho_cp * model.grid.integrate(state.temperature)


def sea_surface_temperature(model, state):
    """Temperature of the top cell (°C)."""
    return state.temperature[..., -1]


#: ``{name: f(model, state)}``: every entry is differentiable with respect to the model
DIAGNOSTICS = {
    "mixed_layer_depth": lambda model, state: mixed_layer_depth(model, state),
    "sea_surface_temperature": sea_surface_temperature,
    "heat_content": heat_content,
}


def summary(model, ds) -> dict[str, tuple[float, str, str]]:
    """Key numbers of a column run: ``{key: (value, units, label)}``.

    ``final_mixed_layer_depth`` (m; the model's default definition),
    ``final_mixed_layer_depth_threshold`` (buoyancy 1e-4 m s⁻² below the surface ≈ 0.05 K),
    initial and final surface temperature, min/max temperature (°C) and the heat-content change
    between the first and last output (J m⁻²; the first output is the initial state).
    """
    last = ds.isel(time=-1)
    s = SimpleNamespace(temperature=jnp.asarray(last["T"].values),
                        salinity=jnp.asarray(last["S"].values))
    dz = ds["dz"].values
    hc = (ds["T"].values * dz).sum(axis=-1)
    rho_cp = float(model.reference_density) * float(model.heat_capacity)
    t = seconds_since_start(ds["time"])
    return {
        "final_time": (float(t[-1]), "s", "final time"),
        "final_mixed_layer_depth": (float(mixed_layer_depth(model, s)), "m",
                                    "final mixed-layer depth"),
        "final_surface_temperature": (float(ds["T"].values[-1, -1]), "°C",
                                      "final surface temperature"),
        "final_mixed_layer_depth_threshold": (
            float(mixed_layer_depth(model, s, threshold=1e-4)), "m",
            "final mixed-layer depth (Δb = 1e-4 m s⁻²)"),
        "initial_surface_temperature": (float(ds["T"].values[0, -1]), "°C",
                                        f"surface temperature at t = {t[0]:g} s"),
        "min_temperature": (float(np.min(ds["T"].values)), "°C", "minimum temperature"),
        "max_temperature": (float(np.max(ds["T"].values)), "°C", "maximum temperature"),
        "heat_content_change": (float(rho_cp * (hc[-1] - hc[0])), "J m⁻²",
                                f"heat content change (t = {t[0]:g} s to {t[-1]:g} s)"),
    }
