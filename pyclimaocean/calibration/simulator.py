"""The generic forward map of a calibration case: run any model, observe its output fields.

:func:`model_simulator` turns an :class:`~pyclimaocean.core.AbstractModel` run into a pure
``simulate(model) -> {name: (n_out, *dims)}`` with the model's
:meth:`~pyclimaocean.core.AbstractModel.output_fields` (and any named diagnostics asked for)
at every ``save_every``-th step, the form the :class:`~pyclimaocean.calibration.Case` and
:class:`~pyclimaocean.calibration.observations.ObservationOperator` use.  Simulators are cached
per ``(n_steps, save_every, checkpoint_every, diagnostics)``, so cases with the same clock
share one function object and are batched with ``vmap`` by
:class:`~pyclimaocean.calibration.Problem` (forcing differences are leaves of the model).

Example (a twin experiment of any registered model)::

    cases, observations = model_twin({"case": model}, truth, n_steps=40, save_every=4,
                                     error_std={"x": 0.5})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from ..params import ParameterError, ParameterSet
from .observations import ObservationOperator, model_observations, observation_vector
from .problem import Case

__all__ = ["model_simulator", "output_times", "model_case", "model_twin"]

_SIMULATORS: dict[tuple, Callable[[Any], dict[str, Any]]] = {}


def model_simulator(n_steps: int, save_every: int, checkpoint_every: int | None | str = "auto",
                    diagnostics: Sequence[str] = ()):
    """Cached pure function ``model -> {name: (n_steps // save_every, *dims)}``: the model's
    output fields, plus the named ``diagnostics`` (one value per saved state)."""
    if not (isinstance(n_steps, int) and n_steps >= 1):
        raise ParameterError(f"n_steps = {n_steps!r} must be an int >= 1")
    if not (isinstance(save_every, int) and save_every >= 1 and n_steps % save_every == 0):
        raise ParameterError(f"save_every = {save_every!r} must be a positive int dividing n_steps = {n_steps}")
    diagnostics = tuple(diagnostics)
    key = (n_steps, save_every, checkpoint_every, diagnostics)
    if key not in _SIMULATORS:

        def simulate(model):
            def observe(state):
                out = dict(model.output_fields(state))
                for d in diagnostics:
                    out[d] = model.diagnostic(d, state)
                return out

            _, out = model.run(None, n_steps, save_every=save_every, checkpoint_every=checkpoint_every,
                               observe=observe)
            return out

        simulate.__name__ = f"simulate_{n_steps}_{save_every}"
        _SIMULATORS[key] = simulate
    return _SIMULATORS[key]


def output_times(model, n_steps: int, save_every: int) -> np.ndarray:
    """Times of the saved outputs (model clock), ``(n_steps // save_every,)``: the ends of
    each output interval (the state at t = 0 is not an output of the simulator)."""
    return float(model.dt) * save_every * np.arange(1, n_steps // save_every + 1)


def _diagnostics_of(model, names: Sequence[str]) -> tuple[str, ...]:
    variables = {v.name for v in model.variables()}
    table = model.diagnostics()
    return tuple(n for n in names if n not in variables and n in table)


def model_case(
    model,
    observations: xr.Dataset,
    *,
    n_steps: int,
    save_every: int,
    variables: Sequence[str] | None = None,
    name: str = "case",
    checkpoint_every: int | None | str = "auto",
) -> Case:
    """A :class:`Case` comparing a run of ``model`` with ``observations`` (any observable:
    the model's variables along their named dims, or its diagnostics as time series)."""
    op = ObservationOperator.from_model(observations, model, output_times(model, n_steps, save_every),
                                        variables)
    y, noise = observation_vector(observations, op.variables, op.field_dims)
    sim = model_simulator(n_steps, save_every, checkpoint_every, _diagnostics_of(model, op.variables))
    return Case(model, op, y, noise, sim, name)


def model_twin(
    models: Mapping[str, Any],
    truth: ParameterSet,
    *,
    n_steps: int,
    save_every: int,
    error_std: Mapping[str, float],
    obs_every: int = 1,
    at: Mapping[str, Sequence[float]] | None = None,
    seed: int = 0,
    checkpoint_every: int | None | str = "auto",
) -> tuple[list[Case], dict[str, xr.Dataset]]:
    """Synthetic-twin cases: run each model with ``truth`` applied, observe, add noise.

    Args:
        models: case name -> model (forcing etc. differ between cases).
        truth: true parameter values (applied with :meth:`ParameterSet.apply`).
        n_steps, save_every: the run and its output interval (steps).
        error_std: σ per observed name (its units) — also the noise added.
        obs_every: observe every ``obs_every``-th saved output.
        at: observation coordinates per dim (default: the model's), e.g. ``{"z": [...]}``.
        seed: noise seed (case ``i`` uses ``fold_in(seed, i)``).

    Returns ``(cases, observations)`` with the observation Datasets keyed by case name.
    """
    key = jax.random.PRNGKey(seed)
    cases, datasets = [], {}
    for i, (name, model) in enumerate(models.items()):
        times = output_times(model, n_steps, save_every)
        sim = model_simulator(n_steps, save_every, checkpoint_every, _diagnostics_of(model, list(error_std)))
        outputs = sim(truth.apply(model))
        ds = model_observations(model, outputs, times, error_std=error_std,
                                times=times[obs_every - 1 :: obs_every], at=at,
                                key=jax.random.fold_in(key, i))
        ds.attrs["case"] = name
        datasets[name] = ds
        cases.append(model_case(model, ds, n_steps=n_steps, save_every=save_every, name=name,
                                checkpoint_every=checkpoint_every))
    return cases, datasets
