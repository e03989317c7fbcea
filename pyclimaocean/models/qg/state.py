"""State pytree of the two-layer QG model."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

__all__ = ["QGState"]


class QGState(eqx.Module):
    """State of :class:`~pyclimaocean.models.qg.TwoLayerQG` (spectral, as pyqg keeps it).

    Attributes:
        qh: PV anomaly in spectral space, ``jnp.fft.rfft2`` of ``q`` over the last two axes,
            complex ``(2, ny, nx // 2 + 1)`` (layer 0 upper, layer 1 lower), s⁻¹ per
            Fourier coefficient (unnormalised transform, as ``numpy.fft.rfft2``).
        dqhdt_p: PV tendency of the previous step (Adams–Bashforth history), same shape,
            s⁻² per coefficient.
        dqhdt_pp: PV tendency two steps back, same shape.
        ab_level: Adams–Bashforth order already available: 0 (forward Euler next), 1 (AB2
            next), 2 (AB3 from then on), as pyqg's ``ablevel``.  A state built from a PV field
            starts at 0.
        time: model time (s since the start of the run).
        iteration: number of steps taken.

    Leading axes (a trajectory, an ensemble under ``vmap``) are allowed before the layer axis.
    """

    qh: jnp.ndarray
    dqhdt_p: jnp.ndarray
    dqhdt_pp: jnp.ndarray
    ab_level: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray
