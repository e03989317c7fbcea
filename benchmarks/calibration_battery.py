"""Calibration battery: twins with truths drawn from the prior, over several forcing regimes and
numbers of controls, calibrated by each method; success rate, 95 % coverage and cost.

Twin kinds (``tiers``):

* ``catke``: a CATKE column (smooth regime switches, the default) with ``n`` CATKE parameters
  (the first n of :data:`CONTROL_ORDER`, then the remaining CATKE coefficients; n = 24 is all
  27 but the three penetration coefficients, whose default 0 has an exactly zero gradient and
  admits no lognormal prior) whose truth is a
  draw from their prior (lognormal around the default value, scale 0.2, truncated to the
  bounds); first guess = the default.
* ``field``: a depth-dependent control field — the initial stratification of a finer column,
  one factor s_k per interior face (``nz − 1`` controls): the initial temperature (20 °C in
  the top cell) falls by ``s_k · 0.01 K m⁻¹ · Δz`` across every face k deeper than the 8 m
  initial mixed layer (s_k = 1: a linear profile, the default one shifted down by half a
  cell).  Truth s_k ~ lognormal(0, 0.2) per face, first guess 1.  CATKE parameters at their
  defaults.  Faces inside the initial mixed layer have zero sensitivity (no gradient to
  scale) and are reported as not identifiable.

Observations: T, u, v at every cell every ``obs_hours`` with σ = 1e-4 (noise added).  Regimes:
``convection`` (−100 W m⁻²), ``wind`` (0.1 N m⁻² eastward, f = 1e-4 s⁻¹) and ``diurnal``
(−50 + 150 sin(2πt / 1 day) W m⁻² plus 0.05 N m⁻², f = 1e-4).

Methods: adjoint L-BFGS-B (``lbfgsb``), ``hybrid`` (3 EKI updates with the small ensemble, then
L-BFGS-B), EKI at two ensemble sizes (``eki_small``: J = max(10, n + 2); ``eki_large``: 2 J —
EKI searches in the span of its initial ensemble, so J ≤ n cannot reach an n-dimensional
optimum) and UKI (2n + 1 sigma points).  All minimise the same loss (data misfit + prior).

* **success**: every *identifiable* parameter within 2 % of the truth **and** the data misfit
  within χ² noise of the truth's: Φ_data(θ̂) ≤ Φ_data(θ_true) + √(m/2) (one standard deviation of
  ½χ²_m).  Identifiable: the Gauss–Newton Laplace posterior at the adjoint optimum has relative
  standard deviation ≤ 2 %.
* **cost** in forward-run equivalents, *to the first success* where the method's history shows
  one (EKI, UKI: the ensemble mean after each update, as a run stopped by a target would pay;
  L-BFGS-B and the hybrid: the iterate after each accepted step); the full cost of the run
  otherwise.  A loss+gradient evaluation costs r forward runs, r = time(value_and_grad) /
  time(forward) (jitted, warm, interleaved, process CPU time) measured with every twin.
* **trace**: each method's row also stores the cost and data misfit after every history row
  (evaluated after its wall time is taken), from which :mod:`benchmarks.battery_map_cost`
  computes the cost to reach the MAP's misfit, a measure independent of the 2 % criterion.
  Optional methods (``--methods``): ``eki_xlarge`` (J = 4 J₁) and ``eki_long`` (J = 2 J₁,
  twice the updates), for field groups with many controls.
* **coverage**: fraction of (twin, parameter) pairs whose 95 % interval contains the truth:
  Laplace (Gauss–Newton, at the adjoint optimum) and SVI (multivariate-normal guide,
  warm-started from that Laplace fit, ``svi_steps`` steps).

Compilation: the regime's numbers are array leaves of the model and every twin's case has the
same name, so the twins of one group (kind, n) share one compiled forward, loss+gradient,
ensemble and Laplace function (``filter_jit`` takes the problem as an argument); only the first
twin of a group pays for compiling them.

Each finished twin is appended to ``--jsonl`` as one JSON line (partial results survive a kill;
``--resume`` skips twins already there).  ``--table-only`` prints the table and writes the plot
(``--plot``) from that file.

Run: ``python -m benchmarks.calibration_battery`` (the default CPU size: 21 twins with 4
controls, 6 each with 8, 16 and 24, 6 field twins with 31 controls; nz = 8 / 32, 12 h windows)
or ``--full`` (nz = 32 / 64, 2-day windows, 6-hourly observations).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from types import SimpleNamespace

import numpy as np

REGIMES = {
    "convection": dict(heat_flux=-100.0),
    "wind": dict(wind_stress_x=0.1),
    "diurnal": dict(heat_flux=-50.0, heat_flux_amplitude=150.0, wind_stress_x=0.05, cycle_period=86400.0),
}
#: controls in order of how much the misfit resolves them (the first n are used)
CONTROL_ORDER = ["c_surface", "c_wind_ustar", "c_lo_u", "c_conv_c", "c_hi_u", "c_lo_c", "c_conv_u",
                 "c_hi_c", "c_un_u", "c_un_c", "c_lo_e", "c_hi_e", "c_conv_e", "c_lo_d", "c_hi_d", "c_un_d"]
METHODS = ("lbfgsb", "hybrid", "eki_small", "eki_large", "uki")
#: methods added after the first battery (``--add``: run on the twins of an existing file)
NEW_METHODS = ("gauss_newton", "robust", "multistart", "multistart_earliest")
#: run only when asked for (``--methods``), for the field groups with many controls, where
#: J ≈ n never reaches the optimum: EKI with J = 4 max(10, n + 2) (≈ 4n), and ``eki_long``:
#: J = 2 max(10, n + 2) with twice the updates (its first updates are eki_large's: same seed)
OPTIONAL_METHODS = ("eki_xlarge", "eki_long")
#: the ``multistart`` method: L-BFGS-B (up to MULTISTART_ITERATIONS iterations, restarted from
#: its end point up to MULTISTART_RESTARTS times while unconverged) from the first guess, from
#: the mean of 3 EKI updates (J = J₁) and from MULTISTART_STARTS − 2 prior draws
MULTISTART_STARTS = 3
MULTISTART_RESTARTS = 2
MULTISTART_ITERATIONS = 1000
DEFAULT_METHODS = METHODS + NEW_METHODS
ALL_METHODS = METHODS + NEW_METHODS + OPTIONAL_METHODS
INITIAL_GRADIENT = 0.01  # K m⁻¹
INITIAL_MIXED_LAYER = 8.0  # m
PRIOR_SCALE = 0.2


def _eqx():
    import equinox as eqx

    return eqx


def stratification_profile_class(n_faces: int):
    """An initial-conditions module with one stratification factor ``s00 … s{n-1}`` per
    interior face (scalar leaves, so each is a dotted-path control ``initial_conditions.sKK``)."""
    import jax.numpy as jnp

    eqx = _eqx()
    names = [f"s{k:02d}" for k in range(n_faces)]

    def profiles(self, z):
        s = jnp.stack([jnp.asarray(getattr(self, n), dtype=float) for n in names])
        dz = jnp.diff(z)  # (nz-1,) spacing between centres, bottom to top
        z_face = 0.5 * (z[1:] + z[:-1])
        below = (-z_face > INITIAL_MIXED_LAYER).astype(float)
        step = INITIAL_GRADIENT * s * dz * below  # temperature rise across each face (K)
        # T at the top cell = surface temperature; going down, subtract the steps above
        above = jnp.concatenate([jnp.cumsum(step[::-1])[::-1], jnp.zeros(1)])
        t = 20.0 - above
        return t, jnp.full_like(z, 35.0)

    ns = {"__annotations__": {n: float for n in names}, "profiles": profiles, "u": 0.0, "v": 0.0, "tke": 1e-6}
    ns.update({n: 1.0 for n in names})
    return type(f"StratificationProfile{n_faces}", (eqx.Module,), ns)


def _model(regime: str, nz: int, depth: float, dt: float, initial_conditions=None):
    import jax.numpy as jnp

    from pyclimaocean.closures.catke import CATKELike
    from pyclimaocean.fluxes.surface import SurfaceForcing
    from pyclimaocean.grids.column import ColumnGrid
    from pyclimaocean.models.column import ColumnModel, InitialConditions

    rot = regime in ("wind", "diurnal")
    if initial_conditions is None:
        initial_conditions = InitialConditions(temperature_gradient=INITIAL_GRADIENT,
                                               mixed_layer_depth=INITIAL_MIXED_LAYER)
    # every regime's numbers as array leaves (traced, not static under ``filter_jit``), so the
    # twins of all regimes share the compiled loss, gradient and ensemble functions of a group
    forcing = {k: v for k, v in REGIMES[regime].items() if k == "cycle_period"}
    forcing.update({k: jnp.asarray(float(REGIMES[regime].get(k, 0.0)))
                    for k in ("heat_flux", "heat_flux_amplitude", "wind_stress_x")})
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth), closure=CATKELike(),
        forcing=SurfaceForcing(**forcing), initial_conditions=initial_conditions,
        coriolis_parameter=jnp.asarray(1e-4 if rot else 0.0), dt=dt)


def _lognormal_controls(base):
    from pyclimaocean.params import Parameter, ParameterSet, Prior

    return ParameterSet({
        n: Parameter(p.value, lower=p.lower, upper=p.upper, units=p.units, description=p.description,
                     prior=Prior.make("lognormal", loc=float(np.log(float(p.value))), scale=PRIOR_SCALE))
        for n, p in base.parameters.items()})


def make_twin(kind: str, regime: str, n_controls: int, seed: int, *, nz: int, depth: float, dt: float,
              hours: float, obs_hours: float):
    """``(problem, truth_vector)`` of one twin."""
    import jax

    from pyclimaocean.calibration.problem import Problem, sample_truncated_prior
    from pyclimaocean.calibration.simulator import model_twin
    from pyclimaocean.closures.catke import CATKE_DEFAULTS
    from pyclimaocean.params import Parameter, ParameterSet

    if kind == "catke":
        model = _model(regime, nz, depth, dt)
        # every CATKE coefficient but the three penetration ones (c_pen_u, c_pen_e, c_pen_d): their
        # default is 0, where their gradient is exactly zero and no lognormal prior exists
        names = (CONTROL_ORDER + [n for n in CATKE_DEFAULTS if n not in CONTROL_ORDER and CATKE_DEFAULTS[n]])
        if n_controls > len(names):
            raise ValueError(f"{n_controls} CATKE controls asked for; there are {len(names)} with a non-zero default")
        names = names[:n_controls]
        controls = _lognormal_controls(model.parameters(names))
    elif kind == "field":
        ic = stratification_profile_class(nz - 1)()
        model = _model(regime, nz, depth, dt, initial_conditions=ic)
        controls = _lognormal_controls(ParameterSet({
            f"initial_conditions.s{k:02d}": Parameter(1.0, lower=0.0, upper=10.0, units="1",
                                                       description=f"initial stratification factor, face {k}")
            for k in range(nz - 1)}))
    else:
        raise ValueError(f"kind {kind!r}: catke or field")
    key = jax.random.PRNGKey(seed)
    truth = np.array([float(sample_truncated_prior(controls[n], jax.random.fold_in(key, i), 1, n)[0])
                      for i, n in enumerate(controls.names)])
    n_steps = int(round(hours * 3600 / dt))
    every = int(round(obs_hours * 3600 / dt))
    cases, _ = model_twin({"twin": model}, controls.with_values(truth), n_steps=n_steps, save_every=every,
                          error_std={"T": 1e-4, "u": 1e-4, "v": 1e-4}, seed=seed)
    return Problem(controls, cases), truth


@functools.cache
def _compiled():
    """Jitted misfit, forward and loss+gradient taking the problem as an *argument*: compiled
    once per problem shape (group) and reused by every twin of it."""
    import equinox as eqx
    import jax

    from pyclimaocean.calibration.gauss_newton import residuals_and_jacobian

    return SimpleNamespace(
        misfit=eqx.filter_jit(lambda problem, u: problem.data_misfit(u)),
        forward=eqx.filter_jit(lambda problem, u: problem.forward(u)),
        value_and_grad=eqx.filter_jit(lambda problem, u: jax.value_and_grad(problem.loss)(u)),
        jacobian=residuals_and_jacobian,
    )


def _ratio(problem, repeats: int = 7, calls: int = 3, jacobian: bool = False):
    """r = time(value_and_grad) / time(forward), both jitted and warm, timed interleaved
    (``repeats`` alternating rounds of ``calls`` calls each; the fastest round of each) in
    process CPU time, which waiting for a core on a shared machine does not inflate.  With
    ``jacobian``: ``(r, r_J)``, r_J = time(residuals and their forward-mode Jacobian, n
    tangents) / time(forward), timed in the same rounds."""
    import jax

    c = _compiled()
    u = problem.u0

    def timed(fn):
        t = time.process_time()
        for _ in range(calls):
            jax.block_until_ready(fn(problem, u))
        return (time.process_time() - t) / calls

    timed(c.value_and_grad), timed(c.forward)  # compile / warm up
    if jacobian:
        timed(c.jacobian)
    t_vg, t_fw, t_j = np.inf, np.inf, np.inf
    for _ in range(repeats):
        t_vg = min(t_vg, timed(c.value_and_grad))
        t_fw = min(t_fw, timed(c.forward))
        if jacobian:
            t_j = min(t_j, timed(c.jacobian))
    return (t_vg / t_fw, t_j / t_fw) if jacobian else t_vg / t_fw


def ensemble_sizes(n: int) -> tuple[int, int]:
    small = max(10, n + 2)
    return small, 2 * small


def run_twin(problem, truth, *, r: float, eki_iterations: int, uki_iterations: int, svi_steps: int,
             methods=METHODS, r_jacobian: float | None = None, identifiable=None,
             lbfgsb_iterations: int | None = None):
    """One twin: every method's end point, success, cost; Laplace and SVI coverage.

    ``identifiable`` given (from a stored row of the same twin): the adjoint fit and Laplace
    are not rerun (only ``methods``, which must then not include ``lbfgsb``)."""
    import jax.numpy as jnp

    from pyclimaocean.calibration import calibrate_scipy, ensemble_kalman_inversion
    from pyclimaocean.calibration.optimize import (
        calibrate_gauss_newton,
        calibrate_hybrid,
        calibrate_multistart,
        select_start,
    )
    from pyclimaocean.calibration.uki import unscented_kalman_inversion
    from pyclimaocean.inference import laplace, run_svi

    n = problem.n_parameters
    m = problem.n_observations
    misfit = _compiled().misfit
    u_true = problem.unconstrained(jnp.asarray(truth))
    misfit_true = float(misfit(problem, u_true))
    tol = np.sqrt(m / 2)
    out = {"n_controls": n, "m": m, "misfit_truth": misfit_true, "methods": {}}
    t0 = time.perf_counter()
    if identifiable is not None:
        if "lbfgsb" in methods:
            raise ValueError("identifiable given: the adjoint fit is not rerun, so 'lbfgsb' cannot be a method")
        identifiable = np.asarray(identifiable, dtype=bool)
        svi_steps = 0
    else:
        fit = calibrate_scipy(problem, progress=False,
                              **({} if lbfgsb_iterations is None else {"max_iterations": lbfgsb_iterations}))
        post = laplace(problem, fit.u, method="gauss_newton", optimizer_result=fit, on_nonstationary="ignore",
                       precision=None)
        rel_std = np.std(post.theta_samples, axis=0) / np.abs(np.asarray(fit.theta))
        identifiable = rel_std <= 0.02
        out.update(covered=post.covers(truth).tolist(), identifiable=identifiable.tolist(),
                   rel_std=rel_std.tolist(), laplace_stationary=bool(post.diagnostics.get("stationary", True)),
                   lbfgsb_wall_s=time.perf_counter() - t0)
    if svi_steps > 0:
        t1 = time.perf_counter()
        svi = run_svi(problem, guide="multivariate_normal", num_steps=svi_steps, init_from=post, progress=False)
        out.update(svi_covered=svi.covers(truth).tolist(), svi_converged=bool(svi.diagnostics.get("converged")),
                   svi_wall_s=time.perf_counter() - t1)

    def params_ok(theta):
        err = np.abs(np.asarray(theta) / truth - 1)
        return bool(np.all(err[identifiable] <= 0.02)), float(err[identifiable].max()) if identifiable.any() else 0.0

    def first_success(history, cost_per_row):
        """Cost at the first history row meeting both criteria (None if none does)."""
        thetas = np.asarray(history["parameters"].values)
        us = np.asarray(history["unconstrained"].values) if "unconstrained" in history else None
        for i in range(thetas.shape[0]):
            if not params_ok(thetas[i])[0]:
                continue
            u = us[i] if us is not None else problem.unconstrained(jnp.asarray(thetas[i]))
            if float(misfit(problem, jnp.asarray(u))) <= misfit_true + tol:
                return float(cost_per_row[i])
        return None

    traces = {}

    def record(name, theta, u, total_cost, history=None, cost_per_row=None, note="", n_forward=0, evals=None,
               **split):
        value = float(misfit(problem, jnp.asarray(u)))
        ok_p, err = params_ok(theta)
        success = ok_p and value <= misfit_true + tol
        cost_success = None
        if history is not None:
            cost_success = first_success(history, cost_per_row)
            # the data misfit of every history row is evaluated after the method's wall time is
            # taken (``trace`` below): it is bookkeeping, not part of the method's cost
            us = (np.asarray(history["unconstrained"].values) if "unconstrained" in history else
                  np.asarray(problem.unconstrained(jnp.asarray(np.asarray(history["parameters"].values)))))
            traces[name] = (us, np.asarray(cost_per_row, dtype=float))
        if success and cost_success is None:
            cost_success = float(total_cost)
        out["methods"][name] = {"success": bool(success), "misfit": value, "max_rel_error_identifiable": err,
                                "cost": float(total_cost), "cost_to_success": cost_success,
                                "reached_success": cost_success is not None, "note": note,
                                # the split of the cost: forward runs + loss+gradient evaluations (x r)
                                "n_forward": int(n_forward), "n_evaluations": None if evals is None else int(evals),
                                **split}

    j_small, j_large = ensemble_sizes(n)
    out["ensemble_sizes"] = [j_small, j_large]
    cache = {}
    for name in methods:
        t1 = time.perf_counter()
        if name == "lbfgsb":
            h = fit.history
            record(name, fit.theta, fit.u, fit.n_evaluations * r, h, h["n_evaluations"].values * r,
                   fit.message[:80], evals=fit.n_evaluations)
        elif name == "hybrid":
            res = calibrate_hybrid(problem, ensemble_method="eki", ensemble_iterations=3, ensemble_size=j_small,
                                   progress=False)
            nf = res.extra["n_forward"]
            h = res.history
            record(name, res.theta, res.u, nf + res.n_evaluations * r, h, nf + h["n_evaluations"].values * r,
                   n_forward=nf, evals=res.n_evaluations)
        elif name.startswith("eki"):
            J = {"eki_small": j_small, "eki_large": j_large, "eki_xlarge": 2 * j_large, "eki_long": j_large}[name]
            e = ensemble_kalman_inversion(problem, ensemble_size=J, progress=False,
                                          max_iterations=2 * eki_iterations if name == "eki_long" else eki_iterations)
            record(name, e.theta, e.u, e.n_forward, e.history, e.history["n_forward"].values, n_forward=e.n_forward)
        elif name == "uki":
            k = unscented_kalman_inversion(problem, max_iterations=uki_iterations, progress=False)
            record(name, k.theta, k.u, k.n_forward, k.history, k.history["n_forward"].values, n_forward=k.n_forward)
        elif name == "gauss_newton":
            # Levenberg–Marquardt: a Jacobian (n forward-mode passes) costs r_J forward runs, a
            # trial step one forward run
            g = calibrate_gauss_newton(problem, progress=False)
            h = g.history
            nf, nj = g.extra["n_forward"], g.extra["n_jacobians"]
            record(name, g.theta, g.u, nf + nj * r_jacobian, h,
                   h["n_forward"].values + h["n_jacobians"].values * r_jacobian, g.message[:80],
                   n_forward=nf, n_jacobians=nj, r_jacobian=r_jacobian)
        elif name == "robust":
            # L-BFGS-B from the first guess and from the mean of 3 EKI updates (J = j_small); a
            # run that did not converge is continued by Gauss–Newton; the lower loss is kept.
            # Cost: everything it ran (the choice needs every start), so cost to success = cost
            res = calibrate_multistart(problem, n_starts=2, ensemble_start="eki", ensemble_iterations=3,
                                       ensemble_size=j_small, polish="gauss_newton", progress=False)
            nf, nj, ne = res.extra["n_forward"], res.extra["n_jacobians"], res.n_evaluations
            record(name, res.theta, res.u, nf + ne * r + nj * (r_jacobian or 0.0), note=res.message[:120],
                   n_forward=nf, evals=ne, n_jacobians=nj, r_jacobian=r_jacobian,
                   starts=[{k: v for k, v in st.items() if k in ("kind", "loss", "data_misfit", "converged",
                                                                  "n_evaluations", "polished")}
                           for st in res.extra["starts"]], best_start=res.extra["best_start"])
        elif name in ("multistart", "multistart_earliest"):
            # one run serves both selection rules (the same starts; only the returned end point
            # differs): "lowest" loss, or the "earliest" start within 0.5 (Δχ² = 1) of it.
            # Cost: everything it ran (the choice needs every start), so cost to success = cost
            if "multistart" not in cache:
                t_ms = time.perf_counter()
                cache["multistart"] = calibrate_multistart(
                    problem, n_starts=MULTISTART_STARTS, ensemble_start="eki", ensemble_iterations=3,
                    ensemble_size=j_small, restarts=MULTISTART_RESTARTS, max_iterations=MULTISTART_ITERATIONS,
                    progress=False)
                cache["multistart_wall_s"] = time.perf_counter() - t_ms
            res = cache["multistart"]
            rule = "lowest" if name == "multistart" else "earliest"
            losses = [st["loss"] for st in res.extra["starts"]]
            k = select_start(losses, rule, 0.5)
            theta = np.asarray(res.extra["starts"][k]["theta"])
            nf, ne = res.extra["n_forward"], res.n_evaluations
            record(name, theta, problem.unconstrained(jnp.asarray(theta)), nf + ne * r, note=res.message[:120],
                   n_forward=nf, evals=ne, n_jacobians=0, r_jacobian=r_jacobian,
                   starts=[{k2: v for k2, v in st.items() if k2 in ("kind", "loss", "data_misfit", "converged",
                                                                     "n_evaluations", "restarts")}
                           for st in res.extra["starts"]], best_start=k, select=rule,
                   start_errors=[float(np.max(np.abs(np.asarray(st["theta"]) / truth - 1)[identifiable]))
                                 if identifiable.any() else 0.0 for st in res.extra["starts"]])
            out["methods"][name]["wall_s"] = cache["multistart_wall_s"]
            continue
        out["methods"][name]["wall_s"] = time.perf_counter() - t1
        if name in traces:
            # cost (fwd-run equivalents, as ``cost``) and data misfit of every history row (for
            # EKI / UKI the ensemble mean after each update; L-BFGS-B, hybrid: each iterate)
            us, cost_rows = traces.pop(name)
            out["methods"][name]["trace"] = {
                "cost": cost_rows.tolist(),
                "misfit": [float(misfit(problem, jnp.asarray(u_i))) for u_i in us]}
    return out


def _plan(full: bool, twins: int | None, field_controls: tuple[int, ...] | None = None):
    """[(kind, n_controls, twins_per_regime)], size per kind.  ``field_controls``: the field
    groups' numbers of controls (default 31, ``--full`` 63); a field twin with n controls has
    nz = n + 1 levels over the same depth (finer cells, same physics)."""
    if full:
        catke = dict(nz=32, depth=128.0, dt=600.0, hours=48.0, obs_hours=6.0)
        field = dict(nz=64, depth=128.0, dt=600.0, hours=48.0, obs_hours=6.0)
        plan = [("catke", 4, 7), ("catke", 8, 2), ("catke", 16, 2), ("catke", 24, 2), ("field", 63, 2)]
    else:
        catke = dict(nz=8, depth=64.0, dt=600.0, hours=12.0, obs_hours=3.0)
        field = dict(nz=32, depth=64.0, dt=600.0, hours=12.0, obs_hours=3.0)
        plan = [("catke", 4, 7), ("catke", 8, 2), ("catke", 16, 2), ("catke", 24, 2), ("field", 31, 2)]
    if field_controls is not None:
        per = next(t for k, _, t in plan if k == "field")
        plan = [p for p in plan if p[0] != "field"] + [("field", n, per) for n in field_controls]
    if twins is not None:
        plan = [(k, n, twins) for k, n, _ in plan]
    return plan, {"catke": catke, "field": field}


def _size(sizes, kind, n_controls):
    size = dict(sizes[kind])
    if kind == "field":
        size["nz"] = n_controls + 1
    return size


def _twin_id(kind, n, regime, seed):
    return f"{kind}-{n}-{regime}-{seed}"


def run_battery(*, full: bool = False, twins: int | None = None, jsonl: str | None = None, resume: bool = False,
                only: tuple[str, ...] | None = None, first: tuple[str, ...] = (), eki_iterations: int = 15, uki_iterations: int = 15,
                svi_steps: int = 500, methods=DEFAULT_METHODS, regimes: tuple[str, ...] = tuple(REGIMES),
                field_controls: tuple[int, ...] | None = None, add_to: str | None = None,
                ids: tuple[str, ...] | None = None, lbfgsb_iterations: int | None = None):
    """Run the plan's twins (``lbfgsb_iterations``: L-BFGS-B's iteration cap, default
    ``calibrate_scipy``'s); with ``add_to`` (a file of rows already measured), run only
    ``methods`` on the twins of that file (their stored identifiable sets), writing rows that
    hold only those methods to ``jsonl`` (``table`` merges them by twin id)."""
    plan, sizes = _plan(full, twins, field_controls)
    base = {row["id"]: row for row in read_rows(add_to)} if add_to else {}
    done = set()
    if resume and jsonl and os.path.exists(jsonl):
        done = {r["id"] for r in read_rows(jsonl)}
    rows = []
    t0 = time.perf_counter()
    print(f"sizes {sizes}; plan (kind, controls, twins per regime) {plan}; EKI {eki_iterations} / UKI "
          f"{uki_iterations} updates; SVI {svi_steps} steps", flush=True)
    # round-robin (twin k of every regime and every group before twin k + 1), so that a partial
    # run covers every number of controls and every regime
    order = [(kind, n_controls, regime, k) for k in range(max(p[2] for p in plan)) for regime in regimes
             for kind, n_controls, per_regime in plan if k < per_regime]
    if first:  # these groups' twins first (stable: round-robin within and after them)
        order.sort(key=lambda t: f"{t[0]}-{t[1]}" not in first)
    if ids:  # in the order given
        def rank(t):
            tid = _twin_id(t[0], t[1], t[2], 1000 * t[1] + 10 * list(REGIMES).index(t[2]) + t[3])
            return ids.index(tid) if tid in ids else len(ids)

        order.sort(key=rank)
    for kind, n_controls, regime, k in order:
        if only and f"{kind}-{n_controls}" not in only:
            continue
        seed = 1000 * n_controls + 10 * list(REGIMES).index(regime) + k
        tid = _twin_id(kind, n_controls, regime, seed)
        if tid in done or (add_to and tid not in base) or (ids and tid not in ids):
            continue
        problem, truth = make_twin(kind, regime, n_controls, seed, **_size(sizes, kind, n_controls))
        # per twin, in the same process and minute as its methods run
        # (r_J only for the methods that use Jacobians: compiling one is slow at 31 controls)
        r, r_jacobian = (_ratio(problem, jacobian=True) if {"gauss_newton", "robust"} & set(methods)
                         else (_ratio(problem), None))
        t1 = time.perf_counter()
        row = run_twin(problem, truth, r=r, eki_iterations=eki_iterations,
                       uki_iterations=uki_iterations, svi_steps=svi_steps, methods=methods, r_jacobian=r_jacobian,
                       lbfgsb_iterations=lbfgsb_iterations,
                       identifiable=base[tid]["identifiable"] if add_to else None)
        row.update(id=tid, kind=kind, regime=regime, seed=seed, r=r, r_jacobian=r_jacobian,
                   size=_size(sizes, kind, n_controls), wall_s=time.perf_counter() - t1, truth=truth.tolist())
        rows.append(row)
        if jsonl:
            with open(jsonl, "a") as f:
                f.write(json.dumps(row, default=_json_default) + "\n")
        print(f"[{time.perf_counter() - t0:6.0f} s] {tid}: r = {r:.2f}, "
              + ", ".join(f"{m}: {'ok' if v['success'] else 'FAIL'} ({v['cost_to_success'] or v['cost']:.0f})"
                          for m, v in row["methods"].items())
              + (f"; Laplace covers {sum(row['covered'])}/{n_controls}" if "covered" in row else "")
              + (f", SVI {sum(row['svi_covered'])}" if "svi_covered" in row else ""), flush=True)
    return rows


def _json_default(x):
    if hasattr(x, "item"):
        return x.item()
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def merge_rows(rows):
    """Rows of several files merged by twin id: a row that holds only added methods (``--add``)
    contributes its methods (and r_J) to the first row of that twin."""
    out: dict[str, dict] = {}
    for row in rows:
        if row["id"] not in out:
            out[row["id"]] = dict(row, methods=dict(row["methods"]))
            continue
        base = out[row["id"]]
        base["methods"].update(row["methods"])
        for key in ("r_jacobian",):
            if key in row:
                base.setdefault(key, row[key])
    return list(out.values())


def costs(row, name, r=None):
    """``(cost, cost_to_success or None)`` of a method on a twin, in forward-run equivalents; with
    ``r`` given, the loss+gradient evaluations of L-BFGS-B and the hybrid are priced at ``r``
    instead of the r measured with the twin (timing ratios are noise on an overloaded machine)."""
    v = row["methods"][name]
    cost, success = v["cost"], v.get("cost_to_success")
    if "n_jacobians" in v:  # gauss_newton (no loss+gradient evaluation) and robust (cost = whole run)
        if r is None or not v.get("n_evaluations"):
            return cost, success
        total = v["n_forward"] + v["n_evaluations"] * r + v["n_jacobians"] * (v.get("r_jacobian") or 0.0)
        return total, (None if success is None else total)
    if r is None or name not in ("lbfgsb", "hybrid"):
        return cost, success
    r_row = row["r"]
    nf = v.get("n_forward")
    if nf is None or "n_evaluations" not in v:  # rows written before the split was stored
        nf = 0 if name == "lbfgsb" else 1 + 3 * (row["ensemble_sizes"][0] + 1)
    def rescale(c):
        return nf + (c - nf) / r_row * r

    return rescale(cost), (None if success is None else rescale(success))


def _groups(rows):
    return sorted({(r.get("kind", "catke"), r["n_controls"]) for r in rows}, key=lambda g: (g[0] != "catke", g[1]))


LABELS = {"lbfgsb": "adjoint L-BFGS-B", "hybrid": "hybrid (EKI, then L-BFGS-B)", "eki_small": "EKI, J = max(10, n+2)",
          "eki_large": "EKI, J = 2 max(10, n+2)", "eki_xlarge": "EKI, J = 4 max(10, n+2)",
          "eki_long": "EKI, J = 2 max(10, n+2), twice the updates", "uki": "UKI (2n+1 points)",
          "gauss_newton": "Gauss–Newton (LM, forward-mode J)",
          "robust": "robust: L-BFGS-B from first guess + EKI mean, GN polish",
          "multistart": "multistart: L-BFGS-B from first guess, EKI mean, prior draw; lowest loss",
          "multistart_earliest": "multistart, earliest start within Δχ² = 1 of the lowest"}


def table(rows, methods=ALL_METHODS, r=None) -> str:
    lines = ["| controls | twins | method | success | reached success | median cost to success (fwd-run equiv.) "
             "| median cost of the run | Laplace / SVI 95 % coverage |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, n in _groups(rows):
        sub = [r for r in rows if r.get("kind", "catke") == kind and r["n_controls"] == n]
        cov = np.mean([c for r in sub for c in r.get("covered", [])])
        svi = [c for r in sub for c in r.get("svi_covered", [])]
        label = f"{n}" + (" (field)" if kind == "field" else "")
        for k, name in enumerate(methods):
            res = [row["methods"][name] for row in sub if name in row["methods"]]
            if not res:
                continue
            priced = [costs(row, name, r) for row in sub if name in row["methods"]]
            ok = sum(x["success"] for x in res)
            reached = [c for _, c in priced if c is not None]
            med_s = f"{np.median(reached):.0f}" if reached else "—"
            cost = np.median([c for c, _ in priced])
            js = sub[0].get("ensemble_sizes")
            mname = {"eki_small": f"EKI J = {js[0]}" if js else "EKI small",
                     "eki_large": f"EKI J = {js[1]}" if js else "EKI large",
                     "eki_xlarge": f"EKI J = {2 * js[1]}" if js else "EKI x-large",
                     "eki_long": f"EKI J = {js[1]}, 2x updates" if js else "EKI long"}.get(name, name)
            covtxt = (f"{cov:.2f} ({sum(c for r in sub for c in r['covered'])}/{sum(len(r['covered']) for r in sub)})"
                      + (f" / {np.mean(svi):.2f} ({sum(svi)}/{len(svi)})" if svi else " / —")) if k == 0 else ""
            lines.append(f"| {label} | {len(sub)} | {mname} | {ok}/{len(res)} | {len(reached)}/{len(res)} | {med_s} | "
                         f"{cost:.0f} | {covtxt} |")
    return "\n".join(lines)


def twin_table(rows, methods=ALL_METHODS, r=None) -> str:
    """Per twin: cost to success (fwd-run equivalents), or ``FAIL (cost of the run; misfit − the
    truth's, worst identifiable error)``; Laplace / SVI coverage."""
    methods = [m for m in methods if any(m in row["methods"] for row in rows)]  # columns with a result
    lines = ["| twin | r | identifiable | " + " | ".join(methods) + " | Laplace / SVI cover |",
             "|---" * (len(methods) + 4) + "|"]
    for kind, n in _groups(rows):
        for row in [x for x in rows if x.get("kind", "catke") == kind and x["n_controls"] == n]:
            cells = []
            for name in methods:
                v = row["methods"].get(name)
                if v is None:
                    cells.append("—")
                    continue
                cost, success = costs(row, name, r)
                if v["success"] or success is not None:
                    cells.append(f"ok {success:.0f}")
                else:
                    cells.append(f"FAIL ({cost:.0f}; misfit {v['misfit'] - row['misfit_truth']:+.1f}, "
                                 f"error {100 * v['max_rel_error_identifiable']:.1f} %)")
            svi = f"{sum(row['svi_covered'])}/{n}" if "svi_covered" in row else "—"
            lines.append(f"| {row['id']} | {row['r']:.2f} | {sum(row['identifiable'])}/{n} | " + " | ".join(cells)
                         + f" | {sum(row['covered'])}/{n} / {svi} |")
    return "\n".join(lines)


def plot(rows, path, methods=ALL_METHODS, r=None):
    """Median cost to success (fwd-run equivalents) vs number of controls, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for name, marker in zip(methods, "osv^DXP*hd<", strict=False):
        xs, ys, fails_x, fails_y = [], [], [], []
        for kind, n in _groups(rows):
            priced = [costs(row, name, r) for row in rows if row.get("kind", "catke") == kind
                      and row["n_controls"] == n and name in row["methods"]]
            reached = [c for _, c in priced if c is not None]
            if reached:
                xs.append(n)
                ys.append(np.median(reached))
            elif priced:
                fails_x.append(n)
                fails_y.append(np.median([c for c, _ in priced]))
        if not xs and not fails_x:
            continue
        line, = ax.plot(xs, ys, marker=marker, label=LABELS[name])
        if fails_x:
            ax.plot(fails_x, fails_y, marker=marker, ls="none", mfc="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = sorted({n for _, n in _groups(rows)})
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("number of controls n (31, 63, 127: the initial-stratification field)")
    ax.set_ylabel("median cost to success (forward-run equivalents)")
    ax.set_title("Calibration battery (open markers: never succeeded; cost of the run)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    import pyclimaocean  # noqa: F401  (x64)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's sizes (hours)")
    ap.add_argument("--twins-per-regime", type=int, default=None)
    ap.add_argument("--jsonl", default=None, help="append one JSON line per finished twin")
    ap.add_argument("--resume", action="store_true", help="skip twins already in --jsonl")
    ap.add_argument("--only", nargs="*", default=None, help="groups such as catke-4 field-31")
    ap.add_argument("--first", nargs="*", default=[], help="run these groups' twins before the others")
    ap.add_argument("--svi-steps", type=int, default=500)
    ap.add_argument("--methods", nargs="*", default=list(DEFAULT_METHODS), choices=list(ALL_METHODS))
    ap.add_argument("--field-controls", nargs="*", type=int, default=None,
                    help="numbers of controls of the field groups (default 31; --full 63)")
    ap.add_argument("--ids", nargs="*", default=None, help="run only these twins (ids as in the tables)")
    ap.add_argument("--add", default=None, metavar="FILE",
                    help="run only --methods (not lbfgsb) on the twins stored in FILE, writing to --jsonl")
    ap.add_argument("--regimes", nargs="*", default=list(REGIMES), choices=list(REGIMES),
                    help="regimes, in the order the round-robin visits them")
    ap.add_argument("--lbfgsb-iterations", type=int, default=None,
                    help="L-BFGS-B's iteration cap (default: calibrate_scipy's, 200)")
    ap.add_argument("--table-only", action="store_true", help="print the table (and --plot) from --jsonl")
    ap.add_argument("--plot", default=None, help="write the cost-vs-controls figure here")
    ap.add_argument("--r", type=float, default=None,
                    help="price a loss+gradient evaluation at R forward runs in the table and plot "
                         "(default: the r measured with each twin)")
    args = ap.parse_args(argv)
    if args.table_only:
        rows = merge_rows([row for path in args.jsonl.split(",") for row in read_rows(path)])
    else:
        t0 = time.perf_counter()
        rows = run_battery(full=args.full, twins=args.twins_per_regime, jsonl=args.jsonl, resume=args.resume,
                           only=tuple(args.only) if args.only else None, first=tuple(args.first),
                           svi_steps=args.svi_steps, methods=tuple(args.methods),
                           regimes=tuple(args.regimes),
                           field_controls=tuple(args.field_controls) if args.field_controls else None,
                           add_to=args.add, ids=tuple(args.ids) if args.ids else None,
                           lbfgsb_iterations=args.lbfgsb_iterations)
        print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")
        if args.jsonl and args.resume:
            rows = read_rows(args.jsonl)
        if args.add:
            rows = merge_rows(read_rows(args.add) + rows)
    print(table(rows, r=args.r))
    print()
    print(twin_table(rows, r=args.r))
    if args.plot:
        plot(rows, args.plot, r=args.r)
    return rows


if __name__ == "__main__":
    main()
