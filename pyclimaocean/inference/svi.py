"""Stochastic variational inference (NumPyro ``SVI`` + an optax optimizer) on a Problem.

The guide is a NumPyro autoguide over the unconstrained sites of :func:`numpyro_model`, so the
variational family is Gaussian in u-space (pushed through T to physical space):

===========================  ==================================================================
``"normal"``                 ``AutoNormal``: diagonal Gaussian (mean-field)
``"multivariate_normal"``    ``AutoMultivariateNormal``: full covariance (n(n+1)/2 scales)
``"low_rank"``               ``AutoLowRankMultivariateNormal``: diagonal + rank-k factor
===========================  ==================================================================
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from ..calibration.problem import Problem
from ..params import ParameterError
from .model import numpyro_model, site_name
from .results import PosteriorResult

__all__ = ["run_svi", "GUIDES", "elbo_converged"]

GUIDES = ("normal", "multivariate_normal", "low_rank")


def run_svi(
    problem: Problem,
    *,
    guide: str = "multivariate_normal",
    num_steps: int = 2000,
    learning_rate: float = 1e-2,
    optimizer=None,
    num_particles: int = 1,
    num_samples: int = 2000,
    rank: int | None = None,
    init_u=None,
    init_scale: float = 0.05,
    init_from: PosteriorResult | None = None,
    seed: int = 0,
    progress: bool = False,
) -> PosteriorResult:
    """Fit a Gaussian (in u-space) posterior approximation by maximising the ELBO.

    Args:
        guide: one of :data:`GUIDES`.
        num_steps: SVI steps; learning_rate: for the default ``optax.adam`` (ignored when
            ``optimizer``, an optax ``GradientTransformation``, is given).
        num_particles: Monte-Carlo samples per ELBO gradient.
        num_samples: posterior draws returned.
        rank: rank of the low-rank guide (default ⌈n/2⌉).
        init_u: ``(n,)`` initial guide location (e.g. the MAP); default ``problem.u0``.
        init_scale: initial guide standard deviation in u-space.
        init_from: a posterior approximation (e.g. :func:`~pyclimaocean.inference.laplace`'s)
            to start the guide from: its centre ``u_map`` as the location and the covariance of
            its ``u_samples`` as the scale (full for the multivariate-normal guide, its diagonal
            for the others); overrides ``init_u`` and ``init_scale``.  A cold start from a
            small ``init_scale`` can need many steps before the guide's spread grows to the
            posterior's (measured on the toy twins: 1500 steps left it at 0.3–0.9 of the
            Laplace standard deviations); a warm start only has to correct the shape.

    Returns a :class:`PosteriorResult`; ``diagnostics["elbo_loss"]`` is the loss (−ELBO)
    history, sub-sampled to at most 200 points, and ``diagnostics["final_elbo_loss"]`` the mean
    of the last 10 % of steps.  Honesty flags in ``diagnostics``:

    * ``converged``: the mean −ELBO of the last 10 % of steps is not significantly below that
      of the 10 % before (decrease ≤ 3 standard errors); otherwise still descending;
    * ``warm_start_stationary``: ``init_from.diagnostics["stationary"]`` (None without a warm
      start); a warm start from a point that is not a converged stationary point (see
      :func:`~pyclimaocean.inference.laplace.stationarity`) is flagged, and ``stationary`` is
      then False;
    * ``warnings``: sentences for each of the above that failed.
    """
    import optax
    from numpyro.infer import SVI, Trace_ELBO, autoguide, init_to_value

    if guide not in GUIDES:
        raise ParameterError(f"guide {guide!r} is not supported. Supported guides: {', '.join(GUIDES)}")
    if problem.regularization != "prior":
        raise ParameterError(
            f"SVI targets the posterior: the problem needs regularization='prior', got "
            f"{problem.regularization!r}"
        )
    if not (isinstance(num_steps, int) and num_steps >= 1):
        raise ParameterError(f"num_steps = {num_steps!r} must be an int >= 1")
    t0 = time.perf_counter()
    model = numpyro_model(problem)
    if init_from is not None:
        if tuple(init_from.names) != tuple(problem.names):
            raise ParameterError(
                f"init_from has parameters {list(init_from.names)}, the problem "
                f"{list(problem.names)}"
            )
        init_u = init_from.u_map
    u_init = np.asarray(problem.u0 if init_u is None else init_u, dtype=float)
    init = init_to_value(values={site_name(n): float(u_init[i]) for i, n in enumerate(problem.names)})
    if guide == "normal":
        g = autoguide.AutoNormal(model, init_loc_fn=init, init_scale=init_scale)
    elif guide == "multivariate_normal":
        g = autoguide.AutoMultivariateNormal(model, init_loc_fn=init, init_scale=init_scale)
    else:
        k = rank if rank is not None else max(1, -(-problem.n_parameters // 2))
        g = autoguide.AutoLowRankMultivariateNormal(model, init_loc_fn=init, init_scale=init_scale, rank=k)
    opt = optimizer if optimizer is not None else optax.adam(learning_rate)
    svi = SVI(model, g, opt, Trace_ELBO(num_particles=num_particles))
    key = jax.random.PRNGKey(seed)
    k_run, k_sample = jax.random.split(key)
    init_params = None if init_from is None else _guide_start(problem, guide, init_from)
    res = svi.run(k_run, num_steps, progress_bar=progress, init_params=init_params)
    losses = np.asarray(res.losses)
    if not np.all(np.isfinite(losses[-max(1, num_steps // 10):])):
        raise FloatingPointError(
            f"SVI diverged (non-finite ELBO); lower learning_rate = {learning_rate} or init_scale = {init_scale}"
        )
    draws = g.sample_posterior(k_sample, res.params, sample_shape=(num_samples,))
    u_samples = np.stack([np.asarray(draws[site_name(n)]) for n in problem.names], axis=1)
    median = g.median(res.params)
    u_c = np.array([float(median[site_name(n)]) for n in problem.names])
    stride = max(1, num_steps // 200)
    notes: list[str] = []
    converged, elbo_drop, elbo_se = elbo_converged(losses)
    if not converged:
        notes.append(f"SVI has not converged: the mean -ELBO fell by {elbo_drop:.3g} over the last "
                     f"10 % of {num_steps} steps (> 3 standard errors, {3 * elbo_se:.3g}); "
                     "run more steps")
    warm = None if init_from is None else init_from.diagnostics.get("stationary")
    if warm is False:
        notes += [f"warm start ({init_from.method}) at a point that is not a converged stationary "
                  f"point: {w}" for w in init_from.diagnostics.get("warnings", [])]
    return PosteriorResult(
        method=f"svi_{guide}",
        names=problem.names,
        units=tuple(problem.parameters[n].units for n in problem.names),
        u_samples=u_samples,
        theta_samples=np.asarray(problem.physical(jnp.asarray(u_samples))),
        u_map=u_c,
        theta_map=np.asarray(problem.physical(jnp.asarray(u_c))),
        diagnostics={
            "elbo_loss": losses[::stride],
            "final_elbo_loss": float(np.mean(losses[-max(1, num_steps // 10):])),
            "num_steps": num_steps,
            "converged": converged,
            "warm_start_stationary": warm,
            "stationary": warm is not False,
            "warnings": notes,
            "wall_time_s": time.perf_counter() - t0,
            "u_covariance": np.cov(u_samples.T).reshape(problem.n_parameters, problem.n_parameters),
        },
    )


def elbo_converged(losses) -> tuple[bool, float, float]:
    """``(converged, drop, standard_error)``: compare the mean −ELBO of the last 10 % of steps
    with the 10 % before; converged when the drop is at most 3 standard errors of the
    difference of the two means (a plateau up to Monte-Carlo noise).  Fewer than 20 steps:
    never converged."""
    losses = np.asarray(losses, dtype=float)
    k = len(losses) // 10
    if k < 2:
        return False, float("nan"), float("nan")
    last, before = losses[-k:], losses[-2 * k:-k]
    drop = float(before.mean() - last.mean())
    se = float(np.sqrt(before.var(ddof=1) / k + last.var(ddof=1) / k))
    return bool(drop <= 3 * se), drop, se


def _guide_start(problem: Problem, guide: str, start: PosteriorResult) -> dict:
    """Initial guide parameters (constrained values, NumPyro's ``auto`` prefix) from a
    posterior approximation: location ``start.u_map``, covariance of ``start.u_samples``."""
    n = problem.n_parameters
    loc = jnp.asarray(start.u_map, dtype=float)
    cov = np.atleast_2d(np.cov(np.asarray(start.u_samples, dtype=float).T)).reshape(n, n)
    scale = jnp.asarray(np.sqrt(np.diag(cov)))
    if not (np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0)):
        raise ParameterError("init_from: the samples' covariance is not positive; cannot start from it")
    if guide == "multivariate_normal":
        tril = np.linalg.cholesky(cov + 1e-12 * np.trace(cov) / n * np.eye(n))
        return {"auto_loc": loc, "auto_scale_tril": jnp.asarray(tril)}
    if guide == "normal":
        out = {}
        for i, name in enumerate(problem.names):
            out[f"{site_name(name)}_auto_loc"] = loc[i]
            out[f"{site_name(name)}_auto_scale"] = scale[i]
        return out
    return {"auto_loc": loc, "auto_scale": scale}  # low rank: diagonal part
