"""Figures of a closure training run: loss curve, learned vs true closure, Hovmöller diagrams
of truth and coarse runs, forecast RMSE against lead time (matplotlib, ``Agg``)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from ..plotting import _plt, save_figure
from .closure_model import ClosureModel, rollout
from .networks import ZeroClosure
from .stochastic import fit_polynomial_closure

__all__ = ["training_figures", "plot_loss_history"]


def plot_loss_history(history: dict, path: Path) -> Path:
    """Training loss (per step, running mean) and validation loss, per phase, log scale."""

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.asarray(history["step"])
    loss = np.asarray(history["loss"], dtype=float)
    val = np.asarray(history["validation_loss"], dtype=float)
    phase = np.asarray(history["phase"])
    for name in dict.fromkeys(history["phase"]):
        sel = phase == name
        s, lo = steps[sel], loss[sel]
        w = max(1, len(lo) // 50)
        smooth = np.convolve(lo, np.ones(w) / w, mode="valid")
        ax.semilogy(s[w - 1 :], smooth, label=f"{name}: training (running mean)")
        ok = sel & np.isfinite(val)
        ax.semilogy(steps[ok], val[ok], "o", ms=3, label=f"{name}: validation")
    ax.set_xlabel("optimisation step")
    ax.set_ylabel("loss (MSE)")
    ax.legend(fontsize=8)
    ax.set_title("closure training loss")
    return save_figure(fig, path)


def training_figures(result, data, evals: dict, out: Path) -> list[Path]:
    """``loss_curve.png``, ``closure_fit.png``, ``hovmoller.png``, ``forecast_rmse.png``."""

    plt = _plt()
    files = [plot_loss_history(result.history, out / "loss_curve.png")]
    test = data.test
    x = np.asarray(test.x)
    u = np.asarray(test.subgrid)
    pred = np.asarray(jax.jit(jax.vmap(result.closure))(test.x))
    poly_closure = None
    # closure fit: U vs X (truth and learned), and learned vs true
    rng = np.random.default_rng(0)
    pick = rng.choice(x.size, size=min(x.size, 4000), replace=False)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    axes[0].plot(
        x.ravel()[pick], u.ravel()[pick], ".", ms=2, alpha=0.4, color="0.5", label="truth U"
    )
    axes[0].plot(x.ravel()[pick], pred.ravel()[pick], ".", ms=2, alpha=0.5, label="learned closure")
    grid = np.linspace(x.min(), x.max(), 200)
    if "polynomial" in evals:

        poly_closure = fit_polynomial_closure(data.train.x, data.train.subgrid, 3)
        axes[0].plot(grid, np.asarray(poly_closure(grid)), "k-", lw=1.5, label="cubic fit")
    axes[0].set_xlabel("X_k")
    axes[0].set_ylabel("subgrid tendency U_k (MTU⁻¹)")
    axes[0].legend(fontsize=8, markerscale=4)
    axes[0].set_title("test data")
    lim = [min(u.min(), pred.min()), max(u.max(), pred.max())]
    axes[1].plot(u.ravel()[pick], pred.ravel()[pick], ".", ms=2, alpha=0.4)
    axes[1].plot(lim, lim, "k--", lw=1)
    r2 = 1.0 - np.mean((pred - u) ** 2) / np.var(u)
    axes[1].set_xlabel("true U_k")
    axes[1].set_ylabel("learned U_k")
    axes[1].set_title(f"learned vs true (test R² = {r2:.3f})")
    files.append(save_figure(fig, out / "closure_fit.png"))

    # Hovmöller of truth vs coarse runs from the first test state
    n_lead = len(evals["closure"]["lead_times"])
    t = evals["closure"]["lead_times"]
    truth_run = x[1 : n_lead + 1]
    runs = {"truth (two-scale)": truth_run}
    for name, clo in (("with learned closure", result.closure), ("no closure", ZeroClosure())):
        tend = ClosureModel(data.base, clo).tendency
        runs[name] = np.asarray(
            jax.jit(lambda x0, f=tend: rollout(f, x0, data.dt, n_lead))(test.x[0])
        )
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 4.2), sharey=True)
    vmax = float(np.nanmax(np.abs(truth_run)))
    k = np.arange(x.shape[1])
    for ax, (name, field_) in zip(axes, runs.items(), strict=True):
        pc = ax.pcolormesh(k, t, field_, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
        ax.set_title(name)
        ax.set_xlabel("k")
    axes[0].set_ylabel("time (MTU)")
    fig.colorbar(pc, ax=list(axes))
    files.append(save_figure(fig, out / "hovmoller.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, e in evals.items():
        ax.plot(e["lead_times"], e["forecast_rmse"], label=name.replace("_", " "))
    ax.axhline(evals["closure"]["threshold"], color="k", ls=":", lw=1, label="threshold")
    ax.set_xlabel("lead time (MTU)")
    ax.set_ylabel("RMSE of X")
    ax.legend(fontsize=8)
    ax.set_title("forecast error on held-out truth")
    files.append(save_figure(fig, out / "forecast_rmse.png"))
    return files
