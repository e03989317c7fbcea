"""Offline defaults for Prefect and worker settings for Dask (imported before ``prefect``).

:func:`configure_offline` sets, *only where the user has not set them*:

==============================================  ===========================================
``PREFECT_SERVER_ANALYTICS_ENABLED=false``      no usage analytics from the local server
``DO_NOT_TRACK=1``                              no client telemetry
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120``  the ephemeral API can be slow to
                                                start on a busy machine
==============================================  ===========================================

With ``PREFECT_API_URL`` unset, Prefect starts a temporary local API server for the duration
of a flow run (state in ``PREFECT_HOME``, default ``~/.prefect``): nothing leaves the machine.
To record runs in a real Prefect server instead, start one (``prefect server start``) and
``export PREFECT_API_URL=http://127.0.0.1:4200/api`` before running a flow.
"""

from __future__ import annotations

import os

__all__ = ["configure_offline", "worker_environment", "OFFLINE_DEFAULTS"]

OFFLINE_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def configure_offline() -> dict[str, str]:
    """Apply :data:`OFFLINE_DEFAULTS` to ``os.environ`` where unset; returns what was set."""
    applied = {}
    for key, value in OFFLINE_DEFAULTS.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    return applied


def worker_environment(threads: int = 1) -> dict[str, str]:
    """Environment of Dask worker processes running JAX models.

    One XLA/BLAS thread per worker (``threads``): with one task per worker, this makes
    ``n_workers`` members run in parallel without oversubscribing the cores, and keeps float
    results identical to a sequential run in one process.  ``XLA_FLAGS`` already set by the
    user are kept and extended.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if "xla_cpu_multi_thread_eigen" not in flags:
        extra.append("--xla_cpu_multi_thread_eigen=false")
    if "intra_op_parallelism_threads" not in flags:
        extra.append(f"intra_op_parallelism_threads={threads}")
    env = {
        "XLA_FLAGS": " ".join([flags, *extra]).strip(),
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    env.update({k: os.environ.get(k, v) for k, v in OFFLINE_DEFAULTS.items()})
    if "PYCLIMAOCEAN_X64" in os.environ:
        env["PYCLIMAOCEAN_X64"] = os.environ["PYCLIMAOCEAN_X64"]
    return env
