"""Gradient calibration runs unchanged on an external (NumPy + hand-written adjoint) model.

``pyclimaocean.calibration`` had not landed when this was written, so the calibration loop is
optax's Adam directly (examples/external_calibration.py); the external model is the
backward-Euler column diffusion with its transposed-tridiagonal adjoint.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_optax_calibration_of_external_model_recovers_truth():
    example = _load("external_calibration")
    u, truth, history = example.calibrate(steps=300, learning_rate=0.1)
    np.testing.assert_allclose(u, truth, atol=1e-3)
    assert history[-1] < 1e-6 * history[0]
