"""Cost of calibration: adjoint (L-BFGS-B with reverse-mode gradients) vs ensemble Kalman
inversion vs unscented Kalman inversion, to reach the same data misfit on the column twin
experiment.

Setup: ``examples/column_calibrate.toml`` (six CATKE-like parameters, two forcing cases,
T/u/v profiles with σ = 1e-4) with ``regularization = "none"``, since EKI minimises the data
misfit Φ_data = ½‖Γ^{-1/2}(𝒢(u) − y)‖² only.

* The adjoint run gives the optimum Φ*.  The target is Φ* + 0.5 (a change of 1 in χ², i.e.
  statistically indistinguishable from the optimum).
* One gradient evaluation (value and gradient) is counted as its *measured* cost in forward-run
  equivalents, r = time(value_and_grad) / time(forward), both jitted and warmed up, same cases.
* EKI costs J forward runs per iteration plus one for the ensemble mean's misfit.
* UKI (prior = "none": data misfit only, like EKI) costs 2n + 1 forward runs per iteration; the
  misfit of each mean is its central sigma point (free).

Run: ``python -m benchmarks.calibration_cost`` (``--fast`` for a smaller grid and shorter run).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def _timeit(fn, *args, repeat: int = 20) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeat):
            jax.block_until_ready(fn(*args))
        best = min(best, (time.perf_counter() - t) / repeat)
    return best


def main(argv=None) -> dict:
    import equinox as eqx
    import jax

    import pyclimaocean  # noqa: F401
    from pyclimaocean.calibration import calibrate_scipy, ensemble_kalman_inversion
    from pyclimaocean.calibration.eki import _ensemble_forward
    from pyclimaocean.calibration.experiment import build_calibration, load_calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="nz=8, 8 h run (quick check)")
    ap.add_argument("--ensemble-sizes", default="10,20,40", help="comma-separated J values")
    ap.add_argument("--max-eki-iterations", type=int, default=60)
    ap.add_argument("--max-uki-iterations", type=int, default=40)
    args = ap.parse_args(argv)

    config = Path(__file__).resolve().parents[1] / "examples" / "column_calibrate.toml"
    overrides = ["calibration.regularization=none"]
    if args.fast:
        overrides += ["grid.nz=8", "time.stop_time=28800", "time.dt=1200", "time.output_interval=14400"]
    cfg, raw = load_calibration(config, overrides)
    setup = build_calibration(cfg, raw, str(config))
    problem = setup.problem
    u0 = problem.u0

    fwd = eqx.filter_jit(lambda p, u: p.forward(u))
    vg = eqx.filter_jit(lambda p, u: jax.value_and_grad(p.loss)(u))
    t_forward = _timeit(fwd, problem, u0)
    t_grad = _timeit(vg, problem, u0)
    ratio = t_grad / t_forward

    # adjoint: L-BFGS-B to convergence (compiled already)
    adj = calibrate_scipy(problem, max_iterations=500, gtol=1e-8, ftol=1e-14, progress=False)
    phi_star = adj.data_misfit
    target = phi_star + 0.5
    h = adj.history
    reached = np.flatnonzero(h["loss"].values <= target)
    k = int(reached[0])
    adj_evals = int(h["n_evaluations"].values[k])
    adj_wall = float(h["wall_time"].values[k] - h["wall_time"].values[0])
    rows = [("adjoint L-BFGS-B", adj_evals, adj_evals * ratio, adj_wall, float(h["loss"].values[k]), "yes")]

    for J in [int(s) for s in args.ensemble_sizes.split(",")]:
        ens0 = None
        # warm up the compiled ensemble forward for this J
        from pyclimaocean.calibration.eki import prior_ensemble

        ens0 = prior_ensemble(problem, J, jax.random.PRNGKey(0))
        jax.block_until_ready(_ensemble_forward(problem, ens0))
        eki = ensemble_kalman_inversion(problem, ensemble_size=J, max_iterations=args.max_eki_iterations,
                                        seed=0, target_misfit=target, collapse_tol=1e-6, progress=False)
        eh = eki.history
        wall = float(eh["wall_time"].values[-1] - eh["wall_time"].values[0])
        rows.append((f"EKI J={J}", eki.n_forward, float(eki.n_forward), wall, eki.data_misfit,
                     "yes" if eki.converged else f"no ({eki.message[:40]})"))

    from pyclimaocean.calibration import unscented_kalman_inversion
    from pyclimaocean.calibration.uki import _sigma_forward

    n = problem.n_parameters
    jax.block_until_ready(_sigma_forward(problem, jax.numpy.tile(u0, (2 * n + 1, 1))))  # warm up
    uki = unscented_kalman_inversion(problem, max_iterations=args.max_uki_iterations, target_misfit=target,
                                     progress=False)
    uh = uki.history
    rows.append((f"UKI (2n+1={2 * n + 1})", uki.n_forward, float(uki.n_forward),
                 float(uh["wall_time"].values[-1] - uh["wall_time"].values[0]), uki.data_misfit,
                 "yes" if uki.converged else f"no ({uki.message[:40]})"))

    print(f"column twin: {problem.n_parameters} parameters, {len(problem.cases)} cases, "
          f"{problem.n_observations} observations; grid nz={cfg.grid.nz}, {cfg.time.n_steps} steps")
    print(f"forward run (all cases): {t_forward * 1e3:.2f} ms; value+gradient: {t_grad * 1e3:.2f} ms; "
          f"gradient cost r = {ratio:.2f} forward-run equivalents")
    print(f"optimum data misfit {phi_star:.4f}; target {target:.4f} (optimum + 0.5)")
    print()
    print(f"{'method':<20} {'model evals':>12} {'fwd-run equiv':>14} {'wall (s)':>9} {'misfit':>12}  reached")
    for name, ev, eq, wall, mis, ok in rows:
        print(f"{name:<20} {ev:>12d} {eq:>14.1f} {wall:>9.2f} {mis:>12.4f}  {ok}")
    best_eki = min((r for r in rows[1:] if r[5] == "yes" and r[0].startswith("EKI")), key=lambda r: r[2],
                   default=None)
    if best_eki is not None:
        print(f"\ncheapest EKI / adjoint cost (forward-run equivalents): {best_eki[2] / rows[0][2]:.1f}x")
    else:
        print("\nno EKI ensemble reached the target within the iteration limit")
    if rows[-1][5] == "yes":
        print(f"UKI / adjoint cost (forward-run equivalents): {rows[-1][2] / rows[0][2]:.1f}x")
    return {"ratio": ratio, "rows": rows, "target": target}


if __name__ == "__main__":
    main()
