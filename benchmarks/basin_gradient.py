"""Cost of the adjoint of the 3-D basin model (not a test).

    python -m benchmarks.basin_gradient [--size full|small] [--steps 1000] [--repeat 3]
                                        [--policies names,saveable] [--levels 2,3]
                                        [--adjoints autodiff,hand]
                                        [--no-memory] [--no-breakdown]

Prints, for a ``--steps``-step run of the acc-like sector (:func:`acc_sector`):

* forward time and gradient time (``jax.value_and_grad`` of a misfit of the final state
  w.r.t. the model's 9 parameters: viscosities, diffusivities, drag, wind and restoring) and
  their ratio (target ≤ 3), with √T segment checkpointing (:func:`pyclimaocean.integrate`),
  for each step checkpoint policy of ``--policies``:

  - ``names``: the default of :func:`pyclimaocean.integrate` — a checkpointed step keeps only
    the values tagged ``"tridiagonal_solution"`` and recomputes the rest of the step next to
    its adjoint;
  - ``saveable``: a step keeps every residual (no recomputation inside a step; the segment
    still recomputes its steps once);
  - ``none``: no checkpointing at all (stores every step; only feasible for short runs).

  and for each number of checkpoint levels of ``--levels`` (``integrate(checkpoint_levels=n)``:
  2 = √T segments, the default; 3 = segments of ≈T^(2/3) steps split into sub-segments of
  ≈T^(1/3): fewer stored states for one more recomputation sweep);

  and for each ``--adjoints`` entry (``BasinModel(adjoint=...)``: ``autodiff``, JAX's
  transposition of the momentum tendency, the default; ``hand``, its hand-written adjoint,
  :mod:`pyclimaocean.models.basin.adjoint`), all adjoints of one (policy, levels) variant
  compiled in the same process and timed interleaved;

* the breakdown of the gradient into forward pass, recomputation and reverse sweep: the
  ``jax.vjp`` forward (with residuals) and the pullback of the whole run timed separately, and
  per step the forward, the checkpointed step's ``jax.vjp`` forward (what the reverse sweep
  recomputes per step of a segment) and its pullback (the step's own recomputation plus its
  transposition), next to the pullback of an un-checkpointed step (transposition alone);
* memory of the compiled forward and gradient: XLA's buffer accounting
  (``compiled.memory_analysis()``: arguments + outputs + temporaries) and the peak resident
  memory of a fresh process running each (target: gradient ≤ 2× forward).

Sizes: ``full`` is a 1° sector, 60 × 84 × 20 = 100 800 cells (0–60°E, 40°S–44°N, 20 levels to
2080 m), dt = 3600 s; ``small`` is Veros' 2° acc grid, 30 × 42 × 15 = 18 900 cells, for quick
runs.  Each configuration runs in a fresh process; times are the minimum of ``--repeat`` runs
after compilation (the minimum, not the median, because the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.column_gradient import (
    _release_free_heap,
    _reset_peak_rss,
    _rss_kib,
    xla_buffer_bytes,
)

SIZES = {
    # name: (degrees, number of levels, dt in s)
    "full": (1.0, 20, 3600.0),
    "small": (2.0, 15, 3600.0),
}
POLICIES = ("names", "saveable", "none")


def z_faces_to_2080(nz: int) -> np.ndarray:
    """``nz + 1`` level faces from −2080 m to 0, stretched toward the surface like Veros' acc
    levels (quadratic in depth: top cell ≈ 2080·0.19/nz m, as 20 m for 15–20 levels)."""
    if nz == 15:
        from pyclimaocean.models.basin.setups import VEROS_ACC_DZ

        return np.concatenate([[0.0], -np.cumsum(VEROS_ACC_DZ)])[::-1]
    s = np.linspace(0.0, 1.0, nz + 1)
    a = 0.19 * 15 / nz
    depth = 2080.0 * (a * s + (1 - a) * s**2)
    return -depth[::-1]


def build_model(size: str, adjoint: str = "autodiff"):
    """The benchmark's :class:`BasinModel` for ``size`` (``"full"``, ``"small"`` or
    ``"DEGxNZ"``, e.g. ``"1.5x20"``) with the momentum tendency's ``adjoint``."""
    import pyclimaocean  # noqa: F401  (enables x64)
    from pyclimaocean.models.basin.setups import acc_sector

    if size in SIZES:
        deg, nz, dt = SIZES[size]
    else:
        d, n = size.split("x")
        deg, nz, dt = float(d), int(n), 3600.0
    return acc_sector(dlon=deg, dlat=deg, dt=dt, z_faces=z_faces_to_2080(nz), adjoint=adjoint)


def _policy(name: str):
    import jax

    return {"names": None, "saveable": jax.checkpoint_policies.everything_saveable}[name]


def build(size: str, steps: int, policy: str, levels: int = 2, adjoint: str = "autodiff"):
    """``(model, forward, gradient, vjp_forward, pullback, v)``: jitted functions of the
    parameter vector ``v`` (``levels``: ``integrate``'s ``checkpoint_levels``)."""
    import jax
    import jax.numpy as jnp

    from pyclimaocean.integrate import STEP_POLICY, integrate

    model = build_model(size, adjoint)
    params = model.parameters()
    g = model.grid
    wet = g.maskT
    n_wet = jnp.sum(wet)
    t_ref = model.initial_temperature

    def loss(vec):
        m = params.with_values(vec).apply(model)
        if policy == "none":
            ckpt, step_policy, n_levels = None, STEP_POLICY, None
        else:
            ckpt, n_levels = "auto", levels
            step_policy = _policy(policy) or STEP_POLICY
        final, _ = integrate(lambda s: m.step(s), m.initial_state(), steps,
                             checkpoint_every=ckpt, step_policy=step_policy,
                             checkpoint_levels=n_levels)
        misfit_T = jnp.sum(((final.T - t_ref) * wet) ** 2) / n_wet
        ke = jnp.sum(final.u**2 + final.v**2) / n_wet
        return misfit_T + 1e2 * ke

    v = params.vector()
    forward = jax.jit(loss)
    gradient = jax.jit(jax.value_and_grad(loss))
    vjp_forward = jax.jit(lambda v: jax.vjp(loss, v))
    pullback = jax.jit(lambda pb: pb(jnp.ones(())))
    return model, forward, gradient, vjp_forward, pullback, v


def timed(fn, arg, repeat):
    """Minimum wall time (s) of ``repeat`` calls after a compiling call."""
    return timed_together([(fn, arg)], repeat)[0][0]


def timed_together(calls, repeat):
    """``[(wall, cpu), ...]``: minimum wall and process-CPU time (s) of each ``(fn, arg)``,
    the calls interleaved (``repeat`` rounds of one call each), so that a change of the
    machine's load affects all of them alike.  With the process pinned to one core the CPU
    time is the least disturbed by other processes."""
    import jax

    for fn, arg in calls:
        jax.block_until_ready(fn(arg))  # compile
    wall = [np.inf] * len(calls)
    cpu = [np.inf] * len(calls)
    for _ in range(repeat):
        for i, (fn, arg) in enumerate(calls):
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn(arg))
            wall[i] = min(wall[i], time.perf_counter() - t0)
            cpu[i] = min(cpu[i], time.process_time() - c0)
    return [(float(w), float(c)) for w, c in zip(wall, cpu, strict=True)]


def step_breakdown(model, repeat: int, policy: str) -> dict:
    """Per-step times (s): forward; checkpointed step's vjp forward and pullback; the
    un-checkpointed step's vjp forward and pullback."""
    return step_breakdowns([model], repeat, policy)[0]


def step_breakdowns(models, repeat: int, policy: str) -> list[dict]:
    """:func:`step_breakdown` of each of ``models``, all their calls timed interleaved."""
    import jax

    from pyclimaocean.integrate import STEP_POLICY

    calls, outs = [], []
    for model in models:
        state = model.initial_state()
        state = jax.jit(lambda s, model=model: jax.lax.scan(
            lambda c, _: (model.step(c), None), s, None, length=3)[0])(state)
        step = lambda s, model=model: model.step(s)  # noqa: E731
        ck = jax.checkpoint(step, policy=_policy(policy) or STEP_POLICY)
        cot = _ones_cotangent(state)
        calls.append((jax.jit(step), state))
        out = {}
        for name, f in (("checkpointed", ck), ("plain", step)):
            vf = jax.jit(lambda s, f=f: jax.vjp(f, s))
            _, pb = vf(state)
            calls += [(vf, state), (jax.jit(lambda pb, cot=cot: pb(cot)), pb)]
            out[f"{name}_residual_bytes"] = int(sum(x.size * x.dtype.itemsize
                                                    for x in jax.tree_util.tree_leaves(pb)))
        out["state_bytes"] = int(sum(x.size * x.dtype.itemsize
                                     for x in jax.tree_util.tree_leaves(state)))
        outs.append(out)
    times = timed_together(calls, repeat)
    keys = ["step", "checkpointed_vjp_forward", "checkpointed_pullback", "plain_vjp_forward",
            "plain_pullback"]
    for i, out in enumerate(outs):
        for k, (wall, cpu) in zip(keys, times[i * 5:(i + 1) * 5], strict=True):
            out[k], out[k + "_cpu"] = wall, cpu
    return outs


def _ones_cotangent(tree):
    """Cotangent pytree: ones on floating leaves, float0 zeros on integer ones."""
    import jax
    import jax.numpy as jnp

    def one(x):
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return jnp.ones_like(x)
        return np.zeros(x.shape, dtype=jax.dtypes.float0)

    return jax.tree_util.tree_map(one, tree)


def kernel_breakdown(model, repeat: int) -> dict:
    """Forward and pullback (transposition alone: no checkpointing) times (s) of the pieces
    of a step: the explicit tendencies (all; momentum alone; its horizontal viscosity) and
    the barotropic substeps."""
    import jax
    import jax.numpy as jnp

    from pyclimaocean.models.basin import kernels as K
    from pyclimaocean.models.basin.timestepping import barotropic_substeps

    g, mix = model.grid, model.mixing
    s = model.initial_state()
    s = jax.jit(lambda s: jax.lax.scan(lambda c, _: (model.step(c), None), s, None,
                                       length=3)[0])(s)
    dz = g.dz[:, None, None]
    GU, GV = jnp.sum(s.u * dz, axis=0) * 1e-6, jnp.sum(s.v * dz, axis=0) * 1e-6
    pieces = {
        "tendencies (u, v, T, S)": (lambda a: model.tendencies(*a), (s.u, s.v, s.T, s.S)),
        "momentum tendency": (lambda a: model.momentum_tendency(
            a[0], a[1], a[2], a[3], K.vertical_transport(g, a[0], a[1])),
            (s.u, s.v, s.T, s.S)),
        "horizontal viscosity": (lambda a: K.horizontal_viscosity(
            g, a[0], a[1], mix.horizontal_viscosity, mix.biharmonic_viscosity,
            mix.viscosity_cos_power), (s.u, s.v)),
        "barotropic substeps": (lambda a: barotropic_substeps(
            g, a[0], a[1], a[2], GU, GV, model.gravity, model.dt, model.n_substeps),
            (s.eta, s.U, s.V)),
        "whole step": (lambda a: model.step(a), s),
    }
    out = {}
    for name, (f, arg) in pieces.items():
        vf = jax.jit(lambda a, f=f: jax.vjp(f, a))
        y, pb = vf(arg)
        cot = _ones_cotangent(y)
        (fw, fwc), (bw, bwc) = timed_together(
            [(jax.jit(f), arg), (jax.jit(lambda pb, cot=cot: pb(cot)), pb)], repeat)
        out[name] = {"forward": fw, "pullback": bw, "forward_cpu": fwc, "pullback_cpu": bwc}
    return out


def timing_child(size: str, steps: int, repeat: int, policy: str, split: bool,
                 levels: int = 2, breakdown: bool = True,
                 adjoints: tuple[str, ...] = ("autodiff",)) -> None:
    """Time one configuration in this (fresh) process, for each of ``adjoints`` (all their
    calls interleaved); print JSON ``{adjoint: results}``."""
    built = {a: build(size, steps, policy, levels, a) for a in adjoints}
    calls, pbs = [], []
    for _, forward, gradient, vjp_forward, pullback, v in built.values():
        calls += [(forward, v), (gradient, v)]
        if split:
            pb = vjp_forward(v)[1]
            pbs.append(pb)
            calls += [(vjp_forward, v), (pullback, pb)]
    times = timed_together(calls, repeat)
    del pbs
    per = 4 if split else 2
    results = {}
    for i, (a, (model, _, gradient, _, _, v)) in enumerate(built.items()):
        t = times[i * per:(i + 1) * per]
        (tf, cf), (tg, cg) = t[0], t[1]
        tvf, tpb = (t[2][0], t[3][0]) if split else (float("nan"), float("nan"))
        value, grad = gradient(v)
        results[a] = {
            "forward": tf, "gradient": tg, "vjp_forward": tvf, "pullback": tpb,
            "forward_cpu": cf, "gradient_cpu": cg,
            "loss": float(value), "grad_finite": bool(np.all(np.isfinite(np.asarray(grad)))),
            "grad": [float(x) for x in np.asarray(grad)],
            "cells": int(np.prod(model.grid.shape)), "shape": list(model.grid.shape),
            "n_substeps": model.n_substeps}
    models = [b[0] for b in built.values()]
    # (the per-step pieces do not depend on the number of checkpoint levels)
    if breakdown and policy != "none" and levels == 2:
        for a, s in zip(adjoints, step_breakdowns(models, repeat, policy), strict=True):
            results[a]["per_step"] = s
    if breakdown and policy == "names" and levels == 2:
        for a, model in zip(adjoints, models, strict=True):
            results[a]["kernels"] = kernel_breakdown(model, repeat)
    print(json.dumps(results))


def memory_child(kind: str, size: str, steps: int, policy: str, levels: int = 2,
                 adjoint: str = "autodiff") -> None:
    """Compile and run one configuration in this (fresh) process; print JSON with memory."""
    import jax

    _, forward, gradient, _, _, v = build(size, steps, policy, levels, adjoint)
    fn = forward if kind == "forward" else gradient
    compiled = fn.lower(v).compile()
    xla = xla_buffer_bytes(compiled)
    compiled_rss = _rss_kib("VmRSS")
    _release_free_heap()
    base = _rss_kib("VmRSS")
    _reset_peak_rss()
    jax.block_until_ready(compiled(v))
    peak = _rss_kib("VmHWM")
    print(json.dumps({"xla_bytes": xla, "rss_increase_kib": peak - base, "rss_peak_kib": peak,
                      "rss_base_kib": base, "rss_after_compile_kib": compiled_rss}))


def _child(args: list[str], one_core: bool = False) -> dict:
    env = dict(os.environ)
    if one_core:
        env["PYCLIMAOCEAN_BENCH_ONE_CORE"] = "1"
    out = subprocess.run([sys.executable, "-m", "benchmarks.basin_gradient", *args],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="full",
                        help="full (1°, 60×84×20), small (2°, 30×42×15) or DEGxNZ")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--policies", default="names,saveable",
                        help=f"comma-separated step checkpoint policies from {POLICIES}")
    parser.add_argument("--levels", default="2",
                        help="comma-separated checkpoint levels (integrate's checkpoint_levels)")
    parser.add_argument("--adjoints", default="autodiff",
                        help="comma-separated BasinModel adjoints (autodiff, hand), timed "
                             "interleaved in one process per variant")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory rows")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the per-step and per-kernel timings")
    parser.add_argument("--split", action="store_true",
                        help="also time the whole run's jax.vjp forward and pullback apart")
    parser.add_argument("--one-core", action="store_true",
                        help="restrict every child process to one core")
    parser.add_argument("--timing-child", choices=POLICIES)
    parser.add_argument("--memory-child", nargs=2, metavar=("KIND", "POLICY"))
    parser.add_argument("--checkpoint-levels", type=int, default=2)
    args = parser.parse_args(argv)
    if os.environ.get("PYCLIMAOCEAN_BENCH_ONE_CORE") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts
    if args.timing_child:
        return timing_child(args.size, args.steps, args.repeat, args.timing_child, args.split,
                            args.checkpoint_levels, not args.no_breakdown,
                            tuple(a for a in args.adjoints.split(",") if a))
    if args.memory_child:
        return memory_child(args.memory_child[0], args.size, args.steps, args.memory_child[1],
                            args.checkpoint_levels, args.adjoints.split(",")[0])

    import jax

    policies = [p for p in args.policies.split(",") if p]
    for p in policies:
        if p not in POLICIES:
            parser.error(f"unknown policy {p!r}; choose from {', '.join(POLICIES)}")
    adjoints = [a for a in args.adjoints.split(",") if a]
    for a in adjoints:
        if a not in ("autodiff", "hand"):
            parser.error(f"unknown adjoint {a!r}; choose from autodiff, hand")
    levels = [int(n) for n in args.levels.split(",") if n]
    if any(n < 2 for n in levels):
        parser.error("--levels: each number of checkpoint levels must be >= 2")
    # (policy, levels) variants; "none" has no checkpoints, so no levels
    variants = [(p, n) for p in policies for n in (levels if p != "none" else [2])]
    variants = list(dict.fromkeys(variants))
    common = ["--size", args.size, "--steps", str(args.steps)]
    model = build_model(args.size)
    nz, ny, nx = model.grid.shape
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}, "
          f"{os.cpu_count()} cores{', one core per run' if args.one_core else ''}); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"acc-like sector {nx} x {ny} x {nz} = {nx * ny * nz} cells, dt = {model.dt:g} s, "
          f"{model.n_substeps} barotropic substeps, {args.steps} steps, "
          f"{len(model.parameters())} parameters")

    if set(levels) != {2}:
        from pyclimaocean.integrate import default_checkpoint_lengths

        for n in levels:
            print(f"{n} checkpoint levels: nested segment lengths "
                  f"{default_checkpoint_lengths(args.steps, levels=n)}")

    results = {}
    print(f"\n{'step checkpoint policy':24s} {'forward (s)':>12s} {'gradient (s)':>13s} "
          f"{'ratio':>7s} {'CPU-time ratio':>15s} {'vjp fwd (s)':>12s} {'pullback (s)':>13s}")
    for p, n in variants:
        ts = _child(["--timing-child", p, "--repeat", str(args.repeat), *common,
                     "--checkpoint-levels", str(n), "--adjoints", ",".join(adjoints),
                     *(["--split"] if args.split else []),
                     *(["--no-breakdown"] if args.no_breakdown else [])], args.one_core)
        for a, t in ts.items():
            label = _label(p, n, a)
            results[label] = t
            print(f"{label:24s} {t['forward']:12.3f} {t['gradient']:13.3f} "
                  f"{t['gradient'] / t['forward']:7.2f} "
                  f"{t['gradient_cpu'] / t['forward_cpu']:15.2f} {t['vjp_forward']:12.3f} "
                  f"{t['pullback']:13.3f}", flush=True)
            if not t["grad_finite"]:
                print("  (gradient not finite)")
    print("(times: minimum over --repeat interleaved calls; CPU time: of the whole process)")
    first = next(iter(results.values()))
    for p, t in results.items():
        diff = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(t["grad"], first["grad"],
                                                                    strict=True))
        print(f"  {p}: loss {t['loss']:.15e}, gradient max relative difference to "
              f"{next(iter(results))!r} {diff:.1e}")

    for p, t in results.items():
        s = t.get("per_step")
        if not s:
            continue
        print(f"\nper step, policy {p!r}: {'wall (ms)':>9s} {'x fwd':>6s} {'CPU x fwd':>9s}")
        rows = [("forward step", "step"),
                ("checkpointed step: vjp forward (= recompute in the sweep)",
                 "checkpointed_vjp_forward"),
                ("checkpointed step: pullback (own recompute + transpose)",
                 "checkpointed_pullback"),
                ("plain step: vjp forward (all residuals)", "plain_vjp_forward"),
                ("plain step: pullback (transpose alone)", "plain_pullback")]
        for label, k in rows:
            print(f"  {label:60s} {s[k] * 1e3:9.2f} {s[k] / s['step']:6.2f} "
                  f"{s[k + '_cpu'] / s['step_cpu']:9.2f}")
        model_ratio = sum(s[k + "_cpu"] for k in ("step", "checkpointed_vjp_forward",
                                                   "checkpointed_pullback")) / s["step_cpu"]
        print(f"  {'model (CPU): forward + recompute + pullback':60s} {'':9s} {'':6s} "
              f"{model_ratio:9.2f}")
        print(f"  residuals per step (MiB): checkpointed "
              f"{s['checkpointed_residual_bytes'] / 2**20:.2f}, plain "
              f"{s['plain_residual_bytes'] / 2**20:.2f}; state "
              f"{s['state_bytes'] / 2**20:.2f}")
    for label, t in results.items():
        kern = t.get("kernels")
        if not kern:
            continue
        print(f"\npieces of a step, {label!r} (CPU ms): {'forward':>9s} {'pullback':>9s} "
              f"{'ratio':>6s}")
        for name, k in kern.items():
            print(f"  {name:28s} {k['forward_cpu'] * 1e3:9.2f} "
                  f"{k['pullback_cpu'] * 1e3:9.2f} {k['pullback_cpu'] / k['forward_cpu']:6.2f}")

    if args.no_memory:
        return
    mem = {"forward": _child(["--memory-child", "forward", policies[0], *common])}
    for p, n in variants:
        for a in adjoints:
            mem[_label(p, n, a)] = _child(["--memory-child", "gradient", p, *common,
                                           "--checkpoint-levels", str(n), "--adjoints", a])
    print(f"\n{'memory (MiB)':30s} {'XLA buffers':>12s} {'RSS after':>10s} {'peak RSS':>9s} "
          f"{'RSS increase':>13s}")
    for kind, m in mem.items():
        label = "forward" if kind == "forward" else f"gradient, policy {kind!r}"
        xla = "n/a" if m["xla_bytes"] is None else f"{m['xla_bytes'] / 2**20:.1f}"
        print(f"{label:30s} {xla:>12s} {m['rss_after_compile_kib'] / 1024:10.1f} "
              f"{m['rss_peak_kib'] / 1024:9.1f} {m['rss_increase_kib'] / 1024:13.1f}")
    f = mem["forward"]
    for p in (_label(p, n, a) for p, n in variants for a in adjoints):
        line = f"ratio to forward, policy {p!r}: peak RSS {mem[p]['rss_peak_kib'] / f['rss_peak_kib']:.2f}"
        if f["xla_bytes"] and mem[p]["xla_bytes"]:
            line += f", XLA buffers {mem[p]['xla_bytes'] / f['xla_bytes']:.1f}"
        print(line)


def _label(policy: str, levels: int, adjoint: str = "autodiff") -> str:
    label = policy if levels == 2 or policy == "none" else f"{policy}, {levels} levels"
    return label if adjoint == "autodiff" else f"{label}, {adjoint} adjoint"


if __name__ == "__main__":
    main()
