"""The hand-written adjoint of the two-layer QG step (``TwoLayerQG(adjoint="hand")``): equal to JAX's own differentiation of the step (``adjoint="autodiff"``) to round-off,
to finite differences, under ``vmap``; forward mode through ``adjoint="autodiff"``."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.models.qg import TwoLayerQG, kinetic_energy

NX = 16


def _models(**kw):
    return (TwoLayerQG(nx=NX, dt=3600.0, adjoint="hand", **kw),
            TwoLayerQG(nx=NX, dt=3600.0, **kw))


@pytest.fixture(scope="module")
def spun():
    m, _ = _models()
    return jax.jit(lambda s: m.run(s, 300, checkpoint_every=None)[0])(m.initial_state())


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def test_forward_is_the_same_step(spun):
    hand, auto = _models()
    a = jax.jit(lambda s: hand.run(s, 20, checkpoint_every=None)[0])(spun)
    b = jax.jit(lambda s: auto.run(s, 20, checkpoint_every=None)[0])(spun)
    assert _rel(a.qh, b.qh) < 1e-14


@pytest.mark.slow  # 15 s measured (load average 28)
@pytest.mark.parametrize("level", [0, 1, 2])
def test_step_pullback_equals_autodiff(spun, level):
    """One step's vjp w.r.t. the state and the five physical parameters, random complex
    cotangents of both outputs (new q̂ and tendency), each Adams–Bashforth start level."""
    hand, auto = _models(beta=1.1e-11, rek=7e-7)
    state = eqx.tree_at(lambda s: s.ab_level, spun, jnp.asarray(level, jnp.int32))
    params = hand.parameters()

    def f(model, vec, qh, dqh_p, dqh_pp):
        m = params.with_values(vec).apply(model)
        s = eqx.tree_at(lambda s: (s.qh, s.dqhdt_p, s.dqhdt_pp), state, (qh, dqh_p, dqh_pp))
        out = m.step(s)
        return out.qh, out.dqhdt_p

    args = (params.vector(), state.qh, state.dqhdt_p, state.dqhdt_pp)
    rng = np.random.default_rng(level)
    shapes = (state.qh.shape, state.qh.shape)
    ct = tuple(jnp.asarray(rng.standard_normal(s) + 1j * rng.standard_normal(s))
               for s in shapes)

    @jax.jit
    def both(args, ct):
        return tuple(jax.vjp(lambda *a, m=m: f(m, *a), *args) for m in (hand, auto))

    def pull(args, ct):
        (y_h, pb_h), (y_a, pb_a) = both(args, ct)
        return y_h, y_a, pb_h(ct), pb_a(ct)

    y_hand, y, g_hand, g_auto = pull(args, ct)
    assert all(_rel(a, b) < 1e-14 for a, b in zip(y_hand, y, strict=True))
    for a, b in zip(g_hand, g_auto, strict=True):
        if not jnp.any(b):  # dqhdt_pp is unused before the third step
            assert not jnp.any(a)
        else:
            assert _rel(a, b) < 1e-12


def _loss(model, params, vec, state, n=12):
    m = params.with_values(vec).apply(model)
    final, _ = m.run(state, n, checkpoint_every=4)
    return jnp.sum(kinetic_energy(m, final.qh))


@pytest.mark.slow  # 16 s measured (load average 28)
def test_run_gradient_equals_autodiff_and_finite_differences(spun):
    hand, auto = _models()
    params = hand.parameters()
    v = params.vector()
    g_hand = jax.jit(jax.grad(lambda x: _loss(hand, params, x, spun)))(v)
    g_auto = jax.jit(jax.grad(lambda x: _loss(auto, params, x, spun)))(v)
    np.testing.assert_allclose(g_hand, g_auto, rtol=1e-12, atol=0)
    # central differences along each parameter, step 1e-4 of its value (U2 = 0: 1e-6 m s-1)
    f = jax.jit(lambda x: _loss(hand, params, x, spun))
    for i in range(v.size):
        h = 1e-4 * abs(float(v[i])) or 1e-6
        e = jnp.zeros_like(v).at[i].set(h)
        fd = (f(v + e) - f(v - e)) / (2 * h)
        np.testing.assert_allclose(g_hand[i], fd, rtol=2e-5, atol=1e-12 * abs(float(fd)))


@pytest.mark.slow  # 27 s measured (load average 28)
def test_vmap_over_ensemble_and_parameters(spun):
    hand, _ = _models()
    params = hand.parameters()
    v = params.vector()
    later = jax.jit(lambda s: hand.run(s, 7, checkpoint_every=None)[0])(spun)
    states = jax.tree_util.tree_map(lambda *x: jnp.stack(x), spun, later)
    grad = jax.grad(lambda x, s: _loss(hand, params, x, s))
    batched = jax.jit(jax.vmap(grad, in_axes=(None, 0)))(v, states)
    np.testing.assert_allclose(batched[1], jax.jit(grad)(v, later), rtol=1e-12)
    vs = jnp.stack([v, v * 1.02])
    batched = jax.jit(jax.vmap(grad, in_axes=(0, None)))(vs, spun)
    np.testing.assert_allclose(batched[1], jax.jit(grad)(vs[1], spun), rtol=1e-12)


@pytest.mark.slow  # 13 s measured (load average 28)
def test_forward_mode_needs_autodiff(spun):
    hand, auto = _models()
    params = hand.parameters()
    v = params.vector()
    t = jnp.linspace(0.5, 1.5, v.size) * jnp.abs(v)
    jvp = jax.jit(lambda x, t: jax.jvp(lambda y: _loss(auto, params, y, spun), (x,), (t,))[1])(
        v, t)
    grad = jax.jit(jax.grad(lambda x: _loss(hand, params, x, spun)))(v)
    np.testing.assert_allclose(jvp, jnp.dot(grad, t), rtol=1e-11)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda x: _loss(hand, params, x, spun), (v,), (t,))


def test_stepper_is_step(spun):
    """``stepper()`` (operators computed once, what ``run`` uses) is ``step``."""
    hand, auto = _models()
    for m in (hand, auto):
        a, b = m.stepper()(spun), m.step(spun)
        assert all(bool(jnp.all(x == y)) for x, y in zip(
            jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True))


def test_adjoint_is_checked():
    with pytest.raises(ValueError, match="adjoint"):
        TwoLayerQG(nx=NX, adjoint="reverse")
