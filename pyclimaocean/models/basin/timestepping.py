"""Time-stepping pieces of the basin model: the split-explicit barotropic substeps and their
averaging filter.

Barotropic substeps (forward–backward, as Oceananigans' ``SplitExplicitFreeSurface`` with the
``ForwardBackwardScheme``)::

    U^{m+1} = U^m + Δτ (−g h_U ∂η^m/∂x + G_U)
    V^{m+1} = V^m + Δτ (−g h_V ∂η^m/∂y + G_V)
    η^{m+1} = η^m − Δτ ∇·(U^{m+1}, V^{m+1})

with ``G_U = Σ_k G_u dz`` the depth integral of the baroclinic (AB2) tendency, which holds
every slow force (Coriolis, advection, baroclinic pressure gradient, friction, wind, drag).
The number of substeps ``M`` is a static int (a fixed-length ``lax.scan``).

Averaging filter.  Substep ``m = 1..M`` ends at ``τ_m = m Δτ``; the new state is the weighted
average ``η^{n+1} = Σ a_m η^m`` (and likewise ``U``, ``V``) with the Shchepetkin & McWilliams
(2005, Ocean Modelling 9, eq. 2.18) shape function

    A(s) = (s/s₀)^p [1 − (s/s₀)^q] − r (s/s₀),  p = 2, q = 4, r = 0.18927,
    s₀ = (p + 2)(p + q + 2) / ((p + 1)(p + q + 1)),

sampled at ``τ_m = m s* s₀ / M`` up to its upper root ``s* s₀`` (≈ 1.44 Δt), normalised to
``Σ a_m = 1`` and with ``Δτ`` scaled so that the centroid ``Σ a_m τ_m`` is exactly ``Δt``: the
average is centred on ``t + Δt`` (second order) and removes the fast modes the baroclinic step
cannot represent.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["substep_weights", "barotropic_substeps", "SM05_P", "SM05_Q", "SM05_R"]

SM05_P, SM05_Q, SM05_R = 2.0, 4.0, 0.18927


def _shape(s, p=SM05_P, q=SM05_Q, r=SM05_R):
    s0 = (p + 2) * (p + q + 2) / ((p + 1) * (p + q + 1))
    x = s / s0
    return x**p * (1 - x**q) - r * x


@functools.lru_cache(maxsize=64)
def substep_weights(n_substeps: int) -> tuple[np.ndarray, float]:
    """``(a, τ_end)``: the ``M = n_substeps`` averaging weights ``a_m`` (sum 1) and the end of
    the substep window in units of the baroclinic step, ``M Δτ / Δt`` (≈ 1.44)."""
    if not (isinstance(n_substeps, int) and n_substeps >= 2):
        raise ValueError(f"n_substeps = {n_substeps!r} must be an int >= 2")
    p, q = SM05_P, SM05_Q
    s0 = (p + 2) * (p + q + 2) / ((p + 1) * (p + q + 1))
    lo, hi = 0.5 * s0, s0  # upper root of A by bisection (A(lo) > 0 > A(hi))
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _shape(mid) > 0 else (lo, mid)
    s_end = 0.5 * (lo + hi)
    tau = np.arange(1, n_substeps + 1) * s_end / n_substeps
    a = _shape(tau)
    a = a / a.sum()
    centroid = float(np.sum(a * tau))
    if not (math.isfinite(centroid) and centroid > 0):
        raise ValueError(f"n_substeps = {n_substeps} is too small for the averaging filter")
    return a, s_end / centroid


def barotropic_substeps(grid, eta, U, V, GU, GV, gravity, dt, n_substeps: int):
    """Run the ``n_substeps`` forward–backward substeps from ``(η, U, V)`` with slow forcing
    ``(G_U, G_V)`` (m² s⁻²) and return the filtered ``(η, U, V)`` at ``t + Δt``."""
    weights, tau_end = substep_weights(n_substeps)
    dtau = dt * tau_end / n_substeps
    mU, mV = grid.maskU[-1], grid.maskV[-1]
    ghU, ghV = gravity * grid.hU, gravity * grid.hV

    def body(carry, a):
        eta, U, V, eta_m, U_m, V_m = carry
        U = (U + dtau * (-ghU * grid.grad_x(eta) + GU)) * mU
        V = (V + dtau * (-ghV * grid.grad_y(eta) + GV)) * mV
        div = grid.divergence_flux(U * grid.dyU, V * grid.dxV) * grid.inv_areaT
        eta = eta - dtau * div
        return (eta, U, V, eta_m + a * eta, U_m + a * U, V_m + a * V), None

    zero = jnp.zeros_like
    init = (eta, U, V, zero(eta), zero(U), zero(V))
    out, _ = jax.lax.scan(body, init, jnp.asarray(weights, dtype=eta.dtype))
    return out[3], out[4], out[5]
