"""Is the loss continuous through a calibration optimum?  Exact vs smooth regime switches.

The twin of issue 12: a CATKE column (32 levels, 128 m, f = 1e-4 s⁻¹) under steady cooling
(−100 W m⁻²) plus an eastward wind stress (0.1 N m⁻²) for 2 days (dt = 600 s), T/u/v profiles
every 6 h with σ = 1e-4, four CATKE parameters whose truth is 15–25 % off the defaults.
L-BFGS-B starts from the defaults (the Python API's default priors: uniform on the bounds,
logit transform); the loss is then scanned with :func:`pyclimaocean.calibration.landscape.scan` along random
directions through the optimum, once with the exact switches (``switch_width = 0``) and once
with each smooth width given.  A discontinuity is an interval that still disagrees with the AD
slopes after 12 bisections (to ~1e-6 of the scan interval).

Run: ``python -m benchmarks.switch_landscape`` (``--widths 0 1`` to choose; ~5 min here).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TRUTH_FACTORS = {"c_conv_u": 1.20, "c_surface": 0.82, "c_wind_ustar": 1.15, "c_lo_c": 0.78}


def build_twin(switch_width: float, *, nz: int = 32, days: float = 2.0, dt: float = 600.0, seed: int = 0):
    """``(problem, truth)``: the issue-12 twin with the given ``switch_width``."""
    from pyclimaocean.calibration.problem import Problem
    from pyclimaocean.calibration.simulator import model_twin
    from pyclimaocean.closures.catke import CATKE_DEFAULTS, CATKELike
    from pyclimaocean.fluxes.surface import SurfaceForcing
    from pyclimaocean.grids.column import ColumnGrid
    from pyclimaocean.models.column import ColumnModel, InitialConditions

    model = ColumnModel(
        grid=ColumnGrid(nz=nz, depth=128.0),
        closure=CATKELike(switch_width=switch_width),
        forcing=SurfaceForcing(heat_flux=-100.0, wind_stress_x=0.1),
        initial_conditions=InitialConditions(temperature_gradient=0.01, mixed_layer_depth=10.0),
        coriolis_parameter=1e-4,
        dt=dt,
    )
    names = list(TRUTH_FACTORS)
    truth = model.parameters(names).with_values(
        np.array([CATKE_DEFAULTS[n] * TRUTH_FACTORS[n] for n in names]))
    n_steps = int(round(days * 86400 / dt))
    cases, _ = model_twin({"cooling_wind": model}, truth, n_steps=n_steps, save_every=int(round(21600 / dt)),
                          error_std={"T": 1e-4, "u": 1e-4, "v": 1e-4}, seed=seed)
    return Problem(model.parameters(names), cases), truth


def run(width: float, *, n_random: int = 3, radius: float = 0.05, n_points: int = 41, seed: int = 0,
        dt: float = 600.0):
    from pyclimaocean.calibration import calibrate_scipy
    from pyclimaocean.calibration.landscape import scan

    problem, truth = build_twin(width, dt=dt)
    t0 = time.perf_counter()
    fit = calibrate_scipy(problem, max_iterations=200, progress=False)
    report = scan(problem, fit.u, directions="random", n_random=n_random, radius=radius,
                  n_points=n_points, seed=seed)
    jumps = [(s.label, d) for s in report.scans for d in s.discontinuities]
    rel = {n: float(fit.theta[i] / float(truth[n].value) - 1) for i, n in enumerate(problem.names)}
    return {
        "switch_width": width, "converged": fit.converged, "message": fit.message,
        "data_misfit": fit.data_misfit, "n_evaluations": fit.n_evaluations,
        "relative_errors": rel, "n_discontinuities": len(jumps),
        "largest_jump": max((abs(d["jump"]) for _, d in jumps), default=0.0),
        "largest_ratio": max((d["ratio"] for _, d in jumps), default=0.0),
        "n_steep": sum(len(s.steep) for s in report.scans),
        "max_ad_fd_relative_error": report.max_ad_fd_relative_error,
        "wall_s": time.perf_counter() - t0, "report": report,
    }


def main(argv=None):
    import pyclimaocean  # noqa: F401  (x64)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--n-random", type=int, default=3)
    ap.add_argument("--radius", type=float, default=0.05)
    ap.add_argument("--dt", type=float, default=600.0, help="time step (s)")
    args = ap.parse_args(argv)
    rows = []
    print(f"dt = {args.dt:g} s")
    print("| switch_width | L-BFGS-B | data misfit | evals | max rel. error | discontinuities "
          "(largest jump, × slope) | steep-but-smooth | AD vs FD | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w in args.widths:
        r = run(w, n_random=args.n_random, radius=args.radius, dt=args.dt)
        rows.append(r)
        err = max(abs(v) for v in r["relative_errors"].values())
        jumps = (f"{r['n_discontinuities']} ({r['largest_jump']:.3g}, {r['largest_ratio']:.3g})"
                 if r["n_discontinuities"] else "0")
        print(f"| {w:g} | {'converged' if r['converged'] else 'NOT converged'} | {r['data_misfit']:.2f} | "
              f"{r['n_evaluations']} | {100 * err:.2f} % | {jumps} | {r['n_steep']} | "
              f"{r['max_ad_fd_relative_error']:.1e} | {r['wall_s']:.0f} |", flush=True)
        if not r["converged"]:
            print("   ", r["message"])
    return rows


if __name__ == "__main__":
    main()
