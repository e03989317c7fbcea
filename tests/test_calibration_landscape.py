"""Loss-landscape scans: a planted discontinuity is found (and localised), a smooth loss is
reported continuous with AD matching finite differences, zero sensitivity is reported."""

import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration.landscape import plot_landscape, scan
from pyclimaocean.calibration.problem import Case, Problem
from pyclimaocean.calibration.toy import diffusion_twin, simulate_diffusion
from pyclimaocean.params import ParameterError


@pytest.fixture(scope="module")
def twin():
    return diffusion_twin(fluxes=(2.5e-5,), noise_std=5e-4, seed=4,
                          controls=("kappa_background", "kappa_surface", "mixing_depth"))


def _jumpy(model):
    """The toy plus a 0.01 K offset switched on at mixing_depth > 10.5 m (a regime switch)."""
    out = simulate_diffusion(model)
    return {"T": out["T"] + jnp.where(model.mixing_depth > 10.5, 0.01, 0.0)}


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


def test_scan_reports_zero_sensitivity():
    problem, _ = diffusion_twin(fluxes=(0.0,), controls=("kappa_background", "flux_gain"))
    report = scan(problem, directions="coordinates", n_points=5, radius=0.01)
    assert report.zero_sensitivity == ["flux_gain"]
