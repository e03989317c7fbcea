"""Doubly periodic two-layer quasi-geostrophic model (pseudo-spectral), as pyqg's ``QGModel``.

Equations (pyqg ``QGModel``; Flierl 1978; Arbic & Flierl 2003).  Layer 1 is the upper layer
(depth ``H1``), layer 2 the lower (``H2``); ``δ = H1/H2``, ``H = H1 + H2``.  PV anomalies and
streamfunctions are related by

    q_1 = ∇²ψ_1 + F_1 (ψ_2 − ψ_1),      F_1 = r_d⁻² / (1 + δ)
    q_2 = ∇²ψ_2 + F_2 (ψ_1 − ψ_2),      F_2 = δ F_1

(``r_d`` the first baroclinic deformation radius).  A uniform zonal background flow ``U_i``
in each layer gives background PV gradients

    Q_y1 = β + F_1 (U_1 − U_2),         Q_y2 = β − F_2 (U_1 − U_2)

and each layer's PV anomaly evolves as

    ∂q_i/∂t + J(ψ_i, q_i) + U_i ∂q_i/∂x + Q_yi ∂ψ_i/∂x = −δ_i2 r_ek ∇²ψ_2 + S_i

with linear bottom (Ekman) drag ``r_ek`` on the lower layer only and an optional closure
``S_i`` (:mod:`~pyclimaocean.models.qg.closure`).  ``u_i = −∂ψ_i/∂y``, ``v_i = ∂ψ_i/∂x`` are the
eddy velocities; the advecting velocity is ``(u_i + U_i, v_i)``.

Discretisation (as pyqg).  Fourier pseudo-spectral on an ``nx × ny`` grid of cell centres
``x_j = (j + ½) L / nx``; products in grid space, not dealiased; ``q̂`` is ``jnp.fft.rfft2`` of
``q``.  The inversion ``ψ̂ = M⁻¹ q̂`` is the 2×2 solve per wavenumber (the domain mean of ψ is
zero).  Time stepping: third-order Adams–Bashforth, started with forward Euler then AB2 (the
``ab_level`` of the state), followed every step by the exponential spectral filter

    filter(k, l) = exp(−c_f (κ* − κ_c)⁴)  for κ* = sqrt((k Δx)² + (l Δy)²) > κ_c,  else 1

with ``c_f = filter_factor = 23.6`` and ``κ_c = filter_cutoff = 0.65 π`` (pyqg ``filterfac``
and ``cphi``), which removes enstrophy near the grid scale.  Units are SI throughout (m, s):
pyqg's QGModel is dimensional, and so is this one; its "nondimensionalisation" is the pair of
numbers ``r_d / L`` and ``β r_d² / (U_1 − U_2)`` (the criticality) the physics depends on.

Everything is ``jax.numpy`` in float64 (importing ``pyclimaocean`` enables
``jax_enable_x64``): ``step`` is pure, ``jax.grad`` goes through :meth:`run`, and states and
models ``vmap`` over ensembles (all operations act on the last three axes).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...integrate import integrate
from ...numerics import sum_to_shape
from ...params import Parameter, ParameterSet, Prior
from .closure import AbstractQGClosure, QGFields
from .diagnostics import (
    cfl_number,
    eddy_pv_flux,
    enstrophy,
    isotropic_ke_spectrum,
    kinetic_energy,
    total_energy,
    total_enstrophy,
)
from .plots import plot_ke_spectrum, plot_pv_snapshots
from .state import QGState

__all__ = ["TwoLayerQG", "SpectralGrid", "spectral_grid"]

#: pyqg's default filter constants (``Model(filterfac=23.6)``, ``cphi = 0.65 π``)
DEFAULT_FILTER_FACTOR = 23.6
DEFAULT_FILTER_CUTOFF = 0.65 * math.pi
#: how reverse-mode AD goes through a step (:attr:`TwoLayerQG.adjoint`)
ADJOINTS = ("hand", "autodiff")


class SpectralGrid(NamedTuple):
    """Wavenumbers and filter of an ``nx × ny`` doubly periodic grid (host numpy constants).

    Attributes:
        kx: zonal wavenumbers k ``(nk,)``, ``nk = nx // 2 + 1`` (rad m⁻¹, ``rfft`` order).
        ky: meridional wavenumbers l ``(ny, 1)`` (rad m⁻¹, ``fft`` order).
        wv2: ``k² + l²`` ``(ny, nk)``.
        inv_wv2: ``1 / wv2`` with 0 at ``k = l = 0``.
        weights: how many complex coefficients of the full ``fft2`` each ``rfft2`` coefficient
            stands for (2, but 1 in the ``k = 0`` and Nyquist columns), ``(ny, nk)``: the
            mean square of a real field ``f`` is ``Σ weights |f̂|² / (nx ny)²``.
        filter: exponential filter ``(ny, nk)`` (ones when the model has none).
    """

    kx: np.ndarray
    ky: np.ndarray
    wv2: np.ndarray
    inv_wv2: np.ndarray
    weights: np.ndarray
    filter: np.ndarray


@functools.lru_cache(maxsize=32)
def spectral_grid(nx: int, ny: int, L: float, W: float, filter_factor: float | None,
                  filter_cutoff: float) -> SpectralGrid:
    """The :class:`SpectralGrid` of a domain ``L × W`` (m) with ``nx × ny`` points (cached)."""
    dx, dy = L / nx, W / ny
    kx = 2 * np.pi * np.fft.rfftfreq(nx, d=dx)
    ky = (2 * np.pi * np.fft.fftfreq(ny, d=dy))[:, None]
    wv2 = kx[None, :] ** 2 + ky**2
    inv_wv2 = np.where(wv2 > 0, 1.0 / np.where(wv2 > 0, wv2, 1.0), 0.0)
    weights = np.full(wv2.shape, 2.0)
    weights[:, 0] = 1.0
    if nx % 2 == 0:
        weights[:, -1] = 1.0
    if filter_factor is None:
        filt = np.ones_like(wv2)
    else:
        wvx = np.sqrt((kx[None, :] * dx) ** 2 + (ky * dy) ** 2)
        filt = np.where(wvx <= filter_cutoff, 1.0,
                        np.exp(-filter_factor * (wvx - filter_cutoff) ** 4))
    return SpectralGrid(kx, ky, wv2, inv_wv2, weights, filt)


def _ab3_coefficients(dt: float, lvl):
    """``(dt1, dt2, dt3)``: weights of the newest, previous and oldest tendency of one AB3
    step (forward Euler at ``lvl = 0``, AB2 at ``lvl = 1``), s."""
    dt1 = jnp.where(lvl == 0, dt, jnp.where(lvl == 1, 1.5 * dt, 23.0 / 12.0 * dt))
    dt2 = jnp.where(lvl == 0, 0.0, jnp.where(lvl == 1, -0.5 * dt, -16.0 / 12.0 * dt))
    dt3 = jnp.where(lvl == 2, 5.0 / 12.0 * dt, 0.0)
    return dt1, dt2, dt3


def _hand_forward(spec, ops, qh, dqh_p, dqh_pp, lvl):
    """The step of :meth:`TwoLayerQG.step` without a closure, written out (the same operations
    on the same values as :meth:`TwoLayerQG.pv_tendency` and the AB3 update, so the same
    result to the last bit): returns the new ``q̂``, the tendency ``∂q̂/∂t`` and the grid
    fields the adjoint needs ``(q, u + U, v)``."""
    nx, ny, L, W, filter_factor, filter_cutoff, dt = spec
    g = spectral_grid(nx, ny, L, W, filter_factor, filter_cutoff)
    inv_det, b2, b1, F1, F2, ikQy, drag, ubg = ops
    ik, il = 1j * g.kx, 1j * g.ky
    q1, q2 = qh[..., 0, :, :], qh[..., 1, :, :]
    ph = jnp.stack([-(b2 * q1 + F1 * q2) * inv_det, -(F2 * q1 + b1 * q2) * inv_det], axis=-3)
    s = (ny, nx)
    q, u, v = (jnp.fft.irfft2(fh, s=s) for fh in (qh, -il * ph, ik * ph))
    ut = u + ubg
    dqh = -(ik * jnp.fft.rfft2(ut * q) + il * jnp.fft.rfft2(v * q)) - ikQy * ph
    lower = drag * ph[..., 1, :, :]
    dqh = dqh + jnp.stack([jnp.zeros_like(lower), lower], axis=-3)
    dt1, dt2, dt3 = _ab3_coefficients(dt, lvl)
    new = g.filter * (qh + dt1 * dqh + dt2 * dqh_p + dt3 * dqh_pp)
    return (new, dqh), (q, ut, v)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _hand_step(spec, ops, qh, dqh_p, dqh_pp, lvl):
    """``(q̂ⁿ⁺¹, ∂q̂/∂t)`` of one step of a model without a closure, with a hand-written
    adjoint (:func:`_hand_step_bwd`).

    ``spec = (nx, ny, L, W, filter_factor, filter_cutoff, dt)`` (static); ``ops``: the
    parameters as per-wavenumber arrays (:meth:`TwoLayerQG.step_operators`), so that the
    adjoint's parameter cotangents are elementwise products, which a loop over steps
    accumulates and sums once (:meth:`TwoLayerQG.stepper`)."""
    return _hand_forward(spec, ops, qh, dqh_p, dqh_pp, lvl)[0]


def _hand_step_fwd(spec, ops, qh, dqh_p, dqh_pp, lvl):
    out, fields = _hand_forward(spec, ops, qh, dqh_p, dqh_pp, lvl)
    # the grid fields are tagged as in TwoLayerQG.fields: integrate's step policy keeps them
    q, ut, v = (checkpoint_name(f, "spectral_grid_fields") for f in fields)
    return out, (ops, qh, lvl, q, ut, v)


def _hand_step_bwd(spec, res, cts):
    """Adjoint of :func:`_hand_forward`, in JAX's convention for complex cotangents (a linear
    map's plain transpose, no conjugation; the cotangent of a real input is the real part).

    With ``ρ = rfft2`` and ``γ = irfft2`` on ``ny × nx`` points (``N = nx ny``, ``w`` the
    :attr:`SpectralGrid.weights`): ``ρᵀ y = N γ(conj(y) / w)`` and
    ``γᵀ x = conj(ρ(x)) w / N`` (the latter is JAX's own rule).  Given the cotangents
    ``λ`` of ``q̂ⁿ⁺¹`` and ``λ_t`` of the tendency, ``ḡ = filter λ`` and ``μ = dt₁ ḡ + λ_t``
    (the tendency's total cotangent); then the advection ``−(ik ρ[(u+U) q] + il ρ[v q])``
    transposes to ``a = ρᵀ(−ik μ)``, ``b = ρᵀ(−il μ)`` and the grid cotangents
    ``q̄ = (u+U) a + v b``, ``ū = q a``, ``v̄ = q b``: two inverse and three forward
    transforms, as many as the step itself."""
    nx, ny, L, W, filter_factor, filter_cutoff, dt = spec
    g = spectral_grid(nx, ny, L, W, filter_factor, filter_cutoff)
    ops, qh, lvl, q, ut, v = res
    inv_det, b2, b1, F1, F2, ikQy, drag, ubg = ops
    lam, lam_t = cts
    ik, il = 1j * g.kx, 1j * g.ky
    n_points = nx * ny
    s = (ny, nx)
    dt1, dt2, dt3 = _ab3_coefficients(dt, lvl)
    gbar = g.filter * lam
    mu = dt1 * gbar + lam_t
    to_grid = n_points / g.weights  # ρᵀ y = N γ(conj(y) / w)
    a = jnp.fft.irfft2(jnp.conj(-ik * mu) * to_grid, s=s)
    b = jnp.fft.irfft2(jnp.conj(-il * mu) * to_grid, s=s)
    ubar = q * a
    to_spec = g.weights / n_points  # γᵀ x = conj(ρ(x)) w / N
    qhbar = to_spec * jnp.conj(jnp.fft.rfft2(ut * a + v * b))
    phbar = to_spec * (-il * jnp.conj(jnp.fft.rfft2(ubar))
                       + ik * jnp.conj(jnp.fft.rfft2(q * b)))
    q1, q2 = qh[..., 0, :, :], qh[..., 1, :, :]
    r1, r2 = -(b2 * q1 + F1 * q2), -(F2 * q1 + b1 * q2)  # ψ̂ = r inv_det
    ph = jnp.stack([r1 * inv_det, r2 * inv_det], axis=-3)
    # linear terms −ik Q_y ψ̂ and r_ek κ² ψ̂₂ (lower layer)
    phbar = phbar - ikQy * mu
    phbar = phbar + jnp.stack([jnp.zeros_like(drag * mu[..., 1, :, :]),
                               drag * mu[..., 1, :, :]], axis=-3)
    p1, p2 = phbar[..., 0, :, :], phbar[..., 1, :, :]
    d1, d2 = p1 * inv_det, p2 * inv_det
    qhbar = qhbar - jnp.stack([b2 * d1 + F2 * d2, F1 * d1 + b1 * d2], axis=-3)
    ops_bar = (
        jnp.real(p1 * r1 + p2 * r2), jnp.real(-d1 * q1), jnp.real(-d2 * q2),
        jnp.real(-d1 * q2), jnp.real(-d2 * q1), -mu * ph,
        jnp.real(mu[..., 1, :, :] * ph[..., 1, :, :]), ubar,
    )
    ops_bar = tuple(sum_to_shape(x, jnp.shape(o)).astype(jnp.result_type(o))
                    for x, o in zip(ops_bar, ops, strict=True))
    return (ops_bar, gbar + qhbar, dt2 * gbar, dt3 * gbar,
            np.zeros(jnp.shape(lvl), dtype=jax.dtypes.float0))


_hand_step.defvjp(_hand_step_fwd, _hand_step_bwd)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or value % 2:
        raise ValueError(f"{name} must be an even int >= {minimum}, got {value!r}")
    return value


def _check_positive(name: str, value: Any) -> float:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0
            and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class TwoLayerQG(AbstractModel):
    """Two-layer QG turbulence on a doubly periodic f- or β-plane (see the module docstring).

    Defaults are pyqg's ``QGModel`` defaults (the "eddy" configuration of Ross et al. 2023).

    Attributes:
        nx, ny: grid points in x and y (static, even; ``ny`` defaults to ``nx``).
        L, W: domain length in x and y (m, static; ``W`` defaults to ``L``).
        dt: time step (s, static).
        beta: β, meridional gradient of the Coriolis parameter (m⁻¹ s⁻¹); 0 for an f-plane.
        rek: r_ek, linear bottom-drag rate of the lower layer (s⁻¹).
        rd: r_d, first baroclinic deformation radius (m).
        H1, H2: layer depths (m); δ = H1 / H2.
        U1, U2: background zonal velocities of the layers (m s⁻¹); the shear U1 − U2 drives
            baroclinic instability.
        filter_factor: c_f of the exponential filter (static; ``None``: no filter).
        filter_cutoff: κ_c of the filter (static, nondimensional ``κ Δx``).
        closure: an :class:`~pyclimaocean.models.qg.closure.AbstractQGClosure` adding a
            subgrid PV tendency, or ``None``.
        seed: seed of the random initial PV of :meth:`initial_state` (static).
        adjoint: how reverse-mode AD goes through :meth:`step` (static): ``"autodiff"`` (the
            default) lets JAX differentiate the step; ``"hand"`` (used without a closure)
            gives the step a hand-written adjoint (``_hand_step``, a ``jax.custom_vjp``; the
            forward is the same to the last bit, the gradient the same to round-off, and at
            nx = 128 a gradient costs 5-10 % less, docs/qg.md "Performance").  Forward mode
            (``jax.jvp``, ``jax.jacfwd``, ``jax.hessian``, the Laplace Hessians) needs
            ``"autodiff"``: a ``custom_vjp`` has no forward-mode rule.  Loops should take
            :meth:`stepper` (as :meth:`run` does).
    """

    name: ClassVar[str] = "qg"
    time_units: ClassVar[str] = "s"

    nx: int = eqx.field(static=True)
    ny: int = eqx.field(static=True)
    L: float = eqx.field(static=True)
    W: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    beta: float | jnp.ndarray
    rek: float | jnp.ndarray
    rd: float | jnp.ndarray
    H1: float | jnp.ndarray
    H2: float | jnp.ndarray
    U1: float | jnp.ndarray
    U2: float | jnp.ndarray
    filter_factor: float | None = eqx.field(static=True)
    filter_cutoff: float = eqx.field(static=True)
    closure: AbstractQGClosure | None
    seed: int = eqx.field(static=True)
    adjoint: str = eqx.field(static=True)

    def __init__(
        self,
        nx: int = 64,
        ny: int | None = None,
        L: float = 1e6,
        W: float | None = None,
        dt: float = 7200.0,
        beta: float | jnp.ndarray = 1.5e-11,
        rek: float | jnp.ndarray = 5.787e-7,
        rd: float | jnp.ndarray = 15000.0,
        H1: float | jnp.ndarray = 500.0,
        H2: float | jnp.ndarray = 2000.0,
        U1: float | jnp.ndarray = 0.025,
        U2: float | jnp.ndarray = 0.0,
        filter_factor: float | None = DEFAULT_FILTER_FACTOR,
        filter_cutoff: float = DEFAULT_FILTER_CUTOFF,
        closure: AbstractQGClosure | None = None,
        seed: int = 0,
        adjoint: str = "autodiff",
    ):
        self.nx = _check_int("nx", nx, 4)
        self.ny = _check_int("ny", nx if ny is None else ny, 4)
        self.L = _check_positive("L", L)
        self.W = _check_positive("W", L if W is None else W)
        self.dt = _check_positive("dt", dt)
        for name, value in (("rd", rd), ("H1", H1), ("H2", H2)):
            if isinstance(value, int | float) and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if isinstance(rek, int | float) and rek < 0:
            raise ValueError(f"rek must be >= 0 (s-1), got {rek!r}")
        if filter_factor is not None:
            filter_factor = _check_positive("filter_factor", filter_factor)
        self.filter_factor = filter_factor
        self.filter_cutoff = _check_positive("filter_cutoff", filter_cutoff)
        if closure is not None and not isinstance(closure, AbstractQGClosure):
            raise TypeError(
                f"closure must be an AbstractQGClosure or None, got {type(closure).__name__}"
            )
        self.closure = closure
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.seed = seed
        if adjoint not in ADJOINTS:
            raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}")
        self.adjoint = adjoint
        self.beta, self.rek, self.rd = beta, rek, rd
        self.H1, self.H2, self.U1, self.U2 = H1, H2, U1, U2

    # -- derived constants ---------------------------------------------------------------
    @property
    def grid(self) -> SpectralGrid:
        return spectral_grid(self.nx, self.ny, self.L, self.W, self.filter_factor,
                             self.filter_cutoff)

    @property
    def delta(self):
        """δ = H1 / H2."""
        return self.H1 / self.H2

    @property
    def F1(self):
        """F_1 = r_d⁻² / (1 + δ) (m⁻²)."""
        return self.rd**-2 / (1.0 + self.delta)

    @property
    def F2(self):
        """F_2 = δ F_1 (m⁻²)."""
        return self.delta * self.F1

    @property
    def Qy(self):
        """Background PV gradients ``(Q_y1, Q_y2)`` (m⁻¹ s⁻¹), shape ``(2,)``."""
        shear = self.U1 - self.U2
        return jnp.stack([jnp.asarray(self.beta + self.F1 * shear),
                          jnp.asarray(self.beta - self.F2 * shear)])

    @property
    def Ubg(self):
        """Background zonal flow ``(U1, U2)`` (m s⁻¹), shape ``(2,)``."""
        return jnp.stack([jnp.asarray(self.U1, dtype=float), jnp.asarray(self.U2, dtype=float)])

    # -- spectral operators --------------------------------------------------------------
    def fft(self, f):
        """``rfft2`` over the last two axes (grid ``(..., ny, nx)`` -> ``(..., ny, nk)``)."""
        return jnp.fft.rfft2(f)

    def ifft(self, fh):
        """Inverse of :meth:`fft` (``(..., ny, nk)`` -> real ``(..., ny, nx)``)."""
        return jnp.fft.irfft2(fh, s=(self.ny, self.nx))

    def invert(self, qh):
        """Streamfunction ``ψ̂`` ``(..., 2, ny, nk)`` of spectral PV ``q̂`` (2×2 solve per
        wavenumber; the ``k = l = 0`` mode of ψ is 0)."""
        g = self.grid
        wv2, F1, F2 = g.wv2, self.F1, self.F2
        # det = wv2 (wv2 + F1 + F2); 1/det written with host-side 1/wv2 so the k = l = 0 mode
        # gives 0 (and no NaN in gradients)
        inv_det = g.inv_wv2 / (wv2 + F1 + F2)
        q1, q2 = qh[..., 0, :, :], qh[..., 1, :, :]
        p1 = -((wv2 + F2) * q1 + F1 * q2) * inv_det
        p2 = -(F2 * q1 + (wv2 + F1) * q2) * inv_det
        return jnp.stack([p1, p2], axis=-3)

    def fields(self, qh) -> QGFields:
        """Grid and spectral fields of spectral PV ``qh`` (:class:`QGFields`)."""
        g = self.grid
        ik, il = 1j * g.kx, 1j * g.ky
        ph = self.invert(qh)
        # q, u, v are tagged "spectral_grid_fields": integrate's default step checkpoint
        # policy keeps them, so the pullback of a step redoes no inverse FFT (at nx = 128 it
        # costs 1.6-1.9 instead of 2.2-2.3 forward steps; benchmarks/qg_performance.py)
        q, u, v = (checkpoint_name(self.ifft(fh), "spectral_grid_fields")
                   for fh in (qh, -il * ph, ik * ph))
        return QGFields(q=q, psi=self.ifft(ph), u=u, v=v, qh=qh, ph=ph, ik=jnp.asarray(ik),
                        il=jnp.asarray(il))

    def advection_tendency(self, f: QGFields):
        """``−[ik (u + U) q + il v q]^`` : minus the spectral advection of PV by the total flow."""
        ubg = self.Ubg[:, None, None]
        uqh = self.fft((f.u + ubg) * f.q)
        vqh = self.fft(f.v * f.q)
        return -(f.ik * uqh + f.il * vqh)

    def pv_tendency(self, qh):
        """``∂q̂/∂t`` ``(2, ny, nk)`` of spectral PV: advection by the total flow, background
        PV gradient, bottom drag and the closure (pyqg's ``dqhdt`` before the time step)."""
        f = self.fields(qh)
        g = self.grid
        dqh = self.advection_tendency(f) - f.ik * self.Qy[:, None, None] * f.ph
        drag = self.rek * g.wv2 * f.ph[..., 1, :, :]  # −r_ek ∇²ψ_2
        dqh = dqh + jnp.stack([jnp.zeros_like(drag), drag], axis=-3)
        if self.closure is not None:
            dqh = dqh + self.fft(self.closure.pv_tendency(self, f))
        return dqh

    # -- the model contract --------------------------------------------------------------
    def state_from_q(self, q, time: float = 0.0) -> QGState:
        """A state (forward-Euler start, zero tendency history) of grid PV ``q`` ``(2, ny, nx)``
        (s⁻¹)."""
        q = jnp.asarray(q, dtype=float)
        if q.shape[-3:] != (2, self.ny, self.nx):
            raise ValueError(f"q must have shape (2, {self.ny}, {self.nx}), got {q.shape}")
        qh = self.fft(q)
        zeros = jnp.zeros_like(qh)
        return QGState(qh, zeros, zeros, jnp.asarray(0, dtype=jnp.int32),
                       jnp.asarray(time, dtype=float),
                       jnp.asarray(0, dtype=jnp.int64 if jax.config.jax_enable_x64
                                   else jnp.int32))

    def initial_state(self) -> QGState:
        """pyqg's random initial PV: ``q_1 = 10⁻⁷ r(y, x) + 10⁻⁶ r(x)``, ``q_2 = 0`` with
        ``r`` uniform in [0, 1) (``seed``), at ``t = 0``."""
        k1, k2 = jax.random.split(jax.random.PRNGKey(self.seed))
        q1 = (1e-7 * jax.random.uniform(k1, (self.ny, self.nx), dtype=float)
              + 1e-6 * jax.random.uniform(k2, (1, self.nx), dtype=float))
        return self.state_from_q(jnp.stack([q1, jnp.zeros_like(q1)]))

    def step_operators(self) -> tuple:
        """The parameters as the per-wavenumber arrays of the step with the hand-written
        adjoint: ``1/det`` (m⁴ → m² per wavenumber, ``(ny, nk)``), ``κ² + F₂``, ``κ² + F₁``,
        ``F₁``, ``F₂`` (m⁻², ``(ny, nk)``), ``ik Q_y`` (``(2, ny, nk)``, m⁻² s⁻¹),
        ``r_ek κ²`` (``(ny, nk)``, m⁻² s⁻¹) and the background flow ``U`` on the grid
        (``(2, ny, nx)``, m s⁻¹); ``det = κ² (κ² + F₁ + F₂)``."""
        g = self.grid
        nk = self.nx // 2 + 1
        F1, F2 = self.F1, self.F2
        full = (self.ny, nk)
        ops = (g.inv_wv2 / (g.wv2 + F1 + F2), g.wv2 + F2, g.wv2 + F1,
               jnp.broadcast_to(jnp.asarray(F1, dtype=float), full),
               jnp.broadcast_to(jnp.asarray(F2, dtype=float), full),
               jnp.broadcast_to(jnp.asarray(1j * g.kx) * self.Qy[:, None, None], (2, *full)),
               self.rek * g.wv2,
               jnp.broadcast_to(self.Ubg[:, None, None], (2, self.ny, self.nx)))
        return tuple(jnp.asarray(x) for x in ops)

    def stepper(self):
        """:meth:`step` as a function of the state alone, with :meth:`step_operators`
        computed once, here: give it to a loop (``integrate(model.stepper(), ...)``,
        :meth:`run` does) so that the parameters' cotangents of the hand-written adjoint
        are accumulated over the steps and summed once, not summed at every step (the
        same values)."""
        if self.adjoint != "hand" or self.closure is not None:
            return self.step
        ops = self.step_operators()
        return lambda state: self._hand(ops, state)

    def step(self, state: QGState) -> QGState:
        """One AB3 step (forward Euler, then AB2, at the start) followed by the filter."""
        if self.adjoint == "hand" and self.closure is None:
            return self._hand(self.step_operators(), state)
        lvl = state.ab_level
        dqh = self.pv_tendency(state.qh)
        dt1, dt2, dt3 = _ab3_coefficients(self.dt, lvl)
        qh = self.grid.filter * (state.qh + dt1 * dqh + dt2 * state.dqhdt_p
                                 + dt3 * state.dqhdt_pp)
        return QGState(qh, dqh, state.dqhdt_p, jnp.minimum(lvl + 1, 2).astype(lvl.dtype),
                       state.time + self.dt, state.iteration + 1)

    def _hand(self, ops, state: QGState) -> QGState:
        lvl = state.ab_level
        spec = (self.nx, self.ny, self.L, self.W, self.filter_factor, self.filter_cutoff,
                self.dt)
        qh, dqh = _hand_step(spec, ops, state.qh, state.dqhdt_p, state.dqhdt_pp, lvl)
        return QGState(qh, dqh, state.dqhdt_p, jnp.minimum(lvl + 1, 2).astype(lvl.dtype),
                       state.time + self.dt, state.iteration + 1)

    def run(self, state=None, n_steps: int = 1, *, save_every: int | None = None,
            checkpoint_every: int | None | str = "auto", observe=None):
        """:meth:`AbstractModel.run` with :meth:`stepper` (the step operators computed once
        per run)."""
        state = self.initial_state() if state is None else state
        return integrate(self.stepper(), state, n_steps, save_every=save_every,
                         observe=observe, checkpoint_every=checkpoint_every)

    def variables(self) -> tuple[Variable, ...]:
        dims = ("layer", "y", "x")
        return (
            Variable("q", dims, "s-1", "potential vorticity anomaly q_i",
                     valid_range=(-1e-2, 1e-2), derived=True,
                     attrs={"comment": "q_i = lap(psi_i) + F_i (psi_j - psi_i); the background "
                            "PV gradient Q_yi y is not included"}),
            Variable("psi", dims, "m2 s-1", "streamfunction psi_i", valid_range=(-1e10, 1e10),
                     derived=True),
            Variable("u", dims, "m s-1", "eddy zonal velocity u_i = -d(psi_i)/dy",
                     valid_range=(-50.0, 50.0), derived=True,
                     attrs={"comment": "the background flow U_i is not included"}),
            Variable("v", dims, "m s-1", "eddy meridional velocity v_i = d(psi_i)/dx",
                     valid_range=(-50.0, 50.0), derived=True),
        )

    def output_fields(self, state) -> dict[str, Any]:
        f = self.fields(state.qh)
        return {"q": f.q, "psi": f.psi, "u": f.u, "v": f.v}

    def coordinates(self) -> tuple[Coordinate, ...]:
        dx, dy = self.L / self.nx, self.W / self.ny
        x = (np.arange(self.nx) + 0.5) * dx
        y = (np.arange(self.ny) + 0.5) * dy
        h1, h2 = float(self.H1), float(self.H2)
        return (
            Coordinate("x", x, {"units": "m", "long_name": "zonal distance", "axis": "X"},
                       bounds=np.stack([x - dx / 2, x + dx / 2], axis=-1)),
            Coordinate("y", y, {"units": "m", "long_name": "meridional distance", "axis": "Y"},
                       bounds=np.stack([y - dy / 2, y + dy / 2], axis=-1)),
            Coordinate("layer", np.array([1, 2]),
                       {"units": "1", "long_name": "layer (1 upper, 2 lower)"}),
            Coordinate("depth", np.array([h1 / 2, h1 + h2 / 2]),
                       {"units": "m", "long_name": "depth of the layer middle",
                        "standard_name": "depth", "positive": "down"},
                       dims=("layer",),
                       bounds=np.array([[0.0, h1], [h1, h1 + h2]])),
        )

    def parameters(self, names=None) -> ParameterSet:
        """``rek``, ``beta``, ``U1``, ``U2``, ``rd`` with physical bounds and priors around
        the model's values, and the closure's coefficients as ``closure.<name>``
        (:meth:`AbstractQGClosure.parameter_table`)."""
        rek, beta = float(self.rek), float(self.beta)
        u1, u2, rd = float(self.U1), float(self.U2), float(self.rd)
        table = {
            "rek": Parameter(jnp.asarray(rek), 0.0, 1e-5, units="s-1",
                             prior=Prior.make("truncated_normal", loc=rek,
                                              scale=max(0.5 * rek, 1e-8), low=0.0, high=1e-5),
                             description="bottom (Ekman) drag rate of the lower layer"),
            "beta": Parameter(jnp.asarray(beta), -1e-10, 1e-10, units="m-1 s-1",
                              prior=Prior.make("normal", loc=beta,
                                               scale=max(0.25 * abs(beta), 1e-12)),
                              description="meridional gradient of the Coriolis parameter"),
            "U1": Parameter(jnp.asarray(u1), -1.0, 1.0, units="m s-1",
                            prior=Prior.make("normal", loc=u1, scale=max(0.25 * abs(u1), 5e-3)),
                            description="background zonal velocity of the upper layer"),
            "U2": Parameter(jnp.asarray(u2), -1.0, 1.0, units="m s-1",
                            prior=Prior.make("normal", loc=u2, scale=max(0.25 * abs(u2), 5e-3)),
                            description="background zonal velocity of the lower layer"),
            "rd": Parameter(jnp.asarray(rd), 1e3, 2e5, units="m",
                            prior=Prior.make("lognormal", loc=math.log(rd), scale=0.2),
                            description="first baroclinic deformation radius"),
        }
        if self.closure is not None:
            table.update({f"closure.{k}": p for k, p in self.closure.parameter_table().items()})
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """Differentiable domain means of a state: kinetic energy and enstrophy per layer
        (``ke_upper``, ``ke_lower`` in m² s⁻²; ``enstrophy_upper``, ``enstrophy_lower`` in
        s⁻²), the depth-weighted totals (``total_energy``, KE + APE, and ``total_enstrophy``,
        the invariants of the inviscid unforced model) and the meridional eddy PV fluxes
        (``pv_flux_upper``, ``pv_flux_lower``, m s⁻²)."""

        def layer(fn, i):
            return lambda model, state: fn(model, state.qh)[..., i]

        return {
            "ke_upper": layer(kinetic_energy, 0),
            "ke_lower": layer(kinetic_energy, 1),
            "enstrophy_upper": layer(enstrophy, 0),
            "enstrophy_lower": layer(enstrophy, 1),
            "total_energy": lambda model, state: total_energy(model, state.qh),
            "total_enstrophy": lambda model, state: total_enstrophy(model, state.qh),
            "pv_flux_upper": lambda model, state: eddy_pv_flux(model, state.qh)[..., 0],
            "pv_flux_lower": lambda model, state: eddy_pv_flux(model, state.qh)[..., 1],
        }

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        u, v, q = (np.asarray(dataset[n].values) for n in ("u", "v", "q"))
        ke = 0.5 * np.mean(u[-1] ** 2 + v[-1] ** 2, axis=(-2, -1))
        ens = 0.5 * np.mean(q[-1] ** 2, axis=(-2, -1))
        t = dataset["time"]
        days = float(np.asarray(
            (t.values[-1] - t.values[0]) / np.timedelta64(1, "s")
            if np.issubdtype(t.dtype, np.datetime64) else t.values[-1] - t.values[0])) / 86400
        return {
            "duration": (days, "day", "length of the output"),
            "ke_upper": (float(ke[0]), "m2 s-2", "final mean kinetic energy, upper layer"),
            "ke_lower": (float(ke[1]), "m2 s-2", "final mean kinetic energy, lower layer"),
            "enstrophy_upper": (float(ens[0]), "s-2", "final mean PV enstrophy, upper layer"),
            "enstrophy_lower": (float(ens[1]), "s-2", "final mean PV enstrophy, lower layer"),
            "max_speed": (float(np.max(np.hypot(u, v))), "m s-1",
                          "largest eddy speed in the output"),
            "cfl": (float(cfl_number(self, u, v)), "1",
                    "largest CFL number max(abs(u + U), abs(v)) dt / dx in the output"),
        }

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        directory = Path(directory)
        paths = [directory / "pv_snapshots.png", directory / "ke_spectrum.png"]
        plot_pv_snapshots(dataset, paths[0], title=title)
        k, spec = isotropic_ke_spectrum(np.asarray(dataset["psi"].values), self.L, self.W)
        plot_ke_spectrum(k, np.asarray(spec), paths[1], rd=float(self.rd), title=title)
        return paths

    def describe(self) -> dict[str, str]:
        shear = float(self.U1) - float(self.U2)
        filt = ("none" if self.filter_factor is None
                else f"exponential (c_f = {self.filter_factor:g}, cutoff {self.filter_cutoff:.4g})")
        out = {
            "qg": f"two-layer, {self.nx} x {self.ny}, L = {self.L / 1e3:g} km x "
                  f"{self.W / 1e3:g} km (dx = {self.L / self.nx / 1e3:.3g} km)",
            "layers": f"H1 = {float(self.H1):g} m, H2 = {float(self.H2):g} m "
                      f"(delta = {float(self.delta):.3g}), rd = {float(self.rd) / 1e3:g} km",
            "flow": f"beta = {float(self.beta):g} m-1 s-1, U1 - U2 = {shear:g} m s-1, "
                    f"rek = {float(self.rek):g} s-1",
            "filter": filt,
            "time_stepping": "AB3 (forward Euler, AB2 start), spectral filter each step",
        }
        if self.closure is not None:
            out["closure"] = self.closure.describe()
        return out
