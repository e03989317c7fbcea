"""Observation operators with named dimensions, built from a model's variable metadata.

One family serves calibration (:mod:`pyclimaocean.calibration.observations`: time series of
model outputs) and data assimilation (:mod:`pyclimaocean.assimilation.observations`: one
state at a time).  A model field is an array whose axes are named: ``("time",) + dims`` with
``dims`` from its :class:`~pyclimaocean.core.Variable` (``("z",)`` for a column profile,
``("k",)`` for Lorenz-96, ``("y", "x")`` or ``("z", "y", "x")`` for a basin; a scalar
diagnostic has ``()``).  An observed quantity is an :class:`xarray.DataArray` whose dims say
how it samples the field, axis by axis:

* **gridded** axis: the observation has the model's dim name (``time``, ``z``, ``k`` ...) with
  its own coordinate values — linear interpolation onto them (selection when they coincide
  with model coordinates);
* **scattered points**: the observation has one extra dim (any name not a model dim, e.g.
  ``obs`` or ``profile``) and, along it, 1-D coordinates named after the model dims it samples
  (``time(profile)``, ``x(profile)``, ``y(profile)``) — the field is interpolated at each
  point in those dims jointly.  Gridded and point axes combine: profiles at scattered
  positions and times are ``dims ("profile", "z")`` with coordinates ``time(profile)``,
  ``x(profile)``, ``y(profile)``, ``z(z)``.

Every axis gets a linear-weight matrix W_d (``(n_obs_d, n_model_d)``, or
``(n_points, n_model_d)`` for point axes), precomputed from the coordinates, so ℋ is linear in
the field, cheap to differentiate, and its weights are pytree leaves (operators of equal shapes
stack and ``vmap`` over cases)::

    H(f)[p, j, ...] = Σ_{a, b, ...} W_time[p, a] W_x[p, b] ... W_z[j, c] ... f[a, b, ..., c, ...]

Observed values are ordered as ``(point dim, gridded dims in field order)`` flattened in C
order, ``NaN`` entries dropped (not observed); :func:`observed_values` returns them in that
order so y and ℋ always line up.  Targets outside a model coordinate's range are refused,
except inside its cell bounds (``Coordinate.bounds``), where the nearest value is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..core.dataset import seconds_since_start
from ..params import ParameterError

__all__ = [
    "FieldOperator",
    "ObservationError",
    "ObservationOperator",
    "axis_weights",
    "cell_thickness",
    "field_operator",
    "interpolation_matrix",
    "model_axes",
    "observation_times",
    "observed_values",
    "observed_variables",
    "sampling",
    "selection_matrix",
    "state_matrix",
]


class ObservationError(ParameterError):
    """Observations are malformed (bad dims, missing errors, times outside the run...)."""


# ----------------------------------------------------------------------------------------
# weights along one axis
# ----------------------------------------------------------------------------------------
def interpolation_matrix(
    source: np.ndarray, target: np.ndarray, *, name: str, clamp: tuple[float, float] | None = None
) -> np.ndarray:
    """Matrix ``W`` ``(len(target), len(source))`` of linear-interpolation weights.

    ``W @ f(source) ≈ f(target)``.  ``source`` may be ascending or descending.  Targets outside
    ``[min(source), max(source)]`` raise :class:`ObservationError`, unless they lie inside
    ``clamp = (lo, hi)``, in which case the nearest end value is used (constant extrapolation:
    used in z between the outermost cell centres and the domain's faces).
    """
    source = np.asarray(source, dtype=float).reshape(-1)
    target = np.asarray(target, dtype=float).reshape(-1)
    order = np.argsort(source)
    s = source[order]
    lo, hi = s[0], s[-1]
    W = np.zeros((target.size, source.size))
    for i, t in enumerate(target):
        if t < lo or t > hi:
            ok = clamp is not None and clamp[0] - 1e-9 <= t <= clamp[1] + 1e-9
            if not ok:
                rng = clamp if clamp is not None else (lo, hi)
                raise ObservationError(
                    f"observation {name} = {t} is outside the model range [{rng[0]}, {rng[1]}]"
                )
            W[i, order[0] if t < lo else order[-1]] = 1.0
            continue
        if s.size == 1:
            W[i, order[0]] = 1.0
            continue
        j = int(np.searchsorted(s, t, side="right")) - 1
        j = min(max(j, 0), s.size - 2)
        w = (t - s[j]) / (s[j + 1] - s[j])
        W[i, order[j]] += 1.0 - w
        W[i, order[j + 1]] += w
    return W


def selection_matrix(n: int, indices: Sequence[int], *, name: str = "index") -> np.ndarray:
    """One-hot rows ``(len(indices), n)``: selects entries ``indices`` of an axis of length n."""
    idx = np.asarray(indices, dtype=int).reshape(-1)
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise ObservationError(f"{name} {bad.tolist()} outside the accepted range [0, {n - 1}]")
    W = np.zeros((idx.size, n))
    W[np.arange(idx.size), idx] = 1.0
    return W


def cell_thickness(z: np.ndarray) -> np.ndarray:
    """Cell thicknesses Δz (m) from cell-centre heights ``z`` (top face midway above the top
    centre at half a spacing, interior faces midway between centres)."""
    z = np.asarray(z, dtype=float)
    order = np.argsort(z)
    s = z[order]
    if s.size == 1:
        return np.array([2.0 * abs(s[0])])
    faces = np.concatenate([[s[0] - (s[1] - s[0]) / 2], (s[1:] + s[:-1]) / 2, [s[-1] + (s[-1] - s[-2]) / 2]])
    dz_sorted = np.diff(faces)
    dz = np.empty_like(dz_sorted)
    dz[order] = dz_sorted
    return dz


def axis_weights(dim: str, source, targets, *, clamp: tuple[float, float] | None = None) -> np.ndarray:
    """Weights ``(len(targets), len(source))`` along the named axis ``dim`` (linear
    interpolation; exact selection where targets coincide with model coordinates)."""
    return interpolation_matrix(source, targets, name=dim, clamp=clamp)


def observation_times(time) -> np.ndarray:
    """Observation times as floats in the model's clock (numbers, durations, or dates decoded
    from pyclimaocean's own time units; other dates are refused with the conversion to apply —
    see :func:`pyclimaocean.core.seconds_since_start`)."""
    try:
        return seconds_since_start(time)
    except ValueError as err:
        raise ObservationError(f"observation {err}") from None


# ----------------------------------------------------------------------------------------
# how an observation samples a field
# ----------------------------------------------------------------------------------------
def sampling(da: xr.DataArray, field_dims: Sequence[str], name: str) -> tuple[str | None, tuple[str, ...]]:
    """``(point dim or None, gridded dims in field order)`` of observation ``da`` of a field
    with axes ``field_dims`` (see the module docstring); :class:`ObservationError` names the
    dims when they do not fit."""
    field_dims = tuple(field_dims)
    extra = [d for d in da.dims if d not in field_dims]
    if len(extra) > 1:
        raise ObservationError(
            f"observed variable {name!r} has dims {da.dims}; the model field has dims "
            f"{field_dims}; at most one other dim (a dim of scattered points) is accepted"
        )
    point = extra[0] if extra else None
    for d in field_dims:
        if d in da.dims:
            continue
        c = da.coords.get(d)
        if point is None or c is None or c.dims != (point,):
            where = f"a coordinate {d}({point}) along its points" if point else f"a {d!r} dim"
            raise ObservationError(
                f"observed variable {name!r} has dims {da.dims}; the model field has dims "
                f"{field_dims}: give {where}, or observe along {d!r}"
            )
    return point, tuple(d for d in field_dims if d in da.dims)


def observed_values(da: xr.DataArray, field_dims: Sequence[str], name: str) -> np.ndarray:
    """Values of ``da`` flattened in the order of :class:`FieldOperator` (NaN kept)."""
    point, grid = sampling(da, field_dims, name)
    order = ((point,) if point else ()) + grid
    return np.asarray(da.transpose(*order).values, dtype=float).reshape(-1)


class FieldOperator(eqx.Module):
    """ℋ for one observed quantity: a field ``(nt, *dims)`` -> observed values ``(k,)``.

    Attributes:
        weights: one matrix per field axis (``(n_target, n_model)``; ``n_target`` the number of
            points for point axes).
        name: observed name; source: key of the field in the model outputs.
        dims: field axes (``"time"`` first); point: which axes are sampled at scattered points.
        index: flat indices of the observed (finite) entries.
        derive: optional ``f(field, **kwargs)`` applied to the output ``source`` first (legacy
            derived quantities such as the smoothed mixed-layer depth); derive_kwargs: its
            keyword arguments (hashable).
    """

    weights: tuple[jax.Array, ...]
    name: str = eqx.field(static=True)
    source: str = eqx.field(static=True)
    dims: tuple[str, ...] = eqx.field(static=True)
    point: tuple[bool, ...] = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)
    derive: Callable[..., Any] | None = eqx.field(static=True, default=None)
    derive_kwargs: tuple[tuple[str, Any], ...] = eqx.field(static=True, default=())

    def apply(self, field):
        """All sampled values ``(n_points?, *n_grid)`` of a field ``(nt, *dims)``."""
        field = jnp.asarray(field)
        if field.ndim != len(self.dims):
            raise ObservationError(
                f"model output {self.source!r} must have axes {self.dims}, got shape {field.shape}"
            )
        letters = "abcdefghijklm"[: field.ndim]
        terms, out = [letters], ""
        if any(self.point):
            out = "P"
        for a, is_point in zip(letters, self.point, strict=True):
            if is_point:
                terms.append("P" + a)
            else:
                terms.append(a.upper() + a)
                out += a.upper()
        return jnp.einsum(",".join(terms) + "->" + out, field, *self.weights)

    def __call__(self, outputs):
        field = _get(outputs, self.source)
        if self.derive is not None:
            field = self.derive(jnp.asarray(field), **dict(self.derive_kwargs))
        return self.apply(field).reshape(-1)[np.asarray(self.index, dtype=int)]

    def weight(self, dim: str):
        """Weights along axis ``dim``."""
        return self.weights[self.dims.index(dim)]

    @property
    def time_weights(self):
        return self.weight("time")

    @property
    def size(self) -> int:
        return len(self.index)


def _get(outputs, name):
    if isinstance(outputs, Mapping):
        if name not in outputs:
            raise ObservationError(
                f"model outputs have no variable {name!r}; available: {sorted(outputs)}"
            )
        return outputs[name]
    if not hasattr(outputs, name):
        raise ObservationError(f"model outputs ({type(outputs).__name__}) have no field {name!r}")
    return getattr(outputs, name)


def field_operator(
    da: xr.DataArray,
    name: str,
    *,
    field_dims: Sequence[str],
    coordinates: Mapping[str, Any],
    clamps: Mapping[str, tuple[float, float]] | None = None,
    source: str | None = None,
    derive: Callable[..., Any] | None = None,
    derive_kwargs: tuple[tuple[str, Any], ...] = (),
) -> FieldOperator:
    """Build the :class:`FieldOperator` of observation ``da`` of a field with axes
    ``field_dims`` whose model coordinate values are ``coordinates[dim]`` (``"time"``: the
    times of the saved outputs, in the model's clock).  ``clamps[dim] = (lo, hi)``: targets
    outside the coordinates but inside ``[lo, hi]`` take the nearest value (cell bounds)."""
    clamps = dict(clamps or {})
    field_dims = tuple(field_dims)
    sampling(da, field_dims, name)  # refuses dims that do not fit
    weights, is_point = [], []
    for d in field_dims:
        if d not in coordinates:
            raise ObservationError(f"no model coordinate for dim {d!r} of {name!r}")
        coord = da.coords[d] if d in da.coords else None
        if coord is None:
            raise ObservationError(f"observed variable {name!r} has no coordinate values for dim {d!r}")
        target = observation_times(coord) if d == "time" else np.asarray(coord.values, dtype=float)
        weights.append(jnp.asarray(axis_weights(f"{name}.{d}", coordinates[d], target, clamp=clamps.get(d))))
        is_point.append(d not in da.dims)
    values = observed_values(da, field_dims, name)
    index = tuple(int(i) for i in np.flatnonzero(np.isfinite(values)))
    if not index:
        raise ObservationError(f"observed variable {name!r} has no finite values")
    return FieldOperator(tuple(weights), name, source or name, field_dims, tuple(is_point), index,
                         derive, derive_kwargs)


# ----------------------------------------------------------------------------------------
# operators of a model's outputs
# ----------------------------------------------------------------------------------------
def model_axes(model) -> tuple[dict[str, tuple[str, ...]], dict[str, np.ndarray], dict[str, tuple[float, float]]]:
    """From a model's metadata: ``(field dims, coordinate values, clamps)``.

    Field dims: ``{variable: ("time", *dims)}`` for every :meth:`variables` entry and
    ``{diagnostic: ("time",)}`` for every named :meth:`diagnostics` entry (scalars per state).
    Coordinates: ``{dim: values}`` from :meth:`coordinates` (``"time"`` is added by the
    caller); clamps: ``{dim: (min, max) of the cell bounds}`` where a coordinate has bounds.
    """
    dims = {v.name: ("time",) + tuple(v.dims) for v in model.variables()}
    for d in model.diagnostics():
        dims.setdefault(d, ("time",))
    coords, clamps = {}, {}
    for c in model.coordinates():
        cdims = c.dims or (c.name,)
        if cdims != (c.name,):
            continue
        coords[c.name] = np.asarray(c.values, dtype=float)
        if c.bounds is not None:
            b = np.asarray(c.bounds, dtype=float)
            clamps[c.name] = (float(b.min()), float(b.max()))
    return dims, coords, clamps


class ObservationOperator(eqx.Module):
    """ℋ: model outputs -> predicted observations ``(m,)``, concatenated over variables.

    Build it from a model's metadata with :meth:`from_model`.  It is linear in the output
    fields (except legacy derived quantities) and holds its weights as array leaves, so
    operators with the same shapes can be stacked and ``vmap`` ped over cases.
    """

    maps: tuple[FieldOperator, ...]

    @classmethod
    def from_model(cls, ds: xr.Dataset, model, model_times, variables: Sequence[str] | None = None):
        """Operator for observations ``ds`` of ``model``'s outputs saved at ``model_times``.

        Observable names are the model's variables and its named diagnostics; each observed
        variable's dims are matched against the model's (see the module docstring).
        """
        variables = observed_variables(ds, variables)
        field_dims, coords, clamps = model_axes(model)
        coords = dict(coords, time=np.asarray(model_times, dtype=float))
        maps = []
        for name in variables:
            if name not in field_dims:
                raise ObservationError(
                    f"{name!r} is not observable in the {model.name} model. Observable: "
                    f"{', '.join(field_dims)}"
                )
            maps.append(field_operator(ds[name], name, field_dims=field_dims[name],
                                       coordinates=coords, clamps=clamps))
        return cls(tuple(maps))

    def __call__(self, outputs):
        return jnp.concatenate([m(outputs) for m in self.maps])

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.maps)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(m.size for m in self.maps)

    @property
    def field_dims(self) -> dict[str, tuple[str, ...]]:
        return {m.name: m.dims for m in self.maps}


def observed_variables(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    """Observed variable names (default: every data variable without an ``_error_`` part)."""
    if variables is None:
        variables = [v for v in ds.data_vars if "_error_" not in str(v)]
    variables = list(variables)
    if not variables:
        raise ObservationError("no observed variables given")
    for v in variables:
        if v not in ds.data_vars:
            raise ObservationError(
                f"observed variable {v!r} is not in the observations; available: "
                + ", ".join(str(k) for k in ds.data_vars)
            )
    return variables


def state_matrix(variable, coordinates: Mapping[str, Any], targets: Mapping[str, Any], *,
                 clamps: Mapping[str, tuple[float, float]] | None = None) -> np.ndarray:
    """H ``(p, prod(dims))`` sampling one state field at ``p`` scattered points.

    ``variable`` is a :class:`~pyclimaocean.core.Variable` (its ``dims``), ``coordinates``
    ``{dim: model values}`` and ``targets`` ``{dim: (p,) point coordinates}`` for every dim:
    the data-assimilation form of :class:`FieldOperator` (one state, no time axis).
    """
    dims = tuple(variable.dims)
    missing = [d for d in dims if d not in targets]
    if missing:
        raise ObservationError(f"points of {variable.name!r} need coordinates for dims {missing}")
    sizes = [len(np.asarray(targets[d]).reshape(-1)) for d in dims]
    if len(set(sizes)) != 1:
        raise ObservationError(f"point coordinates of {variable.name!r} have different lengths {sizes}")
    clamps = dict(clamps or {})
    W = [axis_weights(f"{variable.name}.{d}", coordinates[d], targets[d], clamp=clamps.get(d)) for d in dims]
    letters = "abcdefghijklm"[: len(dims)]
    H = np.einsum(",".join("P" + a for a in letters) + "->P" + letters, *W)
    return H.reshape(sizes[0], -1)
