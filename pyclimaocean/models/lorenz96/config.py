"""TOML schema of a Lorenz-96 run and the builder ``config -> Lorenz96 | TwoScaleLorenz96``.

Example (``examples/l96_run.toml``)::

    [experiment]
    name = "l96_run"
    model = "lorenz96"

    [lorenz96]
    scales = 1             # 1: Lorenz96(n, F); 2: TwoScaleLorenz96(K, J, h, b, c, F)
    n = 40
    forcing = 8.0

    [time]                 # model time units (MTU)
    dt = 0.05
    stop_time = 20.0
    output_interval = 0.25
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config import ConfigError, ExperimentConfig, Finite, Section
from .model import Lorenz96, TwoScaleLorenz96

__all__ = ["Lorenz96Experiment", "Lorenz96Section", "build_model"]


class Lorenz96Section(Section):
    """``[lorenz96]``: which Lorenz-96 system and its constants (nondimensional)."""

    scales: Literal[1, 2] = Field(1, description="1: one-scale; 2: two-scale (Lorenz 1996)")
    n: int = Field(40, ge=4, le=100_000, description="number of variables (one-scale)")
    K: int = Field(8, ge=4, le=10_000, description="slow variables (two-scale)")
    J: int = Field(32, ge=1, le=1_000, description="fast variables per slow one (two-scale)")
    h: Finite = Field(1.0, ge=-100, le=100, description="coupling (two-scale)")
    b: Finite = Field(10.0, gt=0, le=1000, description="spatial-scale ratio (two-scale)")
    c: Finite = Field(10.0, gt=0, le=1000, description="time-scale ratio (two-scale)")
    forcing: Finite = Field(8.0, ge=0, le=50, description="F")
    initial_perturbation: Finite = Field(0.01, ge=-100, le=100,
                                         description="added to x_0 of the rest state (one-scale)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random initial state (two-scale)")

    @model_validator(mode="after")
    def _fields_of_the_other_system(self):
        given = self.model_fields_set
        other = {"K", "J", "h", "b", "c", "seed"} if self.scales == 1 else {
            "n", "initial_perturbation"}
        wrong = sorted(given & other)
        if wrong:
            raise ValueError(
                f"lorenz96.{wrong[0]} does not apply to scales = {self.scales}; remove it or "
                f"set scales = {2 if self.scales == 1 else 1}"
            )
        return self


class Lorenz96Experiment(ExperimentConfig):
    """A whole Lorenz-96 run file."""

    lorenz96: Lorenz96Section = Lorenz96Section()


def build_model(cfg: Lorenz96Experiment):
    """The Lorenz-96 model an experiment describes (RK4 step = ``time.dt``)."""
    p = cfg.lorenz96
    try:
        if p.scales == 1:
            return Lorenz96(n=p.n, forcing=p.forcing, dt=cfg.time.dt,
                            initial_perturbation=p.initial_perturbation)
        return TwoScaleLorenz96(K=p.K, J=p.J, h=p.h, b=p.b, c=p.c, forcing=p.forcing,
                                dt=cfg.time.dt, seed=p.seed)
    except ValueError as err:
        raise ConfigError(f"config error: {err}") from None
