"""``integrate(checkpoint_levels=n)`` / nested ``checkpoint_every=(s1, s2, …)``: multi-level
checkpointing stores fewer states for the reverse sweep and never changes the gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.integrate import default_checkpoint_lengths, integrate
from pyclimaocean.models.lorenz96 import l96_advection

N_STEPS = 48


def _euler_l96(forcing, dt=0.02):
    """One forward-Euler step of Lorenz-96 (cheap to compile, nonlinear)."""
    return lambda x: x + dt * (l96_advection(x) - x + forcing)


def _x0(n=8):
    return jnp.full((n,), 8.0).at[0].add(0.01)


def _loss(forcing, n_steps=N_STEPS, **kwargs):
    """Mean square of a Lorenz-96 state after ``n_steps`` steps, as a function of F."""
    final, _ = integrate(_euler_l96(forcing), _x0(), n_steps, **kwargs)
    return jnp.mean(final**2)


def _grad(**kwargs):
    return float(jax.jit(jax.grad(lambda f: _loss(f, **kwargs)))(jnp.asarray(8.0)))


def test_default_lengths():
    # two levels: the sqrt(T) segment length; three and four: nearly equal nested factors
    assert default_checkpoint_lengths(1000) == (25,)
    assert default_checkpoint_lengths(1000, levels=3) == (100, 10)
    assert default_checkpoint_lengths(1000, levels=4) == (200, 40, 5)
    # within a block (save_every), each length divides the one before
    lengths = default_checkpoint_lengths(1000, block=200, levels=3)
    assert 200 % lengths[0] == 0 and lengths[0] % lengths[1] == 0
    # short runs drop repeated lengths
    assert default_checkpoint_lengths(2, levels=4) == (2, 1)
    with pytest.raises(ValueError):
        default_checkpoint_lengths(100, levels=1)


@pytest.mark.slow  # 27 s measured at load 26 on 2 cores (5 compilations)
def test_nested_checkpointing_keeps_the_gradient():
    reference = _grad(checkpoint_every=None)  # no checkpointing at all
    h = 1e-6
    fd = (_loss(8.0 + h) - _loss(8.0 - h)) / (2 * h)
    np.testing.assert_allclose(reference, fd, rtol=1e-6)
    assert abs(reference) > 1e-2
    for kwargs in ({},  # two levels (default)
                   {"checkpoint_levels": 3},
                   {"checkpoint_every": (24, 6, 2)}):
        np.testing.assert_allclose(_grad(**kwargs), reference, rtol=1e-13, atol=0,
                                   err_msg=str(kwargs))


@pytest.mark.slow  # 11 s measured at load 26 on 2 cores
def test_nested_checkpointing_with_saved_outputs():
    def loss(forcing, **kwargs):
        _, xs = integrate(_euler_l96(forcing), _x0(), N_STEPS, save_every=16,
                          observe=lambda x: x[:3], **kwargs)
        return jnp.mean(xs**2)

    f = jnp.asarray(8.0)
    ref = jax.jit(jax.value_and_grad(lambda f: loss(f, checkpoint_every=None)))(f)
    got = jax.jit(jax.value_and_grad(lambda f: loss(f, checkpoint_levels=3)))(f)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)


@pytest.mark.slow  # 9 s measured at load 26 on 2 cores
def test_three_levels_store_fewer_states():
    """XLA's buffer accounting of the compiled gradient: 1000 steps of a 20 000-variable
    state store 40 + 25 states with two levels, 10 + 10 + 10 with three (the rest of the
    temporaries, the same in both, is the step's working set)."""
    n = 20_000

    def loss(forcing, **kwargs):
        final, _ = integrate(_euler_l96(forcing, dt=0.01), _x0(n), 1000, **kwargs)
        return jnp.mean(final**2)

    def temp_states(**kwargs):
        compiled = jax.jit(jax.grad(lambda f: loss(f, **kwargs))).lower(8.0).compile()
        analysis = compiled.memory_analysis()
        if analysis is None:
            pytest.skip("no memory analysis on this backend")
        return analysis.temp_size_in_bytes / (n * 8)

    two, three = temp_states(), temp_states(checkpoint_levels=3)
    assert two >= 40 + 25
    np.testing.assert_allclose(two - three, (40 + 25) - (10 + 10 + 10), atol=1.0)


@pytest.mark.parametrize("kwargs", [
    {"checkpoint_every": (16, 5)},  # 5 does not divide 16
    {"checkpoint_every": (16, 16)},  # not smaller than the segment it splits
    {"checkpoint_every": (13,)},  # does not divide n_steps
    {"checkpoint_every": 12, "checkpoint_levels": 3},  # levels only with "auto"
    {"checkpoint_levels": 1},
])
def test_bad_nested_lengths_are_refused(kwargs):
    with pytest.raises(ValueError):
        integrate(_euler_l96(8.0), _x0(), N_STEPS, **kwargs)
