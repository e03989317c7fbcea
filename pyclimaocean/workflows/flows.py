"""Prefect 3 flows over the Python API: ``run``, ``ensemble`` (and ``calibrate``, ``infer``,
``study`` in :mod:`.science`).

Flows only orchestrate: every task calls one function of the package
(:func:`pyclimaocean.experiment.run_experiment`, :func:`~pyclimaocean.experiment.run_member`,
...).  Resumability comes from Prefect's result persistence: each task's result is stored in
``<experiment dir>/.prefect/results`` under a cache key computed from its inputs
(``cache_policy=INPUTS``, minus the ``resume`` flag), so running a killed flow again with
``resume=True`` returns the stored results of the tasks that finished and runs only the others
(which themselves restart from their last checkpoint).

Task runner: :func:`dask_task_runner` gives a prefect-dask ``DaskTaskRunner`` on a local
``dask.distributed.LocalCluster`` (2 single-threaded worker processes by default) or on an
existing scheduler (``address="tcp://host:8786"``).  Scripts that start a process-based
cluster need the ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

from .settings import configure_offline, worker_environment

configure_offline()

from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, task, unmapped  # noqa: E402
from prefect.cache_policies import INPUTS  # noqa: E402
from prefect.futures import as_completed  # noqa: E402

__all__ = [
    "run_flow",
    "ensemble_flow",
    "dask_task_runner",
    "results_dir",
    "persisted",
    "run_experiment_task",
    "run_member_task",
    "FLOW_CACHE_POLICY",
]

#: Cache key of every persisted task: a hash of its inputs, except the ``resume`` and
#: ``progress`` flags (a task run again with ``resume=True`` must find the result it stored
#: with ``resume=False``).
FLOW_CACHE_POLICY = INPUTS - "resume" - "progress"


def results_dir(output_dir: str | Path) -> Path:
    """Where a flow stores its task results: ``<output_dir>/.prefect/results`` (absolute)."""
    return (Path(output_dir) / ".prefect" / "results").resolve()


def persisted(task_obj, output_dir: str | Path):
    """``task_obj`` with results persisted inside the experiment directory."""
    return task_obj.with_options(result_storage=results_dir(output_dir), persist_result=True,
                                 cache_policy=FLOW_CACHE_POLICY)


def dask_task_runner(address: str | None = None, n_workers: int = 2, threads_per_worker: int = 1):
    """A prefect-dask ``DaskTaskRunner``.

    Args:
        address: scheduler address of an existing Dask cluster (``"tcp://10.0.0.1:8786"``);
            ``None`` starts a ``distributed.LocalCluster`` for the flow run.
        n_workers: worker *processes* of the local cluster (default 2).
        threads_per_worker: threads per worker (default 1; JAX runs one member per worker and
            is limited to one XLA thread, see :func:`~.settings.worker_environment`).  Keep it
            at 1: the netCDF/HDF5 library is not thread-safe, and two members writing their
            outputs from threads of one process can crash it (seen as a segmentation fault).
    """
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": int(n_workers),
            "threads_per_worker": int(threads_per_worker),
            "processes": True,
            "dashboard_address": ":0",
            "env": worker_environment(threads_per_worker),
        },
    )


# ---------------------------------------------------------------------------------------------
# tasks: one package function each
# ---------------------------------------------------------------------------------------------
@task(name="run-experiment", cache_policy=FLOW_CACHE_POLICY, persist_result=True)
def run_experiment_task(raw: Mapping[str, Any], output_dir: str, resume: bool = True,
                        progress: bool = False) -> dict[str, Any]:
    """Run one experiment (see :func:`pyclimaocean.experiment.run_experiment`); returns a
    summary (files, diagnostics)."""
    from ..experiment import run_experiment

    res = run_experiment(dict(raw), output_dir, resume=resume, progress=progress)
    return {"output_dir": str(res.output_dir), "files": [str(f) for f in res.files],
            "diagnostics": res.diagnostics, "status": res.status}


@task(name="run-member", cache_policy=FLOW_CACHE_POLICY, persist_result=True,
      task_run_name="member-{member}")
def run_member_task(raw: Mapping[str, Any], output_dir: str, member: int, names: Sequence[str],
                    values: Sequence[float], resume: bool = True) -> dict[str, Any]:
    """Run ensemble member ``member`` (see :func:`pyclimaocean.experiment.run_member`)."""
    from ..experiment import run_member

    return run_member(dict(raw), output_dir, member, names, values, resume=resume)


@task(name="finish-ensemble")
def finish_ensemble_task(raw: Mapping[str, Any], output_dir: str, summaries: list[dict],
                         names: Sequence[str], settings: Mapping[str, Any],
                         provenance: dict) -> dict[str, Any]:
    from ..experiment import finish_ensemble, load_experiment

    cfg, _ = load_experiment(dict(raw))
    res = finish_ensemble(cfg, Path(output_dir), summaries, names, settings, provenance)
    return {"output_dir": str(res.output_dir), "files": [str(f) for f in res.files],
            "members": res.members}


# ---------------------------------------------------------------------------------------------
# flows
# ---------------------------------------------------------------------------------------------
@flow(name="run")
def run_flow(config: str, output_dir: str | None = None, overrides: Sequence[str] = (),
             force: bool = False, resume: bool = False) -> dict[str, Any]:
    """Run one experiment (TOML ``config`` + ``--set`` ``overrides``) as a Prefect flow."""
    from ..experiment import (
        _check_same_config,
        _dump_toml,
        load_experiment,
        plan_experiment,
        prepare_output_dir,
    )

    plan = plan_experiment(config, overrides, output_dir)  # config errors before any file
    cfg, raw = load_experiment(config, overrides)
    out = plan.output_dir
    if resume and out.exists():
        _check_same_config(out, _dump_toml(raw))
    prepare_output_dir(out, force=force, resume=resume)
    return persisted(run_experiment_task, out)(raw, str(out), resume=True)


@flow(name="ensemble", task_runner=dask_task_runner())
def ensemble_flow(
    config: str,
    output_dir: str | None = None,
    overrides: Sequence[str] = (),
    parameters: Sequence[str] = (),
    members: int = 16,
    seed: int = 0,
    method: str = "prior",
    spread: float = 0.2,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Parameter-perturbation ensemble: one mapped task per member on the flow's task runner.

    Same members (same seed → same parameter draws) and bit-for-bit the same outputs as the
    sequential :func:`pyclimaocean.experiment.run_ensemble`.
    """
    from ..experiment import _member_progress, start_ensemble

    cfg, raw, out, names, values, prov = start_ensemble(
        config, output_dir, overrides, parameters=parameters, members=members, seed=seed,
        method=method, spread=spread, force=force, resume=resume, runner="prefect-dask")
    settings = {"members": members, "seed": seed, "method": method, "spread": spread,
                "runner": "prefect-dask"}
    futures = persisted(run_member_task, out).map(
        unmapped(raw), unmapped(str(out)), list(range(members)), unmapped(names),
        [list(map(float, v)) for v in values], resume=unmapped(True))
    with _member_progress(progress, members) as advance:
        for _ in as_completed(futures):
            advance()
    summaries = [f.result() for f in futures]
    return finish_ensemble_task(raw, str(out), summaries, names, settings, prov)
