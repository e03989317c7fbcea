"""State pytree of the two-scale Lorenz-96 system."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

__all__ = ["Lorenz96State", "TwoScaleLorenz96State", "TwoScaleState"]


class TwoScaleState(eqx.Module):
    """State of the two-scale Lorenz-96 system (Lorenz 1996).

    Attributes:
        x: slow (resolved) variables X_k, shape ``(K,)`` (or ``(T, K)`` for a trajectory),
            nondimensional.
        y: fast (unresolved) variables Y_{j,k}, shape ``(K*J,)`` (or ``(T, K*J)``),
            nondimensional; ``y[k*J + j]`` is Y_{j,k}, i.e. the J fast variables attached to
            X_k are contiguous and the fast ring is periodic over all ``K*J`` values.
    """

    x: jnp.ndarray
    y: jnp.ndarray


class Lorenz96State(eqx.Module):
    """State of the one-scale model under the model contract: ``x`` ``(n,)`` and the clock
    (``time`` in model time units, ``iteration``)."""

    x: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray


class TwoScaleLorenz96State(eqx.Module):
    """State of the two-scale model under the model contract: ``x`` ``(K,)``, ``y``
    ``(K*J,)`` and the clock (``time`` in model time units, ``iteration``)."""

    x: jnp.ndarray
    y: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray
