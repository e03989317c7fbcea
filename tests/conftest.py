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

#: compiled code kept across test modules before JAX's caches are cleared: growth of the
#: process's resident memory (bytes) and of its memory-map count since the last clear
RELEASE_AFTER_RSS_GROWTH = 1024 * 2**20
RELEASE_AFTER_MAP_GROWTH = 10000


def _memory_use() -> tuple[int, int] | None:
    """(resident bytes, number of memory maps) of this process; None off Linux."""
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/maps") as f:
            maps = sum(1 for _ in f)
    except OSError:
        return None
    return rss, maps


_since_clear = {"use": _memory_use()}


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Free JAX's compiled executables and tracing caches after a test module once they have
    grown large.

    One pytest process runs the whole suite; with no clearing at all, every module's
    compiled programs stayed in memory, and late, compile-heavy tests (the Prefect/Dask study
    flow) aborted inside XLA's compiler in a full run.  Clearing after *every* module made each
    module compile again the small programs the others share (eager primitives, library
    jits of the same shapes): 19 % more CPU time over five calibration modules, measured side
    by side.  So the caches are cleared when the resident memory or the memory-map count has
    grown by the limits above since the last clear (after every module where /proc is
    missing).  The map count is the one to watch: compiled executables hold memory maps
    (about 550 more per module of those five when nothing is cleared, given back by a clear),
    and Linux refuses maps beyond vm.max_map_count (65530 by default), which a whole suite
    that never clears would approach."""
    yield
    now, last = _memory_use(), _since_clear["use"]
    if (now is not None and last is not None and now[0] - last[0] < RELEASE_AFTER_RSS_GROWTH
            and now[1] - last[1] < RELEASE_AFTER_MAP_GROWTH):
        return
    jax.clear_caches()
    gc.collect()
    _since_clear["use"] = _memory_use()


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
