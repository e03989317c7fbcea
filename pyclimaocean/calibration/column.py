"""Calibration cases for the single-column model (:mod:`pyclimaocean.models.column`).

The column model's outputs are a stacked :class:`ColumnState`; :func:`column_simulator` turns
a model into a pure ``simulate(model) -> {"T", "S", "u", "v", "e": (n_out, nz)}`` that the
generic :class:`~pyclimaocean.calibration.Case` uses.  Simulators are cached per
``(n_steps, save_every, checkpoint_every)`` so that cases with the same clock share one
function object and are batched with ``vmap`` by :class:`~pyclimaocean.calibration.Problem`
(forcing differences are leaves of the model pytree).

Example (a twin experiment on two LES-like cases)::

    from pyclimaocean.models.column import setups
    models = {"free_convection": setups.free_convection(nz=16, depth=64.0),
              "wind": setups.wind_deepening(nz=16, depth=64.0, dt=600.0)}
    truth = models["free_convection"].default_parameters(["c_pen_c", "c_wind_ustar"])
    cases, obs = column_twin(models, truth, n_steps=144, save_every=36,
                             error_std={"T": 2e-3, "u": 2e-3})
    problem = Problem(controls, cases)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from ..params import ParameterError, ParameterSet
from .observations import synthetic_observations
from .problem import Case

__all__ = [
    "column_simulator",
    "column_output_times",
    "column_case",
    "column_twin",
    "FIELDS",
]

#: observable column fields: observation name -> ColumnState attribute
FIELDS = {"T": "temperature", "S": "salinity", "u": "u", "v": "v", "e": "tke"}

_SIMULATORS: dict[tuple, Callable[[Any], dict[str, Any]]] = {}


def column_simulator(n_steps: int, save_every: int, checkpoint_every: int | None | str = "auto"):
    """Cached pure function ``model -> {name: (n_steps // save_every, nz)}`` for :data:`FIELDS`."""
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ParameterError(f"n_steps = {n_steps!r} must be an int >= 1")
    if not (isinstance(save_every, int) and save_every >= 1 and n_steps % save_every == 0):
        raise ParameterError(f"save_every = {save_every!r} must be a positive int dividing n_steps = {n_steps}")
    key = (n_steps, save_every, checkpoint_every)
    if key not in _SIMULATORS:

        def simulate(model):
            _, out = model.run(None, n_steps, save_every=save_every, checkpoint_every=checkpoint_every)
            return {name: getattr(out, attr) for name, attr in FIELDS.items()}

        simulate.__name__ = f"simulate_column_{n_steps}_{save_every}"
        _SIMULATORS[key] = simulate
    return _SIMULATORS[key]


def column_output_times(model, n_steps: int, save_every: int) -> np.ndarray:
    """Times (s) of the saved outputs, ``(n_steps // save_every,)``."""
    return float(model.dt) * save_every * np.arange(1, n_steps // save_every + 1)


def column_case(
    model,
    observations: xr.Dataset,
    *,
    n_steps: int,
    save_every: int,
    variables: Sequence[str] | None = None,
    name: str = "column",
    checkpoint_every: int | None | str = "auto",
) -> Case:
    """A :class:`Case` comparing a column run with ``observations`` (see :mod:`.observations`)."""
    return Case.from_dataset(
        model,
        column_simulator(n_steps, save_every, checkpoint_every),
        observations,
        model_times=column_output_times(model, n_steps, save_every),
        model_z=np.asarray(model.grid.z_centers),
        variables=variables,
        name=name,
        domain_depth=float(model.grid.depth),
    )


def column_twin(
    models: Mapping[str, Any],
    truth: ParameterSet,
    *,
    n_steps: int,
    save_every: int,
    error_std: Mapping[str, float],
    obs_every: int = 1,
    z: Sequence[float] | None = None,
    seed: int = 0,
    derived_attrs: Mapping[str, Mapping[str, float]] | None = None,
    checkpoint_every: int | None | str = "auto",
) -> tuple[list[Case], dict[str, xr.Dataset]]:
    """Synthetic-twin cases: run each model with ``truth`` applied, observe, add noise.

    Args:
        models: case name -> column model (forcing etc. differ between cases).
        truth: true parameter values (applied with :meth:`ParameterSet.apply`).
        n_steps, save_every: the run and its output interval (steps).
        error_std: σ per observed variable (its units) — also the noise added.
        obs_every: observe every ``obs_every``-th saved output.
        z: observation heights (m); default the model cell centres.
        seed: noise seed (case ``i`` uses ``fold_in(seed, i)``).

    Returns ``(cases, observations)`` with the observation Datasets keyed by case name.
    """
    key = jax.random.PRNGKey(seed)
    sim = column_simulator(n_steps, save_every, checkpoint_every)
    cases, datasets = [], {}
    for i, (name, model) in enumerate(models.items()):
        times = column_output_times(model, n_steps, save_every)
        zc = np.asarray(model.grid.z_centers)
        outputs = sim(truth.apply(model))
        ds = synthetic_observations(
            outputs, times, zc,
            times=times[obs_every - 1 :: obs_every],
            z=zc if z is None else np.asarray(z, float),
            error_std=error_std,
            key=jax.random.fold_in(key, i),
            derived_attrs=derived_attrs,
            domain_depth=float(model.grid.depth),
        )
        ds.attrs["case"] = name
        datasets[name] = ds
        cases.append(column_case(model, ds, n_steps=n_steps, save_every=save_every, name=name,
                                 checkpoint_every=checkpoint_every))
    return cases, datasets
