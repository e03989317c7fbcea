"""Pure, differentiable time integration: ``lax.scan`` with segment checkpointing.

:func:`integrate` is the one loop every model uses.  It is a pure function of its inputs, so
``jax.grad`` of any loss of its outputs gives the adjoint of the whole run.

Memory.  A plain ``scan`` keeps the residuals of every step for the reverse sweep: O(T)
memory.  With ``checkpoint_every = s`` the run is split into ``T/s`` segments and each segment
is wrapped in ``jax.checkpoint``: the reverse sweep stores only the segment-start states
(``T/s`` of them) and recomputes one segment at a time (``s`` steps of residuals), so memory is
O(T/s + s), minimised at ``s ≈ sqrt(T)``; the cost is one extra forward sweep.

Nested (multi-level) checkpointing.  ``checkpoint_every=(s1, s2, …)`` (or ``"auto"`` with
``checkpoint_levels=n``) nests the segments: the run is split into ``T/s1`` checkpointed
segments, each of them into ``s1/s2`` checkpointed sub-segments, and so on; the reverse sweep
then stores ``T/s1 + s1/s2 + … + s_last`` states (≈ ``n T^(1/n)`` for equal factors, e.g.
30 instead of 63 for ``T = 1000`` and ``n = 3``) at the cost of one more forward sweep per
extra level (each step is recomputed once per level).  ``n = 2`` (one level of segments plus
the steps inside one of them) is the √T scheme above and the default.

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

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

__all__ = ["integrate", "default_checkpoint_every", "default_checkpoint_lengths"]

State = TypeVar("State")


#: names of the values a checkpointed step keeps for its adjoint (everything else is recomputed)
SAVED_NAMES = ("tridiagonal_solution", "spectral_grid_fields")
#: the default checkpoint policy of a step: keep the values tagged with one of SAVED_NAMES
STEP_POLICY = jax.checkpoint_policies.save_only_these_names(*SAVED_NAMES)


def default_checkpoint_every(n_steps: int) -> int:
    """Segment length ≈ sqrt(n_steps) (at least 1)."""
    return max(1, int(round(math.sqrt(max(n_steps, 1)))))


def default_checkpoint_lengths(n_steps: int, block: int | None = None,
                               levels: int = 2) -> tuple[int, ...]:
    """Nested segment lengths ``(s1, s2, …)`` of ``levels``-level checkpointing.

    Each length is the divisor of the previous one (of ``block``, default ``n_steps``, for
    ``s1``) nearest to equal factors: ``s1 ≈ n_steps^((levels-1)/levels)``, then
    ``s_{i+1} ≈ s_i^((m-1)/m)`` with ``m`` the levels left, so that ``n_steps/s1 ≈ s1/s2 ≈ … ≈
    s_last``.  ``levels = 2`` gives ``(≈sqrt(n_steps),)`` (:func:`default_checkpoint_every`).
    Repeated lengths (short runs) are dropped.
    """
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 2:
        raise ValueError(f"checkpoint_levels must be an int >= 2, got {levels!r}")
    block = n_steps if block is None else block
    if levels == 2:
        return (_nearest_divisor(block, default_checkpoint_every(n_steps)),)
    lengths: list[int] = []
    span, total = block, max(n_steps, 1)
    for m in range(levels, 1, -1):
        target = max(1, int(round(total ** ((m - 1) / m))))
        s = _nearest_divisor(span, target)
        if not lengths or s < lengths[-1]:
            lengths.append(s)
        span = total = s
    return tuple(lengths)


def integrate(
    step: Callable[[State], State],
    state: State,
    n_steps: int,
    *,
    save_every: int | None = None,
    observe: Callable[[State], Any] | None = None,
    checkpoint_every: int | tuple[int, ...] | None | str = "auto",
    step_policy: Callable[..., Any] | None = None,
    checkpoint_levels: int | None = None,
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
            otherwise ``n_steps``; ``"auto"`` picks the nearest divisor.  A tuple
            ``(s1, s2, …)`` of decreasing lengths, each dividing the one before, nests the
            checkpointed segments (see the module docstring): stored states ≈ ``n_steps/s1 +
            s1/s2 + … + s_last``, one more forward sweep per extra length.
        step_policy: ``jax.checkpoint`` policy of each checkpointed step (default
            :data:`STEP_POLICY`: keep the values tagged with a name of :data:`SAVED_NAMES`
            (tridiagonal solutions, a spectral step's grid fields), recompute the rest;
            ``jax.checkpoint_policies.everything_saveable`` keeps every residual of a step,
            trading memory for the second recomputation).  Unused without checkpointing.
        checkpoint_levels: with ``checkpoint_every="auto"``: the number of checkpoint levels
            (default 2: √T segments, memory ≈ ``2 sqrt(n_steps)`` states, gradient ≈ forward
            + one recomputation sweep + the steps' adjoints; 3: memory ≈ ``3 n_steps^(1/3)``
            states for one more recomputation sweep; lengths from
            :func:`default_checkpoint_lengths`).  Not allowed with an explicit
            ``checkpoint_every``.

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
        lengths: tuple[int, ...] | None = default_checkpoint_lengths(
            n_steps, block, 2 if checkpoint_levels is None else checkpoint_levels)
    elif checkpoint_levels is not None:
        raise ValueError("checkpoint_levels needs checkpoint_every='auto' (an explicit "
                         "checkpoint_every gives the nested lengths itself)")
    elif checkpoint_every is None:
        lengths = None
    else:
        lengths = (tuple(checkpoint_every) if isinstance(checkpoint_every, (tuple, list))
                   else (checkpoint_every,))
        span = block
        for s in lengths:
            if (not isinstance(s, int) or isinstance(s, bool) or s < 1 or span % s
                    or (span != block and s == span)):
                raise ValueError(
                    f"checkpoint_every={checkpoint_every!r}: each length must be a positive int "
                    f"dividing the one before and smaller than it, the first dividing {block} "
                    "(save_every if given, else n_steps)"
                )
            span = s

    if lengths is not None:
        plain_step = step  # (a lambda: jax.checkpoint may hash its function, modules may not)
        step = jax.checkpoint(lambda c: plain_step(c),
                              policy=STEP_POLICY if step_policy is None else step_policy)

    def run_steps(s, k):
        return jax.lax.scan(lambda c, _: (step(c), None), s, None, length=k)[0]

    block_fn = (functools.partial(run_steps, k=block) if lengths is None
                else _nested_segments(run_steps, block, lengths))

    if save_every is None:
        return block_fn(state), None

    def outer(s, _):
        s = block_fn(s)
        return s, observe(s)

    final, outs = jax.lax.scan(outer, state, None, length=n_steps // save_every)
    return final, outs


def _nested_segments(run_steps, span: int, lengths: tuple[int, ...]):
    """``state -> state`` over ``span`` steps: ``span // lengths[0]`` checkpointed segments
    (a ``lax.scan`` of them), each made the same way of the remaining ``lengths``; the
    innermost segment runs ``run_steps``."""
    if not lengths:
        return functools.partial(run_steps, k=span)
    seg_len = lengths[0]
    inner = _nested_segments(run_steps, seg_len, lengths[1:])
    segment = jax.checkpoint(lambda c: inner(c))
    n_seg = span // seg_len
    if n_seg == 1:
        return segment
    return lambda s: jax.lax.scan(lambda c, _: (segment(c), None), s, None, length=n_seg)[0]


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
