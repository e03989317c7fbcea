"""The model contract every model implements: :class:`AbstractModel`.

A model is an immutable ``equinox`` module whose float fields (parameters, forcing
amplitudes, network weights) are pytree leaves and whose discrete choices are static.  It
provides

* :meth:`~AbstractModel.initial_state` — the state at ``t = 0``: a pytree whose ``time`` and
  ``iteration`` fields are the model clock;
* :meth:`~AbstractModel.step` — a *pure* map ``state -> state`` advancing one time step ``dt``
  (parameters and forcing are leaves of the model, so ``jax.grad`` reaches them);
* :meth:`~AbstractModel.variables` and :meth:`~AbstractModel.coordinates` — metadata of the
  output fields (dims, units, CF names, grid location, plausible range) and of their axes;
* :meth:`~AbstractModel.output_fields` — the fields written to output files, a pure function of
  the state (derived fields included);
* :meth:`~AbstractModel.parameters` — the calibratable :class:`~pyclimaocean.ParameterSet`;
* :meth:`~AbstractModel.diagnostics` — named, differentiable scalar functions of a state, usable
  as losses;
* :meth:`~AbstractModel.summary` and :meth:`~AbstractModel.figures` — key numbers and figures of
  an output dataset for reports.

Everything generic — :func:`pyclimaocean.integrate`, :class:`pyclimaocean.Simulation`, output
writers, checkpoints, experiments, calibration, the CLI and the workflows — works on this
contract only.  A new model is one package under ``pyclimaocean/models/`` plus one registry
entry (:mod:`pyclimaocean.registry`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax

from ..config import ConfigError
from ..integrate import integrate
from ..params import Parameter, ParameterSet
from .dataset import cf_time_attributes, model_dataset
from .variables import Coordinate, Variable

__all__ = ["AbstractModel", "apply_parameter_section", "get_path", "select_parameters",
           "stack_states"]


def get_path(obj, path: str):
    """``obj.a.b.c`` for ``path = "a.b.c"``."""
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


class AbstractModel(eqx.Module):
    """Base class of every model (see the module docstring for the contract).

    Subclasses set the class attribute ``name`` (the registry name, written to output files),
    a static ``dt`` field (time step, in the model's time units), and implement
    :meth:`initial_state`, :meth:`step`, :meth:`variables` and :meth:`coordinates`.

    Class attributes:
        name: model name (``"column"``, ``"lorenz96"``).
        time_units: ``"s"`` for models whose clock counts seconds (written as CF time,
            ``seconds since`` a nominal start date) or the units of a nondimensional clock
            (``"1"``, e.g. Lorenz-96 model time units).
    """

    name: ClassVar[str] = "model"
    time_units: ClassVar[str] = "s"

    # -- the contract ------------------------------------------------------------------------
    @abc.abstractmethod
    def initial_state(self) -> Any:
        """State at ``t = 0`` (a pytree with ``time`` and ``iteration`` fields)."""

    @abc.abstractmethod
    def step(self, state: Any) -> Any:
        """Advance ``state`` by one time step (pure; advances ``time`` and ``iteration``)."""

    @abc.abstractmethod
    def variables(self) -> tuple[Variable, ...]:
        """Metadata of the output fields (see :class:`~pyclimaocean.core.Variable`)."""

    @abc.abstractmethod
    def coordinates(self) -> tuple[Coordinate, ...]:
        """Coordinates of the output dimensions (other than ``time``)."""

    # -- defaults a model may override ------------------------------------------------------
    def output_fields(self, state) -> dict[str, Any]:
        """``{variable name: array}`` of a state (or of states stacked along a leading axis).

        The default reads each non-derived variable's ``source`` attribute path (or its name)
        from the state; models with ``derived`` variables override this to add them.  Pure: usable inside ``jit``.
        """
        return {
            v.name: get_path(state, v.source or v.name) for v in self.variables() if not v.derived
        }

    def parameters(self, names=None) -> ParameterSet:
        """Calibratable parameters (dotted paths into the model) with bounds and priors."""
        if names:
            raise KeyError(f"{type(self).__name__} has no calibratable parameters; got {names}")
        return ParameterSet({})

    def diagnostics(self) -> Mapping[str, Callable[[Any, Any], Any]]:
        """Named differentiable diagnostics ``{name: f(model, state) -> scalar}``."""
        return {}

    def diagnostic(self, name: str, state) -> Any:
        """Evaluate the diagnostic ``name`` on ``state`` (KeyError listing the valid names)."""
        table = self.diagnostics()
        if name not in table:
            raise KeyError(
                f"{name!r} is not a diagnostic of the {self.name} model. "
                f"Diagnostics are: {', '.join(table) or '(none)'}"
            )
        return table[name](self, state)

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        """Key numbers of an output dataset: ``{key: (value, units, label)}`` (for reports)."""
        return {}

    def figures(self, dataset, directory: str | Path, title: str = "") -> list[Path]:
        """Write the model's standard figures of ``dataset`` into ``directory``."""
        return []

    def describe(self) -> dict[str, str]:
        """Short human-readable description (grid, closure, ...) for ``validate`` and reports."""
        return {}

    def time_attributes(self) -> dict[str, Any]:
        """Attributes of the ``time`` coordinate of the output."""

        if self.time_units == "s":
            return cf_time_attributes()
        return {"units": self.time_units, "long_name": "model time", "axis": "T"}

    # -- the clock -------------------------------------------------------------------------
    def time(self, state) -> Any:
        return state.time

    def iteration(self, state) -> Any:
        return state.iteration

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        state=None,
        n_steps: int = 1,
        *,
        save_every: int | None = None,
        checkpoint_every: int | tuple[int, ...] | None | str = "auto",
        observe: Callable[[Any], Any] | None = None,
        checkpoint_levels: int | None = None,
    ):
        """Run ``n_steps`` steps (pure, differentiable; see :func:`pyclimaocean.integrate`).

        Returns ``(final_state, outputs)``: ``outputs`` is ``observe(state)`` (default the
        state) stacked along a leading time axis every ``save_every`` steps.
        ``checkpoint_levels=3`` (with ``checkpoint_every="auto"``) stores ≈ 3 T^(1/3) states
        for the gradient instead of ≈ 2 √T, for one more recomputation sweep.
        """
        state = self.initial_state() if state is None else state
        return integrate(
            self.step, state, n_steps, save_every=save_every, observe=observe,
            checkpoint_every=checkpoint_every, checkpoint_levels=checkpoint_levels,
        )

    def to_xarray(self, outputs, attrs: dict | None = None, *, include: Any = None):
        """CF-annotated :class:`xarray.Dataset` of states stacked along a leading time axis."""

        return model_dataset(self, outputs, attrs=attrs, include=include)


def stack_states(states) -> Any:
    """Stack a list of states along a new leading axis (host numpy)."""
    import numpy as np

    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *states)


def apply_parameter_section(model, values: Mapping[str, Any]):
    """Write ``[parameters]`` values (dotted model paths) into ``model``, checking that each is a
    calibratable parameter of the model and inside its bounds."""
    if not values:
        return model
    try:
        params = model.parameters(list(values))
    except KeyError as err:
        raise ConfigError(f"config error: parameters: {err.args[0]}") from None
    for name, value in values.items():
        p = params[name]
        if not (p.lower <= value <= p.upper):
            raise ConfigError(
                f"config error: parameters.{name} = {value!r} is outside its bounds "
                f"[{p.lower}, {p.upper}]"
            )
    return params.with_values({n: float(v) for n, v in values.items()}).apply(model)


def select_parameters(table: Mapping[str, Parameter], names, owner: str) -> ParameterSet:
    """The ``names`` of a model's parameter ``table`` as a :class:`ParameterSet` (all of them
    for ``names=None``); a ``KeyError`` lists the valid names of ``owner``."""
    if names is None:
        return ParameterSet(dict(table))
    unknown = [n for n in names if n not in table]
    if unknown:
        raise KeyError(f"{unknown} are not parameters of the {owner}. "
                       f"Parameters are: {', '.join(table)}")
    return ParameterSet({n: table[n] for n in names})
