"""Zero-layer (Semtner 1976) sea-ice thermodynamics with snow, over a slab mixed layer.

Every function here is pure ``jax.numpy``, elementwise over columns of any horizontal shape
(state fields and forcing broadcast together), differentiable, and meant for float64
(``jax_enable_x64``; the package enables it).

Conventions (all cell means per unit area of the column unless said otherwise):

* ``ice_volume`` v_i = a h_i and ``snow_volume`` v_s = a h_s (m), ``concentration`` a;
  thicknesses of the ice-covered part are h_i = v_i / a, h_s = v_s / a.
* The mixed layer has a mass M (kg m⁻²), temperature T_o (°C) and salinity S_o (g kg⁻¹);
  phase changes move mass between ice and ocean ("levitating" ice, real freshwater fluxes),
  so salt and water are conserved exactly.
* Energy is enthalpy relative to liquid water at 0 °C: the ocean holds c_o M T_o, ice and
  snow hold −L per kg (zero-layer: no sensible heat is stored in ice or snow).
* Heat fluxes are positive downward (into the surface); the conductive flux F_c is positive
  upward.

Surface temperature. Over ice T_s solves the surface balance

    g(T) = (1 − α) SW↓ + LW↓ − ε σ (T + 273.15)⁴ + Q_sens + Q_lat + (T_b − T) / R = 0,

with R = h_i / k_i + h_s / k_s (ice and snow in series) and T_b = T_f(S_o) = −μ S_o.
g is strictly decreasing and concave, so Newton's method converges monotonically from any
start; a *static* number of steps (``newton_iterations``, unrolled, so reverse-mode AD is
the derivative of the converged root up to the residual) is taken from the previous T_s,
and the root is capped at the melting temperature T_m = 0 °C.  When capped, the excess
max(g(T_m), 0) melts snow, then ice, at the top.  The heat the ice receives from the air is
defined as Q_top = −F_c(T_s) + max(g(T_m), 0), which equals the atmospheric flux at T_s to
the Newton residual (< 1e-9 W m⁻² after 6 steps).

Bottom (Stefan condition). The interface at T_f receives E_b = Q_io − a F_c per unit time;
E_b > 0 melts ice, E_b < 0 freezes ocean water, at ℒ_b = L + c_o T_f per kg (the latent
heat of a zero-heat-capacity ice against water at T_f).

Ice–ocean heat flux ("ice bath", ClimaOcean ``IceBathHeatFlux``):
Q_io = ρ_o c_o α_h u* (T_o − T_f) a, for T_o > T_f, implicit in T_o (backward Euler).

Lateral melt (Steele 1992): w_lat = m₁ (T_o − T_f)^{m₂}, da/dt = −π w_lat a / (α_f D),
limited by the heat of the mixed layer above freezing.

Frazil: when the mixed layer is supercooled (T_o < T_f) the deficit c_o M (T_f − T_o) freezes
new ice, which covers open water at the consolidation thickness h₀ (Hibler 1979):
Δa = min(Δv / h₀, 1 − a).

Salt: ice has the salinity S_i; melt returns S_i per kg to the ocean, growth removes it.
Snowfall on open water, and the snow left when all ice has melted, go to the ocean.
Evaporation and sublimation are heat only here (the latent flux is prescribed).

Order within a step: surface balance → snowfall → top melt → open-water and deep ocean heat →
ice bath → bottom growth/melt → lateral melt → frazil.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from ...params import Parameter, ParameterSet, Prior

__all__ = [
    "SeaIceForcing",
    "SeaIceState",
    "SlabSeaIceThermodynamics",
    "STEFAN_BOLTZMANN",
    "budgets",
    "surface_albedo",
    "surface_temperature",
    "ICE_OCEAN_FLUXES",
    "penetrating_shortwave",
    "snow_cover",
    "thermodynamic_step",
    "thermodynamic_step_with_fluxes",
    "three_equation_interface",
]

jax.config.update("jax_enable_x64", True)

#: Stefan–Boltzmann constant (W m⁻² K⁻⁴)
STEFAN_BOLTZMANN = 5.670374419e-8
KELVIN = 273.15

#: (bounds, prior kind and arguments, units, description, source) of each calibratable number
_PARAMETER_TABLE = {
    "ice_albedo": ((0.3, 0.9), "normal", 0.05, "1", "albedo of bare (melting) ice",
                   "Semtner (1976): 0.64"),
    "snow_albedo": ((0.5, 0.95), "normal", 0.05, "1", "albedo of snow",
                    "Semtner (1976) cold surface: 0.75"),
    "ocean_albedo": ((0.02, 0.3), "normal", 0.03, "1", "albedo of open water",
                     "0.06-0.1 (Maykut & Untersteiner 1971 leads)"),
    "ice_conductivity": ((1.0, 3.5), "normal", 0.3, "W m-1 K-1",
                         "thermal conductivity of ice k_i", "Semtner (1976); MITgcm kIce 2.03"),
    "snow_conductivity": ((0.1, 0.7), "normal", 0.08, "W m-1 K-1",
                          "thermal conductivity of snow k_s", "Semtner (1976) 0.31; MITgcm 0.30"),
    "ice_density": ((850.0, 950.0), "normal", 15.0, "kg m-3", "density of sea ice ρ_i",
                    "MITgcm thsice rhoi = 900"),
    "snow_density": ((200.0, 450.0), "normal", 40.0, "kg m-3", "density of snow ρ_s",
                     "MITgcm thsice rhos = 330"),
    "latent_heat": ((3.0e5, 3.5e5), "normal", 5e3, "J kg-1", "latent heat of fusion L",
                    "3.34e5 (ClimaSeaIce, MITgcm)"),
    "emissivity": ((0.9, 1.05), "normal", 0.02, "1",
                   "effective longwave emissivity ε (emission ε σ T⁴) of ice and water",
                   "1.02: Semtner (1976) used ε = 1 with σ 2 % high to match Maykut & "
                   "Untersteiner (1971)"),
    "ice_salinity": ((0.0, 10.0), "normal", 1.5, "g kg-1", "bulk salinity of ice S_i",
                     "4 (ClimaOcean, MITgcm saltIce)"),
    "heat_transfer_coefficient": ((0.001, 0.02), "lognormal", 0.5, "1",
                                  "ice–ocean heat transfer coefficient α_h",
                                  "0.006 (ClimaOcean IceBathHeatFlux; MITgcm bMeltCoef)"),
    "friction_velocity": ((0.001, 0.05), "lognormal", 0.5, "m s-1",
                          "ice–ocean friction velocity u*", "0.02 (ClimaOcean)"),
    "consolidation_thickness": ((0.01, 0.5), "lognormal", 0.5, "m",
                                "thickness h0 of new ice in leads",
                                "0.05 (ClimaSeaIce ice_consolidation_thickness)"),
    "lateral_melt_m1": ((1e-7, 1e-5), "lognormal", 0.5, "m s-1 K-m2",
                        "lateral melt rate coefficient m1", "1.6e-6 (Steele 1992)"),
    "floe_diameter": ((10.0, 3000.0), "lognormal", 0.7, "m", "floe diameter D",
                      "300 (Steele 1992)"),
    "penetration_fraction": ((0.0, 0.5), "normal", 0.05, "1",
                             "fraction i0 of the net shortwave over bare ice that penetrates "
                             "below the surface", "0.17 (Maykut & Untersteiner 1971; Semtner "
                             "1976); MITgcm thsice i0swFrac 0.3"),
    "ice_extinction": ((0.5, 5.0), "lognormal", 0.3, "m-1",
                       "extinction coefficient κ_i of penetrating shortwave in ice",
                       "1.5 (Maykut & Untersteiner 1971; MITgcm thsice ksolar)"),
    "salt_transfer_ratio": ((5.0, 200.0), "lognormal", 0.5, "1",
                            "ratio α_h/α_s of the heat and salt transfer coefficients "
                            "(three-equation flux)", "35 (ClimaOcean ThreeEquationHeatFlux; "
                            "McPhee et al. 1987)"),
}

#: the ice–ocean heat flux formulations (``SlabSeaIceThermodynamics.ice_ocean_flux``)
ICE_OCEAN_FLUXES = ("ice_bath", "three_equation")


class SlabSeaIceThermodynamics(eqx.Module):
    """Parameters of the zero-layer ice + snow thermodynamics (float leaves, calibratable).

    Defaults follow Semtner (1976) and MITgcm ``thsice`` / ClimaOcean (see
    :meth:`parameters` for bounds, priors and sources).  ``newton_iterations`` (static) is
    the number of Newton steps of the surface balance.
    """

    ice_albedo: float = 0.64
    snow_albedo: float = 0.75
    ocean_albedo: float = 0.10
    ice_conductivity: float = 2.03
    snow_conductivity: float = 0.31
    ice_density: float = 900.0
    snow_density: float = 330.0
    latent_heat: float = 3.34e5
    emissivity: float = 1.02
    ice_salinity: float = 4.0
    liquidus_slope: float = 0.054
    melting_temperature: float = 0.0
    ocean_density: float = 1026.0
    ocean_heat_capacity: float = 3991.0
    heat_transfer_coefficient: float = 0.006
    friction_velocity: float = 0.02
    consolidation_thickness: float = 0.05
    lateral_melt_m1: float = 1.6e-6
    lateral_melt_m2: float = 1.36
    floe_diameter: float = 300.0
    floe_shape: float = 0.66
    snow_albedo_depth: float = 0.02
    penetration_fraction: float = 0.17
    ice_extinction: float = 1.5
    salt_transfer_ratio: float = 35.0
    newton_iterations: int = eqx.field(static=True, default=6)
    ice_ocean_flux: str = eqx.field(static=True, default="ice_bath")

    def __check_init__(self):
        if not isinstance(self.newton_iterations, int) or self.newton_iterations < 1:
            raise ValueError(
                f"newton_iterations must be an int >= 1, got {self.newton_iterations!r}")
        if self.ice_ocean_flux not in ICE_OCEAN_FLUXES:
            raise ValueError(
                f"ice_ocean_flux = {self.ice_ocean_flux!r} is not supported. Supported "
                f"ice-ocean fluxes are: {', '.join(ICE_OCEAN_FLUXES)}")

    @classmethod
    def three_equation(cls, **kwargs) -> SlabSeaIceThermodynamics:
        """The three-equation ice–ocean flux with ClimaOcean's ``ThreeEquationHeatFlux``
        coefficients (Hieronymus et al. 2021): α_h = 0.0095, α_s = α_h / 35, u* = 0.002 m s⁻¹."""
        defaults = dict(ice_ocean_flux="three_equation", heat_transfer_coefficient=0.0095,
                        friction_velocity=0.002, salt_transfer_ratio=35.0)
        defaults.update(kwargs)
        return cls(**defaults)

    def parameters(self, prefix: str = "") -> ParameterSet:
        """The calibratable numbers with bounds, priors (centred on the current values), units
        and sources; names are ``prefix + field`` (dotted paths for :meth:`ParameterSet.apply`)."""
        return parameters_from_table(self, _PARAMETER_TABLE, prefix)

    def freezing_temperature(self, salinity):
        """T_f = −μ S (°C), linear liquidus."""
        return -self.liquidus_slope * salinity

    def bath_coefficient(self):
        """ρ_o c_o α_h u* (W m⁻² K⁻¹)."""
        return (self.ocean_density * self.ocean_heat_capacity * self.heat_transfer_coefficient
                * self.friction_velocity)

    # -- the interface every ice thermodynamics implements (WintonThermodynamics overrides) --
    def step_with_fluxes(self, s: SeaIceState, f: SeaIceForcing, dt: float):
        """One step and its exchanges (:func:`thermodynamic_step_with_fluxes`)."""
        return _zero_layer_step_with_fluxes(self, s, f, dt)

    def ice_enthalpy(self, s: SeaIceState):
        """Enthalpy of the ice and snow (J m⁻², relative to liquid water at 0 °C): zero-layer
        ice and snow hold −L per kg."""
        return -self.latent_heat * (self.ice_density * s.ice_volume
                                    + self.snow_density * s.snow_volume)

    def make_state(self, **fields) -> SeaIceState:
        """The state this thermodynamics steps, from the :class:`SeaIceState` fields."""
        return SeaIceState(**fields)

    def describe(self) -> str:
        """One line naming the thermodynamics."""
        return "zero-layer (Semtner 1976) ice + snow"


class SeaIceForcing(eqx.Module):
    """Atmospheric and deep-ocean forcing at one time (arrays broadcastable to the columns).

    Attributes:
        shortwave_down: incoming shortwave SW↓ (W m⁻², before albedo).
        longwave_down: incoming longwave LW↓ (W m⁻²).
        sensible: sensible heat flux into the surface (W m⁻², positive downward).
        latent: latent heat flux into the surface (W m⁻², positive downward).
        snowfall: snowfall (kg m⁻² s⁻¹).
        ocean_heat_flux: heat flux into the mixed layer from below (W m⁻²).
        turbulent_flux_slope: d(Q_sens + Q_lat)/dT_s over ice (W m⁻² K⁻¹, ≤ 0; default 0):
            a coupler that evaluates bulk fluxes at ``turbulent_reference_temperature`` (°C,
            the previous surface temperature) passes their slope, and the surface balance uses
            Q_sens + Q_lat + slope (T − T_ref) (linearised, as CICE does; explicit turbulent
            fluxes at a zero-heat-capacity surface are unstable for long steps).
        open_water_turbulent: sensible + latent flux into open water (W m⁻²); ``None`` (the
            default) uses ``sensible + latent`` for open water too.
    """

    shortwave_down: jnp.ndarray
    longwave_down: jnp.ndarray
    sensible: jnp.ndarray
    latent: jnp.ndarray
    snowfall: jnp.ndarray
    ocean_heat_flux: jnp.ndarray
    turbulent_flux_slope: jnp.ndarray = 0.0
    turbulent_reference_temperature: jnp.ndarray = 0.0
    open_water_turbulent: jnp.ndarray | None = None


class SeaIceState(eqx.Module):
    """State of ice-covered columns over a slab mixed layer (any shape ``(...)``).

    Attributes:
        ice_volume: v_i = a h_i, ice volume per unit area (m).
        snow_volume: v_s = a h_s (m).
        concentration: a, ice area fraction (1).
        surface_temperature: T_s of the ice/snow surface (°C; T_f where there is no ice).
        ocean_temperature: T_o of the mixed layer (°C).
        ocean_salinity: S_o of the mixed layer (g kg⁻¹).
        ocean_mass: M, mass of the mixed layer (kg m⁻²).
        heat_input: cumulative heat into the air–ice–ocean system (J m⁻²): air–ice, air–sea,
            deep-ocean fluxes and the enthalpy −L of snowfall.
        water_input: cumulative water into the system (snowfall, kg m⁻²).
        time: model time (s); iteration: steps taken.
    """

    ice_volume: jnp.ndarray
    snow_volume: jnp.ndarray
    concentration: jnp.ndarray
    surface_temperature: jnp.ndarray
    ocean_temperature: jnp.ndarray
    ocean_salinity: jnp.ndarray
    ocean_mass: jnp.ndarray
    heat_input: jnp.ndarray
    water_input: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray


def surface_albedo(p: SlabSeaIceThermodynamics, snow_thickness):
    """Albedo of the ice surface: ice albedo, ramping linearly to the snow albedo over the
    first ``snow_albedo_depth`` metres of snow."""
    return p.ice_albedo + (p.snow_albedo - p.ice_albedo) * snow_cover(p, snow_thickness)


def _atmospheric_flux(p, absorbed_shortwave, f: SeaIceForcing, temperature, turbulent=None):
    """Net heat flux from the air into a surface at ``temperature`` (°C), W m⁻², given the
    shortwave it absorbs (``turbulent``: sensible + latent, default the linearised over-ice
    fluxes of the forcing)."""
    if turbulent is None:
        turbulent = f.sensible + f.latent + f.turbulent_flux_slope * (
            temperature - f.turbulent_reference_temperature)
    return (absorbed_shortwave + f.longwave_down + turbulent
            - p.emissivity * STEFAN_BOLTZMANN * (temperature + KELVIN) ** 4)


def snow_cover(p: SlabSeaIceThermodynamics, snow_thickness):
    """Fraction of the ice surface optically covered by snow: h_s / ``snow_albedo_depth``,
    capped at 1 (the albedo ramps and i0 vanishes with it)."""
    return jnp.clip(snow_thickness / p.snow_albedo_depth, 0.0, 1.0)


def penetrating_shortwave(p: SlabSeaIceThermodynamics, shortwave_down, snow_thickness,
                          ice_thickness):
    """Split the net shortwave over ice (per unit ice area, W m⁻²).

    Returns ``(surface, absorbed, transmitted)``: the fraction i0 (1 − c_s) of the net
    shortwave (1 − α) SW↓ penetrates below the surface (c_s the snow cover, no penetration
    through snow, as Maykut & Untersteiner 1971); of it, exp(−κ_i h_i) reaches the ocean
    (``transmitted``) and the rest is ``absorbed`` inside the ice.  ``surface`` (the rest)
    enters the surface balance.  The zero-layer ice cannot store the absorbed part, so it melts
    ice at the base (see :func:`thermodynamic_step`).
    """
    net = (1.0 - surface_albedo(p, snow_thickness)) * shortwave_down
    penetrating = p.penetration_fraction * (1.0 - snow_cover(p, snow_thickness)) * net
    transmitted = penetrating * jnp.exp(-p.ice_extinction * ice_thickness)
    return net - penetrating, penetrating - transmitted, transmitted


def three_equation_interface(p: SlabSeaIceThermodynamics, ocean_temperature, ocean_salinity,
                             upward_flux, latent_heat):
    """Interface salinity and temperature of the three-equation ice–ocean flux.

    Solves (McPhee et al. 1987; Holland & Jenkins 1999, their eqs. 31–33 without the
    pressure term of the liquidus), per unit ice area, for the melt rate m (kg m⁻² s⁻¹):

        ρ_o c_o α_h u* (T_o − T_b) − G = ℒ m                 heat
        ρ_o α_s u* (S_o − S_b)        = m (S_b − S_i)         salt
        T_b = −μ S_b                                          liquidus

    with G the heat the ice conducts up from the interface (W m⁻²) and α_s = α_h /
    ``salt_transfer_ratio``.  Eliminating m gives A S_b² + B S_b + C = 0 with A = K_T μ,
    B = K_T T_o − G − K_T μ S_i + ℒ K_S, C = −(K_T T_o − G) S_i − ℒ K_S S_o
    (K_T = ρ_o c_o α_h u*, K_S = ρ_o α_s u*); the quadratic is negative at S_b = S_i < S_o,
    so its larger root is the physical one (S_b > S_i).

    Returns ``(S_b, T_b)`` (g kg⁻¹, °C).
    """
    k_t = p.bath_coefficient()
    k_s = (p.ocean_density * p.heat_transfer_coefficient / p.salt_transfer_ratio
           * p.friction_velocity)
    mu, s_i = p.liquidus_slope, p.ice_salinity
    drive = k_t * ocean_temperature - upward_flux
    a = k_t * mu
    b = drive - k_t * mu * s_i + latent_heat * k_s
    c = -drive * s_i - latent_heat * k_s * ocean_salinity
    root = jnp.sqrt(b * b - 4.0 * a * c)
    positive = b >= 0
    s_b = jnp.where(positive, -2.0 * c / jnp.where(positive, b + root, 1.0),
                    (-b + root) / (2.0 * a))
    return s_b, -mu * s_b


def surface_temperature(p: SlabSeaIceThermodynamics, f: SeaIceForcing, albedo, resistance,
                        bottom_temperature, first_guess, absorbed_shortwave=None):
    """Surface temperature, conductive flux and top melt flux of zero-layer ice.

    Args:
        albedo, resistance: surface albedo and R = h_i/k_i + h_s/k_s (m² K W⁻¹), ``(...)``.
        bottom_temperature: T_b (°C); first_guess: start of the Newton iteration (°C).
        absorbed_shortwave: shortwave absorbed at the surface (W m⁻²); default
            (1 − albedo) SW↓ (no penetration).

    Returns:
        ``(T_s, F_c, F_melt)``: T_s ≤ T_m (°C), the upward conductive flux
        F_c = (T_b − T_s)/R and the melt flux max(g(T_m), 0) (W m⁻²).
    """

    if absorbed_shortwave is None:
        absorbed_shortwave = (1.0 - albedo) * f.shortwave_down

    def g(t):
        return (_atmospheric_flux(p, absorbed_shortwave, f, t)
                + (bottom_temperature - t) / resistance)

    def dg(t):
        return (-4.0 * p.emissivity * STEFAN_BOLTZMANN * (t + KELVIN) ** 3 - 1.0 / resistance
                + f.turbulent_flux_slope)

    t = jnp.minimum(first_guess, p.melting_temperature)
    for _ in range(p.newton_iterations):
        t = t - g(t) / dg(t)
    t_s = jnp.minimum(t, p.melting_temperature)
    melt = jnp.maximum(g(p.melting_temperature), 0.0)
    return t_s, (bottom_temperature - t_s) / resistance, melt


def thermodynamic_step(p: SlabSeaIceThermodynamics, s: SeaIceState, f: SeaIceForcing,
                       dt: float) -> SeaIceState:
    """Advance ice, snow and mixed layer by ``dt`` seconds (clock untouched; see the module
    docstring for the equations and the order of the processes)."""
    return thermodynamic_step_with_fluxes(p, s, f, dt)[0]


def open_water_and_lead_energy(p, s, f, H, M, a_ice, sw_transmitted, t_f, dt):
    """Open water (and the shortwave transmitted through the ice) heating the mixed layer, and
    the energy that freezes lead ice (Hibler 1979), shared by every ice thermodynamics.

    Open water losing heat draws first on its share (1 − a) of the mixed-layer heat above
    freezing; the rest of the loss freezes new ice in the leads.  Returns ``(H, q_open,
    sw_open, lead_energy)``: the mixed-layer heat content after the open-water and transmitted
    fluxes (J m⁻²), the net atmospheric flux into open water and its absorbed shortwave part
    (W m⁻²), and the lead-freezing energy (J m⁻², ≥ 0).
    """
    co = p.ocean_heat_capacity
    sw_open = (1.0 - p.ocean_albedo) * f.shortwave_down
    turbulent_open = (f.sensible + f.latent if f.open_water_turbulent is None
                      else f.open_water_turbulent)
    q_open = _atmospheric_flux(p, sw_open, f, s.ocean_temperature, turbulent_open)
    excess_heat = jnp.maximum(H - co * M * t_f, 0.0)
    H = H + dt * ((1.0 - a_ice) * q_open + a_ice * sw_transmitted)
    lead_cooling = jnp.maximum(-(1.0 - a_ice) * q_open * dt, 0.0)
    lead_energy = jnp.maximum(lead_cooling - (1.0 - a_ice) * excess_heat, 0.0)
    return H, q_open, sw_open, lead_energy


def _freeze(p, H, M, salt, mi, a, energy, latent_bottom):
    """Turn the heat ``energy`` (J m⁻², ≥ 0) removed from the mixed layer into new ice over
    open water at the lead-closing thickness h₀ (Hibler 1979): Δm = energy / ℒ_b,
    Δa = min(Δm / (ρ_i h₀), 1 − a).  The water frozen leaves the mixed layer (with the salt
    above S_i) and the latent heat it releases replaces ``energy``: H gains L Δm."""
    new_ice = energy / latent_bottom
    a = a + jnp.minimum(new_ice / (p.ice_density * p.consolidation_thickness), 1.0 - a)
    return (H + p.latent_heat * new_ice, M - new_ice, salt - p.ice_salinity * new_ice,
            mi + new_ice, a, new_ice)


def thermodynamic_step_with_fluxes(p: SlabSeaIceThermodynamics, s: SeaIceState,
                                   f: SeaIceForcing, dt: float):
    """:func:`thermodynamic_step` and the exchanges of the step, for couplers and plots
    (dispatches on the thermodynamics: ``p.step_with_fluxes``; the zero-layer step is
    described in :func:`_zero_layer_step_with_fluxes`)."""
    return p.step_with_fluxes(s, f, dt)


def _zero_layer_step_with_fluxes(p: SlabSeaIceThermodynamics, s: SeaIceState,
                                 f: SeaIceForcing, dt: float):
    """:func:`thermodynamic_step` and the exchanges of the step, for couplers and plots.

    Returns ``(state, fluxes)``; ``fluxes`` (per unit cell area, means over the step) holds
    ``ice_ocean_heat_flux`` Q_io (W m⁻², ocean to ice), ``ocean_shortwave`` (shortwave
    absorbed by the mixed layer: open water and transmitted through ice, W m⁻²),
    ``lead_ice_growth`` (new ice in leads and from frazil, kg m⁻² s⁻¹),
    ``interface_temperature`` T_b (°C) and ``air_ice_heat_flux`` (W m⁻², into the ice, per
    unit ice area, penetrating shortwave included).
    """
    L = p.latent_heat
    co = p.ocean_heat_capacity
    rho_i, rho_s = p.ice_density, p.snow_density
    a = s.concentration
    mi = rho_i * s.ice_volume
    ms = rho_s * s.snow_volume
    present = s.ice_volume > 0
    a_ice = jnp.where(present, a, 0.0)
    a_safe = jnp.where(present, jnp.maximum(a, 1e-12), 1.0)
    h_i = jnp.where(present, s.ice_volume / a_safe, 0.0)
    h_s = jnp.where(present, s.snow_volume / a_safe, 0.0)
    t_f = p.freezing_temperature(s.ocean_salinity)
    latent_bottom = L + co * t_f

    # ocean enthalpy, mass and salt
    M = s.ocean_mass
    H = co * M * s.ocean_temperature
    salt = M * s.ocean_salinity

    # shortwave over ice: surface part, absorbed inside the ice, transmitted to the ocean
    sw_surface, sw_absorbed, sw_transmitted = penetrating_shortwave(p, f.shortwave_down, h_s,
                                                                    h_i)

    # surface balance over ice
    resistance = jnp.where(present, jnp.maximum(h_i / p.ice_conductivity
                                                + h_s / p.snow_conductivity, 1e-9), 1.0)
    t_s, f_c, f_melt = surface_temperature(p, f, surface_albedo(p, h_s), resistance, t_f,
                                           jnp.where(present, s.surface_temperature, t_f),
                                           absorbed_shortwave=sw_surface)
    f_c = jnp.where(present, f_c, 0.0)
    q_top = -f_c + f_melt

    # snowfall: on ice, and on open water into the ocean (enthalpy -L per kg)
    snow_on_ice = a_ice * f.snowfall * dt
    snow_on_water = (1.0 - a_ice) * f.snowfall * dt
    ms = ms + snow_on_ice
    H = H - L * snow_on_water
    M = M + snow_on_water

    # top melt: snow first, then ice; melt water at 0 °C (enthalpy 0) goes to the ocean
    e_top = a_ice * f_melt * dt
    melt_s = jnp.minimum(e_top / L, ms)
    e_top = e_top - L * melt_s
    melt_i = jnp.minimum(e_top / L, mi)
    e_top = e_top - L * melt_i
    ms = ms - melt_s
    mi = mi - melt_i
    M = M + melt_s + melt_i
    salt = salt + p.ice_salinity * melt_i
    H = H + e_top

    H, q_open, sw_open, lead_energy = open_water_and_lead_energy(
        p, s, f, H, M, a_ice, sw_transmitted, t_f, dt)
    H, M, salt, mi, a, lead_ice = _freeze(p, H, M, salt, mi, a, lead_energy, latent_bottom)

    # the deep ocean
    H = H + dt * f.ocean_heat_flux

    # ice-ocean heat flux, implicit in the mixed-layer temperature
    k_bath = dt * a_ice * p.bath_coefficient()
    t_star = H / (co * M)
    if p.ice_ocean_flux == "three_equation":
        _, t_b = three_equation_interface(p, t_star, salt / M, f_c - sw_absorbed,
                                          latent_bottom)
        t_new = (co * M * t_star + k_bath * t_b) / (co * M + k_bath)
        q_io = co * M * (t_star - t_new)
    else:
        t_b = t_f
        t_new = (co * M * t_star + k_bath * t_f) / (co * M + k_bath)
        q_io = jnp.where(t_star > t_f, co * M * (t_star - t_new), 0.0)
    H = H - q_io

    # bottom: E_b > 0 melts, E_b < 0 freezes, at L_b = L + c_o T_f per kg; the shortwave
    # absorbed inside the ice melts at the base (zero-layer ice stores no heat)
    e_bottom = q_io - a_ice * (f_c - sw_absorbed) * dt
    dm = jnp.where(e_bottom >= 0, jnp.minimum(e_bottom / latent_bottom, mi),
                   e_bottom / latent_bottom)
    H = H + co * t_f * dm + (e_bottom - latent_bottom * dm)
    M = M + dm
    salt = salt + p.ice_salinity * dm
    mi = mi - dm

    # snow left without ice falls into the ocean
    orphan = jnp.where(mi > 0, 0.0, ms)
    H = H - L * orphan
    M = M + orphan
    ms = ms - orphan

    # lateral melt (Steele 1992), limited by the mixed-layer heat above freezing
    excess = H / (co * M) - t_f
    warm = excess > 0
    w_lat = jnp.where(warm, p.lateral_melt_m1 * jnp.where(warm, excess, 1.0) ** p.lateral_melt_m2,
                      0.0)
    fraction = jnp.minimum(dt * jnp.pi * w_lat / (p.floe_shape * p.floe_diameter), 1.0)
    mass = mi + ms
    available = jnp.maximum(H - co * M * t_f, 0.0)
    fraction = jnp.where(mass > 0, jnp.minimum(
        fraction, available / (jnp.where(mass > 0, mass, 1.0) * latent_bottom)), 0.0)
    lat_i, lat_s = fraction * mi, fraction * ms
    H = H - L * (lat_i + lat_s)
    M = M + lat_i + lat_s
    salt = salt + p.ice_salinity * lat_i
    mi, ms = mi - lat_i, ms - lat_s
    a = a * (1.0 - fraction)

    # frazil from water still supercooled (e.g. by the three-equation flux)
    H, M, salt, mi, a, frazil = _freeze(p, H, M, salt, mi, a,
                                        jnp.maximum(co * M * t_f - H, 0.0), latent_bottom)

    a = jnp.where(mi > 0, jnp.clip(a, 0.0, 1.0), 0.0)
    q_air_ice = q_top + sw_absorbed + sw_transmitted
    heat = dt * (a_ice * q_air_ice + (1.0 - a_ice) * q_open + f.ocean_heat_flux) \
        - L * f.snowfall * dt
    new = SeaIceState(
        ice_volume=mi / rho_i,
        snow_volume=ms / rho_s,
        concentration=a,
        surface_temperature=jnp.where(mi > 0, jnp.where(present, t_s, t_f), t_f),
        ocean_temperature=H / (co * M),
        ocean_salinity=salt / M,
        ocean_mass=M,
        heat_input=s.heat_input + heat,
        water_input=s.water_input + f.snowfall * dt,
        time=s.time,
        iteration=s.iteration,
    )
    fluxes = {
        "ice_ocean_heat_flux": q_io / dt,
        "ocean_shortwave": (1.0 - a_ice) * sw_open + a_ice * sw_transmitted,
        "lead_ice_growth": (lead_ice + frazil) / dt,
        "interface_temperature": t_b + 0.0 * t_star,
        "air_ice_heat_flux": q_air_ice,
    }
    return new, fluxes


def budgets(p: SlabSeaIceThermodynamics, s: SeaIceState) -> dict[str, jnp.ndarray]:
    """Energy, water and salt contents of the air–ice–ocean system, and the residuals.

    ``energy`` = c_o M T_o − L (ρ_i v_i + ρ_s v_s) (J m⁻²; the ice term is
    ``p.ice_enthalpy``, which adds the layer heat of the Winton ice); ``water`` = M + ρ_i v_i + ρ_s v_s
    (kg m⁻²); ``salt`` = M S_o + S_i ρ_i v_i (g m⁻²); ``energy_residual`` = energy −
    heat_input and ``water_residual`` = water − water_input are constant in time (salt is).
    ``energy_scale`` (sum of the magnitudes of the energy terms) sizes relative errors.
    """
    mi, ms = p.ice_density * s.ice_volume, p.snow_density * s.snow_volume
    ocean = p.ocean_heat_capacity * s.ocean_mass * s.ocean_temperature
    ice = p.ice_enthalpy(s)
    energy = ocean + ice
    water = s.ocean_mass + mi + ms
    return {
        "energy": energy,
        "water": water,
        "salt": s.ocean_mass * s.ocean_salinity + p.ice_salinity * mi,
        "energy_residual": energy - s.heat_input,
        "water_residual": water - s.water_input,
        "energy_scale": jnp.abs(ocean) + jnp.abs(ice),
    }


def parameters_from_table(obj, table, prefix: str = "") -> ParameterSet:
    """A :class:`ParameterSet` of ``obj``'s fields listed in ``table``: ``{field: ((lower,
    upper), prior kind ("lognormal" or "truncated_normal"), prior spread, units, description,
    source)}``, priors centred on the current values, names ``prefix + field``."""
    out = {}
    for name, ((lo, hi), kind, spread, units, description, source) in table.items():
        value = float(getattr(obj, name))
        if kind == "lognormal":
            prior = Prior.make("lognormal", loc=math.log(value), scale=spread)
        else:
            prior = Prior.make("truncated_normal", loc=value, scale=spread, low=lo, high=hi)
        out[prefix + name] = Parameter(jnp.asarray(value), lower=lo, upper=hi, prior=prior,
                                       units=units, description=f"{description} ({source})")
    return ParameterSet(out)
