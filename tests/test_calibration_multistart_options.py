"""The multistart's options: restarts of unconverged L-BFGS-B runs, the selection rule
(lowest loss or the earliest start within the noise of it), and their ``[calibration]``
config fields (validated with errors that name the field and its range)."""

from pathlib import Path

import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration.experiment import load_calibration
from pyclimaocean.calibration.optimize import calibrate_multistart, calibrate_scipy, select_start
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.config import ConfigError
from pyclimaocean.params import ParameterError

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth")
L96 = Path(__file__).resolve().parents[1] / "examples" / "l96_calibrate.toml"


@pytest.fixture(scope="module")
def twin():
    return diffusion_twin(controls=CONTROLS, first_guess={"kappa_surface": 0.013, "mixing_depth": 14.0})


def test_select_start_rules():
    losses = [10.3, 10.0, 10.45, 12.0]
    assert select_start(losses, "lowest") == 1
    # start 0 is within 0.5 of the lowest (10.0): the earliest such start is returned
    assert select_start(losses, "earliest", agreement=0.5) == 0
    # with a tighter agreement only the lowest itself qualifies
    assert select_start(losses, "earliest", agreement=0.2) == 1
    assert select_start([5.0], "earliest") == 0
    with pytest.raises(ParameterError, match="select 'best' is not supported"):
        select_start(losses, "best")
    with pytest.raises(ParameterError, match="non-empty"):
        select_start([], "lowest")


@pytest.mark.slow  # 24 s measured at load ~4 (fast tier: pytest -m 'not slow')
def test_restarts_continue_an_unconverged_run_and_count_its_evaluations(twin):
    problem, _ = twin
    # 3 iterations per run cannot converge from this first guess (checked: not converged)
    single = calibrate_scipy(problem, max_iterations=3, progress=False)
    assert not single.converged
    res = calibrate_multistart(problem, n_starts=1, max_iterations=3, restarts=2, progress=False)
    start = res.extra["starts"][0]
    assert start["restarts"] >= 1
    # each restart lowered the loss (a restart that does not is discarded and ends them)
    assert res.loss < single.loss
    # the evaluations of every run are counted: more than the first run's alone
    assert res.n_evaluations > single.n_evaluations
    assert start["n_evaluations"] == res.n_evaluations
    assert "restart 1 from the end point" in res.message
    with pytest.raises(ParameterError, match="restarts = -1 must be an int >= 0"):
        calibrate_multistart(problem, restarts=-1)
    with pytest.raises(ParameterError, match="select 'best' is not supported"):
        calibrate_multistart(problem, select="best")


@pytest.mark.slow  # 12 s measured at load ~4 (fast tier: pytest -m 'not slow')
def test_earliest_selection_prefers_the_first_guess_among_equal_fits(twin):
    problem, _ = twin
    lowest = calibrate_multistart(problem, n_starts=3, seed=1, gtol=1e-3, progress=False)
    earliest = calibrate_multistart(problem, n_starts=3, seed=1, gtol=1e-3, select="earliest", agreement=1e9,
                                    progress=False)
    # the same three runs; with an agreement larger than any difference the first guess's run wins
    np.testing.assert_allclose([s["loss"] for s in earliest.extra["starts"]],
                               [s["loss"] for s in lowest.extra["starts"]], rtol=1e-10)
    assert earliest.extra["best_start"] == 0 and earliest.extra["select"] == "earliest"
    assert lowest.extra["best_start"] == lowest.extra["lowest_start"]
    np.testing.assert_allclose(earliest.theta, earliest.extra["starts"][0]["theta"], rtol=1e-12)


def _load(*overrides):
    return load_calibration(L96, list(overrides))[0].calibration


def test_config_accepts_the_multistart_options():
    cal = _load("calibration.method=multistart", "calibration.n_starts=3", "calibration.ensemble_start=eki",
                "calibration.ensemble_start_iterations=2", "calibration.polish=gauss_newton",
                "calibration.restarts=2", "calibration.select=earliest", "calibration.agreement=1.0")
    assert (cal.ensemble_start, cal.ensemble_start_iterations, cal.polish, cal.restarts, cal.select,
            cal.agreement) == ("eki", 2, "gauss_newton", 2, "earliest", 1.0)
    default = _load()
    assert (default.ensemble_start, default.polish, default.restarts, default.select) == (None, None, 0, "lowest")


@pytest.mark.parametrize("overrides, expected", [
    (["calibration.restarts=-1"], r"calibration\.restarts = -1: Input should be greater than or equal to 0"),
    (["calibration.restarts=101"], r"calibration\.restarts = 101: Input should be less than or equal to 100"),
    (["calibration.select=best"], r"calibration\.select = 'best': Input should be 'lowest' or 'earliest'"),
    (["calibration.ensemble_start=enkf"], r"calibration\.ensemble_start = 'enkf': Input should be 'eki' or 'uki'"),
    (["calibration.polish=newton"], r"calibration\.polish = 'newton': Input should be 'gauss_newton'"),
    (["calibration.agreement=-0.5"], r"calibration\.agreement = -0\.5: Input should be greater than or equal to 0"),
    (["calibration.ensemble_start_iterations=0"],
     r"calibration\.ensemble_start_iterations = 0: Input should be greater than or equal to 1"),
])
def test_config_refuses_out_of_range_multistart_options(overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        _load("calibration.method=multistart", *overrides)


def test_config_refuses_multistart_options_with_another_method_and_an_impossible_ensemble_start():
    with pytest.raises(ConfigError, match=r"calibration\.restarts = 2: applies to method = 'multistart' only "
                                          r"\(method is 'scipy_lbfgsb'\)"):
        _load("calibration.restarts=2")
    with pytest.raises(ConfigError, match=r"calibration\.ensemble_start = 'eki', calibration\.select = 'earliest': "
                                          r"apply to method = 'multistart' only"):
        _load("calibration.method=hybrid", "calibration.ensemble_start=eki", "calibration.select=earliest")
    with pytest.raises(ConfigError, match=r"calibration\.ensemble_start = 'eki' needs calibration\.n_starts >= 2"):
        _load("calibration.method=multistart", "calibration.n_starts=1", "calibration.ensemble_start=eki")


def test_the_docs_example_of_the_multistart_options_validates():
    import re
    import tomllib

    docs = (Path(__file__).resolve().parents[1] / "docs" / "calibration.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", docs, flags=re.S) if 'method = "multistart"' in b]
    assert len(blocks) == 1
    example = tomllib.loads(blocks[0])["calibration"]
    assert {"ensemble_start", "restarts", "select", "agreement", "ensemble_start_iterations"} <= set(example)
    cal = _load(*(f"calibration.{k}={v!r}" if isinstance(v, str) else f"calibration.{k}={v}"
                  for k, v in example.items()))
    for k, v in example.items():
        assert getattr(cal, k) == v
