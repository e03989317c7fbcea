"""Choosing the ensemble executor by size, and quiet Prefect/Dask logs (no Prefect runs here:
the Dask path is exercised by tests/test_workflows.py)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from pyclimaocean.cli import app
from pyclimaocean.workflows import settings
from pyclimaocean.workflows.settings import AUTO_DASK_MIN_MEMBERS, choose_executor

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "column_free_convection.toml"


def test_auto_runs_small_ensembles_in_process_and_large_ones_on_dask():
    n = AUTO_DASK_MIN_MEMBERS
    assert choose_executor(4, cores=2)[0] == "in-process"
    assert choose_executor(n - 1, cores=2)[0] == "in-process"
    executor, why = choose_executor(n, cores=2)
    assert executor == "dask" and "2 parallel workers" in why
    # no parallelism: Dask only adds its overhead
    assert choose_executor(10 * n, cores=1)[0] == "in-process"
    assert "1 worker can run at once" in choose_executor(10 * n, workers=1, cores=8)[1]
    # a cluster given by the user is used; an explicit executor is obeyed
    assert choose_executor(2, dask_address="tcp://127.0.0.1:8786", cores=1)[0] == "dask"
    assert choose_executor(2, executor="dask", cores=1) == ("dask", "--executor dask")
    assert choose_executor(10 * n, executor="in-process", cores=16)[0] == "in-process"
    with pytest.raises(ValueError, match="executor 'threads' is not supported.*auto, in-process, dask"):
        choose_executor(4, executor="threads")


def test_quiet_logging_sets_only_what_the_user_did_not(monkeypatch):
    for key in settings.QUIET_LOGGING:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "DEBUG")
    monkeypatch.setattr(logging.getLogger("distributed.nanny"), "level", logging.NOTSET)
    applied = settings.quiet_logging()
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG" and "PREFECT_LOGGING_LEVEL" not in applied
    assert os.environ["DASK_LOGGING__DISTRIBUTED"] == "warning"
    assert logging.getLogger("distributed.nanny").level == logging.ERROR


def test_small_cli_ensemble_runs_in_process_and_says_why(monkeypatch, tmp_path):
    import pyclimaocean.experiment as experiment

    calls = []

    def fake_run_ensemble(config, output_dir, overrides, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(members=[{"member": 0, "status": "completed"}], output_dir=tmp_path)

    monkeypatch.setattr(experiment, "run_ensemble", fake_run_ensemble)
    monkeypatch.delitem(sys.modules, "pyclimaocean.workflows.launcher", raising=False)
    res = CliRunner().invoke(app, ["ensemble", str(EXAMPLE), "-p", "c_hi_c", "-n", "4"],
                             env={"COLUMNS": "1000"})
    assert res.exit_code == 0, res.output
    assert f"ensemble of 4 members: in-process (4 members < {AUTO_DASK_MIN_MEMBERS}" in res.output
    assert len(calls) == 1 and calls[0]["members"] == 4
    assert "pyclimaocean.workflows.launcher" not in sys.modules  # no Prefect, no Dask
    bad = CliRunner().invoke(app, ["ensemble", str(EXAMPLE), "-p", "c_hi_c", "--executor", "mpi"])
    assert bad.exit_code == 2 and "executor 'mpi' is not supported" in bad.output
