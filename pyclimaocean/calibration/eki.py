"""Ensemble Kalman inversion (EKI; Iglesias, Law & Stuart 2013) in unconstrained space.

The update is the one of EnsembleKalmanProcesses.jl's ``Inversion()`` process with a fixed
step Δt.  For an ensemble {u⁽ʲ⁾}ⱼ₌₁ᴶ in unconstrained space, with gⱼ = 𝒢(u⁽ʲ⁾) (all J
forward runs batched with ``vmap``)::

    C^{ug} = cov(u, g)        (n, m)        C^{gg} = cov(g, g)        (m, m)
    yⱼ = y + ξⱼ,  ξⱼ ~ N(0, Γ/Δt)          (perturbed observations; ξ = 0 if deterministic)
    u⁽ʲ⁾ ← u⁽ʲ⁾ + C^{ug} (C^{gg} + Γ/Δt)⁻¹ (yⱼ − gⱼ)

EKI is derivative-free and minimises the *data misfit* ½‖Γ^{-1/2}(𝒢(u) − y)‖² within the
span of the initial ensemble (the prior enters only through the initial ensemble, drawn from
the prior pushed to u-space).  The ensemble collapses as it converges: the diagnostics report
the spread √(tr C^{uu}/n) relative to the initial spread and flag a collapse below
``collapse_tol``.  Cost: J forward runs per iteration (+1 for the misfit of the ensemble mean,
which is counted too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..kalman import observation_perturbations, perturbed_observation_update
from ..params import ParameterError, ParameterSet
from .problem import Problem, sample_truncated_prior
from .progress import Progress as _Progress

__all__ = ["EKIResult", "ensemble_kalman_inversion", "prior_ensemble", "eki_update"]


@eqx.filter_jit
def _ensemble_forward(problem: Problem, ensemble):
    return jax.vmap(problem.forward)(ensemble)


@eqx.filter_jit
def _forward(problem: Problem, u):
    return problem.forward(u)


def prior_ensemble(problem: Problem, n_ensemble: int, key, *, kind: str = "prior", scale: float = 1.0):
    """Initial ensemble ``(J, n)`` in unconstrained space.

    ``kind="prior"``: θ⁽ʲ⁾ drawn from each parameter's prior, u⁽ʲ⁾ = T⁻¹(θ⁽ʲ⁾);
    ``kind="gaussian"``: u⁽ʲ⁾ ~ N(u₀, scale² I) around the first guess.
    """
    if not (isinstance(n_ensemble, int) and n_ensemble >= 2):
        raise ParameterError(f"ensemble_size = {n_ensemble!r} must be an int >= 2")
    if kind == "gaussian":
        return problem.u0 + scale * jax.random.normal(key, (n_ensemble, problem.n_parameters))
    if kind != "prior":
        raise ParameterError(f"initial ensemble kind {kind!r} is not supported. Supported: prior, gaussian")
    cols = []
    for i, name in enumerate(problem.names):
        p = problem.parameters[name]
        # the prior truncated to the bounds (rejection, not clipping)
        theta = sample_truncated_prior(p, jax.random.fold_in(key, i), n_ensemble, name)
        cols.append(jax.vmap(p.to_unconstrained)(jnp.asarray(theta)))
    return jnp.stack(cols, axis=1)


@jax.jit
def eki_update(ensemble, g, y, noise_cov, key, dt, perturb):
    """One EKI step: ``(J, n)`` ensemble, ``(J, m)`` forward values -> new ``(J, n)`` ensemble.

    u⁽ʲ⁾ ← u⁽ʲ⁾ + C_ug (C_gg + Γ/Δt)⁻¹ (y + ξ⁽ʲ⁾ − g⁽ʲ⁾), ξ⁽ʲ⁾ ~ N(0, Γ/Δt) when ``perturb``.
    The ensemble covariances C_ug, C_gg use the unbiased 1/(J − 1) normalisation
    (EnsembleKalmanProcesses.jl uses 1/J; the two differ by a factor J/(J − 1) in the gain).
    This is :func:`pyclimaocean.kalman.perturbed_observation_update` with R = Γ/Δt.
    """
    scaled = noise_cov / dt
    xi = observation_perturbations(key, g.shape[0], scaled)
    targets = y[None, :] + jnp.where(perturb, 1.0, 0.0) * xi
    du = ensemble - ensemble.mean(axis=0)
    dg = g - g.mean(axis=0)
    return ensemble + perturbed_observation_update(du, dg, targets - g, scaled)


@dataclass
class EKIResult:
    """Outcome of EKI (see :func:`ensemble_kalman_inversion`).

    Attributes:
        u, theta: ensemble mean in unconstrained space and T(mean) in physical units ``(n,)``.
        ensemble: final ensemble ``(J, n)`` in unconstrained space.
        history: Dataset over ``iteration`` with the data misfit at the ensemble mean, the
            spread, the ensemble (``member`` dim) in physical units and the cumulative number of
            forward runs.
        n_forward: forward runs used (J per iteration plus one per mean evaluation).
        collapsed: the spread fell below ``collapse_tol`` × initial spread.
    """

    u: np.ndarray
    theta: np.ndarray
    parameters: ParameterSet
    data_misfit: float
    ensemble: np.ndarray
    history: xr.Dataset
    n_forward: int
    converged: bool
    collapsed: bool
    message: str
    wall_time: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "method": "eki",
            "parameters": {n: float(v) for n, v in zip(self.parameters.names, self.theta, strict=True)},
            "data_misfit": float(self.data_misfit),
            "n_iterations": int(self.history.sizes["iteration"] - 1),
            "n_forward_runs": int(self.n_forward),
            "ensemble_size": int(self.ensemble.shape[0]),
            "converged": bool(self.converged),
            "collapsed": bool(self.collapsed),
            "final_relative_spread": float(self.history["relative_spread"].values[-1]),
            "message": self.message,
            "wall_time_s": float(self.wall_time),
        }


def ensemble_kalman_inversion(
    problem: Problem,
    *,
    ensemble_size: int = 20,
    max_iterations: int = 20,
    dt: float = 1.0,
    seed: int = 0,
    initial: str = "prior",
    initial_ensemble=None,
    perturb_observations: bool = True,
    target_misfit: float | None = None,
    ftol: float = 0.0,
    collapse_tol: float = 1e-3,
    progress: bool | None = None,
) -> EKIResult:
    """Run EKI on ``problem`` (derivative-free; J forward runs per iteration via ``vmap``).

    Args:
        ensemble_size: J (≥ 2; EKI searches in the span of the initial ensemble, so J > n).
        max_iterations: number of EKI updates.
        dt: step Δt (> 0); Δt = 1 is the classical EKI.
        initial: ``"prior"`` or ``"gaussian"`` (see :func:`prior_ensemble`), unless
            ``initial_ensemble`` ``(J, n)`` is given.
        perturb_observations: perturb y with N(0, Γ/Δt) per member (stochastic EKI).
        target_misfit: stop when the data misfit at the ensemble mean is ≤ this value.
        ftol: stop when the relative decrease of that misfit is in [0, ftol] (0 disables).
        collapse_tol: stop (and report) when spread/initial spread < collapse_tol.
    """
    if not dt > 0:
        raise ParameterError(f"dt = {dt} must be > 0")
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise ParameterError(f"max_iterations = {max_iterations!r} must be an int >= 1")
    t0 = time.perf_counter()
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    if initial_ensemble is not None:
        ens = jnp.asarray(initial_ensemble, dtype=float)
        if ens.ndim != 2 or ens.shape[1] != problem.n_parameters or ens.shape[0] < 2:
            raise ParameterError(
                f"initial_ensemble has shape {ens.shape}; expected (J >= 2, {problem.n_parameters})"
            )
    else:
        ens = prior_ensemble(problem, ensemble_size, k0, kind=initial)
    J = int(ens.shape[0])
    y = problem.y
    cov = problem.noise_covariance()

    def misfit_of(u):
        g = _forward(problem, u)
        r = problem.residuals_from_prediction(g)
        return float(0.5 * jnp.sum(r**2))

    def spread(e):
        return float(jnp.sqrt(jnp.mean(jnp.var(e, axis=0, ddof=1))))

    s0 = spread(ens)
    n_forward = 1
    rows = [{"u": np.asarray(ens.mean(0)), "ens": np.asarray(ens), "misfit": misfit_of(ens.mean(0)),
             "spread": s0, "n": n_forward, "t": time.perf_counter() - t0}]
    bar = _Progress(progress, max_iterations, "calibrate (EKI)")
    converged, collapsed = False, False
    message = f"reached max_iterations = {max_iterations}"
    try:
        for it in range(1, max_iterations + 1):
            g = _ensemble_forward(problem, ens)
            n_forward += J
            if not bool(jnp.all(jnp.isfinite(g))):
                bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(g)), axis=1))
                message = (f"non-finite forward runs for ensemble members {bad.tolist()} at iteration "
                           f"{it}; stopped (reduce dt or narrow the prior)")
                break
            key, sub = jax.random.split(key)
            ens = eki_update(ens, g, y, cov, sub, dt, perturb_observations)
            mean = ens.mean(0)
            m = misfit_of(mean)
            n_forward += 1
            prev = rows[-1]["misfit"]
            rows.append({"u": np.asarray(mean), "ens": np.asarray(ens), "misfit": m, "spread": spread(ens),
                         "n": n_forward, "t": time.perf_counter() - t0})
            bar.update(it, m, rows[-1]["spread"])
            if target_misfit is not None and m <= target_misfit:
                converged, message = True, f"data misfit {m:.6g} <= target {target_misfit:.6g}"
                break
            if ftol > 0 and 0 <= (prev - m) / max(abs(prev), abs(m), 1.0) <= ftol:
                converged, message = True, f"relative misfit decrease <= ftol = {ftol}"
                break
            if rows[-1]["spread"] < collapse_tol * s0:
                collapsed = True
                message = (f"ensemble collapsed: spread {rows[-1]['spread']:.3g} < {collapse_tol} x "
                           f"initial spread {s0:.3g} at iteration {it}")
                break
    finally:
        bar.close()
    history = _history(problem, rows, dt, J)
    u = jnp.asarray(rows[-1]["u"])
    theta = np.asarray(problem.physical(u))
    return EKIResult(
        u=np.asarray(u), theta=theta, parameters=problem.parameter_set(jnp.asarray(theta)),
        data_misfit=rows[-1]["misfit"], ensemble=rows[-1]["ens"], history=history,
        n_forward=n_forward, converged=converged, collapsed=collapsed, message=message,
        wall_time=time.perf_counter() - t0,
    )


def _history(problem: Problem, rows, dt, J) -> xr.Dataset:
    names = list(problem.names)
    ens = np.stack([r["ens"] for r in rows])  # (it, J, n)
    theta_ens = np.asarray(problem.physical(jnp.asarray(ens.reshape(-1, len(names))))).reshape(ens.shape)
    mean_u = np.stack([r["u"] for r in rows])
    spread = np.array([r["spread"] for r in rows])
    return xr.Dataset(
        {
            "data_misfit": ("iteration", np.array([r["misfit"] for r in rows]),
                            {"units": "1", "long_name": "data misfit at the ensemble mean"}),
            "spread": ("iteration", spread, {"units": "1", "long_name": "ensemble spread in unconstrained space"}),
            "relative_spread": ("iteration", spread / spread[0], {"units": "1", "long_name": "spread / initial spread"}),
            "n_forward": ("iteration", np.array([r["n"] for r in rows]),
                          {"units": "1", "long_name": "cumulative forward runs"}),
            "wall_time": ("iteration", np.array([r["t"] for r in rows]), {"units": "s"}),
            "parameters": (("iteration", "parameter"), np.asarray(problem.physical(jnp.asarray(mean_u))),
                           {"long_name": "T(ensemble mean) in physical units"}),
            "unconstrained": (("iteration", "parameter"), mean_u, {"units": "1"}),
            "ensemble": (("iteration", "member", "parameter"), theta_ens,
                         {"long_name": "ensemble members in physical units"}),
        },
        coords={
            "iteration": np.arange(len(rows)),
            "member": np.arange(J),
            "parameter": names,
            "parameter_units": ("parameter", [problem.parameters[n].units for n in names]),
        },
        attrs={"method": "eki", "dt": float(dt), "ensemble_size": int(J), "Conventions": "CF-1.10"},
    )
