r"""Smooth (differentiable) regime switches for mixing closures.

Closures switch regimes on the sign of N² (convecting or stratified) and of Jᵇ − Jᵇᵋ (surface
buoyancy loss).  Written with ``where`` those switches make the model output, and hence a
calibration loss, *discontinuous* in the parameters: a face that flips regime between two
nearby parameter values changes its diffusivity by orders of magnitude, and a gradient-based
optimizer parks on the lip of the jump.  :func:`smooth_step` replaces such a jump by a C∞
transition of a given width that is *exactly* 0 on one side and exactly 1 beyond the width::

    smooth_step(x, w) = 0                          x ≤ 0
                        ψ(x/w) / (ψ(x/w) + ψ(1 − x/w))   0 < x < w,   ψ(s) = exp(−1/s)
                        1                          x ≥ w

so a neutral (N² = 0) or stratified face is treated exactly as before, and only faces with
−w < N² < 0 see a blend.  Width 0 gives back the exact switch ``x > 0``.  Kinks (``max``,
``min``, ``clip``) are continuous and are left exact.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["smooth_step"]


def _psi(s):
    positive = s > 0
    return jnp.where(positive, jnp.exp(-1.0 / jnp.where(positive, s, 1.0)), 0.0)


def smooth_step(x, width: float):
    """C∞ step: 0 for x ≤ 0, 1 for x ≥ ``width``, smooth in between (``width == 0``: x > 0)."""
    if width == 0:
        return jnp.where(x > 0, 1.0, 0.0)
    s = x / width
    a, b = _psi(s), _psi(1.0 - s)
    return a / (a + b)
