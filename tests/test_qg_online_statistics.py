"""The statistics loss of online QG closure training (``fit_online_qg(loss="statistics")``):
the misfit vanishes exactly for equal statistics and only then, its gradient through the solver
matches finite differences, and training with it moves a student's statistics to a teacher's."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.learning import make_optimizer
from pyclimaocean.learning.online import select_trainable
from pyclimaocean.learning.qg import (
    STATISTICS,
    _statistics_loss,
    fit_online_qg,
    layer_rms,
    qg_reference,
    qg_statistics,
    statistics_misfit,
)
from pyclimaocean.models.qg import ConvQGClosure, TwoLayerQG


@pytest.fixture(scope="module")
def run16():
    """A coarse (16²) run from small noise: 40 snapshots 5 steps apart."""
    m = TwoLayerQG(nx=16, dt=7200.0)
    s0 = m.state_from_q(1e-6 * jax.random.normal(jax.random.PRNGKey(0), (2, 16, 16)))
    _, traj = m.run(s0, 200, save_every=5)
    return m, m.ifft(traj.qh)


def _with(m, closure):
    return eqx.tree_at(lambda x: x.closure, m, closure, is_leaf=lambda x: x is None)


@pytest.mark.slow  # 29 s + 13 s fixture measured (2 shared cores at load ~9)
def test_statistics_misfit_is_zero_only_for_equal_statistics(run16):
    m, q = run16
    ref = qg_statistics(m, q)
    assert set(ref) == set(STATISTICS)
    assert float(statistics_misfit(ref, ref)) == 0.0
    # translated and y-reflected (q -> -q) fields have the same statistics: misfit ~ round-off
    moved = -jnp.roll(jnp.flip(q, axis=-2), (3, 5), axis=(-2, -1))
    assert float(statistics_misfit(qg_statistics(m, moved), ref)) < 1e-20
    # 10 % more PV: variances 1.21x -> (0.21)^2 in the q, u, v variance terms, spectra too
    scaled = float(statistics_misfit(qg_statistics(m, 1.1 * q), ref))
    assert 0.01 < scaled < 0.1, scaled
    # other statistics (the early, weaker half of the run) are far off
    assert float(statistics_misfit(qg_statistics(m, q[:10]), qg_statistics(m, q[-10:]))) > 0.1
    # a weight of 0 drops a statistic: kurtosis alone is unchanged by scaling
    only_kurtosis = {name: float(name.endswith("kurtosis")) for name in STATISTICS}
    assert float(statistics_misfit(qg_statistics(m, 1.1 * q), ref, only_kurtosis)) < 1e-20
    with pytest.raises(ValueError, match="names must be in"):
        statistics_misfit(ref, ref, {"ke": 1.0})
    with pytest.raises(ValueError, match="must be"):
        qg_statistics(m, q[0])


@pytest.mark.slow  # 70-102 s measured (2 shared cores at load ~9-20)
def test_statistics_loss_gradient_matches_finite_differences(run16):
    m, q = run16
    student = ConvQGClosure("q", width=4, depth=1, kernel_size=3, activation="tanh",
                            input_scale=layer_rms(q), output_scale=3e-2 * layer_rms(q) / m.dt,
                            key=jax.random.PRNGKey(6))  # tanh: smooth, FD converges as h²
    closed = _with(m, student)
    trainable = select_trainable(closed, lambda x: x.closure)
    params, loss = _statistics_loss(closed, [qg_reference(closed, q[-20:], 5)], trainable,
                                    q[-10:], discard=1, sample_every=3, weights=None,
                                    checkpoint_every="auto")
    batch = (4, jnp.asarray([[2, 7]]))  # 2 windows of 4 samples x 3 steps
    direction = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(9), p.shape),
                             params)

    @jax.jit
    def along(eps):
        return loss(jax.tree.map(lambda p, d: p + eps * d, params, direction), batch)

    ad = float(jax.jit(jax.grad(along))(0.0))
    # measured relative AD-FD difference 1.5e-2, 1.5e-4, 1.5e-6, 1.5e-8 at h = 1e-2 ... 1e-5
    # (h² convergence)
    h = 1e-5
    fd = float((along(h) - along(-h)) / (2 * h))
    assert abs(ad) > 0
    assert abs(ad - fd) < 1e-7 * abs(fd), (ad, fd)


@pytest.mark.slow  # 40 s + 7 s fixture measured (2 shared cores at load ~20)
def test_statistics_training_moves_the_student_towards_the_teacher_climate(run16):
    """The reference climate is a run closed by a teacher CNN that removes a lot of PV
    variance; the student (same architecture, other weights) is trained on the statistics
    loss only, from states of the unclosed run: the loss must fall."""
    m, q = run16
    scale = layer_rms(q)
    teacher = ConvQGClosure("q", width=4, depth=1, kernel_size=3, input_scale=scale,
                            output_scale=3e-2 * scale / m.dt, key=jax.random.PRNGKey(5))
    _, tt = _with(m, teacher).run(m.state_from_q(q[-1]), 120, save_every=4)
    q_teacher = m.ifft(tt.qh)
    student = ConvQGClosure("q", width=4, depth=1, kernel_size=3, input_scale=scale,
                            output_scale=3e-2 * scale / m.dt, key=jax.random.PRNGKey(6))
    result = fit_online_qg(student, m, [q[-20:]], 5, make_optimizer(1e-2, 30), 30, window=6,
                           windows_per_case=2, key=jax.random.PRNGKey(2), log=None,
                           loss="statistics", statistics_reference=q_teacher, discard=2,
                           sample_every=4)
    first, last = result.history["loss"][0], np.mean(result.history["loss"][-5:])
    assert last < 0.5 * first, (first, last)
    assert isinstance(result.model, ConvQGClosure)


@pytest.mark.slow  # 3 s measured at load ~9, 25 s at load ~40 (2 shared cores)
def test_statistics_loss_options_are_validated():
    m = TwoLayerQG(nx=16, dt=7200.0)
    q = 1e-6 * jax.random.normal(jax.random.PRNGKey(0), (6, 2, 16, 16))
    net = ConvQGClosure("q", width=2, depth=1, kernel_size=3, key=jax.random.PRNGKey(1))
    common = dict(key=jax.random.PRNGKey(0), log=None, window=4)
    with pytest.raises(ValueError, match="Supported losses"):
        fit_online_qg(net, m, [q], 5, make_optimizer(), 1, loss="spectra", **common)
    with pytest.raises(ValueError, match="needs statistics_reference"):
        fit_online_qg(net, m, [q], 5, make_optimizer(), 1, loss="statistics", **common)
    with pytest.raises(ValueError, match="discard"):
        fit_online_qg(net, m, [q], 5, make_optimizer(), 1, loss="statistics", discard=4,
                      statistics_reference=q, **common)
    with pytest.raises(ValueError, match="belong to"):
        fit_online_qg(net, m, [q], 5, make_optimizer(), 1, discard=1, **common)
