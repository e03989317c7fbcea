"""Config-file driven calibration of any registered model: the Python API behind
``pyclimaocean calibrate``.

A calibration config is a *run* config of any registered model (``[experiment]`` with
``model = ...``, ``[time]``, ``[output]``, ``[parameters]`` and the model's own sections,
exactly as for ``pyclimaocean run``) plus a ``[calibration]`` section::

    [calibration]
    method = "scipy_lbfgsb"          # scipy_lbfgsb | optax_lbfgs | optax_adam | eki | uki |
                                     # trust_region | hybrid | multistart | gauss_newton (docs/calibration.md)
    # n_starts = 3 ; ensemble_start = "eki" ; restarts = 2 ; select = "lowest"   # multistart only
    regularization = "prior"         # prior | physical | ridge | none
    max_iterations = 100
    # ftol = 1e-12                   # default: the method's own (see DEFAULT_FTOL)

    [calibration.parameters.c_pen_c]              # any name model.parameters() accepts:
    prior = { kind = "lognormal", loc = -2.19, scale = 0.5 }   # "c_pen_c" or "closure.c_pen_c"
    initial_factor = 1.3                           #   (column), "forcing" (Lorenz-96)
    # initial = 0.15 ; truth = 0.112 ; lower = 0.0 ; upper = 1.12

    [calibration.observations]
    source = "synthetic"             # synthetic twin (truth + noise) | file
    variables = ["T", "u", "v"]      # the model's variables() and named diagnostics()
    error_std = { T = 1e-4, u = 1e-4, v = 1e-4 }
    interval = 14400.0               # model time units (default: every model output)
    # at = { z = [-30.0, -10.0] }    # observation coordinates per dim (default: the model's)

    [[calibration.cases]]            # optional: several forcing cases calibrated jointly
    name = "wind"
    set = { "forcing.wind_stress_x" = 0.1, "physics.coriolis_parameter" = 1e-4 }

Controls come from ``model.parameters(names)`` (bounds, units and, where the model gives one,
its prior); without a prior in the config, a positive parameter gets a lognormal prior centred
on the model's value (scale ``default_prior_scale``) and any other the model's prior.  The
forward map runs the model (:func:`~pyclimaocean.calibration.simulator.model_simulator`) and
observes its output fields with the named-dimension operators of
:mod:`pyclimaocean.observations`.

The output directory follows :func:`pyclimaocean.experiment.prepare_output_dir` (``--force``
empties an existing experiment directory first, so no stale file survives); every file is
written atomically.  It holds ``config.toml``, ``observations_<case>.nc``, ``history.nc``,
``summary.json`` (with ``converged``, the optimizer's full ``message``, the ``priors`` used and
``warnings``), ``loss.png`` (with the noise floor m/2), ``parameters.png`` and, for variables
with one dim, ``profiles_<case>.png``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import equinox as eqx
import jax
import numpy as np
import pydantic
from pydantic import Field, model_validator

from ..config import (
    DEFAULT_MODEL,
    ConfigError,
    Section,
    apply_overrides,
    load_toml,
    toml_value,
    validate,
)
from ..core.model import apply_parameter_section
from ..core.registry import get_model_entry
from ..io.experiment_dir import check_output_dir
from ..io.experiment_dir import dump_toml as _dump_toml
from ..io.experiment_dir import prepare_output_dir as _prepare_experiment_dir
from ..io.files import atomic_write_bytes, jsonable, write_netcdf_atomic
from ..observations import model_axes
from ..params import Parameter, ParameterError, ParameterSet, Prior
from .eki import ensemble_kalman_inversion
from .observations import ObservationError
from .optimize import calibrate
from .plots import plot_loss, plot_parameter_trajectories, plot_profile_grid
from .problem import Problem
from .simulator import model_case, model_twin
from .uki import unscented_kalman_inversion

__all__ = [
    "CalibrationSection",
    "CalibrationSetup",
    "DEFAULT_FTOL",
    "build_calibration",
    "check_output_dir",
    "calibrate_from_file",
    "calibration_schema",
    "load_calibration",
    "prepare_output_dir",
    "write_json_atomic",
]

#: ``ftol`` of each method when ``[calibration] ftol`` is not given (relative decrease of the
#: loss, or of the data misfit for UKI, at which the iteration stops; 0 disables the test;
#: EKI runs ``max_iterations`` updates)
DEFAULT_FTOL = {"scipy_lbfgsb": 1e-12, "optax_lbfgs": 1e-12, "optax_adam": 0.0, "uki": 1e-12,
                "hybrid": 1e-12, "multistart": 1e-12, "trust_region": 0.0, "gauss_newton": 1e-12}


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
    """``[calibration.observations]``: what is observed, where, and how well."""

    source: Literal["synthetic", "file"] = "synthetic"
    path: str | None = Field(None, description="netCDF file; '{case}' is replaced by the case name")
    variables: list[str] = Field(..., min_length=1,
                                 description="observed names: the model's variables and diagnostics")
    error_std: dict[str, float] = Field(default_factory=dict, description="sigma per variable")
    interval: float | None = Field(None, gt=0, description="observation interval (model time units)")
    at: dict[str, list[float]] = Field(
        default_factory=dict, description="observation coordinates per dim, e.g. z = [-30.0, -10.0]")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self):
        if self.source == "file" and not self.path:
            raise ValueError("source = 'file' needs a path")
        if self.source == "synthetic":
            missing = [v for v in self.variables if v not in self.error_std]
            if missing:
                raise ValueError(f"error_std is missing for {missing} (needed for synthetic observations)")
        for k, v in self.error_std.items():
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"error_std.{k} = {v} must be a positive number")
        for k, v in self.at.items():
            if not v:
                raise ValueError(f"at.{k} must list at least one coordinate value")
        return self


class CaseSpec(Section):
    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted overrides of the base config")


#: the multistart's own options of ``[calibration]`` and their defaults (given with another
#: method, they are refused: nothing would read them)
MULTISTART_OPTION_DEFAULTS = {"ensemble_start": None, "ensemble_start_iterations": 3, "polish": None,
                              "restarts": 0, "select": "lowest", "agreement": 0.5}


class CalibrationSection(Section):
    """``[calibration]`` (see the module docstring)."""

    method: Literal["scipy_lbfgsb", "optax_lbfgs", "optax_adam", "eki", "uki", "trust_region", "hybrid",
                    "multistart", "gauss_newton"] = "scipy_lbfgsb"
    regularization: Literal["prior", "physical", "ridge", "none"] = "prior"
    ridge_weight: float = Field(1.0, gt=0)
    max_iterations: int = Field(100, ge=1, le=100000)
    gtol: float = Field(1e-6, ge=0)
    ftol: float | None = Field(
        None, ge=0, description="relative decrease at which to stop (default: the method's, "
        "DEFAULT_FTOL; 0 disables it)")
    learning_rate: float = Field(0.01, gt=0, description="optax_adam")
    ensemble_size: int = Field(20, ge=2, le=10000, description="eki (and the eki stage of hybrid, multistart's ensemble_start)")
    hybrid_ensemble: Literal["eki", "uki"] = Field("eki", description="hybrid: ensemble stage")
    hybrid_iterations: int = Field(3, ge=1, le=1000, description="hybrid: ensemble updates before L-BFGS-B")
    n_starts: int = Field(4, ge=1, le=1000, description="multistart: first guess + prior draws")
    ensemble_start: Literal["eki", "uki"] | None = Field(
        None, description="multistart: one start is the mean of ensemble_start_iterations EKI (ensemble_size "
        "members) or UKI updates from the prior, in place of a prior draw")
    ensemble_start_iterations: int = Field(3, ge=1, le=1000, description="multistart: updates of the ensemble start")
    polish: Literal["gauss_newton"] | None = Field(
        None, description="multistart: continue an unconverged start with Gauss-Newton")
    restarts: int = Field(0, ge=0, le=100, description="multistart: restarts of an unconverged L-BFGS-B run "
                          "from its end point")
    select: Literal["lowest", "earliest"] = Field(
        "lowest", description="multistart: return the lowest loss, or the earliest start within agreement of it")
    agreement: float = Field(0.5, ge=0, le=1e6, description="multistart: losses within this are the same fit "
                             "(0.5 = a change of 1 in chi^2)")
    trust_region_hessian: Literal["hvp", "bfgs", "sr1"] = Field("hvp", description="trust_region")
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

    @model_validator(mode="after")
    def _multistart_options(self):
        # options that only the multistart reads must not be silently ignored
        if self.method != "multistart":
            given = [k for k, default in MULTISTART_OPTION_DEFAULTS.items() if getattr(self, k) != default]
            if given:
                raise ValueError(
                    ", ".join(f"calibration.{k} = {getattr(self, k)!r}" for k in given)
                    + f": {'applies' if len(given) == 1 else 'apply'} to method = 'multistart' only "
                    f"(method is {self.method!r}); remove {'it' if len(given) == 1 else 'them'} or set "
                    "method = 'multistart'")
        elif self.ensemble_start is not None and self.n_starts < 2:
            raise ValueError(f"calibration.ensemble_start = {self.ensemble_start!r} needs calibration.n_starts "
                             f">= 2 (the first guess and the ensemble mean); n_starts is {self.n_starts}")
        return self

    def method_ftol(self, method: str | None = None) -> float:
        """``ftol`` for ``method`` (default this section's): the given value or DEFAULT_FTOL."""
        method = method or self.method
        return DEFAULT_FTOL.get(method, 0.0) if self.ftol is None else self.ftol


_SCHEMAS: dict[tuple, type] = {}


def calibration_schema(model: str, sections: Mapping[str, tuple[type, Any]] | None = None) -> type:
    """The schema of a calibration config of ``model``: its run schema plus ``[calibration]``
    (and ``sections``: ``{name: (Section type, default or ...)}``, e.g. ``[inference]``)."""
    sections = dict(sections or {})
    key = (model, tuple((k, v[0]) for k, v in sections.items()))
    if key not in _SCHEMAS:
        base = get_model_entry(model).config_schema()
        _SCHEMAS[key] = pydantic.create_model(
            f"{base.__name__}Calibration", __base__=base,
            calibration=(CalibrationSection, ...), **sections)
    return _SCHEMAS[key]


@dataclass
class CalibrationSetup:
    """Everything a calibration config builds: the problem, the synthetic truth (``None`` for
    observations from files), the observation datasets and the models, per case."""

    problem: Any
    truth: ParameterSet | None
    observations: dict[str, Any]
    models: dict[str, Any]
    n_steps: int
    save_every: int


def _model_name(raw: Mapping[str, Any], source: str) -> str:
    exp = raw.get("experiment", {})
    if not isinstance(exp, Mapping):
        raise ConfigError(f"config error in {source}:\n  experiment = {exp!r}: must be a table ([experiment])")
    return exp.get("model", DEFAULT_MODEL)


def _case_configs(cfg, raw: dict, source: str) -> dict[str, Any]:
    if not cfg.calibration.cases:
        return {cfg.experiment.name: cfg}
    out = {}
    base = {k: v for k, v in raw.items() if k not in ("calibration", "inference")}
    schema = get_model_entry(cfg.experiment.model).config_schema()
    for case in cfg.calibration.cases:
        sets = [f"{k}={toml_value(v)}" for k, v in case.set.items()]
        data = apply_overrides(base, sets)
        out[case.name] = validate(data, schema, source=f"{source} (case {case.name!r})")
    return out


def _build_model(c):
    """The model of a run config, with its ``[parameters]`` applied."""
    return apply_parameter_section(get_model_entry(c.experiment.model).build(c), c.parameters)


def _controls(cfg, model) -> tuple[ParameterSet, ParameterSet]:
    """(controls with priors and first guess, truth values of the controls), from
    ``model.parameters(names)`` and the ``[calibration.parameters]`` specs."""
    cal = cfg.calibration
    controls, truth = {}, {}
    for key, spec in cal.parameters.items():
        try:
            base_set = model.parameters([key])
        except KeyError as err:
            raise ConfigError(f"calibration.parameters.{key}: {err.args[0]}") from None
        (name,) = base_set.names
        base = base_set[name]
        lower = float(base.lower) if spec.lower is None else spec.lower
        upper = float(base.upper) if spec.upper is None else spec.upper
        value = float(base.value)
        t = value if spec.truth is None else spec.truth
        if spec.prior is not None:
            prior = Prior.from_dict(spec.prior)
        elif value > 0 and lower >= 0:
            # centred on the model's value, never on the synthetic truth (that would leak the
            # answer into a twin experiment)
            prior = Prior.make("lognormal", loc=math.log(value), scale=cal.default_prior_scale)
        elif base.prior is not None:
            prior = base.prior
        else:
            raise ConfigError(
                f"calibration.parameters.{key}: the default lognormal prior needs a positive "
                f"model value, got {value}; give a prior"
            )
        first = spec.initial if spec.initial is not None else t * (spec.initial_factor or 1.0)
        units = getattr(base, "units", "1")
        try:
            controls[name] = Parameter.from_dict(
                {"value": first, "lower": lower, "upper": upper, "prior": prior.to_dict(),
                 "units": units, "description": getattr(base, "description", "")},
                name=f"calibration.parameters.{key}.initial")
            truth[name] = Parameter.from_dict({"value": t, "lower": lower, "upper": upper, "units": units},
                                              name=f"calibration.parameters.{key}.truth")
        except ParameterError as err:
            raise ConfigError(f"config error: {err}") from None
    return ParameterSet(controls), ParameterSet(truth)


def _check_observable(cfg, model) -> None:
    observable = [v.name for v in model.variables()] + list(model.diagnostics())
    bad = [v for v in cfg.calibration.observations.variables if v not in observable]
    if bad:
        raise ConfigError(
            f"calibration.observations.variables: {bad} are not observable in the "
            f"{model.name} model. Observable: {', '.join(observable)}")


#: calibration methods that use forward runs only (no adjoint gradient)
GRADIENT_FREE_METHODS = ("eki", "uki")


def build_calibration(cfg, raw: dict, source: str = "config", *,
                      needs_gradients: bool | None = None) -> CalibrationSetup:
    """Models, observations (synthetic twin or files) and the :class:`Problem` of a config.

    The models are built on ``experiment.backend`` through the model registry (the JAX
    backend, or e.g. the Julia column, whose runs are external functions with Enzyme
    adjoints).  ``needs_gradients`` (default: the method is not in
    :data:`GRADIENT_FREE_METHODS`): refuse, as a :class:`ConfigError`, a model whose
    ``gradient_limitation()`` says it has no adjoint gradient.
    """
    import xarray as xr


    case_cfgs = _case_configs(cfg, raw, source)
    # any backend the model's registry entry has: the JAX model, or a model computed elsewhere
    # (the Julia column: Oceananigans through juliacall, a pure_callback + custom_vjp external
    # function).  Without Julia, building raises BackendUnavailableError naming what is missing.
    get_model_entry(cfg.experiment.model).builder(cfg.experiment.backend)
    models = {name: _build_model(c) for name, c in case_cfgs.items()}
    if needs_gradients is None:
        needs_gradients = cfg.calibration.method not in GRADIENT_FREE_METHODS
    limitation = getattr(next(iter(models.values())), "gradient_limitation", None)
    reason = limitation() if callable(limitation) and needs_gradients else None
    if reason:
        raise ConfigError(
            f"config error in {source}: calibration.method = {cfg.calibration.method!r} needs "
            f"adjoint gradients, and the {cfg.experiment.model} model on experiment.backend = "
            f"{cfg.experiment.backend!r} has none: {reason}. Gradient-free methods run the same "
            f"forward model: calibration.method = {' or '.join(repr(m) for m in GRADIENT_FREE_METHODS)}")
    first = next(iter(case_cfgs.values()))
    n_steps, save_every = first.time.n_steps, first.time.output_every
    for name, c in case_cfgs.items():
        if (c.time.dt, c.time.n_steps, c.time.output_every) != (first.time.dt, n_steps, save_every):
            raise ConfigError(
                f"case {name!r}: all cases must share [time] (dt, stop_time, output_interval); got "
                f"dt = {c.time.dt} s, {c.time.n_steps} steps, output every {c.time.output_every} steps "
                f"vs dt = {first.time.dt} s, {n_steps} steps, output every {save_every} steps")
    model0 = next(iter(models.values()))
    _check_observable(cfg, model0)
    controls, truth = _controls(cfg, model0)
    obs = cfg.calibration.observations
    obs_every = 1
    if obs.interval is not None:
        dt_out = first.time.dt * save_every
        k = obs.interval / dt_out
        if abs(k - round(k)) > 1e-9 or round(k) < 1:
            raise ConfigError(
                f"calibration.observations.interval = {obs.interval} must be a whole multiple of the "
                f"output interval {dt_out}"
            )
        obs_every = int(round(k))
    try:
        if obs.source == "synthetic":
            cases, datasets = model_twin(
                models, truth, n_steps=n_steps, save_every=save_every,
                error_std={v: obs.error_std[v] for v in obs.variables}, obs_every=obs_every,
                at=obs.at or None, seed=obs.seed)
        else:
            cases, datasets = [], {}
            for name, model in models.items():
                path = Path(obs.path.format(case=name))
                if not path.is_file():
                    raise ConfigError(f"calibration.observations.path: file {str(path)!r} does not exist")
                ds = xr.load_dataset(path)
                datasets[name] = ds
                cases.append(model_case(model, ds, n_steps=n_steps, save_every=save_every,
                                        variables=obs.variables, name=name))
            truth = None
    except ObservationError as err:
        raise ConfigError(f"config error in {source}: calibration.observations: {err}") from None
    cal = cfg.calibration
    problem = Problem(controls, cases, regularization=cal.regularization, ridge_weight=cal.ridge_weight)
    return CalibrationSetup(problem, truth, datasets, models, n_steps, save_every)


def load_calibration(path, overrides: Iterable[str] = (), schema=None, *,
                     sections: Mapping[str, tuple[type, Any]] | None = None):
    """Load and validate a calibration config: ``(config, raw dict)``.

    The schema is the run schema of the config's ``experiment.model`` plus ``[calibration]``
    and ``sections`` (:func:`calibration_schema`); ``schema`` overrides it with a fixed
    pydantic class.
    """
    raw = apply_overrides(load_toml(path), overrides)
    if schema is None:
        schema = calibration_schema(_model_name(raw, str(path)), sections)
    return validate(raw, schema, source=str(path)), raw


def prepare_output_dir(output_dir: str | Path, force: bool) -> Path:
    """The experiment directory policy of every verb (:func:`pyclimaocean.experiment.prepare_output_dir`):
    refuses a non-empty directory unless ``force``, and with ``force`` empties it first (only
    if it holds an experiment), so no stale file of an earlier run survives."""
    return _prepare_experiment_dir(output_dir, force=force)


def write_json_atomic(data: dict, path: Path) -> Path:

    return atomic_write_bytes(path, json.dumps(jsonable(data), indent=2).encode())


def write_common(out: Path, raw: dict, setup: CalibrationSetup) -> list[Path]:
    """``config.toml`` (the config as run, overrides applied) and ``observations_<case>.nc``."""

    files = [atomic_write_bytes(out / "config.toml", _dump_toml(raw).encode())]
    for name, ds in setup.observations.items():
        files.append(write_netcdf_atomic(ds, out / f"observations_{name}.nc"))
    return files


@eqx.filter_jit
def _ensemble_outputs(problem, model, simulate, us):
    """``simulate`` outputs of ``model`` for each row of ``us`` ``(k, n)`` (unconstrained)."""
    return jax.vmap(lambda u: simulate(problem.theta(u).apply(model)))(us)


def profile_figures(out: Path, setup: CalibrationSetup, *, u_prior=None, u_post=None,
                    u_best=None, variable: str | None = None, best_label: str = "calibrated") -> list[Path]:
    """``profiles_<case>.png`` per case: every observed variable with one dim besides time
    (``z`` for the column, ``k`` for Lorenz-96) at the first, middle and final output times —
    truth, first guess, the calibrated run (``u_best``, labelled ``best_label``), observations
    and prior/posterior ensemble bands — and their differences from the truth at the final time
    (:func:`~pyclimaocean.calibration.plots.plot_profile_grid`).  ``variable`` restricts the
    figure to one variable.  No figure when no observed variable has one dim."""
    import jax.numpy as jnp

    problem = setup.problem
    model0 = setup.models[problem.cases[0].name]
    field_dims, coords, _ = model_axes(model0)
    meta = {v.name: v for v in model0.variables()}
    obs_vars = [variable] if variable else list(problem.cases[0].operator.variables)
    obs_vars = [v for v in obs_vars if len(field_dims.get(v, ())) == 2]
    if not obs_vars:
        return []
    dim = field_dims[obs_vars[0]][1]
    obs_vars = [v for v in obs_vars if field_dims[v][1] == dim]
    if dim not in coords:
        return []

    def outputs(us, i):
        if us is None:
            return None
        # float64, never weakly typed: the first guess u₀ is a weak-typed array, and a weak
        # and a strong input are two compilations of the whole ensemble run
        us = jnp.atleast_2d(jnp.asarray(us, dtype=jnp.float64))
        case = problem.cases[i]
        model = case.model
        if any(len(g) > 1 and i in g for g in problem.groups):
            # cases batched together trace with array leaves (Problem.predict_cases stacks
            # them): with those leaves as arrays, one compiled run serves every case of the group
            model = jax.tree_util.tree_map(jnp.asarray, model)
        o = _ensemble_outputs(problem, model, case.simulate, us)
        return {v: np.asarray(o[v]) for v in obs_vars}

    u_truth = (problem.unconstrained(jnp.asarray([setup.truth[n].value for n in problem.names]))
               if setup.truth is not None else None)
    files = []
    for i, case in enumerate(problem.cases):
        x = np.asarray(model_axes(setup.models[case.name])[1][dim])
        runs = {}
        for name, u in (("truth", u_truth), ("first_guess", problem.u0), ("calibrated", u_best)):
            o = outputs(u, i)
            if o is not None:
                runs[name] = {v: a[0] for v, a in o.items()}
        bands = {name: o for name, o in (("prior", outputs(u_prior, i)), ("posterior", outputs(u_post, i)))
                 if o is not None}
        nt = next(iter(next(iter(runs.values())).values())).shape[0]
        ds = setup.observations[case.name]
        observed = {}
        for v in obs_vars:
            if v in ds and ds[v].dims == ("time", dim) and ds[v].shape == (nt, len(x)) \
                    and np.allclose(ds[dim].values, x):
                observed[v] = ds[v].values
        if "time" in ds.coords and len(ds.time) == nt:
            times, time_units = np.asarray(ds.time.values, dtype=float), model0.time_units
        else:
            times, time_units = np.arange(nt, dtype=float), "record"
        files.append(plot_profile_grid(
            x, times, runs, observed=observed, bands=bands,
            units={v: meta[v].units for v in obs_vars if v in meta}, dim=dim, time_units=time_units,
            title=f"{case.name}", run_labels={"calibrated": best_label},
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


    cfg, raw = load_calibration(config_path, overrides)
    cal = cfg.calibration
    if cal.method == "uki" and cal.uki_alpha != 1.0 and cal.regularization != "none":
        raise ConfigError(
            f"calibration.uki_alpha = {cal.uki_alpha} regularises towards the first guess; with "
            f"calibration.regularization = {cal.regularization!r} the prior is imposed already: "
            "use calibration.uki_alpha = 1 or calibration.regularization = 'none'")
    out = output_dir or Path("runs") / f"{cfg.experiment.name}_calibration"
    check_output_dir(out, force=force)  # refuse before the twin is built and compiled
    setup = build_calibration(cfg, raw, str(config_path))
    problem = setup.problem
    out = prepare_output_dir(out, force)
    files = write_common(out, raw, setup)
    if cal.method == "eki":
        res = ensemble_kalman_inversion(problem, ensemble_size=cal.ensemble_size, max_iterations=cal.max_iterations,
                                        dt=cal.eki_dt, seed=cfg.experiment.seed, progress=progress)
    elif cal.method == "uki":
        res = unscented_kalman_inversion(problem, max_iterations=cal.max_iterations, alpha_reg=cal.uki_alpha,
                                         ftol=cal.method_ftol(), progress=progress)
    else:
        kwargs: dict[str, Any] = dict(max_iterations=cal.max_iterations, gtol=cal.gtol,
                                      ftol=cal.method_ftol(), progress=progress)
        if cal.method == "optax_adam":
            kwargs["learning_rate"] = cal.learning_rate
        elif cal.method == "hybrid":
            kwargs.update(ensemble_method=cal.hybrid_ensemble, ensemble_iterations=cal.hybrid_iterations,
                          ensemble_size=cal.ensemble_size, eki_dt=cal.eki_dt, seed=cfg.experiment.seed)
        elif cal.method == "multistart":
            kwargs.update(n_starts=cal.n_starts, seed=cfg.experiment.seed, ensemble_start=cal.ensemble_start,
                          ensemble_iterations=cal.ensemble_start_iterations, ensemble_size=cal.ensemble_size,
                          polish=cal.polish, restarts=cal.restarts, select=cal.select, agreement=cal.agreement)
        elif cal.method == "trust_region":
            kwargs["hessian"] = cal.trust_region_hessian
        res = calibrate(problem, cal.method, **kwargs)
    summary = res.summary()
    summary["model"] = cfg.experiment.model
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
