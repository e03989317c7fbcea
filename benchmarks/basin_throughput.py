"""Throughput of the 3-D basin model: cell-steps per second against Veros and against this
machine's memory-bandwidth roofline, and the scaling of the step time with grid size on one
core and on all cores (not a test).

    python -m benchmarks.basin_throughput [--sizes 4,2,1,0.5] [--steps 20] [--repeat 3]
                                          [--veros-sizes 2,1] [--veros-jax-sizes 2]
                                          [--veros-steps 10] [--skip-veros]

Rows (each in a fresh process):

* **ours**: :func:`~pyclimaocean.models.basin.acc_sector` (the geometry, levels, wind,
  restoring, viscosity and bottom drag of Veros' ``acc`` setup; stage-1 physics: constant
  mixing coefficients, linear equation of state, split-explicit free surface with
  ``stable_substeps`` barotropic substeps), dt = 3600 s, a jitted ``lax.scan`` of
  ``--steps`` steps;
* **Veros** (an optional, benchmark-only dependency: ``pip install veros``; the ``bench``
  extra) on the same grid, levels and time step (``dt_mom = dt_tracer = 3600 s``), NumPy and
  JAX backends, twice: its ``acc`` setup as shipped (TKE, EKE, isoneutral mixing and GM,
  nonlinear equation of state — more work per step than ours), and reduced to our physics
  (those off, constant ``kappaM_0``, ``kappaH_0``, ``K_h``; linear equation of state) —
  the like-for-like row.  Time per step is Veros' own ``main`` timer (the step without
  diagnostics and output), after warm-up steps (JAX: compilation).

Cell-steps per second = ``nx · ny · nz`` (land included, as both models store it) × steps /
time.  The roofline is the machine's streaming bandwidth (NumPy copy and triad, one and all
threads) divided by the compulsory traffic of one step: every prognostic 3-D field read and
written once (u, v, T, S and the four AB2 tendencies: 16 × 8 B per cell) plus the static
3-D masks read once (3 × 8 B).  XLA's own count of bytes accessed by the compiled step
(``cost_analysis``) is printed too: the traffic the step actually makes, kernel by kernel.
The arithmetic roof: XLA's flop count of the step per cell (the bodies of the barotropic
substep loop and of the tridiagonal sweeps are counted once, not per trip: an undercount of
the 2-D and column work) against one core's float64 peak, measured as a jitted matrix
product and as a fused in-cache multiply–add loop (the rate XLA's elementwise code reaches).

Scaling: step time of ours at each of ``--sizes`` (degrees; 15 levels), with the process
pinned to one core (``os.sched_setaffinity`` before JAX starts: XLA's thread pool then has
one thread) and with all cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

CELL_BYTES_COMPULSORY = (16 + 3) * 8  # 8 prognostic 3-D f64 fields in + out, 3 masks in


# -- our model ---------------------------------------------------------------------------------
def ours_child(deg: float, steps: int, repeat: int) -> dict:
    import jax

    from benchmarks.basin_gradient import z_faces_to_2080
    from pyclimaocean.models.basin.setups import acc_sector

    model = acc_sector(dlon=deg, dlat=deg, dt=3600.0, z_faces=z_faces_to_2080(15))

    def run(s):
        return jax.lax.scan(lambda c, _: (model.step(c), None), s, None, length=steps)[0]

    run = jax.jit(run)
    state = model.initial_state()
    t0 = time.perf_counter()
    out = jax.block_until_ready(run(state))
    compile_s = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = jax.block_until_ready(run(out))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    step_compiled = jax.jit(lambda s: model.step(s)).lower(state).compile()
    cost = step_compiled.cost_analysis()
    if isinstance(cost, list):  # older JAX: one dict per computation
        cost = cost[0] if cost else {}
    cost = cost or {}
    nz, ny, nx = model.grid.shape
    return {"shape": [nz, ny, nx], "cells": nz * ny * nx, "n_substeps": model.n_substeps,
            "step_s": float(np.min(times)) / steps, "step_cpu_s": float(np.min(cpu)) / steps,
            "compile_s": compile_s,
            "bytes_accessed": float(cost.get("bytes accessed", float("nan"))),
            "flops": float(cost.get("flops", float("nan"))),
            "finite": bool(np.isfinite(np.asarray(out.u)).all()),
            "max_speed": float(np.max(np.abs(np.asarray(out.u))))}


# -- Veros -------------------------------------------------------------------------------------
def veros_child(backend: str, deg: float, physics: str, steps: int, warmup: int) -> dict:
    """Time Veros' acc setup (``physics``: ``"acc"`` as shipped, ``"stage1"`` reduced to
    ours) on the ``deg``-degree grid with 15 levels; runs in its own process."""
    os.environ["VEROS_BACKEND"] = backend
    os.environ.setdefault("VEROS_DISKLESS_MODE", "1")
    os.environ.setdefault("VEROS_LOGLEVEL", "warning")
    # the deprecated Cython TDMA custom call is not supported by current XLA:CPU
    os.environ.setdefault("VEROS_USE_SPECIAL_TDMA", "0")
    import veros
    from veros import veros_routine
    from veros.core.operators import at, update
    from veros.core.operators import numpy as npx
    from veros.setups.acc.acc import ACCSetup

    from benchmarks.basin_gradient import z_faces_to_2080

    nx, ny = int(round(60 / deg)), int(round(84 / deg))
    dz = np.diff(z_faces_to_2080(15))  # bottom to top, as Veros' dzt

    class Setup(ACCSetup):
        @veros_routine
        def set_grid(self, state):
            vs = state.variables
            vs.dxt = update(vs.dxt, at[...], deg)
            vs.dyt = update(vs.dyt, at[...], deg)
            vs.dzt = update(vs.dzt, at[...], npx.asarray(dz))

        @veros_routine
        def set_topography(self, state):
            vs = state.variables
            x, y = npx.meshgrid(vs.xt, vs.yt, indexing="ij")
            # land: the first T column north of 20°S (as acc at 2°, x_t = 1°)
            vs.kbot = npx.logical_or(x > deg / 2 + 1e-6, y < -20).astype("int")

    override = dict(nx=nx, ny=ny, nz=15, dt_mom=3600.0, dt_tracer=3600.0)
    if physics == "stage1":
        override.update(enable_tke=False, enable_eke=False, enable_idemix=False,
                        enable_neutral_diffusion=False, enable_skew_diffusion=False,
                        enable_hor_diffusion=True, K_h=1000.0, kappaM_0=1e-3,
                        kappaH_0=2e-5, eq_of_state_type=1)
    sim = Setup(override=override)
    sim.setup()
    state = sim.state
    for d in state.diagnostics.values():
        d.output_frequency = 1e30
        if hasattr(d, "sampling_frequency"):
            d.sampling_frequency = 1e30
    t_warm = time.perf_counter()
    for _ in range(warmup):
        sim.step(state)
    t_warm = time.perf_counter() - t_warm
    main, cpu = [], []
    t0 = time.perf_counter()
    for _ in range(steps):
        c0 = time.process_time()
        sim.step(state)
        cpu.append(time.process_time() - c0)
        main.append(state.timers["main"].last_time)
    wall = (time.perf_counter() - t0) / steps
    u = np.asarray(state.variables.u)
    return {"version": veros.__version__, "backend": backend, "physics": physics,
            "shape": [15, ny, nx], "cells": 15 * ny * nx, "step_s": float(np.median(main)),
            "step_min_s": float(np.min(main)), "wall_step_s": wall, "warmup_s": t_warm,
            "step_cpu_s": float(np.min(cpu)),
            "finite": bool(np.isfinite(u).all()), "max_speed": float(np.max(np.abs(u)))}


# -- memory bandwidth --------------------------------------------------------------------------
def bandwidth(n_bytes: int = 2**28, repeat: int = 5) -> dict:
    """Streaming bandwidth (GB/s, 1e9 B/s) of a NumPy copy (``b[:] = a``: 2 × n bytes) and
    triad (``a = b + s c``: 3 × n bytes), with one thread and with one thread per core
    (NumPy releases the GIL in these loops), best of ``repeat``."""
    n = n_bytes // 8
    a, b, c = (np.full(n, x) for x in (1.0, 2.0, 3.0))
    ncore = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    def copy(lo, hi):
        np.copyto(b[lo:hi], a[lo:hi])

    def triad(lo, hi):
        np.multiply(c[lo:hi], 3.0, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    def run(kernel, threads):
        edges = np.linspace(0, n, threads + 1).astype(int)
        best = np.inf
        for _ in range(repeat):
            workers = [threading.Thread(target=kernel, args=(edges[i], edges[i + 1]))
                       for i in range(threads)]
            t0 = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            best = min(best, time.perf_counter() - t0)
        return best

    out = {}
    # copy moves 2n·8 B; this triad (two passes: a = 3c; a += b) moves 5n·8 B
    for label, kernel, moved in (("copy", copy, 2), ("triad", triad, 5)):
        for threads in sorted({1, ncore}):
            out[f"{label}_{threads}"] = moved * n * 8 / run(kernel, threads) / 1e9
    out["cores"] = ncore
    return out


# -- arithmetic peak --------------------------------------------------------------------------
def compute_peak(n: int = 1024, repeat: int = 5) -> dict:
    """Float64 arithmetic peak of one core (GFLOP/s, 1e9 flop/s): a jitted ``n × n`` matrix
    product (``2 n³`` flops, XLA's own dot kernel, the best a float64 kernel reaches here) and
    an in-cache elementwise multiply–add loop (2 flops per element and iteration on a 4096-
    element vector: the rate of XLA's fused elementwise code, which is what a stencil step
    runs).  Call it in a process pinned to one core (XLA then uses one thread)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    a = jnp.ones((n, n)) / n
    matmul = jax.jit(lambda a, b: a @ b)
    matmul(a, a).block_until_ready()
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        matmul(a, a).block_until_ready()
        best = min(best, time.process_time() - t0)
    n_vec, n_iter = 4096, 20000
    fma = jax.jit(lambda x: jax.lax.fori_loop(0, n_iter, lambda i, x: x * 1.0000001 + 1e-9, x))
    x = jnp.linspace(0.0, 1.0, n_vec)
    fma(x).block_until_ready()
    best_fma = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fma(x).block_until_ready()
        best_fma = min(best_fma, time.process_time() - t0)
    return {"matmul_gflops": 2 * n**3 / best / 1e9,
            "elementwise_gflops": 2 * n_vec * n_iter / best_fma / 1e9}


def _one_rate(r: dict) -> float:
    """XLA-counted bytes per second of a one-core run (B/s)."""
    return r["bytes_accessed"] / min(r["step_s"], r["step_cpu_s"])


def _run(args: list[str], one_core: bool = False, env_extra: dict | None = None) -> dict:
    env = dict(os.environ)
    if one_core:
        env["PYCLIMAOCEAN_BENCH_ONE_CORE"] = "1"
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-m", "benchmarks.basin_throughput", *args],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit status {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,2,1,0.5", help="grid spacings (degrees), ours")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--veros-sizes", default="2,1", help="Veros NumPy grid spacings")
    parser.add_argument("--veros-jax-sizes", default="2", help="Veros JAX grid spacings")
    parser.add_argument("--veros-steps", type=int, default=10)
    parser.add_argument("--veros-warmup", type=int, default=6,
                        help="steps before timing (the JAX backend compiles 3 variants)")
    parser.add_argument("--skip-veros", action="store_true")
    parser.add_argument("--ours-child", type=float, metavar="DEG")
    parser.add_argument("--veros-child", nargs=3, metavar=("BACKEND", "DEG", "PHYSICS"))
    parser.add_argument("--bandwidth-child", action="store_true")
    parser.add_argument("--peak-child", action="store_true")
    args = parser.parse_args(argv)
    if os.environ.get("PYCLIMAOCEAN_BENCH_ONE_CORE") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts
    if args.ours_child is not None:
        import pyclimaocean  # noqa: F401  (x64)

        return print(json.dumps(ours_child(args.ours_child, args.steps, args.repeat)))
    if args.veros_child:
        backend, deg, physics = args.veros_child
        if backend == "jax":
            import jax

            jax.config.update("jax_enable_x64", True)
        return print(json.dumps(veros_child(backend, float(deg), physics, args.veros_steps,
                                            args.veros_warmup)))
    if args.bandwidth_child:
        return print(json.dumps(bandwidth()))
    if args.peak_child:
        return print(json.dumps(compute_peak()))

    import platform

    ncore = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}, {ncore} cores, "
          f"load average {os.getloadavg()[0]:.1f} (1 min)")
    bw = _run(["--bandwidth-child"])
    print("\nstreaming bandwidth (GB/s): " + ", ".join(
        f"{k.replace('_', ' ')} thread(s) {v:.1f}" for k, v in bw.items() if k != "cores"))
    bw_best = max(v for k, v in bw.items() if k != "cores")
    bw_one = max(v for k, v in bw.items() if k.endswith("_1"))
    peak = _run(["--peak-child"], one_core=True)
    print("float64 arithmetic peak of one core (GFLOP/s): matrix product "
          f"{peak['matmul_gflops']:.1f}, fused elementwise multiply-add "
          f"{peak['elementwise_gflops']:.1f}")

    sizes = [float(s) for s in args.sizes.split(",") if s]
    common = ["--steps", str(args.steps), "--repeat", str(args.repeat)]
    ours = {}
    print("\nours (acc_sector, 15 levels, dt = 3600 s): step time vs grid size")
    print(f"{'grid':>14s} {'cells':>8s} {'substeps':>8s} {'1 core (ms)':>12s} "
          f"{'all (ms)':>9s} {'speed-up':>8s} {'Mcell-steps/s':>14s} {'XLA B/cell-step':>15s}"
          f" {'roofline %':>10s}")
    for deg in sizes:
        one = _run(["--ours-child", str(deg), *common], one_core=True)
        allc = _run(["--ours-child", str(deg), *common])
        ours[deg] = {"one": one, "all": allc}
        if "error" in one or "error" in allc:
            print(f"{deg:g}°: {one.get('error') or allc.get('error')}")
            continue
        nz, ny, nx = allc["shape"]
        t_one = min(one["step_s"], one["step_cpu_s"])
        rate = allc["cells"] / min(t_one, allc["step_s"])  # the faster of the two
        roof = bw_best * 1e9 / CELL_BYTES_COMPULSORY
        print(f"{f'{nx}x{ny}x{nz}':>14s} {allc['cells']:8d} {allc['n_substeps']:8d} "
              f"{t_one * 1e3:12.2f} {allc['step_s'] * 1e3:9.2f} "
              f"{t_one / allc['step_s']:8.2f} {rate / 1e6:14.2f} "
              f"{allc['bytes_accessed'] / allc['cells']:15.0f} {100 * rate / roof:10.2f}",
              flush=True)
    print(f"(roofline: {bw_best:.1f} GB/s / {CELL_BYTES_COMPULSORY} B per cell-step of "
          f"compulsory traffic = {bw_best * 1e9 / CELL_BYTES_COMPULSORY / 1e6:.0f} Mcell-steps/s;"
          " XLA B/cell-step: bytes accessed by the compiled step / cells, cache hits included;"
          " 1 core: the pinned process's CPU time per step, all: wall time; Mcell-steps/s and"
          " roofline %: the faster of the two)")
    for deg, r in ours.items():
        a = r["all"]
        if "error" not in a:
            achieved = a["bytes_accessed"] / a["step_s"] / 1e9
            print(f"  {deg:g}°: XLA-counted traffic {achieved:.1f} GB/s "
                  f"({100 * achieved / bw_best:.0f} % of the streaming bandwidth); "
                  + (f"one core: {_one_rate(r['one']) / 1e9:.1f} GB/s "
                     f"({100 * _one_rate(r['one']) / 1e9 / bw_one:.0f} % of one thread's)"
                     if "error" not in r["one"] else ""))
    print("arithmetic intensity and the two roofs (one core; XLA's flop count of the step):")
    for deg, r in ours.items():
        one = r["one"]
        if "error" in one:
            continue
        flops_cell = one["flops"] / one["cells"]
        intensity = flops_cell / CELL_BYTES_COMPULSORY
        bw_roof = bw_one * 1e9 / CELL_BYTES_COMPULSORY
        flop_roof = peak["matmul_gflops"] * 1e9 / flops_cell
        fused_roof = peak["elementwise_gflops"] * 1e9 / flops_cell
        rate = one["cells"] / min(one["step_s"], one["step_cpu_s"])
        print(f"  {deg:g}°: {flops_cell:.0f} flop per cell-step, {intensity:.2f} flop per "
              f"compulsory byte (ridge {peak['matmul_gflops'] / bw_one:.2f}); roofs "
              f"{bw_roof / 1e6:.0f} (bandwidth), {flop_roof / 1e6:.0f} (arithmetic, matrix-"
              f"product peak) and {fused_roof / 1e6:.0f} (fused elementwise rate) "
              f"Mcell-steps/s; reached {rate / 1e6:.2f} = "
              f"{100 * rate / min(bw_roof, flop_roof):.1f} % of the lower of the first two, "
              f"{100 * rate / fused_roof:.0f} % of the third; {rate * flops_cell / 1e9:.2f} "
              "GFLOP/s")

    if args.skip_veros:
        return
    print("\nVeros vs ours, same grid, levels and time step, every process pinned to one core "
          "(time per step: the process's CPU time, minimum over the timed steps; Veros: its "
          "step including forcing and the sanity check, without output)")
    print(f"{'grid':>10s} {'model':60s} {'step (ms)':>10s} {'Mcell-steps/s':>14s} "
          f"{'ours faster by':>15s}")
    runs = [("numpy", float(d)) for d in args.veros_sizes.split(",") if d]
    runs += [("jax", float(d)) for d in args.veros_jax_sizes.split(",") if d]
    for deg in sorted({d for _, d in runs}, reverse=True):
        mine = ours.get(deg, {}).get("one") or _run(["--ours-child", str(deg), *common],
                                                     one_core=True)
        label = f"{int(round(60 / deg))}x{int(round(84 / deg))}x15"
        t_mine = min(mine["step_s"], mine["step_cpu_s"]) if "error" not in mine else np.nan
        if "error" not in mine:
            print(f"{label:>10s} {'ours (stage 1)':60s} {t_mine * 1e3:10.2f} "
                  f"{mine['cells'] / t_mine / 1e6:14.2f} {'':>15s}")
        for backend, d in runs:
            if d != deg:
                continue
            for physics, desc in (("stage1", "reduced to our physics"),
                                  ("acc", "acc as shipped (TKE, EKE, GM, isoneutral)")):
                r = _run(["--veros-child", backend, str(deg), physics,
                          "--veros-steps", str(args.veros_steps),
                          "--veros-warmup", str(args.veros_warmup)], one_core=True)
                name = f"Veros {r.get('version', '')} {backend}, {desc}"
                if "error" in r:
                    print(f"{label:>10s} {name:60s} failed: {r['error']}")
                    continue
                t = min(r["step_cpu_s"], r["step_min_s"])
                print(f"{label:>10s} {name:60s} {t * 1e3:10.2f} {r['cells'] / t / 1e6:14.2f} "
                      f"{t / t_mine:14.1f}x" + ("" if r["finite"] else "  (not finite)"),
                      flush=True)


if __name__ == "__main__":
    main()
