"""Cost of the adjoint of the single-column model (not a test).

    python -m benchmarks.column_gradient [--steps 10000] [--nz 64] [--repeat 3]

Prints, for a CATKE-like column run of ``--steps`` steps:

* forward time and gradient time (``jax.value_and_grad`` of a profile misfit w.r.t. all 29
  closure parameters) and their ratio (target ≤ 3);
* the same for batches of 16 and 128 forcing cases under ``vmap`` (per-kernel overhead of the
  many small operations of a 64-level column is amortised over the batch);
* memory of the compiled forward and of the gradient with √T segment checkpointing and without
  checkpointing: XLA's own buffer accounting (``compiled.memory_analysis()``: arguments +
  outputs + temporaries) and the peak resident memory of a fresh process running each
  (target: checkpointed gradient ≤ 2× forward).

Each configuration is timed in a fresh process (median of ``--repeat`` runs after
compilation).  On a CPU the XLA runtime may run independent small kernels on several threads;
for a 64-level column that costs more in synchronisation than it gains, and its speed varies
from one compilation to the next.  The single-column rows are therefore measured twice: with
all cores, and with the process restricted to one core (``os.sched_setaffinity`` before JAX
starts, which makes XLA's thread pool one thread).  Run several small columns as separate
one-core processes (e.g. Dask workers with one thread each) rather than one multi-threaded one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def build(nz: int, steps: int, checkpoint: str | None, batch: int = 0):
    import jax
    import jax.numpy as jnp

    import pyclimaocean  # noqa: F401  (enables x64)
    from pyclimaocean.closures.catke import CATKELike
    from pyclimaocean.fluxes.surface import SurfaceForcing
    from pyclimaocean.grids.column import ColumnGrid
    from pyclimaocean.models.column import ColumnModel, InitialConditions

    model = ColumnModel(
        grid=ColumnGrid(nz=nz, depth=128.0),
        closure=CATKELike(),
        forcing=SurfaceForcing(heat_flux=-50.0, wind_stress_x=0.05),
        initial_conditions=InitialConditions(temperature_gradient=0.01, mixed_layer_depth=10.0),
        coriolis_parameter=1e-4,
        dt=60.0,
    )
    params = model.default_parameters()
    ckpt = "auto" if checkpoint == "sqrt" else None

    def run(vec, heat_flux):
        m = params.with_values(vec).apply(model)
        m = jax.tree_util.tree_map(lambda x: x, m)
        import equinox as eqx

        m = eqx.tree_at(lambda q: q.forcing.heat_flux, m, heat_flux)
        final, _ = m.run(None, steps, checkpoint_every=ckpt)
        return final

    def misfit(vec, heat_flux):
        final = run(vec, heat_flux)
        return jnp.mean((final.temperature - 19.0) ** 2) + jnp.mean(final.u**2)

    v = params.vector()
    if batch:
        fluxes = jnp.linspace(-100.0, 0.0, batch)
        forward = jax.jit(lambda v: jnp.sum(jax.vmap(lambda q: misfit(v, q))(fluxes)))
    else:
        forward = jax.jit(lambda v: misfit(v, -50.0))
    gradient = jax.jit(jax.value_and_grad(forward))
    return forward, gradient, v


def timed(fn, arg, repeat):
    import jax

    jax.block_until_ready(fn(arg))  # compile
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def timing_child(checkpoint: str, batch: int, nz: int, steps: int, repeat: int) -> None:
    """Time one configuration in this (fresh) process; print JSON."""
    forward, gradient, v = build(nz, steps, None if checkpoint == "none" else checkpoint, batch)
    tf = timed(forward, v, repeat)
    tg = timed(gradient, v, repeat)
    print(json.dumps({"forward": tf, "gradient": tg}))


def _child(args: list[str], one_core: bool = False) -> dict:
    env = dict(os.environ)
    if one_core:
        env["PYCLIMAOCEAN_BENCH_ONE_CORE"] = "1"
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.column_gradient", *args],
        capture_output=True, text=True, check=True, env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_child(kind: str, nz: int, steps: int) -> None:
    """Run one configuration in this (fresh) process; print JSON with memory figures."""
    import jax

    forward, gradient, v = build(nz, steps, "sqrt" if kind == "grad_sqrt" else None)
    fn = forward if kind == "forward" else gradient
    compiled = fn.lower(v).compile()
    xla = xla_buffer_bytes(compiled)
    compiled_rss = _rss_kib("VmRSS")
    _release_free_heap()  # give the compiler's freed memory back (same for every kind)
    base = _rss_kib("VmRSS")
    _reset_peak_rss()  # compilation has its own (larger) peak: measure the run alone
    jax.block_until_ready(compiled(v))
    peak = _rss_kib("VmHWM")
    print(json.dumps({"xla_bytes": xla, "rss_increase_kib": peak - base, "rss_peak_kib": peak,
                      "rss_after_compile_kib": compiled_rss}))


def xla_buffer_bytes(compiled) -> int | None:
    """XLA's buffer accounting of a compiled function: arguments + outputs + temporaries
    (bytes), or ``None`` where the backend gives no memory analysis."""
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
               + analysis.temp_size_in_bytes)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _release_free_heap() -> None:
    """``malloc_trim(0)`` (glibc): return freed heap pages, mostly the compiler's, to the OS."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS counter (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--nz", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-batches", action="store_true",
                        help="skip the 16- and 128-case rows (the 128-case row takes minutes)")
    parser.add_argument("--memory-child", choices=["forward", "grad_sqrt", "grad_none"])
    parser.add_argument("--timing-child", nargs=2, metavar=("CHECKPOINT", "BATCH"))
    args = parser.parse_args(argv)
    if os.environ.get("PYCLIMAOCEAN_BENCH_ONE_CORE") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts
    if args.memory_child:
        return memory_child(args.memory_child, args.nz, args.steps)
    if args.timing_child:
        checkpoint, batch = args.timing_child
        return timing_child(checkpoint, int(batch), args.nz, args.steps, args.repeat)

    import jax

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}, "
          f"{os.cpu_count()} cores), nz = {args.nz}, steps = {args.steps}, "
          "29 closure parameters")
    configs = [
        ("single case, sqrt(T) checkpoints, one core", "sqrt", 0, True),
        ("single case, sqrt(T) checkpoints, all cores", "sqrt", 0, False),
        ("single case, no checkpointing, one core", "none", 0, True),
        ("single case, no checkpointing, all cores", "none", 0, False),
    ]
    if not args.no_batches:
        configs += [
            ("16 cases (vmap), sqrt(T), all cores", "sqrt", 16, False),
            ("128 cases (vmap), sqrt(T), all cores", "sqrt", 128, False),
        ]
    print(f"\n{'configuration':46s} {'forward (s)':>12s} {'gradient (s)':>13s} {'ratio':>7s}")
    for label, checkpoint, batch, one_core in configs:
        t = _child(["--timing-child", checkpoint, str(batch), "--nz", str(args.nz),
                    "--steps", str(args.steps), "--repeat", str(args.repeat)], one_core)
        tf, tg = t["forward"], t["gradient"]
        print(f"{label:46s} {tf:12.3f} {tg:13.3f} {tg / tf:7.2f}", flush=True)

    mem = {}
    for kind in ("forward", "grad_sqrt", "grad_none"):
        mem[kind] = _child(["--memory-child", kind, "--steps", str(args.steps),
                            "--nz", str(args.nz)])
    print(f"\n{'memory':30s} {'XLA buffers':>12s} {'RSS after':>10s} {'peak RSS':>9s} "
          f"{'RSS increase':>13s}")
    print(f"{'(MiB)':30s} {'of the run':>12s} {'compiling':>10s} {'of the run':>9s} "
          f"{'during run':>13s}")
    for kind, label in (("forward", "forward"), ("grad_sqrt", "gradient, sqrt(T) checkpoints"),
                        ("grad_none", "gradient, no checkpointing")):
        m = mem[kind]
        xla = "n/a" if m["xla_bytes"] is None else f"{m['xla_bytes'] / 2**20:.2f}"
        print(f"{label:30s} {xla:>12s} {m['rss_after_compile_kib'] / 1024:10.1f} "
              f"{m['rss_peak_kib'] / 1024:9.1f} {m['rss_increase_kib'] / 1024:13.1f}")
    print("(peak RSS of the run: measured after compilation, once the compiler's freed heap is "
          "returned to the OS)")
    f = mem["forward"]["rss_peak_kib"]
    print(f"\npeak-RSS ratio to forward: checkpointed {mem['grad_sqrt']['rss_peak_kib'] / f:.2f}, "
          f"no checkpointing {mem['grad_none']['rss_peak_kib'] / f:.2f}")
    if mem["forward"]["xla_bytes"]:
        f = mem["forward"]["xla_bytes"]
        print(f"XLA-buffer ratio to forward: checkpointed {mem['grad_sqrt']['xla_bytes'] / f:.0f}, "
              f"no checkpointing {mem['grad_none']['xla_bytes'] / f:.0f} (the forward keeps only "
              "the state)")


if __name__ == "__main__":
    main()
