"""Equation discovery: library, STLSQ, recovery of Lorenz-96, two-scale closure."""

import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.discovery import (
    ShiftedPolynomialLibrary,
    finite_difference_derivative,
    fit_sparse_model,
    stlsq,
)
from pyclimaocean.models.lorenz96 import Lorenz96, arnold_2013, simulate, spun_up_state

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "l96_discovery.py"
L96_TERMS = {"1": 8.0, "x[k]": -1.0, "x[k-1]*x[k+1]": 1.0, "x[k-2]*x[k-1]": -1.0}


def test_library_terms_and_translation_equivariance():
    lib = ShiftedPolynomialLibrary(offsets=(-2, -1, 0, 1, 2), degree=2)
    assert lib.n_terms == 1 + 5 + 15
    for name in L96_TERMS:
        lib.index(name)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 11)))
    th = lib(x)
    assert th.shape == (3, 11, 21)
    # term x[k-1]*x[k+1] at site k
    np.testing.assert_allclose(th[:, 4, lib.index("x[k-1]*x[k+1]")], x[:, 3] * x[:, 5])
    np.testing.assert_allclose(th[:, 0, lib.index("x[k-2]*x[k-1]")], x[:, 9] * x[:, 10])
    # shifting the field shifts every library column the same way
    np.testing.assert_allclose(lib(jnp.roll(x, 3, axis=-1)), jnp.roll(th, 3, axis=1), atol=1e-14)
    cubic = ShiftedPolynomialLibrary(offsets=(0,), degree=3)
    assert cubic.names == ["1", "x[k]", "x[k]^2", "x[k]^3"]
    with pytest.raises(ValueError, match="degree must be an int in \\[1, 6\\]"):
        ShiftedPolynomialLibrary(degree=0)
    with pytest.raises(ValueError, match="not in the library"):
        lib.index("x[k+7]")


def test_stlsq_recovers_planted_sparse_vector():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(400, 12))
    xi_true = np.zeros(12)
    xi_true[[1, 5, 9]] = [2.0, -0.7, 0.3]
    y = theta @ xi_true + 0.01 * rng.normal(size=400)
    xi = np.asarray(stlsq(theta, y, threshold=0.1))
    assert set(np.flatnonzero(xi)) == {1, 5, 9}
    np.testing.assert_allclose(xi[[1, 5, 9]], xi_true[[1, 5, 9]], atol=0.01)
    assert not np.any(stlsq(theta, y, threshold=100.0))
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        stlsq(theta, y, threshold=-1)


def test_stlsq_stopped_at_max_iterations_keeps_no_coefficient_below_threshold():
    """Correlated columns: the refit after one sweep gives x1 = 0.29 < threshold 0.3."""
    rng = np.random.default_rng(25)
    theta = rng.normal(size=(30, 6))
    theta[:, 1] = theta[:, 0] + 0.3 * rng.normal(size=30)
    y = theta @ np.array([1.0, 0.5, 0.0, 0.2, 0.0, 0.0]) + 0.1 * rng.normal(size=30)
    xi = np.asarray(stlsq(theta, y, 0.3, max_iterations=1))
    assert np.count_nonzero(xi) >= 1
    assert np.all((xi == 0) | (np.abs(xi) >= 0.3)), xi


def _check_l96_recovery(model, forcing, rtol):
    active = model.active_terms()
    expected = dict(L96_TERMS, **{"1": forcing})
    assert set(active) == set(expected), active  # no spurious terms
    for name, value in expected.items():
        assert abs(active[name] - value) <= rtol * abs(value), (name, active[name])


@pytest.mark.parametrize("forcing", [8.0, 10.0])
def test_recovers_lorenz96_from_exact_tendency(forcing):
    m = Lorenz96(n=36, forcing=forcing)
    x0 = spun_up_state(m, 0.01, 1000, seed=3)
    traj = simulate(m.tendency, x0, 0.01, 500, save_every=10)
    lib = ShiftedPolynomialLibrary(offsets=(-2, -1, 0, 1, 2), degree=3)
    sparse, q = fit_sparse_model(traj, jax.vmap(m.tendency)(traj), lib, threshold=0.05)
    _check_l96_recovery(sparse, forcing, rtol=1e-8)
    assert q.r2 > 1 - 1e-12 and q.n_terms == 4


@pytest.mark.slow  # 2.0 s measured (fast tier: pytest -m 'not slow')
def test_recovers_lorenz96_from_finite_differences_within_one_percent():
    m = Lorenz96(n=40, forcing=8.0)
    x0 = spun_up_state(m, 0.01, 1000, seed=0)
    traj = simulate(m.tendency, x0, 0.01, 400, save_every=1)
    lib = ShiftedPolynomialLibrary(offsets=(-2, -1, 0, 1, 2), degree=2)
    for order in (2, 4):
        d = finite_difference_derivative(traj, 0.01, order=order)
        h = order // 2
        sparse, q = fit_sparse_model(traj[h:-h], d, lib, threshold=0.05)
        _check_l96_recovery(sparse, 8.0, rtol=0.01)
    # the recovered model reproduces the true trajectory over a short forecast
    fc = simulate(sparse.tendency, traj[0], 0.01, 50, save_every=50)[-1]
    np.testing.assert_allclose(fc, traj[50], atol=1e-3)


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_two_scale_closure_is_sparse_and_explains_most_variance():
    model, dt = arnold_2013()
    state = spun_up_state(model, dt, 3000, seed=0)
    traj = simulate(model.tendency, state, dt, 20_000, save_every=50)
    subgrid = model.subgrid_forcing(traj.y)
    lib = ShiftedPolynomialLibrary(offsets=(0,), degree=5)
    closure, q = fit_sparse_model(traj.x, subgrid, lib, threshold=1.0, normalize_columns=True)
    _, q_full = fit_sparse_model(traj.x, subgrid, lib, threshold=0.0)
    assert q.n_terms <= 4
    assert q.r2 > 0.75 and q.r2 > q_full.r2 - 0.03
    # U strongly anti-correlated with X (damping of the resolved variables)
    assert closure.active_terms()["x[k]"] < -0.5


@pytest.mark.slow  # 6.3 s measured (fast tier: pytest -m 'not slow')
def test_discovery_example_runs_small():
    spec = importlib.util.spec_from_file_location("l96_discovery", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(small=True)
    sparse, q = out["one_scale"]
    _check_l96_recovery(sparse, 8.0, rtol=0.01)
    closure, qc = out["closure"]
    assert qc.n_terms <= 4 and qc.r2 > 0.75
    c = out["climate"]
    assert abs(c["coarse_mean"] - c["two_scale_mean"]) < 0.5
    assert abs(c["coarse_std"] - c["two_scale_std"]) < 0.5
