"""Sea-ice thermodynamics (zero-layer Semtner 1976 slab, or Winton 2000 two-layer ice
(:class:`WintonThermodynamics`), with snow over a mixed layer), the
Arctic column model (``seaice_column``) driven by the Maykut & Untersteiner (1971) climatology,
and the 2-D sea-ice dynamics on the basin C-grid (:class:`IceDynamics`: EVP/mEVP rheology, free
drift, advection of thickness, concentration and snow).

Example::

    from pyclimaocean.models.seaice import ArcticColumn
    m = ArcticColumn()
    final, states = m.run(m.initial_state(), 360 * 20, save_every=10)
    ds = m.to_xarray(states)
"""

from .dynamics import (
    IceDynamics,
    IceDynamicsForcing,
    IceDynamicsState,
    advect_ice,
    free_drift_velocity,
    quadratic_air_stress,
)
from .forcing import MonthlyClimatology, arctic_climatology
from .model import ArcticColumn, annual_mean_thickness
from .thermodynamics import (
    SeaIceForcing,
    SeaIceState,
    SlabSeaIceThermodynamics,
    budgets,
    surface_albedo,
    surface_temperature,
    thermodynamic_step,
)
from .winton import WintonSeaIceState, WintonThermodynamics

__all__ = [
    "ArcticColumn",
    "IceDynamics",
    "IceDynamicsForcing",
    "IceDynamicsState",
    "MonthlyClimatology",
    "SeaIceForcing",
    "SeaIceState",
    "SlabSeaIceThermodynamics",
    "advect_ice",
    "annual_mean_thickness",
    "arctic_climatology",
    "budgets",
    "free_drift_velocity",
    "quadratic_air_stress",
    "surface_albedo",
    "surface_temperature",
    "thermodynamic_step",
    "WintonSeaIceState",
    "WintonThermodynamics",
]
