"""Config-file driven calibration: the Python API behind ``pyclimaocean calibrate``.

A calibration config is a column *run* config (``[experiment]``, ``[grid]``, ``[closure]``,
``[forcing]``, ``[time]`` ... exactly as for ``pyclimaocean run``) plus a ``[calibration]``
section::

    [calibration]
    method = "scipy_lbfgsb"          # scipy_lbfgsb | optax_lbfgs | optax_adam | eki | uki
    regularization = "prior"         # prior | physical | ridge | none
    max_iterations = 100

    [calibration.parameters.c_pen_c]              # a closure parameter (or "closure.c_pen_c")
    prior = { kind = "lognormal", loc = -2.19, scale = 0.5 }   # default: lognormal around
    initial_factor = 1.3                           #   the model value, scale default_prior_scale
    # initial = 0.15 ; truth = 0.112 ; lower = 0.0 ; upper = 1.12

    [calibration.observations]
    source = "synthetic"             # synthetic twin (truth + noise) | file
    variables = ["T", "u", "v"]
    error_std = { T = 1e-4, u = 1e-4, v = 1e-4 }
    interval = 14400.0               # s (default: every model output)

    [[calibration.cases]]            # optional: several forcing cases calibrated jointly
    name = "wind"
    set = { "forcing.wind_stress_x" = 0.1, "physics.coriolis_parameter" = 1e-4 }

Writes into the output directory: ``config.toml``, ``observations_<case>.nc``,
``history.nc``, ``summary.json`` (with ``converged``, the optimizer's full ``message``, the
``priors`` used and ``warnings``), ``loss.png`` (with the noise floor m/2),
``parameters.png``, ``profiles_<case>.png``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import equinox as eqx
import jax
import numpy as np
from pydantic import Field, model_validator

from ..config import ConfigError, Section, apply_overrides, load_toml, toml_value, validate
from ..models.column.config import ColumnExperiment, build_model
from ..params import Parameter, ParameterError, ParameterSet, Prior

__all__ = [
    "CalibrationSection",
    "CalibrationExperiment",
    "ColumnCalibrationSetup",
    "build_calibration",
    "calibrate_from_file",
    "prepare_output_dir",
    "write_json_atomic",
]

Finite = float


class ParameterSpec(Section):
    """A control parameter: prior, bounds, first guess, synthetic truth."""

    prior: dict[str, Any] | None = None
    lower: float | None = None
    upper: float | None = None
    initial: float | None = Field(None, description="first guess (physical units)")
    initial_factor: float | None = Field(None, gt=0, description="first guess = truth x factor")
    truth: float | None = Field(None, description="synthetic truth (default: the model's value)")

    @model_validator(mode="after")
    def _check(self):
        if self.initial is not None and self.initial_factor is not None:
            raise ValueError("give either initial or initial_factor, not both")
        if self.prior is not None:
            try:
                Prior.from_dict(self.prior)
            except ParameterError as err:
                raise ValueError(str(err)) from None
        return self


class ObservationSpec(Section):
    source: Literal["synthetic", "file"] = "synthetic"
    path: str | None = Field(None, description="netCDF file; '{case}' is replaced by the case name")
    variables: list[str] = Field(default_factory=lambda: ["T"], min_length=1)
    error_std: dict[str, float] = Field(default_factory=dict, description="sigma per variable")
    interval: float | None = Field(None, gt=0, description="observation interval (s)")
    depths: list[float] | None = Field(None, description="observation heights z (m, <= 0)")
    mixed_layer_threshold: float = Field(0.1, gt=0, description="K, for mixed_layer_depth")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self):
        allowed = {"T", "S", "u", "v", "e", "mixed_layer_depth"}
        bad = [v for v in self.variables if v not in allowed]
        if bad:
            raise ValueError(f"variables {bad} are not observable. Observable: {', '.join(sorted(allowed))}")
        if self.source == "file" and not self.path:
            raise ValueError("source = 'file' needs a path")
        if self.source == "synthetic":
            missing = [v for v in self.variables if v not in self.error_std]
            if missing:
                raise ValueError(f"error_std is missing for {missing} (needed for synthetic observations)")
        for k, v in self.error_std.items():
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"error_std.{k} = {v} must be a positive number")
        if self.depths is not None and any(d > 0 for d in self.depths):
            raise ValueError("depths are heights z (m) and must be <= 0")
        return self


class CaseSpec(Section):
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted overrides of the base config")


class CalibrationSection(Section):
    method: Literal["scipy_lbfgsb", "optax_lbfgs", "optax_adam", "eki", "uki"] = "scipy_lbfgsb"
    regularization: Literal["prior", "physical", "ridge", "none"] = "prior"
    ridge_weight: float = Field(1.0, gt=0)
    max_iterations: int = Field(100, ge=1, le=100000)
    gtol: float = Field(1e-6, ge=0)
    ftol: float = Field(1e-12, ge=0)
    learning_rate: float = Field(0.01, gt=0, description="optax_adam")
    ensemble_size: int = Field(20, ge=2, le=10000, description="eki")
    eki_dt: float = Field(1.0, gt=0, description="eki step")
    uki_alpha: float = Field(1.0, gt=0, le=1, description="uki regularisation alpha (1 with a prior)")
    default_prior_scale: float = Field(0.5, gt=0, description="lognormal scale for controls without a prior")
    parameters: dict[str, ParameterSpec] = Field(..., min_length=1)
    observations: ObservationSpec
    cases: list[CaseSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_cases(self):
        names = [c.name for c in self.cases]
        if len(set(names)) != len(names):
            raise ValueError(f"case names must be unique, got {names}")
        return self


class CalibrationExperiment(ColumnExperiment):
    """A run config plus a ``[calibration]`` section."""

    calibration: CalibrationSection


@dataclass
class ColumnCalibrationSetup:
    problem: Any
    truth: ParameterSet | None
    observations: dict[str, Any]
    models: dict[str, Any]
    n_steps: int
    save_every: int


def _case_configs(cfg: CalibrationExperiment, raw: dict, source: str) -> dict[str, ColumnExperiment]:
    if not cfg.calibration.cases:
        return {cfg.experiment.name: cfg}
    out = {}
    base = {k: v for k, v in raw.items() if k not in ("calibration", "inference")}
    for case in cfg.calibration.cases:
        sets = [f"{k}={toml_value(v)}" for k, v in case.set.items()]
        data = apply_overrides(base, sets)
        out[case.name] = validate(data, ColumnExperiment, source=f"{source} (case {case.name!r})")
    return out


def _controls(cfg: CalibrationExperiment, model) -> tuple[ParameterSet, ParameterSet]:
    """(controls with priors and first guess, truth values of the controls)."""
    cal = cfg.calibration
    specs = model.closure.parameter_specs()
    controls, truth = {}, {}
    for key, spec in cal.parameters.items():
        short = key.removeprefix("closure.")
        if short not in specs:
            raise ConfigError(
                f"calibration.parameters.{key}: not a parameter of closure type "
                f"{cfg.closure.type!r}. Parameters are: {', '.join(specs)}"
            )
        base = specs[short]
        lower = base["lower"] if spec.lower is None else spec.lower
        upper = base["upper"] if spec.upper is None else spec.upper
        value = float(getattr(model.closure, short))
        t = value if spec.truth is None else spec.truth
        if spec.prior is not None:
            prior = Prior.from_dict(spec.prior)
        else:
            # centred on the model's value, never on the synthetic truth (that would leak the
            # answer into a twin experiment)
            if not value > 0:
                raise ConfigError(
                    f"calibration.parameters.{key}: the default lognormal prior needs a positive "
                    f"model value, got {value}; give a prior"
                )
            prior = Prior.make("lognormal", loc=math.log(value), scale=cal.default_prior_scale)
        first = spec.initial if spec.initial is not None else t * (spec.initial_factor or 1.0)
        name = f"closure.{short}"
        try:
            controls[name] = Parameter.from_dict(
                {"value": first, "lower": lower, "upper": upper, "prior": prior.to_dict(),
                 "units": base.get("units", "1"), "description": base.get("description", "")},
                name=f"calibration.parameters.{key}.initial")
            truth[name] = Parameter.from_dict({"value": t, "lower": lower, "upper": upper,
                                               "units": base.get("units", "1")},
                                              name=f"calibration.parameters.{key}.truth")
        except ParameterError as err:
            raise ConfigError(f"config error: {err}") from None
    return ParameterSet(controls), ParameterSet(truth)


def build_calibration(cfg: CalibrationExperiment, raw: dict, source: str = "config") -> ColumnCalibrationSetup:
    """Models, observations (synthetic twin or files) and the :class:`Problem` of a config."""
    from .column import column_case, column_twin
    from .problem import Problem

    if cfg.experiment.backend != "jax":
        raise ConfigError(f"calibration needs experiment.backend = 'jax' (got {cfg.experiment.backend!r})")
    case_cfgs = _case_configs(cfg, raw, source)
    models = {name: build_model(c) for name, c in case_cfgs.items()}
    first = next(iter(case_cfgs.values()))
    n_steps, save_every = first.time.n_steps, first.time.output_every
    for name, c in case_cfgs.items():
        if (c.time.dt, c.time.n_steps, c.time.output_every) != (first.time.dt, n_steps, save_every):
            raise ConfigError(
                f"case {name!r}: all cases must share [time] (dt, stop_time, output_interval); got "
                f"dt = {c.time.dt} s, {c.time.n_steps} steps, output every {c.time.output_every} steps "
                f"vs dt = {first.time.dt} s, {n_steps} steps, output every {save_every} steps")
    controls, truth = _controls(cfg, next(iter(models.values())))
    obs = cfg.calibration.observations
    obs_every = 1
    if obs.interval is not None:
        dt_out = first.time.dt * save_every
        k = obs.interval / dt_out
        if abs(k - round(k)) > 1e-9 or round(k) < 1:
            raise ConfigError(
                f"calibration.observations.interval = {obs.interval} must be a whole multiple of the "
                f"output interval {dt_out} s"
            )
        obs_every = int(round(k))
    if obs.source == "synthetic":
        cases, datasets = column_twin(
            models, truth, n_steps=n_steps, save_every=save_every,
            error_std={v: obs.error_std[v] for v in obs.variables}, obs_every=obs_every,
            z=obs.depths, seed=obs.seed,
            derived_attrs={"mixed_layer_depth": {"threshold": obs.mixed_layer_threshold}},
        )
    else:
        import xarray as xr

        cases, datasets = [], {}
        for name, model in models.items():
            path = Path(obs.path.format(case=name))
            if not path.is_file():
                raise ConfigError(f"calibration.observations.path: file {str(path)!r} does not exist")
            ds = xr.load_dataset(path)
            datasets[name] = ds
            cases.append(column_case(model, ds, n_steps=n_steps, save_every=save_every,
                                     variables=obs.variables, name=name))
        truth = None
    cal = cfg.calibration
    problem = Problem(controls, cases, regularization=cal.regularization, ridge_weight=cal.ridge_weight)
    return ColumnCalibrationSetup(problem, truth, datasets, models, n_steps, save_every)


def load_calibration(path, overrides: Iterable[str] = (), schema=CalibrationExperiment):
    raw = apply_overrides(load_toml(path), overrides)
    return validate(raw, schema, source=str(path)), raw


def prepare_output_dir(output_dir: str | Path, force: bool) -> Path:
    out = Path(output_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"output directory {str(out)!r} is not empty; pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json_atomic(data: dict, path: Path) -> Path:
    from ..inference.results import _jsonable
    from ..io.files import atomic_write_bytes

    return atomic_write_bytes(path, json.dumps(_jsonable(data), indent=2).encode())


def write_common(out: Path, raw: dict, setup: ColumnCalibrationSetup) -> list[Path]:
    from ..experiment import _dump_toml
    from ..inference.results import write_netcdf_atomic

    files = []
    cfg_path = out / "config.toml"
    cfg_path.write_text(_dump_toml(raw))
    files.append(cfg_path)
    for name, ds in setup.observations.items():
        files.append(write_netcdf_atomic(ds, out / f"observations_{name}.nc"))
    return files


@eqx.filter_jit
def _ensemble_outputs(problem, case_index: int, us):
    case = problem.cases[case_index]
    return jax.vmap(lambda u: case.outputs(problem.theta(u)))(us)


def profile_figures(out: Path, setup: ColumnCalibrationSetup, *, u_prior=None, u_post=None,
                    u_best=None, variable: str | None = None) -> list[Path]:
    """Final-time profiles per case: observations, truth, prior/posterior ensembles (or the
    first-guess and calibrated runs as one-member 'ensembles')."""
    import jax.numpy as jnp

    from .plots import plot_profiles

    problem = setup.problem
    files = []
    obs_vars = problem.cases[0].operator.variables
    var = variable or next((v for v in obs_vars if v != "mixed_layer_depth"), "T")
    units = {"T": "degC", "S": "g kg-1", "u": "m s-1", "v": "m s-1", "e": "m2 s-2"}

    def ensemble(us):
        if us is None:
            return None
        us = jnp.atleast_2d(jnp.asarray(us))
        return [np.asarray(_ensemble_outputs(problem, i, us)[var])[:, -1] for i in range(len(problem.cases))]

    def run(u):
        return [e[0] for e in ensemble(u)]

    prior_e, post_e = ensemble(u_prior), ensemble(u_post)
    best = run(u_best) if u_best is not None else None
    truth_runs = run(problem.unconstrained(jnp.asarray([setup.truth[n].value for n in problem.names]))) \
        if setup.truth is not None else None
    for i, case in enumerate(problem.cases):
        model = setup.models[case.name]
        z = np.asarray(model.grid.z_centers)
        ds = setup.observations[case.name]
        observed = None
        if var in ds and "z" in ds[var].dims and len(ds["z"]) == len(z) and np.allclose(ds["z"].values, z):
            observed = ds[var].values[-1]
        posterior = post_e[i] if post_e is not None else (best[i][None] if best is not None else None)
        files.append(plot_profiles(
            z, observed, truth=truth_runs[i] if truth_runs is not None else None,
            prior=prior_e[i] if prior_e is not None else None, posterior=posterior,
            xlabel=f"{var} ({units.get(var, '')})", title=f"{case.name}: final time",
            path=out / f"profiles_{case.name}.png"))
    return files


def calibrate_from_file(
    config_path: str | Path,
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    force: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the calibration a config describes and write its outputs (module docstring).

    Returns the summary dict (also written to ``summary.json``) with ``files``.
    """
    import jax.numpy as jnp

    from ..inference.results import write_netcdf_atomic
    from .eki import ensemble_kalman_inversion
    from .optimize import calibrate
    from .plots import plot_loss, plot_parameter_trajectories
    from .uki import unscented_kalman_inversion

    cfg, raw = load_calibration(config_path, overrides)
    out = prepare_output_dir(output_dir or Path("runs") / f"{cfg.experiment.name}_calibration", force)
    setup = build_calibration(cfg, raw, str(config_path))
    problem, cal = setup.problem, cfg.calibration
    files = write_common(out, raw, setup)
    if cal.method == "eki":
        res = ensemble_kalman_inversion(problem, ensemble_size=cal.ensemble_size, max_iterations=cal.max_iterations,
                                        dt=cal.eki_dt, seed=cfg.experiment.seed, progress=progress)
    elif cal.method == "uki":
        if cal.uki_alpha != 1.0 and cal.regularization != "none":
            raise ConfigError(
                f"calibration.uki_alpha = {cal.uki_alpha} regularises towards the first guess; with "
                f"calibration.regularization = {cal.regularization!r} the prior is imposed already: "
                "use calibration.uki_alpha = 1 or calibration.regularization = 'none'")
        res = unscented_kalman_inversion(problem, max_iterations=cal.max_iterations, alpha_reg=cal.uki_alpha,
                                         ftol=cal.ftol, progress=progress)
    else:
        kwargs: dict[str, Any] = dict(max_iterations=cal.max_iterations, gtol=cal.gtol, progress=progress)
        if cal.method == "optax_adam":
            kwargs["learning_rate"] = cal.learning_rate
            kwargs["ftol"] = 0.0 if cal.ftol == 1e-12 else cal.ftol
        else:
            kwargs["ftol"] = cal.ftol
        res = calibrate(problem, cal.method, **kwargs)
    summary = res.summary()
    if setup.truth is not None:
        tv = np.array([float(setup.truth[n].value) for n in problem.names])
        summary["truth"] = dict(zip(problem.names, tv.tolist(), strict=True))
        summary["relative_error"] = dict(zip(problem.names, (res.theta / tv - 1).tolist(), strict=True))
        summary["initial"] = dict(zip(problem.names, np.asarray(problem.theta0).tolist(), strict=True))
    else:
        tv = None
    summary["n_observations"] = problem.n_observations
    summary.setdefault("priors", problem.prior_report())
    summary["cases"] = [c.name for c in problem.cases]
    files.append(write_netcdf_atomic(res.history, out / "history.nc"))
    files.append(plot_loss({cal.method: res.history}, out / "loss.png",
                           variable="data_misfit" if cal.method in ("eki", "uki") else "loss",
                           n_observations=problem.n_observations))
    files.append(plot_parameter_trajectories(res.history, out / "parameters.png", truth=tv))
    files += profile_figures(out, setup, u_prior=None, u_best=jnp.asarray(res.u))
    summary["files"] = [str(f) for f in files] + [str(out / "summary.json")]
    write_json_atomic(summary, out / "summary.json")
    return summary
