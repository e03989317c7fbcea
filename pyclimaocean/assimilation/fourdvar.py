"""Strong-constraint 4D-Var: adjoint gradients from JAX, minimisation with scipy L-BFGS-B.

Cost function over the initial condition x0 of a window with L observation times
(Talagrand & Courtier 1987; Le Dimet & Talagrand 1986)::

    J(x0) = 1/2 (x0 - xb)^T B^{-1} (x0 - xb)
          + 1/2 sum_{l=1..L} (y_l - H(M_l(x0)))^T R^{-1} (y_l - H(M_l(x0)))

with M_l the model propagation over l observation intervals.  The gradient dJ/dx0 is the
adjoint (reverse-mode) derivative of this pure JAX function; ``scipy.optimize.minimize``
with ``method="L-BFGS-B"`` is driven by a jitted ``jax.value_and_grad``.

Cycling (:func:`cycle_fourdvar`): non-overlapping windows; the background of the next window
is the forecast of the analysed trajectory to the end of the window.  B = sigma_b^2 I.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

__all__ = ["FourDVar", "fourdvar_cost", "FourDVarOutput", "cycle_fourdvar"]


def _window_trajectory(forecast, x0, n_obs):
    def body(x, _):
        x = forecast(x)
        return x, x

    return jax.lax.scan(body, x0, None, length=n_obs)[1]


def fourdvar_cost(
    x0: jnp.ndarray,
    xb: jnp.ndarray,
    observations: jnp.ndarray,
    forecast: Callable,
    obs_op: Callable,
    obs_error_var: jnp.ndarray,
    background_std: float | jnp.ndarray,
) -> jnp.ndarray:
    """Strong-constraint 4D-Var cost J(x0) (scalar).

    Args:
        x0: initial condition of the window ``(n,)``.
        xb: background ``(n,)``.
        observations: ``(L, p)``; row l is valid l+1 observation intervals after x0.
        forecast: ``(n,) -> (n,)`` propagation over one observation interval.
        obs_op: observation operator ``(..., n) -> (..., p)``.
        obs_error_var: diagonal R as variances ``(p,)`` (or scalar).
        background_std: sigma_b, B = sigma_b^2 I (scalar or ``(n,)``).
    """
    traj = _window_trajectory(forecast, x0, observations.shape[0])
    innov = observations - obs_op(traj)
    jo = 0.5 * jnp.sum(innov**2 / obs_error_var)
    jb = 0.5 * jnp.sum(((x0 - xb) / background_std) ** 2)
    return jb + jo


class FourDVar(eqx.Module):
    """Strong-constraint 4D-Var settings.

    Attributes:
        window: number of observation times per assimilation window (L >= 1).
        background_std: sigma_b (B = sigma_b^2 I), same units as the state.
        max_iterations: L-BFGS-B iteration limit per window.
        tolerance: L-BFGS-B ``gtol`` (projected-gradient tolerance).
    """

    window: int = eqx.field(static=True, default=5)
    background_std: float = 0.5
    max_iterations: int = eqx.field(static=True, default=100)
    tolerance: float = eqx.field(static=True, default=1e-6)

    def __check_init__(self):
        if not isinstance(self.window, int) or self.window < 1:
            raise ValueError(f"window must be an int >= 1, got {self.window!r}")
        if isinstance(self.background_std, int | float) and self.background_std <= 0:
            raise ValueError(f"background_std must be > 0, got {self.background_std!r}")


@dataclass(frozen=True)
class FourDVarOutput:
    """Output of :func:`cycle_fourdvar` (T = n_windows * window observation times).

    Attributes:
        analysis: ``(T, n)`` analysed trajectory at every observation time (a smoother
            estimate inside each window: it uses the window's later observations).
        window_end: boolean ``(T,)``, True at the last time of each window (the filter-like
            estimate that uses no future observation).
        background: ``(T, n)`` background trajectory of each window.
        iterations: ``(n_windows,)`` L-BFGS-B iterations used.
        converged: ``(n_windows,)`` whether L-BFGS-B reported success.
    """

    analysis: np.ndarray
    window_end: np.ndarray
    background: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def cycle_fourdvar(
    method: FourDVar,
    forecast: Callable,
    xb0: jnp.ndarray,
    observations: jnp.ndarray,
    obs_op,
    obs_error_var,
) -> FourDVarOutput:
    """Cycle 4D-Var over consecutive windows of ``method.window`` observation times.

    Args:
        method: :class:`FourDVar` settings.
        forecast: ``(n,) -> (n,)`` propagation over one observation interval.
        xb0: background initial condition at time 0 ``(n,)``.
        observations: ``(T, p)``; only the first ``window * (T // window)`` rows are used.
        obs_op: observation operator.
        obs_error_var: diagonal R as variances ``(p,)``.
    """
    L = method.window
    n_windows = observations.shape[0] // L
    if n_windows < 1:
        raise ValueError(f"need at least window={L} observation times, got {observations.shape[0]}")
    R = jnp.asarray(obs_error_var, dtype=float)
    if R.ndim > 1:
        raise ValueError("cycle_fourdvar needs a diagonal R: pass obs_error_var as variances (p,)")

    @jax.jit
    def value_and_grad(x0, xb, obs):
        return jax.value_and_grad(fourdvar_cost)(
            x0, xb, obs, forecast, obs_op, R, method.background_std
        )

    traj_fn = jax.jit(lambda x0: _window_trajectory(forecast, x0, L))

    xb = np.asarray(xb0, dtype=float)
    analyses, backgrounds, iters, conv = [], [], [], []
    for w in range(n_windows):
        obs = jnp.asarray(observations[w * L : (w + 1) * L])

        def fun(x, xb=xb, obs=obs):
            v, g = value_and_grad(jnp.asarray(x), jnp.asarray(xb), obs)
            return float(v), np.asarray(g, dtype=float)

        res = scipy.optimize.minimize(
            fun,
            xb,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": method.max_iterations, "gtol": method.tolerance},
        )
        traj_a = np.asarray(traj_fn(jnp.asarray(res.x)))
        backgrounds.append(np.asarray(traj_fn(jnp.asarray(xb))))
        analyses.append(traj_a)
        iters.append(res.nit)
        conv.append(bool(res.success))
        xb = traj_a[-1]
    window_end = np.zeros(n_windows * L, dtype=bool)
    window_end[L - 1 :: L] = True
    return FourDVarOutput(
        analysis=np.concatenate(analyses),
        window_end=window_end,
        background=np.concatenate(backgrounds),
        iterations=np.asarray(iters),
        converged=np.asarray(conv),
    )
