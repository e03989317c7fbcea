"""Simple closures: constant diffusivity, convective adjustment, Richardson-number (PP81).

The convective switch (N² < 0) of :class:`ConvectiveAdjustment` and
:class:`RichardsonNumberClosure` can be made smooth (``switch_width > 0``; default 0, exact):
smooth_step(−N², δ_N), δ_N = ``switch_width`` × 1e-8 s⁻² (:mod:`pyclimaocean.closures.switches`):
exactly the background value for N² ≥ 0, fully convective for N² ≤ −δ_N, C∞ in between, so
the model output is a differentiable function of the parameters; ``switch_width = 0``
(default) is the exact ``where(N² < 0, …)`` switch.

Why these keep the exact default while :class:`~pyclimaocean.closures.catke.CATKELike` is
smooth by default: a neutral column (N² = 0) must keep the background diffusivity (a uniform
column under a pressure-dependent equation of state, tests/test_column_physics.py), which rules
out CATKE's blend on the stratified side; and on the convecting side the layer's own |N²| ≈
Jᵇ/κ_conv (~5e-8 s⁻² for 100 W m⁻² and κ_conv = 1 m² s⁻¹) leaves no width that is both
physically invisible and well conditioned.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp

from .base import AbstractClosure, ColumnContext, clip
from .switches import smooth_step

#: reference width of the (opt-in) convective switch of these closures, s⁻² (on the convecting
#: side, N² ∈ [−δ, 0], so that a neutral column keeps the background values)
N2_SWITCH_WIDTH = 1e-8


def _check_switch_width(width: float) -> None:
    if not (width >= 0 and math.isfinite(width)):
        raise ValueError(f"switch_width = {width} must be a finite number >= 0 "
                         "(0 = exact regime switch, the default; 1 = the reference smooth one)")

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

        κ = κ_background + (κ_conv − κ_background) H(−N²)   (the same κ_conv for ν)

    with H = smooth_step of width ``switch_width`` × 1e-8 s⁻² (static; 0 = the exact switch
    ``κ_conv if N² < 0 else κ_background``),

    like Oceananigans' ``ConvectiveAdjustmentVerticalDiffusivity`` (which has separate
    convective κ and ν, the latter 0 by default).
    """

    convective_diffusivity: float = 1.0
    background_viscosity: float = 1e-4
    background_diffusivity: float = 1e-5
    switch_width: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        _check_switch_width(self.switch_width)

    def diffusivities(self, ctx: ColumnContext):
        # 1 where N² <= -δ_N, 0 where N² >= 0, C∞ in between (exact: N² < 0)
        unstable = smooth_step(-ctx.buoyancy_frequency_squared, N2_SWITCH_WIDTH * self.switch_width)
        kappa = self.background_diffusivity + (self.convective_diffusivity - self.background_diffusivity) * unstable
        nu = self.background_viscosity + (self.convective_diffusivity - self.background_viscosity) * unstable
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
    convective adjustment (``convective_diffusivity``) where N² < 0, blended smoothly over
    ``switch_width`` × 1e-8 s⁻² (static; 0 = the exact switch).  (ν and κ are continuous at
    N² = 0 on the stable side already; the switch to κ_conv is the jump being smoothed.)
    """

    nu0: float = 5e-3
    alpha: float = 5.0
    exponent: float = 2.0
    background_viscosity: float = 1e-4
    background_diffusivity: float = 1e-5
    convective_diffusivity: float = 0.1
    switch_width: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        _check_switch_width(self.switch_width)

    def diffusivities(self, ctx: ColumnContext):
        n2 = ctx.buoyancy_frequency_squared
        ri = clip(n2) / jnp.maximum(ctx.shear_squared, 1e-14)
        denominator = 1 + self.alpha * ri
        nu = self.nu0 / denominator**self.exponent
        kappa = nu / denominator
        unstable = smooth_step(-n2, N2_SWITCH_WIDTH * self.switch_width)
        nu = nu + self.background_viscosity
        kappa = kappa + self.background_diffusivity
        nu = nu + (self.convective_diffusivity - nu) * unstable
        kappa = kappa + (self.convective_diffusivity - kappa) * unstable
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
