"""Gauss–Newton / Levenberg–Marquardt minimisation of Φ(u) = ½‖r(u)‖² + R(u) with the exact
Jacobian J = ∂r/∂u of the whitened residuals from forward-mode AD.

Each iteration builds the Gauss–Newton model of the loss at uₖ,

    Φ(uₖ + δ) ≈ Φₖ + gᵀδ + ½ δᵀ H δ,   g = Jᵀr + ∇R,   H = JᵀJ + ∇²R,

(J from n forward-mode passes through the model run — one Jacobian costs about n tangent
runs, vectorised; ∇R, ∇²R of the regularisation exactly, without the model) and solves
(H + λ D) δ = −g, D = diag(H) (Marquardt's scaling).  λ starts at 0 (a pure Gauss–Newton step,
exact in one iteration for a linear forward map with a Gaussian prior); a step that does not
lower Φ (one forward run to find out) is rejected and λ raised (Nielsen's rule: λ ← νλ, ν ← 2ν;
after an accepted step λ ← λ·max(1/3, 1 − (2ρ − 1)³) with ρ the ratio of the actual to the
predicted decrease, and λ back to 0 once it falls below ``1e-8``).

Where L-BFGS-B is slow — many controls, a nearly linear but ill-conditioned map (e.g. a
depth-dependent initial-condition field observed almost directly), where it must build the
curvature from gradients one iteration at a time — Gauss–Newton has the curvature from the
start; where the map is strongly nonlinear or the residuals are large the Gauss–Newton Hessian
is only an approximation and L-BFGS-B (exact gradient, quasi-Newton curvature) can be cheaper,
because one Jacobian costs about n forward-mode passes.

Stopping rules (first that holds): ‖g‖∞ ≤ ``gtol``; the Newton decrement √(gᵀH⁻¹g) (distance to
the Gauss–Newton model's minimum in posterior standard deviations) ≤ ``decrement_tol``;
relative decrease of Φ over an accepted step ≤ ``ftol``; ``max_iterations`` accepted steps or
``max_rejections`` consecutive rejected steps (not converged).

:func:`gauss_newton_loop` returns the raw iterates; :func:`pyclimaocean.calibration.optimize.
calibrate_gauss_newton` wraps it into a :class:`~pyclimaocean.calibration.optimize.
CalibrationResult`.
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..params import ParameterError
from .problem import Problem

__all__ = ["gauss_newton_loop", "residuals_and_jacobian"]

#: λ below this (relative to the Marquardt scaling) is set back to 0 (a pure Gauss–Newton step)
_LAMBDA_FLOOR = 1e-8


@eqx.filter_jit
def residuals_and_jacobian(problem: Problem, u):
    """``(r, J)``: whitened residuals ``(m,)`` and their Jacobian ``(m, n)`` by forward mode
    (n tangent passes, vectorised by ``jacfwd``; the residuals come from the same pass)."""
    def residuals_twice(v):
        r = problem.residuals(v)  # one traced model run: the output and, as aux, its value
        return r, r

    J, r = jax.jacfwd(residuals_twice, has_aux=True)(u)
    return r, J


@eqx.filter_jit
def _regularization_terms(problem: Problem, u):
    """R(u), ∇R, ∇²R (no model run).  R is a sum of one term per control (independent priors,
    or the ridge), so ∇²R is diagonal and its diagonal is one Hessian-vector product with the
    vector of ones (``jax.hessian`` of the per-parameter loop compiled for minutes at 31
    controls under load)."""
    value, grad = jax.value_and_grad(problem.regularization_term)(u)
    diag = jax.jvp(jax.grad(problem.regularization_term), (u,), (jnp.ones_like(u),))[1]
    return value, grad, jnp.diag(diag)


@eqx.filter_jit
def _loss(problem: Problem, u):
    return problem.loss(u)


def _model(problem: Problem, u):
    try:
        r, J = residuals_and_jacobian(problem, u)
    except TypeError as err:  # "can't apply forward-mode autodiff (jvp) to a custom_vjp function"
        if "custom_vjp" not in str(err):
            raise
        raise ParameterError(
            "method 'gauss_newton' needs forward-mode derivatives of the model run (jacfwd); this "
            "model defines a reverse-mode rule only (jax.custom_vjp): use 'scipy_lbfgsb', 'eki' or "
            "'uki'") from err
    R, gR, HR = _regularization_terms(problem, u)
    r, J = np.asarray(r, dtype=float), np.asarray(J, dtype=float)
    phi = 0.5 * float(r @ r) + float(R)
    g = J.T @ r + np.asarray(gR, dtype=float)
    H = J.T @ J + np.asarray(HR, dtype=float)
    return phi, g, 0.5 * (H + H.T), 0.5 * float(r @ r)


def _solve(H, g, lam):
    """δ solving (H + λ diag(H)) δ = −g by Cholesky; None when the matrix is not positive
    definite (the caller raises λ)."""
    d = np.maximum(np.diag(H), 1e-12 * max(1.0, float(np.max(np.abs(np.diag(H))))))
    A = H + lam * np.diag(d)
    try:
        c = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    y = np.linalg.solve(c, -g)
    return np.linalg.solve(c.T, y)


def gauss_newton_loop(problem: Problem, u0, *, max_iterations: int = 50, gtol: float = 1e-6,
                      ftol: float = 1e-12, decrement_tol: float = 1e-3, damping: float = 1e-3,
                      max_rejections: int = 20, callback=None) -> dict[str, Any]:
    """Levenberg–Marquardt iterations from ``u0`` (module docstring).

    Returns a dict: ``u`` (final point), ``rows`` (one per accepted iterate, iteration 0 = the
    start: ``u``, ``loss``, ``data_misfit``, ``gradient_norm``, ``n_jacobians``, ``n_forward``,
    ``wall_time``), ``converged``, ``message``, ``n_jacobians`` (each = n forward-mode passes),
    ``n_forward`` (loss-only forward runs of trial steps), ``n_rejected``.
    """
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise ParameterError(f"max_iterations = {max_iterations!r} must be an int >= 1")
    if not (gtol >= 0 and ftol >= 0 and decrement_tol >= 0 and damping > 0):
        raise ParameterError(f"need gtol, ftol, decrement_tol >= 0 and damping > 0; got {gtol}, {ftol}, "
                             f"{decrement_tol}, {damping}")
    t0 = time.perf_counter()
    u = np.asarray(u0, dtype=float)
    if u.shape != (problem.n_parameters,):
        raise ParameterError(f"u0 has shape {u.shape}; expected ({problem.n_parameters},)")
    phi, g, H, misfit = _model(problem, jnp.asarray(u))
    n_jac, n_fwd, n_rej, rejected_in_row = 1, 0, 0, 0

    def row():
        return {"u": u.copy(), "loss": phi, "data_misfit": misfit, "gradient_norm": float(np.max(np.abs(g))),
                "n_jacobians": n_jac, "n_forward": n_fwd, "wall_time": time.perf_counter() - t0}

    rows = [row()]
    lam, nu = 0.0, 2.0
    converged, message = False, ""
    while True:
        if np.max(np.abs(g)) <= gtol:
            converged, message = True, f"gradient max-norm {np.max(np.abs(g)):.3g} <= gtol = {gtol:g}"
            break
        delta = _solve(H, g, lam)
        if delta is None:  # not positive definite: damp more
            lam, nu = (damping if lam == 0 else lam * nu), nu * 2
            n_rej += 1
            rejected_in_row += 1
            if rejected_in_row > max_rejections:
                message = f"{max_rejections} consecutive steps rejected (the Gauss–Newton matrix stays indefinite)"
                break
            continue
        decrement = float(np.sqrt(max(-g @ delta, 0.0)))
        if lam == 0 and decrement <= decrement_tol:
            converged = True
            message = (f"Newton decrement sqrt(g'H^-1 g) = {decrement:.3g} <= {decrement_tol:g} "
                       "(within that many posterior standard deviations of the Gauss–Newton model's minimum)")
            break
        predicted = -(g @ delta + 0.5 * delta @ H @ delta)
        trial = u + delta
        phi_trial = float(_loss(problem, jnp.asarray(trial)))
        n_fwd += 1
        rho = (phi - phi_trial) / predicted if predicted > 0 else -1.0
        if np.isfinite(phi_trial) and phi_trial < phi and rho > 1e-4:
            prev = phi
            u = trial
            phi, g, H, misfit = _model(problem, jnp.asarray(u))
            n_jac += 1
            rejected_in_row = 0
            if lam > 0:
                lam *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                lam = 0.0 if lam < _LAMBDA_FLOOR else lam
            nu = 2.0
            rows.append(row())
            if callback is not None:
                callback(rows[-1])
            if (prev - phi) / max(abs(prev), abs(phi), 1.0) <= ftol:
                converged, message = True, f"relative decrease of the loss <= ftol = {ftol:g}"
                break
            if len(rows) - 1 >= max_iterations:
                message = f"stopped by the iteration limit (max_iterations = {max_iterations})"
                break
        else:
            lam, nu = (damping if lam == 0 else lam * nu), nu * 2
            n_rej += 1
            rejected_in_row += 1
            if rejected_in_row > max_rejections:
                message = (f"{max_rejections} consecutive trial steps did not lower the loss (last: "
                           f"{phi_trial - phi:+.3g} against a predicted {-predicted:+.3g}, damping {lam:.3g})")
                break
    message = (f"gauss_newton: {message} ({len(rows) - 1} accepted steps, {n_rej} rejected; {n_jac} Jacobians "
               f"of {problem.n_parameters} forward-mode passes, {n_fwd} trial forward runs)")
    return {"u": u, "rows": rows, "converged": converged, "message": message, "n_jacobians": n_jac,
            "n_forward": n_fwd, "n_rejected": n_rej}
