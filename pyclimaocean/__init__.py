"""pyclimaocean: differentiable, ML-augmented ocean / sea-ice / atmosphere modelling.

The physics runs in float64 by default: importing the package enables ``jax_enable_x64``
(set ``PYCLIMAOCEAN_X64=0`` before import to keep JAX's float32 default).

The public API, by layer::

    from pyclimaocean import Parameter, ParameterSet, Prior, integrate      # core
    from pyclimaocean import AbstractModel, Variable, Simulation, read_output
    from pyclimaocean import run_experiment, available_models
    from pyclimaocean.models.column import ColumnModel, ColumnGrid, setups   # a model
    from pyclimaocean.closures import CATKELike                               # closures
    from pyclimaocean.physics import GRAVITY, REFERENCE_DENSITY, HEAT_CAPACITY

Heavier parts (xarray, the simulation runner, experiments) are imported on first use.
"""

import importlib as _importlib
import os as _os

import jax as _jax

if _os.environ.get("PYCLIMAOCEAN_X64", "1") != "0":
    _jax.config.update("jax_enable_x64", True)

from ._version import __version__  # noqa: E402
from .integrate import integrate  # noqa: E402
from .params import Parameter, ParameterError, ParameterSet, Prior  # noqa: E402

#: public names imported on first use: name -> module
_LAZY = {
    "AbstractModel": "pyclimaocean.core",
    "Variable": "pyclimaocean.core",
    "Coordinate": "pyclimaocean.core",
    "available_models": "pyclimaocean.core",
    "get_model_entry": "pyclimaocean.core",
    "register_model": "pyclimaocean.core",
    "Simulation": "pyclimaocean.simulation",
    "BlowUpError": "pyclimaocean.simulation",
    "read_output": "pyclimaocean.simulation",
    "make_writer": "pyclimaocean.simulation",
    "run_experiment": "pyclimaocean.experiment",
    "run_ensemble": "pyclimaocean.experiment",
    "ConfigError": "pyclimaocean.config",
}

__all__ = ["Parameter", "ParameterSet", "Prior", "ParameterError", "integrate", "__version__",
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pyclimaocean' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
