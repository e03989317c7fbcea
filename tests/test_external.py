"""The external-model adapter: NumPy models with hand-written adjoints, differentiated by JAX.

References: the JAX models are pyclimaocean's own Lorenz-96 (RK4) and a dense-matrix JAX
version of the implicit diffusion step; both are differentiated by JAX's AD, independently
of the hand-written NumPy adjoints.
"""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (enables x64)
from pyclimaocean.backends.external import (
    ExternalModelError,
    check_adjoint,
    wrap_external,
)
from pyclimaocean.models.lorenz96 import Lorenz96, simulate

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


npm = _load("external_numpy_models")

DT, NSTEPS, N = 0.05, 20, 12


def _l96_external(vmap_method="sequential"):
    return wrap_external(
        lambda x0, F: npm.l96_forward(x0, F, DT, NSTEPS),
        lambda x0, F, ct: npm.l96_vjp(x0, F, DT, NSTEPS, ct),
        out_spec=lambda x0, F: jax.ShapeDtypeStruct((NSTEPS,) + x0.shape, x0.dtype),
        vmap_method=vmap_method,
        name="numpy_lorenz96",
    )


def _l96_jax(x0, F):
    return simulate(Lorenz96(n=N, forcing=F).tendency, x0, DT, NSTEPS, checkpoint_every=None)


@pytest.fixture(scope="module")
def x0():
    return 8.0 + np.random.default_rng(0).standard_normal(N)


def _loss(traj):
    return jnp.mean((traj - 1.0) ** 2)


def test_l96_forward_matches_jax_model(x0):
    ext = _l96_external()
    np.testing.assert_allclose(ext(x0, 8.0), _l96_jax(jnp.asarray(x0), 8.0), rtol=1e-12, atol=1e-12)


def test_l96_gradient_matches_jax_and_finite_differences(x0):
    ext = _l96_external()
    g_ext = jax.jit(jax.grad(lambda x, F: _loss(ext(x, F)), argnums=(0, 1)))(x0, 8.0)
    g_jax = jax.grad(lambda x, F: _loss(_l96_jax(x, F)), argnums=(0, 1))(jnp.asarray(x0), 8.0)
    np.testing.assert_allclose(g_ext[0], g_jax[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_ext[1], g_jax[1], rtol=1e-9)
    # central finite differences of the NumPy model in F
    h = 1e-6
    lp = float(_loss(npm.l96_forward(x0, 8.0 + h, DT, NSTEPS)))
    lm = float(_loss(npm.l96_forward(x0, 8.0 - h, DT, NSTEPS)))
    assert abs(g_ext[1] - (lp - lm) / (2 * h)) < 1e-6 * max(1.0, abs(g_ext[1]))


def test_hand_written_adjoints_pass_dot_product_test(x0):
    err = check_adjoint(
        lambda x, F: npm.l96_forward(x, F, DT, NSTEPS),
        lambda x, F, c: npm.l96_vjp(x, F, DT, NSTEPS, c),
        [x0, 8.0],
    )
    assert err < 1e-7
    dz, dzf, zc = npm.stretched_grid(10, 100.0)
    err = check_adjoint(
        lambda T, k, q: npm.diffusion_forward(T, k, q, dz, dzf, 600.0, 10),
        lambda T, k, q, c: npm.diffusion_vjp(T, k, q, dz, dzf, 600.0, 10, c),
        [20 + 0.05 * zc, np.full(9, 1e-3), 1e-4],
        eps=1e-7,
    )
    assert err < 1e-7


def test_check_adjoint_detects_a_wrong_adjoint(x0):
    def wrong_vjp(x, F, c):
        xb, fb = npm.l96_vjp(x, F, DT, NSTEPS, c)
        return np.roll(xb, 1), fb  # an index slip, a typical adjoint bug

    err = check_adjoint(lambda x, F: npm.l96_forward(x, F, DT, NSTEPS), wrong_vjp, [x0, 8.0])
    assert err > 1e-3


@pytest.mark.slow  # 2.4 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("method", ["sequential", "batched", "expand_dims"])
def test_vmap_forward_and_gradient(x0, method):
    ext = _l96_external(method)
    xs = jnp.stack([jnp.asarray(x0), jnp.asarray(x0) + 0.1, jnp.asarray(x0) - 0.2])
    Fs = jnp.array([8.0, 7.5, 9.0])
    got = jax.jit(jax.vmap(ext))(xs, Fs)
    want = jnp.stack([_l96_jax(x, F) for x, F in zip(xs, Fs, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    grad_fn = jax.grad(lambda x, F: _loss(ext(x, F)), argnums=(0, 1))
    gx, gF = jax.vmap(grad_fn)(xs, Fs)
    for i in range(3):
        wx, wF = jax.grad(lambda x, F: _loss(_l96_jax(x, F)), argnums=(0, 1))(xs[i], Fs[i])
        np.testing.assert_allclose(gx[i], wx, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gF[i], wF, rtol=1e-9)


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("method", ["sequential", "batched"])
def test_vmap_with_shared_parameter(x0, method):
    """Batch over initial states only; the forcing is shared (unbatched)."""
    ext = _l96_external(method)
    xs = jnp.stack([jnp.asarray(x0), jnp.asarray(x0) + 0.3])

    def total(F):
        return jnp.sum(jax.vmap(lambda x: _loss(ext(x, F)))(xs))

    def single(x, F):
        return _loss(_l96_jax(x, F))

    want = jax.grad(single, argnums=1)(xs[0], 8.0) + jax.grad(single, argnums=1)(xs[1], 8.0)
    np.testing.assert_allclose(jax.grad(total)(8.0), want, rtol=1e-9)


# -- implicit vertical diffusion: adjoint = transposed tridiagonal solve ------------------


NZ, DT_DIFF, NSTEPS_DIFF = 10, 900.0, 12


@pytest.fixture(scope="module")
def column():
    dz, dzf, zc = npm.stretched_grid(NZ, 100.0)
    T0 = 20.0 + 0.04 * zc + 0.5 * np.exp(zc / 10.0)
    kappa = 1e-3 * (1.0 + np.linspace(0.0, 2.0, NZ - 1))
    return dz, dzf, T0, kappa


def _diffusion_jax(T0, kappa, q, dz, dzf):
    """Dense-matrix JAX version of the same backward-Euler step (differentiated by JAX)."""
    c = kappa / dzf
    D = jnp.zeros((NZ, NZ))
    idx = jnp.arange(NZ - 1)
    D = D.at[idx, idx + 1].add(c / dz[:-1]).at[idx, idx].add(-c / dz[:-1])
    D = D.at[idx + 1, idx].add(c / dz[1:]).at[idx + 1, idx + 1].add(-c / dz[1:])
    A = jnp.eye(NZ) - DT_DIFF * D
    src = jnp.zeros(NZ).at[-1].set(-DT_DIFF * q / dz[-1])

    def step(T, _):
        T = jnp.linalg.solve(A, T + src)
        return T, T

    return jax.lax.scan(step, T0, None, length=NSTEPS_DIFF)[1]


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
def test_implicit_diffusion_gradients_match_jax(column):
    dz, dzf, T0, kappa = column
    ext = wrap_external(
        lambda T, k, q: npm.diffusion_forward(T, k, q, dz, dzf, DT_DIFF, NSTEPS_DIFF),
        lambda T, k, q, c: npm.diffusion_vjp(T, k, q, dz, dzf, DT_DIFF, NSTEPS_DIFF, c),
        out_spec=jax.ShapeDtypeStruct((NSTEPS_DIFF, NZ), jnp.float64),
        in_specs=[
            jax.ShapeDtypeStruct((NZ,), jnp.float64),
            jax.ShapeDtypeStruct((NZ - 1,), jnp.float64),
            jax.ShapeDtypeStruct((), jnp.float64),
        ],
        name="numpy_implicit_diffusion",
    )
    target = T0 - 0.1

    def loss(f):
        return lambda T, k, q: jnp.mean((f(T, k, q)[-1] - target) ** 2)

    q = 2e-5
    np.testing.assert_allclose(ext(T0, kappa, q), _diffusion_jax(T0, kappa, q, dz, dzf), rtol=1e-12)
    g_ext = jax.jit(jax.grad(loss(ext), argnums=(0, 1, 2)))(T0, kappa, q)
    g_jax = jax.grad(loss(lambda T, k, q: _diffusion_jax(T, k, q, dz, dzf)), argnums=(0, 1, 2))(
        jnp.asarray(T0), jnp.asarray(kappa), q
    )
    for a, b in zip(g_ext, g_jax, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-14)
    # and finite differences in one diffusivity
    h = 1e-9
    e = np.zeros(NZ - 1)
    e[4] = h
    f = lambda k: float(loss(ext)(T0, k, q))  # noqa: E731
    fd = (f(kappa + e) - f(kappa - e)) / (2 * h)
    assert abs(g_ext[1][4] - fd) < 1e-5 * abs(fd)


# -- clear errors -----------------------------------------------------------------------


def test_wrong_output_shape_is_reported():
    bad = wrap_external(
        lambda x: np.concatenate([x, x]),
        lambda x, c: c,
        out_spec=lambda x: x,
        name="doubling_model",
    )
    with pytest.raises(
        Exception, match=r"doubling_model: forward output 0 has shape \(6,\); expected \(3,\)"
    ):
        jax.block_until_ready(bad(jnp.ones(3)))


def test_wrong_vjp_arity_and_shape_are_reported():
    f = wrap_external(
        lambda x, a: a * x, lambda x, a, c: (a * c,), out_spec=lambda x, a: x, name="scale"
    )
    with pytest.raises(Exception, match="vjp must return a tuple of 2 cotangents"):
        jax.block_until_ready(jax.grad(lambda x: f(x, 2.0).sum())(jnp.ones(3)))
    g = wrap_external(lambda x: 2 * x, lambda x, c: c[:2], out_spec=lambda x: x, name="twice")
    with pytest.raises(
        Exception, match=r"twice: vjp cotangent 0 has shape \(2,\); expected \(3,\)"
    ):
        jax.block_until_ready(jax.grad(lambda x: g(x).sum())(jnp.ones(3)))


def test_input_checks_happen_at_trace_time():
    f = wrap_external(
        lambda x: x, lambda x, c: c, out_spec=lambda x: x, in_specs=[np.zeros(4)], name="identity"
    )
    with pytest.raises(
        ExternalModelError, match=r"identity: argument 0 has shape \(3,\); expected \(4,\)"
    ):
        f(jnp.ones(3))
    with pytest.raises(ExternalModelError, match="must be floating point"):
        f(jnp.ones(4, dtype=jnp.int32))
    with pytest.raises(ValueError, match="vmap_method='loop' is not supported"):
        wrap_external(lambda x: x, lambda x, c: c, out_spec=lambda x: x, vmap_method="loop")


def test_pytree_outputs():
    def fwd(x):
        return {"square": x**2, "total": np.sum(x)}

    def vjp(x, ct):
        return 2 * x * ct["square"] + ct["total"]

    f = wrap_external(
        fwd, vjp, out_spec=lambda x: {"square": x, "total": jax.ShapeDtypeStruct((), x.dtype)}
    )
    x = jnp.array([1.0, -2.0, 3.0])
    g = jax.grad(lambda x: f(x)["square"].sum() + 3 * f(x)["total"])(x)
    np.testing.assert_allclose(g, 2 * x + 3)
