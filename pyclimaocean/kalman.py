"""The Kalman update shared by every ensemble method (pure ``jax.numpy``, jit-able).

Ensemble Kalman inversion (:mod:`pyclimaocean.calibration.eki`), unscented Kalman inversion
(:mod:`pyclimaocean.calibration.uki`) and the EnKF/ETKF/LETKF analyses
(:mod:`pyclimaocean.assimilation.ensemble`) are all the linear-Gaussian Kalman update written
with sample (or sigma-point) covariances.  For a state x with prior spread given by anomalies
X ``(N, n)`` and predicted observations H(x) with anomalies Y ``(N, m)``::

    C_xy = Σᵢ wᵢ Xᵢᵀ Yᵢ        (n, m)        C_yy = Σᵢ wᵢ Yᵢᵀ Yᵢ       (m, m)
    S = C_yy + R                (m, m)        K = C_xy S⁻¹              (n, m)

with weights wᵢ = 1/(N − 1) for an ensemble and the unscented weights for sigma points.
Two ways of moving an ensemble follow from the gain:

* :func:`perturbed_observation_update` (stochastic EnKF, Burgers et al. 1998; EKI, Iglesias
  et al. 2013): each member i moves by K (yᵢ − H(xᵢ)) with perturbed observations
  yᵢ = y + εᵢ, εᵢ ~ N(0, R) (:func:`observation_perturbations`);
* :func:`ensemble_transform_weights` (ETKF/LETKF, Hunt, Kostelich & Szunyogh 2007, §2.3): the
  analysis ensemble is a linear combination of the prior anomalies, x_aⁱ = x̄ + Σⱼ Wⱼᵢ Xⱼ,
  whose mean is x̄ + K (y − H̄) and whose covariance is (I − K H) P exactly for linear H.

:func:`kalman_gain` and :func:`gaussian_update` (mean and covariance, used by UKI) are the
plain formulae.  Every function here solves with S (Cholesky, ``assume_a="pos"``) instead of
forming S⁻¹.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "anomaly_covariances",
    "ensemble_transform_weights",
    "gaussian_update",
    "kalman_gain",
    "observation_perturbations",
    "perturbed_observation_update",
]


def anomaly_covariances(X, Y, weight=None):
    """``(C_xy (n, m), C_yy (m, m), C_xx (n, n))`` of anomalies X ``(N, n)``, Y ``(N, m)``.

    ``weight`` is a scalar (every anomaly weighted alike; default 1/(N − 1), the unbiased
    ensemble normalisation) or a ``(N,)`` vector of weights.
    """
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    if weight is None:
        weight = 1.0 / (X.shape[0] - 1)
    w = jnp.asarray(weight, dtype=X.dtype)
    Yw = Y * w[:, None] if w.ndim == 1 else Y * w
    Xw = X * w[:, None] if w.ndim == 1 else X * w
    return X.T @ Yw, Y.T @ Yw, X.T @ Xw


def _noise_matrix(noise_cov, m: int, dtype):
    R = jnp.asarray(noise_cov, dtype=dtype)
    if R.ndim <= 1:
        return jnp.diag(jnp.broadcast_to(R, (m,)))
    return R


def kalman_gain(cross_covariance, innovation_covariance):
    """K = C_xy S⁻¹ ``(n, m)`` for C_xy ``(n, m)`` and the innovation covariance S ``(m, m)``
    (S = C_yy + R, symmetric positive definite)."""
    return jax.scipy.linalg.solve(innovation_covariance, cross_covariance.T, assume_a="pos").T


def gaussian_update(mean, cov, cross_covariance, innovation_covariance, innovation):
    """Kalman update of a Gaussian N(mean, cov) given C_xy, S and the innovation d = y − ŷ.

    Returns ``(mean + K d (n,), cov − K C_xyᵀ (n, n), symmetrised)`` with K = C_xy S⁻¹.
    """
    K = kalman_gain(cross_covariance, innovation_covariance)
    new_cov = cov - K @ cross_covariance.T
    return mean + K @ innovation, 0.5 * (new_cov + new_cov.T)


def observation_perturbations(key, n_members: int, noise_cov, *, centred: bool = False):
    """``(N, m)`` draws εᵢ ~ N(0, R) for R given as variances ``(m,)`` or a ``(m, m)`` matrix.

    ``centred=True`` subtracts their ensemble mean (so the perturbations do not shift the
    analysis mean; the stochastic EnKF's convention).
    """
    R = jnp.asarray(noise_cov)
    m = R.shape[-1]
    z = jax.random.normal(key, (n_members, m), dtype=R.dtype)
    eps = z * jnp.sqrt(R) if R.ndim <= 1 else z @ jnp.linalg.cholesky(R).T
    return eps - eps.mean(axis=0) if centred else eps


def perturbed_observation_update(X, Y, innovations, noise_cov, weight=None):
    """Increments of the perturbed-observation (stochastic) Kalman update, ``(N, n)``.

    Member i moves by K dᵢ with K = C_xy (C_yy + R)⁻¹ and its innovation
    dᵢ = yᵢ − H(xᵢ) (perturbed observation minus its prediction).

    Args:
        X: state anomalies ``(N, n)`` about the ensemble mean.
        Y: predicted-observation anomalies ``(N, m)`` about their ensemble mean.
        innovations: dᵢ ``(N, m)``.
        noise_cov: R as variances ``(m,)`` or a ``(m, m)`` matrix (observation units²).
        weight: covariance normalisation (default 1/(N − 1); see :func:`anomaly_covariances`).
    """
    c_xy, c_yy, _ = anomaly_covariances(X, Y, weight)
    S = c_yy + _noise_matrix(noise_cov, c_yy.shape[0], c_yy.dtype)
    coeffs = jax.scipy.linalg.solve(S, jnp.asarray(innovations).T, assume_a="pos")  # (m, N)
    return (c_xy @ coeffs).T


def ensemble_transform_weights(Y, innovation, Y_rinv):
    """Weights W ``(N, N)`` of the ensemble transform (symmetric square root; Hunt et al. 2007).

    The analysis ensemble is x_aⁱ = x̄ + Σⱼ Wⱼᵢ Xⱼ, i.e. ``x_mean + W.T @ X``::

        C = Y R⁻¹ (N, m),   A = (N − 1) I + C Yᵀ,   P̃ = A⁻¹
        w = P̃ C d,          W = [(N − 1) P̃]^{1/2} + w 1ᵀ

    Args:
        Y: predicted-observation anomalies ``(N, m)``.
        innovation: d = y − mean H(x) ``(m,)``.
        Y_rinv: C = Y R⁻¹ ``(N, m)`` (the LETKF passes a localised R⁻¹ here).
    """
    N = Y.shape[0]
    A = (N - 1) * jnp.eye(N, dtype=Y.dtype) + Y_rinv @ Y.T
    lam, V = jnp.linalg.eigh(A)
    Pa = (V / lam) @ V.T
    wa = Pa @ (Y_rinv @ innovation)
    Wa = (V * jnp.sqrt((N - 1) / lam)) @ V.T
    return Wa + wa[:, None]
