"""Equivariant − plain CNN closure over training seeds, eddy and jet, in one figure.

Reads the two seed collections (``benchmarks/results/qg_online_seeds.json`` from
``python -m benchmarks.qg_online_seeds`` and ``benchmarks/results/qg_jet_online_seeds.json``
from ``python -m benchmarks.qg_jet_online_seeds``) and draws, per configuration and data
fraction, the difference of the Ross et al. similarity score "all" (equivariant − plain,
paired by member at equal data) for every training seed, offline (open markers) and after
the statistics-loss online training (filled), with the member standard error as error bar,
and the mean over seeds with its 95 % Student-t interval (n − 1 degrees of freedom, n = the
number of seeds) as a band. Prints the same numbers. Issue 13's goal reads "the equivariant
online-trained closure beats the plain CNN at equal data": a band above zero.

Run: ``python -m benchmarks.qg_seeds_figure`` (writes
``docs/figures/qg_equivariant_minus_plain_seeds.png``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from scipy import stats

from benchmarks.qg_online_seeds import mean_se


def t_interval(per_seed_means) -> dict:
    """Mean over seeds, its standard error and the 95 % Student-t interval."""
    x = np.asarray(per_seed_means, dtype=float)
    n = x.size
    mean, se = mean_se(x)
    half = float(stats.t.ppf(0.975, n - 1) * se) if n >= 2 else float("nan")
    return {"n": n, "mean": mean, "se": se, "ci95": [mean - half, mean + half],
            "positive": int((x > 0).sum())}


def panels(eddy: dict, jet: dict) -> list[tuple[str, dict, dict]]:
    """(title, offline entry, online entry) per configuration and data fraction."""
    out = []
    emp = eddy["benchmark_starts"]["equivariant_minus_plain"]
    for frac in (100, 30, 10):
        if f"online_{frac}" in emp:
            out.append((f"eddy, {frac} % of the pool", emp.get(f"offline_{frac}"),
                        emp[f"online_{frac}"]))
    jmp = jet["equivariant_minus_plain"]
    if "online_30_all" in jmp:
        out.append(("jet, 30 % of the pool", jmp.get("offline_30_all"), jmp["online_30_all"]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--eddy", type=Path, default=Path("benchmarks/results/qg_online_seeds.json"))
    p.add_argument("--jet", type=Path, default=Path("benchmarks/results/qg_jet_online_seeds.json"))
    p.add_argument("--out", type=Path,
                   default=Path("docs/figures/qg_equivariant_minus_plain_seeds.png"))
    args = p.parse_args(argv)
    eddy = json.loads(args.eddy.read_text())
    jet = json.loads(args.jet.read_text())
    rows = panels(eddy, jet)
    if not rows:
        raise SystemExit("no equivariant - plain entries in the seed collections; run "
                         "benchmarks.qg_online_seeds and benchmarks.qg_jet_online_seeds first")
    fig, axes = plt.subplots(1, len(rows), figsize=(3.2 * len(rows), 3.6), sharey=True,
                             squeeze=False)
    summary = {}
    for ax, (title, off, on) in zip(axes[0], rows, strict=True):
        res = {}
        for stage, entry, style in (("offline", off, dict(mfc="none", color="0.5")),
                                    ("online", on, dict(color="C0"))):
            if entry is None:
                continue
            seeds = np.asarray(entry["seeds"])
            m = np.array([v[0] for v in entry["per_seed"]])
            e = np.array([v[1] for v in entry["per_seed"]])
            shift = -0.12 if stage == "offline" else 0.12
            ax.errorbar(seeds + shift, m, yerr=e, fmt="o", ms=4, lw=1, label=stage, **style)
            ti = t_interval(m)
            ti["seeds"] = entry["seeds"]
            res[stage] = ti
            if stage == "online" and ti["n"] >= 2:
                ax.axhspan(*ti["ci95"], color="C0", alpha=0.15, lw=0)
                ax.axhline(ti["mean"], color="C0", lw=1)
        ax.axhline(0, color="k", lw=0.8)
        on_t = res["online"]
        ax.set_title(f"{title}\nonline: {on_t['mean']:+.2f}, 95 % [{on_t['ci95'][0]:+.2f}, "
                     f"{on_t['ci95'][1]:+.2f}], n = {on_t['n']}", fontsize=8)
        ax.set_xlabel("training seed")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        summary[title] = res
    axes[0, 0].set_ylabel("similarity 'all': equivariant − plain")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Equivariant − plain CNN closure at equal data, paired by member "
                 "(band: 95 % interval of the mean over seeds, online)", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    for title, res in summary.items():
        for stage, ti in res.items():
            print(f"{title:24s} {stage:8s} n = {ti['n']:2d}  mean {ti['mean']:+.3f} ± {ti['se']:.3f}"
                  f"  95 % [{ti['ci95'][0]:+.3f}, {ti['ci95'][1]:+.3f}]  positive {ti['positive']}")
    return summary


if __name__ == "__main__":
    main()
