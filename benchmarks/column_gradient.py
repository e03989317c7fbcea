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

Timings are medians of ``--repeat`` runs after compilation, on whatever device JAX uses.
"""

from __future__ import annotations

import argparse
import json
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


def memory_child(kind: str, nz: int, steps: int) -> None:
    """Run one configuration in this (fresh) process; print JSON with memory figures."""
    import resource

    import jax

    checkpoint = "sqrt" if kind == "grad_sqrt" else None
    forward, gradient, v = build(nz, steps, checkpoint)
    fn = forward if kind == "forward" else gradient
    compiled = fn.lower(v).compile()
    analysis = compiled.memory_analysis()
    xla = None
    if analysis is not None:
        xla = int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                  + analysis.temp_size_in_bytes)
    del resource
    base = _rss_kib("VmRSS")
    _reset_peak_rss()  # compilation has its own (larger) peak: measure the run alone
    jax.block_until_ready(compiled(v))
    peak = _rss_kib("VmHWM")
    print(json.dumps({"xla_bytes": xla, "rss_increase_kib": peak - base, "rss_peak_kib": peak}))


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


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
    parser.add_argument("--memory-child", choices=["forward", "grad_sqrt", "grad_none"])
    args = parser.parse_args(argv)
    if args.memory_child:
        return memory_child(args.memory_child, args.nz, args.steps)

    import jax

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"nz = {args.nz}, steps = {args.steps}, 29 closure parameters")
    rows = []
    for label, checkpoint, batch in (
        ("single case, sqrt(T) checkpoints", "sqrt", 0),
        ("single case, no checkpointing", None, 0),
        ("16 cases (vmap), sqrt(T) checkpoints", "sqrt", 16),
        ("128 cases (vmap), sqrt(T) checkpoints", "sqrt", 128),
    ):
        forward, gradient, v = build(args.nz, args.steps, checkpoint, batch)
        tf = timed(forward, v, args.repeat)
        tg = timed(gradient, v, args.repeat)
        rows.append((label, tf, tg, tg / tf))
    print(f"\n{'configuration':40s} {'forward (s)':>12s} {'gradient (s)':>13s} {'ratio':>7s}")
    for label, tf, tg, r in rows:
        print(f"{label:40s} {tf:12.3f} {tg:13.3f} {r:7.2f}")

    mem = {}
    for kind in ("forward", "grad_sqrt", "grad_none"):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.column_gradient", "--memory-child", kind,
             "--steps", str(args.steps), "--nz", str(args.nz)],
            capture_output=True, text=True, check=True,
        )
        mem[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{'memory (run only)':28s} {'XLA buffers (MiB)':>18s} {'peak RSS (MiB)':>15s} {'RSS increase (MiB)':>19s}")
    for kind, label in (("forward", "forward"), ("grad_sqrt", "gradient, sqrt(T) checkpoints"),
                        ("grad_none", "gradient, no checkpointing")):
        m = mem[kind]
        xla = "n/a" if m["xla_bytes"] is None else f"{m['xla_bytes'] / 2**20:.2f}"
        print(f"{label:28s} {xla:>18s} {m['rss_peak_kib'] / 1024:15.1f} "
              f"{m['rss_increase_kib'] / 1024:19.1f}")
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
