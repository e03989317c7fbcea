"""Does the jet result of the statistics-loss online training survive the training seed?

Collects the jet scores of ``benchmarks/qg_online_training.py --config jet`` (jet member
protocol: 8 members, 1080 days discarded, then 720 daily samples, similarity "all" against
the unclosed members; docs/qg.md "Online training on the jet") for the 30 % offline networks
of training seeds 0, 1, … (``benchmarks/qg_closure_ensemble.py --config jet --stages
offline --nets small --fractions 0.3``: each seed a new data subset, initialisation and
batch order) and for their online fine-tunings at the learning rates the validation rule
picked on seed 0 — **fixed, not retuned**: 5e-6 for the equivariant CNN, 2e-5 for the plain
one (30 Adam steps, 30-day windows of daily samples, discard 3, 2 windows per step, window
starts from the starting network's own adjusted climate, key 5). Per seed and network: the
offline score, the online score, online − offline paired by member, the validation misfit;
equivariant − plain paired by member (offline and online); across seeds the mean ± standard
error of the per-seed means (n = number of seeds) and, for the differences, also the
standard error over members of the seed-averaged per-member difference. Writes
``benchmarks/results/qg_jet_online_seeds.json``; docs/qg.md ("Training seeds (jet)")
reports it.

Run (after the runs listed in that section): ``python -m benchmarks.qg_jet_online_seeds``
(``--seeds`` to choose the training seeds; a seed whose runs are missing is left out).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.qg_online_seeds import fmt, mean_se, print_equivariant_minus_plain

SEEDS = tuple(range(10))
#: kind -> (offline network prefix, online variant tag, learning rate chosen on seed 0)
KINDS = {"equivariant": ("equivariant_cnn", "eq", "5e-6"), "plain": ("cnn", "cnn", "2e-5")}
#: where seed 0's offline 30 % networks were scored (``JET["score_caches"]`` of
#: ``benchmarks/qg_online_training.py``; written out here to keep this script light)
SEED0_SCORES = {"equivariant_cnn_small_30_s0": Path("runs/qg_ensemble_jet_long_de2"),
                "cnn_small_30_s0": Path("runs/qg_ensemble_jet_long_de")}


def offline_name(kind: str, seed: int) -> str:
    return f"{KINDS[kind][0]}_small_30_s{seed}"


def online_name(kind: str, seed: int) -> str:
    return f"jet_stats_{KINDS[kind][1]}30_lr{KINDS[kind][2]}" + ("" if seed == 0 else f"_s{seed}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path("runs/qg_online_jet"))
    p.add_argument("--nets-caches", nargs="+", type=Path,
                   default=[Path("runs/qg_ensemble_jet_de/small_jet_0"),
                            Path("runs/qg_ensemble_jet_seeds/small_jet_0")],
                   help="offline-training caches (their results.json: test MSE)")
    p.add_argument("--out", type=Path,
                   default=Path("benchmarks/results/qg_jet_online_seeds.json"))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), help="training seeds")
    args = p.parse_args(argv)
    variants = {f.stem: json.loads(f.read_text())
                for f in (args.cache / "results" / "variants").glob("*.json")}
    offline_info = {}
    for c in args.nets_caches:
        if (c / "results.json").exists():
            offline_info.update(json.loads((c / "results.json").read_text()).get("offline", {}))

    def score_of(name: str) -> dict | None:
        path = SEED0_SCORES.get(name, args.cache / "scores" / name) / "small_jet_0" / \
            "results.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())["scores"].get(name)

    def summary(sc: dict) -> dict:
        return {k: sc[k] for k in ("all", "distributional", "spectral", "ke_per_layer")}

    groups = ("all", "distributional", "spectral")
    rows, per_member = {}, {}
    for kind in KINDS:
        for seed in args.seeds:
            off, on = offline_name(kind, seed), online_name(kind, seed)
            s_off, s_on = score_of(off), score_of(on)
            row = {"offline_net": off, "online_variant": on, "online_lr": float(KINDS[kind][2]),
                   "offline_test_mse": offline_info.get(off, {}).get("test_mse"),
                   "offline_validation_misfit": variants.get(off, {}).get("validation_misfit")}
            if s_off is not None:
                row["offline"] = summary(s_off)
                per_member[(kind, "offline", seed)] = {
                    g: np.array([m[g] for m in s_off["members"]]) for g in groups}
            if s_on is not None:
                v = variants[on]
                row["online"] = summary(s_on)
                row["online_paired_vs"] = v.get("paired_vs")
                row["relative_weight_change"] = v.get("relative_weight_change")
                row["window_loss_first_last5"] = [v["loss_history"][0],
                                                  float(np.mean(v["loss_history"][-5:]))]
                row["online_test_mse"] = v.get("test_mse_after")
                row["online_validation_misfit"] = v.get("validation_misfit")
                row["online_validation_ke"] = v.get("validation_ke")
                per_member[(kind, "online", seed)] = {
                    g: np.array([m[g] for m in s_on["members"]]) for g in groups}
            if s_off is not None and s_on is not None:
                row["online_minus_offline"] = {
                    g: mean_se(per_member[(kind, "online", seed)][g]
                               - per_member[(kind, "offline", seed)][g]) for g in groups}
            if s_off is not None or s_on is not None:
                rows[f"{kind}_30_s{seed}"] = row

    def paired(a, b, g="all"):
        both = [s for s in args.seeds if (*a, s) in per_member and (*b, s) in per_member]
        d = [per_member[(*a, s)][g] - per_member[(*b, s)][g] for s in both]
        return {"seeds": both, "per_seed": [mean_se(x) for x in d],
                "mean_se_over_seeds": mean_se([x.mean() for x in d]),
                "mean_se_over_members": mean_se(np.mean(d, axis=0))} if both else None

    across_seeds = {}
    for kind in KINDS:
        entry = {}
        for stage in ("offline", "online"):
            got = [per_member[(kind, stage, s)]["all"] for s in args.seeds
                   if (kind, stage, s) in per_member]
            if got:
                entry[stage] = {"seeds": len(got),
                                "mean_se_over_seeds": mean_se([x.mean() for x in got])}
        d = paired((kind, "online"), (kind, "offline"))
        if d:
            entry["online_minus_offline"] = d
        across_seeds[f"{kind}_30"] = entry
    equi_vs_plain = {f"{stage}_30_{g}": paired(("equivariant", stage), ("plain", stage), g)
                     for stage in ("offline", "online") for g in groups}
    out = {"description": __doc__.splitlines()[0],
           "protocol": "jet member protocol (8 members from days 0 and 540 of the 4 hi-res "
                       "seeds, 1080 days discarded, 720 daily samples), similarity against "
                       "the unclosed members; online: qg_online_training --config jet "
                       "--stages train validate --lr LR --steps 30 --windows 2 --from NET "
                       "--starts NET (window 30, every 24, discard 3, key 5), LR fixed from "
                       "seed 0's validation rule: equivariant 5e-6, plain 2e-5",
           "rows": rows, "across_seeds": across_seeds,
           "equivariant_minus_plain": {k: v for k, v in equi_vs_plain.items() if v}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))

    print("| net | seed | offline MSE | offline | online | online − offline |\n"
          "|---|---|---|---|---|---|")
    for key, r in rows.items():
        kind, _, seed = key.rsplit("_", 2)
        mse = r["offline_test_mse"]
        print(f"| {kind} 30 % | {seed} | {'—' if mse is None else f'{mse:.3f}'} | "
              f"{fmt(r.get('offline', {}).get('all'))} | {fmt(r.get('online', {}).get('all'))}"
              f" | {fmt(r.get('online_minus_offline', {}).get('all'))} |")
    for key, e in across_seeds.items():
        print(key, {k: fmt(v.get("mean_se_over_seeds")) for k, v in e.items()})
    print_equivariant_minus_plain(out["equivariant_minus_plain"])
    return out


if __name__ == "__main__":
    main()
