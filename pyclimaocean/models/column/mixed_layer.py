r"""Mixed-layer depth diagnostics of a column state.

:func:`mixed_layer_depth` offers three definitions (``method``):

=========================  ====================================================================
``"buoyancy_threshold"``   (default) the shallowest depth where the buoyancy is Δb below its
                           surface (top-cell) value, linearly interpolated between cell
                           centres.  Default Δb = 1e-5 m s⁻² (a density excess of
                           ρ₀Δb/g ≈ 0.001 kg m⁻³, ≈ 0.005 K with α = 2e-4 K⁻¹).  This is the
                           de Boyer Montégut et al. (2004, JGR 109, C12003) definition with a
                           small threshold suited to idealised columns (their 0.03 kg m⁻³
                           would add Δb/N² ≈ 14 m below a layer over N² = 2e-5 s⁻²).
``"temperature_threshold"``  the same with temperature: T below its surface value by ΔT
                           (default 0.005 K).
``"n2_max"``               the depth of the face with the largest N² (the entrainment layer).
                           *Ill-posed* where there is no entrainment: below a convectively
                           adjusted layer N² is uniform, so the maximum sits at an arbitrary
                           face (round-off decides), and it does not move with the layer; also
                           piecewise constant in the parameters (zero gradient).
=========================  ====================================================================

Well-posedness and differentiability of the thresholds: above the layer's base the profile is
mixed (or convectively unstable, Δb < 0), below it stratified, so the crossing is unique and
moves continuously with the profile; the interpolated crossing is continuous and piecewise
differentiable in the state (and so in the model parameters; ``jax.grad`` works).  On a
non-entraining convective profile (mixed above h = √(2Jᵇt)/N, undisturbed N² below) the
threshold depth is h + Δb/N² (+0.5 m for N² = 2e-5 s⁻²).  Where no level exceeds the
threshold the full depth is returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

if TYPE_CHECKING:
    from .model import ColumnModel
    from .state import ColumnState

__all__ = ["mixed_layer_depth", "MIXED_LAYER_METHODS", "DEFAULT_BUOYANCY_THRESHOLD",
           "DEFAULT_TEMPERATURE_THRESHOLD"]

MIXED_LAYER_METHODS = ("buoyancy_threshold", "temperature_threshold", "n2_max")
#: m s⁻² (≈ 0.001 kg m⁻³ of density)
DEFAULT_BUOYANCY_THRESHOLD = 1e-5
#: K
DEFAULT_TEMPERATURE_THRESHOLD = 0.005


def mixed_layer_depth(model: ColumnModel, state: ColumnState, threshold: float | None = None, *,
                      method: str = "buoyancy_threshold"):
    """Mixed-layer depth (m, positive) of ``state`` (single ``(nz,)`` or stacked ``(..., nz)``).

    Args:
        method: ``"buoyancy_threshold"`` (default), ``"temperature_threshold"`` or ``"n2_max"``
            (module docstring).
        threshold: Δb (m s⁻², default 1e-5) or ΔT (K, default 0.005) for the threshold methods;
            not used by ``"n2_max"``.

    Returns a scalar (or ``(...)`` array).
    """
    if method not in MIXED_LAYER_METHODS:
        raise ValueError(f"method {method!r} is not supported. Supported methods: "
                         + ", ".join(MIXED_LAYER_METHODS))
    g = model.grid
    if method == "n2_max":
        if threshold is not None:
            raise ValueError("method 'n2_max' takes no threshold; use method='buoyancy_threshold'")
        t = state.temperature
        n2 = model.buoyancy_frequency_squared(state) if t.ndim == 1 else jax.vmap(
            model.buoyancy_frequency_squared)(state)
        k = jnp.argmax(n2, axis=-1)
        return -g.z_interior_faces[k]
    if method == "buoyancy_threshold":
        b = model.buoyancy(state)
        threshold = DEFAULT_BUOYANCY_THRESHOLD if threshold is None else threshold
        drop = b[..., -1:] - b  # >= 0 below a stable surface layer
    else:
        t = state.temperature
        threshold = DEFAULT_TEMPERATURE_THRESHOLD if threshold is None else threshold
        drop = t[..., -1:] - t
    if not threshold > 0:
        raise ValueError(f"threshold = {threshold} must be > 0")
    return _threshold_crossing(drop, g.z_centers, threshold, g.depth)


def _threshold_crossing(drop, z, threshold, depth):
    """Depth (m, > 0) of the shallowest centre-to-centre crossing of ``drop = threshold``
    (``drop`` ``(..., nz)``, bottom first), linearly interpolated; ``depth`` if none."""
    below = drop > threshold
    nz = drop.shape[-1]
    # index of the shallowest centre exceeding the threshold (search from the top)
    k = nz - 1 - jnp.argmax(below[..., ::-1], axis=-1)
    k_up = jnp.minimum(k + 1, nz - 1)

    def pick(a, idx):
        return jnp.take_along_axis(a, idx[..., None], axis=-1)[..., 0]

    d_k, d_up = pick(drop, k), pick(drop, k_up)
    denom = d_k - d_up
    safe = jnp.where(denom > 0, denom, 1.0)
    frac = jnp.where(denom > 0, (threshold - d_up) / safe, 0.0)
    zk = z[k_up] + frac * (z[k] - z[k_up])
    return jnp.where(jnp.any(below, axis=-1), -zk, depth)
