"""The embedded default backend: models written in JAX, differentiated natively."""

from __future__ import annotations

from typing import Any

__all__ = ["JaxBackend"]


class JaxBackend:
    """Backend protocol implementation for the pure-JAX models (see :mod:`.base`)."""

    name = "jax"

    def build(self, config: Any):
        from ..models.column.config import ColumnExperiment, build_model

        if isinstance(config, ColumnExperiment):
            return build_model(config)
        raise TypeError(f"the JAX backend cannot build a {type(config).__name__}")

    def parameters(self, model: Any):
        return model.default_parameters()

    def initial_state(self, model: Any):
        return model.initial_state()

    def run(self, model: Any, state: Any, n_steps: int, save_every: int | None = None):
        return model.run(state, n_steps, save_every=save_every)

    def to_xarray(self, model: Any, outputs: Any, times: Any = None):
        return model.to_xarray(outputs)
