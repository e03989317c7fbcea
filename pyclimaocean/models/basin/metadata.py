"""CF and xgcm metadata of basin output on the C-grid: coordinates, variables, derived fields.

Dimension names and the staggering they encode (see :mod:`pyclimaocean.grids.cgrid`)::

    x    (nx)  T/V points, cell centres in x          axis = "X"
    x_u  (nx)  U/ζ points, east faces                 axis = "X", c_grid_axis_shift = 0.5
    y    (ny)  T/U points, cell centres in y          axis = "Y"
    y_v  (ny)  V/ζ points, north faces                axis = "Y", c_grid_axis_shift = 0.5
    z    (nz)  cell centres, bottom to surface        axis = "Z"
    z_w  (nz)  top faces of the cells (z_faces[1:])   axis = "Z", c_grid_axis_shift = 0.5

These are the attributes `xgcm <https://xgcm.readthedocs.io>`_ reads (its "comodo" parser:
a centre coordinate without shift, a ``right`` one with ``c_grid_axis_shift = 0.5`` and the
same length), so ``xgcm.Grid(ds, padding=xgcm_padding(grid), fill_value=0.0)`` needs no
``coords`` argument (the explicit mapping is :func:`xgcm_coords`); :func:`xgcm_padding` is
periodic in x for a re-entrant grid and zero-filled at walls, as :meth:`CGrid.fill_halo`.  Cell bounds (``x_bounds`` ...) follow CF; on the sphere x and y are
``longitude``/``latitude``, on the β-plane ``projection_x_coordinate``/``..._y_...``.

Variables carry CF standard names where the table has one (``sea_water_x_velocity``,
``sea_surface_height_above_geoid``, ``ocean_barotropic_streamfunction``,
``ocean_meridional_overturning_streamfunction`` ...) and transports are in m³ s⁻¹ (the CF
canonical unit; ``Sv`` in UDUNITS is the sievert).

:func:`basin_variables` and :func:`cgrid_coordinates` are what a
:class:`~pyclimaocean.models.basin.BasinModel`'s ``variables()``/``coordinates()`` return;
:func:`derived_fields` computes the derived diagnostics of a state for ``output_fields``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...core import Coordinate, Variable
from ...grids import CGrid
from . import analysis

__all__ = [
    "DERIVED_DIAGNOSTICS",
    "basin_variables",
    "cgrid_coordinates",
    "derived_fields",
    "xgcm_coords",
    "xgcm_padding",
]

#: the derived fields :func:`derived_fields` computes
DERIVED_DIAGNOSTICS = ("psi", "moc", "kinetic_energy", "heat_content")


def _horizontal(values_c, values_f, spherical: bool, axis: str):
    """Centre and face coordinates of one horizontal axis, with CF bounds."""
    xc = np.asarray(values_c, dtype=float)
    xf = np.asarray(values_f, dtype=float)
    west = xf - 2 * (xf - xc)  # the face on the other side of each centre
    lower_faces = np.concatenate([[west[0]], xf[:-1]])
    c_bounds = np.stack([lower_faces, xf], axis=-1)
    upper_centres = np.concatenate([xc[1:], [xf[-1] + (xf[-1] - xc[-1])]])
    f_bounds = np.stack([xc, upper_centres], axis=-1)
    if spherical:
        name = "longitude" if axis == "X" else "latitude"
        units = "degrees_east" if axis == "X" else "degrees_north"
    else:
        name = "projection_x_coordinate" if axis == "X" else "projection_y_coordinate"
        units = "m"
    what = "x" if axis == "X" else "y"
    where_f = "east faces (U and vorticity points)" if axis == "X" else \
        "north faces (V and vorticity points)"
    where_c = "cell centres (T and V points)" if axis == "X" else "cell centres (T and U points)"
    base = {"units": units, "standard_name": name, "axis": axis}
    centre = Coordinate(what, xc, {**base, "long_name": f"{name} of {where_c}"},
                        bounds=c_bounds)
    face = Coordinate(f"{what}_{'u' if axis == 'X' else 'v'}", xf,
                      {**base, "long_name": f"{name} of {where_f}",
                       "c_grid_axis_shift": 0.5}, bounds=f_bounds)
    return centre, face


def cgrid_coordinates(grid: CGrid) -> tuple[Coordinate, ...]:
    """Coordinates ``x, x_u, y, y_v, z, z_w`` of a C-grid with CF bounds and xgcm axis
    attributes (see the module docstring)."""
    sph = grid.coordinate_system == "spherical"
    x, x_u = _horizontal(grid.xT, grid.xU, sph, "X")
    y, y_v = _horizontal(grid.yT, grid.yV, sph, "Y")
    zf = np.asarray(grid.z_faces, dtype=float)
    zc = np.asarray(grid.z_centers, dtype=float)
    vert = {"units": "m", "standard_name": "height", "axis": "Z", "positive": "up"}
    z = Coordinate("z", zc, {**vert, "long_name": "height of cell centres (bottom to surface)"},
                   bounds=np.stack([zf[:-1], zf[1:]], axis=-1))
    upper = np.concatenate([zc[1:], [0.0]])
    z_w = Coordinate("z_w", zf[1:], {**vert, "long_name": "height of the top faces of the "
                                     "cells (W points; the last is the sea surface)",
                                     "c_grid_axis_shift": 0.5},
                     bounds=np.stack([zc, upper], axis=-1))
    return (x, x_u, y, y_v, z, z_w)


def xgcm_coords() -> dict[str, dict[str, str]]:
    """The ``coords`` argument of ``xgcm.Grid`` for basin output (same as its autoparse)."""
    return {"X": {"center": "x", "right": "x_u"}, "Y": {"center": "y", "right": "y_v"},
            "Z": {"center": "z", "right": "z_w"}}


def xgcm_padding(grid: CGrid) -> dict[str, str]:
    """The ``padding`` argument of ``xgcm.Grid`` (xgcm ≥ 0.9) matching
    :meth:`CGrid.fill_halo`: ``"periodic"`` in x for a re-entrant grid, ``"fill"`` (use with
    ``fill_value=0.0``: zero beyond walls, the sea floor and the surface) otherwise."""
    return {"X": "periodic" if grid.periodic_x else "fill", "Y": "fill", "Z": "fill"}


def basin_variables() -> tuple[Variable, ...]:
    """Output variables of the basin model: prognostic ``u, v, T, S, eta, U, V`` and the
    derived ``w, psi, moc, kinetic_energy, heat_content``.

    ``valid_range`` gives the blow-up checks a plausible range; derived fields are computed by
    the model's ``output_fields`` (:func:`derived_fields`, and ``w`` from continuity).
    """
    c3, u3, v3 = ("z", "y", "x"), ("z", "y", "x_u"), ("z", "y_v", "x")
    return (
        Variable("u", u3, "m s-1", "zonal velocity (east faces)", "sea_water_x_velocity",
                 location="u", valid_range=(-20.0, 20.0)),
        Variable("v", v3, "m s-1", "meridional velocity (north faces)", "sea_water_y_velocity",
                 location="v", valid_range=(-20.0, 20.0)),
        Variable("w", ("z_w", "y", "x"), "m s-1", "vertical velocity on the top cell faces",
                 "upward_sea_water_velocity", location="face", valid_range=(-1.0, 1.0),
                 derived=True),
        Variable("T", c3, "degC", "sea water (conservative) temperature",
                 "sea_water_conservative_temperature", valid_range=(-10.0, 60.0)),
        Variable("S", c3, "g kg-1", "sea water (absolute) salinity",
                 "sea_water_absolute_salinity", valid_range=(-1.0, 100.0)),
        Variable("eta", ("y", "x"), "m", "free-surface height (filtered)",
                 "sea_surface_height_above_geoid", valid_range=(-50.0, 50.0)),
        Variable("U", ("y", "x_u"), "m2 s-1", "depth-integrated zonal transport per unit width",
                 location="u", valid_range=(-1e5, 1e5)),
        Variable("V", ("y_v", "x"), "m2 s-1",
                 "depth-integrated meridional transport per unit width", location="v",
                 valid_range=(-1e5, 1e5)),
        Variable("psi", ("y_v", "x_u"), "m3 s-1",
                 "barotropic streamfunction (U = -dpsi/dy, zero on the southern wall)",
                 "ocean_barotropic_streamfunction", location="corner", derived=True,
                 valid_range=(-1e10, 1e10)),
        Variable("moc", ("z_w", "y_v"), "m3 s-1",
                 "meridional overturning streamfunction -int int v dx dz from the sea floor "
                 "(Eulerian; clockwise cell positive)",
                 "ocean_meridional_overturning_streamfunction", location="face", derived=True,
                 valid_range=(-1e10, 1e10)),
        Variable("kinetic_energy", (), "J", "volume-integrated kinetic energy rho0 int |u|^2/2 dV",
                 derived=True, attrs={"cell_methods": "area: depth: sum"}),
        Variable("heat_content", (), "J", "ocean heat content rho0 c_p int T dV (T in degC)",
                 derived=True, attrs={"cell_methods": "area: depth: sum"}),
    )


def derived_fields(grid: CGrid, state, reference_density: float) -> dict[str, Any]:
    """The fields of :data:`DERIVED_DIAGNOSTICS` of a state (pure; leading axes allowed):
    ``psi`` from the state's ``U``, ``moc`` from ``v``, ``kinetic_energy`` with ρ₀ =
    ``reference_density`` (kg m⁻³), ``heat_content`` (J, relative to 0 °C)."""
    return {
        "psi": analysis.barotropic_streamfunction(grid, state.U),
        "moc": analysis.overturning_streamfunction(grid, state.v),
        "kinetic_energy": analysis.kinetic_energy(grid, state.u, state.v, reference_density),
        "heat_content": analysis.heat_content(grid, state.T,
                                              reference_density=reference_density),
    }
