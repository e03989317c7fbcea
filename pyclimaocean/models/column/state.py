"""State of the single-column model (a pytree)."""

from __future__ import annotations

from typing import Any

import equinox as eqx

__all__ = ["ColumnState", "VARIABLES"]


class ColumnState(eqx.Module):
    """Prognostic column state; arrays are ``(nz,)`` at cell centres, bottom to top.

    Attributes:
        temperature: T (°C).  salinity: S (g kg⁻¹).
        u, v: horizontal velocity (m s⁻¹).
        tke: turbulent kinetic energy e (m² s⁻²); unused (zeros) by closures without TKE.
        time: model time (s).  iteration: step counter.
    """

    temperature: Any
    salinity: Any
    u: Any
    v: Any
    tke: Any
    time: Any
    iteration: Any


# name -> (attribute, units, long_name, CF standard_name or None, plausible range)
VARIABLES = {
    "T": ("temperature", "degC", "sea water temperature", "sea_water_temperature", (-5.0, 60.0)),
    "S": ("salinity", "g kg-1", "sea water salinity", "sea_water_salinity", (0.0, 80.0)),
    "u": ("u", "m s-1", "eastward sea water velocity", "eastward_sea_water_velocity", (-20.0, 20.0)),
    "v": ("v", "m s-1", "northward sea water velocity", "northward_sea_water_velocity", (-20.0, 20.0)),
    "e": ("tke", "m2 s-2", "turbulent kinetic energy", None, (0.0, 10.0)),
}
