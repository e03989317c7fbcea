"""The neural vertical-mixing closure behind the one closure interface, and online training
through the column solver (pyclimaocean.closures.neural, pyclimaocean.learning.online)."""

import importlib.util
import warnings
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean import closures, learning
from pyclimaocean.closures import (
    AbstractClosure,
    CATKELike,
    ConstantDiffusivity,
    FeatureScales,
    NeuralDiffusivityClosure,
)
from pyclimaocean.fluxes.surface import SolarPenetration, SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel, InitialConditions

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "column_neural_closure.py"


def load_example():
    spec = importlib.util.spec_from_file_location("column_neural_closure", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_column(closure, heat_flux=-100.0, wind_stress_x=0.05, nz=16):
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=64.0),
        closure=closure,
        forcing=SurfaceForcing(heat_flux=heat_flux, wind_stress_x=wind_stress_x),
        initial_conditions=InitialConditions(temperature_gradient=0.01),
        coriolis_parameter=1e-4,
        dt=600.0,
    )


def network(key=0, **kwargs):
    return NeuralDiffusivityClosure(width=8, depth=2, key=jax.random.PRNGKey(key), **kwargs)


@pytest.mark.slow  # 2.1 s measured (fast tier: pytest -m 'not slow')
def test_neural_closure_is_a_closure_with_nonnegative_float64_diffusivities():
    closure = network()
    assert isinstance(closure, AbstractClosure) and not closure.has_tke
    assert closure.parameter_specs() == {}
    model = small_column(closure)
    state = model.initial_state()
    features = closure.features(model.context(state, model.surface_fluxes(state.time)))
    assert features.shape == (15, len(closures.FEATURE_NAMES)) and features.dtype == jnp.float64
    # unstable faces are seen as negative asinh(N²/N²₀): a convecting column
    unstable = eqx.tree_at(lambda s: s.temperature, state, state.temperature[::-1])
    nu, kappa = model.diffusivities(unstable)
    assert nu.shape == kappa.shape == (15,) and kappa.dtype == jnp.float64
    assert np.all(np.asarray(nu) >= closure.background_viscosity)
    assert np.all(np.asarray(kappa) >= closure.background_diffusivity)
    # only the network's weights are trainable leaves
    leaves = jax.tree_util.tree_leaves(eqx.filter(closure, eqx.is_inexact_array))
    assert sum(x.size for x in leaves) == (5 * 8 + 8) + (8 * 8 + 8) + (8 * 2 + 2)


def test_neural_closure_rejects_bad_settings():
    with pytest.raises(ValueError, match="activation 'relu' is not supported"):
        network(activation="relu")
    with pytest.raises(ValueError, match="width = 0"):
        NeuralDiffusivityClosure(width=0, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="background_diffusivity = -1"):
        network(background_diffusivity=-1e-6)
    with pytest.raises(ValueError, match="FeatureScales.depth = 0"):
        FeatureScales(depth=0.0)


def test_neural_closure_conserves_heat_and_salt_in_the_column():
    """Σ Δz T changes by exactly Δt Σ (Q + I)/(ρ c_p), as for the physical closures."""
    model = ColumnModel(
        grid=ColumnGrid(nz=24, depth=100.0, stretching=2.0),
        closure=network(key=3),
        forcing=SurfaceForcing(
            heat_flux=-80.0,
            heat_flux_amplitude=120.0,
            shortwave=150.0,
            shortwave_amplitude=-250.0,
            wind_stress_x=0.07,
            wind_stress_y=-0.02,
            freshwater_flux=1e-6,
            cycle_period=43200.0,
        ),
        initial_conditions=InitialConditions(
            temperature_gradient=0.02, salinity_gradient=-0.002, mixed_layer_depth=15.0
        ),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        bottom_drag_coefficient=2e-3,
        dt=300.0,
    )
    n = 600
    s0 = model.initial_state()
    final, _ = jax.jit(lambda m, s: m.run(s, n))(model, s0)  # the model passes through jax.jit
    g = model.grid
    rho_cp = model.reference_density * model.heat_capacity
    fl = [model.forcing.at(t) for t in np.arange(n) * model.dt]
    heat_in = model.dt * sum(float(f.heat_flux + f.shortwave) for f in fl) / rho_cp
    d_heat = float(g.integrate(final.temperature) - g.integrate(s0.temperature))
    assert abs(d_heat - heat_in) / abs(heat_in) < 1e-10
    salt_in = model.dt * n * model.reference_salinity * 1e-6
    d_salt = float(g.integrate(final.salinity) - g.integrate(s0.salinity))
    assert abs(d_salt - salt_in) / abs(salt_in) < 1e-10
    assert np.all(np.isfinite(np.asarray(final.temperature)))


@pytest.mark.slow  # 4.3 s measured (fast tier: pytest -m 'not slow')
def test_gradient_wrt_network_weights_matches_finite_differences():
    """d(window loss)/d(weights) through model.run (checkpointed) vs central differences."""
    model = small_column(network(key=1))
    reference = learning.reference_trajectory(small_column(CATKELike()), 4, 6)
    trainable = learning.select_trainable(model, lambda m: m.closure)
    params, window_loss = learning.make_trajectory_loss(
        [model],
        [reference],
        trainable,
        observe=lambda s: (s.temperature, s.u),
        checkpoint_every=3,
    )
    batch = (3, jnp.array([[1]]))  # 3 samples (18 steps) from reference sample 1
    loss = jax.jit(lambda p: window_loss(p, batch))
    grads = jax.jit(jax.grad(lambda p: window_loss(p, batch)))(params)

    def check(where, index):
        value = where(params)
        h = 1e-5 * max(1.0, abs(float(value[index])))

        def shifted(sign):
            return eqx.tree_at(where, params, value.at[index].add(sign * h))

        fd = (float(loss(shifted(+1))) - float(loss(shifted(-1)))) / (2 * h)
        ad = float(where(grads)[index])
        assert abs(ad) > 0
        np.testing.assert_allclose(ad, fd, rtol=1e-5)

    for index in [(0, 0), (2, 1), (5, 4), (7, 2)]:
        check(lambda p: p.closure.layers[0].weight, index)
    check(lambda p: p.closure.layers[1].weight, (3, 6))
    for index in [(0,), (1,)]:  # the last layer's biases set the scale of ν and κ
        check(lambda p: p.closure.layers[-1].bias, index)


def test_trajectory_loss_is_zero_on_its_own_reference_and_vmaps_cases():
    """A model reproduces its own reference exactly, window by window and case by case."""
    closure = ConstantDiffusivity(viscosity=jnp.asarray(1e-3), diffusivity=jnp.asarray(1e-4))
    models = [small_column(closure, q, tau) for q, tau in [(-100.0, 0.0), (0.0, 0.1)]]
    refs = [learning.reference_trajectory(m, 6, 4) for m in models]
    trainable = learning.select_trainable(models[0], lambda m: m.closure)
    params, loss_fn = learning.make_trajectory_loss(models, refs, trainable)
    batch = (3, jnp.array([[0, 3], [2, 1]]))
    loss_fn = jax.jit(lambda p, loss_fn=loss_fn: loss_fn(p, batch))
    assert float(loss_fn(params)) < 1e-20
    # a different diffusivity gives a positive loss; the full-run RMSE of a model against its
    # own reference is zero
    other = eqx.tree_at(lambda p: p.closure.diffusivity, params, jnp.asarray(1e-2))
    assert float(loss_fn(other)) > 1e-6
    rmse = learning.trajectory_rmse(models[1], refs[1], lambda s: {"T": s.temperature})
    assert rmse["T"] < 1e-12


def test_fit_online_refuses_inconsistent_cases():
    a = small_column(network(key=0))
    b = small_column(network(key=1))
    ref = learning.reference_trajectory(small_column(CATKELike()), 4, 2)
    trainable = learning.select_trainable(a, lambda m: m.closure)
    with pytest.raises(ValueError, match="trainable leaves of models\\[1\\] differ"):
        learning.make_trajectory_loss([a, b], [ref, ref], trainable)
    with pytest.raises(ValueError, match="1 references for 2 models"):
        learning.make_trajectory_loss([a, a], [ref], trainable)
    with pytest.raises(ValueError, match="window lengths must be in"):
        learning.fit_online(
            [a],
            [ref],
            learning.make_optimizer(1e-3),
            1,
            trainable=trainable,
            window=5,
            key=jax.random.PRNGKey(0),
        )


def test_learning_abstract_closure_is_a_deprecated_alias():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alias = learning.AbstractClosure
    assert alias is learning.AbstractTendencyClosure
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert learning.AbstractTendencyClosure is not closures.AbstractClosure


@pytest.mark.slow  # 10.8 s measured (fast tier: pytest -m 'not slow')
def test_online_trained_network_beats_fitted_constant_diffusivity_on_held_out_forcing():
    """Fast version of examples/column_neural_closure.py: CATKE references for three training
    forcings, network trained through the solver, constants fitted on the same runs; on a
    held-out forcing the network's temperature-profile RMSE must be lower."""
    example = load_example()
    nz, dt, save_every, n_samples = 16, 600.0, 6, 24  # 1-day runs, hourly samples
    train_refs = example.references(example.TRAINING, n_samples, save_every, nz, dt)
    held_out = {"strong cooling": example.HELD_OUT["strong cooling"]}
    test_refs = example.references(held_out, n_samples, save_every, nz, dt)
    constant, _ = example.fit_constant_diffusivity(train_refs, nz, dt)
    result = example.train_neural_closure(train_refs, nz, dt, 250, 12, width=8, log_every=1000)
    forcing = held_out["strong cooling"]
    rmse_network = learning.trajectory_rmse(
        example.column(forcing, result.model.closure, nz, dt), test_refs[0], example.observe
    )
    rmse_constant = learning.trajectory_rmse(
        example.column(forcing, constant, nz, dt), test_refs[0], example.observe
    )
    assert rmse_network["T"] < 0.8 * rmse_constant["T"], (rmse_network, rmse_constant)
