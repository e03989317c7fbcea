"""Unscented Kalman inversion: exact Gaussian posterior on a linear-Gaussian map, agreement with
the adjoint optimum and the Laplace covariance on the toy diffusion map, errors for bad settings."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration import Case, Problem, calibrate_scipy, unscented_kalman_inversion
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.calibration.uki import _sigma_forward, sigma_points
from pyclimaocean.inference import laplace
from pyclimaocean.inference.laplace import hessian
from pyclimaocean.params import Parameter, ParameterError, ParameterSet, Prior

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth", "flux_gain")


class LinearMap(eqx.Module):
    """𝒢(a, b, c) = A [a, b, c]ᵀ reshaped to (time, z) = (4, 5)."""

    a: jax.Array
    b: jax.Array
    c: jax.Array
    design: jax.Array


def simulate_linear(model):
    return {"T": (model.design @ jnp.stack([model.a, model.b, model.c])).reshape(4, 5)}


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3))
    truth = np.array([0.5, -1.0, 2.0])
    sigma = 0.3
    ds = xr.Dataset(coords={"time": np.arange(1.0, 5.0), "z": -np.arange(5.0)[::-1] - 0.5})
    ds["T"] = (("time", "z"), (A @ truth).reshape(4, 5) + sigma * rng.normal(size=(4, 5)), {"error_std": sigma})
    model = LinearMap(*map(jnp.asarray, truth), jnp.asarray(A))
    case = Case.from_dataset(model, simulate_linear, ds, model_times=ds.time.values, model_z=ds.z.values)
    # unbounded parameters (identity transform) with normal priors: the u-space prior is Gaussian
    params = ParameterSet({k: Parameter(jnp.asarray(0.0), prior=Prior.make("normal", loc=0.0, scale=1.5))
                           for k in "abc"})
    return Problem(params, case), A, sigma


@pytest.mark.slow  # 2.6 s measured (fast tier: pytest -m 'not slow')
def test_linear_gaussian_uki_is_the_exact_posterior(linear):
    problem, A, sigma = linear
    res = unscented_kalman_inversion(problem, max_iterations=50, progress=False)
    lap = laplace(problem, num_samples=10)
    exact_cov = np.linalg.inv(A.T @ A / sigma**2 + np.eye(3) / 1.5**2)
    np.testing.assert_allclose(lap.diagnostics["u_covariance"], exact_cov, rtol=1e-8)
    np.testing.assert_allclose(res.covariance, exact_cov, rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(res.u, lap.u_map, rtol=1e-8, atol=1e-12)
    assert res.extra["prior"] == "gaussian prior in u-space (exact)"
    # without the prior: the least-squares solution and (AᵀΓ⁻¹A)⁻¹
    ls = unscented_kalman_inversion(problem.with_regularization("none"), max_iterations=50, progress=False)
    y = np.asarray(problem.y)
    np.testing.assert_allclose(ls.u, np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-8)
    np.testing.assert_allclose(ls.covariance, np.linalg.inv(A.T @ A) * sigma**2, rtol=1e-8)
    # bookkeeping: 2n+1 = 7 runs per iteration, +1 for the last mean's misfit
    h = res.history
    assert res.n_forward == h["n_forward"].values[-1] == 50 * 7 + 1
    np.testing.assert_array_equal(np.diff(h["n_forward"].values[:-1]), 7)
    assert h["covariance"].dims == ("iteration", "parameter", "parameter_b")
    np.testing.assert_allclose(h["data_misfit"].values[-1], float(problem.data_misfit(jnp.asarray(res.u))))


def test_update_freq_refreshes_sigma_omega_at_predictions_k_2k(linear):
    """Linear map, no prior, α = 1: each UKI iteration is an exact Kalman update with
    Ĉ = C_n + Σ_ω and Σ_ν = 2Γ.  With update_freq = 2, Σ_ω is C₀ for predictions 1 and (again
    refreshed from C₁) … — the recursion written out here: predictions 2 and 4 refresh."""
    problem, A, sigma = linear
    problem = problem.with_regularization("none")
    c0 = np.diag([0.5, 2.0, 1.0])
    gamma2 = 2.0 * sigma**2 * np.eye(A.shape[0])

    def expected(k, n):
        cov, omega = c0, c0
        for p in range(1, n + 1):
            if k > 0 and p % k == 0:
                omega = cov
            c_hat = cov + omega
            gain = c_hat @ A.T @ np.linalg.inv(A @ c_hat @ A.T + gamma2)
            cov = c_hat - gain @ A @ c_hat
        return cov

    for k in (0, 1, 2, 3):
        res = unscented_kalman_inversion(problem, max_iterations=5, update_freq=k,
                                         initial_mean=np.zeros(3), initial_covariance=c0,
                                         progress=False)
        np.testing.assert_allclose(res.covariance, expected(k, 5), rtol=1e-9)
    assert not np.allclose(expected(2, 5), expected(3, 5), rtol=1e-3)  # the phase matters


def test_sigma_points_are_batched_and_match_a_loop(linear):
    problem, _, _ = linear
    pts = sigma_points(jnp.zeros(3), jnp.diag(jnp.array([1.0, 2.0, 3.0])), 2.0)
    assert pts.shape == (7, 3)
    np.testing.assert_allclose(pts[1:4] - pts[0], 2.0 * np.diag(np.sqrt([1.0, 2.0, 3.0])))
    batched = np.asarray(_sigma_forward(problem, pts))
    np.testing.assert_allclose(batched, np.stack([np.asarray(problem.forward(p)) for p in pts]), rtol=1e-12)


@pytest.fixture(scope="module")
def toy():
    p, _ = diffusion_twin(controls=CONTROLS, regularization="none", noise_std=2e-3,
                          first_guess={"kappa_surface": 0.01, "mixing_depth": 15.0, "kappa_background": 3e-4})
    return p


@pytest.mark.slow  # 3.8 s measured (fast tier: pytest -m 'not slow')
def test_uki_reaches_the_adjoint_optimum_and_laplace_covariance(toy):
    """Nonlinear toy map, 4 parameters, data misfit only: the UKI mean lands on the L-BFGS-B
    optimum to 0.01 posterior standard deviations and its covariance gives the Laplace
    (Gauss–Newton, and to 2 % the exact-Hessian) standard deviations."""
    adj = calibrate_scipy(toy, gtol=1e-9, progress=False)
    res = unscented_kalman_inversion(toy, max_iterations=25, progress=False)
    H_gn = hessian(toy, adj.u, which="data", method="gauss_newton")
    H = hessian(toy, adj.u, which="data", method="dense")
    std_gn = np.sqrt(np.diag(np.linalg.inv(H_gn)))
    std = np.sqrt(np.diag(np.linalg.inv(H)))
    assert np.all(np.abs(res.u - adj.u) / std_gn < 0.01), (res.u, adj.u, std_gn)
    np.testing.assert_allclose(res.std, std_gn, rtol=0.01)
    np.testing.assert_allclose(res.std, std, rtol=0.02)
    assert res.data_misfit <= adj.data_misfit + 1e-3
    assert res.history["data_misfit"].values[0] > 100 * res.data_misfit  # it started far away
    s = res.summary()
    assert s["method"] == "uki" and s["n_forward_runs"] == 25 * 9 + 1 and s["ensemble_size"] == 9
    # stopping at a target misfit (optimum + 0.5) reports convergence
    target = adj.data_misfit + 0.5
    early = unscented_kalman_inversion(toy, max_iterations=25, target_misfit=target, progress=False)
    assert early.converged and early.data_misfit <= target and early.n_forward < res.n_forward


def test_uki_bad_settings(linear):
    problem, _, _ = linear
    with pytest.raises(ParameterError, match="max_iterations = 0"):
        unscented_kalman_inversion(problem, max_iterations=0)
    with pytest.raises(ParameterError, match=r"alpha_reg = 1.5 must be in \(0, 1\]"):
        unscented_kalman_inversion(problem, alpha_reg=1.5)
    with pytest.raises(ParameterError, match="use alpha_reg = 1"):
        unscented_kalman_inversion(problem, alpha_reg=0.5)  # a prior is imposed
    with pytest.raises(ParameterError, match="update_freq = -1"):
        unscented_kalman_inversion(problem, update_freq=-1)
    with pytest.raises(ParameterError, match="prior = 'gauss' is not supported"):
        unscented_kalman_inversion(problem, prior="gauss")
    with pytest.raises(ParameterError, match=r"initial_covariance has shape \(2, 2\)"):
        unscented_kalman_inversion(problem, initial_covariance=np.eye(2))
    with pytest.raises(ParameterError, match="positive definite"):
        unscented_kalman_inversion(problem, initial_covariance=np.diag([1.0, 0.0, 1.0]))
    with pytest.raises(ParameterError, match=r"initial_mean has shape \(2,\)"):
        unscented_kalman_inversion(problem, initial_mean=np.zeros(2))
    with pytest.raises(ParameterError, match="prior \\(mean, covariance\\) has shapes"):
        unscented_kalman_inversion(problem, prior=(np.zeros(3), np.eye(2)))
    # α < 1 without a prior is allowed (Tikhonov-like regularisation towards m₀) and runs
    res = unscented_kalman_inversion(problem.with_regularization("none"), alpha_reg=0.9, max_iterations=3,
                                     progress=False)
    assert res.n_forward == 3 * (7 + 1) + 1


@pytest.mark.slow  # 2.7 s measured (fast tier: pytest -m 'not slow')
def test_priors_spilling_past_the_bounds_are_truncated_not_clipped(linear):
    """normal(0.5, 0.5) on [0, 1]: the u = logit-type T⁻¹(θ) moments of the *truncated*
    normal (scipy.stats.truncnorm, quadrature) — clipping would put atoms at the bounds
    whose images are at |u| ~ 20 and blow the variance up by ~50x."""
    import jax
    from scipy import integrate
    from scipy.stats import truncnorm

    from pyclimaocean.calibration import prior_ensemble
    from pyclimaocean.calibration.uki import gaussian_prior
    from pyclimaocean.inference.results import prior_samples

    problem, _, _ = linear
    p = Parameter(jnp.asarray(0.5), lower=0.0, upper=1.0, prior=Prior.make("normal", loc=0.5, scale=0.5))
    params = ParameterSet({"a": p, "b": problem.parameters["b"], "c": problem.parameters["c"]})
    bounded = problem.with_parameters(params)
    ref = truncnorm(-1.0, 1.0, loc=0.5, scale=0.5)
    to_u = lambda x: float(p.to_unconstrained(jnp.asarray(x)))  # noqa: E731
    m1 = integrate.quad(lambda x: to_u(x) * ref.pdf(x), 0, 1, limit=200)[0]
    m2 = integrate.quad(lambda x: to_u(x) ** 2 * ref.pdf(x), 0, 1, limit=200)[0]
    mean, var, exact = gaussian_prior(bounded, num_samples=20000)
    assert not exact[0]
    np.testing.assert_allclose(mean[0], m1, atol=0.05)
    np.testing.assert_allclose(var[0], m2 - m1**2, rtol=0.05)
    theta = prior_samples(bounded, 20000, jax.random.PRNGKey(3))[:, 0]
    assert 0.0 < theta.min() and theta.max() < 1.0
    np.testing.assert_allclose(theta.var(), ref.var(), rtol=0.05)
    ens = np.asarray(prior_ensemble(bounded, 4000, jax.random.PRNGKey(4)))[:, 0]
    np.testing.assert_allclose(ens.var(), m2 - m1**2, rtol=0.1)
    # bounds that hold no prior mass: a clear error naming the parameter
    far = Parameter(jnp.asarray(0.5), lower=0.0, upper=1.0, prior=Prior.make("normal", loc=100.0, scale=1.0))
    with pytest.raises(ParameterError, match="a: .*no mass inside the bounds"):
        prior_samples(problem.with_parameters(ParameterSet({"a": far, "b": params["b"], "c": params["c"]})),
                      10, jax.random.PRNGKey(0))
