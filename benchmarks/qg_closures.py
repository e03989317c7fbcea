"""QG closure benchmark: the online metrics of Ross et al. (2023, JAMES) for every registered
closure on the "eddy" and "jet" configurations.

For each configuration a high-resolution run (``nx_hr``) is sampled every ``sample_days``
after ``spinup_years`` and coarse-grained onto the low-resolution grid (``nx_lr``; spectral
truncation + the low-resolution model's exponential filter, Ross et al.'s Operator 1).  A
low-resolution run without closure and one per closure of
:data:`pyclimaocean.models.qg.closure_registry.QG_CLOSURES` are sampled over the same window.
Distances to the coarse-grained reference (:mod:`pyclimaocean.models.qg.metrics`):
Wasserstein-1 of the per-layer marginals of q, u, v, KE and enstrophy, RMS differences of the
time-mean KE and enstrophy spectra; similarity ``1 − d(closed) / d(unclosed)`` per metric,
averaged over the distributional metrics, the spectral ones and all.  The first row,
"hi-res, seed + 1", scores a second high-resolution run from another initial state against
the reference: the sampling-noise floor (the best score a closure can be told apart from).
The mean kinetic energy per layer of every run is printed too.

Closures are built with their default coefficients, except Zanna–Bolton's ``kappa``, which
scales with the grid area: pyqg's −46 761 284 m² belongs to nx = 64 and is multiplied by
``(64 / nx_lr)²``.  A registered closure whose constructor fails without arguments (e.g. a
network needing trained weights) is listed as skipped with the error; ``--closure-args
'name={"key": value}'`` passes arguments.

Sizes: ``--size small`` (default): 128 → 32, eddy 6 years (spin-up 3), jet 10 years (spin-up
5), samples every 10 days; ``--size full`` is Ross et al.'s: 256 → 64, 10 years, statistics
from year 5 (about an hour per configuration on 2 CPU cores, minutes on a GPU).  All runs
use dt = 3600 s and pyqg's random initial state (``--seed``).

Run: ``python -m benchmarks.qg_closures [--size small] [--configs eddy jet] [--out table.md]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.models.qg import (
    Coarsener,
    TwoLayerQG,
    build_closure,
    closure_names,
    mean_similarity,
    online_distances,
    similarity_scores,
)
from pyclimaocean.models.qg.config import PRESETS

DAY = 86400.0
YEAR = 360 * DAY
DT = 3600.0

SIZES = {
    "small": {"nx_hr": 128, "nx_lr": 32, "years": {"eddy": 6, "jet": 10},
              "spinup_years": {"eddy": 3, "jet": 5}, "sample_days": 10},
    "full": {"nx_hr": 256, "nx_lr": 64, "years": {"eddy": 10, "jet": 10},
             "spinup_years": {"eddy": 5, "jet": 5}, "sample_days": 10},
    # a few minutes in all: for checking the script, not for conclusions
    "tiny": {"nx_hr": 64, "nx_lr": 16, "years": {"eddy": 2, "jet": 2},
             "spinup_years": {"eddy": 1, "jet": 1}, "sample_days": 10},
}


def make_model(preset: str, nx: int, closure=None, seed: int = 0) -> TwoLayerQG:
    return TwoLayerQG(nx=nx, dt=DT, closure=closure, seed=seed, **PRESETS[preset])


@eqx.filter_jit
def _spinup(model, state, n_steps: int):
    return model.run(state, n_steps, checkpoint_every=None)[0]


@eqx.filter_jit
def _samples(model, state, n_steps: int, every: int):
    return model.run(state, n_steps, save_every=every, checkpoint_every=None,
                     observe=lambda s: s.qh)[1]


def sample_run(model: TwoLayerQG, n_spinup: int, n_samples: int, every: int):
    """Spectral PV ``(n_samples, 2, ny, nk)`` every ``every`` steps after ``n_spinup``."""
    state = _spinup(model, model.initial_state(), n_spinup)
    return _samples(model, state, n_samples * every, every)


def fields_of(model: TwoLayerQG, qh) -> dict[str, np.ndarray]:
    f = jax.jit(model.fields)(qh)
    return {"q": np.asarray(f.q), "u": np.asarray(f.u), "v": np.asarray(f.v),
            "psi": np.asarray(f.psi)}


def closures_to_test(nx_lr: int, extra_args: dict[str, dict]) -> tuple[dict, dict]:
    """``({name: closure}, {name: reason skipped})`` of every registered closure."""
    defaults = {"zanna_bolton": {"kappa": -46761284.0 * (64 / nx_lr) ** 2}}
    built, skipped = {}, {}
    for name in closure_names():
        if name == "none":
            continue
        kwargs = {**defaults.get(name, {}), **extra_args.get(name, {})}
        try:
            built[name] = build_closure(name, **kwargs)
        except (TypeError, ValueError, KeyError, FileNotFoundError, ImportError) as err:
            skipped[name] = f"{type(err).__name__}: {err}"
    return built, skipped


def _mean_ke(run) -> list[float]:
    """Mean kinetic energy per layer over the samples (m² s⁻²)."""
    return [float(x) for x in 0.5 * np.mean(run["u"] ** 2 + run["v"] ** 2, axis=(0, 2, 3))]


def benchmark_config(preset: str, size: dict, seed: int, extra_args: dict,
                     noise_floor: bool = True, log=print) -> dict:
    nx_hr, nx_lr = size["nx_hr"], size["nx_lr"]
    steps_per_day = int(round(DAY / DT))
    n_spinup = int(size["spinup_years"][preset] * YEAR / DT)
    every = size["sample_days"] * steps_per_day
    n_samples = int((size["years"][preset] - size["spinup_years"][preset]) * YEAR / DT) // every

    t0 = time.perf_counter()
    hr = make_model(preset, nx_hr, seed=seed)
    qh_hr = sample_run(hr, n_spinup, n_samples, every)
    coarsener = Coarsener(hr, nx_lr, filter="exponential")
    lr = coarsener.lr
    ref = fields_of(lr, jax.jit(coarsener.coarsen_spectral)(qh_hr))
    t_hr = time.perf_counter() - t0
    log(f"[{preset}] hi-res {nx_hr}: {n_spinup + n_samples * every} steps, {n_samples} samples, "
        f"{t_hr:.0f} s")
    mean_ke = {"hi-res": _mean_ke(ref)}
    # the sampling-noise floor: the same hi-res statistics from another initial state
    floor = None
    if noise_floor:
        other = make_model(preset, nx_hr, seed=seed + 1)
        floor_run = fields_of(lr, jax.jit(coarsener.coarsen_spectral)(
            sample_run(other, n_spinup, n_samples, every)))
        floor = online_distances(floor_run, ref, hr.L, hr.W)
        mean_ke["hi-res, seed + 1"] = _mean_ke(floor_run)
        log(f"[{preset}] hi-res noise floor (seed {seed + 1}) done")

    closures, skipped = closures_to_test(nx_lr, extra_args)
    runs = {"none": None, **closures}
    distances, timings = {}, {}
    for name, closure in runs.items():
        t0 = time.perf_counter()
        model = make_model(preset, nx_lr, closure=closure, seed=seed)
        run = fields_of(model, sample_run(model, n_spinup, n_samples, every))
        distances[name] = online_distances(run, ref, hr.L, hr.W)
        mean_ke[name] = _mean_ke(run)
        timings[name] = time.perf_counter() - t0
        finite = all(np.isfinite(v).all() for v in run.values())
        log(f"[{preset}] {name}: {timings[name]:.0f} s" + ("" if finite else " (blew up)"))
    scores = {name: similarity_scores(d, distances["none"]) for name, d in distances.items()
              if name != "none"}
    if floor is not None:
        distances["hi-res, seed + 1"] = floor
        scores = {"hi-res, seed + 1": similarity_scores(floor, distances["none"]), **scores}
    dist_keys = ("q_", "u_", "v_", "ke_upper", "ke_lower", "enstrophy_upper", "enstrophy_lower")
    summary = {
        name: {"distributional": mean_similarity(s, dist_keys),
               "spectral": mean_similarity(s, ("ke_spectrum", "enstrophy_spectrum")),
               "all": mean_similarity(s),
               "ke_upper": s["ke_upper"], "ke_spectrum_upper": s["ke_spectrum_upper"]}
        for name, s in scores.items()}
    return {"preset": preset, "nx_hr": nx_hr, "nx_lr": nx_lr, "n_spinup": n_spinup,
            "n_samples": n_samples, "sample_every": every, "hires_seconds": t_hr,
            "distances": distances, "scores": scores, "summary": summary, "mean_ke": mean_ke,
            "seconds": timings, "skipped": skipped,
            "describe": {n: (c.describe() if c is not None else "none")
                         for n, c in runs.items()}}


def _fmt(x: float) -> str:
    if x == float("-inf"):
        return "blew up"
    if not np.isfinite(x):
        return "n/a"
    return f"{x:+.2f}"


def ke_table(results: list[dict]) -> str:
    """Mean KE per layer of every run (10⁻³ m² s⁻²)."""
    head = ["run"] + [f"{r['preset']}: KE upper, lower" for r in results]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(n for r in results for n in r["mean_ke"]))
    for name in names:
        row = [f"`{name}`"]
        for r in results:
            ke = r["mean_ke"].get(name)
            row.append("—" if ke is None else f"{1e3 * ke[0]:.3g}, {1e3 * ke[1]:.3g}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown_table(results: list[dict]) -> str:
    presets = [r["preset"] for r in results]
    head = ["closure"] + [f"{p}: {k}" for p in presets
                          for k in ("distrib.", "spectral", "all", "KE₁ W₁", "KE₁ spectrum")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = list(dict.fromkeys(n for r in results for n in r["summary"]))
    for name in names:
        row = [f"`{name}`"]
        for r in results:
            s = r["summary"].get(name)
            keys = ("distributional", "spectral", "all", "ke_upper", "ke_spectrum_upper")
            row += [_fmt(s[k]) if s else "skipped" for k in keys]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="QG closure benchmark (Ross et al. 2023 metrics)")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--configs", nargs="+", choices=sorted(PRESETS), default=["eddy", "jet"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--years", type=float, help="override the size's run length (years)")
    p.add_argument("--spinup-years", type=float, help="override the size's spin-up (years)")
    p.add_argument("--no-noise-floor", action="store_true",
                   help="skip the second hi-res run (seed + 1) that measures sampling noise")
    p.add_argument("--closure-args", action="append", default=[],
                   help='name={"key": value}: constructor arguments of a closure')
    p.add_argument("--out", type=Path, help="write the markdown table here")
    p.add_argument("--json", type=Path, help="write all distances and scores here")
    args = p.parse_args(argv)
    extra = {}
    for item in args.closure_args:
        name, _, js = item.partition("=")
        extra[name] = json.loads(js)
    size = dict(SIZES[args.size])
    if args.years is not None:
        size["years"] = {c: args.years for c in PRESETS}
    if args.spinup_years is not None:
        size["spinup_years"] = {c: args.spinup_years for c in PRESETS}
    t0 = time.perf_counter()
    results = [benchmark_config(c, size, args.seed, extra, not args.no_noise_floor)
               for c in args.configs]
    table = markdown_table(results) + "\n\n" + ke_table(results)
    print()
    print(f"size {args.size}: hi-res {size['nx_hr']} -> low-res {size['nx_lr']}, dt = {DT:g} s, "
          f"years {size['years']}, spin-up {size['spinup_years']}, seed {args.seed}; "
          f"{time.perf_counter() - t0:.0f} s in all")
    print(table)
    for r in results:
        for name, why in r["skipped"].items():
            print(f"skipped {name} ({r['preset']}): {why}")
    if args.out:
        args.out.write_text(table + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return results


if __name__ == "__main__":
    main()
