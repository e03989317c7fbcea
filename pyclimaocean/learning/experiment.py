"""Train a neural closure of the one-scale Lorenz-96 model from a TOML config.

The truth is the two-scale system (:class:`~pyclimaocean.models.lorenz96.TwoScaleLorenz96`);
the coarse model is ``dX/dt = L96(X; F) + closure(X)`` stepped with RK4 at the truth sample
interval ``truth.dt * truth.sample_every``.  Config layout (see
``examples/l96_train_offline.toml`` and ``examples/l96_train_online.toml``)::

    [experiment]  name
    [truth]       K, J, h, b, c, forcing, dt, sample_every, spinup_time, train_time,
                  validation_time, test_time, gap_time, seed
    [closure]     architecture ("cnn" | "local_mlp" | "global_mlp"), width, depth,
                  kernel_size, stencil_half_width, activation, seed
    [training]    mode ("offline" | "online"), n_steps, batch_size, learning_rate,
                  weight_decay, clip_norm, unroll_lengths, unroll_start_steps,
                  pretrain_offline_steps, pretrain_learning_rate, log_every,
                  checkpoint_every, seed
    [evaluation]  n_forecasts, forecast_time, threshold_fraction, climate_time,
                  acf_max_lag_time

:func:`train_from_file` (the ``pyclimaocean train`` command) writes to the output folder:
``closure.eqx`` + ``closure.json`` (weights and hyperparameters; reload with
:func:`~pyclimaocean.learning.load_closure`), ``checkpoint.eqx`` (written during training),
``loss_history.csv``, ``forecast_rmse.csv``, ``metrics.json`` and the figures
``loss_curve.png``, ``closure_fit.png``, ``hovmoller.png``, ``forecast_rmse.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from ..config import Section, apply_overrides, load_config, load_toml, validate
from ..io.experiment_dir import close_experiment_dir, open_experiment_dir
from ..models.lorenz96 import Lorenz96, TwoScaleLorenz96, spun_up_state
from . import plots
from .checkpoint import atomic_write_text, save_closure
from .closure_model import ClosureModel
from .data import ClosureData, generate_two_scale_data, trajectory_windows
from .evaluation import climate_distance, forecast_rmse, long_run, time_to_threshold
from .networks import (
    ACTIVATIONS,
    GlobalMLPClosure,
    LocalMLPClosure,
    PeriodicCNNClosure,
    ZeroClosure,
    standardisation,
)
from .stochastic import fit_polynomial_closure
from .training import (
    OfflineSampler,
    WindowSampler,
    concatenate_histories,
    fit,
    make_online_loss,
    make_optimizer,
    offline_loss,
    write_history_csv,
)

__all__ = [
    "TrainConfig",
    "TruthData",
    "TrainingOutcome",
    "make_truth_data",
    "build_network",
    "train_closure",
    "evaluate_closure",
    "run_training",
    "write_outputs",
    "train_from_file",
]

Activation = Literal[tuple(sorted(ACTIVATIONS))]  # type: ignore[valid-type]


class ExperimentSection(Section):
    """Name of the experiment (default output folder ``runs/<name>``)."""

    name: str = "l96_closure"


class TruthSection(Section):
    """Two-scale Lorenz-96 truth (Arnold et al. 2013 defaults) and the data drawn from it."""

    K: int = pydantic.Field(8, ge=4, le=4096, description="slow variables")
    J: int = pydantic.Field(32, ge=1, le=1024, description="fast variables per slow variable")
    h: float = pydantic.Field(1.0, description="coupling h")
    b: float = pydantic.Field(10.0, gt=0, description="spatial-scale ratio b")
    c: float = pydantic.Field(10.0, gt=0, description="time-scale ratio c")
    forcing: float = pydantic.Field(20.0, description="F")
    dt: float = pydantic.Field(0.001, gt=0, le=0.01, description="truth RK4 step (MTU)")
    sample_every: int = pydantic.Field(
        5, ge=1, le=1000, description="truth steps per sample = per coarse model step"
    )
    spinup_time: float = pydantic.Field(10.0, ge=0, description="MTU discarded first")
    train_time: float = pydantic.Field(100.0, gt=0, description="MTU of training data")
    validation_time: float = pydantic.Field(10.0, gt=0, description="MTU of validation data")
    test_time: float = pydantic.Field(50.0, gt=0, description="MTU of held-out test data")
    gap_time: float = pydantic.Field(1.0, ge=0, description="MTU dropped between the parts")
    seed: int = 0

    @property
    def coarse_dt(self) -> float:
        return self.dt * self.sample_every

    def samples(self, time: float) -> int:
        return max(1, int(round(time / self.coarse_dt)))


class ClosureSection(Section):
    """Network of the closure."""

    architecture: Literal["cnn", "local_mlp", "global_mlp"] = "cnn"
    width: int = pydantic.Field(16, ge=1, le=4096, description="channels / hidden units")
    depth: int = pydantic.Field(2, ge=1, le=32, description="hidden layers")
    kernel_size: int = pydantic.Field(5, ge=1, le=255, description="odd CNN kernel width")
    stencil_half_width: int = pydantic.Field(2, ge=0, le=128, description="local MLP stencil s")
    activation: Activation = "tanh"
    seed: int = 0

    @pydantic.field_validator("kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("must be odd (centred periodic stencil)")
        return v


class TrainingSection(Section):
    """Optimisation.  ``online`` mode unrolls the coarse solver over truth windows whose
    length follows the curriculum ``unroll_lengths`` (coarse steps), switching at
    ``unroll_start_steps``; ``pretrain_offline_steps`` first fits the network offline."""

    mode: Literal["offline", "online"] = "offline"
    n_steps: int = pydantic.Field(3000, ge=1, le=10_000_000)
    batch_size: int = pydantic.Field(128, ge=1, le=1_000_000)
    learning_rate: float = pydantic.Field(3e-3, gt=0, le=1.0)
    weight_decay: float = pydantic.Field(0.0, ge=0)
    clip_norm: float | None = pydantic.Field(1.0, gt=0, description="global-norm clip or none")
    unroll_lengths: list[int] = pydantic.Field(default_factory=lambda: [10], min_length=1)
    unroll_start_steps: list[int] = pydantic.Field(default_factory=lambda: [0], min_length=1)
    pretrain_offline_steps: int = pydantic.Field(0, ge=0)
    pretrain_learning_rate: float = pydantic.Field(3e-3, gt=0, le=1.0)
    log_every: int = pydantic.Field(100, ge=1)
    checkpoint_every: int = pydantic.Field(500, ge=1)
    seed: int = 1

    @pydantic.model_validator(mode="after")
    def _curriculum(self):
        if len(self.unroll_lengths) != len(self.unroll_start_steps):
            raise ValueError(
                f"unroll_lengths ({len(self.unroll_lengths)} values) and unroll_start_steps "
                f"({len(self.unroll_start_steps)} values) must have the same length"
            )
        if self.unroll_start_steps[0] != 0 or any(
            a >= b
            for a, b in zip(self.unroll_start_steps, self.unroll_start_steps[1:], strict=False)
        ):
            raise ValueError(
                f"unroll_start_steps = {self.unroll_start_steps}: must start at 0 and increase"
            )
        if any(n < 1 for n in self.unroll_lengths):
            raise ValueError(f"unroll_lengths = {self.unroll_lengths}: must all be >= 1")
        return self


class EvaluationSection(Section):
    """Held-out evaluation on the test part of the truth."""

    n_forecasts: int = pydantic.Field(100, ge=1, le=100_000, description="forecast start states")
    forecast_time: float = pydantic.Field(2.0, gt=0, description="forecast length (MTU)")
    threshold_fraction: float = pydantic.Field(
        0.5, gt=0, description="error threshold as a fraction of the climatological std of X"
    )
    climate_time: float = pydantic.Field(50.0, gt=0, description="long coarse run (MTU)")
    acf_max_lag_time: float = pydantic.Field(1.0, gt=0, description="largest ACF lag (MTU)")


class TrainConfig(Section):
    """Complete configuration of ``pyclimaocean train``."""

    experiment: ExperimentSection = ExperimentSection()
    truth: TruthSection = TruthSection()
    closure: ClosureSection = ClosureSection()
    training: TrainingSection = TrainingSection()
    evaluation: EvaluationSection = EvaluationSection()

    @pydantic.model_validator(mode="after")
    def _lengths_fit(self):
        t = self.truth
        longest = max(self.training.unroll_lengths)
        if self.training.mode == "online":
            for part in ("train_time", "validation_time"):
                if t.samples(getattr(t, part)) <= longest + 1:
                    raise ValueError(
                        f"truth.{part} = {getattr(t, part)} MTU holds {t.samples(getattr(t, part))} "
                        f"samples, not enough for unroll length {longest}"
                    )
        n_lead = t.samples(self.evaluation.forecast_time)
        if t.samples(t.test_time) <= n_lead + 1:
            raise ValueError(
                f"truth.test_time = {t.test_time} MTU must exceed evaluation.forecast_time = "
                f"{self.evaluation.forecast_time} MTU"
            )
        ev = self.evaluation
        n_climate = max(2, t.samples(ev.climate_time))
        max_lag_time = min(ev.acf_max_lag_time, 0.5 * t.test_time)
        max_lag = max(1, int(round(max_lag_time / t.coarse_dt)))
        if n_climate <= max_lag:
            raise ValueError(
                f"evaluation.climate_time = {ev.climate_time} MTU must exceed the largest "
                f"autocorrelation lag min(evaluation.acf_max_lag_time, truth.test_time / 2) = "
                f"{max_lag_time} MTU"
            )
        if self.closure.architecture == "cnn" and self.closure.kernel_size // 2 > t.K:
            raise ValueError(
                f"closure.kernel_size = {self.closure.kernel_size} is too wide for truth.K = {t.K}"
            )
        return self


@dataclass
class TruthData:
    """Train / validation / test series of ``(X, U)`` and the models."""

    truth: TwoScaleLorenz96
    base: Lorenz96
    train: ClosureData
    validation: ClosureData
    test: ClosureData

    @property
    def dt(self) -> float:
        return self.train.dt


def make_truth_data(cfg: TruthSection, log: Callable[[str], None] | None = print) -> TruthData:
    """Spin up and run the two-scale truth; split it into train / validation / test in time."""
    truth = TwoScaleLorenz96(K=cfg.K, J=cfg.J, h=cfg.h, b=cfg.b, c=cfg.c, forcing=cfg.forcing)
    n_spin = max(1, int(round(cfg.spinup_time / cfg.dt)))
    state = spun_up_state(truth, cfg.dt, n_spin, seed=cfg.seed)
    n = [cfg.samples(t) for t in (cfg.train_time, cfg.validation_time, cfg.test_time)]
    gap = int(round(cfg.gap_time / cfg.coarse_dt))
    total = sum(n) + 2 * gap
    if log:
        log(
            f"truth: two-scale L96 K={cfg.K} J={cfg.J} c={cfg.c} F={cfg.forcing}, "
            f"{total * cfg.coarse_dt:.1f} MTU at dt={cfg.dt}"
        )
    data, _ = generate_two_scale_data(
        truth, state, dt=cfg.dt, n_samples=total, sample_every=cfg.sample_every
    )
    parts = []
    start = 0
    for size in n:
        parts.append(
            ClosureData(data.x[start : start + size], data.subgrid[start : start + size], data.dt)
        )
        start += size + gap
    return TruthData(truth, Lorenz96(n=cfg.K, forcing=cfg.forcing), *parts)


def build_network(cfg: ClosureSection, n: int, train: ClosureData):
    """Untrained network for ``n`` resolved variables, standardised on the training data."""
    scaling = standardisation(train.x, train.subgrid)
    key = jax.random.PRNGKey(cfg.seed)
    common = dict(width=cfg.width, depth=cfg.depth, activation=cfg.activation, scaling=scaling)
    if cfg.architecture == "cnn":
        return PeriodicCNNClosure(kernel_size=cfg.kernel_size, key=key, **common)
    if cfg.architecture == "local_mlp":
        return LocalMLPClosure(stencil_half_width=cfg.stencil_half_width, key=key, **common)
    return GlobalMLPClosure(n, key=key, **common)


@dataclass
class TrainingOutcome:
    closure: object
    history: dict[str, list]


def train_closure(
    cfg: TrainingSection,
    network,
    data: TruthData,
    *,
    checkpoint_path: str | Path | None = None,
    log: Callable[[str], None] | None = print,
) -> TrainingOutcome:
    """Offline or online training of ``network`` on ``data`` as configured."""
    key = jax.random.PRNGKey(cfg.seed)
    k_pre, k_main = jax.random.split(key)
    val = data.validation
    histories = []
    offline_val = (val.x, val.subgrid)
    if cfg.mode == "offline" or cfg.pretrain_offline_steps > 0:
        n_off = cfg.n_steps if cfg.mode == "offline" else cfg.pretrain_offline_steps
        lr = cfg.learning_rate if cfg.mode == "offline" else cfg.pretrain_learning_rate
        res = fit(
            network,
            offline_loss,
            OfflineSampler(data.train.x, data.train.subgrid, cfg.batch_size),
            make_optimizer(lr, n_off, clip_norm=cfg.clip_norm, weight_decay=cfg.weight_decay),
            n_off,
            key=k_pre,
            validation=offline_val,
            log_every=cfg.log_every,
            checkpoint_path=checkpoint_path,
            checkpoint_every=cfg.checkpoint_every,
            log=log,
            name="offline",
        )
        network = res.model
        histories.append(res.history)
    if cfg.mode == "online":
        schedule = list(zip(cfg.unroll_start_steps, cfg.unroll_lengths, strict=True))
        longest = max(cfg.unroll_lengths)
        stride = max(1, (val.n_samples - longest - 1) // 64)
        val_windows = trajectory_windows(
            val.x, jnp.arange(0, val.n_samples - longest - 1, stride), longest
        )
        res = fit(
            network,
            make_online_loss(data.base, data.dt),
            WindowSampler(data.train.x, cfg.batch_size, schedule),
            make_optimizer(
                cfg.learning_rate,
                cfg.n_steps,
                clip_norm=cfg.clip_norm,
                weight_decay=cfg.weight_decay,
            ),
            cfg.n_steps,
            key=k_main,
            validation=val_windows,
            log_every=cfg.log_every,
            checkpoint_path=checkpoint_path,
            checkpoint_every=cfg.checkpoint_every,
            log=log,
            name="online",
        )
        network = res.model
        histories.append(res.history)
    return TrainingOutcome(network, concatenate_histories(*histories))


def forecast_starts(n_samples: int, n_lead: int, n_forecasts: int) -> np.ndarray:
    """Evenly spaced start indices with room for ``n_lead`` leads."""
    last = n_samples - n_lead - 1
    return np.unique(np.linspace(0, last, min(n_forecasts, last + 1)).round().astype(int))


def evaluate_closure(closure, data: TruthData, cfg: EvaluationSection) -> dict:
    """Held-out scores of a closure on ``data.test``.

    Returns a dict with ``offline_mse`` (closure vs diagnosed U), ``forecast_rmse`` ``(L,)``,
    ``lead_times`` ``(L,)`` (MTU), ``threshold``, ``time_to_threshold`` (MTU), ``climate``
    (see :func:`~pyclimaocean.learning.climate_distance`) and ``climate_run`` (the long run).
    """
    test, dt = data.test, data.dt
    tendency = ClosureModel(data.base, closure).tendency
    n_lead = max(1, int(round(cfg.forecast_time / dt)))
    starts = forecast_starts(test.n_samples, n_lead, cfg.n_forecasts)
    rmse = forecast_rmse(tendency, test.x, starts, n_lead, dt)
    leads = dt * np.arange(1, n_lead + 1)
    threshold = cfg.threshold_fraction * float(np.std(np.asarray(test.x)))
    n_climate = max(2, int(round(cfg.climate_time / dt)))
    run = long_run(tendency, test.x[0], dt, n_climate)
    clim = climate_distance(run, test.x, dt, min(cfg.acf_max_lag_time, 0.5 * test.n_samples * dt))
    off = float(jax.jit(offline_loss)(closure, (test.x, test.subgrid)))
    return {
        "offline_mse": off,
        "forecast_rmse": rmse,
        "lead_times": leads,
        "threshold": threshold,
        "time_to_threshold": time_to_threshold(rmse, leads, threshold),
        "climate": clim,
        "climate_run": run,
    }


@dataclass
class TrainRunResult:
    config: TrainConfig
    closure: object
    history: dict[str, list]
    metrics: dict
    files: list[Path] = field(default_factory=list)


def run_training(
    config: TrainConfig, *, checkpoint_path: str | Path | None = None, log=print
) -> tuple[TrainRunResult, TruthData, dict]:
    """Generate data, train, and evaluate the closure against no closure and the cubic
    polynomial (both also evaluated on the same test data)."""
    data = make_truth_data(config.truth, log)
    network = build_network(config.closure, config.truth.K, data.train)
    outcome = train_closure(
        config.training, network, data, checkpoint_path=checkpoint_path, log=log
    )
    references = {
        "no_closure": ZeroClosure(),
        "polynomial": fit_polynomial_closure(data.train.x, data.train.subgrid, 3),
    }
    evals = {"closure": evaluate_closure(outcome.closure, data, config.evaluation)}
    for name, clo in references.items():
        evals[name] = evaluate_closure(clo, data, config.evaluation)
    metrics = {
        name: {
            "offline_mse": e["offline_mse"],
            "time_to_threshold": e["time_to_threshold"],
            "rmse_at_end": float(e["forecast_rmse"][-1]),
            **{f"climate_{k}": float(v) for k, v in e["climate"].items()},
        }
        for name, e in evals.items()
    }
    metrics["threshold"] = evals["closure"]["threshold"]
    metrics["mode"] = config.training.mode
    metrics["architecture"] = config.closure.architecture
    metrics["coarse_dt"] = data.dt
    result = TrainRunResult(config, outcome.closure, outcome.history, metrics)
    return result, data, evals


def _json_ready(obj):
    if isinstance(obj, dict):
        return {k: _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj


def write_outputs(result: TrainRunResult, data: TruthData, evals: dict, out: Path) -> list[Path]:
    """Write the closure, the loss history, the scores and the figures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "closure.eqx", out / "closure.json"]
    save_closure(out / "closure.eqx", result.closure)
    files.append(write_history_csv(out / "loss_history.csv", result.history))
    leads = evals["closure"]["lead_times"]
    lines = ["lead_time," + ",".join(f"rmse_{k}" for k in evals)]
    for i, t in enumerate(leads):
        lines.append(
            f"{t!r}," + ",".join(repr(float(e["forecast_rmse"][i])) for e in evals.values())
        )
    files.append(atomic_write_text(out / "forecast_rmse.csv", "\n".join(lines) + "\n"))
    files.append(
        atomic_write_text(out / "metrics.json", json.dumps(_json_ready(result.metrics), indent=2))
    )
    files += plots.training_figures(result, data, evals, out)
    return files


def train_from_file(
    path: str | Path,
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    force: bool = False,
    log: Callable[[str], None] | None = print,
    command: list[str] | None = None,
) -> TrainRunResult:
    """Load a TOML config (with ``key=value`` overrides), train, evaluate and write outputs.

    ``output_dir`` defaults to ``runs/<experiment.name>`` and follows the one experiment
    directory policy (:func:`pyclimaocean.io.experiment_dir.open_experiment_dir`).
    """
    config = load_config(path, TrainConfig, overrides)
    raw = apply_overrides(load_toml(path), overrides)
    out = Path(output_dir) if output_dir is not None else Path("runs") / config.experiment.name
    out, prov = open_experiment_dir(out, raw, kind="train", force=force, command=command)
    result, data, evals = run_training(config, checkpoint_path=out / "checkpoint.eqx", log=log)
    result.files = [out / "checkpoint.eqx"] + write_outputs(result, data, evals, out)
    close_experiment_dir(out, prov, "completed")
    return result


def validate_training(raw: dict, source: str = "config") -> dict:
    """Validate a training config (``pyclimaocean validate``): a summary of what would run."""
    cfg = validate(raw, TrainConfig, source=source)
    return {
        "experiment": cfg.experiment.name,
        "mode": cfg.training.mode,
        "closure": cfg.closure.architecture,
        "truth": f"two-scale Lorenz-96, train {cfg.truth.train_time:g} MTU",
    }
