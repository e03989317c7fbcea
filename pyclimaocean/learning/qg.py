r"""Offline and online training of learned closures of the two-layer QG model.

A closure here is any :class:`~pyclimaocean.models.qg.closure.AbstractQGClosure` with float
leaves (:class:`~pyclimaocean.models.qg.neural.ConvQGClosure`,
:class:`~pyclimaocean.models.qg.equivariant.EquivariantQGClosure`, a physical closure with a
trainable coefficient, ...); the training data are coarse-grained high-resolution fields on the
coarse model's grid (:mod:`pyclimaocean.models.qg.coarsegrain`).

* **Offline** (a priori): minimise the normalised mean squared error of the closure's PV
  forcing against the subgrid forcing diagnosed from the high-resolution run,

  .. math::  L = \frac{1}{2} \sum_{i=1,2} \big\langle (S_i^\theta(\bar q) - S_i)^2 \big\rangle
             / \langle S_i^2 \rangle,

  over random mini-batches of snapshots (:func:`fit_offline`).
* **Online** (a posteriori): run the coarse model *with the closure* from a coarse-grained
  high-resolution state for a window of ``n`` samples (``save_every`` model steps each) and
  minimise the normalised mean squared PV error against the coarse-grained high-resolution
  trajectory,

  .. math::  L = \frac{1}{2n} \sum_{k=1}^{n} \sum_{i} \big\langle (q_i^\theta(t_k) - \bar q_i(t_k))^2
             \big\rangle / \langle \bar q_i^2 \rangle,

  with the gradient through the solver (:func:`pyclimaocean.learning.fit_online`, i.e.
  ``model.run`` = :func:`pyclimaocean.integrate` with √T segment checkpointing, so memory stays
  O(√(n s)) per window) (:func:`fit_online_qg`).  Each window starts from
  ``model.state_from_q(q̄)`` (a forward-Euler start of the AB3 scheme, as pyqg restarts).

Both return a :class:`~pyclimaocean.learning.TrainResult` whose ``model`` is the trained
closure.  :func:`offline_mse` evaluates a closure on held-out snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..models.qg import AbstractQGClosure, TwoLayerQG
from .online import ReferenceTrajectory, fit_online, select_trainable
from .training import OfflineSampler, TrainResult, fit

__all__ = [
    "closure_forcing",
    "fit_offline",
    "fit_online_qg",
    "layer_rms",
    "offline_mse",
    "qg_reference",
]


def _with_closure(model: TwoLayerQG, closure: AbstractQGClosure | None) -> TwoLayerQG:
    return eqx.tree_at(lambda m: m.closure, model, closure, is_leaf=lambda x: x is None)


def closure_forcing(closure: AbstractQGClosure, model: TwoLayerQG, q: jnp.ndarray):
    """The closure's PV forcing ``(..., 2, ny, nx)`` (s⁻²) of grid PV ``q`` ``(..., 2, ny, nx)``
    (s⁻¹) on ``model``'s grid (leading axes mapped over)."""
    q = jnp.asarray(q)
    if q.ndim == 3:
        return closure.pv_tendency(model, model.fields(model.fft(q)))
    return jax.vmap(lambda x: closure_forcing(closure, model, x))(q)


def layer_rms(x) -> np.ndarray:
    """Root mean square of each layer of ``x`` ``(..., 2, ny, nx)``, shape ``(2,)``."""
    x = np.asarray(x, dtype=float)
    return np.sqrt(np.mean(np.moveaxis(x, -3, 0).reshape(2, -1) ** 2, axis=1))


def _check_pairs(q, forcing, ny: int, nx: int):
    q, forcing = jnp.asarray(q), jnp.asarray(forcing)
    if q.shape != forcing.shape or q.ndim != 4 or q.shape[1:] != (2, ny, nx):
        raise ValueError(
            f"q {q.shape} and forcing {forcing.shape} must both be (samples, 2, {ny}, {nx}) "
            "on the coarse model's grid"
        )
    return q, forcing


def offline_mse(closure: AbstractQGClosure, model: TwoLayerQG, q, forcing,
                scale: Sequence[float] | None = None) -> float:
    """Normalised MSE ``½ Σ_i ⟨(S_i^θ − S_i)²⟩ / scale_i²`` of the closure on snapshots ``q``,
    ``forcing`` ``(samples, 2, ny, nx)``; ``scale`` defaults to the layer RMS of ``forcing``
    (so 1 is the error of predicting zero)."""
    q, forcing = _check_pairs(q, forcing, model.ny, model.nx)
    scale = jnp.asarray(layer_rms(forcing) if scale is None else scale)
    pred = eqx.filter_jit(closure_forcing)(closure, model, q)
    err = jnp.mean((pred - forcing) ** 2, axis=(0, 2, 3)) / scale**2
    return float(jnp.mean(err))


def fit_offline(closure: AbstractQGClosure, model: TwoLayerQG, q, forcing,
                optimizer: optax.GradientTransformation, n_steps: int, *, batch_size: int = 16,
                key: jax.Array, validation: tuple | None = None, **fit_kwargs) -> TrainResult:
    """Train ``closure`` a priori on snapshot pairs (see the module docstring).

    Args:
        closure: the closure to train (its inexact-array leaves are trained).
        model: the coarse model (its grid; its own closure is ignored).
        q: coarse-grained PV ``(samples, 2, ny, nx)`` (s⁻¹).
        forcing: subgrid PV forcing ``(samples, 2, ny, nx)`` (s⁻²).
        optimizer: optax transformation (e.g. :func:`pyclimaocean.learning.make_optimizer`).
        n_steps: optimisation steps; batch_size: snapshots per step.
        key: PRNG key of the batches.
        validation: optional held-out ``(q, forcing)`` pair, evaluated every ``log_every``.
        **fit_kwargs: passed to :func:`pyclimaocean.learning.fit` (``log_every``, ``log``, ...).
    """
    q, forcing = _check_pairs(q, forcing, model.ny, model.nx)
    scale = jnp.asarray(layer_rms(forcing))
    base = _with_closure(model, None)

    def loss(closure, batch):
        x, s = batch
        pred = closure_forcing(closure, base, x)
        return jnp.mean(jnp.mean((pred - s) ** 2, axis=(0, 2, 3)) / scale**2)

    if validation is not None:
        validation = _check_pairs(*validation, model.ny, model.nx)
    return fit(closure, loss, OfflineSampler(q, forcing, batch_size), optimizer, n_steps,
               key=key, validation=validation, **fit_kwargs)


def qg_reference(model: TwoLayerQG, q, save_every: int) -> ReferenceTrajectory:
    """A :class:`~pyclimaocean.learning.ReferenceTrajectory` of coarse-grained PV snapshots
    ``q`` ``(samples, 2, ny, nx)`` (s⁻¹) taken every ``save_every`` steps of ``model``
    (sample spacing = ``save_every × model.dt``); each sample is a forward-Euler start state."""
    q = jnp.asarray(q, dtype=float)
    if q.ndim != 4 or q.shape[1:] != (2, model.ny, model.nx) or q.shape[0] < 2:
        raise ValueError(f"q must be (samples >= 2, 2, {model.ny}, {model.nx}), got {q.shape}")
    states = jax.vmap(model.state_from_q)(q)
    states = eqx.tree_at(lambda s: s.time, states,
                         jnp.arange(q.shape[0], dtype=float) * save_every * model.dt)
    return ReferenceTrajectory(states=states, save_every=int(save_every))


def fit_online_qg(closure: AbstractQGClosure, model: TwoLayerQG,
                  trajectories: Sequence, save_every: int,
                  optimizer: optax.GradientTransformation, n_steps: int, *, window: int,
                  windows_per_case: int = 2, key: jax.Array,
                  checkpoint_every: int | None | str = "auto", **fit_kwargs) -> TrainResult:
    """Train ``closure`` online through the coarse solver (see the module docstring).

    Args:
        closure: the closure to train.
        model: the coarse model (its closure is replaced by ``closure``).
        trajectories: one or more coarse-grained PV trajectories, each
            ``(samples, 2, ny, nx)`` (s⁻¹) sampled every ``save_every`` model steps (one case
            per trajectory, e.g. one per high-resolution ensemble member).
        save_every: model steps between samples.
        optimizer, n_steps: optax transformation and optimisation steps.
        window: samples per training window (the unroll is ``window × save_every`` steps), or
            a curriculum ``[(first_step, samples), ...]``.
        windows_per_case: windows per trajectory and step.
        key: PRNG key of the window starts.
        checkpoint_every: segment length of ``model.run`` (``"auto"``: ≈√steps).
        **fit_kwargs: passed to :func:`pyclimaocean.learning.fit`.

    Returns:
        :class:`~pyclimaocean.learning.TrainResult` whose ``model`` is the trained closure.
    """
    if isinstance(trajectories, jnp.ndarray | np.ndarray) and np.ndim(trajectories) == 4:
        trajectories = [trajectories]
    closed = _with_closure(model, closure)
    references = [qg_reference(closed, q, save_every) for q in trajectories]
    scale = jnp.asarray(layer_rms(np.concatenate([np.asarray(q) for q in trajectories])))
    ifft = closed.ifft

    def observe(state):
        return ifft(state.qh) / scale[:, None, None]

    trainable = select_trainable(closed, lambda m: m.closure)
    result = fit_online([closed] * len(references), references, optimizer, n_steps,
                        trainable=trainable, window=window, windows_per_case=windows_per_case,
                        observe=observe, checkpoint_every=checkpoint_every, key=key,
                        **fit_kwargs)
    return TrainResult(model=result.model.closure, history=result.history)
