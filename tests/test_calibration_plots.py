"""Calibration figures: the profile grid shows every variable at several times with
distinguishable curves, the corner plot has a legend."""

from __future__ import annotations

import numpy as np

from pyclimaocean.calibration.plots import plot_corner, plot_profile_grid


def test_profile_grid_has_every_variable_several_times_and_the_errors():
    z = np.linspace(-60.0, -4.0, 8)
    times = 3600.0 * np.arange(1, 7)                 # 6 output times (s)
    truth = {"T": np.outer(np.ones(6), 19 + 0.01 * z), "u": np.zeros((6, 8))}
    runs = {"truth": truth,
            "first_guess": {k: v + 1e-3 for k, v in truth.items()},
            "calibrated": {k: v + 1e-6 for k, v in truth.items()}}
    fig = plot_profile_grid(z, times, runs, observed={"T": truth["T"]},
                            units={"T": "degC", "u": "m s-1"}, max_times=3)
    axes = np.array(fig.axes).reshape(2, 4)          # 2 variables x (3 times + errors)
    assert [a.get_title() for a in axes[0]] == ["t = 1 h", "t = 3 h", "t = 6 h",
                                                "minus truth, t = 6 h"]
    assert axes[1, 0].get_xlabel() == "u (m s-1)"
    # the error column separates first guess (1e-3) from calibrated (1e-6) curves
    lines = {ln.get_label(): ln for ln in axes[0, 3].get_lines()}
    assert np.allclose(lines["first guess"].get_xdata(), 1e-3)
    assert np.allclose(lines["calibrated"].get_xdata(), 1e-6)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["truth", "first guess", "calibrated", "observed"]
    styles = {(ln.get_linestyle(), ln.get_color()) for ln in axes[0, 0].get_lines()}
    assert len(styles) == 4                          # four distinguishable curves


def test_corner_plot_has_a_legend_for_samples_truth_and_map():
    rng = np.random.default_rng(0)
    fig = plot_corner(rng.normal(size=(200, 2)), ["closure.a", "closure.b"], truth=[0.0, 0.0],
                      map_point=[0.1, 0.0], other=rng.normal(size=(200, 2)),
                      labels=("posterior", "prior"))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["posterior", "prior", "truth", "MAP"]


def test_one_parameter_corner_plot_keeps_its_legend():
    fig = plot_corner(np.random.default_rng(1).normal(size=(50, 1)), ["a"], truth=[0.0])
    assert fig.axes[0].get_legend() is not None
