"""Prefect 3 workflows built on the Python API (no physics of their own).

Flows: ``run_flow``, ``ensemble_flow`` (Dask task runner), ``qg_dataset_flow`` (a
coarse-grained QG data set as an ensemble of runs, :mod:`.qg_data`), and — when the
calibration and inference packages are installed — ``calibrate_flow``, ``infer_flow`` and
``study_flow``.
``launch(name, **params)`` runs one by name (what ``pyclimaocean flow NAME`` does).

Importing this package does not import Prefect; the first access to a flow does (and applies
the offline defaults of :mod:`.settings` first).  See ``docs/workflows.md``.
"""

from __future__ import annotations

from .settings import configure_offline, worker_environment

__all__ = [
    "configure_offline",
    "worker_environment",
    "run_flow",
    "ensemble_flow",
    "calibrate_flow",
    "infer_flow",
    "study_flow",
    "qg_dataset_flow",
    "launch",
    "available_flows",
    "dask_task_runner",
]

_FLOWS = {"run_flow", "ensemble_flow", "dask_task_runner", "results_dir", "persisted"}
_LAUNCH = {"launch", "available_flows", "MAPPED_FLOWS"}
_SCIENCE = {"calibrate_flow", "infer_flow", "study_flow"}
_QG = {"qg_dataset_flow"}


def __getattr__(name):
    if name in _FLOWS:
        from . import flows

        return getattr(flows, name)
    if name in _LAUNCH:
        from . import launcher

        return getattr(launcher, name)
    if name in _SCIENCE:
        from . import science

        return getattr(science, name)
    if name in _QG:
        from . import qg_data

        return getattr(qg_data, name)
    raise AttributeError(f"module 'pyclimaocean.workflows' has no attribute {name!r}")
