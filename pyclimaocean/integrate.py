"""Pure, differentiable time integration: ``lax.scan`` with segment checkpointing.

:func:`integrate` is the one loop every model uses.  It is a pure function of its inputs, so
``jax.grad`` of any loss of its outputs gives the adjoint of the whole run.

Memory.  A plain ``scan`` keeps the residuals of every step for the reverse sweep: O(T)
memory.  With ``checkpoint_every = s`` the run is split into ``T/s`` segments and each segment
is wrapped in ``jax.checkpoint``: the reverse sweep stores only the segment-start states
(``T/s`` of them) and recomputes one segment at a time (``s`` steps of residuals), so memory is
O(T/s + s), minimised at ``s ≈ sqrt(T)``; the cost is one extra forward sweep.

Within a segment each step is itself wrapped in ``jax.checkpoint`` with a policy that keeps
only the values tagged with one of :data:`SAVED_NAMES` (``jax.ad_checkpoint.checkpoint_name``):
``"tridiagonal_solution"`` (the implicit solves' outputs) and ``"spectral_grid_fields"`` (the
grid-space fields a pseudo-spectral step gets from inverse FFTs): the reverse sweep then
stores the step's input state and those values, and recomputes the cheap elementwise work of
the step next to its adjoint.  On a CPU this is faster than storing the hundreds of
intermediate arrays of a closure step (each stored array is one more small kernel per step),
and it costs no memory beyond O(s) states.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

__all__ = ["integrate", "default_checkpoint_every"]

State = TypeVar("State")


#: names of the values a checkpointed step keeps for its adjoint (everything else is recomputed)
SAVED_NAMES = ("tridiagonal_solution", "spectral_grid_fields")
#: the default checkpoint policy of a step: keep the values tagged with one of SAVED_NAMES
STEP_POLICY = jax.checkpoint_policies.save_only_these_names(*SAVED_NAMES)


def default_checkpoint_every(n_steps: int) -> int:
    """Segment length ≈ sqrt(n_steps) (at least 1)."""
    return max(1, int(round(math.sqrt(max(n_steps, 1)))))


def integrate(
    step: Callable[[State], State],
    state: State,
    n_steps: int,
    *,
    save_every: int | None = None,
    observe: Callable[[State], Any] | None = None,
    checkpoint_every: int | None | str = "auto",
    step_policy: Callable[..., Any] | None = None,
) -> tuple[State, Any]:
    """Advance ``state`` by ``n_steps`` applications of ``step``.

    Args:
        step: pure function ``state -> state`` (close over model, parameters and forcing; keep
            the clock inside ``state``).
        state: initial state pytree.
        n_steps: number of steps (a Python int).
        save_every: if given, ``observe(state)`` is recorded after every ``save_every`` steps;
            must divide ``n_steps``.  Outputs are stacked along a new leading axis of length
            ``n_steps // save_every``.
        observe: function of the state giving what to record (default: the state itself).
        checkpoint_every: segment length for ``jax.checkpoint`` (``"auto"`` = ≈sqrt(n_steps),
            ``None`` = no checkpointing).  Must divide ``save_every`` when both are given,
            otherwise ``n_steps``; ``"auto"`` picks the nearest divisor.
        step_policy: ``jax.checkpoint`` policy of each checkpointed step (default
            :data:`STEP_POLICY`: keep the values tagged with a name of :data:`SAVED_NAMES`
            (tridiagonal solutions, a spectral step's grid fields), recompute the rest;
            ``jax.checkpoint_policies.everything_saveable`` keeps every residual of a step,
            trading memory for the second recomputation).  Unused without checkpointing.

    Returns:
        ``(final_state, outputs)``; ``outputs`` is ``None`` when ``save_every`` is ``None``.
    """
    import numbers

    if not isinstance(n_steps, numbers.Integral) or isinstance(n_steps, bool) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative int, got {n_steps!r}")
    n_steps = int(n_steps)
    if n_steps == 0:
        if save_every is not None:
            raise ValueError("n_steps = 0 with save_every: nothing would be saved")
        return state, None
    observe = observe or (lambda s: s)
    block = n_steps if save_every is None else save_every
    if save_every is not None:
        if not isinstance(save_every, int) or save_every < 1 or n_steps % save_every:
            raise ValueError(
                f"save_every={save_every!r} must be a positive int dividing n_steps={n_steps}"
            )
    if checkpoint_every == "auto":
        checkpoint_every = _nearest_divisor(block, default_checkpoint_every(n_steps))
    if checkpoint_every is not None:
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1 or block % checkpoint_every:
            raise ValueError(
                f"checkpoint_every={checkpoint_every!r} must be a positive int dividing {block} "
                "(save_every if given, else n_steps)"
            )

    if checkpoint_every is not None:
        plain_step = step  # (a lambda: jax.checkpoint may hash its function, modules may not)
        step = jax.checkpoint(lambda c: plain_step(c),
                              policy=STEP_POLICY if step_policy is None else step_policy)

    def run_steps(s, k):
        return jax.lax.scan(lambda c, _: (step(c), None), s, None, length=k)[0]

    if checkpoint_every is None or checkpoint_every == block:
        seg = checkpoint_every

        def block_fn(s):
            if seg is None:
                return run_steps(s, block)
            return jax.checkpoint(lambda c: run_steps(c, block))(s)

    else:
        n_seg = block // checkpoint_every
        segment = jax.checkpoint(lambda c: run_steps(c, checkpoint_every))

        def block_fn(s):
            return jax.lax.scan(lambda c, _: (segment(c), None), s, None, length=n_seg)[0]

    if save_every is None:
        return block_fn(state), None

    def outer(s, _):
        s = block_fn(s)
        return s, observe(s)

    final, outs = jax.lax.scan(outer, state, None, length=n_steps // save_every)
    return final, outs


def _nearest_divisor(n: int, target: int) -> int:
    best = 1
    for d in range(1, n + 1):
        if n % d == 0 and abs(d - target) < abs(best - target):
            best = d
    return best


def tree_isfinite(tree) -> jnp.ndarray:
    """Scalar boolean: every floating leaf of ``tree`` is finite."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
