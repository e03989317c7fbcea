"""Why L-BFGS-B failed on four twins of the calibration battery (issue 12).

For each twin (rebuilt exactly as ``benchmarks.calibration_battery`` builds it):

1. L-BFGS-B from the first guess (the battery's run) and **from the truth** (the reference
   optimum: the MAP estimate of the basin the truth lies in; with noisy data it is not the
   truth, and no optimizer can do better than it);
2. the loss and the data misfit along the straight segment from the first run's end point to
   the reference optimum (a barrier between them = two local minima; none = an early stop in
   one valley);
3. a landscape scan (``pyclimaocean.calibration.landscape.scan``, 3 random directions, radius
   0.05 in u) through the first run's end point: discontinuities, AD-vs-FD agreement;
4. the Gauss–Newton Laplace standard deviation at the reference optimum and the reference's
   error in units of it (is the 2 % criterion attainable?); the condition number of the
   Gauss–Newton Hessian (ill-conditioning: slow L-BFGS-B);
5. for a run stopped by the iteration limit, L-BFGS-B continued from its end point.

Run: ``python -m benchmarks.battery_failures [--twins ID ...] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.calibration_battery import REGIMES, _compiled, _json_default, _plan, make_twin

FAILURES = ("catke-4-diurnal-4020", "catke-4-diurnal-4026", "catke-24-convection-24001", "field-31-convection-31001")


def parse_id(tid: str):
    kind, n, regime, seed = tid.split("-")
    return kind, int(n), regime, int(seed)


def analyse(tid: str, *, full: bool = False, n_segment: int = 29) -> dict:
    import equinox as eqx
    import jax.numpy as jnp

    from pyclimaocean.calibration import calibrate_scipy
    from pyclimaocean.calibration.landscape import scan
    from pyclimaocean.inference import laplace
    from pyclimaocean.inference.laplace import hessian

    loss_fn = eqx.filter_jit(lambda problem, u: problem.loss(u))
    misfit_fn = _compiled().misfit
    kind, n, regime, seed = parse_id(tid)
    assert regime in REGIMES
    _, sizes = _plan(full, None)
    problem, truth = make_twin(kind, regime, n, seed, **sizes[kind])
    u_true = problem.unconstrained(jnp.asarray(truth))
    out = {"id": tid, "m": problem.n_observations, "tolerance": float(np.sqrt(problem.n_observations / 2)),
           "misfit_truth": float(misfit_fn(problem, u_true)), "loss_truth": float(loss_fn(problem, u_true))}
    t0 = time.perf_counter()
    fit = calibrate_scipy(problem, progress=False)
    ref = calibrate_scipy(problem, u0=np.asarray(u_true), progress=False)
    post = laplace(problem, ref.u, method="gauss_newton", optimizer_result=ref, on_nonstationary="ignore",
                   precision=None)
    rel_std = np.std(post.theta_samples, axis=0) / np.abs(np.asarray(ref.theta))
    ident = rel_std <= 0.02

    def describe(f):
        err = np.asarray(f.theta) / truth - 1
        return {"converged": bool(f.converged), "message": f.message[:160], "loss": float(f.loss),
                "misfit": float(f.data_misfit), "n_evaluations": int(f.n_evaluations),
                "max_error_identifiable": float(np.max(np.abs(err[ident]))) if ident.any() else 0.0,
                "error_over_std_identifiable": (np.abs(err[ident]) / rel_std[ident]).round(2).tolist(),
                "gradient_max_norm": float(np.max(np.abs(np.asarray(f.history["gradient_norm"].values[-1:]))))}

    out["from_first_guess"] = describe(fit)
    out["from_truth"] = describe(ref)
    out["identifiable"] = ident.tolist()
    out["rel_std_at_reference"] = rel_std.tolist()
    # segment from the first run's end point (t = 0) to the reference optimum (t = 1)
    t = np.linspace(-0.1, 1.1, n_segment)
    d = np.asarray(ref.u) - np.asarray(fit.u)
    seg_loss, seg_misfit = [], []
    for ti in t:
        u = jnp.asarray(np.asarray(fit.u) + ti * d)
        seg_loss.append(float(loss_fn(problem, u)))
        seg_misfit.append(float(misfit_fn(problem, u)))
    inner = (t >= 0) & (t <= 1)
    barrier = float(np.max(np.array(seg_loss)[inner]) - max(fit.loss, ref.loss))
    out["segment"] = {"t": t.tolist(), "loss": seg_loss, "misfit": seg_misfit, "distance_u": float(np.linalg.norm(d)),
                      "barrier": barrier}
    rep = scan(problem, np.asarray(fit.u), n_random=3, radius=0.05, n_points=41)
    out["scan"] = {"continuous": bool(rep.continuous), "n_discontinuities": sum(len(s.discontinuities) for s in rep.scans),
                   "max_ad_fd_relative_error": float(rep.max_ad_fd_relative_error),
                   "messages": rep.messages()[:4]}
    H = hessian(problem, np.asarray(fit.u), which="loss", method="gauss_newton")
    ev = np.linalg.eigvalsh(H)
    out["gauss_newton_eigenvalues"] = {"min": float(ev[0]), "max": float(ev[-1]), "condition": float(ev[-1] / ev[0])}
    if not fit.converged:
        more = calibrate_scipy(problem, u0=np.asarray(fit.u), max_iterations=2000, progress=False)
        out["continued"] = describe(more)
    out["wall_s"] = time.perf_counter() - t0
    return out


def main(argv=None):
    import pyclimaocean  # noqa: F401  (x64)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--twins", nargs="*", default=list(FAILURES))
    ap.add_argument("--out", default="benchmarks/results/battery_failures.json")
    args = ap.parse_args(argv)
    results = []
    for tid in args.twins:
        res = analyse(tid)
        results.append(res)
        a, b = res["from_first_guess"], res["from_truth"]
        print(f"{tid}: truth misfit {res['misfit_truth']:.2f} (tol {res['tolerance']:.2f}); from first guess "
              f"loss {a['loss']:.3f} misfit {a['misfit']:.2f} err {100 * a['max_error_identifiable']:.1f} % "
              f"conv {a['converged']}; from truth loss {b['loss']:.3f} misfit {b['misfit']:.2f} err "
              f"{100 * b['max_error_identifiable']:.1f} % ({b['error_over_std_identifiable']} std); barrier "
              f"{res['segment']['barrier']:+.3g} over {res['segment']['distance_u']:.3f} u; scan discontinuities "
              f"{res['scan']['n_discontinuities']}, AD-FD {res['scan']['max_ad_fd_relative_error']:.1e}; GN "
              f"condition {res['gauss_newton_eigenvalues']['condition']:.3g}"
              + (f"; continued: {res['continued']}" if "continued" in res else ""), flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, default=_json_default)


if __name__ == "__main__":
    main()
