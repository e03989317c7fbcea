"""Figures of a Lorenz-96 run: a Hovmöller diagram of the (slow) variables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plotting import pyplot, save_figure

__all__ = ["plot_hovmoller"]


def plot_hovmoller(ds, path: str | Path | None = None, title: str | None = None):
    """x(k, t) as a time–index diagram, and the energy ½ mean x² against time."""
    plt = pyplot()
    t = np.asarray(ds["time"].values, dtype=float)
    x = ds["x"].values
    width = min(16.0, max(8.0, 0.08 * len(t)))
    fig, (ax, ax_e) = plt.subplots(2, 1, figsize=(width, 6.5), height_ratios=[2.2, 1],
                                   sharex=True, layout="constrained")
    lim = float(np.max(np.abs(x))) or 1.0
    mesh = ax.pcolormesh(t, ds["k"].values, x.T, shading="nearest", cmap="RdBu_r",
                         vmin=-lim, vmax=lim)
    fig.colorbar(mesh, ax=ax, label="x")
    ax.set_ylabel("k")
    ax_e.plot(t, 0.5 * np.mean(x**2, axis=-1), color="k", lw=1)
    ax_e.set_xlabel("time (model time units)")
    ax_e.set_ylabel("½ mean x²")
    ax_e.grid(alpha=0.3)
    fig.suptitle(title or ds.attrs.get("title", "Lorenz-96"))
    if path is not None:
        save_figure(fig, path)
    return fig
