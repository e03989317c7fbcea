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
      figures/column.png   profiles and a time-depth section
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
import logging
import math
import os
import shutil
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, apply_overrides, load_toml, validate
from .config import toml_key as _toml_key
from .config import toml_value as _toml_value
from .io.cf import seconds_since_start

__all__ = [
    "run_experiment",
    "load_experiment",
    "plan_experiment",
    "prepare_output_dir",
    "ExperimentResult",
    "ExperimentPlan",
    "EnsembleResult",
    "ensemble_parameters",
    "sample_members",
    "member_overrides",
    "run_member",
    "run_ensemble",
    "collect_ensemble",
    "column_diagnostics",
    "experiment_logger",
    "ENSEMBLE_METHODS",
]

#: Files whose presence marks a directory as an experiment directory (``--force`` may then
#: delete it).
EXPERIMENT_MARKERS = ("config.toml", "provenance.json", "ensemble.json")

ENSEMBLE_METHODS = ("prior", "relative")


@dataclass
class ExperimentResult:
    """Outcome of :func:`run_experiment`.

    Attributes:
        output_dir: the experiment directory.
        dataset: the output :class:`xarray.Dataset` (``time`` × ``z``).
        final_state: the model state at the end.
        files: files written (output, config, figures, report, ...).
        diagnostics: key numbers (final mixed-layer depth in m, SST in °C, ...).
        status: ``"completed"``.
    """

    output_dir: Path
    dataset: object
    final_state: object
    files: list[Path]
    diagnostics: dict[str, float] = field(default_factory=dict)
    status: str = "completed"


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
        return {
            "experiment": cfg.experiment.name,
            "model": cfg.experiment.model,
            "backend": cfg.experiment.backend,
            "closure": cfg.closure.type,
            "grid": f"nz = {cfg.grid.nz}, depth = {cfg.grid.depth:g} m",
            "time step": f"{self.dt:g} s",
            "stop time": f"{self.stop_time:g} s ({self.stop_time / 86400:g} days)",
            "steps": self.n_steps,
            "outputs": f"{self.n_outputs} (every {self.output_every} steps)",
            "checkpoints": (
                f"{self.n_checkpoints} (every {self.checkpoint_every} steps)"
                if self.checkpoint_every else "off"
            ),
            "output": str(self.output_dir / _output_name(cfg)),
            "calibratable parameters": ", ".join(self.parameters),
        }


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
    exp = raw.get("experiment", {})
    if not isinstance(exp, Mapping):
        raise ConfigError(
            f"config error in {source}:\n  experiment = {exp!r}: must be a table ([experiment])"
        )
    model_name = exp.get("model", "column")
    if model_name == "column":
        from .models.column.config import ColumnExperiment

        return validate(raw, ColumnExperiment, source=source), raw
    raise ConfigError(
        f"config error in {source}:\n  experiment.model = {model_name!r}: not a model that "
        "`run` supports. Supported models are: column"
    )


def _build(cfg):
    from .backends.base import get_backend

    backend = get_backend(cfg.experiment.backend)
    return backend.build(cfg)


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
    try:
        params = tuple(model.default_parameters().names)
    except Exception:
        params = ()
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


def _dump_toml(data: dict) -> str:
    """Write a parsed config back as TOML (``tomllib.loads(_dump_toml(d)) == d``)."""
    lines: list[str] = []

    def table(prefix: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        if scalars or prefix:
            lines.append("")
        for k, v in tables.items():
            table(f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v)

    table("", data)
    return "\n".join(lines)


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
def prepare_output_dir(out: str | Path, *, force: bool = False, resume: bool = False) -> Path:
    """Create the experiment directory, refusing to overwrite work.

    * does not exist or is empty: created;
    * non-empty and ``resume``: kept as it is;
    * non-empty and ``force``: emptied, but only if it holds an experiment (one of
      ``config.toml``, ``provenance.json``, ``ensemble.json``) — an arbitrary folder is never
      deleted;
    * otherwise: :class:`FileExistsError` (CLI exit code 2).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output path {str(out)!r} exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if resume:
            return out
        if not force:
            raise FileExistsError(
                f"output directory {str(out)!r} already holds an experiment; "
                "use --force to overwrite it or --resume to continue it"
            )
        if not any((out / m).exists() for m in EXPERIMENT_MARKERS):
            raise FileExistsError(
                f"output directory {str(out)!r} is not empty and does not look like a "
                "pyclimaocean experiment (no config.toml / provenance.json): refusing to "
                "delete it, even with --force. Choose another --output-dir."
            )
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.<name>.<random>.tmp`` files left by a writer that was killed mid-write."""
    removed = []
    for p in out.glob(".*.tmp"):
        try:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _check_same_config(out: Path, text: str) -> None:
    old_path = out / "config.toml"
    if not old_path.exists():
        return
    import tomllib

    old = tomllib.loads(old_path.read_text())
    new = tomllib.loads(text)
    if old == new:
        return
    diffs = sorted(_diff_keys(old, new))
    shown = "\n".join(f"  {d}" for d in diffs[:20])
    raise ConfigError(
        f"cannot resume {str(out)!r}: the config differs from the one it was started with "
        f"({out / 'config.toml'}):\n{shown}\nRun with the same config and --set values, or "
        "use --force to start the experiment again."
    )


def _diff_keys(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in a:
            out.append(f"{path}: added ({b[key]!r})")
        elif key not in b:
            out.append(f"{path}: removed (was {a[key]!r})")
        elif isinstance(a[key], Mapping) and isinstance(b[key], Mapping):
            out.extend(_diff_keys(a[key], b[key], path))
        elif a[key] != b[key]:
            out.append(f"{path}: {a[key]!r} -> {b[key]!r}")
    return out


@contextmanager
def experiment_logger(out: Path, name: str = "run.log"):
    """A logger writing to ``out/run.log`` (appending) for the duration of the block."""
    logger = logging.getLogger(f"pyclimaocean.experiment.{abs(hash(str(out.resolve())))}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(out / name, mode="a", encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


# ---------------------------------------------------------------------------------------------
# diagnostics and report
# ---------------------------------------------------------------------------------------------
def column_diagnostics(model, ds) -> dict[str, float]:
    """Key numbers of a column run from its output dataset.

    Returns ``final_time`` (s), ``final_mixed_layer_depth`` (m; depth of max N²),
    ``final_mixed_layer_depth_threshold`` (m; buoyancy 1e-4 m s⁻² below the surface ≈ 0.05 K),
    ``initial/final_surface_temperature`` (°C), ``min/max_temperature`` (°C) and
    ``heat_content_change`` (J m⁻², ρ₀ c_p ∫ΔT dz).
    """
    from types import SimpleNamespace

    import jax.numpy as jnp

    from .models.column.model import mixed_layer_depth

    last = ds.isel(time=-1)
    # mixed_layer_depth only needs the buoyancy of the state, i.e. its T and S
    s = SimpleNamespace(temperature=jnp.asarray(last["T"].values),
                        salinity=jnp.asarray(last["S"].values))
    dz = ds["dz"].values
    hc = (ds["T"].values * dz).sum(axis=-1)
    rho_cp = float(model.reference_density) * float(model.heat_capacity)
    return {
        "final_time": float(seconds_since_start(ds["time"])[-1]),
        "final_mixed_layer_depth": float(mixed_layer_depth(model, s)),
        "final_mixed_layer_depth_threshold": float(mixed_layer_depth(model, s, threshold=1e-4)),
        "initial_surface_temperature": float(ds["T"].values[0, -1]),
        "final_surface_temperature": float(ds["T"].values[-1, -1]),
        "min_temperature": float(np.min(ds["T"].values)),
        "max_temperature": float(np.max(ds["T"].values)),
        "heat_content_change": float(rho_cp * (hc[-1] - hc[0])),
    }


_DIAGNOSTIC_LABELS = {
    "final_time": ("final time", "s"),
    "final_mixed_layer_depth": ("final mixed-layer depth (max N²)", "m"),
    "final_mixed_layer_depth_threshold": ("final mixed-layer depth (Δb = 1e-4 m s⁻²)", "m"),
    "initial_surface_temperature": ("surface temperature at the first output", "°C"),
    "final_surface_temperature": ("final surface temperature", "°C"),
    "min_temperature": ("minimum temperature", "°C"),
    "max_temperature": ("maximum temperature", "°C"),
    "heat_content_change": ("heat content change (first to last output)", "J m⁻²"),
}


def _write_report(out: Path, cfg, provenance: dict, diagnostics: dict, files: Sequence[Path],
                  message: str | None = None) -> Path:
    from .io.files import atomic_write_bytes

    lines = [f"# Experiment `{cfg.experiment.name}`", ""]
    if cfg.experiment.description:
        lines += [cfg.experiment.description, ""]
    t = cfg.time
    lines += [
        "| | |",
        "|---|---|",
        f"| status | **{provenance.get('status')}** |",
        f"| model / backend | {cfg.experiment.model} / {cfg.experiment.backend} |",
        f"| closure | {cfg.closure.type} |",
        f"| grid | nz = {cfg.grid.nz}, depth = {cfg.grid.depth:g} m |",
        f"| time | dt = {t.dt:g} s, {t.n_steps} steps, stop time {t.stop_time / 86400:g} days |",
        f"| started / ended (UTC) | {provenance.get('start')} / {provenance.get('end')} |",
        f"| wall time | {provenance.get('wall_time_s', float('nan')):.1f} s |",
        "",
    ]
    if message:
        lines += ["## Problem", "", "```", message, "```", ""]
    if diagnostics:
        lines += ["## Key diagnostics", "", "| quantity | value | units |", "|---|---|---|"]
        for key, value in diagnostics.items():
            label, units = _DIAGNOSTIC_LABELS.get(key, (key, ""))
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
    lines += ["", "## Reproduce", "", "```", f"pyclimaocean run config.toml -o {out.name}", "```",
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
    from .io.files import atomic_write_bytes
    from .provenance import collect_provenance, utc_now, write_provenance
    from .simulation import BlowUpError, Simulation

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

    sim = Simulation(
        model,
        n_steps=t.n_steps,
        output_every=t.output_every,
        checkpoint_every=ck,
        output_dir=out,
        output_format=cfg.output.format,
        progress=progress,
        attrs={"title": cfg.experiment.name, "backend": cfg.experiment.backend,
               "comment": cfg.experiment.description or None},
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
    files = [sim.output_path, out / "config.toml", out / "provenance.json", out / "run.log"]
    with experiment_logger(out) as log:
        log.info("start %s: %s (%d steps of %g s, output every %d, checkpoint every %s)",
                 cfg.experiment.name, "resume" if can_resume else "new run", t.n_steps, t.dt,
                 t.output_every, ck)
        if resume and not can_resume:
            log.info("no checkpoint to resume from: starting from the beginning")

        def _log_output(sim_, state):
            it = int(state.iteration)
            if ck and it % ck == 0:
                log.info("step %d / %d (t = %g s): checkpoint written", it, t.n_steps,
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
                              + [out / "last_good_state.npz"], message=str(err))
            raise
        except BaseException as err:
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            log.error("%s: %s: %s", status, type(err).__name__, err)
            prov.update(end=utc_now(), status=status, wall_time_s=_time.perf_counter() - t0,
                        error=f"{type(err).__name__}: {err}")
            write_provenance(out / "provenance.json", prov)
            raise
        diagnostics = column_diagnostics(model, ds)
        for key, value in diagnostics.items():
            log.info("diagnostic %s = %.6g", key, value)
        if cfg.output.plots and report:
            from .plotting import plot_column

            plot_column(ds, out / "figures" / "column.png", title=cfg.experiment.name)
            files.append(out / "figures" / "column.png")
        if ck:
            files.append(sim.checkpoint_path)
        prov.update(end=utc_now(), status="completed", wall_time_s=_time.perf_counter() - t0,
                    diagnostics=diagnostics)
        write_provenance(out / "provenance.json", prov)
        if report:
            files.append(_write_report(out, cfg, prov, diagnostics, files))
        log.info("completed in %.1f s", prov["wall_time_s"])
    return ExperimentResult(out, ds, final, files, diagnostics)


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
    """The :class:`~pyclimaocean.ParameterSet` of the closure parameters ``names`` (with or
    without the ``closure.`` prefix), with the config's values, bounds and priors."""
    if not names:
        raise ConfigError("an ensemble needs at least one parameter to perturb (--perturb NAME)")
    cfg, _ = load_experiment(config, overrides)
    model = _build(cfg)
    try:
        return model.default_parameters(list(names))
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
    """``--set`` strings writing ``values`` at the dotted ``names`` (exact float round trip)."""
    return [f"{n}={float(v)!r}" for n, v in zip(names, values, strict=True)]


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
    from .simulation import BlowUpError

    out = member_dir(output_dir, member)
    params = {n: float(v) for n, v in zip(names, values, strict=True)}
    summary = {"member": member, "parameters": params, "output_dir": str(out)}
    if resume and (out / "provenance.json").exists():
        try:
            prov = json.loads((out / "provenance.json").read_text())
        except (OSError, ValueError):
            prov = {}
        if prov.get("status") == "completed" and (out / "output.nc").exists():
            return {**summary, "status": "completed", "message": "",
                    "diagnostics": prov.get("diagnostics", {})}
    sets = list(overrides) + member_overrides(names, values)
    try:
        res = run_experiment(config, out, sets, force=not resume, resume=resume,
                             extra_provenance={"ensemble_member": member}, report=False)
    except BlowUpError as err:
        return {**summary, "status": "blew_up", "message": str(err), "diagnostics": {}}
    return {**summary, "status": "completed", "message": "", "diagnostics": res.diagnostics}


def collect_ensemble(output_dir: str | Path, members: Sequence[Mapping[str, Any]],
                     names: Sequence[str]):
    """Stack the members' outputs into ``ensemble.nc``; returns the dataset (or ``None``)."""
    import xarray as xr

    from .io.files import write_dataset

    output_dir = Path(output_dir)
    done = [m for m in members if m["status"] == "completed"]
    if not done:
        return None
    dss = []
    for m in done:
        with xr.open_dataset(Path(m["output_dir"]) / "output.nc") as ds:
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
    diag_keys = sorted({k for m in done for k in m["diagnostics"]})
    for key in diag_keys:
        label, units = _DIAGNOSTIC_LABELS.get(key, (key, "1"))
        ens[key] = ("member", np.array([m["diagnostics"].get(key, np.nan) for m in done]),
                    {"long_name": label, "units": units.replace("⁻²", "-2")})
    ens.attrs["title"] = f"ensemble of {len(members)} members ({len(done)} completed)"
    write_dataset(ens, output_dir / "ensemble.nc")
    return ens


def _ensemble_figure(ens, path: Path) -> Path:
    from .plotting import _plt, save_figure

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    z = ens.z.values
    for i in range(ens.sizes["member"]):
        axes[0].plot(ens["T"].values[i, -1], z, color="C0", alpha=0.4, lw=1)
    axes[0].plot(ens["T"].values[:, -1].mean(axis=0), z, color="k", lw=2, label="mean")
    axes[0].plot(ens["T"].values[0, 0], z, color="C3", ls="--", label="initial")
    axes[0].set_xlabel("final temperature (°C)")
    axes[0].set_ylabel("z (m)")
    axes[0].legend(fontsize=8)
    if "final_mixed_layer_depth" in ens:
        axes[1].hist(ens["final_mixed_layer_depth"].values, bins=min(20, ens.sizes["member"]))
        axes[1].set_xlabel("final mixed-layer depth (m)")
        axes[1].set_ylabel("members")
    fig.suptitle(ens.attrs.get("title", "ensemble"))
    return save_figure(fig, path)


def write_ensemble_report(output_dir: str | Path, cfg, members: Sequence[Mapping[str, Any]],
                          names: Sequence[str], settings: Mapping[str, Any], ens,
                          provenance: Mapping[str, Any]) -> list[Path]:
    """``figures/ensemble.png`` and ``report.md`` of an ensemble directory."""
    from .io.files import atomic_write_bytes

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
    if ens is not None and "final_mixed_layer_depth" in ens:
        h = ens["final_mixed_layer_depth"].values
        sst = ens["final_surface_temperature"].values
        lines += ["## Key diagnostics (completed members)", "",
                  "| quantity | mean | std | min | max |", "|---|---|---|---|---|",
                  f"| final mixed-layer depth (m) | {h.mean():.4g} | {h.std():.3g} | "
                  f"{h.min():.4g} | {h.max():.4g} |",
                  f"| final surface temperature (°C) | {sst.mean():.5g} | {sst.std():.3g} | "
                  f"{sst.min():.5g} | {sst.max():.5g} |", ""]
    lines += ["## Members", "", "| member | " + " | ".join(names) + " | status | final MLD (m) |",
              "|---" * (len(names) + 3) + "|"]
    for m in members:
        vals = " | ".join(f"{m['parameters'][n]:.5g}" for n in names)
        mld = m["diagnostics"].get("final_mixed_layer_depth", float("nan"))
        lines.append(f"| {m['member']} | {vals} | {m['status']} | {mld:.4g} |")
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
    from .io.files import atomic_write_bytes
    from .provenance import collect_provenance, write_provenance

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
    from .provenance import utc_now, write_provenance

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
