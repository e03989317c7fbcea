"""The transpose of a broadcast, shared by the hand-written adjoints (QG, basin)."""

from __future__ import annotations

import jax.numpy as jnp


def sum_to_shape(x, shape):
    """Cotangent of an operand of shape ``shape`` that was broadcast to ``x``'s shape.

    Sums ``x`` over the leading axes it has beyond ``shape`` and over the axes where
    ``shape`` is 1 (the transpose of NumPy broadcasting); the result has shape ``shape``.
    Units are those of ``x``.
    """
    x = jnp.asarray(x)
    shape = tuple(shape)
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"sum_to_shape: x has {x.ndim} axes, fewer than shape {shape}")
    x = jnp.sum(x, axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    x = jnp.sum(x, axis=axes, keepdims=True) if axes else x
    return jnp.broadcast_to(x, shape)
