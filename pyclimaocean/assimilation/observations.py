"""Observation operators y = H(x) for twin experiments on periodic 1-D models (Lorenz-96).

Every operator maps a state ``(..., n)`` to observations ``(..., p)`` (batched along leading
axes, so an ensemble ``(N, n)`` maps to ``(N, p)``), has a ``matrix()`` giving H as a
``(p, n)`` array (all operators here are linear), and ``positions``: the grid coordinate of
each observation, ``(p,)``, used by localisation (:mod:`.localization`).

The weights come from the named-dimension operators shared with calibration
(:mod:`pyclimaocean.observations`): :func:`point_observation` samples a model variable at
scattered points along its dims (linear interpolation built from the model's coordinates), and
:meth:`SubsetObservation.matrix` is their one-hot selection.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ..observations.operators import model_axes, selection_matrix, state_matrix

__all__ = [
    "ObservationOperator",
    "IdentityObservation",
    "SubsetObservation",
    "LinearObservation",
    "every_other",
    "make_observation_operator",
    "point_observation",
]


class ObservationOperator(eqx.Module):
    """Abstract linear observation operator on a periodic grid of ``n_state`` points."""

    n_state: eqx.AbstractVar[int]

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_obs(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def positions(self) -> jnp.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def matrix(self) -> jnp.ndarray:
        """H as a dense ``(p, n)`` array."""
        return self(jnp.eye(self.n_state)).T

    def _check(self, x: jnp.ndarray) -> jnp.ndarray:
        x = jnp.asarray(x)
        if x.shape[-1] != self.n_state:
            raise ValueError(
                f"state has {x.shape[-1]} values on its last axis; the observation operator "
                f"expects n_state={self.n_state}"
            )
        return x


class IdentityObservation(ObservationOperator):
    """Observe every state variable: H = I (p = n)."""

    n_state: int = eqx.field(static=True)

    def __call__(self, x):
        return self._check(x)

    @property
    def n_obs(self) -> int:
        return self.n_state

    @property
    def positions(self):
        return jnp.arange(self.n_state, dtype=float)


class SubsetObservation(ObservationOperator):
    """Observe the state variables at ``indices`` (a tuple of ints in ``[0, n_state)``)."""

    n_state: int = eqx.field(static=True)
    indices: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, n_state: int, indices: Sequence[int]):
        idx = tuple(int(i) for i in indices)
        if not idx:
            raise ValueError("indices must name at least one observed variable")
        bad = [i for i in idx if not 0 <= i < n_state]
        if bad:
            raise ValueError(f"indices {bad} are outside the accepted range [0, {n_state - 1}]")
        self.n_state, self.indices = n_state, idx

    def __call__(self, x):
        return self._check(x)[..., jnp.asarray(self.indices)]

    @property
    def n_obs(self) -> int:
        return len(self.indices)

    def matrix(self):
        return jnp.asarray(selection_matrix(self.n_state, self.indices))

    @property
    def positions(self):
        return jnp.asarray(self.indices, dtype=float)


def every_other(n_state: int, start: int = 0) -> SubsetObservation:
    """Observe every other variable: indices ``start, start+2, ...`` (``start`` in {0, 1})."""
    if start not in (0, 1):
        raise ValueError(f"start must be 0 or 1, got {start!r}")
    return SubsetObservation(n_state, range(start, n_state, 2))


class LinearObservation(ObservationOperator):
    """Generic linear operator y = H x with a dense ``(p, n)`` matrix ``H``.

    ``positions`` (``(p,)``) defaults to the column of the largest ``|H_ij|`` of each row.
    """

    H: jnp.ndarray
    obs_positions: jnp.ndarray
    n_state: int = eqx.field(static=True)

    def __init__(self, H, positions=None):
        H = jnp.asarray(H, dtype=float)
        if H.ndim != 2:
            raise ValueError(f"H must be a 2-D (p, n) matrix, got shape {H.shape}")
        self.H = H
        self.n_state = int(H.shape[1])
        if positions is None:
            positions = np.argmax(np.abs(np.asarray(H)), axis=1)
        positions = jnp.asarray(positions, dtype=float)
        if positions.shape != (H.shape[0],):
            raise ValueError(f"positions must have shape ({H.shape[0]},), got {positions.shape}")
        self.obs_positions = positions

    def __call__(self, x):
        return self._check(x) @ self.H.T

    @property
    def n_obs(self) -> int:
        return int(self.H.shape[0])

    @property
    def positions(self):
        return self.obs_positions

    def matrix(self):
        return self.H


def make_observation_operator(kind: str, n_state: int) -> ObservationOperator:
    """Build an operator by name: ``"identity"``, ``"every_other"``."""
    if kind == "identity":
        return IdentityObservation(n_state)
    if kind == "every_other":
        return every_other(n_state)
    raise ValueError(
        f"observation operator {kind!r} is not supported. Supported operators are: "
        "identity, every_other (or build a LinearObservation(H) in Python)"
    )


def point_observation(model, variable: str, points) -> LinearObservation:
    """Observe ``variable`` of ``model``'s state at scattered points: a :class:`LinearObservation`
    whose H ``(p, n)`` interpolates linearly along each of the variable's named dims
    (:func:`pyclimaocean.observations.state_matrix`, from the model's coordinates).

    ``points`` is ``{dim: (p,) coordinates}`` for every dim of the variable (e.g.
    ``{"k": [2.5, 10.0]}`` for Lorenz-96); positions (for localisation) are the coordinates
    along the variable's last dim.
    """
    table = {v.name: v for v in model.variables()}
    if variable not in table:
        raise ValueError(f"{variable!r} is not a variable of the {model.name} model. "
                         f"Variables are: {', '.join(table)}")
    var = table[variable]
    _, coords, clamps = model_axes(model)
    H = state_matrix(var, coords, points, clamps=clamps)
    return LinearObservation(H, np.asarray(points[var.dims[-1]], dtype=float))
