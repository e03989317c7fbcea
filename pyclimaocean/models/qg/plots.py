"""Figures of a two-layer QG run: PV snapshots per layer and the isotropic KE spectrum."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...core.dataset import seconds_since_start
from ...plotting import pyplot, save_figure

__all__ = ["plot_ke_spectrum", "plot_pv_snapshots"]


def plot_pv_snapshots(ds, path: str | Path | None = None, title: str | None = None,
                      index: int = -1):
    """Maps of the PV anomaly ``q`` of both layers at output ``index`` (default the last)."""
    plt = pyplot()
    q = np.asarray(ds["q"].values[index])
    x = np.asarray(ds["x"].values) / 1e3
    y = np.asarray(ds["y"].values) / 1e3
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    for i, (ax, name) in enumerate(zip(axes, ("upper layer", "lower layer"), strict=True)):
        lim = float(np.max(np.abs(q[i]))) or 1.0
        mesh = ax.pcolormesh(x, y, q[i], shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(mesh, ax=ax, label="q (s⁻¹)")
        ax.set_aspect("equal")
        ax.set_xlabel("x (km)")
        ax.set_ylabel("y (km)")
        ax.set_title(f"PV anomaly, {name}")
    days = seconds_since_start(ds["time"])[index] / 86400.0
    fig.suptitle(f"{title or ds.attrs.get('title', 'two-layer QG')} — day {days:.0f}")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_ke_spectrum(kappa, spectrum, path: str | Path | None = None, rd: float | None = None,
                     title: str | None = None):
    """Isotropic KE spectrum per layer, time-averaged over the second half of the output.

    Args:
        kappa: ``(n,)`` wavenumbers (rad m⁻¹).
        spectrum: ``(time, 2, n)`` or ``(2, n)`` spectral densities (m³ s⁻²).
        rd: deformation radius (m), marked at ``κ = 1 / r_d``.
    """
    plt = pyplot()
    spec = np.asarray(spectrum)
    if spec.ndim == 3:
        spec = spec[spec.shape[0] // 2:].mean(axis=0)
    fig, ax = plt.subplots(figsize=(6.5, 4.6), layout="constrained")
    for i, name in enumerate(("upper layer", "lower layer")):
        ok = spec[i] > 0
        ax.loglog(kappa[ok], spec[i][ok], lw=1.5, label=name)
    top = float(np.max(spec)) if np.any(spec > 0) else 1.0
    ax.set_ylim(top * 1e-8, top * 3)  # the filtered tail falls to round-off: not shown
    if rd:
        ax.axvline(1.0 / rd, color="k", lw=0.8, ls="--", label="1 / r_d")
    ax.set_xlabel("isotropic wavenumber κ (rad m⁻¹)")
    ax.set_ylabel("KE spectral density (m³ s⁻²)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title or "kinetic energy spectrum (mean of the second half)")
    if path is not None:
        save_figure(fig, path)
    return fig
