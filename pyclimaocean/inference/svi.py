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
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..calibration.problem import Problem
from ..params import ParameterError
from .model import numpyro_model, site_name
from .results import PosteriorResult

__all__ = ["run_svi", "GUIDES", "elbo_converged", "guide_latent_positions"]

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
    jit: bool = True,
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
            Laplace standard deviations); a warm start only has to correct the shape.  The
            location and covariance are mapped to the guide's own latent order
            (:func:`guide_latent_positions`), so each parameter starts at its own value.
        seed: PRNG seed of the ELBO estimates and of the returned draws.
        progress: show NumPyro's progress bar (the steps then run eagerly, as with
            ``jit=False``).
        jit: compile the whole fit (guide set-up, all steps, the draws) as one function with
            the problem as an argument: fits of problems of the same structure (same model and
            shapes, any data or forcing arrays) with the same settings and the same
            ``optimizer`` object reuse one compilation.  ``False``: NumPyro's eager ``SVI``
            loop, compiled anew for every call (same results up to rounding).

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
    if guide not in GUIDES:
        raise ParameterError(f"guide {guide!r} is not supported. Supported guides: {', '.join(GUIDES)}")
    if problem.regularization != "prior":
        raise ParameterError(
            f"SVI targets the posterior: the problem needs regularization='prior', got "
            f"{problem.regularization!r}"
        )
    if not (isinstance(num_steps, int) and num_steps >= 1):
        raise ParameterError(f"num_steps = {num_steps!r} must be an int >= 1")
    if progress and jit:
        jit = False  # the progress bar needs NumPyro's eager step loop
    t0 = time.perf_counter()
    n = problem.n_parameters
    if init_from is not None:
        if tuple(init_from.names) != tuple(problem.names):
            raise ParameterError(
                f"init_from has parameters {list(init_from.names)}, the problem "
                f"{list(problem.names)}"
            )
        u_init = np.asarray(init_from.u_map, dtype=float)
        cov = np.atleast_2d(np.cov(np.asarray(init_from.u_samples, dtype=float).T)).reshape(n, n)
        if not (np.all(np.isfinite(cov)) and np.all(np.diag(cov) > 0)):
            raise ParameterError("init_from: the samples' covariance is not positive; cannot start from it")
        # a tiny diagonal jitter keeps the Cholesky factor of a near-singular covariance finite
        cov = cov + 1e-12 * np.trace(cov) / n * np.eye(n)
    else:
        u_init = np.asarray(problem.u0 if init_u is None else init_u, dtype=float)
        cov = init_scale**2 * np.eye(n)
    k = (rank if rank is not None else max(1, -(-n // 2))) if guide == "low_rank" else 0
    settings = _Settings(guide, num_steps, num_particles, num_samples, k, optimizer, progress)
    fit = _fit_compiled if jit else _fit
    losses, u_samples, u_c, latent_order = fit(
        problem, settings, jax.random.PRNGKey(seed), jnp.asarray(u_init), jnp.asarray(cov),
        jnp.asarray(learning_rate, dtype=float))
    losses = np.asarray(losses)
    if not np.all(np.isfinite(losses[-max(1, num_steps // 10):])):
        raise FloatingPointError(
            f"SVI diverged (non-finite ELBO); lower learning_rate = {learning_rate} or init_scale = {init_scale}"
        )
    u_samples, u_c = np.asarray(u_samples), np.asarray(u_c)
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
            "latent_order": None if latent_order is None else tuple(problem.names[i] for i in np.asarray(latent_order)),
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


@dataclass(frozen=True)
class _Settings:
    """Static settings of one SVI fit (the compilation key together with the problem's
    structure): changing any of them compiles anew; the optimizer compares by identity."""

    guide: str
    num_steps: int
    num_particles: int
    num_samples: int
    rank: int
    optimizer: Any
    progress: bool


def _make_guide(model, settings: _Settings, names, u_init):
    from numpyro.infer import autoguide, init_to_value

    init = init_to_value(values={site_name(n): u_init[i] for i, n in enumerate(names)})
    if settings.guide == "normal":
        return autoguide.AutoNormal(model, init_loc_fn=init)
    if settings.guide == "multivariate_normal":
        return autoguide.AutoMultivariateNormal(model, init_loc_fn=init)
    return autoguide.AutoLowRankMultivariateNormal(model, init_loc_fn=init, rank=settings.rank)


def guide_latent_positions(guide, names) -> np.ndarray:
    """``(n,)`` position of each parameter (in ``names`` order) in the latent vector of a
    set-up NumPyro ``AutoContinuous`` guide, read from the guide's own unpacking function.

    NumPyro lays the latent vector out in the order of the guide's initial-location dict,
    which is the model's insertion order eagerly but sorted site names when the guide is
    set up under ``jit`` (the dict has passed through a JAX transformation); asking the guide
    avoids assuming either.
    """
    n = len(names)
    with jax.ensure_compile_time_eval():
        unpacked = guide._unpack_latent(jnp.arange(n, dtype=float))
        pos = np.array([int(np.asarray(unpacked[site_name(nm)])) for nm in names])
    if sorted(pos.tolist()) != list(range(n)):
        raise ValueError(f"the guide's latent vector does not hold one scalar per parameter: {pos}")
    return pos


def _guide_init_params(guide, settings: _Settings, names, loc, cov) -> tuple[dict, Any]:
    """Initial guide parameters (constrained values, NumPyro's ``auto`` prefix) for a guide
    centred at ``loc`` ``(n,)`` with covariance ``cov`` ``(n, n)`` (both in ``names`` order;
    the diagonal only for the mean-field and low-rank guides), and the guide's latent order
    (``perm[j]`` = index in ``names`` of latent position j; None for ``AutoNormal``, whose
    parameters are per site)."""
    scale = jnp.sqrt(jnp.diag(cov))
    if settings.guide == "normal":
        out = {}
        for i, name in enumerate(names):
            out[f"{site_name(name)}_auto_loc"] = loc[i]
            out[f"{site_name(name)}_auto_scale"] = scale[i]
        return out, None
    perm = np.argsort(guide_latent_positions(guide, names))
    if settings.guide == "multivariate_normal":
        tril = jnp.linalg.cholesky(cov[perm][:, perm])
        return {"auto_loc": loc[perm], "auto_scale_tril": tril}, perm
    return {"auto_loc": loc[perm], "auto_scale": scale[perm]}, perm  # low rank: diagonal part


def _fit(problem: Problem, settings: _Settings, key, u_init, cov, learning_rate):
    """One SVI fit: ``(losses (num_steps,), u_samples (S, n), guide median u (n,), latent
    order)``.  A pure function of its array arguments, so that :data:`_fit_compiled` reuses one
    compilation for every problem of the same structure (same model and shapes, any data)."""
    import optax
    from numpyro import handlers
    from numpyro.infer import SVI, Trace_ELBO

    model = numpyro_model(problem)
    g = _make_guide(model, settings, problem.names, u_init)
    k_run, k_sample = jax.random.split(key)
    handlers.seed(g, rng_seed=k_run)()  # set the guide up (its latent layout) before starting it
    init_params, perm = _guide_init_params(g, settings, problem.names, u_init, cov)
    opt = settings.optimizer if settings.optimizer is not None else optax.adam(learning_rate)
    svi = SVI(model, g, opt, Trace_ELBO(num_particles=settings.num_particles))
    if settings.progress:
        res = svi.run(k_run, settings.num_steps, progress_bar=True, init_params=init_params)
        params, losses = res.params, res.losses
    else:
        state = svi.init(k_run, init_params=init_params)
        state, losses = jax.lax.scan(lambda st, _: svi.update(st), state, None, length=settings.num_steps)
        params = svi.get_params(state)
    draws = g.sample_posterior(k_sample, params, sample_shape=(settings.num_samples,))
    u_samples = jnp.stack([draws[site_name(n)] for n in problem.names], axis=1)
    median = g.median(params)
    u_c = jnp.stack([median[site_name(n)] for n in problem.names])
    return losses, u_samples, u_c, perm


#: :func:`_fit` compiled as a whole: the problem is an argument (its arrays traced, its static
#: structure part of the cache key), so fits of same-structure problems share one compilation
_fit_compiled = eqx.filter_jit(_fit)
