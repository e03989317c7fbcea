"""Surface forcing and fluxes of the ocean models, and bulk air–sea / air–ice fluxes."""

from .bulk import (
    FLUX_OUTPUTS,
    AtmosphereState,
    CoefficientBasedFluxes,
    SimilarityTheoryFluxes,
    SurfaceState,
)
from .radiation import RadiativeFluxes
from .surface import SolarPenetration, SurfaceForcing

__all__ = [
    "SolarPenetration",
    "SurfaceForcing",
    "FLUX_OUTPUTS",
    "AtmosphereState",
    "CoefficientBasedFluxes",
    "RadiativeFluxes",
    "SimilarityTheoryFluxes",
    "SurfaceState",
]
