"""The hand-written adjoint of the basin momentum tendency (``BasinModel(adjoint="hand")``,
:mod:`pyclimaocean.models.basin.adjoint`): its cotangents equal JAX's transposition of the
same forward to round-off; a 50-step gradient equals JAX's and central finite differences;
it composes with ``jit`` and ``vmap``; forward mode is refused with JAX's error."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.grids import CGrid
from pyclimaocean.models.basin import (
    BasinMixing,
    BasinModel,
    acc_sector,
    kernels,
    mean_kinetic_energy,
    mean_sst,
)
from pyclimaocean.models.basin.adjoint import momentum_core, momentum_core_reference


def _small_acc(**kwargs):
    """The 6° acc sector on 5 levels (10 × 14 × 5): spherical, land, a re-entrant channel."""
    return acc_sector(dlon=6.0, dlat=6.0, dt=7200.0,
                      z_faces=[-2000.0, -1200.0, -600.0, -250.0, -80.0, 0.0], **kwargs)


def _box():
    """A walled 6 × 5 × 3 β-plane box with one land column."""
    depth = np.full((5, 6), 1000.0)
    depth[2, 3] = 0.0
    return CGrid.beta_plane(6e5, 5e5, 6, 5, nz=3, total_depth=1000.0, depth=depth, beta=1e-11)


def _random_flow(g, seed):
    rng = np.random.default_rng(seed)
    u = jnp.asarray(rng.normal(size=g.shape)) * 0.1 * g.maskU
    v = jnp.asarray(rng.normal(size=g.shape)) * 0.1 * g.maskV
    cot = (jnp.asarray(rng.normal(size=g.shape)), jnp.asarray(rng.normal(size=g.shape)))
    return u, v, kernels.vertical_transport(g, u, v), cot


def _vjps(spec, g, args, cot):
    """``(G, cotangents)`` of JAX's transposition and of the hand adjoint."""
    out = []
    for f in (momentum_core_reference, momentum_core):
        y, pb = jax.vjp(lambda *x, f=f: f(spec, g, *x), *args)
        out.append((y, pb(cot)))
    return out


# each case 3-5 s measured (eager, load ~16 on 2 shared cores)
@pytest.mark.slow
@pytest.mark.parametrize("grid, spec", [
    ("box", (True, 2, True, True)),
    ("box", (False, 0, False, False)),
    ("sector", (True, 0, False, False)),
    ("sector", (False, 2, True, True)),
])
def test_cotangents_equal_jax_transposition(grid, spec):
    """Random cotangents of ``(G_u, G_v)``: the hand adjoint's cotangents of u, v, F_z, A_h
    and A_4 equal JAX's transposition of the same forward (measured ≤ 3e-15 relative), with
    and without advection, cos φ scaling, no-slip walls and biharmonic friction."""
    # spec: (momentum_advection, cos_power, no_slip, has_biharmonic)
    g = _small_acc().grid if grid == "sector" else _box()
    u, v, fz, cot = _random_flow(g, 1)
    args = (u, v, fz, jnp.asarray(2e4), jnp.asarray(3e14))
    (y_ref, c_ref), (y_hand, c_hand) = _vjps(spec, g, args, cot)
    for a, b in zip(y_ref, y_hand, strict=True):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-15 * float(jnp.max(jnp.abs(a))))
    for name, a, b in zip(["u", "v", "flux_z", "A_h", "A_4"], c_ref, c_hand, strict=True):
        scale = float(jnp.max(jnp.abs(a)))
        if name == "flux_z" and not spec[0]:
            assert scale == 0.0 and float(jnp.max(jnp.abs(b))) == 0.0
            continue
        if name == "A_4" and not spec[3]:
            assert float(b) == 0.0
            continue
        assert scale > 0.0, (spec, name)
        err = float(jnp.max(jnp.abs(a - b))) / scale
        assert err < 1e-12, (spec, name, err)


@pytest.mark.slow  # 5.5 s measured (load ~16 on 2 shared cores)
def test_model_tendency_cotangents_and_forward():
    """The whole momentum tendency of the two models (pressure, drag and wind included):
    forward equal to round-off, cotangents of u, v, T, S and of the parameters to 1e-12."""
    auto, hand = (eqx.tree_at(lambda q: q.mixing.biharmonic_viscosity, _small_acc(adjoint=a),
                              jnp.asarray(1e13)) for a in ("autodiff", "hand"))
    g = auto.grid
    u, v, _, cot = _random_flow(g, 2)
    T, S = auto.initial_temperature, auto.initial_salinity

    def tend(model, u, v, T, S, m):
        model = eqx.tree_at(lambda q: q.mixing, model, m)
        return model.momentum_tendency(u, v, T, S, kernels.vertical_transport(g, u, v))

    outs = []
    for model in (auto, hand):
        y, pb = jax.vjp(lambda *x, model=model: tend(model, *x), u, v, T, S, model.mixing)
        outs.append((y, pb(cot)))
    (ya, ca), (yh, ch) = outs
    for a, b in zip(ya, yh, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(a))))
    for a, b in zip(jax.tree_util.tree_leaves(ca), jax.tree_util.tree_leaves(ch), strict=True):
        scale = float(jnp.max(jnp.abs(a)))
        assert float(jnp.max(jnp.abs(a - b))) <= 1e-12 * scale


def test_rejects_unknown_adjoint():
    with pytest.raises(ValueError, match="Supported adjoints are: autodiff, hand"):
        _small_acc(adjoint="by hand")


def _loss(model, params, names, values):
    m = params.with_values(dict(zip(names, values, strict=True))).apply(model)
    final, _ = m.run(m.initial_state(), 50)
    return 1e3 * mean_kinetic_energy(m, final) + mean_sst(m, final)


@pytest.mark.slow  # 205 s measured (load ~20 on 2 shared cores; two compiled 50-step gradients)
def test_run_gradient_equals_autodiff_and_finite_differences():
    """Gradient through 50 steps (√T checkpoints) with respect to A_h, A_4, linear drag and
    the wind amplitude: hand = JAX to 1e-10 relative; each component against central
    differences of the same compiled program (relative step 1e-3) to < 1e-6.  (A_4 = 1e15
    m⁴ s⁻¹: at 1e13 its effect on the loss is so small that the differences are limited by
    round-off, 1e-5.)"""
    base, hand = (eqx.tree_at(lambda q: q.mixing.biharmonic_viscosity,
                              _small_acc(horizontal_viscosity=2e5, adjoint=a),
                              jnp.asarray(1e15)) for a in ("autodiff", "hand"))
    names = ["mixing.horizontal_viscosity", "mixing.biharmonic_viscosity", "drag.linear",
             "forcing.wind_stress_amplitude"]
    params = base.parameters(names)
    x = jnp.asarray([float(params[n].value) for n in names])
    vg_hand = jax.jit(jax.value_and_grad(lambda x: _loss(hand, params, names, x)))
    vg_auto = jax.jit(jax.value_and_grad(lambda x: _loss(base, params, names, x)))
    (lh, gh), (la, ga) = vg_hand(x), vg_auto(x)
    np.testing.assert_allclose(lh, la, rtol=1e-13)
    np.testing.assert_allclose(gh, ga, rtol=1e-10)
    for i, name in enumerate(names):
        h = 1e-3 * abs(float(x[i]))
        e = jnp.zeros_like(x).at[i].set(h)
        fd = (float(vg_hand(x + e)[0]) - float(vg_hand(x - e)[0])) / (2 * h)
        assert abs(float(gh[i]) - fd) < 1e-6 * abs(fd), (name, float(gh[i]), fd)


@pytest.mark.slow  # 6.6 s measured (load ~16 on 2 shared cores)
def test_jit_vmap_and_forward_mode():
    """``jit`` equals eager; ``vmap`` over a batch of flows equals a loop; ``jax.jvp``
    through the hand adjoint raises JAX's ``TypeError`` naming ``custom_vjp``."""
    g = _box()
    spec = (True, 0, False, True)
    u, v, fz, cot = _random_flow(g, 3)
    visc = (jnp.asarray(1e3), jnp.asarray(1e10))

    def cotangents(u, v, fz):
        return jax.vjp(lambda *x: momentum_core(spec, g, *x), u, v, fz, *visc)[1](cot)

    eager = cotangents(u, v, fz)
    jitted = jax.jit(cotangents)(u, v, fz)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-13, atol=1e-13 * float(jnp.max(jnp.abs(a))))
    u2, v2, fz2, _ = _random_flow(g, 4)
    batched = jax.jit(jax.vmap(cotangents))(jnp.stack([u, u2]), jnp.stack([v, v2]),
                                            jnp.stack([fz, fz2]))
    for k, args in enumerate([(u, v, fz), (u2, v2, fz2)]):
        for a, b in zip(cotangents(*args), batched, strict=True):
            np.testing.assert_allclose(b[k], a, rtol=1e-12,
                                       atol=1e-12 * float(jnp.max(jnp.abs(a))))
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda u: momentum_core(spec, g, u, v, fz, *visc), (u,), (u,))
    model = BasinModel(g, 1800.0, 4, mixing=BasinMixing(horizontal_viscosity=1e3),
                       adjoint="hand")
    s = model.state_from_fields(u=0.01, v=-0.02)
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda u: model.step(eqx.tree_at(lambda q: q.u, s, u)).u, (s.u,), (s.u,))
