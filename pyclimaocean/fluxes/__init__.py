"""Surface forcing and fluxes of the ocean models."""

from .surface import SolarPenetration, SurfaceForcing

__all__ = ["SolarPenetration", "SurfaceForcing"]
