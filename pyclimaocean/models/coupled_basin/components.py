"""The basin ocean and the dynamic–thermodynamic sea ice as coupler components.

:class:`BasinOceanComponent` wraps a :class:`~pyclimaocean.models.basin.BasinModel`.  It
exports the surface level (T, S, the current averaged to T points and at its U/V points, η,
the surface-cell mass ρ₀ Δz_top) and advances one basin step under the imported fluxes:

* **momentum**: the stress ``τ = avg((1 − a) τ_air) + τ_io`` (open-water air stress averaged
  from T to U/V points, plus the concentration-weighted ice–ocean stress the ice produced at
  U/V points) replaces the basin's own wind (it enters the basin's explicit tendency, as the
  basin's :class:`~pyclimaocean.models.basin.SurfaceForcing` wind, through ``wind_stress_x_shape``
  with amplitude 1); the basin's restoring is switched off;
* **heat and salt**: applied to the top cell *after* the dynamical step, as a split
  forward-Euler update ``T_top += Δt (Q + SW) / (ρ₀ c_p Δz_top)``,
  ``S_top += Δt (F_S − S_ref (F_W − (E − P))) / (ρ₀ Δz_top)``: the basin has a fixed
  volume (Boussinesq, linear free surface), so the water it gains from the ice (F_W) and the
  air (P − E) becomes a virtual salt flux at S_ref; F_S is the real salt flux of the ice.
  (Entering them in the basin's AB2 tendency would extrapolate them, ``(3/2 + χ) F^n − (1/2 + χ) F^{n−1}``, and the ocean would
  not receive exactly what the ice gave: the budgets would close only to the size of the
  flux changes.)  Shortwave is absorbed in the top cell (no penetration profile).

:class:`BasinSeaIceComponent` runs, on every T column at once, the zero-layer
thermodynamics of :mod:`pyclimaocean.models.seaice.thermodynamics` with the ocean's surface
cell as its slab (as the coupled column), then the EVP momentum of
:class:`~pyclimaocean.models.seaice.IceDynamics` (air stress averaged to U/V points, water
drag against the ocean's surface current, sea-surface tilt from the ocean's η), then the
advection of ice volume, concentration and snow with the new velocities.  It produces the
ocean's heat, shortwave, salt and water fluxes (ΔH / Δt − SW, ΔSalt / Δt, ΔM / Δt of the
slab) and the ice–ocean stress.  Land columns keep their (empty) state.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ...coupling import AbstractComponent
from ..basin import BasinModel, SurfaceForcing
from ..seaice import IceDynamics, SeaIceForcing, SeaIceState, SlabSeaIceThermodynamics
from ..seaice.dynamics import IceDynamicsForcing, IceDynamicsState
from ..seaice.thermodynamics import thermodynamic_step_with_fluxes

__all__ = ["BasinIceState", "BasinOceanComponent", "BasinSeaIceComponent"]


class BasinIceState(eqx.Module):
    """State of the dynamic–thermodynamic ice on the T points of the grid.

    Attributes:
        thermo: :class:`~pyclimaocean.models.seaice.SeaIceState`, ``(ny, nx)`` fields (its
            ``ice_volume``, ``snow_volume``, ``concentration`` are the advected h, h_s, A; its
            ocean fields are the surface cell as the last ice step left it; ``heat_input`` and
            ``water_input`` are cumulative per unit area of each column).
        u, v: ice velocity at U and V points (m s⁻¹).
        sigma1, sigma2: σ₁₁ ± σ₂₂ at T points (N m⁻¹).  sigma12: σ₁₂ on the extended
            ``(ny + 1, nx + 1)`` ζ grid (N m⁻¹).
    """

    thermo: SeaIceState
    u: jnp.ndarray
    v: jnp.ndarray
    sigma1: jnp.ndarray
    sigma2: jnp.ndarray
    sigma12: jnp.ndarray


class BasinOceanComponent(AbstractComponent):
    """The basin ocean under the coupler (module docstring).

    Attributes:
        basin: the :class:`BasinModel` (its ``forcing`` is replaced each step).
        heat_capacity: c_p (J kg⁻¹ K⁻¹) of the ocean's heat content.
        reference_salinity: S_ref of the virtual salt fluxes (g kg⁻¹, static).
    """

    basin: BasinModel
    heat_capacity: float
    reference_salinity: float = eqx.field(static=True, default=35.0)

    def surface_mass(self):
        """ρ₀ Δz_top (kg m⁻²), ``(ny, nx)``."""
        g = self.basin.grid
        return self.basin.reference_density * g.dz[-1] * jnp.ones((g.ny, g.nx))

    def export(self, state, time) -> dict:
        g = self.basin.grid
        u, v = state.u[-1], state.v[-1]
        return {"surface_temperature": state.T[-1], "surface_salinity": state.S[-1],
                "surface_velocity_u": g.ax_minus(u, "U"),
                "surface_velocity_v": g.ay_minus(v, "V"),
                "surface_u": u, "surface_v": v, "sea_surface_height": state.eta,
                "surface_mass": self.surface_mass()}

    def advance(self, state, imports, time, dt):
        b = self.basin
        g = b.grid
        tau_x = g.ax_plus(imports["air_sea_stress_x"], "T") + imports["ice_ocean_stress_x"]
        tau_y = g.ay_plus(imports["air_sea_stress_y"], "T") + imports["ice_ocean_stress_y"]
        forcing = SurfaceForcing(wind_stress_amplitude=1.0, wind_stress_x_shape=tau_x,
                                 wind_stress_y_shape=tau_y)
        new = eqx.tree_at(lambda m: m.forcing, b, forcing).step(state)
        mass = b.reference_density * g.dz[-1]
        wet = g.maskT[-1]
        heat = (imports["heat_flux"] + imports["shortwave"]) * wet
        water = imports["freshwater_flux"] - imports["evaporation_minus_rain"]
        salt = (imports["salt_flux"] - self.reference_salinity * water) * wet
        T = new.T.at[-1].add(dt * heat / (mass * self.heat_capacity))
        S = new.S.at[-1].add(dt * salt / mass)
        return eqx.tree_at(lambda s: (s.T, s.S), new, (T, S)), {}


class BasinSeaIceComponent(AbstractComponent):
    """Zero-layer ice thermodynamics + EVP dynamics + advection on the grid (module
    docstring).

    Attributes:
        thermodynamics: :class:`SlabSeaIceThermodynamics` (calibratable leaves).
        dynamics: :class:`IceDynamics` on the basin grid (calibratable leaves).
    """

    thermodynamics: SlabSeaIceThermodynamics
    dynamics: IceDynamics
    reference_salinity: float = eqx.field(static=True, default=35.0)

    def export(self, state: BasinIceState, time) -> dict:
        g = self.dynamics.grid
        return {"concentration": state.thermo.concentration,
                "surface_temperature": state.thermo.surface_temperature,
                "velocity_u": g.ax_minus(state.u, "U"),
                "velocity_v": g.ay_minus(state.v, "V")}

    def advance(self, state: BasinIceState, imports, time, dt) -> tuple[BasinIceState, Any]:
        p, d = self.thermodynamics, self.dynamics
        g = d.grid
        wet = g.surface_mask("T") > 0
        s_ref = self.reference_salinity
        # the ocean's surface cell is the slab; land columns get a quiet slab at freezing
        s_o = jnp.where(wet, imports["ocean_salinity"], s_ref)
        t_o = jnp.where(wet, imports["ocean_temperature"], p.freezing_temperature(s_ref))
        old = state.thermo
        slab = eqx.tree_at(lambda s: (s.ocean_temperature, s.ocean_salinity, s.ocean_mass),
                           old, (t_o, s_o, imports["ocean_mass"] + 0.0 * old.ocean_mass))
        forcing = SeaIceForcing(
            shortwave_down=imports["shortwave_down"], longwave_down=imports["longwave_down"],
            sensible=imports["sensible"], latent=imports["latent"],
            snowfall=imports["snowfall"], ocean_heat_flux=jnp.zeros_like(old.ocean_mass),
            turbulent_flux_slope=imports["turbulent_flux_slope"],
            turbulent_reference_temperature=imports["turbulent_reference_temperature"],
            open_water_turbulent=imports["open_water_turbulent"])
        new, fluxes = thermodynamic_step_with_fluxes(p, slab, forcing, dt)
        new = SeaIceState(*(jnp.where(wet, a, b) for a, b in zip(
            (new.ice_volume, new.snow_volume, new.concentration, new.surface_temperature,
             new.ocean_temperature, new.ocean_salinity, new.ocean_mass, new.heat_input,
             new.water_input),
            (old.ice_volume, old.snow_volume, old.concentration, old.surface_temperature,
             slab.ocean_temperature, slab.ocean_salinity, slab.ocean_mass, old.heat_input,
             old.water_input), strict=True)), time=old.time + dt,
            iteration=old.iteration + 1)
        co = p.ocean_heat_capacity
        d_enthalpy = co * (new.ocean_mass * new.ocean_temperature
                           - slab.ocean_mass * slab.ocean_temperature)
        d_salt = new.ocean_mass * new.ocean_salinity - slab.ocean_mass * slab.ocean_salinity
        d_mass = new.ocean_mass - slab.ocean_mass
        shortwave = jnp.where(wet, fluxes["ocean_shortwave"], 0.0)

        # momentum, then advection with the new velocities
        dyn = IceDynamicsState(u=state.u, v=state.v, h=new.ice_volume, A=new.concentration,
                               hs=new.snow_volume, sigma1=state.sigma1, sigma2=state.sigma2,
                               sigma12=state.sigma12)
        dyn_forcing = IceDynamicsForcing(
            tau_x=g.ax_plus(imports["air_ice_stress_x"], "T"),
            tau_y=g.ay_plus(imports["air_ice_stress_y"], "T"),
            ocean_u=imports["ocean_u"], ocean_v=imports["ocean_v"],
            ssh=imports["sea_surface_height"])
        dyn = d.momentum(dyn, dyn_forcing, dt)
        tau_io_x, tau_io_y = d.ice_ocean_stress(dyn, dyn_forcing)
        dyn = d.advect(dyn, dt)
        thermo = eqx.tree_at(lambda s: (s.ice_volume, s.concentration, s.snow_volume), new,
                             (dyn.h, dyn.A, dyn.hs))
        out = BasinIceState(thermo=thermo, u=dyn.u, v=dyn.v, sigma1=dyn.sigma1,
                            sigma2=dyn.sigma2, sigma12=dyn.sigma12)
        return out, {"ocean": {
            "heat_flux": d_enthalpy / dt - shortwave,
            "shortwave": shortwave,
            "salt_flux": d_salt / dt,
            "freshwater_flux": d_mass / dt,
            "ice_ocean_stress_x": tau_io_x,
            "ice_ocean_stress_y": tau_io_y,
        }}
