"""Prescribed surface forcing of a column: heat, shortwave, freshwater and wind stress.

Sign conventions (oceanographic): heat fluxes are positive *into* the ocean (warming);
``freshwater_flux`` is evaporation minus precipitation, E − P (m s⁻¹, positive makes the ocean
saltier); wind stress is the stress of the atmosphere on the ocean (N m⁻²).

Time dependence, two kinds of forcing (both :class:`AbstractSurfaceForcing`, ``at(time)``):

* :class:`SurfaceForcing`: each flux is ``mean + amplitude · cos(2π t / cycle_period)``, which
  covers a diurnal (period 1 day) or seasonal (period 1 year) cycle; shortwave is clipped at
  zero (night).
* :class:`TabulatedSurfaceForcing`: time series (an observed or reanalysis flux record),
  linearly interpolated in time inside the compiled step (``jnp.interp``).  The tabulated
  values are leaves of the model pytree, so they are differentiable controls: ``jax.grad``
  gives the sensitivity of a loss to every flux value, e.g. to estimate fluxes by gradient
  descent (the experiment ``[parameters]`` table names closure parameters only).

Shortwave penetration uses the two-band exponential of Paulson & Simpson (1977, J. Phys.
Oceanogr. 7, 952–956); the default is their Jerlov type I water (R = 0.58, ζ₁ = 0.35 m,
ζ₂ = 23 m).  Light that reaches the sea floor is absorbed in the bottom cell, so the column
gains exactly the shortwave flux.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "AbstractSurfaceForcing",
    "SurfaceForcing",
    "TabulatedSurfaceForcing",
    "SolarPenetration",
    "SurfaceFluxes",
    "FLUX_NAMES",
]

#: the fluxes of :class:`SurfaceFluxes`, in order, with their units
FLUX_NAMES = {
    "heat_flux": "W m-2",
    "shortwave": "W m-2",
    "wind_stress_x": "N m-2",
    "wind_stress_y": "N m-2",
    "freshwater_flux": "m s-1",
}


class SurfaceFluxes(eqx.Module):
    """Fluxes at one instant: ``heat_flux`` (non-solar, W m⁻², into ocean), ``shortwave``
    (W m⁻², into ocean), ``wind_stress_x``/``wind_stress_y`` (N m⁻²), ``freshwater_flux``
    (E − P, m s⁻¹)."""

    heat_flux: jnp.ndarray
    shortwave: jnp.ndarray
    wind_stress_x: jnp.ndarray
    wind_stress_y: jnp.ndarray
    freshwater_flux: jnp.ndarray


class AbstractSurfaceForcing(eqx.Module):
    """Surface forcing of a column: the fluxes at any model time."""

    @abc.abstractmethod
    def at(self, time) -> SurfaceFluxes:
        """:class:`SurfaceFluxes` at ``time`` (s since the start of the run; traceable)."""


class SurfaceForcing(AbstractSurfaceForcing):
    """Surface forcing with an optional periodic cycle.

    Attributes:
        heat_flux, heat_flux_amplitude: non-solar heat flux mean and cycle amplitude (W m⁻²).
        shortwave, shortwave_amplitude: shortwave mean and amplitude (W m⁻²; clipped ≥ 0).
        wind_stress_x, wind_stress_y: wind stress (N m⁻²).
        wind_stress_amplitude: amplitude of the cycle of the x wind stress (N m⁻²).
        freshwater_flux: E − P (m s⁻¹).
        cycle_period: period of the cycle (s), default one day.
    """

    heat_flux: float = 0.0
    heat_flux_amplitude: float = 0.0
    shortwave: float = 0.0
    shortwave_amplitude: float = 0.0
    wind_stress_x: float = 0.0
    wind_stress_y: float = 0.0
    wind_stress_amplitude: float = 0.0
    freshwater_flux: float = 0.0
    cycle_period: float = eqx.field(static=True, default=86400.0)

    def at(self, time) -> SurfaceFluxes:
        phase = jnp.cos(2 * jnp.pi * time / self.cycle_period)
        return SurfaceFluxes(
            heat_flux=self.heat_flux + self.heat_flux_amplitude * phase,
            shortwave=jnp.maximum(self.shortwave + self.shortwave_amplitude * phase, 0.0),
            wind_stress_x=self.wind_stress_x + self.wind_stress_amplitude * phase,
            wind_stress_y=jnp.asarray(self.wind_stress_y, dtype=float),
            freshwater_flux=jnp.asarray(self.freshwater_flux, dtype=float),
        )


class TabulatedSurfaceForcing(AbstractSurfaceForcing):
    """Surface fluxes given as time series, linearly interpolated in time.

    ``F(t) = F_i + (F_{i+1} − F_i) (t − t_i) / (t_{i+1} − t_i)`` for ``t_i ≤ t ≤ t_{i+1}``
    (``jnp.interp``); before the first and after the last time the end values are held (check
    that the table covers the run with :meth:`check_covers`; the experiment builder does).
    The column model evaluates the fluxes at the start of each step, tⁿ, so the heat it
    receives over a run is ``Δt Σₙ Q(tⁿ)`` (a left Riemann sum of the interpolated series; for
    knots on multiples of Δt this is the trapezoidal integral minus ``Δt (Q(t_N) − Q(t_0)) / 2``).

    Every series is a leaf ``(nt,)``: a differentiable control (``jax.grad`` of a loss with
    respect to ``forcing.heat_flux`` gives the sensitivity to each tabulated value).

    Args:
        times: ``(nt,)`` strictly increasing, s since the start of the run.
        heat_flux: non-solar heat flux into the ocean (W m⁻²), ``(nt,)`` or a constant.
        shortwave: shortwave into the ocean (W m⁻², ≥ 0; not clipped, so the interpolation is
            linear in the values).
        wind_stress_x, wind_stress_y: wind stress (N m⁻²).
        freshwater_flux: E − P (m s⁻¹).
    """

    times: jax.Array
    heat_flux: jax.Array
    shortwave: jax.Array
    wind_stress_x: jax.Array
    wind_stress_y: jax.Array
    freshwater_flux: jax.Array

    def __init__(self, times, heat_flux=0.0, shortwave=0.0, wind_stress_x=0.0,
                 wind_stress_y=0.0, freshwater_flux=0.0):
        times = jnp.asarray(times, dtype=float)
        if times.ndim != 1 or times.shape[0] < 1:
            raise ValueError(
                f"TabulatedSurfaceForcing: times must be a 1-D array of at least one time, got "
                f"shape {times.shape}"
            )
        if not isinstance(times, jax.core.Tracer):
            t = np.asarray(times)
            if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
                bad = int(np.argmax(~np.isfinite(t))) if not np.all(np.isfinite(t)) else int(
                    np.argmax(np.diff(t) <= 0) + 1)
                raise ValueError(
                    f"TabulatedSurfaceForcing: times must be finite and strictly increasing; "
                    f"times[{bad}] = {float(t[bad])!r}"
                    + (f" (after {float(t[bad - 1])!r})" if bad else "")
                )
        self.times = times
        for name, values in (("heat_flux", heat_flux), ("shortwave", shortwave),
                             ("wind_stress_x", wind_stress_x), ("wind_stress_y", wind_stress_y),
                             ("freshwater_flux", freshwater_flux)):
            values = jnp.asarray(values, dtype=float)
            if values.ndim == 0:
                values = jnp.full(times.shape, values)
            if values.shape != times.shape:
                raise ValueError(
                    f"TabulatedSurfaceForcing: {name} has shape {values.shape}, times has "
                    f"{times.shape}; give one value per time (or a constant)"
                )
            setattr(self, name, values)

    def at(self, time) -> SurfaceFluxes:
        def interp(values):
            return jnp.interp(time, self.times, values)

        return SurfaceFluxes(
            heat_flux=interp(self.heat_flux),
            shortwave=interp(self.shortwave),
            wind_stress_x=interp(self.wind_stress_x),
            wind_stress_y=interp(self.wind_stress_y),
            freshwater_flux=interp(self.freshwater_flux),
        )

    def check_covers(self, start: float, stop: float, source: str = "the forcing table") -> None:
        """Raise ``ValueError`` unless the times cover ``[start, stop]`` (s)."""
        t = np.asarray(self.times)
        if t[0] > start or t[-1] < stop:
            raise ValueError(
                f"{source} covers t = {t[0]:g} s to {t[-1]:g} s but the run needs the fluxes from "
                f"t = {start:g} s to {stop:g} s (the start of its last step); extend the table "
                "or shorten time.stop_time"
            )


class SolarPenetration(eqx.Module):
    """Two-band shortwave penetration ``I(z) = I₀ (R e^{z/ζ₁} + (1 − R) e^{z/ζ₂})``.

    Attributes: ``fraction`` R (1), ``length_1`` ζ₁ (m), ``length_2`` ζ₂ (m).
    """

    fraction: float = 0.58
    length_1: float = 0.35
    length_2: float = 23.0

    def transmitted(self, z_faces):
        """Fraction of surface shortwave reaching each face ``(nz + 1,)``; 0 at the bottom."""
        frac = self.fraction * jnp.exp(z_faces / self.length_1) + (1 - self.fraction) * jnp.exp(
            z_faces / self.length_2
        )
        return frac.at[0].set(0.0)

    def absorbed_fraction(self, z_faces):
        """Fraction of surface shortwave absorbed in each cell ``(nz,)`` (sums to 1)."""
        t = self.transmitted(z_faces)
        return t[1:] - t[:-1]
