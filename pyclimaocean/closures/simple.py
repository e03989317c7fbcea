"""Simple closures: constant diffusivity, convective adjustment, Richardson-number (PP81)."""

from __future__ import annotations

import jax.numpy as jnp

from .base import AbstractClosure, ColumnContext, clip

__all__ = [
    "ConstantDiffusivity",
    "ConvectiveAdjustment",
    "RichardsonNumberClosure",
]


class ConstantDiffusivity(AbstractClosure):
    """Constant viscosity ν and diffusivity κ (m² s⁻¹)."""

    viscosity: float = 1e-4
    diffusivity: float = 1e-5

    def diffusivities(self, ctx: ColumnContext):
        ones = jnp.ones_like(ctx.buoyancy_frequency_squared)
        return self.viscosity * ones, self.diffusivity * ones

    @classmethod
    def parameter_specs(cls):
        return {
            "viscosity": dict(lower=0.0, upper=10.0, units="m2 s-1", description="viscosity ν"),
            "diffusivity": dict(lower=0.0, upper=10.0, units="m2 s-1", description="diffusivity κ"),
        }


class ConvectiveAdjustment(AbstractClosure):
    """Convective adjustment by enhanced diffusion where the column is unstable (N² < 0).

        κ = κ_conv  if N² < 0  else κ_background   (the same κ_conv for ν)

    like Oceananigans' ``ConvectiveAdjustmentVerticalDiffusivity`` (which has separate
    convective κ and ν, the latter 0 by default).
    """

    convective_diffusivity: float = 1.0
    background_viscosity: float = 1e-4
    background_diffusivity: float = 1e-5

    def diffusivities(self, ctx: ColumnContext):
        unstable = ctx.buoyancy_frequency_squared < 0
        kappa = jnp.where(unstable, self.convective_diffusivity, self.background_diffusivity)
        nu = jnp.where(unstable, self.convective_diffusivity, self.background_viscosity)
        return nu, kappa

    @classmethod
    def parameter_specs(cls):
        return {
            "convective_diffusivity": dict(
                lower=1e-4, upper=100.0, units="m2 s-1", description="κ_conv where N² < 0"
            ),
            "background_viscosity": dict(lower=0.0, upper=1e-2, units="m2 s-1", description="ν_b"),
            "background_diffusivity": dict(
                lower=0.0, upper=1e-2, units="m2 s-1", description="κ_b"
            ),
        }


class RichardsonNumberClosure(AbstractClosure):
    """Pacanowski & Philander (1981, J. Phys. Oceanogr. 11, 1443–1451) Richardson-number mixing.

        Ri = N² / S²,     ν = ν₀ / (1 + α Ri)ⁿ + ν_b,     κ = ν₀ / (1 + α Ri)ⁿ⁺¹ + κ_b

    (defaults ν₀ = 5e-3 m² s⁻¹, α = 5, n = 2, ν_b = 1e-4, κ_b = 1e-5 as in the paper), with
    convective adjustment (``convective_diffusivity``) where N² < 0.
    """

    nu0: float = 5e-3
    alpha: float = 5.0
    exponent: float = 2.0
    background_viscosity: float = 1e-4
    background_diffusivity: float = 1e-5
    convective_diffusivity: float = 0.1

    def diffusivities(self, ctx: ColumnContext):
        n2 = ctx.buoyancy_frequency_squared
        ri = clip(n2) / jnp.maximum(ctx.shear_squared, 1e-14)
        denominator = 1 + self.alpha * ri
        nu = self.nu0 / denominator**self.exponent
        kappa = nu / denominator
        unstable = n2 < 0
        nu = jnp.where(unstable, self.convective_diffusivity, nu + self.background_viscosity)
        kappa = jnp.where(unstable, self.convective_diffusivity, kappa + self.background_diffusivity)
        return nu, kappa

    @classmethod
    def parameter_specs(cls):
        return {
            "nu0": dict(lower=0.0, upper=1.0, units="m2 s-1", description="ν₀ shear viscosity at Ri = 0"),
            "alpha": dict(lower=0.0, upper=100.0, units="1", description="α Ri sensitivity"),
            "exponent": dict(lower=0.5, upper=4.0, units="1", description="n exponent"),
            "background_viscosity": dict(lower=0.0, upper=1e-2, units="m2 s-1", description="ν_b"),
            "background_diffusivity": dict(lower=0.0, upper=1e-2, units="m2 s-1", description="κ_b"),
            "convective_diffusivity": dict(
                lower=1e-4, upper=100.0, units="m2 s-1", description="κ_conv where N² < 0"
            ),
        }
