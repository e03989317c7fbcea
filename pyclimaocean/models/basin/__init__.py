"""3-D hydrostatic primitive-equation basin ocean on a C-grid (the differentiable basin core).

Example::

    from pyclimaocean.models.basin import munk_gyre, acc_sector
    model = munk_gyre(nx=60)                       # β-plane Munk gyre
    final, saved = model.run(model.initial_state(), 720, save_every=72)
    ds = model.to_xarray(saved)
"""

from . import kernels
from .diagnostics import (
    heat_content,
    kinetic_energy,
    max_streamfunction,
    mean_sst,
    total_volume_anomaly,
    tracer_content,
)
from .model import (
    TIME_STEPPERS,
    TRACER_ADVECTION,
    BasinMixing,
    BasinModel,
    BottomDrag,
    SurfaceForcing,
)
from .setups import VEROS_ACC_DZ, acc_sector, munk_gyre, stable_substeps
from .state import BasinState
from .timestepping import barotropic_substeps, substep_weights

__all__ = [
    "BasinMixing",
    "BasinModel",
    "BasinState",
    "BottomDrag",
    "SurfaceForcing",
    "TIME_STEPPERS",
    "TRACER_ADVECTION",
    "VEROS_ACC_DZ",
    "acc_sector",
    "barotropic_substeps",
    "heat_content",
    "kernels",
    "kinetic_energy",
    "max_streamfunction",
    "mean_sst",
    "munk_gyre",
    "stable_substeps",
    "substep_weights",
    "total_volume_anomaly",
    "tracer_content",
]
