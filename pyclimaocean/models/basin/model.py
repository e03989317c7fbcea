"""Hydrostatic Boussinesq primitive-equation ocean on a C-grid: :class:`BasinModel`.

Equations (z-levels, linear free surface, rigid cell thicknesses)::

    ∂u/∂t = −(f + ζ) k×u − ∇K − w ∂u/∂z − ∇p − g ∇η + F_h(u) + ∂z(ν ∂z u) + drag + wind
    ∂p/∂z = b(T, S, z),   ∇·u + ∂w/∂z = 0,   ∂η/∂t = −∇·∫u dz
    ∂φ/∂t = −∇·(u φ) + ∇·(κ_h ∇φ) + ∂z(κ_v ∂z φ) + surface restoring / fluxes   (φ = T, S)

with the kernels of :mod:`~pyclimaocean.models.basin.kernels` on a
:class:`~pyclimaocean.grids.CGrid`.

One step (the order of Oceananigans' ``HydrostaticFreeSurfaceModel`` AB2 step):

1. explicit tendencies ``G^n`` of u, v, T, S at time n (everything except ``−g∇η`` and the
   implicit vertical mixing), among them the surface momentum flux and the bottom drag;
2. quasi-second-order Adams–Bashforth: ``G* = (3/2 + χ) G^n − (1/2 + χ) G^{n−1}``
   (χ = 0.1, Oceananigans' default; forward Euler on the first step);
3. barotropic substeps (:mod:`~pyclimaocean.models.basin.timestepping`) forced by ``∫G*_u dz``,
   giving the filtered ``η^{n+1}``, ``U^{n+1}``, ``V^{n+1}``;
4. ``u* = u^n + Δt G*``, then implicit vertical viscosity (``tridiagonal_solve``);
5. barotropic correction ``u^{n+1} = u* + (U^{n+1} − ∫u* dz) / h_U``, so the depth integral
   of u equals the filtered transport (the surface-pressure gradient is depth independent);
6. tracers: ``φ* = φ^n + Δt G*_φ``, then implicit vertical diffusion.

``time_stepper = "rk3"`` replaces 2–6 by the low-storage split RK3 of Wicker & Skamarock
(2002) (Oceananigans' ``SplitRungeKuttaTimeStepper``): three stages with steps Δt/3, Δt/2,
Δt from the state at ``n``, each with its own barotropic substeps and corrections; three
tendency evaluations per step, no history, and no growth of inertial oscillations beyond
RK3's.

Differentiability: every float of the physics (viscosities, diffusivities, drag, wind and
restoring amplitudes, equation-of-state coefficients, initial fields) is a pytree leaf;
grid sizes, the substep count and the schemes are static; masks multiply, never branch; all
loops are fixed-length scans; no division can meet zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...grids import CGrid
from ...numerics.tridiagonal import tridiagonal_solve
from ...params import Parameter, ParameterSet, Prior
from ...physics.constants import GRAVITY, REFERENCE_DENSITY
from ...physics.equation_of_state import AbstractEquationOfState, LinearEquationOfState
from . import analysis as A
from . import diagnostics as D
from . import kernels as K
from .adjoint import ADJOINTS, momentum_core
from .metadata import basin_variables, cgrid_coordinates, derived_fields
from .plots import basin_figures, basin_summary
from .state import BasinState
from .timestepping import barotropic_substeps

__all__ = ["BasinModel", "BasinMixing", "BottomDrag", "SurfaceForcing", "TRACER_ADVECTION",
           "TIME_STEPPERS", "ADJOINTS"]

TRACER_ADVECTION = ("centered2", "upwind3")
TIME_STEPPERS = ("ab2", "rk3")


class BasinMixing(eqx.Module):
    """Constant-coefficient friction and diffusion (all leaves, calibratable).

    Attributes:
        horizontal_viscosity: Laplacian A_h (m² s⁻¹).
        biharmonic_viscosity: A_4 (m⁴ s⁻¹; a positive value damps).
        vertical_viscosity: ν (m² s⁻¹), implicit.
        horizontal_diffusivity: κ_h of T and S (m² s⁻¹).
        vertical_diffusivity: κ_v of T and S (m² s⁻¹), implicit.
        convective_diffusivity: κ_c (m² s⁻¹) added to κ_v of T and S on statically unstable
            faces as the smooth step ``κ_c σ(−N² / N²₀)`` (σ the logistic function, N² from
            the lagged T, S), the differentiable form of convective adjustment; ``None``
            (default) = no convection scheme.
        convective_n2_scale: N²₀ (s⁻², static), the width of the step (1e-8).
        viscosity_cos_power: scale A_h and A_4 by ``cos^p φ`` (static; 0 = off).
        no_slip: no-slip lateral walls for the Laplacian viscosity (static; default
            ``False``: free slip); see :func:`~pyclimaocean.models.basin.kernels.laplacian_velocity`.
    """

    horizontal_viscosity: Any = 0.0
    biharmonic_viscosity: Any = 0.0
    vertical_viscosity: Any = 1e-4
    horizontal_diffusivity: Any = 0.0
    vertical_diffusivity: Any = 1e-5
    convective_diffusivity: Any = None
    convective_n2_scale: float = eqx.field(static=True, default=1e-8)
    viscosity_cos_power: int = eqx.field(static=True, default=0)
    no_slip: bool = eqx.field(static=True, default=False)


class BottomDrag(eqx.Module):
    """Bottom friction on the deepest wet cell of each column (explicit, in the slow tendency):
    ``∂u/∂t = −(r + c_d |u| / dz_b) u`` with the smooth ``|u| = sqrt(u² + v̄² + ε²)``.

    Attributes:
        linear: r (s⁻¹; Veros' ``r_bot`` convention).
        quadratic: c_d (1).
        speed_floor: ε (m s⁻¹, static), keeps ``|u|`` differentiable at rest.
    """

    linear: Any = 0.0
    quadratic: Any = 0.0
    speed_floor: float = eqx.field(static=True, default=1e-3)


class SurfaceForcing(eqx.Module):
    """Surface boundary conditions (fields are ``(ny, nx)``; ``None`` = absent).

    Attributes:
        wind_stress_amplitude: τ₀ (N m⁻²), multiplies the shapes.
        wind_stress_x_shape: zonal stress pattern at U points (1), or ``None``.
        wind_stress_y_shape: meridional stress pattern at V points (1), or ``None``.
        restoring_rate: γ (s⁻¹): top-cell tendency ``γ (T* − T)`` (and for S if
            ``restoring_salinity`` is given).
        restoring_temperature: T* at T points (°C), or ``None``.
        restoring_salinity: S* (g kg⁻¹), or ``None``.
        temperature_flux: kinematic heat flux into the ocean (K m s⁻¹; Q / (ρ₀ c_p)), or
            ``None``.
        salinity_flux: salt flux into the ocean (g kg⁻¹ m s⁻¹), or ``None``.
    """

    wind_stress_amplitude: Any = 0.0
    wind_stress_x_shape: Any = None
    wind_stress_y_shape: Any = None
    restoring_rate: Any = 0.0
    restoring_temperature: Any = None
    restoring_salinity: Any = None
    temperature_flux: Any = None
    salinity_flux: Any = None


class BasinModel(AbstractModel):
    """3-D hydrostatic primitive-equation basin (see the module docstring).

    Attributes:
        grid: the :class:`~pyclimaocean.grids.CGrid`.
        dt: baroclinic time step (s, static).
        n_substeps: barotropic substeps per step (static int; ``Δτ ≈ 1.44 Δt / n_substeps``
            must satisfy ``Δτ sqrt(2 g H) < Δx``).
        mixing, drag, forcing: :class:`BasinMixing`, :class:`BottomDrag`,
            :class:`SurfaceForcing`.
        equation_of_state: an :class:`~pyclimaocean.physics.AbstractEquationOfState`.
        initial_temperature, initial_salinity: ``(nz, ny, nx)`` initial fields (°C, g kg⁻¹).
        tracer_advection: ``"centered2"`` or ``"upwind3"`` (static).
        momentum_advection: include the vector-invariant advection (static; ``False``: linear
            momentum equations with Coriolis only).
        time_stepper: ``"ab2"`` (quasi-AB2, default) or ``"rk3"`` (static).
        ab2_chi: χ of quasi-AB2 (static, 0.1).
        gravity: g (m s⁻², static).  reference_density: ρ₀ (kg m⁻³, static; wind stress is
            divided by it).
        conserve_tracers: correct the linear-free-surface tracer leak (static; see
            :func:`~pyclimaocean.models.basin.kernels.tracer_advection`).
        adjoint: how reverse-mode AD goes through the momentum tendency (static):
            ``"autodiff"`` (the default) lets JAX differentiate it; ``"hand"`` gives its
            Coriolis, vorticity flux, kinetic-energy gradient, vertical advection and
            horizontal viscosity a hand-written adjoint
            (:func:`~pyclimaocean.models.basin.adjoint.momentum_core`, a ``jax.custom_vjp``;
            gradients equal to round-off).  Forward mode (``jax.jvp``, ``jax.jacfwd``,
            ``jax.hessian``, the Laplace and Gauss-Newton drivers) needs ``"autodiff"``: a
            ``custom_vjp`` has no forward-mode rule.
    """

    name: ClassVar[str] = "basin"
    time_units: ClassVar[str] = "s"

    grid: CGrid
    dt: float = eqx.field(static=True)
    n_substeps: int = eqx.field(static=True)
    mixing: BasinMixing
    drag: BottomDrag
    forcing: SurfaceForcing
    equation_of_state: AbstractEquationOfState
    initial_temperature: Any
    initial_salinity: Any
    tracer_advection: str = eqx.field(static=True)
    momentum_advection: bool = eqx.field(static=True)
    time_stepper: str = eqx.field(static=True)
    ab2_chi: float = eqx.field(static=True)
    gravity: float = eqx.field(static=True)
    reference_density: float = eqx.field(static=True)
    conserve_tracers: bool = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)

    def __init__(
        self,
        grid: CGrid,
        dt: float,
        n_substeps: int = 30,
        *,
        mixing: BasinMixing | None = None,
        drag: BottomDrag | None = None,
        forcing: SurfaceForcing | None = None,
        equation_of_state: AbstractEquationOfState | None = None,
        initial_temperature=None,
        initial_salinity=None,
        tracer_advection: str = "upwind3",
        momentum_advection: bool = True,
        time_stepper: str = "ab2",
        ab2_chi: float = 0.1,
        gravity: float = GRAVITY,
        reference_density: float = REFERENCE_DENSITY,
        conserve_tracers: bool = True,
        adjoint: str = "autodiff",
    ):
        if not isinstance(grid, CGrid):
            raise TypeError(f"grid must be a CGrid, got {type(grid).__name__}")
        if not (isinstance(dt, int | float) and dt > 0):
            raise ValueError(f"dt = {dt!r} must be a positive number (s)")
        if not (isinstance(n_substeps, int) and n_substeps >= 2):
            raise ValueError(f"n_substeps = {n_substeps!r} must be an int >= 2")
        if tracer_advection not in TRACER_ADVECTION:
            raise ValueError(f"tracer_advection = {tracer_advection!r} is not supported. "
                             f"Supported schemes are: {', '.join(TRACER_ADVECTION)}")
        if time_stepper not in TIME_STEPPERS:
            raise ValueError(f"time_stepper = {time_stepper!r} is not supported. "
                             f"Supported time steppers are: {', '.join(TIME_STEPPERS)}")
        if adjoint not in ADJOINTS:
            raise ValueError(f"adjoint = {adjoint!r} is not supported. "
                             f"Supported adjoints are: {', '.join(ADJOINTS)}")
        self.grid = grid
        self.dt = float(dt)
        self.n_substeps = n_substeps
        self.mixing = BasinMixing() if mixing is None else mixing
        self.drag = BottomDrag() if drag is None else drag
        self.forcing = SurfaceForcing() if forcing is None else forcing
        self.equation_of_state = (LinearEquationOfState(reference_density=reference_density)
                                  if equation_of_state is None else equation_of_state)
        shape = grid.shape
        t0 = 10.0 if initial_temperature is None else initial_temperature
        s0 = 35.0 if initial_salinity is None else initial_salinity
        self.initial_temperature = jnp.broadcast_to(jnp.asarray(t0, dtype=float), shape)
        self.initial_salinity = jnp.broadcast_to(jnp.asarray(s0, dtype=float), shape)
        self.tracer_advection = tracer_advection
        self.momentum_advection = bool(momentum_advection)
        self.time_stepper = time_stepper
        self.ab2_chi = float(ab2_chi)
        self.gravity = float(gravity)
        self.reference_density = float(reference_density)
        self.conserve_tracers = bool(conserve_tracers)
        self.adjoint = adjoint

    # -- states ------------------------------------------------------------------------------
    def state_from_fields(self, u=0.0, v=0.0, T=None, S=None, eta=0.0, time=0.0) -> BasinState:
        """A state at rest or with given fields (broadcast to the grid, masked); the
        barotropic transports are the depth integrals of ``u``, ``v``; the AB2 history is
        zero (the first step is forward Euler)."""
        g = self.grid
        shape = g.shape

        def full(x, mask, default):
            x = default if x is None else x
            return jnp.broadcast_to(jnp.asarray(x, dtype=float), shape) * mask

        u = full(u, g.maskU, 0.0)
        v = full(v, g.maskV, 0.0)
        T = full(T, g.maskT, self.initial_temperature)
        S = full(S, g.maskT, self.initial_salinity)
        eta = jnp.broadcast_to(jnp.asarray(eta, dtype=float), (g.ny, g.nx)) * g.maskT[-1]
        dz = g.dz[:, None, None]
        zero = jnp.zeros(shape)
        it = jnp.asarray(0, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32)
        return BasinState(u=u, v=v, T=T, S=S, eta=eta, U=jnp.sum(u * dz, axis=0),
                          V=jnp.sum(v * dz, axis=0), Gu=zero, Gv=zero, GT=zero, GS=zero,
                          time=jnp.asarray(time, dtype=float), iteration=it)

    def initial_state(self) -> BasinState:
        """Rest, flat free surface, ``initial_temperature`` and ``initial_salinity``."""
        return self.state_from_fields()

    # -- tendencies --------------------------------------------------------------------------
    def buoyancy(self, T, S):
        """``b = −g ρ'/ρ₀`` at T points (m s⁻²), masked."""
        z = self.grid.z_centers[:, None, None]
        rho = self.equation_of_state.density_anomaly(T, S, z)
        return -self.gravity * rho / self.reference_density * self.grid.maskT

    def momentum_tendency(self, u, v, T, S, flux_z):
        """Explicit ``(G_u, G_v)`` (m s⁻²): everything but ``−g∇η`` and vertical viscosity."""
        g = self.grid
        m = self.mixing
        if self.adjoint == "hand":
            bih = m.biharmonic_viscosity
            has_bih = not (isinstance(bih, int | float) and bih == 0)
            spec = (self.momentum_advection, m.viscosity_cos_power, m.no_slip, has_bih)
            gu, gv = momentum_core(spec, g, u, v, flux_z, m.horizontal_viscosity,
                                   bih if has_bih else 0.0)
            pu, pv = K.pressure_gradient(g, K.hydrostatic_pressure(g, self.buoyancy(T, S)))
            return self._drag_and_wind(u, v, gu + pu, gv + pv)
        q = g.fZ
        if self.momentum_advection:
            q = q + g.vorticity(u, v)
        gu, gv = K.coriolis_vorticity_flux(g, u, v, q)
        pu, pv = K.pressure_gradient(g, K.hydrostatic_pressure(g, self.buoyancy(T, S)))
        gu, gv = gu + pu, gv + pv
        if self.momentum_advection:
            ku, kv = K.kinetic_energy_gradient(g, u, v)
            fzu = g.ax_plus(flux_z, "T")
            fzv = g.ay_plus(flux_z, "T")
            gu = gu + ku + K.vertical_momentum_advection(g, u, fzu, g.inv_areaU, g.maskU)
            gv = gv + kv + K.vertical_momentum_advection(g, v, fzv, g.inv_areaV, g.maskV)
        hu, hv = K.horizontal_viscosity(g, u, v, m.horizontal_viscosity,
                                        m.biharmonic_viscosity, m.viscosity_cos_power,
                                        m.no_slip)
        return self._drag_and_wind(u, v, gu + hu, gv + hv)

    def _drag_and_wind(self, u, v, gu, gv):
        """Add the bottom drag and the wind stress to ``(G_u, G_v)``."""
        g = self.grid
        d = self.drag
        bu, bv = K.bottom_indicator(g.maskU), K.bottom_indicator(g.maskV)
        inv_dz = g.inv_dz[:, None, None]
        su = K.smooth_speed_at_u(g, u, v, d.speed_floor)
        sv = K.smooth_speed_at_v(g, u, v, d.speed_floor)
        gu = gu - (d.linear + d.quadratic * su * inv_dz) * u * bu
        gv = gv - (d.linear + d.quadratic * sv * inv_dz) * v * bv
        f = self.forcing
        top = g.inv_dz[-1] / self.reference_density * f.wind_stress_amplitude
        if f.wind_stress_x_shape is not None:
            gu = gu.at[-1].add(top * f.wind_stress_x_shape * g.maskU[-1])
        if f.wind_stress_y_shape is not None:
            gv = gv.at[-1].add(top * f.wind_stress_y_shape * g.maskV[-1])
        return gu, gv

    def tracer_tendency(self, phi, u, v, flux_z, target, surface_flux):
        """Explicit tendency of a tracer: advection, horizontal diffusion, restoring of the top
        cell toward ``target`` at ``forcing.restoring_rate``, and ``surface_flux``."""
        g = self.grid
        out = K.tracer_advection(g, phi, u, v, flux_z, self.tracer_advection,
                                 conserve=self.conserve_tracers)
        out = out + g.laplacian(phi, self.mixing.horizontal_diffusivity)
        top = jnp.zeros_like(phi[-1])
        if target is not None:
            top = top + self.forcing.restoring_rate * (target - phi[-1])
        if surface_flux is not None:
            top = top + surface_flux * g.inv_dz[-1]
        return out.at[-1].add(top * g.maskT[-1])

    def tendencies(self, u, v, T, S):
        """All explicit tendencies ``(G_u, G_v, G_T, G_S)`` at one time level."""
        flux_z = K.vertical_transport(self.grid, u, v)
        gu, gv = self.momentum_tendency(u, v, T, S, flux_z)
        f = self.forcing
        gT = self.tracer_tendency(T, u, v, flux_z, f.restoring_temperature, f.temperature_flux)
        gS = self.tracer_tendency(S, u, v, flux_z, f.restoring_salinity, f.salinity_flux)
        return gu, gv, gT, gS

    def tracer_vertical_diffusivity(self, T, S):
        """κ of T and S on the top faces (m² s⁻¹): ``κ_v`` plus, with a convection scheme,
        ``κ_c σ(−N² / N²₀)`` (:class:`BasinMixing`)."""
        m = self.mixing
        if m.convective_diffusivity is None:
            return m.vertical_diffusivity
        n2 = K.face_buoyancy_frequency(self.grid, self.equation_of_state, T, S, self.gravity,
                                       self.reference_density)
        return m.vertical_diffusivity + m.convective_diffusivity * jax.nn.sigmoid(
            -n2 / m.convective_n2_scale)

    # -- the pieces of a step ------------------------------------------------------------------
    def _solve(self, lower, diag, upper, rhs, axis=-1):
        return tridiagonal_solve(lower, diag, upper, rhs, axis=axis)

    def _baroclinic_update(self, state_u, state_v, state_T, state_S, eta, U, V, gu, gv, gT, gS,
                           dt):
        """From level-n fields and tendencies over ``dt``: barotropic substeps, velocity and
        tracer updates with implicit vertical mixing and the barotropic correction."""
        g = self.grid
        dz = g.dz[:, None, None]
        GU = jnp.sum(gu * dz, axis=0)
        GV = jnp.sum(gv * dz, axis=0)
        eta, U, V = barotropic_substeps(g, eta, U, V, GU, GV, self.gravity, dt,
                                        self.n_substeps)
        m = self.mixing
        face_t = K.interior_face_mask(g.maskT)
        kappa = self.tracer_vertical_diffusivity(state_T, state_S)
        u, v, T, S = K.implicit_vertical_diffusion(
            g,
            [(state_u + dt * gu) * g.maskU, (state_v + dt * gv) * g.maskV,
             (state_T + dt * gT) * g.maskT, (state_S + dt * gS) * g.maskT],
            [m.vertical_viscosity, m.vertical_viscosity, kappa, kappa],
            [K.interior_face_mask(g.maskU), K.interior_face_mask(g.maskV), face_t, face_t],
            dt, self._solve)
        u = (u + (U - jnp.sum(u * dz, axis=0)) * g.inv_hU) * g.maskU
        v = (v + (V - jnp.sum(v * dz, axis=0)) * g.inv_hV) * g.maskV
        return u, v, T * g.maskT, S * g.maskT, eta, U, V

    def step(self, state: BasinState) -> BasinState:
        """One baroclinic step (pure; see the module docstring)."""
        if self.time_stepper == "rk3":
            return self._step_rk3(state)
        gu, gv, gT, gS = self.tendencies(state.u, state.v, state.T, state.S)
        first = state.iteration == 0
        c1, c2 = 1.5 + self.ab2_chi, 0.5 + self.ab2_chi

        def ab(gn, gp):
            return jnp.where(first, gn, c1 * gn - c2 * gp)

        u, v, T, S, eta, U, V = self._baroclinic_update(
            state.u, state.v, state.T, state.S, state.eta, state.U, state.V,
            ab(gu, state.Gu), ab(gv, state.Gv), ab(gT, state.GT), ab(gS, state.GS), self.dt)
        return BasinState(u=u, v=v, T=T, S=S, eta=eta, U=U, V=V, Gu=gu, Gv=gv, GT=gT, GS=gS,
                          time=state.time + self.dt, iteration=state.iteration + 1)

    def _step_rk3(self, state: BasinState) -> BasinState:
        """Wicker–Skamarock RK3: ``φ⁽¹⁾ = φⁿ + Δt/3 G(φⁿ)``, ``φ⁽²⁾ = φⁿ + Δt/2 G(φ⁽¹⁾)``,
        ``φⁿ⁺¹ = φⁿ + Δt G(φ⁽²⁾)``, each stage with its own substeps from ``(ηⁿ, Uⁿ, Vⁿ)``
        over the stage's step.  The three stages are one ``lax.scan`` over the stage steps
        (one copy of the stage in the program: compiling a step, and its reverse pass, takes
        about half the time of the unrolled stages)."""
        n = (state.u, state.v, state.T, state.S, state.eta, state.U, state.V)

        def stage(s, dt):
            gu, gv, gT, gS = self.tendencies(s[0], s[1], s[2], s[3])
            return self._baroclinic_update(*n, gu, gv, gT, gS, dt), None

        stage_dt = jnp.asarray([frac * self.dt for frac in (1.0 / 3.0, 0.5, 1.0)],
                               dtype=state.T.dtype)
        (u, v, T, S, eta, U, V), _ = jax.lax.scan(stage, n, stage_dt)
        return BasinState(u=u, v=v, T=T, S=S, eta=eta, U=U, V=V, Gu=state.Gu, Gv=state.Gv,
                          GT=state.GT, GS=state.GS, time=state.time + self.dt,
                          iteration=state.iteration + 1)

    # -- derived fields ------------------------------------------------------------------------
    def vertical_velocity(self, state):
        """``w`` on the top faces of T cells (m s⁻¹), from continuity."""
        return K.vertical_transport(self.grid, state.u, state.v) * self.grid.inv_areaT

    def barotropic_streamfunction(self, state):
        """``ψ`` at ζ points (m³ s⁻¹), zero on the southern boundary
        (:func:`~pyclimaocean.models.basin.analysis.barotropic_streamfunction`)."""
        return A.barotropic_streamfunction(self.grid, state.U)

    # -- the contract --------------------------------------------------------------------------
    def variables(self) -> tuple[Variable, ...]:
        """:func:`~pyclimaocean.models.basin.metadata.basin_variables`: prognostic ``u, v, T,
        S, eta, U, V`` and derived ``w, psi, moc, kinetic_energy, heat_content``."""
        return basin_variables()

    def output_fields(self, state) -> dict[str, Any]:
        """Prognostic fields, ``w`` from continuity and the derived fields of
        :func:`~pyclimaocean.models.basin.metadata.derived_fields` (ψ, overturning, kinetic
        energy and heat content in J with this model's ρ₀)."""
        out = super().output_fields(state)
        out["w"] = self.vertical_velocity(state)
        out.update(derived_fields(self.grid, state, self.reference_density))
        return out

    def coordinates(self) -> tuple[Coordinate, ...]:
        """:func:`~pyclimaocean.models.basin.metadata.cgrid_coordinates`: ``x, x_u, y, y_v,
        z, z_w`` with CF bounds and xgcm's ``c_grid_axis_shift``."""
        return cgrid_coordinates(self.grid)

    def parameters(self, names=None) -> ParameterSet:
        """Viscosities, diffusivities, drag, wind amplitude and restoring rate, with bounds
        and log-normal priors around the model's values."""

        def p(value, lower, upper, units, description):
            value = float(value)
            scale_loc = max(value, lower if lower > 0 else 1e-12)
            prior = Prior.make("lognormal", loc=float(np.log(scale_loc)), scale=0.5)
            return Parameter(jnp.asarray(value), lower, upper, units=units, prior=prior,
                             description=description)

        m, d, f = self.mixing, self.drag, self.forcing
        table = {
            "mixing.horizontal_viscosity": p(m.horizontal_viscosity, 0.0, 1e7, "m2 s-1",
                                             "Laplacian horizontal viscosity A_h"),
            "mixing.biharmonic_viscosity": p(m.biharmonic_viscosity, 0.0, 1e16, "m4 s-1",
                                             "biharmonic horizontal viscosity A_4"),
            "mixing.vertical_viscosity": p(m.vertical_viscosity, 0.0, 1.0, "m2 s-1",
                                           "vertical viscosity"),
            "mixing.horizontal_diffusivity": p(m.horizontal_diffusivity, 0.0, 1e5,
                                               "m2 s-1", "horizontal tracer diffusivity"),
            "mixing.vertical_diffusivity": p(m.vertical_diffusivity, 0.0, 1.0, "m2 s-1",
                                             "vertical tracer diffusivity"),
            **({} if m.convective_diffusivity is None else {
                "mixing.convective_diffusivity": p(m.convective_diffusivity, 0.0, 100.0,
                                                   "m2 s-1", "convective diffusivity")}),
            "drag.linear": p(d.linear, 0.0, 1e-3, "s-1", "linear bottom drag rate"),
            "drag.quadratic": p(d.quadratic, 0.0, 0.1, "1",
                                "quadratic bottom drag coefficient"),
            "forcing.wind_stress_amplitude": p(f.wind_stress_amplitude, 0.0, 10.0,
                                               "N m-2", "wind stress amplitude"),
            "forcing.restoring_rate": p(f.restoring_rate, 0.0, 1e-3, "s-1",
                                        "surface restoring rate"),
        }
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """Differentiable scalars ``{name: f(model, state)}``
        (:mod:`~pyclimaocean.models.basin.diagnostics`, implemented in
        :mod:`~pyclimaocean.models.basin.analysis`):

        * ``kinetic_energy``: ρ₀ Σ ½|u|² dV (J);
        * ``heat_content``: ρ₀ c_p Σ T dV (J, relative to 0 °C);
        * ``mean_sst``: area mean of the top-level temperature (°C);
        * ``max_barotropic_streamfunction``: largest ψ (m³ s⁻¹; relative to the northern
          wall on a re-entrant grid);
        * ``acc_transport`` (re-entrant grids only): zonal transport through U column 0
          (m³ s⁻¹);
        * ``max_overturning`` (``nz ≥ 2`` only): largest overturning ψ(z, y) below the
          surface (m³ s⁻¹).

        Transports are in m³ s⁻¹ (divide by 10⁶ for Sv)."""
        table = {"kinetic_energy": D.kinetic_energy, "heat_content": D.heat_content,
                 "mean_sst": D.mean_sst,
                 "max_barotropic_streamfunction": D.max_barotropic_streamfunction}
        if self.grid.periodic_x:
            table["acc_transport"] = D.acc_transport
        if self.grid.nz > 1:
            table["max_overturning"] = D.max_overturning
        return table

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        """Transports (ACC, gyre ψ extremes, overturning; Sv), mean KE, max |u| and mean SST
        at the last output (:func:`~pyclimaocean.models.basin.plots.basin_summary`)."""
        return basin_summary(self.grid, dataset, self.reference_density)

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        """SST, barotropic streamfunction, overturning ψ(y, z) and KE/transport time series
        (:func:`~pyclimaocean.models.basin.plots.basin_figures`)."""
        return basin_figures(self.grid, dataset, directory, title, self.reference_density)

    def describe(self) -> dict[str, str]:
        m, d, f = self.mixing, self.drag, self.forcing
        return {
            "grid": self.grid.describe(),
            "time_stepping": f"{self.time_stepper} (chi = {self.ab2_chi:g}), dt = "
                             f"{self.dt:g} s, {self.n_substeps} barotropic substeps",
            "advection": f"tracers {self.tracer_advection}, momentum "
                         f"{'vector-invariant' if self.momentum_advection else 'off'}",
            "walls": "no slip" if m.no_slip else "free slip",
            "mixing": f"A_h = {float(m.horizontal_viscosity):g} m2 s-1, A_4 = "
                      f"{float(m.biharmonic_viscosity):g} m4 s-1, nu = "
                      f"{float(m.vertical_viscosity):g}, kappa_h = "
                      f"{float(m.horizontal_diffusivity):g}, kappa_v = "
                      f"{float(m.vertical_diffusivity):g} m2 s-1" + (
                          "" if m.convective_diffusivity is None else
                          f", convective kappa_c = {float(m.convective_diffusivity):g} m2 s-1"),
            "drag": f"r = {float(d.linear):g} s-1, c_d = {float(d.quadratic):g}",
            "forcing": f"tau0 = {float(f.wind_stress_amplitude):g} N m-2, restoring "
                       f"{float(f.restoring_rate):g} s-1",
        }
