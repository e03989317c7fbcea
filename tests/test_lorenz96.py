"""Tests of the Lorenz-96 models (Lorenz 1996; two-scale constants of Arnold et al. 2013)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (enables x64)
from pyclimaocean.models.lorenz96 import (
    Lorenz96,
    TwoScaleLorenz96,
    TwoScaleState,
    arnold_2013,
    rk4_step,
    sakov_oke_2008,
    simulate,
    spun_up_state,
    to_xarray,
)


def numpy_loop_one_scale(x, forcing):
    n = len(x)
    out = np.zeros(n)
    for k in range(n):
        out[k] = (x[(k + 1) % n] - x[(k - 2) % n]) * x[(k - 1) % n] - x[k] + forcing
    return out


def numpy_loop_two_scale(x, y, K, J, h, b, c, forcing):
    """Direct transcription of Lorenz (1996) eqs. as written by Arnold et al. (2013)."""
    Y = lambda j, k: y[(k * J + j) % (K * J)]  # noqa: E731  periodic fast ring
    dx = np.zeros(K)
    dy = np.zeros(K * J)
    for k in range(K):
        s = sum(Y(j, k) for j in range(J))
        dx[k] = -x[(k - 1) % K] * (x[(k - 2) % K] - x[(k + 1) % K]) - x[k] + forcing - h * c / b * s
        for j in range(J):
            dy[k * J + j] = (
                -c * b * Y(j + 1, k) * (Y(j + 2, k) - Y(j - 1, k)) - c * Y(j, k) + h * c / b * x[k]
            )
    return dx, dy


def test_advection_conserves_energy():
    rng = np.random.default_rng(0)
    m = Lorenz96(n=37, forcing=8.0)
    for _ in range(5):
        x = jnp.asarray(rng.normal(size=37) * 5)
        assert abs(float(jnp.sum(x * m.advection(x)))) < 1e-10 * float(jnp.sum(x**2)) ** 1.5


def test_two_scale_fast_advection_conserves_energy():
    # h=0 decouples the scales; subtracting the damping -c Y leaves only the advection
    m = TwoScaleLorenz96(K=5, J=4, h=0.0, c=1.0, b=1.0, forcing=0.0)
    rng = np.random.default_rng(1)
    s = TwoScaleState(x=jnp.asarray(rng.normal(size=5)), y=jnp.asarray(rng.normal(size=20)))
    d = m.tendency(s)
    adv_y = d.y + m.c * s.y  # remove damping
    assert abs(float(jnp.sum(s.y * adv_y))) < 1e-12


def test_one_scale_tendency_matches_numpy_loop():
    rng = np.random.default_rng(2)
    m = Lorenz96(n=11, forcing=8.0)
    x = rng.normal(size=11) * 3
    np.testing.assert_allclose(
        np.asarray(m.tendency(jnp.asarray(x))), numpy_loop_one_scale(x, 8.0), rtol=1e-13, atol=1e-12
    )
    batch = rng.normal(size=(3, 11))
    got = np.asarray(m.tendency(jnp.asarray(batch)))
    for i in range(3):
        np.testing.assert_allclose(got[i], numpy_loop_one_scale(batch[i], 8.0), atol=1e-12)


def test_two_scale_tendency_matches_numpy_loop():
    rng = np.random.default_rng(3)
    K, J = 5, 6
    m = TwoScaleLorenz96(K=K, J=J, h=1.0, b=10.0, c=10.0, forcing=20.0)
    x, y = rng.normal(size=K) * 5, rng.normal(size=K * J) * 0.3
    d = m.tendency(TwoScaleState(x=jnp.asarray(x), y=jnp.asarray(y)))
    dx, dy = numpy_loop_two_scale(x, y, K, J, 1.0, 10.0, 10.0, 20.0)
    np.testing.assert_allclose(np.asarray(d.x), dx, atol=1e-11)
    np.testing.assert_allclose(np.asarray(d.y), dy, atol=1e-11)
    np.testing.assert_allclose(
        np.asarray(m.subgrid_forcing(jnp.asarray(y))),
        -(1.0 * 10.0 / 10.0) * y.reshape(K, J).sum(1),
        atol=1e-12,
    )


def test_rk4_fixed_point_and_order():
    m = Lorenz96(n=8, forcing=8.0)
    xf = jnp.full(8, 8.0)
    np.testing.assert_allclose(rk4_step(m.tendency, xf, 0.05), xf, atol=1e-12)
    # fourth-order convergence on a short chaotic trajectory
    x0 = m.initial_condition(0.5)
    ref = simulate(m.tendency, x0, 0.2 / 256, 256, save_every=256)[-1]
    errs = [
        float(jnp.max(jnp.abs(simulate(m.tendency, x0, 0.2 / n, n, save_every=n)[-1] - ref)))
        for n in (8, 16)
    ]
    assert 12 < errs[0] / errs[1] < 20


def test_simulate_shapes_and_xarray():
    m, dt = sakov_oke_2008()
    traj = simulate(m.tendency, m.initial_condition(), dt, 20, save_every=5, include_initial=True)
    assert traj.shape == (5, 40)
    ds = to_xarray(traj, dt=dt, save_every=5, includes_initial=True, forcing=8.0)
    np.testing.assert_allclose(ds.time.values, [0, 0.25, 0.5, 0.75, 1.0])
    assert ds.x.attrs["units"] == "1" and "long_name" in ds.x.attrs
    assert ds.time.attrs["units"] == "1" and ds.attrs["forcing"] == 8.0

    m2 = TwoScaleLorenz96(K=4, J=3)
    s0 = m2.initial_condition(0)
    tr2 = simulate(m2.tendency, s0, 0.001, 10, save_every=5)
    assert isinstance(tr2, TwoScaleState) and tr2.x.shape == (2, 4) and tr2.y.shape == (2, 12)
    ds2 = to_xarray(tr2, dt=0.001, save_every=5)
    assert ds2.Y.dims == ("time", "k", "j") and ds2.Y.shape == (2, 4, 3)
    np.testing.assert_allclose(ds2.time.values, [0.005, 0.01])


def test_bad_input_messages():
    with pytest.raises(ValueError, match="n must be an int >= 4"):
        Lorenz96(n=2)
    with pytest.raises(ValueError, match="model n=40"):
        Lorenz96(n=40).tendency(jnp.zeros(10))
    with pytest.raises(ValueError, match="K\\*J=256"):
        TwoScaleLorenz96().subgrid_forcing(jnp.zeros(10))
    with pytest.raises(ValueError, match="dt must be > 0"):
        simulate(Lorenz96().tendency, jnp.zeros(40), -0.1, 10)


@pytest.mark.slow  # 1.5 s measured (fast tier: pytest -m 'not slow')
def test_gradient_wrt_forcing_and_initial_condition_vs_finite_differences():
    m = Lorenz96(n=10, forcing=8.0)
    x0 = m.initial_condition(0.3)

    def loss(forcing, x0):
        mm = Lorenz96(n=10, forcing=forcing)
        traj = simulate(mm.tendency, x0, 0.05, 20, save_every=1)
        return jnp.mean(traj**2)

    g_f, g_x = jax.grad(loss, argnums=(0, 1))(8.0, x0)
    eps = 1e-6
    fd_f = (loss(8.0 + eps, x0) - loss(8.0 - eps, x0)) / (2 * eps)
    np.testing.assert_allclose(g_f, fd_f, rtol=1e-6)
    v = jax.random.normal(jax.random.PRNGKey(0), (10,))
    fd_v = (loss(8.0, x0 + eps * v) - loss(8.0, x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.dot(g_x, v), fd_v, rtol=1e-6)


@pytest.mark.slow  # 2.4 s measured (fast tier: pytest -m 'not slow')
def test_two_scale_gradient_vs_finite_differences():
    m = TwoScaleLorenz96(K=4, J=4)
    s0 = m.initial_condition(1)

    def loss(h):
        mm = TwoScaleLorenz96(K=4, J=4, h=h)
        tr = simulate(mm.tendency, s0, 0.002, 20, save_every=20)
        return jnp.sum(tr.x**2)

    g = jax.grad(loss)(1.0)
    fd = (loss(1.0 + 1e-6) - loss(1.0 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_arnold_2013_setup_is_stable_and_bounded():
    m, dt = arnold_2013()
    assert (m.K, m.J, m.h, m.b, m.c, m.forcing) == (8, 32, 1.0, 10.0, 10.0, 20.0)
    s = spun_up_state(m, dt, n_spinup=2000, seed=0)
    tr = simulate(m.tendency, s, dt, 1000, save_every=10)
    assert bool(jnp.all(jnp.isfinite(tr.x))) and bool(jnp.all(jnp.isfinite(tr.y)))
    assert float(jnp.max(jnp.abs(tr.x))) < 40 and float(jnp.std(tr.x)) > 1.0
