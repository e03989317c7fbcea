"""Former names of the calibration cases, kept for existing scripts: every function here is the
model-agnostic one of :mod:`pyclimaocean.calibration.simulator` (which works for the column as
for any registered model).

========================  =====================================================
``column_simulator``      :func:`~.simulator.model_simulator`
``column_output_times``   :func:`~.simulator.output_times`
``column_case``           :func:`~.simulator.model_case`
``column_twin``           :func:`~.simulator.model_twin` (``z=`` is ``at={"z": z}``)
========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..params import ParameterSet
from .simulator import model_case, model_simulator, model_twin, output_times

__all__ = ["column_simulator", "column_output_times", "column_case", "column_twin"]

column_simulator = model_simulator
column_output_times = output_times


def column_case(model, observations, *, n_steps: int, save_every: int, variables=None,
                name: str = "column", checkpoint_every: int | None | str = "auto"):
    """:func:`~.simulator.model_case` (default case name ``"column"``)."""
    return model_case(model, observations, n_steps=n_steps, save_every=save_every, variables=variables,
                      name=name, checkpoint_every=checkpoint_every)


def column_twin(models: Mapping[str, Any], truth: ParameterSet, *, n_steps: int, save_every: int,
                error_std: Mapping[str, float], obs_every: int = 1, z: Sequence[float] | None = None,
                seed: int = 0, checkpoint_every: int | None | str = "auto"):
    """:func:`~.simulator.model_twin` with observation heights ``z`` (m; default the cell centres)."""
    return model_twin(models, truth, n_steps=n_steps, save_every=save_every, error_std=error_std,
                      obs_every=obs_every, at=None if z is None else {"z": list(z)}, seed=seed,
                      checkpoint_every=checkpoint_every)
