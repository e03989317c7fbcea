"""Shared test settings: headless plots, float64, offline Prefect.

(JAX's persistent compilation cache is deliberately not enabled: writing it from the test
process while Dask worker processes compile aborted the interpreter once.)"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Free JAX's compiled executables and tracing caches after each test module.

    One pytest process runs the whole suite; without this, every module's compiled
    programs stay in memory, and late, compile-heavy tests (the Prefect/Dask study flow)
    aborted inside XLA's compiler in a full run."""
    yield
    jax.clear_caches()
    gc.collect()
