"""Calibration layer on the toy diffusion forward map: observations, operator, loss, gradients,
optimizers (SciPy L-BFGS-B, optax L-BFGS and Adam)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration import (
    Case,
    ObservationError,
    ObservationOperator,
    Problem,
    calibrate,
    calibrate_optax,
    calibrate_scipy,
    mixed_layer_depth,
    observation_vector,
    synthetic_observations,
)
from pyclimaocean.calibration.observations import FullNoise, interpolation_matrix
from pyclimaocean.calibration.toy import DiffusionColumn, diffusion_twin, simulate_diffusion
from pyclimaocean.params import ParameterError

IDENTIFIABLE = ("kappa_background", "kappa_surface", "mixing_depth")
FIRST_GUESS = {"kappa_background": 2e-4, "kappa_surface": 1.3e-2, "mixing_depth": 14.0, "flux_gain": 1.2}


@pytest.fixture(scope="module")
def twin():
    """Two forcing cases, five controls (flux_gain x flux_efficiency only as a product)."""
    return diffusion_twin(first_guess=FIRST_GUESS, noise_std=5e-4, seed=1)


# -- observations and operator -------------------------------------------------------------
def test_interpolation_matrix_exact_for_linear_functions():
    src = np.array([-10.0, -6.0, -2.0, -1.0])
    tgt = np.array([-9.0, -2.0, -1.5, -7.5])
    W = interpolation_matrix(src, tgt, name="z")
    np.testing.assert_allclose(W @ (3 * src + 1), 3 * tgt + 1)
    np.testing.assert_allclose(W.sum(1), 1.0)
    with pytest.raises(ObservationError, match=r"observation z = -11.0 is outside"):
        interpolation_matrix(src, [-11.0], name="z")
    # clamped extrapolation to the domain faces
    W = interpolation_matrix(src, [-0.5, -11.0], name="z", clamp=(-12.0, 0.0))
    np.testing.assert_allclose(W @ src, [-1.0, -10.0])


def _obs_dataset():
    times = np.array([3600.0, 7200.0])
    z = np.array([-30.0, -10.0, -2.0])
    T = np.array([[1.0, 2.0, np.nan], [1.5, np.nan, 3.0]])
    return xr.Dataset(
        {"T": (("time", "z"), T, {"error_std": 0.1}),
         "mixed_layer_depth": ("time", [5.0, 7.0], {"error_std": 1.0, "threshold": 0.1})},
        coords={"time": times, "z": z},
    )


def test_operator_masks_interpolates_and_matches_observation_vector():
    ds = _obs_dataset()
    model_times = np.array([0.0, 3600.0, 7200.0, 10800.0])
    model_z = np.linspace(-31.0, -1.0, 16)
    op = ObservationOperator.from_dataset(ds, model_times, model_z, domain_depth=32.0)
    y, noise = observation_vector(ds, op.variables)
    assert op.variables == ("T", "mixed_layer_depth") and op.sizes == (4, 2)
    assert y.shape == (6,) and noise.std.shape == (6,)
    np.testing.assert_allclose(noise.std, [0.1] * 4 + [1.0] * 2)
    # a field linear in time and z is reproduced exactly at the observed points
    field = 2.0 * model_times[:, None] / 3600.0 + 0.5 * model_z[None, :]
    pred = np.asarray(op({"T": jnp.asarray(field)}))
    expect = [2 + 0.5 * -30, 2 + 0.5 * -10, 4 + 0.5 * -30, 4 + 0.5 * -2]
    np.testing.assert_allclose(pred[:4], expect, atol=1e-12)


def test_observation_times_from_netcdf_units(tmp_path):
    """Times written with units "hours" decode to durations and give the same operator as
    seconds; times "… since <date>" decode to dates and are refused with the conversion."""
    ds = _obs_dataset()
    model_times = np.array([0.0, 3600.0, 7200.0, 10800.0])
    model_z = np.linspace(-31.0, -1.0, 16)
    reference = ObservationOperator.from_dataset(ds, model_times, model_z, domain_depth=32.0)
    hours = ds.assign_coords(time=("time", ds.time.values / 3600.0, {"units": "hours"}))
    hours.to_netcdf(tmp_path / "hours.nc")
    with xr.open_dataset(tmp_path / "hours.nc", decode_timedelta=True) as back:
        assert np.issubdtype(back.time.dtype, np.timedelta64)
        op = ObservationOperator.from_dataset(back, model_times, model_z, domain_depth=32.0)
    np.testing.assert_allclose(op.maps[0].time_weights, reference.maps[0].time_weights)
    # pyclimaocean's own CF time units (nominal start date) decode to dates and convert back
    from pyclimaocean.io.cf import time_attributes

    own = ds.assign_coords(time=("time", ds.time.values, time_attributes()))
    own.to_netcdf(tmp_path / "own.nc")
    with xr.open_dataset(tmp_path / "own.nc") as back:
        assert np.issubdtype(back.time.dtype, np.datetime64)
        op = ObservationOperator.from_dataset(back, model_times, model_z, domain_depth=32.0)
    np.testing.assert_allclose(op.maps[0].time_weights, reference.maps[0].time_weights)
    dated = ds.assign_coords(time=("time", ds.time.values, {"units": "seconds since 2020-01-01"}))
    dated.to_netcdf(tmp_path / "dated.nc")
    with xr.open_dataset(tmp_path / "dated.nc") as back:
        with pytest.raises(ObservationError, match="holds dates.*seconds since the start"):
            ObservationOperator.from_dataset(back, model_times, model_z, domain_depth=32.0)


def test_observation_errors_are_checked_and_full_covariance_whitens():
    ds = _obs_dataset()
    del ds["T"].attrs["error_std"]
    with pytest.raises(ObservationError, match="'T' has no error"):
        observation_vector(ds, ["T"])
    cov = np.array([[1.0, 0.5, 0, 0], [0.5, 1.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1.0]]) * 0.01
    ds["T_error_covariance"] = (("k", "k2"), cov)
    y, noise = observation_vector(ds, ["T"])
    assert isinstance(noise, FullNoise)
    r = jnp.array([0.1, -0.2, 0.3, 0.05])
    w = noise.whiten(r)
    np.testing.assert_allclose(float(w @ w), float(r @ np.linalg.solve(cov, r)), rtol=1e-12)
    ds["T_error_covariance"] = (("k", "k2"), cov[:3, :3])
    with pytest.raises(ObservationError, match=r"expected \(4, 4\)"):
        observation_vector(ds, ["T"])
    singular = cov.copy()
    singular[3, 3] = -1e-4
    ds["T_error_covariance"] = (("k", "k2"), singular)
    with pytest.raises(ObservationError, match="T_error_covariance is not positive definite"):
        observation_vector(ds, ["T"])
    with pytest.raises(ObservationError, match="outside the model range"):
        ObservationOperator.from_dataset(_obs_dataset(), [0.0, 3000.0], np.linspace(-31, -1, 16))
    with pytest.raises(ObservationError, match="'w' is not in the observations"):
        ObservationOperator.from_dataset(_obs_dataset(), [0.0, 1e4], np.linspace(-31, -1, 16), ["w"])


def test_mixed_layer_depth_is_differentiable_and_accurate():
    z = -63.0 + 2.0 * np.arange(32)  # centres, dz = 2 m, top centre at -1 m

    def profile(h):
        return 20.0 + 0.02 * jnp.minimum(jnp.asarray(z) + h, 0.0)  # mixed above -h, 0.02 K/m

    # threshold 0.1 K below the top -> h + 0.1 / 0.02 = h + 5 m
    h = float(mixed_layer_depth(profile(20.0), z, threshold=0.1, smoothing=0.005))
    assert abs(h - 25.0) < 1.0
    dh = jax.grad(lambda hh: mixed_layer_depth(profile(hh), z, threshold=0.1))(20.0)
    assert 0.7 < float(dh) < 1.3  # d(mld)/dh ~ 1


def test_synthetic_observations_are_cf_and_noisy():
    model = DiffusionColumn.make(nz=8, n_steps=96, save_every=24)
    out = simulate_diffusion(model)
    ds = synthetic_observations(out, model.times, model.z, times=model.times[1:], z=[-40.0, -4.0],
                                error_std={"T": 0.01, "mixed_layer_depth": 1.0},
                                key=jax.random.PRNGKey(0))
    assert ds["T"].dims == ("time", "z") and ds["T"].attrs["units"] == "degC"
    assert ds["mixed_layer_depth"].attrs["standard_name"].startswith("ocean_mixed_layer")
    clean = synthetic_observations(out, model.times, model.z, times=model.times[1:], z=[-40.0, -4.0],
                                   error_std={"T": 0.01})
    resid = (ds["T"] - clean["T"]).values
    assert 0.002 < resid.std() < 0.03 and np.all(resid != 0)


# -- problem, loss and gradient --------------------------------------------------------------
@pytest.mark.slow  # 2.6 s measured (fast tier: pytest -m 'not slow')
def test_batched_cases_equal_python_sum(twin):
    problem, _ = twin
    assert problem.groups == ((0, 1),)  # the two cases are vmapped together
    unbatched = Problem(problem.parameters, problem.cases, batch=False)
    assert unbatched.groups == ((0,), (1,))
    u = problem.u0 + 0.1
    np.testing.assert_allclose(problem.loss(u), unbatched.loss(u), rtol=1e-12)
    np.testing.assert_allclose(problem.case_misfits(u).sum(), problem.data_misfit(u), rtol=1e-12)


@pytest.mark.slow  # 3.3 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("regularization", ["prior", "physical", "ridge"])
def test_loss_gradient_matches_finite_differences(twin, regularization):
    """Full loss: two cases (vmapped), logit/log transforms, prior term."""
    problem = twin[0].with_regularization(regularization, ridge_weight=3.0)
    u = problem.u0 + jnp.array([0.05, -0.1, 0.07, 0.02, -0.03])
    g = np.asarray(jax.grad(problem.loss)(u))
    f = jax.jit(problem.loss)
    for i in range(problem.n_parameters):
        h = 1e-5
        e = np.zeros(problem.n_parameters)
        e[i] = h
        fd = (float(f(u + e)) - float(f(u - e))) / (2 * h)
        assert abs(fd - g[i]) <= 1e-5 * max(1.0, abs(g[i])), (problem.names[i], fd, g[i])


def test_regularization_terms(twin):
    problem, _ = twin
    u = problem.u0 + 0.2
    none = problem.with_regularization("none")
    assert float(none.loss(u)) == pytest.approx(float(problem.data_misfit(u)))
    phys = problem.with_regularization("physical")
    # "physical" = "prior" minus the log-Jacobian of T
    jac = sum(float(p.bijector().log_abs_det_jacobian(u[i], p.bijector()(u[i])))
              for i, p in enumerate(problem.parameters.parameters[n] for n in problem.names))
    assert float(phys.loss(u)) - float(problem.loss(u)) == pytest.approx(jac, rel=1e-10)
    # physical-space loss agrees with the u-space loss for the "physical" regularization
    theta = problem.physical(u)
    assert float(phys.loss_physical(theta)) == pytest.approx(float(phys.loss(u)), rel=1e-10)
    with pytest.raises(ParameterError, match="regularization 'lasso' is not supported"):
        problem.with_regularization("lasso")
    with pytest.raises(ParameterError, match=r"shape \(5,\)"):
        problem.theta(jnp.zeros(3))


def test_parameter_order_survives_jit(twin):
    """Names order must not be changed by tracing (dict pytrees sort their keys)."""
    problem, truth = twin
    u = problem.unconstrained(jnp.asarray([truth[n].value for n in problem.names]))
    eager = problem.physical(u)
    jitted = eqx.filter_jit(lambda p, v: p.physical(v))(problem, u)
    np.testing.assert_allclose(eager, jitted, rtol=1e-14)
    np.testing.assert_allclose(eager, [truth[n].value for n in problem.names], rtol=1e-12)
    # a ParameterSet whose names are not sorted: its vectors must follow ps.names under jit
    from pyclimaocean.params import ParameterSet

    names = ("mixing_depth", "flux_gain", "kappa_background", "kappa_surface")
    assert list(names) != sorted(names)
    ps = ParameterSet({n: problem.parameters[n] for n in names})
    assert ps.names == names
    expected = np.array([float(problem.parameters[n].value) for n in names])
    np.testing.assert_array_equal(eqx.filter_jit(lambda p: p.vector())(ps), expected)
    expected_u = np.array([float(problem.parameters[n].to_unconstrained()) for n in names])
    np.testing.assert_allclose(eqx.filter_jit(lambda p: p.to_unconstrained())(ps), expected_u, rtol=1e-14)
    sub = problem.with_parameters(ps)
    np.testing.assert_allclose(eqx.filter_jit(lambda p, v: p.physical(v))(sub, jnp.asarray(expected_u)),
                               expected, rtol=1e-12)


# -- optimizers ------------------------------------------------------------------------------
def _truth_vector(problem, truth):
    return np.array([float(truth[n].value) for n in problem.names])


@pytest.fixture(scope="module")
def scipy_result(twin):
    return calibrate_scipy(twin[0], progress=False)


@pytest.mark.slow  # 3.1 s measured (fast tier: pytest -m 'not slow')
def test_scipy_lbfgsb_recovers_identifiable_parameters(twin, scipy_result):
    problem, truth = twin
    r = scipy_result
    assert r.converged, r.message
    rel = r.theta / _truth_vector(problem, truth) - 1
    for i, n in enumerate(problem.names):
        if n in IDENTIFIABLE:
            assert abs(rel[i]) < 0.02, (n, rel[i])
    # only the product flux_gain * flux_efficiency is constrained
    prod = r.theta[problem.names.index("flux_gain")] * r.theta[problem.names.index("flux_efficiency")]
    assert abs(prod - 1.0) < 0.01
    h = r.history
    assert h.sizes["iteration"] == r.history["loss"].size >= 5
    assert h["loss"].values[-1] < h["loss"].values[0]
    assert np.all(np.diff(h["n_evaluations"].values) >= 1)
    assert h["parameters"].dims == ("iteration", "parameter")
    assert list(h["parameter"].values) == list(problem.names)


@pytest.mark.slow  # 6.8 s measured (fast tier: pytest -m 'not slow')
def test_optax_lbfgs_and_adam_reach_the_scipy_optimum(twin, scipy_result):
    import optax

    problem, _ = twin
    r = calibrate_optax(problem, optax.lbfgs(), max_iterations=100, gtol=1e-4, progress=False)
    assert r.converged, r.message
    assert r.loss == pytest.approx(scipy_result.loss, rel=1e-6)
    assert r.n_evaluations >= r.history.sizes["iteration"] - 1
    a = calibrate(problem, "optax_adam", learning_rate=0.05, max_iterations=400, progress=False)
    assert not a.converged and "max_iterations" in a.message
    assert a.loss < scipy_result.loss * 1.001


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_bounds_in_physical_space_are_honoured(twin):
    """An upper bound on kappa_surface below its truth (0.01): the unbounded optimum lies outside,
    so L-BFGS-B's own iterates (not the clipped history) must stay inside and end on the bound."""
    from pyclimaocean.params import Parameter, ParameterSet

    problem, _ = twin
    ks = problem.parameters["kappa_surface"]
    tight = Parameter(jnp.asarray(5e-3), lower=ks.lower, upper=6e-3, prior=ks.prior, units=ks.units)
    params = ParameterSet({n: (tight if n == "kappa_surface" else problem.parameters[n]) for n in problem.names})
    bounded = problem.with_parameters(params).with_regularization("none")
    r = calibrate_scipy(bounded, space="physical", max_iterations=60, progress=False)
    x = r.extra["iterates"]
    assert r.extra["iterates_space"] == "physical" and x.shape[0] == r.history.sizes["iteration"] >= 3
    lo = np.array([bounded.parameters[n].lower for n in bounded.names])
    hi = np.array([bounded.parameters[n].upper for n in bounded.names])
    assert np.all(x >= lo[None]) and np.all(x <= hi[None])
    i = bounded.names.index("kappa_surface")
    assert r.theta[i] == pytest.approx(6e-3, rel=1e-6)  # the bound is active
    assert r.loss < float(bounded.loss_physical(jnp.asarray(x[0])))
    assert "physical space" in r.history["gradient_norm"].attrs["long_name"]


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_lognormal_prior_with_lower_bound_zero_in_physical_space(twin):
    """log p(0) = -inf for a lognormal prior: the L-BFGS-B bound is moved inside so that every
    evaluated loss and gradient is finite even when the data push the parameter to 0."""
    from pyclimaocean.params import Parameter, ParameterSet, Prior

    problem, _ = twin
    kb = problem.parameters["kappa_background"]
    zero = Parameter(jnp.asarray(2e-4), lower=0.0, upper=kb.upper,
                     prior=Prior.make("lognormal", loc=float(np.log(1e-7)), scale=3.0), units=kb.units)
    params = ParameterSet({n: (zero if n == "kappa_background" else problem.parameters[n]) for n in problem.names})
    p = problem.with_parameters(params).with_regularization("physical")
    r = calibrate_scipy(p, space="physical", max_iterations=40, progress=False)
    assert np.all(np.isfinite(r.history["loss"].values)), r.message
    # with the raw bound 0, L-BFGS-B meets log p(0) = -inf and stops at the first guess (loss 2.8e5)
    assert r.loss < 1e-2 * r.history["loss"].values[0], r.message
    assert np.all(np.isfinite(r.extra["iterates"]))
    assert r.extra["iterates"][:, p.names.index("kappa_background")].min() > 0.0
    # bounds outside the prior's support: a clear error naming the parameter
    neg = Parameter(jnp.asarray(2e-4), lower=-1.0, upper=1.0, prior=Prior.make("lognormal", loc=0.0, scale=1.0))
    with pytest.raises(ParameterError, match="kappa_background: the bounds .* outside the support"):
        problem.with_parameters(ParameterSet({n: (neg if n == "kappa_background" else problem.parameters[n])
                                              for n in problem.names}))


def test_stopping_rules_and_bad_settings(twin):
    problem, _ = twin
    r = calibrate_scipy(problem, max_iterations=2, progress=False)
    assert not r.converged
    r = calibrate(problem, "optax_adam", learning_rate=1e-3, max_iterations=50, ftol=0.5, progress=False)
    assert r.converged and "ftol" in r.message and r.history.sizes["iteration"] < 51
    with pytest.raises(ParameterError, match="max_iterations = 0"):
        calibrate_scipy(problem, max_iterations=0)
    with pytest.raises(ParameterError, match="method 'newton' is not supported"):
        calibrate(problem, "newton")
    with pytest.raises(ParameterError, match="at least one case"):
        Problem(problem.parameters, [])


@pytest.mark.slow  # 2.2 s measured (fast tier: pytest -m 'not slow')
def test_case_from_dataset_with_mixed_layer_depth_gradient():
    """A derived observable (mixed-layer depth) carries gradients to the parameters."""
    model = DiffusionColumn.make(nz=16, n_steps=96, save_every=24, surface_flux=1e-4)
    out = simulate_diffusion(model)
    ds = synthetic_observations(out, model.times, model.z, times=model.times, z=model.z,
                                error_std={"mixed_layer_depth": 0.5},
                                derived_attrs={"mixed_layer_depth": {"threshold": 0.02}})
    case = Case.from_dataset(model, simulate_diffusion, ds, model_times=model.times, model_z=model.z)
    problem, _ = diffusion_twin(controls=("kappa_surface", "mixing_depth"))
    p = Problem(problem.parameters, [case], regularization="none")
    u = p.u0 + jnp.array([0.3, -0.2])
    g = jax.grad(p.loss)(u)
    fd = (p.loss(u + jnp.array([1e-5, 0])) - p.loss(u - jnp.array([1e-5, 0]))) / 2e-5
    assert float(jnp.abs(g[0])) > 0
    assert float(g[0]) == pytest.approx(float(fd), rel=1e-4)


@pytest.mark.slow  # 8.8 s measured (fast tier: pytest -m 'not slow')
def test_optax_with_a_backtracking_linesearch(twin, scipy_result):
    """Backtracking linesearches keep no gradient in their state unless store_grad=True: both
    variants must run (the value and gradient are then evaluated outside the linesearch)."""
    import optax

    problem, _ = twin
    for store in (False, True):
        opt = optax.chain(optax.scale_by_lbfgs(), optax.scale(-1.0),
                          optax.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=store))
        r = calibrate_optax(problem, opt, max_iterations=150, gtol=1e-4, progress=False)
        assert r.loss == pytest.approx(scipy_result.loss, rel=1e-4), (store, r.message)
        assert r.n_evaluations >= r.history.sizes["iteration"]
    with pytest.raises(ParameterError, match="space 'physical' is not supported by method 'optax_lbfgs'"):
        calibrate(problem, "optax_lbfgs", space="physical")
