"""Tests of observation operators, ensemble analyses, cycling and 4D-Var on Lorenz-96.

Benchmark: Sakov & Oke (2008) setup (n=40, F=8, RK4 dt=0.05, all variables observed every
0.05 with R=I); published DAPPER analysis RMSEs: ETKF N=20 ~0.20, LETKF N=7 ~0.22,
perturbed-obs EnKF N=28 ~0.24, climatology ~3.6.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.assimilation import (
    ETKF,
    LETKF,
    FourDVar,
    IdentityObservation,
    LinearObservation,
    StochasticEnKF,
    SubsetObservation,
    additive_inflation,
    climatology_rmse,
    cycle_filter,
    cycle_fourdvar,
    enkf_analysis,
    etkf_analysis,
    every_other,
    fourdvar_cost,
    free_run,
    gaspari_cohn,
    letkf_analysis,
    make_forecast,
    mean_spread,
    multiplicative_inflation,
    periodic_distance,
    rmse,
    synthetic_observations,
    time_mean,
    truth_run,
)
from pyclimaocean.models.lorenz96 import sakov_oke_2008, spun_up_state


# ---------------------------------------------------------------- observation operators
def test_observation_operators():
    x = jnp.arange(6.0)
    assert jnp.array_equal(IdentityObservation(6)(x), x)
    eo = every_other(6)
    assert jnp.array_equal(eo(x), jnp.array([0.0, 2.0, 4.0]))
    np.testing.assert_array_equal(eo.matrix() @ x, eo(x))
    assert eo.n_obs == 3 and jnp.array_equal(eo.positions, jnp.array([0.0, 2.0, 4.0]))
    H = jnp.array([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0, 0, 0, 2.0]])
    lin = LinearObservation(H)
    np.testing.assert_allclose(lin(jnp.stack([x, x])), jnp.stack([H @ x, H @ x]))
    np.testing.assert_array_equal(lin.positions, [0.0, 5.0])
    with pytest.raises(ValueError, match=r"outside the accepted range \[0, 5\]"):
        SubsetObservation(6, [0, 7])
    with pytest.raises(ValueError, match="n_state=6"):
        eo(jnp.zeros(5))


def test_gaspari_cohn_and_periodic_distance():
    r = jnp.linspace(0, 2.5, 2501)
    g = gaspari_cohn(r)
    assert float(g[0]) == 1.0 and float(jnp.max(jnp.abs(g[r >= 2.0]))) < 1e-12
    assert bool(jnp.all(jnp.diff(g) <= 1e-15))  # monotone non-increasing
    # continuity at r = 1, where both pieces equal 5/24
    np.testing.assert_allclose(gaspari_cohn(jnp.array([1 - 1e-9, 1 + 1e-9])), 5 / 24, atol=1e-7)
    np.testing.assert_allclose(periodic_distance(1.0, 39.0, 40.0), 2.0)
    np.testing.assert_allclose(periodic_distance(0.0, 20.0, 40.0), 20.0)


# ---------------------------------------------------------------- analysis equations
def _linear_gaussian_case(N=6, n=5, p=3, seed=0):
    rng = np.random.default_rng(seed)
    ens = jnp.asarray(rng.normal(size=(N, n)) + 2.0)
    H = jnp.asarray(rng.normal(size=(p, n)))
    R = jnp.asarray(rng.uniform(0.5, 1.5, size=p))
    y = jnp.asarray(rng.normal(size=p))
    return ens, LinearObservation(H), H, R, y


def _kalman(ens, H, R, y):
    xb = ens.mean(0)
    P = jnp.cov(ens.T)
    S = H @ P @ H.T + jnp.diag(R)
    K = P @ H.T @ jnp.linalg.inv(S)
    return xb + K @ (y - H @ xb), (jnp.eye(len(xb)) - K @ H) @ P


def test_etkf_matches_kalman_update_with_ensemble_covariance():
    ens, op, H, R, y = _linear_gaussian_case()
    xa, Pa = _kalman(ens, H, R, y)
    ea = etkf_analysis(ens, y, op, R)
    np.testing.assert_allclose(ea.mean(0), xa, atol=1e-12)
    np.testing.assert_allclose(jnp.cov(ea.T), Pa, atol=1e-12)
    # full-R path gives the same answer
    ea2 = etkf_analysis(ens, y, op, jnp.diag(R))
    np.testing.assert_allclose(ea2, ea, atol=1e-12)
    # inflation == using an inflated prior
    ei = etkf_analysis(ens, y, op, R, inflation=1.1)
    np.testing.assert_allclose(
        ei, etkf_analysis(multiplicative_inflation(ens, 1.1), y, op, R), atol=1e-12
    )


def test_etkf_uses_the_symmetric_square_root():
    """W_a = [(N-1) A^{-1}]^{1/2} with A = (N-1) I + Y R^{-1} Y^T is symmetric (Hunt et al. 2007)."""
    from pyclimaocean.assimilation.ensemble import _ensemble_transform, _prior_anomalies

    ens, op, H, R, y = _linear_gaussian_case()
    N = ens.shape[0]
    xb, Xb, yb, Yb = _prior_anomalies(ens, op, 1.0)
    C = Yb / R  # Y R^{-1}
    Wa = _ensemble_transform(Yb, jnp.zeros_like(yb), C)  # d = 0: no mean update
    np.testing.assert_allclose(Wa, Wa.T, atol=1e-12)
    A = (N - 1) * jnp.eye(N) + C @ Yb.T
    np.testing.assert_allclose(Wa @ Wa, (N - 1) * jnp.linalg.inv(A), atol=1e-12)
    assert float(jnp.min(jnp.linalg.eigvalsh(Wa))) > 0  # the positive root
    np.testing.assert_allclose(Wa @ jnp.ones(N), jnp.ones(N), atol=1e-12)  # keeps the mean
    # the public analysis uses it: anomalies X_a = W_a^T X_b
    ea = etkf_analysis(ens, y, op, R)
    np.testing.assert_allclose(ea - ea.mean(0), Wa.T @ Xb, atol=1e-12)


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
def test_letkf_reduces_to_etkf_without_localization_and_ignores_far_obs():
    ens = jnp.asarray(np.random.default_rng(3).normal(size=(8, 12)))
    op, R = IdentityObservation(12), jnp.ones(12)
    y = jnp.asarray(np.random.default_rng(4).normal(size=12))
    np.testing.assert_allclose(
        letkf_analysis(ens, y, op, R, localization_radius=1e7),
        etkf_analysis(ens, y, op, R),
        atol=1e-8,
    )
    # with c = 1.5 (support 3), observation 6 cannot change grid point 0
    y2 = y.at[6].add(100.0)
    a1 = letkf_analysis(ens, y, op, R, localization_radius=1.5)
    a2 = letkf_analysis(ens, y2, op, R, localization_radius=1.5)
    np.testing.assert_allclose(a1[:, 0], a2[:, 0], atol=1e-12)
    assert float(jnp.max(jnp.abs(a1[:, 6] - a2[:, 6]))) > 1.0
    # across the periodic boundary: observation 11 is at distance 1 from grid point 0 and
    # changes it, but not grid point 4 (distance 5 > 2c = 3) ...
    y3 = y.at[11].add(100.0)
    a3 = letkf_analysis(ens, y3, op, R, localization_radius=1.5)
    assert float(jnp.max(jnp.abs(a1[:, 0] - a3[:, 0]))) > 0.5
    np.testing.assert_allclose(a1[:, 4], a3[:, 4], atol=1e-12)
    # ... while on a non-periodic (very long) domain it is at distance 11 and cannot
    a4 = letkf_analysis(ens, y, op, R, localization_radius=1.5, domain_length=1e6)
    a5 = letkf_analysis(ens, y3, op, R, localization_radius=1.5, domain_length=1e6)
    np.testing.assert_allclose(a4[:, 0], a5[:, 0], atol=1e-12)


def test_stochastic_enkf_converges_to_kalman_for_large_ensemble():
    rng = np.random.default_rng(1)
    n, N = 3, 5000
    mean, L = jnp.array([1.0, -1.0, 0.5]), jnp.asarray(rng.normal(size=(n, n)))
    ens = mean + jax.random.normal(jax.random.PRNGKey(0), (N, n)) @ L.T
    H = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    R, y = jnp.array([0.5, 1.0]), jnp.array([0.3, 0.2])
    xa, Pa = _kalman(ens, H, R, y)
    ea = enkf_analysis(ens, y, LinearObservation(H), R, jax.random.PRNGKey(1))
    np.testing.assert_allclose(ea.mean(0), xa, atol=1e-10)  # centred perturbations: exact mean
    np.testing.assert_allclose(jnp.cov(ea.T), Pa, atol=0.08 * float(jnp.max(jnp.abs(Pa))))


def test_inflation_helpers_and_jit():
    ens, op, _, R, y = _linear_gaussian_case()
    inf = multiplicative_inflation(ens, 2.0)
    np.testing.assert_allclose(inf.mean(0), ens.mean(0), atol=1e-12)
    np.testing.assert_allclose(jnp.std(inf, 0), 2 * jnp.std(ens, 0), rtol=1e-12)
    noisy = additive_inflation(ens, 0.1, jax.random.PRNGKey(0))
    assert 0.05 < float(jnp.std(noisy - ens)) < 0.2
    jitted = eqx.filter_jit(etkf_analysis)
    np.testing.assert_allclose(jitted(ens, y, op, R), etkf_analysis(ens, y, op, R), atol=1e-12)


# ---------------------------------------------------------------- twin experiments
@pytest.fixture(scope="module")
def sakov_oke_twin():
    """1000 cycles of the Sakov & Oke (2008) setup; the first 400 are spin-up (DAPPER's
    burn-in is 20 MTU = 400 cycles)."""
    m, dt = sakov_oke_2008()
    x0 = spun_up_state(m, dt, 1000, seed=0)
    truth = truth_run(m.tendency, x0, dt, 1, 1000)
    op = IdentityObservation(40)
    obs = synthetic_observations(truth[1:], op, 1.0, seed=1)
    fc = make_forecast(m.tendency, dt, 1)
    free = free_run(fc, x0 + jax.random.normal(jax.random.PRNGKey(2), (40,)), 1000)
    return dict(x0=x0, truth=truth, op=op, obs=obs, fc=fc, free=free, spin=400)


def _run(tw, filt, N, seed=2):
    ens0 = tw["x0"] + jax.random.normal(jax.random.PRNGKey(seed), (N, 40))
    out = cycle_filter(
        filt, tw["fc"], ens0, tw["obs"], tw["op"], jnp.ones(40), jax.random.PRNGKey(3)
    )
    r = rmse(out.analysis_mean, tw["truth"][1:])
    return time_mean(r, tw["spin"]), time_mean(mean_spread(out.analysis_spread), tw["spin"])


@pytest.mark.slow  # 1.5 s measured (fast tier: pytest -m 'not slow')
def test_etkf_sakov_oke_benchmark(sakov_oke_twin):
    free = time_mean(rmse(sakov_oke_twin["free"], sakov_oke_twin["truth"][1:]), 400)
    clim = climatology_rmse(sakov_oke_twin["truth"], 400)
    assert 3.2 < clim < 4.0  # DAPPER: 3.6
    assert free > 4.0
    r, s = _run(sakov_oke_twin, ETKF(inflation=1.02), 20)
    assert r < 0.2, r
    assert 0.7 < s / r < 1.5  # spread consistent with error


@pytest.mark.slow  # 1.8 s measured (fast tier: pytest -m 'not slow')
def test_letkf_and_enkf_sakov_oke_benchmark(sakov_oke_twin):
    # c = 7.28 = 1.82 * 4 is DAPPER's loc_rad=4 in our half-width convention
    r_l, s_l = _run(sakov_oke_twin, LETKF(localization_radius=7.28, inflation=1.04), 7)
    assert r_l < 0.25, r_l  # DAPPER: 0.22
    r_e, _ = _run(sakov_oke_twin, StochasticEnKF(inflation=1.08), 28)
    assert r_e < 0.3, r_e  # DAPPER: 0.24
    # without localisation, 7 members are not enough (filter divergence or much worse)
    r_g, _ = _run(sakov_oke_twin, ETKF(inflation=1.04), 7)
    assert not r_g < 2 * r_l


def test_fourdvar_gradient_vs_finite_differences(sakov_oke_twin):
    tw = sakov_oke_twin
    xb = tw["x0"] + 0.5 * jax.random.normal(jax.random.PRNGKey(5), (40,))

    @jax.jit
    def J(x0):
        return fourdvar_cost(x0, xb, tw["obs"][:5], tw["fc"], tw["op"], jnp.ones(40), 0.5)

    g = jax.grad(J)(xb)
    for seed in range(3):
        v = jax.random.normal(jax.random.PRNGKey(10 + seed), (40,))
        eps = 1e-5
        fd = (J(xb + eps * v) - J(xb - eps * v)) / (2 * eps)
        np.testing.assert_allclose(jnp.dot(g, v), fd, rtol=1e-6)


def test_fourdvar_cycling_beats_free_run(sakov_oke_twin):
    tw = sakov_oke_twin
    n = 200
    xb0 = tw["x0"] + jax.random.normal(jax.random.PRNGKey(2), (40,))
    out = cycle_fourdvar(
        FourDVar(window=5, background_std=0.3), tw["fc"], xb0, tw["obs"][:n], tw["op"], jnp.ones(40)
    )
    r = np.asarray(rmse(out.analysis, tw["truth"][1 : n + 1]))
    free = float(jnp.mean(rmse(tw["free"][50:n], tw["truth"][51 : n + 1])))
    assert out.converged.all()
    assert r[50:].mean() < 0.4 and r[50:].mean() < 0.1 * free
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        FourDVar(window=0)


@pytest.mark.slow
def test_etkf_and_letkf_long_run_benchmark():
    """5000 cycles (250 MTU), spin-up 400: the long version of the benchmark checks."""
    m, dt = sakov_oke_2008()
    x0 = spun_up_state(m, dt, 1000, seed=0)
    truth = truth_run(m.tendency, x0, dt, 1, 5000)
    tw = dict(
        x0=x0,
        truth=truth,
        op=IdentityObservation(40),
        obs=synthetic_observations(truth[1:], IdentityObservation(40), 1.0, seed=1),
        fc=make_forecast(m.tendency, dt, 1),
        spin=400,
    )
    r, _ = _run(tw, ETKF(inflation=1.02), 20)
    assert r < 0.2, r  # DAPPER (infl 1.04): 0.20
    r_l, _ = _run(tw, LETKF(localization_radius=7.28, inflation=1.04), 7)
    assert r_l < 0.23, r_l  # DAPPER: 0.22
