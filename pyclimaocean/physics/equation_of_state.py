"""Seawater equations of state giving buoyancy ``b = -g (ρ - ρ₀) / ρ₀`` (m s⁻²).

* :class:`LinearEquationOfState`: ``ρ = ρ₀ (1 - α (T - T₀) + β (S - S₀))``.
* :class:`RoquetEquationOfState`: the simplified nonlinear equation of state ("S-EOS") of
  Roquet, Madec, Brodeau & Nycander (2015, J. Phys. Oceanogr. 45, 2564–2579), the polynomial
  NEMO offers as its simplified option; it captures cabbeling (``λ₁``, ``λ₂``), thermobaricity
  (``μ₁``, ``μ₂``) and the T–S cross term (``ν``)::

      ρ - ρ₀ = -a₀ (1 + ½ λ₁ Tₐ + μ₁ Z) Tₐ + b₀ (1 - ½ λ₂ Sₐ - μ₂ Z) Sₐ - ν Tₐ Sₐ

  with ``Tₐ = T - 10 °C``, ``Sₐ = S - 35 g kg⁻¹`` and ``Z = -z`` the depth (m).  Values are
  checked against TEOS-10 (the ``gsw`` package) in the tests.

Temperatures in °C (conservative temperature for the nonlinear case), salinity in g kg⁻¹,
heights ``z`` in m (negative below the surface).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = [
    "AbstractEquationOfState",
    "LinearEquationOfState",
    "RoquetEquationOfState",
    "GRAVITY",
]

from .constants import GRAVITY, REFERENCE_DENSITY


class AbstractEquationOfState(eqx.Module):
    """Base class: subclasses implement :meth:`density_anomaly` (kg m⁻³)."""

    reference_density: float = eqx.field(static=True, default=REFERENCE_DENSITY)

    def density_anomaly(self, temperature, salinity, z):
        raise NotImplementedError

    def buoyancy(self, temperature, salinity, z):
        """``b = -g ρ' / ρ₀`` (m s⁻²)."""
        return -GRAVITY * self.density_anomaly(temperature, salinity, z) / self.reference_density

    def thermal_expansion(self, temperature, salinity, z):
        """``α = -(1/ρ₀) ∂ρ/∂T`` (K⁻¹)."""
        d = jax.grad(lambda t: jnp.sum(self.density_anomaly(t, salinity, z)))(
            jnp.asarray(temperature, dtype=float)
        )
        return -d / self.reference_density

    def haline_contraction(self, temperature, salinity, z):
        """``β = (1/ρ₀) ∂ρ/∂S`` (kg g⁻¹)."""
        d = jax.grad(lambda s: jnp.sum(self.density_anomaly(temperature, s, z)))(
            jnp.asarray(salinity, dtype=float)
        )
        return d / self.reference_density


class LinearEquationOfState(AbstractEquationOfState):
    """Linear equation of state.

    Attributes:
        thermal_expansion_coefficient: α (K⁻¹), default 2e-4.
        haline_contraction_coefficient: β (kg g⁻¹), default 8e-4.
        reference_temperature: T₀ (°C).  reference_salinity: S₀ (g kg⁻¹).
    """

    thermal_expansion_coefficient: float = 2e-4
    haline_contraction_coefficient: float = 8e-4
    reference_temperature: float = eqx.field(static=True, default=10.0)
    reference_salinity: float = eqx.field(static=True, default=35.0)

    def density_anomaly(self, temperature, salinity, z):
        return self.reference_density * (
            -self.thermal_expansion_coefficient * (temperature - self.reference_temperature)
            + self.haline_contraction_coefficient * (salinity - self.reference_salinity)
        )

    def thermal_expansion(self, temperature, salinity, z):
        return self.thermal_expansion_coefficient + 0.0 * jnp.asarray(temperature, dtype=float)

    def haline_contraction(self, temperature, salinity, z):
        return self.haline_contraction_coefficient + 0.0 * jnp.asarray(salinity, dtype=float)


class RoquetEquationOfState(AbstractEquationOfState):
    """Roquet et al. (2015) simplified nonlinear equation of state (coefficients: their Table 3).

    Attributes (defaults from the paper):
        a0 = 0.16550 kg m⁻³ K⁻¹, b0 = 0.76554 kg m⁻³ (g kg⁻¹)⁻¹, lambda1 = 5.9520e-2 K⁻¹,
        lambda2 = 5.4914e-4 (g kg⁻¹)⁻¹, mu1 = 1.4970e-4 K⁻¹ m⁻¹, mu2 = 1.1090e-5 (g kg⁻¹)⁻¹ m⁻¹,
        nu = 2.4341e-3 kg m⁻³ K⁻¹ (g kg⁻¹)⁻¹.
    """

    a0: float = 0.16550
    b0: float = 0.76554
    lambda1: float = 5.9520e-2
    lambda2: float = 5.4914e-4
    mu1: float = 1.4970e-4
    mu2: float = 1.1090e-5
    nu: float = 2.4341e-3

    def thermal_expansion(self, temperature, salinity, z):
        ta, sa = temperature - 10.0, salinity - 35.0
        d_rho_dt = -self.a0 * (1 + self.lambda1 * ta - self.mu1 * z) - self.nu * sa
        return -d_rho_dt / self.reference_density

    def haline_contraction(self, temperature, salinity, z):
        ta, sa = temperature - 10.0, salinity - 35.0
        d_rho_ds = self.b0 * (1 - self.lambda2 * sa + self.mu2 * z) - self.nu * ta
        return d_rho_ds / self.reference_density

    def density_anomaly(self, temperature, salinity, z):
        ta = temperature - 10.0
        sa = salinity - 35.0
        depth = -z
        return (
            -self.a0 * (1 + 0.5 * self.lambda1 * ta + self.mu1 * depth) * ta
            + self.b0 * (1 - 0.5 * self.lambda2 * sa - self.mu2 * depth) * sa
            - self.nu * ta * sa
        )
