"""Prescribed surface forcing of a column: heat, shortwave, freshwater and wind stress.

Sign conventions (oceanographic): heat fluxes are positive *into* the ocean (warming);
``freshwater_flux`` is evaporation minus precipitation, E − P (m s⁻¹, positive makes the ocean
saltier); wind stress is the stress of the atmosphere on the ocean (N m⁻²).

Time dependence: each flux is ``mean + amplitude · cos(2π t / cycle_period)``, which covers a
diurnal (period 1 day) or seasonal (period 1 year) cycle; shortwave is clipped at zero (night).

Shortwave penetration uses the two-band exponential of Paulson & Simpson (1977, J. Phys.
Oceanogr. 7, 952–956); the default is their Jerlov type I water (R = 0.58, ζ₁ = 0.35 m,
ζ₂ = 23 m).  Light that reaches the sea floor is absorbed in the bottom cell, so the column
gains exactly the shortwave flux.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

__all__ = ["SurfaceForcing", "SolarPenetration", "SurfaceFluxes"]


class SurfaceFluxes(eqx.Module):
    """Fluxes at one instant: ``heat_flux`` (non-solar, W m⁻², into ocean), ``shortwave``
    (W m⁻², into ocean), ``wind_stress_x``/``wind_stress_y`` (N m⁻²), ``freshwater_flux``
    (E − P, m s⁻¹)."""

    heat_flux: jnp.ndarray
    shortwave: jnp.ndarray
    wind_stress_x: jnp.ndarray
    wind_stress_y: jnp.ndarray
    freshwater_flux: jnp.ndarray


class SurfaceForcing(eqx.Module):
    """Surface forcing with an optional periodic cycle.

    Attributes:
        heat_flux, heat_flux_amplitude: non-solar heat flux mean and cycle amplitude (W m⁻²).
        shortwave, shortwave_amplitude: shortwave mean and amplitude (W m⁻²; clipped ≥ 0).
        wind_stress_x, wind_stress_y: wind stress (N m⁻²).
        wind_stress_amplitude: amplitude of the cycle of the x wind stress (N m⁻²).
        freshwater_flux: E − P (m s⁻¹).
        cycle_period: period of the cycle (s), default one day.
    """

    heat_flux: float = 0.0
    heat_flux_amplitude: float = 0.0
    shortwave: float = 0.0
    shortwave_amplitude: float = 0.0
    wind_stress_x: float = 0.0
    wind_stress_y: float = 0.0
    wind_stress_amplitude: float = 0.0
    freshwater_flux: float = 0.0
    cycle_period: float = eqx.field(static=True, default=86400.0)

    def at(self, time) -> SurfaceFluxes:
        phase = jnp.cos(2 * jnp.pi * time / self.cycle_period)
        return SurfaceFluxes(
            heat_flux=self.heat_flux + self.heat_flux_amplitude * phase,
            shortwave=jnp.maximum(self.shortwave + self.shortwave_amplitude * phase, 0.0),
            wind_stress_x=self.wind_stress_x + self.wind_stress_amplitude * phase,
            wind_stress_y=jnp.asarray(self.wind_stress_y, dtype=float),
            freshwater_flux=jnp.asarray(self.freshwater_flux, dtype=float),
        )


class SolarPenetration(eqx.Module):
    """Two-band shortwave penetration ``I(z) = I₀ (R e^{z/ζ₁} + (1 − R) e^{z/ζ₂})``.

    Attributes: ``fraction`` R (1), ``length_1`` ζ₁ (m), ``length_2`` ζ₂ (m).
    """

    fraction: float = 0.58
    length_1: float = 0.35
    length_2: float = 23.0

    def transmitted(self, z_faces):
        """Fraction of surface shortwave reaching each face ``(nz + 1,)``; 0 at the bottom."""
        frac = self.fraction * jnp.exp(z_faces / self.length_1) + (1 - self.fraction) * jnp.exp(
            z_faces / self.length_2
        )
        return frac.at[0].set(0.0)

    def absorbed_fraction(self, z_faces):
        """Fraction of surface shortwave absorbed in each cell ``(nz,)`` (sums to 1)."""
        t = self.transmitted(z_faces)
        return t[1:] - t[:-1]
