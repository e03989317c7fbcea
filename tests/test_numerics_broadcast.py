"""``sum_to_shape`` is the transpose of broadcasting: equal to JAX's VJP of ``broadcast_to``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.numerics import sum_to_shape

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize(
    ("shape", "target"),
    [((3, 1), (2, 3, 4)), ((1, 4), (3, 4)), ((4,), (2, 3, 4)), ((2, 3), (2, 3)), ((), (5, 2))],
)
def test_sum_to_shape_is_the_vjp_of_broadcast(shape, target):
    rng = np.random.default_rng(0)
    operand = jnp.asarray(rng.normal(size=shape))
    cot = jnp.asarray(rng.normal(size=target))
    _, vjp = jax.vjp(lambda a: jnp.broadcast_to(a, target), operand)
    (expected,) = vjp(cot)
    got = sum_to_shape(cot, shape)
    assert got.shape == tuple(shape)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


def test_sum_to_shape_rejects_fewer_axes():
    with pytest.raises(ValueError, match="fewer than shape"):
        sum_to_shape(jnp.ones(3), (2, 3))
