"""Lorenz-96 twin experiments from a TOML config: run, write CF netCDF and figures.

Config layout (see ``examples/l96_etkf.toml``)::

    [experiment]   name, n_cycles, spinup_cycles, seed, initial_spread, truth_spinup_steps
    [model]        n, forcing, dt
    [observations] operator ("identity" | "every_other"), error_std, steps_between, seed
    [method]       kind = "enkf" | "etkf" | "letkf" | "4dvar" and its settings

:func:`run_twin_experiment` returns a :class:`TwinExperimentResult` (an xarray dataset and a
summary of time-mean scores); :func:`write_outputs` writes ``twin.nc``, ``summary.json``,
``hovmoller.png`` and ``rmse.png``.  The ``pyclimaocean assimilate`` command calls
:func:`assimilate_from_file`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic
import xarray as xr

from ..config import Section, apply_overrides, load_config, load_toml, validate
from ..io.cf import global_attributes
from ..io.experiment_dir import close_experiment_dir, open_experiment_dir
from ..io.files import atomic_write_bytes, write_dataset
from ..models.lorenz96 import Lorenz96, spun_up_state
from ..plotting import _plt, save_figure
from .ensemble import ETKF, LETKF, StochasticEnKF
from .fourdvar import FourDVar, cycle_fourdvar
from .observations import make_observation_operator
from .twin import (
    climatology_rmse,
    cycle_filter,
    free_run,
    make_forecast,
    mean_spread,
    rmse,
    synthetic_observations,
    truth_run,
)

__all__ = [
    "AssimilationConfig",
    "TwinExperimentResult",
    "run_twin_experiment",
    "write_outputs",
    "assimilate_from_file",
]


class ExperimentSection(Section):
    """Length, seeds and initialisation of the twin experiment."""

    name: str = "l96_twin"
    n_cycles: int = pydantic.Field(1000, ge=2, le=1_000_000, description="analysis cycles")
    spinup_cycles: int = pydantic.Field(
        200, ge=0, description="cycles left out of the time-mean scores"
    )
    seed: int = pydantic.Field(0, description="seed of the initial ensemble / background")
    initial_spread: float = pydantic.Field(
        1.0, gt=0, description="std of initial ensemble / background error around the truth"
    )
    truth_spinup_steps: int = pydantic.Field(
        1000, ge=0, description="model steps run before time 0 to reach the attractor"
    )

    @pydantic.model_validator(mode="after")
    def _spinup_shorter_than_run(self):
        if self.spinup_cycles >= self.n_cycles:
            raise ValueError(
                f"spinup_cycles={self.spinup_cycles} must be smaller than n_cycles={self.n_cycles}"
            )
        return self


class ModelSection(Section):
    """One-scale Lorenz-96 model."""

    n: int = pydantic.Field(40, ge=4, le=100_000, description="number of variables")
    forcing: float = pydantic.Field(8.0, description="F")
    dt: float = pydantic.Field(0.05, gt=0, le=0.2, description="RK4 step (MTU)")


class ObservationSection(Section):
    """Synthetic observations of the truth."""

    operator: Literal["identity", "every_other"] = "identity"
    error_std: float = pydantic.Field(1.0, gt=0, description="observation error std (R = s^2 I)")
    steps_between: int = pydantic.Field(1, ge=1, description="model steps between observations")
    seed: int = 1


class EnKFMethod(Section):
    """Stochastic (perturbed-observation) EnKF."""

    kind: Literal["enkf"]
    ensemble_size: int = pydantic.Field(28, ge=2, le=10_000)
    inflation: float = pydantic.Field(1.0, ge=1.0, le=3.0)
    additive_inflation: float = pydantic.Field(0.0, ge=0.0)


class ETKFMethod(Section):
    """Ensemble transform Kalman filter (symmetric square root)."""

    kind: Literal["etkf"]
    ensemble_size: int = pydantic.Field(20, ge=2, le=10_000)
    inflation: float = pydantic.Field(1.0, ge=1.0, le=3.0)
    additive_inflation: float = pydantic.Field(0.0, ge=0.0)


class LETKFMethod(Section):
    """Local ETKF with Gaspari-Cohn localisation (half-width in grid units)."""

    kind: Literal["letkf"]
    ensemble_size: int = pydantic.Field(7, ge=2, le=10_000)
    inflation: float = pydantic.Field(1.0, ge=1.0, le=3.0)
    additive_inflation: float = pydantic.Field(0.0, ge=0.0)
    localization_radius: float = pydantic.Field(7.28, gt=0)


class FourDVarMethod(Section):
    """Strong-constraint 4D-Var with B = background_std^2 I."""

    kind: Literal["4dvar"]
    window: int = pydantic.Field(5, ge=1, le=1000, description="observation times per window")
    background_std: float = pydantic.Field(0.3, gt=0)
    max_iterations: int = pydantic.Field(100, ge=1)


MethodSection = Annotated[
    EnKFMethod | ETKFMethod | LETKFMethod | FourDVarMethod, pydantic.Field(discriminator="kind")
]


class AssimilationConfig(Section):
    """Complete Lorenz-96 twin-experiment configuration."""

    experiment: ExperimentSection = ExperimentSection()
    model: ModelSection = ModelSection()
    observations: ObservationSection = ObservationSection()
    method: MethodSection

    @pydantic.model_validator(mode="after")
    def _window_fits(self):
        if isinstance(self.method, FourDVarMethod):
            w, n = self.method.window, self.experiment.n_cycles
            if w > n:
                raise ValueError(f"method.window={w} must not exceed experiment.n_cycles={n}")
            # 4D-Var analyses only whole windows: cycles 0..w*(n//w)-1 are scored
            analysed = w * (n // w)
            if self.experiment.spinup_cycles >= analysed:
                raise ValueError(
                    f"experiment.spinup_cycles={self.experiment.spinup_cycles} must be smaller "
                    f"than the {analysed} cycles analysed by 4D-Var (method.window={w} times "
                    f"n_cycles // window = {n // w}); nothing would be scored"
                )
        return self


@dataclass
class TwinExperimentResult:
    """Dataset (CF attributes) and summary scores of a twin experiment."""

    config: AssimilationConfig
    dataset: xr.Dataset
    summary: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _attrs(units: str, long_name: str) -> dict:
    return {"units": units, "long_name": long_name}


def run_twin_experiment(config: AssimilationConfig) -> TwinExperimentResult:
    """Run truth, observations, the chosen method and a free run; return data and scores.

    Scores (time means over cycles ``spinup_cycles..n_cycles-1``): ``analysis_rmse``,
    ``analysis_spread`` (ensemble methods), ``free_run_rmse`` (model run from the same
    perturbed initial mean without assimilation) and ``climatology_rmse``.

    For 4D-Var, ``analysis_rmse`` scores the analysed trajectory at every time of each window
    (a smoother: it has seen the window's later observations; also ``analysis_rmse_smoother``)
    and ``analysis_rmse_window_end`` only the last time of each window (no later observation
    used): the score comparable with a filter's analysis RMSE (a filter's analysis at time t
    has seen the observations up to t only).  ``score_note`` says which is which.
    """
    e, mc, oc, meth = config.experiment, config.model, config.observations, config.method
    model = Lorenz96(n=mc.n, forcing=mc.forcing)
    x0 = spun_up_state(model, mc.dt, max(e.truth_spinup_steps, 1), seed=e.seed + 12345)
    truth = truth_run(model.tendency, x0, mc.dt, oc.steps_between, e.n_cycles)[1:]
    op = make_observation_operator(oc.operator, mc.n)
    obs = synthetic_observations(truth, op, oc.error_std, oc.seed)
    obs_var = jnp.full((op.n_obs,), oc.error_std**2)
    forecast = make_forecast(model.tendency, mc.dt, oc.steps_between)
    k_init, k_filter = jax.random.split(jax.random.PRNGKey(e.seed))
    spin = e.spinup_cycles

    data: dict[str, tuple] = {}
    summary: dict = {"method": meth.kind}
    if isinstance(meth, FourDVarMethod):
        xb0 = x0 + e.initial_spread * jax.random.normal(k_init, (mc.n,))
        out = cycle_fourdvar(
            FourDVar(
                window=meth.window,
                background_std=meth.background_std,
                max_iterations=meth.max_iterations,
            ),
            forecast,
            xb0,
            obs,
            op,
            obs_var,
        )
        T = out.analysis.shape[0]
        truth, obs = truth[:T], obs[:T]
        mean = out.analysis
        data["window_end"] = (
            ("time",),
            out.window_end.astype(np.int8),
            _attrs("1", "1 at the last observation time of each 4D-Var window"),
        )
        summary["mean_iterations"] = float(out.iterations.mean())
        summary["all_windows_converged"] = bool(out.converged.all())
        r = np.asarray(rmse(mean, truth))
        summary["analysis_rmse_window_end"] = float(r[spin:][out.window_end[spin:]].mean())
        summary["analysis_rmse_smoother"] = float(r[spin:].mean())
        summary["score_note"] = (
            "analysis_rmse = analysis_rmse_smoother: every time of each window (uses the window's "
            "later observations); analysis_rmse_window_end: last time of each window only, "
            "comparable with a filter's analysis RMSE")
        x_start = xb0
    else:
        N = meth.ensemble_size
        if isinstance(meth, EnKFMethod):
            filt = StochasticEnKF(meth.inflation, meth.additive_inflation)
        elif isinstance(meth, ETKFMethod):
            filt = ETKF(meth.inflation, meth.additive_inflation)
        else:
            filt = LETKF(meth.localization_radius, meth.inflation, meth.additive_inflation)
        ens0 = x0 + e.initial_spread * jax.random.normal(k_init, (N, mc.n))
        out = cycle_filter(filt, forecast, ens0, obs, op, obs_var, k_filter)
        T = e.n_cycles
        mean = np.asarray(out.analysis_mean)
        data["analysis_spread"] = (
            ("time", "k"),
            np.asarray(out.analysis_spread),
            _attrs("1", "analysis ensemble standard deviation"),
        )
        data["analysis_spread_total"] = (
            ("time",),
            np.asarray(mean_spread(out.analysis_spread)),
            _attrs("1", "analysis spread sqrt(mean_k variance_k)"),
        )
        data["forecast_rmse"] = (
            ("time",),
            np.asarray(rmse(out.forecast_mean, truth)),
            _attrs("1", "RMSE of the forecast (prior) ensemble mean"),
        )
        summary["analysis_spread"] = float(np.mean(data["analysis_spread_total"][1][spin:]))
        summary["forecast_rmse"] = float(np.mean(data["forecast_rmse"][1][spin:]))
        x_start = ens0.mean(axis=0)

    free = np.asarray(free_run(forecast, x_start, T))
    truth_np = np.asarray(truth)
    a_rmse = np.asarray(rmse(mean, truth_np))
    f_rmse = np.asarray(rmse(free, truth_np))
    summary.update(
        analysis_rmse=float(a_rmse[spin:].mean()),
        free_run_rmse=float(f_rmse[spin:].mean()),
        climatology_rmse=climatology_rmse(truth_np, spin),
        n_cycles=int(T),
        spinup_cycles=int(spin),
    )
    data.update(
        truth=(("time", "k"), truth_np, _attrs("1", "true state")),
        analysis_mean=(("time", "k"), np.asarray(mean), _attrs("1", "analysis (ensemble mean)")),
        free_run=(("time", "k"), free, _attrs("1", "model run without assimilation")),
        observations=(("time", "obs"), np.asarray(obs), _attrs("1", "synthetic observations")),
        analysis_rmse=(("time",), a_rmse, _attrs("1", "RMSE of the analysis over k")),
        free_run_rmse=(("time",), f_rmse, _attrs("1", "RMSE of the free run over k")),
    )
    time = mc.dt * oc.steps_between * np.arange(1, T + 1)

    ds = xr.Dataset(
        data,
        coords={
            "time": ("time", time, _attrs("1", "time in Lorenz-96 model time units (MTU)")),
            "k": ("k", np.arange(mc.n), _attrs("1", "state variable index")),
            "obs_position": (
                "obs",
                np.asarray(op.positions),
                _attrs("1", "grid index of each observation"),
            ),
        },
        attrs=global_attributes(
            title=f"Lorenz-96 twin experiment ({meth.kind})",
            config=config.model_dump_json(),
            **{f"summary_{k}": (int(v) if isinstance(v, bool) else v) for k, v in summary.items()},
        ),
    )
    return TwinExperimentResult(config=config, dataset=ds, summary=summary)


#: the Hovmöller diagram shows at most this many model time units (the last ones), so that
#: one MTU (about five days of error growth) keeps ≥ 50 px across; the RMSE figure shows all
HOVMOLLER_WINDOW_MTU = 20.0


def plot_twin(ds: xr.Dataset, output_dir: Path) -> list[Path]:
    """Hovmöller diagrams (truth / analysis / error; time along x, the last
    :data:`HOVMOLLER_WINDOW_MTU` model time units) and RMSE-spread time series (all cycles)."""

    plt = _plt()
    t_all = ds.time.values
    ds_h = ds.sel(time=slice(float(t_all[-1]) - HOVMOLLER_WINDOW_MTU, None))
    t, k = ds_h.time.values, ds_h.k.values
    err = ds_h.analysis_mean - ds_h.truth
    span = float(t[-1] - t[0]) if len(t) > 1 else 1.0
    fig, axes = plt.subplots(3, 1, figsize=(min(4.0 + 0.55 * span, 15.0), 7.5), sharex=True)
    vmax = float(np.abs(ds_h.truth).max())
    for ax, field_, title, lim in (
        (axes[0], ds_h.truth, "truth", vmax),
        (axes[1], ds_h.analysis_mean, "analysis mean", vmax),
        (axes[2], err, "analysis - truth", max(float(np.abs(err).max()), 1e-12)),
    ):
        pc = ax.pcolormesh(t, k, field_.values.T, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_ylabel("k")
        fig.colorbar(pc, ax=ax, pad=0.01)
    axes[-1].set_xlabel("time (MTU)")
    if len(t) < len(t_all):
        fig.suptitle(f"last {span:.3g} of {float(t_all[-1] - t_all[0]):.3g} MTU (rmse.png shows all)",
                     fontsize=9)
    paths = [save_figure(fig, output_dir / "hovmoller.png")]

    t = t_all
    fig, ax = plt.subplots(figsize=(8, 3.5))
    window_end = "window_end" in ds
    ax.semilogy(t, ds.analysis_rmse,
                label="analysis RMSE, whole window (smoother)" if window_end else "analysis RMSE")
    if window_end:
        we = ds.window_end.values.astype(bool)
        ax.semilogy(t[we], ds.analysis_rmse.values[we], ".", ms=3, color="C3",
                    label="analysis RMSE at window ends (filter-comparable)")
    if "analysis_spread_total" in ds:
        ax.semilogy(t, ds.analysis_spread_total, label="analysis spread", alpha=0.8)
    ax.semilogy(t, ds.free_run_rmse, label="free-run RMSE", alpha=0.7)
    ax.set_xlabel("time (MTU)")
    ax.set_ylabel("RMSE / spread")
    ax.legend()
    title = (f"{ds.attrs.get('title', '')}: time-mean analysis RMSE "
             f"{ds.attrs.get('summary_analysis_rmse', float('nan')):.3f}")
    if "summary_analysis_rmse_window_end" in ds.attrs:  # 4D-Var: the filter-comparable score first
        title = (f"{ds.attrs.get('title', '')}: time-mean analysis RMSE "
                 f"{float(ds.attrs['summary_analysis_rmse_window_end']):.3f} at window ends, "
                 f"{float(ds.attrs['summary_analysis_rmse_smoother']):.3f} whole window")
    ax.set_title(title, fontsize=9)
    paths.append(save_figure(fig, output_dir / "rmse.png"))
    return paths


def write_outputs(result: TwinExperimentResult, output_dir: str | Path) -> list[Path]:
    """Write ``twin.nc`` (atomic), ``summary.json`` and the PNG figures to ``output_dir``."""

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_dataset(result.dataset, out / "twin.nc")]
    files.append(
        atomic_write_bytes(
            out / "summary.json", json.dumps(result.summary, indent=2).encode("utf-8")
        )
    )
    files += plot_twin(result.dataset, out)
    result.files = files
    return files


def assimilate_from_file(
    path: str | Path,
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    force: bool = False,
    command: list[str] | None = None,
) -> TwinExperimentResult:
    """Load a TOML config, run the twin experiment and write its outputs.

    ``output_dir`` defaults to ``runs/<experiment.name>`` and follows the one experiment
    directory policy (:func:`pyclimaocean.io.experiment_dir.open_experiment_dir`): an existing
    experiment is refused (``FileExistsError``) unless ``force``, which empties it first.
    """
    config = load_config(path, AssimilationConfig, overrides)
    raw = apply_overrides(load_toml(path), overrides)
    out = Path(output_dir) if output_dir is not None else Path("runs") / config.experiment.name
    out, prov = open_experiment_dir(out, raw, kind="assimilate", force=force, command=command,
                                    seeds={"experiment.seed": config.experiment.seed})
    result = run_twin_experiment(config)
    write_outputs(result, out)
    close_experiment_dir(out, prov, "completed", scores=result.summary)
    return result


def validate_assimilation(raw: dict, source: str = "config") -> dict:
    """Validate an assimilation config (``pyclimaocean validate``): a summary of what would run."""
    cfg = validate(raw, AssimilationConfig, source=source)
    return {
        "experiment": cfg.experiment.name,
        "model": f"Lorenz-96, n = {cfg.model.n}, F = {cfg.model.forcing:g}",
        "method": cfg.method.kind,
        "cycles": cfg.experiment.n_cycles,
    }
