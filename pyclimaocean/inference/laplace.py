"""Laplace approximation at the MAP, Hessian eigen-spectrum and identifiability.

In unconstrained space the posterior is approximated by N(u*, H⁻¹) with u* the MAP of
Φ(u) (``regularization="prior"``, i.e. the negative log posterior in u-space) and
H = ∇²Φ(u*) = H_data + H_prior.

Identifiability.  The prior-whitened data Hessian

    Ĥ = P^{-1/2} H_data P^{-1/2},     P = H_prior = ∇²(−log prior)(u*)

has eigenvalues λₖ = (information from the data) / (information from the prior) along its
eigenvectors.  A direction with λₖ < ``threshold`` (default 1) is *not identifiable*: the data
constrain it less than the prior does, so its posterior width is set by the prior.  A parameter
is reported as not identifiable when its loading Σ_{k weak} (P^{-1/2}vₖ)ᵢ² / Σ_k (P^{-1/2}vₖ)ᵢ²
on the weak directions exceeds ``loading_threshold`` (default 0.1), or when its
*contraction* 1 − σ²_post/σ²_prior (in u-space, 0 = nothing learnt, 1 = fully determined) is
below ``min_contraction`` (default 0.5: the data halve the prior variance at least, the
single-parameter form of λ ≥ 1); each entry says why.

Precision is a separate matter: with ``precision`` (relative, e.g. 0.01) a parameter whose
relative posterior standard deviation std(θ)/|θ_MAP| exceeds it is listed as *imprecise*
(well constrained by the data relative to the prior perhaps, but not to that precision).
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..calibration.problem import Problem
from ..params import ParameterError
from .results import PosteriorResult

__all__ = ["laplace", "hessian", "identifiability"]


@eqx.filter_jit
def _hessian_dense(problem: Problem, u, which: str):
    f = {"loss": problem.loss, "data": problem.data_misfit,
         "prior": lambda v: -problem.log_prior(v, jacobian=True)}[which]
    return jax.hessian(f)(u)


@eqx.filter_jit
def _hessian_hvp(problem: Problem, u, which: str):
    f = {"loss": problem.loss, "data": problem.data_misfit,
         "prior": lambda v: -problem.log_prior(v, jacobian=True)}[which]
    g = jax.grad(f)
    basis = jnp.eye(u.shape[0], dtype=u.dtype)
    return jax.vmap(lambda v: jax.jvp(g, (u,), (v,))[1])(basis)


@eqx.filter_jit
def _gauss_newton(problem: Problem, u):
    J = jax.jacfwd(problem.residuals)(u)  # (m, n): n forward-mode passes, no adjoint
    return J.T @ J


METHODS = ("dense", "hvp", "gauss_newton")


def hessian(problem: Problem, u, *, which: str = "loss", method: str = "dense") -> np.ndarray:
    """∇² of Φ (``which="loss"``), of the data misfit (``"data"``) or of −log prior in u-space
    (``"prior"``) at ``u``.  Returns a symmetric ``(n, n)`` array.

    ``method``: ``"dense"`` (``jax.hessian``, forward-over-reverse), ``"hvp"`` (n
    Hessian-vector products ``jvp(grad)``, assembled) or ``"gauss_newton"`` (for the data
    misfit: JᵀJ with J = ∂r/∂u the Jacobian of the whitened residuals from n forward-mode
    passes; exact at a zero-residual fit, a good approximation when residuals are noise, always
    positive semi-definite; the prior term is always differentiated exactly).
    """
    if which not in ("loss", "data", "prior"):
        raise ParameterError(f"which = {which!r}; accepted: loss, data, prior")
    if method not in METHODS:
        raise ParameterError(f"method = {method!r}; accepted: {', '.join(METHODS)}")
    if method == "gauss_newton":
        if which == "prior":
            return hessian(problem, u, which="prior", method="dense")
        H = np.asarray(_gauss_newton(problem, jnp.asarray(u, dtype=float)))
        if which == "loss":
            H = H + hessian(problem, u, which="prior", method="dense")
        return 0.5 * (H + H.T)
    fn = _hessian_dense if method == "dense" else _hessian_hvp
    H = np.asarray(fn(problem, jnp.asarray(u, dtype=float), which))
    return 0.5 * (H + H.T)


def identifiability(H_data: np.ndarray, H_prior: np.ndarray, names, *, threshold: float = 1.0,
                    loading_threshold: float = 0.1, theta_map=None, theta_samples=None,
                    precision: float | None = None, min_contraction: float = 0.5) -> dict[str, Any]:
    """Eigen-analysis of the prior-whitened data Hessian (see module docstring).

    Returns per parameter ``identifiable`` (weak-direction loading ≤ ``loading_threshold`` and
    contraction ≥ ``min_contraction``) and, with ``precision`` (relative, e.g. 0.01) and
    posterior samples ``theta_samples`` ``(S, n)`` around ``theta_map`` ``(n,)``, ``precise``
    (relative posterior std ≤ ``precision``); the lists ``not_identifiable`` and ``imprecise``.
    """
    if not 0 <= min_contraction < 1:
        raise ParameterError(f"min_contraction = {min_contraction} must be in [0, 1)")
    w, V = np.linalg.eigh(H_prior)
    if np.any(w <= 0):
        # the prior is not locally convex in u here: fall back to its diagonal magnitude
        P_isqrt = np.diag(1.0 / np.sqrt(np.maximum(np.abs(np.diag(H_prior)), 1e-300)))
    else:
        P_isqrt = V @ np.diag(w**-0.5) @ V.T
    Hw = P_isqrt @ H_data @ P_isqrt
    lam, vec = np.linalg.eigh(0.5 * (Hw + Hw.T))
    directions = P_isqrt @ vec  # columns: directions in u-space
    load = directions**2
    load = load / load.sum(axis=1, keepdims=True)
    weak = lam < threshold
    weak_loading = load[:, weak].sum(axis=1)
    # posterior vs prior variance in u-space
    prior_var = np.diag(np.linalg.inv(H_prior)) if np.all(w > 0) else 1.0 / np.abs(np.diag(H_prior))
    post_var = np.diag(np.linalg.pinv(H_prior + H_data))
    contraction = 1.0 - post_var / prior_var
    params = {}
    for i, n in enumerate(names):
        entry: dict[str, Any] = {
            "weak_direction_loading": float(weak_loading[i]),
            "contraction": float(contraction[i]),
        }
        reasons = []
        if weak_loading[i] > loading_threshold:
            reasons.append(
                f"{weak_loading[i]:.0%} of it lies in directions where the data carry less "
                f"information than the prior (eigenvalue < {threshold:g})"
            )
        if contraction[i] < min_contraction:
            reasons.append(
                f"posterior variance is {1 - contraction[i]:.0%} of the prior variance in u-space "
                f"(contraction {contraction[i]:.2f} < {min_contraction:g})"
            )
        entry["identifiable"] = not reasons
        entry["reason"] = "; ".join(reasons)
        if theta_samples is not None and theta_map is not None:
            rel = float(np.std(theta_samples[:, i], ddof=1) / max(abs(float(theta_map[i])), 1e-300))
            entry["relative_posterior_std"] = rel
            if precision is not None:
                entry["precise"] = rel <= precision
                if rel > precision:
                    entry["precision_note"] = f"relative posterior std {rel:.2%} > precision {precision:.2%}"
        params[n] = entry
    return {
        "eigenvalues": lam,  # ascending, data/prior information ratios
        "eigenvectors": directions / np.linalg.norm(directions, axis=0, keepdims=True),
        "threshold": threshold,
        "precision": precision,
        "n_weak_directions": int(weak.sum()),
        "parameters": params,
        "min_contraction": min_contraction,
        "not_identifiable": [n for n in names if not params[n]["identifiable"]],
        "imprecise": [n for n in names if params[n].get("precise") is False],
    }


def laplace(
    problem: Problem,
    u_map=None,
    *,
    method: str = "dense",
    num_samples: int = 2000,
    seed: int = 0,
    threshold: float = 1.0,
    loading_threshold: float = 0.1,
    precision: float | None = 0.01,
    find_map_kwargs: dict | None = None,
) -> PosteriorResult:
    """Laplace approximation N(u*, H⁻¹) in u-space, sampled and pushed to physical space.

    Args:
        problem: needs ``regularization="prior"`` (Φ is then the negative log posterior).
        u_map: the MAP ``(n,)`` in u-space; found with :func:`calibrate_scipy` if ``None``.
        method: Hessian of the data misfit: ``"dense"``, ``"hvp"`` or ``"gauss_newton"`` (see
            :func:`hessian`).
        threshold, loading_threshold: identifiability criteria (module docstring).
        precision: also report a parameter as not identifiable when its relative posterior
            standard deviation exceeds this (default 1 %; ``None`` disables).

    ``diagnostics`` holds the Hessian eigenvalues (``hessian_eigenvalues``, of H), the
    identifiability analysis (``identifiability``), the u-space covariance and
    ``positive_definite`` (False when H had non-positive eigenvalues: the point is not a
    strict local minimum and those directions were given the prior's curvature).
    """
    if problem.regularization != "prior":
        raise ParameterError(
            "the Laplace approximation of the posterior needs regularization='prior', got "
            f"{problem.regularization!r}"
        )
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if u_map is None:
        from ..calibration.optimize import calibrate_scipy

        res = calibrate_scipy(problem, progress=False, **(find_map_kwargs or {}))
        u_map = res.u
        extra["map_n_evaluations"] = res.n_evaluations
        extra["map_converged"] = res.converged
    u_map = jnp.asarray(u_map, dtype=float)
    # H = H_data + H_prior: one Hessian through the model, one of the (cheap) prior term
    H_data = hessian(problem, u_map, which="data", method=method)
    H_prior = hessian(problem, u_map, which="prior", method=method)
    H = H_data + H_prior
    lam, V = np.linalg.eigh(H)
    positive = bool(np.all(lam > 0))
    if not positive:
        fallback = np.maximum(np.abs(np.diag(V.T @ H_prior @ V)), 1e-12)
        lam_used = np.where(lam > 0, lam, fallback)
    else:
        lam_used = lam
    cov = V @ np.diag(1.0 / lam_used) @ V.T
    L = V @ np.diag(lam_used**-0.5)
    z = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (num_samples, problem.n_parameters)))
    u_samples = np.asarray(u_map)[None, :] + z @ L.T
    theta_samples = np.asarray(problem.physical(jnp.asarray(u_samples)))
    theta_map = np.asarray(problem.physical(u_map))
    ident = identifiability(H_data, H_prior, problem.names, threshold=threshold,
                            loading_threshold=loading_threshold, theta_map=theta_map,
                            theta_samples=theta_samples, precision=precision)
    return PosteriorResult(
        method="laplace",
        names=problem.names,
        units=tuple(problem.parameters[n].units for n in problem.names),
        u_samples=u_samples,
        theta_samples=theta_samples,
        u_map=np.asarray(u_map),
        theta_map=theta_map,
        diagnostics={
            "hessian_eigenvalues": lam,
            "positive_definite": positive,
            "u_covariance": cov,
            "identifiability": ident,
            "wall_time_s": time.perf_counter() - t0,
            **extra,
        },
    )
