"""Prescribed seasonal forcing of the Arctic column: the Maykut & Untersteiner (1971) monthly
climatology in the form Semtner (1976, Table 1) tabulated it (from Fletcher 1965).

Semtner's table gives monthly totals in kcal cm⁻² per month; with 30-day months one unit is
4.184e7 J m⁻² / 2.592e6 s = 16.14 W m⁻².  Signs: positive into the surface.  The values were
read from the reproduction of the table in ClimaSeaIce.jl's Semtner (1976) example
(``tabulated_shortwave`` etc., which negates them for its upward convention).

Snowfall follows Maykut & Untersteiner (1971): 30 cm from 20 August to 30 October, 5 cm from
November to April and 5 cm in May (40 cm a year), spread uniformly over each period and
written here as monthly snow-depth increments (m per 30-day month) at the snow density.

Radiative and turbulent fluxes are interpolated linearly between mid-month values (periodic,
360-day year); snowfall is constant within each month.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .thermodynamics import SeaIceForcing

__all__ = ["KCAL_CM2_MONTH", "MonthlyClimatology", "SEMTNER_1976_TABLE", "arctic_climatology"]

DAY = 86400.0
MONTH = 30 * DAY
YEAR = 360 * DAY
#: W m⁻² per kcal cm⁻² month⁻¹ (30-day month)
KCAL_CM2_MONTH = 4184.0 * 1e4 / MONTH

#: Semtner (1976) Table 1 (Fletcher 1965), kcal cm⁻² month⁻¹, January to December, positive
#: into the surface.
SEMTNER_1976_TABLE = {
    "shortwave_down": (0.0, 0.0, 1.9, 9.9, 17.7, 19.2, 13.6, 9.0, 3.7, 0.4, 0.0, 0.0),
    "longwave_down": (10.4, 10.3, 10.3, 11.6, 15.1, 18.0, 19.1, 18.7, 16.5, 13.9, 11.2, 10.9),
    "sensible": (1.18, 0.76, 0.72, 0.29, -0.45, -0.39, -0.30, -0.40, -0.17, 0.1, 0.56, 0.79),
    "latent": (0.0, -0.02, -0.03, -0.09, -0.46, -0.70, -0.64, -0.66, -0.39, -0.19, -0.01, -0.01),
}

#: Maykut & Untersteiner (1971) snow accumulation, m of snow per 30-day month, Jan..Dec
MU71_SNOW_DEPTH = (0.05 / 6, 0.05 / 6, 0.05 / 6, 0.05 / 6, 0.05, 0.0, 0.0,
                   0.30 * 10 / 70, 0.30 * 30 / 70, 0.30 * 30 / 70, 0.05 / 6, 0.05 / 6)


class MonthlyClimatology(eqx.Module):
    """A periodic monthly climatology (arrays ``(12,)`` or ``(12, ...)`` for many columns).

    Attributes:
        shortwave_down, longwave_down, sensible, latent: mid-month values (W m⁻²), linearly
            interpolated in time.
        snow_depth_rate: snow-depth increment per month (m per 30-day month), constant within
            each month; converted to kg m⁻² s⁻¹ with ``snow_density``.
        snow_density: density of the falling snow (kg m⁻³).
        ocean_heat_flux: heat into the mixed layer from below (W m⁻²), constant.
    """

    shortwave_down: jnp.ndarray
    longwave_down: jnp.ndarray
    sensible: jnp.ndarray
    latent: jnp.ndarray
    snow_depth_rate: jnp.ndarray
    snow_density: float = 330.0
    ocean_heat_flux: float = 2.0

    def __call__(self, time) -> SeaIceForcing:
        """The forcing at ``time`` (s since 1 January of a 360-day year)."""
        t = jnp.mod(time, YEAR)
        mid = (jnp.arange(12) + 0.5) * MONTH

        def interp(values):
            values = jnp.asarray(values)
            w_hi = jnp.mod(t - mid[0], YEAR) / MONTH  # months since mid-January
            lo = jnp.floor(w_hi).astype(int) % 12
            w = w_hi - jnp.floor(w_hi)
            return (1.0 - w) * values[lo] + w * values[(lo + 1) % 12]

        month = jnp.floor(t / MONTH).astype(int) % 12
        snowfall = jnp.asarray(self.snow_depth_rate)[month] * self.snow_density / MONTH
        return SeaIceForcing(
            shortwave_down=interp(self.shortwave_down),
            longwave_down=interp(self.longwave_down),
            sensible=interp(self.sensible),
            latent=interp(self.latent),
            snowfall=snowfall,
            ocean_heat_flux=jnp.asarray(self.ocean_heat_flux, dtype=float),
        )


def arctic_climatology(ocean_heat_flux: float = 2.0, snow_scale: float = 1.0,
                       snow_density: float = 330.0) -> MonthlyClimatology:
    """Semtner (1976) / Maykut & Untersteiner (1971) forcing in W m⁻² (``ocean_heat_flux``
    2 W m⁻² as in their standard case; ``snow_scale`` multiplies the 40 cm of snow)."""
    table = {k: jnp.asarray(np.asarray(v) * KCAL_CM2_MONTH) for k, v in SEMTNER_1976_TABLE.items()}
    return MonthlyClimatology(
        **table, snow_depth_rate=jnp.asarray(np.asarray(MU71_SNOW_DEPTH) * snow_scale),
        snow_density=snow_density, ocean_heat_flux=ocean_heat_flux)
