"""Robust optimisation strategies on the toy twin: trust-region Newton, hybrid EKI/UKI ->
L-BFGS-B and multi-start reach the L-BFGS-B optimum, count their cost honestly, and say what
they did; the config's [calibration] method selects them."""

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration import calibrate_scipy
from pyclimaocean.calibration.optimize import (
    METHODS,
    calibrate,
    calibrate_hybrid,
    calibrate_multistart,
    calibrate_trust_region,
)
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import ParameterError

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth")


@pytest.fixture(scope="module")
def twin():
    return diffusion_twin(controls=CONTROLS, first_guess={"kappa_surface": 0.013, "mixing_depth": 14.0})


@pytest.fixture(scope="module")
def reference(twin):
    problem, _ = twin
    # (L-BFGS-B's line search stops at a projected gradient ~1e-4 here: round-off)
    fit = calibrate_scipy(problem, gtol=1e-3, progress=False)
    assert float(np.max(np.abs(fit.history["gradient_norm"].values[-1]))) < 1e-3, fit.message
    return fit


@pytest.mark.slow  # 5.1 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("hessian", ["hvp", "bfgs"])
def test_trust_region_reaches_the_lbfgsb_optimum(twin, reference, hessian):
    problem, _ = twin
    res = calibrate_trust_region(problem, hessian=hessian, gtol=1e-3, max_iterations=300, progress=False)
    assert res.converged, res.message
    assert res.method == "trust_region" and "trust-constr" in res.message
    np.testing.assert_allclose(res.theta, reference.theta, rtol=1e-3)
    assert res.loss <= reference.loss + 1e-6
    if hessian == "hvp":
        assert res.extra["n_hvp"] > 0 and res.summary()["n_hessian_vector_products"] == res.extra["n_hvp"]
    else:
        assert res.extra["n_hvp"] == 0
    # history rows are distinct iterates and the last is the returned point
    u = res.history["unconstrained"].values
    assert len(u) >= 3 and np.allclose(u[-1], res.u)


def test_trust_region_reports_the_iteration_limit(twin):
    problem, _ = twin
    res = calibrate_trust_region(problem, max_iterations=2, progress=False)
    assert not res.converged and "iteration limit" in res.message
    assert any("did not converge" in w for w in res.extra["warnings"])


@pytest.mark.slow  # 4.5 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("ensemble_method", ["eki", "uki"])
def test_hybrid_starts_lbfgsb_from_the_ensemble_mean_and_counts_both_stages(twin, reference, ensemble_method):
    problem, _ = twin
    res = calibrate_hybrid(problem, ensemble_method=ensemble_method, ensemble_iterations=3, ensemble_size=12,
                           gtol=1e-3, progress=False)
    assert res.converged, res.message
    np.testing.assert_allclose(res.theta, reference.theta, rtol=1e-3)
    # the L-BFGS-B stage starts at the ensemble mean, not at the first guess
    np.testing.assert_allclose(res.history["unconstrained"].values[0], res.extra["ensemble_u"])
    assert not np.allclose(res.extra["ensemble_u"], problem.u0)
    n = problem.n_parameters
    expected = int(res.extra["ensemble_history"]["n_forward"].values[-1])
    # EKI: J runs per update + one per ensemble-mean misfit (4 means); UKI: 2n + 1 per update
    assert res.extra["n_forward"] == expected == (3 * 12 + 4 if ensemble_method == "eki" else expected)
    assert expected >= 3 * (2 * n + 1)
    s = res.summary()
    assert s["method"] == "hybrid" and s["n_forward_runs"] == res.extra["n_forward"]
    assert s["message"].startswith(ensemble_method) and "then scipy L-BFGS-B" in s["message"]
    # the ensemble stage moved toward the optimum: its mean fits the data better than the first guess
    assert float(problem.data_misfit(jnp.asarray(res.extra["ensemble_u"]))) < float(problem.data_misfit(problem.u0))


def test_multistart_returns_the_best_start_and_flags_disagreement(twin, reference):
    problem, _ = twin
    res = calibrate_multistart(problem, n_starts=3, seed=1, gtol=1e-3, progress=False)
    starts = res.extra["starts"]
    assert len(starts) == 3 and np.allclose(starts[0]["u0"], problem.u0)
    assert not np.allclose(starts[1]["u0"], starts[2]["u0"])  # prior draws differ
    losses = [s["loss"] for s in starts]
    assert res.loss == min(losses) and res.extra["best_start"] == int(np.argmin(losses))
    assert res.n_evaluations == sum(s["n_evaluations"] for s in starts)
    np.testing.assert_allclose(res.theta, reference.theta, rtol=1e-3)
    assert res.extra["n_at_best"] == 3 and res.converged
    # capped runs end at different losses: the best is still returned and the spread is flagged
    capped = calibrate_multistart(problem, n_starts=3, seed=1, max_iterations=2, progress=False)
    cl = [s["loss"] for s in capped.extra["starts"]]
    assert capped.loss == min(cl) and capped.extra["n_at_best"] < 3
    assert any("ended at a higher loss" in w for w in capped.extra["warnings"])


def test_strategies_are_selectable_by_name_and_bad_settings_are_refused(twin):
    problem, _ = twin
    assert {"trust_region", "hybrid", "multistart"} <= set(METHODS)
    res = calibrate(problem, "multistart", n_starts=1, max_iterations=50, progress=False)
    assert res.method == "multistart" and len(res.extra["starts"]) == 1
    with pytest.raises(ParameterError, match="ensemble_method 'enkf' is not supported"):
        calibrate_hybrid(problem, ensemble_method="enkf")
    with pytest.raises(ParameterError, match="hessian 'exact' is not supported"):
        calibrate_trust_region(problem, hessian="exact")
    with pytest.raises(ParameterError, match="space 'unconstrained' only"):
        calibrate(problem, "hybrid", space="physical")


@pytest.mark.slow  # 7.0 s measured (fast tier: pytest -m 'not slow')
def test_config_selects_the_hybrid_method(tmp_path):
    from pyclimaocean.calibration.experiment import calibrate_from_file

    cfg = Path(__file__).resolve().parents[1] / "examples" / "l96_calibrate.toml"
    s = calibrate_from_file(cfg, tmp_path / "h", ["calibration.method=hybrid", "calibration.hybrid_iterations=2",
                                                  "calibration.ensemble_size=6"])
    assert s["method"] == "hybrid" and s["converged"], s["message"]
    # 2 EKI updates of 6 members + 3 ensemble-mean runs
    assert s["n_forward_runs"] == 2 * 6 + 3 and abs(s["relative_error"]["forcing"]) < 0.02
    assert json.loads((tmp_path / "h" / "summary.json").read_text())["n_forward_runs"] == 15
