"""Atomic output files: datasets (netCDF / zarr) and state checkpoints.

Every writer writes to a temporary sibling and then renames it over the target
(``os.replace``, atomic on POSIX), so a crash or ``kill -9`` during a write leaves the previous
file intact and readable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import jax
import numpy as np
import xarray as xr

__all__ = [
    "write_dataset",
    "save_state",
    "load_state",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
]


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it is fsync-ed and renamed
    over ``path`` (``os.replace``), on failure removed.  ``suffix`` goes before ``.tmp``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Write ``path`` atomically with ``write(binary_file)``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, format: str = "netcdf") -> Path:
    """Write ``ds`` atomically to ``path`` as netCDF4 (``format="netcdf"``) or zarr."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "netcdf":
        with atomic_path(path, ".nc") as tmp:
            ds.to_netcdf(tmp, engine="netcdf4")
    elif format == "zarr":
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            ds.to_zarr(tmp, mode="w")
            if path.exists():
                old = path.with_name(path.name + ".old")
                if old.exists():
                    shutil.rmtree(old)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    else:
        raise ValueError(f"output format {format!r} is not supported. Supported: netcdf, zarr")
    return path


def save_state(path: str | os.PathLike, state, **metadata) -> Path:
    """Save a state pytree (exact binary values) atomically as ``.npz``."""
    import io

    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"leaf_{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
    for key, value in metadata.items():
        arrays[f"meta_{key}"] = np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | os.PathLike, like):
    """Load a state saved by :func:`save_state` into the structure of ``like``."""
    with np.load(path) as data:
        leaves = [data[k] for k in sorted(k for k in data.files if k.startswith("leaf_"))]
        meta = {k[5:]: data[k] for k in data.files if k.startswith("meta_")}
    treedef = jax.tree_util.tree_structure(like)
    if treedef.num_leaves != len(leaves):
        raise ValueError(
            f"checkpoint {path} has {len(leaves)} arrays but the model state needs "
            f"{treedef.num_leaves}: it was written by a different model"
        )
    like_leaves = jax.tree_util.tree_leaves(like)
    for i, (a, b) in enumerate(zip(leaves, like_leaves, strict=True)):
        if np.shape(a) != np.shape(b):
            raise ValueError(
                f"checkpoint {path}: array {i} has shape {np.shape(a)}, the model needs {np.shape(b)}"
            )
    import jax.numpy as jnp

    state = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in leaves])
    return state, meta
