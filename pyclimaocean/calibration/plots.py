"""Calibration and inference figures (matplotlib, headless ``Agg``; saved atomically).

* :func:`plot_loss` — loss (or data misfit) against iterations / forward runs, several runs,
  with the noise floor (½χ² of pure noise).
* :func:`plot_parameter_trajectories` — parameters against iterations, relative to the truth.
* :func:`plot_corner` — pairwise posterior samples (corner style) with truth and MAP.
* :func:`plot_profiles` — observed profiles with the prior and posterior predictive spread and
  the truth.
* :func:`plot_profile_grid` — every observed profile variable at several times: first guess,
  calibrated run, truth, observations (and ensemble bands), plus their differences from the
  truth at the final time, so that curves that coincide on the profile scale stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..plotting import _plt, save_figure

__all__ = ["noise_floor", "plot_loss", "plot_parameter_trajectories", "plot_corner", "plot_profiles",
           "plot_profile_grid"]


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
    handles = [plt.Rectangle((0, 0), 1, 1, color="C0", alpha=0.7, label=labels[0])]
    if other is not None:
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.7", label=labels[1]))
    if truth is not None:
        handles.append(plt.Line2D([], [], color="k", ls="--", marker="+", ms=10, label="truth"))
    if map_point is not None:
        handles.append(plt.Line2D([], [], color="C3", label="MAP"))
    fig.tight_layout()
    # the empty upper triangle holds the legend (a 1-parameter corner plot has none: put it below)
    if n > 1:
        fig.legend(handles=handles, loc="upper right", fontsize=11, frameon=False,
                   bbox_to_anchor=(0.98, 0.98))
    else:
        axes[0, 0].legend(handles=handles, fontsize=6)
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


#: line styles of the profile grid: (colour, line style, line width, label); the truth
#: is drawn thick and light underneath so that a calibrated run on top of it stays visible
_PROFILE_STYLES = {
    "truth": ("0.55", "-", 4.0, "truth"),
    "first_guess": ("C1", ":", 1.6, "first guess"),
    "calibrated": ("C0", "--", 1.4, "calibrated"),
}


def _time_label(t: float, time_units: str) -> str:
    if time_units == "s":
        return f"t = {t / 3600.0:.4g} h"
    if time_units == "record":
        return f"output record {int(t)}"
    return f"t = {t:.4g}" + ("" if time_units in ("", "1") else f" {time_units}")


def plot_profile_grid(x, times, runs: Mapping[str, Mapping[str, np.ndarray]], *,
                      observed: Mapping[str, np.ndarray] | None = None,
                      bands: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                      units: Mapping[str, str] | None = None, dim: str = "z",
                      time_units: str = "s", max_times: int = 3, title: str | None = None,
                      run_labels: Mapping[str, str] | None = None, path: str | Path | None = None):
    """Profiles of every variable at several times, and their errors at the final time.

    Args:
        x: the profile coordinate ``(nx,)`` (``z`` in m for the column, ``k`` for Lorenz-96).
        times: ``(nt,)`` output times (s when ``time_units == "s"``, else model units).
        runs: ``{"truth" | "first_guess" | "calibrated": {variable: (nt, nx)}}``; missing
            entries are skipped.
        observed: ``{variable: (nt, nx)}`` observations (NaN where not observed).
        bands: ``{"prior" | "posterior": {variable: (S, nt, nx)}}`` ensembles drawn as 5–95 %
            bands.
        units: ``{variable: units}`` for the axis labels.
        max_times: at most this many columns of times (first, evenly spaced, last).
        run_labels: legend labels replacing the defaults (e.g. ``{"calibrated": "MAP"}``).

    One row per variable; columns are the selected times, then a last column with
    ``run − truth`` (or ``run − observations`` without a truth) at the final time.
    """
    plt = _plt()
    x = np.asarray(x, dtype=float)
    times = np.asarray(times, dtype=float)
    observed = observed or {}
    bands = bands or {}
    units = units or {}
    variables = list(dict.fromkeys(v for r in runs.values() for v in r))
    nt = len(times)
    cols = sorted(set(np.linspace(0, nt - 1, min(max_times, nt)).round().astype(int).tolist()))
    ncol = len(cols) + 1
    vertical = dim in ("z", "depth")
    fig, axes = plt.subplots(len(variables), ncol, figsize=(2.6 * ncol + 0.6, 2.9 * len(variables) + 0.6),
                             squeeze=False, sharey=vertical)
    styles = {name: (c, ls, lw, (run_labels or {}).get(name, lab))
              for name, (c, ls, lw, lab) in _PROFILE_STYLES.items()}

    def draw(ax, values, *style_args, **kwargs):
        return ax.plot(values, x, *style_args, **kwargs) if vertical else ax.plot(x, values, *style_args, **kwargs)

    reference_name = "truth" if "truth" in runs else None
    for row, var in enumerate(variables):
        unit = units.get(var, "")
        label = f"{var} ({unit})" if unit else var
        for col, it in enumerate(cols):
            ax = axes[row, col]
            for name, ens in bands.items():
                if var in ens:
                    lo, hi = np.quantile(np.asarray(ens[var])[:, it], [0.05, 0.95], axis=0)
                    color = "0.8" if name == "prior" else "C0"
                    (ax.fill_betweenx(x, lo, hi, color=color, alpha=0.3, label=f"{name} 5-95 %")
                     if vertical else ax.fill_between(x, lo, hi, color=color, alpha=0.3, label=f"{name} 5-95 %"))
            for name, (color, ls, lw, lab) in styles.items():
                if name in runs and var in runs[name]:
                    draw(ax, np.asarray(runs[name][var])[it], color=color, ls=ls, lw=lw, label=lab)
            if var in observed:
                draw(ax, np.asarray(observed[var])[it], "o", color="C3", ms=3, label="observed")
            if row == 0:
                ax.set_title(_time_label(times[it], time_units), fontsize=9)
            (ax.set_xlabel if vertical else ax.set_ylabel)(label, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
        # errors at the final time
        ax = axes[row, -1]
        it = cols[-1]
        ref = (np.asarray(runs["truth"][var])[it] if reference_name and var in runs["truth"]
               else (np.asarray(observed[var])[it] if var in observed else None))
        if ref is not None:
            (ax.axvline if vertical else ax.axhline)(0.0, color="0.55", lw=2.0)
            for name, (color, ls, _, lab) in styles.items():
                if name == reference_name or name not in runs or var not in runs[name]:
                    continue
                draw(ax, np.asarray(runs[name][var])[it] - ref, color=color, ls=ls, lw=1.4, label=lab)
            if var in observed and reference_name:
                draw(ax, np.asarray(observed[var])[it] - ref, "o", color="C3", ms=3, label="observed")
            ax.ticklabel_format(axis="x" if vertical else "y", style="sci", scilimits=(-2, 3))
        if row == 0:
            ax.set_title(f"minus {'truth' if reference_name else 'observed'}, "
                         f"{_time_label(times[it], time_units)}", fontsize=9)
        (ax.set_xlabel if vertical else ax.set_ylabel)(f"Δ{label}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for row in range(len(variables)):
        (axes[row, 0].set_ylabel if vertical else axes[row, 0].set_xlabel)(
            f"{dim} (m)" if dim in ("z", "depth") else dim, fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, path) if path is not None else fig
