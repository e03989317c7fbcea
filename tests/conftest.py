"""Shared test settings: headless plots, float64, offline Prefect, persistent JIT cache."""

import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
_cache = os.path.join(tempfile.gettempdir(), "pyclimaocean-jax-cache")
try:
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
except Exception:  # pragma: no cover - older jax
    pass
