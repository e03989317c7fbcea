"""Physical subgrid closures of the two-layer QG model: Smagorinsky, Zanna–Bolton 2020 and a
biharmonic eddy viscosity with energy backscatter.

All three are pyqg's parameterizations (``pyqg.parameterizations``, as used by Ross et al.
2023), written behind :class:`~pyclimaocean.models.qg.closure.AbstractQGClosure`: momentum
("uv") closures give a forcing ``(F_u, F_v)`` (m s⁻²) of each layer's momentum equation and
enter the PV equation through its curl ``S = ∂x F_v − ∂y F_u`` (:meth:`QGFields.curl`), as pyqg
adds ``ik F̂_v − il F̂_u`` to ``dqh/dt``.  Velocities are the eddy velocities ``u = −∂y ψ``,
``v = ∂x ψ`` (the uniform background flow has no gradient), derivatives spectral, products in
grid space (not dealiased), ``Δx = L / nx``.

Coefficients are float fields — pytree leaves: ``jax.grad`` reaches them and a
:class:`~pyclimaocean.ParameterSet` writes them (``model.parameters()`` lists them as
``closure.<name>`` with bounds and priors, :meth:`parameter_table`).

* :class:`Smagorinsky` (Smagorinsky 1963): ``F = ∇·(2 ν S)``, ``S`` the strain-rate tensor
  (``S_xx = ∂x u``, ``S_yy = ∂y v``, ``S_xy = ½(∂y u + ∂x v)``), eddy viscosity
  ``ν = (C Δx)² √(2 S:S)``; ``C = constant`` (pyqg default 0.1).  Dissipates kinetic energy:
  ``Σ mean(u F_u + v F_v) = −mean(4 ν S:S / 2) ≤ 0`` exactly with spectral derivatives.
* :class:`ZannaBolton2020` (Zanna & Bolton 2020, GRL, "Data-driven equation discovery of
  ocean mesoscale closures"): ``F = κ_BC ∇·T`` with, for relative vorticity ``ζ = ∂x v − ∂y u``,
  shearing deformation ``D = ∂y u + ∂x v`` and stretching deformation ``D̃ = ∂x u − ∂y v``,

      T = [[−ζ D, ζ D̃], [ζ D̃, ζ D]] + ½ (ζ² + D² + D̃²) I

  (the trace part, pyqg's choice, has no curl and so no effect on PV).  ``κ_BC < 0``;
  ``kappa`` defaults to pyqg's and Ross et al. (2023)'s −46 761 284 m² for the nx = 64 grid of
  the Ross et al. configurations (read from pyqg-jax's ``zannabolton2020.py``); ZB2020 quote
  κ_BC ≈ −4.87 × 10⁸ m² for their coarser ocean grid (not re-checked against the paper here).
  ``T`` is ``ζ J S'`` (``S'`` the deviatoric strain, ``J`` the 90° rotation), a tensor under
  rotations and reflections: the closure is equivariant (tested).
* :class:`BackscatterBiharmonic` (Jansen & Held 2014; Jansen et al. 2015; pyqg's
  ``BackscatterBiharmonic``): a PV closure ``S = D + B`` with the biharmonic dissipation
  ``D = −∇²(ν₄ ∇⁴ψ)``, ``ν₄ = ν_smag Δx²`` from the Smagorinsky viscosity with constant
  ``smag_constant`` (pyqg default 0.08), and the negative-viscosity backscatter
  ``B = −c_b ∇⁴ψ · Σ H_i mean(ψ_i D_i) / Σ H_i mean(ψ_i ∇⁴ψ_i)``, which returns the fraction
  ``c_b = back_constant`` (pyqg default 0.99) of the energy ``D`` removes, at larger scales:
  the closure's total-energy tendency is exactly ``(1 − c_b)`` times the dissipation's.
"""

from __future__ import annotations

import jax.numpy as jnp

from ...params import Parameter, Prior
from .closure import AbstractQGClosure, QGFields

__all__ = ["BackscatterBiharmonic", "Smagorinsky", "ZannaBolton2020", "energy_tendency"]

#: κ_BC of pyqg's ``ZannaBolton2020`` (Ross et al. 2023, nx = 64 configurations), m²
ZB2020_KAPPA_PYQG = -46761284.0


def _grid_spacing(model) -> float:
    return model.L / model.nx


def _velocity_gradients(fields: QGFields):
    """``(∂x u, ∂y u, ∂x v, ∂y v)`` of the eddy velocities (s⁻¹)."""
    ik, il, ph = fields.ik, fields.il, fields.ph
    ny, nx = fields.u.shape[-2:]

    def ifft(fh):
        return jnp.fft.irfft2(fh, s=(ny, nx))

    uh, vh = -il * ph, ik * ph
    return ifft(ik * uh), ifft(il * uh), ifft(ik * vh), ifft(il * vh)


def energy_tendency(model, fields: QGFields, pv_tendency) -> jnp.ndarray:
    """Total-energy tendency (m² s⁻³) of a PV tendency ``S`` ``(2, ny, nx)``:
    ``dE/dt = −(1/H) Σ H_i mean(ψ_i S_i)`` (``E`` of :func:`~pyclimaocean.models.qg.total_energy`,
    a quadratic form symmetric in q)."""
    h = jnp.stack([jnp.asarray(model.H1, float), jnp.asarray(model.H2, float)])
    per_layer = jnp.mean(fields.psi * pv_tendency, axis=(-2, -1))
    return -jnp.sum(h * per_layer, axis=-1) / jnp.sum(h)


class Smagorinsky(AbstractQGClosure):
    """Smagorinsky (1963) eddy viscosity on the momentum equations (module docstring).

    Attributes:
        constant: the Smagorinsky constant ``C`` (nondimensional; pyqg default 0.1).
    """

    constant: float | jnp.ndarray = 0.1

    def eddy_viscosity(self, model, fields: QGFields) -> jnp.ndarray:
        """``ν = (C Δx)² √(2 (S_xx² + S_yy² + 2 S_xy²))`` ``(2, ny, nx)`` (m² s⁻¹)."""
        ux, uy, vx, vy = _velocity_gradients(fields)
        sxy = 0.5 * (uy + vx)
        return (self.constant * _grid_spacing(model)) ** 2 * jnp.sqrt(
            2.0 * (ux**2 + vy**2 + 2.0 * sxy**2))

    def momentum_forcing(self, model, fields: QGFields):
        """``(F_u, F_v) = (∂x(2ν S_xx) + ∂y(2ν S_xy), ∂x(2ν S_xy) + ∂y(2ν S_yy))`` (m s⁻²)."""
        ux, uy, vx, vy = _velocity_gradients(fields)
        sxy = 0.5 * (uy + vx)
        nu = (self.constant * _grid_spacing(model)) ** 2 * jnp.sqrt(
            2.0 * (ux**2 + vy**2 + 2.0 * sxy**2))
        fu = 2.0 * (fields.ddx(nu * ux) + fields.ddy(nu * sxy))
        fv = 2.0 * (fields.ddx(nu * sxy) + fields.ddy(nu * vy))
        return fu, fv

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        return fields.curl(*self.momentum_forcing(model, fields))

    def parameter_table(self) -> dict[str, Parameter]:
        c = float(self.constant)
        return {"constant": Parameter(
            jnp.asarray(c), 0.0, 1.0, units="1",
            prior=Prior.make("truncated_normal", loc=c, scale=max(0.5 * c, 0.02), low=0.0,
                             high=1.0),
            description="Smagorinsky constant C of nu = (C dx)^2 |S|")}

    def describe(self) -> str:
        return f"Smagorinsky (C = {float(self.constant):g})"


class ZannaBolton2020(AbstractQGClosure):
    """Zanna & Bolton (2020) equation-discovered momentum closure (module docstring).

    Attributes:
        kappa: κ_BC (m², negative; default pyqg's −46 761 284 m² for Ross et al.'s nx = 64).
    """

    kappa: float | jnp.ndarray = ZB2020_KAPPA_PYQG

    def momentum_forcing(self, model, fields: QGFields):
        """``κ_BC ∇·T`` (m s⁻²): ``(∂x T_xx + ∂y T_xy, ∂x T_xy + ∂y T_yy)``."""
        ux, uy, vx, vy = _velocity_gradients(fields)
        zeta, shear, stretch = vx - uy, vx + uy, ux - vy
        trace = 0.5 * (zeta**2 + shear**2 + stretch**2)
        txx = trace - zeta * shear
        tyy = trace + zeta * shear
        txy = zeta * stretch
        fu = self.kappa * (fields.ddx(txx) + fields.ddy(txy))
        fv = self.kappa * (fields.ddx(txy) + fields.ddy(tyy))
        return fu, fv

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        return fields.curl(*self.momentum_forcing(model, fields))

    def parameter_table(self) -> dict[str, Parameter]:
        k = float(self.kappa)
        return {"kappa": Parameter(
            jnp.asarray(k), -1e10, 0.0, units="m2",
            prior=Prior.make("truncated_normal", loc=k, scale=max(0.5 * abs(k), 1e6),
                             low=-1e10, high=0.0),
            description="kappa_BC of the Zanna-Bolton 2020 closure (negative)")}

    def describe(self) -> str:
        return f"Zanna-Bolton 2020 (kappa_BC = {float(self.kappa):.4g} m2)"


class BackscatterBiharmonic(AbstractQGClosure):
    """Biharmonic Smagorinsky dissipation plus energy backscatter (module docstring).

    Attributes:
        smag_constant: Smagorinsky constant of the biharmonic viscosity (pyqg default 0.08).
        back_constant: fraction ``c_b`` of the dissipated energy returned (pyqg default 0.99).
        eps: added to the denominator of the backscatter ratio (s⁻² m, pyqg's 1e-32).
    """

    smag_constant: float | jnp.ndarray = 0.08
    back_constant: float | jnp.ndarray = 0.99
    eps: float = 1e-32

    def parts(self, model, fields: QGFields):
        """``(D, B)``: the biharmonic dissipation and the backscatter, ``(2, ny, nx)`` (s⁻²)."""
        ny, nx = fields.q.shape[-2:]
        wv2 = jnp.asarray(model.grid.wv2)
        lap_lap_psi = jnp.fft.irfft2(wv2**2 * fields.ph, s=(ny, nx))
        nu = Smagorinsky(self.smag_constant).eddy_viscosity(model, fields)
        nu4 = nu * _grid_spacing(model) ** 2
        dissipation = jnp.fft.irfft2(wv2 * jnp.fft.rfft2(nu4 * lap_lap_psi), s=(ny, nx))
        h = jnp.stack([jnp.asarray(model.H1, float), jnp.asarray(model.H2, float)])
        num = jnp.sum(h * jnp.mean(fields.psi * dissipation, axis=(-2, -1)), axis=-1)
        den = jnp.sum(h * jnp.mean(fields.psi * lap_lap_psi, axis=(-2, -1)), axis=-1)
        backscatter = -self.back_constant * lap_lap_psi * (num / (den + self.eps))[
            ..., None, None, None]
        return dissipation, backscatter

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        d, b = self.parts(model, fields)
        return d + b

    def parameter_table(self) -> dict[str, Parameter]:
        c, b = float(self.smag_constant), float(self.back_constant)
        return {
            "smag_constant": Parameter(
                jnp.asarray(c), 0.0, 1.0, units="1",
                prior=Prior.make("truncated_normal", loc=c, scale=max(0.5 * c, 0.02), low=0.0,
                                 high=1.0),
                description="Smagorinsky constant of the biharmonic viscosity"),
            "back_constant": Parameter(
                jnp.asarray(b), 0.0, 1.5, units="1",
                prior=Prior.make("truncated_normal", loc=b, scale=0.2, low=0.0, high=1.5),
                description="fraction of the dissipated energy returned by backscatter"),
        }

    def describe(self) -> str:
        return (f"biharmonic Smagorinsky + backscatter (C = {float(self.smag_constant):g}, "
                f"c_b = {float(self.back_constant):g})")

