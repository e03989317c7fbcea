"""``integrate(step_policy=...)``: the per-step checkpoint policy changes what the reverse
sweep stores, never the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.ad_checkpoint import checkpoint_name

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.integrate import integrate


def _loss(a, checkpoint_every, step_policy):
    def step(x):
        y = jnp.sin(x) * a + 0.5 * x
        return checkpoint_name(y, "tridiagonal_solution") * jnp.cos(a * x)

    final, _ = integrate(step, jnp.linspace(0.1, 1.0, 5), 16,
                         checkpoint_every=checkpoint_every, step_policy=step_policy)
    return jnp.sum(final**2)


@pytest.mark.slow  # 6.5 s measured (4 compilations; machine load ~11)
def test_step_policy_keeps_the_gradient():
    a = jnp.asarray(0.7)
    grad = jax.jit(jax.grad(_loss), static_argnums=(1, 2))
    reference = grad(a, None, None)  # no checkpointing
    assert abs(float(reference)) > 1e-3
    loss = jax.jit(_loss, static_argnums=(1, 2))
    h = 1e-6
    fd = (loss(a + h, None, None) - loss(a - h, None, None)) / (2 * h)
    np.testing.assert_allclose(reference, fd, rtol=1e-6)
    for policy in (None, jax.checkpoint_policies.everything_saveable,
                   jax.checkpoint_policies.nothing_saveable):
        np.testing.assert_allclose(grad(a, "auto", policy), reference, rtol=1e-12)
