"""TOML schema of a coupled ocean–sea-ice column run and the builder ``config -> CoupledColumn``.

Example (``examples/coupled_arctic_column.toml``)::

    [experiment]
    model = "coupled_column"

    [grid]                        # the ocean column
    nz = 20
    depth = 100.0

    [closure]
    type = "catke"

    [ocean]                       # initial ocean: a mixed layer over linear gradients
    surface_temperature = -1.75   # degC
    surface_salinity = 32.0       # g kg-1
    mixed_layer_depth = 30.0      # m

    [seaice]
    initial_ice_thickness = 2.0   # m
    ice_ocean_flux = "ice_bath"   # or "three_equation"
    thermodynamics = "zero_layer" # or "winton"

    [atmosphere]
    file = "coupled_arctic_atmosphere.nc"   # relative to this file; omit for the built-in one
    period = 31104000.0                     # s: the file is a periodic (360-day) climatology

    [time]
    dt = 3600.0
    stop_time = 31104000.0        # one 360-day year

Calibratable numbers are set in ``[parameters]`` by their dotted paths
(``thermodynamics.ice_albedo``, ``exchange.ocean_fluxes.roughness.charnock_slope``,
``exchange.ice_ocean_drag``, ``ocean.closure.c_hi_c``; ``pyclimaocean validate`` lists them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import ConfigError, ExperimentConfig, Finite, Section
from ...coupling import AtmosphereFileError, read_atmosphere
from ...fluxes.surface import SolarPenetration
from ...grids.column import ColumnGrid
from ..column import ColumnModel, InitialConditions
from ..column.config import CLOSURES, ClosureSection, GridSection
from ..seaice import SlabSeaIceThermodynamics, WintonThermodynamics
from .forcing import arctic_atmosphere
from .model import CoupledColumn

__all__ = ["CoupledColumnExperiment", "build_model"]


class OceanSection(Section):
    """``[ocean]``: initial ocean column (a mixed layer over linear gradients)."""

    surface_temperature: Finite = Field(-1.75, ge=-3, le=35, description="degC")
    surface_salinity: Finite = Field(32.0, ge=0, le=42, description="g kg-1")
    mixed_layer_depth: Finite = Field(30.0, ge=0, le=5000, description="m")
    temperature_gradient: Finite = Field(-0.005, ge=-1, le=1,
                                         description="dT/dz below the mixed layer (K m-1)")
    salinity_gradient: Finite = Field(-0.02, ge=-1, le=1,
                                      description="dS/dz below the mixed layer (g kg-1 m-1)")


class CoupledSeaIceSection(Section):
    """``[seaice]``: initial ice and the ice–ocean flux option."""

    initial_ice_thickness: Finite = Field(2.0, ge=0, le=50, description="m")
    initial_snow_thickness: Finite = Field(0.1, ge=0, le=10, description="m")
    initial_concentration: Finite = Field(1.0, ge=0, le=1, description="ice area fraction")
    ice_ocean_flux: Literal["ice_bath", "three_equation"] = Field(
        "ice_bath", description="ice-ocean heat flux formulation")
    thermodynamics: Literal["zero_layer", "winton"] = Field(
        "zero_layer", description="ice thermodynamics: 'zero_layer' (Semtner 1976) or 'winton' "
        "(Winton 2000 two-layer ice)")
    newton_iterations: int = Field(6, ge=1, le=50,
                                   description="Newton steps of the surface balance")


class AtmosphereSection(Section):
    """``[atmosphere]``: the prescribed atmosphere, from ``file`` (netCDF; names and units in
    :mod:`pyclimaocean.coupling.atmosphere`) or the built-in idealised Arctic climatology."""

    file: str | None = Field(None, min_length=1, description="netCDF file of the atmosphere")
    variables: dict[str, str] | None = Field(
        None, description="quantity -> variable name in the file")
    period: Finite | None = Field(None, gt=0, description="period of a climatology file (s)")


class CoupledColumnExperiment(ExperimentConfig):
    """A whole coupled-column run file."""

    grid: GridSection = GridSection(nz=20, depth=100.0)
    closure: ClosureSection = ClosureSection()
    ocean: OceanSection = OceanSection()
    seaice: CoupledSeaIceSection = CoupledSeaIceSection()
    atmosphere: AtmosphereSection = AtmosphereSection()


def build_model(cfg: CoupledColumnExperiment) -> CoupledColumn:
    """The coupled column an experiment describes (the experiment applies ``[parameters]``)."""
    o, s, a = cfg.ocean, cfg.seaice, cfg.atmosphere
    closure = CLOSURES[cfg.closure.type](
        **{k: float(v) for k, v in (cfg.closure.model_extra or {}).items()})
    try:
        ocean = ColumnModel(
            grid=ColumnGrid(**cfg.grid.model_dump()), closure=closure,
            initial_conditions=InitialConditions(
                surface_temperature=o.surface_temperature,
                temperature_gradient=o.temperature_gradient,
                surface_salinity=o.surface_salinity, salinity_gradient=o.salinity_gradient,
                mixed_layer_depth=o.mixed_layer_depth),
            solar_penetration=SolarPenetration(), dt=cfg.time.dt)
        if a.file is None:
            atmosphere = arctic_atmosphere()
        else:
            atmosphere = read_atmosphere(a.file, a.variables, period=a.period)
            atmosphere.check_covers(0.0, cfg.time.stop_time - cfg.time.dt,
                                    source=f"atmosphere.file: {a.file}")
        kind = WintonThermodynamics if s.thermodynamics == "winton" else SlabSeaIceThermodynamics
        thermo = (kind.three_equation if s.ice_ocean_flux == "three_equation"
                  else kind)(newton_iterations=s.newton_iterations)
        return CoupledColumn(atmosphere=atmosphere, ocean=ocean, thermodynamics=thermo,
                             initial_ice_thickness=s.initial_ice_thickness,
                             initial_snow_thickness=s.initial_snow_thickness,
                             initial_concentration=s.initial_concentration)
    except (ValueError, AtmosphereFileError) as err:
        raise ConfigError(f"config error: {err}") from None
