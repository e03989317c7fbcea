"""Calibration warnings on models with a reverse-mode rule only (``jax.custom_vjp``: NumPy models
with hand-written adjoints, the Julia column): the data curvature ‖J e‖² falls back from
forward mode to a central difference of the residuals and agrees with reverse mode."""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration.optimize import _curvatures_along, _curvatures_along_jvp

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow  # 12 s measured (shared 2-core machine, load ~20)
def test_data_curvature_of_a_custom_vjp_model_by_central_difference():
    spec = importlib.util.spec_from_file_location(
        "external_calibration", ROOT / "examples" / "external_calibration.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    problem, _ = example.calibration_problem()
    u = problem.u0 + jnp.array([0.3, -0.2])
    jac = np.asarray(jax.jacrev(problem.residuals)(u))        # reverse mode works
    for i in range(problem.n_parameters):
        e = jnp.zeros(problem.n_parameters).at[i].set(1.0)
        with pytest.raises(TypeError, match="custom_vjp"):
            _curvatures_along_jvp(problem, u, e)               # forward mode does not
        c_data, c_reg = (float(c) for c in _curvatures_along(problem, u, e))
        assert c_data == pytest.approx(float(np.sum((jac @ np.asarray(e)) ** 2)), rel=1e-6)
        assert np.isfinite(c_reg)
