"""TOML schema of a two-layer QG run and the builder ``config -> TwoLayerQG``.

Example (``examples/qg_eddy.toml``)::

    [experiment]
    name = "qg_eddy"
    model = "qg"

    [qg]
    preset = "eddy"        # or "jet" (Ross et al. 2023); keys given here override the preset
    nx = 64
    L = 1e6                # m

    [time]                 # seconds
    dt = 3600.0
    stop_time = 31104000.0 # 360 days
    output_interval = 864000.0

Defaults are pyqg's ``QGModel`` defaults, which are the "eddy" configuration of Ross et al.
(2023); ``preset = "jet"`` sets ``rek = 7e-8``, ``beta = 1e-11`` and ``H2 = 5000`` (δ = 0.1).

A subgrid closure is chosen by name, its coefficients as further keys (calibratable as
``[parameters] closure.<coefficient>``)::

    [closure]
    name = "smagorinsky"   # none, smagorinsky, zanna_bolton, backscatter, ... (QG_CLOSURES)
    constant = 0.08

``[coarse_graining]`` (optional) describes the coarse-grained data set of the ``qg_dataset``
flow (``pyclimaocean flow qg_dataset FILE``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ...config import ConfigError, ExperimentConfig, Finite, Section
from .closure_registry import build_closure
from .model import DEFAULT_FILTER_CUTOFF, DEFAULT_FILTER_FACTOR, TwoLayerQG

__all__ = ["PRESETS", "ClosureSection", "CoarseGrainingSection", "QGExperiment", "QGSection",
           "build_model"]

#: Physical parameters of the configurations of Ross et al. (2023, JAMES) relative to pyqg's
#: QGModel defaults (the "eddy" configuration *is* the defaults; "jet" changes three numbers:
#: pyqg.QGModel(rek=7e-8, delta=0.1, beta=1e-11)).  Both use dt = 3600 s, nx = 256 (high
#: resolution) or 64 (low resolution), 10 years of 360 days.
PRESETS: dict[str, dict[str, float]] = {
    "eddy": {"beta": 1.5e-11, "rek": 5.787e-7, "rd": 15000.0, "H1": 500.0, "H2": 2000.0,
             "U1": 0.025, "U2": 0.0, "L": 1e6},
    "jet": {"beta": 1e-11, "rek": 7e-8, "rd": 15000.0, "H1": 500.0, "H2": 5000.0,
            "U1": 0.025, "U2": 0.0, "L": 1e6},
}


class QGSection(Section):
    """``[qg]``: grid, layers, background flow, drag and filter of the two-layer model (SI)."""

    preset: Literal["eddy", "jet"] | None = Field(
        None, description="Ross et al. (2023) configuration; explicit keys override it")
    nx: int = Field(64, ge=8, le=4096, description="grid points in x (even)")
    ny: int | None = Field(None, ge=8, le=4096, description="grid points in y (default nx)")
    L: Finite = Field(1e6, gt=0, le=1e8, description="domain length in x (m)")
    W: Finite | None = Field(None, gt=0, le=1e8, description="domain length in y (m, default L)")
    H1: Finite = Field(500.0, gt=0, le=1e4, description="upper layer depth (m)")
    H2: Finite = Field(2000.0, gt=0, le=1e4, description="lower layer depth (m)")
    rd: Finite = Field(15000.0, gt=0, le=1e6, description="deformation radius (m)")
    beta: Finite = Field(1.5e-11, ge=-1e-10, le=1e-10, description="beta (m-1 s-1)")
    rek: Finite = Field(5.787e-7, ge=0, le=1e-5, description="bottom drag rate (s-1)")
    U1: Finite = Field(0.025, ge=-1, le=1, description="upper layer background flow (m s-1)")
    U2: Finite = Field(0.0, ge=-1, le=1, description="lower layer background flow (m s-1)")
    filter: Literal["exponential", "none"] = Field(
        "exponential", description="pyqg's exponential spectral filter, or none")
    filter_factor: Finite = Field(DEFAULT_FILTER_FACTOR, gt=0, le=1e4,
                                  description="pyqg filterfac")
    filter_cutoff: Finite = Field(DEFAULT_FILTER_CUTOFF, gt=0, le=math.sqrt(2) * math.pi,
                                  description="pyqg cphi (nondimensional k dx)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any):
        if isinstance(data, dict) and data.get("preset") in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @field_validator("nx", "ny")
    @classmethod
    def _even(cls, value):
        if value is not None and value % 2:
            raise ValueError(f"must be even (an FFT grid), got {value}")
        return value


class ClosureSection(Section):
    """``[closure]``: a subgrid closure by name, its coefficients as further keys, e.g.
    ``name = "smagorinsky"`` and ``constant = 0.08`` (names:
    :func:`~pyclimaocean.models.qg.closure_registry.closure_names`)."""

    model_config = ConfigDict(extra="allow", frozen=True, validate_default=True)

    name: str = Field("none", description="closure: none, smagorinsky, zanna_bolton, "
                      "backscatter or another name of QG_CLOSURES; other keys of [closure] "
                      "are its coefficients (e.g. constant = 0.08, kappa = -4.7e7)")

    @model_validator(mode="after")
    def _coefficients(self):
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, int | float | str | bool):
                raise ValueError(f"closure coefficient {key} = {value!r} must be a number, "
                                 "string or boolean")
        return self

    @property
    def coefficients(self) -> dict[str, Any]:
        """The keys of ``[closure]`` other than ``name``."""
        return dict(self.model_extra or {})


class CoarseGrainingSection(Section):
    """``[coarse_graining]``: the coarse-grained data set written by the ``qg_dataset`` flow
    (``generate_coarse_dataset``): ``members`` runs of
    the ``[qg]`` model (seeds ``experiment.seed + member``), each sampled ``n_samples`` times
    every ``sample_interval`` after ``spinup_time`` and coarse-grained onto ``nx`` points."""

    nx: int = Field(16, ge=4, le=4096, description="low-resolution grid points (even, < qg.nx)")
    filter: Literal["exponential", "gaussian", "truncation"] = Field(
        "exponential", description="Ross et al. 2023 operator 1 (exponential), operator 2 "
        "(gaussian) or a sharp spectral cutoff (truncation)")
    spinup_time: Finite = Field(0.0, ge=0, description="time before the first sample (s)")
    sample_interval: Finite = Field(86400.0, gt=0, description="time between samples (s)")
    n_samples: int = Field(4, ge=1, le=10**6, description="samples per member")
    members: int = Field(1, ge=1, le=10**4, description="ensemble members (seeds)")
    format: Literal["zarr", "netcdf"] = Field("zarr", description="file format")

    @field_validator("nx")
    @classmethod
    def _even(cls, value):
        if value % 2:
            raise ValueError(f"must be even (an FFT grid), got {value}")
        return value


class QGExperiment(ExperimentConfig):
    """A whole two-layer QG run file."""

    qg: QGSection = QGSection()
    closure: ClosureSection = ClosureSection()
    coarse_graining: CoarseGrainingSection = CoarseGrainingSection()


def build_model(cfg: QGExperiment) -> TwoLayerQG:
    """The two-layer QG model an experiment describes (``time.dt``, ``experiment.seed``,
    ``[closure]``)."""
    p = cfg.qg
    try:
        closure = build_closure(cfg.closure.name, **cfg.closure.coefficients)
    except KeyError as err:
        raise ConfigError(f"config error: closure.name: {err.args[0]}") from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config error: [closure] {cfg.closure.name}: {err}") from None
    try:
        return TwoLayerQG(
            nx=p.nx, ny=p.ny, L=p.L, W=p.W, dt=cfg.time.dt, beta=p.beta, rek=p.rek, rd=p.rd,
            H1=p.H1, H2=p.H2, U1=p.U1, U2=p.U2,
            filter_factor=None if p.filter == "none" else p.filter_factor,
            filter_cutoff=p.filter_cutoff, closure=closure, seed=cfg.experiment.seed,
        )
    except ValueError as err:
        raise ConfigError(f"config error: {err}") from None
