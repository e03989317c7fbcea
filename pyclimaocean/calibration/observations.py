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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..io.cf import seconds_since_start, time_attributes
from ..params import ParameterError

__all__ = [
    "ObservationError",
    "DiagonalNoise",
    "FullNoise",
    "ObservationOperator",
    "mixed_layer_depth",
    "DERIVED_QUANTITIES",
    "interpolation_matrix",
    "observation_vector",
    "synthetic_observations",
]


class ObservationError(ParameterError):
    """Observations are malformed (bad dims, missing errors, times outside the run...)."""


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
def interpolation_matrix(
    source: np.ndarray, target: np.ndarray, *, name: str, clamp: tuple[float, float] | None = None
) -> np.ndarray:
    """Matrix ``W`` ``(len(target), len(source))`` of linear-interpolation weights.

    ``W @ f(source) ≈ f(target)``.  ``source`` may be ascending or descending.  Targets outside
    ``[min(source), max(source)]`` raise :class:`ObservationError`, unless they lie inside
    ``clamp = (lo, hi)``, in which case the nearest end value is used (constant extrapolation:
    used in z between the outermost cell centres and the domain's faces).
    """
    source = np.asarray(source, dtype=float)
    target = np.asarray(target, dtype=float)
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
        j = int(np.searchsorted(s, t, side="right")) - 1
        j = min(max(j, 0), s.size - 2) if s.size > 1 else 0
        if s.size == 1:
            W[i, order[0]] = 1.0
            continue
        w = (t - s[j]) / (s[j + 1] - s[j])
        W[i, order[j]] += 1.0 - w
        W[i, order[j + 1]] += w
    return W


def _cell_thickness(z: np.ndarray) -> np.ndarray:
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


# ----------------------------------------------------------------------------------------
# the operator
# ----------------------------------------------------------------------------------------
class _VariableMap(eqx.Module):
    """ℋ for one variable: time weights ``(nt_obs, nt_model)``, z weights ``(nz_obs, nz)``."""

    time_weights: jax.Array
    z_weights: jax.Array | None
    name: str = eqx.field(static=True)
    source: str = eqx.field(static=True)
    index: tuple[int, ...] = eqx.field(static=True)  # flat indices of observed (finite) entries
    derived_kwargs: tuple[tuple[str, float], ...] = eqx.field(static=True, default=())
    model_z: tuple[float, ...] = eqx.field(static=True, default=())

    def __call__(self, outputs):
        field = jnp.asarray(_get(outputs, self.source))
        if field.ndim != 2:
            raise ObservationError(
                f"model output {self.source!r} must have shape (time, z), got {field.shape}"
            )
        if self.name in DERIVED_QUANTITIES:
            fn = DERIVED_QUANTITIES[self.name][1]
            series = fn(field, np.asarray(self.model_z), **dict(self.derived_kwargs))  # (nt,)
            grid = self.time_weights @ series  # (nt_obs,)
        else:
            grid = self.time_weights @ field @ self.z_weights.T  # (nt_obs, nz_obs)
        return grid.reshape(-1)[np.asarray(self.index, dtype=int)]


class ObservationOperator(eqx.Module):
    """ℋ: model outputs -> predicted observations ``(m,)`` (concatenated over variables).

    Build it with :meth:`from_dataset`.  It is linear in the output fields (except for
    derived quantities) and holds its weights as array leaves, so operators with the same
    shapes can be stacked and ``vmap`` ped over cases.
    """

    maps: tuple[_VariableMap, ...]

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
        """Operator for the variables of ``ds`` (default: all without an ``_error_`` suffix).

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
        maps = []
        for name in variables:
            da = ds[name]
            _check_dims(da, name)
            if "time" not in da.dims:
                raise ObservationError(f"observed variable {name!r} needs a 'time' dimension")
            t_obs = observation_seconds(ds["time"])
            Wt = interpolation_matrix(model_times, t_obs, name=f"{name}.time")
            values = np.asarray(da.transpose(*[d for d in ("time", "z") if d in da.dims]).values, float)
            index = tuple(int(i) for i in np.flatnonzero(np.isfinite(values.reshape(-1))))
            if not index:
                raise ObservationError(f"observed variable {name!r} has no finite values")
            if name in DERIVED_QUANTITIES:
                if "z" in da.dims:
                    raise ObservationError(f"derived quantity {name!r} must have dims ('time',)")
                source = DERIVED_QUANTITIES[name][0]
                kwargs = tuple(
                    (k, float(da.attrs[k])) for k in _DERIVED_ATTRS.get(name, ()) if k in da.attrs
                )
                maps.append(
                    _VariableMap(
                        jnp.asarray(Wt), None, name, source, index, kwargs, tuple(model_z.tolist())
                    )
                )
                continue
            if "z" not in da.dims:
                raise ObservationError(
                    f"observed variable {name!r} needs dims ('time', 'z'); only derived quantities "
                    f"({', '.join(DERIVED_QUANTITIES)}) may be time series"
                )
            Wz = interpolation_matrix(
                model_z, np.asarray(ds["z"].values, float), name=f"{name}.z", clamp=(bottom, 0.0)
            )
            maps.append(_VariableMap(jnp.asarray(Wt), jnp.asarray(Wz), name, name, index))
        return cls(tuple(maps))

    def __call__(self, outputs):
        return jnp.concatenate([m(outputs) for m in self.maps])

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.maps)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(m.index) for m in self.maps)


def _variables(ds: xr.Dataset, variables: Sequence[str] | None) -> list[str]:
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


def observation_seconds(time: xr.DataArray) -> np.ndarray:
    """Observation times as float seconds since the start of the run (numbers, durations, or
    dates decoded from pyclimaocean's own time units; other dates are refused with the
    conversion to apply — see :func:`pyclimaocean.io.cf.seconds_since_start`)."""
    try:
        return seconds_since_start(time)
    except ValueError as err:
        raise ObservationError(f"observation {err}") from None


def _check_dims(da: xr.DataArray, name: str) -> None:
    extra = [d for d in da.dims if d not in ("time", "z")]
    if extra:
        raise ObservationError(
            f"observed variable {name!r} has dims {da.dims}; accepted dims are ('time', 'z')"
        )


def observation_vector(ds: xr.Dataset, variables: Sequence[str] | None = None):
    """Observed values ``y`` ``(m,)`` and the matching noise model (same order as ℋ).

    Returns ``(y, noise)`` with ``noise`` a :class:`DiagonalNoise` or :class:`FullNoise`.
    """
    variables = _variables(ds, variables)
    ys, blocks = [], []
    for name in variables:
        da = ds[name]
        _check_dims(da, name)
        dims = [d for d in ("time", "z") if d in da.dims]
        values = np.asarray(da.transpose(*dims).values, float).reshape(-1)
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
            std = np.asarray(ds[f"{name}_error_std"].transpose(*dims).values, float).reshape(-1)
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
    clean = np.asarray(op(outputs))
    if key is not None:
        noise = np.asarray(jax.random.normal(key, clean.shape))
        sig = np.concatenate([np.full(n, error_std[v]) for v, n in zip(op.variables, op.sizes, strict=True)])
        clean = clean + sig * noise
    i = 0
    for name, n in zip(op.variables, op.sizes, strict=True):
        shape = ds[name].shape
        ds[name].values = clean[i : i + n].reshape(shape)
        units, std_name, long_name = _ATTRS.get(name, ("1", None, name))
        ds[name].attrs.update({"units": units, "long_name": f"observed {long_name}"})
        if std_name:
            ds[name].attrs["standard_name"] = std_name
        i += n
    ds.attrs["title"] = "synthetic observations"
    ds.attrs["Conventions"] = "CF-1.10"
    ds.attrs["noise"] = "gaussian" if key is not None else "none"
    return ds
