"""The tridiagonal solve: Thomas sweep against LAPACK and a dense solve, its derivatives."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.numerics.tridiagonal import tridiagonal_solve


def _system(shape, seed=0):
    """A random diagonally dominant system like an implicit diffusion step."""
    rng = np.random.default_rng(seed)
    lower = -rng.uniform(0.0, 5.0, shape)
    upper = -rng.uniform(0.0, 5.0, shape)
    diag = rng.uniform(0.1, 1.0, shape) - lower - upper
    rhs = rng.normal(size=shape)
    return tuple(jnp.asarray(a) for a in (lower, diag, upper, rhs))


def _dense(lower, diag, upper):
    return jnp.diag(diag) + jnp.diag(lower[1:], -1) + jnp.diag(upper[:-1], 1)


@pytest.mark.parametrize("shape", [(7,), (3, 64), (2, 5, 33)])
def test_thomas_equals_lapack_and_dense(shape):
    lower, diag, upper, rhs = _system(shape)
    x = tridiagonal_solve(lower, diag, upper, rhs)
    x_lapack = tridiagonal_solve(lower, diag, upper, rhs, method="lapack")
    np.testing.assert_allclose(x, x_lapack, rtol=1e-12, atol=1e-14)
    flat = [a.reshape(-1, shape[-1]) for a in (lower, diag, upper, rhs)]
    for lo, di, up, r, xi in zip(*flat, x.reshape(-1, shape[-1]), strict=True):
        np.testing.assert_allclose(_dense(lo, di, up) @ xi, r, rtol=1e-12, atol=1e-12)


def test_ignored_corner_entries():
    """lower[0] and upper[-1] lie outside the matrix and must not matter."""
    lower, diag, upper, rhs = _system((2, 9), seed=1)
    x = tridiagonal_solve(lower, diag, upper, rhs)
    y = tridiagonal_solve(lower.at[:, 0].set(99.0), diag, upper.at[:, -1].set(-7.0), rhs)
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("method", ["thomas", "lapack"])
def test_reverse_and_forward_derivatives_match_finite_differences(method):
    lower, diag, upper, rhs = _system((2, 12), seed=2)
    weights = jnp.asarray(np.random.default_rng(3).normal(size=(2, 12)))

    def loss(lo, di, up, r):
        return jnp.sum(weights * tridiagonal_solve(lo, di, up, r, method=method) ** 2)

    grads = jax.grad(loss, argnums=(0, 1, 2, 3))(lower, diag, upper, rhs)
    direction = [jnp.asarray(np.random.default_rng(10 + i).normal(size=(2, 12)))
                 for i in range(4)]
    # the corner entries are ignored: their gradient must be zero
    assert float(grads[0][:, 0].max()) == 0.0 and float(grads[2][:, -1].max()) == 0.0
    direction[0] = direction[0].at[:, 0].set(0.0)
    direction[2] = direction[2].at[:, -1].set(0.0)
    h = 1e-6
    args = (lower, diag, upper, rhs)
    plus = loss(*(a + h * d for a, d in zip(args, direction, strict=True)))
    minus = loss(*(a - h * d for a, d in zip(args, direction, strict=True)))
    fd = (plus - minus) / (2 * h)
    adjoint = sum(jnp.sum(g * d) for g, d in zip(grads, direction, strict=True))
    _, tangent = jax.jvp(loss, args, tuple(direction))
    assert abs(adjoint - fd) < 1e-7 * abs(fd)
    assert abs(tangent - fd) < 1e-7 * abs(fd)


def test_unknown_method_is_refused():
    lower, diag, upper, rhs = _system((4,))
    with pytest.raises(ValueError, match="method = 'cholesky'; accepted: 'thomas', 'lapack'"):
        tridiagonal_solve(lower, diag, upper, rhs, method="cholesky")


@pytest.mark.parametrize("method", ["thomas", "lapack"])
def test_solve_along_a_leading_axis(method):
    """axis=0 (levels first, as the basin model) equals the default last-axis solve, and so
    do its reverse-mode derivatives."""
    lower, diag, upper, rhs = _system((3, 4, 9), seed=2)
    first = [jnp.moveaxis(a, -1, 0) for a in (lower, diag, upper, rhs)]
    x = tridiagonal_solve(lower, diag, upper, rhs, method=method)
    x0 = tridiagonal_solve(*first, method=method, axis=0)
    np.testing.assert_allclose(jnp.moveaxis(x0, 0, -1), x, rtol=1e-13, atol=1e-14)
    w = jnp.asarray(np.random.default_rng(3).normal(size=x.shape))

    def loss(args, axis):
        return jnp.sum(jnp.sin(tridiagonal_solve(*args, method=method, axis=axis)) * (
            w if axis == -1 else jnp.moveaxis(w, -1, 0)))

    g = jax.grad(loss)((lower, diag, upper, rhs), -1)
    g0 = jax.grad(loss)(tuple(first), 0)
    for a, b in zip(g, g0, strict=True):
        np.testing.assert_allclose(jnp.moveaxis(b, 0, -1), a, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="axis"):
        tridiagonal_solve(lower, diag, upper, rhs, axis=3)
