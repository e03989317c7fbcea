"""Mixed-layer depth diagnostics of a column state."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from .model import ColumnModel
    from .state import ColumnState

__all__ = ["mixed_layer_depth"]


def mixed_layer_depth(model: ColumnModel, state: ColumnState, threshold: float | None = None):
    """Mixed-layer depth (m, positive): depth of the maximum of N² (the entrainment layer).

    With ``threshold`` (m s⁻²) it is instead the shallowest depth where the buoyancy is
    ``threshold`` below its surface value (linearly interpolated between centres).
    """
    g = model.grid
    b = model.buoyancy(state)
    if threshold is None:
        n2 = model.buoyancy_frequency_squared(state) if b.ndim == 1 else jax.vmap(
            model.buoyancy_frequency_squared)(state)
        k = jnp.argmax(n2, axis=-1)
        return -g.z_interior_faces[k]
    db = b[..., -1:] - b  # >= 0 below a stable surface layer
    below = db > threshold
    # index of the shallowest centre exceeding the threshold (search from the top)
    idx_from_top = jnp.argmax(below[..., ::-1], axis=-1)
    k = b.shape[-1] - 1 - idx_from_top
    k_up = jnp.minimum(k + 1, b.shape[-1] - 1)
    z = g.z_centers
    def pick(a, idx):
        return jnp.take_along_axis(a, idx[..., None], axis=-1)[..., 0]

    frac = (threshold - pick(db, k_up)) / (pick(db, k) - pick(db, k_up) + 1e-30)
    zk = z[k_up] + frac * (z[k] - z[k_up])
    return jnp.where(jnp.any(below, axis=-1), -zk, g.depth)
