"""Gauss–Newton / Levenberg–Marquardt calibration (``method = "gauss_newton"``): one step on a
linear least-squares problem with a Gaussian prior, the forward-mode Jacobian against finite
differences and its gradient Jᵀr + ∇R against reverse mode, the L-BFGS-B optimum on the
(nonlinear) toy twin, and the damping on a step that does not lower the loss."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration import Case, Problem, calibrate_scipy
from pyclimaocean.calibration.gauss_newton import (
    _regularization_terms,
    gauss_newton_loop,
    residuals_and_jacobian,
)
from pyclimaocean.calibration.optimize import (
    METHODS,
    calibrate,
    calibrate_gauss_newton,
    calibrate_multistart,
)
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import Parameter, ParameterError, ParameterSet, Prior

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth")


class LinearMap(eqx.Module):
    """T = base + Σᵢ aᵢ patternᵢ (linear in the controls a0, a1, a2)."""

    a0: float
    a1: float
    a2: float
    base: jax.Array
    patterns: jax.Array


def _simulate_linear(model):
    a = jnp.stack([jnp.asarray(model.a0), jnp.asarray(model.a1), jnp.asarray(model.a2)])
    return {"T": model.base + jnp.tensordot(a, model.patterns, axes=1)}


@pytest.fixture(scope="module")
def toy():
    return diffusion_twin(controls=CONTROLS, first_guess={"kappa_surface": 0.013, "mixing_depth": 14.0})


@pytest.fixture(scope="module")
def linear(toy):
    """A linear forward map on the toy's observation operator and noise, normal priors,
    unbounded controls (u = θ): Φ is an exact quadratic in u."""
    problem, _ = toy
    c = problem.cases[0]
    shape = np.shape(c.simulate(c.model)["T"])
    rng = np.random.default_rng(3)
    base = jnp.asarray(rng.normal(size=shape))
    patterns = jnp.asarray(rng.normal(size=(3, *shape)) * np.array([1.0, 1e-2, 1e-3])[:, None, None])  # ill-conditioned
    truth = np.array([0.3, -1.2, 2.0])
    y = c.operator(_simulate_linear(LinearMap(*truth, base, patterns)))
    y = y + 2e-3 * jnp.asarray(rng.normal(size=y.shape))
    model = LinearMap(0.0, 0.0, 0.0, base, patterns)
    controls = ParameterSet({f"a{i}": Parameter(0.5, lower=-np.inf, upper=np.inf, units="1",
                                                prior=Prior.make("normal", loc=0.5, scale=2.0)) for i in range(3)})
    return Problem(controls, [Case(model, c.operator, y, c.noise, _simulate_linear, "linear")])


@pytest.mark.slow  # 13 s measured at load ~7 (with the toy fixture)
def test_one_step_on_a_linear_least_squares_problem(linear):
    # the exact minimiser of ½‖W(A u + b − y)‖² + ½‖(u − μ)/s‖², from the normal equations
    r0 = np.asarray(linear.residuals(jnp.zeros(3)))
    A = np.stack([np.asarray(linear.residuals(jnp.eye(3)[i])) - r0 for i in range(3)], axis=1)
    mu, s = 0.5, 2.0
    H = A.T @ A + np.eye(3) / s**2
    u_star = np.linalg.solve(H, -(A.T @ r0) + mu / s**2)
    assert np.linalg.cond(A.T @ A) > 1e5  # ill-conditioned: where a gradient method is slow
    res = calibrate_gauss_newton(linear, progress=False)
    assert res.converged, res.message
    assert res.history.sizes["iteration"] == 2  # the start and one accepted step
    np.testing.assert_allclose(res.history["unconstrained"].values[1], u_star, rtol=1e-9, atol=1e-12)
    # 2 Jacobians (the second only to confirm convergence), 1 trial forward run, no rejection
    assert res.extra["n_jacobians"] == 2 and res.extra["n_forward"] == 1 and res.extra["n_rejected"] == 0
    assert "Newton decrement" in res.message or "gtol" in res.message
    lb = calibrate_scipy(linear, progress=False)
    assert res.loss <= lb.loss + 1e-9


@pytest.mark.slow  # 16 s measured at load ~7 (fast tier: pytest -m 'not slow')
def test_jacobian_matches_finite_differences_and_gradient_matches_reverse_mode(toy):
    problem, _ = toy
    u = jnp.asarray(problem.u0) + 0.05
    r, J = residuals_and_jacobian(problem, u)
    np.testing.assert_allclose(r, problem.residuals(u), rtol=1e-12, atol=1e-12)
    h = 1e-5
    for i in range(problem.n_parameters):
        e = jnp.zeros(problem.n_parameters).at[i].set(h)
        fd = (problem.residuals(u + e) - problem.residuals(u - e)) / (2 * h)
        scale = float(jnp.max(jnp.abs(fd)))
        assert scale > 0
        np.testing.assert_allclose(J[:, i], fd, rtol=0, atol=1e-6 * scale)
    # the regularisation's Hessian is diagonal (one term per control): its one-HVP form is exact
    H_reg = np.asarray(_regularization_terms(problem, u)[2])
    np.testing.assert_allclose(H_reg, jax.hessian(problem.regularization_term)(u), rtol=1e-12, atol=1e-12)
    g = np.asarray(J).T @ np.asarray(r) + np.asarray(jax.grad(problem.regularization_term)(u))
    np.testing.assert_allclose(g, jax.grad(problem.loss)(u), rtol=1e-10, atol=1e-10 * float(np.max(np.abs(g))))


@pytest.mark.slow  # 7 s measured at load ~7 (fast tier: pytest -m 'not slow')
def test_reaches_the_lbfgsb_optimum_on_the_nonlinear_toy(toy):
    problem, _ = toy
    ref = calibrate_scipy(problem, gtol=1e-3, progress=False)
    res = calibrate(problem, method="gauss_newton")
    assert "gauss_newton" in METHODS
    assert res.converged, res.message
    assert res.loss <= ref.loss + 1e-6
    np.testing.assert_allclose(res.theta, ref.theta, rtol=1e-3)
    # nonlinear: more than one step, each a distinct iterate with its own loss
    loss = res.history["loss"].values
    assert len(loss) >= 3 and np.all(np.diff(loss) < 0)
    assert np.all(np.diff(res.history["n_jacobians"].values) == 1)
    assert res.summary()["n_forward_runs"] == res.extra["n_forward"]


@pytest.mark.slow  # < 1 s at load ~7, 6 s with the toy fixture alone
def test_rejected_step_raises_the_damping(linear):
    # on Φ + a steep wall that is flat at the start (the Gauss–Newton model cannot see it) and
    # that the full step crosses: the first trial is rejected, λ grows from 0, the step shrinks,
    # and the loss still falls monotonically
    u0 = jnp.asarray(linear.u0)
    d = jnp.asarray(calibrate_gauss_newton(linear, progress=False).u) - u0  # the full step

    class Walled(eqx.Module):
        inner: Problem

        def residuals(self, u):
            return self.inner.residuals(u)

        def regularization_term(self, u):
            return self.inner.regularization_term(u) + 1e12 * jax.nn.relu((u - u0) @ d / (d @ d) - 0.5) ** 2

        def loss(self, u):
            return 0.5 * jnp.sum(self.residuals(u) ** 2) + self.regularization_term(u)

        @property
        def n_parameters(self):
            return 3

    out = gauss_newton_loop(Walled(linear), np.asarray(linear.u0), max_iterations=30)
    assert out["n_rejected"] >= 1
    loss = [r["loss"] for r in out["rows"]]
    assert np.all(np.diff(loss) < 0)
    # it ends on the wall's edge, half-way to the unconstrained optimum
    assert abs(float((jnp.asarray(out["u"]) - u0) @ d / (d @ d)) - 0.5) < 1e-3


def test_settings_are_checked(linear):
    with pytest.raises(ParameterError):
        calibrate_gauss_newton(linear, max_iterations=0, progress=False)
    with pytest.raises(ParameterError):
        calibrate_gauss_newton(linear, damping=0.0, progress=False)


@pytest.mark.slow  # 7 s measured at load ~7 (EKI, two L-BFGS-B runs, GN)
def test_multistart_with_an_ensemble_start_and_gauss_newton_polish(toy):
    # the battery's "robust" strategy: L-BFGS-B from the first guess and from an EKI mean; runs
    # stopped by the iteration limit (2 here) are continued by Gauss–Newton
    problem, _ = toy
    ref = calibrate_scipy(problem, gtol=1e-3, progress=False)
    res = calibrate_multistart(problem, n_starts=2, ensemble_start="eki", ensemble_size=8, ensemble_iterations=2,
                               polish="gauss_newton", max_iterations=2, gtol=1e-3)
    kinds = [s["kind"] for s in res.extra["starts"]]
    assert kinds == ["first guess", "eki mean"]
    assert all(s["polished"] for s in res.extra["starts"])  # neither converged in 2 iterations
    assert res.extra["n_forward"] > 2 * 9 and res.extra["n_jacobians"] >= 2
    assert res.loss <= ref.loss + 1e-6
    np.testing.assert_allclose(res.theta, ref.theta, rtol=1e-3)
    with pytest.raises(ParameterError):
        calibrate_multistart(problem, ensemble_start="ukf")
    with pytest.raises(ParameterError):
        calibrate_multistart(problem, polish="newton")
