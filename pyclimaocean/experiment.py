"""Run experiments described by TOML files: the Python API behind ``pyclimaocean run``,
``pyclimaocean ensemble`` and ``pyclimaocean validate`` (and the Prefect flows).

``run_experiment("examples/column_free_convection.toml", "runs/fc")`` validates the config,
builds the model on the chosen backend, runs it with a :class:`~pyclimaocean.simulation.Simulation`
(outputs, checkpoints, blow-up detection) and writes an *experiment directory*::

    runs/fc/
      config.toml          the exact config that ran (after --set overrides)
      provenance.json      versions, git revision, command line, seeds, start/end, status
      run.log              log of the run (appended to on --resume)
      output.nc            CF-annotated dataset (output.zarr with output.format = "zarr")
      checkpoint.npz       restart file (when time.checkpoint_interval is set)
      last_good_state.npz  only after a blow-up: the last state that passed the checks
      figures/*.png        the model's figures (e.g. column.png, hovmoller.png)
      report.md            what ran, key diagnostics, links to the files and figures

All files are written atomically (temporary file + rename), so a crash or ``kill -9`` leaves
the previous version of every file readable.  An existing, non-empty directory is never
overwritten unless ``force=True`` (and then only if it holds an experiment: ``config.toml`` or
``provenance.json``); ``resume=True`` continues it from ``checkpoint.npz`` — bit for bit the
same as an uninterrupted run — after checking that the config did not change.

:func:`run_ensemble` runs a parameter-perturbation ensemble sequentially (the Prefect flow
:func:`pyclimaocean.workflows.ensemble_flow` runs the same members on Dask);
:func:`plan_experiment` is the dry run behind ``pyclimaocean validate``.
"""

from __future__ import annotations

import json
import math
import os
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import (
    DEFAULT_MODEL,
    EXPERIMENT_KINDS,
    ConfigError,
    apply_overrides,
    check_verb,
    experiment_kind,
    load_toml,
    validate,
)
from .core.model import apply_parameter_section
from .core.registry import get_model_entry
from .io.experiment_dir import (
    _check_same_config,
    close_experiment_dir,
    dump_toml,
    experiment_logger,
    open_experiment_dir,
    prepare_output_dir,
    remove_stale_temporaries,
)
from .io.files import atomic_write_bytes, write_dataset
from .io.provenance import collect_provenance, utc_now, write_provenance
from .plotting import pyplot, save_figure
from .simulation import BlowUpError, Simulation, make_writer, steps_from_schedule

_dump_toml = dump_toml
_remove_stale_temporaries = remove_stale_temporaries  # older name

__all__ = [
    "run_experiment",
    "load_experiment",
    "plan_experiment",
    "prepare_output_dir",
    "open_experiment_dir",
    "close_experiment_dir",
    "experiment_kind",
    "validate_any",
    "ExperimentResult",
    "ExperimentPlan",
    "EnsembleResult",
    "ensemble_parameters",
    "sample_members",
    "member_overrides",
    "run_member",
    "run_ensemble",
    "collect_ensemble",
    "experiment_logger",
    "ENSEMBLE_METHODS",
]

ENSEMBLE_METHODS = ("prior", "relative")


@dataclass
class ExperimentResult:
    """Outcome of :func:`run_experiment`.

    Attributes:
        output_dir: the experiment directory.
        dataset: the output :class:`xarray.Dataset` (``time`` × ``z``).
        final_state: the model state at the end.
        files: files written (output, config, figures, report, ...).
        diagnostics: the model's key numbers (:meth:`AbstractModel.summary`), by key.
        status: ``"completed"``.
        labels: ``{key: (units, label)}`` of the diagnostics.
    """

    output_dir: Path
    dataset: object
    final_state: object
    files: list[Path]
    diagnostics: dict[str, float] = field(default_factory=dict)
    status: str = "completed"
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class ExperimentPlan:
    """What :func:`run_experiment` would do (from :func:`plan_experiment`; nothing written)."""

    source: str
    config: Any
    raw: dict
    model: Any
    output_dir: Path
    n_steps: int
    dt: float
    stop_time: float
    output_every: int
    n_outputs: int
    checkpoint_every: int | None
    parameters: tuple[str, ...]
    output_exists: bool

    @property
    def n_checkpoints(self) -> int:
        return 0 if not self.checkpoint_every else self.n_steps // self.checkpoint_every

    def summary(self) -> dict[str, Any]:
        """Plain-dict summary (what ``pyclimaocean validate`` prints)."""
        cfg = self.config
        time_units = "s" if self.model.time_units == "s" else (
            "model time units" if self.model.time_units == "1" else self.model.time_units)
        out = {
            "experiment": cfg.experiment.name,
            "model": cfg.experiment.model,
            "backend": cfg.experiment.backend,
            **self.model.describe(),
            "time step": f"{self.dt:g} {time_units}",
            "stop time": f"{self.stop_time:g} {time_units}"
            + (f" ({self.stop_time / 86400:g} days)" if self.model.time_units == "s" else ""),
            "steps": self.n_steps,
            "outputs": f"{self.n_outputs} (every {self.output_every} steps"
            + (", and the initial state)" if cfg.output.include_initial else ")"),
            "checkpoints": (
                f"{self.n_checkpoints} (every {self.checkpoint_every} steps)"
                if self.checkpoint_every else "off"
            ),
            "output": str(self.output_dir / _output_name(cfg)),
            "calibratable parameters": ", ".join(self.parameters) or "(none)",
        }
        for name, w in cfg.output.writers.items():
            kind = "time means" if w.average else "snapshots"
            out[f"writer {name}"] = (f"{name}.{'nc' if cfg.output.format == 'netcdf' else 'zarr'}"
                                     f": {kind} every {w.interval:g}, fields "
                                     f"{', '.join(w.fields) if w.fields else 'all'}")
        return out


def _output_name(cfg) -> str:
    return "output.nc" if cfg.output.format == "netcdf" else "output.zarr"


# ---------------------------------------------------------------------------------------------
# loading and planning
# ---------------------------------------------------------------------------------------------
def _raw_config(config: str | os.PathLike | Mapping[str, Any]) -> tuple[dict, str]:
    if isinstance(config, Mapping):
        import copy

        return copy.deepcopy(dict(config)), "config"
    return load_toml(config), str(config)


def load_experiment(config: str | Path | Mapping[str, Any], overrides: Iterable[str] = ()):
    """Load and validate an experiment (a TOML path or an already parsed dict).

    Returns ``(config, raw_dict)``; any user error is a :class:`ConfigError` naming the field.
    """
    raw, source = _raw_config(config)
    raw = apply_overrides(raw, overrides)
    _require_run_kind(raw, source)
    exp = raw.get("experiment", {})
    if not isinstance(exp, Mapping):
        raise ConfigError(
            f"config error in {source}:\n  experiment = {exp!r}: must be a table ([experiment])"
        )
    entry = get_model_entry(exp.get("model", DEFAULT_MODEL))
    return validate(raw, entry.config_schema(), source=source), raw


def _build(cfg):
    """The model of a validated config, with its ``[parameters]`` applied."""
    model = get_model_entry(cfg.experiment.model).build(cfg)
    return apply_parameter_section(model, cfg.parameters)


def plan_experiment(
    config: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    output_dir: str | Path | None = None,
) -> ExperimentPlan:
    """Dry run: validate the config, build the model, work out steps and outputs.

    Writes nothing and compiles nothing.  Raises :class:`ConfigError` for a bad config and
    :class:`~pyclimaocean.backends.base.BackendUnavailableError` when the backend cannot run.
    """
    cfg, raw = load_experiment(config, overrides)
    model = _build(cfg)
    t = cfg.time
    ck = _checkpoint_steps(t)
    out = Path(output_dir) if output_dir is not None else Path("runs") / cfg.experiment.name
    params = tuple(model.parameters().names)
    return ExperimentPlan(
        source=str(config) if not isinstance(config, Mapping) else "config",
        config=cfg,
        raw=raw,
        model=model,
        output_dir=out,
        n_steps=t.n_steps,
        dt=t.dt,
        stop_time=t.stop_time,
        output_every=t.output_every,
        n_outputs=t.n_steps // t.output_every,
        checkpoint_every=ck,
        parameters=params,
        output_exists=out.exists() and out.is_dir() and any(out.iterdir()),
    )


def _checkpoint_steps(t) -> int | None:
    k = t.checkpoint_every
    if k is None or k > t.n_steps:  # none, or beyond the end of the run: no checkpoint
        return None
    o = t.output_every
    if k % o:
        raise ConfigError(
            f"time.checkpoint_interval = {t.checkpoint_interval} must be a multiple of "
            f"time.output_interval = {t.output_every * t.dt}"
        )
    return k


# ---------------------------------------------------------------------------------------------
# the experiment directory
# ---------------------------------------------------------------------------------------------
def _require_run_kind(raw: Mapping[str, Any], source: str) -> None:
    check_verb(raw, "run", source)


def validate_any(config: str | Path, overrides: Iterable[str] = (),
                 output_dir: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """Validate a config of any experiment kind without running it: ``(kind, summary)``.

    Run configs are planned (:func:`plan_experiment`); calibration, inference, assimilation and
    training configs are validated against their verbs' schemas and their models are built.
    """
    raw, source = _raw_config(config)
    raw = apply_overrides(raw, overrides)
    kind = experiment_kind(raw)
    if kind == "run":
        return kind, plan_experiment(config, overrides, output_dir).summary()
    import importlib

    loaders = {
        "calibrate": "pyclimaocean.calibration.experiment:validate_calibration",
        "infer": "pyclimaocean.inference.experiment:validate_inference",
        "assimilate": "pyclimaocean.assimilation.experiment:validate_assimilation",
        "train": "pyclimaocean.learning.experiment:validate_training",
    }
    module, _, name = loaders[kind].partition(":")
    summary = getattr(importlib.import_module(module), name)(raw, source)
    return kind, {"kind": kind, "verb": EXPERIMENT_KINDS[kind][1], **summary}


# ---------------------------------------------------------------------------------------------
# diagnostics and report
# ---------------------------------------------------------------------------------------------
def _write_report(out: Path, cfg, provenance: dict, diagnostics: dict, files: Sequence[Path],
                  message: str | None = None, model=None) -> Path:
    """``report.md``: what ran, the model's key numbers ``{key: (value, units, label)}``,
    figures and files."""

    lines = [f"# Experiment `{cfg.experiment.name}`", ""]
    if cfg.experiment.description:
        lines += [cfg.experiment.description, ""]
    t = cfg.time
    lines += [
        "| | |",
        "|---|---|",
        f"| status | **{provenance.get('status')}** |",
        f"| model / backend | {cfg.experiment.model} / {cfg.experiment.backend} |",
        *[f"| {k} | {v} |" for k, v in (model.describe() if model is not None else {}).items()],
        *[f"| parameter {k} | {v:g} |" for k, v in cfg.parameters.items()],
        f"| time | dt = {t.dt:g}, {t.n_steps} steps, stop time {t.stop_time:g} |",
        f"| started / ended (UTC) | {provenance.get('start')} / {provenance.get('end')} |",
        f"| wall time | {provenance.get('wall_time_s', float('nan')):.1f} s |",
        "",
    ]
    if message:
        lines += ["## Problem", "", "```", message, "```", ""]
    if diagnostics:
        lines += ["## Key diagnostics", "", "| quantity | value | units |", "|---|---|---|"]
        for value, units, label in diagnostics.values():
            lines.append(f"| {label} | {value:.6g} | {units} |")
        lines.append("")
    figs = [f for f in files if f.suffix == ".png"]
    if figs:
        lines += ["## Figures", ""]
        for f in figs:
            rel = f.relative_to(out).as_posix()
            lines += [f"![{f.stem}]({rel})", ""]
    lines += ["## Files", ""]
    for f in files:
        if f.exists():
            rel = f.relative_to(out).as_posix()
            lines.append(f"- [{rel}]({rel})")
    lines += ["", "## Reproduce", "", "From the directory that holds this experiment directory:",
              "", "```", f"pyclimaocean run {out.name}/config.toml -o {out.name}_again", "```",
              ""]
    return atomic_write_bytes(out / "report.md", "\n".join(lines).encode())


# ---------------------------------------------------------------------------------------------
# one experiment
# ---------------------------------------------------------------------------------------------
def run_experiment(
    config_path: str | Path | Mapping[str, Any],
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
    extra_provenance: Mapping[str, Any] | None = None,
    report: bool = True,
) -> ExperimentResult:
    """Validate, build, run and write one experiment (see the module docstring).

    Args:
        config_path: TOML file, or an already parsed config dict.
        output_dir: experiment directory (default ``runs/<experiment.name>``).
        overrides: ``"key.path=value"`` strings applied on top of the file.
        force: overwrite an existing experiment directory.
        resume: continue from ``checkpoint.npz`` (starts from the beginning if there is none).
        progress: show a rich progress bar.
        command: command line recorded in ``provenance.json`` (default ``sys.argv``).
        extra_provenance: more entries for ``provenance.json`` (e.g. ensemble member).
        report: write ``report.md`` and figures.

    Raises:
        ConfigError: bad config (names the field), or resuming with a different config.
        FileExistsError: the directory holds an experiment and neither force nor resume.
        BlowUpError: NaN/Inf or implausible values; ``last_good_state.npz`` is saved.
    """

    cfg, raw = load_experiment(config_path, overrides)
    model = _build(cfg)  # config and backend errors surface before anything is touched
    t = cfg.time
    ck = _checkpoint_steps(t)
    out = Path(output_dir) if output_dir is not None else Path("runs") / cfg.experiment.name
    text = _dump_toml(raw)
    if resume and out.exists():
        _check_same_config(out, text)
    prepare_output_dir(out, force=force, resume=resume)
    _remove_stale_temporaries(out)
    atomic_write_bytes(out / "config.toml", text.encode())

    attrs = {"title": cfg.experiment.name, "backend": cfg.experiment.backend,
             "comment": cfg.experiment.description or None}
    sim = Simulation(
        model,
        n_steps=t.n_steps,
        output_every=t.output_every,
        checkpoint_every=ck,
        output_dir=out,
        output_format=cfg.output.format,
        writers=make_writers(cfg, out, attrs),
        progress=progress,
        attrs=attrs,
        include_initial=cfg.output.include_initial,
    )
    can_resume = resume and sim.checkpoint_path is not None and sim.checkpoint_path.exists()
    prov = collect_provenance(
        command=command,
        backend=cfg.experiment.backend,
        seeds={"experiment.seed": cfg.experiment.seed},
        config_text=text,
        extra={"experiment": cfg.experiment.name, "resumed": bool(can_resume),
               **dict(extra_provenance or {})},
    )
    if can_resume and (out / "provenance.json").exists():
        try:
            prov["previous_attempts"] = _previous_attempts(out / "provenance.json")
        except (OSError, ValueError):
            pass
    write_provenance(out / "provenance.json", prov)
    t0 = _time.perf_counter()
    files = [sim.output_path, *[w.path for n, w in sim.writers.items() if n != "output"],
             out / "config.toml", out / "provenance.json", out / "run.log"]
    with experiment_logger(out) as log:
        log.info("start %s: %s (%d steps of %g, output every %d, checkpoint every %s)",
                 cfg.experiment.name, "resume" if can_resume else "new run", t.n_steps, t.dt,
                 t.output_every, ck)
        if resume and not can_resume:
            log.info("no checkpoint to resume from: starting from the beginning")

        def _log_output(sim_, state):
            it = int(state.iteration)
            if ck and it % ck == 0:
                log.info("step %d / %d (t = %g): checkpoint written", it, t.n_steps,
                         float(state.time))

        sim.callbacks.append(_log_output)
        try:
            final, ds = sim.run(resume=can_resume)
        except BlowUpError as err:
            log.error("%s", err)
            prov.update(end=utc_now(), status="blew_up", wall_time_s=_time.perf_counter() - t0,
                        blowup={"iteration": err.iteration, "time": err.time,
                                "variable": err.variable, "value": err.value,
                                "last_good_state": str(err.last_good_path)})
            write_provenance(out / "provenance.json", prov)
            if report:
                _write_report(out, cfg, prov, {}, [p for p in files if p is not None]
                              + [out / "last_good_state.npz"], message=str(err), model=model)
            raise
        except BaseException as err:
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            log.error("%s: %s: %s", status, type(err).__name__, err)
            prov.update(end=utc_now(), status=status, wall_time_s=_time.perf_counter() - t0,
                        error=f"{type(err).__name__}: {err}")
            write_provenance(out / "provenance.json", prov)
            raise
        summary = model.summary(ds)
        diagnostics = {key: value for key, (value, _, _) in summary.items()}
        for key, value in diagnostics.items():
            log.info("diagnostic %s = %.6g", key, value)
        if cfg.output.plots and report:
            files += model.figures(ds, out / "figures", title=cfg.experiment.name)
        if ck:
            files.append(sim.checkpoint_path)
        prov.update(end=utc_now(), status="completed", wall_time_s=_time.perf_counter() - t0,
                    diagnostics=diagnostics,
                    diagnostic_labels={k: [u, lab] for k, (_, u, lab) in summary.items()})
        write_provenance(out / "provenance.json", prov)
        if report:
            files.append(_write_report(out, cfg, prov, summary, files, model=model))
        log.info("completed in %.1f s", prov["wall_time_s"])
    return ExperimentResult(out, ds, final, files, diagnostics,
                            labels={k: (u, lab) for k, (_, u, lab) in summary.items()})


def make_writers(cfg, out: Path, attrs: Mapping[str, Any] | None = None) -> dict:
    """The extra output writers of ``[output.writers.*]`` (the default ``output`` writer is
    made by :class:`~pyclimaocean.simulation.Simulation`)."""

    writers = {}
    for name, w in cfg.output.writers.items():
        every = steps_from_schedule(interval=w.interval, dt=cfg.time.dt,
                                    name=f"output.writers.{name}")
        writers[name] = make_writer(out, name, every, format=cfg.output.format, fields=w.fields,
                                    average=w.average, include_initial=cfg.output.include_initial,
                                    attrs=dict(attrs or {}))
    return writers


def _previous_attempts(path: Path) -> list[dict]:
    old = json.loads(path.read_text())
    attempts = list(old.get("previous_attempts", []))
    attempts.append({k: old.get(k) for k in ("start", "end", "status", "command", "pid")})
    return attempts


# ---------------------------------------------------------------------------------------------
# ensembles
# ---------------------------------------------------------------------------------------------
@dataclass
class EnsembleResult:
    """Outcome of an ensemble: per-member summaries and the stacked dataset.

    Attributes:
        output_dir: the ensemble directory.
        members: one summary dict per member (``member``, ``parameters``, ``status``,
            ``diagnostics``, ``output_dir``, ``message``).
        dataset: ``ensemble.nc`` contents (``member`` × ``time`` × ``z``, plus
            ``parameter_values(member, parameter)``), or ``None`` if no member completed.
        files: files written.
    """

    output_dir: Path
    members: list[dict]
    dataset: object
    files: list[Path]

    @property
    def failed(self) -> list[dict]:
        return [m for m in self.members if m["status"] != "completed"]


def ensemble_parameters(
    config: str | Path | Mapping[str, Any], names: Sequence[str], overrides: Iterable[str] = ()
):
    """The :class:`~pyclimaocean.ParameterSet` of the model's calibratable parameters ``names``
    (as :meth:`AbstractModel.parameters` names them, e.g. ``closure.c_hi_c`` or ``forcing``),
    with the config's values, bounds and priors."""
    if not names:
        raise ConfigError("an ensemble needs at least one parameter to perturb (--perturb NAME)")
    cfg, _ = load_experiment(config, overrides)
    model = _build(cfg)
    try:
        return model.parameters(list(names))
    except KeyError as err:
        raise ConfigError(f"ensemble parameter: {err.args[0]}") from None


def sample_members(params, n_members: int, seed: int, method: str = "prior",
                   spread: float = 0.2) -> np.ndarray:
    """Parameter values of ``n_members`` members, ``(n_members, len(params))``.

    ``method="prior"`` draws each parameter from its prior (or, without one, uniformly between
    its bounds); ``method="relative"`` draws θ = θ₀ exp(σ ξ), ξ ~ N(0, 1), σ = ``spread``.
    Draws are clipped into the parameter bounds.  The same ``seed`` gives the same values
    (JAX PRNG, independent of the machine).
    """
    import jax
    import numpyro.distributions as dist

    if method not in ENSEMBLE_METHODS:
        raise ConfigError(
            f"ensemble method {method!r} is not supported. Supported methods are: "
            + ", ".join(ENSEMBLE_METHODS)
        )
    if not (isinstance(n_members, int) and 1 <= n_members <= 100_000):
        raise ConfigError(f"members = {n_members!r} must be an integer in [1, 100000]")
    if not (math.isfinite(spread) and 0 < spread <= 5):
        raise ConfigError(f"spread = {spread!r} must be in (0, 5]")
    key = jax.random.key(int(seed))
    cols = []
    for i, name in enumerate(params.names):
        p = params[name]
        k = jax.random.fold_in(key, i)
        if method == "prior":
            if p.prior is not None:
                d = p.prior.to_numpyro()
            elif math.isfinite(p.lower) and math.isfinite(p.upper):
                d = dist.Uniform(p.lower, p.upper)
            else:
                raise ConfigError(
                    f"{name}: no prior and unbounded ({p.lower}, {p.upper}); use "
                    "--method relative"
                )
            x = np.asarray(d.sample(k, (n_members,)), dtype=float)
        else:
            xi = np.asarray(jax.random.normal(k, (n_members,)), dtype=float)
            x = float(p.value) * np.exp(spread * xi)
        cols.append(np.clip(x, p.lower, p.upper))
    return np.stack(cols, axis=1)


def member_overrides(names: Sequence[str], values: Sequence[float]) -> list[str]:
    """``--set`` strings writing parameter ``values`` into the config's ``[parameters]`` table
    (dotted model paths ``names``; exact float round trip)."""
    return [f"parameters.{n}={float(v)!r}" for n, v in zip(names, values, strict=True)]


def member_dir(output_dir: str | Path, member: int) -> Path:
    return Path(output_dir) / "members" / f"member_{member:03d}"


def run_member(
    config: str | Path | Mapping[str, Any],
    output_dir: str | Path,
    member: int,
    names: Sequence[str],
    values: Sequence[float],
    overrides: Iterable[str] = (),
    *,
    resume: bool = False,
) -> dict[str, Any]:
    """Run one ensemble member into ``output_dir/members/member_NNN``; returns its summary.

    A member that blows up does not raise: its summary has ``status = "blew_up"`` and the
    message.  With ``resume``, a member that completed before is not run again.
    """

    out = member_dir(output_dir, member)
    params = {n: float(v) for n, v in zip(names, values, strict=True)}
    summary = {"member": member, "parameters": params, "output_dir": str(out)}
    if resume and (out / "provenance.json").exists():
        try:
            prov = json.loads((out / "provenance.json").read_text())
        except (OSError, ValueError):
            prov = {}
        if prov.get("status") == "completed" and any(out.glob("output.*")):
            return {**summary, "status": "completed", "message": "",
                    "diagnostics": prov.get("diagnostics", {}),
                    "labels": prov.get("diagnostic_labels", {})}
    sets = list(overrides) + member_overrides(names, values)
    try:
        res = run_experiment(config, out, sets, force=not resume, resume=resume,
                             extra_provenance={"ensemble_member": member}, report=False)
    except BlowUpError as err:
        return {**summary, "status": "blew_up", "message": str(err), "diagnostics": {},
                "labels": {}}
    return {**summary, "status": "completed", "message": "", "diagnostics": res.diagnostics,
            "labels": {k: list(v) for k, v in res.labels.items()}}


def collect_ensemble(output_dir: str | Path, members: Sequence[Mapping[str, Any]],
                     names: Sequence[str]):
    """Stack the members' outputs into ``ensemble.nc``; returns the dataset (or ``None``)."""
    import xarray as xr


    output_dir = Path(output_dir)
    done = [m for m in members if m["status"] == "completed"]
    if not done:
        return None
    dss = []
    for m in done:
        path = next(Path(m["output_dir"]).glob("output.*"))
        opener = xr.open_dataset if path.suffix == ".nc" else xr.open_zarr
        with opener(path) as ds:
            dss.append(ds.load())
    ens = xr.concat(dss, dim="member", coords="minimal", compat="override",
                    combine_attrs="drop_conflicts")
    ens = ens.assign_coords(member=("member", [m["member"] for m in done],
                                        {"long_name": "ensemble member"}))
    ens["parameter_values"] = (
        ("member", "parameter"),
        np.array([[m["parameters"][n] for n in names] for m in done], dtype=float),
        {"long_name": "perturbed parameter values of each member"},
    )
    ens = ens.assign_coords(parameter=("parameter", list(names)))
    labels = {k: v for m in done for k, v in m.get("labels", {}).items()}
    diag_keys = list(dict.fromkeys(k for m in done for k in m["diagnostics"]))
    for key in diag_keys:
        units, label = labels.get(key, ("1", key))
        ens[key] = ("member", np.array([m["diagnostics"].get(key, np.nan) for m in done]),
                    {"long_name": label, "units": _udunits(units)})
    ens.attrs["title"] = f"ensemble of {len(members)} members ({len(done)} completed)"
    write_dataset(ens, output_dir / "ensemble.nc")
    return ens


def _udunits(units: str) -> str:
    """A report's unit label (°C, J m⁻²) as a UDUNITS string for a netCDF attribute."""
    table = str.maketrans({"⁻": "-", "²": "2", "³": "3", "¹": "1"})
    return units.replace("°C", "degC").translate(table)


def _ensemble_figure(ens, path: Path) -> Path:
    """The members' final values of the first output variable (against its first axis) with
    their mean and the initial state, and a histogram of the first key diagnostic."""

    plt = pyplot()
    names = [n for n in ens.data_vars if "time" in ens[n].dims and "member" in ens[n].dims]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
    if names:
        var = ens[names[0]]
        final = var.isel(time=-1)
        initial = var.isel(time=0, member=0)
        extra = [d for d in final.dims if d != "member"]
        if len(extra) == 1:
            axis = ens[extra[0]].values
            vertical = extra[0] == "z"
            for i in range(ens.sizes["member"]):
                a, b = (final.values[i], axis) if vertical else (axis, final.values[i])
                axes[0].plot(a, b, color="C0", alpha=0.4, lw=1)
            pairs = ((final.values.mean(axis=0), "k", "-", "member mean"),
                     (initial.values, "C3", "--", "initial state"))
            for values, color, ls, label in pairs:
                a, b = (values, axis) if vertical else (axis, values)
                axes[0].plot(a, b, color=color, ls=ls, lw=2, label=label)
            units = var.attrs.get("units", "")
            label = f"final {var.attrs.get('long_name', names[0])} ({units})"
            axes[0].set_xlabel(label if vertical else extra[0])
            axes[0].set_ylabel(f"{extra[0]} ({ens[extra[0]].attrs.get('units', '')})"
                               if vertical else label)
            axes[0].legend(fontsize=8)
    diags = [k for k in ens.data_vars if ens[k].dims == ("member",)]
    diags = [k for k in diags if k != "final_time"]
    if diags:
        key = diags[0]
        axes[1].hist(ens[key].values, bins=min(20, ens.sizes["member"]))
        axes[1].set_xlabel(f"{ens[key].attrs.get('long_name', key)} "
                           f"({ens[key].attrs.get('units', '')})")
        axes[1].set_ylabel("members")
    fig.suptitle(ens.attrs.get("title", "ensemble"))
    return save_figure(fig, path)


def write_ensemble_report(output_dir: str | Path, cfg, members: Sequence[Mapping[str, Any]],
                          names: Sequence[str], settings: Mapping[str, Any], ens,
                          provenance: Mapping[str, Any]) -> list[Path]:
    """``figures/ensemble.png`` and ``report.md`` of an ensemble directory."""

    out = Path(output_dir)
    files = []
    if ens is not None and cfg.output.plots:
        files.append(_ensemble_figure(ens, out / "figures" / "ensemble.png"))
    lines = [f"# Ensemble of `{cfg.experiment.name}`", "",
             "| | |", "|---|---|",
             f"| members | {len(members)} ({sum(m['status'] == 'completed' for m in members)} "
             "completed) |",
             f"| perturbed parameters | {', '.join(names)} |",
             f"| method | {settings.get('method')} (seed {settings.get('seed')}, spread "
             f"{settings.get('spread')}) |",
             f"| runner | {settings.get('runner', 'sequential')} |",
             f"| started / ended (UTC) | {provenance.get('start')} / {provenance.get('end')} |",
             ""]
    diags = [] if ens is None else [
        k for k in ens.data_vars if ens[k].dims == ("member",) and k != "final_time"]
    if diags:
        lines += ["## Key diagnostics (completed members)", "",
                  "| quantity | units | mean | std | min | max |", "|---|---|---|---|---|---|"]
        for k in diags:
            v = ens[k].values
            lines.append(f"| {ens[k].attrs.get('long_name', k)} | {ens[k].attrs.get('units', '')}"
                         f" | {v.mean():.5g} | {v.std():.3g} | {v.min():.5g} | {v.max():.5g} |")
        lines.append("")
    first = diags[0] if diags else None
    lines += ["## Members", "", "| member | " + " | ".join(names) + " | status |"
              + (f" {first} |" if first else ""),
              "|---" * (len(names) + 2 + bool(first)) + "|"]
    for m in members:
        vals = " | ".join(f"{m['parameters'][n]:.5g}" for n in names)
        extra = f" {m['diagnostics'].get(first, float('nan')):.5g} |" if first else ""
        lines.append(f"| {m['member']} | {vals} | {m['status']} |{extra}")
    lines.append("")
    bad = [m for m in members if m["status"] != "completed"]
    if bad:
        lines += ["## Failed members", ""] + [f"- member {m['member']}: {m['message']}"
                                               for m in bad] + [""]
    if files:
        lines += ["## Figures", ""] + [f"![{f.stem}]({f.relative_to(out).as_posix()})"
                                       for f in files] + [""]
    lines += ["## Files", "", "- [ensemble.nc](ensemble.nc)", "- [ensemble.json](ensemble.json)",
              "- [members/](members/)", ""]
    files.append(atomic_write_bytes(out / "report.md", "\n".join(lines).encode()))
    return files


def start_ensemble(
    config: str | Path | Mapping[str, Any],
    output_dir: str | Path | None,
    overrides: Iterable[str],
    *,
    parameters: Sequence[str],
    members: int,
    seed: int,
    method: str,
    spread: float,
    force: bool,
    resume: bool,
    runner: str,
    command: Sequence[str] | None = None,
    values: np.ndarray | None = None,
):
    """Validate, sample and set up an ensemble directory (shared by the sequential path and
    the Prefect flows).  Returns ``(cfg, raw, out, names, values, provenance)``.

    ``values`` ``(members, len(parameters))`` gives the members' parameter values directly
    (e.g. posterior draws; ``method`` is then only recorded), instead of sampling them.
    """

    cfg, raw = load_experiment(config, overrides)
    params = ensemble_parameters(raw, parameters)
    names = list(params.names)
    if values is None:
        values = sample_members(params, members, seed, method, spread)
    else:
        values = np.asarray(values, dtype=float)
        if values.shape != (members, len(names)):
            raise ValueError(f"values must have shape {(members, len(names))}, got {values.shape}")
    out = (Path(output_dir) if output_dir is not None
           else Path("runs") / f"{cfg.experiment.name}_ensemble")
    text = _dump_toml(raw)
    settings = {"members": members, "seed": seed, "method": method, "spread": spread,
                "parameters": names, "runner": runner}
    if resume and (out / "ensemble.json").exists():
        old = json.loads((out / "ensemble.json").read_text())
        old_settings = {k: old.get(k) for k in ("members", "seed", "method", "spread",
                                                "parameters")}
        new_settings = {k: settings[k] for k in old_settings}
        if old_settings != new_settings:
            raise ConfigError(
                f"cannot resume {str(out)!r}: ensemble settings differ from the ones it was "
                f"started with ({old_settings} != {new_settings}); use --force to restart"
            )
    if resume and out.exists():
        _check_same_config(out, text)
    prepare_output_dir(out, force=force, resume=resume)
    _remove_stale_temporaries(out)
    atomic_write_bytes(out / "config.toml", text.encode())
    atomic_write_bytes(out / "ensemble.json", (json.dumps({
        **settings, "values": values.tolist()}, indent=2) + "\n").encode())
    prov = collect_provenance(command=command, backend=cfg.experiment.backend,
                              seeds={"ensemble": seed, "experiment.seed": cfg.experiment.seed},
                              config_text=text, extra={"ensemble": settings})
    write_provenance(out / "provenance.json", prov)
    return cfg, raw, out, names, values, prov


def finish_ensemble(cfg, out: Path, summaries, names, settings, prov) -> EnsembleResult:
    """Stack outputs, write ``ensemble.nc``, the figure, ``report.md``, final provenance."""

    summaries = sorted(summaries, key=lambda m: m["member"])
    ens = collect_ensemble(out, summaries, names)
    n_bad = sum(m["status"] != "completed" for m in summaries)
    prov.update(end=utc_now(), status="completed" if not n_bad else "completed_with_failures",
                members_failed=[m["member"] for m in summaries if m["status"] != "completed"])
    write_provenance(out / "provenance.json", prov)
    files = [out / "config.toml", out / "ensemble.json", out / "provenance.json"]
    if ens is not None:
        files.append(out / "ensemble.nc")
    files += write_ensemble_report(out, cfg, summaries, names, settings, ens, prov)
    return EnsembleResult(out, summaries, ens, files)


def run_ensemble(
    config: str | Path | Mapping[str, Any],
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    parameters: Sequence[str],
    members: int = 16,
    seed: int = 0,
    method: str = "prior",
    spread: float = 0.2,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
    command: Sequence[str] | None = None,
) -> EnsembleResult:
    """Run a parameter-perturbation ensemble sequentially, in this process.

    Members perturb the closure ``parameters`` (see :func:`sample_members`) and are written
    to ``output_dir/members/member_NNN/``; their outputs are stacked in ``ensemble.nc``.  The
    Prefect flow :func:`pyclimaocean.workflows.ensemble_flow` runs the same members on Dask
    and gives bit-for-bit the same results.
    """
    cfg, raw, out, names, values, prov = start_ensemble(
        config, output_dir, overrides, parameters=parameters, members=members, seed=seed,
        method=method, spread=spread, force=force, resume=resume, runner="sequential",
        command=command)
    settings = {"members": members, "seed": seed, "method": method, "spread": spread,
                "runner": "sequential"}
    summaries = []
    with _member_progress(progress, members) as advance:
        for i in range(members):
            summaries.append(run_member(raw, out, i, names, values[i], resume=resume))
            advance()
    return finish_ensemble(cfg, out, summaries, names, settings, prov)


@contextmanager
def _member_progress(enabled: bool, total: int):
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("ensemble members", total=total)
        yield lambda: bar.advance(task)
