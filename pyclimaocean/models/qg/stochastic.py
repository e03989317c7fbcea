r"""A stochastic closure of the two-layer QG model: a (learned) mean closure plus AR(1) noise.

The subgrid PV forcing is modelled as

.. math::

    S_i(x, y, t) = \bar S_i[q](x, y) + e_i(x, y, t) - \langle e_i \rangle,

with ``\bar S`` any deterministic :class:`~pyclimaocean.models.qg.closure.AbstractQGClosure`
(a trained CNN, a physical closure, or none) and ``e`` red noise, independent at each grid
point (or smoothed over ``correlation_length``) and in each layer, updated once per model
step ``Δt`` by the AR(1) recursion (Arnold et al. 2013 used the same process for Lorenz-96;
Guillaumin & Zanna 2021 and Ross et al. 2023 use stochastic closures of ocean eddies)

.. math::

    e_{n+1} = φ e_n + σ_i \sqrt{1 - φ^2}\, z_n, \qquad φ = \exp(-Δt / τ),
    \qquad z_n \sim N(0, 1),

so ``σ_i`` (s⁻², one per layer) is the stationary standard deviation and ``τ`` (s) the
decorrelation time.  Both are pytree leaves: :func:`fit_ar1` estimates them from the residual
``S − \bar S`` of training data (moments: σ from its variance, τ = −Δt_s / ln ρ(Δt_s) from the
lag-one autocorrelation at the sampling interval Δt_s), and they stay differentiable through
runs for online calibration.

Purity.  The noise and the PRNG key are part of the state (:class:`StochasticQGState`): a run
is a pure function of the initial state (its key included), repeatable, ``vmap``-able over
ensemble members (one key each) and differentiable with respect to ``σ``, ``τ`` and the mean
closure's weights (the standard normals ``z`` never depend on them: reparameterisation).
:class:`StochasticQG` wraps a :class:`~pyclimaocean.models.qg.TwoLayerQG` and inserts
``\bar S + e`` as its closure for each step; the Adams–Bashforth history stores the full
tendency, noise included, as pyqg does for its stochastic parameterizations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...integrate import integrate
from .closure import AbstractQGClosure, QGFields
from .model import TwoLayerQG
from .state import QGState

__all__ = [
    "AR1Noise",
    "NoisyClosure",
    "StochasticQG",
    "StochasticQGState",
    "fit_ar1",
]


class AR1Noise(eqx.Module):
    """AR(1) red noise of the PV forcing (see the module docstring).

    Attributes:
        sigma: stationary standard deviation per layer ``(2,)`` (s⁻²).
        tau: decorrelation time (s).
        correlation_length: Gaussian smoothing length of the noise in space (m, static; 0:
            independent grid points).  The smoothed field is rescaled to unit variance, so
            ``sigma`` keeps its meaning.
    """

    sigma: jnp.ndarray
    tau: jnp.ndarray
    correlation_length: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        sigma, tau = np.asarray(self.sigma), np.asarray(self.tau)
        if isinstance(self.sigma, jax.core.Tracer) or isinstance(self.tau, jax.core.Tracer):
            return
        if sigma.shape != (2,) or not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
            raise ValueError(f"AR1Noise.sigma = {sigma!r}: two finite numbers >= 0 (s-2)")
        if tau.shape != () or not (np.isfinite(tau) and tau > 0):
            raise ValueError(f"AR1Noise.tau = {tau!r}: one finite number > 0 (s)")
        if not (np.isfinite(self.correlation_length) and self.correlation_length >= 0):
            raise ValueError(f"AR1Noise.correlation_length = {self.correlation_length!r}: "
                             "must be >= 0 (m)")

    def standard_normal(self, key: jax.Array, model: TwoLayerQG) -> jnp.ndarray:
        """Unit-variance noise ``(2, ny, nx)`` (spatially smoothed if ``correlation_length``)."""
        z = jax.random.normal(key, (2, model.ny, model.nx), dtype=jnp.result_type(float))
        if self.correlation_length == 0:
            return z
        g = model.grid
        kernel = np.exp(-0.5 * g.wv2 * self.correlation_length**2)
        # unit variance: Σ weights K² / (nx ny) is the variance of the filtered white noise
        norm = np.sqrt(np.sum(g.weights * kernel**2) / (model.nx * model.ny))
        return model.ifft(model.fft(z) * kernel) / norm

    def update(self, noise: jnp.ndarray, key: jax.Array, model: TwoLayerQG) -> jnp.ndarray:
        """One AR(1) step of length ``model.dt``."""
        phi = jnp.exp(-model.dt / self.tau)
        amp = jnp.asarray(self.sigma)[:, None, None] * jnp.sqrt(1.0 - phi**2)
        return phi * noise + amp * self.standard_normal(key, model)

    def stationary(self, key: jax.Array, model: TwoLayerQG) -> jnp.ndarray:
        """A draw from the stationary distribution (standard deviation ``sigma``)."""
        return jnp.asarray(self.sigma)[:, None, None] * self.standard_normal(key, model)


class NoisyClosure(AbstractQGClosure):
    """``mean`` closure (or none) plus a fixed noise field ``(2, ny, nx)`` (s⁻², its domain
    mean removed): the closure :class:`StochasticQG` uses for one step."""

    mean: AbstractQGClosure | None
    noise: jnp.ndarray

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        e = self.noise - jnp.mean(self.noise, axis=(-2, -1), keepdims=True)
        if self.mean is None:
            return e
        return self.mean.pv_tendency(model, fields) + e


class StochasticQGState(eqx.Module):
    """State of :class:`StochasticQG`.

    Attributes:
        qg: the :class:`~pyclimaocean.models.qg.QGState`.
        noise: current noise ``e`` ``(2, ny, nx)`` (s⁻²).
        key: PRNG key of the next noise update.
    """

    qg: QGState
    noise: jnp.ndarray
    key: jax.Array

    @property
    def time(self):
        return self.qg.time

    @property
    def iteration(self):
        return self.qg.iteration

    @property
    def qh(self):
        return self.qg.qh


class StochasticQG(eqx.Module):
    """A two-layer QG model with a stochastic closure (mean + AR(1) noise).

    Args:
        model: the coarse :class:`~pyclimaocean.models.qg.TwoLayerQG`; its ``closure`` is the
            mean closure ``\\bar S`` (``None``: noise only).
        noise: the :class:`AR1Noise`.

    ``step``, ``run`` as the model contract (:func:`pyclimaocean.integrate`); the grid helpers
    (``fft``, ``ifft``, ``fields``, ``dt``, ``nx``, ...) are the wrapped model's.
    """

    model: TwoLayerQG
    noise: AR1Noise

    def __getattr__(self, name: str):
        # grid helpers and constants of the wrapped model (fft, ifft, fields, dt, nx, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def initial_state(self, qg_state: QGState | None = None, *,
                      key: jax.Array) -> StochasticQGState:
        """``qg_state`` (default the model's initial state) with stationary noise from ``key``."""
        qg_state = self.model.initial_state() if qg_state is None else qg_state
        key, sub = jax.random.split(key)
        return StochasticQGState(qg_state, self.noise.stationary(sub, self.model), key)

    def step(self, state: StochasticQGState) -> StochasticQGState:
        closure = NoisyClosure(self.model.closure, state.noise)
        model = eqx.tree_at(lambda m: m.closure, self.model, closure,
                            is_leaf=lambda x: x is None)
        key, sub = jax.random.split(state.key)
        return StochasticQGState(model.step(state.qg),
                                 self.noise.update(state.noise, sub, self.model), key)

    def run(self, state: StochasticQGState, n_steps: int = 1, *, save_every: int | None = None,
            checkpoint_every: int | None | str = "auto",
            observe: Callable[[Any], Any] | None = None):
        """``(final_state, outputs)`` as :meth:`pyclimaocean.core.AbstractModel.run`."""
        return integrate(self.step, state, n_steps, save_every=save_every, observe=observe,
                         checkpoint_every=checkpoint_every)


def fit_ar1(residual, sample_interval: float, *, correlation_length: float = 0.0) -> AR1Noise:
    """Moment estimates of :class:`AR1Noise` from a residual series.

    Args:
        residual: ``S − \\bar S`` ``(T, 2, ny, nx)`` (s⁻²), consecutive samples
            ``sample_interval`` apart (T >= 3).
        sample_interval: time between samples (s).
        correlation_length: passed to :class:`AR1Noise` (m).

    Returns:
        ``AR1Noise(sigma, tau)`` with σ_i the RMS of layer i (about its mean, which a
        divergence-form forcing does not have) and ``τ = −Δt_s / ln ρ`` from the lag-one
        autocorrelation ρ pooled over layers and points; ρ <= 0 (decorrelated within one
        sample) gives τ = Δt_s / 10, a noise white at that sampling.
    """
    r = np.asarray(residual, dtype=float)
    if r.ndim != 4 or r.shape[1] != 2 or r.shape[0] < 3:
        raise ValueError(f"residual must be (T >= 3, 2, ny, nx), got {r.shape}")
    if not sample_interval > 0:
        raise ValueError(f"sample_interval = {sample_interval!r}: must be > 0 (s)")
    r = r - r.mean(axis=(0, 2, 3), keepdims=True)
    sigma = np.sqrt(np.mean(r**2, axis=(0, 2, 3)))
    rho = float(np.sum(r[1:] * r[:-1]) / np.sum(r[:-1] ** 2))
    tau = -sample_interval / np.log(rho) if 0 < rho < 1 else sample_interval / 10
    return AR1Noise(jnp.asarray(sigma), jnp.asarray(float(tau)), correlation_length)
