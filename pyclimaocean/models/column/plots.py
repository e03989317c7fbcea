"""Figures of a column run: profiles at a few times and a time–depth section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.dataset import seconds_since_start
from ...plotting import pyplot, save_figure

__all__ = ["plot_column"]


def plot_column(ds, path: str | Path | None = None, title: str | None = None):
    """Profiles at a few times (T, S, u/v, TKE) and a time–depth section of T.

    ``ds`` is a column dataset (``time`` × ``z``) from ``ColumnModel.to_xarray``.
    """
    plt = pyplot()
    fig = plt.figure(figsize=(13, 8), layout="constrained")
    grid = fig.add_gridspec(2, 4, height_ratios=[1.1, 1])
    z = ds.z.values
    seconds = seconds_since_start(ds["time"])
    n = ds.sizes["time"]
    picks = sorted(set(np.linspace(0, n - 1, min(n, 5)).round().astype(int)))
    cmap = plt.get_cmap("viridis")
    panels = [("T", "temperature (°C)"), ("S", "salinity (g kg⁻¹)"), ("u", "velocity (m s⁻¹)"),
              ("e", "TKE (m² s⁻²)")]
    for j, (name, label) in enumerate(panels):
        ax = fig.add_subplot(grid[0, j])
        names = ("u", "v") if name == "u" else (name,)
        constant = {k: _constant_value(ds[k].values) for k in names}
        if all(v is not None for v in constant.values()):
            # nothing to see in a line plot: say what the field is instead of an empty panel
            text = "\n".join(f"{k} = {v:.4g} everywhere" for k, v in constant.items())
            ax.text(0.5, 0.5, f"{text}\n(constant in time and depth)", ha="center",
                    va="center", transform=ax.transAxes, fontsize=9)
            ax.set_xticks([])
            ax.set_xlabel(label)
            ax.set_ylim(z.min(), z.max())
            if j == 0:
                ax.set_ylabel("z (m)")
            continue
        for c, i in enumerate(picks):
            color = cmap(c / max(1, len(picks) - 1))
            t_days = float(seconds[i]) / 86400
            ax.plot(ds[name].values[i], z, color=color, label=f"{t_days:.2f} d")
            if name == "u":
                ax.plot(ds["v"].values[i], z, color=color, ls="--")
        ax.set_xlabel(label + ("  (— u, -- v)" if name == "u" else ""))
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4), useOffset=False)
        ax.xaxis.set_major_locator(pyplot().MaxNLocator(4))
        if j == 0:
            ax.set_ylabel("z (m)")
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ax = fig.add_subplot(grid[1, :])
    t_days = seconds / 86400
    mesh = ax.pcolormesh(t_days, z, ds["T"].values.T, shading="nearest", cmap="RdYlBu_r")
    fig.colorbar(mesh, ax=ax, label="temperature (°C)")
    ax.set_xlabel("time (days)")
    ax.set_ylabel("z (m)")
    ax.set_title("time–depth section")
    fig.suptitle(title or ds.attrs.get("title", "column experiment"))
    if path is not None:
        save_figure(fig, path)
    return fig


def _constant_value(values) -> float | None:
    """The value of a field that is the same everywhere (to 1e-12 relative), else ``None``."""
    values = np.asarray(values, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return None
    scale = max(1.0, float(np.abs(values).max()))
    return float(values.flat[0]) if float(np.ptp(values)) <= 1e-12 * scale else None
