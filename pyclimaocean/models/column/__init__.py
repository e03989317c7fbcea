"""Single-column ocean model (pure JAX, float64).  See :class:`ColumnModel`.

Everything needed to build one by hand is importable from here::

    from pyclimaocean.models.column import (CATKELike, ColumnGrid, ColumnModel,
                                            InitialConditions, SurfaceForcing)
    model = ColumnModel(grid=ColumnGrid(nz=64, depth=128.0), closure=CATKELike(),
                        forcing=SurfaceForcing(heat_flux=-100.0), dt=600.0)
"""

from ...closures import (
    AbstractClosure,
    CATKELike,
    ConstantDiffusivity,
    ConvectiveAdjustment,
    RichardsonNumberClosure,
)
from ...fluxes.surface import SolarPenetration, SurfaceForcing
from ...grids.column import ColumnGrid
from ...physics.equation_of_state import LinearEquationOfState, RoquetEquationOfState
from . import setups
from .model import ColumnModel, InitialConditions, InitialProfiles, mixed_layer_depth
from .state import ColumnState

__all__ = [
    "AbstractClosure",
    "CATKELike",
    "ColumnGrid",
    "ColumnModel",
    "ColumnState",
    "ConstantDiffusivity",
    "ConvectiveAdjustment",
    "InitialConditions",
    "InitialProfiles",
    "LinearEquationOfState",
    "RichardsonNumberClosure",
    "RoquetEquationOfState",
    "SolarPenetration",
    "SurfaceForcing",
    "mixed_layer_depth",
    "setups",
]
