"""Radiative surface fluxes: shortwave through an albedo, longwave as a grey body.

Sign convention (the project's, see :mod:`pyclimaocean.fluxes.surface`): every flux is
positive *into* the surface (warming the ocean or the ice)::

    Q_sw = (1 − α) SW↓                         net shortwave (W m⁻²)
    Q_lw = ε LW↓ − ε σ T_s⁴                    net longwave (W m⁻²)

``ε`` multiplies both terms (Kirchhoff: the surface absorbs the fraction ε of LW↓ it emits
with), as COARE 3.6 does (``lw_net = 0.97 (σ T_s⁴ − LW↓)`` with the opposite sign). σ is
:data:`pyclimaocean.physics.constants.STEFAN_BOLTZMANN`.

Defaults and sources:

=======================  =========  ==================================================
parameter                default    source
=======================  =========  ==================================================
ocean albedo α           0.055      COARE 3.6 Fortran constant ``sw_onema = 0.945``
ocean emissivity ε       0.97       COARE 3.6 (``lw_emiss``)
ice albedo α             0.65       upper end of MITgcm pkg/thsice bare-ice albedos (0.20–0.65)
ice emissivity ε         0.95       a typical sea-ice value (no single reference; calibrate)
=======================  =========  ==================================================

Float64: call ``jax.config.update("jax_enable_x64", True)`` (the package does at import).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ..params import ParameterSet, Prior
from ..physics.constants import STEFAN_BOLTZMANN

__all__ = ["RadiativeFluxes"]


class RadiativeFluxes(eqx.Module):
    """Net shortwave and longwave fluxes into a surface.

    Attributes:
        albedo: shortwave albedo α (1).
        emissivity: longwave emissivity ε (1).
        stefan_boltzmann: σ (W m⁻² K⁻⁴), static (a physical constant, not calibrated).
    """

    albedo: Any = 0.055
    emissivity: Any = 0.97
    stefan_boltzmann: float = eqx.field(static=True, default=STEFAN_BOLTZMANN)

    @classmethod
    def ocean(cls) -> RadiativeFluxes:
        """COARE 3.6 open-ocean values (α = 0.055, ε = 0.97)."""
        return cls(albedo=0.055, emissivity=0.97)

    @classmethod
    def sea_ice(cls) -> RadiativeFluxes:
        """Bare sea ice (α = 0.65, ε = 0.95); see the module table for sources."""
        return cls(albedo=0.65, emissivity=0.95)

    def net_shortwave(self, downwelling_shortwave):
        """(1 − α) SW↓ (W m⁻², into the surface); any array shape."""
        return (1.0 - self.albedo) * jnp.asarray(downwelling_shortwave, dtype=float)

    def emitted_longwave(self, surface_temperature):
        """ε σ T_s⁴ (W m⁻², upward); ``surface_temperature`` in K."""
        t = jnp.asarray(surface_temperature, dtype=float)
        return self.emissivity * self.stefan_boltzmann * t**4

    def net_longwave(self, downwelling_longwave, surface_temperature):
        """ε LW↓ − ε σ T_s⁴ (W m⁻², into the surface); temperatures in K."""
        return self.emissivity * jnp.asarray(
            downwelling_longwave, dtype=float
        ) - self.emitted_longwave(surface_temperature)

    def fluxes(self, downwelling_shortwave, downwelling_longwave, surface_temperature) -> dict:
        """``{"net_shortwave", "net_longwave", "net_radiation"}`` (W m⁻², into the surface)."""
        sw = self.net_shortwave(downwelling_shortwave)
        lw = self.net_longwave(downwelling_longwave, surface_temperature)
        return {"net_shortwave": sw, "net_longwave": lw, "net_radiation": sw + lw}

    @classmethod
    def parameter_specs(cls) -> dict[str, dict[str, Any]]:
        """``{field: {lower, upper, units, description, prior}}`` (uniform priors)."""
        return {
            "albedo": dict(lower=0.0, upper=1.0, units="1",
                           prior=Prior.make("uniform", low=0.0, high=1.0),
                           description="shortwave albedo of the surface"),
            "emissivity": dict(lower=0.5, upper=1.0, units="1",
                               prior=Prior.make("uniform", low=0.5, high=1.0),
                               description="longwave emissivity of the surface"),
        }

    def parameter_set(self, prefix: str = "") -> ParameterSet:
        """The calibratable coefficients as a :class:`~pyclimaocean.params.ParameterSet`
        named ``prefix + field`` (e.g. ``prefix="radiation."`` inside a larger model)."""
        ps = ParameterSet.from_model(self, self.parameter_specs())
        return ParameterSet({prefix + n: p for n, p in ps.parameters.items()})
