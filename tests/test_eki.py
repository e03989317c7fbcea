"""Ensemble Kalman inversion on the toy forward map."""

import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration import calibrate_scipy, ensemble_kalman_inversion, prior_ensemble
from pyclimaocean.calibration.eki import _ensemble_forward
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import ParameterError

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth", "flux_gain")


@pytest.fixture(scope="module")
def problem():
    p, _ = diffusion_twin(controls=CONTROLS, regularization="none", noise_std=2e-3,
                          first_guess={"kappa_surface": 0.01, "mixing_depth": 15.0, "kappa_background": 3e-4})
    return p


@pytest.mark.slow  # 2.3 s measured (fast tier: pytest -m 'not slow')
def test_vmapped_ensemble_forward_equals_a_loop(problem):
    import jax

    ens = prior_ensemble(problem, 5, jax.random.PRNGKey(0))
    batched = np.asarray(_ensemble_forward(problem, ens))
    looped = np.stack([np.asarray(problem.forward(u)) for u in ens])
    np.testing.assert_allclose(batched, looped, rtol=1e-12)


@pytest.mark.slow  # 6.5 s measured (fast tier: pytest -m 'not slow')
def test_eki_reaches_the_adjoint_misfit(problem):
    adjoint = calibrate_scipy(problem, progress=False)
    target = adjoint.data_misfit + 0.5  # statistically indistinguishable: delta chi^2 = 1
    eki = ensemble_kalman_inversion(problem, ensemble_size=20, max_iterations=30, seed=0,
                                    target_misfit=target, progress=False)
    assert eki.converged, eki.message
    assert eki.data_misfit <= target
    h = eki.history
    assert h["data_misfit"].values[0] > 5 * target  # it started far away
    assert h["n_forward"].values[-1] == eki.n_forward == 1 + (h.sizes["iteration"] - 1) * 21
    assert h["ensemble"].dims == ("iteration", "member", "parameter")
    # the ensemble shrinks as it converges
    assert h["relative_spread"].values[-1] < 0.5
    print(f"EKI: {eki.n_forward} forward runs; adjoint: {adjoint.n_evaluations} gradient evaluations")


def test_eki_collapse_is_detected_and_reported(problem):
    eki = ensemble_kalman_inversion(problem, ensemble_size=8, max_iterations=200, seed=1,
                                    perturb_observations=False, collapse_tol=0.05, progress=False)
    assert eki.collapsed and "collapsed" in eki.message
    assert eki.summary()["final_relative_spread"] < 0.05


def test_eki_bad_input(problem):
    with pytest.raises(ParameterError, match="ensemble_size = 1"):
        ensemble_kalman_inversion(problem, ensemble_size=1)
    with pytest.raises(ParameterError, match="dt = 0"):
        ensemble_kalman_inversion(problem, dt=0)
    with pytest.raises(ParameterError, match="initial_ensemble has shape"):
        ensemble_kalman_inversion(problem, initial_ensemble=jnp.zeros((4, 2)))


def test_eki_update_is_the_kalman_update_for_a_linear_gaussian_problem():
    """One step with dt = 1 on 𝒢(u) = A u: the explicit gain C_ug (C_gg + Γ)⁻¹ with the
    ensemble covariances, and, for a large ensemble, the Kalman posterior of the prior
    N(m, C): mean m + C Aᵀ (A C Aᵀ + Γ)⁻¹ (y − A m) and (perturbed observations) covariance
    C − C Aᵀ (A C Aᵀ + Γ)⁻¹ A C."""
    import jax

    from pyclimaocean.calibration.eki import eki_update

    rng = np.random.default_rng(0)
    n, m, J = 3, 5, 40000
    A = rng.normal(size=(m, n))
    gamma = np.diag(rng.uniform(0.2, 0.5, m))
    m0, C = np.array([0.5, -1.0, 2.0]), np.diag([1.0, 0.5, 2.0])
    y = A @ np.array([1.0, -0.5, 1.5]) + rng.multivariate_normal(np.zeros(m), gamma)
    ens = rng.multivariate_normal(m0, C, size=J)
    g = ens @ A.T
    new = np.asarray(eki_update(jnp.asarray(ens), jnp.asarray(g), jnp.asarray(y), jnp.asarray(gamma),
                                jax.random.PRNGKey(0), 1.0, False))
    du, dg = ens - ens.mean(0), g - g.mean(0)
    c_ug, c_gg = du.T @ dg / (J - 1), dg.T @ dg / (J - 1)
    explicit = ens + (c_ug @ np.linalg.solve(c_gg + gamma, (y[None] - g).T)).T
    np.testing.assert_allclose(new, explicit, rtol=1e-10, atol=1e-12)
    K = C @ A.T @ np.linalg.inv(A @ C @ A.T + gamma)
    post_mean, post_cov = m0 + K @ (y - A @ m0), C - K @ A @ C
    se = np.sqrt(np.diag(C) / J)  # Monte Carlo error of the prior ensemble mean
    np.testing.assert_allclose(new.mean(0), post_mean, atol=5 * se.max())
    pert = np.asarray(eki_update(jnp.asarray(ens), jnp.asarray(g), jnp.asarray(y), jnp.asarray(gamma),
                                 jax.random.PRNGKey(1), 1.0, True))
    np.testing.assert_allclose(pert.mean(0), post_mean, atol=5 * se.max())
    np.testing.assert_allclose(np.cov(pert.T), post_cov, atol=0.03 * np.abs(post_cov).max())
    # without perturbations the ensemble is over-contracted (the square-root-free EnKF)
    assert np.trace(np.cov(new.T)) < 0.9 * np.trace(post_cov)
