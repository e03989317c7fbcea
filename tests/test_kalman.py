"""The shared Kalman update (:mod:`pyclimaocean.kalman`) against the explicit Kalman gain
K = P Hᵀ (H P Hᵀ + R)⁻¹ written out with numpy inverses, for a linear H."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.assimilation import ETKF, StochasticEnKF, enkf_analysis, etkf_analysis
from pyclimaocean.calibration.eki import eki_update
from pyclimaocean.calibration.uki import uki_analysis
from pyclimaocean.kalman import (
    ensemble_transform_weights,
    gaussian_update,
    kalman_gain,
    observation_perturbations,
    perturbed_observation_update,
)

jax.config.update("jax_enable_x64", True)

N, n, m = 12, 5, 3


def _linear_problem(seed=0, full_R=False):
    rng = np.random.default_rng(seed)
    ens = rng.normal(size=(N, n)) + np.arange(n)
    H = rng.normal(size=(m, n))
    y = rng.normal(size=m)
    if full_R:
        A = rng.normal(size=(m, m))
        R = A @ A.T + m * np.eye(m)
    else:
        R = np.diag(rng.uniform(0.5, 2.0, size=m))
    X = ens - ens.mean(axis=0)
    P = X.T @ X / (N - 1)
    K = P @ H.T @ np.linalg.inv(H @ P @ H.T + R)  # the explicit gain
    return ens, H, y, R, P, K


@pytest.mark.parametrize("full_R", [False, True])
def test_perturbed_observation_update_is_the_explicit_gain(full_R):
    ens, H, y, R, P, K = _linear_problem(1, full_R)
    X = ens - ens.mean(axis=0)
    Y = X @ H.T
    eps = np.asarray(observation_perturbations(jax.random.PRNGKey(0), N, jnp.asarray(R)))
    innov = y + eps - ens @ H.T
    inc = np.asarray(perturbed_observation_update(jnp.asarray(X), jnp.asarray(Y), jnp.asarray(innov),
                                                  jnp.asarray(R if full_R else np.diag(R))))
    np.testing.assert_allclose(inc, innov @ K.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.asarray(kalman_gain(jnp.asarray(P @ H.T), jnp.asarray(H @ P @ H.T + R))), K,
                               rtol=1e-10, atol=1e-12)


def test_observation_perturbations_have_the_noise_covariance():
    R = np.array([[2.0, 0.5], [0.5, 1.0]])
    eps = np.asarray(observation_perturbations(jax.random.PRNGKey(3), 200_000, jnp.asarray(R)))
    np.testing.assert_allclose(np.cov(eps.T), R, atol=0.02)
    centred = np.asarray(observation_perturbations(jax.random.PRNGKey(3), 7, jnp.asarray([1.0, 4.0]),
                                                   centred=True))
    np.testing.assert_allclose(centred.mean(axis=0), 0.0, atol=1e-14)


def test_ensemble_transform_gives_the_kalman_mean_and_covariance():
    ens, H, y, R, P, K = _linear_problem(2)
    xb = ens.mean(axis=0)
    X = ens - xb
    Y = X @ H.T
    W = np.asarray(ensemble_transform_weights(jnp.asarray(Y), jnp.asarray(y - xb @ H.T),
                                              jnp.asarray(Y @ np.linalg.inv(R))))
    xa = xb + W.T @ X
    np.testing.assert_allclose(xa.mean(axis=0), xb + K @ (y - H @ xb), rtol=1e-10, atol=1e-12)
    Xa = xa - xa.mean(axis=0)
    np.testing.assert_allclose(Xa.T @ Xa / (N - 1), (np.eye(n) - K @ H) @ P, rtol=1e-9, atol=1e-12)


def test_gaussian_update_is_the_kalman_filter():
    _, H, y, R, P, K = _linear_problem(3, full_R=True)
    mean = np.arange(n, dtype=float)
    new_mean, new_cov = gaussian_update(jnp.asarray(mean), jnp.asarray(P), jnp.asarray(P @ H.T),
                                        jnp.asarray(H @ P @ H.T + R), jnp.asarray(y - H @ mean))
    np.testing.assert_allclose(new_mean, mean + K @ (y - H @ mean), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new_cov, (np.eye(n) - K @ H) @ P, rtol=1e-9, atol=1e-12)


def test_every_caller_uses_the_shared_update():
    """EKI, UKI, EnKF and ETKF reproduce the explicit gain on a linear problem."""
    ens, H, y, R, P, K = _linear_problem(4)
    xb = ens.mean(axis=0)
    # ETKF: analysis mean x̄ + K (y − H x̄)
    xa = np.asarray(etkf_analysis(jnp.asarray(ens), jnp.asarray(y), lambda e: e @ H.T, jnp.asarray(np.diag(R))))
    np.testing.assert_allclose(xa.mean(axis=0), xb + K @ (y - H @ xb), rtol=1e-10)
    xa2 = np.asarray(ETKF().analysis(jnp.asarray(ens), jnp.asarray(y), lambda e: e @ H.T,
                                     jnp.asarray(np.diag(R)), jax.random.PRNGKey(0)))
    np.testing.assert_allclose(xa2, xa)
    # EnKF: each member moves by K (y + ε_i − H x_i), ε centred
    key = jax.random.PRNGKey(5)
    xe = np.asarray(enkf_analysis(jnp.asarray(ens), jnp.asarray(y), lambda e: e @ H.T, jnp.asarray(np.diag(R)), key))
    eps = np.asarray(observation_perturbations(key, N, jnp.asarray(np.diag(R)), centred=True))
    np.testing.assert_allclose(xe, ens + (y + eps - ens @ H.T) @ K.T, rtol=1e-10, atol=1e-12)
    xs = StochasticEnKF().analysis(jnp.asarray(ens), jnp.asarray(y), lambda e: e @ H.T,
                                   jnp.asarray(np.diag(R)), key)
    assert np.asarray(xs).shape == (N, n)
    # EKI without perturbations and Δt = 1: the same gain on the deterministic innovations
    g = ens @ H.T
    new = np.asarray(eki_update(jnp.asarray(ens), jnp.asarray(g), jnp.asarray(y), jnp.asarray(R), key, 1.0, False))
    np.testing.assert_allclose(new, ens + (y - g) @ K.T, rtol=1e-10, atol=1e-12)
    # UKI analysis with sigma points of N(x̄, P): the Kalman filter's mean and covariance
    chol = np.linalg.cholesky(P)
    c = np.sqrt(n)
    pts = np.concatenate([xb[None], xb + c * chol.T, xb - c * chol.T])
    mean, cov = uki_analysis(jnp.asarray(pts), jnp.asarray(pts @ H.T), jnp.asarray(y), jnp.asarray(R),
                             1.0 / (2 * n))
    np.testing.assert_allclose(mean, xb + K @ (y - H @ xb), rtol=1e-10)
    np.testing.assert_allclose(cov, (np.eye(n) - K @ H) @ P, rtol=1e-9, atol=1e-12)
