"""Coupling of component models: a generic sequential :class:`Coupler` (components, declared
exchanged fields, fluxes on the exchange grid, ordering), the air–sea–ice exchange and a
prescribed atmosphere read from files.

Example::

    from pyclimaocean.coupling import Coupler, AirSeaIceExchange, AIR_SEA_ICE_FIELDS
    coupler = Coupler(components={"atmosphere": atmosphere, "seaice": ice, "ocean": ocean},
                      exchange=AirSeaIceExchange(), order=("seaice", "ocean"),
                      fields=AIR_SEA_ICE_FIELDS)
"""

from .atmosphere import (
    ATMOSPHERE_VARIABLES,
    AtmosphereFileError,
    PrescribedAtmosphere,
    read_atmosphere,
)
from .coupler import AbstractComponent, AbstractExchange, Coupler, ExchangeField
from .exchange import AIR_SEA_ICE_FIELDS, AirSeaIceExchange

__all__ = [
    "AIR_SEA_ICE_FIELDS",
    "ATMOSPHERE_VARIABLES",
    "AbstractComponent",
    "AbstractExchange",
    "AirSeaIceExchange",
    "AtmosphereFileError",
    "Coupler",
    "ExchangeField",
    "PrescribedAtmosphere",
    "read_atmosphere",
]
