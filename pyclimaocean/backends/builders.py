"""Registry builders that need an optional backend (imported only when that backend is chosen)."""

from __future__ import annotations

__all__ = ["julia_column"]


def julia_column(config):
    """The column model of a run config, computed by Oceananigans through juliacall.

    Raises :class:`~pyclimaocean.backends.base.BackendUnavailableError` naming what is missing
    when Julia or juliacall is not installed.
    """
    from .julia import JuliaBackend  # optional dependency: juliacall

    return JuliaBackend().build(config)
