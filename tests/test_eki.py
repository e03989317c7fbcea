"""Ensemble Kalman inversion on the toy forward map."""

import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration import calibrate_scipy, ensemble_kalman_inversion, prior_ensemble
from pyclimaocean.calibration.eki import _ensemble_forward
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import ParameterError

CONTROLS = ("kappa_background", "kappa_surface", "mixing_depth", "flux_gain")


@pytest.fixture(scope="module")
def problem():
    p, _ = diffusion_twin(controls=CONTROLS, regularization="none", noise_std=2e-3,
                          first_guess={"kappa_surface": 0.01, "mixing_depth": 15.0, "kappa_background": 3e-4})
    return p


def test_vmapped_ensemble_forward_equals_a_loop(problem):
    import jax

    ens = prior_ensemble(problem, 5, jax.random.PRNGKey(0))
    batched = np.asarray(_ensemble_forward(problem, ens))
    looped = np.stack([np.asarray(problem.forward(u)) for u in ens])
    np.testing.assert_allclose(batched, looped, rtol=1e-12)


def test_eki_reaches_the_adjoint_misfit(problem):
    adjoint = calibrate_scipy(problem, progress=False)
    target = adjoint.data_misfit + 0.5  # statistically indistinguishable: delta chi^2 = 1
    eki = ensemble_kalman_inversion(problem, ensemble_size=20, max_iterations=30, seed=0,
                                    target_misfit=target, progress=False)
    assert eki.converged, eki.message
    assert eki.data_misfit <= target
    h = eki.history
    assert h["data_misfit"].values[0] > 5 * target  # it started far away
    assert h["n_forward"].values[-1] == eki.n_forward == 1 + (h.sizes["iteration"] - 1) * 21
    assert h["ensemble"].dims == ("iteration", "member", "parameter")
    # the ensemble shrinks as it converges
    assert h["relative_spread"].values[-1] < 0.5
    print(f"EKI: {eki.n_forward} forward runs; adjoint: {adjoint.n_evaluations} gradient evaluations")


def test_eki_collapse_is_detected_and_reported(problem):
    eki = ensemble_kalman_inversion(problem, ensemble_size=8, max_iterations=200, seed=1,
                                    perturb_observations=False, collapse_tol=0.05, progress=False)
    assert eki.collapsed and "collapsed" in eki.message
    assert eki.summary()["final_relative_spread"] < 0.05


def test_eki_bad_input(problem):
    with pytest.raises(ParameterError, match="ensemble_size = 1"):
        ensemble_kalman_inversion(problem, ensemble_size=1)
    with pytest.raises(ParameterError, match="dt = 0"):
        ensemble_kalman_inversion(problem, dt=0)
    with pytest.raises(ParameterError, match="initial_ensemble has shape"):
        ensemble_kalman_inversion(problem, initial_ensemble=jnp.zeros((4, 2)))
