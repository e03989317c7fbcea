"""Honest calibration diagnostics: per-iteration history, SciPy's full termination reason,
priors in the report, zero-sensitivity parameters and the noise floor of the loss plot."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration import calibrate_scipy
from pyclimaocean.calibration.optimize import scipy_termination_reason
from pyclimaocean.calibration.plots import noise_floor, plot_loss
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import Parameter, ParameterSet, Prior

FIRST_GUESS = {"kappa_background": 2e-4, "kappa_surface": 1.3e-2, "mixing_depth": 14.0}


@pytest.fixture(scope="module")
def twin():
    return diffusion_twin(first_guess=FIRST_GUESS, noise_std=5e-4, seed=3,
                          controls=("kappa_background", "kappa_surface", "mixing_depth"))


@pytest.fixture(scope="module")
def result(twin):
    return calibrate_scipy(twin[0], progress=False)


@pytest.mark.slow  # 7.5 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("space", ["unconstrained", "physical"])
def test_history_records_each_iterate_and_its_loss(twin, space):
    """Regression: SciPy updates ``intermediate_result.x`` in place; the history used to hold the
    final point at every iteration after the first."""
    problem, _ = twin
    r = calibrate_scipy(problem, space=space, max_iterations=30, progress=False)
    h = r.history
    u = h["unconstrained"].values
    assert u.shape[0] >= 5
    # consecutive iterates differ ...
    steps = np.max(np.abs(np.diff(u, axis=0)), axis=1)
    assert np.all(steps > 0), steps
    # ... and each recorded loss is the loss at the recorded point
    loss_fn = problem.loss if space == "unconstrained" else problem.loss_physical
    # physical space: the optimizer's own iterates θ (the history's u is T⁻¹ of θ moved 1e-12
    # inside the bounds)
    x = u if space == "unconstrained" else r.extra["iterates"]
    assert x.shape == u.shape
    for k in range(u.shape[0]):
        assert float(loss_fn(jnp.asarray(x[k]))) == pytest.approx(float(h["loss"].values[k]), rel=1e-9), k
    # the parameters are T(u) row by row, and only the last equals the optimum
    np.testing.assert_allclose(h["parameters"].values, np.asarray(problem.physical(jnp.asarray(u))),
                               rtol=1e-12)
    assert not np.allclose(h["parameters"].values[1], r.theta)


def test_summary_reports_priors_and_converged_reason(twin, result):
    problem, _ = twin
    s = result.summary()
    assert result.converged and s["message"].startswith("scipy L-BFGS-B: 'CONVERGENCE")
    assert set(s["priors"]) == set(problem.names)
    p = s["priors"]["kappa_surface"]
    assert p["prior"].startswith("lognormal(") and p["source"] == "given"
    assert p["lower"] == 1e-4 and p["transform"] == "logit"
    assert s["zero_sensitivity"] == [] and s["warnings"] == []


def test_regularization_centre_is_where_an_unidentified_parameter_is_pulled():
    """A uniform prior (no prior given) on [0, 47.93] with the logit bijection pulls to the
    midpoint in u-space (the issue's c_conv_c = 23.97); a lognormal prior with the log bijection
    to its median; a normal prior without bounds to its mean."""
    from pyclimaocean.calibration.problem import Problem

    twin_problem, _ = diffusion_twin(controls=("kappa_background",))
    params = ParameterSet({
        "kappa_background": Parameter(jnp.asarray(2e-4), lower=0.0, upper=47.93),
        "kappa_surface": Parameter(jnp.asarray(2e-2), lower=0.0,
                                   prior=Prior.make("lognormal", loc=float(np.log(3e-2)), scale=0.5)),
        "mixing_depth": Parameter(jnp.asarray(10.0), prior=Prior.make("normal", loc=12.0, scale=2.0)),
    })
    problem = Problem(params, twin_problem.cases)
    centre = problem.regularization_centre()
    np.testing.assert_allclose(centre, [23.965, 3e-2, 12.0], rtol=2e-3)
    rep = problem.prior_report()
    assert rep["kappa_background"]["source"].startswith("default: uniform")
    assert rep["kappa_background"]["prior"] == "uniform(low=0, high=47.93)"
    # 'none' has no centre; 'ridge' pulls to the first guess
    assert problem.with_regularization("none").regularization_centre() is None
    np.testing.assert_allclose(problem.with_regularization("ridge").regularization_centre(),
                               np.asarray(problem.theta0))


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
def test_a_parameter_decided_by_its_default_prior_is_flagged():
    """A surface flux of 1e-12 K m/s: flux_gain (default uniform prior on [0.1, 10]) barely
    affects the data and is pulled to the midpoint 5.05 in u-space: the result says so.  The
    well-constrained kappa_background is not flagged."""
    from pyclimaocean.calibration.problem import Problem

    base, _ = diffusion_twin(fluxes=(1e-12,), noise_std=1e-4, controls=("kappa_background",))
    params = ParameterSet({"kappa_background": base.parameters["kappa_background"],
                           "flux_gain": Parameter(jnp.asarray(1.0), lower=0.1, upper=10.0)})
    problem = Problem(params, base.cases)
    r = calibrate_scipy(problem, max_iterations=50, progress=False)
    assert r.theta[1] == pytest.approx(5.05, rel=1e-3)
    assert r.extra["zero_sensitivity"] == []
    flagged = [w for w in r.extra["warnings"] if "pulls to" in w]
    assert len(flagged) == 1 and flagged[0].startswith("flux_gain ended at 5.04"), r.extra["warnings"]
    assert "default: uniform on the bounds" in flagged[0]


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
def test_parameters_with_identically_zero_sensitivity_are_reported():
    """No surface flux: the flux coefficients multiply zero, their data gradient is exactly 0."""
    problem, _ = diffusion_twin(fluxes=(0.0,), noise_std=1e-4,
                                controls=("kappa_background", "flux_gain", "flux_efficiency"),
                                first_guess={"kappa_background": 3e-4, "flux_gain": 1.3})
    r = calibrate_scipy(problem, max_iterations=20, progress=False)
    assert r.extra["zero_sensitivity"] == ["flux_gain", "flux_efficiency"]
    assert r.extra["data_gradient"][0] != 0.0
    assert any(w.startswith("flux_gain: the data misfit has exactly zero gradient") for w in r.extra["warnings"])


@pytest.mark.slow  # 15 s of CPU measured (15 s wall at load ~4)
def test_one_compiled_value_and_gradient_serves_calibration_diagnostics_and_laplace(caplog):
    """The end-of-calibration diagnostics (data misfit and its gradient, for the exactly-zero
    sensitivity check) and laplace's stationarity gradient reuse the optimizer's compiled
    loss-and-gradient program: exactly one program with an adjoint of the model is compiled
    (the Hessian is laplace's own).  A grid (nz = 11) no other test uses, so nothing is cached."""
    from pyclimaocean.inference import laplace

    problem, _ = diffusion_twin(fluxes=(0.0,), noise_std=1e-4, nz=11,
                                controls=("kappa_background", "flux_gain", "flux_efficiency"),
                                first_guess={"kappa_background": 3e-4, "flux_gain": 1.3})
    caplog.clear()
    with jax.log_compiles(True), caplog.at_level(logging.DEBUG, logger="jax"):
        r = calibrate_scipy(problem, max_iterations=20, progress=False)
        post = laplace(problem, optimizer_result=r, num_samples=200, on_nonstationary="ignore")
    programs = [m.getMessage().split(" ")[1] for m in caplog.records if m.getMessage().startswith("Compiling")]
    with_model = [p for p in programs if "loss" in p or "misfit" in p or "grad" in p]
    assert with_model == ["jit(loss_terms)"], with_model
    assert r.extra["zero_sensitivity"] == ["flux_gain", "flux_efficiency"]
    assert post.diagnostics["zero_sensitivity"] == ["flux_gain", "flux_efficiency"]
    g = np.asarray(jax.grad(problem.data_misfit)(jnp.asarray(r.u)))
    np.testing.assert_allclose(r.extra["data_gradient"], g, rtol=1e-12)
    assert r.extra["data_gradient"][0] != 0.0
    # physical space: the data gradient from the physical-space program, chained to u-space
    rp = calibrate_scipy(problem, space="physical", max_iterations=20, progress=False)
    assert rp.extra["zero_sensitivity"] == ["flux_gain", "flux_efficiency"]
    gp = np.asarray(jax.grad(problem.data_misfit)(jnp.asarray(rp.u)))
    np.testing.assert_allclose(rp.extra["data_gradient"], gp, rtol=1e-8)
    assert rp.data_misfit == pytest.approx(float(problem.data_misfit(jnp.asarray(rp.u))), rel=1e-12)


def test_scipy_termination_reason_spells_out_a_failed_line_search():
    """SciPy >= 1.15 reports L-BFGS-B's failed line search as the bare 'ABNORMAL: '."""
    x = np.array([1.0, 2.0])
    g = np.array([0.5, -0.2])
    # the last trial step 1e-4 along -g raised the loss by 0.6: ~2e4 x the predicted decrease
    evaluations = [(x.copy(), 10.0, g), (x - 1e-4 * g, 10.6, g)]
    res = OptimizeResult(x=x, fun=10.0, jac=g, status=2, success=False, message="ABNORMAL: ",
                         nit=7, nfev=12)
    msg = scipy_termination_reason(res, method="L-BFGS-B", gtol=1e-6, ftol=1e-12, max_iterations=100,
                                   evaluations=evaluations)
    assert "'ABNORMAL:'" in msg and "status 2" in msg and "7 iterations" in msg
    assert "line search failed" in msg
    assert "projected-gradient max-norm 0.5 vs gtol = 1e-06" in msg
    assert "+0.6" in msg and "first-order prediction" in msg
    assert "landscape" in msg
    ok = OptimizeResult(x=x, fun=1.0, jac=g, status=0, success=True,
                        message="CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH", nit=3, nfev=4)
    assert scipy_termination_reason(ok, method="L-BFGS-B", gtol=1e-6, ftol=1e-12,
                                     max_iterations=100).endswith("4 loss+gradient evaluations)")


def test_iteration_limit_is_not_converged_and_says_so(twin):
    r = calibrate_scipy(twin[0], max_iterations=2, progress=False)
    assert not r.converged
    assert "iteration/evaluation limit (max_iterations = 2)" in r.message
    assert r.extra["warnings"][0].startswith("the optimizer did not converge")


def test_noise_floor_is_the_misfit_of_pure_noise(twin):
    """At the truth the residuals are the noise: ½χ² within a few std of m/2."""
    problem, truth = twin
    u_true = problem.unconstrained(jnp.asarray([float(truth[n].value) for n in problem.names]))
    m = problem.n_observations
    mean, std = noise_floor(m)
    assert (mean, std) == (0.5 * m, np.sqrt(0.5 * m))
    misfit = float(problem.data_misfit(u_true))
    assert abs(misfit - mean) < 4 * std, (misfit, mean, std)
    with pytest.raises(ValueError, match="n_observations = 0"):
        noise_floor(0)


def test_loss_plot_draws_the_noise_floor(result):
    fig = plot_loss({"lbfgsb": result.history}, variable="loss")
    ax = fig.axes[0]
    m = result.history.attrs["n_observations"]
    horizontal = [ln for ln in ax.get_lines() if np.allclose(ln.get_ydata(), 0.5 * m)]
    assert len(horizontal) == 1 and "noise floor" in horizontal[0].get_label()
    # the calibrated misfit sits in the band of pure noise
    assert abs(result.data_misfit - 0.5 * m) < 4 * np.sqrt(0.5 * m)
