"""Diagnostics of the two-layer QG model: energies, spectra, spectral transfers, PV fluxes,
linear stability.

Two kinds of function:

* ``f(model, qh)`` on spectral PV ``qh`` ``(..., 2, ny, nk)`` (a state's ``qh``, or a stack of
  them): ``jax.numpy``, differentiable, batched over leading axes (losses, calibration);
* ``f(array, L, W)`` on grid fields ``(..., ny, nx)`` of an output dataset (``ds["psi"].values``),
  numpy or JAX arrays alike.

Conventions.  Domain means are written spectrally with Parseval's identity for ``rfft2``
coefficients: ``mean(f g) = Σ w Re(conj(f̂) ĝ) / (nx ny)²`` with ``w = 2`` except 1 in the
``k = 0`` and Nyquist columns (:attr:`SpectralGrid.weights`).  Isotropic spectra are sums over
annuli ``|κ − n Δκ| < Δκ / 2`` (``Δκ = 2π / max(L, W)``) divided by ``Δκ``, so that
``Σ_n E(κ_n) Δκ`` is the domain mean (m² s⁻² for kinetic energy).  Layer energies follow
pyqg's ``QGModel``: the total energy per unit mass of the water column is

    E = (1/H) Σ_i H_i ½ mean|∇ψ_i|²  +  (H_1 F_1 / H) ½ mean(ψ_1 − ψ_2)²

(kinetic + available potential), and ``Z = (1/H) Σ_i H_i ½ mean q_i²``.  Both are invariants
of the inviscid, unforced (``r_ek = 0``, ``U_1 = U_2``) equations on an f- or β-plane.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "cfl_number",
    "eddy_pv_flux",
    "energy_flux",
    "energy_transfer",
    "enstrophy",
    "enstrophy_transfer",
    "isotropic_enstrophy_spectrum",
    "isotropic_ke_spectrum",
    "isotropic_sum",
    "kinetic_energy",
    "linear_growth_rates",
    "radial_bins",
    "total_energy",
    "total_enstrophy",
    "zonal_mean_pv_flux",
]


# -- domain means of a state -------------------------------------------------------------
def _mean_product(model, ah, bh):
    """``mean(a b)`` over the domain of real fields given by their ``rfft2`` coefficients."""
    g = model.grid
    m2 = float(model.nx * model.ny) ** 2
    return jnp.sum(g.weights * jnp.real(jnp.conj(ah) * bh), axis=(-2, -1)) / m2


def kinetic_energy(model, qh):
    """Domain-mean kinetic energy ``½ mean(u_i² + v_i²)`` per layer, ``(..., 2)`` (m² s⁻²)."""
    ph = model.invert(qh)
    return 0.5 * _mean_product(model, ph, model.grid.wv2 * ph)


def enstrophy(model, qh):
    """Domain-mean PV enstrophy ``½ mean q_i²`` per layer, ``(..., 2)`` (s⁻²)."""
    return 0.5 * _mean_product(model, qh, qh)


def total_energy(model, qh):
    """Depth-weighted kinetic plus available potential energy ``E`` (m² s⁻², module
    docstring); equals ``−(1/H) Σ H_i ½ mean(ψ_i q_i)``."""
    ph = model.invert(qh)
    h1, h2 = model.H1, model.H2
    ke = kinetic_energy(model, qh)
    dp = ph[..., 0, :, :] - ph[..., 1, :, :]
    ape = 0.5 * h1 * model.F1 * _mean_product(model, dp, dp)
    return (h1 * ke[..., 0] + h2 * ke[..., 1] + ape) / (h1 + h2)


def total_enstrophy(model, qh):
    """Depth-weighted PV enstrophy ``Z = (1/H) Σ H_i ½ mean q_i²`` (s⁻²)."""
    z = enstrophy(model, qh)
    return (model.H1 * z[..., 0] + model.H2 * z[..., 1]) / (model.H1 + model.H2)


def eddy_pv_flux(model, qh):
    """Domain-mean meridional eddy PV flux ``mean(v_i q_i)`` per layer, ``(..., 2)`` (m s⁻²)."""
    ph = model.invert(qh)
    vh = 1j * model.grid.kx * ph
    return _mean_product(model, vh, qh)


def cfl_number(model, u, v) -> float:
    """pyqg's CFL number ``max(|u_i + U_i|, |v_i|) dt / dx`` of eddy velocities ``(..., 2, ny,
    nx)`` (host numpy)."""
    u, v = np.asarray(u), np.asarray(v)
    ubg = np.array([float(model.U1), float(model.U2)])[:, None, None]
    speed = max(float(np.max(np.abs(u + ubg))), float(np.max(np.abs(v))))
    return speed * model.dt / min(model.L / model.nx, model.W / model.ny)


# -- isotropic spectra ---------------------------------------------------------------------
def radial_bins(nx: int, ny: int, L: float, W: float):
    """``(bins (ny, nk) int, kappa (n_bins,) rad m⁻¹, dkappa, weights (ny, nk))`` of the
    ``rfft2`` coefficients of an ``nx × ny`` grid on an ``L × W`` domain (host numpy)."""
    kx = 2 * np.pi * np.fft.rfftfreq(nx, d=L / nx)
    ky = 2 * np.pi * np.fft.fftfreq(ny, d=W / ny)[:, None]
    dk = 2 * np.pi / max(L, W)
    bins = np.rint(np.sqrt(kx[None, :] ** 2 + ky**2) / dk).astype(int)
    weights = np.full(bins.shape, 2.0)
    weights[:, 0] = 1.0
    if nx % 2 == 0:
        weights[:, -1] = 1.0
    kappa = dk * np.arange(bins.max() + 1)
    return bins, kappa, dk, weights


def isotropic_sum(density, bins, n_bins: int):
    """Sum ``density`` ``(..., ny, nk)`` over the annuli ``bins`` -> ``(..., n_bins)``
    (differentiable; segment sums)."""
    density = jnp.asarray(density)
    lead = density.shape[:-2]
    flat = jnp.moveaxis(density.reshape(*lead, -1), -1, 0)
    out = jax.ops.segment_sum(flat, jnp.asarray(bins.reshape(-1)), num_segments=n_bins)
    return jnp.moveaxis(out, 0, -1)


def _isotropic(fh_power_fn, field, L: float, W: float):
    field = jnp.asarray(field)
    ny, nx = field.shape[-2:]
    bins, kappa, dk, w = radial_bins(nx, ny, L, W)
    fh = jnp.fft.rfft2(field)
    density = w * fh_power_fn(fh, kappa, bins) / float(nx * ny) ** 2
    spec = isotropic_sum(density, bins, len(kappa)) / dk
    return kappa[1:], spec[..., 1:]


def isotropic_ke_spectrum(psi, L: float, W: float | None = None):
    """Isotropic kinetic-energy spectrum of streamfunctions ``psi`` ``(..., ny, nx)`` (m² s⁻¹).

    Returns ``(kappa (n,), E (..., n))``: wavenumbers ``n Δκ`` (rad m⁻¹, n ≥ 1) and the
    spectral density ``E(κ)`` (m³ s⁻²), with ``Σ E Δκ = ½ mean|∇ψ|²`` (up to the corner modes
    beyond the largest annulus, which are included in the last bins).
    """
    W = L if W is None else W
    ny, nx = jnp.shape(psi)[-2:]
    kx = 2 * np.pi * np.fft.rfftfreq(nx, d=L / nx)
    ky = 2 * np.pi * np.fft.fftfreq(ny, d=W / ny)[:, None]
    wv2 = kx[None, :] ** 2 + ky**2
    return _isotropic(lambda fh, *_: 0.5 * wv2 * jnp.abs(fh) ** 2, psi, L, W)


def isotropic_enstrophy_spectrum(q, L: float, W: float | None = None):
    """Isotropic PV enstrophy spectrum ``Z(κ)`` of ``q`` ``(..., ny, nx)`` (s⁻² m), with
    ``Σ Z Δκ = ½ mean q²``.  Returns ``(kappa, Z)`` as :func:`isotropic_ke_spectrum`."""
    W = L if W is None else W
    return _isotropic(lambda fh, *_: 0.5 * jnp.abs(fh) ** 2, q, L, W)


# -- spectral transfers ------------------------------------------------------------------------
def _jacobian_hat(model, qh):
    """``Ĵ_i``: rfft2 of the eddy advection ``u_i ∂x q_i + v_i ∂y q_i`` (flux form)."""
    f = model.fields(qh)
    return f, f.ik * model.fft(f.u * f.q) + f.il * model.fft(f.v * f.q)


def energy_transfer(model, qh):
    """Spectral transfer of total energy (KE + APE) by the nonlinear terms, isotropic.

    ``T(κ) = (1/H) Σ_i H_i Re(conj(ψ̂_i) Ĵ_i) w / (nx ny)²`` summed over annuli and divided by
    ``Δκ`` (m³ s⁻³): the rate at which eddy–eddy interactions change the energy at ``κ``.
    ``Σ T Δκ`` vanishes up to aliasing (the Jacobian conserves energy).  Returns
    ``(kappa, T (..., n))``.
    """
    f, jh = _jacobian_hat(model, qh)
    h1, h2 = model.H1, model.H2
    g = model.grid
    dens = g.weights * jnp.real(jnp.conj(f.ph) * jh) / float(model.nx * model.ny) ** 2
    dens = (h1 * dens[..., 0, :, :] + h2 * dens[..., 1, :, :]) / (h1 + h2)
    bins, kappa, dk, _ = radial_bins(model.nx, model.ny, model.L, model.W)
    return kappa[1:], (isotropic_sum(dens, bins, len(kappa)) / dk)[..., 1:]


def enstrophy_transfer(model, qh):
    """Spectral transfer of depth-weighted PV enstrophy,
    ``−(1/H) Σ_i H_i Re(conj(q̂_i) Ĵ_i) w / (nx ny)² / Δκ`` per annulus (s⁻³ m).  Returns
    ``(kappa, T_Z (..., n))``."""
    f, jh = _jacobian_hat(model, qh)
    h1, h2 = model.H1, model.H2
    g = model.grid
    dens = -g.weights * jnp.real(jnp.conj(qh) * jh) / float(model.nx * model.ny) ** 2
    dens = (h1 * dens[..., 0, :, :] + h2 * dens[..., 1, :, :]) / (h1 + h2)
    bins, kappa, dk, _ = radial_bins(model.nx, model.ny, model.L, model.W)
    return kappa[1:], (isotropic_sum(dens, bins, len(kappa)) / dk)[..., 1:]


def energy_flux(model, qh):
    """Spectral energy flux ``Π(κ) = −Σ_{κ' ≤ κ} T(κ') Δκ`` (m² s⁻³): positive where energy
    moves to smaller scales, negative for an inverse cascade.  Returns ``(kappa, Π)``."""
    kappa, t = energy_transfer(model, qh)
    dk = float(kappa[1] - kappa[0]) if len(kappa) > 1 else float(kappa[0])
    return kappa, -jnp.cumsum(t, axis=-1) * dk


# -- datasets --------------------------------------------------------------------------------
def zonal_mean_pv_flux(dataset):
    """Zonal-mean meridional eddy PV flux ``<v q>_x`` ``(time, layer, y)`` of an output dataset
    (an ``xarray.DataArray``, m s⁻²)."""
    flux = (dataset["v"] * dataset["q"]).mean("x")
    flux.attrs = {"units": "m s-2", "long_name": "zonal-mean meridional eddy PV flux <v q>_x"}
    return flux


# -- linear stability --------------------------------------------------------------------------
def linear_growth_rates(model, bottom_drag: bool = True):
    """Linear stability of the background flow: growth rate of every grid wavenumber.

    For a normal mode ``exp(i(k x + l y))`` the linearised equations are
    ``dq̂/dt = A q̂`` with ``A = −ik diag(U) + [−ik diag(Q_y) + diag(0, r_ek κ²)] M⁻¹`` and
    ``M = [[−(κ² + F_1), F_1], [F_2, −(κ² + F_2)]]`` (``q̂ = M ψ̂``).  Host numpy.

    Returns:
        ``(k (nk,), l (ny, 1), growth (ny, nk))``: the largest real part of the eigenvalues of
        ``A`` (s⁻¹) per wavenumber (0 at ``k = l = 0``).
    """
    g = model.grid
    f1, f2 = float(model.F1), float(model.F2)
    u = np.array([float(model.U1), float(model.U2)])
    qy = np.asarray(model.Qy, dtype=float)
    rek = float(model.rek) if bottom_drag else 0.0
    k = np.broadcast_to(g.kx[None, :], g.wv2.shape)
    growth = np.zeros(g.wv2.shape)
    for idx in zip(*np.nonzero(g.wv2 > 0), strict=True):
        kk, k2 = k[idx], g.wv2[idx]
        m = np.array([[-(k2 + f1), f1], [f2, -(k2 + f2)]])
        a = -1j * kk * np.diag(u) + (-1j * kk * np.diag(qy) + np.diag([0.0, rek * k2])) @ \
            np.linalg.inv(m)
        growth[idx] = np.linalg.eigvals(a).real.max()
    return g.kx, g.ky, growth
