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

Stationarity.  The Laplace approximation is only meaningful at a converged stationary point
of Φ.  :func:`laplace` measures how far ``u_map`` is from one by the Newton decrement
δ = √(gᵀ H⁻¹ g) (g = ∇Φ(u_map)): the distance, in posterior standard deviations, from u_map to
the minimum of the local quadratic model.  With δ > ``stationarity_tol`` (default 0.1), or when
the optimizer that produced u_map did not converge (``optimizer_result.converged`` False, e.g.
L-BFGS-B's failed line search on a non-smooth loss), ``diagnostics["stationary"]`` is False,
``diagnostics["warnings"]`` says why, and a :class:`NonStationaryWarning` is issued
(``on_nonstationary="raise"`` raises :class:`NonStationaryPointError` instead).  Parameters
whose data-misfit Hessian row is identically zero (no sensitivity at all) are listed in
``diagnostics["zero_sensitivity"]``.

Precision is a separate matter: with ``precision`` (relative, e.g. 0.01) a parameter whose
relative posterior standard deviation std(θ)/|θ_MAP| exceeds it is listed as *imprecise*
(well constrained by the data relative to the prior perhaps, but not to that precision).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..calibration.gauss_newton import residuals_and_jacobian
from ..calibration.optimize import calibrate_scipy, loss_terms
from ..calibration.problem import Problem
from ..params import ParameterError
from .results import PosteriorResult

__all__ = ["laplace", "hessian", "identifiability", "stationarity", "NonStationaryWarning",
           "NonStationaryPointError"]


class NonStationaryWarning(UserWarning):
    """The posterior approximation was built at a point that is not a converged stationary
    point of Φ (its intervals may not contain the truth)."""


class NonStationaryPointError(ValueError):
    """Raised by :func:`laplace` with ``on_nonstationary="raise"`` at a non-stationary point."""


def _loss_gradient(problem: Problem, u):
    # the calibration's compiled loss-and-gradient program: at a MAP from calibrate_scipy this
    # compiles nothing new
    return loss_terms(problem, u)[1]


def stationarity(problem: Problem, u, H: np.ndarray, *, tol: float = 0.1,
                 optimizer_result=None) -> dict[str, Any]:
    """Is ``u`` a converged stationary point of Φ?  (module docstring, *Stationarity*)

    Args:
        H: ``(n, n)`` Hessian of Φ at ``u`` (its non-positive eigenvalues are replaced by their
            absolute value for the decrement).
        tol: largest acceptable Newton decrement (posterior standard deviations).
        optimizer_result: the :class:`~pyclimaocean.calibration.CalibrationResult` (or EKI/UKI
            result) that produced ``u``; its ``converged`` and ``message`` are taken into account.

    Returns ``stationary``, ``newton_decrement``, ``gradient_norm`` (max-norm of ∇Φ in
    u-space), ``optimizer_converged`` (None when unknown) and ``warnings`` (sentences).
    """
    g = np.asarray(_loss_gradient(problem, jnp.asarray(u, dtype=float)), dtype=float)
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    lam = np.maximum(np.abs(lam), 1e-300)
    decrement = float(np.sqrt(np.sum((V.T @ g) ** 2 / lam)))
    out: dict[str, Any] = {"newton_decrement": decrement, "gradient_norm": float(np.max(np.abs(g))),
                           "optimizer_converged": None, "warnings": []}
    if not np.isfinite(decrement) or decrement > tol:
        out["warnings"].append(
            f"not a stationary point: the local quadratic model's minimum is {decrement:.3g} "
            f"posterior standard deviations away (Newton decrement > {tol:g}; gradient max-norm "
            f"{out['gradient_norm']:.3g}); the intervals are centred on the wrong point")
    if optimizer_result is not None:
        out["optimizer_converged"] = bool(optimizer_result.converged)
        if not optimizer_result.converged:
            out["warnings"].append(f"the optimizer that produced this point did not converge: "
                                   f"{optimizer_result.message}")
    out["stationary"] = not out["warnings"]
    return out


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


def _gauss_newton(problem: Problem, u):
    """JᵀJ with J = ∂r/∂u ``(m, n)`` from n forward-mode passes (no adjoint), by the compiled
    program of Gauss–Newton calibration (:func:`~pyclimaocean.calibration.gauss_newton.
    residuals_and_jacobian`): a calibration by Gauss–Newton followed by its Laplace
    approximation compiles the model's Jacobian once, not twice (at 63 field controls each
    compilation is tens of seconds of CPU)."""
    return _gram(residuals_and_jacobian(problem, u)[1])


@jax.jit
def _gram(J):
    """JᵀJ ``(n, n)`` of a Jacobian ``(m, n)``."""
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
    optimizer_result=None,
    stationarity_tol: float = 0.1,
    on_nonstationary: str = "warn",
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
        optimizer_result: the result that produced ``u_map`` (its convergence is checked);
            ``u_map`` defaults to its ``u``.
        stationarity_tol: largest acceptable Newton decrement at ``u_map`` (module docstring).
        on_nonstationary: ``"warn"`` (default: :class:`NonStationaryWarning`, and the flags in
            ``diagnostics``), ``"raise"`` (:class:`NonStationaryPointError`) or ``"ignore"``
            (flags only).

    ``diagnostics`` holds the Hessian eigenvalues (``hessian_eigenvalues``, of H), the
    identifiability analysis (``identifiability``), the u-space covariance,
    ``positive_definite`` (False when H had non-positive eigenvalues: the point is not a
    strict local minimum and those directions were given the prior's curvature),
    ``stationary``, ``newton_decrement``, ``gradient_norm``, ``zero_sensitivity`` and
    ``warnings``.
    """
    if on_nonstationary not in ("warn", "raise", "ignore"):
        raise ParameterError(f"on_nonstationary = {on_nonstationary!r}; accepted: warn, raise, ignore")
    if problem.regularization != "prior":
        raise ParameterError(
            "the Laplace approximation of the posterior needs regularization='prior', got "
            f"{problem.regularization!r}"
        )
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if u_map is None and optimizer_result is not None:
        u_map = optimizer_result.u
    if u_map is None:

        optimizer_result = calibrate_scipy(problem, progress=False, **(find_map_kwargs or {}))
        u_map = optimizer_result.u
        extra["map_n_evaluations"] = optimizer_result.n_evaluations
    if optimizer_result is not None:
        extra["map_converged"] = bool(optimizer_result.converged)
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
    station = stationarity(problem, u_map, H, tol=stationarity_tol, optimizer_result=optimizer_result)
    notes = list(station["warnings"])
    if not positive:
        notes.append(f"the Hessian has {int(np.sum(lam <= 0))} non-positive eigenvalue(s) "
                     f"(smallest {lam.min():.3g}): not a strict local minimum; those directions "
                     "were given the prior's curvature")
    zero = [n for i, n in enumerate(problem.names) if np.all(H_data[i] == 0.0)]
    notes += [f"{n}: the data misfit has identically zero sensitivity to it (its data-Hessian row "
              "is 0); its posterior is the prior's" for n in zero]
    if not station["stationary"]:
        text = "laplace: " + "; ".join(station["warnings"])
        if on_nonstationary == "raise":
            raise NonStationaryPointError(text)
        if on_nonstationary == "warn":
            warnings.warn(text, NonStationaryWarning, stacklevel=2)
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
            "stationary": station["stationary"],
            "newton_decrement": station["newton_decrement"],
            "gradient_norm": station["gradient_norm"],
            "zero_sensitivity": zero,
            "warnings": notes,
            "wall_time_s": time.perf_counter() - t0,
            **extra,
        },
    )
