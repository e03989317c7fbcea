"""A resolved tendency plus a closure, and the differentiable coarse solver built on it.

:class:`ClosureModel` is the one-scale (coarse) model ``dx/dt = base(x) + closure(x)``.  Both
parts are pytrees, so ``jax.grad`` of any loss of a coarse trajectory with respect to the
closure's weights differentiates *through* the RK4 solver (online / a-posteriori learning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ..integrate import integrate
from ..models.lorenz96 import rk4_step

__all__ = ["ClosureModel", "rollout", "base_tendency"]


def base_tendency(base: Any) -> Callable[[jax.Array], jax.Array]:
    """The tendency function of ``base``: its ``.tendency`` method if it has one, else itself."""
    fn = getattr(base, "tendency", None)
    if fn is not None:
        return fn
    if callable(base):
        return base
    raise TypeError(
        f"base must be a model with a .tendency method or a callable x -> dx/dt, got {type(base).__name__}"
    )


class ClosureModel(eqx.Module):
    """Coarse model with a closure: ``dx/dt = base(x) + closure(x)``.

    Attributes:
        base: resolved dynamics: a model with ``.tendency(x)`` (e.g.
            :class:`~pyclimaocean.models.lorenz96.Lorenz96`) or a callable ``x -> dx/dt``.
        closure: callable ``x -> u`` (an :class:`~pyclimaocean.learning.AbstractTendencyClosure`,
            a :class:`~pyclimaocean.learning.PolynomialClosure`, ...), shapes ``(K,) -> (K,)``.
    """

    base: Any
    closure: Any

    def tendency(self, x: jax.Array) -> jax.Array:
        """``dx/dt`` of shape ``(K,)`` (MTU⁻¹)."""
        return base_tendency(self.base)(x) + self.closure(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.tendency(x)


def rollout(
    tendency: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    dt: float,
    n_saved: int,
    steps_per_save: int = 1,
    *,
    checkpoint_every: int | None | str = None,
) -> jax.Array:
    """Differentiable RK4 forecast ``(n_saved, K)``: entry ``i`` is the state at
    ``(i + 1) * steps_per_save * dt`` (MTU).

    ``checkpoint_every`` bounds the memory of the reverse sweep: with ``steps_per_save > 1``
    it is passed to :func:`pyclimaocean.integrate` (must divide ``steps_per_save``); with
    ``steps_per_save == 1`` it is the number of saved steps per ``jax.checkpoint`` segment
    (must divide ``n_saved``): only segment-start states and the saved trajectory are kept,
    the RK4 stages are recomputed.  ``None`` keeps every residual; ``"auto"`` ≈ sqrt.
    """
    if not isinstance(n_saved, int) or n_saved < 1:
        raise ValueError(f"n_saved = {n_saved!r}: must be an int >= 1")
    x0 = jnp.asarray(x0)

    def step(s):
        return rk4_step(tendency, s, dt)

    if steps_per_save == 1 and checkpoint_every is not None:
        seg = (
            _nearest_divisor(n_saved, max(1, round(n_saved**0.5)))
            if checkpoint_every == "auto"
            else checkpoint_every
        )
        if not isinstance(seg, int) or seg < 1 or n_saved % seg:
            raise ValueError(
                f"checkpoint_every = {checkpoint_every!r}: must be a positive int dividing "
                f"n_saved = {n_saved}"
            )

        @jax.checkpoint
        def segment(s):
            def body(c, _):
                c = step(c)
                return c, c

            return jax.lax.scan(body, s, None, length=seg)

        _, traj = jax.lax.scan(lambda s, _: segment(s), x0, None, length=n_saved // seg)
        return traj.reshape((n_saved,) + x0.shape)
    _, traj = integrate(
        step,
        x0,
        n_saved * steps_per_save,
        save_every=steps_per_save,
        checkpoint_every=checkpoint_every,
    )
    return traj


def _nearest_divisor(n: int, target: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - target))
