"""Figures of a coupled basin run: ice maps with ice velocity, and time series."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plotting import pyplot, save_figure

__all__ = ["coupled_basin_figures", "plot_ice_maps", "plot_ice_time_series"]


def _days(ds) -> np.ndarray:
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.datetime64):
        return np.asarray((t - t[0]) / np.timedelta64(1, "D"), dtype=float)
    return np.asarray(t - t[0], dtype=float) / 86400.0


def _ice_velocity_at_centres(ds, index):
    """Ice velocity averaged from the faces to the cell centres (zero beyond the walls)."""
    u = np.asarray(ds["siu"].values[index], dtype=float)
    v = np.asarray(ds["siv"].values[index], dtype=float)
    uc = 0.5 * (u + np.pad(u, ((0, 0), (1, 0)))[:, :-1])
    vc = 0.5 * (v + np.pad(v, ((1, 0), (0, 0)))[:-1, :])
    return uc, vc


def plot_ice_maps(ds, path: str | Path | None = None, title: str | None = None,
                  index: int = -1):
    """Three maps at output ``index``: ice thickness (ice-covered part) with ice velocity
    arrows, concentration, and SST; land is grey."""
    plt = pyplot()
    x, y = ds["x"].values, ds["y"].values
    land = np.asarray(ds["T"].values[index][-1]) == 0.0
    land &= np.asarray(ds["S"].values[index][-1]) == 0.0
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    panels = (("sithick", "ice thickness (m)", "Blues_r"),
              ("siconc", "ice area fraction", "Blues_r"),
              ("sst", "SST (°C)", "RdBu_r"))
    for ax, (name, label, cmap) in zip(axes, panels, strict=True):
        field = np.ma.masked_where(land, np.asarray(ds[name].values[index], dtype=float))
        ax.set_facecolor("0.7")
        mesh = ax.pcolormesh(x, y, field, shading="auto", cmap=cmap)
        fig.colorbar(mesh, ax=ax, label=label)
        ax.set_xlabel("longitude (°E)")
        ax.set_ylabel("latitude (°N)")
    uc, vc = _ice_velocity_at_centres(ds, index)
    present = np.asarray(ds["siconc"].values[index]) > 0.01
    q = axes[0].quiver(x, y, np.where(present, uc, np.nan), np.where(present, vc, np.nan),
                       color="k")
    axes[0].quiverkey(q, 0.8, 1.03, 0.1, "0.1 m/s", labelpos="E")
    day = _days(ds)[index]
    fig.suptitle(f"{title or ds.attrs.get('title', 'coupled ocean-sea-ice basin')}, "
                 f"day {day:.0f}")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_ice_time_series(ds, path: str | Path | None = None, title: str | None = None):
    """Ice area and volume, area-mean SST and the relative changes of the budget residuals
    (energy, freshwater, salt; constant when conserved) against days."""
    plt = pyplot()
    days = _days(ds)
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), layout="constrained", sharex=True)
    ax = axes[0]
    ax.plot(days, ds["sea_ice_area"].values / 1e12, label="area (10⁶ km²)")
    ax.plot(days, ds["sea_ice_volume"].values / 1e12, label="volume (10³ km³)")
    ax.legend(fontsize=8)
    ax.set_ylabel("sea ice")
    ax = axes[1]
    sst = np.asarray(ds["sst"].values, dtype=float)
    wet = np.asarray(ds["S"].values[0][-1]) != 0.0
    ax.plot(days, [s[wet].mean() for s in sst], label="mean SST (wet cells)")
    ax.plot(days, [s[wet].min() for s in sst], label="min SST")
    ax.set_ylabel("°C")
    ax.legend(fontsize=8)
    ax = axes[2]
    for name in ("energy_residual", "freshwater_residual", "salt_residual"):
        r = np.asarray(ds[name].values, dtype=float)
        ax.semilogy(days[1:], np.abs(r[1:] - r[0]) / np.abs(r[0]) + 1e-18,
                    label=name.split("_")[0])
    ax.set_ylabel("|residual change| / |residual|")
    ax.set_xlabel("model day")
    ax.legend(fontsize=8)
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(title or ds.attrs.get("title", "coupled ocean-sea-ice basin"))
    if path is not None:
        save_figure(fig, path)
    return fig


def coupled_basin_figures(ds, directory, title: str = "") -> list[Path]:
    """Write ``ice_maps.png`` (last output) and ``ice_time_series.png``; returns the paths."""
    directory = Path(directory)
    paths = [directory / "ice_maps.png", directory / "ice_time_series.png"]
    plot_ice_maps(ds, paths[0], title or None)
    plot_ice_time_series(ds, paths[1], title or None)
    return paths
