"""Twin-experiment drivers: truth run, synthetic observations, filter cycling, diagnostics.

A twin experiment integrates a "truth" with the model, observes it with noise, and asks
how well a data-assimilation method recovers the truth from the observations alone.  All
cycling runs inside one ``jax.lax.scan`` (jit-compiled once per setup).

Diagnostics (as in DAPPER): at each analysis time t,
``rmse_t = sqrt(mean_k (x^a_k - x^t_k)^2)`` and ``spread_t = sqrt(mean_k var_k)`` (ensemble
variance with ddof = 1); scores are time means over the cycles after a spin-up.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from ..models.lorenz96 import rk4_step, simulate
from .ensemble import EnsembleFilter, ensemble_mean_and_spread

__all__ = [
    "make_forecast",
    "truth_run",
    "synthetic_observations",
    "FilterOutput",
    "cycle_filter",
    "free_run",
    "rmse",
    "mean_spread",
    "time_mean",
    "climatology_rmse",
]


def make_forecast(tendency_fn: Callable, dt: float, n_steps: int) -> Callable:
    """State ``(n,)`` -> state after ``n_steps`` RK4 steps of length ``dt`` (pure, jit-able)."""
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"steps between observations must be an int >= 1, got {n_steps!r}")

    def forecast(x):
        return jax.lax.fori_loop(0, n_steps, lambda i, s: rk4_step(tendency_fn, s, dt), x)

    return forecast


def truth_run(
    tendency_fn: Callable, x0: jnp.ndarray, dt: float, steps_between_obs: int, n_cycles: int
) -> jnp.ndarray:
    """True trajectory at the observation times, ``(n_cycles + 1, n)``; row 0 is ``x0``."""
    return simulate(
        tendency_fn,
        x0,
        dt,
        steps_between_obs * n_cycles,
        save_every=steps_between_obs,
        include_initial=True,
        checkpoint_every=None,
    )


def synthetic_observations(
    truth: jnp.ndarray, obs_op: Callable, obs_error_std: float | jnp.ndarray, seed: int
) -> jnp.ndarray:
    """Noisy observations ``H(truth) + eps``, eps ~ N(0, std^2), ``(T, p)`` (reproducible)."""
    clean = obs_op(truth)
    noise = jax.random.normal(jax.random.PRNGKey(seed), clean.shape, dtype=clean.dtype)
    return clean + jnp.asarray(obs_error_std) * noise


class FilterOutput(eqx.Module):
    """Output of :func:`cycle_filter` (T = number of cycles, n = state size).

    Attributes:
        analysis_mean, analysis_spread: ``(T, n)`` ensemble mean and per-variable std after
            each analysis.
        forecast_mean, forecast_spread: ``(T, n)`` the same for the prior (forecast) ensemble.
        final_ensemble: ``(N, n)`` analysis ensemble after the last cycle.
    """

    analysis_mean: jnp.ndarray
    analysis_spread: jnp.ndarray
    forecast_mean: jnp.ndarray
    forecast_spread: jnp.ndarray
    final_ensemble: jnp.ndarray


@eqx.filter_jit
def cycle_filter(
    filt: EnsembleFilter,
    forecast: Callable,
    ens0: jnp.ndarray,
    observations: jnp.ndarray,
    obs_op,
    obs_error_var: jnp.ndarray,
    key: jax.Array,
) -> FilterOutput:
    """Cycle forecast -> analysis over all observation times (one ``lax.scan``).

    Args:
        filt: an :class:`~pyclimaocean.assimilation.ensemble.EnsembleFilter`.
        forecast: ``(n,) -> (n,)`` model propagation over one observation interval
            (see :func:`make_forecast`); vmapped over members.
        ens0: initial ensemble ``(N, n)`` at time 0.
        observations: ``(T, p)``, observation ``t`` valid one interval after analysis ``t-1``.
        obs_op: observation operator.
        obs_error_var: R as variances ``(p,)`` or ``(p, p)``.
        key: PRNG key (EnKF perturbations, additive inflation).
    """
    fc = jax.vmap(forecast)

    def body(carry, y):
        ens, key = carry
        key, k_a = jax.random.split(key)
        ens_f = fc(ens)
        ens_a = filt.analysis(ens_f, y, obs_op, obs_error_var, k_a)
        mf, sf = ensemble_mean_and_spread(ens_f)
        ma, sa = ensemble_mean_and_spread(ens_a)
        return (ens_a, key), (ma, sa, mf, sf)

    (ens_final, _), (ma, sa, mf, sf) = jax.lax.scan(body, (ens0, key), observations)
    return FilterOutput(ma, sa, mf, sf, ens_final)


def free_run(forecast: Callable, x0: jnp.ndarray, n_cycles: int) -> jnp.ndarray:
    """Model run without assimilation, at the observation times ``(n_cycles, n)``."""

    def body(x, _):
        x = forecast(x)
        return x, x

    return jax.lax.scan(body, x0, None, length=n_cycles)[1]


def rmse(estimate: jnp.ndarray, truth: jnp.ndarray) -> jnp.ndarray:
    """Root-mean-square error over the last axis: ``(T, n), (T, n) -> (T,)``."""
    return jnp.sqrt(jnp.mean((estimate - truth) ** 2, axis=-1))


def mean_spread(spread: jnp.ndarray) -> jnp.ndarray:
    """Scalar spread ``sqrt(mean_k std_k^2)`` per time: ``(T, n) -> (T,)``."""
    return jnp.sqrt(jnp.mean(spread**2, axis=-1))


def time_mean(series: jnp.ndarray, spinup: int) -> float:
    """Mean of a ``(T,)`` series over times ``spinup, ..., T-1``."""
    if not 0 <= spinup < series.shape[0]:
        raise ValueError(
            f"spin-up {spinup} must be in [0, {series.shape[0] - 1}] (number of cycles - 1)"
        )
    return float(jnp.mean(series[spinup:]))


def climatology_rmse(truth: jnp.ndarray, spinup: int = 0) -> float:
    """RMSE of the climatological mean (time and space mean of the truth) as an estimate."""
    t = truth[spinup:]
    return float(jnp.mean(rmse(jnp.full_like(t, jnp.mean(t)), t)))
