"""Generic training loop (optax) with offline and online losses for closures.

* :func:`fit` trains any equinox pytree ``model`` on ``loss_fn(model, batch) -> scalar`` with an
  optax ``GradientTransformation``, drawing batches from ``sampler(key, step)``.  It prints
  progress, records the loss history, checks for divergence and writes checkpoints
  (``eqx.tree_serialise_leaves``, atomic).
* :func:`offline_loss`: mean squared error of the closure against diagnosed subgrid
  tendencies, batch ``(x, u)`` of shapes ``(B, K)``, ``(B, K)`` (a-priori learning).
* :func:`make_online_loss`: mean squared error of coarse RK4 forecasts started from truth
  states against the truth trajectory, batch of windows ``(B, n + 1, K)``; the gradient flows
  through the solver (a-posteriori learning).
* :class:`OfflineSampler`, :class:`WindowSampler` draw random batches; the window sampler
  takes a curriculum ``schedule`` of unroll lengths.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .checkpoint import atomic_write_text, save_model
from .closure_model import ClosureModel, rollout
from .data import trajectory_windows

__all__ = [
    "TrainingDivergedError",
    "TrainResult",
    "fit",
    "offline_loss",
    "make_online_loss",
    "OfflineSampler",
    "WindowSampler",
    "make_optimizer",
    "concatenate_histories",
    "write_history_csv",
]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite (message says at which step and what to try)."""


def offline_loss(closure: Callable, batch: tuple[jax.Array, jax.Array]) -> jax.Array:
    """Mean squared error ``mean((closure(x) - u)²)`` over a batch ``x, u`` of shape ``(B, K)``."""
    x, u = batch
    return jnp.mean((jax.vmap(closure)(x) - u) ** 2)


def make_online_loss(
    base: Any,
    dt: float,
    steps_per_sample: int = 1,
    *,
    checkpoint_every: int | None | str = None,
) -> Callable[[Callable, jax.Array], jax.Array]:
    """Online (trajectory) loss of a closure for the coarse model ``base + closure``.

    The returned ``loss(closure, windows)`` takes truth windows of shape ``(B, n + 1, K)``
    sampled every ``steps_per_sample * dt`` MTU, integrates the coarse model with RK4 (step
    ``dt``) from ``windows[:, 0]`` for ``n`` samples and returns the mean squared difference
    to ``windows[:, 1:]`` over batch, lead and ``k``.  Differentiable w.r.t. the closure
    through the whole unrolled solver.

    Args:
        base: resolved dynamics (model with ``.tendency`` or callable).
        dt: coarse RK4 step (MTU).
        steps_per_sample: coarse steps between truth samples (>= 1).
        checkpoint_every: passed to :func:`pyclimaocean.integrate` (``None``: keep all
            residuals; fine for short unrolls).
    """
    if not dt > 0:
        raise ValueError(f"dt = {dt!r}: must be > 0 (MTU)")
    if not isinstance(steps_per_sample, int) or steps_per_sample < 1:
        raise ValueError(f"steps_per_sample = {steps_per_sample!r}: must be an int >= 1")

    def loss(closure: Callable, windows: jax.Array) -> jax.Array:
        if windows.ndim != 3 or windows.shape[1] < 2:
            raise ValueError(
                f"online loss expects windows (B, n + 1, K) with n >= 1, got {windows.shape}"
            )
        model = ClosureModel(base, closure)
        n = windows.shape[1] - 1

        def one(x0):
            return rollout(
                model.tendency, x0, dt, n, steps_per_sample, checkpoint_every=checkpoint_every
            )

        pred = jax.vmap(one)(windows[:, 0])
        return jnp.mean((pred - windows[:, 1:]) ** 2)

    return loss


@dataclass
class OfflineSampler:
    """Random mini-batches ``(x, u)`` of shape ``(batch_size, K)`` from paired samples."""

    x: jax.Array
    u: jax.Array
    batch_size: int

    def __post_init__(self):
        self.x, self.u = jnp.asarray(self.x), jnp.asarray(self.u)
        if self.x.shape != self.u.shape:
            raise ValueError(f"x {self.x.shape} and u {self.u.shape} must have the same shape")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size = {self.batch_size!r}: must be an int >= 1")

    def __call__(self, key: jax.Array, step: int) -> tuple[jax.Array, jax.Array]:
        idx = jax.random.randint(key, (self.batch_size,), 0, self.x.shape[0])
        return self.x[idx], self.u[idx]


@dataclass
class WindowSampler:
    """Random truth windows ``(batch_size, n + 1, K)`` from a series ``x`` of shape ``(T, K)``.

    ``schedule`` is a curriculum: a sequence of ``(first_step, n)`` pairs, sorted by step,
    starting at step 0; the unroll length ``n`` in force at a training step is the last pair
    whose ``first_step`` is <= the step.  A single int means a fixed ``n``.
    """

    x: jax.Array
    batch_size: int
    schedule: int | Sequence[tuple[int, int]] = 10
    _schedule: tuple[tuple[int, int], ...] = field(init=False, repr=False)

    def __post_init__(self):
        self.x = jnp.asarray(self.x)
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size = {self.batch_size!r}: must be an int >= 1")
        sched = [(0, self.schedule)] if isinstance(self.schedule, int) else list(self.schedule)
        sched = [(int(s), int(n)) for s, n in sched]
        if (
            not sched
            or sched[0][0] != 0
            or any(a[0] >= b[0] for a, b in zip(sched, sched[1:], strict=False))
        ):
            raise ValueError(
                f"schedule = {self.schedule!r}: must start at step 0 with strictly increasing steps"
            )
        longest = max(n for _, n in sched)
        if any(n < 1 for _, n in sched) or longest >= self.x.shape[0]:
            raise ValueError(
                f"schedule = {self.schedule!r}: unroll lengths must be in [1, {self.x.shape[0] - 1}]"
            )
        self._schedule = tuple(sched)

    def unroll_at(self, step: int) -> int:
        n = self._schedule[0][1]
        for first, length in self._schedule:
            if step >= first:
                n = length
        return n

    def __call__(self, key: jax.Array, step: int) -> jax.Array:
        n = self.unroll_at(step)
        starts = jax.random.randint(key, (self.batch_size,), 0, self.x.shape[0] - n)
        return trajectory_windows(self.x, starts, n)


def make_optimizer(
    learning_rate: float = 1e-3,
    n_steps: int | None = None,
    *,
    clip_norm: float | None = 1.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    """Adam(W) with optional global-norm clipping and a cosine decay over ``n_steps``.

    Args:
        learning_rate: peak learning rate (> 0).
        n_steps: decay horizon; ``None`` keeps the rate constant.
        clip_norm: gradient global-norm clip (``None``: no clipping).
        weight_decay: decoupled weight decay of AdamW (>= 0).
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate = {learning_rate!r}: must be > 0")
    if weight_decay < 0:
        raise ValueError(f"weight_decay = {weight_decay!r}: must be >= 0")
    lr = (
        optax.cosine_decay_schedule(learning_rate, n_steps, alpha=0.05)
        if n_steps
        else learning_rate
    )
    parts = []
    if clip_norm is not None:
        parts.append(optax.clip_by_global_norm(clip_norm))
    parts.append(optax.adamw(lr, weight_decay=weight_decay))
    return optax.chain(*parts)


@dataclass
class TrainResult:
    """Result of :func:`fit`.

    Attributes:
        model: trained model.
        history: dict of equal-length lists: ``step``, ``loss`` (training batch loss),
            ``validation_loss`` (NaN where not evaluated), ``unroll`` (or 0), ``elapsed_s``,
            ``phase`` (the ``name`` given to :func:`fit`).
    """

    model: Any
    history: dict[str, list]

    def to_csv(self, path: str | Path) -> Path:
        """Write the history as CSV (header ``step,loss,validation_loss,unroll,elapsed_s,phase``),
        atomically."""
        return write_history_csv(path, self.history)


HISTORY_COLUMNS = ("step", "loss", "validation_loss", "unroll", "elapsed_s", "phase")


def concatenate_histories(*histories: dict[str, list]) -> dict[str, list]:
    """Join loss histories of consecutive training phases; steps continue across phases."""
    out: dict[str, list] = {c: [] for c in HISTORY_COLUMNS}
    offset = 0
    for h in histories:
        for c in HISTORY_COLUMNS:
            out[c].extend(h[c] if c != "step" else [s + offset for s in h[c]])
        offset += len(h["step"])
    return out


def write_history_csv(path: str | Path, history: dict[str, list]) -> Path:
    """Write a loss history (see :class:`TrainResult`) as CSV, atomically."""

    rows = zip(*(history[c] for c in HISTORY_COLUMNS), strict=True)
    lines = [",".join(HISTORY_COLUMNS)]
    for row in rows:
        lines.append(",".join(v if isinstance(v, str) else repr(v) for v in row))
    return atomic_write_text(path, "\n".join(lines) + "\n")


def fit(
    model: Any,
    loss_fn: Callable[[Any, Any], jax.Array],
    sampler: Callable[[jax.Array, int], Any],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    *,
    key: jax.Array,
    validation: Any = None,
    log_every: int = 100,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int | None = None,
    log: Callable[[str], None] | None = print,
    name: str = "train",
) -> TrainResult:
    """Minimise ``loss_fn(model, batch)`` over the inexact-array leaves of ``model`` with optax.

    Args:
        model: equinox pytree (a closure, a :class:`ClosureModel`, ...); its floating-point
            array leaves are trained, everything else is kept fixed.
        loss_fn: ``(model, batch) -> scalar``, pure and differentiable.
        sampler: ``(key, step) -> batch``; may change the batch shape between steps
            (curriculum), each new shape compiles once.
        optimizer: optax ``GradientTransformation``.
        n_steps: optimisation steps (>= 1).
        key: PRNG key for the batches.
        validation: a fixed batch; its loss is evaluated every ``log_every`` steps and at the end.
        log_every: progress line every ``log_every`` steps (>= 1).
        checkpoint_path: if given, the model is written there (atomically) every
            ``checkpoint_every`` steps and at the end.
        log: function receiving progress lines (``None``: silent).
        name: label for progress lines.

    Raises:
        TrainingDivergedError: the loss became non-finite (the step is named).
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps = {n_steps!r}: must be an int >= 1")
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every = {log_every!r}: must be an int >= 1")
    if checkpoint_every is not None and (
        not isinstance(checkpoint_every, int) or checkpoint_every < 1
    ):
        raise ValueError(f"checkpoint_every = {checkpoint_every!r}: must be an int >= 1 or None")

    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(model, opt_state, batch):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, batch)
        updates, opt_state = optimizer.update(
            grads, opt_state, eqx.filter(model, eqx.is_inexact_array)
        )
        return eqx.apply_updates(model, updates), opt_state, loss

    val_fn = eqx.filter_jit(loss_fn)
    history: dict[str, list] = {k: [] for k in HISTORY_COLUMNS}
    unroll_at = getattr(sampler, "unroll_at", lambda step: 0)
    t0 = time.perf_counter()
    for step in range(n_steps):
        key, sub = jax.random.split(key)
        batch = sampler(sub, step)
        model, opt_state, loss = train_step(model, opt_state, batch)
        loss = float(loss)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"{name}: loss = {loss} at step {step}; lower the learning rate, shorten the "
                "unroll (online training) or add gradient clipping"
            )
        last = step == n_steps - 1
        val = float("nan")
        if validation is not None and ((step + 1) % log_every == 0 or last):
            val = float(val_fn(model, validation))
        history["step"].append(step)
        history["loss"].append(loss)
        history["validation_loss"].append(val)
        history["unroll"].append(int(unroll_at(step)))
        history["elapsed_s"].append(time.perf_counter() - t0)
        history["phase"].append(name)
        if log is not None and ((step + 1) % log_every == 0 or step == 0 or last):
            window = history["loss"][-log_every:]
            msg = f"{name} step {step + 1}/{n_steps}  loss {np.mean(window):.4g}"
            if not math.isnan(val):
                msg += f"  validation {val:.4g}"
            if unroll_at(step):
                msg += f"  unroll {unroll_at(step)}"
            log(msg + f"  ({history['elapsed_s'][-1]:.1f} s)")
        if checkpoint_path is not None and (
            last or (checkpoint_every is not None and (step + 1) % checkpoint_every == 0)
        ):
            save_model(checkpoint_path, model)
    return TrainResult(model=model, history=history)
