"""Differentiable diagnostics of the basin model: ``f(model, state) -> scalar`` (usable as
losses; all are sums over static masks)."""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["kinetic_energy", "heat_content", "max_streamfunction", "mean_sst",
           "total_volume_anomaly", "tracer_content"]


def kinetic_energy(model, state):
    """Volume-mean kinetic energy ``½ <u² + v²>`` (m² s⁻²), each component weighted by the
    volume of its own cells."""
    g = model.grid
    dz = g.dz[:, None, None]
    ku = jnp.sum(state.u**2 * g.areaU * dz * g.maskU, axis=(-3, -2, -1))
    kv = jnp.sum(state.v**2 * g.areaV * dz * g.maskV, axis=(-3, -2, -1))
    return 0.5 * (ku + kv) / jnp.sum(g.volumeT)


def tracer_content(model, phi):
    """``Σ φ dV`` over wet T cells (φ units × m³)."""
    return jnp.sum(phi * model.grid.volumeT, axis=(-3, -2, -1))


def heat_content(model, state):
    """``Σ T dV`` (°C m³; multiply by ρ₀ c_p for J)."""
    return tracer_content(model, state.T)


def total_volume_anomaly(model, state):
    """``Σ η dA`` (m³): conserved by the free-surface equation."""
    g = model.grid
    return jnp.sum(state.eta * g.areaT * g.maskT[-1], axis=(-2, -1))


def max_streamfunction(model, state):
    """Largest ``|ψ|`` of the barotropic streamfunction (m³ s⁻¹)."""
    return jnp.max(jnp.abs(model.barotropic_streamfunction(state)), axis=(-2, -1))


def mean_sst(model, state):
    """Area mean of the top-level temperature (°C)."""
    g = model.grid
    w = g.areaT * g.maskT[-1]
    return jnp.sum(state.T[..., -1, :, :] * w, axis=(-2, -1)) / jnp.sum(w)
