"""Two-layer quasi-geostrophic turbulence (pyqg's ``QGModel`` in JAX): model, diagnostics,
closure hook, configs ("eddy" and "jet" of Ross et al. 2023) and figures.

Example::

    from pyclimaocean.models.qg import TwoLayerQG
    m = TwoLayerQG(nx=64, dt=3600.0)
    final, states = m.run(m.initial_state(), 240, save_every=24)
    ds = m.to_xarray(states)
"""

from .closure import AbstractQGClosure, QGFields
from .closure_io import load_closure, save_closure
from .closure_registry import QG_CLOSURES, build_closure, closure_names, register_closure
from .coarsegrain import (
    Coarsener,
    coarse_grain,
    generate_coarse_dataset,
    load_coarse_dataset,
    low_res_model,
    momentum_subgrid_forcing,
    q_subgrid_fluxes,
    q_subgrid_forcing,
    q_total_forcing,
)
from .diagnostics import (
    eddy_pv_flux,
    energy_flux,
    energy_transfer,
    enstrophy,
    enstrophy_transfer,
    isotropic_enstrophy_spectrum,
    isotropic_ke_spectrum,
    kinetic_energy,
    linear_growth_rates,
    total_energy,
    total_enstrophy,
    zonal_mean_pv_flux,
)
from .equivariant import EquivariantQGClosure, act_on_field, surviving_group
from .gradient_library import SparseMomentumClosure
from .metrics import (
    distributional_distances,
    mean_similarity,
    online_distances,
    similarity_scores,
    spectral_distances,
    wasserstein1,
)
from .model import SpectralGrid, TwoLayerQG, spectral_grid
from .neural import ConvQGClosure
from .physical_closures import BackscatterBiharmonic, Smagorinsky, ZannaBolton2020
from .state import QGState
from .stochastic import AR1Noise, StochasticQG, StochasticQGState, fit_ar1

# learned closures by name: networks load from a file (``path=``), the discovered sparse
# closure takes its coefficients (see docs/qg.md, "Learned closures")
register_closure("cnn", "pyclimaocean.models.qg.closure_io:load_closure")
register_closure("equivariant_cnn", "pyclimaocean.models.qg.closure_io:load_closure")
register_closure("discovered", "pyclimaocean.models.qg.gradient_library:SparseMomentumClosure")

__all__ = [
    "QG_CLOSURES",
    "AR1Noise",
    "ConvQGClosure",
    "EquivariantQGClosure",
    "SparseMomentumClosure",
    "StochasticQG",
    "StochasticQGState",
    "act_on_field",
    "fit_ar1",
    "load_closure",
    "save_closure",
    "surviving_group",
    "AbstractQGClosure",
    "BackscatterBiharmonic",
    "Coarsener",
    "QGFields",
    "QGState",
    "Smagorinsky",
    "SpectralGrid",
    "TwoLayerQG",
    "ZannaBolton2020",
    "build_closure",
    "closure_names",
    "coarse_grain",
    "distributional_distances",
    "eddy_pv_flux",
    "energy_flux",
    "energy_transfer",
    "generate_coarse_dataset",
    "enstrophy",
    "enstrophy_transfer",
    "isotropic_enstrophy_spectrum",
    "isotropic_ke_spectrum",
    "kinetic_energy",
    "linear_growth_rates",
    "load_coarse_dataset",
    "low_res_model",
    "mean_similarity",
    "momentum_subgrid_forcing",
    "online_distances",
    "q_subgrid_fluxes",
    "q_subgrid_forcing",
    "q_total_forcing",
    "register_closure",
    "similarity_scores",
    "spectral_distances",
    "spectral_grid",
    "total_energy",
    "total_enstrophy",
    "wasserstein1",
    "zonal_mean_pv_flux",
]
