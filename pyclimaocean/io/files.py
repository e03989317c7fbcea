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
    "jsonable",
    "write_netcdf_atomic",
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


def write_dataset(ds: xr.Dataset, path: str | os.PathLike, format: str = "netcdf",
                  unlimited_dims: tuple[str, ...] = ()) -> Path:
    """Write ``ds`` atomically to ``path`` as netCDF4 (``format="netcdf"``) or zarr.

    ``unlimited_dims`` (netCDF only) may be appended to later (``time`` for output writers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "netcdf":
        with atomic_path(path, ".nc") as tmp:
            ds.to_netcdf(tmp, engine="netcdf4", unlimited_dims=list(unlimited_dims) or None)
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


def _leaf_key(path) -> str:
    return jax.tree_util.keystr(path)


def save_state(path: str | os.PathLike, state, **metadata) -> Path:
    """Save a state pytree (exact binary values) atomically as ``.npz``.

    Each leaf is stored under its pytree path (``".temperature"``, ``".x"``, ``"[0]"``), so
    loading checks names, not positions: a state whose fields were reordered or renamed is
    refused instead of being read silently wrong.  ``metadata`` values are stored as
    ``meta:<key>``.
    """
    import io

    arrays = {}
    for leaf_path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        arrays[f"leaf:{_leaf_key(leaf_path)}"] = np.asarray(leaf)
    for key, value in metadata.items():
        arrays[f"meta:{key}"] = np.asarray(value)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | os.PathLike, like):
    """Load a state saved by :func:`save_state` into the structure of ``like``.

    Returns ``(state, metadata)``.  Raises ``ValueError`` naming the first leaf that is missing
    from the file, unexpected in it, or of the wrong shape or dtype kind.
    """
    import jax.numpy as jnp

    with np.load(path) as data:
        stored = {k[5:]: data[k] for k in data.files if k.startswith("leaf:")}
        meta = {k[5:]: data[k] for k in data.files if k.startswith("meta:")}
        if not stored and any(k.startswith("leaf_") for k in data.files):
            raise ValueError(
                f"checkpoint {path} was written by an older pyclimaocean that stored leaves by "
                "position; it cannot be matched to the state's named fields. Restart the run "
                "(--force) instead of resuming it"
            )
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    wanted = [_leaf_key(p) for p, _ in flat]
    missing = [k for k in wanted if k not in stored]
    extra = [k for k in stored if k not in wanted]
    if missing or extra:
        what = []
        if missing:
            what.append(f"the state's leaf {missing[0]!r} is not in the file")
        if extra:
            what.append(f"the file's leaf {extra[0]!r} is not in the state")
        raise ValueError(
            f"checkpoint {path} does not match the model state: {'; '.join(what)} "
            f"(file: {sorted(stored)}; state: {wanted}). It was written by a different model "
            "or state layout"
        )
    leaves = []
    for key, (_, ref) in zip(wanted, flat, strict=True):
        a = stored[key]
        if np.shape(a) != np.shape(ref):
            raise ValueError(
                f"checkpoint {path}: leaf {key!r} has shape {np.shape(a)}, the model state needs "
                f"{np.shape(ref)}"
            )
        ref_kind = np.asarray(ref).dtype.kind
        if a.dtype.kind != ref_kind and {a.dtype.kind, ref_kind} != {"i", "u"}:
            raise ValueError(
                f"checkpoint {path}: leaf {key!r} has dtype {a.dtype}, the model state needs "
                f"{np.asarray(ref).dtype}"
            )
        leaves.append(jnp.asarray(a, dtype=np.asarray(ref).dtype))
    return jax.tree_util.tree_unflatten(treedef, leaves), meta


def jsonable(x):
    """``x`` with NumPy/JAX arrays and scalars turned into plain Python (for ``json.dumps``)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray | jax.Array):
        return jsonable(np.asarray(x).tolist())
    if isinstance(x, np.floating | np.integer | np.bool_):
        return x.item()
    return x


def write_netcdf_atomic(obj, path: str | os.PathLike) -> Path:
    """Write an ``xarray.Dataset`` or arviz ``InferenceData`` to ``path`` atomically (temporary
    file in the same directory, then ``os.replace``)."""
    path = Path(path)
    with atomic_path(path, ".nc") as tmp:
        obj.to_netcdf(str(tmp))
    return path
