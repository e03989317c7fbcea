"""TOML schema of an Arctic sea-ice column run and the builder ``config -> ArcticColumn``.

Example (``examples/seaice_arctic_column.toml``)::

    [experiment]
    name = "seaice_arctic_column"
    model = "seaice_column"

    [seaice]
    initial_ice_thickness = 2.0   # m
    mixed_layer_depth = 30.0      # m
    ocean_heat_flux = 2.0         # W m-2 (Maykut & Untersteiner 1971)
    thermodynamics = "zero_layer" # or "winton" (Winton 2000 two-layer ice)

    [time]                        # seconds, 360-day years
    dt = 86400.0
    stop_time = 622080000.0       # 20 years

Calibratable numbers (albedos, conductivities, ...) are set in ``[parameters]`` by their
dotted paths, e.g. ``thermodynamics.ice_albedo = 0.6``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import ConfigError, ExperimentConfig, Finite, Section
from .forcing import arctic_climatology
from .model import ArcticColumn
from .thermodynamics import SlabSeaIceThermodynamics
from .winton import WintonThermodynamics

__all__ = ["SeaIceColumnExperiment", "SeaIceSection", "build_model"]


class SeaIceSection(Section):
    """``[seaice]``: initial state, mixed layer and forcing of the Arctic column (SI)."""

    initial_ice_thickness: Finite = Field(2.0, ge=0, le=50, description="m")
    initial_snow_thickness: Finite = Field(0.0, ge=0, le=10, description="m")
    initial_concentration: Finite = Field(1.0, ge=0, le=1, description="ice area fraction")
    mixed_layer_depth: Finite = Field(30.0, gt=0, le=1e4, description="m")
    ocean_salinity: Finite = Field(32.0, ge=0, le=45, description="g kg-1")
    ocean_heat_flux: Finite = Field(2.0, ge=0, le=30,
                                    description="heat into the mixed layer from below (W m-2)")
    snow_scale: Finite = Field(1.0, ge=0, le=10,
                               description="multiplies the 40 cm a year of MU71 snowfall")
    newton_iterations: int = Field(6, ge=1, le=50,
                                   description="Newton steps of the surface balance")
    thermodynamics: Literal["zero_layer", "winton"] = Field(
        "zero_layer", description="ice thermodynamics: 'zero_layer' (Semtner 1976, no heat "
        "capacity) or 'winton' (Winton 2000: two ice layers, brine heat capacity in the upper)")
    ice_ocean_flux: Literal["ice_bath", "three_equation"] = Field(
        "ice_bath", description="ice-ocean heat flux: 'ice_bath' (alpha_h = 0.006, u* = 0.02 "
        "m s-1) or 'three_equation' (alpha_h = 0.0095, alpha_s = alpha_h/35, u* = 0.002 m s-1)")


class SeaIceColumnExperiment(ExperimentConfig):
    """A whole Arctic sea-ice column run file."""

    seaice: SeaIceSection = SeaIceSection()


def build_model(cfg: SeaIceColumnExperiment) -> ArcticColumn:
    """The Arctic column an experiment describes (``time.dt``; the experiment applies
    ``[parameters]``)."""
    s = cfg.seaice
    try:
        kind = WintonThermodynamics if s.thermodynamics == "winton" else SlabSeaIceThermodynamics
        model = ArcticColumn(
            thermodynamics=(kind.three_equation if s.ice_ocean_flux == "three_equation"
                            else kind)(newton_iterations=s.newton_iterations),
            forcing=arctic_climatology(ocean_heat_flux=s.ocean_heat_flux,
                                       snow_scale=s.snow_scale),
            dt=cfg.time.dt, initial_ice_thickness=s.initial_ice_thickness,
            initial_snow_thickness=s.initial_snow_thickness,
            initial_concentration=s.initial_concentration,
            mixed_layer_depth=s.mixed_layer_depth, ocean_salinity=s.ocean_salinity)
    except ValueError as err:
        raise ConfigError(f"config error: {err}") from None
    return model
