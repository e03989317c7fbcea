"""Coarse-graining of the two-layer QG model (pyclimaocean.models.qg.coarsegrain): filters,
spectral truncation, subgrid-forcing targets and coarse data sets on disk."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.models.qg import TwoLayerQG
from pyclimaocean.models.qg.coarsegrain import (
    FIELDS,
    FILTERS,
    Coarsener,
    coarse_grain,
    generate_coarse_dataset,
    load_coarse_dataset,
    momentum_subgrid_forcing,
    q_subgrid_fluxes,
    q_subgrid_forcing,
    q_total_forcing,
)
from pyclimaocean.simulation import make_writer


def band_limited_q(nx: int, kmax: int, amplitude: float = 1e-5, seed: int = 0,
                   mean: float = 0.0) -> np.ndarray:
    """Random PV ``(2, nx, nx)`` with Fourier modes ``|m|, |n| <= kmax`` only (plus a mean)."""
    rng = np.random.default_rng(seed)
    qh = np.zeros((2, nx, nx // 2 + 1), complex)
    for a in range(-kmax, kmax + 1):
        for b in range(kmax + 1):
            qh[:, a, b] = rng.standard_normal(2) + 1j * rng.standard_normal(2)
    q = np.fft.irfft2(qh, s=(nx, nx))
    return q * amplitude / q.std() + mean


def turbulent_q(nx: int, seed: int = 3) -> np.ndarray:
    """Random PV with a red spectrum reaching the grid scale (all wavenumbers)."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(nx) * nx
    kk = np.hypot(k[:, None], np.fft.rfftfreq(nx)[None, :] * nx)
    qh = (rng.standard_normal((2, nx, nx // 2 + 1)) + 1j * rng.standard_normal((2, nx, nx // 2 + 1)))
    qh *= 1.0 / (1.0 + kk) ** 0.5
    qh[:, 0, 0] = 0.0
    q = np.fft.irfft2(qh, s=(nx, nx))
    return q * 1e-5 / q.std()


@pytest.fixture(scope="module")
def hr():
    return TwoLayerQG(nx=64, dt=3600.0)


@pytest.mark.parametrize("filt", FILTERS)
def test_filters_preserve_the_domain_mean(hr, filt):
    c = Coarsener(hr, 16, filter=filt)
    q = band_limited_q(64, 20, mean=3e-6) + turbulent_q(64)
    qc = np.asarray(c.coarsen(q))
    np.testing.assert_allclose(qc.mean(axis=(-2, -1)), q.mean(axis=(-2, -1)), rtol=1e-12,
                               atol=1e-20)
    assert c.response[0, 0] == 1.0
    # the filter is not the identity on a field with small scales (the test could fail)
    assert np.abs(np.asarray(c.filter_hr(q)) - q).max() > 1e-3 * np.abs(q).max()


def test_spectral_truncation_is_a_projection(hr):
    c = Coarsener(hr, 16, filter="truncation")
    q = turbulent_q(64)
    # P = upsample . truncate is idempotent and self-adjoint on the hi-res grid
    p1 = np.asarray(c.filter_hr(q))
    p2 = np.asarray(c.filter_hr(p1))
    np.testing.assert_allclose(p2, p1, atol=1e-14 * np.abs(q).max())
    r = turbulent_q(64, seed=9)
    np.testing.assert_allclose(np.sum(np.asarray(c.filter_hr(r)) * q),
                               np.sum(r * p1), rtol=1e-12)
    # truncate . upsample = identity on lr coefficients without Nyquist content
    q_lr = band_limited_q(16, 7)
    qh = c.lr.fft(jnp.asarray(q_lr))
    np.testing.assert_allclose(np.asarray(c.truncate(c.upsample(qh))), np.asarray(qh),
                               atol=1e-12 * np.abs(qh).max())
    # and coarsening an upsampled coarse field gives it back (grid values at the lr points)
    up = np.asarray(c.hr.ifft(c.upsample(qh)))
    np.testing.assert_allclose(np.asarray(c.coarsen(up)), q_lr, atol=1e-13 * np.abs(q_lr).max())
    # the Gaussian and exponential filters are not projections
    g = Coarsener(hr, 16, filter="gaussian")
    g1 = np.asarray(g.filter_hr(q))
    assert np.abs(np.asarray(g.filter_hr(g1)) - g1).max() > 1e-3 * np.abs(g1).max()


def test_subgrid_forcing_vanishes_for_fields_resolved_on_the_coarse_grid(hr):
    """Modes |m|, |n| <= 3 on a 16-point coarse grid: products reach |m| <= 6 < 8, so the
    coarse grid represents the advection exactly and every target is zero (sharp cutoff)."""
    c = Coarsener(hr, 16, filter="truncation")
    qh = hr.fft(jnp.asarray(band_limited_q(64, 3)))
    scale_q = float(jnp.abs(q_subgrid_forcing(c, hr.fft(jnp.asarray(turbulent_q(64))))).max())
    sq = np.asarray(q_subgrid_forcing(c, qh))
    su, sv = (np.asarray(a) for a in momentum_subgrid_forcing(c, qh))
    fx, fy = (np.asarray(a) for a in q_subgrid_fluxes(c, qh))
    assert np.abs(sq).max() < 1e-12 * scale_q
    fields = coarse_grain(c, qh)
    adv_scale = float(jnp.abs(fields["u"]).max() ** 2 / (hr.L / 16))
    assert np.abs(su).max() < 1e-12 * adv_scale and np.abs(sv).max() < 1e-12 * adv_scale
    flux_scale = float(jnp.abs(fields["u"]).max() * jnp.abs(fields["q"]).max())
    assert np.abs(fx).max() < 1e-12 * flux_scale and np.abs(fy).max() < 1e-12 * flux_scale
    # a field with scales beyond the coarse grid has a forcing of the size of the advection
    qt = hr.fft(jnp.asarray(turbulent_q(64)))
    adv = float(jnp.abs(hr.ifft(hr.advection_tendency(hr.fields(qt)))).max())
    assert scale_q > 1e-3 * adv


@pytest.mark.parametrize("filt", FILTERS)
def test_total_forcing_equals_the_advective_forcing_and_flux_divergence(hr, filt):
    """Every linear term commutes with the spectral filters: S_total = S_q (round-off), and
    S_q is the divergence of the subgrid fluxes."""
    c = Coarsener(hr, 16, filter=filt)
    qh = hr.fft(jnp.asarray(turbulent_q(64)))
    sq = np.asarray(q_subgrid_forcing(c, qh))
    st = np.asarray(q_total_forcing(c, qh))
    np.testing.assert_allclose(st, sq, atol=1e-10 * np.abs(sq).max())
    fx, fy = q_subgrid_fluxes(c, qh)
    f = c.lr.fields(c.coarsen_spectral(qh))
    div = np.asarray(f.ddx(fx) + f.ddy(fy))
    np.testing.assert_allclose(div, sq, atol=1e-10 * np.abs(sq).max())


def test_forcing_corrects_the_coarse_tendency(hr):
    """Adding S_q to the coarse model's tendency gives the filtered hi-res tendency."""
    c = Coarsener(hr, 16, filter="exponential")
    qh = hr.fft(jnp.asarray(turbulent_q(64)))
    want = np.asarray(c.lr.ifft(c.coarsen_spectral(hr.pv_tendency(qh))))
    lr_tend = np.asarray(c.lr.ifft(c.lr.pv_tendency(c.coarsen_spectral(qh))))
    sq = np.asarray(q_subgrid_forcing(c, qh))
    assert np.abs(want - lr_tend).max() > 1e-2 * np.abs(want).max()
    np.testing.assert_allclose(lr_tend + sq, want, atol=1e-10 * np.abs(want).max())


def test_coarsener_rejects_bad_arguments(hr):
    with pytest.raises(ValueError, match="Supported filters"):
        Coarsener(hr, 16, filter="box")
    with pytest.raises(ValueError, match="coarser"):
        Coarsener(hr, 64)
    with pytest.raises(ValueError, match="width"):
        Coarsener(hr, 16, filter="gaussian", width=-1.0)


@pytest.mark.slow  # 5 s measured (zarr)
@pytest.mark.parametrize("fmt", ["zarr", "netcdf"])
def test_coarse_dataset_on_disk_shapes_metadata_and_loader(tmp_path, fmt):
    hr = TwoLayerQG(nx=32, dt=7200.0, seed=2)
    writer = make_writer(tmp_path, "coarse", 1, format=fmt)
    ds = generate_coarse_dataset(hr, 16, n_spinup=24, n_samples=3, sample_every=12,
                                 filter="gaussian", writer=writer)
    assert set(FIELDS) <= set(ds.data_vars)
    for name in FIELDS:
        assert ds[name].dims == ("time", "layer", "y", "x")
        assert ds[name].shape == (3, 2, 16, 16)
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    assert ds["q_forcing"].attrs["units"] == "s-2"
    assert ds["u_forcing"].attrs["units"] == "m s-2"
    assert ds.attrs["Conventions"].startswith("CF")
    assert ds.attrs["high_res_nx"] == 32 and ds.attrs["filter"] == "gaussian"
    assert np.allclose(ds["x"].values, (np.arange(16) + 0.5) * 1e6 / 16)
    path = tmp_path / ("coarse.zarr" if fmt == "zarr" else "coarse.nc")
    arrays = load_coarse_dataset([path, path])
    assert arrays["q"].shape == (6, 2, 16, 16) and arrays["q"].dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(arrays["q_forcing"][:3]), ds["q_forcing"].values)
    # the records are the coarse-graining of the run's states
    s = hr.run(hr.initial_state(), 24 + 12)[0]
    ref = coarse_grain(Coarsener(hr, 16, filter="gaussian"), s.qh)
    np.testing.assert_allclose(ds["q"].values[0], np.asarray(ref["q"]), rtol=1e-10,
                               atol=1e-20)
    # in memory: same values
    mem = generate_coarse_dataset(hr, 16, n_spinup=24, n_samples=1, sample_every=12,
                                  filter="gaussian")
    np.testing.assert_allclose(mem["v_forcing"].values[0], ds["v_forcing"].values[0],
                               rtol=1e-12, atol=1e-25)
    with pytest.raises(FileNotFoundError):
        load_coarse_dataset(tmp_path / "missing.zarr")
