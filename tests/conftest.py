"""Shared test settings: headless plots, float64, offline Prefect.

(JAX's persistent compilation cache is deliberately not enabled: writing it from the test
process while Dask worker processes compile aborted the interpreter once.)"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
