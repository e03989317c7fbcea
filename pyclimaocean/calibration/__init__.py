"""Calibration of any differentiable forward map: observations, losses, optimizers, EKI.

* :mod:`.observations` — observations as xarray Datasets, noise models, the observation
  operator ℋ (the named-dimension operators of :mod:`pyclimaocean.observations`, built from a
  model's variable metadata; legacy column profiles and a differentiable mixed-layer depth).
* :mod:`.problem` — :class:`Case` (one forward map 𝒢_c and its data) and :class:`Problem`
  (controls + cases -> loss Φ(u) in unconstrained space, several cases batched by ``vmap``).
* :mod:`.optimize` — optax (Adam, L-BFGS) and SciPy L-BFGS-B drivers with histories.
* :mod:`.eki` — ensemble Kalman inversion (derivative-free).
* :mod:`.uki` — unscented Kalman inversion (derivative-free, with a covariance).
* :mod:`.simulator` — cases of any model (``model_case``, ``model_twin``); :mod:`.toy` — a
  toy diffusion map; :mod:`.column` — the former column names of the same functions.
* :mod:`.experiment` — the config-file driven ``calibrate`` command.

See ``docs/calibration.md``.
"""

from .eki import EKIResult, ensemble_kalman_inversion, prior_ensemble
from .observations import (
    DiagonalNoise,
    FullNoise,
    ObservationError,
    ObservationOperator,
    mixed_layer_depth,
    model_observations,
    observation_vector,
    synthetic_observations,
)
from .optimize import CalibrationResult, calibrate, calibrate_optax, calibrate_scipy
from .problem import Case, Problem
from .simulator import model_case, model_simulator, model_twin, output_times
from .uki import UKIResult, unscented_kalman_inversion

__all__ = [
    "Case",
    "Problem",
    "ObservationOperator",
    "ObservationError",
    "DiagonalNoise",
    "FullNoise",
    "mixed_layer_depth",
    "model_case",
    "model_observations",
    "model_simulator",
    "model_twin",
    "output_times",
    "observation_vector",
    "synthetic_observations",
    "CalibrationResult",
    "calibrate",
    "calibrate_optax",
    "calibrate_scipy",
    "EKIResult",
    "ensemble_kalman_inversion",
    "prior_ensemble",
    "UKIResult",
    "unscented_kalman_inversion",
]
