"""Compile time of each calibration method's compiled pieces on the battery's field twins.

For a field twin with n controls (nz = n + 1 levels, the battery's default 12-h window or
``--hours``), times ``lower`` (tracing) and ``compile`` (XLA) separately, in process CPU time and
wall time, for: the forward map, the loss and its gradient (L-BFGS-B), the ensemble forward
(EKI, a batch of J members), the residuals and their forward-mode Jacobian (Gauss–Newton and
the Gauss–Newton Laplace), and the regularisation's derivatives.  Then one warm call of each.

Run: ``python -m benchmarks.field_compile_profile --controls 31 63 [--hours 2] [--pieces ...]``
"""

from __future__ import annotations

import argparse
import json
import time

PIECES = ("forward", "value_and_grad", "loss_terms", "ensemble", "jacobian", "regularization", "laplace_jacobian",
          "laplace_prior_hessian")


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def profile(n_controls: int, hours: float, pieces=PIECES, ensemble_size: int | None = None, out_path=None,
            label: str = ""):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from benchmarks.calibration_battery import _plan, _size, ensemble_sizes, make_twin
    from pyclimaocean.calibration.gauss_newton import _regularization_terms, residuals_and_jacobian
    from pyclimaocean.calibration.optimize import loss_terms
    from pyclimaocean.inference.laplace import _gauss_newton, _hessian_dense

    _, sizes = _plan(False, None, (n_controls,))
    size = _size(sizes, "field", n_controls)
    size["hours"] = hours
    size["obs_hours"] = min(size["obs_hours"], hours)
    problem, _ = make_twin("field", "wind", n_controls, 1000 * n_controls + 10, **size)
    u = problem.u0
    J = ensemble_size or ensemble_sizes(n_controls)[1]
    U = jnp.tile(u, (J, 1)) + 0.01 * jax.random.normal(jax.random.PRNGKey(0), (J, n_controls))
    fns = {
        "forward": (lambda p, v: p.forward(v), u),
        "value_and_grad": (lambda p, v: jax.value_and_grad(p.loss)(v), u),
        "ensemble": (lambda p, V: jax.vmap(p.forward)(V), U),
        "jacobian": (residuals_and_jacobian, u),
        "loss_terms": (loss_terms, u),  # what L-BFGS-B evaluates
        "regularization": (_regularization_terms, u),  # Gauss–Newton's prior terms
        "laplace_jacobian": (_gauss_newton, u),  # Laplace (method "gauss_newton"): JᵀJ
        "laplace_prior_hessian": (lambda p, v: getattr(_hessian_dense, "__wrapped__", _hessian_dense)(p, v, "prior"), u),
    }
    out = {"n_controls": n_controls, "nz": size["nz"], "hours": hours, "J": J}
    for name in pieces:
        fn, arg = fns[name]
        fn = getattr(fn, "__wrapped__", fn)
        jitted = eqx.filter_jit(fn)
        lowered, tl_w, tl_c = _timed(lambda jitted=jitted, arg=arg: jitted.lower(problem, arg))
        compiled, tc_w, tc_c = _timed(lambda lowered=lowered: lowered.compile())
        _, tr_w, tr_c = _timed(lambda compiled=compiled, arg=arg: jax.block_until_ready(compiled(problem, arg)))
        out[name] = dict(lower_wall=tl_w, lower_cpu=tl_c, compile_wall=tc_w, compile_cpu=tc_c,
                         run_wall=tr_w, run_cpu=tr_c)
        line = json.dumps({"label": label, "n": n_controls, "hours": hours, "piece": name,
                           **{k: round(v, 2) for k, v in out[name].items()}})
        print(line, flush=True)
        if out_path:
            with open(out_path, "a") as f:
                f.write(line + "\n")
    return out


def main(argv=None):
    import pyclimaocean  # noqa: F401  (x64)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--controls", nargs="*", type=int, default=[31, 63])
    ap.add_argument("--hours", type=float, default=12.0)
    ap.add_argument("--pieces", nargs="*", default=list(PIECES), choices=list(PIECES))
    ap.add_argument("--ensemble-size", type=int, default=None)
    ap.add_argument("--out", default=None, help="append one JSON line per piece")
    ap.add_argument("--label", default="", help="a label stored with each line (e.g. before/after)")
    args = ap.parse_args(argv)
    for n in args.controls:
        profile(n, args.hours, args.pieces, args.ensemble_size, args.out, args.label)


if __name__ == "__main__":
    main()
