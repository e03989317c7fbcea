r"""Bulk air–sea and air–ice turbulent fluxes (Monin–Obukhov similarity theory, COARE 3.6).

Pure JAX, float64, differentiable, and vectorised: every input may be an array of any shape
(they broadcast together), so one call computes the fluxes of a whole 2-D field.

Equations (Fairall et al. 2003; Edson et al. 2013; COARE 3.6, NOAA-PSL COARE-algorithm)::

    ΔU   = |u_a − u_s|,  U_t = sqrt(ΔU² + w_g²)                 wind speed with gustiness w_g
    Δθ   = T_s − T_a − Γ z_t,  Γ = g / c_pa                     air–surface potential temp. diff.
    Δq   = q_s(T_s, p) − q_a                                   q_s: saturation humidity
    χ_u  = κ / [ln(z_u / z₀) − ψ_m(z_u / L)]
    χ_θ  = κ / [ln(z_t / z_θ) − ψ_h(z_t / L)],  χ_q likewise with z_q, z_q₀
    u★   = χ_u U_t,   θ★ = −χ_θ Δθ,   q★ = −χ_q Δq
    b★   = (g / T_a) [θ★ (1 + 0.61 q_a) + 0.61 T_a q★]          buoyancy scale
    ζ    = z_u / L = κ z_u b★ / u★²                              (L = u★² / (κ b★))
    z₀   = α u★² / g + 0.11 ν / u★,   α = a₁ min(U₁₀ₙ, U_max) + a₂   (wind-dependent Charnock)
    U₁₀ₙ = (ΔU / U_t) (u★ / κ) ln(10 / z₀)                      neutral 10-m wind
    z_θ = z_q₀ = min(1.6e-4, 5.8e-5 R_r^−0.72),  R_r = z₀ u★ / ν
    ν(T) = 1.326e-5 (1 + 6.542e-3 T + 8.301e-6 T² − 4.84e-9 T³)   (T in °C)
    w_g  = max(w_min, β (B_f z_i)^{1/3}),  B_f = −u★ b★           convective gustiness

The profile is COARE's "logarithmic" one (no ψ(z₀/L) term).  The fixed point of
(u★, θ★, q★, z₀, w_g) is found by a **static** number of iterations
(``SimilarityTheoryFluxes.iterations``, default 20, a ``lax.fori_loop``), so the fluxes are
differentiable by reverse-mode AD straight through the loop.  COARE 3.6 itself stops after 10
iterations; on the COARE test rows 20 iterations change the fluxes by < 1e-10 relative from 20
to 25 (tests/test_bulk_fluxes.py::test_static_iteration_count_converges; docs/fluxes.md).

Sign conventions (the project's, see :mod:`pyclimaocean.fluxes.surface`):

* ``sensible_heat_flux`` = ρ c_pa u★ θ★ and ``latent_heat_flux`` = ρ ℒ u★ q★ are positive
  **into the surface** (warming the ocean/ice).  COARE's ``hsb``/``hlb`` are their negatives.
* ``evaporation`` = −ρ u★ q★ (kg m⁻² s⁻¹) is positive for evaporation (water leaving the
  surface; divide by the water density for the m s⁻¹ of ``SurfaceFluxes.freshwater_flux``).
* ``wind_stress_x``/``_y`` = ρ u★² (u_a − u_s) / U_t: the stress of the atmosphere on the
  surface, along the relative wind (N m⁻²).  ``|τ| = ρ u★² ΔU / U_t``, as COARE's ``tau``.
* Transfer coefficients are relative to U_t at the measurement heights:
  ``drag_coefficient`` C_D = χ_u², ``sensible_heat_transfer_coefficient`` C_H = χ_u χ_θ,
  ``latent_heat_transfer_coefficient`` C_E = χ_u χ_q (so u★ θ★ = −C_H U_t Δθ).

API (stable; the sea-ice thermodynamics builds on it)::

    fl = SimilarityTheoryFluxes()                      # COARE 3.6 over open water
    out = fl.fluxes(AtmosphereState(...), SurfaceState(temperature=...))
    out["latent_heat_flux"], out["wind_stress_x"], ...  # dict of arrays, see FLUX_OUTPUTS
    SimilarityTheoryFluxes.over_ice()                  # Paulson/Grachev, ice saturation, z₀ = 5e-4 m
    SimilarityTheoryFluxes.large_yeager()              # OMIP stability functions
    CoefficientBasedFluxes(drag_coefficient=1e-3, ...) # constant transfer coefficients
    fl.parameter_set(prefix="")                        # calibratable coefficients (ParameterSet)

Every calibratable coefficient is an array leaf of an ``equinox`` module with an entry in its
``parameter_specs()`` (bounds, units, description, optional prior); ``parameter_set()`` walks
the sub-modules and returns a :class:`~pyclimaocean.params.ParameterSet` with dotted names
(``"roughness.charnock_slope"``, ``"gustiness.beta"``) that ``ParameterSet.apply`` writes back.
Physical constants (g, κ, R_d, c_pa) are static.  Float64 throughout (the package enables
``jax_enable_x64`` at import; do so yourself if you import this module alone).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from ..params import ParameterSet, Prior
from ..physics.constants import GRAVITY

__all__ = [
    "FLUX_OUTPUTS",
    "AtmosphereState",
    "SurfaceState",
    "AbstractFluxComponent",
    "EdsonStabilityFunctions",
    "LargeYeagerStabilityFunctions",
    "PaulsonGrachevStabilityFunctions",
    "WindDependentCharnockRoughness",
    "CharnockRoughness",
    "ConstantRoughness",
    "ScalarRoughness",
    "AndreasScalarRoughness",
    "TemperatureDependentAirViscosity",
    "ConvectiveGustiness",
    "SeawaterSaturationHumidity",
    "IceSaturationHumidity",
    "SimilarityTheoryFluxes",
    "CoefficientBasedFluxes",
    "saturation_vapour_pressure",
    "specific_humidity_from_relative_humidity",
]

ZERO_CELSIUS = 273.15  # K

#: outputs of ``fluxes(...)``, with units (sign conventions in the module docstring)
FLUX_OUTPUTS = {
    "wind_stress_x": "N m-2",
    "wind_stress_y": "N m-2",
    "sensible_heat_flux": "W m-2",
    "latent_heat_flux": "W m-2",
    "evaporation": "kg m-2 s-1",
    "friction_velocity": "m s-1",
    "temperature_scale": "K",
    "humidity_scale": "kg kg-1",
    "obukhov_length": "m",
    "stability_parameter": "1",
    "drag_coefficient": "1",
    "sensible_heat_transfer_coefficient": "1",
    "latent_heat_transfer_coefficient": "1",
    "roughness_length": "m",
    "temperature_roughness_length": "m",
    "humidity_roughness_length": "m",
    "gustiness": "m s-1",
    "air_density": "kg m-3",
    "surface_specific_humidity": "kg kg-1",
}


def _f(x):
    return jnp.asarray(x, dtype=float)


# -- state ----------------------------------------------------------------------------------
class AtmosphereState(eqx.Module):
    """Near-surface atmosphere (arrays of any broadcastable shape, SI units).

    Attributes:
        wind_u, wind_v: wind components at ``height_u`` (m s⁻¹).
        temperature: air temperature T_a at ``height_t`` (K).
        specific_humidity: q_a at ``height_q`` (kg kg⁻¹).
        pressure: air pressure (Pa); used for the air density and the surface saturation
            humidity (the ~0.2 % difference between sea-level and 10-m pressure is neglected).
        height_u, height_t, height_q: measurement heights z_u, z_t, z_q (m).
    """

    wind_u: Any
    wind_v: Any = 0.0
    temperature: Any = 288.15
    specific_humidity: Any = 0.01
    pressure: Any = 101325.0
    height_u: Any = 10.0
    height_t: Any = 10.0
    height_q: Any = 10.0


class SurfaceState(eqx.Module):
    """The surface under the atmosphere.

    Attributes:
        temperature: surface (skin) temperature T_s (K).  No cool-skin or warm-layer model is
            applied: pass the skin temperature.
        velocity_u, velocity_v: surface current / ice velocity (m s⁻¹); the stress uses the
            wind relative to it.
    """

    temperature: Any
    velocity_u: Any = 0.0
    velocity_v: Any = 0.0


# -- parameter machinery ----------------------------------------------------------------------
class AbstractFluxComponent(eqx.Module):
    """A piece of a flux formulation whose array fields are calibratable coefficients.

    Subclasses list them in :meth:`parameter_specs` (``{field: {lower, upper, units,
    description, prior?}}``); :meth:`parameter_set` gathers them from this module and every
    sub-module into one :class:`~pyclimaocean.params.ParameterSet` with dotted names.
    """

    @classmethod
    def parameter_specs(cls) -> dict[str, dict[str, Any]]:
        return {}

    def parameter_set(self, prefix: str = "") -> ParameterSet:
        """Calibratable coefficients of this module and its sub-modules (names ``prefix +
        "a.b"``).  Parameters without an explicit prior get a uniform prior on their bounds."""
        out = {}
        own = ParameterSet.from_model(self, self.parameter_specs())
        out.update({prefix + n: p for n, p in own.parameters.items()})
        for name in self.__dataclass_fields__:
            child = getattr(self, name)
            if isinstance(child, eqx.Module) and hasattr(child, "parameter_set"):
                out.update(child.parameter_set(prefix + name + ".").parameters)
        return ParameterSet(out)


def _spec(lower, upper, units, description, prior=None):
    d = dict(lower=float(lower), upper=float(upper), units=units, description=description)
    d["prior"] = prior if prior is not None else Prior.make("uniform", low=lower, high=upper)
    return d


# -- stability functions ------------------------------------------------------------------------
def _convective_psi(zeta_neg, coefficient):
    """Free-convection limit ψ_c (Fairall et al. 1996): x = (1 − c ζ)^{1/3}."""
    x = (1.0 - coefficient * zeta_neg) ** (1.0 / 3.0)
    return (1.5 * jnp.log((1.0 + x + x**2) / 3.0)
            - math.sqrt(3.0) * jnp.arctan((1.0 + 2.0 * x) / math.sqrt(3.0))
            + math.pi / math.sqrt(3.0))


def _paulson_momentum(zeta_neg, gamma):
    x = (1.0 - gamma * zeta_neg) ** 0.25
    return (2.0 * jnp.log((1.0 + x) / 2.0) + jnp.log((1.0 + x**2) / 2.0)
            - 2.0 * jnp.arctan(x) + math.pi / 2.0)


def _paulson_scalar(zeta_neg, gamma):
    x = (1.0 - gamma * zeta_neg) ** 0.5
    return 2.0 * jnp.log((1.0 + x) / 2.0)


class EdsonStabilityFunctions(AbstractFluxComponent):
    """COARE 3.6 / Edson et al. (2013) stability functions ``psiu_26`` and ``psit_26``.

    Unstable (ζ < 0): ψ = (1 − f) ψ_Kansas + f ψ_convective, f = ζ² / (1 + ζ²), with
    ψ_Kansas the Paulson form (γ = 15) and ψ_convective the free-convection form
    (coefficients 10.15 for momentum, 34.15 for scalars).
    Stable (ζ ≥ 0)::

        ψ_m = −[a ζ + b (ζ − c/d) e^{−min(50, d ζ)} + b c / d],   a=0.7, b=0.75, c=5, d=0.35
        ψ_h = −[(1 + 2ζ/3)^{1.5} + (2/3)(ζ − 14.28) e^{−min(50, 0.35 ζ)} + 8.525]

    The coefficients are fixed (static): they are fits, not knobs.
    """

    def momentum(self, zeta):
        zeta = _f(zeta)
        zn = jnp.minimum(zeta, 0.0)
        zp = jnp.maximum(zeta, 0.0)
        a, b, c, d = 0.7, 0.75, 5.0, 0.35
        stable = -(a * zp + b * (zp - c / d) * jnp.exp(-jnp.minimum(50.0, d * zp)) + b * c / d)
        f = zn**2 / (1.0 + zn**2)
        unstable = (1.0 - f) * _paulson_momentum(zn, 15.0) + f * _convective_psi(zn, 10.15)
        return jnp.where(zeta < 0.0, unstable, stable)

    def scalar(self, zeta):
        zeta = _f(zeta)
        zn = jnp.minimum(zeta, 0.0)
        zp = jnp.maximum(zeta, 0.0)
        stable = -((1.0 + 2.0 / 3.0 * zp) ** 1.5
                   + 2.0 / 3.0 * (zp - 14.28) * jnp.exp(-jnp.minimum(50.0, 0.35 * zp)) + 8.525)
        f = zn**2 / (1.0 + zn**2)
        unstable = (1.0 - f) * _paulson_scalar(zn, 15.0) + f * _convective_psi(zn, 34.15)
        return jnp.where(zeta < 0.0, unstable, stable)


class LargeYeagerStabilityFunctions(AbstractFluxComponent):
    """Large & Yeager (2004, 2009) / OMIP: Paulson (1970) with γ = 16 when unstable,
    ψ_m = ψ_h = −5ζ when stable; ζ limited to [−10, 10] as in the CORE bulk formulae."""

    def momentum(self, zeta):
        zeta = jnp.clip(_f(zeta), -10.0, 10.0)
        zn = jnp.minimum(zeta, 0.0)
        return jnp.where(zeta < 0.0, _paulson_momentum(zn, 16.0), -5.0 * jnp.maximum(zeta, 0.0))

    def scalar(self, zeta):
        zeta = jnp.clip(_f(zeta), -10.0, 10.0)
        zn = jnp.minimum(zeta, 0.0)
        x2 = (1.0 - 16.0 * zn) ** 0.5
        return jnp.where(zeta < 0.0, 2.0 * jnp.log((1.0 + x2) / 2.0),
                         -5.0 * jnp.maximum(zeta, 0.0))


class PaulsonGrachevStabilityFunctions(AbstractFluxComponent):
    """Over sea ice: Paulson (1970) (γ = 16) when unstable; SHEBA, Grachev et al. (2007)
    when stable, with x = (1 + ζ)^{1/3}, a_m = 5, b_m = a_m / 6.5, B_m = ((1 − b_m)/b_m)^{1/3}::

        ψ_m = −3 (a_m/b_m)(x − 1) + (a_m B_m / 2b_m) [2 ln((x + B_m)/(1 + B_m))
              − ln((x² − x B_m + B_m²)/(1 − B_m + B_m²))
              + 2√3 (atan((2x − B_m)/(√3 B_m)) − atan((2 − B_m)/(√3 B_m)))]
        ψ_h = −(b_h/2) ln(1 + c_h ζ + ζ²) + (−a_h/B_h + b_h c_h / (2B_h))
              [ln((2ζ + c_h − B_h)/(2ζ + c_h + B_h)) − ln((c_h − B_h)/(c_h + B_h))]

    with a_h = b_h = 5, c_h = 3, B_h = √(c_h² − 4).  Both have ψ(0) = 0 and ψ'(0) = −5.
    """

    def momentum(self, zeta):
        zeta = _f(zeta)
        zn = jnp.minimum(zeta, 0.0)
        zp = jnp.maximum(zeta, 0.0)
        am = 5.0
        bm = am / 6.5
        Bm = ((1.0 - bm) / bm) ** (1.0 / 3.0)
        x = (1.0 + zp) ** (1.0 / 3.0)
        r3 = math.sqrt(3.0)
        stable = (-3.0 * am / bm * (x - 1.0) + am * Bm / (2.0 * bm) * (
            2.0 * jnp.log((x + Bm) / (1.0 + Bm))
            - jnp.log((x**2 - x * Bm + Bm**2) / (1.0 - Bm + Bm**2))
            + 2.0 * r3 * (jnp.arctan((2.0 * x - Bm) / (r3 * Bm))
                          - math.atan((2.0 - Bm) / (r3 * Bm)))))
        return jnp.where(zeta < 0.0, _paulson_momentum(zn, 16.0), stable)

    def scalar(self, zeta):
        zeta = _f(zeta)
        zn = jnp.minimum(zeta, 0.0)
        zp = jnp.maximum(zeta, 0.0)
        ah, bh, ch = 5.0, 5.0, 3.0
        Bh = math.sqrt(ch**2 - 4.0)
        stable = (-bh / 2.0 * jnp.log(1.0 + ch * zp + zp**2)
                  + (-ah / Bh + bh * ch / (2.0 * Bh))
                  * (jnp.log((2.0 * zp + ch - Bh) / (2.0 * zp + ch + Bh))
                     - math.log((ch - Bh) / (ch + Bh))))
        x2 = (1.0 - 16.0 * zn) ** 0.5
        return jnp.where(zeta < 0.0, 2.0 * jnp.log((1.0 + x2) / 2.0), stable)


# -- roughness ----------------------------------------------------------------------------------
class WindDependentCharnockRoughness(AbstractFluxComponent):
    """z₀ = α u★²/g + s ν/u★ with COARE 3.5/3.6's α = a₁ min(U₁₀ₙ, U_max) + a₂ (Edson et al.
    2013), capped at ``maximum`` (m) and floored at ``minimum`` (m).

    Attributes: ``charnock_slope`` a₁ = 0.0017 s m⁻¹, ``charnock_offset`` a₂ = −0.005,
    ``wind_cap`` U_max = 19 m s⁻¹, ``smooth_flow_coefficient`` s = 0.11, ``maximum`` = 1 m,
    ``minimum`` = 1e-7 m.  The floor never acts with COARE's coefficients (the smooth-flow
    term alone is ≳ 1e-5 m); it keeps z₀ > 0 when a calibration tries a slope a₁ < −a₂/U₁₀ₙ,
    for which α < 0 and z₀ would go negative (log of a negative number: NaN fluxes).
    """

    charnock_slope: Any = 0.0017
    charnock_offset: Any = -0.005
    wind_cap: Any = 19.0
    smooth_flow_coefficient: Any = 0.11
    maximum: float = eqx.field(static=True, default=1.0)
    minimum: float = eqx.field(static=True, default=1e-7)

    def charnock(self, neutral_wind_10m):
        u = jnp.minimum(neutral_wind_10m, self.wind_cap)
        return self.charnock_slope * u + self.charnock_offset

    def __call__(self, friction_velocity, neutral_wind_10m, viscosity, gravity):
        alpha = self.charnock(neutral_wind_10m)
        z0 = (alpha * friction_velocity**2 / gravity
              + self.smooth_flow_coefficient * viscosity / friction_velocity)
        return jnp.clip(z0, self.minimum, self.maximum)

    @classmethod
    def parameter_specs(cls):
        return {
            "charnock_slope": _spec(0.0, 0.01, "s m-1", "slope a1 of the wind-dependent "
                                    "Charnock coefficient a1 min(U10N, Umax) + a2"),
            "charnock_offset": _spec(-0.05, 0.05, "1", "offset a2 of the Charnock coefficient",
                                     prior=Prior.make("normal", loc=-0.005, scale=0.005)),
            "wind_cap": _spec(5.0, 40.0, "m s-1", "wind Umax above which Charnock is constant"),
            "smooth_flow_coefficient": _spec(0.0, 0.5, "1", "smooth-flow coefficient of nu/u*"),
        }


class CharnockRoughness(AbstractFluxComponent):
    """z₀ = α u★²/g + s ν/u★ with a constant Charnock coefficient α (default 0.011, COARE 3.0
    and ClimaOcean 0.9.7), capped at ``maximum`` (m)."""

    charnock: Any = 0.011
    smooth_flow_coefficient: Any = 0.11
    maximum: float = eqx.field(static=True, default=1.0)

    def __call__(self, friction_velocity, neutral_wind_10m, viscosity, gravity):
        z0 = (self.charnock * friction_velocity**2 / gravity
              + self.smooth_flow_coefficient * viscosity / friction_velocity)
        return jnp.minimum(z0, self.maximum)

    @classmethod
    def parameter_specs(cls):
        return {
            "charnock": _spec(0.0, 0.1, "1", "Charnock coefficient alpha of z0 = alpha u*^2/g"),
            "smooth_flow_coefficient": _spec(0.0, 0.5, "1", "smooth-flow coefficient of nu/u*"),
        }


class ConstantRoughness(AbstractFluxComponent):
    """A fixed momentum roughness length (default 5e-4 m: COARE 3.6 over ice, ``zos``)."""

    length: Any = 5e-4

    def __call__(self, friction_velocity, neutral_wind_10m, viscosity, gravity):
        return self.length + 0.0 * friction_velocity

    @classmethod
    def parameter_specs(cls):
        return {"length": _spec(1e-6, 0.1, "m", "momentum roughness length z0",
                                prior=Prior.make("lognormal", loc=math.log(5e-4), scale=1.0))}


class ScalarRoughness(AbstractFluxComponent):
    """COARE 3.6: z_θ = z_q = min(z_max, c R_r^−p), R_r = z₀ u★ / ν (c = 5.8e-5 m,
    p = 0.72, z_max = 1.6e-4 m)."""

    coefficient: Any = 5.8e-5
    exponent: Any = 0.72
    maximum: Any = 1.6e-4

    def __call__(self, roughness_length, friction_velocity, viscosity):
        rr = roughness_length * friction_velocity / viscosity
        z = jnp.minimum(self.maximum, self.coefficient * rr ** (-self.exponent))
        return z, z

    @classmethod
    def parameter_specs(cls):
        return {
            "coefficient": _spec(1e-6, 1e-3, "m", "coefficient c of z_theta = c Rr^-p"),
            "exponent": _spec(0.0, 2.0, "1", "exponent p of z_theta = c Rr^-p"),
            "maximum": _spec(1e-6, 1e-2, "m", "upper bound of the scalar roughness lengths"),
        }


class AndreasScalarRoughness(AbstractFluxComponent):
    """Andreas (1987) scalar roughness over snow and ice, as tabulated in COARE 3.6:
    ln(z_s / z₀) = b₀ + b₁ ln R_r + b₂ ln² R_r in three R_r ranges (≤ 0.135, ≤ 2.5, above).
    Coefficients are fixed (static); the result is continuous in the middle of each range."""

    def __call__(self, roughness_length, friction_velocity, viscosity):
        rr = jnp.maximum(roughness_length * friction_velocity / viscosity, 1e-10)
        lr = jnp.log(rr)

        def piece(smooth, transition, rough):
            return jnp.where(rr <= 0.135, smooth[0],
                             jnp.where(rr <= 2.5, transition[0] + transition[1] * lr,
                                       rough[0] + rough[1] * lr + rough[2] * lr**2))

        zt = roughness_length * jnp.exp(piece((1.25,), (0.149, -0.55), (0.317, -0.565, -0.183)))
        zq = roughness_length * jnp.exp(piece((1.61,), (0.351, -0.628), (0.396, -0.512, -0.18)))
        return zt, zq


# -- air properties, gustiness, humidity ------------------------------------------------------------
class TemperatureDependentAirViscosity(AbstractFluxComponent):
    """Kinematic viscosity of air, COARE: ν = ν₀ (1 + 6.542e-3 T + 8.301e-6 T² − 4.84e-9 T³),
    T in °C, ν₀ = 1.326e-5 m² s⁻¹."""

    reference: Any = 1.326e-5

    def __call__(self, temperature):
        t = temperature - ZERO_CELSIUS
        return self.reference * (1.0 + 6.542e-3 * t + 8.301e-6 * t**2 - 4.84e-9 * t**3)

    @classmethod
    def parameter_specs(cls):
        return {"reference": _spec(1e-5, 2e-5, "m2 s-1", "air viscosity at 0 degC")}


class ConvectiveGustiness(AbstractFluxComponent):
    """w_g = max(w_min, β (B_f z_i)^{1/3}) with the surface buoyancy flux B_f = −u★ b★
    (m² s⁻³, > 0 when convective).  COARE 3.6: β = 1.2, z_i = 600 m, w_min = 0.2 m s⁻¹."""

    beta: Any = 1.2
    boundary_layer_height: Any = 600.0
    minimum: Any = 0.2

    def __call__(self, buoyancy_flux):
        b = jnp.maximum(buoyancy_flux * self.boundary_layer_height, 1e-12)
        return jnp.maximum(self.minimum, self.beta * b ** (1.0 / 3.0))

    @classmethod
    def parameter_specs(cls):
        return {
            "beta": _spec(0.0, 3.0, "1", "gustiness coefficient beta (w_g = beta w*)"),
            "boundary_layer_height": _spec(100.0, 3000.0, "m", "convective boundary layer "
                                           "height z_i of the gustiness velocity"),
            "minimum": _spec(0.0, 1.0, "m s-1", "minimum gustiness velocity"),
        }


def saturation_vapour_pressure(temperature, pressure, over_ice=False):
    """Saturation vapour pressure (Pa) of Buck (1981) with the enhancement factor, as COARE's
    ``bucksat``: over water 611.21 exp(17.502 T/(T + 240.97)) (1.0007 + 3.46e-8 p), over ice
    611.15 exp(22.452 T/(T + 272.55)) (1.0003 + 4.18e-8 p), T in °C, p in Pa."""
    t = _f(temperature) - ZERO_CELSIUS
    p = _f(pressure)
    if over_ice:
        return 611.15 * jnp.exp(22.452 * t / (t + 272.55)) * (1.0003 + 4.18e-8 * p)
    return 611.21 * jnp.exp(17.502 * t / (t + 240.97)) * (1.0007 + 3.46e-8 * p)


def _specific_humidity(vapour_pressure, pressure):
    return 0.622 * vapour_pressure / (pressure - 0.378 * vapour_pressure)


def specific_humidity_from_relative_humidity(temperature, pressure, relative_humidity):
    """q (kg kg⁻¹) from T (K), p (Pa) and relative humidity (%, over water), as COARE's
    ``qsat26air``."""
    e = 0.01 * _f(relative_humidity) * saturation_vapour_pressure(temperature, pressure)
    return _specific_humidity(e, pressure)


class SeawaterSaturationHumidity(AbstractFluxComponent):
    """q_s = 0.622 e / (p − 0.378 e), e = x e_sat(T_s, p): the factor x = 0.98 accounts for
    salt (COARE: 1 − 0.02 S/35, = 0.98 at S = 35)."""

    reduction: Any = 0.98

    def __call__(self, temperature, pressure):
        e = self.reduction * saturation_vapour_pressure(temperature, pressure)
        return _specific_humidity(e, pressure)

    @classmethod
    def parameter_specs(cls):
        return {"reduction": _spec(0.9, 1.0, "1", "vapour-pressure reduction over seawater")}


class IceSaturationHumidity(AbstractFluxComponent):
    """q_s over ice: Buck (1981) saturation vapour pressure over ice, no reduction."""

    def __call__(self, temperature, pressure):
        return _specific_humidity(saturation_vapour_pressure(temperature, pressure, True),
                                  pressure)


# -- the flux formulations ------------------------------------------------------------------------
class _Bulk(AbstractFluxComponent):
    """Shared air properties and output assembly."""

    latent_heat: Any = 2.501e6
    latent_heat_slope: Any = -2370.0
    gravity: float = eqx.field(static=True, default=GRAVITY)
    gas_constant: float = eqx.field(static=True, default=287.1)
    air_heat_capacity: float = eqx.field(static=True, default=1004.67)

    def vaporization_heat(self, surface_temperature):
        """ℒ = ℒ₀ + ℒ₁ (T_s − 0 °C) (J kg⁻¹); COARE ℒ₀ = 2.501e6, ℒ₁ = −2370 J kg⁻¹ K⁻¹.
        Over ice use sublimation (ℒ₀ ≈ 2.834e6, ℒ₁ = 0)."""
        return self.latent_heat + self.latent_heat_slope * (surface_temperature - ZERO_CELSIUS)

    def _inputs(self, atmosphere: AtmosphereState, surface: SurfaceState, humidity):
        du_x = _f(atmosphere.wind_u) - _f(surface.velocity_u)
        du_y = _f(atmosphere.wind_v) - _f(surface.velocity_v)
        ta = _f(atmosphere.temperature)
        qa = _f(atmosphere.specific_humidity)
        p = _f(atmosphere.pressure)
        ts = _f(surface.temperature)
        shape = jnp.broadcast_shapes(du_x.shape, du_y.shape, ta.shape, qa.shape, p.shape,
                                     ts.shape, jnp.shape(atmosphere.height_u),
                                     jnp.shape(atmosphere.height_t),
                                     jnp.shape(atmosphere.height_q))
        b = lambda x: jnp.broadcast_to(_f(x), shape)  # noqa: E731
        du_x, du_y, ta, qa, p, ts = map(b, (du_x, du_y, ta, qa, p, ts))
        zu, zt, zq = b(atmosphere.height_u), b(atmosphere.height_t), b(atmosphere.height_q)
        qs = humidity(ts, p)
        lapse = self.gravity / self.air_heat_capacity
        return dict(du_x=du_x, du_y=du_y, du=jnp.sqrt(du_x**2 + du_y**2), ta=ta, qa=qa, p=p,
                    ts=ts, qs=qs, zu=zu, zt=zt, zq=zq,
                    dtheta=ts - ta - lapse * zt, dq=qs - qa,
                    rho=p / (self.gas_constant * ta * (1.0 + 0.61 * qa)))

    def _buoyancy_scale(self, x, tsr, qsr):
        """b★ = (g/T_a)[θ★ (1 + 0.61 q_a) + 0.61 T_a q★] (m s⁻²)."""
        return self.gravity / x["ta"] * (tsr * (1.0 + 0.61 * x["qa"]) + 0.61 * x["ta"] * qsr)

    def _outputs(self, x, usr, tsr, qsr, ut, cd, ch, ce, extra):
        rho = x["rho"]
        lat = self.vaporization_heat(x["ts"])
        bstar = self._buoyancy_scale(x, tsr, qsr)
        zeta = 0.4 * x["zu"] * bstar / usr**2
        safe = jnp.where(zeta == 0.0, 1.0, zeta)
        out = {
            "wind_stress_x": rho * usr**2 * x["du_x"] / ut,
            "wind_stress_y": rho * usr**2 * x["du_y"] / ut,
            "sensible_heat_flux": rho * self.air_heat_capacity * usr * tsr,
            "latent_heat_flux": rho * lat * usr * qsr,
            "evaporation": -rho * usr * qsr,
            "friction_velocity": usr,
            "temperature_scale": tsr,
            "humidity_scale": qsr,
            "obukhov_length": jnp.where(zeta == 0.0, jnp.inf, x["zu"] / safe),
            "stability_parameter": zeta,
            "drag_coefficient": cd,
            "sensible_heat_transfer_coefficient": ch,
            "latent_heat_transfer_coefficient": ce,
            "air_density": rho,
            "surface_specific_humidity": x["qs"],
        }
        out.update(extra)
        return out

    @classmethod
    def parameter_specs(cls):
        return {
            "latent_heat": _spec(2.3e6, 3.0e6, "J kg-1", "latent heat of vaporisation (or "
                                 "sublimation) at 0 degC"),
            "latent_heat_slope": _spec(-5000.0, 0.0, "J kg-1 K-1",
                                       "temperature slope of the latent heat"),
        }


class SimilarityTheoryFluxes(_Bulk):
    """Monin–Obukhov similarity-theory fluxes, COARE 3.6 by default (see module docstring).

    Attributes:
        stability_functions: ψ_m, ψ_h (:class:`EdsonStabilityFunctions`).
        roughness: momentum roughness (:class:`WindDependentCharnockRoughness`).
        scalar_roughness: heat and moisture roughness (:class:`ScalarRoughness`).
        viscosity: air viscosity (:class:`TemperatureDependentAirViscosity`).
        gustiness: :class:`ConvectiveGustiness`.
        surface_humidity: :class:`SeawaterSaturationHumidity` (ocean) or
            :class:`IceSaturationHumidity`.
        von_karman: κ = 0.4 (static).
        iterations: static number of fixed-point iterations (default 20).
        maximum_stability: |ζ| is limited to this in the iteration (static, default 50) so
            that very stable or very convective first guesses cannot run away.
        latent_heat, latent_heat_slope: ℒ(T_s) (see :meth:`vaporization_heat`).
    """

    stability_functions: Any = EdsonStabilityFunctions()
    roughness: Any = WindDependentCharnockRoughness()
    scalar_roughness: Any = ScalarRoughness()
    viscosity: Any = TemperatureDependentAirViscosity()
    gustiness: Any = ConvectiveGustiness()
    surface_humidity: Any = SeawaterSaturationHumidity()
    von_karman: float = eqx.field(static=True, default=0.4)
    iterations: int = eqx.field(static=True, default=20)
    maximum_stability: float = eqx.field(static=True, default=50.0)
    neutral_wind_height: float = eqx.field(static=True, default=10.0)

    @classmethod
    def over_ice(cls, **kwargs) -> SimilarityTheoryFluxes:
        """Over sea ice: Paulson/Grachev stability functions, z₀ = 5e-4 m (COARE ``zos``),
        Andreas (1987) scalar roughness, saturation over ice, latent heat of sublimation
        2.834e6 J kg⁻¹."""
        defaults = dict(stability_functions=PaulsonGrachevStabilityFunctions(),
                        roughness=ConstantRoughness(5e-4),
                        scalar_roughness=AndreasScalarRoughness(),
                        surface_humidity=IceSaturationHumidity(),
                        latent_heat=2.834e6, latent_heat_slope=0.0)
        defaults.update(kwargs)
        return cls(**defaults)

    @classmethod
    def large_yeager(cls, **kwargs) -> SimilarityTheoryFluxes:
        """Large–Yeager (OMIP) stability functions with the COARE roughness otherwise."""
        return cls(stability_functions=LargeYeagerStabilityFunctions(), **kwargs)

    def _transfer(self, x, usr, tsr, qsr, z0, nu):
        kappa = self.von_karman
        zeta_u = kappa * x["zu"] * self._buoyancy_scale(x, tsr, qsr) / usr**2
        zeta_u = jnp.clip(zeta_u, -self.maximum_stability, self.maximum_stability)
        inv_l = zeta_u / x["zu"]
        zt0, zq0 = self.scalar_roughness(z0, usr, nu)
        psi = self.stability_functions
        chi_u = kappa / (jnp.log(x["zu"] / z0) - psi.momentum(zeta_u))
        chi_t = kappa / (jnp.log(x["zt"] / zt0) - psi.scalar(x["zt"] * inv_l))
        chi_q = kappa / (jnp.log(x["zq"] / zq0) - psi.scalar(x["zq"] * inv_l))
        return chi_u, chi_t, chi_q, zt0, zq0

    def _step(self, x, nu, state):
        usr, tsr, qsr, z0, gust = state
        ut = jnp.sqrt(x["du"] ** 2 + gust**2)
        chi_u, chi_t, chi_q, _, _ = self._transfer(x, usr, tsr, qsr, z0, nu)
        usr = chi_u * ut
        tsr = -chi_t * x["dtheta"]
        qsr = -chi_q * x["dq"]
        buoyancy_flux = -usr * self._buoyancy_scale(x, tsr, qsr)
        u10n = x["du"] / ut * usr / self.von_karman * jnp.log(self.neutral_wind_height / z0)
        z0 = self.roughness(usr, u10n, nu, self.gravity)
        gust = self.gustiness(buoyancy_flux)
        return usr, tsr, qsr, z0, gust

    def solve(self, atmosphere: AtmosphereState, surface: SurfaceState, iterations=None):
        """The fixed point ``(x, (u★, θ★, q★, z₀, w_g))`` after ``iterations`` (static; default
        :attr:`iterations`) steps from a neutral first guess."""
        n = self.iterations if iterations is None else int(iterations)
        x = self._inputs(atmosphere, surface, self.surface_humidity)
        nu = self.viscosity(x["ta"])
        kappa = self.von_karman
        # neutral first guess (COARE): w_g = 0.5, u★ = 0.035 U10, z₀ from α = 0.011
        gust = jnp.full_like(x["du"], 0.5)
        ut = jnp.sqrt(x["du"] ** 2 + gust**2)
        u10 = ut * math.log(10.0 / 1e-4) / jnp.log(x["zu"] / 1e-4)
        usr = 0.035 * u10
        z0 = 0.011 * usr**2 / self.gravity + 0.11 * nu / usr
        zt0, zq0 = self.scalar_roughness(z0, usr, nu)
        tsr = -kappa * x["dtheta"] / jnp.log(x["zt"] / zt0)
        qsr = -kappa * x["dq"] / jnp.log(x["zq"] / zq0)
        state = (usr, tsr, qsr, z0, gust)
        state = jax.lax.fori_loop(0, n, lambda i, s: self._step(x, nu, s), state)
        return x, nu, state

    def fluxes(self, atmosphere: AtmosphereState, surface: SurfaceState, iterations=None) -> dict:
        """Turbulent fluxes and scales, a dict of arrays keyed as :data:`FLUX_OUTPUTS`
        (shapes: the broadcast shape of the inputs)."""
        x, nu, (usr, tsr, qsr, z0, gust) = self.solve(atmosphere, surface, iterations)
        ut = jnp.sqrt(x["du"] ** 2 + gust**2)
        # one more transfer evaluation at the fixed point gives consistent coefficients
        chi_u, chi_t, chi_q, zt0, zq0 = self._transfer(x, usr, tsr, qsr, z0, nu)
        extra = {"roughness_length": z0, "temperature_roughness_length": zt0,
                 "humidity_roughness_length": zq0, "gustiness": gust}
        return self._outputs(x, usr, tsr, qsr, ut, chi_u**2, chi_u * chi_t, chi_u * chi_q,
                             extra)


class CoefficientBasedFluxes(_Bulk):
    """Constant transfer coefficients relative to U_t = sqrt(ΔU² + w_min²)::

        u★ = sqrt(C_D) U_t,  θ★ = −C_H U_t Δθ / u★,  q★ = −C_E U_t Δq / u★

    Defaults C_D = C_H = C_E = 1e-3 (NumericalEarth ``CoefficientBasedFluxes``), minimum
    gustiness 0.2 m s⁻¹ (keeps u★ > 0 in calm air)."""

    drag_coefficient: Any = 1e-3
    sensible_heat_transfer_coefficient: Any = 1e-3
    latent_heat_transfer_coefficient: Any = 1e-3
    minimum_gustiness: Any = 0.2
    surface_humidity: Any = SeawaterSaturationHumidity()

    def fluxes(self, atmosphere: AtmosphereState, surface: SurfaceState) -> dict:
        x = self._inputs(atmosphere, surface, self.surface_humidity)
        ut = jnp.sqrt(x["du"] ** 2 + self.minimum_gustiness**2)
        cd = self.drag_coefficient + 0.0 * ut
        usr = jnp.sqrt(cd) * ut
        tsr = -self.sensible_heat_transfer_coefficient * ut * x["dtheta"] / usr
        qsr = -self.latent_heat_transfer_coefficient * ut * x["dq"] / usr
        extra = {"gustiness": self.minimum_gustiness + 0.0 * ut}
        return self._outputs(x, usr, tsr, qsr, ut, cd,
                             self.sensible_heat_transfer_coefficient + 0.0 * ut,
                             self.latent_heat_transfer_coefficient + 0.0 * ut, extra)

    @classmethod
    def parameter_specs(cls):
        specs = dict(super().parameter_specs())
        for name in ("drag_coefficient", "sensible_heat_transfer_coefficient",
                     "latent_heat_transfer_coefficient"):
            specs[name] = _spec(1e-4, 1e-2, "1", name.replace("_", " ") + " at the "
                                "measurement height")
        specs["minimum_gustiness"] = _spec(0.0, 2.0, "m s-1", "gustiness added to the wind")
        return specs
