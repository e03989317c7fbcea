"""Observations, observation errors and the observation operator.

Observations are an :class:`xarray.Dataset` with coordinates ``time`` (s since the start of
the run, the model's clock; decoded durations such as netCDF units ``"hours"`` are converted,
absolute dates are refused with the conversion to apply) and ``z`` (m, positive up, 0 at the surface).  Each observed
variable is a data variable with dims ``("time", "z")`` (profiles: ``T``, ``S``, ``u``,
``v``, ``e`` ...) or ``("time",)`` (scalar series such as ``mixed_layer_depth``).  ``NaN``
entries are "not observed", so variables may be observed at different depths and times.

Observation errors, per variable ``name`` (first match wins):

* data variable ``f"{name}_error_covariance"``, shape ``(k, k)`` with ``k`` the number of
  finite entries of ``name`` (C order over ``(time, z)``): a full covariance Γ (units²);
* data variable ``f"{name}_error_std"`` with the same dims as ``name``: diagonal σ per point;
* attribute ``ds[name].attrs["error_std"]`` (scalar σ, same units as the variable).

Different variables are independent (Γ is block diagonal over variables).

The :class:`ObservationOperator` ℋ maps model outputs (a mapping or object whose attributes
are arrays of shape ``(nt_model, nz)``) to the vector of predicted observations ``(m,)``:
linear interpolation in time onto the observation times, linear interpolation in z onto the
observation depths (both precomputed as matrices, so ℋ is linear in the fields and cheap to
differentiate), and derived quantities (e.g. :func:`mixed_layer_depth`) computed
differentiably from the profiles before the time interpolation.

The operators are the shared named-dimension family of :mod:`pyclimaocean.observations`
(also used by data assimilation): :meth:`ObservationOperator.from_model` builds ℋ for any
model from its variable metadata (observable: its variables and named diagnostics, along their
dims — ``time``, ``z``, ``k``, ``y``, ``x`` ... — or at scattered points), and
:func:`model_observations` writes synthetic observations of any model with its CF metadata.
:meth:`ObservationOperator.from_dataset` is the column-profile form ``(time, z)`` kept for
callers that pass ``model_z`` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..io.cf import time_attributes
from ..observations import operators as _ops
from ..observations.operators import (
    FieldOperator,
    ObservationError,
    field_operator,
    interpolation_matrix,
    observed_values,
    observed_variables,
)

__all__ = [
    "ObservationError",
    "DiagonalNoise",
    "FullNoise",
    "ObservationOperator",
    "FieldOperator",
    "model_observations",
    "mixed_layer_depth",
    "DERIVED_QUANTITIES",
    "interpolation_matrix",
    "observation_vector",
    "synthetic_observations",
]


# ----------------------------------------------------------------------------------------
# noise models
# ----------------------------------------------------------------------------------------
class DiagonalNoise(eqx.Module):
    """Independent Gaussian errors with standard deviations σ ``(m,)`` (observation units)."""

    std: jax.Array

    def whiten(self, residual):
        """``Γ^{-1/2} r`` for a residual ``r`` of shape ``(m,)``."""
        return residual / self.std

    def covariance(self):
        """Dense Γ ``(m, m)``."""
        return jnp.diag(self.std**2)

    def log_det(self):
        """log det Γ."""
        return 2.0 * jnp.sum(jnp.log(self.std))

    @property
    def size(self) -> int:
        return int(self.std.shape[-1])


class FullNoise(eqx.Module):
    """Correlated Gaussian errors, Γ = L Lᵀ with the lower Cholesky factor ``L`` ``(m, m)``."""

    cholesky: jax.Array

    def whiten(self, residual):
        return jax.scipy.linalg.solve_triangular(self.cholesky, residual, lower=True)

    def covariance(self):
        return self.cholesky @ self.cholesky.T

    def log_det(self):
        return 2.0 * jnp.sum(jnp.log(jnp.diagonal(self.cholesky)))

    @property
    def size(self) -> int:
        return int(self.cholesky.shape[-1])


def _block_noise(blocks: Sequence[tuple[str, np.ndarray]]):
    """Combine per-variable ('diag', σ) / ('full', Γ) blocks into one noise model."""
    if all(kind == "diag" for kind, _ in blocks):
        std = np.concatenate([b for _, b in blocks]) if blocks else np.zeros(0)
        return DiagonalNoise(jnp.asarray(std, dtype=float))
    mats = [np.diag(b**2) if kind == "diag" else b for kind, b in blocks]
    m = sum(a.shape[0] for a in mats)
    cov = np.zeros((m, m))
    i = 0
    for a in mats:
        k = a.shape[0]
        cov[i : i + k, i : i + k] = a
        i += k
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ObservationError("an observation error covariance is not positive definite") from None
    return FullNoise(jnp.asarray(chol))


# ----------------------------------------------------------------------------------------
# interpolation and derived quantities
# ----------------------------------------------------------------------------------------
_cell_thickness = _ops.cell_thickness


def mixed_layer_depth(temperature, z, *, threshold: float = 0.1, smoothing: float | None = None):
    """Differentiable mixed-layer depth h (m, positive) from temperature profiles.

    h = Σₖ Δzₖ · σ((ΔT − (T_top − Tₖ)) / w): the thickness of the cells whose temperature is
    within ΔT = ``threshold`` (K) of the top-cell temperature, with the step function
    replaced by a logistic σ of width w = ``smoothing`` (K, default ΔT/4).  For a well-mixed
    layer over a stratified interior this is the usual threshold criterion (de Boyer Montégut
    et al. 2004 use ΔT = 0.2 K); smoothing makes it differentiable in the parameters.

    Args:
        temperature: ``(..., nz)`` temperature T (°C or K).
        z: ``(nz,)`` cell-centre heights (m, positive up).
    Returns:
        ``(...)`` mixed-layer depth (m).
    """
    z = np.asarray(z, dtype=float)
    w = threshold / 4.0 if smoothing is None else smoothing
    top = int(np.argmax(z))
    dz = jnp.asarray(_cell_thickness(z))
    t_top = temperature[..., top : top + 1]
    inside = jax.nn.sigmoid((threshold - (t_top - temperature)) / w)
    return jnp.sum(inside * dz, axis=-1)


#: derived quantities: name -> (source field, function(field (nt, nz), z, **attrs) -> (nt,))
DERIVED_QUANTITIES: dict[str, tuple[str, Callable[..., Any]]] = {
    "mixed_layer_depth": ("T", mixed_layer_depth),
}
_DERIVED_ATTRS = {"mixed_layer_depth": ("threshold", "smoothing")}


# ----------------------------------------------------------------------------------------
# the operator
# ----------------------------------------------------------------------------------------
class ObservationOperator(_ops.ObservationOperator):
    """ℋ: model outputs -> predicted observations ``(m,)`` (concatenated over variables).

    The shared operator of :mod:`pyclimaocean.observations` (build it for any model with
    :meth:`from_model`), plus :meth:`from_dataset` for column profiles given ``model_z``.
    It is linear in the output fields (except for derived quantities) and holds its weights
    as array leaves, so operators with the same shapes can be stacked and ``vmap`` ped over
    cases.
    """

    @classmethod
    def from_dataset(
        cls,
        ds: xr.Dataset,
        model_times,
        model_z,
        variables: Sequence[str] | None = None,
        *,
        domain_depth: float | None = None,
    ) -> ObservationOperator:
        """Operator for ``(time, z)`` profiles and ``(time,)`` derived series of ``ds``
        (default: all variables without an ``_error_`` suffix).

        Args:
            ds: observations (see module docstring).
            model_times: ``(nt_model,)`` times (s) of the saved model outputs.
            model_z: ``(nz,)`` model cell-centre heights (m).
            domain_depth: depth of the domain (m, positive); observations between the deepest
                cell centre and ``-domain_depth`` (or between the top centre and 0) take the
                nearest cell value.  Default: half a cell below the deepest centre.
        """
        variables = _variables(ds, variables)
        model_times = np.asarray(model_times, dtype=float)
        model_z = np.asarray(model_z, dtype=float)
        dz = _cell_thickness(model_z)
        bottom = (
            -abs(domain_depth) if domain_depth is not None else float(np.min(model_z - dz / 2))
        )
        coords = {"time": model_times, "z": model_z}
        maps = []
        for name in variables:
            da = ds[name]
            _check_dims(da, name)
            if "time" not in da.dims:
                raise ObservationError(f"observed variable {name!r} needs a 'time' dimension")
            if name in DERIVED_QUANTITIES:
                if "z" in da.dims:
                    raise ObservationError(f"derived quantity {name!r} must have dims ('time',)")
                source, fn = DERIVED_QUANTITIES[name]
                kwargs = tuple(
                    (k, float(da.attrs[k])) for k in _DERIVED_ATTRS.get(name, ()) if k in da.attrs
                )
                maps.append(field_operator(
                    da, name, field_dims=("time",), coordinates=coords, source=source,
                    derive=_derived_series(fn), derive_kwargs=(("z", tuple(model_z.tolist())),) + kwargs))
                continue
            if "z" not in da.dims:
                raise ObservationError(
                    f"observed variable {name!r} needs dims ('time', 'z'); only derived quantities "
                    f"({', '.join(DERIVED_QUANTITIES)}) may be time series"
                )
            maps.append(field_operator(da, name, field_dims=("time", "z"), coordinates=coords,
                                       clamps={"z": (bottom, 0.0)}))
        return cls(tuple(maps))


_SERIES: dict[Callable, Callable] = {}


def _derived_series(fn):
    """``f(field (nt, nz), z=tuple, **kw) -> (nt,)`` for a derived quantity (one function object
    per quantity, so that operators compare equal and batch)."""
    if fn not in _SERIES:
        def series(field, z, **kwargs):
            if field.ndim != 2:
                raise ObservationError(f"model output must have shape (time, z), got {field.shape}")
            return fn(field, np.asarray(z), **kwargs)

        _SERIES[fn] = series
    return _SERIES[fn]


def _variables(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
    return observed_variables(ds, variables)


def observation_seconds(time: xr.DataArray) -> np.ndarray:
    """Observation times as float seconds since the start of the run (numbers, durations, or
    dates decoded from pyclimaocean's own time units; other dates are refused with the
    conversion to apply — see :func:`pyclimaocean.io.cf.seconds_since_start`)."""
    return _ops.observation_times(time)


def _check_dims(da: xr.DataArray, name: str) -> None:
    extra = [d for d in da.dims if d not in ("time", "z")]
    if extra:
        raise ObservationError(
            f"observed variable {name!r} has dims {da.dims}; accepted dims are ('time', 'z')"
        )


def observation_vector(ds: xr.Dataset, variables: Sequence[str] | None = None,
                       field_dims: Mapping[str, Sequence[str]] | None = None):
    """Observed values ``y`` ``(m,)`` and the matching noise model (same order as ℋ).

    ``field_dims`` (``ObservationOperator.field_dims``) gives the model axes of each variable
    for observations of any shape; without it, variables are ``(time, z)`` or ``(time,)``.
    Returns ``(y, noise)`` with ``noise`` a :class:`DiagonalNoise` or :class:`FullNoise`.
    """
    variables = _variables(ds, variables)
    ys, blocks = [], []

    def flat(da, name):
        if field_dims is not None:
            return observed_values(da, field_dims[name], name)
        dims = [d for d in ("time", "z") if d in da.dims]
        return np.asarray(da.transpose(*dims).values, float).reshape(-1)

    for name in variables:
        da = ds[name]
        if field_dims is None:
            _check_dims(da, name)
        values = flat(da, name)
        finite = np.isfinite(values)
        ys.append(values[finite])
        k = int(finite.sum())
        if f"{name}_error_covariance" in ds:
            cov = np.asarray(ds[f"{name}_error_covariance"].values, float)
            if cov.shape != (k, k):
                raise ObservationError(
                    f"{name}_error_covariance has shape {cov.shape}; expected ({k}, {k}) "
                    f"(the number of finite {name} values)"
                )
            if not np.allclose(cov, cov.T):
                raise ObservationError(f"{name}_error_covariance is not symmetric")
            smallest = float(np.linalg.eigvalsh(0.5 * (cov + cov.T))[0]) if k else 1.0
            if not smallest > 0:
                raise ObservationError(
                    f"{name}_error_covariance is not positive definite (smallest eigenvalue "
                    f"{smallest:.3g}); an error covariance needs every eigenvalue > 0"
                )
            blocks.append(("full", cov))
        elif f"{name}_error_std" in ds:
            std = flat(ds[f"{name}_error_std"], name)
            blocks.append(("diag", std[finite]))
        elif "error_std" in da.attrs:
            blocks.append(("diag", np.full(k, float(da.attrs["error_std"]))))
        else:
            raise ObservationError(
                f"observed variable {name!r} has no error: give attrs['error_std'], a "
                f"'{name}_error_std' variable or a '{name}_error_covariance' matrix"
            )
        kind, b = blocks[-1]
        bad = (b <= 0).any() if kind == "diag" else (np.diag(b) <= 0).any()
        if bad or not np.all(np.isfinite(b)):
            raise ObservationError(f"observation errors of {name!r} must be finite and > 0")
    return jnp.asarray(np.concatenate(ys)), _block_noise(blocks)


# ----------------------------------------------------------------------------------------
# synthetic observations
# ----------------------------------------------------------------------------------------
_ATTRS = {
    "T": ("degC", "sea_water_conservative_temperature", "temperature"),
    "S": ("g kg-1", "sea_water_absolute_salinity", "salinity"),
    "u": ("m s-1", "eastward_sea_water_velocity", "zonal velocity"),
    "v": ("m s-1", "northward_sea_water_velocity", "meridional velocity"),
    "e": ("m2 s-2", None, "turbulent kinetic energy"),
    "mixed_layer_depth": (
        "m",
        "ocean_mixed_layer_thickness_defined_by_temperature",
        "mixed-layer depth (temperature threshold)",
    ),
}


def synthetic_observations(
    outputs,
    model_times,
    model_z,
    *,
    times,
    z,
    error_std: Mapping[str, float],
    key: jax.Array | None = None,
    derived_attrs: Mapping[str, Mapping[str, float]] | None = None,
    domain_depth: float | None = None,
) -> xr.Dataset:
    """Observations of a (truth) model run, with Gaussian noise, as a CF-annotated Dataset.

    Args:
        outputs: model outputs (mapping/object of ``(nt_model, nz)`` arrays).
        model_times: ``(nt_model,)`` s; model_z: ``(nz,)`` m.
        times: observation times (s); z: observation heights (m, negative below the surface).
        error_std: σ per observed variable (its units); these are also the noise levels.
        key: PRNG key for the noise (``None``: noise-free observations, σ still recorded).
        derived_attrs: settings of derived quantities (``{"mixed_layer_depth": {"threshold": 0.1}}``).
    """
    times = np.asarray(times, dtype=float)
    z = np.asarray(z, dtype=float)
    derived_attrs = dict(derived_attrs or {})
    ds = xr.Dataset(
        coords={
            "time": ("time", times, time_attributes(long_name="observation time")),
            "z": ("z", z, {"units": "m", "standard_name": "height", "positive": "up", "long_name": "height"}),
        }
    )
    for name, sigma in error_std.items():
        if not sigma > 0:
            raise ObservationError(f"error_std[{name!r}] = {sigma} must be > 0")
        attrs = {"error_std": float(sigma)}
        attrs.update({k: float(v) for k, v in derived_attrs.get(name, {}).items()})
        dims = ("time",) if name in DERIVED_QUANTITIES else ("time", "z")
        shape = tuple(len(ds[d]) for d in dims)
        ds[name] = (dims, np.zeros(shape), attrs)
    op = ObservationOperator.from_dataset(ds, model_times, model_z, list(error_std), domain_depth=domain_depth)
    _fill_observed(ds, op, outputs, error_std, key)
    for name in op.variables:
        units, std_name, long_name = _ATTRS.get(name, ("1", None, name))
        ds[name].attrs.update({"units": units, "long_name": f"observed {long_name}"})
        if std_name:
            ds[name].attrs["standard_name"] = std_name
    ds.attrs["title"] = "synthetic observations"
    ds.attrs["Conventions"] = "CF-1.10"
    ds.attrs["noise"] = "gaussian" if key is not None else "none"
    return ds


def model_observations(
    model,
    outputs,
    model_times,
    *,
    error_std: Mapping[str, float],
    times=None,
    at: Mapping[str, Sequence[float]] | None = None,
    key: jax.Array | None = None,
) -> xr.Dataset:
    """Observations of any model's outputs, with Gaussian noise, as a CF-annotated Dataset.

    The observed names are the keys of ``error_std``: the model's variables (observed on their
    dims, at the model coordinates or at ``at[dim]``) and its named diagnostics (time series).
    Attributes come from the model's variable metadata (``units``, ``standard_name``,
    ``long_name``), the time coordinate from :meth:`~pyclimaocean.core.AbstractModel.time_attributes`.

    Args:
        model: an :class:`~pyclimaocean.core.AbstractModel` (metadata only).
        outputs: ``{name: (nt_model, *dims)}`` model outputs (``output_fields`` and diagnostics).
        model_times: ``(nt_model,)`` times of the outputs (model clock).
        error_std: σ per observed name (its units); also the noise level.
        times: observation times (default: every output); at: ``{dim: values}`` observation
            coordinates along a dim (default: the model's), e.g. ``{"z": [-30, -10]}``.
        key: PRNG key for the noise (``None``: noise-free observations, σ still recorded).
    """
    field_dims, coords, _ = _ops.model_axes(model)
    meta = {v.name: v for v in model.variables()}
    cattrs = {c.name: dict(c.attrs) for c in model.coordinates()}
    at = {k: np.asarray(v, dtype=float) for k, v in (at or {}).items()}
    times = np.asarray(model_times if times is None else times, dtype=float)
    tattrs = dict(model.time_attributes())
    tattrs["long_name"] = "observation time"
    ds = xr.Dataset(coords={"time": ("time", times, tattrs)})
    for name, sigma in error_std.items():
        if name not in field_dims:
            raise ObservationError(
                f"{name!r} is not observable in the {model.name} model. Observable: {', '.join(field_dims)}")
        if not sigma > 0:
            raise ObservationError(f"error_std[{name!r}] = {sigma} must be > 0")
        dims = field_dims[name]
        for d in dims[1:]:
            if d not in ds.coords:
                ds = ds.assign_coords({d: (d, at.get(d, coords[d]), cattrs.get(d, {}))})
        ds[name] = (dims, np.zeros(tuple(len(ds[d]) for d in dims)), {"error_std": float(sigma)})
    op = ObservationOperator.from_model(ds, model, model_times, list(error_std))
    _fill_observed(ds, op, outputs, error_std, key)
    for name in op.variables:
        if name in meta:
            attrs = {k: v for k, v in meta[name].cf_attributes().items()
                     if k in ("units", "standard_name", "long_name")}
            attrs["long_name"] = f"observed {attrs['long_name']}"
        else:
            attrs = {"long_name": f"observed diagnostic {name} of the {model.name} model"}
        ds[name].attrs.update(attrs)
    ds.attrs.update({"title": f"synthetic observations of the {model.name} model",
                     "Conventions": "CF-1.10", "noise": "gaussian" if key is not None else "none",
                     "model": model.name})
    return ds


def _fill_observed(ds, op, outputs, error_std, key) -> None:
    """Write ``op(outputs)`` (plus N(0, σ²) noise per variable when ``key`` is given) into the
    observed variables of ``ds``, in the operator's order."""
    clean = np.asarray(op(outputs))
    if key is not None:
        noise = np.asarray(jax.random.normal(key, clean.shape))
        sig = np.concatenate([np.full(n, error_std[v]) for v, n in zip(op.variables, op.sizes, strict=True)])
        clean = clean + sig * noise
    i = 0
    for name, n in zip(op.variables, op.sizes, strict=True):
        ds[name].values = clean[i : i + n].reshape(ds[name].shape)
        i += n
