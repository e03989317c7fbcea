"""Registry builders that need an optional backend (imported only when that backend is chosen)."""

from __future__ import annotations

__all__ = ["julia_basin", "julia_column"]


def julia_column(config):
    """The column model of a run config, computed by Oceananigans through juliacall.

    Raises :class:`~pyclimaocean.backends.base.BackendUnavailableError` naming what is missing
    when Julia or juliacall is not installed.
    """
    from .julia import JuliaBackend  # optional dependency: juliacall

    return JuliaBackend().build(config)


def julia_basin(config):
    """The basin model of a run config, computed by Oceananigans through juliacall.

    The settings the Julia basin does not reproduce are a config error (before Julia
    starts); then Julia starts, so a missing juliacall or Julia raises
    :class:`~pyclimaocean.backends.base.BackendUnavailableError` naming what is missing.
    """
    from ..config import ConfigError
    from ..models.basin.config import build_model
    from .julia import load_julia  # optional dependency: juliacall
    from .julia_basin import JuliaBasinModel

    spec = build_model(config)
    try:
        model = JuliaBasinModel.from_config(config, spec)
    except ValueError as err:
        raise ConfigError(f"config error for experiment.backend = 'julia': {err}") from None
    load_julia(model.architecture)
    return model
