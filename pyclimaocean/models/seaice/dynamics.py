"""Two-dimensional sea-ice dynamics on the basin C-grid: EVP rheology and ice advection.

Points (see :mod:`pyclimaocean.grids.cgrid`): ice velocities ``u`` at U and ``v`` at V
points; mean ice thickness ``h`` (ice volume per unit area, m), concentration ``A`` and mean
snow thickness ``hs`` (m) at T points; the internal stress components
``σ₁ = σ₁₁ + σ₂₂`` and ``σ₂ = σ₁₁ − σ₂₂`` at T points and ``σ₁₂`` at ζ points.
All fields are 2-D ``(ny, nx)``; float64; every function is pure and differentiable.

Momentum (per unit area; Hibler 1979, Hunke & Dukowicz 1997)::

    m ∂u/∂t = ∇·σ + A τ_a + A τ_w − m f k×u − m g ∇η,     m = ρ_i h + ρ_s h_s
    τ_w = ρ_o C_w |u_o − u|_ε R(θ) (u_o − u),           |x|_ε = sqrt(|x|² + ε²)

``R(θ)`` turns the water stress by the turning angle θ (counter-clockwise for θ > 0);
``|·|_ε`` is a smooth speed (ε = ``drag_speed_epsilon``) so that the drag is differentiable at
zero relative velocity.  Air and water stresses are weighted by the concentration (as in
CICE).  Coriolis uses the four-point C-grid average of the other component.  ``η`` is the
sea-surface height at T points (m), ``−m g ∇η`` at U/V points.

Rheology: viscous–plastic (Hibler 1979) with an elliptic yield curve of aspect ratio ``e``::

    P = P* h exp(−C (1 − A))                        ice strength (N m⁻¹)
    D_D = ε̇₁₁ + ε̇₂₂,  D_T = ε̇₁₁ − ε̇₂₂  (at T),  D_S = 2 ε̇₁₂  (at ζ)
    Δ² = D_D² + e⁻² (D_T² + D_S²),   Δ_r = sqrt(Δ² + Δ_min²),   Δ_s = sqrt(Δ² + δ²)
    ζ = P / (2 Δ_r),  η = ζ / e²,   P_r = P Δ_s / Δ_r   (replacement pressure)
    σ₁ = 2 ζ D_D − P_r,   σ₂ = 2 η D_T,   σ₁₂ = η D_S

``Δ_r = sqrt(Δ² + Δ_min²)`` replaces the usual ``max(Δ, Δ_min)`` (Hibler 1979; Kreyscher et al.
2000): it is smooth and bounded below by ``Δ_min``.  The replacement pressure of Kreyscher et
al. (``P Δ/Δ_r``) needs ``Δ = sqrt(Δ²)``, whose derivative is infinite at rest (reverse-mode
AD would give ``∞ · 0 = NaN`` for a run started from ``u = 0``); we use ``Δ_s = sqrt(Δ² + δ²)``
with a tiny ``δ = delta_rest`` (default ``10⁻⁶ Δ_min``).  ``dΔ_s/du = (Δ/Δ_s) dΔ/du`` is
bounded by ``dΔ/du`` and is 0 at rest, so gradients are finite and well conditioned.  Since
``Δ ≤ Δ_s ≤ Δ_r`` the stress stays inside the elliptic yield curve
``(σ₁ + P)² + e² (σ₂² + 4 σ₁₂²) ≤ P²`` (the normalised deviation from ``−P_r`` has length
``Δ/Δ_r ≤ P_r/P``), and it lies on the curve in the plastic regime ``Δ ≫ Δ_min``.  At rest
``P_r = P δ/Δ_min = 10⁻⁶ P``: the rheology is then rigid (ζ = P/(2Δ_min)), so unforced ice of
varying strength creeps at ~1e-9 m s⁻¹ (measured on the box test: 6e-10 m s⁻¹).
``D_S²`` at T points is the mean of the four surrounding ζ values; ``η`` at ζ points the mean of the four surrounding T values.
Walls: velocities on closed faces are 0 (``maskU``, ``maskV``).  The shear lives on an
extended ``(ny + 1, nx + 1)`` ζ grid that adds the south-row and west-column wall corners the
C-grid does not store.  ``walls="no_slip"`` (default; Hunke 2001, CICE): across a closed face
the tangential velocity has the ghost value −u of its wet neighbour, and every ζ point with at
least one wet T cell around it carries shear stress.  ``walls="free_slip"``: ``σ₁₂ = 0`` at ζ
points not surrounded by four wet T cells (the grid's ``maskZ`` convention).  The wall-row
ζ metrics are copied from the first stored row.  Metric (curvature) terms of the spherical grid are neglected.

Time stepping: backward Euler in time, solved by the modified EVP iteration (Bouillon et al.
2013; Kimmritz et al. 2015, 2016, 2017) with a STATIC number of substeps N (a fixed-length
``lax.scan``, reverse-mode differentiable)::

    σ^{p+1} = σ^p + (σ(u^p) − σ^p) / α
    β (u^{p+1} − u^p) = Δt/m [∇·σ^{p+1} + A τ_a + A τ_w(u^{p+1}) − m f k×u^p − m g ∇η]
                        + u^n − u^p

The ``cos θ`` part of the water drag is implicit in ``u^{p+1}`` (its magnitude lagged at
``u^p``); Coriolis and the turned part of the drag are explicit in the pseudo-time.  As
``N → ∞`` the iterate converges to the implicit viscous–plastic solution of the time step.
``scheme="mevp"`` uses constant α, β; ``scheme="aevp"`` the adaptive local
``α = β = sqrt(γ)``, ``γ = c_α ζ Δt / (m A_c)`` (Kimmritz et al. 2017, as ClimaSeaIce.jl,
with ``c_α = π²`` and ``A_c`` the cell area), clipped to ``[α_min, α_max]``.
``free_drift=True`` (or ``P* = 0``) drops the internal stress.

Mass: the ice mass in the momentum equation is ``m + ρ_i h_min`` (``h_min =
mass_floor_thickness``, 1 mm) so that ice-free points have a finite velocity; the advected
volume there is 0 so the floor carries no mass.

Advection of ``q ∈ {h, A, h_s}`` (flux form, forward Euler, closed basin: conserves
``Σ q areaT`` to round-off)::

    F_x = dy_U [u (q_W + q_E)/2 − |u|_ε (q_E − q_W)/2]     at U points (0 on closed faces)

This is first-order upwind with the smooth speed ``|u|_ε = sqrt(u² + ε_a²) ≥ |u|``: the
weights of the upwind and downwind values are ``(u ± |u|_ε)/2`` (≥ 0 and ≤ 0), so the update
is monotone and keeps ``q ≥ 0`` when ``Δt (|u|_ε/dx + |v|_ε/dy) ≤ 1`` (both faces of a cell).
The price of smoothness is a diffusivity ``≈ ε_a dx / 2`` at rest (1e-5 m s⁻¹ × 10 km / 2 =
0.05 m² s⁻¹, negligible).  After advection the concentration is capped at 1 (ridging keeps
the volume and removes area).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...grids.cgrid import CGrid
from ...params import ParameterSet
from .thermodynamics import parameters_from_table

jax.config.update("jax_enable_x64", True)

__all__ = [
    "IceDynamics",
    "IceDynamicsState",
    "IceDynamicsForcing",
    "advect_ice",
    "free_drift_velocity",
    "quadratic_air_stress",
    "SCHEMES",
    "WALLS",
]

#: EVP substepping schemes: constant (modified EVP) or adaptive α, β
SCHEMES = ("mevp", "aevp")
#: wall conditions for the shear: ghost velocity −u (no slip) or zero shear stress (free slip)
WALLS = ("no_slip", "free_slip")

GRAVITY = 9.81

#: (bounds, prior kind, spread, units, description, source) of each calibratable number
_PARAMETER_TABLE = {
    "ice_strength": ((5.0e3, 1.0e5), "lognormal", 0.5, "N m-2",
                     "ice strength per unit thickness P*", "Hibler (1979): 27 500"),
    "strength_decay": ((5.0, 40.0), "normal", 5.0, "1",
                       "exponential decay of strength with open water C", "Hibler (1979): 20"),
    "ellipse_ratio": ((1.2, 4.0), "normal", 0.5, "1",
                      "aspect ratio e of the elliptic yield curve", "Hibler (1979): 2"),
    "ocean_drag": ((1.0e-3, 2.0e-2), "lognormal", 0.5, "1",
                   "ice-ocean drag coefficient C_w",
                   "ClimaSeaIce 5.5e-3 (McPhee 1980 range 3e-3 to 1e-2)"),
}


class IceDynamicsState(eqx.Module):
    """Prognostic dynamic state (all ``(ny, nx)``).

    Attributes:
        u: ice velocity at U points (m s⁻¹).  v: at V points (m s⁻¹).
        h: mean ice thickness (ice volume per unit area) at T points (m).
        A: ice concentration at T points (1).
        hs: mean snow thickness (snow volume per unit area) at T points (m).
        sigma1: σ₁₁ + σ₂₂ at T points (N m⁻¹).  sigma2: σ₁₁ − σ₂₂ at T points (N m⁻¹).
        sigma12: σ₁₂ at ζ points (N m⁻¹), ``(ny + 1, nx + 1)``: the ζ points of the grid
            plus the (not stored by the grid) south row and west column on the walls, so that
            entry ``[j + 1, i + 1]`` is ζ point ``(j, i)``.  (Carried from step to step by the
            EVP iteration.)
    """

    u: jnp.ndarray
    v: jnp.ndarray
    h: jnp.ndarray
    A: jnp.ndarray
    hs: jnp.ndarray
    sigma1: jnp.ndarray
    sigma2: jnp.ndarray
    sigma12: jnp.ndarray

    @classmethod
    def at_rest(cls, grid: CGrid, h, A, hs=0.0) -> IceDynamicsState:
        """Ice at rest and unstressed with the given thickness, concentration and snow
        (scalars or ``(ny, nx)``; multiplied by the T mask)."""
        mT = grid.surface_mask("T")
        z = jnp.zeros((grid.ny, grid.nx))
        return cls(u=z, v=z, h=(z + h) * mT, A=(z + A) * mT, hs=(z + hs) * mT,
                   sigma1=z, sigma2=z, sigma12=jnp.zeros((grid.ny + 1, grid.nx + 1)))


class IceDynamicsForcing(eqx.Module):
    """External fields of one time step (all ``(ny, nx)``, broadcastable).

    Attributes:
        tau_x: air–ice stress at U points (N m⁻²).  tau_y: at V points (N m⁻²).
        ocean_u: surface ocean velocity at U points (m s⁻¹).  ocean_v: at V points.
        ssh: sea-surface height η at T points (m).
    """

    tau_x: jnp.ndarray
    tau_y: jnp.ndarray
    ocean_u: jnp.ndarray = 0.0
    ocean_v: jnp.ndarray = 0.0
    ssh: jnp.ndarray = 0.0


def quadratic_air_stress(wind_u, wind_v, air_density=1.3, drag=1.2e-3, epsilon=1e-3):
    """``ρ_a C_a |U_a|_ε U_a`` (N m⁻²) from the wind components given at the same points
    (m s⁻¹); defaults ρ_a = 1.3 kg m⁻³, C_a = 1.2e-3 (ClimaSeaIce ``SemiImplicitStress``)."""
    speed = jnp.sqrt(wind_u**2 + wind_v**2 + epsilon**2)
    return air_density * drag * speed * wind_u, air_density * drag * speed * wind_v


def _smooth_abs(x, eps):
    return jnp.sqrt(x * x + eps * eps)


def advect_ice(grid: CGrid, u, v, fields, dt, epsilon=1e-5):
    """One forward-Euler step of the smooth-upwind flux-form advection (module docstring) of
    each T-point field in ``fields`` (a tuple) by ``(u, v)`` (m s⁻¹) over ``dt`` (s).

    Conserves ``Σ q areaT`` exactly in a closed basin (fluxes through closed faces are 0);
    monotone under ``dt (|u|_ε/dx + |v|_ε/dy) ≤ 1``.
    """
    mU, mV, mT = grid.surface_mask("U"), grid.surface_mask("V"), grid.surface_mask("T")
    au = _smooth_abs(u, epsilon)
    av = _smooth_abs(v, epsilon)
    out = []
    for q in fields:
        qE = grid.shift(q, 1, 0, "T")
        qN = grid.shift(q, 0, 1, "T")
        fx = grid.dyU * 0.5 * (u * (q + qE) - au * (qE - q)) * mU
        fy = grid.dxV * 0.5 * (v * (q + qN) - av * (qN - q)) * mV
        out.append((q - dt * grid.divergence_flux(fx, fy) * grid.inv_areaT) * mT)
    return tuple(out)


def free_drift_velocity(tau, coriolis, mass, drag_coefficient, turning_angle=0.0,
                        ocean_velocity=0.0):
    """Analytic steady free drift (complex velocities ``u + i v``, m s⁻¹).

    Solves ``τ + c |U| e^{iθ} (−U) − i m f U = 0`` for the velocity relative to the ocean
    ``U = u − u_o`` (with the sea-surface tilt in geostrophic balance with ``u_o``, so that
    Coriolis acts on ``U``), ``c = ρ_o C_w``: with ``s = |U|``,
    ``|τ|² = s² [(c s cos θ)² + (c s sin θ + m f)²]`` is a quadratic in ``s²`` for ``θ = 0``
    and a quartic otherwise (largest real root, numpy); then
    ``U = τ / (c s e^{iθ} + i m f)``.  Host (numpy) function for tests and checks.
    """
    tau = complex(tau)
    c = float(drag_coefficient)
    mf = float(mass) * float(coriolis)
    ct, st = math.cos(turning_angle), math.sin(turning_angle)
    # c² s⁴ + 2 c st mf s³ + mf² s² − |τ|² = 0
    roots = np.roots([c * c, 2 * c * st * mf, mf * mf, 0.0, -abs(tau) ** 2])
    real = [r.real for r in roots if abs(r.imag) < 1e-9 * max(1.0, abs(r)) and r.real > 0]
    s = max(real)
    rel = tau / (c * s * complex(ct, st) + 1j * mf)
    return rel + complex(ocean_velocity)


class IceDynamics(eqx.Module):
    """Sea-ice momentum (EVP rheology) and advection on a :class:`~pyclimaocean.grids.CGrid`.

    Float fields are pytree leaves; the calibratable ones (``ice_strength``,
    ``strength_decay``, ``ellipse_ratio``, ``ocean_drag``) are listed with bounds, priors
    and units by :meth:`parameters` (apply with :meth:`ParameterSet.apply`).

    Attributes:
        grid: the basin C-grid (only its surface level is used).
        ice_strength: P* (N m⁻²), Hibler 1979: 27 500.
        strength_decay: C (1), 20.  ellipse_ratio: e (1), 2.
        ocean_drag: C_w (1), 5.5e-3.  turning_angle: θ (rad), 0.
        ice_density, snow_density, ocean_density: ρ_i, ρ_s, ρ_o (kg m⁻³).
        gravity: g (m s⁻²).
        delta_min: Δ_min (s⁻¹), 2e-9 (ClimaSeaIce).
        delta_rest: δ of the smooth ``Δ_s`` in the replacement pressure (s⁻¹), 2e-15.
        drag_speed_epsilon: ε of the smooth relative speed in the water drag (m s⁻¹).
        advection_epsilon: ε_a of the smooth upwind speed (m s⁻¹).
        mass_floor_thickness: h_min of the mass floor (m).
        substeps: number N of EVP substeps per time step (static).
        scheme: ``"mevp"`` or ``"aevp"`` (static).
        alpha, beta: constant mEVP relaxation α, β (static; ``"mevp"``).
        alpha_min, alpha_max, c_alpha: bounds and constant of the adaptive α (static).
        free_drift: drop the internal stress (static).
        walls: ``"no_slip"`` (default) or ``"free_slip"`` (static; module docstring).
        max_concentration: cap of A after advection (1).
    """

    grid: CGrid
    ice_strength: float = 27500.0
    strength_decay: float = 20.0
    ellipse_ratio: float = 2.0
    ocean_drag: float = 5.5e-3
    turning_angle: float = 0.0
    ice_density: float = 900.0
    snow_density: float = 330.0
    ocean_density: float = 1026.0
    gravity: float = GRAVITY
    delta_min: float = 2.0e-9
    delta_rest: float = 2.0e-15
    drag_speed_epsilon: float = 1.0e-4
    advection_epsilon: float = 1.0e-5
    mass_floor_thickness: float = 1.0e-3
    max_concentration: float = 1.0
    substeps: int = eqx.field(static=True, default=120)
    scheme: str = eqx.field(static=True, default="mevp")
    alpha: float = eqx.field(static=True, default=300.0)
    beta: float = eqx.field(static=True, default=300.0)
    alpha_min: float = eqx.field(static=True, default=50.0)
    alpha_max: float = eqx.field(static=True, default=300.0)
    c_alpha: float = eqx.field(static=True, default=math.pi**2)
    free_drift: bool = eqx.field(static=True, default=False)
    walls: str = eqx.field(static=True, default="no_slip")

    def __check_init__(self):
        if self.walls not in WALLS:
            raise ValueError(f"walls = {self.walls!r}; accepted: {', '.join(WALLS)}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme = {self.scheme!r}; accepted: {', '.join(SCHEMES)}")
        if not (isinstance(self.substeps, int) and self.substeps >= 1):
            raise ValueError(f"substeps = {self.substeps!r} must be an int >= 1")
        if not (0 < self.delta_rest <= self.delta_min):
            raise ValueError(f"need 0 < delta_rest <= delta_min (s⁻¹), got {self.delta_rest}, "
                             f"{self.delta_min}")
        if not (self.alpha >= 1 and self.beta >= 1 and 1 <= self.alpha_min <= self.alpha_max):
            raise ValueError("EVP relaxation constants must satisfy alpha, beta >= 1 and "
                             f"1 <= alpha_min <= alpha_max (got alpha={self.alpha}, "
                             f"beta={self.beta}, alpha_min={self.alpha_min}, "
                             f"alpha_max={self.alpha_max})")

    # -- parameters --------------------------------------------------------------------------
    def parameters(self, prefix: str = "") -> ParameterSet:
        """The calibratable numbers (P*, C, e, C_w) with bounds, priors centred on the current
        values, units and sources; names are ``prefix + field``."""
        return parameters_from_table(self, _PARAMETER_TABLE, prefix)

    # -- diagnostics ---------------------------------------------------------------------------
    def strength(self, h, A):
        """Hibler (1979) ice strength ``P = P* h exp(−C (1 − A))`` at T points (N m⁻¹)."""
        return self.ice_strength * h * jnp.exp(-self.strength_decay * (1.0 - A))

    def mass(self, state: IceDynamicsState):
        """Ice + snow mass per unit area at T points (kg m⁻²)."""
        return self.ice_density * state.h + self.snow_density * state.hs

    def _to_z(self, a_T):
        """``(mean, count)`` of a T-point field over the wet T cells around each ζ point of
        the extended ``(ny + 1, nx + 1)`` ζ grid (mean 0 where no cell is wet)."""
        g = self.grid
        pm = g.fill_halo(g.surface_mask("T"), 1, "T")
        pa = g.fill_halo(a_T, 1, "T") * pm
        ny, nx = g.ny, g.nx

        def corners(p):
            return (p[0:ny + 1, 0:nx + 1] + p[1:ny + 2, 0:nx + 1] + p[0:ny + 1, 1:nx + 2]
                    + p[1:ny + 2, 1:nx + 2])

        count = corners(pm)
        return corners(pa) / jnp.maximum(count, 1.0), count

    def _z_active(self):
        """``(ny + 1, nx + 1)`` 0/1: ζ points that carry shear stress: all four T cells wet
        (free slip) or at least one (no slip)."""
        _, count = self._to_z(jnp.zeros((self.grid.ny, self.grid.nx)))
        return (count > 3.5 if self.walls == "free_slip" else count > 0.5).astype(float)

    def strain_rates(self, u, v):
        """``(D_D, D_T, D_S)``: divergence and tension at T, shear ``2 ε̇₁₂`` at the ζ points
        of the extended ``(ny + 1, nx + 1)`` grid (s⁻¹).  No slip: across a closed face the
        velocity has the ghost value −u of the wet neighbour (u = 0 on the wall)."""
        g = self.grid
        mU, mV = g.surface_mask("U"), g.surface_mask("V")
        u = u * mU
        v = v * mV
        mT = g.surface_mask("T")
        e11 = g.dx_minus(u, "U") * g.inv_dxT
        e22 = g.dy_minus(v, "V") * g.inv_dyT
        ny, nx = g.ny, g.nx
        pu, pmu = g.fill_halo(u, 1, "U"), g.fill_halo(mU, 1, "U")
        pv, pmv = g.fill_halo(v, 1, "V"), g.fill_halo(mV, 1, "V")
        # ∂u/∂y: U(j, i) and U(j + 1, i) around ζ(j, i); ∂v/∂x: V(j, i) and V(j, i + 1)
        a, b = pu[0:ny + 1, 0:nx + 1], pu[1:ny + 2, 0:nx + 1]
        ma, mb = pmu[0:ny + 1, 0:nx + 1], pmu[1:ny + 2, 0:nx + 1]
        c, d = pv[0:ny + 1, 0:nx + 1], pv[0:ny + 1, 1:nx + 2]
        mc, md = pmv[0:ny + 1, 0:nx + 1], pmv[0:ny + 1, 1:nx + 2]
        if self.walls == "no_slip":
            a, b = a - (1 - ma) * b, b - (1 - mb) * a
            c, d = c - (1 - mc) * d, d - (1 - md) * c
        dy = jnp.pad(g.dyZ, ((1, 0), (1, 0)), mode="edge")
        dx = jnp.pad(g.dxZ, ((1, 0), (1, 0)), mode="edge")
        shear = ((b - a) / dy + (d - c) / dx) * self._z_active()
        return (e11 + e22) * mT, (e11 - e22) * mT, shear

    def viscosities(self, u, v, P):
        """``(ζ, η_T, η_Z, P_r, Δ²)`` from the strain rates of ``(u, v)`` and the strength P
        (module docstring; ζ, η in kg s⁻¹, P_r in N m⁻¹)."""
        g = self.grid
        dd, dt_, ds = self.strain_rates(u, v)
        s2 = ds * ds
        ds2_T = 0.25 * (s2[1:, 1:] + s2[:-1, 1:] + s2[1:, :-1] + s2[:-1, :-1])  # 4 corners
        e2 = self.ellipse_ratio**2
        delta2 = dd * dd + (dt_ * dt_ + ds2_T) / e2
        delta_r2 = delta2 + self.delta_min**2
        zeta = P / (2.0 * jnp.sqrt(delta_r2))
        eta_T = zeta / e2
        mT = g.surface_mask("T")
        eta_Z = self._to_z(eta_T * mT)[0] * self._z_active()
        p_r = P * jnp.sqrt((delta2 + self.delta_rest**2) / delta_r2)
        return zeta, eta_T, eta_Z, p_r, (dd, dt_, ds)

    def stress_divergence(self, sigma1, sigma2, sigma12):
        """``(∇·σ)_x`` at U and ``(∇·σ)_y`` at V points (N m⁻²)."""
        g = self.grid
        s11 = 0.5 * (sigma1 + sigma2)
        s22 = 0.5 * (sigma1 - sigma2)
        s12 = sigma12
        fx = (g.dx_plus(s11, "T") * g.inv_dxU + (s12[1:, 1:] - s12[:-1, 1:]) * g.inv_dyU)
        fy = ((s12[1:, 1:] - s12[1:, :-1]) * g.inv_dxV + g.dy_plus(s22, "T") * g.inv_dyV)
        return fx * g.surface_mask("U"), fy * g.surface_mask("V")

    # -- time stepping --------------------------------------------------------------------------
    def momentum(self, state: IceDynamicsState, forcing: IceDynamicsForcing, dt: float,
                 return_history: bool = False):
        """Velocities and stresses after one time step ``dt`` (s) of ``substeps`` EVP
        iterations (h, A, hs unchanged).  With ``return_history`` also the iterates
        ``(u_p, v_p)``, each ``(N, ny, nx)`` (for convergence studies)."""
        g = self.grid
        mU, mV, mT = g.surface_mask("U"), g.surface_mask("V"), g.surface_mask("T")
        z = jnp.zeros((g.ny, g.nx))
        m_T = (self.mass(state) + self.ice_density * self.mass_floor_thickness) * mT
        m_U = g.ax_plus(m_T, "T") * mU + (1 - mU)  # 1 on land: never divided by 0
        m_T = m_T + (1 - mT)
        m_V = g.ay_plus(m_T, "T") * mV + (1 - mV)
        A = state.A
        A_U = g.ax_plus(A, "T") * mU
        A_V = g.ay_plus(A, "T") * mV
        P = self.strength(state.h, A) * mT
        uo = (z + forcing.ocean_u) * mU
        vo = (z + forcing.ocean_v) * mV
        ssh = (z + forcing.ssh) * mT
        # explicit forcing: wind and sea-surface tilt
        fx0 = A_U * (z + forcing.tau_x) - m_U * self.gravity * g.dx_plus(ssh, "T") * g.inv_dxU
        fy0 = A_V * (z + forcing.tau_y) - m_V * self.gravity * g.dy_plus(ssh, "T") * g.inv_dyV
        rho_cw = self.ocean_density * self.ocean_drag
        cos_t, sin_t = jnp.cos(self.turning_angle), jnp.sin(self.turning_angle)
        un, vn = state.u * mU, state.v * mV
        cell = g.areaT

        def to_U(a_V):  # four-point average V -> U
            return g.ay_minus(g.ax_plus(a_V, "V"), "Z")

        def to_V(a_U):  # four-point average U -> V
            return g.ay_plus(g.ax_minus(a_U, "U"), "T")

        def substep(carry, _):
            u, v, s1, s2, s12 = carry
            if self.free_drift:
                s1n, s2n, s12n = s1, s2, s12
                alpha_T = self.alpha
                beta_U = beta_V = self.beta
            else:
                zeta, eta_T, eta_Z, p_r, (dd, dtn, ds) = self.viscosities(u, v, P)
                if self.scheme == "aevp":
                    gamma = self.c_alpha * zeta * dt / (m_T * cell)
                    alpha_T = jnp.clip(jnp.sqrt(gamma), self.alpha_min, self.alpha_max)
                    a_z, count = self._to_z(alpha_T)
                    alpha_Z = jnp.where(count > 0.5, a_z, self.alpha_max)
                    beta_U = g.ax_plus(alpha_T, "T")
                    beta_V = g.ay_plus(alpha_T, "T")
                else:
                    alpha_T = alpha_Z = self.alpha
                    beta_U = beta_V = self.beta
                s1n = (s1 + (2 * zeta * dd - p_r - s1) / alpha_T) * mT
                s2n = (s2 + (2 * eta_T * dtn - s2) / alpha_T) * mT
                s12n = (s12 + (eta_Z * ds - s12) / alpha_Z) * self._z_active()
            if self.free_drift:
                div_x = div_y = z
            else:
                div_x, div_y = self.stress_divergence(s1n, s2n, s12n)
            du_rel, dv_rel = uo - u, vo - v
            dv_at_U, du_at_V = to_U(dv_rel), to_V(du_rel)
            cU = rho_cw * A_U * jnp.sqrt(du_rel**2 + dv_at_U**2 + self.drag_speed_epsilon**2)
            cV = rho_cw * A_V * jnp.sqrt(dv_rel**2 + du_at_V**2 + self.drag_speed_epsilon**2)
            rhs_u = (div_x + fx0 + m_U * g.fU * to_U(v) - cU * sin_t * dv_at_U
                     + cU * cos_t * uo)
            rhs_v = (div_y + fy0 - m_V * g.fV * to_V(u) + cV * sin_t * du_at_V
                     + cV * cos_t * vo)
            u_new = ((beta_U * m_U / dt) * u + (m_U / dt) * (un - u) + rhs_u) / (
                beta_U * m_U / dt + cU * cos_t) * mU
            v_new = ((beta_V * m_V / dt) * v + (m_V / dt) * (vn - v) + rhs_v) / (
                beta_V * m_V / dt + cV * cos_t) * mV
            return (u_new, v_new, s1n, s2n, s12n), ((u_new, v_new) if return_history else None)

        init = (un, vn, state.sigma1, state.sigma2, state.sigma12)
        (u, v, s1, s2, s12), hist = jax.lax.scan(substep, init, None, length=self.substeps)
        new = eqx.tree_at(lambda s: (s.u, s.v, s.sigma1, s.sigma2, s.sigma12), state,
                          (u, v, s1, s2, s12))
        return (new, hist) if return_history else new

    def vp_residual(self, state: IceDynamicsState, u, v, forcing: IceDynamicsForcing,
                    dt: float):
        """Residual ``(r_x at U, r_y at V)`` (N m⁻²) of the backward-Euler viscous–plastic
        momentum equation of one step from ``state`` evaluated at ``(u, v)``:
        ``r = ∇·σ(u) + A τ_a + A τ_w(u) − m f k×u − m g ∇η − m (u − u^n)/Δt``, with the
        stress ``σ(u)`` of the (regularised) VP rheology, i.e. the fixed point the EVP
        iteration converges to.  A measure of EVP convergence."""
        g = self.grid
        mU, mV, mT = g.surface_mask("U"), g.surface_mask("V"), g.surface_mask("T")
        z = jnp.zeros((g.ny, g.nx))
        u, v = u * mU, v * mV
        m_T = (self.mass(state) + self.ice_density * self.mass_floor_thickness) * mT
        m_U, m_V = g.ax_plus(m_T, "T") * mU, g.ay_plus(m_T, "T") * mV
        A_U, A_V = g.ax_plus(state.A, "T") * mU, g.ay_plus(state.A, "T") * mV
        ssh = (z + forcing.ssh) * mT
        if self.free_drift:
            div_x = div_y = z
        else:
            P = self.strength(state.h, state.A) * mT
            zeta, eta_T, eta_Z, p_r, (dd, dtn, ds) = self.viscosities(u, v, P)
            div_x, div_y = self.stress_divergence((2 * zeta * dd - p_r) * mT,
                                                  2 * eta_T * dtn * mT,
                                                  eta_Z * ds)
        uo, vo = (z + forcing.ocean_u) * mU, (z + forcing.ocean_v) * mV
        du, dv = uo - u, vo - v
        dv_U = g.ay_minus(g.ax_plus(dv, "V"), "Z")
        du_V = g.ay_plus(g.ax_minus(du, "U"), "T")
        rho_cw = self.ocean_density * self.ocean_drag
        cU = rho_cw * A_U * jnp.sqrt(du**2 + dv_U**2 + self.drag_speed_epsilon**2)
        cV = rho_cw * A_V * jnp.sqrt(dv**2 + du_V**2 + self.drag_speed_epsilon**2)
        ct, st = jnp.cos(self.turning_angle), jnp.sin(self.turning_angle)
        v_U = g.ay_minus(g.ax_plus(v, "V"), "Z")
        u_V = g.ay_plus(g.ax_minus(u, "U"), "T")
        rx = (div_x + A_U * (z + forcing.tau_x) + cU * (ct * du - st * dv_U) + m_U * g.fU * v_U
              - m_U * self.gravity * g.dx_plus(ssh, "T") * g.inv_dxU
              - m_U * (u - state.u * mU) / dt)
        ry = (div_y + A_V * (z + forcing.tau_y) + cV * (st * du_V + ct * dv) - m_V * g.fV * u_V
              - m_V * self.gravity * g.dy_plus(ssh, "T") * g.inv_dyV
              - m_V * (v - state.v * mV) / dt)
        return rx * mU, ry * mV

    def ice_ocean_stress(self, state: IceDynamicsState, forcing: IceDynamicsForcing):
        """Stress of the ice on the ocean, ``(x at U, y at V)`` (N m⁻²): minus the water
        stress on the ice, ``A ρ_o C_w |u − u_o|_ε R(θ) (u − u_o)`` (the momentum flux a
        coupled ocean receives under the ice fraction)."""
        g = self.grid
        mU, mV = g.surface_mask("U"), g.surface_mask("V")
        z = jnp.zeros((g.ny, g.nx))
        du = (state.u - forcing.ocean_u - z) * mU
        dv = (state.v - forcing.ocean_v - z) * mV
        dv_U = g.ay_minus(g.ax_plus(dv, "V"), "Z")
        du_V = g.ay_plus(g.ax_minus(du, "U"), "T")
        rho_cw = self.ocean_density * self.ocean_drag
        cU = rho_cw * g.ax_plus(state.A, "T") * jnp.sqrt(du**2 + dv_U**2
                                                         + self.drag_speed_epsilon**2)
        cV = rho_cw * g.ay_plus(state.A, "T") * jnp.sqrt(dv**2 + du_V**2
                                                         + self.drag_speed_epsilon**2)
        ct, st = jnp.cos(self.turning_angle), jnp.sin(self.turning_angle)
        return cU * (ct * du - st * dv_U) * mU, cV * (st * du_V + ct * dv) * mV

    def advect(self, state: IceDynamicsState, dt: float) -> IceDynamicsState:
        """``h``, ``A`` and ``hs`` advected by the state's velocities over ``dt`` (s), then
        ``A`` capped at ``max_concentration`` (ridging)."""
        h, A, hs = advect_ice(self.grid, state.u, state.v, (state.h, state.A, state.hs), dt,
                              self.advection_epsilon)
        A = jnp.minimum(A, self.max_concentration)
        return eqx.tree_at(lambda s: (s.h, s.A, s.hs), state, (h, A, hs))

    def step(self, state: IceDynamicsState, forcing: IceDynamicsForcing,
             dt: float) -> IceDynamicsState:
        """One time step: EVP momentum, then advection with the new velocities."""
        return self.advect(self.momentum(state, forcing, dt), dt)
