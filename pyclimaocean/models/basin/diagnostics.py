"""The basin model's named diagnostics: ``f(model, state) -> scalar`` (usable as losses).

Each is a thin wrapper that reads the grid and ρ₀ from the model and the fields from the state
and calls the one implementation in :mod:`~pyclimaocean.models.basin.analysis`, so a
diagnostic, the output variable of the same name (:mod:`~.metadata`) and the run summary
agree.  Leading axes of the state (a trajectory, an ensemble) are kept.
:meth:`BasinModel.diagnostics <pyclimaocean.models.basin.BasinModel.diagnostics>` lists the
ones that apply to a model's grid.
"""

from __future__ import annotations

from . import analysis as A

__all__ = [
    "acc_transport",
    "heat_content",
    "kinetic_energy",
    "max_barotropic_streamfunction",
    "max_overturning",
    "mean_kinetic_energy",
    "mean_sst",
    "total_volume_anomaly",
    "tracer_content",
]


def kinetic_energy(model, state):
    """Volume-integrated kinetic energy ``ρ₀ Σ ½ (u² dV_U + v² dV_V)`` (J), ρ₀ the model's
    ``reference_density`` (:func:`~.analysis.kinetic_energy`)."""
    return A.kinetic_energy(model.grid, state.u, state.v, model.reference_density)


def mean_kinetic_energy(model, state):
    """Volume-mean kinetic energy per unit mass ``Σ ½ (u² dV_U + v² dV_V) / V`` (m² s⁻²)
    (:func:`~.analysis.mean_kinetic_energy`)."""
    return A.mean_kinetic_energy(model.grid, state.u, state.v)


def heat_content(model, state):
    """Ocean heat content ``ρ₀ c_p Σ T dV`` (J, relative to 0 °C; ρ₀ the model's
    ``reference_density``, c_p the TEOS-10 c_p⁰) (:func:`~.analysis.heat_content`)."""
    return A.heat_content(model.grid, state.T, reference_density=model.reference_density)


def mean_sst(model, state):
    """Area mean of the top-level temperature over wet surface cells (°C)."""
    return A.mean_sst(model.grid, state.T)


def max_barotropic_streamfunction(model, state):
    """Largest barotropic streamfunction (m³ s⁻¹; relative to the northern wall on a
    re-entrant grid) of the state's filtered transport ``U``
    (:func:`~.analysis.max_barotropic_streamfunction`)."""
    return A.max_barotropic_streamfunction(model.grid, state.U)


def acc_transport(model, state):
    """Zonal volume transport through the meridional section of U column 0 (m³ s⁻¹,
    positive eastward; :func:`~.analysis.zonal_transport`): on a re-entrant grid such as
    :func:`~.setups.acc_sector` the transport of the channel (the ACC)."""
    return A.zonal_transport(model.grid, state.u, 0)


def max_overturning(model, state):
    """Largest meridional overturning streamfunction below the surface (m³ s⁻¹; AMOC sense
    positive) (:func:`~.analysis.max_overturning`; needs ``nz ≥ 2``)."""
    return A.max_overturning(model.grid, state.v)


def tracer_content(model, phi):
    """``Σ φ dV`` of a T-point field over wet cells (units of ``phi`` × m³)."""
    return A.volume_integral(model.grid, phi)


def total_volume_anomaly(model, state):
    """``Σ η dA`` (m³): conserved by the free-surface equation
    (:func:`~.analysis.free_surface_volume`)."""
    return A.free_surface_volume(model.grid, state.eta)
