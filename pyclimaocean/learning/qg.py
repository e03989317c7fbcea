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
  Two optional terms keep the fine-tuning anchored (``fit_online_qg(..., offline=(q, S),
  offline_weight=λ, variance_weight=γ)``): ``λ ×`` the offline loss on a mini-batch of
  snapshots (the a-priori target), and ``γ × ½ Σ_i (⟨q_i^θ²⟩ / ⟨q̄_i²⟩ − 1)²`` with the means
  over the window (the PV variance, i.e. the enstrophy, of the window: a longer-time
  statistic, not a pointwise match).
* **Online, statistics loss** (``fit_online_qg(..., loss="statistics",
  statistics_reference=q_ref, discard=d, sample_every=s)``): the windows start from the
  trajectories' states, the first ``d`` samples of every window are skipped (the restart
  transient) and the loss is the misfit (:func:`statistics_misfit`) of the statistics
  (:func:`qg_statistics`) of the remaining samples, pooled over the batch's windows, to the
  statistics of the reference snapshots ``q_ref`` (a climate: no pointwise match, so the
  window may be longer than the predictability time).

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
from ..models.qg.diagnostics import isotropic_enstrophy_spectrum, isotropic_ke_spectrum
from .online import (
    ReferenceTrajectory,
    _window_schedule,
    make_trajectory_loss,
    select_trainable,
)
from .training import OfflineSampler, TrainResult, fit

__all__ = [
    "STATISTICS",
    "closure_forcing",
    "fit_offline",
    "fit_online_qg",
    "layer_rms",
    "offline_mse",
    "qg_reference",
    "qg_statistics",
    "statistics_misfit",
]

#: Names of the statistics of :func:`qg_statistics` (spectra first).
STATISTICS = ("ke_spectrum", "enstrophy_spectrum", "q_variance", "u_variance", "v_variance",
              "q_kurtosis", "u_kurtosis", "v_kurtosis")


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


def qg_statistics(model: TwoLayerQG, q) -> dict[str, jax.Array]:
    """Statistics of PV snapshots ``q`` ``(samples, 2, ny, nx)`` (s⁻¹) on ``model``'s grid,
    pooled over the samples (differentiable; the quantities of Ross et al.'s online metrics):

    * ``ke_spectrum`` ``(2, nκ)``: time-mean isotropic KE spectrum per layer (m³ s⁻²),
    * ``enstrophy_spectrum`` ``(2, nκ)``: time-mean isotropic enstrophy spectrum (m s⁻²),
    * ``{q,u,v}_variance`` ``(2,)``: ``⟨x²⟩`` per layer (s⁻², m² s⁻², m² s⁻²; the domain
      means of q, u, v vanish on the periodic domain),
    * ``{q,u,v}_kurtosis`` ``(2,)``: ``⟨x⁴⟩ / ⟨x²⟩²`` per layer (dimensionless; 3 for a
      Gaussian), the tails of the distributions.
    """
    q = jnp.asarray(q)
    if q.ndim != 4 or q.shape[1:] != (2, model.ny, model.nx):
        raise ValueError(f"q must be (samples, 2, {model.ny}, {model.nx}), got {q.shape}")
    f = model.fields(model.fft(q))
    out = {"ke_spectrum": jnp.mean(isotropic_ke_spectrum(f.psi, model.L, model.W)[1], axis=0),
           "enstrophy_spectrum": jnp.mean(
               isotropic_enstrophy_spectrum(f.q, model.L, model.W)[1], axis=0)}
    for name, x in (("q", f.q), ("u", f.u), ("v", f.v)):
        m2 = jnp.mean(x**2, axis=(0, 2, 3))
        out[f"{name}_variance"] = m2
        out[f"{name}_kurtosis"] = jnp.mean(x**4, axis=(0, 2, 3)) / m2**2
    return out


def statistics_misfit(statistics: dict, reference: dict, weights: dict | None = None):
    r"""Dimensionless misfit of :func:`qg_statistics` ``statistics`` to ``reference``: the
    weighted mean over the statistics (default weights 1; a weight 0 drops one) of

    * spectra: ``mean_i Σ_κ (E_i(κ) − E^ref_i(κ))² / Σ_κ E^ref_i(κ)²`` (the squared RMS
      spectral error of Ross et al.'s metric, relative to the reference's),
    * per-layer numbers: ``mean_i (x_i / x^ref_i − 1)²``.

    Zero if and only if the statistics are equal; a scalar ``jax.Array``.
    """
    weights = {name: 1.0 for name in STATISTICS} | dict(weights or {})
    unknown = set(weights) - set(STATISTICS)
    if unknown or any(not w >= 0 for w in weights.values()):
        raise ValueError(f"weights {weights!r}: names must be in {STATISTICS} and values >= 0")
    total, norm = 0.0, 0.0
    for name in STATISTICS:
        w = weights[name]
        if w == 0:
            continue
        x, r = jnp.asarray(statistics[name]), jnp.asarray(reference[name])
        if name.endswith("spectrum"):
            term = jnp.mean(jnp.sum((x - r) ** 2, axis=-1) / jnp.sum(r**2, axis=-1))
        else:
            term = jnp.mean((x / r - 1.0) ** 2)
        total, norm = total + w * term, norm + w
    if norm == 0:
        raise ValueError("statistics_misfit: all weights are 0")
    return total / norm


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
                  optimizer: optax.GradientTransformation, n_steps: int, *, window,
                  windows_per_case: int = 2, key: jax.Array,
                  checkpoint_every: int | None | str = "auto",
                  offline: tuple | None = None, offline_weight: float = 0.0,
                  offline_batch: int = 8, variance_weight: float = 0.0,
                  loss: str = "trajectory", statistics_reference=None, discard: int = 0,
                  sample_every: int | None = None, statistics_weights: dict | None = None,
                  **fit_kwargs) -> TrainResult:
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
        key: PRNG key of the window starts (and of the offline mini-batches).
        checkpoint_every: segment length of ``model.run`` (``"auto"``: ≈√steps).
        offline: optional snapshot pairs ``(q, forcing)`` ``(samples, 2, ny, nx)`` (s⁻¹,
            s⁻²) for the anchoring term ``offline_weight ×`` the offline normalised MSE on
            ``offline_batch`` random snapshots per step (see :func:`fit_offline`).
        offline_weight: λ ≥ 0 of that term (needs ``offline`` when > 0).
        offline_batch: snapshots per step of the offline term.
        variance_weight: γ ≥ 0 of the window PV-variance term (module docstring).
        loss: ``"trajectory"`` (PV error against the trajectory, the default) or
            ``"statistics"`` (misfit of the windows' statistics to those of
            ``statistics_reference``; module docstring).  With ``"statistics"`` a window
            may start at any sample of a trajectory (only its start state is used).
        statistics_reference: PV snapshots ``(samples, 2, ny, nx)`` (s⁻¹) whose statistics
            (:func:`qg_statistics`) the statistics loss matches (e.g. the training pool).
        discard: samples skipped at the start of every window by the statistics loss
            (``0 <= discard < window``); the gradient still flows through them.
        sample_every: model steps between the samples of a statistics window (default
            ``save_every``); the trajectory loss needs ``save_every``.
        statistics_weights: weights of :func:`statistics_misfit`.
        **fit_kwargs: passed to :func:`pyclimaocean.learning.fit`.

    Returns:
        :class:`~pyclimaocean.learning.TrainResult` whose ``model`` is the trained closure.
    """
    if isinstance(trajectories, jnp.ndarray | np.ndarray) and np.ndim(trajectories) == 4:
        trajectories = [trajectories]
    if not offline_weight >= 0 or not variance_weight >= 0:
        raise ValueError(f"offline_weight = {offline_weight!r} and variance_weight = "
                         f"{variance_weight!r} must be >= 0")
    if offline_weight > 0 and offline is None:
        raise ValueError("offline_weight > 0 needs offline=(q, forcing) snapshot pairs")
    if isinstance(windows_per_case, bool) or not isinstance(windows_per_case, int) or (
            windows_per_case < 1):
        raise ValueError(f"windows_per_case = {windows_per_case!r}: must be an int >= 1")
    if loss not in ("trajectory", "statistics"):
        raise ValueError(f"loss = {loss!r}. Supported losses are: 'trajectory', 'statistics'")
    sample_every = save_every if sample_every is None else sample_every
    if loss == "trajectory" and (sample_every != save_every or discard != 0
                                 or statistics_reference is not None):
        raise ValueError("sample_every, discard and statistics_reference belong to "
                         "loss='statistics'; the trajectory loss samples every save_every")
    if loss == "statistics":
        if statistics_reference is None:
            raise ValueError("loss='statistics' needs statistics_reference=(samples, 2, ny, "
                             "nx) PV snapshots of the climate to match")
        if variance_weight > 0:
            raise ValueError("variance_weight is a term of the trajectory loss; the "
                             "statistics loss already matches the PV variance")
        shortest = min(n for _, n in _window_schedule(window, 10**9))
        if not 0 <= discard < shortest or sample_every < 1:
            raise ValueError(f"discard = {discard!r} must be in [0, {shortest}) (the shortest "
                             f"window) and sample_every = {sample_every!r} >= 1")
    closed = _with_closure(model, closure)
    references = [qg_reference(closed, q, save_every) for q in trajectories]
    scale = jnp.asarray(layer_rms(np.concatenate([np.asarray(q) for q in trajectories])))
    ifft = closed.ifft

    def observe(state):
        return ifft(state.qh) / scale[:, None, None]

    def window_loss(predicted, reference):
        err = jnp.mean((predicted - reference) ** 2)
        if variance_weight > 0:
            ratio = (jnp.mean(predicted**2, axis=(0, 2, 3))
                     / jnp.mean(reference**2, axis=(0, 2, 3)))
            err = err + variance_weight * jnp.mean((ratio - 1.0) ** 2)
        return err

    trainable = select_trainable(closed, lambda m: m.closure)
    if loss == "trajectory":
        params, trajectory_loss = make_trajectory_loss(
            [closed] * len(references), references, trainable, loss=window_loss,
            observe=observe, checkpoint_every=checkpoint_every)
    else:
        params, trajectory_loss = _statistics_loss(
            closed, references, trainable, statistics_reference, discard, sample_every,
            statistics_weights, checkpoint_every)
    _, rest = eqx.partition(closed, trainable)
    base = _with_closure(model, None)
    if offline_weight > 0:
        q_off, s_off = _check_pairs(*offline, model.ny, model.nx)
        off_scale = jnp.asarray(layer_rms(s_off))
    n_cases, n_samples = len(references), references[0].n_samples
    # a statistics window only needs its start state: any sample can start one
    schedule = _window_schedule(window, n_samples if loss == "trajectory" else 10**9)
    last_start = {"trajectory": lambda n: n_samples - n + 1,
                  "statistics": lambda n: n_samples + 1}[loss]

    def loss_fn(params, batch):
        windows, idx = batch
        total = trajectory_loss(params, windows)
        if offline_weight > 0:
            trained = eqx.combine(params, rest).closure
            pred = closure_forcing(trained, base, q_off[idx])
            total = total + offline_weight * jnp.mean(
                jnp.mean((pred - s_off[idx]) ** 2, axis=(0, 2, 3)) / off_scale**2)
        return total

    class _Sampler:
        def unroll_at(self, step: int) -> int:
            return [n for first, n in schedule if step >= first][-1]

        def __call__(self, key: jax.Array, step: int):
            n = self.unroll_at(step)
            if offline_weight == 0:
                starts = jax.random.randint(key, (n_cases, windows_per_case), 0,
                                            last_start(n))
                return (n, starts), None
            k1, k2 = jax.random.split(key)
            starts = jax.random.randint(k1, (n_cases, windows_per_case), 0, last_start(n))
            return (n, starts), jax.random.randint(k2, (offline_batch,), 0, q_off.shape[0])

    result = fit(params, loss_fn, _Sampler(), optimizer, n_steps, key=key, **fit_kwargs)
    return TrainResult(model=eqx.combine(result.model, rest).closure, history=result.history)


def _statistics_loss(closed: TwoLayerQG, references: Sequence, trainable, q_reference,
                     discard: int, sample_every: int, weights: dict | None,
                     checkpoint_every):
    """``(params, loss(params, (window, starts)))`` of the statistics loss: every window runs
    ``window × sample_every`` steps from the reference state at ``starts`` ``(n_cases,
    n_windows)``; the statistics of all windows' samples after the first ``discard``, pooled,
    against those of ``q_reference``."""
    q_reference = jnp.asarray(q_reference, dtype=float)
    target = jax.tree.map(jax.lax.stop_gradient, qg_statistics(closed, q_reference))
    params, rest = eqx.partition(closed, trainable)
    states = jax.tree.map(lambda *xs: jnp.stack(xs), *(r.states for r in references))

    def loss_fn(params, batch):
        window, starts = batch
        model = eqx.combine(params, rest)

        def one_window(case_states, start):
            x0 = jax.tree.map(lambda x: x[start], case_states)
            _, qh = model.run(x0, window * sample_every, save_every=sample_every,
                              observe=lambda s: s.qh, checkpoint_every=checkpoint_every)
            return model.ifft(qh[discard:])

        q = jax.vmap(lambda cs, st: jax.vmap(lambda s: one_window(cs, s))(st))(states, starts)
        return statistics_misfit(qg_statistics(model, q.reshape((-1,) + q.shape[-3:])),
                                 target, weights)

    return params, loss_fn
