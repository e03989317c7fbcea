"""Calibration and inference figures (matplotlib, headless ``Agg``; saved atomically).

* :func:`plot_loss` — loss (or data misfit) against iterations / forward runs, several runs,
  with the noise floor (½χ² of pure noise).
* :func:`plot_parameter_trajectories` — parameters against iterations, relative to the truth.
* :func:`plot_corner` — pairwise posterior samples (corner style) with truth and MAP.
* :func:`plot_profiles` — observed profiles with the prior and posterior predictive spread and
  the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..plotting import _plt, save_figure

__all__ = ["noise_floor", "plot_loss", "plot_parameter_trajectories", "plot_corner", "plot_profiles"]


def _short(name: str) -> str:
    return name.removeprefix("closure.")


def noise_floor(n_observations: int) -> tuple[float, float]:
    """``(mean, std)`` of the data misfit ½‖Γ^{-1/2} ε‖² of pure noise ε ~ N(0, Γ) with m
    observations: ½χ²_m has mean m/2 and standard deviation √(m/2).  A fit whose misfit is
    within a few standard deviations of m/2 is as good as the noise allows."""
    m = int(n_observations)
    if m < 1:
        raise ValueError(f"n_observations = {n_observations} must be >= 1")
    return 0.5 * m, math.sqrt(0.5 * m)


def plot_loss(histories: Mapping[str, object], path: str | Path | None = None, *,
              variable: str = "loss", x: str = "iteration", n_observations: int | None = None):
    """Loss curves of several runs: ``histories`` maps a label to a history Dataset.

    ``x``: ``"iteration"``, ``"n_evaluations"`` or ``"n_forward"`` (whichever the Dataset has).

    The noise floor — the misfit of pure noise, E[½χ²_m] = m/2 with a ±2√(m/2) band
    (:func:`noise_floor`) — is drawn as a dashed line, with m = ``n_observations`` or the
    histories' ``n_observations`` attribute; a curve that reaches the band fits the data as
    well as the noise allows.  (For ``variable="loss"`` the curve also contains the
    regularisation term, so it may sit a little above the band at the optimum.)
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ds in histories.items():
        var = variable if variable in ds else ("data_misfit" if "data_misfit" in ds else "loss")
        xs = ds[x].values if x in ds else ds["iteration"].values
        ax.semilogy(xs, ds[var].values, marker=".", label=label)
        if n_observations is None and "n_observations" in getattr(ds, "attrs", {}):
            n_observations = int(ds.attrs["n_observations"])
    if n_observations is not None:
        mean, std = noise_floor(n_observations)
        ax.axhline(mean, color="k", ls="--", lw=1.0,
                   label=f"noise floor m/2 = {mean:.4g} (m = {int(n_observations)})")
        ax.axhspan(max(mean - 2 * std, 1e-300), mean + 2 * std, color="0.5", alpha=0.15,
                   label="±2 std of ½χ² of pure noise")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(variable.replace("_", " "))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path) if path is not None else fig


def plot_parameter_trajectories(history, path: str | Path | None = None, *, truth: Sequence[float] | None = None):
    """Parameter values along iterations (divided by the truth when given)."""
    plt = _plt()
    names = [str(n) for n in history["parameter"].values]
    values = np.asarray(history["parameters"].values)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, n in enumerate(names):
        y = values[:, i] / truth[i] if truth is not None else values[:, i]
        ax.plot(history["iteration"].values, y, label=_short(n))
    if truth is not None:
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_ylabel("parameter / truth")
    else:
        ax.set_ylabel("parameter value")
    ax.set_xlabel("iteration")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path) if path is not None else fig


def plot_corner(samples: np.ndarray, names: Sequence[str], path: str | Path | None = None, *,
                truth: Sequence[float] | None = None, map_point: Sequence[float] | None = None,
                other: np.ndarray | None = None, labels: tuple[str, str] = ("posterior", "other"),
                max_points: int = 2000):
    """Corner plot of ``(S, n)`` samples: histograms on the diagonal, scatter below.

    ``other``: a second sample set (e.g. Laplace vs SVI, or the prior) drawn in grey.
    """
    plt = _plt()
    samples = np.asarray(samples)[:max_points]
    n = samples.shape[1]
    fig, axes = plt.subplots(n, n, figsize=(2.0 * n + 1, 2.0 * n + 1), squeeze=False)
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                if other is not None:
                    ax.hist(np.asarray(other)[:max_points, i], bins=30, color="0.7", density=True, label=labels[1])
                ax.hist(samples[:, i], bins=30, color="C0", alpha=0.7, density=True, label=labels[0])
                if truth is not None:
                    ax.axvline(truth[i], color="k", ls="--")
                if map_point is not None:
                    ax.axvline(map_point[i], color="C3")
            else:
                if other is not None:
                    o = np.asarray(other)[:max_points]
                    ax.scatter(o[:, j], o[:, i], s=2, color="0.7")
                ax.scatter(samples[:, j], samples[:, i], s=2, color="C0", alpha=0.5)
                if truth is not None:
                    ax.plot(truth[j], truth[i], "k+", ms=10)
            if i == n - 1:
                ax.set_xlabel(_short(names[j]), fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(_short(names[i]), fontsize=8)
            ax.tick_params(labelsize=6)
    if other is not None:
        axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, path) if path is not None else fig


def plot_profiles(z, observed, *, truth=None, prior=None, posterior=None, path: str | Path | None = None,
                  xlabel: str = "", title: str | None = None):
    """One profile panel: observations (dots), truth (black), and 5–95 % bands of prior and
    posterior ensembles ``(S, nz)`` with their medians.  ``z`` (m) is ``(nz,)``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 5))
    z = np.asarray(z)
    for ens, color, label in ((prior, "0.6", "prior"), (posterior, "C0", "posterior")):
        if ens is None:
            continue
        ens = np.asarray(ens)
        lo, med, hi = np.quantile(ens, [0.05, 0.5, 0.95], axis=0)
        ax.fill_betweenx(z, lo, hi, color=color, alpha=0.35, label=f"{label} 5-95 %")
        ax.plot(med, z, color=color)
    if truth is not None:
        ax.plot(np.asarray(truth), z, "k--", label="truth")
    if observed is not None:
        ax.plot(np.asarray(observed), z, "o", color="C3", ms=3, label="observed")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("z (m)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path) if path is not None else fig
