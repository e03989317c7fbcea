"""Vertical grid of a single column.

Cells are indexed from the bottom (``k = 0``) to the surface (``k = nz - 1``), as in
Oceananigans.  Faces ``z_faces`` (``nz + 1``) run from ``-depth`` to ``0``; centres ``z_centers``
are face midpoints.  Spacing can be stretched toward the surface with an exponential map:

    d(ξ) = depth · (exp(s ξ) − 1) / (exp(s) − 1),    ξ ∈ [0, 1] from the surface down,

where ``s = stretching`` (``s = 0``: uniform).  ``s > 0`` refines near the surface.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np

__all__ = ["ColumnGrid"]


class ColumnGrid(eqx.Module):
    """Static column grid (all arrays are static metadata, not calibratable).

    Attributes:
        nz: number of cells.
        depth: column depth ``H`` (m, positive).
        stretching: surface refinement ``s`` (0 = uniform).
    """

    nz: int = eqx.field(static=True)
    depth: float = eqx.field(static=True)
    stretching: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if not (isinstance(self.nz, int) and self.nz >= 2):
            raise ValueError(f"grid.nz = {self.nz!r} must be an int >= 2")
        if not (self.depth > 0 and math.isfinite(self.depth)):
            raise ValueError(f"grid.depth = {self.depth!r} must be a positive finite number (m)")
        if not (0 <= self.stretching <= 10):
            raise ValueError(f"grid.stretching = {self.stretching!r} must be in [0, 10]")

    # numpy versions (static), jnp views below
    def _faces_np(self) -> np.ndarray:
        xi = np.linspace(1.0, 0.0, self.nz + 1)  # bottom -> surface in ξ (depth fraction)
        s = self.stretching
        d = xi if s == 0 else np.expm1(s * xi) / math.expm1(s)
        return -self.depth * d

    @property
    def z_faces(self):
        """``(nz + 1,)`` face heights (m), ``-depth`` ... ``0``."""
        return jnp.asarray(self._faces_np())

    @property
    def z_centers(self):
        """``(nz,)`` cell-centre heights (m)."""
        f = self._faces_np()
        return jnp.asarray(0.5 * (f[1:] + f[:-1]))

    @property
    def dz_centers(self):
        """``(nz,)`` cell thicknesses Δz (m)."""
        return jnp.asarray(np.diff(self._faces_np()))

    @property
    def dz_faces(self):
        """``(nz - 1,)`` distances between neighbouring centres, at interior faces (m)."""
        f = self._faces_np()
        c = 0.5 * (f[1:] + f[:-1])
        return jnp.asarray(np.diff(c))

    @property
    def z_interior_faces(self):
        """``(nz - 1,)`` heights of the interior faces (m)."""
        return jnp.asarray(self._faces_np()[1:-1])

    def integrate(self, field):
        """∫ field dz over the column (field at centres, ``(..., nz)``)."""
        return jnp.sum(field * self.dz_centers, axis=-1)
