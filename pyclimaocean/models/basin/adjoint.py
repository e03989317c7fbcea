"""Hand-written adjoint of the basin model's momentum tendency (``BasinModel(adjoint="hand")``).

:func:`momentum_core` is the part of :meth:`BasinModel.momentum_tendency
<pyclimaocean.models.basin.BasinModel.momentum_tendency>` whose transposition dominates the
reverse sweep of a step (docs/basin.md, "Adjoint cost and memory"): the Coriolis and
vorticity flux ``−(f + ζ) k×u``, the kinetic-energy gradient ``−∇K``, the vertical momentum
advection ``−w ∂u/∂z`` and the horizontal (Laplacian and biharmonic) viscosity.  Its forward
calls the same kernels (:mod:`~pyclimaocean.models.basin.kernels`) in the same order; its
adjoint (:func:`_core_bwd`) is a ``jax.custom_vjp`` rule written out by hand, a sweep of
forward-shaped stencils that reads only ``u``, ``v``, ``F_z`` (the vertical transport), the
viscosities and the cotangents ``(ū, v̄)`` of ``(G_u, G_v)``: it keeps no residual of the
forward but its inputs, and recomputes ``q = f + ζ``, the face transports, the divergence and
the vorticity it needs.

The building blocks are the transposes of the grid's difference and average operators.  With
:meth:`CGrid.shift <pyclimaocean.grids.CGrid.shift>` ``Sᵀ(di, dj) = S(−di, −dj)`` (periodic wrap
back; beyond a wall the halo's zeros take no cotangent)::

    (x̄⁺)ᵀ = x̄⁻,   (x̄⁻)ᵀ = x̄⁺,   (δx⁺)ᵀ = −δx⁻,   (δx⁻)ᵀ = −δx⁺       (and the same in y)

so, e.g., the energy-conserving Coriolis term ``G_u = (1/dxU) ȳ⁻[q x̄⁺(v dxV)]`` has
``V̄ = dxV x̄⁻[q ȳ⁺(ū / dxU)]`` and ``q̄ = ȳ⁺(ū / dxU) x̄⁺(v dxV) + …``; the vorticity's
transpose sends ``q̄`` back to ``(u, v)`` through ``−δx⁻`` and ``+δy⁻``.  The formulas of each
term are in the comments of :func:`_core_bwd`.

Forward mode: a ``jax.custom_vjp`` has no JVP rule, so ``jax.jvp``, ``jax.jacfwd`` and
``jax.hessian`` through a ``BasinModel(adjoint="hand")`` raise JAX's ``TypeError`` ("can't
apply forward-mode autodiff (jvp) to a custom_vjp function"); use ``adjoint="autodiff"`` (the
default) there (the Laplace and Gauss-Newton drivers use forward mode).

Float64 throughout; masks are the grid's static arrays (they take no cotangent: the rule
returns ``None`` for the grid).

Cost (docs/basin.md, "Hand-written adjoint of the momentum tendency"): at 60 × 84 × 20 the
gradient costs the same as with JAX's transposition within the noise of the measurements
(CPU-time gradient / forward 4.98 against 4.88 over 100 steps), and needs the same memory;
hence ``"autodiff"`` stays the default.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ...numerics import sum_to_shape
from . import kernels as K

__all__ = ["ADJOINTS", "momentum_core", "momentum_core_reference"]

#: how reverse-mode AD goes through the momentum tendency (``BasinModel.adjoint``)
ADJOINTS = ("autodiff", "hand")


def momentum_core_reference(spec, grid, u, v, flux_z, laplacian, biharmonic):
    """``(G_u, G_v)`` (m s⁻²) of Coriolis + vorticity flux, ``−∇K``, ``−w ∂u/∂z`` and the
    horizontal viscosity, differentiated by JAX (the forward of :func:`momentum_core`).

    Args:
        spec: ``(momentum_advection, cos_power, no_slip, has_biharmonic)`` (static).
        grid: the :class:`~pyclimaocean.grids.CGrid`.
        u, v: ``(nz, ny, nx)`` velocities at U and V points (m s⁻¹).
        flux_z: ``(nz, ny, nx)`` vertical volume flux on T-cell top faces (m³ s⁻¹,
            :func:`~pyclimaocean.models.basin.kernels.vertical_transport`).
        laplacian: A_h (m² s⁻¹).  biharmonic: A_4 (m⁴ s⁻¹; unused unless ``has_biharmonic``).
    """
    advection, cos_power, no_slip, has_biharmonic = spec
    g = grid
    q = g.fZ
    if advection:
        q = q + g.vorticity(u, v)
    gu, gv = K.coriolis_vorticity_flux(g, u, v, q)
    if advection:
        ku, kv = K.kinetic_energy_gradient(g, u, v)
        fzu = g.ax_plus(flux_z, "T")
        fzv = g.ay_plus(flux_z, "T")
        gu = gu + ku + K.vertical_momentum_advection(g, u, fzu, g.inv_areaU, g.maskU)
        gv = gv + kv + K.vertical_momentum_advection(g, v, fzv, g.inv_areaV, g.maskV)
    hu, hv = K.horizontal_viscosity(g, u, v, laplacian, biharmonic if has_biharmonic else 0.0,
                                    cos_power, no_slip)
    return gu + hu, gv + hv


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def momentum_core(spec, grid, u, v, flux_z, laplacian, biharmonic):
    """:func:`momentum_core_reference` with the hand-written adjoint :func:`_core_bwd`
    (same arguments; the forward is the same computation, so the same values)."""
    return momentum_core_reference(spec, grid, u, v, flux_z, laplacian, biharmonic)


def _core_fwd(spec, grid, u, v, flux_z, laplacian, biharmonic):
    out = momentum_core_reference(spec, grid, u, v, flux_z, laplacian, biharmonic)
    return out, (grid, u, v, flux_z, laplacian, biharmonic)


def _sum_to(x, like):
    """Cotangent ``x`` of a broadcast operand ``like``: summed over the broadcast axes."""
    return sum_to_shape(x, jnp.shape(like)).astype(jnp.result_type(like, float))


def _divergence_T(g, d_bar):
    """Transpose of :meth:`CGrid.divergence`: ``(ū, v̄)`` from the cotangent of ``D``."""
    e = d_bar * g.inv_areaT * g.maskT
    return (-g.dx_plus(e, "T") * g.dyU * g.maskU, -g.dy_plus(e, "T") * g.dxV * g.maskV)


def _vorticity_T(g, z_bar):
    """Transpose of :meth:`CGrid.vorticity`: ``(ū, v̄)`` from the cotangent of ``ζ``."""
    c = z_bar * g.inv_areaZ * g.maskZ
    return g.dy_minus(c, "Z") * g.dxU * g.maskU, -g.dx_minus(c, "Z") * g.dyV * g.maskV


def _laplacian_cotangents(g, a, b):
    """Cotangents of ``A D`` (T points) and ``A ζ`` (ζ points) in
    :func:`~pyclimaocean.models.basin.kernels.laplacian_velocity` for the cotangents
    ``(a, b)`` of ``(L_u, L_v)``: ``L_u = δx⁺(A D)/dxU − δy⁻(A ζ)/dyU``, ``L_v = δy⁺(A D)/dyV
    + δx⁻(A ζ)/dxV`` give ``(A D)‾ = −δx⁻(a/dxU) − δy⁻(b/dyV)`` and ``(A ζ)‾ = δy⁺(a/dyU) −
    δx⁺(b/dxV)``."""
    d_cot = -(g.dx_minus(a * g.inv_dxU * g.maskU, "U") + g.dy_minus(b * g.inv_dyV * g.maskV, "V"))
    z_cot = (g.dy_plus(a * g.inv_dyU * g.maskU, "U")
             - g.dx_plus(b * g.inv_dxV * g.maskV, "V"))
    return d_cot, z_cot


def _laplacian_T(g, a, b, u, v, visc_T, visc_Z, coefficient_cotangents):
    """Transpose of the free-slip :func:`~pyclimaocean.models.basin.kernels.laplacian_velocity`
    at ``(u, v)`` with viscosities ``visc_T`` (T points), ``visc_Z`` (ζ points), for the
    cotangents ``(a, b)`` of ``(L_u, L_v)``: returns ``(ū, v̄, visc_T̄, visc_Z̄)`` (the last
    two as fields, ``None`` unless ``coefficient_cotangents``)."""
    d_cot, z_cot = _laplacian_cotangents(g, a, b)
    ud, vd = _divergence_T(g, visc_T * d_cot)
    uz, vz = _vorticity_T(g, visc_Z * z_cot)
    if not coefficient_cotangents:
        return ud + uz, vd + vz, None, None
    return ud + uz, vd + vz, g.divergence(u, v) * d_cot, g.vorticity(u, v) * z_cot


def _vertical_advection_T(g, c, phi, fz_at, inv_area, mask):
    """Transpose of :func:`~pyclimaocean.models.basin.kernels.vertical_momentum_advection`
    (bilinear in ``φ`` and ``F_z``) for the cotangent ``c``: ``(φ̄, F̄_z at the point)``.

    ``G[k] = −(φ_f[k] + φ_f[k−1]) / (2 dz[k])`` with ``φ_f[k] = w[k] (φ[k+1] − φ[k])``, so
    ``φ̄_f[k] = γ[k] + γ[k+1]`` with ``γ = −c / (2 dz)``."""
    gam = -0.5 * c * g.inv_dz[:, None, None] * mask
    flux_bar = gam[:-1] + gam[1:]
    w = fz_at * inv_area
    dphi = phi[1:] - phi[:-1]
    zero = jnp.zeros_like(phi[:1])
    w_bar = jnp.concatenate([flux_bar * dphi, zero], axis=0)
    d_bar = flux_bar * w[:-1]
    phi_bar = jnp.concatenate([zero, d_bar], axis=0) - jnp.concatenate([d_bar, zero], axis=0)
    return phi_bar, w_bar * inv_area


def _core_bwd(spec, res, cts):
    """Adjoint of :func:`momentum_core_reference` (see the module docstring).  The two
    transposed vorticities (of ``q = f + ζ`` and of the Laplacian's ``A ζ``) and the two
    uses of ``δx⁻(ū/dxU) + δy⁻(v̄/dyV)`` (``−∇K`` and the Laplacian's ``∇(A D)``) are
    summed before their stencils."""
    advection, cos_power, no_slip, has_biharmonic = spec
    g, u, v, flux_z, laplacian, biharmonic = res
    a, b = cts
    mU, mV = g.maskU, g.maskV
    au = a * g.inv_dxU * mU  # ū / dxU at U
    bv = b * g.inv_dyV * mV  # v̄ / dyV at V
    ut = u * g.dyU * mU
    vt = v * g.dxV * mV
    zeta = g.vorticity(u, v)
    q = g.fZ + zeta if advection else g.fZ
    sT = g.cosT**cos_power if cos_power else 1.0
    sZ = g.cosV**cos_power if cos_power else 1.0
    visc_T, visc_Z = laplacian * sT, laplacian * sZ
    # Laplacian viscosity: (A D)‾ and (A ζ)‾; −(A D)‾ is also −∇K's K̄
    d_cot, z_cot = _laplacian_cotangents(g, a, b)
    lap_bar = _sum_to(g.divergence(u, v) * d_cot * sT + zeta * z_cot * sZ, laplacian)
    # Coriolis + vorticity flux: G_u = ȳ⁻[q x̄⁺(vt)]/dxU, G_v = −x̄⁻[q ȳ⁺(ut)]/dyV
    qa = g.ay_plus(au, "U")  # (ȳ⁻)ᵀ(ū/dxU) at ζ points
    qb = -g.ax_plus(bv, "V")  # (x̄⁻)ᵀ(−v̄/dyV)
    ubar = g.ay_minus(q * qb, "Z") * g.dyU * mU
    vbar = g.ax_minus(q * qa, "Z") * g.dxV * mV
    zeta_bar = visc_Z * z_cot
    flux_z_bar = jnp.zeros_like(flux_z)
    if advection:
        zeta_bar = zeta_bar + qa * g.ax_plus(vt, "V") + qb * g.ay_plus(ut, "U")
        # −∇K, K = ½(x̄⁻(u²) + ȳ⁻(v²)): K̄ = δx⁻(ū/dxU) + δy⁻(v̄/dyV) = −(A D)‾
        ubar = ubar - u * g.ax_plus(d_cot, "T")
        vbar = vbar - v * g.ay_plus(d_cot, "T")
        # −w ∂φ/∂z with F_z averaged to U (x̄⁺) and V (ȳ⁺) points
        pu, fu = _vertical_advection_T(g, a, u, g.ax_plus(flux_z, "T"), g.inv_areaU, mU)
        pv, fv = _vertical_advection_T(g, b, v, g.ay_plus(flux_z, "T"), g.inv_areaV, mV)
        ubar = ubar + pu
        vbar = vbar + pv
        flux_z_bar = g.ax_minus(fu, "U") + g.ay_minus(fv, "V")
    uz, vz = _vorticity_T(g, zeta_bar)
    ud, vd = _divergence_T(g, visc_T * d_cot)
    ubar = ubar + uz + ud
    vbar = vbar + vz + vd
    if no_slip:  # the side drag −2 A_Z u / Δy² (−2 A_Z v / Δx²) next to walls
        mZ = g.maskZ
        walls_y = (1.0 - mZ) + (1.0 - g.shift(mZ, 0, -1, "Z"))
        walls_x = (1.0 - mZ) + (1.0 - g.shift(mZ, -1, 0, "Z"))
        side_u = -2.0 * g.inv_dyU**2 * walls_y * mU * a
        side_v = -2.0 * g.inv_dxV**2 * walls_x * mV * b
        ubar = ubar + visc_Z * side_u
        vbar = vbar + visc_Z * side_v
        lap_bar = lap_bar + _sum_to((u * side_u + v * side_v) * sZ, laplacian)
    bih_bar = jnp.zeros(jnp.shape(biharmonic), jnp.result_type(biharmonic, float))
    if has_biharmonic:  # −L_{A4}(L_1(u, v)), both free slip
        bu, bv_ = K.laplacian_velocity(g, u, v)
        cu, cv, cT, cZ = _laplacian_T(g, -a, -b, bu, bv_, biharmonic * sT, biharmonic * sZ,
                                      True)
        du, dv, _, _ = _laplacian_T(g, cu, cv, u, v, 1.0, 1.0, False)
        ubar, vbar = ubar + du, vbar + dv
        bih_bar = _sum_to(cT * sT + cZ * sZ, biharmonic)
    return None, ubar, vbar, flux_z_bar, lap_bar, bih_bar


momentum_core.defvjp(_core_fwd, _core_bwd)
