"""Figure of a coupled ocean–sea-ice column run: ice thickness and concentration, surface
temperatures, and the ocean temperature section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plotting import pyplot, save_figure

__all__ = ["plot_coupled_column"]


def _days(ds) -> np.ndarray:
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.datetime64):
        return np.asarray((t - t[0]) / np.timedelta64(1, "D"), dtype=float)
    return np.asarray(t - t[0], dtype=float) / 86400.0


def plot_coupled_column(ds, path: str | Path | None = None, title: str | None = None):
    """Three panels against model days: ice thickness (and snow) with concentration; SST and
    ice surface temperature; T(z, t)."""
    plt = pyplot()
    days = _days(ds)
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), layout="constrained", sharex=True)
    ax = axes[0]
    ax.plot(days, ds["h"].values, label="ice thickness (m)")
    ax.plot(days, ds["hs"].values, label="snow thickness (m)")
    ax.set_ylabel("m")
    twin = ax.twinx()
    twin.plot(days, ds["concentration"].values, color="k", lw=0.8, label="ice area fraction")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("ice area fraction")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    ax.plot(days, ds["sst"].values, label="surface-cell temperature")
    ax.plot(days, ds["Ts"].values, label="ice surface temperature")
    ax.set_ylabel("°C")
    ax.legend(fontsize=8)
    ax = axes[2]
    z = ds["z"].values
    mesh = ax.pcolormesh(days, z, np.asarray(ds["T"].values).T, shading="auto", cmap="RdBu_r")
    fig.colorbar(mesh, ax=ax, label="T (°C)")
    ax.set_ylabel("z (m)")
    ax.set_xlabel("model day")
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title or ds.attrs.get("title", "coupled ocean-sea-ice column"))
    if path is not None:
        save_figure(fig, path)
    return fig
