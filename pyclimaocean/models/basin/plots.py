"""Summary numbers and figures of a basin run: SST map (or sea surface height when SST is
uniform), barotropic streamfunction, meridional overturning ψ(y, z), and kinetic energy /
transport time series.

Everything is computed from the output dataset's prognostic fields (``u``, ``v``, ``T``,
``U``) with the grid's metrics through :mod:`~pyclimaocean.models.basin.analysis`, so the
numbers are the differentiable diagnostics a loss would use.  :func:`basin_summary` and
:func:`basin_figures` are what :class:`~pyclimaocean.models.basin.BasinModel`'s ``summary``
and ``figures`` return.
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ...core.dataset import seconds_since_start
from ...grids import CGrid
from ...plotting import pyplot, save_figure
from . import analysis as A

__all__ = [
    "basin_figures",
    "basin_summary",
    "plot_barotropic_streamfunction",
    "plot_overturning",
    "plot_sea_surface_height",
    "plot_sst",
    "plot_time_series",
    "time_series",
]

_DAY = 86400.0


def _field(ds, name, index=None):
    values = np.asarray(ds[name].values, dtype=float)
    return jnp.asarray(values if index is None else values[index])


def _transport_U(grid: CGrid, ds, index=None):
    """Depth-integrated zonal transport at U points (m² s⁻¹): ``U`` if written, else ∫u dz."""
    if "U" in ds:
        return _field(ds, "U", index)
    return A.depth_integral(grid, _field(ds, "u", index), "U")


def _horizontal_axes(grid: CGrid):
    """(x_T, x_U, y_T, y_V, x label, y label) in degrees or km."""
    xs = [np.asarray(a, dtype=float) for a in (grid.xT, grid.xU, grid.yT, grid.yV)]
    if grid.coordinate_system == "spherical":
        return (*xs, "longitude (°E)", "latitude (°N)")
    return (*(a / 1e3 for a in xs), "x (km)", "y (km)")


def time_series(grid: CGrid, ds, reference_density: float = 1026.0) -> dict[str, np.ndarray]:
    """Per output time: ``days``, ``kinetic_energy`` (J), ``mean_kinetic_energy``
    (m² s⁻²), ``max_psi`` (largest ψ, Sv; relative to the northern wall on a re-entrant
    grid), ``min_psi`` (Sv), ``acc_transport`` (Sv, zonal
    transport through U column 0; re-entrant grids only), ``max_overturning`` (Sv, below the
    top level), ``mean_sst`` (°C)."""
    u, v, T = _field(ds, "u"), _field(ds, "v"), _field(ds, "T")
    U = _transport_U(grid, ds)
    psi = A.barotropic_streamfunction(grid, U) / A.SVERDRUP
    if grid.periodic_x:  # relative to the northern wall, as shown (_display_psi)
        psi = psi - jnp.mean(psi[..., -1:, :], axis=(-2, -1), keepdims=True)
    out = {
        "days": seconds_since_start(ds["time"]) / _DAY,
        "kinetic_energy": np.asarray(A.kinetic_energy(grid, u, v, reference_density)),
        "mean_kinetic_energy": np.asarray(A.mean_kinetic_energy(grid, u, v)),
        "max_psi": np.asarray(A.max_barotropic_streamfunction(grid, U)) / A.SVERDRUP,
        "min_psi": np.asarray(jnp.min(psi, axis=(-2, -1))),
        "max_overturning": np.asarray(A.max_overturning(grid, v)) / A.SVERDRUP
        if grid.nz > 1 else np.zeros(u.shape[0]),
        "mean_sst": np.asarray(A.mean_sst(grid, T)),
    }
    if grid.periodic_x:
        out["acc_transport"] = np.asarray(A.zonal_transport(grid, u, 0)) / A.SVERDRUP
    return out


def _display_psi(grid: CGrid, psi):
    """ψ (Sv) as shown and summarised: on a re-entrant grid relative to its mean on the
    northern wall, so the basin's boundary is 0 and the channel carries ψ up to the ACC
    transport; on a closed grid as computed (0 on every wall)."""
    psi = np.asarray(psi) / A.SVERDRUP
    if grid.periodic_x:
        psi = psi - float(np.mean(psi[-1]))
    return psi


def _second_half(n: int) -> slice:
    """The outputs averaged for the transports: the second half (all of them if n < 2)."""
    return slice(n // 2 if n > 1 else 0, None)


def basin_summary(grid: CGrid, ds, reference_density: float = 1026.0
                  ) -> dict[str, tuple[float, str, str]]:
    """Key numbers: ``{key: (value, units, label)}``.  The transports (ACC, barotropic ψ
    extremes, overturning) are time means over the second half of the outputs, since basin
    modes oscillate about the steady circulation; KE, max |u| and SST are the last output's.
    """
    ts = time_series(grid, ds, reference_density)
    half = _second_half(len(ts["days"]))
    days = ts["days"][half]
    span = f"mean of days {days[0]:.0f}-{days[-1]:.0f}"
    psi = _display_psi(grid, A.barotropic_streamfunction(
        grid, jnp.mean(_transport_U(grid, ds)[half], axis=0)))
    out = {}
    if grid.periodic_x:
        out["acc_transport"] = (float(np.mean(ts["acc_transport"][half])), "Sv",
                                f"zonal transport through the section of U column 0 ({span})")
    ref = " relative to the northern wall" if grid.periodic_x else ""
    out["max_psi"] = (float(psi.max()), "Sv",
                      f"largest barotropic streamfunction{ref} ({span})")
    out["min_psi"] = (float(psi.min()), "Sv",
                      f"smallest barotropic streamfunction{ref} ({span})")
    if grid.nz > 1:
        moc = np.asarray(A.overturning_streamfunction(
            grid, jnp.mean(_field(ds, "v")[half], axis=0))) / A.SVERDRUP
        out["max_overturning"] = (float(moc[:-1].max()), "Sv",
                                  f"largest overturning streamfunction below the top level "
                                  f"({span})")
        out["min_overturning"] = (float(moc[:-1].min()), "Sv",
                                  f"smallest overturning streamfunction below the top level "
                                  f"({span})")
    out["mean_kinetic_energy"] = (float(ts["mean_kinetic_energy"][-1]), "m2 s-2",
                                  "volume-mean kinetic energy at the end")
    out["max_speed"] = (float(np.max(np.abs(np.asarray(ds["u"].values[-1])))), "m s-1",
                        "largest |u| at the end")
    out["mean_sst"] = (float(ts["mean_sst"][-1]), "degC",
                       "area-mean top-level temperature at the end")
    return out


def _map_aspect(ax, grid: CGrid):
    """Equal distances in x and y (on the sphere at the mean latitude of the grid)."""
    if grid.coordinate_system == "spherical":
        ax.set_aspect(1.0 / max(float(np.cos(np.deg2rad(np.mean(np.asarray(grid.yT))))), 0.1))
    else:
        ax.set_aspect("equal")


def _masked(values, mask):
    return np.where(np.asarray(mask) > 0, np.asarray(values), np.nan)


def _day_label(ds, index):
    return f"day {seconds_since_start(ds['time'])[index] / _DAY:.0f}"


def plot_sst(grid: CGrid, ds, path=None, title: str | None = None, index: int = -1):
    """Map of the top-level temperature at output ``index`` (land blank)."""
    plt = pyplot()
    xT, _, yT, _, xl, yl = _horizontal_axes(grid)
    sst = _masked(np.asarray(ds["T"].values[index])[-1], grid.maskT[-1])
    fig, ax = plt.subplots(figsize=(5.5, 6.0), layout="constrained")
    mesh = ax.pcolormesh(xT, yT, sst, shading="nearest", cmap="RdYlBu_r")
    fig.colorbar(mesh, ax=ax, label="T (°C)")
    _map_aspect(ax, grid)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(f"{title or 'basin'}: top-level temperature, {_day_label(ds, index)}")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_sea_surface_height(grid: CGrid, ds, path=None, title: str | None = None):
    """Map of the free-surface height η (cm), averaged over the second half of the outputs
    (land blank); geostrophic flow follows its contours."""
    plt = pyplot()
    xT, _, yT, _, xl, yl = _horizontal_axes(grid)
    eta = np.asarray(ds["eta"].values, dtype=float)
    half = _second_half(eta.shape[0])
    eta = _masked(eta[half].mean(axis=0) * 100.0, grid.maskT[-1])
    fig, ax = plt.subplots(figsize=(5.5, 6.0), layout="constrained")
    lim = float(np.nanmax(np.abs(eta))) or 1.0
    mesh = ax.pcolormesh(xT, yT, eta, shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(mesh, ax=ax, label="η (cm)")
    _map_aspect(ax, grid)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    days = seconds_since_start(ds["time"])[half] / _DAY
    ax.set_title(f"{title or 'basin'}: sea surface height,\nmean of days "
                 f"{days[0]:.0f}–{days[-1]:.0f}")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_barotropic_streamfunction(grid: CGrid, ds, path=None, title: str | None = None):
    """Barotropic streamfunction ψ (Sv, clockwise positive; 0 on the walls of a closed basin,
    on the northern wall of a re-entrant one), averaged over the second half of the outputs."""
    plt = pyplot()
    _, xU, _, yV, xl, yl = _horizontal_axes(grid)
    U = _transport_U(grid, ds)
    half = _second_half(U.shape[0])
    psi = _display_psi(grid, A.barotropic_streamfunction(grid, jnp.mean(U[half], axis=0)))
    fig, ax = plt.subplots(figsize=(5.5, 6.0), layout="constrained")
    lim = float(np.max(np.abs(psi))) or 1.0
    mesh = ax.pcolormesh(xU, yV, psi, shading="nearest", cmap="RdBu_r", vmin=-lim, vmax=lim)
    if np.ptp(psi) > 0:
        ax.contour(xU, yV, psi, levels=np.linspace(-lim, lim, 15), colors="k",
                   linewidths=0.5)
    fig.colorbar(mesh, ax=ax, label="ψ (Sv)")
    _map_aspect(ax, grid)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    days = seconds_since_start(ds["time"])[half] / _DAY
    ref = " (0 on the northern wall)" if grid.periodic_x else ""
    ax.set_title(f"{title or 'basin'}: barotropic streamfunction{ref},\nmean of days "
                 f"{days[0]:.0f}–{days[-1]:.0f}: max {psi.max() + 0.0:.1f} Sv, "
                 f"min {psi.min() + 0.0:.1f} Sv")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_overturning(grid: CGrid, ds, path=None, title: str | None = None):
    """Meridional overturning streamfunction ψ(y, z) (Sv, clockwise positive), averaged over
    the second half of the outputs."""
    plt = pyplot()
    v = _field(ds, "v")
    moc = np.asarray(A.overturning_streamfunction(grid, v)) / A.SVERDRUP
    moc = moc[_second_half(moc.shape[0])].mean(axis=0)
    _, _, _, yV, _, yl = _horizontal_axes(grid)
    zf = np.asarray(grid.z_faces)
    z = np.concatenate([zf[:1], zf[1:]])  # sea floor (ψ = 0) and the top faces
    moc = np.concatenate([np.zeros((1, moc.shape[1])), moc], axis=0)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    lim = float(np.max(np.abs(moc))) or 1.0
    mesh = ax.pcolormesh(yV, z, moc, shading="gouraud", cmap="RdBu_r", vmin=-lim, vmax=lim)
    if np.ptp(moc) > 0:
        ax.contour(yV, z, moc, levels=np.linspace(-lim, lim, 13), colors="k", linewidths=0.5)
    fig.colorbar(mesh, ax=ax, label="ψ (Sv)")
    ax.set_xlabel(yl)
    ax.set_ylabel("height (m)")
    days = seconds_since_start(ds["time"]) / _DAY
    days = days[_second_half(len(days))]
    ax.set_title(f"{title or 'basin'}: Eulerian overturning, mean of days "
                 f"{days[0]:.0f}–{days[-1]:.0f}")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_time_series(grid: CGrid, ds, path=None, title: str | None = None,
                     reference_density: float = 1026.0):
    """Volume-mean kinetic energy and the transports (gyre ψ extremes, ACC, overturning)
    against time."""
    plt = pyplot()
    ts = time_series(grid, ds, reference_density)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.0, 5.5), sharex=True, layout="constrained")
    a1.plot(ts["days"], ts["mean_kinetic_energy"] * 1e4, "k-")
    a1.set_ylabel("mean KE (cm² s⁻²)")
    a1.grid(alpha=0.3)
    a2.plot(ts["days"], ts["max_psi"], label="max ψ")
    a2.plot(ts["days"], ts["min_psi"], label="min ψ")
    if "acc_transport" in ts:
        a2.plot(ts["days"], ts["acc_transport"], label="ACC (U column 0)")
    if grid.nz > 1:
        a2.plot(ts["days"], ts["max_overturning"], label="max overturning")
    a2.set_ylabel("transport (Sv)")
    a2.set_xlabel("time (days)")
    a2.grid(alpha=0.3)
    a2.legend(fontsize="small")
    a1.set_title(f"{title or 'basin'}: kinetic energy and transports")
    if path is not None:
        save_figure(fig, path)
    return fig


def basin_figures(grid: CGrid, ds, directory, title: str = "",
                  reference_density: float = 1026.0) -> list[Path]:
    """Write ``sst.png`` (``sea_surface_height.png`` instead when the top-level temperature
    is uniform, as in the barotropic gyre), ``barotropic_streamfunction.png``,
    ``overturning.png`` (nz > 1) and ``time_series.png`` into ``directory``; returns the
    paths."""
    directory = Path(directory)
    top = np.asarray(ds["T"].values[-1])[-1][np.asarray(grid.maskT[-1]) > 0]
    if np.ptp(top) > 0:
        paths = [directory / "sst.png"]
        plot_sst(grid, ds, paths[0], title)
    else:
        paths = [directory / "sea_surface_height.png"]
        plot_sea_surface_height(grid, ds, paths[0], title)
    paths.append(directory / "barotropic_streamfunction.png")
    plot_barotropic_streamfunction(grid, ds, paths[1], title)
    if grid.nz > 1:
        paths.append(directory / "overturning.png")
        plot_overturning(grid, ds, paths[-1], title)
    paths.append(directory / "time_series.png")
    plot_time_series(grid, ds, paths[-1], title, reference_density)
    return paths
