"""The coupled ocean–sea-ice basin (``coupled_basin``): the 3-D basin ocean under
dynamic–thermodynamic sea ice on the same C-grid, a prescribed gridded atmosphere, fluxes
through the generic :class:`pyclimaocean.coupling.Coupler`.

Example::

    from pyclimaocean.models.coupled_basin import polar_basin
    m = polar_basin()
    final, states = m.run(m.initial_state(), 24 * 90, save_every=24)   # 90 days, hourly
"""

from .atmosphere import GriddedAtmosphere
from .components import BasinIceState, BasinOceanComponent, BasinSeaIceComponent
from .exchange import BASIN_AIR_SEA_ICE_FIELDS, BasinAirSeaIceExchange
from .model import CoupledBasin, CoupledBasinState, budgets
from .setups import FLUX_FORMULATIONS, bulk_fluxes, polar_basin

__all__ = [
    "BASIN_AIR_SEA_ICE_FIELDS",
    "BasinAirSeaIceExchange",
    "BasinIceState",
    "BasinOceanComponent",
    "BasinSeaIceComponent",
    "CoupledBasin",
    "CoupledBasinState",
    "FLUX_FORMULATIONS",
    "GriddedAtmosphere",
    "budgets",
    "bulk_fluxes",
    "polar_basin",
]
