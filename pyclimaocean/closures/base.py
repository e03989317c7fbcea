"""Vertical mixing closures for column (and hydrostatic) models.

A closure turns the resolved column state into vertical diffusivities at the interior faces.
Closures are small ``equinox`` modules: their float fields are calibratable parameters
(reachable by :class:`pyclimaocean.ParameterSet` as ``"closure.<name>"``), discrete choices are
static.  Every closure implements

* ``diffusivities(ctx) -> (viscosity, diffusivity)``, each ``(nz - 1,)`` in m² s⁻¹ at the
  interior faces (momentum and tracers);
* ``step_tke(ctx, dt) -> e``: advance its own prognostic turbulent kinetic energy (closures
  without one return ``ctx.tke`` unchanged);
* ``parameter_specs()``: bounds, priors, units and descriptions of its parameters.

Physical and learned closures share this one interface: a neural closure
(:class:`pyclimaocean.closures.NeuralDiffusivityClosure`) is an ``AbstractClosure`` whose
trainable leaves are network weights rather than named parameters (its ``parameter_specs()`` is
empty; train it with :func:`pyclimaocean.learning.fit_online`).  Any closure drops into
``ColumnModel(closure=...)``; its ``diffusivities`` must be pure and differentiable, return
non-negative ``(nz - 1,)`` arrays, and use only what :class:`ColumnContext` provides.

:class:`ColumnContext` gathers what closures need (N², S², surface fluxes) so it is computed
once per step.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

__all__ = ["AbstractClosure", "ColumnContext"]


class ColumnContext(eqx.Module):
    """Diagnosed column quantities handed to closures (all SI units).

    Attributes:
        z_centers, dz_centers: ``(nz,)`` grid (m).
        z_faces_interior, dz_faces: ``(nz - 1,)`` interior face heights and centre spacing (m).
        depth: column depth H (m).
        buoyancy_frequency_squared: N² at interior faces ``(nz - 1,)`` (s⁻²).
        shear_squared: S² = (∂z u)² + (∂z v)² at interior faces ``(nz - 1,)`` (s⁻²).
        surface_buoyancy_flux: Jᵇ, upward buoyancy flux at the surface (m² s⁻³; > 0 convects).
        friction_velocity: u★ = sqrt(|τ| / ρ₀) (m s⁻¹).
        tke: turbulent kinetic energy at centres ``(nz,)`` (m² s⁻²).
    """

    z_centers: Any
    dz_centers: Any
    z_faces_interior: Any
    dz_faces: Any
    depth: float
    buoyancy_frequency_squared: Any
    shear_squared: Any
    surface_buoyancy_flux: Any
    friction_velocity: Any
    tke: Any


class AbstractClosure(eqx.Module):
    """Base class of vertical mixing closures."""

    has_tke: bool = eqx.field(static=True, default=False, init=False)

    def diffusivities(self, ctx: ColumnContext):
        raise NotImplementedError

    def step_tke(self, ctx: ColumnContext, viscosity, diffusivity, dt: float):
        return ctx.tke

    # Closures with a TKE equation (``has_tke``) also provide
    #   tke_system(ctx, viscosity, diffusivity, dt) -> (lower, diag, upper, rhs)
    #   finish_tke(e) -> e
    # so that a model can solve the TKE system in one batched solve with its other fields.

    @classmethod
    def parameter_specs(cls) -> dict[str, dict[str, Any]]:
        """``{field: {lower, upper, units, description, prior?}}`` for calibratable fields."""
        return {}

    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.parameter_specs())


def clip(x):
    return jnp.maximum(x, 0.0)
