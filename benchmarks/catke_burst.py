"""Why the issue-12 CATKE twin's loss jumps at dt = 600 s: find the step, the place and the
feedback that turn a 1e-16 change of the parameters into a different solution.

1. :func:`pyclimaocean.calibration.landscape.scan` through the *truth* of the twin of
   ``benchmarks.switch_landscape`` (smooth default switches, dt = 600 s), 3 random directions,
   radius 0.05, 41 points, 12 bisections; the first discontinuity is taken.
2. The two parameter points either side of it are run step by step: the first step at which the
   states differ by more than 1e-6, and the field and level where they differ.
3. The tangent-linear map of one step, J = ∂xⁿ⁺¹/∂xⁿ (x = T, S, u, v, e: 5 nz values), is
   formed by forward-mode AD along the trajectory before that step; its dominant eigenvalue
   λ (> 1: growth per step) is printed, with the dependence of the diffusivities ν, κ on one
   input at a time (S², N², e) cut by ``stop_gradient``.  Cutting a channel that carries the
   growth brings |λ| down to ~1.

Run: ``python -m benchmarks.catke_burst`` (``--dt`` to change the step; a few minutes).
"""

from __future__ import annotations

import argparse

import numpy as np

FIELDS = ("temperature", "salinity", "u", "v", "tke")


def main(argv=None):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import pyclimaocean  # noqa: F401  (x64)
    from pyclimaocean.calibration.landscape import _directions, scan
    from pyclimaocean.closures import catke
    from pyclimaocean.models.column.state import ColumnState

    from .switch_landscape import build_twin

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt", type=float, default=600.0)
    args = ap.parse_args(argv)
    dt = args.dt
    problem, truth = build_twin(1.0, dt=dt)
    u0 = np.asarray(problem.unconstrained(jnp.asarray([float(truth[n].value) for n in problem.names])))
    report = scan(problem, u0, directions="random", n_random=3, radius=0.05, n_points=41, seed=0,
                  which="data_misfit")
    jumps = [(k, d) for k, s in enumerate(report.scans) for d in s.discontinuities]
    print(f"dt = {dt:g} s: {len(jumps)} discontinuities through the truth")
    if not jumps:
        return None
    k, d = jumps[0]
    print(f"  along {report.scans[k].label}: Φ_data jumps by {d['jump']:+.4g} between t = {d['t_left']:.10g} "
          f"and {d['t_right']:.10g} ({d['ratio']:.3g} x the slope's prediction)")
    direction = list(_directions(problem, "random", 3, 0))[k][1]
    case = problem.cases[0]
    ma = problem.theta(jnp.asarray(u0 + d["t_left"] * direction)).apply(case.model)
    mb = problem.theta(jnp.asarray(u0 + d["t_right"] * direction)).apply(case.model)
    step = eqx.filter_jit(lambda m, s: m.step(s))

    def flat(s):
        return jnp.concatenate([getattr(s, f) for f in FIELDS])

    sa, sb = ma.initial_state(), mb.initial_state()
    states, first, n_steps = [], None, int(round(2 * 86400 / dt))
    for n in range(n_steps):
        states.append(np.asarray(flat(sa)))
        sa, sb = step(ma, sa), step(mb, sb)
        diff = np.abs(np.asarray(flat(sa) - flat(sb))).reshape(5, -1)
        if first is None and diff.max() > 1e-6:
            first = n
            field, level = np.unravel_index(np.argmax(diff), diff.shape)
            print(f"  the runs differ by > 1e-6 after step {n + 1} (largest in {FIELDS[field]} at level {level} "
                  f"of {diff.shape[1]}, counted from the bottom)")
    final = np.abs(np.asarray(flat(sa) - flat(sb))).reshape(5, -1).max(axis=1)
    print("  difference at the end (T, S, u, v, e): " + ", ".join(f"{x:.2g}" for x in final))
    if first is None:
        return None

    def unflat(x, t):
        return ColumnState(*x.reshape(5, -1), time=t, iteration=jnp.asarray(1))

    original = catke.CATKELike.diffusivities

    def cut(field):
        def diffusivities(self, ctx):
            return original(self, eqx.tree_at(lambda c: getattr(c, field), ctx, replace_fn=jax.lax.stop_gradient))
        return diffusivities

    channels = {"none cut": None, "S² → ν, κ cut": "shear_squared", "N² → ν, κ cut": "buoyancy_frequency_squared",
                "e → ν, κ cut": "tke"}
    rows = {}
    try:
        for label, field in channels.items():
            catke.CATKELike.diffusivities = original if field is None else cut(field)
            jac = jax.jit(jax.jacfwd(lambda x, t: flat(ma.step(unflat(x, t)))))
            lam = []
            for n in range(max(first - 10, 0), first + 1):
                ev, vec = np.linalg.eig(np.asarray(jac(jnp.asarray(states[n]), jnp.asarray(dt * n))))
                i = int(np.argmax(np.abs(ev)))
                v = np.abs(vec[:, i]).reshape(5, -1)
                f, lev = np.unravel_index(np.argmax(v), v.shape)
                lam.append((n + 1, ev[i], FIELDS[f], int(lev)))
            rows[label] = lam
            print(f"  {label:16s} dominant eigenvalue of the step's tangent map, steps {lam[0][0]}..{lam[-1][0]}: "
                  + " ".join(f"{x.real:.3g}" + ("±i" if abs(x.imag) > 1e-9 else "") for _, x, _, _ in lam)
                  + f" (eigenvector largest in {lam[-1][2]} at level {lam[-1][3]})", flush=True)
    finally:
        catke.CATKELike.diffusivities = original
    return rows


if __name__ == "__main__":
    main()
