"""Calibration of an external (NumPy + hand-written adjoint) model.

The model is the backward-Euler column diffusion of examples/external_numpy_models.py wrapped
by ``backends.external.wrap_external``.  Through ``pyclimaocean.calibration`` (the same
``Case``/``Problem`` and drivers used for the column model) it is calibrated by SciPy L-BFGS-B
and optax L-BFGS with adjoint gradients, and by derivative-free UKI; the bare optax Adam loop on
the wrapped function is kept as the minimal example.
"""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration import calibrate_optax, calibrate_scipy, unscented_kalman_inversion
from pyclimaocean.inference.laplace import hessian

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def example():
    return _load("external_calibration")


@pytest.fixture(scope="module")
def twin(example):
    return example.calibration_problem()


def test_optax_calibration_of_external_model_recovers_truth(example):
    u, truth, history = example.calibrate(steps=300, learning_rate=0.1)
    np.testing.assert_allclose(u, truth, atol=1e-3)
    assert history[-1] < 1e-6 * history[0]


@pytest.mark.slow  # 1.8 s measured (fast tier: pytest -m 'not slow')
def test_problem_gradient_through_the_external_adjoint_matches_finite_differences(twin):
    problem, _ = twin
    u = problem.u0 + jnp.array([0.3, -0.2])
    g = np.asarray(jax.grad(problem.loss)(u))
    f = jax.jit(problem.loss)
    for i in range(2):
        e = jnp.zeros(2).at[i].set(1e-6)
        fd = (float(f(u + e)) - float(f(u - e))) / 2e-6
        assert abs(fd - g[i]) <= 1e-5 * max(1.0, abs(g[i])), (i, fd, g[i])


@pytest.mark.slow  # 5.0 s measured (fast tier: pytest -m 'not slow')
def test_package_drivers_recover_the_truth_of_the_external_model(twin):
    """L-BFGS-B (the column model's default driver) and optax L-BFGS land on the same MAP, and
    the truth lies within 3 Laplace standard deviations of it (u-space, σ = 1e-3 K noise)."""
    problem, truth = twin
    u_true = np.asarray(problem.unconstrained(jnp.asarray([truth[n].value for n in problem.names])))
    res = calibrate_scipy(problem, progress=False)
    assert res.converged, res.message
    assert res.history["loss"].values[-1] < 1e-3 * res.history["loss"].values[0]
    # Gauss-Newton Hessian from reverse mode (the external model has no forward mode, so
    # jacfwd-based hessian(method="gauss_newton"/"dense") cannot be used on it)
    J = np.asarray(jax.jacrev(problem.residuals)(jnp.asarray(res.u)))
    H = J.T @ J + hessian(problem, res.u, which="prior")
    std = np.sqrt(np.diag(np.linalg.inv(H)))
    assert np.all(np.abs(res.u - u_true) < 3 * std), (res.theta, truth, std)
    np.testing.assert_allclose(res.theta, [float(truth[n].value) for n in problem.names], rtol=0.01)
    opt = calibrate_optax(problem, max_iterations=100, progress=False)
    assert np.all(np.abs(opt.u - res.u) < 0.01 * std), (opt.u, res.u)
    # derivative-free UKI (sigma points vmapped over the host callback) reaches the same point
    # and its covariance is the Laplace one.  Started from sigma points of std 0.5 in log κ, log Q:
    # with the broad prior's std (2 in log κ) the sigma points span e^±4 in κ and UKI diverges
    uki = unscented_kalman_inversion(problem, max_iterations=15, initial_covariance=0.25 * np.eye(2),
                                     progress=False)
    assert np.all(np.abs(uki.u - res.u) < 0.05 * std), (uki.u, res.u, std)
    np.testing.assert_allclose(uki.std, std, rtol=0.05)
