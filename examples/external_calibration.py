"""Calibrate an external (NumPy, hand-written adjoint) model with ``pyclimaocean.calibration``.

The model is the backward-Euler column diffusion of ``external_numpy_models.py`` (not JAX):
``wrap_external`` makes it differentiable (its adjoint is a hand-written transposed
tridiagonal solve).  Wrapped in a ``simulate(model) -> {"T": (time, z)}`` function, it is a
:class:`~pyclimaocean.calibration.Case` like the column model's, so the *same* ``Problem``,
SciPy L-BFGS-B / optax drivers and derivative-free UKI/EKI run on it unchanged
(:func:`calibration_problem`, :func:`calibrate_with_package`).  :func:`calibrate` is the bare
optax Adam loop on the wrapped function.  Exactly the same works for the Julia backend's
``JuliaBackend.column_function`` (Enzyme adjoint).

Run:  python examples/external_calibration.py [--method scipy_lbfgsb|optax_lbfgs|uki] [--steps 300]
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.backends.external import wrap_external
from pyclimaocean.calibration import (
    Case,
    Problem,
    synthetic_observations,
    unscented_kalman_inversion,
)
from pyclimaocean.calibration import calibrate as run_calibration
from pyclimaocean.params import Parameter, ParameterSet, Prior

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


# --------------------------------------------------------------------------------------------
# the same model through pyclimaocean.calibration (Case + Problem + any driver)
# --------------------------------------------------------------------------------------------
#: true values of the twin experiment (physical units)
TRUTH = {"kappa": 10.0**-2.5, "surface_flux": 3e-5}


class ExternalColumn(eqx.Module):
    """Parameters (leaves, written by ``ParameterSet.apply``) and initial state of the column.

    Attributes:
        kappa: κ, uniform diffusivity (m² s⁻¹).
        surface_flux: Q, upward kinematic surface heat flux (K m s⁻¹, positive cools).
        temperature0: ``(nz,)`` initial temperature (°C), bottom to top.
    """

    kappa: jax.Array
    surface_flux: jax.Array
    temperature0: jax.Array


def calibration_problem(nz: int = 12, n_steps: int = 24, dt: float = 1800.0, *, noise_std: float = 1e-3,
                        obs_every: int = 4, seed: int = 0, regularization: str = "prior"):
    """Twin experiment: returns ``(problem, truth)`` for the external NumPy column.

    Observations: T at every cell every ``obs_every`` steps of the truth run (κ = 10^-2.5 m² s⁻¹,
    Q = 3e-5 K m s⁻¹) plus Gaussian noise ``noise_std`` (K).  Controls: κ and Q with log
    transforms (lower bound 0) and broad lognormal priors; first guess κ = 10^-3.5, Q = 1e-5.
    """
    dz, dzf, zc = npm.stretched_grid(nz, 100.0)
    external = wrap_external(
        lambda T, k, q: npm.diffusion_forward(T, k, q, dz, dzf, dt, n_steps),
        lambda T, k, q, c: npm.diffusion_vjp(T, k, q, dz, dzf, dt, n_steps, c),
        out_spec=jax.ShapeDtypeStruct((n_steps, nz), jnp.float64),
        name="numpy_column_diffusion",
    )

    def simulate(model: ExternalColumn):
        kappa = model.kappa * jnp.ones(nz - 1)
        return {"T": external(model.temperature0, kappa, model.surface_flux)}

    times = dt * np.arange(1, n_steps + 1)
    model = ExternalColumn(jnp.asarray(TRUTH["kappa"]), jnp.asarray(TRUTH["surface_flux"]),
                           jnp.asarray(20.0 + 0.02 * zc))
    obs = synthetic_observations(simulate(model), times, zc, times=times[obs_every - 1 :: obs_every], z=zc,
                                 error_std={"T": noise_std}, key=jax.random.PRNGKey(seed))
    case = Case.from_dataset(model, simulate, obs, model_times=times, model_z=zc, name="numpy_column")
    controls = ParameterSet({
        "kappa": Parameter(jnp.asarray(10.0**-3.5), lower=0.0, units="m2 s-1",
                           prior=Prior.make("lognormal", loc=float(np.log(1e-3)), scale=2.0)),
        "surface_flux": Parameter(jnp.asarray(1e-5), lower=0.0, units="K m s-1",
                                  prior=Prior.make("lognormal", loc=float(np.log(2e-5)), scale=1.0)),
    })
    truth = controls.with_values({k: jnp.asarray(v) for k, v in TRUTH.items()})
    return Problem(controls, case, regularization=regularization), truth


def calibrate_with_package(method: str = "scipy_lbfgsb", **kwargs):
    """Calibrate the external column with a driver of ``pyclimaocean.calibration``:
    ``"scipy_lbfgsb"``, ``"optax_lbfgs"``, ``"optax_adam"`` (adjoint gradients through
    ``wrap_external``) or ``"uki"`` (derivative-free).  Returns ``(result, problem, truth)``."""
    problem, truth = calibration_problem()
    if method == "uki":
        return unscented_kalman_inversion(problem, progress=False, **kwargs), problem, truth
    return run_calibration(problem, method, progress=False, **kwargs), problem, truth


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="scipy_lbfgsb",
                        help="scipy_lbfgsb | optax_lbfgs | optax_adam | uki | adam_loop")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps of the bare loop")
    args = parser.parse_args()
    if args.method == "adam_loop":
        u, truth, history = calibrate(args.steps)
        print(f"{'':>12}{'log10 kappa':>14}{'Q (1e-5 K m/s)':>16}")
        print(f"{'truth':>12}{truth[0]:>14.4f}{truth[1]:>16.4f}")
        print(f"{'calibrated':>12}{u[0]:>14.4f}{u[1]:>16.4f}")
        print(f"loss {history[0]:.3e} -> {history[-1]:.3e} in {len(history)} Adam steps")
    else:
        res, problem, truth = calibrate_with_package(args.method)
        print(f"{'':>12}{'kappa (m2/s)':>14}{'Q (K m/s)':>14}")
        print(f"{'truth':>12}{TRUTH['kappa']:>14.4e}{TRUTH['surface_flux']:>14.4e}")
        print(f"{'calibrated':>12}{res.theta[0]:>14.4e}{res.theta[1]:>14.4e}")
        print(res.summary())
