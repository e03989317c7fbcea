"""Transports, streamfunctions, energy and heat content of C-grid fields: pure, differentiable
functions of ``(grid, fields)``, usable as losses.

Every function takes a :class:`~pyclimaocean.grids.CGrid` and fields at their C-grid points
(``u`` at U, ``v`` at V, tracers at T; layout ``(..., nz, ny, nx)``, levels counted from the
bottom; leading axes — a trajectory, an ensemble — are kept).  Masks multiply (land and closed
faces contribute nothing); all sums are whole-array reductions, so ``jax.grad``, ``jit`` and
``vmap`` go through.  Volume transports are returned in m³ s⁻¹ (divide by :data:`SVERDRUP`
for Sv), energies and heat in J.

Conventions (all on the grid of :mod:`pyclimaocean.grids.cgrid`):

* barotropic streamfunction ``ψ(y, x)`` with ``U = −∂ψ/∂y``, ``V = ∂ψ/∂x``, ψ = 0 on the
  southern wall, at ζ points: ``ψ(j, i) = −Σ_{j' ≤ j} U(j', i) dyU(j', i)`` — the transport
  (positive westward) between the southern wall and the north face of row ``j``.  A
  clockwise gyre has ψ > 0 at its centre (the Northern-Hemisphere subtropical gyre).  For a
  discretely non-divergent transport, ``ψ(j, i) − ψ(j, i−1) = V(j, i) dxV(j, i)`` exactly.
* zonal transport through the meridional section of U column ``i``:
  ``Σ_k Σ_j u dz dyU`` (positive eastward).  In :func:`~pyclimaocean.models.basin.acc_sector`
  the U column ``i = 0`` is closed north of 20°S by the western land wall, so its transport
  is the ACC transport through the channel.
* meridional overturning ``ψ(z, y) = −∫_{−H}^{z} ∫ v dx dz'`` at (W faces, V rows):
  ``ψ(k, j) = −Σ_{k' ≤ k} Σ_i v(k', j, i) dxV dz_{k'}``, zero at the sea floor; a clockwise
  cell seen with north to the right (northward at the surface, sinking in the north, as the
  AMOC) is positive.  Index ``k`` is the top face of level ``k`` (``z_faces[k + 1]``).
"""

from __future__ import annotations

import jax.numpy as jnp

from ...grids import CGrid
from ...physics.constants import HEAT_CAPACITY, REFERENCE_DENSITY

__all__ = [
    "SVERDRUP",
    "barotropic_streamfunction",
    "depth_integral",
    "free_surface_volume",
    "heat_content",
    "kinetic_energy",
    "max_barotropic_streamfunction",
    "max_overturning",
    "mean_kinetic_energy",
    "mean_sst",
    "overturning_streamfunction",
    "volume_integral",
    "volume_mean",
    "zonal_transport",
]

#: one sverdrup (m³ s⁻¹)
SVERDRUP = 1e6

_MASKS = {"T": "maskT", "U": "maskU", "V": "maskV", "Z": "maskZ"}
_AXES3 = (-3, -2, -1)


def _mask(grid: CGrid, loc: str):
    if loc not in _MASKS:
        raise ValueError(f"loc = {loc!r}; accepted: {', '.join(_MASKS)}")
    return getattr(grid, _MASKS[loc])


def _dz(grid: CGrid):
    return grid.dz[:, None, None]


def depth_integral(grid: CGrid, field, loc: str = "T"):
    """``Σ_k field dz_k`` over wet cells at location ``loc`` (T, U, V or Z):
    ``(..., nz, ny, nx)`` → ``(..., ny, nx)`` (field units × m; for ``u`` at U the
    depth-integrated transport ``U`` in m² s⁻¹)."""
    return jnp.sum(field * _dz(grid) * _mask(grid, loc), axis=-3)


def kinetic_energy(grid: CGrid, u, v, reference_density: float = REFERENCE_DENSITY):
    """Volume-integrated kinetic energy ``ρ₀ Σ ½ (u² dV_U + v² dV_V)`` (J), each component
    weighted by the volume of its own wet cells (``areaU dz``, ``areaV dz``).

    Args:
        u: ``(..., nz, ny, nx)`` zonal velocity at U points (m s⁻¹).
        v: ``(..., nz, ny, nx)`` meridional velocity at V points (m s⁻¹).
        reference_density: ρ₀ (kg m⁻³; Boussinesq).
    """
    ku = jnp.sum(u**2 * grid.areaU * _dz(grid) * grid.maskU, axis=_AXES3)
    kv = jnp.sum(v**2 * grid.areaV * _dz(grid) * grid.maskV, axis=_AXES3)
    return 0.5 * reference_density * (ku + kv)


def mean_kinetic_energy(grid: CGrid, u, v):
    """Volume-mean kinetic energy per unit mass ``Σ ½ (u² dV_U + v² dV_V) / V`` (m² s⁻²),
    ``V`` the wet volume of the T cells."""
    return kinetic_energy(grid, u, v, 1.0) / jnp.sum(grid.volumeT)


def volume_integral(grid: CGrid, phi):
    """``Σ φ dV`` of a T-point field ``(..., nz, ny, nx)`` over the wet cells (units of ``phi``
    × m³; the tracer content a conservative scheme keeps)."""
    return jnp.sum(phi * grid.volumeT, axis=_AXES3)


def volume_mean(grid: CGrid, phi):
    """Volume-weighted mean of a T-point field over the wet cells (units of ``phi``)."""
    return volume_integral(grid, phi) / jnp.sum(grid.volumeT)


def free_surface_volume(grid: CGrid, eta):
    """``Σ η dA`` (m³) of the free-surface height ``(..., ny, nx)`` (m) over the wet surface
    cells: the volume above the resting surface, which the free-surface equation conserves."""
    return jnp.sum(eta * grid.areaT * grid.maskT[-1], axis=(-2, -1))


def heat_content(grid: CGrid, T, reference_temperature: float = 0.0,
                 reference_density: float = REFERENCE_DENSITY,
                 heat_capacity: float = HEAT_CAPACITY):
    """Ocean heat content ``ρ₀ c_p Σ (T − T_ref) dV`` (J) of the wet T cells.

    Args:
        T: ``(..., nz, ny, nx)`` temperature (°C).
        reference_temperature: T_ref (°C).
        reference_density: ρ₀ (kg m⁻³).  heat_capacity: c_p (J kg⁻¹ K⁻¹; TEOS-10 c_p⁰).
    """
    return (reference_density * heat_capacity
            * jnp.sum((T - reference_temperature) * grid.volumeT, axis=_AXES3))


def mean_sst(grid: CGrid, T):
    """Area-weighted mean of the top-level temperature over wet surface cells (°C)."""
    w = grid.areaT * grid.maskT[-1]
    return jnp.sum(T[..., -1, :, :] * w, axis=(-2, -1)) / jnp.sum(w)


def barotropic_streamfunction(grid: CGrid, U):
    """Barotropic streamfunction ``ψ`` at ζ points (m³ s⁻¹), zero on the southern wall.

    ``ψ(j, i) = −Σ_{j' ≤ j} U(j', i) dyU(j', i)`` (see the module docstring for the sign).

    Args:
        U: ``(..., ny, nx)`` depth-integrated zonal transport at U points (m² s⁻¹): the state's
            ``U`` or ``depth_integral(grid, u, "U")``.

    Returns:
        ``(..., ny, nx)``; ``ψ[..., j, i]`` at ``(x_U[i], y_V[j])``.
    """
    return -jnp.cumsum(U * grid.dyU * grid.maskU[-1], axis=-2)


def max_barotropic_streamfunction(grid: CGrid, U):
    """Largest barotropic streamfunction ``max ψ`` (m³ s⁻¹) of a transport ``U``
    ``(..., ny, nx)`` (m² s⁻¹), the strength of the clockwise (Northern-Hemisphere
    subtropical) gyre.  On a closed grid ψ is :func:`barotropic_streamfunction` (0 on every
    wall); on a re-entrant grid it is taken relative to its mean on the northern wall, so the
    basin's boundary is 0 and the channel's ψ is not counted as a gyre (as the figures and the
    run summary show it).  Differentiable almost everywhere (the gradient flows through the
    largest point)."""
    psi = barotropic_streamfunction(grid, U)
    if grid.periodic_x:
        psi = psi - jnp.mean(psi[..., -1:, :], axis=(-2, -1), keepdims=True)
    return jnp.max(psi, axis=(-2, -1))


def _band(coord, bounds):
    """0/1 weights of the coordinate values inside ``bounds = (lower, upper)`` (or all)."""
    if bounds is None:
        return jnp.ones_like(coord)
    lower, upper = bounds
    return ((coord >= lower) & (coord <= upper)).astype(coord.dtype)


def zonal_transport(grid: CGrid, u, section: int = 0, y_bounds=None,
                    depth_integrated: bool = False):
    """Volume transport through the meridional section of U column ``section`` (m³ s⁻¹,
    positive eastward): ``Σ_k Σ_j u dz dyU`` over wet faces.

    Args:
        u: ``(..., nz, ny, nx)`` zonal velocity at U points (m s⁻¹), or with
            ``depth_integrated=True`` the transport ``U`` ``(..., ny, nx)`` (m² s⁻¹).
        section: index ``i`` of the U column (its face lies at ``x_U[i]``, the east edge of
            T column ``i``); a static int.
        y_bounds: ``(south, north)`` limits of the rows included, in the grid's y units
            (degrees north or m), compared with the T-row coordinate ``y_T``; default all rows.
        depth_integrated: ``u`` is the depth-integrated transport (static).

    For :func:`~pyclimaocean.models.basin.acc_sector` the default section ``0`` gives the ACC
    transport (the column is land north of 20°S).
    """
    if not (isinstance(section, int) and -grid.nx <= section < grid.nx):
        raise ValueError(f"section = {section!r} must be an int U-column index in "
                         f"[{-grid.nx}, {grid.nx})")
    rows = _band(grid.yT, y_bounds)
    if depth_integrated:
        transport = u[..., :, section] * grid.maskU[-1, :, section]
    else:
        transport = depth_integral(grid, u, "U")[..., :, section]
    return jnp.sum(transport * grid.dyU[:, section] * rows, axis=-1)


def overturning_streamfunction(grid: CGrid, v, x_bounds=None):
    """Eulerian meridional overturning streamfunction ``ψ(z, y) = −∫_{−H}^{z} ∫ v dx dz'``
    (m³ s⁻¹) at the top faces of the levels and the V rows.

    Args:
        v: ``(..., nz, ny, nx)`` meridional velocity at V points (m s⁻¹).
        x_bounds: ``(west, east)`` limits of the columns integrated over, compared with
            ``x_T`` (degrees east or m); default the whole zonal extent.

    Returns:
        ``(..., nz, ny)``: ``ψ[..., k, j]`` at ``(z_faces[k + 1], y_V[j])``; zero at the sea
        floor (not stored); at the surface it is minus the net northward transport across the
        row (≈ 0 in a closed basin with a steady free surface).
    """
    cols = _band(grid.xT, x_bounds)
    zonal = jnp.sum(v * grid.dxV * grid.maskV * cols, axis=-1)  # (..., nz, ny), m² s⁻¹
    return -jnp.cumsum(zonal * grid.dz[:, None], axis=-2)


def max_overturning(grid: CGrid, v, x_bounds=None):
    """Largest meridional overturning ``max ψ(z, y)`` (m³ s⁻¹) of
    :func:`overturning_streamfunction` below the surface face (which only holds minus the net
    transport of the free-surface tendency): the strength of the clockwise (AMOC-sense)
    cell.  Needs ``nz ≥ 2``.

    Args:
        v: ``(..., nz, ny, nx)`` meridional velocity at V points (m s⁻¹).
        x_bounds: as :func:`overturning_streamfunction`.
    """
    if grid.nz < 2:
        raise ValueError(f"max_overturning needs nz >= 2 levels; the grid has nz = {grid.nz}")
    return jnp.max(overturning_streamfunction(grid, v, x_bounds)[..., :-1, :], axis=(-2, -1))
