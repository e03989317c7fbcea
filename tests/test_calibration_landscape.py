"""Loss-landscape scans: a planted discontinuity is found (and localised), a smooth loss is
reported continuous with AD matching finite differences, zero sensitivity is reported."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration.landscape import plot_landscape, scan
from pyclimaocean.calibration.problem import Case, Problem
from pyclimaocean.calibration.toy import diffusion_twin, simulate_diffusion
from pyclimaocean.cli import app
from pyclimaocean.params import ParameterError


@pytest.fixture(scope="module")
def twin():
    return diffusion_twin(fluxes=(2.5e-5,), noise_std=5e-4, seed=4,
                          controls=("kappa_background", "kappa_surface", "mixing_depth"))


def _jumpy(model):
    """The toy plus a 0.01 K offset switched on at mixing_depth > 10.5 m (a regime switch)."""
    out = simulate_diffusion(model)
    return {"T": out["T"] + jnp.where(model.mixing_depth > 10.5, 0.01, 0.0)}


@pytest.mark.slow  # 4.2 s measured (fast tier: pytest -m 'not slow')
def test_scan_finds_a_planted_jump(twin):
    problem, _ = twin
    c = problem.cases[0]
    jumpy = Problem(problem.parameters, [Case(c.model, c.operator, c.y, c.noise, _jumpy, c.name)])
    i = jumpy.names.index("mixing_depth")
    theta = np.array(jumpy.theta0, dtype=float)
    theta[i] = 10.4
    u = np.asarray(jumpy.unconstrained(jnp.asarray(theta)))
    report = scan(jumpy, u, directions="coordinates", radius=0.05, n_points=21, refine=20)
    by_label = {s.label: s for s in report.scans}
    s = by_label["u[mixing_depth]"]
    assert not report.continuous and len(s.discontinuities) == 1
    j = s.discontinuities[0]
    # localised to ~1e-7 in u around the point where mixing_depth = 10.5
    t_switch = float(jumpy.parameters["mixing_depth"].to_unconstrained(10.5)) - u[i]
    assert j["t_left"] <= t_switch <= j["t_right"] and j["t_right"] - j["t_left"] < 1e-6
    assert j["jump"] > 0 and j["ratio"] > 100
    # the other directions do not cross the switch
    assert by_label["u[kappa_background]"].continuous and by_label["u[kappa_surface]"].continuous
    assert any("jumps by" in m and "u[mixing_depth]" in m for m in report.messages())
    fig = plot_landscape(report)
    assert fig.axes[0].get_title().startswith("discontinuities")


@pytest.mark.slow  # 1.5 s measured (fast tier: pytest -m 'not slow')
def test_scan_of_the_smooth_loss_is_continuous_and_ad_matches_fd(twin):
    problem, truth = twin
    u_true = problem.unconstrained(jnp.asarray([float(truth[n].value) for n in problem.names]))
    report = scan(problem, u_true, directions="random", n_random=2, radius=0.2, n_points=21)
    assert report.continuous, report.messages()
    assert report.max_ad_fd_relative_error < 1e-5
    assert report.zero_sensitivity == [] and report.messages() == []
    s = report.summary()
    assert s["continuous"] and len(s["scans"]) == 2 and s["n_evaluations"] >= 2 * 21
    with pytest.raises(ParameterError, match="directions 'diagonal' is not supported"):
        scan(problem, directions="diagonal")


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_scan_reports_zero_sensitivity():
    problem, _ = diffusion_twin(fluxes=(0.0,), controls=("kappa_background", "flux_gain"))
    report = scan(problem, directions="coordinates", n_points=5, radius=0.01)
    assert report.zero_sensitivity == ["flux_gain"]


# -- the `pyclimaocean landscape` command ------------------------------------------------------
L96 = Path(__file__).resolve().parents[1] / "examples" / "l96_calibrate.toml"


@pytest.mark.slow  # 7.5 s measured (fast tier: pytest -m 'not slow')
def test_landscape_cli_writes_scans_and_exits_0_on_a_smooth_loss(tmp_path):
    out = tmp_path / "scan"
    res = CliRunner().invoke(app, ["landscape", str(L96), "-o", str(out), "--at", "truth",
                                   "--n-random", "2", "--n-points", "7", "--radius", "0.02"])
    assert res.exit_code == 0, res.output
    assert "continuous" in res.output and "0 discontinuities" in res.output
    s = json.loads((out / "landscape.json").read_text())
    assert s["continuous"] and s["at"] == "truth" and len(s["scans"]) == 2
    assert all(len(x["t"]) == 7 for x in s["scans"]) and s["max_ad_fd_relative_error"] < 1e-3
    assert (out / "landscape.png").is_file() and (out / "config.toml").is_file()
    # an existing directory is refused without --force (exit 2), accepted with it
    again = CliRunner().invoke(app, ["landscape", str(L96), "-o", str(out), "--at", "truth",
                                     "--n-random", "1", "--n-points", "5"])
    assert again.exit_code == 2, again.output
    forced = CliRunner().invoke(app, ["landscape", str(L96), "-o", str(out), "--n-random", "1",
                                      "--n-points", "5", "--force"])
    assert forced.exit_code == 0, forced.output


def test_landscape_cli_bad_option_exits_2(tmp_path):
    res = CliRunner().invoke(app, ["landscape", str(L96), "-o", str(tmp_path / "x"), "--at", "middle"])
    assert res.exit_code == 2 and "at = 'middle' is not supported" in res.output, res.output
    assert not (tmp_path / "x").exists()  # nothing is written for a bad option


def test_landscape_cli_exits_5_when_a_discontinuity_is_found(tmp_path, monkeypatch):
    import pyclimaocean.calibration.landscape as landscape_module

    def fake(*args, **kwargs):
        return {"messages": ["loss jumps by +0.6 along random direction 0"], "continuous": False,
                "scans": [{"discontinuities": [{"jump": 0.6}]}], "n_evaluations": 50,
                "max_ad_fd_relative_error": 1e-8, "files": ["landscape.json"]}

    monkeypatch.setattr(landscape_module, "landscape_from_file", fake)
    res = CliRunner().invoke(app, ["landscape", str(L96), "-o", str(tmp_path / "y")])
    assert res.exit_code == 5, res.output
    assert "not smooth here" in res.output and "1 discontinuities" in res.output
