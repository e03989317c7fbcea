"""Saving and loading trained QG network closures (one file: a JSON header line with the class
and its hyperparameters, then the weights as ``eqx.tree_serialise_leaves`` writes them).

``load_closure(path=...)`` is the constructor the closure registry uses for the names ``"cnn"``
and ``"equivariant_cnn"`` (:mod:`~pyclimaocean.models.qg.closure_registry`), so a trained
network enters configs and ``benchmarks/qg_closures.py`` by its file::

    python -m benchmarks.qg_closures --closure-args 'cnn={"path": "runs/cnn.eqx"}'
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import equinox as eqx
import jax

from .closure import AbstractQGClosure
from .equivariant import EquivariantQGClosure
from .neural import ConvQGClosure

__all__ = ["NETWORK_CLOSURES", "load_closure", "save_closure"]

#: the network closure classes a file may hold
NETWORK_CLOSURES = {"ConvQGClosure": ConvQGClosure, "EquivariantQGClosure": EquivariantQGClosure}


def save_closure(path: str | Path, closure: AbstractQGClosure) -> Path:
    """Write ``closure`` (a class of :data:`NETWORK_CLOSURES`) to ``path`` atomically."""
    name = type(closure).__name__
    if name not in NETWORK_CLOSURES:
        raise TypeError(f"save_closure: {name} is not a network closure. Supported closures are: "
                        + ", ".join(NETWORK_CLOSURES))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"class": name, "hyperparameters": closure.hyperparameters()})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header.encode() + b"\n")
            eqx.tree_serialise_leaves(f, closure)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_closure(path: str | Path) -> AbstractQGClosure:
    """The closure :func:`save_closure` wrote to ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved closure at {path}")
    with path.open("rb") as f:
        header = json.loads(f.readline())
        cls = NETWORK_CLOSURES.get(header.get("class"))
        if cls is None:
            raise ValueError(f"{path}: unknown closure class {header.get('class')!r}. "
                             f"Supported closures are: {', '.join(NETWORK_CLOSURES)}")
        skeleton = cls(**header["hyperparameters"], key=jax.random.PRNGKey(0))
        return eqx.tree_deserialise_leaves(f, skeleton)
