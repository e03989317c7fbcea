"""Lorenz-96 data-assimilation benchmark (Sakov & Oke 2008 setup), compared with DAPPER.

Setup: n=40, F=8, RK4 dt=0.05, all variables observed every 0.05 MTU with R=I.  Scores are
time-mean analysis RMSEs over the cycles after a spin-up of 400 cycles (20 MTU, DAPPER's
burn-in), one truth / observation realisation shared by all methods.  Reference values are
DAPPER's (``dapper/mods/Lorenz96/sakov2008.py``, with 1000 cycles there).

Run: python -m benchmarks.l96_da [--cycles 10000] [--var-cycles 2000]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401
from pyclimaocean.assimilation import (
    ETKF,
    LETKF,
    FourDVar,
    IdentityObservation,
    StochasticEnKF,
    climatology_rmse,
    cycle_filter,
    cycle_fourdvar,
    free_run,
    make_forecast,
    mean_spread,
    rmse,
    synthetic_observations,
    time_mean,
    truth_run,
)
from pyclimaocean.models.lorenz96 import sakov_oke_2008, spun_up_state

SPINUP = 400


def main(n_cycles: int = 10_000, var_cycles: int = 2000) -> list[tuple]:
    model, dt = sakov_oke_2008()
    x0 = spun_up_state(model, dt, 1000, seed=0)
    truth = truth_run(model.tendency, x0, dt, 1, n_cycles)[1:]
    op = IdentityObservation(40)
    obs = synthetic_observations(truth, op, 1.0, seed=1)
    R = jnp.ones(40)
    fc = make_forecast(model.tendency, dt, 1)
    rows = []

    ensemble_runs = [
        ("ETKF", 20, "infl 1.04", ETKF(inflation=1.04), "0.20"),
        ("ETKF", 20, "infl 1.02", ETKF(inflation=1.02), "-"),
        ("ETKF", 24, "infl 1.013", ETKF(inflation=1.013), "0.18"),
        ("LETKF", 7, "infl 1.04, GC c=7.28 (loc_rad 4)", LETKF(7.28, 1.04), "0.22"),
        ("LETKF", 7, "infl 1.04, GC c=4", LETKF(4.0, 1.04), "-"),
        ("EnKF (pert. obs)", 28, "infl 1.08", StochasticEnKF(1.08), "0.24"),
        ("EnKF (pert. obs)", 40, "infl 1.06", StochasticEnKF(1.06), "0.22"),
    ]
    for name, N, settings, filt, ref in ensemble_runs:
        ens0 = x0 + jax.random.normal(jax.random.PRNGKey(2), (N, 40))
        t0 = time.perf_counter()
        out = cycle_filter(filt, fc, ens0, obs, op, R, jax.random.PRNGKey(3))
        out.analysis_mean.block_until_ready()
        wall = time.perf_counter() - t0
        r = time_mean(rmse(out.analysis_mean, truth), SPINUP)
        s = time_mean(mean_spread(out.analysis_spread), SPINUP)
        rows.append((name, N, settings, n_cycles, r, s, ref, wall))

    for window, bstd in ((5, 0.3), (10, 0.3), (10, 0.2)):
        xb0 = x0 + jax.random.normal(jax.random.PRNGKey(2), (40,))
        t0 = time.perf_counter()
        out = cycle_fourdvar(
            FourDVar(window=window, background_std=bstd), fc, xb0, obs[:var_cycles], op, R
        )
        wall = time.perf_counter() - t0
        T = out.analysis.shape[0]
        r_all = np.asarray(rmse(out.analysis, truth[:T]))
        end = out.window_end
        rows.append(
            (
                "4D-Var (window, smoother)",
                "-",
                f"L={window} obs, sigma_b={bstd}",
                T,
                float(r_all[SPINUP:].mean()),
                float("nan"),
                "-",
                wall,
            )
        )
        rows.append(
            (
                "4D-Var (window end)",
                "-",
                f"L={window} obs, sigma_b={bstd}",
                T,
                float(r_all[SPINUP:][end[SPINUP:]].mean()),
                float("nan"),
                "-",
                0.0,
            )
        )

    fr = free_run(fc, x0 + jax.random.normal(jax.random.PRNGKey(2), (40,)), n_cycles)
    rows.append(
        (
            "free run",
            "-",
            "no assimilation",
            n_cycles,
            time_mean(rmse(fr, truth), SPINUP),
            float("nan"),
            "-",
            0.0,
        )
    )
    rows.append(
        (
            "climatology",
            "-",
            "time-mean state",
            n_cycles,
            climatology_rmse(truth, SPINUP),
            float("nan"),
            "3.6",
            0.0,
        )
    )

    header = f"{'method':28s} {'N':>3s}  {'settings':34s} {'cycles':>6s} {'RMSE':>7s} {'spread':>7s} {'DAPPER':>6s} {'wall s':>7s}"
    print(header)
    print("-" * len(header))
    for name, N, settings, T, r, s, ref, wall in rows:
        sp = "" if np.isnan(s) else f"{s:.4f}"
        print(
            f"{name:28s} {N!s:>3s}  {settings:34s} {T:6d} {r:7.4f} {sp:>7s} {ref:>6s} {wall:7.1f}"
        )
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Lorenz-96 DA benchmark (Sakov & Oke 2008 setup)")
    p.add_argument("--cycles", type=int, default=10_000, help="cycles of the ensemble filters")
    p.add_argument("--var-cycles", type=int, default=2000, help="observation times for 4D-Var")
    a = p.parse_args()
    main(a.cycles, a.var_cycles)
