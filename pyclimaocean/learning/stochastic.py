"""Stochastic parameterisation of the unresolved Lorenz-96 scales (Arnold et al. 2013).

Following Arnold, Moroz & Palmer (2013, Phil. Trans. R. Soc. A 371, 20110479, "Stochastic
parametrizations and model uncertainty in the Lorenz '96 system"), the subgrid tendency seen
by the slow variables is modelled as a deterministic cubic polynomial of the local state plus
red noise:

* deterministic part ``U_det(X_k) = a_0 + a_1 X_k + a_2 X_k² + a_3 X_k³``
  (:class:`PolynomialClosure`, least-squares fit by :func:`fit_polynomial_closure`);
* additive AR(1) noise ``U = U_det(X) + e``;
* multiplicative AR(1) noise ``U = (1 + e) U_det(X)``;

with, for each ``k`` independently and constant during one coarse time step ``Δt``,

    e_{n+1} = φ e_n + σ sqrt(1 - φ²) z_n,      z_n ~ N(0, 1),      φ = exp(-Δt / τ).

``σ`` is the stationary standard deviation of ``e`` and ``τ`` its correlation time (MTU).
:func:`estimate_ar1` estimates ``(τ, σ)`` from the residual series ``r = U - U_det(X)``
sampled every ``Δt``: ``σ`` is the standard deviation of ``r`` (additive) or
``σ² = Σ r² / Σ U_det²`` (multiplicative: the moment estimate of ``r = e U_det`` with ``e``
independent of ``X``).  ``τ`` is either the integral time scale of ``r`` (default,
``method="integral"``) or ``-Δt / ln ρ(Δt)`` from the lag-1 autocorrelation
(``method="lag1"``, as Arnold et al. fitted φ at the model step).  For the two-scale
Lorenz-96 residual, which is smooth in time (its autocorrelation is flat at lag 0 and crosses
zero near 0.1 MTU), the lag-1 estimate gives τ ≈ 0.29 MTU against an integral time scale of
≈ 0.045 MTU, and ensembles with the lag-1 τ are over-dispersive (spread/error ≈ 1.3-1.5 at
0.2-1 MTU) while the integral τ gives ≈ 0.9-1.1 (``benchmarks/l96_closures.py``).

Any deterministic closure can carry the noise (``fit_stochastic_closure(...,
deterministic=trained_cnn)``), not only the cubic polynomial.

Noise is *reparameterised*: the standard normals ``z`` come from a PRNG key carried in the
state and never depend on the parameters, so forecasts (and ensembles of them, built with
``vmap``) are differentiable with respect to the polynomial coefficients and to ``(τ, σ)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import integrate
from ..models.lorenz96 import rk4_step
from .closure_model import base_tendency
from .networks import AbstractTendencyClosure

__all__ = [
    "PolynomialClosure",
    "fit_polynomial_closure",
    "AR1Noise",
    "estimate_ar1",
    "estimate_noise",
    "StochasticClosure",
    "StochasticState",
    "fit_stochastic_closure",
    "stochastic_forecast",
    "ensemble_forecast",
    "NOISE_KINDS",
]

NOISE_KINDS = ("additive", "multiplicative")


class PolynomialClosure(AbstractTendencyClosure):
    """Point-wise polynomial closure ``u_k = Σ_i a_i x_k^i`` (ascending powers).

    Attributes:
        coefficients: ``(degree + 1,)`` array ``a_0 .. a_degree`` (units of u per x^i).
    """

    coefficients: jax.Array

    @classmethod
    def zeros(cls, degree: int) -> PolynomialClosure:
        if not isinstance(degree, int) or degree < 0:
            raise ValueError(f"degree = {degree!r}: must be an int >= 0")
        return cls(jnp.zeros(degree + 1))

    @property
    def degree(self) -> int:
        return int(self.coefficients.shape[0]) - 1

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.polyval(self.coefficients[::-1], x)

    def hyperparameters(self) -> dict:
        return {"architecture": "polynomial", "degree": self.degree}


def fit_polynomial_closure(x, u, degree: int = 3) -> PolynomialClosure:
    """Least-squares polynomial fit ``u ≈ Σ_i a_i x^i`` pooled over all samples and ``k``.

    Args:
        x: states, any shape; u: subgrid tendencies, same shape; degree: >= 0 (3 = cubic).
    """
    x = np.asarray(x, dtype=float).ravel()
    u = np.asarray(u, dtype=float).ravel()
    if x.shape != u.shape:
        raise ValueError(f"x ({x.size} values) and u ({u.size} values) must have the same shape")
    if not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree = {degree!r}: must be an int >= 0")
    if x.size <= degree:
        raise ValueError(f"need more than degree = {degree} samples, got {x.size}")
    coef = np.polynomial.polynomial.polyfit(x, u, degree)
    return PolynomialClosure(jnp.asarray(coef))


class AR1Noise(eqx.Module):
    """First-order autoregressive noise, ``e_{n+1} = φ e_n + σ sqrt(1 - φ²) z_n``.

    Attributes:
        correlation_time: τ (MTU, > 0); ``φ = exp(-Δt / τ)`` for a step ``Δt``.
        sigma: σ, stationary standard deviation of ``e`` (units of u for additive noise,
            dimensionless for multiplicative noise).
    """

    correlation_time: jax.Array
    sigma: jax.Array

    def __check_init__(self):
        tau, sigma = self.correlation_time, self.sigma
        if isinstance(tau, int | float | np.ndarray) and not np.all(np.asarray(tau) > 0):
            raise ValueError(f"AR1Noise.correlation_time = {tau!r}: must be > 0 (MTU)")
        if isinstance(sigma, int | float | np.ndarray) and not np.all(np.asarray(sigma) >= 0):
            raise ValueError(f"AR1Noise.sigma = {sigma!r}: must be >= 0")

    def phi(self, dt: float) -> jax.Array:
        """Lag-one autocorrelation φ for a step ``dt`` (MTU)."""
        return jnp.exp(-dt / self.correlation_time)

    def step(self, e: jax.Array, z: jax.Array, dt: float) -> jax.Array:
        """Advance the noise by ``dt`` with standard normals ``z`` (same shape as ``e``)."""
        phi = self.phi(dt)
        return phi * e + self.sigma * jnp.sqrt(1.0 - phi**2) * z

    def stationary_sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Draw from the stationary law N(0, σ²) (reparameterised)."""
        return self.sigma * jax.random.normal(key, shape)


def _autocorrelation(r: np.ndarray, max_lag: int) -> np.ndarray:
    var = np.mean(r**2)
    n = r.shape[0]
    return np.array([np.mean(r[: n - lag] * r[lag:]) / var for lag in range(max_lag + 1)])


AR1_METHODS = ("integral", "lag1")


def estimate_ar1(
    residual, dt: float, method: str = "integral", max_lag_time: float = 2.0
) -> AR1Noise:
    """Fit :class:`AR1Noise` to a residual series ``(T, K)`` sampled every ``dt`` MTU.

    ``σ`` is the standard deviation of the residual (per-column means removed, pooled over
    ``k``).  The correlation time ``τ`` comes from the autocorrelation function ρ (pooled
    over ``k``):

    * ``method="lag1"``: ``φ = ρ(dt)``, ``τ = -dt / ln φ`` (the estimate of Arnold et al. 2013
      at the model step);
    * ``method="integral"`` (default): ``τ = ∫_0^{t_0} ρ(t) dt`` (trapezoid rule), with
      ``t_0`` the first zero crossing of ρ, searched up to ``max_lag_time``.  This matches the
      integral time scale, hence the long-time variance ``2 σ² τ t`` of the integrated noise.
      Use it when the residual is smooth in time (its ρ is flat at lag 0, as for the two-scale
      Lorenz-96 system, where ``lag1`` overestimates τ several-fold and ensembles become
      over-dispersive).
    """
    if method not in AR1_METHODS:
        raise ValueError(
            f"method {method!r} is not supported. Supported methods are: {', '.join(AR1_METHODS)}"
        )
    r = np.asarray(residual, dtype=float)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[0] < 3:
        raise ValueError(f"residual must have shape (T, K) with T >= 3, got {r.shape}")
    if not dt > 0:
        raise ValueError(f"dt = {dt!r}: must be > 0 (MTU)")
    r = r - r.mean(axis=0)
    sigma = jnp.asarray(r.std())
    if method == "lag1":
        phi = _autocorrelation(r, 1)[1]
        if not 0.0 < phi < 1.0:
            raise ValueError(
                f"lag-1 autocorrelation of the residual is {phi:.4f}; an AR(1) model needs "
                "0 < φ < 1 (sample the residual more often, i.e. use a smaller dt)"
            )
        return AR1Noise(correlation_time=jnp.asarray(-dt / np.log(phi)), sigma=sigma)
    max_lag = min(r.shape[0] - 2, max(1, int(round(max_lag_time / dt))))
    rho = _autocorrelation(r, max_lag)
    crossing = np.nonzero(rho <= 0.0)[0]
    if crossing.size == 0:
        raise ValueError(
            f"the residual autocorrelation does not cross zero within max_lag_time = {max_lag_time} "
            "MTU; use a longer max_lag_time (and a longer series)"
        )
    end = int(crossing[0])
    tau = float(np.trapezoid(rho[: end + 1], dx=dt))
    if tau <= 0.5 * dt:
        raise ValueError(
            f"integral correlation time {tau:.3g} MTU is below half the sample interval {dt}; "
            "the residual is white at this sampling: sample it more often"
        )
    return AR1Noise(correlation_time=jnp.asarray(tau), sigma=sigma)


class StochasticClosure(eqx.Module):
    """Deterministic closure plus AR(1) noise, additive or multiplicative.

    ``additive``: ``u = det(x) + e``;  ``multiplicative``: ``u = (1 + e) det(x)``.

    Attributes:
        deterministic: callable ``x -> u`` ``(K,) -> (K,)`` (e.g. :class:`PolynomialClosure`).
        noise: :class:`AR1Noise`.
        kind: ``"additive"`` or ``"multiplicative"`` (static).
    """

    deterministic: Any
    noise: AR1Noise
    kind: str = eqx.field(static=True, default="additive")

    def __check_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(
                f"noise kind {self.kind!r} is not supported. Supported kinds are: {', '.join(NOISE_KINDS)}"
            )

    def __call__(self, x: jax.Array, e: jax.Array) -> jax.Array:
        u = self.deterministic(x)
        if self.kind == "additive":
            return u + e
        return (1.0 + e) * u


def estimate_noise(
    deterministic: Any, x, u, dt: float, kind: str = "additive", method: str = "integral"
) -> AR1Noise:
    """Fit :class:`AR1Noise` to the residual ``r = u - deterministic(x)`` of any closure.

    Args:
        deterministic: closure ``(K,) -> (K,)``.
        x, u: states and subgrid tendencies ``(T, K)`` sampled every ``dt`` MTU.
        kind: ``"additive"`` (σ = std of r) or ``"multiplicative"`` (σ² = Σ r² / Σ det(x)²);
            τ comes from the autocorrelation of r in both cases (``method``, see
            :func:`estimate_ar1`).  For ``"multiplicative"`` this is a known approximation:
            r = e · det(x) also decorrelates as det(x) changes, so τ of r is biased low with
            respect to τ of the multiplicative noise e (dividing by det(x) is avoided because
            it is ill-conditioned where det(x) ≈ 0).
    """
    if kind not in NOISE_KINDS:
        raise ValueError(
            f"noise kind {kind!r} is not supported. Supported kinds are: {', '.join(NOISE_KINDS)}"
        )
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    u_det = np.asarray(jax.jit(jax.vmap(deterministic))(jnp.asarray(x)))
    r = u - u_det
    noise = estimate_ar1(r, dt, method)
    if kind == "multiplicative":
        sigma = np.sqrt(np.sum(r**2) / np.sum(u_det**2))
        noise = AR1Noise(correlation_time=noise.correlation_time, sigma=jnp.asarray(sigma))
    return noise


def fit_stochastic_closure(
    x,
    u,
    dt: float,
    kind: str = "additive",
    degree: int = 3,
    deterministic: Any = None,
    method: str = "integral",
) -> StochasticClosure:
    """Fit the Arnold et al. (2013) scheme: a polynomial of ``degree`` (cubic) deterministic
    part (or the given trained ``deterministic`` closure) and AR(1) noise of its residual.

    Args:
        x, u: states and subgrid tendencies ``(T, K)``.
        dt: sampling interval of ``x`` and ``u`` (MTU), used to turn autocorrelation lags into
            τ.  τ is stored in MTU, so a closure run with another step Δt gets the consistent
            φ = exp(-Δt / τ).
        kind: ``"additive"`` or ``"multiplicative"``.
        degree: polynomial degree when ``deterministic`` is None.
        deterministic: a trained closure to use instead of fitting the polynomial.
        method: estimate of τ, ``"integral"`` or ``"lag1"`` (see :func:`estimate_ar1`).
    """
    if kind not in NOISE_KINDS:
        raise ValueError(
            f"noise kind {kind!r} is not supported. Supported kinds are: {', '.join(NOISE_KINDS)}"
        )
    det = fit_polynomial_closure(x, u, degree) if deterministic is None else deterministic
    return StochasticClosure(
        deterministic=det, noise=estimate_noise(det, x, u, dt, kind, method), kind=kind
    )


class StochasticState(eqx.Module):
    """State of a stochastic coarse run: ``x`` ``(K,)``, noise ``e`` ``(K,)``, PRNG ``key``."""

    x: jax.Array
    e: jax.Array
    key: jax.Array


def _stochastic_step(tendency: Callable, closure: StochasticClosure, dt: float):
    def step(s: StochasticState) -> StochasticState:
        key, sub = jax.random.split(s.key)
        x_next = rk4_step(lambda x: tendency(x) + closure(x, s.e), s.x, dt)
        z = jax.random.normal(sub, s.e.shape)
        return StochasticState(x=x_next, e=closure.noise.step(s.e, z, dt), key=key)

    return step


def stochastic_forecast(
    base: Any,
    closure: StochasticClosure,
    x0: jax.Array,
    dt: float,
    n_saved: int,
    steps_per_save: int = 1,
    *,
    key: jax.Array,
    e0: jax.Array | None = None,
    checkpoint_every: int | None | str = None,
) -> jax.Array:
    """One stochastic coarse forecast ``(n_saved, K)`` (entry ``i`` at ``(i+1) steps_per_save dt``).

    The noise is held constant within each RK4 step and updated after it.  ``e0`` defaults to a
    draw from the stationary law.  Differentiable w.r.t. ``closure`` and ``x0``.
    """
    k0, k1 = jax.random.split(key)
    x0 = jnp.asarray(x0)
    if e0 is None:
        e0 = closure.noise.stationary_sample(k0, x0.shape)
    state = StochasticState(x=x0, e=e0, key=k1)
    _, xs = integrate(
        _stochastic_step(base_tendency(base), closure, dt),
        state,
        n_saved * steps_per_save,
        save_every=steps_per_save,
        observe=lambda s: s.x,
        checkpoint_every=checkpoint_every,
    )
    return xs


def ensemble_forecast(
    base: Any,
    closure: StochasticClosure,
    x0: jax.Array,
    dt: float,
    n_saved: int,
    steps_per_save: int = 1,
    *,
    key: jax.Array,
    n_members: int,
    checkpoint_every: int | None | str = None,
) -> jax.Array:
    """Ensemble of :func:`stochastic_forecast` from the same ``x0`` (``vmap`` over members).

    Returns:
        ``(n_members, n_saved, K)``.
    """
    if not isinstance(n_members, int) or n_members < 1:
        raise ValueError(f"n_members = {n_members!r}: must be an int >= 1")
    keys = jax.random.split(key, n_members)
    return jax.vmap(
        lambda k: stochastic_forecast(
            base, closure, x0, dt, n_saved, steps_per_save, key=k, checkpoint_every=checkpoint_every
        )
    )(keys)
