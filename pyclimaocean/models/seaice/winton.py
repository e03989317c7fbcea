"""Winton (2000) two-layer sea-ice thermodynamics with snow, over a slab mixed layer.

Winton, M. (2000), "A reformulated three-layer sea ice model", J. Atmos. Oceanic Technol. 17,
525–531: Semtner's three-layer framework (a snow layer without heat capacity over two ice
layers of equal thickness), with the brine content of the upper layer represented by a
temperature-dependent heat capacity, and a non-iterative, fully implicit solution of the
layer temperatures.  The discretisation follows the form MITgcm ``pkg/thsice``
(``thsice_solve4temp.F``, ``thsice_calc_thickn.F``) gives Winton's model; the rest of the
column (snowfall, leads, frazil, lateral melt, ice–ocean heat flux, salt and freshwater) is
the zero-layer model's (:mod:`.thermodynamics`), so the two are interchangeable.

Enthalpies (J kg⁻¹, relative to liquid water at 0 °C, so the ocean holds c_o M T_o):

* upper layer (brine pockets, melting temperature T_m = −μ S_i):
  q₁(T) = c_o T_m − c_i (T_m − T) − L (1 − T_m / T)  (q₁(T_m) = c_o T_m: all liquid);
* lower layer (fixed heat capacity, no brine term): q₂(T) = c_o T_m − c_i (T_m − T) − L (both
  layers melt to liquid at T_m, as in Winton's (2000) energies; MITgcm ``thsice`` takes
  c_i T − L, which differs by (c_o − c_i) T_m ≈ −400 J kg⁻¹);
* snow (no heat capacity): −L.

Ice energy per unit cell area: (m_i / 2) [q₁(T₁) + q₂(T₂)] − L m_s (m = ρ v).

Temperatures (per unit ice area; layers h/2 thick, temperatures at their mid-points).
Conductances: K₁₂ = 4 k_i k_s / (k_s h + 4 k_i h_s) (surface to T₁, snow and h/4 of ice in
series), K₃₂ = 2 k_i / h (T₁ to T₂), 4 k_i / h (T₂ to the base at T_f).  Backward Euler:

    ρ_i h/2 [q₁(T₁') − q₁(T₁)] / Δt = K₁₂ (T_s' − T₁') + K₃₂ (T₂' − T₁') + I_abs
    ρ_i h/2 c_i (T₂' − T₂) / Δt     = K₃₂ (T₁' − T₂') + 4 k_i / h (T_f − T₂')
    F(T_s⁰) + F'(T_s⁰) (T_s' − T_s⁰) = K₁₂ (T_s' − T₁')                (surface)

with F the net atmospheric flux into the surface (the absorbed non-penetrating shortwave,
LW↓, turbulent fluxes, −εσT⁴) linearised about T_s⁰, and I_abs the penetrating shortwave
absorbed in the ice (stored in the upper layer, as ``thsice`` does).  Eliminating T₂' and
T_s' and multiplying by T₁' leaves a quadratic a T₁'² + b T₁' + c = 0 with c = ρ_i h L T_m /
(2Δt) < 0, whose one negative root is taken in a cancellation-free form.  If T_s' > 0 °C the
surface is held at 0 °C (a = a₀ + K₁₂) and the excess F(0) − K₁₂ (0 − T₁') melts at the top.
The solve is repeated ``newton_iterations`` times, re-linearising F about the latest T_s'
(Newton on the coupled implicit system; the applied flux is the linearised one, which the
energy budget uses, and equals F(T_s') to the Newton residual).

Growth and melt: the top-melt energy melts snow (L per kg), then the upper and the lower
layer (−q_k per kg, melt water at 0 °C).  At the base E_b = Q_io − a (4 k_i / h)(T_f − T₂')Δt:
E_b < 0 freezes ocean water at T_f into the lower layer (enthalpy q₂(T_f); ℒ_b = c_o T_f −
q₂(T_f) per kg), E_b > 0 melts the lower, then the upper layer (c_o T_f − q_k per kg; melt
water at T_f).  Snow that loads the ice below the waterline (ρ_s h_s > (ρ_o − ρ_i) h) is
turned into upper-layer ice ("snow ice", mass conserving as in ``thsice``: the new thickness
floats at the waterline; its enthalpy is the snow's −L; its salt S_i per kg comes from the
mixed layer, standing for the flooding sea water).  Lead ice and frazil join the lower layer
at q₂(T_f).  Finally the layers are re-balanced to equal mass, mixing enthalpy:
T₂ = T_m + (q − c_o T_m + L)/c_i, and T₁ from the quadratic
c_i T² + ((c_o − c_i) T_m − L − q) T + L T_m = 0; a lower layer left above T_m (the brine of
upper ice moved down refreezes and releases its heat) melts both layers evenly with its excess
and is set to T_m, as Winton's ``even_up`` does.

Every transfer carries its enthalpy, so energy, water and salt are conserved to round-off
(:func:`~pyclimaocean.models.seaice.thermodynamics.budgets`).  Pure ``jax.numpy``,
elementwise over columns, differentiable (``where`` with safe operands where ice is absent).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from ...params import ParameterSet
from .thermodynamics import (
    _PARAMETER_TABLE,
    KELVIN,
    STEFAN_BOLTZMANN,
    SeaIceForcing,
    SeaIceState,
    SlabSeaIceThermodynamics,
    _atmospheric_flux,
    open_water_and_lead_energy,
    parameters_from_table,
    penetrating_shortwave,
    surface_albedo,
    three_equation_interface,
)

__all__ = [
    "WintonSeaIceState",
    "WintonThermodynamics",
    "lower_enthalpy",
    "solve_layer_temperatures",
    "upper_enthalpy",
    "upper_temperature",
]

#: (bounds, prior kind, spread, units, description, source) of the Winton-only numbers; the
#: ice salinity is bounded away from 0 (T_m = −μ S_i < 0 keeps the brine term regular)
_WINTON_TABLE = {
    "ice_heat_capacity": ((1800.0, 2300.0), "normal", 60.0, "J kg-1 K-1",
                          "specific heat c_i of fresh ice", "2106 (MITgcm thsice cpIce)"),
    "ice_salinity": ((0.5, 10.0), "normal", 1.5, "g kg-1",
                     "bulk salinity S_i of ice (sets the brine melting point T_m = -mu S_i)",
                     "4 (MITgcm thsice saltIce; ClimaOcean)"),
}


class WintonThermodynamics(SlabSeaIceThermodynamics):
    """Winton (2000) two-layer ice: the zero-layer parameters plus ``ice_heat_capacity`` c_i
    (J kg⁻¹ K⁻¹); ``snow_ice`` (static) turns the snow-to-ice conversion by flooding on.

    The ice salinity S_i sets the brine melting temperature T_m = −μ S_i of the upper layer;
    it must be > 0."""

    ice_heat_capacity: float = 2106.0
    snow_ice: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if isinstance(self.ice_salinity, int | float) and not self.ice_salinity > 0:
            raise ValueError("the Winton upper layer needs ice_salinity > 0 (brine melting "
                             f"point -mu S_i < 0), got {self.ice_salinity!r}")

    def parameters(self, prefix: str = "") -> ParameterSet:
        """The zero-layer parameters and c_i (ice salinity bounded to [0.5, 10] g kg⁻¹)."""
        table = {**_PARAMETER_TABLE, **_WINTON_TABLE}
        return parameters_from_table(self, table, prefix)

    def brine_melting_temperature(self):
        """T_m = −μ S_i (°C), the melting temperature of the upper (briny) layer."""
        return -self.liquidus_slope * self.ice_salinity

    def step_with_fluxes(self, s, f, dt):
        return winton_step_with_fluxes(self, s, f, dt)

    def ice_enthalpy(self, s):
        mi = self.ice_density * s.ice_volume
        present = s.ice_volume > 0
        t1 = jnp.where(present, s.upper_ice_temperature, -1.0)
        t2 = jnp.where(present, s.lower_ice_temperature, -1.0)
        layers = 0.5 * mi * (upper_enthalpy(self, t1) + lower_enthalpy(self, t2))
        return jnp.where(present, layers, 0.0) - self.latent_heat * self.snow_density \
            * s.snow_volume

    def make_state(self, **fields) -> WintonSeaIceState:
        """The zero-layer fields plus the layer temperatures of a linear profile from the
        surface temperature to the freezing point of the mixed layer (capped 0.01 K below
        T_m)."""
        t_s = jnp.asarray(fields["surface_temperature"], dtype=float)
        t_f = self.freezing_temperature(fields["ocean_salinity"])
        cap = self.brine_melting_temperature() - 0.01
        return WintonSeaIceState(
            **fields,
            upper_ice_temperature=jnp.minimum(t_s + 0.25 * (t_f - t_s), cap) + 0.0 * t_f,
            lower_ice_temperature=jnp.minimum(t_s + 0.75 * (t_f - t_s), cap) + 0.0 * t_f)

    def describe(self) -> str:
        return "Winton (2000) two-layer ice + snow"


class WintonSeaIceState(SeaIceState):
    """:class:`SeaIceState` plus the layer temperatures (°C) of the ice-covered part.

    Attributes:
        upper_ice_temperature: T₁ at the middle of the upper layer (°C, < T_m).
        lower_ice_temperature: T₂ at the middle of the lower layer (°C).
    """

    upper_ice_temperature: jnp.ndarray
    lower_ice_temperature: jnp.ndarray


def upper_enthalpy(p: WintonThermodynamics, temperature):
    """q₁(T) = c_o T_m − c_i (T_m − T) − L (1 − T_m/T) (J kg⁻¹; T < 0 °C)."""
    t_m = p.brine_melting_temperature()
    return (p.ocean_heat_capacity * t_m - p.ice_heat_capacity * (t_m - temperature)
            - p.latent_heat * (1.0 - t_m / temperature))


def lower_enthalpy(p: WintonThermodynamics, temperature):
    """q₂(T) = c_o T_m − c_i (T_m − T) − L (J kg⁻¹)."""
    t_m = p.brine_melting_temperature()
    return (p.ocean_heat_capacity * t_m - p.ice_heat_capacity * (t_m - temperature)
            - p.latent_heat)


def lower_temperature(p: WintonThermodynamics, enthalpy):
    """T₂ with q₂(T₂) = ``enthalpy`` (°C)."""
    t_m = p.brine_melting_temperature()
    return t_m + (enthalpy - p.ocean_heat_capacity * t_m + p.latent_heat) / p.ice_heat_capacity


def _negative_root(a, b, c):
    """The negative root of a x² + b x + c = 0 for a > 0, c < 0 (one root each sign), without
    cancellation: −(b + √D)/(2a) for b ≥ 0, 2c/(√D − b) otherwise (both denominators > 0)."""
    root = jnp.sqrt(b * b - 4.0 * a * c)
    positive = b >= 0
    return jnp.where(positive, -(b + root) / (2.0 * a),
                     2.0 * c / (root - b))


def upper_temperature(p: WintonThermodynamics, enthalpy):
    """T₁ with q₁(T₁) = ``enthalpy`` (°C): c_i T² + ((c_o − c_i) T_m − L − q) T + L T_m = 0."""
    t_m = p.brine_melting_temperature()
    b = (p.ocean_heat_capacity - p.ice_heat_capacity) * t_m - p.latent_heat - enthalpy
    return _negative_root(p.ice_heat_capacity, b, p.latent_heat * t_m)


def _surface_flux(p, f, absorbed_shortwave, temperature):
    """F(T) and dF/dT of the atmosphere into the ice surface (W m⁻², W m⁻² K⁻¹)."""
    flux = _atmospheric_flux(p, absorbed_shortwave, f, temperature)
    slope = (-4.0 * p.emissivity * STEFAN_BOLTZMANN * (temperature + KELVIN) ** 3
             + f.turbulent_flux_slope)
    return flux, slope


def solve_layer_temperatures(p: WintonThermodynamics, f: SeaIceForcing, ice_thickness,
                             snow_thickness, upper, lower, bottom_temperature, first_guess,
                             surface_shortwave, absorbed_shortwave, dt):
    """The implicit Winton temperature step (per unit ice area; see the module docstring).

    Args:
        ice_thickness, snow_thickness: h > 0, h_s (m); upper, lower: T₁, T₂ (°C, T₁ < 0);
        bottom_temperature: T_f (°C); first_guess: T_s to linearise about first (°C);
        surface_shortwave: shortwave absorbed at the surface (W m⁻²); absorbed_shortwave:
        penetrating shortwave absorbed in the ice (W m⁻², heats the upper layer); dt (s).

    Returns:
        dict with ``surface_temperature`` T_s', ``upper``, ``lower`` (T₁', T₂'),
        ``atmospheric_flux`` (the applied F, W m⁻²), ``surface_conduction``
        K₁₂ (T_s' − T₁') (W m⁻², into the ice), ``surface_melt`` (F − K₁₂ (T_s' − T₁'), the
        heat left at the surface, W m⁻²) and ``basal_conduction`` 4 k_i/h (T_f − T₂')
        (W m⁻², upward from the base into the ice).
    """
    h, h_s = ice_thickness, snow_thickness
    ki, ks, ci, rho = p.ice_conductivity, p.snow_conductivity, p.ice_heat_capacity, p.ice_density
    L, t_m, t_f = p.latent_heat, p.brine_melting_temperature(), bottom_temperature
    t_melt = p.melting_temperature
    k12 = 4.0 * ki * ks / (ks * h + 4.0 * ki * h_s)
    k32 = 2.0 * ki / h
    rch = rho * ci * h
    denominator = 6.0 * dt * k32 + rch
    a0 = rch / (2.0 * dt) + k32 * (4.0 * dt * k32 + rch) / denominator
    b0 = (-h * (rho * ci * upper + rho * L * t_m / upper) / (2.0 * dt)
          - k32 * (4.0 * dt * k32 * t_f + rch * lower) / denominator - absorbed_shortwave)
    c0 = rho * L * h * t_m / (2.0 * dt)

    t_s = jnp.minimum(first_guess, t_melt)
    t1 = upper
    applied = jnp.zeros_like(t_s)
    for _ in range(p.newton_iterations):
        flux, slope = _surface_flux(p, f, surface_shortwave, t_s)
        g = k12 / (k12 - slope)
        t1_free = _negative_root(a0 - g * slope, b0 - g * (flux - slope * t_s), c0)
        ts_free = t_s + (flux + k12 * (t1_free - t_s)) / (k12 - slope)
        t1_cap = _negative_root(a0 + k12, b0 - k12 * t_melt, c0)
        capped = ts_free > t_melt
        flux_melt, _ = _surface_flux(p, f, surface_shortwave, t_melt + 0.0 * t_s)
        applied = jnp.where(capped, flux_melt, flux + slope * (ts_free - t_s))
        t1 = jnp.where(capped, t1_cap, t1_free)
        t_s = jnp.where(capped, t_melt, ts_free)
    t2 = (2.0 * dt * k32 * (t1 + 2.0 * t_f) + rch * lower) / denominator
    conduction = k12 * (t_s - t1)
    return {
        "surface_temperature": t_s,
        "upper": t1,
        "lower": t2,
        "atmospheric_flux": applied,
        "surface_conduction": conduction,
        "surface_melt": applied - conduction,
        "basal_conduction": 2.0 * k32 * (t_f - t2),
    }


def _melt_layers(energy, masses, costs, floor):
    """Melt from a sequence of (mass, energy per kg) with ``energy`` ≥ 0 (J m⁻²); returns
    (energy left, melted masses).  The cost used to size each melt is floored at ``floor``
    (J kg⁻¹) against a layer at or above its melting point; the energy is booked at the
    true cost, so the budget stays exact."""
    melted = []
    for mass, cost in zip(masses, costs, strict=True):
        dm = jnp.clip(energy / jnp.maximum(cost, floor), 0.0, mass)
        energy = energy - cost * dm
        melted.append(dm)
    return energy, melted


def winton_step_with_fluxes(p: WintonThermodynamics, s: WintonSeaIceState, f: SeaIceForcing,
                            dt: float):
    """One step of the Winton ice over the mixed layer and the exchanges (the same
    ``(state, fluxes)`` as :func:`~.thermodynamics.thermodynamic_step_with_fluxes`).

    Order: layer temperatures and surface balance → snowfall → top melt → open water and
    lead ice → deep ocean → ice–ocean heat flux → bottom growth/melt → snow without ice →
    lateral melt → frazil → snow ice → layer re-balancing."""
    L = p.latent_heat
    co = p.ocean_heat_capacity
    rho_i, rho_s = p.ice_density, p.snow_density
    a = s.concentration
    mi = rho_i * s.ice_volume
    ms = rho_s * s.snow_volume
    present = s.ice_volume > 0
    a_ice = jnp.where(present, a, 0.0)
    a_safe = jnp.where(present, jnp.maximum(a, 1e-12), 1.0)
    h_i = jnp.where(present, s.ice_volume / a_safe, 1.0)
    h_s = jnp.where(present, s.snow_volume / a_safe, 0.0)
    t_f = p.freezing_temperature(s.ocean_salinity)
    t_m = p.brine_melting_temperature()
    q_new = lower_enthalpy(p, t_f)                 # enthalpy of ice frozen at T_f
    latent_bottom = co * t_f - q_new
    floor = 0.1 * L

    M = s.ocean_mass
    H = co * M * s.ocean_temperature
    salt = M * s.ocean_salinity

    # layer enthalpies at the start (both layers hold m_i / 2)
    t1_old = jnp.where(present, s.upper_ice_temperature, t_m - 1.0)
    t2_old = jnp.where(present, s.lower_ice_temperature, t_f)

    # shortwave over ice, then the implicit temperature solve
    sw_surface, sw_absorbed, sw_transmitted = penetrating_shortwave(
        p, f.shortwave_down, h_s, jnp.where(present, h_i, 0.0))
    sol = solve_layer_temperatures(
        p, f, h_i, h_s, t1_old, t2_old, t_f,
        jnp.where(present, s.surface_temperature, t_f), sw_surface, sw_absorbed, dt)
    t_s = sol["surface_temperature"]
    t1 = jnp.where(present, sol["upper"], t1_old)
    t2 = jnp.where(present, sol["lower"], t2_old)
    f_atm = jnp.where(present, sol["atmospheric_flux"], 0.0)
    surface_excess = jnp.where(present, sol["surface_melt"], 0.0)
    f_base = jnp.where(present, sol["basal_conduction"], 0.0)
    m1 = 0.5 * mi
    m2 = 0.5 * mi

    # snowfall: on ice, and on open water into the ocean (enthalpy -L per kg)
    snow_on_ice = a_ice * f.snowfall * dt
    snow_on_water = (1.0 - a_ice) * f.snowfall * dt
    ms = ms + snow_on_ice
    H = H - L * snow_on_water
    M = M + snow_on_water

    # top melt (melt water at 0 °C, enthalpy 0): snow, upper, lower layer; a negative
    # surface excess (round-off, or linearisation while capped) goes to the ocean
    e_top = a_ice * jnp.maximum(surface_excess, 0.0) * dt
    H = H + a_ice * jnp.minimum(surface_excess, 0.0) * dt
    q1, q2 = upper_enthalpy(p, t1), lower_enthalpy(p, t2)
    e_top, (melt_s, melt_1, melt_2) = _melt_layers(e_top, (ms, m1, m2), (L, -q1, -q2), floor)
    ms, m1, m2 = ms - melt_s, m1 - melt_1, m2 - melt_2
    M = M + melt_s + melt_1 + melt_2
    salt = salt + p.ice_salinity * (melt_1 + melt_2)
    H = H + e_top

    # open water, and lead ice (Hibler 1979) into the lower layer at q2(T_f)
    H, q_open, sw_open, lead_energy = open_water_and_lead_energy(
        p, s, f, H, M, a_ice, sw_transmitted, t_f, dt)
    H, M, salt, m2, t2, a, lead_ice = _freeze(p, H, M, salt, m2, t2, a, lead_energy,
                                              latent_bottom, q_new)

    # the deep ocean
    H = H + dt * f.ocean_heat_flux

    # ice-ocean heat flux, implicit in the mixed-layer temperature
    k_bath = dt * a_ice * p.bath_coefficient()
    t_star = H / (co * M)
    if p.ice_ocean_flux == "three_equation":
        _, t_b = three_equation_interface(p, t_star, salt / M, f_base, latent_bottom)
        t_new = (co * M * t_star + k_bath * t_b) / (co * M + k_bath)
        q_io = co * M * (t_star - t_new)
    else:
        t_b = t_f
        t_new = (co * M * t_star + k_bath * t_f) / (co * M + k_bath)
        q_io = jnp.where(t_star > t_f, co * M * (t_star - t_new), 0.0)
    H = H - q_io

    # bottom: E_b < 0 grows the lower layer, E_b > 0 melts lower then upper layer
    # (the deficit -E_b is not yet in H: the ice took a F_b dt from the base, H lost only Q_io)
    e_bottom = q_io - a_ice * f_base * dt
    H, M, salt, m2, t2, _, _ = _freeze(p, H, M, salt, m2, t2, a, jnp.maximum(-e_bottom, 0.0),
                                       latent_bottom, q_new, cover=False)
    H = H + jnp.minimum(e_bottom, 0.0)
    q1, q2 = upper_enthalpy(p, t1), lower_enthalpy(p, t2)
    e_melt, (melt_2, melt_1) = _melt_layers(jnp.maximum(e_bottom, 0.0), (m2, m1),
                                            (co * t_f - q2, co * t_f - q1), floor)
    m1, m2 = m1 - melt_1, m2 - melt_2
    M = M + melt_1 + melt_2
    salt = salt + p.ice_salinity * (melt_1 + melt_2)
    H = H + co * t_f * (melt_1 + melt_2) + e_melt
    mi = m1 + m2

    # snow left without ice falls into the ocean
    orphan = jnp.where(mi > 0, 0.0, ms)
    H = H - L * orphan
    M = M + orphan
    ms = ms - orphan

    # lateral melt (Steele 1992), limited by the mixed-layer heat above freezing; the melted
    # fraction of each layer and of the snow takes its enthalpy to the ocean
    q1, q2 = upper_enthalpy(p, t1), lower_enthalpy(p, t2)
    excess = H / (co * M) - t_f
    warm = excess > 0
    w_lat = jnp.where(warm, p.lateral_melt_m1 * jnp.where(warm, excess, 1.0) ** p.lateral_melt_m2,
                      0.0)
    fraction = jnp.minimum(dt * jnp.pi * w_lat / (p.floe_shape * p.floe_diameter), 1.0)
    cost = jnp.maximum(co * t_f * (m1 + m2 + ms) - (m1 * q1 + m2 * q2 - L * ms), 0.0)
    available = jnp.maximum(H - co * M * t_f, 0.0)
    has_mass = cost > 0
    fraction = jnp.where(has_mass, jnp.minimum(
        fraction, available / jnp.where(has_mass, cost, 1.0)), 0.0)
    lat_1, lat_2, lat_s = fraction * m1, fraction * m2, fraction * ms
    H = H + lat_1 * q1 + lat_2 * q2 - L * lat_s
    M = M + lat_1 + lat_2 + lat_s
    salt = salt + p.ice_salinity * (lat_1 + lat_2)
    m1, m2, ms = m1 - lat_1, m2 - lat_2, ms - lat_s
    a = a * (1.0 - fraction)

    # frazil from water still supercooled
    H, M, salt, m2, t2, a, frazil = _freeze(p, H, M, salt, m2, t2, a,
                                            jnp.maximum(co * M * t_f - H, 0.0), latent_bottom,
                                            q_new)
    mi = m1 + m2

    # snow ice: snow below the waterline becomes upper-layer ice (mass conserving); the
    # salt S_i of the new ice comes from the mixed layer (the flooding sea water)
    if p.snow_ice:
        flooded = jnp.clip((rho_i * ms - (p.ocean_density - rho_i) * mi) / p.ocean_density,
                           0.0, ms)
        flooded = jnp.where(mi > 0, flooded, 0.0)
        e1 = m1 * upper_enthalpy(p, t1) - L * flooded
        m1 = m1 + flooded
        ms = ms - flooded
        salt = salt - p.ice_salinity * flooded
        t1 = jnp.where(flooded > 0, upper_temperature(
            p, e1 / jnp.where(m1 > 0, m1, 1.0)), t1)
        mi = m1 + m2
    else:
        flooded = jnp.zeros_like(mi)

    # re-balance the layers to equal mass, mixing enthalpy
    t1, t2 = _rebalance(p, m1, m2, t1, t2, t_f)
    m1 = m2 = 0.5 * mi

    # a lower layer above T_m (heat brought down with brine) melts both layers evenly with its
    # excess heat and is set to T_m (Winton's even_up); melt water at T_m
    over = (t2 > t_m) & (m2 > 0)
    excess = jnp.where(over, m2 * (lower_enthalpy(p, t2) - lower_enthalpy(p, t_m)), 0.0)
    cost_1 = co * t_m - upper_enthalpy(p, t1)
    cost_2 = co * t_m - lower_enthalpy(p, t_m)               # = L
    even = jnp.clip(excess / jnp.maximum(cost_1 + cost_2, floor), 0.0, m2)
    H = H + 2.0 * co * t_m * even + excess - (cost_1 + cost_2) * even
    M = M + 2.0 * even
    salt = salt + 2.0 * p.ice_salinity * even
    m1, m2 = m1 - even, m2 - even
    t2 = jnp.where(over, t_m, t2)
    mi = m1 + m2
    orphan = jnp.where(mi > 0, 0.0, ms)
    H = H - L * orphan
    M = M + orphan
    ms = ms - orphan

    has_ice = mi > 0
    a = jnp.where(has_ice, jnp.clip(a, 0.0, 1.0), 0.0)
    q_air_ice = f_atm + sw_absorbed + sw_transmitted
    heat = dt * (a_ice * q_air_ice + (1.0 - a_ice) * q_open + f.ocean_heat_flux) \
        - L * f.snowfall * dt
    new = WintonSeaIceState(
        ice_volume=mi / rho_i,
        snow_volume=ms / rho_s,
        concentration=a,
        surface_temperature=jnp.where(has_ice, jnp.where(present, t_s, t_f), t_f),
        ocean_temperature=H / (co * M),
        ocean_salinity=salt / M,
        ocean_mass=M,
        heat_input=s.heat_input + heat,
        water_input=s.water_input + f.snowfall * dt,
        time=s.time,
        iteration=s.iteration,
        upper_ice_temperature=jnp.where(has_ice, t1, t_f),
        lower_ice_temperature=jnp.where(has_ice, t2, t_f),
    )
    fluxes = {
        "ice_ocean_heat_flux": q_io / dt,
        "ocean_shortwave": (1.0 - a_ice) * sw_open + a_ice * sw_transmitted,
        "lead_ice_growth": (lead_ice + frazil) / dt,
        "interface_temperature": t_b + 0.0 * t_star,
        "air_ice_heat_flux": q_air_ice,
        "snow_ice_formation": flooded / dt,
        "surface_albedo": surface_albedo(p, h_s),
    }
    return new, fluxes


def _freeze(p, H, M, salt, m2, t2, a, energy, latent_bottom, q_new, cover=True):
    """Freeze the heat deficit ``energy`` (J m⁻², ≥ 0) into Δm = energy / ℒ_b of ice at
    q₂(T_f) added to the lower layer (its temperature from the mixed enthalpy).  With
    ``cover`` the new ice covers open water at the consolidation thickness h₀ (Hibler 1979).
    The water leaves the mixed layer with its salt above S_i; H loses the enthalpy of the ice
    formed (−q₂(T_f) Δm, the latent heat released replacing ``energy``)."""
    new_ice = energy / latent_bottom
    if cover:
        a = a + jnp.minimum(new_ice / (p.ice_density * p.consolidation_thickness), 1.0 - a)
    total = m2 + new_ice
    safe = jnp.where(total > 0, total, 1.0)
    mixed = (m2 * lower_enthalpy(p, t2) + new_ice * q_new) / safe
    t2 = jnp.where(total > 0, lower_temperature(p, mixed), t2)
    return (H - q_new * new_ice, M - new_ice, salt - p.ice_salinity * new_ice, total, t2, a,
            new_ice)


def _rebalance(p, m1, m2, t1, t2, t_f):
    """Layer temperatures after moving mass between the layers to make them equal (Winton
    2000; ``thsice_reshape_layers``): the moved ice keeps its enthalpy."""
    total = m1 + m2
    half = 0.5 * total
    has = total > 0
    safe_half = jnp.where(has, half, 1.0)
    q1, q2 = upper_enthalpy(p, t1), lower_enthalpy(p, t2)
    down = m1 > half                                 # upper layer gives ice to the lower
    moved_down = jnp.where(down, m1 - half, 0.0)
    moved_up = jnp.where(down, 0.0, half - m1)
    e1 = (jnp.minimum(m1, half) * q1 + moved_up * q2) / safe_half
    e2 = (jnp.minimum(m2, half) * q2 + moved_down * q1) / safe_half
    t1_new = jnp.where(down, t1, upper_temperature(p, e1))
    t2_new = lower_temperature(p, e2)
    return jnp.where(has, t1_new, t_f), jnp.where(has, t2_new, t_f)
