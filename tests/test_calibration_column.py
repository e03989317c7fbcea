"""Calibration and inference of the single-column model: gradient of the full loss vs finite
differences, the calibrate/infer example configs through the CLI, and the twin experiment."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration import Problem
from pyclimaocean.calibration.column import column_twin
from pyclimaocean.cli import app
from pyclimaocean.models.column import setups
from pyclimaocean.params import Parameter, ParameterSet, Prior

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FAST = ["--set", "grid.nz=8", "--set", "time.stop_time=28800", "--set", "time.output_interval=14400",
        "--set", "time.dt=1200"]


@pytest.mark.slow  # 19 s of CPU measured (233 s wall at load ~16 on 2 cores)
def test_full_column_loss_gradient_matches_finite_differences():
    """Two forcing cases (vmapped), lognormal priors, logit transforms, T/u/v observations."""
    models = {"fc": setups.free_convection(nz=8, depth=32.0, dt=1200.0),
              "wind": setups.wind_deepening(nz=8, depth=32.0, dt=1200.0)}
    truth = models["wind"].default_parameters(["c_pen_c", "c_wind_ustar", "c_lo_u"])
    cases, _ = column_twin(models, truth, n_steps=24, save_every=12,
                           error_std={"T": 1e-3, "u": 1e-3, "v": 1e-3})
    controls = ParameterSet({n: Parameter(p.value * 1.2, lower=p.lower, upper=p.upper,
                                          prior=Prior.make("lognormal", loc=float(np.log(p.value)), scale=0.5))
                             for n, p in truth.parameters.items()})
    problem = Problem(controls, cases)
    assert problem.groups == ((0, 1),)
    # one compiled program for the gradient and the loss values of the finite differences
    value_and_grad = jax.jit(jax.value_and_grad(problem.loss))

    def f(v):
        return value_and_grad(v)[0]

    u = problem.u0
    g = np.asarray(value_and_grad(u)[1])
    for i in range(3):
        e = jnp.zeros(3).at[i].set(1e-5)
        fd = (float(f(u + e)) - float(f(u - e))) / 2e-5
        assert abs(fd - g[i]) <= 1e-4 * max(1.0, abs(g[i])), (problem.names[i], fd, g[i])


def _run(args):
    result = CliRunner().invoke(app, args)
    return result


@pytest.mark.slow  # 40 s of CPU measured at load ~17 (mostly compiling the adjoint)
def test_calibrate_cli_small_variant(tmp_path):
    out = tmp_path / "cal"
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), "--no-progress",
              *FAST, "--set", "calibration.max_iterations=15"])
    s = json.loads((out / "summary.json").read_text())
    assert r.exit_code == (0 if s["converged"] else 5), r.output
    assert s["method"] == "scipy_lbfgsb" and s["cases"] == ["free_convection", "wind"]
    import xarray as xr

    with xr.open_dataset(out / "history.nc") as h:
        loss = h["loss"].values
    assert s["loss"] == pytest.approx(loss[-1], rel=1e-12)
    assert loss[-1] < 0.5 * loss[0]  # first guess 20-30 % off: the loss must fall
    for name in ("history.nc", "loss.png", "parameters.png", "profiles_wind.png", "observations_wind.nc"):
        assert (out / name).is_file(), name
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), *FAST])
    assert r.exit_code == 2 and "--force" in r.output


@pytest.mark.slow  # 6.5 s of CPU measured at load ~17 (reuses the calibrate variant's compiled programs)
def test_calibrate_cli_not_converged_exits_5_with_the_reason(tmp_path):
    """An optimizer that stops before converging: outputs written, the reason printed, exit 5;
    the report names the prior of every control."""
    out = tmp_path / "cal"
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), "--no-progress",
              *FAST, "--set", "calibration.max_iterations=1"])
    assert r.exit_code == 5, r.output
    assert "did not converge" in r.output and "max_iterations = 1" in r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["converged"] is False and "status 1" in s["message"]
    assert s["priors"]["closure.c_pen_c"]["prior"].startswith("lognormal(")
    assert s["priors"]["closure.c_pen_c"]["source"] == "given"
    assert (out / "loss.png").is_file() and (out / "history.nc").is_file()


def test_calibrate_cli_config_errors(tmp_path):
    """Bad config values: exit code 2 with a message naming the field (nothing is run)."""
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "x"),
              "--set", "calibration.method=newton"])
    assert r.exit_code == 2 and "calibration.method" in r.output
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "y"),
              "--set", "calibration.parameters.c_nonsense.initial=1.0"])
    assert r.exit_code == 2 and "c_nonsense" in r.output
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "z"),
              "--set", "calibration.method=uki", "--set", "calibration.uki_alpha=0.5"])
    assert r.exit_code == 2 and "calibration.uki_alpha = 0.5" in r.output, r.output


def test_default_prior_is_centred_on_the_model_value_not_the_truth():
    """A synthetic truth given in the config must not move the default prior (no leak of the
    answer into a twin experiment)."""
    from pyclimaocean.calibration.experiment import _controls, load_calibration
    from pyclimaocean.models.column.config import build_model

    cfg, _ = load_calibration(EXAMPLES / "column_calibrate.toml",
                              [*FAST[1::2], "calibration.parameters.c_pen_c.truth=0.3"])
    model = build_model(cfg)
    controls, truth = _controls(cfg, model)
    value = float(model.closure.c_pen_c)
    assert truth["closure.c_pen_c"].value == 0.3 != pytest.approx(value)
    prior = controls["closure.c_pen_c"].prior
    assert prior.kind == "lognormal" and prior.kwargs["loc"] == pytest.approx(np.log(value), rel=1e-12)


def test_cases_with_different_dt_are_rejected(tmp_path):
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "x"), *FAST,
              "--set", 'calibration.cases=[{name="a", set={}}, {name="b", set={"time.dt"=600.0, '
              '"time.stop_time"=14400.0, "time.output_interval"=7200.0}}]'])
    assert r.exit_code == 2 and "case 'b'" in r.output and "dt = 600.0" in r.output, r.output


@pytest.mark.slow  # 6.1 s measured (fast tier: pytest -m 'not slow')
def test_calibrate_cli_eki_variant(tmp_path):
    out = tmp_path / "eki"
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), "--no-progress", *FAST,
              "--set", "calibration.method=eki", "--set", "calibration.max_iterations=3",
              "--set", "calibration.ensemble_size=8"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "eki" and s["n_forward_runs"] == 1 + 3 * 9


@pytest.mark.slow  # 30 s of CPU measured at load ~17 (after the calibrate variant in this file)
def test_infer_cli_small_variant(tmp_path):
    """L-BFGS-B stops at max_iterations = 30 without its convergence test passing: every output
    is written, but the posterior is flagged (the optimizer did not converge) and the CLI exits
    5 saying so.  (With the smooth CATKE switches the point reached is close to stationary by
    its Newton decrement; the flag comes from the optimizer's status, which is reported.)"""
    import arviz as az

    out = tmp_path / "inf"
    r = _run(["infer", str(EXAMPLES / "column_infer.toml"), "-o", str(out), "--no-progress", *FAST,
              "--set", "calibration.max_iterations=30", "--set", "inference.num_samples=200",
              "--set", "inference.prior_ensemble=5", "--set", "inference.posterior_ensemble=5"])
    s = json.loads((out / "summary.json").read_text())
    assert s["map"]["converged"] is False
    assert r.exit_code == 5, r.output
    assert "not a converged stationary point" in r.output and "max_iterations = 30" in r.output
    assert s["stationary"] is False and s["newton_decrement"] >= 0.0
    assert any("did not converge" in w for w in s["warnings"])
    assert s["priors"]["closure.c_pen_c"]["prior"].startswith("lognormal(")
    assert s["method"] == "laplace"
    assert len(s["identifiability"]["eigenvalues"]) == 6
    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior["closure.c_pen_c"].shape == (1, 200)
    assert (out / "corner.png").is_file() and (out / "profiles_free_convection.png").is_file()


@pytest.mark.slow  # 57 s of CPU measured (58 s wall at load ~4)
def test_column_twin_recovers_identifiable_parameters_and_reports_the_others(tmp_path):
    """The full example: six CATKE-like parameters, two cases, sigma = 1e-4, start 20-30 % off.

    Every parameter the Laplace analysis reports as identifiable (relative posterior std <= 1 %,
    no weight on data-poor directions) is recovered within 2 %; the rest are reported."""
    out = tmp_path / "twin"
    r = _run(["infer", str(EXAMPLES / "column_infer.toml"), "-o", str(out), "--no-progress",
              "--set", "inference.prior_ensemble=0", "--set", "inference.posterior_ensemble=0"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    ident = s["identifiability"]["parameters"]
    truth = s["truth"]
    errors = {n: s["map"]["parameters"][n] / truth[n] - 1 for n in truth}
    print("relative errors:", errors)
    print("identifiability:", {n: (v["identifiable"], v["relative_posterior_std"]) for n, v in ident.items()})
    identifiable = [n for n in truth if ident[n]["identifiable"] and ident[n]["precise"]]
    assert len(identifiable) >= 4
    for n in identifiable:
        assert abs(errors[n]) < 0.02, (n, errors[n])
    # c_conv_c (the convective mixing length of tracers) barely changes well-mixed profiles: the
    # data narrow its prior (contraction >= 0.5) but only to a relative std of about 8 %
    assert "closure.c_conv_c" in s["identifiability"]["imprecise"]
    assert all(s["truth_in_95_interval"].values())
