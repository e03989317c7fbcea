r"""A CATKE-like prognostic turbulent kinetic energy closure.

Follows the formulation of Oceananigans' ``CATKEVerticalDiffusivity`` described in Wagner et
al. (2025), "Formulation and calibration of CATKE, a one-equation parameterization for
microscale ocean mixing", JAMES 17(4), e2024MS004522 (arXiv:2306.13204).  Default parameter
values are the calibrated ones of that work (as shipped by Oceananigans).

Diffusivities (at interior faces) for momentum (u), tracers (c) and TKE (e):

.. math::

    κ_φ = ℓ_φ \, w★,  \qquad w★ = \sqrt{\max(e_{min}, e)},

    ℓ_φ = \min\big(H, \max(σ_φ(Ri)\,ℓ_{stable},\; ℓ^h_φ)\big),

    ℓ_{stable} = \min\big(Cˢ d,\; Cᵇ h,\; w★/N⁺\big),

with ``d`` the depth, ``h`` the height above the bottom, and the piecewise-linear stability
function ``σ(Ri) = Cᵘⁿ`` for ``Ri < 0`` and ``Cˡᵒ + (Cʰⁱ - Cˡᵒ) clamp((Ri - CRi⁰)/CRiᵟ, 0, 1)``
otherwise.  In a convecting layer (``Jᵇ > Jᵇᵋ`` and ``N² < 0``) the convective length

.. math::

    ℓ^h = Cᶜ \frac{w★³}{Jᵇ + Jᵇᵋ} \, \max\!\Big(0,\; 1 - Cˢᵖ \frac{d\, w★ S²}{Jᵇ + Jᵇᵋ}\Big)

applies; at the entrainment face just below it (``N² > 0`` there, ``N² < 0`` above),
``ℓ^h = Cᵉ Jᵇ / (w★ N² + Jᵇᵋ)``.

TKE equation (cell centres), time-stepped implicitly (diffusion, dissipation and the buoyancy
sink on the diagonal, as Oceananigans does):

.. math::

    ∂_t e = ∂_z(κ_e ∂_z e) + κ_u S² - κ_c N² - \frac{\sqrt{e}}{ℓ_D} e,

where the dissipation length ``ℓ_D`` uses the same construction with the coefficients
``CʰⁱD, CˡᵒD, CᵘⁿD, CᶜD, CᵉD`` and ``ℓ★ = ℓ_stable / σ_D``.  Surface TKE flux (into the ocean):
``Cᵂu★ u★³ + CᵂwΔ wΔ³`` with ``wΔ³ = max(Jᵇ, 0) Δz_top``.

Parameter names (ASCII) and their Oceananigans symbols (``f`` is ``u`` for momentum, ``c``
for tracers, ``e`` for TKE, ``d`` for the dissipation length):

=================================  =====================
pyclimaocean                       CATKE (Oceananigans)
=================================  =====================
c_surface                          Cˢ
c_bottom                           Cᵇ
c_shear_convection                 Cˢᵖ
c_ri_width                         CRiᵟ
c_ri_threshold                     CRi⁰
c_hi_f  (f = u, c, e, d)           Cʰⁱf (CʰⁱD for d)
c_lo_f                             Cˡᵒf (CˡᵒD)
c_un_f                             Cᵘⁿf (CᵘⁿD)
c_conv_f                           Cᶜf (CᶜD)
c_pen_f                            Cᵉf (CᵉD)
c_wind_ustar                       Cᵂu★
c_wind_wdelta                      CᵂwΔ
minimum_tke                        minimum_tke
minimum_convective_buoyancy_flux   Jᵇᵋ
=================================  =====================

Simplifications relative to Oceananigans (documented, deliberate):

* no near-bottom TKE flux (``Cᵂϵ``); no negative-TKE damping (TKE is clipped at
  ``minimum_tke`` after each step instead); first-order (backward-Euler) time stepping;
* the surface buoyancy flux Jᵇ is used instantaneously everywhere (Oceananigans relaxes a stored
  Jᵇ toward the instantaneous value on a time scale ``(ℓ_D² / Jᵇ)^{1/3}`` for the convective
  and entrainment lengths);
* order of operations: diffusivities and TKE terms come from the state at tⁿ, and the TKE step
  uses N², S² from before the mixing step (Oceananigans steps e after T, S, u, v, with shear
  production ``½ ν ∂z uⁿ · ∂z (uⁿ + uⁿ⁺¹)``-like averaging of old and new velocities, weighted by
  Δz on stretched grids); here shear production is the plain average of ν S² at tⁿ;
* Ri at cell centres (for ℓ_D) is the ratio of centre-averaged N² and S², not the average of
  face Ri; Ri = ±1e10 where S² < 1e-20 (Oceananigans: ±Inf, and 0 when N² = 0);
* the implicit buoyancy sink is active at every TKE value (Oceananigans switches it off at or
  below ``minimum_tke``); there are no maximum-diffusivity caps (Oceananigans' default: none).

Smooth regime switches (default ``switch_width = 1``; ``switch_width = 0`` gives the exact
switches Oceananigans has).  The regime switches are jumps: a face changes from the convective
length (N² < 0) to the entrainment length or to none (N² > 0), σ(Ri) jumps from Cᵘⁿ to Cˡᵒ at
Ri = 0, and the convective/entrainment lengths switch on at Jᵇ = Jᵇᵋ.  With ``switch_width > 0``
each is a C∞ blend by :func:`~pyclimaocean.closures.switches.smooth_step` (exactly 0 or 1
outside its width):

=====================================  ========================================================
switch                                 blend (width × ``switch_width``)
=====================================  ========================================================
convecting (N² < 0) vs not; σ(Ri) for  convective weight c = 1 − smooth_step(N², δ_N),
Ri < 0 (the sign of Ri is that of N²)  δ_N = 5e-8 s⁻²: **one-sided into the stratified side**,
                                       c = 1 wherever N² ≤ 0, so a convecting layer is
                                       computed exactly as before whatever its |N²|
entraining: N² > 0 and N² < 0 above    (1 − c) × c(N² above)
surface buoyancy loss Jᵇ > Jᵇᵋ         smooth_step(Jᵇ − Jᵇᵋ, δ_J), δ_J = 1e-10 m² s⁻³ (a heat
                                       loss of ~0.2 W m⁻²; Jᵇ is forcing, not state)
=====================================  ========================================================

Why this side and this width (measured; docs/calibration.md has the tables):

* A convecting CATKE layer has tiny |N²| ≈ Jᵇ/κ: −6e-8 s⁻² at the top of a 100 W m⁻² free
  convection layer (κ ≈ 0.7 m² s⁻¹) down to −3e-9 at its base.  A blend on the convecting side
  (N² ∈ [−δ, 0], the first version) of any width that helps (≳ 1e-7) therefore switches
  convection off in much of the layer (the entrainment and convective TKE/dissipation lengths
  lost all sensitivity at δ = 1e-7 and 1e-6); a narrow one (1e-8) is steep and the column
  gradient test's finite differences disagreed with the adjoint by up to 0.9 %.
* On the stratified side the face that is about to be entrained loses its N² ≈ 2e-5 within a
  few steps; a blend over N² ∈ [0, δ] turns its convective length on over those steps instead
  of in one.  On the 1000-step column of tests/test_column_gradients.py (with 7 finite-
  difference steps per parameter) the worst adjoint-vs-FD error of the well-resolved
  parameters was 1.9e-4 (δ = 1e-8), 1.3e-5 (3e-8), **3.4e-6 (5e-8)**, 1.5e-3 (7e-8), 3.0e-6
  (1e-7, but then 6 parameters lose resolved sensitivity: the physics moves); forward vs
  reverse mode agrees to ≤ 4e-14 at 5e-8.  The non-monotone numbers say that the smooth loss
  still has steep stretches: 5e-8 passes that test, it is not a guarantee of smoothness at
  every scale.
* Physics: free convection, Pollard–Rhines–Thompson and the budgets stay inside the tests'
  tolerances (tests/test_column_physics.py; tests/test_closure_switches.py compares smooth and
  exact free convection).

Continuous kinks (the ramp clamp((Ri − CRi⁰)/CRiᵟ, 0, 1), max(0, 1 − Cˢᵖ …), max(σℓ, ℓʰ), the
``min`` caps, the TKE floor) are left exact.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp

from ..numerics.tridiagonal import tridiagonal_solve
from .base import AbstractClosure, ColumnContext, clip
from .switches import smooth_step

__all__ = ["CATKELike", "CATKE_DEFAULTS", "N2_SWITCH_WIDTH", "BUOYANCY_FLUX_SWITCH_WIDTH"]

#: reference widths of the smooth switches (times ``switch_width``)
N2_SWITCH_WIDTH = 5e-8  # s⁻²
BUOYANCY_FLUX_SWITCH_WIDTH = 1e-10  # m² s⁻³

CATKE_DEFAULTS = {
    # mixing length (CATKEMixingLength)
    "c_surface": 1.131,
    "c_bottom": 0.28,
    "c_shear_convection": 0.505,
    "c_ri_width": 1.02,
    "c_ri_threshold": 0.254,
    "c_hi_u": 0.242,
    "c_lo_u": 0.361,
    "c_un_u": 0.370,
    "c_conv_u": 3.705,
    "c_pen_u": 0.0,
    "c_hi_c": 0.098,
    "c_lo_c": 0.369,
    "c_un_c": 0.572,
    "c_conv_c": 4.793,
    "c_pen_c": 0.112,
    "c_hi_e": 0.548,
    "c_lo_e": 7.863,
    "c_un_e": 1.447,
    "c_conv_e": 3.642,
    "c_pen_e": 0.0,
    # TKE equation (CATKEEquation)
    "c_hi_d": 0.579,
    "c_lo_d": 1.604,
    "c_un_d": 0.923,
    "c_conv_d": 3.254,
    "c_pen_d": 0.0,
    "c_wind_ustar": 3.179,
    "c_wind_wdelta": 0.383,
}

OCEANANIGANS_NAMES = {
    "c_surface": "Cˢ", "c_bottom": "Cᵇ", "c_shear_convection": "Cˢᵖ", "c_ri_width": "CRiᵟ",
    "c_ri_threshold": "CRi⁰", "c_hi_u": "Cʰⁱu", "c_lo_u": "Cˡᵒu", "c_un_u": "Cᵘⁿu",
    "c_conv_u": "Cᶜu", "c_pen_u": "Cᵉu", "c_hi_c": "Cʰⁱc", "c_lo_c": "Cˡᵒc", "c_un_c": "Cᵘⁿc",
    "c_conv_c": "Cᶜc", "c_pen_c": "Cᵉc", "c_hi_e": "Cʰⁱe", "c_lo_e": "Cˡᵒe", "c_un_e": "Cᵘⁿe",
    "c_conv_e": "Cᶜe", "c_pen_e": "Cᵉe", "c_hi_d": "CʰⁱD", "c_lo_d": "CˡᵒD", "c_un_d": "CᵘⁿD",
    "c_conv_d": "CᶜD", "c_pen_d": "CᵉD", "c_wind_ustar": "Cᵂu★", "c_wind_wdelta": "CᵂwΔ",
    "minimum_tke": "minimum_tke",
    "minimum_convective_buoyancy_flux": "minimum_convective_buoyancy_flux",
}

_DESCRIPTIONS = {
    "c_surface": "surface distance coefficient of the stable length",
    "c_bottom": "bottom distance coefficient of the stable length",
    "c_shear_convection": "sheared-convection reduction of the convective length",
    "c_ri_width": "width of the Richardson-number stability function",
    "c_ri_threshold": "lower Richardson number of the stability function",
    "c_wind_ustar": "surface TKE flux coefficient for u★³",
    "c_wind_wdelta": "surface TKE flux coefficient for wΔ³",
}
for _f, _name in (("u", "momentum"), ("c", "tracers"), ("e", "TKE"), ("d", "dissipation")):
    _DESCRIPTIONS[f"c_hi_{_f}"] = f"{_name} shear length coefficient at high Ri"
    _DESCRIPTIONS[f"c_lo_{_f}"] = f"{_name} shear length coefficient at low Ri"
    _DESCRIPTIONS[f"c_un_{_f}"] = f"{_name} shear length coefficient at negative Ri"
    _DESCRIPTIONS[f"c_conv_{_f}"] = f"{_name} convective length coefficient"
    _DESCRIPTIONS[f"c_pen_{_f}"] = f"{_name} penetration (entrainment) length coefficient"


class CATKELike(AbstractClosure):
    """CATKE-like closure; see the module docstring for equations and the name mapping.

    ``switch_width`` (static, dimensionless, default 1; 0 = the exact switches): width of the
    smooth regime switches as a multiple of the reference widths in the module docstring (1 =
    δ_N = 5e-8 s⁻², one-sided into N² > 0, and δ_J = 1e-10 m² s⁻³).
    """

    c_surface: float = CATKE_DEFAULTS["c_surface"]
    c_bottom: float = CATKE_DEFAULTS["c_bottom"]
    c_shear_convection: float = CATKE_DEFAULTS["c_shear_convection"]
    c_ri_width: float = CATKE_DEFAULTS["c_ri_width"]
    c_ri_threshold: float = CATKE_DEFAULTS["c_ri_threshold"]
    c_hi_u: float = CATKE_DEFAULTS["c_hi_u"]
    c_lo_u: float = CATKE_DEFAULTS["c_lo_u"]
    c_un_u: float = CATKE_DEFAULTS["c_un_u"]
    c_conv_u: float = CATKE_DEFAULTS["c_conv_u"]
    c_pen_u: float = CATKE_DEFAULTS["c_pen_u"]
    c_hi_c: float = CATKE_DEFAULTS["c_hi_c"]
    c_lo_c: float = CATKE_DEFAULTS["c_lo_c"]
    c_un_c: float = CATKE_DEFAULTS["c_un_c"]
    c_conv_c: float = CATKE_DEFAULTS["c_conv_c"]
    c_pen_c: float = CATKE_DEFAULTS["c_pen_c"]
    c_hi_e: float = CATKE_DEFAULTS["c_hi_e"]
    c_lo_e: float = CATKE_DEFAULTS["c_lo_e"]
    c_un_e: float = CATKE_DEFAULTS["c_un_e"]
    c_conv_e: float = CATKE_DEFAULTS["c_conv_e"]
    c_pen_e: float = CATKE_DEFAULTS["c_pen_e"]
    c_hi_d: float = CATKE_DEFAULTS["c_hi_d"]
    c_lo_d: float = CATKE_DEFAULTS["c_lo_d"]
    c_un_d: float = CATKE_DEFAULTS["c_un_d"]
    c_conv_d: float = CATKE_DEFAULTS["c_conv_d"]
    c_pen_d: float = CATKE_DEFAULTS["c_pen_d"]
    c_wind_ustar: float = CATKE_DEFAULTS["c_wind_ustar"]
    c_wind_wdelta: float = CATKE_DEFAULTS["c_wind_wdelta"]
    minimum_tke: float = 1e-9
    minimum_convective_buoyancy_flux: float = 1e-11
    switch_width: float = eqx.field(static=True, default=1.0)

    def __post_init__(self):
        object.__setattr__(self, "has_tke", True)

    def __check_init__(self):
        if not (self.switch_width >= 0 and math.isfinite(self.switch_width)):
            raise ValueError(f"switch_width = {self.switch_width} must be a finite number >= 0 "
                             "(0 = exact regime switches; 1 = the reference smooth ones, the default)")

    # -- smooth switches (module docstring) --------------------------------------------
    def _convecting(self, n2):
        """Weight of the convective regime: 1 where N² ≤ 0, 0 where N² ≥ δ_N, C∞ between."""
        return 1.0 - smooth_step(n2, N2_SWITCH_WIDTH * self.switch_width)

    # -- pieces ------------------------------------------------------------------------
    def _stability(self, n2, ri, c_un, c_lo, c_hi):
        positive = c_lo + (c_hi - c_lo) * jnp.clip((ri - self.c_ri_threshold) / self.c_ri_width, 0.0, 1.0)
        if self.switch_width == 0:
            return jnp.where(ri < 0, c_un, positive)
        return positive + (c_un - positive) * self._convecting(n2)

    def _stable_length(self, depth, height, w, n2):
        d = jnp.minimum(self.c_surface * depth, self.c_bottom * height)
        n2p = clip(n2)
        stratified = n2p > 0
        l_n = jnp.where(stratified, w / jnp.sqrt(jnp.where(stratified, n2p, 1.0)), jnp.inf)
        return jnp.minimum(d, l_n)

    def _convective_length(self, c_conv, c_pen, depth, w, w3, s2, n2, n2_above, jb):
        jbe = self.minimum_convective_buoyancy_flux
        if self.switch_width == 0:
            l_conv = c_conv * w3 / (jb + jbe)
            flux_ri = depth * w * s2 / (jb + jbe)
            l_conv = clip((1 - self.c_shear_convection * flux_ri) * l_conv)
            l_pen = c_pen * jb / (w * n2 + jbe)
            convecting = (jb > jbe) & (n2 < 0)
            entraining = (jb > jbe) & (n2 > 0) & (n2_above < 0)
            return jnp.where(convecting, l_conv, jnp.where(entraining, l_pen, 0.0))
        # blended: every branch is evaluated where it is finite (Jᵇ⁺ and N²⁺ in the
        # denominators: equal to Jᵇ, N² wherever the exact form uses the branch)
        jb_pos = clip(jb)
        l_conv = c_conv * w3 / (jb_pos + jbe)
        flux_ri = depth * w * s2 / (jb_pos + jbe)
        l_conv = clip((1 - self.c_shear_convection * flux_ri) * l_conv)
        l_pen = c_pen * jb_pos / (w * clip(n2) + jbe)
        losing = smooth_step(jb - jbe, BUOYANCY_FLUX_SWITCH_WIDTH * self.switch_width)
        convecting = self._convecting(n2)
        # stratified here (1 − convecting: 0 at N² ≤ 0, 1 from N² = δ_N on) under a convecting face
        entraining = (1.0 - convecting) * self._convecting(n2_above)
        return losing * (convecting * l_conv + entraining * l_pen)

    def _face_quantities(self, ctx: ColumnContext):
        e = jnp.maximum(ctx.tke, self.minimum_tke)
        w_c = jnp.sqrt(e)
        w = 0.5 * (w_c[1:] + w_c[:-1])
        w3 = 0.5 * (w_c[1:] ** 3 + w_c[:-1] ** 3)
        depth = -ctx.z_faces_interior
        height = ctx.z_faces_interior + ctx.depth
        n2 = ctx.buoyancy_frequency_squared
        s2 = ctx.shear_squared
        ri = _richardson(n2, s2)
        n2_above = jnp.concatenate([n2[1:], jnp.zeros(1, n2.dtype)])
        l_stable = self._stable_length(depth, height, w, n2)
        return dict(w=w, w3=w3, depth=depth, n2=n2, s2=s2, ri=ri, n2_above=n2_above,
                    l_stable=l_stable)

    def _length(self, q, jb, c_un, c_lo, c_hi, c_conv, c_pen, depth_total):
        sigma = self._stability(q["n2"], q["ri"], c_un, c_lo, c_hi)
        l_star = sigma * q["l_stable"]
        l_h = self._convective_length(
            c_conv, c_pen, q["depth"], q["w"], q["w3"], q["s2"], q["n2"], q["n2_above"], jb
        )
        return jnp.minimum(depth_total, jnp.maximum(l_star, l_h))

    def mixing_lengths(self, ctx: ColumnContext):
        """Mixing lengths (ℓ_u, ℓ_c, ℓ_e) at interior faces (m) and w★ there (m s⁻¹).

        The three fields are computed together as one ``(3, nz - 1)`` array (coefficients
        broadcast along the first axis), which keeps the compiled step — and its adjoint — small.
        """
        q = self._face_quantities(ctx)
        jb = ctx.surface_buoyancy_flux

        def stack(*names):
            return jnp.stack([jnp.asarray(getattr(self, n), dtype=float) for n in names])[:, None]

        lengths = self._length(
            q, jb,
            stack("c_un_u", "c_un_c", "c_un_e"),
            stack("c_lo_u", "c_lo_c", "c_lo_e"),
            stack("c_hi_u", "c_hi_c", "c_hi_e"),
            stack("c_conv_u", "c_conv_c", "c_conv_e"),
            stack("c_pen_u", "c_pen_c", "c_pen_e"),
            ctx.depth,
        )
        return lengths[0], lengths[1], lengths[2], q["w"]

    def diffusivities(self, ctx: ColumnContext):
        lu, lc, _, w = self.mixing_lengths(ctx)
        return lu * w, lc * w

    def dissipation_length(self, ctx: ColumnContext):
        """Dissipation length ℓ_D at cell centres (m)."""
        e = jnp.maximum(ctx.tke, self.minimum_tke)
        w = jnp.sqrt(e)
        n2 = _to_centres(ctx.buoyancy_frequency_squared)
        s2 = _to_centres(ctx.shear_squared)
        n2_above = jnp.concatenate([n2[1:], jnp.zeros(1, n2.dtype)])
        depth = -ctx.z_centers
        height = ctx.z_centers + ctx.depth
        ri = _richardson(n2, s2)
        sigma = self._stability(n2, ri, self.c_un_d, self.c_lo_d, self.c_hi_d)
        l_star = self._stable_length(depth, height, w, n2) / sigma
        l_h = self._convective_length(
            self.c_conv_d, self.c_pen_d, depth, w, w**3, s2, n2, n2_above,
            ctx.surface_buoyancy_flux,
        )
        return jnp.minimum(ctx.depth, jnp.maximum(l_star, l_h))

    def tke_system(self, ctx: ColumnContext, viscosity, diffusivity, dt: float):
        """Backward-Euler system of the TKE equation: ``(lower, diag, upper, rhs)``, each
        ``(nz,)``; its solution, clipped by :meth:`finish_tke`, is e at tⁿ⁺¹.  The column model
        solves it together with the T, S, u, v systems (one batched solve)."""
        e_old = jnp.maximum(ctx.tke, self.minimum_tke)
        _, _, le, w = self.mixing_lengths(ctx)
        kappa_e = le * w
        shear_production = _to_centres(viscosity * ctx.shear_squared)
        buoyancy_flux = _to_centres(-diffusivity * ctx.buoyancy_frequency_squared)
        source = shear_production + clip(buoyancy_flux)
        sink_rate = jnp.sqrt(e_old) / self.dissipation_length(ctx) + clip(-buoyancy_flux) / e_old
        jb = ctx.surface_buoyancy_flux
        w_delta3 = clip(jb) * ctx.dz_centers[-1]
        surface_flux_in = self.c_wind_ustar * ctx.friction_velocity**3 + self.c_wind_wdelta * w_delta3
        rhs = ctx.dz_centers * (e_old + dt * source)
        rhs = rhs.at[-1].add(dt * surface_flux_in)
        lower, diag, upper = diffusion_matrix(ctx.dz_centers, ctx.dz_faces, kappa_e, dt)
        diag = diag + dt * ctx.dz_centers * sink_rate
        return lower, diag, upper, rhs

    def finish_tke(self, e):
        """TKE after the solve, clipped at ``minimum_tke``."""
        return jnp.maximum(e, self.minimum_tke)

    def step_tke(self, ctx: ColumnContext, viscosity, diffusivity, dt: float):
        """Backward-Euler step of the TKE equation; returns e at centres ``(nz,)``."""
        return self.finish_tke(tridiagonal_solve(*self.tke_system(ctx, viscosity, diffusivity, dt)))

    @classmethod
    def parameter_specs(cls):
        specs = {}
        for name, default in CATKE_DEFAULTS.items():
            upper = max(10.0 * default, 1.0) if default > 0 else 1.0
            specs[name] = dict(
                lower=0.0,
                upper=upper,
                units="1",
                description=f"{_DESCRIPTIONS[name]} ({OCEANANIGANS_NAMES[name]})",
            )
        specs["c_ri_width"]["lower"] = 1e-3
        for name in ("c_hi_d", "c_lo_d", "c_un_d"):  # ℓ★/σ_D: σ_D must stay positive
            specs[name]["lower"] = 1e-3
        specs["minimum_tke"] = dict(
            lower=1e-12, upper=1e-4, units="m2 s-2", description="minimum TKE e_min"
        )
        specs["minimum_convective_buoyancy_flux"] = dict(
            lower=1e-15, upper=1e-8, units="m2 s-3", description="Jᵇᵋ regularising Jᵇ"
        )
        return specs


def _richardson(n2, s2):
    small = s2 < 1e-20
    ri = n2 / jnp.where(small, 1.0, s2)
    return jnp.where(small, jnp.where(n2 > 0, 1e10, jnp.where(n2 < 0, -1e10, 0.0)), ri)


def _to_centres(face_values):
    """Average interior-face values ``(nz-1,)`` to centres ``(nz,)`` (edge cells take the
    single neighbouring face)."""
    padded = jnp.concatenate([face_values[:1], face_values, face_values[-1:]])
    return 0.5 * (padded[1:] + padded[:-1])


def diffusion_matrix(dz_centers, dz_faces, kappa_faces, dt):
    """Tridiagonal matrix of ``Δz (φⁿ⁺¹ - φⁿ) = Δt ∂z(κ ∂z φⁿ⁺¹) Δz`` with no-flux ends.

    ``kappa_faces`` may carry leading batch axes.  Returns ``(lower, diag, upper)``, each
    ``(..., nz)``; columns sum to ``Δz`` so the solve
    conserves ``Σ Δz φ`` exactly.
    """
    d = kappa_faces / dz_faces  # (..., nz-1)
    zero = jnp.zeros(d.shape[:-1] + (1,), d.dtype)
    d_up = jnp.concatenate([d, zero], axis=-1)
    d_down = jnp.concatenate([zero, d], axis=-1)
    lower = -dt * d_down
    upper = -dt * d_up
    diag = dz_centers + dt * (d_up + d_down)
    return lower, diag, upper
