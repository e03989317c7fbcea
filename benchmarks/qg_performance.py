"""Two-layer QG model against pyqg-jax, side by side (not a test; issue 13, "Performance").

    python -m benchmarks.qg_performance throughput [--nx 64 256] [--repeat 5]
    python -m benchmarks.qg_performance gradient [--nx 128] [--steps 1000] [--repeat 3]
    python -m benchmarks.qg_performance spectrum [--nx 64] [--seeds 4] [--spinup-years 5]
                                                 [--years 5] [--figure PATH]

``pyqg-jax`` (Otness et al., PyPI ``pyqg-jax``, MIT) is a benchmark-only reference installed
with the ``bench`` extra (``pip install -e .[bench]``), never a runtime dependency.

* ``throughput``: forward time per step of :class:`~pyclimaocean.models.qg.TwoLayerQG` and of
  ``pyqg_jax.steppers.SteppedModel(pyqg_jax.qg_model.QGModel(...), AB3Stepper(dt))``, both in
  the "eddy" configuration (pyqg's ``QGModel`` defaults), float64 (``jax_enable_x64``,
  ``Precision.DOUBLE``), ``dt = 3600 s``, a jitted ``lax.scan`` of ``--steps`` steps from the
  same initial PV (pyqg-jax's random one), compilation excluded.  Each ``nx`` runs in one fresh
  process pinned to one core; the two models' runs are interleaved, and each time is the
  minimum over ``--repeat`` rounds.  The two final states are compared (relative max
  difference of ``q̂``): both integrate the same equations with the same AB3 scheme and filter.
* ``gradient``: ``jax.value_and_grad`` of the domain-mean KE (both layers) after ``--steps``
  steps w.r.t. the model's five physical parameters (``rek``, ``beta``, ``U1``, ``U2``,
  ``rd``), starting from a state spun up for 4000 steps, through
  :func:`pyclimaocean.integrate` with √T segment checkpointing, against the jitted forward of
  the same loss; the ratio of the minimum times, per variant of ``--policies`` (the model's
  hand-written step adjoint, JAX's differentiation of the step, ...), all variants' calls
  interleaved in one process;
  then the peak resident memory (and XLA's buffer accounting) of the forward and of the
  gradient, each in a fresh process.
* ``spectrum``: time-mean isotropic KE spectrum per layer of an ensemble of ``--seeds`` runs
  of each model (random initial PV of each model's own generator, different seeds), spun up
  for ``--spinup-years`` (360-day years) and averaged over the next ``--years`` (daily
  samples; one estimator, :func:`~pyclimaocean.models.qg.isotropic_ke_spectrum`, applied to
  each model's own streamfunction).  Agreement per isotropic wavenumber bin: our ensemble mean
  within the min–max (and within ±2 std) of pyqg-jax's seeds, and vice versa; a figure with
  both means and spreads (``--figure``) and the numbers (``--results``, JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.basin_gradient import timed_together
from benchmarks.column_gradient import (
    _release_free_heap,
    _reset_peak_rss,
    _rss_kib,
    xla_buffer_bytes,
)

DT = 3600.0  # s (Ross et al. 2023)
YEAR = 360 * 86400.0  # s
DEFAULT_FIGURE = Path("docs/figures/qg_spectrum_vs_pyqg_jax.png")
DEFAULT_RESULTS = Path("benchmarks/results/qg_spectrum_vs_pyqg_jax.json")
#: gradient variants: "autodiff" (JAX differentiates the step, the model's default, with
#: integrate's step policy), "hand" (the hand-written step adjoint, ``adjoint="hand"``),
#: "none_saved" (autodiff, and the step checkpoint keeps no grid fields)
POLICIES = ("autodiff", "hand", "none_saved")


def ours(nx: int, seed: int = 0, adjoint: str = "autodiff"):
    import pyclimaocean  # noqa: F401  (enables x64)
    from pyclimaocean.models.qg import TwoLayerQG

    # defaults = "eddy" (pyqg QGModel defaults)
    return TwoLayerQG(nx=nx, dt=DT, seed=seed, adjoint=adjoint)


def reference(nx: int):
    """pyqg-jax's ``QGModel`` (its defaults: the eddy configuration) with AB3 at ``DT``,
    float64."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import pyqg_jax

    model = pyqg_jax.qg_model.QGModel(nx=nx, precision=pyqg_jax.state.Precision.DOUBLE)
    return pyqg_jax.steppers.SteppedModel(model, pyqg_jax.steppers.AB3Stepper(dt=DT))


# -- throughput -------------------------------------------------------------------------------
def throughput_child(nx: int, steps: int, repeat: int) -> dict:
    import jax
    import jax.numpy as jnp

    model, ref = ours(nx), reference(nx)
    ref_state = ref.create_initial_state(jax.random.key(0))
    state = model.state_from_q(ref_state.state.q)

    def scan(step, s):
        return jax.lax.scan(lambda c, _: (step(c), None), s, None, length=steps)[0]

    run_ours = jax.jit(lambda s: scan(model.step, s))
    run_ref = jax.jit(lambda s: scan(ref.step_model, s))
    (w_o, c_o), (w_r, c_r) = timed_together([(run_ours, state), (run_ref, ref_state)], repeat)
    a, b = run_ours(state).qh, run_ref(ref_state).state.qh
    diff = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
    return {"nx": nx, "steps": steps, "ours": w_o / steps, "pyqg_jax": w_r / steps,
            "ours_cpu": c_o / steps, "pyqg_jax_cpu": c_r / steps, "final_qh_rel_diff": diff}


# -- gradient ---------------------------------------------------------------------------------
def build_gradient(nx: int, steps: int, policy: str):
    import jax
    import jax.numpy as jnp

    from pyclimaocean.integrate import integrate
    from pyclimaocean.models.qg import kinetic_energy

    model = ours(nx, adjoint="hand" if policy == "hand" else "autodiff")
    spun = jax.jit(lambda s: model.run(s, 4000, checkpoint_every=None)[0])(
        model.initial_state())
    params = model.parameters()
    step_policy = None  # integrate's STEP_POLICY (keeps the tagged grid fields)
    if policy == "none_saved":  # as before the fields were tagged: recompute the whole step
        step_policy = jax.checkpoint_policies.save_only_these_names("tridiagonal_solution")

    def loss(vec):
        m = params.with_values(vec).apply(model)
        # stepper(): the step with its parameter arrays computed once, outside the loop
        final, _ = integrate(m.stepper(), spun, steps, checkpoint_every="auto",
                             step_policy=step_policy)
        return jnp.sum(kinetic_energy(m, final.qh))

    return jax.jit(loss), jax.jit(jax.value_and_grad(loss)), params.vector()


def gradient_child(nx: int, steps: int, repeat: int, policies: str) -> dict:
    """Forward and gradient of each of the comma-separated ``policies``, all calls
    interleaved in this one process (so that the machine's load affects them alike)."""
    names = policies.split(",")
    built = {p: build_gradient(nx, steps, p) for p in names}
    calls = [c for p in names for c in ((built[p][0], built[p][2]), (built[p][1], built[p][2]))]
    times = timed_together(calls, repeat)
    out = {}
    for i, p in enumerate(names):
        (tf, cf), (tg, cg) = times[2 * i], times[2 * i + 1]
        forward, gradient, v = built[p]
        value, grad = gradient(v)
        out[p] = {"forward": tf, "gradient": tg, "forward_cpu": cf, "gradient_cpu": cg,
                  "loss": float(value), "grad": [float(g) for g in np.asarray(grad)],
                  "per_step": step_breakdown(nx, p, 20 * repeat)}
    return out


def step_breakdown(nx: int, policy: str, repeat: int) -> dict:
    """CPU time (s) of one step, of the checkpointed step's ``jax.vjp`` forward (what the
    reverse sweep recomputes per step of a segment) and of its pullback (its own
    recomputation plus the transposition): short calls, so their minimum is little disturbed
    by other processes."""
    import jax
    import jax.numpy as jnp

    from pyclimaocean.integrate import STEP_POLICY

    model = ours(nx, adjoint="hand" if policy == "hand" else "autodiff")
    state = jax.jit(lambda s: model.run(s, 100, checkpoint_every=None)[0])(
        model.initial_state())
    pol = STEP_POLICY
    if policy == "none_saved":
        pol = jax.checkpoint_policies.save_only_these_names("tridiagonal_solution")
    step = jax.checkpoint(lambda s: model.step(s), policy=pol)
    vjp_forward = jax.jit(lambda s: jax.vjp(step, s))
    _, pullback = vjp_forward(state)
    cot = jax.tree_util.tree_map(
        lambda x: jnp.ones_like(x) if jnp.issubdtype(x.dtype, jnp.inexact)
        else np.zeros(x.shape, dtype=jax.dtypes.float0), state)
    times = timed_together([(jax.jit(model.step), state), (vjp_forward, state),
                            (jax.jit(lambda pb: pb(cot)), pullback)], repeat)
    return {k: c for k, (_, c) in zip(("step", "vjp_forward", "pullback"), times, strict=True)}


def memory_child(kind: str, nx: int, steps: int, policy: str) -> dict:
    import jax

    forward, gradient, v = build_gradient(nx, steps, policy)
    compiled = (forward if kind == "forward" else gradient).lower(v).compile()
    xla = xla_buffer_bytes(compiled)
    _release_free_heap()
    base = _rss_kib("VmRSS")
    _reset_peak_rss()
    jax.block_until_ready(compiled(v))
    peak = _rss_kib("VmHWM")
    return {"xla_bytes": xla, "rss_peak_kib": peak, "rss_increase_kib": peak - base}


# -- spectrum ---------------------------------------------------------------------------------
def spectrum_child(which: str, nx: int, seeds: int, spinup_years: float, years: float) -> dict:
    """Time-mean KE spectra ``(seeds, 2, n)`` of one model's ensemble (vmapped over seeds)."""
    import jax
    import jax.numpy as jnp

    from pyclimaocean.models.qg import isotropic_ke_spectrum

    per_day = int(round(86400.0 / DT))
    n_spin = int(round(spinup_years * YEAR / DT))
    n_days = int(round(years * 360))
    model = ours(nx)
    L = model.L
    if which == "ours":
        states = [ours(nx, seed=s).initial_state() for s in range(seeds)]
        state = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *states)
        step = model.step

        def psi(s):
            return model.ifft(model.invert(s.qh))
    else:
        ref = reference(nx)
        keys = jax.random.split(jax.random.key(1000), seeds)
        state = jax.vmap(ref.create_initial_state)(keys)
        step = ref.step_model

        def psi(s):
            return ref.get_full_state(s).p

    def run(n, s):
        return jax.lax.scan(lambda c, _: (step(c), None), s, None, length=n)[0]

    def one_day(carry, _):
        s, acc = carry
        s = run(per_day, s)
        return (s, acc + isotropic_ke_spectrum(psi(s), L)[1]), None

    @jax.jit
    def member(s):
        s = run(n_spin, s)
        kappa, spec0 = isotropic_ke_spectrum(psi(s), L)
        (s, acc), _ = jax.lax.scan(one_day, (s, jnp.zeros_like(spec0)), None, length=n_days)
        return acc / n_days, jnp.sum(acc / n_days, axis=-1)

    t0 = time.perf_counter()
    spec, _ = jax.block_until_ready(jax.vmap(member)(state))
    elapsed = time.perf_counter() - t0
    kappa, _ = isotropic_ke_spectrum(np.zeros((nx, nx)), L)
    return {"which": which, "kappa": np.asarray(kappa).tolist(),
            "spectra": np.asarray(spec).tolist(), "seconds": elapsed,
            "steps": n_spin + n_days * per_day}


def compare_spectra(kappa, a, b, cutoff: float):
    """Agreement of ensembles ``a``, ``b`` ``(seeds, 2, n)`` per bin with ``κ Δx ≤ cutoff``
    (the unfiltered range): fraction of bins where one's mean lies inside the other's min–max
    and inside its mean ± 2 std, per layer."""
    keep = kappa <= cutoff
    out = {}
    for name, (x, y) in {"ours_in_pyqg_jax": (a, b), "pyqg_jax_in_ours": (b, a)}.items():
        m = x.mean(axis=0)[:, keep]
        lo, hi = y.min(axis=0)[:, keep], y.max(axis=0)[:, keep]
        mu, sd = y.mean(axis=0)[:, keep], y.std(axis=0, ddof=1)[:, keep]
        out[name] = {
            "minmax": ((m >= lo) & (m <= hi)).mean(axis=-1).tolist(),
            "two_std": (np.abs(m - mu) <= 2 * sd).mean(axis=-1).tolist(),
        }
    rel = np.abs(a.mean(0) - b.mean(0))[:, keep] / b.mean(0)[:, keep]
    out["median_rel_diff_of_means"] = np.median(rel, axis=-1).tolist()
    out["max_rel_diff_of_means"] = np.max(rel, axis=-1).tolist()
    out["n_bins"] = int(keep.sum())
    out["expected_if_identical"] = null_agreement(a.shape[0], b.shape[0])
    return out


def null_agreement(n_a: int, n_b: int, draws: int = 200_000) -> dict:
    """Probability that the mean of ``n_a`` independent draws lies inside the min–max (and
    inside mean ± 2 std) of ``n_b`` others from the same normal distribution (Monte Carlo):
    the fraction of bins expected to agree if the two models had the same statistics."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((draws, n_a)).mean(axis=1)
    y = rng.standard_normal((draws, n_b))
    return {"minmax": float(np.mean((m >= y.min(1)) & (m <= y.max(1)))),
            "two_std": float(np.mean(np.abs(m - y.mean(1)) <= 2 * y.std(1, ddof=1)))}


def plot_spectra(kappa, a, b, rd: float, cutoff: float, path: Path, title: str):
    from pyclimaocean.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained", sharex=True,
                             height_ratios=(3, 2))
    keep = kappa <= cutoff
    for i, layer in enumerate(("upper layer", "lower layer")):
        ax, rat = axes[0, i], axes[1, i]
        ref = b[:, i].mean(0)
        for x, label, color in ((a, "pyclimaocean", "C0"), (b, "pyqg-jax", "C3")):
            ax.fill_between(kappa, x[:, i].min(0), x[:, i].max(0), color=color, alpha=0.25,
                            lw=0, label=f"{label}: min–max of {x.shape[0]} seeds")
            ax.loglog(kappa, x[:, i].mean(0), color=color, lw=1.4, label=f"{label}: mean")
            rat.fill_between(kappa[keep], (x[:, i].min(0) / ref)[keep],
                             (x[:, i].max(0) / ref)[keep], color=color, alpha=0.25, lw=0)
            rat.semilogx(kappa[keep], (x[:, i].mean(0) / ref)[keep], color=color, lw=1.4)
        for axis in (ax, rat):
            axis.axvline(1.0 / rd, color="k", lw=0.8, ls="--", label="1 / r_d")
            axis.axvline(cutoff, color="0.5", lw=0.8, ls=":", label="filter cutoff")
            axis.grid(alpha=0.3, which="both")
        top = float(np.max(a[:, i]))
        ax.set_ylim(top * 1e-7, top * 3)
        ax.set_ylabel("time-mean KE spectral density (m³ s⁻²)")
        ax.set_title(layer)
        rat.set_xlabel("isotropic wavenumber κ (rad m⁻¹)")
        rat.set_ylabel("÷ pyqg-jax ensemble mean")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)


# -- driver -----------------------------------------------------------------------------------
def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.qg_performance", *args],
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "gradient", "spectrum", "child"))
    parser.add_argument("--nx", type=int, nargs="+")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--policies", default="autodiff,hand",
                        help=f"gradient: comma-separated step checkpoint policies {POLICIES}")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--spinup-years", type=float, default=5.0)
    parser.add_argument("--years", type=float, default=5.0)
    parser.add_argument("--figure", type=Path, default=DEFAULT_FIGURE)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--replot", action="store_true",
                        help="spectrum: redo the comparison and figure from --results")
    parser.add_argument("--all-cores", action="store_true",
                        help="do not pin the child processes to one core")
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.what == "child":  # one measurement in this fresh process; JSON on stdout
        kind, *rest = json.loads(args.child_args)
        if rest and rest[-1] == "one-core" and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before JAX starts
        rest = [r for r in rest if r != "one-core"]
        fn = {"throughput": throughput_child, "gradient": gradient_child,
              "memory": memory_child, "spectrum": spectrum_child}[kind]
        print(json.dumps(fn(*rest)))
        return None

    pin = [] if args.all_cores else ["one-core"]

    def child(*a):
        return _child(["child", "--child-args", json.dumps([*a, *pin])])

    print(f"{os.cpu_count()} cores{'' if args.all_cores else ', each run pinned to one'}; "
          f"load average {os.getloadavg()[0]:.1f}; float64; dt = {DT:g} s; eddy configuration")
    if args.what == "throughput":
        print(f"{'nx':>5s} {'steps':>6s} {'ours (ms/step)':>15s} {'pyqg-jax (ms/step)':>19s} "
              f"{'speed-up':>9s} {'CPU-time speed-up':>18s} {'final rel. diff':>16s}")
        for nx in args.nx or [64, 256]:
            steps = args.steps or max(50, int(2000 * (64 / nx) ** 2))
            r = child("throughput", nx, steps, args.repeat)
            print(f"{nx:5d} {steps:6d} {r['ours'] * 1e3:15.3f} {r['pyqg_jax'] * 1e3:19.3f} "
                  f"{r['pyqg_jax'] / r['ours']:9.2f} {r['pyqg_jax_cpu'] / r['ours_cpu']:18.2f} "
                  f"{r['final_qh_rel_diff']:16.1e}", flush=True)
        return None

    if args.what == "gradient":
        nx = (args.nx or [128])[0]
        steps = args.steps or 1000
        policies = [p for p in args.policies.split(",") if p]
        print(f"nx = {nx}, {steps} steps, sqrt(T) segment checkpointing; loss = final KE; "
              "5 parameters")
        print(f"{'step policy':12s} {'forward (s)':>12s} {'gradient (s)':>13s} {'ratio':>6s} "
              f"{'CPU-time ratio':>15s} | per step (CPU): {'step (ms)':>9s} "
              f"{'recompute':>9s} {'pullback':>9s} {'1 + rec. + pullb.':>17s}")
        grads = {}
        results = child("gradient", nx, steps, args.repeat, ",".join(policies))
        for p in policies:
            r = results[p]
            grads[p] = np.asarray(r["grad"])
            s = r["per_step"]
            rec, pb = s["vjp_forward"] / s["step"], s["pullback"] / s["step"]
            print(f"{p:12s} {r['forward']:12.3f} {r['gradient']:13.3f} "
                  f"{r['gradient'] / r['forward']:6.2f} "
                  f"{r['gradient_cpu'] / r['forward_cpu']:15.2f} | {'':15s} "
                  f"{s['step'] * 1e3:9.3f} {rec:9.2f} {pb:9.2f} {1 + rec + pb:17.2f}",
                  flush=True)
        print("(whole-run times: minimum of --repeat interleaved calls; per step: of 20x as "
              "many; recompute and pullback in units of one step)")
        first = policies[0]
        for p in policies[1:]:
            diff = np.max(np.abs(grads[p] - grads[first]) / np.abs(grads[first]))
            print(f"gradient {p!r} vs {first!r}: largest relative difference {diff:.1e}")
        if args.no_memory:
            return None
        mem = {"forward": child("memory", "forward", nx, steps, policies[0])}
        for p in policies:
            mem[p] = child("memory", "gradient", nx, steps, p)
        f = mem["forward"]
        print(f"\n{'memory (MiB)':26s} {'XLA buffers':>12s} {'peak RSS':>9s} {'ratio':>6s}")
        for k, m in mem.items():
            label = "forward" if k == "forward" else f"gradient, policy {k!r}"
            xla = "n/a" if m["xla_bytes"] is None else f"{m['xla_bytes'] / 2**20:.1f}"
            print(f"{label:26s} {xla:>12s} {m['rss_peak_kib'] / 1024:9.1f} "
                  f"{m['rss_peak_kib'] / f['rss_peak_kib']:6.2f}")
        return None

    # spectrum
    nx = (args.nx or [64])[0]
    res = {}
    if args.replot:  # figure and table again from the saved numbers
        saved = json.loads(args.results.read_text())
        nx, args.seeds = saved["nx"], saved["seeds"]
        args.spinup_years, args.years = saved["spinup_years"], saved["years"]
        res = {k: {"kappa": saved["kappa"], "spectra": saved[k], "seconds": t}
                for k, t in saved["seconds"].items()}
    for which in ("ours", "pyqg_jax"):
        if not args.replot:
            res[which] = child("spectrum", which, nx, args.seeds, args.spinup_years,
                               args.years)
        print(f"{which}: {args.seeds} seeds x {args.spinup_years + args.years:g} years in "
              f"{res[which]['seconds']:.0f} s", flush=True)
    kappa = np.asarray(res["ours"]["kappa"])
    a, b = np.asarray(res["ours"]["spectra"]), np.asarray(res["pyqg_jax"]["spectra"])
    model = ours(nx)
    cutoff = model.filter_cutoff / (model.L / nx)  # rad m-1: the filter's κ_c
    cmp = compare_spectra(kappa, a, b, cutoff)
    print(f"agreement over the {cmp['n_bins']} bins with κ Δx ≤ 0.65 π (upper, lower layer):")
    for k in ("ours_in_pyqg_jax", "pyqg_jax_in_ours"):
        c = cmp[k]
        print(f"  {k:18s} min–max {c['minmax'][0]:.0%}, {c['minmax'][1]:.0%};  "
              f"±2 std {c['two_std'][0]:.0%}, {c['two_std'][1]:.0%}")
    e = cmp["expected_if_identical"]
    print(f"  expected for identical statistics (normal, {args.seeds} vs {args.seeds} seeds): "
          f"min–max {e['minmax']:.0%}, ±2 std {e['two_std']:.0%}")
    print("  relative difference of the ensemble means, median (max): "
          + ", ".join(f"{x:.1%} ({y:.1%})" for x, y in zip(
              cmp["median_rel_diff_of_means"], cmp["max_rel_diff_of_means"], strict=True)))
    title = (f"eddy configuration, nx = {nx}: time-mean KE spectrum, years "
             f"{args.spinup_years:g}–{args.spinup_years + args.years:g}, {args.seeds} seeds each")
    plot_spectra(kappa, a, b, float(model.rd), cutoff, args.figure, title)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "nx": nx, "dt": DT, "seeds": args.seeds, "spinup_years": args.spinup_years,
        "years": args.years, "kappa": kappa.tolist(), "ours": a.tolist(),
        "pyqg_jax": b.tolist(), "agreement": cmp,
        "seconds": {k: r["seconds"] for k, r in res.items()}}, indent=1) + "\n")
    print(f"figure: {args.figure}; numbers: {args.results}")
    return None


if __name__ == "__main__":
    main()
