"""Posterior uncertainty for any calibration :class:`~pyclimaocean.calibration.Problem`.

* :mod:`.model` — NumPyro model function (priors from ``Parameter.prior_distribution()``,
  Gaussian likelihood) in the problem's unconstrained space.
* :mod:`.svi` — SVI with AutoNormal / AutoMultivariateNormal / AutoLowRankMultivariateNormal.
* :mod:`.laplace` — Laplace approximation at the MAP, Hessian eigen-spectrum, identifiability.
* :mod:`.results` — samples, posterior predictive (``vmap``), arviz ``InferenceData`` and
  atomic netCDF output.

See ``docs/calibration.md``.
"""

from .laplace import hessian, identifiability, laplace
from .model import numpyro_model
from .results import PosteriorResult, predictive_samples, prior_samples, write_netcdf_atomic
from .svi import GUIDES, run_svi

__all__ = [
    "numpyro_model",
    "run_svi",
    "GUIDES",
    "laplace",
    "hessian",
    "identifiability",
    "PosteriorResult",
    "predictive_samples",
    "prior_samples",
    "write_netcdf_atomic",
]
