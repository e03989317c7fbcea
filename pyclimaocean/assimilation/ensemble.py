"""Ensemble Kalman analyses: stochastic EnKF, ETKF and LETKF (pure ``jax.numpy``, jit-able).

Conventions.  An ensemble is an array ``(N, n)`` (members first).  Observations ``y`` are
``(p,)`` and the observation-error covariance R is given either as variances ``(p,)``
(diagonal R) or as a full ``(p, p)`` matrix.  ``obs_op`` is an
:class:`~pyclimaocean.assimilation.observations.ObservationOperator` (any function
``(N, n) -> (N, p)`` works for the global filters).

Multiplicative inflation ``inflation = rho`` scales the *prior anomalies* by rho (the prior
covariance by rho^2) before the analysis; this is the convention of DAPPER's ``infl`` (which
applies it to the posterior; in cycling the two differ only by when the factor acts).
Additive inflation adds independent N(0, sigma^2) noise to every member after the analysis.

Equations (Hunt, Kostelich & Szunyogh 2007, Physica D 230, "Efficient data assimilation for
spatiotemporal chaos: a local ensemble transform Kalman filter", section 2.3, steps 1-5)::

    X = anomalies of x (N, n),  Y = anomalies of H(x) (N, p),  d = y - mean H(x)
    C = Y R^{-1}                         (N, p)
    A = (N - 1) I + C Y^T                (N, N),   Pa~ = A^{-1}
    w_a = Pa~ C d,   W_a = [(N - 1) Pa~]^{1/2}  (symmetric square root)
    x_a^(i) = mean x + sum_j (w_a + W_a[:, i])_j X_j

The update itself is :mod:`pyclimaocean.kalman` (shared with EKI and UKI):
:func:`~pyclimaocean.kalman.ensemble_transform_weights` for the ETKF/LETKF and
:func:`~pyclimaocean.kalman.perturbed_observation_update` for the stochastic EnKF.

The LETKF repeats this per grid point with R^{-1} multiplied by Gaspari-Cohn weights of the
(periodic) distance between grid point and observation (R-localisation, Hunt et al. 2007
section 2.3 step 4a note; Greybush et al. 2011).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ..kalman import (
    ensemble_transform_weights,
    observation_perturbations,
    perturbed_observation_update,
)
from .localization import localization_weights

__all__ = [
    "EnsembleFilter",
    "StochasticEnKF",
    "ETKF",
    "LETKF",
    "enkf_analysis",
    "etkf_analysis",
    "letkf_analysis",
    "multiplicative_inflation",
    "additive_inflation",
    "ensemble_mean_and_spread",
]


def multiplicative_inflation(ens: jnp.ndarray, inflation: float) -> jnp.ndarray:
    """Scale anomalies about the mean by ``inflation`` (covariance by inflation^2); ``(N, n)``."""
    mean = ens.mean(axis=0)
    return mean + inflation * (ens - mean)


def additive_inflation(ens: jnp.ndarray, std: float, key: jax.Array) -> jnp.ndarray:
    """Add independent N(0, std^2) noise to every member and variable; ``(N, n)``."""
    return ens + std * jax.random.normal(key, ens.shape, dtype=ens.dtype)


def ensemble_mean_and_spread(ens: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Ensemble mean ``(n,)`` and per-variable standard deviation ``(n,)`` (ddof = 1)."""
    return ens.mean(axis=0), jnp.std(ens, axis=0, ddof=1)


def _rinv_apply(obs_error_var: jnp.ndarray, M: jnp.ndarray) -> jnp.ndarray:
    """M R^{-1} for M of shape (..., p)."""
    R = jnp.asarray(obs_error_var, dtype=M.dtype)
    if R.ndim <= 1:
        return M / R
    return jnp.linalg.solve(R, M.T).T  # R symmetric: (R^{-1} M^T)^T = M R^{-1}


#: the transform weights (kept under the old private name used by tests)
_ensemble_transform = ensemble_transform_weights


def _prior_anomalies(ens, obs_op, inflation):
    xb = ens.mean(axis=0)
    Xb = inflation * (ens - xb)
    Yens = obs_op(ens)
    yb = Yens.mean(axis=0)
    Yb = inflation * (Yens - yb)
    return xb, Xb, yb, Yb


def etkf_analysis(ens, y, obs_op, obs_error_var, inflation: float = 1.0) -> jnp.ndarray:
    """ETKF analysis with the symmetric square root (Hunt et al. 2007).

    Args:
        ens: prior ensemble ``(N, n)``.
        y: observations ``(p,)``.
        obs_op: observation operator ``(N, n) -> (N, p)``.
        obs_error_var: R as variances ``(p,)`` or a ``(p, p)`` matrix.
        inflation: multiplicative inflation rho of the prior anomalies (>= 1 typically).

    Returns:
        analysis ensemble ``(N, n)``.
    """
    xb, Xb, yb, Yb = _prior_anomalies(ens, obs_op, inflation)
    W = ensemble_transform_weights(Yb, y - yb, _rinv_apply(obs_error_var, Yb))
    return xb + W.T @ Xb


def letkf_analysis(
    ens,
    y,
    obs_op,
    obs_error_var,
    localization_radius: float,
    inflation: float = 1.0,
    domain_length: float | None = None,
) -> jnp.ndarray:
    """LETKF analysis: one ETKF per grid point with Gaspari-Cohn R-localisation.

    Args:
        ens: prior ensemble ``(N, n)`` on grid points ``0..n-1`` of a periodic domain.
        y: observations ``(p,)``.
        obs_op: observation operator with ``positions`` ``(p,)`` (grid coordinates).
        obs_error_var: diagonal R as variances ``(p,)`` (or a scalar).
        localization_radius: Gaspari-Cohn half-width c (grid units); observations farther
            than 2c do not influence a grid point.
        inflation: multiplicative inflation of the prior anomalies.
        domain_length: period of the domain (default n).

    Returns:
        analysis ensemble ``(N, n)``.
    """
    n = ens.shape[1]
    R = jnp.asarray(obs_error_var, dtype=ens.dtype)
    if R.ndim > 1:
        raise ValueError("letkf_analysis needs a diagonal R: pass obs_error_var as variances (p,)")
    xb, Xb, yb, Yb = _prior_anomalies(ens, obs_op, inflation)
    length = float(n if domain_length is None else domain_length)
    rho = localization_weights(
        jnp.arange(n, dtype=ens.dtype), obs_op.positions, localization_radius, length
    )  # (n, p)
    d = y - yb

    def local(rho_k):
        return ensemble_transform_weights(Yb, d, Yb * (rho_k / R))

    Ws = jax.vmap(local)(rho)  # (n, N, N)
    return xb + jnp.einsum("jk,kji->ik", Xb, Ws)


def enkf_analysis(ens, y, obs_op, obs_error_var, key, inflation: float = 1.0) -> jnp.ndarray:
    """Stochastic EnKF analysis with perturbed observations (Burgers et al. 1998).

    Each member assimilates ``y + eps_i``, eps_i ~ N(0, R) (perturbations centred to zero
    ensemble mean), with the ensemble Kalman gain
    ``K = X^T Y / (N-1) [Y^T Y / (N-1) + R]^{-1}``.

    Args:
        ens, y, obs_op, obs_error_var, inflation: as :func:`etkf_analysis`.
        key: PRNG key for the observation perturbations.

    Returns:
        analysis ensemble ``(N, n)``.
    """
    N = ens.shape[0]
    xb, Xb, yb, Yb = _prior_anomalies(ens, obs_op, inflation)
    R = jnp.asarray(obs_error_var, dtype=ens.dtype)
    if R.ndim <= 1:
        R = jnp.broadcast_to(R, (Yb.shape[1],))
    eps = observation_perturbations(key, N, R, centred=True)
    innov = y + eps - (yb + Yb)  # (N, p)
    return (xb + Xb) + perturbed_observation_update(Xb, Yb, innov, R)


class EnsembleFilter(eqx.Module):
    """Abstract ensemble filter: ``analysis(ens, y, obs_op, obs_error_var, key) -> ens``.

    Subclasses hold their tuning numbers as pytree leaves (so they can be vmapped over for
    tuning sweeps).  ``additive_inflation`` (std of noise added after the analysis) is common
    to all.
    """

    def analysis(self, ens, y, obs_op, obs_error_var, key):  # pragma: no cover - abstract
        raise NotImplementedError

    def _post(self, ens, key):
        std = getattr(self, "additive_inflation", 0.0)
        if isinstance(std, int | float) and std == 0.0:
            return ens
        return additive_inflation(ens, std, key)


class StochasticEnKF(EnsembleFilter):
    """Perturbed-observation EnKF (see :func:`enkf_analysis`)."""

    inflation: float = 1.0
    additive_inflation: float = 0.0

    def analysis(self, ens, y, obs_op, obs_error_var, key):
        k1, k2 = jax.random.split(key)
        ens = enkf_analysis(ens, y, obs_op, obs_error_var, k1, self.inflation)
        return self._post(ens, k2)


class ETKF(EnsembleFilter):
    """Ensemble transform Kalman filter, symmetric square root (see :func:`etkf_analysis`)."""

    inflation: float = 1.0
    additive_inflation: float = 0.0

    def analysis(self, ens, y, obs_op, obs_error_var, key):
        ens = etkf_analysis(ens, y, obs_op, obs_error_var, self.inflation)
        return self._post(ens, key)


class LETKF(EnsembleFilter):
    """Local ETKF with Gaspari-Cohn R-localisation (see :func:`letkf_analysis`).

    Attributes:
        localization_radius: GC half-width c in grid units (zero weight beyond 2c).
        inflation, additive_inflation: as for :class:`ETKF`.
    """

    localization_radius: float = 4.0
    inflation: float = 1.0
    additive_inflation: float = 0.0

    def analysis(self, ens, y, obs_op, obs_error_var, key):
        ens = letkf_analysis(
            ens, y, obs_op, obs_error_var, self.localization_radius, self.inflation
        )
        return self._post(ens, key)
