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


@pytest.mark.slow
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
    f = jax.jit(problem.loss)
    u = problem.u0
    g = np.asarray(jax.jit(jax.grad(problem.loss))(u))
    for i in range(3):
        e = jnp.zeros(3).at[i].set(1e-5)
        fd = (float(f(u + e)) - float(f(u - e))) / 2e-5
        assert abs(fd - g[i]) <= 1e-4 * max(1.0, abs(g[i])), (problem.names[i], fd, g[i])


def _run(args):
    result = CliRunner().invoke(app, args)
    return result


@pytest.mark.slow
def test_calibrate_cli_small_variant(tmp_path):
    out = tmp_path / "cal"
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), "--no-progress",
              *FAST, "--set", "calibration.max_iterations=15"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "scipy_lbfgsb" and s["cases"] == ["free_convection", "wind"]
    assert s["data_misfit"] < s["loss"] + 1e-9 or s["loss"] > 0
    for name in ("history.nc", "loss.png", "parameters.png", "profiles_wind.png", "observations_wind.nc"):
        assert (out / name).is_file(), name
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), *FAST])
    assert r.exit_code == 2 and "--force" in r.output


def test_calibrate_cli_config_errors(tmp_path):
    """Bad config values: exit code 2 with a message naming the field (nothing is run)."""
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "x"),
              "--set", "calibration.method=newton"])
    assert r.exit_code == 2 and "calibration.method" in r.output
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(tmp_path / "y"),
              "--set", "calibration.parameters.c_nonsense.initial=1.0"])
    assert r.exit_code == 2 and "c_nonsense" in r.output


def test_calibrate_cli_eki_variant(tmp_path):
    out = tmp_path / "eki"
    r = _run(["calibrate", str(EXAMPLES / "column_calibrate.toml"), "-o", str(out), "--no-progress", *FAST,
              "--set", "calibration.method=eki", "--set", "calibration.max_iterations=3",
              "--set", "calibration.ensemble_size=8"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "eki" and s["n_forward_runs"] == 1 + 3 * 9


def test_infer_cli_small_variant(tmp_path):
    import arviz as az

    out = tmp_path / "inf"
    r = _run(["infer", str(EXAMPLES / "column_infer.toml"), "-o", str(out), "--no-progress", *FAST,
              "--set", "calibration.max_iterations=30", "--set", "inference.num_samples=200",
              "--set", "inference.prior_ensemble=5", "--set", "inference.posterior_ensemble=5"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "laplace"
    assert len(s["identifiability"]["eigenvalues"]) == 6
    idata = az.from_netcdf(out / "posterior.nc")
    assert idata.posterior["closure.c_pen_c"].shape == (1, 200)
    assert (out / "corner.png").is_file() and (out / "profiles_free_convection.png").is_file()


@pytest.mark.slow
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
    identifiable = [n for n in truth if ident[n]["identifiable"]]
    assert len(identifiable) >= 4
    for n in identifiable:
        assert abs(errors[n]) < 0.02, (n, errors[n])
    # c_conv_c (the convective mixing length of tracers) barely changes well-mixed profiles
    assert "closure.c_conv_c" in s["identifiability"]["not_identifiable"]
    assert all(s["truth_in_95_interval"].values())
