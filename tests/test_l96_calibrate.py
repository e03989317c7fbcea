"""Lorenz-96 through ``pyclimaocean calibrate`` and ``infer`` exactly as the column: the forcing
F recovered from noisy synthetic observations of x (examples/l96_calibrate.toml), and the
experiment-directory policy (``--force`` leaves no stale file)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.calibration.experiment import build_calibration, load_calibration
from pyclimaocean.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "l96_calibrate.toml"
runner = CliRunner()


def _gauss_newton_std(overrides=()) -> float:
    """Posterior std of F from the Gauss-Newton Hessian at the truth (data + prior)."""
    cfg, raw = load_calibration(EXAMPLE, overrides)
    problem = build_calibration(cfg, raw, str(EXAMPLE)).problem
    jac = jax.jacfwd(lambda F: problem.forward(problem.unconstrained(F)))(jnp.array([8.0]))
    sigma = float(cfg.calibration.observations.error_std["x"])
    prior_scale = float(cfg.calibration.parameters["forcing"].prior["scale"])
    return float(1.0 / np.sqrt(float(jnp.sum(jac**2)) / sigma**2 + 1.0 / prior_scale**2))


@pytest.mark.slow  # 5.1 s measured (fast tier: pytest -m 'not slow')
def test_l96_forcing_calibrated_through_the_cli(tmp_path):
    out = tmp_path / "l96"
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["model"] == "lorenz96" and s["truth"] == {"forcing": 8.0}
    assert s["initial"]["forcing"] == 6.0
    F = s["parameters"]["forcing"]
    std = _gauss_newton_std()
    m = s["n_observations"]
    assert m == 4 * 20 and 1e-4 < std < 0.05, std
    # the estimate is noise-consistent: within 4 posterior standard deviations of the truth,
    # and the misfit is at the noise level, chi^2/2 = m/2 +- 3 sqrt(m/2)
    assert abs(F - 8.0) < 4 * std, (F, std)
    assert s["data_misfit"] < m / 2 + 3 * np.sqrt(m / 2)
    # the same directory layout and CF metadata as the column's calibration
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.toml", "history.nc", "loss.png", "observations_l96_calibrate.nc",
                     "parameters.png", "profiles_l96_calibrate.png", "summary.json"]
    obs = xr.load_dataset(out / "observations_l96_calibrate.nc")
    assert obs["x"].dims == ("time", "k") and obs["x"].attrs["units"] == "1"
    assert obs["x"].attrs["error_std"] == 0.5 and obs.attrs["model"] == "lorenz96"
    np.testing.assert_allclose(obs["k"].values, np.arange(0, 40, 2))


@pytest.mark.slow  # 1.5 s measured (fast tier: pytest -m 'not slow')
def test_force_leaves_no_stale_file_and_refuses_without_it(tmp_path):
    out = tmp_path / "l96"
    fast = ["--set", "calibration.max_iterations=2", "--no-progress"]
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(out), *fast])
    assert res.exit_code in (0, 5), res.output
    (out / "stale_from_an_old_run.nc").write_text("old")
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(out), *fast])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    assert (out / "stale_from_an_old_run.nc").exists()
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(out), "--force", *fast])
    assert res.exit_code in (0, 5), res.output
    assert not (out / "stale_from_an_old_run.nc").exists()
    assert (out / "config.toml").read_text().startswith("[experiment]")
    # a folder that is not an experiment is never emptied, even with --force
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(other), "--force", *fast])
    assert res.exit_code == 2 and (other / "notes.txt").read_text() == "keep"


@pytest.mark.parametrize("verb", ["calibrate", "infer"])
def test_refused_directory_is_refused_before_the_twin_is_built(tmp_path, monkeypatch, verb):
    """A directory that would be refused costs nothing: no twin built, nothing compiled, the
    folder untouched (check_output_dir runs before build_calibration)."""
    import pyclimaocean.calibration.experiment as cal_exp
    import pyclimaocean.inference.experiment as inf_exp

    def must_not_build(*args, **kwargs):
        raise AssertionError("build_calibration called for a refused output directory")

    monkeypatch.setattr(cal_exp, "build_calibration", must_not_build)
    monkeypatch.setattr(inf_exp, "build_calibration", must_not_build)
    out = tmp_path / "old"
    out.mkdir()
    (out / "config.toml").write_text("[experiment]\n")
    (out / "result.nc").write_text("keep")
    extra = ["--set", "inference.num_samples=500"] if verb == "infer" else []
    res = runner.invoke(app, [verb, str(EXAMPLE), "-o", str(out), "--no-progress", *extra])
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    assert (out / "result.nc").read_text() == "keep"
    # a folder that is not an experiment: refused even with --force, before any build
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    res = runner.invoke(app, [verb, str(EXAMPLE), "-o", str(other), "--force", "--no-progress",
                              *extra])
    assert res.exit_code == 2 and "does not look like" in res.output
    assert (other / "notes.txt").read_text() == "keep"


def test_l96_observables_are_the_model_metadata(tmp_path):
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(tmp_path / "x"),
                              "--set", 'calibration.observations.variables=["T"]',
                              "--set", "calibration.observations.error_std={T = 1.0}"])
    assert res.exit_code == 2 and "not observable in the lorenz96 model" in res.output
    assert "x, energy, mean" in res.output
    res = runner.invoke(app, ["calibrate", str(EXAMPLE), "-o", str(tmp_path / "y"),
                              "--set", "calibration.parameters.c_hi_c={initial = 0.1}"])
    assert res.exit_code == 2 and "forcing" in res.output, res.output


@pytest.mark.slow  # 5.0 s measured (fast tier: pytest -m 'not slow')
def test_l96_forcing_posterior_through_infer(tmp_path):
    """``infer`` (Laplace at the MAP) on the same config: the truth is inside the 95 % interval
    and the posterior std matches the Gauss-Newton one."""
    out = tmp_path / "inf"
    res = runner.invoke(app, ["infer", str(EXAMPLE), "-o", str(out), "--no-progress",
                              "--set", "inference.num_samples=500",
                              "--set", "inference.prior_ensemble=5", "--set", "inference.posterior_ensemble=5"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["truth_in_95_interval"] == {"forcing": True}
    std = s["parameters"]["forcing"]["std"]
    assert abs(std / _gauss_newton_std() - 1) < 0.2, std
