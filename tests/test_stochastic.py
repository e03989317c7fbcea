"""Stochastic parameterisation (Arnold et al. 2013 style): polynomial fit, AR(1) estimation,
ensembles, differentiability of the noise path, spread / error reliability."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean import learning
from pyclimaocean.models.lorenz96 import Lorenz96, TwoScaleLorenz96, spun_up_state

COARSE_DT = 0.005


def _ar1_series(phi, sigma, n, k, seed=0):
    rng = np.random.default_rng(seed)
    e = np.zeros((n, k))
    e[0] = sigma * rng.normal(size=k)
    z = rng.normal(size=(n, k))
    for i in range(1, n):
        e[i] = phi * e[i - 1] + sigma * np.sqrt(1 - phi**2) * z[i]
    return e


@pytest.fixture(scope="module")
def data():
    """Two-scale truth: 20 MTU to fit, 20 MTU held out for the forecasts."""
    truth = TwoScaleLorenz96()
    state = spun_up_state(truth, 0.001, 3000, seed=5)
    d, _ = learning.generate_two_scale_data(truth, state, dt=0.001, n_samples=8100, sample_every=5)
    train, test = learning.split_data(d, (4000 / 8100, 4000 / 8100), gap=100)
    return {"train": train, "test": test, "base": Lorenz96(n=8, forcing=20.0)}


def test_polynomial_fit_recovers_a_cubic():
    x = np.linspace(-8, 15, 500)
    coef = np.array([0.3, -1.1, 0.02, -0.003])
    u = coef[0] + coef[1] * x + coef[2] * x**2 + coef[3] * x**3
    poly = learning.fit_polynomial_closure(x, u, 3)
    np.testing.assert_allclose(poly.coefficients, coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(poly(jnp.asarray(x)), u, atol=1e-9)
    with pytest.raises(ValueError, match="degree = -1"):
        learning.fit_polynomial_closure(x, u, -1)


def test_ar1_estimates_recover_known_process():
    dt, tau, sigma = 0.005, 0.05, 1.7
    phi = np.exp(-dt / tau)
    e = _ar1_series(phi, sigma, 60_000, 4)
    lag1 = learning.estimate_ar1(e, dt, method="lag1")
    assert float(lag1.phi(dt)) == pytest.approx(phi, abs=2e-3)
    assert float(lag1.sigma) == pytest.approx(sigma, rel=0.03)
    integral = learning.estimate_ar1(e, dt, method="integral")
    # the integral of exp(-t/tau) (trapezoid, up to the first zero crossing) is about tau
    assert float(integral.correlation_time) == pytest.approx(tau, rel=0.15)
    with pytest.raises(ValueError, match="method 'median' is not supported"):
        learning.estimate_ar1(e, dt, method="median")
    with pytest.raises(ValueError, match="an AR\\(1\\) model needs 0 < φ < 1"):
        learning.estimate_ar1(_ar1_series(-0.5, 1.0, 2000, 2), dt, method="lag1")


def test_ar1_noise_step_keeps_stationary_variance():
    noise = learning.AR1Noise(correlation_time=jnp.asarray(0.1), sigma=jnp.asarray(2.0))
    e = noise.stationary_sample(jax.random.PRNGKey(0), (20000,))

    def body(e, key):
        return noise.step(e, jax.random.normal(key, e.shape), 0.01), None

    e, _ = jax.lax.scan(body, e, jax.random.split(jax.random.PRNGKey(1), 50))
    assert float(jnp.std(e)) == pytest.approx(2.0, rel=0.03)
    with pytest.raises(ValueError, match="correlation_time"):
        learning.AR1Noise(correlation_time=-1.0, sigma=1.0)


@pytest.mark.slow  # 1.5 s measured (fast tier: pytest -m 'not slow')
def test_lag1_overestimates_memory_of_smooth_l96_residual(data):
    """The two-scale residual is smooth in time: its lag-1 correlation time is several times
    its integral time scale (why ``integral`` is the default)."""
    train = data["train"]
    lag1 = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT, method="lag1")
    integral = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT)
    assert float(lag1.noise.correlation_time) > 3 * float(integral.noise.correlation_time)
    assert float(lag1.noise.sigma) == pytest.approx(float(integral.noise.sigma))
    mult = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT, "multiplicative")
    assert 0.05 < float(mult.noise.sigma) < 1.0  # dimensionless relative amplitude
    with pytest.raises(ValueError, match="noise kind 'both' is not supported"):
        learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT, "both")


@pytest.mark.slow  # 3.3 s measured (fast tier: pytest -m 'not slow')
def test_ensemble_members_differ_and_zero_noise_is_deterministic(data):
    train, base = data["train"], data["base"]
    closure = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT)
    x0 = train.x[100]
    ens = learning.ensemble_forecast(
        base, closure, x0, COARSE_DT, 5, 4, key=jax.random.PRNGKey(0), n_members=6
    )
    assert ens.shape == (6, 5, 8)
    assert float(jnp.std(ens[:, -1], axis=0).mean()) > 1e-3
    again = learning.ensemble_forecast(
        base, closure, x0, COARSE_DT, 5, 4, key=jax.random.PRNGKey(0), n_members=6
    )
    np.testing.assert_array_equal(ens, again)
    silent = learning.StochasticClosure(
        closure.deterministic, learning.AR1Noise(closure.noise.correlation_time, jnp.asarray(0.0))
    )
    ens0 = learning.ensemble_forecast(
        base, silent, x0, COARSE_DT, 5, 4, key=jax.random.PRNGKey(0), n_members=3
    )
    det = learning.rollout(
        learning.ClosureModel(base, closure.deterministic).tendency, x0, COARSE_DT, 5, 4
    )
    np.testing.assert_allclose(ens0, jnp.broadcast_to(det, ens0.shape), atol=1e-12)


@pytest.mark.slow  # 4.3 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_ensemble_loss_gradient_matches_finite_differences(data, kind):
    """Reparameterised noise: d(loss)/d(cubic coefficients, τ, σ) by AD vs central differences."""
    train, test, base = data["train"], data["test"], data["base"]
    closure = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT, kind)
    target = test.x[4:13:4]  # the forecast saves steps 4, 8, 12

    def loss(params):
        coef, tau, sigma = params
        c = learning.StochasticClosure(
            learning.PolynomialClosure(coef), learning.AR1Noise(tau, sigma), kind
        )
        ens = learning.ensemble_forecast(
            base, c, test.x[0], COARSE_DT, 3, 4, key=jax.random.PRNGKey(3), n_members=4
        )
        return jnp.mean((ens - target) ** 2)

    params = (
        closure.deterministic.coefficients,
        closure.noise.correlation_time,
        closure.noise.sigma,
    )
    grad = jax.grad(loss)(params)
    direction = (jnp.array([0.3, -0.2, 0.05, 0.01]), jnp.asarray(0.01), jnp.asarray(0.2))
    eps = 1e-6
    shift = lambda s: jax.tree_util.tree_map(lambda p, d: p + s * eps * d, params, direction)  # noqa: E731
    fd = (loss(shift(1)) - loss(shift(-1))) / (2 * eps)
    ad = sum(jnp.vdot(g, d) for g, d in zip(grad, direction, strict=True))
    assert abs(float(fd)) > 1e-8
    np.testing.assert_allclose(float(ad), float(fd), rtol=1e-6)
    assert float(jnp.abs(grad[2])) > 0  # the noise amplitude gets a gradient too


def test_spread_error_formula_on_a_reliable_synthetic_ensemble():
    """Truth and members drawn from the same law: corrected spread/error ratio is ~1."""
    rng = np.random.default_rng(1)
    n, m, lead, k = 4000, 5, 3, 4
    centre = rng.normal(size=(n, 1, lead, k))
    members = centre + rng.normal(size=(n, m, lead, k))
    truth = centre[:, 0] + rng.normal(size=(n, lead, k))
    se = learning.spread_error(members, truth)
    np.testing.assert_allclose(se["ratio"], 1.0, atol=0.03)
    # an under-dispersive ensemble is detected
    se_small = learning.spread_error(centre + 0.5 * (members - centre), truth)
    assert np.all(se_small["ratio"] < 0.6)
    with pytest.raises(ValueError, match="at least 2 members"):
        learning.spread_error(members[:, :1], truth)


@pytest.mark.slow  # 3.1 s measured (fast tier: pytest -m 'not slow')
def test_stochastic_ensemble_is_reliable_at_short_lead(data):
    """Cubic + additive AR(1) ensembles from 40 held-out truth states, 10 members: the
    spread/error ratio at 0.2 MTU lies in [0.8, 1.25]; the lag-1 correlation time makes the
    ensemble more dispersive (too much noise memory)."""
    train, test, base = data["train"], data["test"], data["base"]
    starts = np.linspace(0, test.n_samples - 60, 40).astype(int)
    verif = learning.trajectory_windows(test.x, jnp.asarray(starts), 40)[:, 20::20]
    ratios = {}
    for method in ("integral", "lag1"):
        closure = learning.fit_stochastic_closure(
            train.x, train.subgrid, COARSE_DT, "additive", method=method
        )
        run = jax.jit(
            jax.vmap(
                lambda x0, key, c=closure: learning.ensemble_forecast(
                    base, c, x0, COARSE_DT, 2, 20, key=key, n_members=10
                )
            )
        )
        ens = run(test.x[starts], jax.random.split(jax.random.PRNGKey(11), len(starts)))
        ratios[method] = learning.spread_error(ens, verif)["ratio"]
    assert 0.8 <= ratios["integral"][-1] <= 1.25, ratios
    assert ratios["lag1"][-1] > ratios["integral"][-1] + 0.1, ratios


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_stochastic_ensemble_reliability_large(kind):
    """100 held-out starts, 20 members: spread/error in [0.8, 1.25] at 0.2, 0.5 and 1 MTU."""
    truth = TwoScaleLorenz96()
    d, _ = learning.generate_two_scale_data(
        truth, spun_up_state(truth, 0.001, 3000, seed=21), dt=0.001, n_samples=16100, sample_every=5
    )
    train, test = learning.split_data(d, (8000 / 16100, 8000 / 16100), gap=100)
    base = Lorenz96(n=8, forcing=20.0)
    closure = learning.fit_stochastic_closure(train.x, train.subgrid, COARSE_DT, kind)
    starts = np.linspace(0, test.n_samples - 210, 100).astype(int)
    verif = learning.trajectory_windows(test.x, jnp.asarray(starts), 200)[:, 20::20]
    run = jax.jit(
        jax.vmap(
            lambda x0, key: learning.ensemble_forecast(
                base, closure, x0, COARSE_DT, 10, 20, key=key, n_members=20
            )
        )
    )
    ens = run(test.x[starts], jax.random.split(jax.random.PRNGKey(0), len(starts)))
    ratio = learning.spread_error(ens, verif)["ratio"]
    for i in (1, 4, 9):  # leads 0.2, 0.5, 1.0 MTU
        assert 0.8 <= ratio[i] <= 1.25, ratio


@pytest.mark.slow  # 4.6 s measured (fast tier: pytest -m 'not slow')
def test_example_script_runs_small():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "examples" / "l96_stochastic.py"
    spec = importlib.util.spec_from_file_location("l96_stochastic_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--small"])
    for kind in ("additive", "multiplicative"):
        assert np.all(np.isfinite(results[kind]["ratio"]))
        assert 0.5 < results[kind]["ratio"][1] < 2.0  # lead 0.1 MTU, tiny ensemble
    assert np.all(np.isfinite(results["gradient"])) and np.any(results["gradient"] != 0)
