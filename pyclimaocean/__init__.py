"""pyclimaocean: differentiable, ML-augmented ocean / sea-ice / atmosphere modelling.

The physics runs in float64 by default: importing the package enables ``jax_enable_x64``
(through ``JAX_ENABLE_X64=1`` when JAX is not imported yet, ``jax.config.update`` when it is;
set ``PYCLIMAOCEAN_X64=0`` before import to keep JAX's float32 default).  Importing the
package itself imports neither JAX nor xarray: every public name below is loaded on first use.

The public API, by layer::

    from pyclimaocean import Parameter, ParameterSet, Prior, integrate      # core
    from pyclimaocean import AbstractModel, Variable, Simulation, read_output
    from pyclimaocean import run_experiment, available_models
    from pyclimaocean.models.column import ColumnModel, ColumnGrid, setups   # a model
    from pyclimaocean.closures import CATKELike                               # closures
    from pyclimaocean.physics import GRAVITY, REFERENCE_DENSITY, HEAT_CAPACITY

"""

import importlib as _importlib
import os as _os
import sys as _sys
import types as _types

from ._version import __version__

# Float64 without importing JAX here (``pyclimaocean --help`` must stay fast): JAX reads
# JAX_ENABLE_X64 when it is first imported; if it already is, update its config instead.
if _os.environ.get("PYCLIMAOCEAN_X64", "1") != "0":
    if "jax" in _sys.modules:
        _sys.modules["jax"].config.update("jax_enable_x64", True)
    else:
        _os.environ["JAX_ENABLE_X64"] = "1"

#: public names imported on first use: name -> module
_LAZY = {
    "integrate": "pyclimaocean.integrate",
    "Parameter": "pyclimaocean.params",
    "ParameterError": "pyclimaocean.params",
    "ParameterSet": "pyclimaocean.params",
    "Prior": "pyclimaocean.params",
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

__all__ = ["__version__", *_LAZY]


class _Package(_types.ModuleType):
    """The package module: a lazy name that is also a submodule (``integrate``) stays the
    function when the import system binds the submodule ``pyclimaocean.integrate`` here."""

    def __setattr__(self, name, value):
        if (isinstance(value, _types.ModuleType) and _LAZY.get(name) == value.__name__
                and hasattr(value, name)):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pyclimaocean' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
