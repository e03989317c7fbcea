"""Lorenz-96 models (one-scale and two-scale), RK4 stepping, simulation and CF output.

Example::

    from pyclimaocean.models.lorenz96 import Lorenz96, simulate, to_xarray
    m = Lorenz96(n=40, forcing=8.0)
    traj = simulate(m.tendency, m.initial_condition(), dt=0.05, n_steps=200)
    ds = to_xarray(traj, dt=0.05, forcing=8.0)
"""

from .io import to_xarray
from .model import Lorenz96, TwoScaleLorenz96, l96_advection, rk4_step, simulate
from .setups import arnold_2013, sakov_oke_2008, spun_up_state
from .state import Lorenz96State, TwoScaleLorenz96State, TwoScaleState

__all__ = [
    "Lorenz96",
    "TwoScaleLorenz96",
    "TwoScaleState",
    "Lorenz96State",
    "TwoScaleLorenz96State",
    "l96_advection",
    "rk4_step",
    "simulate",
    "to_xarray",
    "sakov_oke_2008",
    "arnold_2013",
    "spun_up_state",
]
