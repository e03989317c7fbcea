"""Standard Lorenz-96 setups used across the package."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .model import Lorenz96, TwoScaleLorenz96, simulate

__all__ = ["sakov_oke_2008", "arnold_2013", "spun_up_state"]


def sakov_oke_2008() -> tuple[Lorenz96, float]:
    """Sakov & Oke (2008) data-assimilation benchmark: n=40, F=8, RK4 dt=0.05 MTU.

    Returns:
        ``(model, dt)``.
    """
    return Lorenz96(n=40, forcing=8.0), 0.05


def arnold_2013() -> tuple[TwoScaleLorenz96, float]:
    """Two-scale model with Arnold et al. (2013) constants (K=8, J=32, h=1, b=c=10, F=20).

    Returns:
        ``(model, dt)`` with dt = 0.001 MTU (RK4 is stable for the fast variables at this step).
    """
    return TwoScaleLorenz96(K=8, J=32, h=1.0, b=10.0, c=10.0, forcing=20.0), 0.001


def spun_up_state(model, dt: float, n_spinup: int = 2000, seed: int = 0):
    """State on the attractor: integrate ``n_spinup`` RK4 steps from a perturbed rest state.

    Works for :class:`Lorenz96` (returns ``(n,)``) and :class:`TwoScaleLorenz96` (returns a
    :class:`TwoScaleState`).
    """
    if isinstance(model, TwoScaleLorenz96):
        x0 = model.initial_condition(seed)
    else:
        x0 = model.initial_condition() + 0.1 * jax.random.normal(
            jax.random.PRNGKey(seed), (model.n,)
        )
    traj = simulate(model.tendency, x0, dt, n_spinup, save_every=n_spinup, checkpoint_every=None)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[-1], traj)
