"""Sea-ice thermodynamics (zero-layer Semtner 1976 slab with snow over a mixed layer) and the
Arctic column model (``seaice_column``) driven by the Maykut & Untersteiner (1971) climatology.

Example::

    from pyclimaocean.models.seaice import ArcticColumn
    m = ArcticColumn()
    final, states = m.run(m.initial_state(), 360 * 20, save_every=10)
    ds = m.to_xarray(states)
"""

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

__all__ = [
    "ArcticColumn",
    "MonthlyClimatology",
    "SeaIceForcing",
    "SeaIceState",
    "SlabSeaIceThermodynamics",
    "annual_mean_thickness",
    "arctic_climatology",
    "budgets",
    "surface_albedo",
    "surface_temperature",
    "thermodynamic_step",
]
