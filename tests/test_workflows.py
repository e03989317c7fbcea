"""Prefect flows, offline: a temporary local API (``prefect_test_harness``, started once per
session: the ``prefect_api`` fixture in tests/conftest.py), task results persisted in the experiment directory, Dask task runners.

* ``run`` flow: result persisted in ``<dir>/.prefect/results``; ``--resume`` returns it
  without running again.
* ``ensemble`` of 16 members on a Dask cluster (started here, passed by address) gives
  bit-for-bit the same outputs as the sequential in-process path.
* a flow killed with SIGKILL midway (flow process and its LocalCluster workers) and run again
  with ``--resume`` recomputes only the tasks that had not finished (counted from Prefect's
  task-run states: ``Cached`` vs ``Completed``).
* ``calibrate`` with two variants on Dask, and the composed ``study`` flow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "column_free_convection.toml"
CALIBRATION_EXAMPLE = ROOT / "examples" / "column_calibrate.toml"
SMALL = ["grid.nz=8", "time.stop_time=14400", "time.output_interval=3600",
         "time.checkpoint_interval=7200", "output.plots=false"]
SMALL_SET = [x for s in SMALL for x in ("--set", s)]
runner = CliRunner()


@pytest.fixture(scope="module")
def dask_cluster():
    """A LocalCluster of 2 single-threaded worker processes, as a user would start one."""
    from distributed import Client, LocalCluster

    from pyclimaocean.workflows import worker_environment

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", env=worker_environment())
    # not the default client of this process: xarray would then take distributed locks for
    # netCDF writes made here (outside the cluster), which hangs
    client = Client(cluster, set_as_default=False)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def _task_states(flow_run_name_prefix: str | None = None) -> list[list[str]]:
    """Task-run state names of every flow run, oldest first."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async def read():
        async with get_client() as client:
            runs = await client.read_flow_runs(sort=FlowRunSort.START_TIME_ASC)
            out = []
            for fr in runs:
                trs = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[fr.id])))
                out.append((fr.name, fr.flow_id,
                            [tr.state.name for tr in trs if tr.name.startswith("member")]))
            return out

    return asyncio.run(read())


def test_offline_settings_and_runner_switch():
    from prefect_dask import DaskTaskRunner

    from pyclimaocean.workflows import dask_task_runner
    from pyclimaocean.workflows.settings import configure_offline

    configure_offline()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["DO_NOT_TRACK"] == "1"
    local = dask_task_runner()
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 2
    assert "intra_op_parallelism_threads=1" in local.cluster_kwargs["env"]["XLA_FLAGS"]
    remote = dask_task_runner("tcp://127.0.0.1:8786")
    assert remote.address == "tcp://127.0.0.1:8786"


@pytest.mark.slow  # 13.9 s measured (fast tier: pytest -m 'not slow')
def test_run_flow_persists_result_and_resumes_from_it(prefect_api, tmp_path):
    from pyclimaocean.config import ConfigError
    from pyclimaocean.workflows.launcher import launch

    out = tmp_path / "run"
    res = launch("run", config=str(EXAMPLE), output_dir=str(out), overrides=SMALL)
    assert Path(res["output_dir"]) == out and res["status"] == "completed"
    results = list((out / ".prefect" / "results").iterdir())
    assert len(results) == 1
    before = (out / "output.nc").stat().st_mtime_ns
    again = launch("run", config=str(EXAMPLE), output_dir=str(out), overrides=SMALL, resume=True)
    assert again == res
    assert (out / "output.nc").stat().st_mtime_ns == before  # cached: not run again
    assert (out / "run.log").read_text().count(" start ") == 1
    with pytest.raises(FileExistsError):
        launch("run", config=str(EXAMPLE), output_dir=str(out), overrides=SMALL)
    with pytest.raises(ConfigError, match="grid.nz"):
        launch("run", config=str(EXAMPLE), output_dir=str(out),
               overrides=[*SMALL, "grid.nz=9"], resume=True)
    # through the CLI: unknown flow -> exit 2; `flow run` -> exit 0
    res = runner.invoke(app, ["flow", "nope", str(EXAMPLE)])
    assert res.exit_code == 2 and "ensemble" in res.output
    res = runner.invoke(app, ["flow", "run", str(EXAMPLE), "-o", str(tmp_path / "cli"),
                              *SMALL_SET])
    assert res.exit_code == 0, res.output
    # a blow-up inside a flow task keeps its exit code
    res = runner.invoke(app, ["flow", "run", str(EXAMPLE), "-o", str(tmp_path / "blow"),
                              *SMALL_SET, "--set", "forcing.heat_flux=5000", "--set",
                              "time.dt=3600", "--set", "grid.depth=10", "--set",
                              "time.stop_time=86400"])
    assert res.exit_code == 3, res.output
    assert "blow-up at step" in " ".join(res.output.split())
    # any registered model runs through the same flow: Lorenz-96
    l96 = tmp_path / "l96"
    res = runner.invoke(app, ["flow", "run", str(ROOT / "examples" / "l96_run.toml"), "-o",
                              str(l96), "--set", "time.stop_time=2.0", "--set",
                              "time.checkpoint_interval=1.0", "--set",
                              "output.writers.energy_means.interval=0.5"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(l96 / "output.nc") as ds:
        assert ds.attrs["model"] == "lorenz96" and ds.sizes["time"] == 9


@pytest.mark.slow
def test_ensemble_16_members_on_dask_is_bit_for_bit_sequential(prefect_api, dask_cluster,
                                                               tmp_path):
    from pyclimaocean.experiment import run_ensemble

    cluster, client = dask_cluster
    out = tmp_path / "dask"
    args = ["ensemble", str(EXAMPLE), "-p", "c_hi_c", "-p", "c_lo_c", "-n", "16", "--seed", "3",
            "-o", str(out), "--dask-address", cluster.scheduler_address, *SMALL_SET]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    seq = run_ensemble(EXAMPLE, tmp_path / "seq", SMALL, parameters=["c_hi_c", "c_lo_c"],
                       members=16, seed=3)
    # the members ran on the cluster's worker processes, not here
    worker_pids = set(client.run(os.getpid).values())
    pids = {json.loads((out / "members" / f"member_{i:03d}" / "provenance.json").read_text())
            ["pid"] for i in range(16)}
    assert pids <= worker_pids and os.getpid() not in pids
    with xr.open_dataset(out / "ensemble.nc") as a, xr.open_dataset(seq.output_dir /
                                                                    "ensemble.nc") as b:
        assert a.sizes["member"] == 16
        for name in ("T", "S", "u", "v", "e", "b", "parameter_values",
                     "final_mixed_layer_depth", "heat_content_change"):
            assert np.array_equal(a[name].values, b[name].values), name
        assert not np.array_equal(a["e"].values[0], a["e"].values[1])
    # the example script drives the same flow (small variant, on the same cluster)
    import runpy

    example = runpy.run_path(str(ROOT / "examples" / "column_ensemble_flow.py"))
    ex = example["main"](["-n", "2", "-o", str(tmp_path / "example"), "--dask-address",
                          cluster.scheduler_address, *[x for s in SMALL for x in ("--set", s)]])
    assert len(ex["members"]) == 2 and (tmp_path / "example" / "report.md").exists()
    for i in (0, 7, 15):
        m = f"members/member_{i:03d}/checkpoint.npz"
        with np.load(out / m) as x, np.load(seq.output_dir / m) as y:
            for key in x.files:
                assert np.array_equal(x[key], y[key]), (i, key)


@pytest.mark.slow
def test_killed_flow_reruns_only_unfinished_tasks(prefect_api, tmp_path):
    n = 6
    out = tmp_path / "ens"
    results = out / ".prefect" / "results"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONUNBUFFERED": "1"}
    args = [sys.executable, "-m", "pyclimaocean.cli", "flow", "ensemble", str(EXAMPLE),
            "-p", "c_hi_c", "-n", str(n), "--workers", "1", "-o", str(out), *SMALL_SET,
            "--set", "time.stop_time=43200"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (results.exists() and len(list(results.iterdir())) >= 2):
            assert proc.poll() is None, "flow ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the flow process and its Dask workers
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finished = len(list(results.iterdir()))
    assert 2 <= finished < n
    assert not (out / "ensemble.nc").exists()
    rerun = subprocess.run([*args, "--resume"], env=env, capture_output=True, timeout=400)
    assert rerun.returncode == 0, rerun.stdout.decode()[-3000:] + rerun.stderr.decode()[-3000:]
    states = [s for s in _task_states() if s[2]]
    first, second = states[-2][2], states[-1][2]
    assert second.count("Cached") == finished, second
    assert second.count("Completed") == n - finished, second
    assert len(second) == n
    # (the killed run may not have reported its last finished task to the API before dying:
    # its result file is written before the Completed state is sent)
    assert first.count("Completed") <= finished
    # and no member simulation was ever started from scratch twice
    for i in range(n):
        log = (out / "members" / f"member_{i:03d}" / "run.log").read_text()
        assert log.count("new run") == 1, (i, log)
    with xr.open_dataset(out / "ensemble.nc") as ds:
        assert ds.sizes["member"] == n
    print(f"\nkilled with {finished}/{n} member tasks finished; rerun: "
          f"{second.count('Cached')} cached, {second.count('Completed')} executed")


@pytest.mark.slow
def test_calibrate_variants_on_dask_and_study_flow(prefect_api, dask_cluster, tmp_path):
    from pyclimaocean.workflows import dask_task_runner, launch, study_flow

    cluster, _ = dask_cluster
    t0 = time.perf_counter()
    tiny = ["grid.nz=8", "time.stop_time=28800", "calibration.max_iterations=2",
            "calibration.cases=[]"]  # one case: the base config
    res = launch("calibrate", dask_address=cluster.scheduler_address,
                 config=str(CALIBRATION_EXAMPLE), output_dir=str(tmp_path / "cal"),
                 overrides=tiny, variants={"lbfgs": [], "eki": ["calibration.method=eki",
                                                                "calibration.ensemble_size=6"]})
    assert set(res["summaries"]) == {"lbfgs", "eki"}
    for v in ("lbfgs", "eki"):
        s = json.loads((tmp_path / "cal" / v / "summary.json").read_text())
        assert s["method"] == ("eki" if v == "eki" else "scipy_lbfgsb")
    print(f"\ncalibrate flow, 2 variants: {time.perf_counter() - t0:.1f} s")
    # the composed study, on the same cluster (its workers have compiled the calibration)
    out = tmp_path / "study"
    inf = ["inference.method=svi", "inference.num_steps=30", "inference.num_samples=20",
           "inference.prior_ensemble=2", "inference.posterior_ensemble=2"]
    study = study_flow.with_options(task_runner=dask_task_runner(cluster.scheduler_address))
    t0 = time.perf_counter()
    r = study(str(CALIBRATION_EXAMPLE), str(out), tiny, inf, members=3, seed=1)
    print(f"\nstudy flow: {time.perf_counter() - t0:.1f} s")
    report = (out / "report.md").read_text()
    for section in ("## 1. Calibration", "## 2. Posterior", "## 3. Posterior-predictive"):
        assert section in report
    cases = list(r["ensembles"])
    assert len(cases) == 1
    names = list(r["inference"]["parameters"])
    with xr.open_dataset(out / "inference" / "posterior.nc", group="posterior") as post:
        draws = {tuple(float(post[n].values.reshape(-1)[k]) for n in names)
                 for k in range(post.sizes["draw"])}
    for case in cases:
        with xr.open_dataset(out / f"ensemble_{case}" / "ensemble.nc") as ds:
            assert ds.sizes["member"] == 3
            for row in ds["parameter_values"].values:  # members are posterior draws
                assert tuple(float(x) for x in row) in draws
    # resume: nothing is recomputed (calibration output untouched)
    t = (out / "calibration" / "summary.json").stat().st_mtime_ns
    study(str(CALIBRATION_EXAMPLE), str(out), tiny, inf, members=3, seed=1, resume=True)
    assert (out / "calibration" / "summary.json").stat().st_mtime_ns == t
