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

    [forcing]
    heat_flux = -100.0      # W m-2, negative cools

    [time]
    dt = 600.0
    stop_time = 345600.0    # s
    output_interval = 21600.0

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
from ...config import ConfigError, Section
from ...fluxes.surface import SolarPenetration, SurfaceForcing
from ...grids.column import ColumnGrid
from ...physics.equation_of_state import LinearEquationOfState, RoquetEquationOfState
from .model import ColumnModel, InitialConditions

__all__ = ["ColumnExperiment", "build_model", "CLOSURES"]

CLOSURES = {
    "constant": ConstantDiffusivity,
    "convective_adjustment": ConvectiveAdjustment,
    "richardson": RichardsonNumberClosure,
    "catke": CATKELike,
}

Finite = Annotated[float, Field(allow_inf_nan=False)]

#: Largest number of time steps a config may ask for (stop_time / dt).
MAX_STEPS = 10**9


class ExperimentSection(Section):
    name: str = Field("experiment", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    model: Literal["column"] = "column"
    backend: Literal["jax", "julia"] = "jax"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    description: str = ""


class GridSection(Section):
    nz: int = Field(64, ge=2, le=4096, description="number of cells")
    depth: Finite = Field(128.0, gt=0, le=11000, description="column depth (m)")
    stretching: Finite = Field(0.0, ge=0, le=10, description="surface refinement (0 = uniform)")


class ClosureSection(Section):
    model_config = pydantic.ConfigDict(extra="allow", frozen=True)
    type: Literal["constant", "convective_adjustment", "richardson", "catke"] = "catke"

    @model_validator(mode="after")
    def _known_parameters(self):
        cls = CLOSURES[self.type]
        specs = cls.parameter_specs()
        for key, value in (self.model_extra or {}).items():
            if key not in specs:
                raise ValueError(
                    f"closure.{key}: not a parameter of closure type {self.type!r}. "
                    f"Parameters are: {', '.join(specs)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"closure.{key} = {value!r} must be a number")
            lo, hi = specs[key]["lower"], specs[key]["upper"]
            if not (lo <= value <= hi):
                raise ValueError(f"closure.{key} = {value!r} is outside its range [{lo}, {hi}]")
        return self


class ForcingSection(Section):
    heat_flux: Finite = Field(0.0, ge=-5000, le=5000, description="non-solar heat flux into ocean (W m-2)")
    heat_flux_amplitude: Finite = Field(0.0, ge=-5000, le=5000)
    shortwave: Finite = Field(0.0, ge=-2000, le=2000, description="shortwave into ocean (W m-2)")
    shortwave_amplitude: Finite = Field(0.0, ge=-2000, le=2000)
    wind_stress_x: Finite = Field(0.0, ge=-10, le=10, description="N m-2")
    wind_stress_y: Finite = Field(0.0, ge=-10, le=10, description="N m-2")
    wind_stress_amplitude: Finite = Field(0.0, ge=-10, le=10)
    freshwater_flux: Finite = Field(0.0, ge=-1e-5, le=1e-5, description="E - P (m s-1)")
    cycle_period: Finite = Field(86400.0, gt=0, description="s")


class InitialSection(Section):
    surface_temperature: Finite = Field(20.0, ge=-3, le=40, description="degC")
    temperature_gradient: Finite = Field(0.01, ge=-1, le=1, description="K m-1")
    surface_salinity: Finite = Field(35.0, ge=0, le=45, description="g kg-1")
    salinity_gradient: Finite = Field(0.0, ge=-1, le=1, description="g kg-1 m-1")
    mixed_layer_depth: Finite = Field(0.0, ge=0, description="m")
    u: Finite = Field(0.0, ge=-5, le=5)
    v: Finite = Field(0.0, ge=-5, le=5)
    tke: Finite = Field(1e-6, ge=0, le=1)


class SolarSection(Section):
    fraction: Finite = Field(0.58, ge=0, le=1)
    length_1: Finite = Field(0.35, gt=0, le=1000)
    length_2: Finite = Field(23.0, gt=0, le=1000)


class PhysicsSection(Section):
    coriolis_parameter: Finite = Field(0.0, ge=-2e-4, le=2e-4, description="f (s-1)")
    bottom_drag_coefficient: Finite = Field(0.0, ge=0, le=0.1)
    equation_of_state: Literal["linear", "roquet"] = "linear"
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


class TimeSection(Section):
    dt: Finite = Field(..., gt=0, le=86400, description="time step (s)")
    stop_time: Finite = Field(..., gt=0, description="s")
    output_interval: Finite | None = Field(None, gt=0, description="s (default: stop_time / 24)")
    checkpoint_interval: Finite | None = Field(None, gt=0, description="s (default: off)")

    @model_validator(mode="after")
    def _multiples(self):
        n = self.stop_time / self.dt
        if abs(n - round(n)) > 1e-9 * max(n, 1):
            raise ValueError(
                f"time.stop_time = {self.stop_time} must be a whole number of time steps "
                f"(time.dt = {self.dt})"
            )
        if round(n) > MAX_STEPS:
            raise ValueError(
                f"time.stop_time = {self.stop_time} is {round(n):.3g} time steps of "
                f"time.dt = {self.dt}; at most {MAX_STEPS:.0e} steps are allowed"
            )
        for name in ("output_interval", "checkpoint_interval"):
            v = getattr(self, name)
            if v is not None:
                k = v / self.dt
                if abs(k - round(k)) > 1e-9 * max(k, 1) or round(k) < 1:
                    raise ValueError(
                        f"time.{name} = {v} must be a positive whole number of time steps "
                        f"(time.dt = {self.dt})"
                    )
                if name == "output_interval" and round(k) > round(n):
                    raise ValueError(
                        f"time.{name} = {v} must not exceed time.stop_time = {self.stop_time}"
                    )
        if self.output_interval is not None and round(n) % self.output_every:
            raise ValueError(
                f"time.output_interval = {self.output_interval} must divide time.stop_time = "
                f"{self.stop_time} into a whole number of outputs"
            )
        ck = self.checkpoint_every  # longer than the run: no checkpoint is written
        if ck is not None and ck <= round(n) and ck % self.output_every:
            raise ValueError(
                f"time.checkpoint_interval = {self.checkpoint_interval} must be a multiple of "
                f"the output interval ({self.output_every * self.dt} s)"
            )
        return self

    @property
    def n_steps(self) -> int:
        return int(round(self.stop_time / self.dt))

    @property
    def output_every(self) -> int:
        if self.output_interval is None:
            return _largest_divisor_at_most(self.n_steps, max(1, self.n_steps // 24))
        return int(round(self.output_interval / self.dt))

    @property
    def checkpoint_every(self) -> int | None:
        if self.checkpoint_interval is None:
            return None
        return int(round(self.checkpoint_interval / self.dt))


class OutputSection(Section):
    format: Literal["netcdf", "zarr"] = "netcdf"
    plots: bool = True


class ColumnExperiment(Section):
    """A whole column experiment file."""

    experiment: ExperimentSection = ExperimentSection()
    grid: GridSection = GridSection()
    closure: ClosureSection = ClosureSection()
    forcing: ForcingSection = ForcingSection()
    initial_conditions: InitialSection = InitialSection()
    physics: PhysicsSection = PhysicsSection()
    time: TimeSection
    output: OutputSection = OutputSection()


def _largest_divisor_at_most(n: int, k: int) -> int:
    for d in range(min(k, n), 0, -1):
        if n % d == 0:
            return d
    return 1


def build_model(cfg: ColumnExperiment) -> ColumnModel:
    """Build the :class:`ColumnModel` an experiment describes."""
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
        return ColumnModel(
            grid=ColumnGrid(**cfg.grid.model_dump()),
            closure=closure,
            forcing=SurfaceForcing(**cfg.forcing.model_dump()),
            initial_conditions=InitialConditions(**cfg.initial_conditions.model_dump()),
            equation_of_state=eos,
            solar_penetration=solar,
            coriolis_parameter=p.coriolis_parameter,
            bottom_drag_coefficient=p.bottom_drag_coefficient,
            dt=cfg.time.dt,
        )
    except ValueError as err:
        raise ConfigError(f"config error: {err}") from None
