"""Launching flows by name (the ``pyclimaocean flow NAME`` command): the table of every flow
(:mod:`.flows`: run, ensemble; :mod:`.science`: calibrate, infer, study; :mod:`.qg_data`:
qg_dataset) and :func:`launch`."""

from __future__ import annotations

from typing import Any

from ..config import ConfigError
from . import qg_data, science
from .flows import dask_task_runner, ensemble_flow, run_flow

__all__ = ["MAPPED_FLOWS", "available_flows", "launch"]


def launch(name: str, *, dask_address: str | None = None, n_workers: int = 2, **params):
    """Run flow ``name`` (``"run"``, ``"ensemble"``, ``"calibrate"``, ``"infer"``, ``"study"``)
    with ``params``; flows that map tasks get :func:`dask_task_runner` (``dask_address``:
    an existing scheduler; otherwise a LocalCluster of ``n_workers`` processes)."""
    flows = available_flows()
    if name not in flows:
        raise ConfigError(
            f"flow {name!r} is not available. Available flows are: {', '.join(flows)}"
        )
    fl = flows[name]
    if name in MAPPED_FLOWS or (name == "calibrate" and params.get("variants")):
        fl = fl.with_options(task_runner=dask_task_runner(dask_address, n_workers))
    return fl(**params)


#: flows that map tasks over members and run on the Dask task runner (``calibrate`` too when
#: it has several ``variants``)
MAPPED_FLOWS = ("ensemble", "study", "qg_dataset")


def available_flows() -> dict[str, Any]:
    """``{name: flow}``: run, ensemble, calibrate, infer, study, qg_dataset."""
    return {"run": run_flow, "ensemble": ensemble_flow, **science.FLOWS,
            "qg_dataset": qg_data.qg_dataset_flow}
