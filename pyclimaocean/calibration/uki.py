"""Unscented Kalman inversion (UKI; Huang, Schneider & Stuart 2022, J. Comput. Phys. 463,
111262) in unconstrained space.

UKI treats the inverse problem y = 𝒢(u) + η, η ~ N(0, Γ), as the filtering problem of the
stochastic dynamical system (eqs. 3.1–3.2 of the paper)::

    u_{n+1} = r + α (u_n − r) + ω_{n+1},      ω ~ N(0, Σ_ω)
    y_{n+1} = 𝒢(u_{n+1}) + ν_{n+1},           ν ~ N(0, Σ_ν)

and applies the unscented Kalman filter to it.  One iteration, for a Gaussian N(m_n, C_n):

* prediction:  m̂ = r + α (m_n − r),   Ĉ = α² C_n + Σ_ω;
* sigma points (2n + 1, all forward runs batched with ``vmap``): û⁰ = m̂,
  û^{±j} = m̂ ± c [√Ĉ]_j (j = 1..n, √Ĉ the Cholesky factor);
* analysis (modified unscented transform: the predicted mean is ĝ = 𝒢(û⁰))::

      Ĉ^{ug} = Σ_j W_j (û^j − m̂)(𝒢(û^j) − ĝ)ᵀ,     Ĉ^{gg} = Σ_j W_j (𝒢(û^j) − ĝ)(·)ᵀ + Σ_ν
      m_{n+1} = m̂ + Ĉ^{ug} (Ĉ^{gg})⁻¹ (y − ĝ),        C_{n+1} = Ĉ − Ĉ^{ug} (Ĉ^{gg})⁻¹ (Ĉ^{ug})ᵀ

Choices follow the paper and EnsembleKalmanProcesses.jl's ``Unscented`` process: Σ_ν = 2Γ,
Σ_ω = (2 − α²) C_n (``update_freq = 1``; ``update_freq = 0`` keeps Σ_ω = (2 − α²) C₀), r = m₀;
unscented scaling a = min(√(4/n), 1), κ = 0, λ = a²(n + κ) − n, c = √(n + λ), weights
W_j = 1/(2(n + λ)) for j ≠ 0 (the central point does not contribute to covariances here).

With α = 1 and ``update_freq = 1`` the prediction gives Ĉ = 2C_n, so for a linear 𝒢(u) = Gu
the iteration C_{n+1}⁻¹ = ½ C_n⁻¹ + ½ GᵀΓ⁻¹G converges geometrically (rate ½) to
C_∞ = (GᵀΓ⁻¹G)⁻¹ and m_n to the least-squares solution: the Laplace (Gauss–Newton) posterior of
the data misfit.  For nonlinear 𝒢 the mean converges to a stationary point of an averaged
(secant) misfit, close to the minimiser when C_∞ is small.

**Priors.**  A Gaussian prior N(m_p, C_p) in u-space is imposed exactly as extra observations
(the augmented system of the paper, and EnsembleKalmanProcesses' ``impose_prior``)::

    𝒢̃(u) = [𝒢(u); u],   ỹ = [y; m_p],   Γ̃ = blockdiag(Γ, C_p)

so the fixed point is the Gaussian posterior (exact for linear 𝒢 with a Gaussian u-space
prior: C_∞ = (GᵀΓ⁻¹G + C_p⁻¹)⁻¹).  ``prior="auto"`` takes it from the problem's regularisation:
``"none"`` → no prior (data misfit only); ``"ridge"`` → N(u₀, I/λ) (exactly the ridge term);
``"prior"``/``"physical"`` → each parameter's prior pushed to u-space, approximated by a
Gaussian: exact for a ``normal`` prior with the identity transform and for a ``lognormal``
prior with the log transform and lower bound 0; otherwise its mean and variance are estimated
from 4096 prior draws (no forward runs).  ``extra["prior_exact"]`` says which case held.

Cost: 2n + 1 forward runs per iteration, independent of the data size.  With α = 1 the
central sigma point of iteration k + 1 *is* the mean m_k, so the data misfit of every mean
comes for free; one more forward run gives the misfit of the last mean.  (With α < 1 the
misfit of each mean costs one extra run.)  All runs are counted in ``n_forward``.
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

from ..kalman import anomaly_covariances, gaussian_update
from ..params import ParameterError, ParameterSet
from .problem import Problem, sample_truncated_prior
from .progress import Progress as _Progress

__all__ = ["UKIResult", "unscented_kalman_inversion", "gaussian_prior", "sigma_points", "uki_analysis"]

PRIOR_OPTIONS = ("auto", "none")


@eqx.filter_jit
def _sigma_forward(problem: Problem, points):
    return jax.vmap(problem.forward)(points)


@eqx.filter_jit
def _forward(problem: Problem, u):
    return problem.forward(u)


def _scaling(n: int) -> tuple[float, float]:
    """(c, W): sigma-point scale c = √(n + λ) and covariance weight W = 1/(2(n + λ))."""
    a = min(math.sqrt(4.0 / n), 1.0)
    lam = a**2 * n - n  # κ = 0
    return math.sqrt(n + lam), 1.0 / (2.0 * (n + lam))


@jax.jit
def sigma_points(mean, cov, c):
    """The 2n + 1 sigma points ``(2n + 1, n)`` of N(mean, cov): mean, mean ± c [√cov]_j."""
    chol = jnp.linalg.cholesky(0.5 * (cov + cov.T))
    return jnp.concatenate([mean[None, :], mean[None, :] + c * chol.T, mean[None, :] - c * chol.T])


@jax.jit
def uki_analysis(points, g, y, noise_cov, weight):
    """UKI analysis step (modified unscented transform, module docstring).

    Args:
        points: ``(2n + 1, n)`` sigma points (row 0 the predicted mean m̂).
        g: ``(2n + 1, m)`` forward values at the sigma points.
        y: ``(m,)`` observations; noise_cov: Σ_ν ``(m, m)``; weight: W of the non-central points.

    Returns ``(mean (n,), cov (n, n))`` of the analysis
    (:func:`pyclimaocean.kalman.gaussian_update` with the sigma-point covariances).
    """
    du = points[1:] - points[0]
    dg = g[1:] - g[0]
    c_ug, c_gg, c_uu = anomaly_covariances(du, dg, weight)
    return gaussian_update(points[0], c_uu, c_ug, c_gg + noise_cov, y - g[0])


def gaussian_prior(problem: Problem, *, num_samples: int = 4096, seed: int = 0):
    """Gaussian N(m_p, diag(v_p)) for the problem's priors pushed to u-space.

    Returns ``(mean (n,), var (n,), exact (n,) bool)``: exact for ``normal`` priors with the
    identity transform and ``lognormal`` priors with the log transform at lower bound 0;
    otherwise moments of ``num_samples`` prior draws mapped by T⁻¹ (the prior truncated to the bounds).
    """
    means, variances, exact = [], [], []
    key = jax.random.PRNGKey(seed)
    for i, name in enumerate(problem.names):
        p = problem.parameters[name]
        prior = p.prior
        t = p.effective_transform
        if prior is not None and (
            (prior.kind == "normal" and t == "identity")
            or (prior.kind == "lognormal" and t == "log" and p.lower == 0.0 and math.isinf(p.upper))
        ):
            k = prior.kwargs
            means.append(k["loc"])
            variances.append(k["scale"] ** 2)
            exact.append(True)
            continue
        theta = sample_truncated_prior(p, jax.random.fold_in(key, i), num_samples, name)
        u = np.asarray(jax.vmap(p.to_unconstrained)(jnp.asarray(theta)))
        means.append(float(np.mean(u)))
        variances.append(float(np.var(u, ddof=1)))
        exact.append(False)
    return np.array(means), np.array(variances), np.array(exact)


@dataclass
class UKIResult:
    """Outcome of UKI (see :func:`unscented_kalman_inversion`).

    Attributes:
        u, theta: final mean m in unconstrained space and T(m) in physical units ``(n,)``.
        covariance: final C ``(n, n)`` in unconstrained space (the Gaussian posterior
            approximation in u-space; see the module docstring for when it is exact).
        history: Dataset over ``iteration`` with the data misfit at the mean, the mean
            (physical and unconstrained), the u-space standard deviations and covariance, and
            the cumulative number of forward runs.
        n_forward: forward runs used (2n + 1 per iteration, +1 for the final misfit).
    """

    u: np.ndarray
    theta: np.ndarray
    parameters: ParameterSet
    data_misfit: float
    covariance: np.ndarray
    history: xr.Dataset
    n_forward: int
    converged: bool
    message: str
    wall_time: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def std(self) -> np.ndarray:
        """u-space standard deviations √diag(C) ``(n,)``."""
        return np.sqrt(np.diag(self.covariance))

    def summary(self) -> dict[str, Any]:
        names = self.parameters.names
        return {
            "method": "uki",
            "parameters": {n: float(v) for n, v in zip(names, self.theta, strict=True)},
            "u_std": {n: float(v) for n, v in zip(names, self.std, strict=True)},
            "data_misfit": float(self.data_misfit),
            "n_iterations": int(self.history.sizes["iteration"] - 1),
            "n_forward_runs": int(self.n_forward),
            "ensemble_size": 2 * len(self.u) + 1,
            "converged": bool(self.converged),
            "prior": self.extra.get("prior", "none"),
            "message": self.message,
            "wall_time_s": float(self.wall_time),
        }


def _resolve_prior(problem: Problem, prior):
    """(prior mean, prior covariance, description, exact flags) or (None, None, 'none', None)."""
    if isinstance(prior, str):
        if prior not in PRIOR_OPTIONS:
            raise ParameterError(
                f"prior = {prior!r} is not supported. Supported: 'auto', 'none' or a tuple "
                "(mean (n,), covariance (n, n)) in unconstrained space"
            )
        if prior == "none" or problem.regularization == "none":
            return None, None, "none", None
        n = problem.n_parameters
        if problem.regularization == "ridge":
            return (np.asarray(problem.u0), np.eye(n) / problem.ridge_weight, "ridge", np.ones(n, bool))
        m, v, exact = gaussian_prior(problem)
        desc = "gaussian prior in u-space (exact)" if exact.all() else "gaussian approximation of the prior in u-space"
        return m, np.diag(v), desc, exact
    try:
        m, C = prior
    except (TypeError, ValueError):
        raise ParameterError("prior must be 'auto', 'none' or a tuple (mean, covariance)") from None
    m, C = np.asarray(m, float), np.asarray(C, float)
    n = problem.n_parameters
    if m.shape != (n,) or C.shape != (n, n):
        raise ParameterError(f"prior (mean, covariance) has shapes {m.shape}, {C.shape}; expected ({n},), ({n}, {n})")
    _check_spd(C, "prior covariance")
    return m, C, "user Gaussian", np.ones(n, bool)


def _check_spd(C: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(C)) or not np.allclose(C, C.T, rtol=1e-10, atol=0):
        raise ParameterError(f"{what} must be a finite symmetric matrix")
    lam = np.linalg.eigvalsh(C)
    if not lam[0] > 0:
        raise ParameterError(f"{what} must be positive definite; smallest eigenvalue {lam[0]:.3g}")


def unscented_kalman_inversion(
    problem: Problem,
    *,
    max_iterations: int = 20,
    alpha_reg: float = 1.0,
    update_freq: int = 1,
    prior="auto",
    initial_mean=None,
    initial_covariance=None,
    target_misfit: float | None = None,
    ftol: float = 0.0,
    progress: bool | None = None,
) -> UKIResult:
    """Run UKI on ``problem`` (derivative-free; 2n + 1 forward runs per iteration via ``vmap``).

    Args:
        max_iterations: number of UKI updates (≥ 1).
        alpha_reg: α ∈ (0, 1]; α < 1 regularises towards r = m₀ (only without a prior).
        update_freq: Σ_ω = (2 − α²) C_n is refreshed at predictions ``update_freq``,
            ``2 update_freq``, … (counted from 1, as EnsembleKalmanProcesses does); 0 keeps
            (2 − α²) C₀ (for non-identifiable problems; C then measures sensitivity only).
        prior: ``"auto"`` (from ``problem.regularization``; module docstring), ``"none"``, or
            ``(mean (n,), covariance (n, n))`` of a Gaussian prior in u-space.
        initial_mean: m₀ ``(n,)`` in u-space (default: the first guess ``problem.u0``).
        initial_covariance: C₀ ``(n, n)`` (default: the prior's covariance in u-space, or the
            Gaussian approximation of the parameters' priors when no prior is imposed).
        target_misfit: stop when the data misfit ½‖Γ^{-1/2}(𝒢(m) − y)‖² at the mean is ≤ this.
        ftol: stop when the relative decrease of that misfit is in [0, ftol] (0 disables).
    """
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise ParameterError(f"max_iterations = {max_iterations!r} must be an int >= 1")
    if not (0.0 < alpha_reg <= 1.0):
        raise ParameterError(f"alpha_reg = {alpha_reg} must be in (0, 1]")
    if not (isinstance(update_freq, int) and update_freq >= 0):
        raise ParameterError(f"update_freq = {update_freq!r} must be an int >= 0")
    if not ftol >= 0:
        raise ParameterError(f"ftol = {ftol} must be >= 0")
    t0 = time.perf_counter()
    n = problem.n_parameters
    m_p, C_p, prior_desc, exact = _resolve_prior(problem, prior)
    if m_p is not None and alpha_reg != 1.0:
        raise ParameterError(
            f"alpha_reg = {alpha_reg} regularises towards the initial mean; with a prior imposed "
            "(prior = 'auto' and a regularised problem, or a user prior) use alpha_reg = 1, or prior = 'none'"
        )
    mean = np.asarray(problem.u0 if initial_mean is None else initial_mean, dtype=float)
    if mean.shape != (n,) or not np.all(np.isfinite(mean)):
        raise ParameterError(f"initial_mean has shape {mean.shape} (or is not finite); expected ({n},)")
    if initial_covariance is not None:
        cov = np.asarray(initial_covariance, dtype=float)
        if cov.shape != (n, n):
            raise ParameterError(f"initial_covariance has shape {cov.shape}; expected ({n}, {n})")
        _check_spd(cov, "initial_covariance")
    elif C_p is not None:
        cov = C_p.copy()
    else:
        try:
            cov = np.diag(gaussian_prior(problem)[1])
        except ParameterError as err:
            raise ParameterError(f"{err}; or give initial_covariance") from None
    y = problem.y
    gamma = problem.noise_covariance()
    if m_p is not None:
        y_aug = jnp.concatenate([y, jnp.asarray(m_p)])
        noise = 2.0 * jax.scipy.linalg.block_diag(gamma, jnp.asarray(C_p))
    else:
        y_aug, noise = y, 2.0 * gamma
    c, weight = _scaling(n)
    r = mean.copy()
    sigma_omega = (2.0 - alpha_reg**2) * cov

    def misfit_from(g):
        res = problem.residuals_from_prediction(g)
        return float(0.5 * jnp.sum(res**2))

    rows: list[dict[str, Any]] = []
    n_forward = 0
    bar = _Progress(progress, max_iterations, "calibrate (UKI)")
    converged = False
    message = f"reached max_iterations = {max_iterations}"

    def add_row(m, C, misfit):
        rows.append({"u": np.asarray(m), "cov": np.asarray(C), "misfit": misfit, "n": n_forward,
                     "t": time.perf_counter() - t0})

    def stop_reason(it):
        m = rows[-1]["misfit"]
        if target_misfit is not None and m <= target_misfit:
            return f"data misfit {m:.6g} <= target {target_misfit:.6g}"
        if it > 0 and ftol > 0:
            prev = rows[-2]["misfit"]
            if 0 <= (prev - m) / max(abs(prev), abs(m), 1.0) <= ftol:
                return f"relative misfit decrease <= ftol = {ftol}"
        return None

    try:
        for it in range(max_iterations + 1):
            # misfit of the current mean: free from the central sigma point when α = 1
            if it == max_iterations or alpha_reg != 1.0:
                g_mean = _forward(problem, jnp.asarray(mean))
                n_forward += 1
                add_row(mean, cov, misfit_from(g_mean))
                reason = stop_reason(it)
                if it == max_iterations or reason:
                    converged, message = (True, reason) if reason else (converged, message)
                    break
            # prediction number it + 1 refreshes Σ_ω when it is a multiple of update_freq
            # (EnsembleKalmanProcesses' Unscented process counts predictions the same way)
            if update_freq > 0 and (it + 1) % update_freq == 0:
                sigma_omega = (2.0 - alpha_reg**2) * cov
            m_hat = alpha_reg * mean + (1.0 - alpha_reg) * r
            c_hat = alpha_reg**2 * cov + sigma_omega
            points = sigma_points(jnp.asarray(m_hat), jnp.asarray(c_hat), c)
            if not bool(jnp.all(jnp.isfinite(points))):
                message = (f"the predicted covariance is not positive definite at iteration {it}; "
                           "stopped (check the problem scaling or initial_covariance)")
                if alpha_reg == 1.0:
                    g_mean = _forward(problem, jnp.asarray(mean))
                    n_forward += 1
                    add_row(mean, cov, misfit_from(g_mean))
                break
            g = _sigma_forward(problem, points)
            n_forward += 2 * n + 1
            if alpha_reg == 1.0:
                add_row(mean, cov, misfit_from(g[0]))
                if it > 0:
                    bar.update(it, rows[-1]["misfit"], float(np.sqrt(np.mean(np.diag(cov)))))
                reason = stop_reason(it)
                if reason:
                    converged, message = True, reason
                    break
            if not bool(jnp.all(jnp.isfinite(g))):
                bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(g)), axis=1))
                message = (f"non-finite forward runs for sigma points {bad.tolist()} at iteration {it + 1}; "
                           "stopped (narrow initial_covariance or the prior)")
                break
            g_aug = jnp.concatenate([g, points], axis=1) if m_p is not None else g
            new_mean, new_cov = uki_analysis(points, g_aug, y_aug, noise, weight)
            mean, cov = np.asarray(new_mean), np.asarray(new_cov)
    finally:
        bar.close()
    history = _history(problem, rows, alpha_reg, update_freq, prior_desc)
    u = rows[-1]["u"]
    theta = np.asarray(problem.physical(jnp.asarray(u)))
    return UKIResult(
        u=np.asarray(u), theta=theta, parameters=problem.parameter_set(jnp.asarray(theta)),
        data_misfit=rows[-1]["misfit"], covariance=rows[-1]["cov"], history=history,
        n_forward=n_forward, converged=converged, message=message, wall_time=time.perf_counter() - t0,
        extra={"prior": prior_desc, "prior_exact": None if exact is None else exact.tolist()},
    )


def _history(problem: Problem, rows, alpha_reg, update_freq, prior_desc) -> xr.Dataset:
    names = list(problem.names)
    mean_u = np.stack([r["u"] for r in rows])
    covs = np.stack([r["cov"] for r in rows])
    std = np.sqrt(np.stack([np.diag(C) for C in covs]))
    return xr.Dataset(
        {
            "data_misfit": ("iteration", np.array([r["misfit"] for r in rows]),
                            {"units": "1", "long_name": "data misfit at the UKI mean"}),
            "n_forward": ("iteration", np.array([r["n"] for r in rows]),
                          {"units": "1", "long_name": "cumulative forward runs"}),
            "wall_time": ("iteration", np.array([r["t"] for r in rows]), {"units": "s"}),
            "parameters": (("iteration", "parameter"), np.asarray(problem.physical(jnp.asarray(mean_u))),
                           {"long_name": "T(UKI mean) in physical units"}),
            "unconstrained": (("iteration", "parameter"), mean_u, {"units": "1"}),
            "unconstrained_std": (("iteration", "parameter"), std,
                                  {"units": "1", "long_name": "UKI standard deviation in unconstrained space"}),
            "covariance": (("iteration", "parameter", "parameter_b"), covs,
                           {"units": "1", "long_name": "UKI covariance in unconstrained space"}),
        },
        coords={
            "iteration": np.arange(len(rows)),
            "parameter": names,
            "parameter_b": names,
            "parameter_units": ("parameter", [problem.parameters[n].units for n in names]),
        },
        attrs={"method": "uki", "alpha_reg": float(alpha_reg), "update_freq": int(update_freq),
               "prior": prior_desc, "Conventions": "CF-1.10"},
    )
