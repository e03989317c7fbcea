"""Does the eddy result of the statistics-loss online training survive the training seed?

Collects the scores of ``benchmarks/qg_online_training.py`` (stage ``score``: 8 members ×
180 days, similarity against the unclosed members, docs/qg.md "Online training") for the
offline networks of training seeds 0 … 4 (``benchmarks/qg_closure_ensemble.py`` stage
``offline``, cache ``runs/qg_ensemble_de``: each seed a new data subset, initialisation and
batch order; 100 %, 30 % and 10 % of the training pool) and for their online fine-tunings at the **fixed** settings chosen on seed 0
(lr 5e-6, 30 Adam steps, windows of 20 samples 12 h apart, discard 2, 2 windows per step,
window starts from the starting network's own climate, key 5). Per seed and network: the
offline score, the online score, online − offline paired by member; equivariant − plain
paired by member at equal data; across seeds the mean ± standard error of the per-seed
means (n = number of seeds) and, for the differences, the standard error over members of the
seed-averaged per-member difference. Writes ``benchmarks/results/qg_online_seeds.json``;
docs/qg.md ("Training seeds") reports it.

Run (after the runs listed in that section): ``python -m benchmarks.qg_online_seeds``
(``--seeds`` to choose the training seeds; a seed whose runs are missing is left out of the
across-seed numbers of that network and stage).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SEEDS = (0, 1, 2, 3, 4)
KINDS = {"equivariant": ("equivariant_cnn", "eq"), "plain": ("cnn", "cnn")}
FRACTIONS = (100, 30, 10)


def offline_name(kind: str, frac: int, seed: int) -> str:
    return f"{KINDS[kind][0]}_small_{frac}_s{seed}"


def online_name(kind: str, frac: int, seed: int) -> str:
    frac_tag = "" if frac == 100 else str(frac)
    seed_tag = "" if seed == 0 else f"_s{seed}"
    return f"stats_own_{KINDS[kind][1]}{frac_tag}_lr5e-6{seed_tag}"


def mean_se(x) -> list[float]:
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return [float(x.mean()), float("nan")]
    return [float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))]


def fmt(ms) -> str:
    """``mean ± standard error`` of a ``[mean, se]`` pair, ``—`` for a missing one."""
    return "—" if ms is None else f"{ms[0]:+.2f} ± {ms[1]:.2f}"


def print_equivariant_minus_plain(entries: dict) -> None:
    """One line per paired comparison: per-seed differences, over seeds, over members."""
    for key, e in entries.items():
        print("equivariant - plain", key, e["seeds"], [fmt(x) for x in e["per_seed"]],
              "over seeds", fmt(e["mean_se_over_seeds"]), "over members",
              fmt(e["mean_se_over_members"]))


def members(score: dict | None, key: str = "all") -> np.ndarray | None:
    return None if score is None else np.array([m[key] for m in score["members"]])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-cache", type=Path, default=Path("runs/qg_ensemble/small_eddy_0"))
    p.add_argument("--nets-cache", type=Path, default=Path("runs/qg_ensemble_de/small_eddy_0"))
    p.add_argument("--cache", type=Path, default=Path("runs/qg_online"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/qg_online_seeds.json"))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), help="training seeds")
    args = p.parse_args(argv)
    seeds = tuple(args.seeds)
    base = json.loads((args.base_cache / "results.json").read_text())["scores"]
    de_all = json.loads((args.nets_cache / "results.json").read_text())
    de, offline_info = de_all.get("scores", {}), de_all.get("offline", {})
    variants = {f.stem: json.loads(f.read_text())
                for f in (args.cache / "results" / "variants").glob("*.json")}

    def score_of(name: str, sfx: str) -> dict | None:
        # the ensemble caches' scores first (the ones the seed-0 rows were paired with);
        # held-out starts (``--offset 45``) only in this cache's variants
        if not sfx and name in base:
            return base[name]
        if not sfx and name in de:
            return de[name]
        return variants.get(name, {}).get(f"score{sfx}")

    def summary(sc: dict) -> dict:
        return {k: sc[k] for k in ("all", "distributional", "spectral", "ke_per_layer")}

    def collect(sfx: str) -> dict:
        rows, per_member = {}, {}
        for kind in KINDS:
            for frac in FRACTIONS:
                for seed in seeds:
                    off, on = offline_name(kind, frac, seed), online_name(kind, frac, seed)
                    s_off, s_on = score_of(off, sfx), score_of(on, sfx)
                    row = {"offline_net": off, "online_variant": on,
                           "offline_test_mse": offline_info.get(off, {}).get("test_mse")}
                    if s_off is not None:
                        row["offline"] = summary(s_off)
                        per_member[(kind, frac, "offline", seed)] = members(s_off)
                    if s_on is not None:
                        v = variants[on]
                        row["online"] = summary(s_on)
                        row["online_paired_vs"] = v.get("paired_vs")
                        row["relative_weight_change"] = v.get("relative_weight_change")
                        row["online_test_mse"] = v.get("test_mse_after")
                        row["validation_misfit"] = v.get("validation_misfit")
                        per_member[(kind, frac, "online", seed)] = members(s_on)
                    if s_off is not None and s_on is not None:
                        row["online_minus_offline"] = mean_se(members(s_on) - members(s_off))
                    if s_off is not None or s_on is not None:
                        rows[f"{kind}_{frac}_s{seed}"] = row

        def paired(a, b):
            both = [s for s in seeds if (*a, s) in per_member and (*b, s) in per_member]
            d = [per_member[(*a, s)] - per_member[(*b, s)] for s in both]
            return {"seeds": both, "per_seed": [mean_se(x) for x in d],
                    "mean_se_over_seeds": mean_se([x.mean() for x in d]),
                    "mean_se_over_members": mean_se(np.mean(d, axis=0))} if both else None

        across_seeds = {}
        for kind in KINDS:
            for frac in FRACTIONS:
                entry = {}
                for stage in ("offline", "online"):
                    got = [per_member[(kind, frac, stage, s)] for s in seeds
                           if (kind, frac, stage, s) in per_member]
                    if got:
                        entry[stage] = {"seeds": len(got),
                                        "mean_se_over_seeds": mean_se([g.mean() for g in got])}
                d = paired((kind, frac, "online"), (kind, frac, "offline"))
                if d:
                    entry["online_minus_offline"] = d
                across_seeds[f"{kind}_{frac}"] = entry
        equi_vs_plain = {}
        for frac in FRACTIONS:
            for stage in ("offline", "online"):
                d = paired(("equivariant", frac, stage), ("plain", frac, stage))
                if d:
                    equi_vs_plain[f"{stage}_{frac}"] = d
        return {"rows": rows, "across_seeds": across_seeds,
                "equivariant_minus_plain": equi_vs_plain}

    out = {"description": __doc__.splitlines()[0],
           "protocol": "eddy, hi-res 128 -> low-res 32, 8 members x 180 days, similarity "
                       "'all' (14 Ross et al. distances) against the unclosed members; "
                       "online: qg_online_training --stages train score --lr 5e-6 --steps 30 "
                       "--window 20 --every 12 --discard 2 --windows 2 --key 5 "
                       "--from NET --starts NET; held_out: the same networks scored with "
                       "--offset 45 (members start 45 days later)",
           "benchmark_starts": collect(""), "held_out_starts": collect("_offset45")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))

    for starts in ("benchmark_starts", "held_out_starts"):
        res = out[starts]
        print(f"\n{starts}\n| net | seed | offline MSE | offline | online | online − offline |")
        print("|---|---|---|---|---|---|")
        for key, r in res["rows"].items():
            kind, frac, seed = key.rsplit("_", 2)
            mse = r["offline_test_mse"]
            print(f"| {kind} {frac} % | {seed} | {'—' if mse is None else f'{mse:.3f}'} | "
                  f"{fmt(r.get('offline', {}).get('all'))} | "
                  f"{fmt(r.get('online', {}).get('all'))} | "
                  f"{fmt(r.get('online_minus_offline'))} |")
        for key, e in res["across_seeds"].items():
            print(key, {k: [fmt(v.get("mean_se_over_seeds")),
                            fmt(v.get("mean_se_over_members"))] for k, v in e.items()})
        print_equivariant_minus_plain(res["equivariant_minus_plain"])
    return out


if __name__ == "__main__":
    main()
