"""Figures of a sea-ice column run: the seasonal cycle of thickness, snow, surface temperature
and concentration, every year of the run overlaid (periodic equilibrium shows as one curve)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plotting import pyplot, save_figure

__all__ = ["plot_seasonal_cycle"]

_YEAR = 360 * 86400.0


def _seconds(ds) -> np.ndarray:
    t = ds["time"].values
    if np.issubdtype(t.dtype, np.datetime64):
        return np.asarray((t - np.datetime64("2000-01-01T00:00:00")) / np.timedelta64(1, "s"),
                          dtype=float)
    return np.asarray(t, dtype=float)


def plot_seasonal_cycle(ds, path: str | Path | None = None, title: str | None = None):
    """Ice thickness, snow thickness, surface temperature and concentration against the day of
    the (360-day) year, one line per year, colour from early (light) to late (dark) years."""
    plt = pyplot()
    seconds = _seconds(ds)
    year = np.floor(seconds / _YEAR + 1e-9).astype(int)
    day = (seconds - year * _YEAR) / 86400.0
    panels = (("h", "ice thickness (m)"), ("hs", "snow thickness (m)"),
              ("Ts", "surface temperature (°C)"), ("concentration", "ice area fraction"))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), layout="constrained", sharex=True)
    years = np.unique(year)
    colours = plt.get_cmap("viridis_r")(np.linspace(0.15, 1.0, max(len(years), 1)))
    for (name, label), ax in zip(panels, axes.ravel(), strict=True):
        values = np.asarray(ds[name].values, dtype=float).reshape(len(seconds), -1).mean(axis=1)
        for colour, y in zip(colours, years, strict=True):
            sel = year == y
            ax.plot(day[sel], values[sel], color=colour, lw=1.2,
                    label=f"year {y + 1}" if y in (years[0], years[-1]) else None)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("day of the (360-day) year")
    axes[0, 0].legend(loc="best", fontsize=8)
    fig.suptitle(title or ds.attrs.get("title", "Arctic sea-ice column"))
    if path is not None:
        save_figure(fig, path)
    return fig
