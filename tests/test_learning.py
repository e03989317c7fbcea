"""Neural closures for Lorenz-96: equivariance, training (offline and online), gradients
through the solver, checkpoints, evaluation metrics."""

from __future__ import annotations

import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean import learning
from pyclimaocean.models.lorenz96 import Lorenz96, TwoScaleLorenz96, spun_up_state

COARSE_DT = 0.005


@pytest.fixture(scope="module")
def truth_data():
    """Two-scale truth (Arnold et al. 2013 constants): 15 MTU train, 2 validation, 10 test."""
    truth = TwoScaleLorenz96()
    state = spun_up_state(truth, 0.001, 3000, seed=3)
    data, _ = learning.generate_two_scale_data(
        truth, state, dt=0.001, n_samples=5800, sample_every=5
    )
    train, val, test = learning.split_data(data, (15 / 29, 2 / 29, 10 / 29), gap=100)
    return {
        "truth": truth,
        "base": Lorenz96(n=8, forcing=20.0),
        "train": train,
        "val": val,
        "test": test,
    }


@pytest.fixture(scope="module")
def offline_cnn(truth_data):
    train, val = truth_data["train"], truth_data["val"]
    cnn = learning.PeriodicCNNClosure(
        width=8,
        depth=2,
        kernel_size=5,
        scaling=learning.standardisation(train.x, train.subgrid),
        key=jax.random.PRNGKey(0),
    )
    return learning.fit(
        cnn,
        learning.offline_loss,
        learning.OfflineSampler(train.x, train.subgrid, 64),
        learning.make_optimizer(3e-3, 400),
        400,
        key=jax.random.PRNGKey(1),
        validation=(val.x, val.subgrid),
        log_every=200,
        log=None,
    )


@pytest.mark.slow  # 2.3 s measured (fast tier: pytest -m 'not slow')
def test_subgrid_data_matches_two_scale_coupling(truth_data):
    """U is the two-scale coupling: dX/dt of the two-scale model minus the one-scale tendency."""
    train = truth_data["train"]
    assert train.x.shape == train.subgrid.shape == (train.n_samples, 8)
    assert train.dt == pytest.approx(COARSE_DT)
    # U anti-correlates with X (the fast variables damp the slow ones; Arnold et al. 2013 Fig. 1)
    corr = np.corrcoef(np.ravel(train.x), np.ravel(train.subgrid))[0, 1]
    assert corr < -0.8
    # the definition itself, at a sampled state: U = dX/dt (two-scale) - one-scale tendency
    truth = truth_data["truth"]
    state = truth.initial_condition(seed=5)
    data, final = learning.generate_two_scale_data(
        truth, state, dt=0.001, n_samples=1, sample_every=3
    )
    np.testing.assert_array_equal(data.x[0], final.x)
    one_scale = Lorenz96(n=truth.K, forcing=truth.forcing)
    np.testing.assert_allclose(
        data.subgrid[0], truth.tendency(final).x - one_scale.tendency(final.x), rtol=0, atol=1e-12
    )


def test_split_data_and_windows_reject_what_does_not_fit():
    x = jnp.arange(8000.0).reshape(1000, 8)
    data = learning.ClosureData(x=x, subgrid=-x, dt=0.005)
    with pytest.raises(ValueError, match="gap = 100"):
        learning.split_data(data, (0.95, 0.05), gap=100)
    parts = learning.split_data(data, (0.45, 0.45), gap=100)
    assert [p.n_samples for p in parts] == [450, 450]
    np.testing.assert_array_equal(parts[1].x, data.x[550:])
    with pytest.raises(ValueError, match="leave the series"):
        learning.trajectory_windows(data.x, jnp.array([0, 995]), 5)
    with pytest.raises(ValueError, match="leave the series"):
        learning.trajectory_windows(data.x, jnp.array([-1]), 5)
    assert learning.trajectory_windows(data.x, jnp.array([0, 994]), 5).shape == (2, 6, 8)


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("shift", range(8))
def test_cnn_is_exactly_shift_equivariant(shift):
    cnn = learning.PeriodicCNNClosure(width=6, depth=3, kernel_size=5, key=jax.random.PRNGKey(2))
    x = jax.random.normal(jax.random.PRNGKey(3), (8,)) * 5
    np.testing.assert_allclose(cnn(jnp.roll(x, shift)), jnp.roll(cnn(x), shift), rtol=0, atol=1e-12)


def test_local_mlp_is_shift_equivariant_and_global_mlp_is_not():
    x = jax.random.normal(jax.random.PRNGKey(4), (8,))
    local = learning.LocalMLPClosure(stencil_half_width=2, width=8, key=jax.random.PRNGKey(5))
    glob = learning.GlobalMLPClosure(8, width=8, key=jax.random.PRNGKey(5))
    np.testing.assert_allclose(local(jnp.roll(x, 3)), jnp.roll(local(x), 3), atol=1e-12)
    assert not np.allclose(glob(jnp.roll(x, 3)), jnp.roll(glob(x), 3), atol=1e-6)


def test_cnn_is_not_reflection_equivariant():
    """Lorenz-96 has a direction (no k -> -k symmetry), and so has the CNN in general."""
    cnn = learning.PeriodicCNNClosure(width=6, depth=2, kernel_size=5, key=jax.random.PRNGKey(2))
    x = jax.random.normal(jax.random.PRNGKey(3), (8,))
    assert not np.allclose(cnn(x[::-1]), cnn(x)[::-1], atol=1e-6)


def test_cnn_receptive_field_is_local():
    """A perturbation at k=0 reaches only |k| <= (depth + 1) * (kernel_size // 2) on a ring."""
    cnn = learning.PeriodicCNNClosure(width=4, depth=1, kernel_size=3, key=jax.random.PRNGKey(6))
    x = jax.random.normal(jax.random.PRNGKey(7), (16,))
    diff = np.abs(np.asarray(cnn(x.at[0].add(1.0)) - cnn(x)))
    reach = 2  # (1 + 1) * 1
    inside = [k % 16 for k in range(-reach, reach + 1)]
    outside = [k for k in range(16) if k not in inside]
    assert np.all(diff[outside] == 0.0)
    assert np.all(diff[inside] > 0.0)


def test_network_arguments_are_checked():
    with pytest.raises(ValueError, match="kernel_size = 4"):
        learning.PeriodicCNNClosure(kernel_size=4, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="activation 'sigmoidish' is not supported"):
        learning.LocalMLPClosure(activation="sigmoidish", key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="x_scale"):
        learning.Standardisation(x_scale=0.0)


def test_closure_model_adds_closure_to_base():
    base = Lorenz96(n=8, forcing=20.0)
    poly = learning.PolynomialClosure(jnp.array([0.5, -1.0, 0.0, 0.01]))
    x = jnp.linspace(-5.0, 10.0, 8)
    model = learning.ClosureModel(base, poly)
    np.testing.assert_allclose(model.tendency(x), base.tendency(x) + poly(x), atol=1e-12)
    # a plain callable works as base too
    np.testing.assert_allclose(
        learning.ClosureModel(base.tendency, poly)(x), model.tendency(x), atol=1e-12
    )


@pytest.mark.slow  # 5.4 s measured (fast tier: pytest -m 'not slow')
def test_offline_closure_beats_no_closure_on_held_out_data(truth_data, offline_cnn):
    test, base = truth_data["test"], truth_data["base"]
    hist = offline_cnn.history
    assert hist["loss"][-1] < 0.3 * hist["loss"][0]
    cnn = offline_cnn.model
    mse = float(learning.offline_loss(cnn, (test.x, test.subgrid)))
    mse_none = float(jnp.mean(test.subgrid**2))
    poly = learning.fit_polynomial_closure(truth_data["train"].x, truth_data["train"].subgrid)
    mse_poly = float(learning.offline_loss(poly, (test.x, test.subgrid)))
    assert mse < 0.15 * mse_none
    assert mse < mse_poly  # the CNN sees neighbours; the cubic only x_k
    starts = np.arange(0, test.n_samples - 60, 40)
    rmse = {
        name: learning.forecast_rmse(
            learning.ClosureModel(base, clo).tendency, test.x, starts, 50, COARSE_DT
        )
        for name, clo in (("cnn", cnn), ("none", learning.ZeroClosure()))
    }
    assert rmse["cnn"][-1] < 0.5 * rmse["none"][-1]  # at 0.25 MTU


@pytest.mark.slow  # 13.6 s of CPU with the module's truth-data fixture, load ~32 (16.1 s with eager runs)
def test_online_loss_gradient_matches_finite_differences(truth_data):
    """d(online loss)/d(weights) through 6 unrolled RK4 steps vs central differences (float64)."""
    train, base = truth_data["train"], truth_data["base"]
    cnn = learning.PeriodicCNNClosure(
        width=4,
        depth=1,
        kernel_size=3,
        scaling=learning.standardisation(train.x, train.subgrid),
        key=jax.random.PRNGKey(8),
    )
    windows = learning.trajectory_windows(train.x, jnp.array([0, 333, 1000]), 6)
    loss = learning.make_online_loss(base, COARSE_DT)
    params, static = eqx.partition(cnn, eqx.is_inexact_array)

    def f_eager(p):
        return loss(eqx.combine(p, static), windows)

    # one compiled program: its value is the loss for the finite differences (eager calls
    # compile the run's scan anew each time)
    value_and_grad = jax.jit(jax.value_and_grad(f_eager))
    grad = value_and_grad(params)[1]

    def f(p):
        return value_and_grad(p)[0]

    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(9), len(leaves))
    direction = jax.tree_util.tree_unflatten(
        treedef, [jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    )
    eps = 1e-5
    plus = jax.tree_util.tree_map(lambda p, d: p + eps * d, params, direction)
    minus = jax.tree_util.tree_map(lambda p, d: p - eps * d, params, direction)
    fd = (f(plus) - f(minus)) / (2 * eps)
    ad = sum(
        jnp.vdot(g, d)
        for g, d in zip(
            jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(direction), strict=True
        )
    )
    assert float(fd) != 0.0
    np.testing.assert_allclose(float(ad), float(fd), rtol=1e-6)
    # the checkpointed solver gives the same gradient
    loss_ckpt = learning.make_online_loss(base, COARSE_DT, checkpoint_every=2)
    grad_ckpt = jax.jit(jax.grad(lambda p: loss_ckpt(eqx.combine(p, static), windows)))(params)
    for a, b in zip(
        jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(grad_ckpt), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.slow  # 6.9 s measured (fast tier: pytest -m 'not slow')
def test_online_training_from_scratch_learns_a_closure(truth_data):
    """Online training alone finds a closure that beats none, without any use of U.

    The output scaling is built from the states only (``u_mean = 0``, ``u_scale = std(x)``),
    so neither the loss nor the network ever sees the subgrid tendencies U.  (The experiment
    runner's online mode does scale the outputs with U's mean and standard deviation.)
    """
    train, val, test, base = (truth_data[k] for k in ("train", "val", "test", "base"))
    x_scaling = learning.standardisation(train.x, train.x)
    cnn = learning.PeriodicCNNClosure(
        width=8,
        depth=2,
        kernel_size=5,
        scaling=learning.Standardisation(x_scaling.x_mean, x_scaling.x_scale, 0.0, x_scaling.x_scale),
        key=jax.random.PRNGKey(10),
    )
    mse_untrained = float(learning.offline_loss(cnn, (test.x, test.subgrid)))
    val_windows = learning.trajectory_windows(val.x, jnp.arange(0, 300, 10), 10)
    loss = learning.make_online_loss(base, COARSE_DT)
    before = float(loss(cnn, val_windows))
    result = learning.fit(
        cnn,
        loss,
        learning.WindowSampler(train.x, 16, [(0, 5), (150, 10)]),
        learning.make_optimizer(3e-3, 300),
        300,
        key=jax.random.PRNGKey(11),
        validation=val_windows,
        log_every=100,
        log=None,
    )
    assert result.history["unroll"][0] == 5 and result.history["unroll"][-1] == 10
    after = result.history["validation_loss"][-1]
    none = float(loss(learning.ZeroClosure(), val_windows))
    assert after < 0.2 * before
    assert after < 0.1 * none
    # and the learned tendency is a closure of U, although U was never used (held-out data)
    mse = float(learning.offline_loss(result.model, (test.x, test.subgrid)))
    # (measured: untrained 0.57 mean(U²), trained 0.08 mean(U²))
    assert mse < 0.3 * mse_untrained
    assert mse < 0.2 * float(jnp.mean(test.subgrid**2))


def test_fit_detects_divergence_and_writes_checkpoints(tmp_path):
    poly = learning.PolynomialClosure(jnp.array([1.0, 2.0]))
    x = jnp.linspace(-1, 1, 32)
    sampler = learning.OfflineSampler(x[:, None], (3.0 * x)[:, None], 8)
    ckpt = tmp_path / "ckpt" / "model.eqx"
    result = learning.fit(
        poly,
        learning.offline_loss,
        sampler,
        learning.make_optimizer(0.1),
        200,
        key=jax.random.PRNGKey(0),
        checkpoint_path=ckpt,
        checkpoint_every=50,
        log=None,
    )
    np.testing.assert_allclose(result.model.coefficients, [0.0, 3.0], atol=0.05)
    loaded = learning.load_model(ckpt, poly)
    np.testing.assert_array_equal(loaded.coefficients, result.model.coefficients)
    assert [p.name for p in ckpt.parent.iterdir()] == ["model.eqx"]  # no temporary files left

    def bad_loss(model, batch):
        return learning.offline_loss(model, batch) * jnp.nan

    with pytest.raises(learning.TrainingDivergedError, match="at step 0"):
        learning.fit(
            poly,
            bad_loss,
            sampler,
            learning.make_optimizer(0.1),
            5,
            key=jax.random.PRNGKey(0),
            log=None,
        )


@pytest.mark.parametrize(
    "closure",
    [
        learning.PeriodicCNNClosure(width=4, depth=2, kernel_size=3, key=jax.random.PRNGKey(1)),
        learning.LocalMLPClosure(
            stencil_half_width=1,
            width=5,
            scaling=learning.Standardisation(1.0, 2.0, -1.0, 3.0),
            key=jax.random.PRNGKey(1),
        ),
        learning.GlobalMLPClosure(8, width=5, key=jax.random.PRNGKey(1)),
        learning.PolynomialClosure(jnp.array([0.1, -1.0, 0.01, 0.002])),
    ],
    ids=["cnn", "local_mlp", "global_mlp", "polynomial"],
)
def test_save_and_load_closure_round_trip(tmp_path, closure):
    path = tmp_path / "closure.eqx"
    learning.save_closure(path, closure)
    assert json.loads(path.with_suffix(".json").read_text())["architecture"]
    loaded = learning.load_closure(path)
    x = jnp.linspace(-3.0, 9.0, 8)
    np.testing.assert_array_equal(loaded(x), closure(x))
    assert sorted(os.listdir(tmp_path)) == ["closure.eqx", "closure.json"]


def test_window_sampler_curriculum_and_errors():
    x = jnp.arange(200.0)[:, None] * jnp.ones((1, 8))
    s = learning.WindowSampler(x, 4, [(0, 3), (10, 7)])
    assert s.unroll_at(0) == 3 and s.unroll_at(9) == 3 and s.unroll_at(10) == 7
    w = s(jax.random.PRNGKey(0), 12)
    assert w.shape == (4, 8, 8)
    np.testing.assert_array_equal(jnp.diff(w[:, :, 0], axis=1), 1.0)  # consecutive samples
    with pytest.raises(ValueError, match="must start at step 0"):
        learning.WindowSampler(x, 4, [(5, 3)])
    with pytest.raises(ValueError, match="unroll lengths must be in"):
        learning.WindowSampler(x, 4, 500)


def test_metrics_on_known_cases():
    t = np.array([0.1, 0.2, 0.3, 0.4])
    assert learning.time_to_threshold([0.5, 1.0, 2.0, 4.0], t, 1.5) == pytest.approx(0.25)
    assert learning.time_to_threshold([0.5, 1.0, 1.2, 1.4], t, 1.5) == np.inf
    assert learning.time_to_threshold([2.0, 3.0, 3.0, 3.0], t, 1.0) == pytest.approx(0.05)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 4))
    same = learning.climate_distance(x, x, 0.01, 0.1)
    assert same["wasserstein"] == 0.0 and same["acf_rmse"] == 0.0
    shifted = learning.climate_distance(x + 0.5, x, 0.01, 0.1)
    assert shifted["mean_error"] == pytest.approx(0.5)
    assert shifted["wasserstein"] == pytest.approx(0.5, rel=1e-6)
    blown = learning.climate_distance(np.full((100, 4), np.nan), x, 0.01, 0.1)
    assert blown["wasserstein"] == np.inf
