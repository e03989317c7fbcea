"""How often would an exact MAP estimate pass the battery's 2 % criterion? (issue 12)

The battery's truths are drawn from the prior and its data carry Gaussian noise, so under the
Laplace (Gaussian) approximation the error of the exact MAP estimate is distributed as the
posterior, ``θ̂ − θ_true ~ N(0, Σ)``, with ``Σ`` the Gauss–Newton Laplace covariance the battery
stores per twin (as relative standard deviations ``rel_std``).  A twin passes when every
*identifiable* parameter (``rel_std ≤ 2 %``) is within 2 % of the truth, so an oracle optimizer
that always returns the exact MAP passes twin ``k`` with probability

    p_k = P(|X_i| ≤ 0.02 for every identifiable i),  X ~ N(0, Σ) (relative units).

Only the marginal standard deviations are stored, so ``p_k`` is bounded: below by the product of
the marginal probabilities (Šidák's inequality holds for any centred Gaussian), above by their
minimum.  Summed over the twins, the bounds give the expected number of successes of the oracle,
i.e. the ceiling of the success rate that any optimizer can reach on average with this criterion,
and ``sqrt(Σ p_k (1 − p_k))`` its sampling spread.

Run: ``python -m benchmarks.battery_oracle [--jsonl benchmarks/results/calibration_battery.jsonl]``.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
from scipy.stats import norm


def twin_bounds(rel_std, identifiable, tolerance: float = 0.02) -> tuple[float, float]:
    """Lower (product, Šidák) and upper (minimum) bounds of the probability that an exact MAP
    estimate puts every identifiable parameter within ``tolerance`` (relative) of the truth."""
    s = np.asarray(rel_std, dtype=float)[np.asarray(identifiable, dtype=bool)]
    if s.size == 0:
        return 1.0, 1.0
    p = 2.0 * norm.cdf(tolerance / s) - 1.0
    return float(np.prod(p)), float(np.min(p))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jsonl", default="benchmarks/results/calibration_battery.jsonl")
    ap.add_argument("--tolerance", type=float, default=0.02)
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in open(args.jsonl) if line.strip()]
    lows, highs = [], []
    print("| twin | identifiable | P(oracle passes), lower–upper |")
    print("|---|---|---|")
    for row in rows:
        lo, hi = twin_bounds(row["rel_std"], row["identifiable"], args.tolerance)
        lows.append(lo)
        highs.append(hi)
        if lo < 0.95:
            print(f"| {row['id']} | {sum(row['identifiable'])}/{len(row['rel_std'])} | {lo:.2f}–{hi:.2f} |")
    n = len(rows)
    lo_sum, hi_sum = sum(lows), sum(highs)
    spread = math.sqrt(sum(p * (1 - p) for p in lows))
    print(f"\n{n} twins: expected oracle successes {lo_sum:.1f}–{hi_sum:.1f} "
          f"({100 * lo_sum / n:.1f}–{100 * hi_sum / n:.1f} %), sampling spread ±{spread:.1f} twins "
          f"(±{100 * spread / n:.1f} %)")


if __name__ == "__main__":
    main()
