"""Training data for closures of the two-scale Lorenz-96 system.

A *truth* run of :class:`~pyclimaocean.models.lorenz96.TwoScaleLorenz96` is sampled every
``sample_every`` fine steps; at every sample we keep the slow state ``X`` ``(K,)`` and the
diagnosed subgrid tendency ``U_k = -(h c / b) Σ_j Y_{j,k}`` ``(K,)`` (what a closure of the
one-scale model must supply).  Only these two series are stored (not the ``K*J`` fast
variables).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..integrate import integrate
from ..models.lorenz96 import TwoScaleLorenz96, TwoScaleState, rk4_step

__all__ = ["ClosureData", "generate_two_scale_data", "split_data", "trajectory_windows"]


@dataclass(frozen=True)
class ClosureData:
    """Sampled truth series.

    Attributes:
        x: slow state X, shape ``(T, K)`` (nondimensional).
        subgrid: diagnosed subgrid tendency U, shape ``(T, K)`` (MTU⁻¹).
        dt: time between samples (MTU).
    """

    x: jax.Array
    subgrid: jax.Array
    dt: float

    def __post_init__(self):
        if self.x.shape != self.subgrid.shape or self.x.ndim != 2:
            raise ValueError(
                f"ClosureData: x {self.x.shape} and subgrid {self.subgrid.shape} must both be (T, K)"
            )
        if not self.dt > 0:
            raise ValueError(f"ClosureData.dt = {self.dt!r}: must be > 0 (MTU)")

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Sample times from the first sample (MTU), ``(T,)``."""
        return self.dt * np.arange(self.n_samples)


def generate_two_scale_data(
    model: TwoScaleLorenz96,
    state: TwoScaleState,
    *,
    dt: float,
    n_samples: int,
    sample_every: int,
) -> tuple[ClosureData, TwoScaleState]:
    """Run the two-scale truth from ``state`` and sample ``(X, U)``.

    Args:
        model: the two-scale system.
        state: initial state (spun up, e.g. by
            :func:`~pyclimaocean.models.lorenz96.spun_up_state`).
        dt: fine RK4 step of the truth (MTU); 0.001 for the Arnold et al. (2013) constants.
        n_samples: number of samples ``T`` (>= 1).
        sample_every: fine steps between samples (>= 1); the sample interval is
            ``dt * sample_every``.

    Returns:
        ``(data, final_state)``; ``data.x[0]`` is the state ``sample_every`` steps after ``state``.
    """
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples = {n_samples!r}: must be an int >= 1")
    if not isinstance(sample_every, int) or sample_every < 1:
        raise ValueError(f"sample_every = {sample_every!r}: must be an int >= 1")
    if not dt > 0:
        raise ValueError(f"dt = {dt!r}: must be > 0 (MTU)")

    @jax.jit
    def run(s):
        return integrate(
            lambda c: rk4_step(model.tendency, c, dt),
            s,
            n_samples * sample_every,
            save_every=sample_every,
            observe=lambda c: (c.x, model.subgrid_forcing(c.y)),
            checkpoint_every=None,
        )

    final, (x, u) = run(state)
    if not bool(jnp.all(jnp.isfinite(x))):
        raise FloatingPointError(
            f"the two-scale truth run blew up (dt = {dt} is too large for c = {model.c}, "
            f"b = {model.b}); use a smaller dt"
        )
    return ClosureData(x=x, subgrid=u, dt=float(dt * sample_every)), final


def split_data(data: ClosureData, fractions: tuple[float, ...], gap: int = 0) -> list[ClosureData]:
    """Split a series in time into consecutive parts (e.g. train / validation / test).

    Args:
        fractions: positive fractions of the samples, summing to <= 1.
        gap: samples dropped between consecutive parts (to decorrelate them).
    """
    if any(f <= 0 for f in fractions) or sum(fractions) > 1 + 1e-12:
        raise ValueError(f"fractions = {fractions!r}: must be > 0 and sum to <= 1")
    if gap < 0:
        raise ValueError(f"gap = {gap!r}: must be >= 0 samples")
    sizes = [int(f * data.n_samples) for f in fractions]
    needed = sum(sizes) + gap * (len(fractions) - 1)
    if needed > data.n_samples:
        raise ValueError(
            f"fractions = {fractions!r} with gap = {gap} need {needed} samples "
            f"(parts {sizes} + {len(fractions) - 1} gaps of {gap}) but the series has "
            f"{data.n_samples}; use smaller fractions or a smaller gap"
        )
    out, start = [], 0
    for f, n in zip(fractions, sizes, strict=True):
        if n < 1:
            raise ValueError(f"fraction {f} of {data.n_samples} samples is empty")
        out.append(ClosureData(data.x[start : start + n], data.subgrid[start : start + n], data.dt))
        start += n + gap
    return out


def trajectory_windows(x: jax.Array, starts: jax.Array, length: int) -> jax.Array:
    """Windows ``x[s : s + length + 1]`` for every start ``s``: shape ``(len(starts), length + 1, K)``.

    Raises ``ValueError`` when the starts are concrete and a window would leave the series
    (``0 <= s`` and ``s + length < len(x)`` are required); traced starts are not checked (JAX
    indexing would clamp them).
    """
    try:
        concrete = np.asarray(starts)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        concrete = None
    if concrete is not None and concrete.size:
        n = np.shape(x)[0]
        if concrete.min() < 0 or concrete.max() + length >= n:
            raise ValueError(
                f"trajectory_windows: starts in [{concrete.min()}, {concrete.max()}] with "
                f"length = {length} leave the series of {n} samples; need "
                f"0 <= start <= {n - 1 - length}"
            )
    idx = jnp.asarray(starts)[:, None] + jnp.arange(length + 1)[None, :]
    return jnp.asarray(x)[idx]
