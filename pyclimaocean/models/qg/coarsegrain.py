"""Filtering, coarse-graining and subgrid-forcing targets of the two-layer QG model.

A high-resolution model ``hr`` (``nx_hr × ny_hr``) is coarse-grained onto a low-resolution
model ``lr`` with the *same physics* on ``nx_lr × ny_lr`` points (``lr = low_res_model(hr,
nx_lr)``), as Ross et al. (2023, JAMES, "Benchmarking of machine learning ocean subgrid
parameterizations in an idealized model"; their ``coarsening_ops.py``) do with pyqg.

**Coarse-graining operator** ``f̄ = C f`` (:class:`Coarsener`): spectral truncation to the
wavenumbers of the low-resolution grid, multiplied by a filter ``G(k, l)``:

    C f = irfft2_lr[ G · T(rfft2_hr f) ],   T(f̂)(k, l) = (N_lr / N_hr) f̂(k, l)  for
    |k| < nx_lr/2 and |l| < ny_lr/2, else 0

(``N = nx ny``: the FFTs are unnormalised).  The low-resolution Nyquist row and column are
set to zero, so ``T`` followed by zero-padding (:meth:`Coarsener.upsample`) is an orthogonal
projection (Ross et al. keep them; with their "Operator 1" filter, which is ~1e-15 there, the
difference is nil).  Filters (``filter=``):

* ``"truncation"``: ``G = 1`` — the sharp spectral cutoff at the coarse grid's Nyquist
  wavenumber alone;
* ``"exponential"`` — Ross et al.'s **Operator 1** ("spectral truncation with a sharp
  filter"): ``G`` is the low-resolution model's own exponential filter
  ``exp(−23.6 (κ* − 0.65π)⁴)`` for ``κ* = κ Δx_lr > 0.65π`` (1 below);
* ``"gaussian"`` — Ross et al.'s **Operator 2**: ``G = exp(−κ² Δ² / 24)`` with filter width
  ``Δ = 2 Δx_lr`` (``width=`` to change it, m).

All three have ``G(0, 0) = 1``: the domain mean is preserved.  Every filter is real and
isotropic in ``(k, l)``, so ``C`` commutes with derivatives, with the (linear) PV inversion
of the two-layer model and with every linear term of the PV equation (β, background flow,
bottom drag): the only term that does not commute is the advection.

**Subgrid forcing** (sign convention: the term *added* to the low-resolution tendency, as a
closure's ``pv_tendency`` is).  With ``u = (u + U_i, v)`` the total velocity:

* ``q_forcing``, ``S_q = ∇·(ū q̄) − C[∇·(u q)]`` — Ross et al.'s ``q_subgrid_forcing``
  (their code returns ``C[adv] − adv(C)``, the opposite sign; their closures' outputs are
  added to the tendency, so this sign is the one a closure must predict);
* ``q_forcing_total`` — Ross et al.'s ``q_forcing_total``: ``C[∂q/∂t|_hr] − ∂q̄/∂t|_lr``
  (whole tendencies before the time step).  Because every other term commutes with ``C``,
  it equals ``S_q`` to round-off in this model (tested); it is written to show it;
* ``uq_flux``, ``vq_flux``, ``(F_x, F_y) = ū q̄ − C[u q]`` — the **subgrid flux**
  definition (Ross et al.'s ``subgrid_fluxes``, same sign convention), with
  ``S_q = ∂x F_x + ∂y F_y`` exactly (``C`` commutes with ∇);
* ``u_forcing``, ``v_forcing``, ``S_u = (ū·∇)ū − C[(u·∇)u]`` and likewise ``S_v`` — the
  momentum subgrid forcing (m s⁻²) that momentum closures (Smagorinsky, Zanna–Bolton) model;
  its curl ``∂x S_v − ∂y S_u`` is the relative-vorticity part of ``S_q`` (the
  vortex-stretching part ``F_i (ψ_j − ψ_i)`` of q adds the rest).

**Datasets.** :func:`generate_coarse_dataset` runs the high-resolution model, coarse-grains
snapshots and streams them (``q, psi, u, v`` of the coarse state and the targets above, on
``(time, layer, y, x)`` of the coarse grid, CF attributes) through any output writer of
:mod:`pyclimaocean.simulation` (``make_writer(dir, name, 1, format="zarr")``) or returns them
in memory; :func:`load_coarse_dataset` reads one or several such files back as ``jnp``
arrays.  Full-size settings of Ross et al. (2023): ``nx_hr = 256 → nx_lr = 64``, ``dt =
3600 s``, 10 years of 360 days, snapshots every 1000 h (their data set: 275 runs); on this
project's 2 shared CPU cores one 256² year takes ~1 min (5.9 ms per step), so the defaults
here are a short run and tests use ``64 → 16``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ...core import Variable
from ...core.dataset import fields_dataset
from .model import TwoLayerQG

__all__ = [
    "FILTERS",
    "CoarseDatasetSpec",
    "Coarsener",
    "coarse_grain",
    "coarse_arrays",
    "generate_coarse_dataset",
    "load_coarse_dataset",
    "low_res_model",
    "momentum_subgrid_forcing",
    "q_subgrid_fluxes",
    "q_subgrid_forcing",
    "q_total_forcing",
]

#: filters of :class:`Coarsener` (module docstring)
FILTERS = ("truncation", "exponential", "gaussian")

#: names of the fields of a coarse-grained snapshot (:func:`coarse_grain`), in file order
FIELDS = ("q", "psi", "u", "v", "q_forcing", "q_forcing_total", "uq_flux", "vq_flux",
          "u_forcing", "v_forcing")


def low_res_model(model: TwoLayerQG, nx: int, ny: int | None = None, *,
                  dt: float | None = None) -> TwoLayerQG:
    """``model``'s physics (layers, β, drag, shear, filter constants) on an ``nx × ny`` grid,
    without its closure (time step ``dt``, default the same)."""
    return TwoLayerQG(
        nx=nx, ny=nx if ny is None else ny, L=model.L, W=model.W,
        dt=model.dt if dt is None else dt, beta=model.beta, rek=model.rek, rd=model.rd,
        H1=model.H1, H2=model.H2, U1=model.U1, U2=model.U2,
        filter_factor=model.filter_factor, filter_cutoff=model.filter_cutoff, seed=model.seed,
    )


class Coarsener(eqx.Module):
    """Spectral truncation + filter from ``hr`` to ``lr`` (module docstring).

    Attributes:
        hr: the high-resolution model.
        lr: the low-resolution model (same physics, ``nx_lr < nx_hr``).
        filter: ``"truncation"``, ``"exponential"`` (Ross et al. Operator 1) or
            ``"gaussian"`` (Operator 2).
        width: Gaussian filter width Δ (m; default ``2 L / nx_lr``); unused by the others.
    """

    hr: TwoLayerQG
    lr: TwoLayerQG
    filter: str = eqx.field(static=True)
    width: float = eqx.field(static=True)

    def __init__(self, hr: TwoLayerQG, nx_lr: int | TwoLayerQG, filter: str = "exponential",
                 width: float | None = None):
        lr = nx_lr if isinstance(nx_lr, TwoLayerQG) else low_res_model(hr, nx_lr)
        if not (lr.nx < hr.nx and lr.ny < hr.ny):
            raise ValueError(f"the low-resolution grid ({lr.nx} x {lr.ny}) must be coarser "
                             f"than the high-resolution one ({hr.nx} x {hr.ny})")
        if (lr.L, lr.W) != (hr.L, hr.W):
            raise ValueError(f"domains differ: {hr.L} x {hr.W} m and {lr.L} x {lr.W} m")
        if filter not in FILTERS:
            raise ValueError(f"filter {filter!r} is not supported. Supported filters are: "
                             f"{', '.join(FILTERS)}")
        self.hr, self.lr, self.filter = hr, lr, filter
        w = 2.0 * lr.L / lr.nx if width is None else float(width)
        if not (w > 0 and math.isfinite(w)):
            raise ValueError(f"width must be a positive length (m), got {width!r}")
        self.width = w

    @property
    def ratio(self) -> float:
        """``nx_hr / nx_lr``."""
        return self.hr.nx / self.lr.nx

    @property
    def response(self) -> np.ndarray:
        """The filter ``G(k, l)`` on the low-resolution ``rfft2`` grid ``(ny_lr, nx_lr//2+1)``,
        Nyquist row and column zero."""
        g = self.lr.grid
        if self.filter == "truncation":
            resp = np.ones_like(g.wv2)
        elif self.filter == "exponential":
            dx, dy = self.lr.L / self.lr.nx, self.lr.W / self.lr.ny
            wvx = np.sqrt((g.kx[None, :] * dx) ** 2 + (g.ky * dy) ** 2)
            cut = self.lr.filter_cutoff
            ff = self.lr.filter_factor if self.lr.filter_factor is not None else 23.6
            resp = np.where(wvx <= cut, 1.0, np.exp(-ff * (wvx - cut) ** 4))
        else:
            resp = np.exp(-g.wv2 * self.width**2 / 24.0)
        resp = resp.copy()
        resp[self.lr.ny // 2, :] = 0.0
        resp[:, self.lr.nx // 2] = 0.0
        return resp

    # -- spectral operators ------------------------------------------------------------------
    def truncate(self, fh):
        """``T f̂``: hr ``rfft2`` coefficients ``(..., ny_hr, nk_hr)`` → lr ``(..., ny_lr,
        nk_lr)`` (coefficients with ``|k| < nx_lr/2``, ``|l| < ny_lr/2`` kept and rescaled by
        ``N_lr / N_hr``, Nyquist row/column zero)."""
        ny, nx = self.lr.ny, self.lr.nx
        h = ny // 2
        rows = jnp.concatenate([fh[..., :h, : nx // 2 + 1], fh[..., -h:, : nx // 2 + 1]],
                               axis=-2)
        scale = (nx * ny) / (self.hr.nx * self.hr.ny)
        mask = np.ones((ny, nx // 2 + 1))
        mask[h, :] = 0.0
        mask[:, nx // 2] = 0.0
        return rows * (scale * mask)

    def upsample(self, fh_lr):
        """Zero-padding: lr ``rfft2`` coefficients → hr coefficients (the adjoint embedding of
        :meth:`truncate` up to the factor ``N_hr / N_lr``; ``truncate(upsample(f̂)) = f̂`` for
        coefficients without Nyquist content)."""
        ny, nx = self.lr.ny, self.lr.nx
        h = ny // 2
        scale = (self.hr.nx * self.hr.ny) / (nx * ny)
        out = jnp.zeros(fh_lr.shape[:-2] + (self.hr.ny, self.hr.nx // 2 + 1), fh_lr.dtype)
        out = out.at[..., :h, : nx // 2 + 1].set(fh_lr[..., :h, :] * scale)
        out = out.at[..., -h:, : nx // 2 + 1].set(fh_lr[..., h:, :] * scale)
        return out

    def coarsen_spectral(self, fh):
        """``G · T f̂``: spectral hr → spectral lr."""
        return self.truncate(fh) * self.response

    def coarsen(self, f):
        """``C f``: grid fields ``(..., ny_hr, nx_hr)`` → ``(..., ny_lr, nx_lr)``."""
        return self.lr.ifft(self.coarsen_spectral(self.hr.fft(f)))

    def filter_hr(self, f):
        """The filter alone on the high-resolution grid: ``upsample(C f)`` as a grid field
        ``(..., ny_hr, nx_hr)`` (the filtered field ``f̄`` before subsampling)."""
        return self.hr.ifft(self.upsample(self.coarsen_spectral(self.hr.fft(f))))


# -- subgrid forcing ---------------------------------------------------------------------------
def _coarse_state_fields(c: Coarsener, qh_hr):
    qbar_h = c.coarsen_spectral(qh_hr)
    return c.hr.fields(qh_hr), c.lr.fields(qbar_h)


def q_subgrid_forcing(c: Coarsener, qh_hr):
    """``S_q = ∇·(ū q̄) − C[∇·(u q)]`` ``(..., 2, ny_lr, nx_lr)`` (s⁻²) of hi-res spectral PV
    ``qh_hr`` (module docstring; advection by the total flow ``u + U_i``)."""
    fh, fl = _coarse_state_fields(c, qh_hr)
    return c.lr.ifft(c.coarsen_spectral(c.hr.advection_tendency(fh))
                     - c.lr.advection_tendency(fl))


def q_total_forcing(c: Coarsener, qh_hr):
    """``C[∂q/∂t|_hr] − ∂q̄/∂t|_lr`` ``(..., 2, ny_lr, nx_lr)`` (s⁻²): whole tendencies before
    the time step (Ross et al.'s ``q_forcing_total``; both models without closure)."""
    hr, lr = eqx.tree_at(lambda m: m.closure, c.hr, None, is_leaf=lambda x: x is None), c.lr
    qbar_h = c.coarsen_spectral(qh_hr)
    return lr.ifft(c.coarsen_spectral(hr.pv_tendency(qh_hr)) - lr.pv_tendency(qbar_h))


def q_subgrid_fluxes(c: Coarsener, qh_hr):
    """Subgrid PV fluxes ``(ū q̄ − C[u q], v̄ q̄ − C[v q])``, two ``(..., 2, ny_lr, nx_lr)``
    arrays (m s⁻²; total zonal velocity ``u + U_i``).  Their divergence is :func:`q_subgrid_forcing`."""
    fh, fl = _coarse_state_fields(c, qh_hr)
    uh = c.hr.Ubg[:, None, None]
    ul = c.lr.Ubg[:, None, None]
    fx = (fl.u + ul) * fl.q - c.coarsen((fh.u + uh) * fh.q)
    fy = fl.v * fl.q - c.coarsen(fh.v * fh.q)
    return fx, fy


def _momentum_advection(model: TwoLayerQG, f):
    """``(u·∇)u`` and ``(u·∇)v`` (grid, m s⁻²) with total velocity (flux form, ∇·u = 0)."""
    ut = f.u + model.Ubg[:, None, None]
    adv_u = f.ddx(ut * f.u) + f.ddy(f.v * f.u)
    adv_v = f.ddx(ut * f.v) + f.ddy(f.v * f.v)
    return adv_u, adv_v


def momentum_subgrid_forcing(c: Coarsener, qh_hr):
    """``(S_u, S_v) = ((ū·∇)ū − C[(u·∇)u], (ū·∇)v̄ − C[(u·∇)v])``, two ``(..., 2, ny_lr,
    nx_lr)`` arrays (m s⁻²): the momentum forcing a ``uv`` closure adds."""
    fh, fl = _coarse_state_fields(c, qh_hr)
    hu, hv = _momentum_advection(c.hr, fh)
    lu, lv = _momentum_advection(c.lr, fl)
    return lu - c.coarsen(hu), lv - c.coarsen(hv)


def coarse_grain(c: Coarsener, qh_hr) -> dict[str, jnp.ndarray]:
    """Coarse state and targets of hi-res spectral PV ``qh_hr`` ``(..., 2, ny_hr, nk_hr)``:
    ``{name: (..., 2, ny_lr, nx_lr)}`` for the names of :data:`FIELDS` (pure, jit-able)."""
    fh, fl = _coarse_state_fields(c, qh_hr)
    sq = c.lr.ifft(c.coarsen_spectral(c.hr.advection_tendency(fh))
                   - c.lr.advection_tendency(fl))
    fx, fy = q_subgrid_fluxes(c, qh_hr)
    su, sv = momentum_subgrid_forcing(c, qh_hr)
    return {"q": fl.q, "psi": fl.psi, "u": fl.u, "v": fl.v, "q_forcing": sq,
            "q_forcing_total": q_total_forcing(c, qh_hr), "uq_flux": fx, "vq_flux": fy,
            "u_forcing": su, "v_forcing": sv}


# -- datasets ----------------------------------------------------------------------------------
class CoarseDatasetSpec:
    """Metadata of a coarse-grained QG data set, in the form output writers and
    :func:`~pyclimaocean.core.dataset.fields_dataset` read from a model: ``name``, ``dt``,
    :meth:`variables`, :meth:`coordinates`, :meth:`time_attributes`, :meth:`describe`.

    Args:
        coarsener: the :class:`Coarsener`.
        dt: time step of the high-resolution run (s).
    """

    name: ClassVar[str] = "qg_coarse"

    def __init__(self, coarsener: Coarsener):
        self.coarsener = coarsener
        self.dt = coarsener.hr.dt

    def variables(self) -> tuple[Variable, ...]:
        dims = ("layer", "y", "x")
        lr = {v.name: v for v in self.coarsener.lr.variables()}
        note = {"comment": f"coarse-grained from nx = {self.coarsener.hr.nx}: spectral "
                           f"truncation + {self.coarsener.filter} filter"}

        def coarse(name):
            v = lr[name]
            return Variable(name, dims, v.units, f"filtered, coarse-grained {v.long_name}",
                            valid_range=v.valid_range, derived=True,
                            attrs={**v.attrs, **note})

        def target(name, units, long_name, comment):
            return Variable(name, dims, units, long_name, derived=True,
                            attrs={"comment": comment})

        return (
            coarse("q"), coarse("psi"), coarse("u"), coarse("v"),
            target("q_forcing", "s-2", "subgrid PV forcing S_q",
                   "div(ubar qbar) - C[div(u q)], total velocity; added to the coarse tendency"),
            target("q_forcing_total", "s-2", "total PV forcing",
                   "C[dq/dt hi-res] - dqbar/dt low-res (whole tendencies before the step)"),
            target("uq_flux", "m s-2", "zonal subgrid PV flux",
                   "(u+U)bar qbar - C[(u+U) q]; div of (uq_flux, vq_flux) is q_forcing"),
            target("vq_flux", "m s-2", "meridional subgrid PV flux", "vbar qbar - C[v q]"),
            target("u_forcing", "m s-2", "zonal subgrid momentum forcing S_u",
                   "(ubar.grad) ubar - C[(u.grad) u], total velocity"),
            target("v_forcing", "m s-2", "meridional subgrid momentum forcing S_v",
                   "(ubar.grad) vbar - C[(u.grad) v], total velocity"),
        )

    def coordinates(self):
        return self.coarsener.lr.coordinates()

    def time_attributes(self) -> dict[str, Any]:
        return self.coarsener.lr.time_attributes()

    def describe(self) -> dict[str, str]:
        c = self.coarsener
        out = {f"high_res_{k}": v for k, v in c.hr.describe().items()}
        out["low_res_grid"] = f"{c.lr.nx} x {c.lr.ny} (ratio {c.ratio:g})"
        out["coarse_graining"] = (
            f"spectral truncation + {c.filter} filter"
            + (f" (width {c.width:g} m)" if c.filter == "gaussian" else "")
            + "; Ross et al. (2023) operator "
            + {"exponential": "1", "gaussian": "2", "truncation": "(none: sharp cutoff)"}[
                c.filter])
        return out


@eqx.filter_jit
def _advance(model: TwoLayerQG, state, n_steps: int):
    return model.run(state, n_steps, checkpoint_every=None)[0]


@eqx.filter_jit
def _coarse_fields(c: Coarsener, qh):
    return coarse_grain(c, qh)


def generate_coarse_dataset(
    hr: TwoLayerQG,
    nx_lr: int = 16,
    *,
    n_spinup: int = 0,
    n_samples: int = 4,
    sample_every: int = 100,
    filter: str = "exponential",
    width: float | None = None,
    state=None,
    writer=None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Run ``hr`` and coarse-grain ``n_samples`` snapshots onto ``nx_lr × nx_lr``.

    The run starts from ``state`` (default ``hr.initial_state()``), takes ``n_spinup`` steps,
    then records a snapshot after every ``sample_every`` steps.  Each record holds the fields
    of :data:`FIELDS` (coarse ``q, psi, u, v`` and the subgrid targets) on the coarse grid.

    Args:
        hr: high-resolution model (e.g. ``TwoLayerQG(nx=256, dt=3600.0)``: Ross et al.'s
            size; the defaults here are for small runs).
        nx_lr: low-resolution grid size (``ny_lr = nx_lr * ny_hr / nx_hr``).
        n_spinup, n_samples, sample_every: steps before the first sample, number of
            samples, steps between samples.
        filter, width: the :class:`Coarsener` filter.
        writer: an output writer of :mod:`pyclimaocean.simulation` (e.g.
            ``make_writer(out, "coarse", 1, format="zarr")``); records are streamed to it and
            it is closed at the end.  ``None``: kept in memory.
        attrs: extra global attributes.

    Returns:
        The CF :class:`xarray.Dataset` (``time, layer, y, x``), read back from the writer.
    """
    if n_samples < 1 or sample_every < 1 or n_spinup < 0:
        raise ValueError(f"need n_samples >= 1, sample_every >= 1, n_spinup >= 0; got "
                         f"{n_samples}, {sample_every}, {n_spinup}")
    ny_lr = nx_lr * hr.ny // hr.nx
    c = Coarsener(hr, low_res_model(hr, nx_lr, ny_lr), filter=filter, width=width)
    spec = CoarseDatasetSpec(c)
    meta = {"high_res_nx": hr.nx, "low_res_nx": nx_lr, "filter": filter,
            "spinup_steps": n_spinup, "sample_every_steps": sample_every, "seed": hr.seed,
            **dict(attrs or {})}
    state = hr.initial_state() if state is None else state
    if n_spinup:
        state = _advance(hr, state, n_spinup)
    records: list[tuple[float, dict[str, np.ndarray]]] = []
    if writer is not None:
        writer.attrs = {**meta, **writer.attrs}
        writer.bind(spec)
        writer.reset()
    for _ in range(n_samples):
        state = _advance(hr, state, sample_every)
        fields = {k: np.asarray(v) for k, v in jax.device_get(_coarse_fields(c, state.qh)).items()}
        if not all(np.isfinite(v).all() for v in fields.values()):
            raise FloatingPointError(
                f"the high-resolution run blew up before t = {float(state.time):g} s "
                "(non-finite coarse-grained fields); reduce dt")
        if writer is None:
            records.append((float(state.time), fields))
        else:
            writer.record(float(state.time), fields)
    if writer is not None:
        writer.close()
        return writer.dataset()
    times = np.array([t for t, _ in records])
    stacked = {n: np.stack([r[n] for _, r in records]) for n in FIELDS}
    return fields_dataset(spec, stacked, times, meta)


def coarse_arrays(ds: xr.Dataset, names: Sequence[str] = FIELDS) -> dict[str, jnp.ndarray]:
    """``{name: jnp array (n_time, 2, ny, nx)}`` of a coarse-grained data set (float64)."""
    missing = [n for n in names if n not in ds]
    if missing:
        raise KeyError(f"{missing} are not in the data set. Variables are: "
                       f"{', '.join(map(str, ds.data_vars))}")
    return {n: jnp.asarray(ds[n].transpose("time", "layer", "y", "x").values, dtype=float)
            for n in names}


def load_coarse_dataset(paths: str | Path | Sequence[str | Path],
                        names: Sequence[str] = FIELDS) -> dict[str, jnp.ndarray]:
    """Read coarse-grained data sets (``.zarr`` stores or ``.nc`` files written by
    :func:`generate_coarse_dataset`, e.g. the members of an ensemble) and concatenate their
    samples: ``{name: jnp array (n_samples, 2, ny, nx)}``."""
    if isinstance(paths, str | Path):
        paths = [paths]
    out: dict[str, list] = {n: [] for n in names}
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no coarse-grained data set at {p}")
        opener = xr.open_zarr if p.suffix == ".zarr" else xr.open_dataset
        with opener(p) as ds:
            for n, a in coarse_arrays(ds, names).items():
                out[n].append(a)
    return {n: jnp.concatenate(v) for n, v in out.items()}
