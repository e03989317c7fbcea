"""TOML schema of a coupled ocean–sea-ice basin run and the builder
``config -> CoupledBasin``.

Example (``examples/coupled_polar_basin.toml``)::

    [experiment]
    model = "coupled_basin"

    [basin]                        # keys left out take polar_basin()'s defaults
    dlon = 4.0                     # degrees
    dlat = 2.0
    nz = 6
    start_day = 270.0              # day of the 360-day climatology at t = 0 (October)
    fluxes = "coefficient"         # or "similarity_theory" (COARE 3.6 / over-ice)

    [time]
    dt = 3600.0
    stop_time = 7776000.0          # 90 days

Calibratable numbers are set in ``[parameters]`` by their dotted paths
(``thermodynamics.ice_albedo``, ``dynamics.ice_strength``, ``dynamics.ocean_drag``,
``exchange.ocean_fluxes.drag_coefficient``, ``ocean.mixing.vertical_diffusivity``;
``pyclimaocean validate`` lists them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import ConfigError, ExperimentConfig, Finite, Section
from ..seaice import SlabSeaIceThermodynamics
from .model import CoupledBasin
from .setups import polar_basin

__all__ = ["CoupledBasinExperiment", "PolarBasinSection", "build_model"]


class PolarBasinSection(Section):
    """``[basin]``: the idealised polar basin (:func:`~.setups.polar_basin`; SI units)."""

    dlon: Finite = Field(4.0, gt=0, le=20, description="zonal spacing (degrees; divides 40)")
    dlat: Finite = Field(2.0, gt=0, le=10, description="meridional spacing (degrees; divides 20)")
    nz: int = Field(6, ge=1, le=60, description="levels")
    depth: Finite = Field(1000.0, gt=0, le=6000, description="m")
    n_substeps: int | None = Field(None, ge=2, le=1000,
                                   description="barotropic substeps (default: stable count)")
    start_day: Finite = Field(270.0, ge=0, lt=360,
                              description="day of the 360-day climatology at t = 0")
    easterly_wind: Finite = Field(6.0, ge=-30, le=30, description="m s-1")
    northerly_wind: Finite = Field(3.0, ge=-30, le=30, description="m s-1")
    temperature_gradient: Finite = Field(0.6, ge=0, le=3,
                                         description="air warming southward (K per degree)")
    initial_ice_thickness: Finite = Field(1.5, ge=0, le=20, description="m")
    initial_concentration: Finite = Field(0.95, ge=0, le=1, description="ice area fraction")
    ice_edge_latitude: Finite = Field(74.0, ge=62, le=82,
                                      description="initial ice north of it (degrees N)")
    fluxes: Literal["coefficient", "similarity_theory"] = Field(
        "coefficient", description="bulk-flux formulation over water and ice")
    ice_substeps: int = Field(100, ge=1, le=2000, description="mEVP substeps per step")
    ice_free_drift: bool = Field(False, description="drop the ice's internal stress")
    ice_ocean_flux: Literal["ice_bath", "three_equation"] = Field(
        "ice_bath", description="ice-ocean heat flux formulation")


class CoupledBasinExperiment(ExperimentConfig):
    """A whole coupled-basin run file."""

    basin: PolarBasinSection = PolarBasinSection()


def build_model(cfg: CoupledBasinExperiment) -> CoupledBasin:
    """The coupled basin an experiment describes (the experiment applies ``[parameters]``)."""
    b = cfg.basin.model_dump()
    flux = b.pop("ice_ocean_flux")
    thermo = (SlabSeaIceThermodynamics.three_equation() if flux == "three_equation"
              else SlabSeaIceThermodynamics())
    try:
        return polar_basin(dt=cfg.time.dt, thermodynamics=thermo, **b)
    except ValueError as err:
        raise ConfigError(f"config error: [basin]: {err}") from None
