"""Saving and loading trained closures.

Weights are written with ``eqx.tree_serialise_leaves`` and atomically: to a temporary file in
the same folder, flushed and ``fsync``-ed, then moved over the target with ``os.replace``, so
a crash never leaves a half-written checkpoint.  :func:`save_closure` also writes a JSON
side-car (``<name>.json``) with the closure's hyperparameters, from which
:func:`load_closure` rebuilds the network skeleton before reading the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax

from ..io.files import atomic_write
from .networks import (
    GlobalMLPClosure,
    LocalMLPClosure,
    PeriodicCNNClosure,
    Standardisation,
    ZeroClosure,
)
from .stochastic import PolynomialClosure

__all__ = [
    "save_model",
    "load_model",
    "save_closure",
    "load_closure",
    "build_closure",
    "atomic_write_text",
]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically (temporary file + ``os.replace``)."""
    return atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))


def save_model(path: str | Path, model: Any) -> Path:
    """Serialise the array leaves of an equinox pytree to ``path`` atomically."""
    return atomic_write(Path(path), lambda f: eqx.tree_serialise_leaves(f, model))


def load_model(path: str | Path, like: Any) -> Any:
    """Read leaves saved by :func:`save_model` into a pytree with the structure of ``like``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    return eqx.tree_deserialise_leaves(path, like)


def build_closure(hyperparameters: dict, key: jax.Array | None = None) -> Any:
    """Build an (untrained) closure from a hyperparameter dict as given by
    ``closure.hyperparameters()``.  Architectures: ``cnn``, ``local_mlp``, ``global_mlp``,
    ``polynomial``, ``none``."""

    hp = dict(hyperparameters)
    arch = hp.pop("architecture", None)
    key = jax.random.PRNGKey(0) if key is None else key
    scaling = Standardisation(**hp.pop("scaling")) if "scaling" in hp else None
    if arch == "cnn":
        return PeriodicCNNClosure(scaling=scaling, key=key, **hp)
    if arch == "local_mlp":
        return LocalMLPClosure(scaling=scaling, key=key, **hp)
    if arch == "global_mlp":
        return GlobalMLPClosure(scaling=scaling, key=key, **hp)
    if arch == "polynomial":
        return PolynomialClosure.zeros(hp["degree"])
    if arch == "none":
        return ZeroClosure()
    raise ValueError(
        f"architecture {arch!r} is not supported. Supported architectures are: "
        "cnn, local_mlp, global_mlp, polynomial, none"
    )


def save_closure(path: str | Path, closure: Any) -> Path:
    """Save a closure's weights to ``path`` and its hyperparameters to ``path`` with suffix ``.json``."""
    path = Path(path)
    atomic_write_text(path.with_suffix(".json"), json.dumps(closure.hyperparameters(), indent=2))
    return save_model(path, closure)


def load_closure(path: str | Path) -> Any:
    """Load a closure saved by :func:`save_closure`."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not meta.is_file():
        raise FileNotFoundError(
            f"closure description {str(meta)!r} does not exist (saved by save_closure?)"
        )
    skeleton = build_closure(json.loads(meta.read_text(encoding="utf-8")))
    return load_model(path, skeleton)
