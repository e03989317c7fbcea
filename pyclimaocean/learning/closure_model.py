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
        closure: callable ``x -> u`` (an :class:`~pyclimaocean.learning.AbstractClosure`,
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
    ``(i + 1) * steps_per_save * dt`` (MTU).  Uses :func:`pyclimaocean.integrate`."""
    if n_saved < 1:
        raise ValueError(f"n_saved = {n_saved!r}: must be >= 1")
    _, traj = integrate(
        lambda s: rk4_step(tendency, s, dt),
        jnp.asarray(x0),
        n_saved * steps_per_save,
        save_every=steps_per_save,
        checkpoint_every=checkpoint_every,
    )
    return traj
