"""TOML schema of a column experiment and the builder ``config -> ColumnModel``.

Example (``examples/column_free_convection.toml``)::

    [experiment]
    name = "free_convection"
    model = "column"
    backend = "jax"

    [grid]
    nz = 64
    depth = 128.0

    [closure]
    type = "catke"          # constant | convective_adjustment | richardson | catke
    c_hi_c = 0.098          # any closure parameter may be set here
    # switch_width = 1.0    # catke/convective_adjustment/richardson: 0 = exact regime switches

    [forcing]
    heat_flux = -100.0      # W m-2, negative cools

    [time]
    dt = 600.0
    stop_time = 345600.0    # s
    output_interval = 21600.0

Forcing and initial profiles may come from data files instead (netCDF or CSV; names and
units in :mod:`pyclimaocean.models.column.data`; relative paths from the config file's directory)::

    [forcing]
    file = "column_observed_forcing.nc"   # time series, interpolated in time
    variables = { heat_flux = "Qnet" }             # optional: other names in the file

    [initial_conditions]
    file = "column_observed_profile.nc"   # T (and S, u, v) against z or depth

All times are in seconds.  Fields, units and accepted ranges are given in the classes below;
an unknown field or a value out of range gives a :class:`pyclimaocean.config.ConfigError`
naming it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import Field, model_validator

from ...closures.catke import CATKELike
from ...closures.simple import ConstantDiffusivity, ConvectiveAdjustment, RichardsonNumberClosure
from ...config import (  # noqa: F401  (sections re-exported for older imports)
    ConfigError,
    ExperimentConfig,
    ExperimentSection,
    OutputSection,
    Section,
    TimeSection,
)
from ...fluxes.surface import (
    FLUX_NAMES,
    SolarPenetration,
    SurfaceForcing,
    TabulatedSurfaceForcing,
)
from ...grids.column import ColumnGrid
from ...physics.equation_of_state import LinearEquationOfState, RoquetEquationOfState
from .data import DataFileError, read_initial_profiles, read_surface_forcing
from .model import ColumnModel, InitialConditions, InitialProfiles

__all__ = ["ColumnExperiment", "build_model", "CLOSURES"]

CLOSURES = {
    "constant": ConstantDiffusivity,
    "convective_adjustment": ConvectiveAdjustment,
    "richardson": RichardsonNumberClosure,
    "catke": CATKELike,
}

Finite = Annotated[float, Field(allow_inf_nan=False)]


class GridSection(Section):
    nz: int = Field(64, ge=2, le=4096, description="number of cells")
    depth: Finite = Field(128.0, gt=0, le=11000, description="column depth (m)")
    stretching: Finite = Field(0.0, ge=0, le=10, description="surface refinement (0 = uniform)")


class ClosureSection(Section):
    """The vertical-mixing closure: its ``type`` and any of its parameters (by name)."""

    model_config = pydantic.ConfigDict(extra="allow", frozen=True)
    type: Literal["constant", "convective_adjustment", "richardson", "catke"] = Field(
        "catke", description="the closure; its parameters are the keys below")

    @classmethod
    def extra_keys(cls) -> list[dict]:
        """The closures' parameters, for the configuration reference."""
        rows = []
        for kind, closure in CLOSURES.items():
            default = closure()
            for key, spec in closure.parameter_specs().items():
                rows.append({"key": key, "type": "number", "default": f"`{getattr(default, key):g}`",
                             "constraints": f"≥ {spec['lower']:g}, ≤ {spec['upper']:g}",
                             "description": f"type = {kind!r}: {spec.get('description', '')} "
                             f"({spec.get('units', '')})"})
        return rows

    @model_validator(mode="after")
    def _known_parameters(self):
        cls = CLOSURES[self.type]
        specs = cls.parameter_specs()
        for key, value in (self.model_extra or {}).items():
            if key == "switch_width" and "switch_width" in getattr(cls, "__dataclass_fields__", {}):
                # a static option (not calibratable): 0 = exact regime switches, > 0 smooth
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
                    raise ValueError(f"closure.switch_width = {value!r} must be a number >= 0 "
                                     "(0 = exact regime switches, 1 = the default smooth ones)")
                continue
            if key not in specs:
                raise ValueError(
                    f"closure.{key}: not a parameter of closure type {self.type!r}. "
                    f"Parameters are: {', '.join(specs)}"
                    + (" (and the option switch_width)" if "switch_width" in getattr(cls, "__dataclass_fields__", {}) else "")
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"closure.{key} = {value!r} must be a number")
            lo, hi = specs[key]["lower"], specs[key]["upper"]
            if not (lo <= value <= hi):
                raise ValueError(f"closure.{key} = {value!r} is outside its range [{lo}, {hi}]")
        return self


_CYCLE_FIELDS = ("heat_flux", "heat_flux_amplitude", "shortwave", "shortwave_amplitude",
                 "wind_stress_x", "wind_stress_y", "wind_stress_amplitude", "freshwater_flux",
                 "cycle_period")


class ForcingSection(Section):
    """Surface forcing: constant/periodic values, or time series from ``file``.

    With ``file`` (netCDF or CSV; relative paths from the config file's directory) the fluxes are
    read from the file and interpolated linearly in time; names and units are listed in
    :mod:`pyclimaocean.models.column.data`.  ``variables`` maps quantities to other names in
    the file, e.g. ``variables = { heat_flux = "Qnet", time = "t" }``.
    """

    heat_flux: Finite = Field(0.0, ge=-5000, le=5000, description="non-solar heat flux into ocean (W m-2)")
    heat_flux_amplitude: Finite = Field(
        0.0, ge=-5000, le=5000,
        description="amplitude of heat_flux + amplitude cos(2π t / cycle_period) (W m-2)")
    shortwave: Finite = Field(0.0, ge=-2000, le=2000, description="shortwave into ocean (W m-2)")
    shortwave_amplitude: Finite = Field(
        0.0, ge=-2000, le=2000,
        description="amplitude of the shortwave cycle (W m-2; the sum is clipped at 0, so the "
        "daily mean exceeds shortwave when the amplitude is larger)")
    wind_stress_x: Finite = Field(0.0, ge=-10, le=10, description="N m-2")
    wind_stress_y: Finite = Field(0.0, ge=-10, le=10, description="N m-2")
    wind_stress_amplitude: Finite = Field(0.0, ge=-10, le=10,
                                          description="amplitude of the wind_stress_x cycle (N m-2)")
    freshwater_flux: Finite = Field(0.0, ge=-1e-5, le=1e-5, description="E - P (m s-1)")
    cycle_period: Finite = Field(86400.0, gt=0,
                                 description="period of the cosine cycles (s; t = 0 is the maximum)")
    file: str | None = Field(None, min_length=1,
                             description="netCDF/CSV file of flux time series")
    variables: dict[str, str] | None = Field(
        None, description="quantity -> variable name in the file (time, heat_flux, shortwave, "
        "wind_stress_x, wind_stress_y, freshwater_flux)")

    @model_validator(mode="after")
    def _file_or_values(self):
        if self.file is None:
            if self.variables is not None:
                raise ValueError("forcing.variables applies to forcing.file only; give the file")
            return self
        given = sorted(set(_CYCLE_FIELDS) & self.model_fields_set)
        if given:
            raise ValueError(
                f"forcing.{given[0]} cannot be combined with forcing.file (the file gives the "
                "fluxes); remove it, or remove forcing.file"
            )
        accepted = ("time", *FLUX_NAMES)
        for key in self.variables or {}:
            if key not in accepted:
                raise ValueError(
                    f"forcing.variables.{key}: not a forcing quantity. Quantities are: "
                    f"{', '.join(accepted)}"
                )
        return self


class InitialSection(Section):
    """Initial conditions: a mixed layer over linear gradients, or profiles from ``file``.

    With ``file`` (netCDF or CSV; relative paths from the config file's directory) temperature and,
    where the file has them, salinity, u and v are interpolated onto the grid's cell centres
    (the file must span them); quantities the file lacks come from ``surface_salinity``,
    ``salinity_gradient``, ``u``, ``v``.  ``variables`` maps quantities (z, depth,
    temperature, salinity, u, v) to other names in the file.
    """

    surface_temperature: Finite = Field(20.0, ge=-3, le=40, description="degC")
    temperature_gradient: Finite = Field(0.01, ge=-1, le=1, description="K m-1")
    surface_salinity: Finite = Field(35.0, ge=0, le=45, description="g kg-1")
    salinity_gradient: Finite = Field(0.0, ge=-1, le=1, description="g kg-1 m-1")
    mixed_layer_depth: Finite = Field(0.0, ge=0, description="m")
    u: Finite = Field(0.0, ge=-5, le=5, description="uniform eastward velocity (m s-1)")
    v: Finite = Field(0.0, ge=-5, le=5, description="uniform northward velocity (m s-1)")
    tke: Finite = Field(1e-6, ge=0, le=1, description="uniform turbulent kinetic energy (m2 s-2)")
    file: str | None = Field(None, min_length=1, description="netCDF/CSV file of profiles")
    variables: dict[str, str] | None = Field(
        None, description="quantity -> variable name in the file (z, depth, temperature, "
        "salinity, u, v)")

    @model_validator(mode="after")
    def _file_or_values(self):
        if self.file is None:
            if self.variables is not None:
                raise ValueError(
                    "initial_conditions.variables applies to initial_conditions.file only; "
                    "give the file"
                )
            return self
        given = sorted({"surface_temperature", "temperature_gradient", "mixed_layer_depth"}
                       & self.model_fields_set)
        if given:
            raise ValueError(
                f"initial_conditions.{given[0]} cannot be combined with initial_conditions.file "
                "(the file gives the temperature); remove it, or remove the file"
            )
        accepted = ("z", "depth", "temperature", "salinity", "u", "v")
        for key in self.variables or {}:
            if key not in accepted:
                raise ValueError(
                    f"initial_conditions.variables.{key}: not a profile quantity. Quantities "
                    f"are: {', '.join(accepted)}"
                )
        return self


class SolarSection(Section):
    """Two-band penetration of shortwave: fraction exp(z/length_1) + (1-fraction) exp(z/length_2)."""

    fraction: Finite = Field(0.58, ge=0, le=1, description="fraction in the first band")
    length_1: Finite = Field(0.35, gt=0, le=1000, description="e-folding depth of band 1 (m)")
    length_2: Finite = Field(23.0, gt=0, le=1000, description="e-folding depth of band 2 (m)")


class PhysicsSection(Section):
    coriolis_parameter: Finite = Field(0.0, ge=-2e-4, le=2e-4, description="f (s-1)")
    bottom_drag_coefficient: Finite = Field(0.0, ge=0, le=0.1,
                                            description="quadratic bottom drag C_d")
    equation_of_state: Literal["linear", "roquet"] = Field(
        "linear", description="linear, or the Roquet et al. (2015) polynomial")
    thermal_expansion: Finite = Field(2e-4, ge=0, le=1e-2, description="linear EOS α (K-1)")
    haline_contraction: Finite = Field(8e-4, ge=0, le=1e-2, description="linear EOS β")
    solar_penetration: SolarSection | None = None

    @model_validator(mode="after")
    def _linear_coefficients_only_with_linear_eos(self):
        given = {"thermal_expansion", "haline_contraction"} & self.model_fields_set
        if self.equation_of_state != "linear" and given:
            raise ValueError(
                f"physics.{sorted(given)[0]} applies to equation_of_state = 'linear' only; "
                f"remove it or set equation_of_state = 'linear' (got {self.equation_of_state!r})"
            )
        return self


class ColumnExperiment(ExperimentConfig):
    """A whole column experiment file (``[experiment]``, ``[time]`` and ``[output]`` are the
    sections every experiment shares, :class:`pyclimaocean.config.ExperimentConfig`)."""

    grid: GridSection = GridSection()
    closure: ClosureSection = ClosureSection()
    forcing: ForcingSection = ForcingSection()
    initial_conditions: InitialSection = InitialSection()
    physics: PhysicsSection = PhysicsSection()


def build_model(cfg: ColumnExperiment) -> ColumnModel:
    """Build the :class:`ColumnModel` an experiment describes (reads ``forcing.file`` and
    ``initial_conditions.file`` if given)."""
    closure_cls = CLOSURES[cfg.closure.type]
    closure = closure_cls(**{k: float(v) for k, v in (cfg.closure.model_extra or {}).items()})
    p = cfg.physics
    if p.equation_of_state == "linear":
        eos = LinearEquationOfState(
            thermal_expansion_coefficient=p.thermal_expansion,
            haline_contraction_coefficient=p.haline_contraction,
        )
    else:
        eos = RoquetEquationOfState()
    solar = None
    if p.solar_penetration is not None:
        solar = SolarPenetration(**p.solar_penetration.model_dump())
    try:
        grid = ColumnGrid(**cfg.grid.model_dump())
        return ColumnModel(
            grid=grid,
            closure=closure,
            forcing=_forcing(cfg),
            initial_conditions=_initial_conditions(cfg, grid),
            equation_of_state=eos,
            solar_penetration=solar,
            coriolis_parameter=p.coriolis_parameter,
            bottom_drag_coefficient=p.bottom_drag_coefficient,
            dt=cfg.time.dt,
        )
    except ValueError as err:  # DataFileError included
        raise ConfigError(f"config error: {err}") from None


def _forcing(cfg: ColumnExperiment):
    f = cfg.forcing
    if f.file is None:
        return SurfaceForcing(**f.model_dump(exclude={"file", "variables"}))
    try:
        series = read_surface_forcing(f.file, f.variables)
    except DataFileError as err:
        raise ValueError(f"forcing.file: {err}") from None
    forcing = TabulatedSurfaceForcing(**series)
    forcing.check_covers(0.0, cfg.time.stop_time - cfg.time.dt,
                         source=f"forcing.file: {f.file}")
    return forcing


def _initial_conditions(cfg: ColumnExperiment, grid: ColumnGrid):
    ic = cfg.initial_conditions
    if ic.file is None:
        return InitialConditions(**ic.model_dump(exclude={"file", "variables"}))
    try:
        data = read_initial_profiles(ic.file, ic.variables)
    except DataFileError as err:
        raise ValueError(f"initial_conditions.file: {err}") from None
    if "salinity" in data:
        given = sorted({"surface_salinity", "salinity_gradient"} & ic.model_fields_set)
        if given:
            raise ValueError(
                f"initial_conditions.{given[0]} cannot be combined with the salinity profile in "
                f"initial_conditions.file {ic.file}; remove one of them"
            )
        salinity = data["salinity"]
    else:  # the analytic salinity profile (no mixed layer: the file gives none)
        salinity = ic.surface_salinity + ic.salinity_gradient * data["z"]
    for name in ("u", "v"):
        if name in data and name in ic.model_fields_set:
            raise ValueError(
                f"initial_conditions.{name} cannot be combined with the {name} profile in "
                f"initial_conditions.file {ic.file}; remove one of them"
            )
    return InitialProfiles.from_data(
        grid.z_centers, data["z"], data["temperature"], salinity=salinity,
        u=data.get("u", ic.u), v=data.get("v", ic.v), tke=ic.tke,
        source=f"initial_conditions.file: {ic.file}",
    )
