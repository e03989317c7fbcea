"""An idealised polar atmosphere on the T points of a basin grid.

:class:`GriddedAtmosphere` broadcasts the time series of a
:class:`~pyclimaocean.coupling.PrescribedAtmosphere` (a seasonal climatology: radiation,
precipitation, pressure and the air temperature at a reference latitude) over the grid and
adds static spatial patterns:

* air temperature ``T_a(t, y) = T_a(t) + γ (φ_ref − φ)`` (warmer equatorward; γ in K per
  degree of latitude), specific humidity at ``relative_humidity`` of saturation over ice at
  that temperature (:func:`~pyclimaocean.fluxes.bulk.saturation_vapour_pressure`);
* wind: the fields ``wind_u``, ``wind_v`` (m s⁻¹, ``(ny, nx)`` at T points, leaves; the time
  series' own wind is not used).

``start_time`` (s) shifts the clock into the climatology (e.g. a run that starts in
October).  Everything is a pure function of the leaves, so γ, the wind and the relative
humidity are differentiable like any flux parameter.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax.numpy as jnp

from ...coupling import AbstractComponent, PrescribedAtmosphere
from ...fluxes.bulk import saturation_vapour_pressure

__all__ = ["GriddedAtmosphere"]


class GriddedAtmosphere(AbstractComponent):
    """A prescribed time series broadcast over the grid with static patterns (module
    docstring).

    Attributes:
        base: the :class:`PrescribedAtmosphere` time series (at ``reference_latitude``).
        latitude: ``(ny, nx)`` latitude of the T points (degrees north).
        wind_u, wind_v: ``(ny, nx)`` wind at T points (m s⁻¹).
        temperature_gradient: γ (K per degree of latitude, > 0: colder poleward).
        reference_latitude: φ_ref (degrees north) where T_a is the series' value.
        relative_humidity: of the air, over ice (1).
        start_time: model time 0 in the climatology (s, static).
    """

    base: PrescribedAtmosphere
    latitude: Any
    wind_u: Any
    wind_v: Any
    temperature_gradient: Any = 0.5
    reference_latitude: float = eqx.field(static=True, default=82.0)
    relative_humidity: Any = 0.9
    start_time: float = eqx.field(static=True, default=0.0)

    def export(self, state, time) -> dict:
        """``{variable: (ny, nx)}`` at ``time`` (s) and the measurement heights."""
        series = self.base.at(time + self.start_time)
        shape = jnp.shape(self.latitude)
        out = {k: jnp.broadcast_to(v, shape) for k, v in series.items()}
        t_air = series["air_temperature"] + self.temperature_gradient * (
            self.reference_latitude - self.latitude)
        pressure = out["air_pressure"]
        e = self.relative_humidity * saturation_vapour_pressure(t_air, pressure, True)
        out["air_temperature"] = t_air
        out["specific_humidity"] = 0.622 * e / (pressure - 0.378 * e)
        out["wind_u"] = jnp.broadcast_to(self.wind_u, shape)
        out["wind_v"] = jnp.broadcast_to(self.wind_v, shape)
        out["wind_height"] = self.base.wind_height
        out["temperature_height"] = self.base.temperature_height
        return out

    def advance(self, state, imports, time, dt):
        return state, {}
