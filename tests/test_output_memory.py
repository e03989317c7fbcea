"""The netCDF output writer's file layout, which keeps long runs' memory flat and files small
(``python -m benchmarks.output_memory`` measures it; issue 11 item 3).

* chunks of ``flush_every`` records along time (netCDF-C's default of one record per chunk
  made files ~18 % larger and appends ~30 % slower);
* the merge gives the appended variables a chunk cache of a few chunks (with netCDF-C's 64 MiB
  per variable the merge held every chunk it wrote: +104 MiB for 10⁵ records).
"""

from __future__ import annotations

import netCDF4
import numpy as np
import xarray as xr

from pyclimaocean.closures.simple import ConvectiveAdjustment
from pyclimaocean.fluxes.surface import SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel
from pyclimaocean.simulation import Simulation, make_writer, output_writers


def _model():
    return ColumnModel(grid=ColumnGrid(nz=8, depth=40.0), closure=ConvectiveAdjustment(),
                       forcing=SurfaceForcing(heat_flux=-100.0), dt=600.0)


def test_netcdf_records_are_chunked_by_flush_and_merged_with_a_small_cache(tmp_path, monkeypatch):
    caches = []
    original = output_writers._small_chunk_cache

    def spy(variable):
        original(variable)
        caches.append((variable.name, variable.chunking(), variable.get_var_chunk_cache()))

    monkeypatch.setattr(output_writers, "_small_chunk_cache", spy)
    model = _model()
    writer = make_writer(tmp_path, "output", 1, flush_every=16)
    final, ds = Simulation(model, 40, writers={"output": writer}).run()
    assert ds.sizes["time"] == 41  # t = 0 and 40 steps, in 3 parts merged into one file
    with netCDF4.Dataset(tmp_path / "output.nc") as nc:
        for name in ("T", "S", "u", "v", "e", "b"):
            assert nc.variables[name].chunking() == [16, 8], name
        assert nc.variables["time"].chunking() == [16]
    assert {name for name, _, _ in caches} >= {"T", "S", "u", "v", "e", "b", "time"}
    for name, chunks, (size, _, preemption) in caches:
        assert size == max(4 * 8 * int(np.prod(chunks)), 2**16), name
        assert preemption == 1.0

    # the same records as a run kept in memory
    _, in_memory = Simulation(model, 40, output_every=1).run()
    on_disk = xr.open_dataset(tmp_path / "output.nc")
    for name in ("T", "S", "u", "v", "e", "b"):
        np.testing.assert_array_equal(on_disk[name].values, in_memory[name].values)


def test_large_records_get_fewer_records_per_chunk(tmp_path):
    writer = output_writers.NetCDFWriter(tmp_path / "x.nc", 1, flush_every=64)
    writer.chunk_bytes = 8 * 8 * 10  # ten 8-level records
    writer.bind(_model())
    fields = {n: np.zeros((3, 8)) for n in ("T", "S")}
    ds = writer._dataset(np.arange(3.0), fields)
    assert ds["T"].encoding["chunksizes"] == (10, 8)
    writer.chunk_bytes = 1  # a record larger than the limit: one record per chunk
    assert writer._dataset(np.arange(3.0), fields)["S"].encoding["chunksizes"] == (1, 8)
