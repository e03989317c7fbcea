"""The coupled ocean–sea-ice column (``coupled_column``): the ocean column model under a
zero-layer ice slab, the atmosphere prescribed from files, through the generic
:class:`pyclimaocean.coupling.Coupler`.

Example::

    from pyclimaocean.models.coupled import CoupledColumn, arctic_atmosphere
    m = CoupledColumn(atmosphere=arctic_atmosphere())
    final, states = m.run(m.initial_state(), 360 * 24, save_every=24)
"""

from .components import InstantaneousFluxes, OceanColumnComponent, SeaIceComponent
from .forcing import arctic_atmosphere, arctic_atmosphere_dataset
from .model import CoupledColumn, CoupledState, budgets, default_ocean

__all__ = [
    "CoupledColumn",
    "CoupledState",
    "InstantaneousFluxes",
    "OceanColumnComponent",
    "SeaIceComponent",
    "arctic_atmosphere",
    "arctic_atmosphere_dataset",
    "budgets",
    "default_ocean",
]
