"""Evaluation of closures: forecast skill, long-run climate, ensemble reliability.

* :func:`forecast_rmse`: coarse forecasts from many truth states against the truth; RMSE
  (over starts and ``k``) as a function of lead time.
* :func:`time_to_threshold`: first lead time at which an RMSE curve reaches a threshold
  (linear interpolation between saved leads; ``inf`` if never).
* :func:`climate_statistics` / :func:`climate_distance`: mean, standard deviation, lag
  autocorrelation and the 1-Wasserstein distance of the pooled PDF of ``X`` (SciPy).
* :func:`spread_error`: ensemble spread against the RMSE of the ensemble mean.  For a
  perfectly reliable ``M``-member ensemble ``E[(mean - truth)²] = (M + 1)/M · E[s²]`` with
  ``s²`` the unbiased ensemble variance (Leutbecher & Palmer 2008, J. Comput. Phys. 227;
  Fortin et al. 2014, J. Hydrometeor. 15), so the reported ratio is
  ``sqrt((M + 1)/M) · spread / rmse`` and equals 1 for a reliable ensemble.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from .closure_model import rollout
from .data import trajectory_windows

__all__ = [
    "forecast_rmse",
    "forecast_errors",
    "time_to_threshold",
    "climate_statistics",
    "climate_distance",
    "spread_error",
    "long_run",
]


def forecast_errors(
    tendency: Callable[[jax.Array], jax.Array],
    truth_x: jax.Array,
    starts,
    n_lead: int,
    dt: float,
    steps_per_sample: int = 1,
) -> jax.Array:
    """Forecast minus truth, shape ``(len(starts), n_lead, K)``.

    Args:
        tendency: coarse model ``x -> dx/dt``.
        truth_x: truth series ``(T, K)`` sampled every ``steps_per_sample * dt`` MTU.
        starts: indices of the initial states (need ``start + n_lead < T``).
        n_lead: saved leads; lead ``i`` is ``(i + 1) * steps_per_sample * dt`` MTU.
        dt: coarse RK4 step (MTU).
    """
    starts = np.asarray(starts)
    if starts.max() + n_lead >= truth_x.shape[0]:
        raise ValueError(
            f"a start index {starts.max()} + n_lead {n_lead} runs past the truth series "
            f"({truth_x.shape[0]} samples)"
        )
    windows = trajectory_windows(truth_x, jnp.asarray(starts), n_lead)

    @jax.jit
    def run(w):
        return jax.vmap(lambda x0: rollout(tendency, x0, dt, n_lead, steps_per_sample))(w[:, 0])

    return run(windows) - windows[:, 1:]


def forecast_rmse(tendency, truth_x, starts, n_lead, dt, steps_per_sample=1) -> np.ndarray:
    """RMSE over starts and ``k`` at each lead, ``(n_lead,)``; non-finite forecasts give ``inf``."""
    err = np.asarray(forecast_errors(tendency, truth_x, starts, n_lead, dt, steps_per_sample))
    err = np.where(np.isfinite(err), err, np.inf)
    return np.sqrt(np.mean(err**2, axis=(0, 2)))


def time_to_threshold(rmse, lead_times, threshold: float) -> float:
    """First lead time (MTU) at which ``rmse`` reaches ``threshold`` (linear interpolation
    between leads; from ``(0, 0)`` before the first lead); ``inf`` if it never does."""
    rmse = np.asarray(rmse, dtype=float)
    t = np.asarray(lead_times, dtype=float)
    above = np.nonzero(rmse >= threshold)[0]
    if above.size == 0:
        return float("inf")
    i = int(above[0])
    t0, e0 = (0.0, 0.0) if i == 0 else (t[i - 1], rmse[i - 1])
    if not np.isfinite(rmse[i]):
        return float(t[i])
    return float(t0 + (threshold - e0) * (t[i] - t0) / (rmse[i] - e0))


def long_run(tendency, x0, dt: float, n_saved: int, steps_per_save: int = 1) -> np.ndarray:
    """Long coarse run ``(n_saved, K)`` (no gradient, no checkpointing)."""
    run = jax.jit(lambda x: rollout(tendency, x, dt, n_saved, steps_per_save))
    return np.asarray(run(jnp.asarray(x0)))


def _acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean(axis=0)
    var = np.mean(x**2)
    return np.array([np.mean(x[: len(x) - lag] * x[lag:]) / var for lag in range(max_lag + 1)])


def climate_statistics(x, dt: float, max_lag_time: float = 1.0) -> dict:
    """Statistics of a long series ``x`` ``(T, K)`` sampled every ``dt`` MTU, pooled over ``k``.

    Returns a dict: ``mean``, ``std``, ``acf`` (lags ``0 .. max_lag_time``), ``lags`` (MTU),
    ``finite`` (False if the run blew up).
    """
    x = np.asarray(x, dtype=float)
    max_lag = max(1, int(round(max_lag_time / dt)))
    if not np.all(np.isfinite(x)):
        return {
            "finite": False,
            "mean": np.nan,
            "std": np.nan,
            "acf": np.full(max_lag + 1, np.nan),
            "lags": dt * np.arange(max_lag + 1),
        }
    if x.shape[0] <= max_lag:
        raise ValueError(
            f"series of {x.shape[0]} samples is shorter than the largest lag {max_lag}"
        )
    return {
        "finite": True,
        "mean": float(x.mean()),
        "std": float(x.std()),
        "acf": _acf(x, max_lag),
        "lags": dt * np.arange(max_lag + 1),
    }


def climate_distance(model_x, truth_x, dt: float, max_lag_time: float = 1.0) -> dict:
    """Differences between the climates of a model run and the truth (both ``(T, K)``, step ``dt``).

    Returns: ``mean_error`` (model - truth), ``std_error``, ``acf_rmse`` (RMS difference of the
    autocorrelation functions over lags ``0 .. max_lag_time``), ``wasserstein`` (1-Wasserstein
    distance between the pooled PDFs of X, ``scipy.stats.wasserstein_distance``).  All ``inf``
    for a run that blew up.
    """
    m = climate_statistics(model_x, dt, max_lag_time)
    t = climate_statistics(truth_x, dt, max_lag_time)
    if not m["finite"]:
        return {
            "mean_error": np.inf,
            "std_error": np.inf,
            "acf_rmse": np.inf,
            "wasserstein": np.inf,
        }
    return {
        "mean_error": m["mean"] - t["mean"],
        "std_error": m["std"] - t["std"],
        "acf_rmse": float(np.sqrt(np.mean((m["acf"] - t["acf"]) ** 2))),
        "wasserstein": float(
            scipy.stats.wasserstein_distance(np.ravel(model_x), np.ravel(truth_x))
        ),
    }


def spread_error(ensemble, truth) -> dict:
    """Spread and error of ensemble forecasts.

    Args:
        ensemble: ``(N, M, L, K)``: N forecasts, M members, L leads.
        truth: ``(N, L, K)``.

    Returns: dict of ``(L,)`` arrays ``spread`` (sqrt of the mean unbiased ensemble variance),
    ``rmse`` (of the ensemble mean), ``ratio`` = ``sqrt((M + 1)/M) spread / rmse``.
    """
    ens = np.asarray(ensemble, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if ens.ndim != 4 or truth.shape != (ens.shape[0],) + ens.shape[2:]:
        raise ValueError(
            f"ensemble {ens.shape} must be (N, M, L, K) and truth (N, L, K), got {truth.shape}"
        )
    m = ens.shape[1]
    if m < 2:
        raise ValueError(f"spread needs at least 2 members, got {m}")
    spread = np.sqrt(np.mean(np.var(ens, axis=1, ddof=1), axis=(0, 2)))
    rmse = np.sqrt(np.mean((ens.mean(axis=1) - truth) ** 2, axis=(0, 2)))
    return {"spread": spread, "rmse": rmse, "ratio": np.sqrt((m + 1) / m) * spread / rmse}
