"""The embedded default backend: models written in JAX, differentiated natively."""

from __future__ import annotations

from typing import Any

from ..core.registry import get_model_entry

__all__ = ["JaxBackend"]


class JaxBackend:
    """Backend protocol implementation for the pure-JAX models (see :mod:`.base`): any model
    in the registry with a ``"jax"`` builder."""

    name = "jax"

    def build(self, config: Any):
        return get_model_entry(config.experiment.model).builder("jax")(config)

    def parameters(self, model: Any):
        return model.parameters()

    def initial_state(self, model: Any):
        return model.initial_state()

    def run(self, model: Any, state: Any, n_steps: int, save_every: int | None = None):
        return model.run(state, n_steps, save_every=save_every)

    def to_xarray(self, model: Any, outputs: Any, times: Any = None):
        return model.to_xarray(outputs)
