"""3-D hydrostatic primitive-equation basin ocean on a C-grid (the differentiable basin core).

Example::

    from pyclimaocean.models.basin import munk_gyre, acc_sector, analysis
    model = munk_gyre(nx=60)                       # β-plane Munk gyre
    final, saved = model.run(model.initial_state(), 720, save_every=72)
    psi = analysis.barotropic_streamfunction(model.grid, final.U)   # m³ s⁻¹
    ds = model.to_xarray(saved)                    # CF + xgcm metadata (``metadata``)

``analysis`` holds the diagnostics as functions of ``(grid, fields)``; the names exported here
(``kinetic_energy``, ``heat_content``, ...) are the model's named diagnostics, functions of
``(model, state)`` that call them (:mod:`~pyclimaocean.models.basin.diagnostics`).
"""

from . import adjoint, analysis, kernels, metadata
from .diagnostics import (
    acc_transport,
    heat_content,
    kinetic_energy,
    max_barotropic_streamfunction,
    max_overturning,
    mean_kinetic_energy,
    mean_sst,
    total_volume_anomaly,
    tracer_content,
)
from .model import (
    ADJOINTS,
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
    "ADJOINTS",
    "BasinMixing",
    "BasinModel",
    "BasinState",
    "BottomDrag",
    "SurfaceForcing",
    "TIME_STEPPERS",
    "TRACER_ADVECTION",
    "VEROS_ACC_DZ",
    "acc_sector",
    "acc_transport",
    "adjoint",
    "analysis",
    "barotropic_substeps",
    "heat_content",
    "kernels",
    "kinetic_energy",
    "max_barotropic_streamfunction",
    "max_overturning",
    "mean_kinetic_energy",
    "mean_sst",
    "metadata",
    "munk_gyre",
    "stable_substeps",
    "substep_weights",
    "total_volume_anomaly",
    "tracer_content",
]
