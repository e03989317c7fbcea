"""Two small NumPy models with hand-written discrete adjoints (no JAX inside).

They stand in for "an external model with its own adjoint" (a Fortran code with a TAF
adjoint, a Julia model with Enzyme, ...) and are wrapped for JAX with
:func:`pyclimaocean.backends.external.wrap_external`: the column diffusion in
``examples/external_calibration.py`` (calibrated like any model), Lorenz-96 in
``tests/test_external_model.py`` (run through the model contract as
:class:`pyclimaocean.backends.external.ExternalModel`, equal to the JAX Lorenz-96 to 1e-9).

Run it (``python examples/external_numpy_models.py``) to run both models and check each
hand-written adjoint against a central finite difference of the forward model (NumPy only).

* :func:`l96_forward` / :func:`l96_vjp`: Lorenz-96, ``dx_k/dt = (x_{k+1} - x_{k-2}) x_{k-1}
  - x_k + F``, classical RK4; the adjoint is the exact transpose of the discrete RK4 step
  (reverse sweep over stored states).  Works on a leading batch axis too.
* :func:`diffusion_forward` / :func:`diffusion_vjp`: a single water column with backward-Euler
  (implicit) vertical diffusion on a stretched grid, ``(I - Δt D(κ)) Tⁿ⁺¹ = Tⁿ + Δt s(Q)``,
  solved as a tridiagonal system (``scipy.linalg.solve_banded``).  The adjoint of each
  step is a *transposed* tridiagonal solve; the grid is stretched so the matrix is not
  symmetric and the transpose matters.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_banded

# --------------------------------------------------------------------------------------
# Lorenz-96 + RK4
# --------------------------------------------------------------------------------------


def l96_tendency(x: np.ndarray, forcing) -> np.ndarray:
    """dx/dt for x ``(..., n)``; ``forcing`` F broadcasts against ``x[..., 0]``."""
    f = np.asarray(forcing)[..., None]
    return (np.roll(x, -1, -1) - np.roll(x, 2, -1)) * np.roll(x, 1, -1) - x + f


def l96_tendency_vjp(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Jₓᵀ w, ∂F-cotangent)`` of :func:`l96_tendency` at ``x`` for cotangent ``w``.

    With f_i = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F:
    (Jᵀw)_j = w_{j-1} x_{j-2} - w_{j+2} x_{j+1} + w_{j+1} (x_{j+2} - x_{j-1}) - w_j.
    """
    r = np.roll
    xbar = r(w, 1, -1) * r(x, 2, -1) - r(w, -2, -1) * r(x, -1, -1)
    xbar = xbar + r(w, -1, -1) * (r(x, -2, -1) - r(x, 1, -1)) - w
    return xbar, np.sum(w, axis=-1)


def l96_forward(x0: np.ndarray, forcing, dt: float, n_steps: int) -> np.ndarray:
    """RK4 trajectory: returns ``(..., n_steps, n)``, entry i = state after i+1 steps."""
    x = np.asarray(x0, dtype=float)
    out = np.empty(x.shape[:-1] + (n_steps, x.shape[-1]))
    for i in range(n_steps):
        k1 = l96_tendency(x, forcing)
        k2 = l96_tendency(x + 0.5 * dt * k1, forcing)
        k3 = l96_tendency(x + 0.5 * dt * k2, forcing)
        k4 = l96_tendency(x + dt * k3, forcing)
        x = x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        out[..., i, :] = x
    return out


def l96_vjp(x0, forcing, dt: float, n_steps: int, traj_bar: np.ndarray):
    """Adjoint of :func:`l96_forward`: ``(x0_bar, forcing_bar)`` for cotangent ``traj_bar``.

    Stores every state of the forward sweep (memory O(n_steps·n)) and runs the discrete
    adjoint of each RK4 stage backwards.
    """
    x0 = np.asarray(x0, dtype=float)
    forcing = np.asarray(forcing, dtype=float)
    states = np.concatenate([x0[..., None, :], l96_forward(x0, forcing, dt, n_steps)], axis=-2)
    lam = np.zeros_like(x0)
    fbar = np.zeros(np.broadcast_shapes(forcing.shape, x0.shape[:-1]))
    for i in reversed(range(n_steps)):
        lam = lam + traj_bar[..., i, :]
        x = states[..., i, :]
        k1 = l96_tendency(x, forcing)
        x1 = x + 0.5 * dt * k1
        k2 = l96_tendency(x1, forcing)
        x2 = x + 0.5 * dt * k2
        k3 = l96_tendency(x2, forcing)
        x3 = x + dt * k3
        xbar = lam.copy()
        k1b, k2b, k3b, k4b = dt / 6 * lam, dt / 3 * lam, dt / 3 * lam, dt / 6 * lam
        x3b, fb = l96_tendency_vjp(x3, k4b)
        fbar += fb
        xbar += x3b
        k3b = k3b + dt * x3b
        x2b, fb = l96_tendency_vjp(x2, k3b)
        fbar += fb
        xbar += x2b
        k2b = k2b + 0.5 * dt * x2b
        x1b, fb = l96_tendency_vjp(x1, k2b)
        fbar += fb
        xbar += x1b
        k1b = k1b + 0.5 * dt * x1b
        xb, fb = l96_tendency_vjp(x, k1b)
        fbar += fb
        lam = xbar + xb
    return lam, fbar


# --------------------------------------------------------------------------------------
# Implicit vertical diffusion in one column (tridiagonal solve; adjoint = transposed solve)
# --------------------------------------------------------------------------------------


def stretched_grid(nz: int, depth: float, stretching: float = 1.5):
    """Cell thicknesses ``dz (nz,)`` [m] (bottom→top, thinner near the surface) and the
    centre-to-centre distances ``dzf (nz-1,)`` [m] at interior interfaces."""
    s = np.linspace(0.0, 1.0, nz + 1)
    z_faces = -depth * (1 - s) ** stretching  # from -depth (bottom) to 0 (top)
    dz = np.diff(z_faces)
    zc = 0.5 * (z_faces[1:] + z_faces[:-1])
    return dz, np.diff(zc), zc


def _diffusion_matrix(kappa, dz, dzf, dt):
    """Banded form ``(3, nz)`` of ``A = I - Δt D(κ)`` for ``solve_banded((1, 1), ...)``."""
    nz = dz.size
    c = kappa / dzf  # (nz-1,) conductances at interior interfaces [m s⁻¹]
    ab = np.zeros((3, nz))
    # D[k, k+1] = c_k / dz_k ; D[k+1, k] = c_k / dz_{k+1}
    ab[0, 1:] = -dt * c / dz[:-1]  # superdiagonal A[k, k+1]
    ab[2, :-1] = -dt * c / dz[1:]  # subdiagonal A[k+1, k]
    diag = np.ones(nz)
    diag[:-1] += dt * c / dz[:-1]
    diag[1:] += dt * c / dz[1:]
    ab[1] = diag
    return ab


def _transpose_banded(ab):
    """Banded form of Aᵀ from the banded form of a tridiagonal A."""
    abt = np.zeros_like(ab)
    abt[1] = ab[1]
    abt[0, 1:] = ab[2, :-1]
    abt[2, :-1] = ab[0, 1:]
    return abt


def diffusion_forward(T0, kappa, surface_flux, dz, dzf, dt: float, n_steps: int):
    """Backward-Euler diffusion: returns the temperature trajectory ``(n_steps, nz)`` [°C].

    Args:
        T0: initial temperature ``(nz,)`` [°C], bottom to top.
        kappa: diffusivity at the ``nz-1`` interior interfaces ``(nz-1,)`` [m² s⁻¹].
        surface_flux: upward kinematic heat flux Q at the surface [K m s⁻¹] (positive cools;
            the Oceananigans sign convention); zero flux at the bottom.
        dz, dzf: from :func:`stretched_grid`.
        dt: time step [s].
    """
    ab = _diffusion_matrix(np.asarray(kappa, float), dz, dzf, dt)
    T = np.asarray(T0, dtype=float).copy()
    src = np.zeros_like(T)
    src[-1] = -dt * float(surface_flux) / dz[-1]
    out = np.empty((n_steps, T.size))
    for i in range(n_steps):
        T = solve_banded((1, 1), ab, T + src)
        out[i] = T
    return out


def diffusion_vjp(T0, kappa, surface_flux, dz, dzf, dt: float, n_steps: int, traj_bar):
    """Adjoint of :func:`diffusion_forward`: ``(T0_bar, kappa_bar, surface_flux_bar)``.

    Per step ``A xⁿ⁺¹ = bⁿ`` with ``bⁿ = xⁿ + Δt s``: ``b̄ = A⁻ᵀ x̄`` (transposed tridiagonal
    solve), ``x̄ⁿ += b̄``, ``Q̄ -= Δt b̄_top / Δz_top`` and, since ``∂A/∂κ_j`` only touches
    rows/columns j, j+1, ``κ̄_j += Δt/Δzf_j (x_{j+1} - x_j)(b̄_j/Δz_j - b̄_{j+1}/Δz_{j+1})``.
    """
    kappa = np.asarray(kappa, float)
    traj = diffusion_forward(T0, kappa, surface_flux, dz, dzf, dt, n_steps)
    ab_t = _transpose_banded(_diffusion_matrix(kappa, dz, dzf, dt))
    lam = np.zeros(dz.size)
    kbar = np.zeros_like(kappa)
    qbar = 0.0
    for i in reversed(range(n_steps)):
        lam = lam + traj_bar[i]
        x = traj[i]
        bbar = solve_banded((1, 1), ab_t, lam)
        kbar += dt / dzf * (x[1:] - x[:-1]) * (bbar[:-1] / dz[:-1] - bbar[1:] / dz[1:])
        qbar -= dt * bbar[-1] / dz[-1]
        lam = bbar
    return lam, kbar, np.asarray(qbar)


# --------------------------------------------------------------------------------------
# Run: both models and a finite-difference check of each adjoint
# --------------------------------------------------------------------------------------


def _adjoint_check(name, forward, vjp, args, index, direction, rng):
    """Directional derivative of ⟨w, forward⟩ along ``direction`` of argument ``index``: the
    adjoint's ⟨vjp(w)[index], direction⟩ against a central finite difference."""
    w = rng.standard_normal(forward(*args).shape)

    def f(eps):
        moved = list(args)
        moved[index] = args[index] + eps * direction
        return float(np.sum(w * forward(*moved)))

    h = 1e-6 * max(1.0, float(np.max(np.abs(args[index]))))
    fd = (f(h) - f(-h)) / (2 * h)
    ad = float(np.sum(vjp(*args, w)[index] * direction))
    print(f"  {name}: adjoint {ad:+.10e}, finite difference {fd:+.10e}, "
          f"relative difference {abs(ad - fd) / abs(fd):.1e}")
    return abs(ad - fd) / abs(fd)


def main() -> None:
    rng = np.random.default_rng(0)
    n, dt, n_steps = 40, 0.05, 20                       # 1 model time unit
    x0 = 8.0 + rng.standard_normal(n)
    traj = l96_forward(x0, 8.0, dt, n_steps)
    print(f"Lorenz-96 (NumPy RK4): n = {n}, F = 8, dt = {dt}, {n_steps} steps; "
          f"x at the end: mean {traj[-1].mean():.3f}, std {traj[-1].std():.3f}")

    def l96_fwd(x, f):
        return l96_forward(x, f, dt, n_steps)

    def l96_adj(x, f, w):
        return l96_vjp(x, f, dt, n_steps, w)

    worst = max(
        _adjoint_check("d/dx0 (random direction)", l96_fwd, l96_adj, (x0, np.asarray(8.0)), 0,
                       rng.standard_normal(n), rng),
        _adjoint_check("d/dF", l96_fwd, l96_adj, (x0, np.asarray(8.0)), 1, np.asarray(1.0), rng))

    nz, dt_c, steps_c = 32, 3600.0, 48
    dz, dzf, zc = stretched_grid(nz, 100.0)
    T0 = 20.0 + 0.01 * zc
    kappa = np.full(nz - 1, 1e-4)
    q = 100.0 / (1025.0 * 3990.0)                       # 100 W m-2 of cooling, in K m s-1
    T = diffusion_forward(T0, kappa, q, dz, dzf, dt_c, steps_c)
    print(f"Column diffusion (NumPy backward Euler, stretched grid): {nz} levels over 100 m, "
          f"kappa = 1e-4 m2 s-1, 100 W m-2 cooling, {steps_c} h; surface T "
          f"{T0[-1]:.3f} -> {T[-1, -1]:.3f} degC")

    def dif_fwd(t0, k, qq):
        return diffusion_forward(t0, k, qq, dz, dzf, dt_c, steps_c)

    def dif_adj(t0, k, qq, w):
        return diffusion_vjp(t0, k, qq, dz, dzf, dt_c, steps_c, w)

    args = (T0, kappa, np.asarray(q))
    worst = max(worst,
                _adjoint_check("d/dT0", dif_fwd, dif_adj, args, 0, rng.standard_normal(nz), rng),
                _adjoint_check("d/dkappa", dif_fwd, dif_adj, args, 1,
                               1e-5 * rng.standard_normal(nz - 1), rng),
                _adjoint_check("d/dQ", dif_fwd, dif_adj, args, 2, np.asarray(1e-5), rng))
    print(f"largest relative adjoint-vs-finite-difference difference: {worst:.1e}")
    print("Next: python examples/external_calibration.py (calibrates the column model through "
          "pyclimaocean.calibration); docs/julia_backend.md explains the wrapper.")


if __name__ == "__main__":
    main()
