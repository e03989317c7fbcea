"""The single-column ocean model: a pure, differentiable ``step(state) -> state``.

Each time step (Δt) does, in order:

1. surface fluxes at time tⁿ from the forcing;
2. closure diffusivities (and TKE terms) from the state at tⁿ;
3. Coriolis: exact rotation of (u, v) by the angle f Δt (explicit, energy conserving);
4. implicit (backward-Euler) vertical diffusion of T, S, u, v with the surface fluxes as
   boundary fluxes, shortwave absorbed in the interior, optional quadratic bottom drag
   (linearised implicitly), each a tridiagonal solve whose columns sum to Δz — so heat and
   salt content change by exactly Δt × the surface flux;
5. the closure's TKE equation, if it has one.

Float64 throughout (importing ``pyclimaocean`` enables ``jax_enable_x64``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...closures.base import AbstractClosure, ColumnContext
from ...closures.catke import diffusion_matrix
from ...core import AbstractModel, Coordinate, Variable
from ...fluxes.surface import AbstractSurfaceForcing, SolarPenetration, SurfaceForcing
from ...grids.column import ColumnGrid
from ...numerics.tridiagonal import tridiagonal_solve
from ...params import Parameter, ParameterSet
from ...physics.constants import HEAT_CAPACITY, REFERENCE_SALINITY
from ...physics.equation_of_state import (
    GRAVITY,
    AbstractEquationOfState,
    LinearEquationOfState,
    RoquetEquationOfState,
)
from .diagnostics import DIAGNOSTICS
from .diagnostics import summary as column_summary
from .mixed_layer import mixed_layer_depth
from .plots import plot_column
from .state import ColumnState

__all__ = ["ColumnModel", "InitialConditions", "InitialProfiles", "mixed_layer_depth"]


class InitialConditions(eqx.Module):
    """Initial profiles: a mixed layer of depth ``mixed_layer_depth`` over linear gradients.

    Attributes:
        surface_temperature: temperature at the surface (°C).
        temperature_gradient: dT/dz below the mixed layer (K m⁻¹, > 0 is stable).
        surface_salinity: salinity at the surface (g kg⁻¹).
        salinity_gradient: dS/dz below the mixed layer (g kg⁻¹ m⁻¹).
        mixed_layer_depth: depth of the uniform surface layer (m).
        u, v: uniform velocities (m s⁻¹).
        tke: uniform turbulent kinetic energy (m² s⁻²).
    """

    surface_temperature: float = 20.0
    temperature_gradient: float = 0.01
    surface_salinity: float = 35.0
    salinity_gradient: float = 0.0
    mixed_layer_depth: float = 0.0
    u: float = 0.0
    v: float = 0.0
    tke: float = 1e-6

    def profiles(self, z):
        zz = jnp.minimum(z + self.mixed_layer_depth, 0.0)
        t = self.surface_temperature + self.temperature_gradient * zz
        s = self.surface_salinity + self.salinity_gradient * zz
        return t, s


class InitialProfiles(eqx.Module):
    """Initial profiles given at the grid's cell centres (e.g. an observed profile).

    Build it with :meth:`from_data`, which interpolates a profile onto the centres and refuses
    one that does not span them.  The values are leaves (differentiable, calibratable).

    Attributes:
        temperature, salinity (°C, g kg⁻¹), u, v (m s⁻¹): ``(nz,)`` at the cell centres.
        tke: initial turbulent kinetic energy (m² s⁻², uniform).
    """

    temperature: jax.Array
    salinity: jax.Array
    u: jax.Array
    v: jax.Array
    tke: float = 1e-6

    @classmethod
    def from_data(cls, z_centers, z, temperature, salinity=35.0, u=0.0, v=0.0,
                  tke: float = 1e-6, source: str = "the profile") -> InitialProfiles:
        """Interpolate a profile linearly onto ``z_centers`` ``(nz,)`` (heights, m).

        ``z`` ``(n,)``: increasing heights of the data (m, ≤ 0); ``temperature`` ``(n,)``;
        ``salinity``, ``u``, ``v``: ``(n,)`` on ``z`` or constants.  Raises ``ValueError``
        naming ``source`` when ``z`` does not reach the deepest or the shallowest centre.
        """
        zc = np.asarray(z_centers, dtype=float)
        z = np.asarray(z, dtype=float) + 0.0  # (no "-0 m" in messages)
        lo, hi = float(zc.min()), float(zc.max())
        if z.ndim != 1 or z.size < 1 or z.min() > lo or z.max() < hi:
            span = f"z = {z.min():g} to {z.max():g} m" if z.size else "no levels"
            raise ValueError(
                f"{source} does not cover the column: it spans {span} (depth "
                f"{0.0 - z.max():g} to {-z.min():g} m) but the grid's cell centres span z = {lo:g} to "
                f"{hi:g} m (depth {-hi:g} to {-lo:g} m). Give data from depth {-hi:g} m or "
                f"shallower down to {-lo:g} m or deeper, or change grid.depth / grid.nz"
            )

        def on_grid(values, name):
            values = np.asarray(values, dtype=float)
            if values.ndim == 0:
                return jnp.full(zc.shape, float(values))
            if values.shape != z.shape:
                raise ValueError(f"{source}: {name} has shape {values.shape}, z has {z.shape}")
            return jnp.asarray(np.interp(zc, z, values))

        return cls(temperature=on_grid(temperature, "temperature"),
                   salinity=on_grid(salinity, "salinity"), u=on_grid(u, "u"),
                   v=on_grid(v, "v"), tke=tke)

    def profiles(self, z):
        if jnp.shape(z) != jnp.shape(self.temperature):
            raise ValueError(
                f"InitialProfiles hold {jnp.shape(self.temperature)[0]} levels but the grid has "
                f"{jnp.shape(z)[0]}: build them with InitialProfiles.from_data(grid.z_centers, ...)"
            )
        return self.temperature, self.salinity


class ColumnModel(AbstractModel):
    """Single-column ocean model.

    Build it the Oceananigans way, immutably::

        model = ColumnModel(grid=ColumnGrid(nz=64, depth=128.0), closure=CATKELike(),
                            forcing=SurfaceForcing(heat_flux=-100.0), dt=600.0)

    Attributes:
        grid: :class:`ColumnGrid`.
        closure: an :class:`AbstractClosure` (calibratable parameters ``closure.*``).
        forcing: :class:`SurfaceForcing` (mean plus cycle) or :class:`TabulatedSurfaceForcing` (time series from data).
        initial_conditions: :class:`InitialConditions`.
        equation_of_state: defaults to :class:`LinearEquationOfState`.
        solar_penetration: :class:`SolarPenetration` or ``None`` (shortwave absorbed in the top
            cell).
        coriolis_parameter: f (s⁻¹).
        bottom_drag_coefficient: quadratic drag c_d (1); 0 disables drag.
        dt: time step Δt (s).
        heat_capacity: c_p (J kg⁻¹ K⁻¹).  reference_salinity: S for the virtual salt flux.
    """

    name: ClassVar[str] = "column"

    grid: ColumnGrid
    closure: AbstractClosure
    forcing: AbstractSurfaceForcing = SurfaceForcing()
    initial_conditions: InitialConditions = InitialConditions()
    equation_of_state: AbstractEquationOfState = LinearEquationOfState()
    solar_penetration: SolarPenetration | None = None
    coriolis_parameter: float = 0.0
    bottom_drag_coefficient: float = 0.0
    dt: float = eqx.field(static=True, default=60.0)
    heat_capacity: float = eqx.field(static=True, default=HEAT_CAPACITY)
    reference_salinity: float = eqx.field(static=True, default=REFERENCE_SALINITY)

    def __check_init__(self):
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError(f"dt = {self.dt!r} must be a positive finite number of seconds")

    @property
    def reference_density(self) -> float:
        return self.equation_of_state.reference_density

    # -- state -----------------------------------------------------------------------------
    def initial_state(self) -> ColumnState:
        z = self.grid.z_centers
        t, s = self.initial_conditions.profiles(z)
        ones = jnp.ones_like(z)
        ic = self.initial_conditions
        return ColumnState(
            temperature=t,
            salinity=s,
            u=ic.u * ones,
            v=ic.v * ones,
            tke=ic.tke * ones if self.closure.has_tke else 0.0 * ones,
            # explicit dtypes (not weakly typed) so a state read back from a checkpoint has the
            # same types and a resumed run replays the same compiled chunks
            time=jnp.asarray(0.0, dtype=jnp.result_type(float)),
            iteration=jnp.asarray(0, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32),
        )

    # -- diagnostics ------------------------------------------------------------------------
    def buoyancy(self, state: ColumnState):
        """Potential buoyancy b at centres (m s⁻²): the equation of state evaluated at the
        surface (z = 0), so that differences between depths measure stratification also for a
        pressure-dependent equation of state."""
        z0 = jnp.zeros_like(self.grid.z_centers)
        return self.equation_of_state.buoyancy(state.temperature, state.salinity, z0)

    def buoyancy_frequency_squared(self, state: ColumnState):
        """N² at interior faces ``(nz - 1,)`` (s⁻²) with local expansion coefficients:
        ``N² = g (α_f ∂z T − β_f ∂z S)``, α and β evaluated at the face's mean T, S and depth
        (as NEMO's ``eos_bn2``); exact for the linear equation of state."""
        g = self.grid
        t_face = 0.5 * (state.temperature[1:] + state.temperature[:-1])
        s_face = 0.5 * (state.salinity[1:] + state.salinity[:-1])
        z_face = g.z_interior_faces
        eos = self.equation_of_state
        alpha = eos.thermal_expansion(t_face, s_face, z_face)
        beta = eos.haline_contraction(t_face, s_face, z_face)
        return GRAVITY * (
            alpha * jnp.diff(state.temperature) - beta * jnp.diff(state.salinity)
        ) / g.dz_faces

    def surface_fluxes(self, time):
        """Upward boundary fluxes at the surface at ``time``.

        Returns a dict with ``temperature`` (K m s⁻¹), ``salinity`` (g kg⁻¹ m s⁻¹), ``u``, ``v``
        (m² s⁻²), ``shortwave`` (K m s⁻¹, downward, penetrating) and ``stress`` |τ| (N m⁻²).
        """
        f = self.forcing.at(time)
        rho_cp = self.reference_density * self.heat_capacity
        flux_t = -f.heat_flux / rho_cp
        flux_s = -self.reference_salinity * f.freshwater_flux
        # |τ| with finite derivatives at zero stress
        stress = _safe_sqrt(f.wind_stress_x**2 + f.wind_stress_y**2)
        return dict(
            temperature=flux_t,
            salinity=flux_s,
            u=-f.wind_stress_x / self.reference_density,
            v=-f.wind_stress_y / self.reference_density,
            shortwave=f.shortwave / rho_cp,
            stress=stress,
        )

    def context(self, state: ColumnState, fluxes) -> ColumnContext:
        g = self.grid
        z_top = g.z_centers[-1]
        t_top, s_top = state.temperature[-1], state.salinity[-1]
        eos = self.equation_of_state
        alpha = eos.thermal_expansion(t_top, s_top, z_top)
        beta = eos.haline_contraction(t_top, s_top, z_top)
        flux_t = fluxes["temperature"]
        if self.solar_penetration is None:  # shortwave then acts as a surface flux
            flux_t = flux_t - fluxes["shortwave"]
        jb = GRAVITY * (alpha * flux_t - beta * fluxes["salinity"])
        n2 = self.buoyancy_frequency_squared(state)
        s2 = (jnp.diff(state.u) / g.dz_faces) ** 2 + (jnp.diff(state.v) / g.dz_faces) ** 2
        return ColumnContext(
            z_centers=g.z_centers,
            dz_centers=g.dz_centers,
            z_faces_interior=g.z_interior_faces,
            dz_faces=g.dz_faces,
            depth=g.depth,
            buoyancy_frequency_squared=n2,
            shear_squared=s2,
            surface_buoyancy_flux=jb,
            friction_velocity=_safe_sqrt(fluxes["stress"] / self.reference_density),
            tke=state.tke,
        )

    def diffusivities(self, state: ColumnState):
        """``(viscosity, diffusivity)`` at interior faces ``(nz - 1,)`` (m² s⁻¹)."""
        ctx = self.context(state, self.surface_fluxes(state.time))
        return self.closure.diffusivities(ctx)

    # -- time stepping ----------------------------------------------------------------------
    def step(self, state: ColumnState) -> ColumnState:
        """Advance one time step Δt (pure)."""
        g, dt = self.grid, self.dt
        fluxes = self.surface_fluxes(state.time)
        ctx = self.context(state, fluxes)
        nu, kappa = self.closure.diffusivities(ctx)
        dz = g.dz_centers

        # Coriolis: exact rotation by f Δt
        angle = self.coriolis_parameter * dt
        c, s = jnp.cos(angle), jnp.sin(angle)
        u = c * state.u + s * state.v
        v = -s * state.u + c * state.v

        # T, S, u, v stacked as (4, nz): tracers diffuse with κ, momentum with ν; each is
        # solved in increment/flux form (see _flux_form_rhs) so budgets close to round-off
        fields = jnp.stack([state.temperature, state.salinity, u, v])
        kappas = jnp.stack([kappa, kappa, nu, nu])
        lower, diag, upper = diffusion_matrix(dz, g.dz_faces, kappas, dt)

        # sources (per step, field units × m): surface fluxes into the top cell, shortwave
        # absorbed in the interior (or in the top cell without penetration)
        top = jnp.zeros_like(dz).at[-1].set(1.0)
        surface = jnp.stack([fluxes["temperature"], fluxes["salinity"], fluxes["u"], fluxes["v"]])
        sources = -dt * surface[:, None] * top
        if self.solar_penetration is None:
            shortwave = dt * fluxes["shortwave"] * top
        else:
            shortwave = dt * fluxes["shortwave"] * self.solar_penetration.absorbed_fraction(
                g.z_faces
            )
        sources = sources.at[0].add(shortwave)

        # quadratic bottom drag on u, v (implicit, linearised about the current speed)
        speed_bottom = jnp.sqrt(state.u[0] ** 2 + state.v[0] ** 2 + 1e-30)
        damping = dt * self.bottom_drag_coefficient * speed_bottom
        bottom_damping = jnp.stack([0.0, 0.0, 1.0, 1.0]) * damping
        diag = diag.at[:, 0].add(bottom_damping)
        rhs = _flux_form_rhs(lower, fields, sources, bottom_damping)

        if self.closure.has_tke:  # the TKE system joins the same batched solve
            tke_system = self.closure.tke_system(ctx, nu, kappa, dt)
            lower, diag, upper, rhs = (
                jnp.concatenate([m, t[None]])
                for m, t in zip((lower, diag, upper, rhs), tke_system, strict=True)
            )
        solution = tridiagonal_solve(lower, diag, upper, rhs)
        temperature, salinity, u, v = fields + solution[:4]
        tke = self.closure.finish_tke(solution[4]) if self.closure.has_tke else state.tke

        return ColumnState(
            temperature=temperature,
            salinity=salinity,
            u=u,
            v=v,
            tke=tke,
            time=state.time + dt,
            iteration=state.iteration + 1,
        )

    # -- parameters -----------------------------------------------------------------------
    def parameters(self, names=None) -> ParameterSet:
        """Calibratable closure parameters (``"closure.<name>"``) with bounds and units.

        ``names`` selects a subset (closure field names, with or without the ``closure.``
        prefix); default: all of the closure's parameters.
        """
        specs = self.closure.parameter_specs()
        if names is None:
            names = list(specs)
        out = {}
        for name in names:
            short = name.removeprefix("closure.")
            if short not in specs:
                raise KeyError(
                    f"{short!r} is not a parameter of {type(self.closure).__name__}. "
                    f"Parameters are: {', '.join(specs)}"
                )
            value = getattr(self.closure, short)
            out[f"closure.{short}"] = Parameter(jnp.asarray(value, dtype=float), **specs[short])
        return ParameterSet(out)

    #: the name used before the model contract (same as :meth:`parameters`)
    default_parameters = parameters

    # -- output metadata --------------------------------------------------------------------
    def variables(self) -> tuple[Variable, ...]:
        """T, S, u, v, e (prognostic) and b (buoyancy, derived) at cell centres."""
        conservative = isinstance(self.equation_of_state, RoquetEquationOfState)
        temperature = (
            ("sea water conservative temperature", "sea_water_conservative_temperature")
            if conservative else ("sea water temperature", "sea_water_temperature")
        )
        z = ("z",)
        return (
            Variable("T", z, "degC", *temperature, valid_range=(-5.0, 60.0), source="temperature"),
            Variable("S", z, "g kg-1", "sea water salinity",
                     "sea_water_absolute_salinity" if conservative else "sea_water_salinity",
                     valid_range=(0.0, 80.0), source="salinity"),
            Variable("u", z, "m s-1", "eastward sea water velocity", "eastward_sea_water_velocity",
                     valid_range=(-20.0, 20.0)),
            Variable("v", z, "m s-1", "northward sea water velocity",
                     "northward_sea_water_velocity", valid_range=(-20.0, 20.0)),
            Variable("e", z, "m2 s-2", "turbulent kinetic energy", None,
                     valid_range=(0.0, 10.0), source="tke"),
            Variable("b", z, "m s-2", "potential buoyancy (surface reference)", None, derived=True),
        )

    def coordinates(self) -> tuple[Coordinate, ...]:
        g = self.grid
        faces = np.asarray(g.z_faces)
        return (
            Coordinate("z", np.asarray(g.z_centers),
                       {"units": "m", "long_name": "height of cell centre", "positive": "up",
                        "standard_name": "height", "axis": "Z"},
                       bounds=np.stack([faces[:-1], faces[1:]], axis=-1)),
            Coordinate("z_face", faces, {"units": "m", "long_name": "height of cell face",
                                         "positive": "up"}),
            Coordinate("dz", np.asarray(g.dz_centers),
                       {"units": "m", "long_name": "cell thickness"}, dims=("z",)),
        )

    def output_fields(self, state: ColumnState) -> dict[str, Any]:
        fields = super().output_fields(state)
        fields["b"] = self.buoyancy(state)
        return fields

    # -- diagnostics, reports, figures -------------------------------------------------------
    def diagnostics(self):
        """``mixed_layer_depth`` (m), ``sea_surface_temperature`` (°C), ``heat_content``
        (J m⁻², ρ₀ c_p ∫T dz): differentiable functions of a state."""
        return DIAGNOSTICS

    def summary(self, dataset):
        return column_summary(self, dataset)

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        path = Path(directory) / "column.png"
        plot_column(dataset, path, title=title)
        return [path]

    def describe(self) -> dict[str, str]:
        g = self.grid
        return {
            "closure": type(self.closure).__name__,
            "grid": f"nz = {g.nz}, depth = {g.depth:g} m",
            "equation_of_state": type(self.equation_of_state).__name__,
        }


def _safe_sqrt(x):
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _flux_form_rhs(lower, phi, source, bottom_damping=None):
    """Right-hand side of the backward-Euler update in increment and flux form.

    With ``A`` the matrix of :func:`diffusion_matrix` (plus implicit drag), the update
    ``A φⁿ⁺¹ = Δz φⁿ + source`` is solved as ``A δ = source − (A − Δz) φⁿ``, ``φⁿ⁺¹ = φⁿ + δ``,
    with ``(A − Δz) φ`` evaluated as a difference of face fluxes
    ``Gₖ = Δt κₖ (φₖ − φₖ₋₁) / Δzₖ``: round-off then scales with gradients and increments rather
    than with |φ|, and the column budget closes to ~1e-12.  Arrays are ``(..., nz)``;
    ``bottom_damping`` ``(...)`` is the extra diagonal term of the bottom cell (implicit drag).
    """
    face = -lower[..., 1:] * (phi[..., 1:] - phi[..., :-1])  # G at interior faces
    zero = jnp.zeros(phi.shape[:-1] + (1,), phi.dtype)
    operator_phi = jnp.concatenate([zero, face], axis=-1) - jnp.concatenate([face, zero], axis=-1)
    if bottom_damping is not None:
        operator_phi = operator_phi.at[..., 0].add(bottom_damping * phi[..., 0])
    return source - operator_phi

