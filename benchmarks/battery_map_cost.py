"""Cost to reach the MAP's misfit: a second cost measure of the calibration battery (issue 12).

The battery's success criterion (every identifiable parameter within 2 % of the truth *and* the
data misfit within χ² noise of the truth's) is mostly chance at 63 or more controls
(:mod:`benchmarks.battery_oracle`: an exact-MAP oracle passes 1.8–4.8 of 6 field-63 twins), so
its "cost to success" measures luck as much as speed.  This measure does not depend on it:

    **cost to the MAP's misfit** = forward-run equivalents (FRE) spent when a method's recorded
    iterate first has a data misfit Φ_data ≤ Φ_best + tol,

where Φ_best is the lowest data misfit *any* method found on that twin (every stored end point
and every recorded iterate, all files; ≈ the MAP's, which the converged methods share to
within a few units) and tol = √(m/2) by default (one standard deviation of Φ_data = ½χ²_m of
pure noise, m observations: the same tolerance the battery's misfit test uses; i.e. χ² within
√(2m)).  The iterates are those the battery's ``trace`` records (its history rows: the ensemble
mean after each update for EKI / UKI, each accepted iterate of L-BFGS-B, each Gauss–Newton
step), priced as the battery prices them: a loss+gradient evaluation at ``--r`` forward runs
(default 3.9, as the battery's tables), a Jacobian at the r_J measured with the twin, an
ensemble member at one.  A method whose end point is above Φ_best + tol and that has no trace
counts as not reaching (its full cost shown); one with no trace that ends below cannot be priced
and is left out.

Per group: how many twins each method reached, the median FRE among those, and the ratio
*cheapest EKI ÷ L-BFGS-B* (EKI ensemble size whose median is lowest among the sizes that reached
the MAP's misfit on the most twins, over L-BFGS-B's median; ``eki_long``, which repeats
``eki_large``'s first 15 updates, takes ``eki_large``'s cost on twins where it was not run and
``eki_large`` reached), and per twin the cheapest EKI size that reached ÷ L-BFGS-B.

Run: ``python -m benchmarks.battery_map_cost --jsonl A.jsonl,B.jsonl,... [--plot F.png]``.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from benchmarks.calibration_battery import read_rows

EKI = ("eki_small", "eki_large", "eki_xlarge", "eki_long")
SHOWN = ("lbfgsb", "gauss_newton", "hybrid", "uki") + EKI


def _scale_cost(row, name, method, c, r):
    """Price an L-BFGS-B / hybrid cost at ``r`` (fwd-run equivalents per loss+gradient evaluation)
    instead of the r measured with the twin, as ``calibration_battery.costs`` does."""
    if r is None or name not in ("lbfgsb", "hybrid"):
        return c
    nf = method.get("n_forward") or 0
    return nf + (c - nf) / row["r"] * r


def twin_costs(rows, tolerance=None, r=3.9):
    """``{twin id: {"n": controls, "m": m, "best": Φ_best, "tol": tol, "ensemble_sizes": [...],
    "methods": {name: (reached, cost, traced)}}}``: cost = FRE at the first recorded iterate within
    ``tol`` of Φ_best (reached) or the method's full cost (not reached)."""
    by_id: dict[str, list] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    out = {}
    for tid, group in by_id.items():
        misfits = [v["misfit"] for row in group for v in row["methods"].values()]
        misfits += [x for row in group for v in row["methods"].values() if "trace" in v for x in v["trace"]["misfit"]]
        best = float(np.min(misfits))
        m = group[0]["m"]
        tol = math.sqrt(m / 2) if tolerance is None else tolerance
        methods = {}
        # traced rows first: a method's traced run wins over an untraced one of the same twin
        for row in sorted(group, key=lambda x: not any("trace" in v for v in x["methods"].values())):
            for name, v in row["methods"].items():
                if name in methods:
                    continue
                if "trace" in v:
                    mis = np.asarray(v["trace"]["misfit"])
                    hit = np.flatnonzero(mis <= best + tol)
                    if hit.size:
                        c = v["trace"]["cost"][hit[0]]
                        methods[name] = (True, _scale_cost(row, name, v, c, r), True)
                    else:
                        methods[name] = (False, _scale_cost(row, name, v, v["cost"], r), True)
                elif v["misfit"] > best + tol:
                    methods[name] = (False, _scale_cost(row, name, v, v["cost"], r), False)
        sizes = next((row["ensemble_sizes"] for row in group if "ensemble_sizes" in row), None)
        out[tid] = {"n": group[0]["n_controls"], "m": m, "best": best, "tol": tol, "ensemble_sizes": sizes,
                    "methods": methods, "misfit_truth": group[0]["misfit_truth"]}
    return out


def _eki_label(name, sizes):
    if sizes is None:
        return name
    return {"eki_small": f"EKI J = {sizes[0]}", "eki_large": f"EKI J = {sizes[1]}",
            "eki_xlarge": f"EKI J = {2 * sizes[1]}", "eki_long": f"EKI J = {sizes[1]}, 30 updates"}.get(name, name)


def group_summary(costs):
    """Per number of controls: per method (reached, twins, median FRE among reached), the
    cheapest EKI and the ratios."""
    groups = {}
    for tid, t in costs.items():
        groups.setdefault(t["n"], []).append((tid, t))
    summary = {}
    for n, twins in sorted(groups.items()):
        per = {}
        has_long = any("eki_long" in t["methods"] for _, t in twins)
        for name in SHOWN:
            vals = [t["methods"][name] for _, t in twins if name in t["methods"]]
            if name == "eki_long" and has_long:
                # eki_long repeats eki_large's first updates (same seed), so on a twin without an
                # eki_long run where eki_large reached, eki_long reached at the same cost
                vals += [t["methods"]["eki_large"] for _, t in twins if "eki_long" not in t["methods"]
                         and t["methods"].get("eki_large", (False,))[0]]
            if not vals:
                continue
            reached = [c for ok, c, _ in vals if ok]
            per[name] = {"reached": len(reached), "twins": len(vals),
                         "median": float(np.median(reached)) if reached else None,
                         "median_run": float(np.median([c for _, c, _ in vals]))}
        ekis = [e for e in EKI if e in per and per[e]["reached"]]
        cheapest = None
        if ekis:
            most = max(per[e]["reached"] for e in ekis)
            cheapest = min((e for e in ekis if per[e]["reached"] == most), key=lambda e: per[e]["median"])
        ratio = (per[cheapest]["median"] / per["lbfgsb"]["median"]
                 if cheapest and "lbfgsb" in per and per["lbfgsb"]["median"] else None)
        per_twin = []
        for _, t in twins:
            lb = t["methods"].get("lbfgsb")
            e = [t["methods"][k][1] for k in EKI if k in t["methods"] and t["methods"][k][0]]
            if lb and lb[0] and e:
                per_twin.append(min(e) / lb[1])
        summary[n] = {"methods": per, "cheapest_eki": cheapest, "ratio": ratio, "per_twin_ratios": per_twin,
                      "sizes": twins[0][1]["ensemble_sizes"], "twins": len(twins)}
    return summary


def tables(costs, summary) -> str:
    lines = ["| controls | method | reached Φ_best + tol | median FRE to reach | median cost of the run "
             "| cheapest EKI ÷ L-BFGS-B |", "|---|---|---|---|---|---|"]
    for n, s in summary.items():
        for name, p in s["methods"].items():
            med = f"{p['median']:.0f}" if p["median"] is not None else "—"
            ratio = ""
            if name == "lbfgsb" and s["ratio"] is not None:
                pt = s["per_twin_ratios"]
                ratio = (f"{s['ratio']:.2f} ({_eki_label(s['cheapest_eki'], s['sizes'])}; per twin "
                         f"{min(pt):.2f}–{max(pt):.2f}, median {np.median(pt):.2f})" if pt else f"{s['ratio']:.2f}")
            lines.append(f"| {n} | {_eki_label(name, s['sizes'])} | {p['reached']}/{p['twins']} | {med} | "
                         f"{p['median_run']:.0f} | {ratio} |")
    lines += ["", "| twin | Φ_best − Φ_truth | tol | " + " | ".join(SHOWN) + " |", "|---" * (len(SHOWN) + 3) + "|"]
    for tid, t in sorted(costs.items(), key=lambda kv: (kv[1]["n"], kv[0])):
        cells = []
        for name in SHOWN:
            v = t["methods"].get(name)
            if v is None:
                cells.append("—")
            else:
                cells.append(f"{v[1]:.0f}" if v[0] else f"not reached ({v[1]:.0f}{'' if v[2] else ', end point'})")
        lines.append(f"| {tid} | {t['best'] - t['misfit_truth']:+.1f} | {t['tol']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary, path):
    """Median FRE to the MAP's misfit vs number of controls (open markers: no twin reached it;
    the median cost of the run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"lbfgsb": "adjoint L-BFGS-B", "gauss_newton": "Gauss–Newton", "hybrid": "hybrid", "uki": "UKI",
              "eki_small": "EKI, J = n + 2", "eki_large": "EKI, J = 2(n + 2)", "eki_xlarge": "EKI, J = 4(n + 2)",
              "eki_long": "EKI, J = 2(n + 2), 30 updates"}
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    for name, marker in zip(SHOWN, "osv^DXP<", strict=True):
        xs, ys, fx, fy = [], [], [], []
        for n, s in summary.items():
            p = s["methods"].get(name)
            if p is None:
                continue
            if p["median"] is not None:
                xs.append(n)
                ys.append(p["median"])
            else:
                fx.append(n)
                fy.append(p["median_run"])
        if not xs and not fx:
            continue
        line, = ax.plot(xs, ys, marker=marker, label=labels[name])
        if fx:
            ax.plot(fx, fy, marker=marker, ls="none", mfc="none", color=line.get_color())
        for n, y in list(zip(xs, ys, strict=True)) + list(zip(fx, fy, strict=True)):  # twins that reached / twins run
            p = summary[n]["methods"][name]
            ax.annotate(f"{p['reached']}/{p['twins']}", (n, y), textcoords="offset points", xytext=(6, -3),
                        fontsize=7, color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = list(summary)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("number of controls n (initial-stratification field)")
    ax.set_ylabel("median FRE to reach Φ_best + √(m/2)")
    ax.set_title("Cost to the MAP's misfit (k/N: twins that reached it / twins run; open markers: none did, "
                 "cost of the run)", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jsonl", required=True, help="comma-separated battery row files (traced and not)")
    ap.add_argument("--tolerance", type=float, default=None, help="Φ_data tolerance (default √(m/2) per twin)")
    ap.add_argument("--r", type=float, default=3.9, help="fwd-run equivalents per loss+gradient evaluation")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--json", default=None, help="write the per-group summary here")
    args = ap.parse_args(argv)
    rows = [row for path in args.jsonl.split(",") for row in read_rows(path)]
    costs = twin_costs(rows, args.tolerance, args.r)
    summary = group_summary(costs)
    print(tables(costs, summary))
    if args.plot:
        plot(summary, args.plot)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): v for k, v in summary.items()}, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
