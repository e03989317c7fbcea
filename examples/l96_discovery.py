"""Equation discovery on Lorenz-96 with sparse regression (STLSQ).

1. Recover the one-scale Lorenz-96 equations from a noise-free trajectory, with time
   derivatives from 4th-order finite differences of the trajectory.
2. Fit a sparse polynomial closure U(X_k) for the subgrid term of the two-scale model
   (Arnold et al. 2013 constants), report its fit quality, and run the coarse model with it.
   The climate comparison is in-sample: the coarse run starts from the first state of the
   trajectory the closure was fitted on and is compared with that same trajectory's mean and
   standard deviation (a quick sanity check, not a held-out evaluation; see
   docs/neural_closures.md for held-out climate scores).

Run: python examples/l96_discovery.py            (about 10 s on a laptop core)
     python examples/l96_discovery.py --small    (shorter trajectories, used by the tests)
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.discovery import (
    ShiftedPolynomialLibrary,
    finite_difference_derivative,
    fit_sparse_model,
)
from pyclimaocean.models.lorenz96 import Lorenz96, arnold_2013, simulate, spun_up_state


def discover_one_scale(n_steps: int, dt: float = 0.01):
    model = Lorenz96(n=40, forcing=8.0)
    x0 = spun_up_state(model, dt, 2000, seed=0)
    traj = simulate(model.tendency, x0, dt, n_steps, save_every=1)
    dxdt = finite_difference_derivative(traj, dt, order=4)
    library = ShiftedPolynomialLibrary(offsets=(-2, -1, 0, 1, 2), degree=2)
    sparse, quality = fit_sparse_model(traj[2:-2], dxdt, library, threshold=0.05)
    return sparse, quality


def discover_closure(n_steps: int, save_every: int = 100):
    model, dt = arnold_2013()
    state = spun_up_state(model, dt, 5000, seed=0)
    traj = simulate(model.tendency, state, dt, n_steps, save_every=save_every)
    subgrid = model.subgrid_forcing(traj.y)  # U_k = -(h c / b) sum_j Y_{j,k}
    library = ShiftedPolynomialLibrary(offsets=(0,), degree=5)
    closure, quality = fit_sparse_model(
        traj.x, subgrid, library, threshold=1.0, normalize_columns=True
    )
    return model, dt, traj, closure, quality


COARSE_FACTOR = 5  # coarse step = 5 fine steps (0.005 MTU)


def coarse_run(model, dt, closure, x0, n_steps, save_every):
    """Coarse model + closure with step ``COARSE_FACTOR * dt``, saved on the same times as a
    fine run of ``n_steps`` steps saved every ``save_every`` (both multiples of COARSE_FACTOR)."""
    for name, value in (("n_steps", n_steps), ("save_every", save_every)):
        if value % COARSE_FACTOR:
            raise ValueError(f"{name} = {value} must be a multiple of {COARSE_FACTOR}")

    def tendency(x):
        return model.slow_tendency_resolved(x) + closure(x)

    return simulate(
        tendency,
        x0,
        dt * COARSE_FACTOR,
        n_steps // COARSE_FACTOR,
        save_every=save_every // COARSE_FACTOR,
    )


def main(small: bool = False) -> dict:
    sparse, q = discover_one_scale(500 if small else 2000)
    print("one-scale Lorenz-96 (true: dx[k]/dt = 8 - x[k] - x[k-2]*x[k-1] + x[k-1]*x[k+1])")
    print("  discovered:", sparse.equation())
    print(f"  R^2 = {q.r2:.8f}, residual RMSE = {q.rmse:.2e}, terms = {q.n_terms}")

    n_two = 20_000 if small else 200_000
    model, dt, traj, closure, qc = discover_closure(n_two)
    print("two-scale subgrid closure (Arnold et al. 2013 constants)")
    print("  discovered:", closure.equation("U[k]"))
    print(
        f"  R^2 = {qc.r2:.3f}, RMSE = {qc.rmse:.3f} (std of U = {qc.target_std:.3f}), "
        f"terms = {qc.n_terms}"
    )
    coarse = coarse_run(model, dt, closure, traj.x[0], n_two, 100)
    ok = bool(jnp.all(jnp.isfinite(coarse)))
    stats = {
        "two_scale_mean": float(traj.x.mean()),
        "two_scale_std": float(traj.x.std()),
        "coarse_mean": float(coarse.mean()) if ok else float("nan"),
        "coarse_std": float(coarse.std()) if ok else float("nan"),
    }
    print(
        "  climate of X (in-sample: the two-scale statistics are those of the fitting run): "
        "two-scale mean {two_scale_mean:.2f} std {two_scale_std:.2f}; "
        "coarse model + closure (dt = 0.005) mean {coarse_mean:.2f} std {coarse_std:.2f}".format(
            **stats
        )
    )
    return {"one_scale": (sparse, q), "closure": (closure, qc), "climate": stats}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="short trajectories (tests)")
    main(parser.parse_args().small)
