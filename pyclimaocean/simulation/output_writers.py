"""Output writers: what is written, when, and where — apart from the physics.

As in Oceananigans, a :class:`~pyclimaocean.Simulation` holds any number of output writers,
each with its own schedule (every N steps, or a time interval that is a whole number of steps),
field selection and, optionally, a time average over its interval.  Writers *stream*: each
record is appended to the file when it is flushed (every ``flush_every`` records, at every
checkpoint and at the end), so host memory does not grow with the length of the run.

* :class:`NetCDFWriter` writes each flush as an atomic part file and appends the parts to the
  output file (atomically replaced) when the run ends: no crash can damage a file.
* :class:`ZarrWriter` appends with ``xarray.Dataset.to_zarr(append_dim="time")``.
* :class:`MemoryWriter` keeps the records in memory (runs without an output directory).

A restart checkpoint stores how many records each writer had flushed; resuming truncates the
file to that many records (records written after the checkpoint are written again, bit for
bit), so a resumed run produces the same file as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.dataset import fields_dataset
from ..io.files import atomic_path, write_dataset

__all__ = [
    "AbstractOutputWriter",
    "MemoryWriter",
    "NetCDFWriter",
    "ZarrWriter",
    "make_writer",
    "read_output",
    "steps_from_schedule",
]


def steps_from_schedule(*, every: int | None = None, interval: float | None = None,
                        dt: float, name: str = "schedule") -> int:
    """A schedule as a number of steps: ``every`` steps, or a time ``interval`` (model time
    units) that must be a whole number of time steps ``dt``."""
    if (every is None) == (interval is None):
        raise ValueError(f"{name}: give exactly one of every (steps) or interval (time)")
    if every is not None:
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"{name}: every = {every!r} must be a positive int (steps)")
        return every
    k = interval / dt
    if not math.isfinite(k) or round(k) < 1 or abs(k - round(k)) > 1e-9 * max(1.0, k):
        raise ValueError(
            f"{name}: interval = {interval!r} must be a positive whole number of time steps "
            f"(dt = {dt!r})"
        )
    return int(round(k))


class AbstractOutputWriter:
    """Base class: a schedule (``every`` steps), a field selection and an optional average.

    Args:
        every: steps between records.
        fields: names of the model variables to write (default: all).
        average: write the mean over each interval of ``every`` steps (time stamp: the end of
            the interval) instead of a snapshot.
        include_initial: write the state at the start of a (new) run as the first record
            (snapshots only).
        flush_every: records buffered in memory before they are appended to the file (also
            the HDF5 chunk length along time of netCDF outputs).
        flush_bytes: ... or as soon as the buffered records hold this many bytes (16 MiB):
            memory stays bounded whatever the size of a record.
        attrs: extra global attributes.
    """

    def __init__(self, every: int, *, fields: Sequence[str] | None = None,
                 average: bool = False, include_initial: bool = True, flush_every: int = 512,
                 flush_bytes: int = 16 * 2**20,
                 attrs: dict | None = None):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"output writer: every = {every!r} must be a positive int (steps)")
        if flush_every < 1:
            raise ValueError(f"output writer: flush_every = {flush_every!r} must be >= 1")
        self.every = every
        self.fields = None if fields is None else tuple(fields)
        self.average = bool(average)
        self.include_initial = bool(include_initial) and not self.average
        self.flush_every = int(flush_every)
        self.flush_bytes = int(flush_bytes)
        self._buffered_bytes = 0
        self.attrs = dict(attrs or {})
        self.model = None
        self._buffer: list[tuple[float, dict[str, np.ndarray]]] = []
        self.n_records = 0  # records flushed to the destination

    # -- set-up ----------------------------------------------------------------------------
    def bind(self, model) -> None:
        names = [v.name for v in model.variables()]
        if self.fields is not None:
            unknown = [f for f in self.fields if f not in names]
            if unknown:
                raise ValueError(
                    f"output writer fields {unknown} are not variables of the {model.name} "
                    f"model. Variables are: {', '.join(names)}"
                )
        self.model = model

    def select(self, fields: dict[str, Any]) -> dict[str, np.ndarray]:
        names = self.fields if self.fields is not None else tuple(fields)
        return {n: np.asarray(fields[n]) for n in names}

    # -- records ---------------------------------------------------------------------------
    def record(self, time: float, fields: dict[str, Any]) -> None:
        selected = self.select(fields)
        self._buffer.append((float(time), selected))
        self._buffered_bytes += sum(a.nbytes for a in selected.values())
        if len(self._buffer) >= self.flush_every or self._buffered_bytes >= self.flush_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        times = np.array([t for t, _ in self._buffer])
        names = self._buffer[0][1].keys()
        stacked = {n: np.stack([f[n] for _, f in self._buffer]) for n in names}
        self._append(times, stacked)
        self.n_records += len(times)
        self._buffer = []
        self._buffered_bytes = 0

    def _dataset(self, times, stacked) -> xr.Dataset:
        attrs = dict(self.attrs)
        if self.average:
            note = f"time means over intervals of {self.every} steps, stamped at the interval's end"
            attrs["comment"] = f"{attrs['comment']}; {note}" if attrs.get("comment") else note
        ds = fields_dataset(self.model, stacked, times, attrs)
        if self.average:
            for name in stacked:
                ds[name].attrs["cell_methods"] = "time: mean"
        return ds

    def _append(self, times, stacked) -> None:
        raise NotImplementedError

    # -- restarts --------------------------------------------------------------------------
    def reset(self) -> None:
        """Start a new run: forget buffered records; the next flush replaces the file."""
        self._buffer = []
        self._buffered_bytes = 0
        self.n_records = 0

    def truncate(self, n_records: int) -> None:
        """Keep the first ``n_records`` records (resuming from a checkpoint)."""
        raise NotImplementedError

    def dataset(self, load: bool = True) -> xr.Dataset | None:
        raise NotImplementedError

    def close(self) -> None:
        self.flush()


class MemoryWriter(AbstractOutputWriter):
    """Records kept in host memory (a simulation without an output directory)."""

    def __init__(self, every: int, **kwargs):
        super().__init__(every, **kwargs)
        self._chunks: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []

    def _append(self, times, stacked):
        self._chunks.append((times, stacked))

    def reset(self) -> None:
        super().reset()
        self._chunks = []

    def truncate(self, n_records: int) -> None:
        self.flush()
        if n_records > self.n_records:
            raise ValueError(f"cannot keep {n_records} records: only {self.n_records} written")
        times = np.concatenate([t for t, _ in self._chunks]) if self._chunks else np.zeros(0)
        keep = []
        count = 0
        for t, f in self._chunks:
            take = min(len(t), n_records - count)
            if take > 0:
                keep.append((t[:take], {n: a[:take] for n, a in f.items()}))
            count += take
        self._chunks = keep
        self.n_records = min(n_records, len(times))

    def dataset(self, load: bool = True):
        self.flush()
        if not self._chunks:
            return None
        times = np.concatenate([t for t, _ in self._chunks])
        names = self._chunks[0][1].keys()
        stacked = {n: np.concatenate([f[n] for _, f in self._chunks]) for n in names}
        return self._dataset(times, stacked)


class _FileWriter(AbstractOutputWriter):
    def __init__(self, path: str | os.PathLike, every: int, **kwargs):
        super().__init__(every, **kwargs)
        self.path = Path(path)

    def dataset(self, load: bool = True):
        self.flush()
        if not self.path.exists():
            return None
        opener = xr.open_dataset if isinstance(self, NetCDFWriter) else xr.open_zarr
        if load:
            with opener(self.path) as ds:
                return ds.load()
        return opener(self.path)


def _time_variables(nc) -> list[str]:
    return [name for name, v in nc.variables.items() if v.dimensions[:1] == ("time",)]


class NetCDFWriter(_FileWriter):
    """Records streamed to ``<name>.nc``, written so that no crash can damage a file.

    Each flush writes its records as one small netCDF file, atomically (temporary file +
    rename), into ``<name>.nc.parts/``; when the run ends the parts are appended, one at a
    time (memory: one part), to a copy of ``<name>.nc`` that then replaces it atomically.  A
    process killed at any moment therefore leaves ``<name>.nc`` (previous complete version)
    and whole parts; :func:`read_output` reads both while a run is going on, and a resumed run
    drops the parts written after its checkpoint and carries on.
    """

    #: most bytes of one HDF5 chunk of a time-dependent variable (see :meth:`_dataset`)
    chunk_bytes: int = 4 * 2**20

    def _dataset(self, times, stacked) -> xr.Dataset:
        """The records as a dataset, with HDF5 chunks of ``flush_every`` records along time.

        netCDF-C's default for a variable on an unlimited dimension is one record per chunk
        (256 bytes for a 32-level profile): every record then costs a chunk-index entry,
        which made files ~18 % larger and appends ~30 % slower
        (``python -m benchmarks.output_memory``).  A chunk holds ``flush_every`` records
        (one part; the merged file keeps the first source's chunks), or fewer when that
        would exceed :attr:`chunk_bytes` (at least one record).
        """
        ds = super()._dataset(times, stacked)
        for name, values in stacked.items():
            record = tuple(values.shape[1:])
            record_bytes = values.dtype.itemsize * math.prod(record)
            k = max(1, min(self.flush_every, self.chunk_bytes // max(1, record_bytes)))
            ds[name].encoding["chunksizes"] = (k, *record)
        ds["time"].encoding["chunksizes"] = (self.flush_every,)
        return ds

    @property
    def parts_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".parts")

    def _parts(self) -> list[tuple[int, Path]]:
        if not self.parts_dir.is_dir():
            return []
        out = []
        for p in self.parts_dir.glob("part_*.nc"):
            out.append((int(p.stem.split("_")[1]), p))
        return sorted(out)

    def _merged_records(self) -> int:
        if not self.path.exists():
            return 0
        import netCDF4

        with netCDF4.Dataset(self.path) as nc:
            return nc.dimensions["time"].size

    def _append(self, times, stacked):
        ds = self._dataset(times, stacked)
        part = self.parts_dir / f"part_{self.n_records:010d}.nc"
        write_dataset(ds, part, "netcdf", unlimited_dims=("time",))

    def reset(self) -> None:
        super().reset()
        if self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)
        self._replace_on_merge = True

    def truncate(self, n_records: int) -> None:
        self._buffer = []
        self._buffered_bytes = 0
        self._replace_on_merge = False
        merged = self._merged_records()
        parts = self._parts()
        available = merged + sum(_part_length(p) for start, p in parts if start >= merged)
        if available < n_records:
            raise ValueError(
                f"cannot resume: {self.path} and {self.parts_dir.name}/ hold {available} records "
                f"but the checkpoint says {n_records} were written"
            )
        if merged > n_records:  # rare: the checkpoint predates the merged file's end
            with xr.open_dataset(self.path, decode_times=False) as ds:
                kept = ds.isel(time=slice(0, n_records)).load()
            write_dataset(kept, self.path, "netcdf", unlimited_dims=("time",))
            merged = n_records
        for start, p in parts:
            if start < merged or start >= n_records:
                p.unlink()
            elif start + _part_length(p) > n_records:
                with xr.open_dataset(p, decode_times=False) as ds:
                    kept = ds.isel(time=slice(0, n_records - start)).load()
                write_dataset(kept, p, "netcdf", unlimited_dims=("time",))
        self.n_records = n_records

    def close(self) -> None:
        super().close()
        self.merge()

    def merge(self) -> None:
        """Append the parts to ``<name>.nc`` (atomically replaced) and remove them."""
        import netCDF4

        parts = [p for _, p in self._parts()]
        if not parts:
            return
        base = [] if getattr(self, "_replace_on_merge", False) else (
            [self.path] if self.path.exists() else [])
        sources = base + parts
        with atomic_path(self.path, ".nc") as tmp:
            shutil.copyfile(sources[0], tmp)
            with netCDF4.Dataset(tmp, "a") as out:
                names = _time_variables(out)
                for name in names:
                    _small_chunk_cache(out.variables[name])
                for src in sources[1:]:
                    with netCDF4.Dataset(src) as nc:
                        nc.set_auto_maskandscale(False)
                        out.set_auto_maskandscale(False)
                        n0 = out.dimensions["time"].size
                        n1 = n0 + nc.dimensions["time"].size
                        for name in names:
                            out.variables[name][n0:n1] = nc.variables[name][:]
        shutil.rmtree(self.parts_dir)
        self._replace_on_merge = False

    def dataset(self, load: bool = True):
        self.flush()
        if self._parts():
            return read_output(self.path, load=load)
        return super().dataset(load=load)


def _small_chunk_cache(variable) -> None:
    """Give an appended variable a chunk cache of a few chunks.

    The merge appends whole chunks once; with netCDF-C's default cache (64 MiB per variable)
    every chunk written stayed cached until the file was closed, so the memory of the merge
    grew with the length of the run (+104 MiB for 10⁵ records of six 32-level fields).
    """
    chunks = variable.chunking()
    if chunks == "contiguous":
        return
    chunk_bytes = variable.dtype.itemsize * math.prod(chunks)
    variable.set_var_chunk_cache(size=max(4 * chunk_bytes, 2**16), nelems=1009, preemption=1.0)


def _part_length(path: Path) -> int:
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        return nc.dimensions["time"].size


def read_output(path: str | os.PathLike, load: bool = True) -> xr.Dataset:
    """Read a streamed output, also while its run is going on (or after it was killed).

    ``path`` is ``<dir>/<name>.nc`` (its parts in ``<name>.nc.parts/`` are appended) or a
    zarr store.  Returns the records written so far, in order.
    """
    path = Path(path)
    if path.suffix == ".zarr":
        ds = xr.open_zarr(path)
        return ds.load() if load else ds
    parts_dir = path.with_name(path.name + ".parts")
    merged = 0
    pieces = []
    if path.exists():
        ds = xr.open_dataset(path)
        merged = ds.sizes["time"]
        pieces.append(ds)
    if parts_dir.is_dir():
        for p in sorted(parts_dir.glob("part_*.nc")):
            if int(p.stem.split("_")[1]) >= merged:
                pieces.append(xr.open_dataset(p))
    if not pieces:
        raise FileNotFoundError(f"no output at {path} (nor parts in {parts_dir})")
    if len(pieces) == 1:
        out = pieces[0]
    else:
        out = xr.concat(pieces, dim="time", data_vars="minimal", coords="minimal",
                        compat="override", join="override", combine_attrs="override")
    if load:
        out = out.load()
        for piece in pieces:
            piece.close()
    return out


class ZarrWriter(_FileWriter):
    """Append records to a zarr store with ``to_zarr(append_dim="time")``."""

    def _append(self, times, stacked):
        ds = self._dataset(times, stacked)
        if self.n_records == 0:
            write_dataset(ds, self.path, "zarr")
        else:
            for v in ds.variables.values():
                v.encoding = {}
            ds.drop_vars([c for c in ds.coords if "time" not in ds[c].dims]).to_zarr(
                self.path, append_dim="time")

    def truncate(self, n_records: int) -> None:
        import zarr

        self._buffer = []
        self._buffered_bytes = 0
        if not self.path.exists():
            if n_records:
                raise FileNotFoundError(
                    f"cannot resume: {self.path} is missing but the checkpoint says it held "
                    f"{n_records} records"
                )
            self.n_records = 0
            return
        group = zarr.open_group(str(self.path), mode="r+")
        for name, arr in group.arrays():
            # zarr v3 keeps dimension names in the array metadata, v2 in an attribute
            dims = (getattr(getattr(arr, "metadata", None), "dimension_names", None)
                    or arr.attrs.get("_ARRAY_DIMENSIONS", []))
            if dims and dims[0] == "time":
                if arr.shape[0] < n_records:
                    raise ValueError(
                        f"cannot resume: {self.path} holds {arr.shape[0]} records of {name!r} "
                        f"but the checkpoint says {n_records} were written"
                    )
                arr.resize((n_records,) + tuple(arr.shape[1:]))
        try:
            zarr.consolidate_metadata(str(self.path))
        except (ValueError, KeyError, TypeError):
            pass  # stores written without consolidated metadata
        self.n_records = n_records


def make_writer(output_dir: str | os.PathLike | None, name: str, every: int, *,
                format: str = "netcdf", **kwargs) -> AbstractOutputWriter:
    """A writer for ``<output_dir>/<name>.nc`` (or ``.zarr``), or in memory without a directory."""
    if output_dir is None:
        return MemoryWriter(every, **kwargs)
    if format == "netcdf":
        return NetCDFWriter(Path(output_dir) / f"{name}.nc", every, **kwargs)
    if format == "zarr":
        return ZarrWriter(Path(output_dir) / f"{name}.zarr", every, **kwargs)
    raise ValueError(f"output format {format!r} is not supported. Supported: netcdf, zarr")
