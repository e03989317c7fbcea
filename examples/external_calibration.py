"""Calibrate an external (NumPy, hand-written adjoint) model with JAX + optax.

The model is the backward-Euler column diffusion of ``external_numpy_models.py`` (not JAX):
``wrap_external`` makes it differentiable, so a plain optax loop recovers the diffusivity
and surface flux of a synthetic "truth" run from its temperature profiles.  Exactly the same
loop works for the Julia backend's ``JuliaBackend.column_function`` (Enzyme adjoint).

Run:  python examples/external_calibration.py [--steps 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.backends.external import wrap_external

_here = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "external_numpy_models", _here / "external_numpy_models.py"
)
npm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(npm)


def make_problem(nz: int = 12, n_steps: int = 24, dt: float = 1800.0):
    """Column of 100 m; unknowns: log10 κ (uniform, m² s⁻¹) and Q (K m s⁻¹, ×1e-5)."""
    dz, dzf, zc = npm.stretched_grid(nz, 100.0)
    T0 = 20.0 + 0.02 * zc
    model = wrap_external(
        lambda T, k, q: npm.diffusion_forward(T, k, q, dz, dzf, dt, n_steps),
        lambda T, k, q, c: npm.diffusion_vjp(T, k, q, dz, dzf, dt, n_steps, c),
        out_spec=jax.ShapeDtypeStruct((n_steps, nz), jnp.float64),
        name="numpy_column_diffusion",
    )

    def forward(u):
        kappa = 10.0 ** u[0] * jnp.ones(nz - 1)
        return model(jnp.asarray(T0), kappa, 1e-5 * u[1])

    truth = np.array([-2.5, 3.0])  # κ = 10^-2.5 m² s⁻¹, Q = 3e-5 K m s⁻¹ (≈ 120 W m⁻² cooling)
    observations = forward(jnp.asarray(truth))
    return forward, observations, truth


def calibrate(steps: int = 300, learning_rate: float = 0.1):
    forward, observations, truth = make_problem()

    def loss(u):
        return jnp.mean((forward(u) - observations) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    u = jnp.array([-3.5, 1.0])
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(u)
    history = []
    for _ in range(steps):
        value, grad = value_and_grad(u)
        updates, opt_state = optimizer.update(grad, opt_state, u)
        u = optax.apply_updates(u, updates)
        history.append(float(value))
    return np.asarray(u), truth, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    u, truth, history = calibrate(args.steps)
    print(f"{'':>12}{'log10 kappa':>14}{'Q (1e-5 K m/s)':>16}")
    print(f"{'truth':>12}{truth[0]:>14.4f}{truth[1]:>16.4f}")
    print(f"{'calibrated':>12}{u[0]:>14.4f}{u[1]:>16.4f}")
    print(f"loss {history[0]:.3e} -> {history[-1]:.3e} in {len(history)} Adam steps")
