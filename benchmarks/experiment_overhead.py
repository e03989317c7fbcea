"""Host-side overhead of experiments: what ``pyclimaocean.experiment`` changes around the
``Simulation`` runner.

1. *Ensemble members*: 8 members of the free-convection column (nz = 16, 72 steps) that
   differ only in a closure parameter.  ``Simulation`` alone compiles its chunk once per
   member (the model is closed over); ``run_experiment`` passes the model as an argument of one
   ``eqx.filter_jit`` function and compiles once per process.
2. *Frequent outputs*: 120 steps with an output every step and a checkpoint every 2 steps.
   ``Simulation.dataset`` stacks the outputs with ``jnp.stack`` (one XLA compilation per
   distinct number of outputs); ``run_experiment`` stacks them on the host with NumPy.

Wall times in seconds, on this machine's CPU; ratios are what to compare.

3. *Ensemble executors* (``--ensemble``): ``pyclimaocean ensemble`` of the free-convection
   example (its own settings: 64 levels, 4 days, 576 steps per member) with
   ``--executor in-process`` and ``--executor dask`` (Prefect flow on a 2-worker LocalCluster)
   at 4, 16 and 64 members, each a fresh process as a user runs it.  Reports wall time and the
   CPU time of the command and all its child processes (Dask workers, the temporary Prefect
   server), fits ``time = fixed + per_member * members`` per executor and prints the member
   count from which Dask is faster (the crossover behind ``AUTO_DASK_MIN_MEMBERS``).

Run: ``python -m benchmarks.experiment_overhead`` (1, 2) or
``python -m benchmarks.experiment_overhead --ensemble [--members 4 16 64] [--json FILE]`` (3).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "column_free_convection.toml"
SMALL = ["grid.nz=16", "time.stop_time=43200", "time.output_interval=3600",
         "output.plots=false"]


def _plain_simulation(overrides, out):
    """The same run through ``Simulation`` alone (its own compilation and output stacking)."""
    from pyclimaocean.experiment import _build, _checkpoint_steps, load_experiment
    from pyclimaocean.simulation import Simulation

    cfg, _ = load_experiment(CONFIG, overrides)
    t = cfg.time
    sim = Simulation(_build(cfg), n_steps=t.n_steps, output_every=t.output_every,
                     checkpoint_every=_checkpoint_steps(t), output_dir=out)
    return sim.run()


def main() -> None:
    from pyclimaocean.experiment import run_experiment

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # warm-up: imports, backend initialisation
        run_experiment(CONFIG, tmp / "warm", SMALL, report=False)
        values = [0.05 + 0.05 * i for i in range(8)]
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            _plain_simulation([*SMALL, f"closure.c_hi_c={v}"], tmp / f"plain{i}")
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            run_experiment(CONFIG, tmp / f"shared{i}", [*SMALL, f"closure.c_hi_c={v}"],
                           report=False)
        shared = time.perf_counter() - t0
        rows.append(("8 ensemble members, 72 steps each", plain, shared))

        frequent = ["grid.nz=16", "time.stop_time=72000", "time.output_interval=600",
                    "time.checkpoint_interval=1200", "output.plots=false"]
        t0 = time.perf_counter()
        _plain_simulation(frequent, tmp / "freq_plain")
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_experiment(CONFIG, tmp / "freq_exp", frequent, report=False)
        shared = time.perf_counter() - t0
        rows.append(("120 steps, output every step, checkpoint every 2", plain, shared))

    print(f"{'case':<52} {'Simulation (s)':>15} {'run_experiment (s)':>19} {'speed-up':>9}")
    for name, a, b in rows:
        print(f"{name:<52} {a:>15.2f} {b:>19.2f} {a / b:>8.1f}x")


def _timed_ensemble(members: int, executor: str, out: Path, workers: int) -> tuple[float, float]:
    """(wall s, CPU s of the command and its children) of one ``pyclimaocean ensemble``."""
    cmd = [sys.executable, "-m", "pyclimaocean.cli", "ensemble", str(CONFIG), "-p", "c_hi_c",
           "-n", str(members), "-o", str(out), "--executor", executor, "--workers", str(workers),
           "--no-progress", "--set", "output.plots=false"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _fit(ns, ts) -> tuple[float, float]:
    """Least-squares ``t = fixed + per_member * n``: ``(fixed, per_member)``."""
    per, fixed = np.polyfit(np.asarray(ns, float), np.asarray(ts, float), 1)
    return float(fixed), float(per)


def ensemble_crossover(members=(4, 16, 64), workers: int = 2, json_path: str | None = None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in members:
            for executor in ("in-process", "dask"):
                wall, cpu = _timed_ensemble(n, executor, Path(tmp) / f"{executor}_{n}", workers)
                rows.append({"members": n, "executor": executor, "wall_s": wall, "cpu_s": cpu})
                print(f"{n:>4} members  {executor:<10}  wall {wall:8.1f} s   CPU {cpu:8.1f} s",
                      flush=True)
    result = {"config": str(CONFIG.relative_to(ROOT)), "workers": workers, "rows": rows, "fits": {},
              "load_average_after": os.getloadavg()}
    for key in ("wall_s", "cpu_s"):
        fits = {e: _fit([r["members"] for r in rows if r["executor"] == e],
                        [r[key] for r in rows if r["executor"] == e]) for e in ("in-process", "dask")}
        (a_s, b_s), (a_d, b_d) = fits["in-process"], fits["dask"]
        crossover = (a_d - a_s) / (b_s - b_d) if b_s > b_d else None
        result["fits"][key] = {"in-process": {"fixed_s": a_s, "per_member_s": b_s},
                               "dask": {"fixed_s": a_d, "per_member_s": b_d},
                               "crossover_members": crossover}
        print(f"{key}: in-process {a_s:.1f} s + {b_s:.2f} s/member; dask {a_d:.1f} s + "
              f"{b_d:.2f} s/member; Dask faster from "
              + (f"{crossover:.0f} members" if crossover is not None else "never (no per-member saving)"))
    wall = result["fits"]["wall_s"]
    if min(wall["in-process"]["per_member_s"], wall["dask"]["per_member_s"]) <= 0:
        print(f"wall times are not usable: a negative time per member means the machine's load "
              f"changed between runs (load average now {os.getloadavg()[0]:.1f})")
    # projection for an otherwise idle machine: Dask spreads its CPU time over the workers at
    # best, the in-process run does not: wall_dask >= cpu_dask / W, wall_seq ~ cpu_seq
    cpu = result["fits"]["cpu_s"]
    (a_s, b_s) = cpu["in-process"]["fixed_s"], cpu["in-process"]["per_member_s"]
    (a_d, b_d) = cpu["dask"]["fixed_s"], cpu["dask"]["per_member_s"]
    saving = b_s - b_d / workers
    projected = (a_d / workers - a_s) / saving if saving > 0 else None
    extra = b_d - b_s  # the Dask path's CPU cost per member beyond the member itself
    result["idle_projection"] = {"crossover_members": projected,
                                 "dask_extra_cpu_per_member_s": extra,
                                 "min_member_cpu_s_for_dask": extra / (workers - 1) if workers > 1 else None}
    print("idle machine, best case for Dask (its CPU spread over the workers): "
          + (f"Dask faster from {projected:.0f} members" if projected is not None else
             f"Dask never faster for members of {b_s:.2f} s; it needs members of more than "
             f"{extra / max(workers - 1, 1):.2f} s of CPU each"))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ensemble", action="store_true", help="benchmark the ensemble executors")
    parser.add_argument("--members", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.ensemble:
        ensemble_crossover(tuple(args.members), args.workers, args.json)
    else:
        main()
