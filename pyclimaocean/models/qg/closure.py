"""The closure hook of the two-layer QG model: a subgrid term added to the PV tendency.

A closure is an ``equinox`` module (its float fields are pytree leaves, so ``jax.grad`` and
online training reach them) with one method, :meth:`AbstractQGClosure.pv_tendency`, mapping the
resolved fields of a state to a PV tendency ``S_i(x, y)`` (s⁻²) added to each layer's equation

    ∂q_i/∂t + J(ψ_i, q_i) + β_i ∂ψ_i/∂x + U_i ∂q_i/∂x = (drag) + S_i

before the time step and the spectral filter, as pyqg adds its ``q_parameterization``.
Momentum (``uv``) closures fit the same hook through the curl of their forcing,
``S = ∂x F_v − ∂y F_u`` (:meth:`QGFields.curl`).  ``TwoLayerQG(closure=None)`` (the default)
adds nothing.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp

__all__ = ["AbstractQGClosure", "QGFields"]


class QGFields(eqx.Module):
    """Resolved fields of one state, handed to a closure (grid fields ``(2, ny, nx)``,
    spectral fields ``(2, ny, nx // 2 + 1)``).

    Attributes:
        q: PV anomaly (s⁻¹).
        psi: streamfunction (m² s⁻¹).
        u, v: eddy velocities (m s⁻¹; the background ``U_i`` is not included).
        qh, ph: spectral PV and streamfunction (``rfft2``).
        ik, il: ``1j * k`` ``(nx // 2 + 1,)`` and ``1j * l`` ``(ny, 1)`` (rad m⁻¹), for
            spectral derivatives.
    """

    q: jnp.ndarray
    psi: jnp.ndarray
    u: jnp.ndarray
    v: jnp.ndarray
    qh: jnp.ndarray
    ph: jnp.ndarray
    ik: jnp.ndarray
    il: jnp.ndarray

    def ddx(self, f: jnp.ndarray) -> jnp.ndarray:
        """∂f/∂x of grid fields ``(..., ny, nx)`` (spectral derivative)."""
        ny, nx = f.shape[-2:]
        return jnp.fft.irfft2(self.ik * jnp.fft.rfft2(f), s=(ny, nx))

    def ddy(self, f: jnp.ndarray) -> jnp.ndarray:
        """∂f/∂y of grid fields ``(..., ny, nx)`` (spectral derivative)."""
        ny, nx = f.shape[-2:]
        return jnp.fft.irfft2(self.il * jnp.fft.rfft2(f), s=(ny, nx))

    def curl(self, fu: jnp.ndarray, fv: jnp.ndarray) -> jnp.ndarray:
        """``∂x fv − ∂y fu``: the PV tendency of a momentum forcing ``(fu, fv)`` (m s⁻²)."""
        return self.ddx(fv) - self.ddy(fu)


class AbstractQGClosure(eqx.Module):
    """Base class of QG subgrid closures (see the module docstring)."""

    @abc.abstractmethod
    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        """Subgrid PV tendency ``(2, ny, nx)`` (s⁻²) of the resolved ``fields``."""

    def parameter_table(self) -> dict:
        """Calibratable coefficients ``{name: Parameter}`` (names are attributes of the
        closure; the model lists them as ``closure.<name>``).  Default: none."""
        return {}

    def describe(self) -> str:
        return type(self).__name__
