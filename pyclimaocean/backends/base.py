"""The backend protocol: what a model backend (JAX, external NumPy, Julia) implements.

A backend turns an experiment description into a runnable model and exposes a small, uniform
surface, so calibration, inference, learning, assimilation, the CLI and workflows never care
which engine computes the physics:

* ``build(config) -> model``: construct a model from a validated experiment config.
* ``parameters(model) -> ParameterSet``: the calibratable parameters with their metadata.
* ``initial_state(model) -> state``.
* ``run(model, state, n_steps, save_every) -> (final_state, outputs)``: a function that JAX can
  differentiate (natively for the JAX backend; via ``pure_callback`` + ``custom_vjp`` for
  external backends).
* ``to_xarray(model, outputs, times) -> xarray.Dataset``: CF-annotated output.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Backend", "BackendUnavailableError", "get_backend", "available_backends"]


class BackendUnavailableError(RuntimeError):
    """A backend was requested whose runtime (e.g. Julia) is not installed or not working."""


@runtime_checkable
class Backend(Protocol):
    name: str

    def build(self, config: Any) -> Any: ...

    def parameters(self, model: Any) -> Any: ...

    def initial_state(self, model: Any) -> Any: ...

    def run(self, model: Any, state: Any, n_steps: int, save_every: int | None = None) -> Any: ...

    def to_xarray(self, model: Any, outputs: Any, times: Any) -> Any: ...


_REGISTRY: dict[str, str] = {
    "jax": "pyclimaocean.backends.jax_backend:JaxBackend",
    "julia": "pyclimaocean.backends.julia:JuliaBackend",
}


def available_backends() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_backend(name: str) -> Backend:
    """Return a backend instance by name (imports lazily; Julia is only touched on demand)."""
    if name not in _REGISTRY:
        raise ValueError(
            f"backend {name!r} is not supported. Supported backends are: {', '.join(_REGISTRY)}"
        )
    import importlib

    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)()
