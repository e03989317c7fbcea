"""SVI 95 % interval coverage on the calibration battery's twins (not a test; issue 12).

The battery (:mod:`benchmarks.calibration_battery`) ran SVI on only a few twins, because SVI
then compiled anew for every twin.  ``run_svi`` now compiles one fit per problem structure, so
this script rebuilds each stored twin that lacks SVI with the battery's own builder
(``make_twin``, same seed and size; the truth is checked against the stored one), repeats the
adjoint fit and the Gauss–Newton Laplace approximation exactly as the battery does (the
Laplace coverage is checked against the stored one), and runs SVI with the battery's
settings: multivariate-normal guide warm-started from that Laplace fit, ``--svi-steps`` steps
(default 500, the battery's), learning rate 0.01, one particle.

One JSON line per twin in ``--jsonl`` (``--resume`` skips twins already there): twin id,
number of controls, Laplace and SVI coverage per parameter, SVI convergence, wall time and
the number of XLA compilations SVI triggered (0 after the first twin of a group).
``--table-only`` prints the coverage per number of controls from that file.

    python -m benchmarks.calibration_svi_coverage [--only catke-4 catke-8] [--resume]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

import numpy as np

from benchmarks.calibration_battery import _json_default, make_twin, merge_rows, read_rows

SOURCE = "benchmarks/results/calibration_battery.jsonl"
OUT = "benchmarks/results/calibration_svi_coverage.jsonl"
#: cheapest groups first, so that a partial run covers as many twins as possible
GROUP_ORDER = ("catke-4", "catke-8", "catke-16", "catke-24", "field-31")


class _CompileCounter(logging.Handler):
    """Counts JAX's "Compiling ..." log records (with ``jax_log_compiles`` on)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.n = 0

    def emit(self, record):
        if record.getMessage().startswith("Compiling"):
            self.n += 1


def run(source: str = SOURCE, jsonl: str = OUT, only=None, resume: bool = False, svi_steps: int = 500,
        include_done: bool = False):
    import jax

    from pyclimaocean.calibration import calibrate_scipy
    from pyclimaocean.inference import laplace, run_svi

    counter = _CompileCounter()
    log = logging.getLogger("jax")
    log.addHandler(counter)
    log.setLevel(logging.DEBUG)
    log.propagate = False  # count, do not print, the compile messages
    jax.config.update("jax_log_compiles", True)
    rows = merge_rows(read_rows(source))
    group = lambda r: f"{r['kind']}-{r['n_controls']}"  # noqa: E731
    rows = [r for r in rows if (only is None or group(r) in only) and (include_done or "svi_covered" not in r)]
    rows.sort(key=lambda r: GROUP_ORDER.index(group(r)) if group(r) in GROUP_ORDER else len(GROUP_ORDER))
    done = {r["id"] for r in read_rows(jsonl)} if resume and os.path.exists(jsonl) else set()
    t0 = time.perf_counter()
    for row in rows:
        if row["id"] in done:
            continue
        problem, truth = make_twin(row["kind"], row["regime"], row["n_controls"], row["seed"], **row["size"])
        if not np.allclose(truth, row["truth"], rtol=1e-12, atol=0):
            raise RuntimeError(f"{row['id']}: the rebuilt truth differs from the stored one")
        t1 = time.perf_counter()
        fit = calibrate_scipy(problem, progress=False)
        post = laplace(problem, fit.u, method="gauss_newton", optimizer_result=fit, on_nonstationary="ignore",
                       precision=None)
        t2 = time.perf_counter()
        n0 = counter.n
        svi = run_svi(problem, guide="multivariate_normal", num_steps=svi_steps, init_from=post, progress=False)
        out = {
            "id": row["id"], "kind": row["kind"], "regime": row["regime"], "seed": row["seed"],
            "n_controls": row["n_controls"], "svi_steps": svi_steps,
            "laplace_covered": post.covers(truth).tolist(),
            "laplace_as_in_battery": post.covers(truth).tolist() == row["covered"],
            "misfit": float(fit.data_misfit), "battery_misfit": row["methods"]["lbfgsb"]["misfit"],
            "svi_covered": svi.covers(truth).tolist(),
            "svi_converged": bool(svi.diagnostics["converged"]),
            "svi_spread_over_laplace": (svi.u_samples.std(0) / post.u_samples.std(0)).tolist(),
            "svi_compilations": counter.n - n0,
            "fit_wall_s": t2 - t1, "svi_wall_s": time.perf_counter() - t2,
        }
        with open(jsonl, "a") as f:
            f.write(json.dumps(out, default=_json_default) + "\n")
        print(f"[{time.perf_counter() - t0:6.0f} s] {row['id']}: Laplace covers {sum(out['laplace_covered'])}, "
              f"SVI {sum(out['svi_covered'])} of {row['n_controls']} (SVI {out['svi_wall_s']:.1f} s, "
              f"{out['svi_compilations']} compilations)", flush=True)


def table(path: str = OUT, source: str | None = SOURCE) -> str:
    """Markdown table: 95 % coverage of Laplace and SVI per number of controls, over this
    script's rows and the battery's own SVI rows (``source``; same SVI settings)."""
    rows = read_rows(path)
    have = {r["id"] for r in rows}
    if source:
        rows += [dict(r, laplace_covered=r["covered"]) for r in merge_rows(read_rows(source))
                 if "svi_covered" in r and r["id"] not in have]
    lines = ["| controls | twins | Laplace 95 % coverage | SVI 95 % coverage | SVI converged |",
             "|---|---|---|---|---|"]
    for n in sorted({r["n_controls"] for r in rows}):
        sub = [r for r in rows if r["n_controls"] == n]
        kind = sub[0]["kind"]
        lap = [c for r in sub for c in r["laplace_covered"]]
        svi = [c for r in sub for c in r["svi_covered"]]
        lines.append(f"| {n} ({kind}) | {len(sub)} | {np.mean(lap):.2f} ({sum(lap)}/{len(lap)}) | "
                     f"{np.mean(svi):.2f} ({sum(svi)}/{len(svi)}) | {sum(r['svi_converged'] for r in sub)}/{len(sub)} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default=SOURCE, help="the battery's rows")
    ap.add_argument("--jsonl", default=OUT)
    ap.add_argument("--only", nargs="*", default=None, help="groups such as catke-4 field-31")
    ap.add_argument("--resume", action="store_true", help="skip twins already in --jsonl")
    ap.add_argument("--svi-steps", type=int, default=500)
    ap.add_argument("--include-done", action="store_true", help="also the twins the battery ran SVI on")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.table_only:
        run(args.source, args.jsonl, args.only, args.resume, args.svi_steps, args.include_done)
    print(table(args.jsonl, args.source))


if __name__ == "__main__":
    main()
