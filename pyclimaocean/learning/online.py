r"""Online (a-posteriori) training of any model's leaves through its solver.

The pieces are model-agnostic: a *model* here is any equinox pytree with

* ``initial_state()`` and
* ``run(state, n_steps, save_every=..., observe=...) -> (final_state, outputs)``

(the contract of :func:`pyclimaocean.integrate`; ``ColumnModel`` has it).  A *case* is one
model (e.g. one surface forcing) with one :class:`ReferenceTrajectory` to match.  Several cases
share the trainable leaves (selected with an ``eqx.partition`` filter spec, e.g. a closure's
network weights) and differ in the others (forcing, initial conditions, ...), which are stacked
and ``vmap``-ed over, so all cases run in one batched solve.

The training loss on a window of ``n`` samples starting at reference sample ``i`` is

.. math::

    L = \operatorname{loss}\big(\,\mathrm{observe}(\mathcal{M}^{(k s)}(x^{ref}_i))_{k=1..n},\;
                            \mathrm{observe}(x^{ref}_{i+k})_{k=1..n}\big),

the forecast started from the reference state, ``s`` model steps between samples, averaged over
the cases and windows of a batch.  Its gradient back-propagates through ``model.run`` (which
uses ``jax.checkpoint`` segments, so memory stays O(√(n s)) per window).

* :func:`reference_trajectory` runs a model and records its states;
* :func:`select_trainable` builds the filter spec for "the inexact arrays under ``where``";
* :func:`make_trajectory_loss` gives ``loss(trainable, (window, starts))`` for any cases;
* :func:`fit_online` trains with optax through :func:`pyclimaocean.learning.fit` (progress
  lines, loss history, divergence check, checkpoints);
* :func:`trajectory_rmse` evaluates full runs against references.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .training import TrainResult, fit

__all__ = [
    "ReferenceTrajectory",
    "reference_trajectory",
    "select_trainable",
    "mean_squared_error",
    "make_trajectory_loss",
    "fit_online",
    "trajectory_rmse",
]


class ReferenceTrajectory(eqx.Module):
    """States of a reference run, every ``save_every`` model steps.

    Attributes:
        states: the model's state pytree with a leading time axis of length
            ``n_samples + 1``; sample 0 is the initial state.
        save_every: model steps between samples (static).
    """

    states: Any
    save_every: int = eqx.field(static=True)

    @property
    def n_samples(self) -> int:
        """Number of samples after the initial state."""
        return int(jax.tree_util.tree_leaves(self.states)[0].shape[0]) - 1


def reference_trajectory(
    model: Any, n_samples: int, save_every: int, *, state: Any = None
) -> ReferenceTrajectory:
    """Run ``model`` for ``n_samples * save_every`` steps from ``state`` (default its initial
    state) and record the state every ``save_every`` steps, the initial state included."""
    for name, value in (("n_samples", n_samples), ("save_every", save_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} = {value!r}: must be an int >= 1")
    state = model.initial_state() if state is None else state
    states = _run_and_record(_as_arrays(model), state, n_samples * save_every, save_every)
    return ReferenceTrajectory(states=states, save_every=save_every)


def _as_arrays(tree: Any) -> Any:
    """Python-float leaves as arrays, so that models differing only in those numbers (e.g.
    forcings) share one compiled run under ``eqx.filter_jit``."""
    return jax.tree.map(lambda x: jnp.asarray(x) if isinstance(x, float) else x, tree)


@eqx.filter_jit
def _run_and_record(model, state, n_steps: int, save_every: int):
    _, outputs = model.run(state, n_steps, save_every=save_every)
    return jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), state, outputs)


def select_trainable(model: Any, where: Callable[[Any], Any]) -> Any:
    """Filter spec (for ``eqx.partition``) selecting the inexact-array leaves of ``where(model)``.

    Example: ``select_trainable(model, lambda m: m.closure)`` trains a closure's weights and
    keeps the forcing, grid and initial conditions fixed.
    """
    spec = jax.tree.map(lambda _: False, model)
    return eqx.tree_at(where, spec, replace=jax.tree.map(eqx.is_inexact_array, where(model)))


def mean_squared_error(predicted: Any, reference: Any) -> jax.Array:
    """Mean over all leaves (each averaged over its entries) of the squared difference."""
    errors = jax.tree.map(lambda p, r: jnp.mean((p - r) ** 2), predicted, reference)
    leaves = jax.tree_util.tree_leaves(errors)
    return sum(leaves) / len(leaves)


def _observe_default(state):
    return state


def _stack_cases(models: Sequence[Any], trainable: Any) -> tuple[Any, Any]:
    """``(trainable leaves of models[0], the other leaves of every model stacked on axis 0)``."""
    if len(models) == 0:
        raise ValueError("models is empty: give at least one model (one per case)")
    params, first = eqx.partition(models[0], trainable)
    rests = []
    for i, model in enumerate(models):
        p, rest = eqx.partition(model, trainable)
        if jax.tree.structure(rest) != jax.tree.structure(first):
            raise ValueError(
                f"models[{i}] ({type(model).__name__}) differs in structure or static fields "
                f"from models[0]; all cases must be the same model with different leaf values"
            )
        same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), p, params)
        if not all(jax.tree_util.tree_leaves(same)):
            raise ValueError(
                f"the trainable leaves of models[{i}] differ from those of models[0]: the cases "
                "share one set of trainable leaves (build every case with the same closure)"
            )
        rests.append(rest)

    def stack(path, *leaves):
        arrays = [jnp.asarray(x) for x in leaves]
        if not all(jnp.issubdtype(a.dtype, jnp.number) or a.dtype == bool for a in arrays):
            raise TypeError(
                f"leaf {jax.tree_util.keystr(path)} is not numeric ({type(leaves[0]).__name__}); "
                "mark it eqx.field(static=True) to use the model in fit_online"
            )
        return jnp.stack(arrays)

    return params, jax.tree_util.tree_map_with_path(stack, *rests)


def _check_references(references: Sequence[ReferenceTrajectory], n_models: int) -> int:
    if len(references) != n_models:
        raise ValueError(
            f"{len(references)} references for {n_models} models: give one reference per case"
        )
    save_every = {r.save_every for r in references}
    n_samples = {r.n_samples for r in references}
    if len(save_every) != 1 or len(n_samples) != 1:
        raise ValueError(
            f"references differ in save_every {sorted(save_every)} or n_samples "
            f"{sorted(n_samples)}: all cases need the same sampling"
        )
    return save_every.pop()


def make_trajectory_loss(
    models: Sequence[Any],
    references: Sequence[ReferenceTrajectory],
    trainable: Any,
    *,
    loss: Callable[[Any, Any], jax.Array] = mean_squared_error,
    observe: Callable[[Any], Any] | None = None,
    checkpoint_every: int | None | str = "auto",
) -> tuple[Any, Callable[[Any, tuple[int, jax.Array]], jax.Array]]:
    """Window loss of ``len(models)`` cases through the solver.

    Args:
        models: one model per case, same structure, same trainable leaves.
        references: one :class:`ReferenceTrajectory` per case, same sampling.
        trainable: filter spec for ``eqx.partition`` (a bool-returning callable or a pytree
            prefix of bools, e.g. from :func:`select_trainable`).
        loss: ``loss(predicted, reference) -> scalar`` on observations stacked over a window
            (leading axis ``n``).
        observe: what is compared, ``observe(state)`` (default: the whole state).
        checkpoint_every: for ``model.run`` (``"auto"``: segments of ≈√steps).

    Returns:
        ``(params, loss_fn)``: the trainable leaves of ``models[0]`` and
        ``loss_fn(params, (window, starts))`` with ``window`` an int (samples per window) and
        ``starts`` an int array ``(n_cases, n_windows)`` of reference start samples (each in
        ``[0, n_samples - window]``); the mean over cases and windows.
    """
    observe = observe or _observe_default
    save_every = _check_references(references, len(models))
    params, rests = _stack_cases(models, trainable)
    states = jax.tree.map(lambda *xs: jnp.stack(xs), *(r.states for r in references))
    targets = jax.vmap(jax.vmap(observe))(states)  # (n_cases, n_samples + 1, ...)

    def loss_fn(params, batch):
        window, starts = batch

        def one_case(rest, case_states, case_targets, case_starts):
            model = eqx.combine(params, rest)

            def one_window(start):
                x0 = jax.tree.map(lambda x: x[start], case_states)
                _, predicted = model.run(
                    x0,
                    window * save_every,
                    save_every=save_every,
                    observe=observe,
                    checkpoint_every=checkpoint_every,
                )
                reference = jax.tree.map(
                    lambda y: jax.lax.dynamic_slice_in_dim(y, start + 1, window), case_targets
                )
                return loss(predicted, reference)

            return jnp.mean(jax.vmap(one_window)(case_starts))

        return jnp.mean(jax.vmap(one_case)(rests, states, targets, starts))

    return params, loss_fn


def _window_schedule(window: int | Sequence[tuple[int, int]], n_samples: int):
    sched = [(0, window)] if isinstance(window, int) else [(int(s), int(n)) for s, n in window]
    increasing = all(a[0] < b[0] for a, b in zip(sched, sched[1:], strict=False))
    if not sched or sched[0][0] != 0 or not increasing:
        raise ValueError(
            f"window = {window!r}: an int or [(first_step, samples), ...] starting at step 0 "
            "with increasing steps"
        )
    if any(not 1 <= n <= n_samples for _, n in sched):
        raise ValueError(f"window = {window!r}: window lengths must be in [1, {n_samples}]")
    return sched


def fit_online(
    models: Sequence[Any],
    references: Sequence[ReferenceTrajectory],
    optimizer: optax.GradientTransformation,
    n_steps: int,
    *,
    trainable: Any,
    window: int | Sequence[tuple[int, int]],
    windows_per_case: int = 4,
    loss: Callable[[Any, Any], jax.Array] = mean_squared_error,
    observe: Callable[[Any], Any] | None = None,
    checkpoint_every: int | None | str = "auto",
    key: jax.Array,
    **fit_kwargs,
) -> TrainResult:
    """Train the ``trainable`` leaves shared by ``models`` on multi-step windows of references.

    Each optimisation step draws ``windows_per_case`` random start samples per case, runs every
    case forward ``window`` samples from the reference state there (all cases and windows in
    one ``vmap``-ed, differentiable solve) and applies one ``optimizer`` update to the gradient
    of the mean window loss (see :func:`make_trajectory_loss`).

    Args:
        models: one model per case (e.g. one forcing each), all built with the same trainable
            part (e.g. the same :class:`~pyclimaocean.closures.NeuralDiffusivityClosure`).
        references: one :class:`ReferenceTrajectory` per case (e.g. CATKE runs).
        optimizer: optax ``GradientTransformation``.
        n_steps: optimisation steps (>= 1).
        trainable: filter spec for ``eqx.partition`` (see :func:`select_trainable`).
        window: samples per window, or a curriculum ``[(first_step, samples), ...]``.
        windows_per_case: windows drawn per case and step (>= 1).
        loss, observe, checkpoint_every: see :func:`make_trajectory_loss`.
        key: PRNG key for the window starts.
        **fit_kwargs: passed to :func:`pyclimaocean.learning.fit` (``log_every``, ``log``,
            ``name``, ``checkpoint_path``, ``validation`` as a ``(window, starts)`` batch, ...).

    Returns:
        :class:`~pyclimaocean.learning.TrainResult` whose ``model`` is ``models[0]`` with the
        trained leaves (take e.g. ``result.model.closure``); ``history["unroll"]`` is the
        window length in samples.
    """
    if (
        isinstance(windows_per_case, bool)
        or not isinstance(windows_per_case, int)
        or (windows_per_case < 1)
    ):
        raise ValueError(f"windows_per_case = {windows_per_case!r}: must be an int >= 1")
    params, loss_fn = make_trajectory_loss(
        models,
        references,
        trainable,
        loss=loss,
        observe=observe,
        checkpoint_every=checkpoint_every,
    )
    n_cases, n_samples = len(models), references[0].n_samples
    schedule = _window_schedule(window, n_samples)

    class _Sampler:
        def unroll_at(self, step: int) -> int:
            return [n for first, n in schedule if step >= first][-1]

        def __call__(self, key: jax.Array, step: int):
            n = self.unroll_at(step)
            starts = jax.random.randint(key, (n_cases, windows_per_case), 0, n_samples - n + 1)
            return n, starts

    result = fit(params, loss_fn, _Sampler(), optimizer, n_steps, key=key, **fit_kwargs)
    _, rest = eqx.partition(models[0], trainable)
    return TrainResult(model=eqx.combine(result.model, rest), history=result.history)


def trajectory_rmse(
    model: Any,
    reference: ReferenceTrajectory,
    observe: Callable[[Any], Any] | None = None,
) -> Any:
    """Root-mean-square error of a full run of ``model`` from the reference's initial state
    against the reference, over all samples after the first and all entries; one number per
    leaf of ``observe(state)`` (same pytree structure; units of the observed fields)."""
    observe = observe or _observe_default
    n_steps = reference.n_samples * reference.save_every
    errors = _rmse(_as_arrays(model), reference.states, n_steps, reference.save_every, observe)
    return jax.tree.map(float, errors)


@eqx.filter_jit
def _rmse(model, states, n_steps: int, save_every: int, observe: Callable[[Any], Any]):
    x0 = jax.tree.map(lambda x: x[0], states)
    _, predicted = model.run(x0, n_steps, save_every=save_every, observe=observe)
    target = jax.vmap(observe)(jax.tree.map(lambda x: x[1:], states))
    return jax.tree.map(lambda p, r: jnp.sqrt(jnp.mean((p - r) ** 2)), predicted, target)
