"""TOML schema of a basin run and the builder ``config -> BasinModel``.

Example (``examples/basin_munk_gyre.toml``)::

    [experiment]
    name = "basin_munk_gyre"
    model = "basin"

    [basin]
    configuration = "munk_gyre"   # or "acc_sector"
    nx = 60                        # keys left out take the configuration's defaults

    [time]                         # seconds
    dt = 1200.0
    stop_time = 31104000.0         # 360 days
    output_interval = 2592000.0

Two configurations (:mod:`~pyclimaocean.models.basin.setups`):

* ``munk_gyre`` — MITgcm's ``tutorial_barotropic_gyre``: a closed β-plane box ``L × L`` of
  depth ``depth``, ``τ_x = −τ₀ cos(π y / L)``, Laplacian viscosity; keys ``nx``, ``ny``,
  ``L``, ``depth``, ``nz``, ``f0``, ``beta``, ``reference_density``;
* ``acc_sector`` — Veros' ``acc`` geometry: 0–60°E × 40°S–44°N with a re-entrant channel
  south of 20°S, 15 levels, its wind and SST restoring; keys ``dlon``, ``dlat``,
  ``restoring_days``, ``horizontal_diffusivity``, ``vertical_viscosity``,
  ``vertical_diffusivity``, ``convective_diffusivity`` (κ_c of the smooth convection scheme,
  m² s⁻¹, 0–100; left out = no convection scheme).

Shared keys: ``wind_stress``, ``horizontal_viscosity``, ``linear_drag``, ``n_substeps``,
``time_stepper``, ``tracer_advection``, ``momentum_advection``, ``no_slip``.  A key that does not apply to
the chosen configuration is an error.  Calibratable numbers can also be set in
``[parameters]`` by their dotted model paths (``mixing.horizontal_viscosity = 500.0``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ...config import ConfigError, ExperimentConfig, Finite, Section
from .model import TIME_STEPPERS, TRACER_ADVECTION, BasinModel
from .setups import acc_sector, munk_gyre

__all__ = ["BasinExperiment", "BasinSection", "CONFIGURATION_KEYS", "build_model"]

#: keys of ``[basin]`` that only one configuration understands
CONFIGURATION_KEYS: dict[str, tuple[str, ...]] = {
    "munk_gyre": ("nx", "ny", "L", "depth", "nz", "f0", "beta", "reference_density"),
    "acc_sector": ("dlon", "dlat", "restoring_days", "horizontal_diffusivity",
                   "vertical_viscosity", "vertical_diffusivity", "convective_diffusivity"),
}


class BasinSection(Section):
    """``[basin]``: configuration, grid and physics of the basin model (SI units).  Keys left
    out (``None``) take the configuration's defaults (:func:`~.setups.munk_gyre`,
    :func:`~.setups.acc_sector`)."""

    configuration: Literal["munk_gyre", "acc_sector"] = Field(
        "munk_gyre", description="'munk_gyre' (beta-plane wind-driven gyre, MITgcm "
        "tutorial_barotropic_gyre) or 'acc_sector' (Veros acc: sector with a re-entrant "
        "southern channel)")
    # munk_gyre
    nx: int | None = Field(None, ge=4, le=2048, description="munk_gyre: cells in x (default 60)")
    ny: int | None = Field(None, ge=4, le=2048, description="munk_gyre: cells in y (default nx)")
    L: Finite | None = Field(None, gt=0, le=2e7, description="munk_gyre: box size (m, 1.2e6)")
    depth: Finite | None = Field(None, gt=0, le=1.1e4,
                                 description="munk_gyre: ocean depth (m, 5000)")
    nz: int | None = Field(None, ge=1, le=200, description="munk_gyre: levels (default 1)")
    f0: Finite | None = Field(None, ge=-1.5e-4, le=1.5e-4,
                              description="munk_gyre: Coriolis parameter at y = 0 (s-1, 1e-4)")
    beta: Finite | None = Field(None, ge=0, le=1e-10,
                                description="munk_gyre: beta (m-1 s-1, 1e-11)")
    reference_density: Finite | None = Field(
        None, gt=900, le=1100, description="munk_gyre: rho0 dividing the wind stress "
        "(kg m-3, 1000 as MITgcm's tutorial)")
    # acc_sector
    dlon: Finite | None = Field(None, gt=0, le=30,
                                description="acc_sector: zonal spacing (degrees, 2; divides 60)")
    dlat: Finite | None = Field(None, gt=0, le=21,
                                description="acc_sector: meridional spacing (degrees, 2; "
                                "divides 84)")
    restoring_days: Finite | None = Field(None, gt=0, le=3650,
                                          description="acc_sector: SST restoring time (days, 30)")
    horizontal_diffusivity: Finite | None = Field(
        None, ge=0, le=1e5, description="acc_sector: tracer diffusivity (m2 s-1, 1000)")
    vertical_viscosity: Finite | None = Field(None, ge=0, le=1,
                                              description="acc_sector: m2 s-1 (1e-3)")
    vertical_diffusivity: Finite | None = Field(None, ge=0, le=1,
                                                description="acc_sector: m2 s-1 (2e-5)")
    convective_diffusivity: Finite | None = Field(
        None, ge=0, le=100, description="acc_sector: kappa_c of the smooth convection scheme, "
        "added to the tracer diffusivity as kappa_c * sigmoid(-N2 / 1e-8 s-2) on statically "
        "unstable faces (m2 s-1; default off; the example uses 1)")
    # both
    wind_stress: Finite | None = Field(None, ge=-10, le=10,
                                       description="wind stress amplitude tau0 (N m-2, 0.1)")
    horizontal_viscosity: Finite | None = Field(
        None, ge=0, le=1e7, description="Laplacian A_h (m2 s-1; munk_gyre 400, acc_sector "
        "Veros' (2 deg)^3 x 2e-11 ~ 2.2e5, times cos(lat))")
    linear_drag: Finite | None = Field(None, ge=0, le=1e-3,
                                       description="linear bottom drag (s-1; 0 / 1e-5)")
    n_substeps: int | None = Field(None, ge=2, le=1000, description="barotropic substeps per "
                                   "step (default: the smallest stable count)")
    time_stepper: Literal[TIME_STEPPERS] | None = Field(  # type: ignore[valid-type]
        None, description="'ab2' (quasi-AB2, default) or 'rk3'")
    tracer_advection: Literal[TRACER_ADVECTION] | None = Field(  # type: ignore[valid-type]
        None, description="'upwind3' (default) or 'centered2'")
    momentum_advection: bool | None = Field(
        None, description="vector-invariant momentum advection (munk_gyre default false: the "
        "linear problem of the theory; acc_sector true)")
    no_slip: bool | None = Field(
        None, description="no-slip lateral walls for the Laplacian viscosity (default false: "
        "free slip)")

    @model_validator(mode="after")
    def _keys_of_the_configuration(self):
        other = [k for c, keys in CONFIGURATION_KEYS.items() if c != self.configuration
                 for k in keys if getattr(self, k) is not None]
        if other:
            raise ValueError(
                f"basin keys {other} do not apply to configuration = "
                f"{self.configuration!r}; its own keys are "
                f"{', '.join(CONFIGURATION_KEYS[self.configuration])} and the shared ones")
        return self


class BasinExperiment(ExperimentConfig):
    """A whole basin run file."""

    basin: BasinSection = BasinSection()


_SHARED = ("wind_stress", "linear_drag", "n_substeps", "time_stepper", "tracer_advection",
           "momentum_advection", "no_slip")


def build_model(cfg: BasinExperiment) -> BasinModel:
    """The basin model an experiment describes (``time.dt``; the experiment applies
    ``[parameters]``)."""
    b = cfg.basin
    kwargs = {k: getattr(b, k) for k in CONFIGURATION_KEYS[b.configuration] + _SHARED
              if getattr(b, k) is not None}
    if b.horizontal_viscosity is not None:
        key = "viscosity" if b.configuration == "munk_gyre" else "horizontal_viscosity"
        kwargs[key] = b.horizontal_viscosity
    build = munk_gyre if b.configuration == "munk_gyre" else acc_sector
    try:
        return build(dt=cfg.time.dt, **kwargs)
    except ValueError as err:
        raise ConfigError(f"config error in [basin] ({b.configuration}): {err}") from None
