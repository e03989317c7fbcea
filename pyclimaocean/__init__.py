"""pyclimaocean: differentiable, ML-augmented ocean / sea-ice / atmosphere modelling.

The physics runs in float64 by default: importing the package enables ``jax_enable_x64``
(set ``PYCLIMAOCEAN_X64=0`` before import to keep JAX's float32 default).
"""

import os as _os

import jax as _jax

if _os.environ.get("PYCLIMAOCEAN_X64", "1") != "0":
    _jax.config.update("jax_enable_x64", True)

from .integrate import integrate  # noqa: E402
from .params import Parameter, ParameterError, ParameterSet, Prior  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Parameter", "ParameterSet", "Prior", "ParameterError", "integrate", "__version__"]
