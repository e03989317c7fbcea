"""State of the single-column model (a pytree)."""

from __future__ import annotations

from typing import Any

import equinox as eqx

__all__ = ["ColumnState"]


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
