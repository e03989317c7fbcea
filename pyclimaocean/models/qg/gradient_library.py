r"""A library of momentum-forcing terms built from velocity gradients, and the sparse closure
it defines (for equation discovery, :mod:`pyclimaocean.discovery.qg`).

With the eddy velocities ``(u, v)`` of a layer, the relative vorticity, shearing and
stretching deformations

    ζ = ∂x v − ∂y u,      D = ∂y u + ∂x v,      D̃ = ∂x u − ∂y v

(s⁻¹; Zanna & Bolton 2020 notation) and ``|S| = √(D² + D̃²)``, each term is a vector field
``(F_x, F_y)`` (per layer) of the form ``∇·T`` with ``T`` a tensor built from them, or a
Laplacian of the velocity:

=========================  ==============================================  =============
name                       term                                            coefficient
=========================  ==============================================  =============
``lap``                    ``∇² u``                                        m² s⁻¹
``lap2``                   ``∇⁴ u``                                        m⁴ s⁻¹
``grad_zeta2``             ``∇(ζ²)``                                       m²
``grad_deformation2``      ``∇(D² + D̃²)``                                  m²
``zb``                     ``∇·[[−ζD, ζD̃], [ζD̃, ζD]]``                     m²
``zb_rotated``             ``∇·[[ζD̃, ζD], [ζD, −ζD̃]]``                     m²
``deformation2``           ``∇·[[D² − D̃², 2DD̃], [2DD̃, D̃² − D²]]``          m²
``smagorinsky``            ``∇·(|S| [[D̃, D], [D, −D̃]])``                   m²
=========================  ==============================================  =============

Zanna & Bolton (2020)'s discovered closure is ``κ_BC (zb + ½ grad_zeta2 + ½
grad_deformation2)`` in pyqg's form (``κ_BC (zb + grad_zeta2)`` in the paper's; the two differ
by a gradient, which has no curl and no effect on PV).  The gradient (Clark/Leonard) model of a
Gaussian filter of width Δ (second moment Δ²/12), ``C[u_i u_j] − ū_i ū_j ≈ (Δ²/12) ∂_k ū_i
∂_k ū_j``, gives exactly this structure with ``κ_BC = −Δ²/24``: in two-dimensional
non-divergent flow ``∂_k u_i ∂_k u_j = ¼(ζ² + D² + D̃²) δ_ij + ½ [[−ζD, ζD̃], [ζD̃, ζD]]_ij``.

Symmetry: ``zb``, ``deformation2``, ``smagorinsky``, the gradients and Laplacians are true
vectors under rotations and reflections; ``zb_rotated`` (ζ times the deformation rotated by
45°) changes sign under reflections, so a reflection-symmetric closure cannot contain it — a
regression that selects it has found noise.

:class:`SparseMomentumClosure` is ``F = Σ c_n term_n`` with one coefficient per name
(pytree leaves), acting on PV through the curl ``∂x F_y − ∂y F_x``.
"""

from __future__ import annotations

import jax.numpy as jnp

from .closure import AbstractQGClosure, QGFields

__all__ = ["TERMS", "TERM_UNITS", "SparseMomentumClosure", "gradient_terms",
           "velocity_gradient_invariants"]

#: names of the library terms, in order (module docstring)
TERMS = ("lap", "lap2", "grad_zeta2", "grad_deformation2", "zb", "zb_rotated",
         "deformation2", "smagorinsky")

#: units of each term's coefficient
TERM_UNITS = {"lap": "m2 s-1", "lap2": "m4 s-1", "grad_zeta2": "m2",
              "grad_deformation2": "m2", "zb": "m2", "zb_rotated": "m2",
              "deformation2": "m2", "smagorinsky": "m2"}


def velocity_gradient_invariants(fields: QGFields):
    """``(ζ, D, D̃)`` of both layers, each ``(2, ny, nx)`` (s⁻¹)."""
    ux, uy = fields.ddx(fields.u), fields.ddy(fields.u)
    vx, vy = fields.ddx(fields.v), fields.ddy(fields.v)
    return vx - uy, uy + vx, ux - vy


def _div(fields: QGFields, txx, txy, tyy):
    return (fields.ddx(txx) + fields.ddy(txy), fields.ddx(txy) + fields.ddy(tyy))


def _lap(fields: QGFields, f):
    return fields.ddx(fields.ddx(f)) + fields.ddy(fields.ddy(f))


def gradient_terms(fields: QGFields, names=TERMS) -> dict[str, tuple[jnp.ndarray, jnp.ndarray]]:
    """The library terms ``{name: (F_x, F_y)}``, each ``(2, ny, nx)`` (units: m s⁻² divided by
    the coefficient's units, :data:`TERM_UNITS`)."""
    unknown = [n for n in names if n not in TERMS]
    if unknown:
        raise ValueError(f"unknown library terms {unknown}. Terms are: {', '.join(TERMS)}")
    zeta, d, dt = velocity_gradient_invariants(fields)
    u, v = fields.u, fields.v
    out = {}
    for name in names:
        if name == "lap":
            out[name] = (_lap(fields, u), _lap(fields, v))
        elif name == "lap2":
            out[name] = (_lap(fields, _lap(fields, u)), _lap(fields, _lap(fields, v)))
        elif name == "grad_zeta2":
            out[name] = (fields.ddx(zeta**2), fields.ddy(zeta**2))
        elif name == "grad_deformation2":
            s2 = d**2 + dt**2
            out[name] = (fields.ddx(s2), fields.ddy(s2))
        elif name == "zb":
            out[name] = _div(fields, -zeta * d, zeta * dt, zeta * d)
        elif name == "zb_rotated":
            out[name] = _div(fields, zeta * dt, zeta * d, -zeta * dt)
        elif name == "deformation2":
            out[name] = _div(fields, d**2 - dt**2, 2 * d * dt, dt**2 - d**2)
        else:  # smagorinsky
            s = jnp.sqrt(d**2 + dt**2 + 1e-300)
            out[name] = _div(fields, s * dt, s * d, -s * dt)
    return out


class SparseMomentumClosure(AbstractQGClosure):
    """Momentum closure ``F = Σ_n c_n term_n`` of the library (module docstring), acting on PV
    through its curl.

    Args:
        **coefficients: one float per library term used (name → coefficient, units in
            :data:`TERM_UNITS`); terms not given are absent.  E.g. Zanna–Bolton 2020 in pyqg's
            form: ``SparseMomentumClosure(zb=k, grad_zeta2=k / 2, grad_deformation2=k / 2)``.
    """

    coefficients: dict[str, jnp.ndarray]

    def __init__(self, **coefficients: float):
        unknown = [n for n in coefficients if n not in TERMS]
        if unknown:
            raise ValueError(f"SparseMomentumClosure: unknown terms {unknown}. Terms are: "
                             + ", ".join(TERMS))
        if not coefficients:
            raise ValueError("SparseMomentumClosure: give at least one coefficient")
        self.coefficients = {n: jnp.asarray(coefficients[n], dtype=float)
                             for n in TERMS if n in coefficients}

    def momentum_forcing(self, model, fields: QGFields):
        """``(F_x, F_y)``, each ``(2, ny, nx)`` (m s⁻²)."""
        terms = gradient_terms(fields, tuple(self.coefficients))
        fx = sum(c * terms[n][0] for n, c in self.coefficients.items())
        fy = sum(c * terms[n][1] for n, c in self.coefficients.items())
        return fx, fy

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        return fields.curl(*self.momentum_forcing(model, fields))

    def describe(self) -> str:
        parts = ", ".join(f"{n} = {float(c):.4g} {TERM_UNITS[n]}"
                          for n, c in self.coefficients.items())
        return f"SparseMomentumClosure({parts})"
