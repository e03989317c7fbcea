"""The model registry: model name -> config schema and builders (one per backend).

Generic code (experiments, the CLI, the workflows) finds everything model-specific through
this table and the :class:`~pyclimaocean.core.AbstractModel` contract, so adding a model is one
package under ``pyclimaocean/models/`` plus one :class:`ModelEntry`::

    from pyclimaocean.core.registry import ModelEntry, register_model
    register_model(ModelEntry(
        name="my_model",
        schema="mypackage.config:MyExperiment",           # an ExperimentConfig subclass
        builders={"jax": "mypackage.config:build_model"},  # cfg -> AbstractModel
        description="what it is",
    ))

Built-in entries are listed as import strings and imported on first use, so looking up one
model never imports the others (nor Julia).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError

__all__ = ["ModelEntry", "available_models", "get_model_entry", "register_model"]


def _resolve(target):
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    Attributes:
        name: the name used in ``[experiment] model = ...``.
        schema: pydantic schema of a run config (a subclass of
            :class:`pyclimaocean.config.ExperimentConfig`), or its import string.
        builders: ``{backend: build}`` where ``build(config) -> AbstractModel`` (or import
            strings); the backends a model supports.
        description: one line for ``pyclimaocean models`` and reports.
        observable: names accepted as observed variables (default: the model's variables).
        extras: model-specific hooks for methods (e.g. ``"calibration_parameters"``).
    """

    name: str
    schema: Any
    builders: Mapping[str, Any]
    description: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)

    def config_schema(self):
        return _resolve(self.schema)

    def builder(self, backend: str) -> Callable[[Any], Any]:
        if backend not in self.builders:
            raise ConfigError(
                f"experiment.backend = {backend!r}: the {self.name} model does not run on it. "
                f"Backends for {self.name}: {', '.join(self.builders)}"
            )
        return _resolve(self.builders[backend])

    def build(self, config) -> Any:
        """Build the model a validated config describes, on its ``experiment.backend``."""
        return self.builder(config.experiment.backend)(config)

    def extra(self, key: str):
        if key not in self.extras:
            raise KeyError(f"the {self.name} model does not provide {key!r}")
        return _resolve(self.extras[key])


_ENTRIES: dict[str, ModelEntry | str] = {
    "column": "pyclimaocean.models.column.registry:ENTRY",
    "lorenz96": "pyclimaocean.models.lorenz96.registry:ENTRY",
    "qg": "pyclimaocean.models.qg.registry:ENTRY",
    "seaice_column": "pyclimaocean.models.seaice.registry:ENTRY",
    "coupled_column": "pyclimaocean.models.coupled.registry:ENTRY",
    "coupled_basin": "pyclimaocean.models.coupled_basin.registry:ENTRY",
    "basin": "pyclimaocean.models.basin.registry:ENTRY",
}


def register_model(entry: ModelEntry, *, replace: bool = False) -> None:
    """Add a model to the registry (``replace=True`` to override an existing name)."""
    if entry.name in _ENTRIES and not replace:
        raise ValueError(f"a model called {entry.name!r} is registered already")
    _ENTRIES[entry.name] = entry


def available_models() -> tuple[str, ...]:
    return tuple(_ENTRIES)


def get_model_entry(name: str) -> ModelEntry:
    """The entry of model ``name``; a :class:`ConfigError` lists the registered models."""
    if not isinstance(name, str) or name not in _ENTRIES:
        raise ConfigError(
            f"experiment.model = {name!r} is not a registered model. "
            f"Models are: {', '.join(_ENTRIES)}"
        )
    entry = _ENTRIES[name]
    if isinstance(entry, str):
        entry = _resolve(entry)
        _ENTRIES[name] = entry
    return entry
