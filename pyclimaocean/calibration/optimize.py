"""Gradient-based calibration: optax (Adam, L-BFGS with zoom linesearch) and SciPy L-BFGS-B.

All drivers minimise the loss Φ(u) of a :class:`~pyclimaocean.calibration.Problem` with the
gradient ∇Φ from reverse-mode AD through the whole model run (the adjoint), in float64.

* :func:`calibrate_optax`: any optax ``GradientTransformation`` in unconstrained space u
  (bounds hold through the bijection θ = T(u)).  ``optax.lbfgs()`` is handled with
  ``optax.value_and_grad_from_state`` and its linesearch.
* :func:`calibrate_scipy`: ``scipy.optimize.minimize`` (default L-BFGS-B) with a jitted
  ``value_and_grad``; ``space="unconstrained"`` (default) or ``space="physical"`` where the
  parameter bounds are passed to L-BFGS-B and Φ is :meth:`Problem.loss_physical`.

* :func:`calibrate_trust_region`: SciPy's ``trust-constr`` with exact Hessian-vector products
  (forward-over-reverse AD) or a quasi-Newton (BFGS/SR1) Hessian: steps are limited to a trust
  radius that grows or shrinks with how well the quadratic model predicts the loss, so a
  non-smooth stretch shrinks the step instead of failing a line search.
* :func:`calibrate_hybrid`: a few EKI or UKI updates (derivative-free; they reach the basin of
  the optimum from a broad prior) and then L-BFGS-B from the ensemble mean.
* :func:`calibrate_multistart`: L-BFGS-B from the first guess and from draws of the prior; the
  best end point is returned, with every start's outcome.
* :func:`calibrate_gauss_newton`: Levenberg–Marquardt with the exact Jacobian of the residuals
  (forward mode, :mod:`.gauss_newton`): for many controls on a nearly linear, ill-conditioned map.

Stopping rules (first that holds): ‖∇Φ‖_∞ ≤ ``gtol``; relative decrease
(Φₖ₋₁ − Φₖ)/max(|Φₖ|, |Φₖ₋₁|, 1) ≤ ``ftol`` (0 disables it); ``max_iterations``.

Every driver returns a :class:`CalibrationResult` whose ``history`` is an
:class:`xarray.Dataset` over ``iteration`` (loss, gradient norm, physical and unconstrained
parameters, cumulative number of loss+gradient evaluations).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..params import ParameterError, ParameterSet
from .eki import ensemble_kalman_inversion, prior_ensemble
from .gauss_newton import gauss_newton_loop
from .problem import Problem, physical_bounds
from .progress import Progress as _Progress
from .uki import unscented_kalman_inversion

__all__ = [
    "CalibrationResult",
    "calibrate_optax",
    "calibrate_scipy",
    "calibrate",
    "calibrate_trust_region",
    "calibrate_hybrid",
    "calibrate_multistart",
    "calibrate_gauss_newton",
    "select_start",
    "SELECT_RULES",
    "history_dataset",
    "scipy_termination_reason",
    "calibration_warnings",
    "METHODS",
]

METHODS = ("scipy_lbfgsb", "optax_lbfgs", "optax_adam", "trust_region", "hybrid", "multistart", "gauss_newton")


@eqx.filter_jit
def loss_terms(problem: Problem, u):
    """``(Φ, ∇Φ, misfit, ∇misfit)`` at ``u`` ``(n,)``: the loss and the data misfit with their
    u-space gradients from one forward and one adjoint run of the model (∇misfit = ∇Φ − ∇R,
    the regularisation's gradient needing no model run).

    One compiled program serves the optimizers' evaluations, the diagnostics at the end of a
    calibration (the misfit and its gradient for the exactly-zero-sensitivity check) and the
    stationarity test of :func:`~pyclimaocean.inference.laplace`; problems of the same
    structure (any data) share it.
    """
    def loss_and_misfit(v):
        misfit = problem.data_misfit(v)
        return misfit + problem.regularization_term(v), misfit

    # ∇Φ exactly as jax.value_and_grad(problem.loss) computes it (L-BFGS-B's line searches on
    # the column examples are sensitive to its last bits); ∇misfit = ∇Φ − ∇R: R has no model
    # run, and an exactly zero ∇misfit gives ∇Φ = ∇R bit for bit
    (loss, misfit), g = jax.value_and_grad(loss_and_misfit, has_aux=True)(u)
    return loss, g, misfit, g - jax.grad(problem.regularization_term)(u)


def _value_and_grad(problem: Problem, u):
    return loss_terms(problem, u)[:2]


@eqx.filter_jit
def _loss_terms_physical(problem: Problem, theta):
    """:func:`loss_terms` of :meth:`Problem.loss_physical` in physical space: ``(Φ(θ), ∇_θΦ,
    misfit, ∇_θ misfit)``, one forward and one adjoint run."""
    def loss_and_misfit(v):
        misfit = problem.data_misfit_physical(v)
        return misfit + problem.regularization_physical(v), misfit

    (loss, misfit), g = jax.value_and_grad(loss_and_misfit, has_aux=True)(theta)
    return loss, g, misfit, g - jax.grad(problem.regularization_physical)(theta)


def _value_and_grad_physical(problem: Problem, theta):
    return _loss_terms_physical(problem, theta)[:2]


def _misfit_and_grad(problem: Problem, u, space: str = "unconstrained"):
    """Data misfit and its u-space gradient at ``u``, from the same compiled program the
    optimizer used in ``space`` (no further compilation of the adjoint)."""
    if space == "physical":
        theta = problem.physical(u)
        _, _, misfit, g_theta = _loss_terms_physical(problem, theta)
        # T is elementwise: ∂misfit/∂u_i = ∂misfit/∂θ_i · dθ_i/du_i
        dtheta_du = jax.jvp(problem.physical, (u,), (jnp.ones_like(u),))[1]
        return misfit, g_theta * dtheta_du
    _, _, misfit, g = loss_terms(problem, u)
    return misfit, g


@eqx.filter_jit
def _hvp(problem: Problem, u, v):
    """Hessian-vector product ∇²Φ(u) v (forward-over-reverse)."""
    return jax.jvp(jax.grad(problem.loss), (u,), (v,))[1]


@dataclass
class CalibrationResult:
    """Outcome of a calibration.

    Attributes:
        u: ``(n,)`` optimum in unconstrained space; theta: ``(n,)`` in physical units.
        parameters: the controls as a :class:`ParameterSet` with the optimal values.
        loss: Φ at the optimum; data_misfit: its data part ½‖Γ^{-1/2}(𝒢 − y)‖².
        history: per-iteration :class:`xarray.Dataset`.
        n_evaluations: number of loss+gradient evaluations (each = one forward run and one
            adjoint run).
        converged: a stopping rule other than ``max_iterations`` held; message says which
            (for SciPy the full termination reason, :func:`scipy_termination_reason`).
        wall_time: seconds (including compilation).
        extra: ``priors`` (:meth:`Problem.prior_report`), ``zero_sensitivity`` (parameters
            whose data-misfit gradient at the optimum is exactly 0: the data cannot move them),
            ``warnings`` (list of sentences), and method-specific entries.
    """

    method: str
    u: np.ndarray
    theta: np.ndarray
    parameters: ParameterSet
    loss: float
    data_misfit: float
    history: xr.Dataset
    n_evaluations: int
    converged: bool
    message: str
    wall_time: float
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary."""
        return {
            "method": self.method,
            "parameters": {n: float(v) for n, v in zip(self.parameters.names, self.theta, strict=True)},
            "loss": float(self.loss),
            "data_misfit": float(self.data_misfit),
            "n_iterations": int(self.history.sizes["iteration"] - 1),
            "n_evaluations": int(self.n_evaluations),
            "converged": bool(self.converged),
            "message": self.message,
            "wall_time_s": float(self.wall_time),
            "priors": self.extra.get("priors", {}),
            "zero_sensitivity": list(self.extra.get("zero_sensitivity", [])),
            "warnings": list(self.extra.get("warnings", [])),
            # hybrid: forward runs of the ensemble stage; trust_region: Hessian-vector products;
            # multistart: every start's outcome
            **({"n_forward_runs": int(self.extra["n_forward"])} if "n_forward" in self.extra else {}),
            **({"n_hessian_vector_products": int(self.extra["n_hvp"])} if self.extra.get("n_hvp") else {}),
            **({"starts": self.extra["starts"]} if "starts" in self.extra else {}),
        }


def history_dataset(problem: Problem, rows: list[dict[str, Any]], method: str,
                    space: str = "unconstrained") -> xr.Dataset:
    """Per-iteration history as a CF-annotated Dataset (``iteration`` 0 = first guess)."""
    names = list(problem.names)
    u = np.array([r["u"] for r in rows], dtype=float).reshape(len(rows), len(names))
    theta = np.asarray(problem.physical(jnp.asarray(u))) if rows else np.zeros((0, len(names)))
    units = [problem.parameters[n].units for n in names]
    ds = xr.Dataset(
        {
            "loss": ("iteration", np.array([r["loss"] for r in rows], float),
                     {"units": "1", "long_name": "loss (data misfit + regularisation)"}),
            "gradient_norm": ("iteration", np.array([r["gradient_norm"] for r in rows], float),
                              {"units": "1", "long_name": f"max-norm of the loss gradient in {space} space"
                                           + (" (dPhi/dtheta, in units of 1/parameter)" if space == "physical" else "")}),
            "n_evaluations": ("iteration", np.array([r["n_evaluations"] for r in rows], int),
                              {"units": "1", "long_name": "cumulative loss+gradient evaluations"}),
            "wall_time": ("iteration", np.array([r["wall_time"] for r in rows], float),
                          {"units": "s", "long_name": "elapsed wall time"}),
            "parameters": (("iteration", "parameter"), theta,
                           {"long_name": "parameter values (physical units, see parameter_units)"}),
            "unconstrained": (("iteration", "parameter"), u,
                              {"units": "1", "long_name": "parameters in unconstrained space"}),
        },
        coords={
            "iteration": ("iteration", np.arange(len(rows)), {"long_name": "iteration"}),
            "parameter": ("parameter", names),
            "parameter_units": ("parameter", units),
        },
        attrs={"method": method, "regularization": problem.regularization,
               "n_observations": problem.n_observations, "Conventions": "CF-1.10"},
    )
    if rows and "data_misfit" in rows[0]:
        ds["data_misfit"] = ("iteration", np.array([r["data_misfit"] for r in rows], float),
                             {"units": "1", "long_name": "data misfit 1/2 |Gamma^-1/2 (G - y)|^2"})
    return ds


def _check_settings(max_iterations, gtol, ftol):
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise ParameterError(f"max_iterations = {max_iterations!r} must be an int >= 1")
    if not gtol >= 0:
        raise ParameterError(f"gtol = {gtol} must be >= 0")
    if not ftol >= 0:
        raise ParameterError(f"ftol = {ftol} must be >= 0")


@eqx.filter_jit
def _curvatures_along_jvp(problem: Problem, u, e):
    _, jr = jax.jvp(problem.residuals, (u,), (e,))
    _, hr = jax.jvp(jax.grad(problem.regularization_term), (u,), (e,))
    return jnp.sum(jr**2), jnp.dot(e, hr)


#: step (unconstrained units) of the central difference of the residuals used for models
#: without forward-mode derivatives
_CURVATURE_FD_STEP = 1e-4


@eqx.filter_jit
def _curvatures_along_fd(problem: Problem, u, e):
    h = _CURVATURE_FD_STEP
    jr = (problem.residuals(u + h * e) - problem.residuals(u - h * e)) / (2 * h)
    _, hr = jax.jvp(jax.grad(problem.regularization_term), (u,), (e,))
    return jnp.sum(jr**2), jnp.dot(e, hr)


def _curvatures_along(problem: Problem, u, e):
    """(data Gauss–Newton curvature ‖J e‖², regularisation curvature eᵀ∇²R e) along ``e``.

    ``J e`` by forward mode; for models whose runs are external functions with a custom
    reverse-mode rule only (``jax.custom_vjp``: the Julia column, NumPy models with
    hand-written adjoints), by a central difference of the residuals (two forward runs,
    step :data:`_CURVATURE_FD_STEP`) — this only decides a warning.
    """
    try:
        return _curvatures_along_jvp(problem, u, e)
    except TypeError as err:  # "can't apply forward-mode autodiff (jvp) to a custom_vjp function"
        if "custom_vjp" not in str(err):
            raise
        return _curvatures_along_fd(problem, u, e)


def calibration_warnings(problem: Problem, u_start, u_end, data_gradient, *,
                         priors: dict | None = None, centre_tolerance: float = 0.05
                         ) -> tuple[list[str], list[str]]:
    """``(warnings, zero_sensitivity)`` about a calibrated point ``u_end``.

    * a parameter whose data-misfit gradient is exactly 0 has no sensitivity: gradient
      calibration cannot move it (e.g. a coefficient multiplying a term that is switched off
      at its value); it stays where the regularisation puts it;
    * a parameter that ended within ``centre_tolerance`` (u-space) of the point its
      regularisation alone pulls to (:meth:`Problem.regularization_centre`) *and* along which
      the data's Gauss–Newton curvature ‖J eᵢ‖² is below the regularisation's curvature was
      decided by the prior, not the data (one forward-mode pass per such candidate).
    """
    priors = problem.prior_report() if priors is None else priors
    g = np.asarray(data_gradient, dtype=float)
    zero = [n for i, n in enumerate(problem.names) if g[i] == 0.0]
    out = [f"{n}: the data misfit has exactly zero gradient with respect to it; gradient "
           "calibration cannot move it (it stays where the prior/regularisation puts it)" for n in zero]
    u_end = np.asarray(u_end, float)
    for i, n in enumerate(problem.names):
        centre = priors[n]["pulls_to"]
        if centre is None or n in zero:
            continue
        uc = float(problem.parameters[n].to_unconstrained(centre))
        if abs(u_end[i] - uc) >= centre_tolerance:
            continue
        e = jnp.zeros(problem.n_parameters).at[i].set(1.0)
        c_data, c_reg = (float(c) for c in _curvatures_along(problem, jnp.asarray(u_end), e))
        if c_data < c_reg:
            out.append(
                f"{n} ended at {float(problem.parameters[n].from_unconstrained(u_end[i])):.4g}, the "
                f"point its prior {priors[n]['prior']} ({priors[n]['source']}) pulls to with "
                f"regularization={problem.regularization!r}, and the data constrain it less than "
                f"the prior does (curvature along it: data {c_data:.3g} < prior {c_reg:.3g}): the "
                "value reflects the prior, not the data (check identifiability with laplace / "
                "`pyclimaocean infer`)")
    return out, zero


def _finish(problem, method, u, rows, n_eval, converged, message, t0, space="unconstrained"):
    u = jnp.asarray(u)
    loss = float(rows[-1]["loss"])
    theta = np.asarray(problem.physical(u))
    # the optimizer's own compiled value and gradient (a cache hit): no new adjoint compilation
    misfit, data_grad = _misfit_and_grad(problem, u, space)
    priors = problem.prior_report()
    warn, zero = calibration_warnings(problem, rows[0]["u"], np.asarray(u), data_grad, priors=priors)
    if not converged:
        warn.insert(0, f"the optimizer did not converge: {message}")
    return CalibrationResult(
        method=method, u=np.asarray(u), theta=theta, parameters=problem.parameter_set(jnp.asarray(theta)),
        loss=loss, data_misfit=float(misfit), history=history_dataset(problem, rows, method, space),
        n_evaluations=n_eval, converged=converged, message=message, wall_time=time.perf_counter() - t0,
        extra={"space": space, "priors": priors, "zero_sensitivity": zero, "warnings": warn,
               "data_gradient": np.asarray(data_grad)},
    )


def _relative_decrease(prev: float, cur: float) -> float:
    return (prev - cur) / max(abs(prev), abs(cur), 1.0)


def calibrate_optax(
    problem: Problem,
    optimizer=None,
    *,
    u0=None,
    max_iterations: int = 200,
    gtol: float = 1e-6,
    ftol: float = 0.0,
    progress: bool | None = None,
    method: str | None = None,
) -> CalibrationResult:
    """Minimise Φ(u) with an optax optimizer (default ``optax.lbfgs()``).

    L-BFGS-type optimizers needing the value (``optax.lbfgs`` and anything built on
    ``scale_by_zoom_linesearch``/``scale_by_backtracking_linesearch``) are detected and given
    ``value``, ``grad`` and ``value_fn``; ``n_evaluations`` then includes the linesearch steps.

    Args:
        problem: the calibration problem.
        optimizer: an ``optax.GradientTransformation`` (e.g. ``optax.adam(1e-2)``).
        u0: ``(n,)`` start in unconstrained space (default ``problem.u0``).
        max_iterations, gtol, ftol: stopping rules (see module docstring).
        progress: show a rich progress bar (default: when stderr is a terminal).
    """
    import optax

    _check_settings(max_iterations, gtol, ftol)
    t0 = time.perf_counter()
    if optimizer is None:
        optimizer = optax.lbfgs()
        method = method or "optax_lbfgs"
    method = method or "optax"
    u = jnp.asarray(problem.u0 if u0 is None else u0, dtype=float)
    if u.shape != (problem.n_parameters,):
        raise ParameterError(f"u0 has shape {u.shape}; expected ({problem.n_parameters},)")
    opt_state = optimizer.init(u)
    needs_value = _needs_value(opt_state)

    if needs_value:

        # zoom linesearches (optax.lbfgs) keep value and gradient at the accepted point in their
        # state; backtracking ones only with store_grad=True: otherwise evaluate them here
        stored = _stores_value_and_grad(opt_state)

        @eqx.filter_jit
        def step(p, v, state, grad):
            value_fn = lambda x: p.loss(x)  # noqa: E731
            if stored:
                value, grad = optax.value_and_grad_from_state(value_fn)(v, state=state)
            else:
                value, grad = jax.value_and_grad(value_fn)(v)
            updates, state = optimizer.update(grad, state, v, value=value, grad=grad, value_fn=value_fn)
            v = optax.apply_updates(v, updates)
            ls = _tree_sum(state, "num_linesearch_steps")
            if stored:  # the linesearch has evaluated value and gradient at the accepted point
                return (v, state, optax.tree_utils.tree_get(state, "value"),
                        optax.tree_utils.tree_get(state, "grad"), ls)
            value, grad = jax.value_and_grad(value_fn)(v)
            return v, state, value, grad, ls + 1
    else:

        @eqx.filter_jit
        def step(p, v, state, grad):
            updates, state = optimizer.update(grad, state, v)
            v = optax.apply_updates(v, updates)
            value, grad = jax.value_and_grad(p.loss)(v)
            return v, state, value, grad, jnp.asarray(1)

    value, grad = _value_and_grad(problem, u)
    n_eval = 1
    rows = [_row(u, value, grad, n_eval, t0)]
    bar = _Progress(progress, max_iterations, f"calibrate ({method})")
    converged, message = False, f"reached max_iterations = {max_iterations}"
    try:
        if rows[-1]["gradient_norm"] <= gtol:
            converged, message = True, f"gradient norm <= gtol = {gtol} at the start"
        for it in range(1, max_iterations + 1):
            if converged:
                break
            u_new, opt_state, value_new, grad_new, n_new = step(problem, u, opt_state, grad)
            n_eval += int(n_new)
            if not bool(jnp.all(jnp.isfinite(u_new))) or not math.isfinite(float(value_new)):
                message = f"non-finite loss or parameters at iteration {it}; stopped (kept the last finite iterate)"
                break
            prev = rows[-1]["loss"]
            u, grad = u_new, grad_new
            rows.append(_row(u, value_new, grad_new, n_eval, t0))
            bar.update(it, rows[-1]["loss"], rows[-1]["gradient_norm"])
            if rows[-1]["gradient_norm"] <= gtol:
                converged, message = True, f"gradient norm {rows[-1]['gradient_norm']:.3g} <= gtol = {gtol}"
            elif ftol > 0 and 0 <= _relative_decrease(prev, rows[-1]["loss"]) <= ftol:
                converged, message = True, f"relative loss decrease <= ftol = {ftol}"
    finally:
        bar.close()
    return _finish(problem, method, u, rows, n_eval, converged, message, t0)


def _stores_value_and_grad(opt_state) -> bool:
    """Whether the linesearch state holds a finite-size ``value`` and ``grad`` usable by
    ``optax.value_and_grad_from_state`` (zoom; backtracking only with ``store_grad=True``)."""
    import optax

    try:
        value = optax.tree_utils.tree_get(opt_state, "value")
        grad = optax.tree_utils.tree_get(opt_state, "grad")
    except (KeyError, ValueError):
        return False
    return value is not None and grad is not None and jax.tree_util.tree_leaves(grad) != []


def _tree_sum(state, key: str):
    import optax

    try:
        v = optax.tree_utils.tree_get(state, key)
        found = [] if v is None else [v]
    except (KeyError, ValueError):
        found = [leaf for _, leaf in optax.tree_utils.tree_get_all_with_path(state, key)]
    return sum((jnp.asarray(f) for f in found), jnp.asarray(0))


def _needs_value(opt_state) -> bool:
    import optax

    try:
        found = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
    except (KeyError, ValueError):  # several matches: a chained linesearch, still needs value
        return True
    return found is not None


def _row(u, value, grad, n_eval, t0):
    return {
        "u": np.asarray(u, dtype=float),
        "loss": float(value),
        "gradient_norm": float(jnp.max(jnp.abs(grad))),
        "n_evaluations": int(n_eval),
        "wall_time": time.perf_counter() - t0,
    }


def calibrate_scipy(
    problem: Problem,
    *,
    u0=None,
    method: str = "L-BFGS-B",
    space: str = "unconstrained",
    max_iterations: int = 200,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    progress: bool | None = None,
    hessian: str | None = None,
) -> CalibrationResult:
    """Minimise Φ with ``scipy.optimize.minimize`` and the JAX gradient (float64).

    Args:
        method: a gradient-based SciPy method (``"L-BFGS-B"``, ``"BFGS"``, ``"CG"``,
            ``"trust-constr"``, ...).
        hessian: for the trust-region methods (``trust-constr``, ``trust-ncg``,
            ``trust-krylov``): ``"hvp"`` (exact Hessian-vector products, forward-over-reverse
            AD; each costs about two loss+gradient evaluations and is counted as such in
            ``extra["n_hvp"]``), or ``"bfgs"`` / ``"sr1"`` (quasi-Newton, ``trust-constr`` only).
        space: ``"unconstrained"`` (Φ(u), bounds through the bijection) or ``"physical"``
            (Φ(θ) = :meth:`Problem.loss_physical`, bounds given to L-BFGS-B).
        u0: start in unconstrained space (default ``problem.u0``).
        max_iterations, gtol, ftol: passed to SciPy as ``maxiter``, ``gtol`` (projected
            gradient max-norm) and ``ftol`` (relative decrease), for L-BFGS-B.
    """
    from scipy.optimize import minimize

    _check_settings(max_iterations, gtol, ftol)
    if space not in ("unconstrained", "physical"):
        raise ParameterError(f"space {space!r} is not supported. Supported: unconstrained, physical")
    if hessian not in (None, "hvp", "bfgs", "sr1"):
        raise ParameterError(f"hessian {hessian!r} is not supported. Supported: hvp, bfgs, sr1 (or None)")
    trust = method.lower() in ("trust-constr", "trust-ncg", "trust-krylov", "trust-exact")
    if hessian is not None and not trust:
        raise ParameterError(f"hessian = {hessian!r} applies to the trust-region methods only, not {method!r}")
    if trust and space != "unconstrained":
        raise ParameterError(f"method {method!r} works in space 'unconstrained' only (the bijection keeps the bounds)")
    t0 = time.perf_counter()
    u_start = np.asarray(problem.u0 if u0 is None else u0, dtype=float)
    if u_start.shape != (problem.n_parameters,):
        raise ParameterError(f"u0 has shape {u_start.shape}; expected ({problem.n_parameters},)")
    counter = {"n": 0}
    last: dict[str, Any] = {}
    evaluations: list[tuple[np.ndarray, float, np.ndarray]] = []  # every (x, Φ, ∇Φ) SciPy asked for

    if space == "unconstrained":
        x0 = u_start
        bounds = None

        def fun(x):
            counter["n"] += 1
            v, g = _value_and_grad(problem, jnp.asarray(x))
            last.update(x=np.array(x), v=float(v), g=np.asarray(g, dtype=float))
            evaluations.append((np.array(x, dtype=float), float(v), np.asarray(g, dtype=float)))
            return float(v), np.asarray(g, dtype=float)

        to_u = lambda x: np.array(x, dtype=float)  # noqa: E731
    else:

        lo, hi = physical_bounds(problem)
        x0 = np.clip(np.asarray(problem.physical(jnp.asarray(u_start)), dtype=float), lo, hi)
        bounds = list(zip(np.where(np.isfinite(lo), lo, None), np.where(np.isfinite(hi), hi, None), strict=True))

        def fun(x):
            counter["n"] += 1
            v, g = _value_and_grad_physical(problem, jnp.asarray(x))
            last.update(x=np.array(x), v=float(v), g=np.asarray(g, dtype=float))
            evaluations.append((np.array(x, dtype=float), float(v), np.asarray(g, dtype=float)))
            return float(v), np.asarray(g, dtype=float)

        def to_u(x):
            # map back for the history; clip onto the open interval for the bijection
            eps = 1e-12 * np.maximum(1.0, np.abs(x))
            return np.asarray(problem.unconstrained(jnp.asarray(np.clip(x, lo + eps, hi - eps))))

    v0, g0 = fun(x0)
    rows = [{"u": to_u(x0), "loss": v0, "gradient_norm": float(np.max(np.abs(g0))),
             "n_evaluations": counter["n"], "wall_time": time.perf_counter() - t0}]
    bar = _Progress(progress, max_iterations, f"calibrate (scipy {method})")

    iterates = [np.array(x0, dtype=float)]  # the optimizer's own iterates (θ or u), unclipped

    def callback(intermediate_result):
        # SciPy updates intermediate_result.x in place (L-BFGS-B's work array): copy it, or
        # every recorded iterate ends up as the final point
        x = np.array(intermediate_result.x, dtype=float, copy=True)
        iterates.append(x.copy())
        # SciPy has just evaluated fun at x (its accepted point); reuse it
        if "x" in last and np.array_equal(last["x"], x):
            v, g = last["v"], last["g"]
        else:
            v, g = float(intermediate_result.fun), np.full_like(x, np.nan)
        rows.append({"u": np.array(to_u(x), dtype=float), "loss": v, "gradient_norm": float(np.max(np.abs(g))),
                     "n_evaluations": counter["n"], "wall_time": time.perf_counter() - t0})
        bar.update(len(rows) - 1, v, rows[-1]["gradient_norm"])

    options: dict[str, Any] = {"maxiter": max_iterations, "gtol": gtol}
    if method.upper() == "L-BFGS-B":
        options["ftol"] = ftol
    extra_kwargs: dict[str, Any] = {}
    n_hvp = {"n": 0}
    if trust:
        if hessian in (None, "hvp"):
            def hessp(x, p):
                n_hvp["n"] += 1
                return np.asarray(_hvp(problem, jnp.asarray(x, dtype=float), jnp.asarray(p, dtype=float)), dtype=float)

            extra_kwargs["hessp"] = hessp
        else:
            from scipy.optimize import BFGS, SR1

            if method.lower() != "trust-constr":
                raise ParameterError(f"hessian = {hessian!r} needs method 'trust-constr', not {method!r}")
            extra_kwargs["hess"] = BFGS() if hessian == "bfgs" else SR1()
        if method.lower() == "trust-constr":
            options["xtol"] = 1e-10
    try:
        res = minimize(fun, x0, jac=True, method=method, bounds=bounds, callback=callback, options=options,
                       **extra_kwargs)
    finally:
        bar.close()
    u = to_u(np.asarray(res.x))
    if not np.allclose(rows[-1]["u"], u):
        rows.append({"u": u, "loss": float(res.fun), "gradient_norm": float(np.max(np.abs(res.jac))),
                     "n_evaluations": counter["n"], "wall_time": time.perf_counter() - t0})
    # SciPy's own verdict: status 1 = iteration/evaluation limit (L-BFGS-B, BFGS, CG, ...),
    # so convergence reached on the last allowed iteration still counts as converged;
    # trust-constr: 1 = gtol, 2 = xtol (step below its tolerance), 0 = iteration limit
    if method.lower() == "trust-constr":
        converged = int(res.status) in (1, 2)
    else:
        converged = bool(res.success) and res.status != 1
    message = scipy_termination_reason(res, method=method, gtol=gtol, ftol=ftol,
                                       max_iterations=max_iterations, evaluations=evaluations,
                                       bounds=bounds)
    result = _finish(problem, f"scipy_{method.lower().replace('-', '')}", u, rows, counter["n"],
                     converged, message, t0, space)
    result.extra["n_hvp"] = n_hvp["n"]
    result.extra["iterates"] = np.array(iterates)
    result.extra["iterates_space"] = space
    result.extra["scipy_status"] = int(res.status)
    result.extra["scipy_message"] = str(res.message)
    result.extra["scipy_iterations"] = int(getattr(res, "nit", len(iterates) - 1))
    return result


#: what L-BFGS-B's terse messages mean (SciPy ≥ 1.15 reports a failed line search as
#: "ABNORMAL: " with nothing after the colon)
_LBFGSB_EXPLANATIONS = {
    "ABNORMAL": (
        "the line search failed: within maxls = 20 trial steps along the search direction (and "
        "again after resetting the L-BFGS memory to steepest descent) no step gave the required "
        "decrease of the loss"),
    "ROUNDING ERRORS PREVENT PROGRESS": (
        "the loss changes along the search direction are at the level of round-off"),
    "STP = STPMIN": "the line search step shrank to its minimum without sufficient decrease",
    "STP = STPMAX": "the line search step grew to its maximum (the loss may be unbounded below)",
    "XTOL TEST SATISFIED": "the line-search bracket became narrower than its tolerance",
}


def scipy_termination_reason(res, *, method: str, gtol: float, ftol: float, max_iterations: int,
                             evaluations: list | None = None, bounds=None) -> str:
    """The full reason SciPy stopped, in words, with the numbers that support it.

    SciPy's ``message`` is kept verbatim at the start; for a stop that is not convergence the
    meaning of the status is spelled out, the final (projected) gradient max-norm is compared
    with ``gtol``, and — for a failed line search — the last trial steps are summarised: how
    much the loss *rose* compared with what the gradient predicted.  A rise many times the
    prediction over a tiny step means the loss is not smooth there (a regime switch in the
    model) or the gradient is wrong; :func:`pyclimaocean.calibration.landscape.scan` shows it.
    """
    msg = str(res.message).strip()
    parts = [f"scipy {method}: {msg!r} (status {int(res.status)}, {int(getattr(res, 'nit', -1))} "
             f"iterations, {int(getattr(res, 'nfev', -1))} loss+gradient evaluations)"]
    if method.lower() == "trust-constr":
        # trust-constr's status: 1 gtol met, 2 the trust radius fell below xtol, 0 iteration
        # limit, 3 stopped by the callback
        status = int(res.status)
        if status in (1, 2):
            return parts[0] + (f"; final trust radius {float(getattr(res, 'tr_radius', np.nan)):.3g}"
                               if status == 2 else "")
        parts.append(f"stopped by the iteration limit (max_iterations = {max_iterations})" if status == 0
                     else "stopped by the callback")
        parts.append(f"final gradient max-norm {np.max(np.abs(np.asarray(res.grad, dtype=float))):.3g} "
                     f"vs gtol = {gtol:g}")
        return "; ".join(parts)
    if bool(res.success) and res.status != 1:
        return parts[0]
    upper = msg.upper()
    for key, text in _LBFGSB_EXPLANATIONS.items():
        if key in upper:
            parts.append(text)
            break
    else:
        if res.status == 1:
            parts.append(f"stopped by the iteration/evaluation limit (max_iterations = {max_iterations})")
    jac = np.asarray(getattr(res, "jac", np.nan), dtype=float)
    x = np.asarray(res.x, dtype=float)
    if jac.size == x.size:
        pg = jac.copy()
        if bounds is not None:  # projected gradient: components pushing into an active bound
            for i, (lo, hi) in enumerate(bounds):
                if lo is not None and x[i] <= lo and pg[i] > 0:
                    pg[i] = 0.0
                if hi is not None and x[i] >= hi and pg[i] < 0:
                    pg[i] = 0.0
        parts.append(f"final projected-gradient max-norm {np.max(np.abs(pg)):.3g} vs gtol = {gtol:g}")
    if evaluations and res.status == 2:
        parts.append(_line_search_summary(evaluations, x, float(res.fun)))
    if res.status == 2:
        parts.append("check the loss along the search direction with "
                     "pyclimaocean.calibration.landscape.scan (or `pyclimaocean landscape`), "
                     "restart from the returned point, or use a derivative-free / ensemble method")
    return "; ".join(parts)


def _line_search_summary(evaluations, x_best, f_best) -> str:
    """Summarise trial points evaluated after the best point: step length and the loss change
    against the first-order prediction gᵀ(x − x_best)."""
    best = next((k for k in range(len(evaluations) - 1, -1, -1)
                 if np.array_equal(evaluations[k][0], x_best)), None)
    if best is None:
        return f"{len(evaluations)} evaluations in all"
    g_best = evaluations[best][2]
    trials = [e for e in evaluations[best + 1:] if not np.array_equal(e[0], x_best)]
    if not trials:
        return "no trial point was evaluated after the returned point"
    worst = ""
    ratios = []
    for xt, ft, _ in trials:
        d = xt - x_best
        predicted = float(g_best @ d)
        actual = ft - f_best
        ratios.append((np.max(np.abs(d)), actual, predicted))
    step, actual, predicted = min(ratios, key=lambda r: r[0])
    if predicted != 0:
        worst = f" ({actual / predicted:.3g} × the first-order prediction {predicted:.3g})"
    return (f"{len(trials)} trial points after the returned point did not improve it; the smallest "
            f"trial step (max-norm {step:.3g}) changed the loss by {actual:+.3g}{worst}")


def calibrate_trust_region(
    problem: Problem,
    *,
    u0=None,
    hessian: str = "hvp",
    max_iterations: int = 200,
    gtol: float = 1e-6,
    ftol: float = 0.0,
    progress: bool | None = None,
) -> CalibrationResult:
    """Trust-region Newton: SciPy ``trust-constr`` in unconstrained space.

    ``hessian="hvp"``: exact Hessian-vector products ∇²Φ v (forward-over-reverse through the
    model run; the truncated-CG subproblem asks for a few per iteration, each costing about two
    loss+gradient evaluations, counted in ``extra["n_hvp"]``).  ``"bfgs"``/``"sr1"``: SciPy's
    quasi-Newton Hessian approximations (no extra model runs).  The step is bounded by a trust
    radius that shrinks where the quadratic model mispredicts the loss (a non-smooth stretch
    costs a few rejected steps, not a failed line search).  Stops when ‖∇Φ‖∞ ≤ ``gtol``, the
    trust radius falls below 1e-10 (converged as far as the model can tell) or at
    ``max_iterations``.  ``ftol`` is accepted for a uniform interface and not used.
    """
    del ftol
    res = calibrate_scipy(problem, u0=u0, method="trust-constr", hessian=hessian,
                          max_iterations=max_iterations, gtol=gtol, progress=progress)
    res.method = "trust_region"
    res.history.attrs["method"] = "trust_region"
    res.extra["hessian"] = hessian
    return res


def calibrate_hybrid(
    problem: Problem,
    *,
    ensemble_method: str = "eki",
    ensemble_iterations: int = 3,
    ensemble_size: int = 20,
    eki_dt: float = 1.0,
    seed: int = 0,
    max_iterations: int = 200,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    progress: bool | None = None,
) -> CalibrationResult:
    """A few EKI (or UKI) updates from the prior, then L-BFGS-B from the ensemble mean.

    The ensemble stage is derivative-free and sees the loss at the scale of the ensemble spread,
    so it steps over small-scale roughness and into the basin of the optimum from a first guess
    far away; L-BFGS-B then converges quickly and to full precision from there.  Cost: the
    ensemble's forward runs (``extra["n_forward"]``: ``ensemble_size`` + 1 per EKI update,
    2n + 1 per UKI update) plus L-BFGS-B's loss+gradient evaluations (``n_evaluations``).

    ``history`` is the L-BFGS-B stage's (iteration 0 = the ensemble mean);
    ``extra["ensemble_history"]`` is the ensemble stage's.
    """

    if not (isinstance(ensemble_iterations, int) and ensemble_iterations >= 1):
        raise ParameterError(f"ensemble_iterations = {ensemble_iterations!r} must be an int >= 1")
    t0 = time.perf_counter()
    if ensemble_method == "eki":
        ens = ensemble_kalman_inversion(problem, ensemble_size=ensemble_size, max_iterations=ensemble_iterations,
                                        dt=eki_dt, seed=seed, progress=False)
    elif ensemble_method == "uki":
        ens = unscented_kalman_inversion(problem, max_iterations=ensemble_iterations, progress=False)
    else:
        raise ParameterError(f"ensemble_method {ensemble_method!r} is not supported. Supported: eki, uki")
    fit = calibrate_scipy(problem, u0=np.asarray(ens.u), max_iterations=max_iterations, gtol=gtol, ftol=ftol,
                          progress=progress)
    fit.method = "hybrid"
    fit.history.attrs["method"] = f"hybrid ({ensemble_method} then scipy L-BFGS-B)"
    fit.message = (f"{ensemble_method}: {ens.message} ({ens.n_forward} forward runs, data misfit "
                   f"{ens.data_misfit:.6g}); then {fit.message}")
    fit.wall_time = time.perf_counter() - t0
    fit.extra.update(n_forward=int(ens.n_forward), ensemble_method=ensemble_method,
                     ensemble_history=ens.history, ensemble_u=np.asarray(ens.u))
    return fit


def calibrate_multistart(
    problem: Problem,
    *,
    n_starts: int = 4,
    include_first_guess: bool = True,
    seed: int = 0,
    max_iterations: int = 200,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    progress: bool | None = None,
    agreement: float = 0.5,
    ensemble_start: str | None = None,
    ensemble_iterations: int = 3,
    ensemble_size: int = 20,
    polish: str | None = None,
    restarts: int = 0,
    select: str = "lowest",
) -> CalibrationResult:
    """L-BFGS-B from ``n_starts`` points — the first guess (``include_first_guess``), the mean of
    a short ensemble run (``ensemble_start``) and draws of the (bound-truncated) prior —
    returning the run that reached the lowest loss.

    Args:
        ensemble_start: ``"eki"`` (``ensemble_size`` members) or ``"uki"``: one start is the
            ensemble mean after ``ensemble_iterations`` updates from the prior (as
            :func:`calibrate_hybrid`; its forward runs are in ``extra["n_forward"]``); it
            takes the place of a prior draw.
        polish: ``"gauss_newton"``: a start whose L-BFGS-B run did not converge (iteration
            limit, failed line search) is continued by :func:`calibrate_gauss_newton` from its
            end point, which is kept where it lowers the loss (its Jacobians in
            ``extra["n_jacobians"]``, its trial runs in ``extra["n_forward"]``); ``None``: no
            polishing.
        restarts: a start whose L-BFGS-B run stopped without converging (iteration limit,
            failed line search) is run again from its end point, with a fresh L-BFGS-B memory,
            up to ``restarts`` times while a restart lowers the loss (before any ``polish``);
            its evaluations are counted with the start's.  Raise ``max_iterations`` too where
            runs are cut by the iteration limit on many ill-conditioned controls.
        select: which start is returned.  ``"lowest"``: the lowest loss.  ``"earliest"``: the
            first start, in the order first guess, ensemble mean, prior draws, whose loss is
            within ``agreement`` of the lowest — two end points whose losses differ by less
            than the noise (``agreement`` = 0.5 is a change of 1 in χ²) are equally good fits,
            and this prefers the one reached from the first guess (see
            :func:`select_start`).

    ``extra["starts"]`` lists every start (start point, end point, loss, convergence,
    evaluations); ``extra["n_at_best"]`` counts the starts that ended within ``agreement`` (in
    loss; 0.5 = a change of 1 in χ²) of the best.  When other starts ended at a clearly higher
    loss the loss has several local minima, which a warning says.  ``n_evaluations`` is the sum
    of loss+gradient evaluations over all starts.
    """

    if not (isinstance(n_starts, int) and n_starts >= 1):
        raise ParameterError(f"n_starts = {n_starts!r} must be an int >= 1")
    if ensemble_start not in (None, "eki", "uki"):
        raise ParameterError(f"ensemble_start {ensemble_start!r} is not supported. Supported: eki, uki (or None)")
    if polish not in (None, "gauss_newton"):
        raise ParameterError(f"polish {polish!r} is not supported. Supported: gauss_newton (or None)")
    if not (isinstance(restarts, int) and restarts >= 0):
        raise ParameterError(f"restarts = {restarts!r} must be an int >= 0")
    if select not in SELECT_RULES:
        raise ParameterError(f"select {select!r} is not supported. Supported: {', '.join(SELECT_RULES)}")
    if not agreement >= 0:
        raise ParameterError(f"agreement = {agreement} must be >= 0")
    t0 = time.perf_counter()
    starts = [np.asarray(problem.u0, dtype=float)] if include_first_guess else []
    n_forward, n_jacobians = 0, 0
    if ensemble_start is not None and len(starts) < n_starts:
        if ensemble_start == "eki":
            ens = ensemble_kalman_inversion(problem, ensemble_size=ensemble_size, max_iterations=ensemble_iterations,
                                            seed=seed, progress=False)
        else:
            ens = unscented_kalman_inversion(problem, max_iterations=ensemble_iterations, progress=False)
        n_forward += int(ens.n_forward)
        starts.append(np.asarray(ens.u, dtype=float))
    n_draws = n_starts - len(starts)
    if n_draws > 0:
        draws = np.asarray(prior_ensemble(problem, max(n_draws, 2), jax.random.PRNGKey(seed)))
        starts += list(draws[:n_draws])
    fits, n_restarted = [], []
    for u in starts:
        f, k_restarts = _lbfgsb_with_restarts(problem, u, restarts, max_iterations=max_iterations, gtol=gtol,
                                              ftol=ftol, progress=progress)
        fits.append(f)
        n_restarted.append(k_restarts)
    n_lbfgsb = int(sum(f.n_evaluations for f in fits))
    polished = [False] * len(fits)
    if polish == "gauss_newton":
        for i, f in enumerate(fits):
            if f.converged:
                continue
            g = calibrate_gauss_newton(problem, u0=f.u, gtol=gtol, ftol=ftol, progress=False)
            n_forward += int(g.extra["n_forward"])
            n_jacobians += int(g.extra["n_jacobians"])
            if g.loss < f.loss:
                g.message = f"L-BFGS-B: {f.message}; then {g.message}"
                fits[i], polished[i] = g, True
    losses = np.array([f.loss for f in fits])
    k = select_start(losses, select, agreement)
    best = fits[k]
    k_low = int(np.argmin(losses))
    n_at_best = int(np.sum(losses <= losses[k_low] + agreement))
    table = [{"u0": u.tolist(), "theta0": np.asarray(problem.physical(jnp.asarray(u))).tolist(),
              "theta": f.theta.tolist(), "loss": float(f.loss), "data_misfit": float(f.data_misfit),
              "converged": bool(f.converged), "n_evaluations": int(f.n_evaluations), "polished": p,
              "restarts": int(nr),
              "kind": ("first guess" if (j == 0 and include_first_guess) else
                       f"{ensemble_start} mean" if (ensemble_start and j == int(include_first_guess)) else "prior draw")}
             for j, (u, f, p, nr) in enumerate(zip(starts, fits, polished, n_restarted, strict=True))]
    best.method = "multistart"
    best.history.attrs["method"] = f"multistart ({select} of {len(fits)} scipy L-BFGS-B runs: start {k})"
    best.message = (f"returned start {k} of {len(fits)} (0 = first guess; select = {select!r}, lowest loss: "
                    f"start {k_low})"
                    f"{'' if include_first_guess else ' (prior draws only)'}; {n_at_best} of {len(fits)} "
                    f"ended within {agreement:g} of the lowest loss; its run: {best.message}")
    if n_at_best < len(fits):
        others = sorted(float(x) for x in losses if x > losses[k_low] + agreement)
        best.extra["warnings"].append(
            f"{len(fits) - n_at_best} of {len(fits)} starts ended at a higher loss ({', '.join(f'{x:.6g}' for x in others)} "
            f"vs {losses[k_low]:.6g}): the loss has other local minima or rough stretches")
    best.n_evaluations = n_lbfgsb
    best.wall_time = time.perf_counter() - t0
    best.extra.update(starts=table, best_start=k, lowest_start=k_low, n_at_best=n_at_best, select=select,
                      n_hvp=int(sum(f.extra.get("n_hvp", 0) for f in fits)))
    if ensemble_start is not None or polish is not None:
        best.extra.update(n_forward=n_forward, n_jacobians=n_jacobians)
    return best


#: rules of :func:`select_start`
SELECT_RULES = ("lowest", "earliest")


def select_start(losses, select: str = "lowest", agreement: float = 0.5) -> int:
    """Index of the start a multistart returns, from the starts' final losses (in start order).

    ``"lowest"``: the lowest loss.  ``"earliest"``: the first start whose loss is within
    ``agreement`` of the lowest (losses that differ by less than the noise, 0.5 = a change of 1
    in χ², are equally good fits; the earlier start — the first guess, then the ensemble mean —
    is preferred over prior draws).
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ParameterError(f"losses must be a non-empty 1-D sequence, got shape {losses.shape}")
    if select == "lowest":
        return int(np.argmin(losses))
    if select == "earliest":
        return int(np.flatnonzero(losses <= np.min(losses) + agreement)[0])
    raise ParameterError(f"select {select!r} is not supported. Supported: {', '.join(SELECT_RULES)}")


def _lbfgsb_with_restarts(problem, u0, restarts: int, **kwargs):
    """``(fit, n_restarts)``: L-BFGS-B from ``u0``, run again from its end point (fresh memory)
    while it has not converged, a restart lowers the loss and fewer than ``restarts`` were made;
    ``fit.n_evaluations`` counts every run's evaluations, ``fit.message`` names the restarts."""
    fit = calibrate_scipy(problem, u0=u0, **kwargs)
    total, done = fit.n_evaluations, 0
    while not fit.converged and done < restarts:
        again = calibrate_scipy(problem, u0=fit.u, **kwargs)
        total += again.n_evaluations
        done += 1
        if not again.loss < fit.loss:
            fit.message += f"; restart {done} did not lower the loss ({again.loss:.8g}): {again.message}"
            break
        again.message = f"restart {done} from the end point of: {fit.message}; then {again.message}"
        fit = again
    fit.n_evaluations = int(total)
    return fit, done


def calibrate_gauss_newton(
    problem: Problem,
    *,
    u0=None,
    max_iterations: int = 50,
    gtol: float = 1e-6,
    ftol: float = 1e-12,
    decrement_tol: float = 1e-3,
    damping: float = 1e-3,
    progress: bool | None = None,
) -> CalibrationResult:
    """Gauss–Newton / Levenberg–Marquardt in unconstrained space (:mod:`.gauss_newton`).

    Each accepted step costs one Jacobian of the whitened residuals (n forward-mode passes
    through the model run, no adjoint) and each trial step one forward run.
    ``n_evaluations`` counts the Jacobians; ``extra["n_forward"]`` the trial forward runs,
    ``extra["n_jacobians"]``, ``extra["n_rejected"]``; the history has ``n_jacobians`` and
    ``n_forward`` per iteration.  Needs forward-mode AD of the model (not a ``custom_vjp``-only
    external model).
    """
    t0 = time.perf_counter()
    u_start = np.asarray(problem.u0 if u0 is None else u0, dtype=float)
    bar = _Progress(progress, max_iterations, "calibrate (gauss_newton)")
    try:
        out = gauss_newton_loop(problem, u_start, max_iterations=max_iterations, gtol=gtol, ftol=ftol,
                                decrement_tol=decrement_tol, damping=damping,
                                callback=lambda row: bar.update(row["n_jacobians"] - 1, row["loss"],
                                                                row["gradient_norm"]))
    finally:
        bar.close()
    rows = out["rows"]
    for r in rows:
        r["n_evaluations"] = r["n_jacobians"]
    result = _finish(problem, "gauss_newton", out["u"], rows, out["n_jacobians"], out["converged"],
                     out["message"], t0)
    for key, long_name in (("n_jacobians", "cumulative Jacobians of the residuals (n forward-mode passes each)"),
                           ("n_forward", "cumulative trial forward runs")):
        result.history[key] = ("iteration", np.array([r[key] for r in rows], int), {"units": "1", "long_name": long_name})
    result.extra.update(n_forward=int(out["n_forward"]), n_jacobians=int(out["n_jacobians"]),
                        n_rejected=int(out["n_rejected"]))
    return result


def calibrate(problem: Problem, method: str = "scipy_lbfgsb", **kwargs) -> CalibrationResult:
    """Dispatch on ``method`` (one of :data:`METHODS`); ``learning_rate`` configures Adam; the
    other keywords go to the method's function (``calibrate_scipy``, ``calibrate_optax``,
    :func:`calibrate_trust_region`, :func:`calibrate_hybrid`, :func:`calibrate_multistart`,
    :func:`calibrate_gauss_newton`)."""
    import optax

    if method == "scipy_lbfgsb":
        return calibrate_scipy(problem, method="L-BFGS-B", **kwargs)
    if method in ("optax_lbfgs", "optax_adam"):
        space = kwargs.pop("space", "unconstrained")
        if space != "unconstrained":
            raise ParameterError(
                f"space {space!r} is not supported by method {method!r} (optax works on the "
                "unconstrained u); use method 'scipy_lbfgsb' for space 'physical'")
    if method == "optax_lbfgs":
        kwargs.pop("learning_rate", None)
        return calibrate_optax(problem, optax.lbfgs(), method=method, **kwargs)
    if method == "optax_adam":
        lr = kwargs.pop("learning_rate", 1e-2)
        return calibrate_optax(problem, optax.adam(lr), method=method, **kwargs)
    if method in ("trust_region", "hybrid", "multistart", "gauss_newton"):
        kwargs.pop("learning_rate", None)
        if kwargs.pop("space", "unconstrained") != "unconstrained":
            raise ParameterError(f"method {method!r} works in space 'unconstrained' only; use "
                                 "'scipy_lbfgsb' for space 'physical'")
        fn = {"trust_region": calibrate_trust_region, "hybrid": calibrate_hybrid,
              "multistart": calibrate_multistart, "gauss_newton": calibrate_gauss_newton}[method]
        return fn(problem, **kwargs)
    raise ParameterError(f"method {method!r} is not supported. Supported methods: {', '.join(METHODS)}")
