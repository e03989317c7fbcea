"""Whole-array kernels of the basin model: pure functions of a :class:`~pyclimaocean.grids.CGrid`
and fields (layout ``(nz, ny, nx)``, locations as in :mod:`pyclimaocean.grids.cgrid`).

Every kernel takes neighbour values only through the grid's operators (so only through its
halo function), multiplies by static masks instead of branching, and has no division that
can meet a zero (inverse metrics are precomputed with 0 on land; speeds use the smooth
``sqrt(u² + v² + ε²)``).  Units are SI; ``p`` is the kinematic pressure ``p / ρ₀`` (m² s⁻²)
and ``b = −g ρ' / ρ₀`` the buoyancy (m s⁻²).

Discretisation notes (each function's docstring has the formula):

* Coriolis + vorticity flux: Sadourny's (1975) energy-conserving form with the absolute
  vorticity ``q = f + ζ`` at ζ points and face transports ``U = u dyU``, ``V = v dxV``;
  ``Σ (dxU dyU) u·(q×u)_x + Σ (dxV dyV) v·(q×u)_y = 0`` exactly (summation by parts).
* Momentum advection in vector-invariant form: ``−q k×u − ∇K − w ∂u/∂z`` with
  ``K = ½ (ū² + v̄²)`` at T points, second order and energy conserving.
* Horizontal viscosity: ``∇·(A ∇u)`` written as ``∇(A D) − k×∇(A ζ)`` (D the divergence),
  free slip on walls (ζ = 0 at closed corners); biharmonic = that operator applied twice.
* Tracer advection in flux form with volume fluxes from continuity; face values centred
  (2nd order) or 3rd-order upwind-biased in the horizontal (``u C₄ + |u| D₃``; no limiter;
  falls back to 2nd order where the 4-point stencil meets land or a wall); centred in z.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = [
    "bottom_indicator",
    "hydrostatic_pressure",
    "pressure_gradient",
    "vertical_transport",
    "coriolis_vorticity_flux",
    "kinetic_energy_gradient",
    "vertical_momentum_advection",
    "laplacian_velocity",
    "horizontal_viscosity",
    "tracer_advection",
    "implicit_vertical_diffusion",
    "interior_face_mask",
    "face_buoyancy_frequency",
    "smooth_speed_at_u",
    "smooth_speed_at_v",
    "velocity_at_u",
    "velocity_at_v",
]


def _zeros_like_level(a):
    return jnp.zeros_like(a[:1])


def hydrostatic_pressure(grid, b):
    """Kinematic hydrostatic pressure ``p`` at T points (m² s⁻²) with ``p = 0`` at ``z = 0``
    (the free-surface part ``g η`` is handled by the barotropic substeps).

    ``∂p/∂z = b``: ``p[nz−1] = −b[nz−1] dz[nz−1] / 2`` and
    ``p[k] = p[k+1] − ½ (b[k] + b[k+1]) dzW[k]`` (a reverse cumulative sum, no level loop).
    """
    b = b * grid.maskT
    top = -b[-1:] * 0.5 * grid.dz[-1]
    inc = 0.5 * (b[:-1] + b[1:]) * grid.dzW[:-1, None, None]
    below = top - level_cumsum(inc, reverse=True)
    return jnp.concatenate([below, top], axis=0) * grid.maskT


def level_cumsum(a, reverse: bool = False):
    """Cumulative sum over the level axis (0) of ``a`` ``(n, ...)``: ``Σ_{l ≤ k} a[l]`` (or
    ``Σ_{l ≥ k}`` with ``reverse``), as a product with a static triangular matrix.  On CPU XLA
    compiles ``jnp.cumsum`` to a reduce-window that is several times slower than this small
    matrix product, forward and reversed (measured by benchmarks/basin_gradient.py's author:
    5× forward, 7× reversed at 20 levels, equal to 4e-15)."""
    n = a.shape[0]
    tri = np.triu(np.ones((n, n))) if reverse else np.tril(np.ones((n, n)))
    return jnp.tensordot(jnp.asarray(tri, dtype=a.dtype), a, axes=1)


def pressure_gradient(grid, p):
    """``(−∂p/∂x at U, −∂p/∂y at V)`` (m s⁻²) of a T-point kinematic pressure."""
    return -grid.grad_x(p), -grid.grad_y(p)


def vertical_transport(grid, u, v):
    """Volume flux through the top face of every T cell (m³ s⁻¹, positive upward) from
    continuity, ``F_z[k] = −Σ_{k' ≤ k} (δx(u dyU dz) + δy(v dxV dz))[k']`` (a cumulative sum
    from the bottom, where the flux is 0).  ``F_z[nz−1]`` is the surface volume flux
    ``areaT ∂η/∂t``; ``w = F_z / areaT``."""
    dz = grid.dz[:, None, None]
    fx = u * grid.dyU * dz * grid.maskU
    fy = v * grid.dxV * dz * grid.maskV
    return -level_cumsum(grid.divergence_flux(fx, fy)) * grid.maskT


def coriolis_vorticity_flux(grid, u, v, q):
    """``(+q V̄ / dxU at U, −q Ū / dyV at V)`` (m s⁻²): the energy-conserving (Sadourny 1975)
    form of ``−q k×u`` with ``q`` at ζ points (``f`` alone: Coriolis; ``f + ζ``: Coriolis and
    the vorticity flux of the vector-invariant advection)::

        G_u = (1/dxU) ȳ⁻[q x̄⁺(v dxV)],     G_v = −(1/dyV) x̄⁻[q ȳ⁺(u dyU)]
    """
    ut = u * grid.dyU * grid.maskU
    vt = v * grid.dxV * grid.maskV
    gu = grid.inv_dxU * grid.ay_minus(q * grid.ax_plus(vt, "V"), "Z") * grid.maskU
    gv = -grid.inv_dyV * grid.ax_minus(q * grid.ay_plus(ut, "U"), "Z") * grid.maskV
    return gu, gv


def kinetic_energy_gradient(grid, u, v):
    """``(−∂K/∂x at U, −∂K/∂y at V)`` with ``K = ½ (x̄⁻(u²) + ȳ⁻(v²))`` at T points (m s⁻²)."""
    ke = 0.5 * (grid.ax_minus(u * u, "U") + grid.ay_minus(v * v, "V"))
    return -grid.grad_x(ke), -grid.grad_y(ke)


def vertical_momentum_advection(grid, phi, flux_z, inv_area, mask):
    """``−w ∂φ/∂z`` at a velocity point (m s⁻²), averaged from the two faces of the cell::

        −[w[k] (φ[k+1] − φ[k]) + w[k−1] (φ[k] − φ[k−1])] / (2 dz[k])

    with ``w = flux_z · inv_area`` the vertical velocity on the point's top faces (the surface
    face, where ``∂φ/∂z`` is not defined, contributes 0)."""
    w = flux_z * inv_area
    flux = w[:-1] * (phi[1:] - phi[:-1])
    zero = _zeros_like_level(phi)
    upper = jnp.concatenate([flux, zero], axis=0)
    lower = jnp.concatenate([zero, flux], axis=0)
    return -0.5 * (upper + lower) * grid.inv_dz[:, None, None] * mask


def laplacian_velocity(grid, u, v, visc_T=1.0, visc_Z=None, no_slip: bool = False):
    """``∇·(A∇u)`` as ``(∂x(A D) − ∂y(A ζ), ∂y(A D) + ∂x(A ζ))`` at (U, V) (m s⁻² × A / (m² s⁻¹))
    with ``D`` the divergence (T points, viscosity ``visc_T``) and ``ζ`` the vorticity (ζ
    points, ``visc_Z``): energy dissipating.

    Walls: free slip (ζ = 0 on every ζ point that touches land or lies on a wall, which is
    what :meth:`CGrid.vorticity` and the zeros of :meth:`CGrid.fill_halo` give) by default.
    With ``no_slip`` (static), the tangential velocity has a ghost value ``−u`` beyond the
    wall, so the wall vorticity is ``ζ_w = ∓2u/Δy`` (``±2v/Δx``) and each wall next to a
    velocity point adds the side drag ``−2 A u / Δy²`` (``−2 A v / Δx²``), as MITgcm's
    ``no_slip_sides``.  A wall ζ point is one with ``maskZ = 0``, inside the domain or in the
    halo that :meth:`CGrid.fill_halo` fills (the west and south walls; periodic in x on a
    re-entrant grid).  Still energy dissipating."""
    visc_Z = visc_T if visc_Z is None else visc_Z
    d = grid.divergence(u, v)
    z = grid.vorticity(u, v)
    lu = grid.grad_x(visc_T * d) - grid.inv_dyU * grid.dy_minus(visc_Z * z, "Z") * grid.maskU
    lv = grid.grad_y(visc_T * d) + grid.inv_dxV * grid.dx_minus(visc_Z * z, "Z") * grid.maskV
    if no_slip:
        mZ = grid.maskZ if u.ndim >= 3 and u.shape[-3] == grid.nz else grid.maskZ[-1]
        walls_y = (1.0 - mZ) + (1.0 - grid.shift(mZ, 0, -1, "Z"))  # north + south of U
        walls_x = (1.0 - mZ) + (1.0 - grid.shift(mZ, -1, 0, "Z"))  # east + west of V
        lu = lu - 2.0 * visc_Z * u * grid.inv_dyU**2 * walls_y * grid.maskU
        lv = lv - 2.0 * visc_Z * v * grid.inv_dxV**2 * walls_x * grid.maskV
    return lu, lv


def horizontal_viscosity(grid, u, v, laplacian, biharmonic, cos_power: int = 0,
                         no_slip: bool = False):
    """Laplacian (``A_h``, m² s⁻¹) plus biharmonic (``A_4``, m⁴ s⁻¹) friction (m s⁻²).

    With ``cos_power = p > 0`` both coefficients are scaled by ``cos^p φ`` (Veros'
    ``hor_friction_cosPower``), which keeps the grid Reynolds number bounded toward the pole.
    ``no_slip`` (static) applies no-slip walls to the Laplacian part
    (:func:`laplacian_velocity`); the biharmonic part keeps free slip."""
    sT = grid.cosT**cos_power if cos_power else 1.0
    sZ = grid.cosV**cos_power if cos_power else 1.0
    lu, lv = laplacian_velocity(grid, u, v, laplacian * sT, laplacian * sZ, no_slip)
    if isinstance(biharmonic, int | float) and biharmonic == 0:
        return lu, lv  # a constant zero (not a traced leaf): skip the two extra Laplacians
    bu, bv = laplacian_velocity(grid, u, v)
    bu, bv = laplacian_velocity(grid, bu, bv, biharmonic * sT, biharmonic * sZ)
    return lu - bu, lv - bv


def velocity_at_u(grid, v):
    """``v`` averaged onto U points (four neighbours)."""
    return grid.ay_minus(grid.ax_plus(v * grid.maskV, "V"), "Z")


def velocity_at_v(grid, u):
    """``u`` averaged onto V points (four neighbours)."""
    return grid.ax_minus(grid.ay_plus(u * grid.maskU, "U"), "Z")


def smooth_speed_at_u(grid, u, v, eps):
    """``sqrt(u² + v̄² + ε²)`` at U points (m s⁻¹): smooth, so its derivative is finite at rest."""
    vu = velocity_at_u(grid, v)
    return jnp.sqrt(u * u + vu * vu + eps * eps)


def smooth_speed_at_v(grid, u, v, eps):
    """``sqrt(ū² + v² + ε²)`` at V points (m s⁻¹)."""
    uv = velocity_at_v(grid, u)
    return jnp.sqrt(uv * uv + v * v + eps * eps)


def bottom_indicator(mask):
    """1 in the deepest wet cell of each column of a 3-D ``mask``, else 0."""
    below = jnp.concatenate([jnp.zeros_like(mask[:1]), mask[:-1]], axis=0)
    return mask * (1.0 - below)


def _upwind3_flux(grid, phi, flux, speed_abs_flux, wide, di, dj, loc):
    """3rd-order upwind-biased face flux ``F C₂ + wide (F (C₄ − C₂) + |F| D₃)`` between
    ``phi`` and its ``(di, dj)`` neighbour."""
    m1 = grid.shift(phi, -di, -dj, loc)
    p1 = grid.shift(phi, di, dj, loc)
    p2 = grid.shift(phi, 2 * di, 2 * dj, loc)
    c2 = 0.5 * (phi + p1)
    c4_minus_c2 = (phi + p1 - m1 - p2) / 12.0
    d3 = (p2 - 3.0 * p1 + 3.0 * phi - m1) / 12.0
    return flux * c2 + wide * (flux * c4_minus_c2 + speed_abs_flux * d3)


def tracer_advection(grid, phi, u, v, flux_z, scheme: str, eps: float = 1e-8,
                     conserve: bool = True):
    """Advective tendency ``−∇·(u φ)`` at T points (φ units s⁻¹), flux form.

    Args:
        phi: ``(nz, ny, nx)`` tracer at T points.
        u, v: velocities at U and V points.  flux_z: vertical volume flux on top faces
            (:func:`vertical_transport`), whose surface value carries ``φ_surface``.
        scheme: ``"centered2"`` or ``"upwind3"`` (horizontal faces; vertical faces centred).
        eps: speed floor (m s⁻¹) of the smooth ``|u| = sqrt(u² + ε²)`` of ``upwind3``.
        conserve: subtract the domain mean of the surface flux ``F_z φ`` (a linear free
            surface moves tracer through ``z = 0``; with this correction, as MITgcm's
            ``linFSConserveTr``, the tracer content is conserved to round-off while a
            uniform tracer stays uniform, since ``Σ F_z = 0``).
    """
    dz = grid.dz[:, None, None]
    fx = u * grid.dyU * dz * grid.maskU
    fy = v * grid.dxV * dz * grid.maskV
    if scheme == "centered2":
        tx = fx * grid.ax_plus(phi, "T")
        ty = fy * grid.ay_plus(phi, "T")
    elif scheme == "upwind3":
        mT = grid.maskT
        wide_x = grid.maskU * grid.shift(mT, -1, 0) * grid.shift(mT, 2, 0)
        wide_y = grid.maskV * grid.shift(mT, 0, -1) * grid.shift(mT, 0, 2)
        ax = jnp.sqrt(u * u + eps * eps) * grid.dyU * dz * grid.maskU
        ay = jnp.sqrt(v * v + eps * eps) * grid.dxV * dz * grid.maskV
        tx = _upwind3_flux(grid, phi, fx, ax, wide_x, 1, 0, "T")
        ty = _upwind3_flux(grid, phi, fy, ay, wide_y, 0, 1, "T")
    else:
        raise ValueError(f"tracer advection scheme {scheme!r} is not supported. "
                         "Supported schemes are: 'centered2', 'upwind3'")
    face = jnp.concatenate([0.5 * (phi[:-1] + phi[1:]), phi[-1:]], axis=0)
    tz = flux_z * face
    if conserve:
        wet = grid.areaT * grid.maskT[-1]
        mean = jnp.sum(tz[-1]) / jnp.sum(wet)
        tz = jnp.concatenate([tz[:-1], tz[-1:] - mean * wet], axis=0)
    div = grid.divergence_flux(tx, ty) + tz - jnp.concatenate(
        [_zeros_like_level(tz), tz[:-1]], axis=0)
    inv_vol = grid.inv_areaT * grid.inv_dz[:, None, None] * grid.maskT
    return -div * inv_vol


def interior_face_mask(mask):
    """Mask of the top faces of a 3-D ``mask`` through which vertical diffusion acts: both
    neighbours wet; 0 at the surface face (fluxes there are boundary conditions)."""
    return jnp.concatenate([mask[:-1] * mask[1:], jnp.zeros_like(mask[:1])], axis=0)


def implicit_vertical_diffusion(grid, fields, kappas, face_masks, dt, solve):
    """Backward-Euler vertical diffusion of several fields in one batched solve:
    ``(dz − dt ∂z κ ∂z) φ⁺ = dz φ`` in every column (zero flux through the bottom and the
    surface; those fluxes enter the explicit tendencies).

    Args:
        fields: sequence of ``(nz, ny, nx)`` fields.
        kappas: their diffusivities on top faces (m² s⁻¹; scalars or ``(nz, ny, nx)``).
        face_masks: their :func:`interior_face_mask` s.
        dt: time step (s).  solve: ``tridiagonal_solve`` (called with ``axis=0``: the
            levels of ``(nz, n_fields, ny, nx)`` systems).

    Returns:
        the list of diffused fields.
    """
    dz = grid.dz[:, None, None, None]
    shape = fields[0].shape
    # fields side by side on axis 1, levels stay first: (nz, n_fields, ny, nx), so the solve
    # scans axis 0 with no transposition (levels-last costs more in transposes than the solve)
    a_up = jnp.stack([jnp.broadcast_to(dt * k * grid.inv_dzW[:, None, None] * m, shape)
                      for k, m in zip(kappas, face_masks, strict=True)], axis=1)
    phi = jnp.stack(list(fields), axis=1)
    a_dn = jnp.concatenate([jnp.zeros_like(a_up[:1]), a_up[:-1]], axis=0)
    diag = dz + a_up + a_dn
    out = solve(-a_dn, diag, -a_up, dz * phi, axis=0)
    return [out[:, i] for i in range(len(fields))]


def face_buoyancy_frequency(grid, equation_of_state, T, S, gravity, reference_density):
    """``N²`` on the top faces of T cells (s⁻²): the density difference of the two cells
    evaluated at the face height (so the nonlinear equation of state's pressure dependence
    cancels), ``N² = −(g/ρ₀) (ρ(T_{k+1}, S_{k+1}, z_f) − ρ(T_k, S_k, z_f)) / dzW``; 0 on the
    surface face and on faces touching land."""
    z = grid.z_faces[1:-1, None, None]
    rho_below = equation_of_state.density_anomaly(T[:-1], S[:-1], z)
    rho_above = equation_of_state.density_anomaly(T[1:], S[1:], z)
    n2 = -gravity / reference_density * (rho_above - rho_below) * grid.inv_dzW[:-1, None, None]
    n2 = jnp.concatenate([n2, jnp.zeros_like(n2[:1])], axis=0)
    return n2 * interior_face_mask(grid.maskT)
