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

import logging
import os

__all__ = ["configure_offline", "worker_environment", "OFFLINE_DEFAULTS", "QUIET_LOGGING",
           "quiet_logging", "EXECUTORS", "AUTO_DASK_MIN_MEMBERS", "usable_cores",
           "choose_executor"]

OFFLINE_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


#: log levels of a quiet flow (the default of ``pyclimaocean ensemble`` / ``flow``; ``--verbose``
#: keeps Prefect's and Dask's INFO lines): Prefect's loggers (flow/task-run states, the
#: "Starting temporary server" notice) and Dask's ``distributed`` loggers (scheduler, nanny and
#: worker lifecycle) print warnings and errors only
QUIET_LOGGING = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOGGERS_ROOT_LEVEL": "WARNING",
    "DASK_LOGGING__DISTRIBUTED": "warning",
}


def quiet_logging() -> dict[str, str]:
    """Apply :data:`QUIET_LOGGING` to ``os.environ`` where unset (before ``prefect`` and
    ``distributed`` are imported; Dask worker processes inherit it); returns what was set."""
    applied = {}
    for key, value in QUIET_LOGGING.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    # the nannies (in this process) warn "Worker process still alive after 4.0 seconds,
    # killing" when a busy worker is slow to exit at the end of a flow: expected, not a problem
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    return applied


#: ensemble executors: members one after another in this process, or a Prefect flow mapping
#: one task per member onto Dask workers
EXECUTORS = ("auto", "in-process", "dask")

#: ``auto`` runs ensembles of fewer members in-process.  Measured with
#: ``python -m benchmarks.experiment_overhead --ensemble`` (docs/workflows.md, "Choosing the
#: executor"): the Prefect + Dask path costs ≈ 58 s of CPU more than the in-process one
#: (temporary API servers, the LocalCluster, a JAX import and compilation per worker) and
#: ≈ 0.39 s of CPU more per member, so on 2 workers it only pays for members of more than
#: ≈ 0.4 s each, from ≈ 84 members of 1 s (≈ 11 of 5 s); the free-convection example's
#: members (0.18 s) never.  Heavier members: ``--executor dask``.
AUTO_DASK_MIN_MEMBERS = 128


def usable_cores() -> int:
    """CPU cores this process may run on (``sched_getaffinity`` where available)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def choose_executor(members: int, *, executor: str = "auto", workers: int = 2,
                    dask_address: str | None = None, cores: int | None = None) -> tuple[str, str]:
    """``(executor, reason)``: ``"in-process"`` or ``"dask"`` for an ensemble of ``members``.

    ``executor`` other than ``"auto"`` is returned as given.  ``auto``: Dask when a scheduler
    address is given (the user has a cluster) or when there are at least
    :data:`AUTO_DASK_MIN_MEMBERS` members and both ``workers`` and the usable cores are ≥ 2
    (otherwise the members cannot run in parallel and Dask only adds its overhead).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r} is not supported. Supported executors are: "
                         f"{', '.join(EXECUTORS)}")
    if executor != "auto":
        return executor, f"--executor {executor}"
    if dask_address:
        return "dask", f"a Dask scheduler was given ({dask_address})"
    cores = usable_cores() if cores is None else cores
    parallel = min(workers, cores)
    if parallel < 2:
        return "in-process", (f"{parallel} worker{'s' if parallel != 1 else ''} can run at once "
                              f"({cores} usable core{'s' if cores != 1 else ''}, --workers "
                              f"{workers}): Dask would only add its overhead")
    if members < AUTO_DASK_MIN_MEMBERS:
        return "in-process", (f"{members} members < {AUTO_DASK_MIN_MEMBERS}: the Prefect + Dask "
                              "start-up costs more than the parallel members save")
    return "dask", f"{members} members on {parallel} parallel workers"


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
