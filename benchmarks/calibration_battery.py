"""Calibration battery: twins with truths drawn from the prior, over several forcing regimes,
calibrated by each method; success rate, 95 % coverage (Laplace) and cost.

Each twin is a CATKE column (smooth regime switches, the default) with ``n_controls`` CATKE
parameters whose truth is a draw from their prior (lognormal around the default value, scale
``prior_scale``, truncated to the bounds); the first guess is the prior median (the default).
Observations: T, u, v at every cell every ``obs_hours`` with σ = 1e-4 (noise added).  Regimes:

* ``convection``: −100 W m⁻² cooling, no wind;
* ``wind``: 0.1 N m⁻² eastward stress, f = 1e-4 s⁻¹, no heat flux;
* ``diurnal``: heat flux −50 + 150 sin(2πt/1 day) W m⁻² plus 0.05 N m⁻² stress, f = 1e-4.

Methods: adjoint L-BFGS-B (``lbfgsb``), ``hybrid`` (3 EKI updates with J = 10, then L-BFGS-B),
EKI with J = 10 and J = 20 (``eki10``, ``eki20``, ``eki_iterations`` updates), UKI (``uki``,
``uki_iterations`` updates).  All minimise the same loss (data misfit + prior); EKI/UKI see the
prior through their initial ensemble / prior observations.

* **success**: every *identifiable* parameter within 2 % of the truth **and** the data misfit
  within χ² noise of the truth's: Φ_data(θ̂) ≤ Φ_data(θ_true) + √(m/2) (one standard deviation of
  ½χ²_m).  Identifiable: the Gauss–Newton Laplace posterior at the adjoint optimum has relative
  standard deviation ≤ 2 % (so a 2 % criterion is meaningful for it).
* **coverage**: the fraction of (twin, parameter) pairs whose Laplace 95 % interval (at the
  adjoint optimum) contains the truth.
* **cost** in forward-run equivalents: EKI/UKI count forward runs; a loss+gradient evaluation
  costs r forward runs, with r = time(value_and_grad) / time(forward) measured per twin size.

Run: ``python -m benchmarks.calibration_battery`` (small: 3 regimes × 2 twins × 4 controls, nz =
8, 12 h; about 10–20 min on one shared core) or ``--full`` (the issue's sizes: ≥ 20 twins with 4
controls and ≥ 5 each with 8, 16 and all 29, nz = 32, 2 days; hours).  ``--json PATH`` writes
the per-twin rows.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

REGIMES = {
    "convection": dict(heat_flux=-100.0),
    "wind": dict(wind_stress_x=0.1),
    "diurnal": dict(heat_flux=-50.0, heat_flux_amplitude=150.0, wind_stress_x=0.05, cycle_period=86400.0),
}
#: controls in order of how much the misfit resolves them (the first n are used)
CONTROL_ORDER = ["c_surface", "c_wind_ustar", "c_lo_u", "c_conv_c", "c_hi_u", "c_lo_c", "c_conv_u",
                 "c_hi_c", "c_un_u", "c_un_c", "c_lo_e", "c_hi_e", "c_conv_e", "c_lo_d", "c_hi_d", "c_un_d"]
METHODS = ("lbfgsb", "hybrid", "eki10", "eki20", "uki")


def _model(regime: str, nz: int, depth: float, dt: float):
    from pyclimaocean.closures.catke import CATKELike
    from pyclimaocean.fluxes.surface import SurfaceForcing
    from pyclimaocean.grids.column import ColumnGrid
    from pyclimaocean.models.column import ColumnModel, InitialConditions

    rot = regime in ("wind", "diurnal")
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth), closure=CATKELike(),
        forcing=SurfaceForcing(**REGIMES[regime]),
        initial_conditions=InitialConditions(temperature_gradient=0.01, mixed_layer_depth=8.0),
        coriolis_parameter=1e-4 if rot else 0.0, dt=dt)


def make_twin(regime: str, names, seed: int, *, nz: int, depth: float, dt: float, hours: float,
              obs_hours: float, prior_scale: float):
    """``(problem, truth_vector)`` of one twin."""
    import jax

    from pyclimaocean.calibration.problem import Problem, sample_truncated_prior
    from pyclimaocean.calibration.simulator import model_twin
    from pyclimaocean.params import Parameter, ParameterSet, Prior

    model = _model(regime, nz, depth, dt)
    base = model.parameters(names)
    controls = ParameterSet({
        n: Parameter(p.value, lower=p.lower, upper=p.upper, units=p.units, description=p.description,
                     prior=Prior.make("lognormal", loc=float(np.log(float(p.value))), scale=prior_scale))
        for n, p in base.parameters.items()})
    key = jax.random.PRNGKey(seed)
    truth = np.array([float(sample_truncated_prior(controls[n], jax.random.fold_in(key, i), 1, n)[0])
                      for i, n in enumerate(controls.names)])
    n_steps = int(round(hours * 3600 / dt))
    every = int(round(obs_hours * 3600 / dt))
    cases, _ = model_twin({regime: model}, controls.with_values(truth), n_steps=n_steps, save_every=every,
                          error_std={"T": 1e-4, "u": 1e-4, "v": 1e-4}, seed=seed)
    return Problem(controls, cases), truth


def _ratio(problem) -> float:
    """r = time(value_and_grad) / time(forward), both jitted and warm."""
    import equinox as eqx
    import jax

    vg = eqx.filter_jit(lambda p, u: jax.value_and_grad(p.loss)(u))
    fw = eqx.filter_jit(lambda p, u: p.forward(u))
    u = problem.u0

    def best(fn):
        jax.block_until_ready(fn(problem, u))
        out = np.inf
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(5):
                jax.block_until_ready(fn(problem, u))
            out = min(out, (time.perf_counter() - t) / 5)
        return out

    return best(vg) / best(fw)


def run_twin(problem, truth, *, r: float, eki_iterations: int, uki_iterations: int, methods=METHODS):
    """One twin: every method's end point, success, cost; Laplace coverage at the adjoint optimum."""
    import jax.numpy as jnp

    from pyclimaocean.calibration import calibrate_scipy, ensemble_kalman_inversion
    from pyclimaocean.calibration.optimize import calibrate_hybrid
    from pyclimaocean.calibration.uki import unscented_kalman_inversion
    from pyclimaocean.inference import laplace

    m = problem.n_observations
    u_true = problem.unconstrained(jnp.asarray(truth))
    misfit_true = float(problem.data_misfit(u_true))
    out = {"n_controls": problem.n_parameters, "m": m, "misfit_truth": misfit_true, "methods": {}}
    fit = calibrate_scipy(problem, progress=False)
    post = laplace(problem, fit.u, method="gauss_newton", optimizer_result=fit, on_nonstationary="ignore",
                   precision=None)
    rel_std = np.asarray(post.std) / np.abs(np.asarray(post.mean)) if hasattr(post, "std") else None
    lo, hi = post.interval(0.95)
    covered = (np.asarray(lo) <= truth) & (truth <= np.asarray(hi))
    if rel_std is None:
        rel_std = (np.asarray(hi) - np.asarray(lo)) / 3.92 / np.abs(np.asarray(fit.theta))
    identifiable = rel_std <= 0.02
    out.update(covered=covered.tolist(), identifiable=identifiable.tolist(), rel_std=rel_std.tolist(),
               laplace_stationary=bool(post.diagnostics.get("stationary", True)))

    def record(name, theta, u, cost, extra=""):
        theta = np.asarray(theta)
        misfit = float(problem.data_misfit(jnp.asarray(u)))
        err = np.abs(theta / truth - 1)
        ok_params = bool(np.all(err[identifiable] <= 0.02))
        ok_misfit = misfit <= misfit_true + np.sqrt(m / 2)
        out["methods"][name] = {"success": ok_params and ok_misfit, "misfit": misfit,
                                "max_rel_error_identifiable": float(err[identifiable].max()) if identifiable.any() else 0.0,
                                "cost": float(cost), "note": extra}

    for name in methods:
        if name == "lbfgsb":
            record(name, fit.theta, fit.u, fit.n_evaluations * r, fit.message[:80])
        elif name == "hybrid":
            h = calibrate_hybrid(problem, ensemble_method="eki", ensemble_iterations=3, ensemble_size=10,
                                 progress=False)
            record(name, h.theta, h.u, h.extra["n_forward"] + h.n_evaluations * r)
        elif name.startswith("eki"):
            J = int(name[3:])
            e = ensemble_kalman_inversion(problem, ensemble_size=J, max_iterations=eki_iterations, progress=False)
            record(name, e.theta, e.u, e.n_forward)
        elif name == "uki":
            k = unscented_kalman_inversion(problem, max_iterations=uki_iterations, progress=False)
            record(name, k.theta, k.u, k.n_forward)
    return out


def table(rows, methods=METHODS) -> str:
    lines = ["| controls | twins | method | success | median cost (fwd-run equiv.) | Laplace 95 % coverage |",
             "|---|---|---|---|---|---|"]
    for n in sorted({r["n_controls"] for r in rows}):
        sub = [r for r in rows if r["n_controls"] == n]
        cov = np.mean([c for r in sub for c in r["covered"]])
        for k, name in enumerate(methods):
            res = [r["methods"][name] for r in sub if name in r["methods"]]
            if not res:
                continue
            ok = sum(x["success"] for x in res)
            cost = np.median([x["cost"] for x in res])
            lines.append(f"| {n} | {len(sub)} | {name} | {ok}/{len(res)} | {cost:.0f} | "
                         f"{f'{cov:.2f}' if k == 0 else ''} |")
    return "\n".join(lines)


def main(argv=None):
    import pyclimaocean  # noqa: F401  (x64)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's sizes (hours)")
    ap.add_argument("--twins-per-regime", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.full:
        size = dict(nz=32, depth=128.0, dt=600.0, hours=48.0, obs_hours=6.0)
        plan = [(4, 7), (8, 2), (16, 2), (29, 2)]  # (controls, twins per regime): 21, 6, 6, 6 twins
        eki_it, uki_it = 20, 20
    else:
        size = dict(nz=8, depth=64.0, dt=600.0, hours=12.0, obs_hours=3.0)
        plan = [(4, 2)]
        eki_it, uki_it = 10, 10
    if args.twins_per_regime is not None:
        plan = [(n, args.twins_per_regime) for n, _ in plan]
    from pyclimaocean.closures.catke import CATKE_DEFAULTS

    all_names = CONTROL_ORDER + [n for n in CATKE_DEFAULTS if n not in CONTROL_ORDER]
    rows, ratios = [], {}
    t0 = time.perf_counter()
    print(f"size: {size}, plan (controls, twins per regime): {plan}, EKI {eki_it} / UKI {uki_it} updates", flush=True)
    for n_controls, per_regime in plan:
        names = all_names[:n_controls]
        for regime in REGIMES:
            for k in range(per_regime):
                seed = 1000 * n_controls + 10 * list(REGIMES).index(regime) + k
                problem, truth = make_twin(regime, names, seed, prior_scale=0.2, **size)
                key = (n_controls, regime)
                if key not in ratios:
                    ratios[key] = _ratio(problem)
                row = run_twin(problem, truth, r=ratios[key], eki_iterations=eki_it, uki_iterations=uki_it)
                row.update(regime=regime, seed=seed, r=ratios[key])
                rows.append(row)
                print(f"[{time.perf_counter() - t0:6.0f} s] {n_controls} controls, {regime} #{k}: r = {ratios[key]:.2f}, "
                      + ", ".join(f"{m}: {'ok' if v['success'] else 'FAIL'} ({v['cost']:.0f})"
                                  for m, v in row["methods"].items())
                      + f"; Laplace covers {sum(row['covered'])}/{n_controls}", flush=True)
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s; size {size}")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=lambda x: x.item() if hasattr(x, "item") else str(x))
    return rows


if __name__ == "__main__":
    main()
