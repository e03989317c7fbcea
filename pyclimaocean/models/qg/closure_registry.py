"""Names of the QG closures: ``[closure] name = ...`` in a config, the benchmark's list.

:data:`QG_CLOSURES` maps a closure name to its constructor, given as ``"module:attribute"``
(imported on first use, so that heavy closures cost nothing until chosen) or as a callable.
A constructor takes the closure's coefficients as keyword arguments (floats) and returns an
:class:`~pyclimaocean.models.qg.closure.AbstractQGClosure`.  A new closure is one entry::

    QG_CLOSURES["my_cnn"] = "pyclimaocean.models.qg.neural:load_cnn_closure"

(or :func:`register_closure` at run time).  ``"none"`` is the unclosed model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .closure import AbstractQGClosure

__all__ = ["QG_CLOSURES", "build_closure", "closure_names", "register_closure"]

#: closure name -> constructor ("module:attribute" or a callable)
QG_CLOSURES: dict[str, str | Callable[..., AbstractQGClosure]] = {
    "smagorinsky": "pyclimaocean.models.qg.physical_closures:Smagorinsky",
    "zanna_bolton": "pyclimaocean.models.qg.physical_closures:ZannaBolton2020",
    "backscatter": "pyclimaocean.models.qg.physical_closures:BackscatterBiharmonic",
}


def closure_names() -> list[str]:
    """The registered closure names (plus ``"none"``)."""
    return ["none", *QG_CLOSURES]


def register_closure(name: str, constructor: str | Callable[..., AbstractQGClosure]) -> None:
    """Add (or replace) a closure under ``name``."""
    if not isinstance(name, str) or not name or name == "none":
        raise ValueError(f"closure name must be a non-empty string other than 'none', got "
                         f"{name!r}")
    QG_CLOSURES[name] = constructor


def _constructor(name: str) -> Callable[..., AbstractQGClosure]:
    target = QG_CLOSURES[name]
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_closure(name: str, **coefficients: Any) -> AbstractQGClosure | None:
    """The closure ``name`` with ``coefficients`` (``None`` for ``"none"``).

    Raises ``KeyError`` listing the valid names, ``TypeError`` naming a coefficient the
    constructor does not take.
    """
    if name == "none":
        if coefficients:
            raise TypeError(f"closure 'none' takes no coefficients, got {sorted(coefficients)}")
        return None
    if name not in QG_CLOSURES:
        raise KeyError(f"{name!r} is not a QG closure. Closures are: "
                       f"{', '.join(closure_names())}")
    closure = _constructor(name)(**coefficients)
    if not isinstance(closure, AbstractQGClosure):
        raise TypeError(f"the constructor of closure {name!r} returned "
                        f"{type(closure).__name__}, not an AbstractQGClosure")
    return closure
