"""Lorenz-96 closure comparison: no closure, cubic polynomial, offline / online CNN, offline
local MLP, and stochastic (cubic + AR(1), CNN + AR(1)) ensembles.

Truth: two-scale Lorenz-96 with the Arnold et al. (2013) constants (K=8, J=32, h=1, b=c=10,
F=20), RK4 at 0.001 MTU.  Coarse model: one-scale Lorenz-96 + closure, RK4 at 0.005 MTU.
Training on 100 MTU, validation on 10 MTU, all scores on a separate held-out test period.

Run: ``python -m benchmarks.l96_closures`` (about 5-10 minutes on 2 CPU cores);
``--quick`` for a reduced version; ``--seeds 3`` repeats the network trainings with other
seeds.  Prints a table:

* offline MSE: closure vs diagnosed U on the test data;
* RMSE of X at 0.5 and 1 MTU lead, from ``n_forecasts`` held-out truth states (ensemble
  mean for the stochastic rows);
* T_thr: lead time at which the RMSE reaches half the climatological std of X;
* climate of a long coarse run vs the truth test period: mean and std error of X, RMS
  difference of the autocorrelation functions (lags 0-1 MTU), 1-Wasserstein distance of
  the PDFs of X;
* the first row scores the truth's own training period against the test period: the
  sampling-noise floor of the climate scores;
* spread/error ratio (ensembles only, corrected for ensemble size) at 0.5 and 1 MTU.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean import learning
from pyclimaocean.learning.experiment import (
    ClosureSection,
    TrainingSection,
    TruthSection,
    build_network,
    forecast_starts,
    make_truth_data,
    train_closure,
)


def evaluate(name, data, closure, n_forecasts, n_lead, n_climate, threshold, rows):
    dt, test = data.dt, data.test
    tendency = learning.ClosureModel(data.base, closure).tendency
    starts = forecast_starts(test.n_samples, n_lead, n_forecasts)
    rmse = learning.forecast_rmse(tendency, test.x, starts, n_lead, dt)
    leads = dt * np.arange(1, n_lead + 1)
    run = learning.long_run(tendency, test.x[0], dt, n_climate)
    clim = learning.climate_distance(run, test.x, dt, 1.0)
    rows.append(
        {
            "model": name,
            "offline_mse": float(learning.offline_loss(closure, (test.x, test.subgrid))),
            "rmse_0.5": rmse[int(round(0.5 / dt)) - 1],
            "rmse_1.0": rmse[int(round(1.0 / dt)) - 1],
            "t_thr": learning.time_to_threshold(rmse, leads, threshold),
            **clim,
        }
    )


def evaluate_ensemble(
    name, data, closure, n_forecasts, n_lead, n_climate, threshold, members, rows
):
    dt, test = data.dt, data.test
    stride = 10  # save every 0.05 MTU
    n_saved = n_lead // stride
    starts = forecast_starts(test.n_samples, n_saved * stride, n_forecasts)
    run = jax.jit(
        jax.vmap(
            lambda x0, key: learning.ensemble_forecast(
                data.base, closure, x0, dt, n_saved, stride, key=key, n_members=members
            )
        )
    )
    ens = run(test.x[starts], jax.random.split(jax.random.PRNGKey(123), len(starts)))
    verif = learning.trajectory_windows(test.x, jnp.asarray(starts), n_saved * stride)[
        :, stride::stride
    ]
    se = learning.spread_error(ens, verif)
    leads = dt * stride * np.arange(1, n_saved + 1)
    i05, i10 = int(round(0.5 / (dt * stride))) - 1, int(round(1.0 / (dt * stride))) - 1
    long = learning.stochastic_forecast(
        data.base, closure, test.x[0], dt, n_climate, key=jax.random.PRNGKey(5)
    )
    clim = learning.climate_distance(np.asarray(long), test.x, dt, 1.0)
    u_det = closure.deterministic
    rows.append(
        {
            "model": name,
            "offline_mse": float(learning.offline_loss(u_det, (test.x, test.subgrid))),
            "rmse_0.5": se["rmse"][i05],
            "rmse_1.0": se["rmse"][i10],
            "t_thr": learning.time_to_threshold(se["rmse"], leads, threshold),
            **clim,
            "ratio_0.5": se["ratio"][i05],
            "ratio_1.0": se["ratio"][i10],
            "ratio_curve": se["ratio"],
        }
    )


def print_table(rows):
    cols = [
        ("model", "{:<26s}"),
        ("offline_mse", "{:>8.3f}"),
        ("rmse_0.5", "{:>8.3f}"),
        ("rmse_1.0", "{:>8.3f}"),
        ("t_thr", "{:>7.3f}"),
        ("mean_error", "{:>+8.3f}"),
        ("std_error", "{:>+8.3f}"),
        ("acf_rmse", "{:>8.4f}"),
        ("wasserstein", "{:>8.4f}"),
        ("ratio_0.5", "{:>7.3f}"),
        ("ratio_1.0", "{:>7.3f}"),
    ]
    heads = [
        "model",
        "offl.MSE",
        "RMSE0.5",
        "RMSE1.0",
        "T_thr",
        "mean err",
        "std err",
        "ACF rms",
        "W1(X)",
        "s/e0.5",
        "s/e1.0",
    ]
    widths = [26, 8, 8, 8, 7, 8, 8, 8, 8, 7, 7]
    print(
        " ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(heads, widths, strict=True))
        )
    )
    for r in rows:
        cells = []
        for (key, fmt), w in zip(cols, widths, strict=True):
            v = r.get(key)
            cells.append(" " * (w - 1) + "-" if v is None else fmt.format(v))
        print(" ".join(cells))


def main(argv=None):
    p = argparse.ArgumentParser(description="Lorenz-96 closure benchmark")
    p.add_argument("--quick", action="store_true", help="reduced sizes (about 2 minutes)")
    p.add_argument("--seeds", type=int, default=1, help="network seeds to train and score")
    p.add_argument("--members", type=int, default=20, help="ensemble members")
    args = p.parse_args(argv)
    q = args.quick
    truth_cfg = TruthSection(
        train_time=30.0 if q else 100.0,
        validation_time=5.0 if q else 10.0,
        test_time=40.0 if q else 100.0,
        spinup_time=10.0,
        gap_time=1.0,
    )
    n_off = 1000 if q else 3000
    n_on = 400 if q else 1500
    n_forecasts = 100 if q else 200
    n_lead = int(round(2.0 / truth_cfg.coarse_dt))
    n_climate = int(round((40.0 if q else 200.0) / truth_cfg.coarse_dt))

    t0 = time.perf_counter()
    data = make_truth_data(truth_cfg, log=print)
    threshold = 0.5 * float(np.std(np.asarray(data.test.x)))
    print(f"truth data ready ({time.perf_counter() - t0:.0f} s); threshold = {threshold:.3f}")
    rows: list[dict] = []
    # sampling-noise floor of the climate scores: the truth's training period vs its test period
    ref = learning.climate_distance(data.train.x, data.test.x, data.dt, 1.0)
    rows.append({"model": f"truth ({truth_cfg.train_time:.0f} MTU, other period)", **ref})
    ev = dict(
        data=data,
        n_forecasts=n_forecasts,
        n_lead=n_lead,
        n_climate=n_climate,
        threshold=threshold,
        rows=rows,
    )
    evaluate("no closure", closure=learning.ZeroClosure(), **ev)
    poly = learning.fit_polynomial_closure(data.train.x, data.train.subgrid, 3)
    evaluate("cubic polynomial", closure=poly, **ev)

    offline_cfg = TrainingSection(
        mode="offline", n_steps=n_off, batch_size=128, learning_rate=3e-3, log_every=n_off
    )
    online_cfg = TrainingSection(
        mode="online",
        n_steps=n_on,
        batch_size=32,
        learning_rate=1e-3,
        unroll_lengths=[10, 20, 40],
        unroll_start_steps=[0, n_on // 5, n_on // 2],
        log_every=max(1, n_on // 5),
    )
    cnns = {}
    timings = {}
    for seed in range(args.seeds):
        tag = f" s{seed}" if args.seeds > 1 else ""
        cnn0 = build_network(
            ClosureSection(architecture="cnn", width=16, depth=2, kernel_size=5, seed=seed),
            truth_cfg.K,
            data.train,
        )
        t = time.perf_counter()
        off = train_closure(offline_cfg.model_copy(update={"seed": 100 + seed}), cnn0, data).closure
        timings["offline CNN"] = time.perf_counter() - t
        evaluate("offline CNN" + tag, closure=off, **ev)
        t = time.perf_counter()
        on = train_closure(online_cfg.model_copy(update={"seed": 200 + seed}), off, data).closure
        timings["online CNN fine-tuning"] = time.perf_counter() - t
        evaluate("online CNN (from offline)" + tag, closure=on, **ev)
        cnns[seed] = (off, on)
        mlp0 = build_network(
            ClosureSection(
                architecture="local_mlp", width=32, depth=2, stencil_half_width=2, seed=seed
            ),
            truth_cfg.K,
            data.train,
        )
        mlp = train_closure(offline_cfg.model_copy(update={"seed": 300 + seed}), mlp0, data).closure
        evaluate("offline local MLP" + tag, closure=mlp, **ev)

    for label, det in (("cubic", poly), ("offline CNN", cnns[0][0])):
        for kind in ("additive", "multiplicative"):
            sc = learning.fit_stochastic_closure(
                data.train.x, data.train.subgrid, data.dt, kind, deterministic=det
            )
            evaluate_ensemble(f"{label} + {kind} AR(1)", closure=sc, members=args.members, **ev)
            print(
                f"{label} + {kind} AR(1): tau = {float(sc.noise.correlation_time):.4f} MTU, "
                f"sigma = {float(sc.noise.sigma):.3f}"
            )
    sc_lag1 = learning.fit_stochastic_closure(
        data.train.x, data.train.subgrid, data.dt, "additive", method="lag1"
    )
    print(
        f"cubic + additive AR(1), lag-1 tau: tau = {float(sc_lag1.noise.correlation_time):.4f} MTU"
    )
    evaluate_ensemble("cubic + add. AR(1) lag-1 τ", closure=sc_lag1, members=args.members, **ev)

    print()
    print(
        f"Two-scale L96 (K=8, J=32, h=1, b=c=10, F=20); coarse RK4 dt={data.dt}; train "
        f"{truth_cfg.train_time} MTU, test {truth_cfg.test_time} MTU; {n_forecasts} forecasts; "
        f"climate run {n_climate * data.dt:.0f} MTU; ensembles of {args.members}; "
        f"T_thr at RMSE = {threshold:.3f}"
    )
    print_table(rows)
    print()
    print("training times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    for r in rows:
        if "ratio_curve" in r:
            c = r["ratio_curve"]
            print(
                f"spread/error vs lead (0.05 MTU steps) {r['model']}: "
                + " ".join(f"{v:.2f}" for v in c[::4])
            )
    by = {r["model"]: r for r in rows}
    for seed in range(args.seeds):
        tag = f" s{seed}" if args.seeds > 1 else ""
        off, on = by["offline CNN" + tag], by["online CNN (from offline)" + tag]
        print(
            f"online vs offline CNN{tag}: T_thr {on['t_thr']:.3f} vs {off['t_thr']:.3f} MTU, "
            f"RMSE@1 {on['rmse_1.0']:.3f} vs {off['rmse_1.0']:.3f}, "
            f"|mean err| {abs(on['mean_error']):.3f} vs {abs(off['mean_error']):.3f}, "
            f"W1 {on['wasserstein']:.4f} vs {off['wasserstein']:.4f}, "
            f"ACF {on['acf_rmse']:.4f} vs {off['acf_rmse']:.4f}"
        )
    print(f"total {time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()
