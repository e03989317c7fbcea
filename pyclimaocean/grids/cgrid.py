"""Arakawa C-grid of the 3-D basin model: metrics, masks, the halo function and operators.

Layout and index convention
---------------------------
Every 3-D field has shape ``(nz, ny, nx)`` (x fastest); 2-D fields ``(ny, nx)``.  Levels are
counted from the **bottom** (``k = 0``) to the **surface** (``k = nz - 1``), as in
:class:`~pyclimaocean.grids.ColumnGrid` and Oceananigans.  Writing ``T(j, i)`` for the tracer
cell centre at ``(x_i, y_j)``, the staggered points with the same index ``(j, i)`` sit to its
**east / north** (the NEMO and Veros convention)::

        ζ(j,i-1) ---- V(j,i) ---- ζ(j,i)              ζ : relative vorticity, f (corners)
           |                        |                 U : zonal velocity u, east face
        U(j,i-1)     T(j,i)       U(j,i)              V : meridional velocity v, north face
           |                        |                 W : vertical velocity w, top face of
        ζ(j-1,i-1) -- V(j-1,i) -- ζ(j-1,i)                 cell k (W(k) between T(k), T(k+1))

* ``U(j, i)`` at ``(x_{i+½}, y_j)``: the face between ``T(j, i)`` and ``T(j, i+1)``;
* ``V(j, i)`` at ``(x_i, y_{j+½})``: the face between ``T(j, i)`` and ``T(j+1, i)``;
* ``Z(j, i)`` (ζ point) at ``(x_{i+½}, y_{j+½})``: the north-east corner of ``T(j, i)``;
* ``W(k, j, i)`` at ``z_{k+½}`` (``z_faces[k + 1]``): the top face of ``T(k, j, i)``;
  ``W(nz - 1)`` is the sea surface; the flux through the bottom face of ``k = 0`` is zero.

Boundaries.  The domain has ``nx × ny`` tracer columns.  The last U column (``i = nx - 1``)
and the last V row (``j = ny - 1``) lie on the east and north boundary: with walls they are
masked (``maskU``/``maskV`` = 0); the west and south walls are the (not stored) faces
``i = -½``, ``j = -½``, whose values are the zeros :meth:`CGrid.fill_halo` puts in the halo.
With ``periodic_x`` the halo in x wraps around (a re-entrant channel); y is always walled.
Land is a static multiplicative mask: a T cell is wet when its centre lies above the sea
floor (full cells, no partial bottom cells); a U/V face is wet when both its T neighbours
are; a ζ point when all four surrounding T cells are (free-slip corners: ζ = 0 on walls).

The one boundary function.  Every operator gets neighbour values from
:meth:`CGrid.fill_halo` (pads ``(..., ny, nx)`` with a halo: periodic wrap or zeros) through
:meth:`CGrid.shift`.  A tripolar grid later replaces the grid object and this function (its
north fold needs the point location and a sign for vector components, which is why both are
arguments) and nothing else.

Metrics (all ``(ny, nx)``, m or m²; spherical: radius ``a``, spacings ``Δλ``, ``Δφ`` rad)::

    dxT = a cos φ_j Δλ        dyT = a Δφ          width/height of the T cell
    dxU = a cos φ_j Δλ        dyU = a Δφ          T-to-T distance in x / face length in y
    dxV = a cos φ_{j+½} Δλ    dyV = a Δφ          face length in x / T-to-T distance in y
    dxZ = a cos φ_{j+½} Δλ    dyZ = a Δφ          ζ-cell edges
    areaT = areaU = a² Δλ (sin φ_{j+½} − sin φ_{j−½})   (exact spherical-band areas)
    areaV = areaZ = a² Δλ (sin φ_{j+1} − sin φ_j)

``inv_*`` are the reciprocals with land (surface mask) set to 0 — never ``1/0`` — so
multiplying by them also applies the mask.  The Cartesian β-plane grid has constant
``dx``, ``dy`` and ``f = f0 + β (y − y0)``.

Vertical: ``z_faces`` ``(nz + 1,)`` from ``-H`` to ``0``, ``dz`` ``(nz,)``, optionally
stretched toward the surface as in :class:`~pyclimaocean.grids.ColumnGrid`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

#: defaults of :meth:`CGrid.spherical` (grids may not import physics: the values equal
#: ``physics.constants.EARTH_RADIUS`` and ``EARTH_ROTATION_RATE``, checked by the tests)
EARTH_RADIUS = 6.371e6
EARTH_ROTATION_RATE = 7.2921e-5

__all__ = ["CGrid", "vertical_faces", "LOCATIONS"]

#: point locations understood by :meth:`CGrid.fill_halo`
LOCATIONS = ("T", "U", "V", "Z")


def vertical_faces(nz: int, depth: float, stretching: float = 0.0) -> np.ndarray:
    """``(nz + 1,)`` face heights (m) from ``-depth`` to ``0``, refined toward the surface by
    ``d(ξ) = depth (exp(s ξ) − 1) / (exp(s) − 1)`` for ``s = stretching > 0`` (ξ the depth
    fraction), uniform for ``s = 0``."""
    if not (isinstance(nz, int) and nz >= 1):
        raise ValueError(f"nz = {nz!r} must be an int >= 1")
    if not (depth > 0 and math.isfinite(depth)):
        raise ValueError(f"depth = {depth!r} must be a positive finite number (m)")
    xi = np.linspace(1.0, 0.0, nz + 1)
    d = xi if stretching == 0 else np.expm1(stretching * xi) / math.expm1(stretching)
    return -depth * d


def _safe_inverse(x, mask):
    """``mask / x`` with 0 where ``mask`` is 0 (``x`` is never divided there)."""
    x = np.asarray(x, dtype=float)
    mask = np.broadcast_to(np.asarray(mask, dtype=float), np.broadcast_shapes(x.shape,
                                                                              np.shape(mask)))
    x = np.broadcast_to(x, mask.shape)
    return np.where(mask > 0, 1.0 / np.where(mask > 0, x, 1.0), 0.0)


def _np_shift(a, di, dj, periodic_x):
    """Host (numpy) version of :meth:`CGrid.shift`, used to build the masks."""
    a = np.asarray(a, dtype=float)
    if di:
        if periodic_x:
            a = np.roll(a, -di, axis=-1)
        else:
            pad = [(0, 0)] * (a.ndim - 1) + [(max(-di, 0), max(di, 0))]
            a = np.pad(a, pad)[..., max(di, 0): max(di, 0) + a.shape[-1]]
    if dj:
        pad = [(0, 0)] * (a.ndim - 2) + [(max(-dj, 0), max(dj, 0)), (0, 0)]
        a = np.pad(a, pad)[..., max(dj, 0): max(dj, 0) + a.shape[-2], :]
    return a


class CGrid(eqx.Module):
    """Immutable C-grid (see the module docstring for the layout and the formulas).

    Shapes and flags are static; metric and mask arrays are pytree leaves (constants of the
    model: nothing in them is calibrated).  Build with :meth:`spherical` or
    :meth:`beta_plane`.

    Attributes:
        nx, ny, nz: tracer cells in x, y and z (static).
        periodic_x: zonally periodic (re-entrant) domain (static).
        coordinate_system: ``"spherical"`` (x, y coordinates in degrees) or ``"cartesian"``
            (in m) (static).
        radius: sphere radius a (m; ``inf`` for the Cartesian grid) (static).
        xT, xU: ``(nx,)`` x coordinate of T/V points and of U/ζ points (degrees east or m).
        yT, yV: ``(ny,)`` y coordinate of T/U points and of V/ζ points (degrees north or m).
        z_faces: ``(nz + 1,)`` face heights (m), bottom to surface.  z_centers: ``(nz,)``.
        dz: ``(nz,)`` cell thickness (m).  inv_dz: ``1/dz``.
        dzW: ``(nz,)`` distance between centres ``k`` and ``k+1`` (m; the last entry, at the
            surface, is ``dz[-1] / 2``).  inv_dzW: its reciprocal.
        dxT, dyT, dxU, dyU, dxV, dyV, dxZ, dyZ: ``(ny, nx)`` lengths (m).
        areaT, areaU, areaV, areaZ: ``(ny, nx)`` horizontal areas (m²).
        inv_dxT ... inv_dyZ, inv_areaT ... inv_areaZ: reciprocals, 0 on land.
        cosT, cosV: ``(ny, nx)`` cos φ at T/U and at V/ζ latitudes (1 on the β-plane).
        fT, fU, fV, fZ: ``(ny, nx)`` Coriolis parameter (s⁻¹) at T, U, V and ζ points
            (not masked: the Coriolis kernels multiply it by masked transports).
        depth: ``(ny, nx)`` ocean depth as resolved by the full cells (m, 0 on land).
        maskT, maskU, maskV, maskZ, maskW: ``(nz, ny, nx)`` 0/1 masks.
        hU, hV: ``(ny, nx)`` water-column thickness at U and V faces (m).
        inv_hT, inv_hU, inv_hV: reciprocals of the column thickness, 0 on land.
    """

    nx: int = eqx.field(static=True)
    ny: int = eqx.field(static=True)
    nz: int = eqx.field(static=True)
    periodic_x: bool = eqx.field(static=True)
    coordinate_system: str = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    xT: jnp.ndarray
    xU: jnp.ndarray
    yT: jnp.ndarray
    yV: jnp.ndarray
    z_faces: jnp.ndarray
    z_centers: jnp.ndarray
    dz: jnp.ndarray
    inv_dz: jnp.ndarray
    dzW: jnp.ndarray
    inv_dzW: jnp.ndarray
    dxT: jnp.ndarray
    dyT: jnp.ndarray
    dxU: jnp.ndarray
    dyU: jnp.ndarray
    dxV: jnp.ndarray
    dyV: jnp.ndarray
    dxZ: jnp.ndarray
    dyZ: jnp.ndarray
    areaT: jnp.ndarray
    areaU: jnp.ndarray
    areaV: jnp.ndarray
    areaZ: jnp.ndarray
    inv_dxT: jnp.ndarray
    inv_dyT: jnp.ndarray
    inv_dxU: jnp.ndarray
    inv_dyU: jnp.ndarray
    inv_dxV: jnp.ndarray
    inv_dyV: jnp.ndarray
    inv_dxZ: jnp.ndarray
    inv_dyZ: jnp.ndarray
    inv_areaT: jnp.ndarray
    inv_areaU: jnp.ndarray
    inv_areaV: jnp.ndarray
    inv_areaZ: jnp.ndarray
    cosT: jnp.ndarray
    cosV: jnp.ndarray
    fT: jnp.ndarray
    fU: jnp.ndarray
    fV: jnp.ndarray
    fZ: jnp.ndarray
    depth: jnp.ndarray
    maskT: jnp.ndarray
    maskU: jnp.ndarray
    maskV: jnp.ndarray
    maskZ: jnp.ndarray
    maskW: jnp.ndarray
    hT: jnp.ndarray
    hU: jnp.ndarray
    hV: jnp.ndarray
    inv_hT: jnp.ndarray
    inv_hU: jnp.ndarray
    inv_hV: jnp.ndarray

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def spherical(
        cls,
        lon0: float,
        lon1: float,
        lat0: float,
        lat1: float,
        dlon: float,
        dlat: float,
        z_faces=None,
        *,
        nz: int | None = None,
        total_depth: float | None = None,
        stretching: float = 0.0,
        depth=None,
        periodic_x: bool = False,
        radius: float = EARTH_RADIUS,
        rotation_rate: float = EARTH_ROTATION_RATE,
    ) -> CGrid:
        """Latitude–longitude grid of the sector ``[lon0, lon1] × [lat0, lat1]`` (degrees).

        Args:
            lon0, lon1, lat0, lat1: domain edges (degrees east / north); ``lat0 > -90``,
                ``lat1 < 90``.
            dlon, dlat: spacings (degrees); must divide the domain.
            z_faces: ``(nz + 1,)`` face heights from ``-H`` to ``0`` (m); or give ``nz``,
                ``total_depth`` and ``stretching`` (see :func:`vertical_faces`).
            depth: ocean depth (m, positive): a scalar or a ``(ny, nx)`` array; ``<= 0`` is
                land.  Default: the full depth of ``z_faces`` everywhere.
            periodic_x: zonally re-entrant domain (needs ``lon1 - lon0 = 360`` for a global
                ring, or is a periodic sector/channel otherwise).
            radius: sphere radius a (m).  rotation_rate: Ω (s⁻¹); ``f = 2 Ω sin φ``.
        """
        nx = _count(lon1 - lon0, dlon, "longitude")
        ny = _count(lat1 - lat0, dlat, "latitude")
        if not (-90 < lat0 < lat1 < 90):
            raise ValueError(f"need -90 < lat0 < lat1 < 90 degrees, got {lat0}, {lat1}")
        zf = _faces(z_faces, nz, total_depth, stretching)
        lam_T = lon0 + (np.arange(nx) + 0.5) * dlon
        lam_U = lon0 + (np.arange(nx) + 1.0) * dlon
        phi_T = lat0 + (np.arange(ny) + 0.5) * dlat
        phi_V = lat0 + (np.arange(ny) + 1.0) * dlat
        phi_S = lat0 + np.arange(ny) * dlat  # south edges of T cells
        rad = np.pi / 180.0
        dl, dp = dlon * rad, dlat * rad
        ones = np.ones((ny, nx))
        cT = np.cos(phi_T * rad)[:, None] * ones
        cV = np.cos(phi_V * rad)[:, None] * ones
        a = radius
        metrics = {
            "dxT": a * cT * dl, "dyT": a * dp * ones,
            "dxU": a * cT * dl, "dyU": a * dp * ones,
            "dxV": a * cV * dl, "dyV": a * dp * ones,
            "dxZ": a * cV * dl, "dyZ": a * dp * ones,
        }
        band_T = np.sin(phi_V * rad) - np.sin(phi_S * rad)
        band_V = np.sin((phi_V + 0.5 * dlat) * rad) - np.sin(phi_T * rad)
        areas = {
            "areaT": a**2 * dl * band_T[:, None] * ones,
            "areaU": a**2 * dl * band_T[:, None] * ones,
            "areaV": a**2 * dl * band_V[:, None] * ones,
            "areaZ": a**2 * dl * band_V[:, None] * ones,
        }
        f_T = 2 * rotation_rate * np.sin(phi_T * rad)[:, None] * ones
        f_V = 2 * rotation_rate * np.sin(phi_V * rad)[:, None] * ones
        coriolis = {"fT": f_T, "fU": f_T, "fV": f_V, "fZ": f_V}
        return cls._build(nx, ny, zf, lam_T, lam_U, phi_T, phi_V, metrics, areas, cT, cV,
                          coriolis, depth, periodic_x, "spherical", float(radius))

    @classmethod
    def beta_plane(
        cls,
        Lx: float,
        Ly: float,
        nx: int,
        ny: int,
        z_faces=None,
        *,
        nz: int | None = None,
        total_depth: float | None = None,
        stretching: float = 0.0,
        depth=None,
        f0: float = 1e-4,
        beta: float = 0.0,
        y0: float = 0.0,
        periodic_x: bool = False,
    ) -> CGrid:
        """Cartesian box ``[0, Lx] × [0, Ly]`` (m) with ``f = f0 + β (y − y0)``.

        Args:
            Lx, Ly: domain size (m).  nx, ny: cells.
            z_faces / nz, total_depth, stretching, depth, periodic_x: as :meth:`spherical`.
            f0: Coriolis parameter at ``y = y0`` (s⁻¹).  beta: β (m⁻¹ s⁻¹).  y0: (m).
        """
        for name, n in (("nx", nx), ("ny", ny)):
            if not (isinstance(n, int) and n >= 1):
                raise ValueError(f"{name} = {n!r} must be an int >= 1")
        if not (Lx > 0 and Ly > 0):
            raise ValueError(f"Lx, Ly must be > 0 (m), got {Lx}, {Ly}")
        zf = _faces(z_faces, nz, total_depth, stretching)
        dx, dy = Lx / nx, Ly / ny
        xT = (np.arange(nx) + 0.5) * dx
        xU = (np.arange(nx) + 1.0) * dx
        yT = (np.arange(ny) + 0.5) * dy
        yV = (np.arange(ny) + 1.0) * dy
        ones = np.ones((ny, nx))
        metrics = {k: (dx if k.startswith("dx") else dy) * ones
                   for k in ("dxT", "dyT", "dxU", "dyU", "dxV", "dyV", "dxZ", "dyZ")}
        areas = {k: dx * dy * ones for k in ("areaT", "areaU", "areaV", "areaZ")}
        f_T = (f0 + beta * (yT - y0))[:, None] * ones
        f_V = (f0 + beta * (yV - y0))[:, None] * ones
        coriolis = {"fT": f_T, "fU": f_T, "fV": f_V, "fZ": f_V}
        return cls._build(nx, ny, zf, xT, xU, yT, yV, metrics, areas, ones, ones, coriolis,
                          depth, periodic_x, "cartesian", math.inf)

    @classmethod
    def _build(cls, nx, ny, zf, xT, xU, yT, yV, metrics, areas, cT, cV, coriolis, depth,
               periodic_x, coordinate_system, radius):
        nz = zf.size - 1
        zc = 0.5 * (zf[1:] + zf[:-1])
        dz = np.diff(zf)
        dzW = np.concatenate([np.diff(zc), dz[-1:] / 2])
        H = -zf[0]
        if depth is None:
            depth = H
        depth = np.broadcast_to(np.asarray(depth, dtype=float), (ny, nx))
        if not np.all(np.isfinite(depth)):
            raise ValueError("depth must be finite everywhere (use 0 or a negative value for land)")
        mT = (zc[:, None, None] > -depth[None]).astype(float)  # full cells
        if not mT.any():
            raise ValueError("the grid has no wet cell: check depth and z_faces")
        mU = mT * _np_shift(mT, 1, 0, periodic_x)
        mV = mT * _np_shift(mT, 0, 1, periodic_x)
        mZ = mU * _np_shift(mU, 0, 1, periodic_x)
        above = np.concatenate([mT[1:], np.ones_like(mT[:1])], axis=0)
        mW = mT * above
        hT = np.sum(mT * dz[:, None, None], axis=0)
        hU = np.sum(mU * dz[:, None, None], axis=0)
        hV = np.sum(mV * dz[:, None, None], axis=0)
        sT, sU, sV, sZ = mT[-1], mU[-1], mV[-1], mZ[-1]
        surf = {"T": sT, "U": sU, "V": sV, "Z": sZ}
        inv = {}
        for name, value in {**metrics, **areas}.items():
            loc = name[-1]
            inv["inv_" + name] = _safe_inverse(value, surf[loc])
        arr = jnp.asarray
        return cls(
            nx=nx, ny=ny, nz=nz, periodic_x=bool(periodic_x),
            coordinate_system=coordinate_system, radius=radius,
            xT=arr(xT), xU=arr(xU), yT=arr(yT), yV=arr(yV),
            z_faces=arr(zf), z_centers=arr(zc), dz=arr(dz), inv_dz=arr(1.0 / dz),
            dzW=arr(dzW), inv_dzW=arr(1.0 / dzW),
            **{k: arr(v) for k, v in metrics.items()},
            **{k: arr(v) for k, v in areas.items()},
            **{k: arr(v) for k, v in inv.items()},
            cosT=arr(cT), cosV=arr(cV),
            **{k: arr(v) for k, v in coriolis.items()},
            depth=arr(hT), maskT=arr(mT), maskU=arr(mU), maskV=arr(mV), maskZ=arr(mZ),
            maskW=arr(mW), hT=arr(hT), hU=arr(hU), hV=arr(hV),
            inv_hT=arr(_safe_inverse(hT, hT > 0)), inv_hU=arr(_safe_inverse(hU, hU > 0)),
            inv_hV=arr(_safe_inverse(hV, hV > 0)),
        )

    # -- sizes -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nz, ny, nx)``."""
        return (self.nz, self.ny, self.nx)

    @property
    def volumeT(self):
        """``(nz, ny, nx)`` wet T-cell volumes (m³)."""
        return self.areaT * self.dz[:, None, None] * self.maskT

    # -- the halo / boundary function ----------------------------------------------------------
    def fill_halo(self, field, width: int = 1, loc: str = "T", sign: float = 1.0,
                  axes: str = "xy"):
        """``field`` ``(..., ny, nx)`` padded with a halo of ``width`` cells on both sides of
        each axis in ``axes`` (``"x"``, ``"y"`` or ``"xy"``): the periodic wrap in x when
        ``periodic_x``, zeros beyond walls.

        ``loc`` (one of :data:`LOCATIONS`) and ``sign`` (−1 for vector components that flip
        across a fold) are unused on this grid; a tripolar grid's north fold needs them.
        """
        if loc not in LOCATIONS:
            raise ValueError(f"loc = {loc!r}; accepted: {', '.join(LOCATIONS)}")
        w = width
        zero = jnp.zeros((), field.dtype)
        nd = field.ndim
        if "x" in axes:
            if self.periodic_x:
                field = jnp.concatenate([field[..., -w:], field, field[..., :w]], axis=-1)
            else:
                field = jax.lax.pad(field, zero, [(0, 0, 0)] * (nd - 1) + [(w, w, 0)])
        if "y" in axes:
            field = jax.lax.pad(field, zero, [(0, 0, 0)] * (nd - 2) + [(w, w, 0), (0, 0, 0)])
        return field

    def shift(self, field, di: int = 0, dj: int = 0, loc: str = "T", sign: float = 1.0):
        """``field`` at ``(j + dj, i + di)`` on the same grid, values beyond the domain from
        :meth:`fill_halo` (``|di|, |dj| <= 2``).

        A linear operator with a hand-written transpose (the primitive ``cgrid_shift``): the
        adjoint of the shift by ``(di, dj)`` is the shift by ``(−di, −dj)`` (periodic wrap
        back; beyond a wall the zeros of the halo take no cotangent), so reverse mode runs
        the same cheap stencil as the forward instead of the pad/slice/add chain JAX's own
        transposition of the halo fill makes (measured with this change alone: the pullback
        of a 1° basin step falls from 4.0 to 2.6 forward steps; docs/basin.md).  Forward
        mode, ``vmap`` and sharding see the same :meth:`fill_halo` and slice ops as before."""
        if not (isinstance(di, int) and isinstance(dj, int) and abs(di) <= 2
                and abs(dj) <= 2):
            raise ValueError(f"shift ({di!r}, {dj!r}) must be ints with |di|, |dj| <= 2")
        if loc not in LOCATIONS:
            raise ValueError(f"loc = {loc!r}; accepted: {', '.join(LOCATIONS)}")
        if not (di or dj):
            return field
        if field.ndim < 2 or field.shape[-2:] != (self.ny, self.nx):
            raise ValueError(f"field of shape {field.shape} is not (..., {self.ny}, "
                             f"{self.nx})")
        return _shift_p.bind(field, di=di, dj=dj, periodic_x=self.periodic_x)

    # -- differences and averages to neighbouring points -----------------------------------------
    def dx_plus(self, a, loc="T"):
        """``a(i+1) − a(i)``: x difference onto the point half a cell east (T→U, V→ζ)."""
        return self.shift(a, 1, 0, loc) - a

    def dx_minus(self, a, loc="U"):
        """``a(i) − a(i−1)``: x difference onto the point half a cell west (U→T, ζ→V)."""
        return a - self.shift(a, -1, 0, loc)

    def dy_plus(self, a, loc="T"):
        """``a(j+1) − a(j)``: y difference onto the point half a cell north (T→V, U→ζ)."""
        return self.shift(a, 0, 1, loc) - a

    def dy_minus(self, a, loc="V"):
        """``a(j) − a(j−1)``: y difference onto the point half a cell south (V→T, ζ→U)."""
        return a - self.shift(a, 0, -1, loc)

    def ax_plus(self, a, loc="T"):
        """``(a(i+1) + a(i)) / 2`` (T→U, V→ζ)."""
        return 0.5 * (self.shift(a, 1, 0, loc) + a)

    def ax_minus(self, a, loc="U"):
        """``(a(i) + a(i−1)) / 2`` (U→T, ζ→V)."""
        return 0.5 * (a + self.shift(a, -1, 0, loc))

    def ay_plus(self, a, loc="T"):
        """``(a(j+1) + a(j)) / 2`` (T→V, U→ζ)."""
        return 0.5 * (self.shift(a, 0, 1, loc) + a)

    def ay_minus(self, a, loc="V"):
        """``(a(j) + a(j−1)) / 2`` (V→T, ζ→U)."""
        return 0.5 * (a + self.shift(a, 0, -1, loc))

    # -- vector calculus -----------------------------------------------------------------------
    def grad_x(self, a):
        """``∂a/∂x`` at U points of a T-point field (0 on closed faces)."""
        return self.dx_plus(a, "T") * self.inv_dxU * self._mask(a, self.maskU)

    def grad_y(self, a):
        """``∂a/∂y`` at V points of a T-point field (0 on closed faces)."""
        return self.dy_plus(a, "T") * self.inv_dyV * self._mask(a, self.maskV)

    def divergence_flux(self, flux_x, flux_y):
        """Net horizontal inflow-outflow ``δx F + δy G`` (m³ s⁻¹ per cell for volume fluxes)
        of face fluxes ``F`` at U and ``G`` at V: positive for outflow."""
        return self.dx_minus(flux_x, "U") + self.dy_minus(flux_y, "V")

    def divergence(self, u, v):
        """``∇·(u, v)`` at T points (s⁻¹): ``[δx(u dyU) + δy(v dxV)] / areaT`` with the
        velocities multiplied by their masks."""
        fx = u * self.dyU * self._mask(u, self.maskU)
        fy = v * self.dxV * self._mask(v, self.maskV)
        return self.divergence_flux(fx, fy) * self.inv_areaT * self._mask(u, self.maskT)

    def vorticity(self, u, v):
        """Relative vorticity ``ζ = k·∇×(u, v)`` at ζ points (s⁻¹), by circulation around the
        ζ cell: ``[δx(v dyV) − δy(u dxU)] / areaZ`` (0 at masked corners: free slip)."""
        cx = v * self.dyV * self._mask(v, self.maskV)
        cy = u * self.dxU * self._mask(u, self.maskU)
        circ = self.dx_plus(cx, "V") - self.dy_plus(cy, "U")
        return circ * self.inv_areaZ * self._mask(u, self.maskZ)

    def laplacian(self, a, kappa_x=1.0, kappa_y=None):
        """``∇·(κ ∇a)`` at T points of a T-point field (zero flux through walls and land);
        ``kappa_x`` at U, ``kappa_y`` at V points (default both 1)."""
        kappa_y = kappa_x if kappa_y is None else kappa_y
        fx = kappa_x * self.grad_x(a) * self.dyU
        fy = kappa_y * self.grad_y(a) * self.dxV
        return self.divergence_flux(fx, fy) * self.inv_areaT * self._mask(a, self.maskT)

    def _mask(self, a, mask):
        """``mask`` (3-D) matched to a 2-D (barotropic) or 3-D field: the surface level for
        2-D fields (the wettest one)."""
        return mask if a.ndim >= 3 and a.shape[-3] == self.nz else mask[-1]

    def surface_mask(self, loc: str = "T"):
        """``(ny, nx)`` surface mask at a location (T, U, V or Z)."""
        return {"T": self.maskT, "U": self.maskU, "V": self.maskV, "Z": self.maskZ}[loc][-1]

    def describe(self) -> str:
        """One line: size, spacing and periodicity."""
        if self.coordinate_system == "spherical":
            dlon = float(self.xU[0] - self.xT[0]) * 2
            dlat = float(self.yV[0] - self.yT[0]) * 2
            horiz = (f"lon {float(self.xT[0] - dlon / 2):g}..{float(self.xU[-1]):g}, lat "
                     f"{float(self.yT[0] - dlat / 2):g}..{float(self.yV[-1]):g} at "
                     f"{dlon:g}x{dlat:g} deg")
        else:
            horiz = (f"{float(self.xU[-1]) / 1e3:g} km x {float(self.yV[-1]) / 1e3:g} km, "
                     f"dx = {float(self.dxT[0, 0]) / 1e3:g} km")
        return (f"{self.nx} x {self.ny} x {self.nz} C-grid ({self.coordinate_system}; "
                f"{horiz}; depth {-float(self.z_faces[0]):g} m; "
                f"{'periodic' if self.periodic_x else 'walled'} in x)")


def _halo_shift(field, di: int, dj: int, periodic_x: bool):
    """The halo fill and slice of :meth:`CGrid.shift`: ``field`` ``(..., ny, nx)`` at
    ``(j + dj, i + di)``, periodic in x when ``periodic_x``, zeros beyond walls."""
    nd = field.ndim
    zero = jnp.zeros((), field.dtype)
    ny, nx = field.shape[-2:]
    if di:
        w = abs(di)
        if periodic_x:
            p = jnp.concatenate([field[..., -w:], field, field[..., :w]], axis=-1)
        else:
            p = jax.lax.pad(field, zero, [(0, 0, 0)] * (nd - 1) + [(w, w, 0)])
        field = jax.lax.slice_in_dim(p, w + di, w + di + nx, axis=nd - 1)
    if dj:
        w = abs(dj)
        p = jax.lax.pad(field, zero, [(0, 0, 0)] * (nd - 2) + [(w, w, 0), (0, 0, 0)])
        field = jax.lax.slice_in_dim(p, w + dj, w + dj + ny, axis=nd - 2)
    return field


#: ``cgrid_shift``: :func:`_halo_shift` as one linear primitive whose transpose is the
#: opposite shift (see :meth:`CGrid.shift`)
_shift_p = Primitive("cgrid_shift")
_shift_p.def_impl(_halo_shift)
_shift_p.def_abstract_eval(lambda field, **_: field)  # same shape and dtype
mlir.register_lowering(_shift_p, mlir.lower_fun(_halo_shift, multiple_results=False))


def _shift_transpose(ct, field, *, di, dj, periodic_x):
    if type(ct) is ad.Zero:
        return [ad.Zero(field.aval)]
    return [_shift_p.bind(ct, di=-di, dj=-dj, periodic_x=periodic_x)]


def _shift_batch(args, dims, *, di, dj, periodic_x):
    (x,), (d,) = args, dims
    x = jnp.moveaxis(x, d, 0)  # the shifted axes stay the last two
    return _shift_p.bind(x, di=di, dj=dj, periodic_x=periodic_x), 0


ad.deflinear2(_shift_p, _shift_transpose)
batching.primitive_batchers[_shift_p] = _shift_batch


def _count(extent, step, what):
    n = extent / step
    if not (step > 0 and n >= 1 and abs(n - round(n)) < 1e-9):
        raise ValueError(f"{what} spacing {step} must be > 0 and divide the extent {extent}")
    return int(round(n))


def _faces(z_faces, nz, total_depth, stretching):
    if z_faces is not None:
        if nz is not None or total_depth is not None:
            raise ValueError("give either z_faces or (nz, total_depth, stretching), not both")
        zf = np.asarray(z_faces, dtype=float)
        if zf.ndim != 1 or zf.size < 2 or not np.all(np.diff(zf) > 0) or zf[-1] != 0.0:
            raise ValueError("z_faces must increase strictly from -H to 0 (m), got "
                             f"{zf!r}")
        return zf
    if nz is None or total_depth is None:
        raise ValueError("give z_faces or both nz and total_depth")
    return vertical_faces(nz, float(total_depth), stretching)
