"""The ocean column and the sea-ice slab as coupler components.

:class:`OceanColumnComponent` wraps a :class:`~pyclimaocean.models.column.ColumnModel`: it
exports its surface cell (temperature, salinity, current, mass ρ₀ Δz) and advances one column
step under the fluxes it imports, given to the column as an :class:`InstantaneousFluxes`
forcing (so the column's own implicit mixing, solar penetration and budgets are reused as
they are).

:class:`SeaIceComponent` wraps :func:`~pyclimaocean.models.seaice.thermodynamic_step_with_fluxes`:
the ocean's surface cell plays the slab mixed layer under the ice for one step; what the step
changes in that slab (enthalpy, salt, mass) goes back to the ocean as fluxes:

* ``shortwave``: the shortwave the slab absorbed (leads, and transmitted through the ice),
  which the column spreads with its solar-penetration profile;
* ``heat_flux`` = ΔH / Δt − ``shortwave`` with H = c_o M T_o (everything else: open-water
  longwave and turbulent heat, the ice–ocean flux, latent heat of lead ice and frazil, melt
  water at 0 °C, snow falling into the leads);
* ``salt_flux`` = (ΔSalt − S_ref ΔM) / Δt: the column has a fixed volume (Boussinesq, rigid
  lid), so the mass the ice takes or gives back becomes a virtual salt flux at the column's
  reference salinity S_ref (brine rejection from growth, dilution from melt).

With ρ₀ c_p of the column equal to the ice's ρ_o c_o (the coupled model sets them equal),
the column's heat content changes by exactly ΔH, and E = ρ₀ c_p Σ T Δz − L (m_i + m_s) and
V = ρ₀ Σ S Δz + S_i m_i − S_ref (m_i + m_s) change only by the external inputs (see
:func:`pyclimaocean.models.coupled.budgets`).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ...coupling import AbstractComponent
from ...fluxes.surface import AbstractSurfaceForcing, SurfaceFluxes
from ..column import ColumnModel
from ..seaice import SeaIceForcing, SeaIceState, SlabSeaIceThermodynamics
from ..seaice.thermodynamics import thermodynamic_step_with_fluxes

__all__ = ["InstantaneousFluxes", "OceanColumnComponent", "SeaIceComponent"]


class InstantaneousFluxes(AbstractSurfaceForcing):
    """Surface forcing holding the fluxes of one coupled step (``at`` ignores the time)."""

    fluxes: SurfaceFluxes

    def at(self, time) -> SurfaceFluxes:
        return self.fluxes


class OceanColumnComponent(AbstractComponent):
    """The ocean column under the coupler (see the module docstring)."""

    column: ColumnModel

    def surface_mass(self):
        """ρ₀ Δz of the surface cell (kg m⁻²)."""
        return self.column.reference_density * self.column.grid.dz_centers[-1]

    def export(self, state, time) -> dict:
        return {"surface_temperature": state.temperature[-1],
                "surface_salinity": state.salinity[-1],
                "surface_velocity_u": state.u[-1], "surface_velocity_v": state.v[-1],
                "surface_mass": self.surface_mass()}

    def advance(self, state, imports, time, dt):
        rho0 = self.column.reference_density
        freshwater = (imports["evaporation_minus_rain"] / rho0
                      + imports["salt_flux"] / (rho0 * self.column.reference_salinity))
        fluxes = SurfaceFluxes(heat_flux=imports["heat_flux"], shortwave=imports["shortwave"],
                               wind_stress_x=imports["wind_stress_x"],
                               wind_stress_y=imports["wind_stress_y"],
                               freshwater_flux=freshwater)
        column = eqx.tree_at(lambda m: m.forcing, self.column, InstantaneousFluxes(fluxes))
        return column.step(state), {}


class SeaIceComponent(AbstractComponent):
    """The zero-layer ice over the ocean's surface cell (see the module docstring).

    Attributes:
        thermodynamics: :class:`SlabSeaIceThermodynamics` (calibratable leaves).
        reference_salinity: S_ref of the ocean's virtual salt flux (g kg⁻¹, static).
    """

    thermodynamics: SlabSeaIceThermodynamics
    reference_salinity: float = eqx.field(static=True, default=35.0)

    def export(self, state: SeaIceState, time) -> dict:
        return {"concentration": state.concentration,
                "surface_temperature": state.surface_temperature}

    def advance(self, state: SeaIceState, imports, time, dt) -> tuple[SeaIceState, Any]:
        p = self.thermodynamics
        slab = eqx.tree_at(lambda s: (s.ocean_temperature, s.ocean_salinity, s.ocean_mass),
                           state, (imports["ocean_temperature"], imports["ocean_salinity"],
                                   imports["ocean_mass"] + 0.0 * state.ocean_mass))
        forcing = SeaIceForcing(
            shortwave_down=imports["shortwave_down"], longwave_down=imports["longwave_down"],
            sensible=imports["sensible"], latent=imports["latent"],
            snowfall=imports["snowfall"], ocean_heat_flux=jnp.zeros_like(state.ocean_mass),
            turbulent_flux_slope=imports["turbulent_flux_slope"],
            turbulent_reference_temperature=imports["turbulent_reference_temperature"],
            open_water_turbulent=imports["open_water_turbulent"])
        new, fluxes = thermodynamic_step_with_fluxes(p, slab, forcing, dt)
        co = p.ocean_heat_capacity
        d_enthalpy = co * (new.ocean_mass * new.ocean_temperature
                           - slab.ocean_mass * slab.ocean_temperature)
        d_salt = (new.ocean_mass * new.ocean_salinity - slab.ocean_mass * slab.ocean_salinity)
        d_mass = new.ocean_mass - slab.ocean_mass
        shortwave = fluxes["ocean_shortwave"]
        new = eqx.tree_at(lambda s: (s.time, s.iteration), new,
                          (state.time + dt, state.iteration + 1))
        return new, {"ocean": {
            "heat_flux": d_enthalpy / dt - shortwave,
            "shortwave": shortwave,
            "salt_flux": (d_salt - self.reference_salinity * d_mass) / dt,
        }}
