"""Shared test settings: headless plots, float64, offline Prefect (one temporary Prefect API
server for the whole session, shared by tests/test_qg_cli.py and tests/test_workflows.py).

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


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A temporary local Prefect API server (no Prefect Cloud, no telemetry), started once per
    test session however many modules use it (each start costs 10-13 s); yields its URL."""
    home = tmp_path_factory.mktemp("prefect_home")
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    try:
        with temporary_settings({PREFECT_HOME: str(home)}):
            with prefect_test_harness(server_startup_timeout=180):
                yield PREFECT_API_URL.value()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
