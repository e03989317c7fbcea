"""Host memory of a long run that saves every step (not a test).

    python -m benchmarks.output_memory [--steps 10000 100000] [--nz 32] [--format netcdf]

A free-convection column (CATKE-like closure, ``--nz`` levels, 100 W m⁻² of cooling, Δt = 60 s)
runs through :class:`pyclimaocean.Simulation` with ``output_every=1`` and an ``output_dir``:
every step is a record of the output file.  Each run length is measured in a fresh process:

* the simulation is first run for a few steps into a scratch directory (compiles the chunk and
  the output-field function, imports netCDF4/xarray, creates the writers' code paths), then
  the compiler's freed heap is returned to the OS (``malloc_trim``) and the kernel's peak-RSS
  counter is reset;
* the measured run: peak resident memory (``VmHWM``) of the process during the run, its
  increase over the resident memory before the run, wall time per step, and the size of the
  output file.

The target (issue 11) is a peak RSS that is flat within 10 % between 10⁴ and 10⁵ steps.

The same script runs against an older checkout (its ``Simulation(model, n_steps, output_every,
output_dir=...)`` kept every state in a host list): copy it into that checkout's
``benchmarks/`` and run it from there.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.column_gradient import _release_free_heap, _reset_peak_rss, _rss_kib


def build(nz: int):
    import pyclimaocean  # noqa: F401  (enables x64)
    from pyclimaocean.closures.catke import CATKELike
    from pyclimaocean.fluxes.surface import SurfaceForcing
    from pyclimaocean.grids.column import ColumnGrid
    from pyclimaocean.models.column import ColumnModel, InitialConditions

    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=128.0),
        closure=CATKELike(),
        forcing=SurfaceForcing(heat_flux=-100.0),
        initial_conditions=InitialConditions(temperature_gradient=0.01),
        dt=60.0,
    )


def _run(model, n_steps: int, output_dir: Path, fmt: str):
    from pyclimaocean.simulation import Simulation

    kwargs = {"output_dir": output_dir}
    if fmt != "netcdf":
        kwargs["output_format"] = fmt
    sim = Simulation(model, n_steps, output_every=1, **kwargs)
    if "return_dataset" in inspect.signature(sim.run).parameters:
        final, _ = sim.run(return_dataset=False)  # long runs: no read-back
    else:  # the Simulation before the output writers always returned the dataset
        final, _ = sim.run()
    return final, sim


def child(n_steps: int, nz: int, fmt: str) -> None:
    """Measure one run length in this (fresh) process; print JSON."""
    import jax

    model = build(nz)
    with tempfile.TemporaryDirectory(prefix="output_memory_") as tmp:
        tmp = Path(tmp)
        _run(model, 128, tmp / "warmup", fmt)  # compile, import, exercise every code path
        _release_free_heap()
        base = _rss_kib("VmRSS")
        _reset_peak_rss()
        t0 = time.perf_counter()
        final, sim = _run(model, n_steps, tmp / "run", fmt)
        jax.block_until_ready(final)
        wall = time.perf_counter() - t0
        peak = _rss_kib("VmHWM")
        path = Path(sim.output_path)
        size = (sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                if path.is_dir() else path.stat().st_size)
    print(json.dumps({"steps": n_steps, "rss_before_kib": base, "rss_peak_kib": peak,
                      "wall_s": wall, "file_bytes": size}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--nz", type=int, default=32)
    parser.add_argument("--format", choices=["netcdf", "zarr"], default="netcdf")
    parser.add_argument("--child", type=int, metavar="STEPS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.nz, args.format)

    import pyclimaocean

    print(f"column: nz = {args.nz}, CATKE-like, free convection, every step written "
          f"({args.format}); pyclimaocean from {Path(pyclimaocean.__file__).parent}")
    print(f"\n{'steps':>8s} {'RSS before':>11s} {'peak RSS':>9s} {'increase':>9s} "
          f"{'ms/step':>8s} {'file':>9s}")
    print(f"{'':8s} {'run (MiB)':>11s} {'(MiB)':>9s} {'(MiB)':>9s} {'':8s} {'(MiB)':>9s}")
    rows = []
    for n in args.steps:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.output_memory", "--child", str(n),
             "--nz", str(args.nz), "--format", args.format],
            capture_output=True, text=True, env=dict(os.environ),
        )
        if out.returncode:
            sys.exit(f"run of {n} steps failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"{n:8d} {r['rss_before_kib'] / 1024:11.1f} {r['rss_peak_kib'] / 1024:9.1f} "
              f"{(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:9.1f} "
              f"{1e3 * r['wall_s'] / n:8.3f} {r['file_bytes'] / 2**20:9.1f}", flush=True)
    if len(rows) > 1:
        ratio = rows[-1]["rss_peak_kib"] / rows[0]["rss_peak_kib"]
        verdict = "flat within 10 %" if ratio <= 1.10 else "NOT flat within 10 %"
        print(f"\npeak-RSS ratio {rows[-1]['steps']} / {rows[0]['steps']} steps: {ratio:.3f} "
              f"({verdict})")


if __name__ == "__main__":
    main()
