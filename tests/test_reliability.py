"""Nobody loses work: kill -9 during output writing, bit-for-bit resume, blow-ups, refusals.

* A run writing an output every step and a checkpoint every two steps is SIGKILLed three
  times (at a random moment, and twice while a temporary output part is being written); after
  every kill the streamed output (``output.nc`` and its parts, read with ``read_output``) opens
  and is a valid prefix of the run; ``--resume`` continues from the last checkpoint and the
  final ``output.nc`` and state equal an uninterrupted run bit for bit (``np.array_equal`` on
  every variable).
* A run whose temperatures leave the plausible range (strong heating of a thin column with a
  long time step) stops with exit code 3, naming the step and the variable, and saves the last
  good state.
"""

from __future__ import annotations

import json
import os
import random
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
from pyclimaocean.io.cf import seconds_since_start
from pyclimaocean.simulation import read_output

KILL_CONFIG = """\
[experiment]
name = "kill_test"

[grid]
nz = 16
depth = 64.0

[closure]
type = "catke"

[forcing]
heat_flux = -200.0

[time]
dt = 600.0
stop_time = 96000.0           # 160 steps
output_interval = 600.0       # an output every step
checkpoint_interval = 1200.0  # an output part + checkpoint every 2 steps

[output]
plots = false
"""

BLOWUP_CONFIG = """\
[experiment]
name = "blowup_test"

[grid]
nz = 16
depth = 10.0

[closure]
type = "catke"

[forcing]
heat_flux = 0.0

[time]
dt = 600.0
stop_time = 86400.0
output_interval = 3600.0
"""


def _cli(args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pyclimaocean.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, **kw)


def _check_output_valid(path: Path, dt: float) -> int:
    """The streamed output opens, has finite values at consecutive output times from t = 0;
    returns its length."""
    ds = read_output(path)
    n = ds.sizes["time"]
    assert n >= 1
    t = seconds_since_start(ds.time)
    np.testing.assert_array_equal(t, dt * np.arange(n))
    for name in ("T", "S", "u", "v", "e", "b"):
        assert ds[name].shape == (n, 16)
        assert np.all(np.isfinite(ds[name].values)), name
        assert ds[name].attrs["units"]
    return n


def _kill_when(proc, out: Path, rng: random.Random, mode: str) -> str:
    """SIGKILL ``proc`` (its whole session) at a random moment after the first output part
    exists, or ("mid_write") as soon as a temporary output part is seen."""
    deadline = time.monotonic() + 120
    parts = out / "output.nc.parts"
    stale = set(parts.glob(".*.tmp"))  # left by the previous kill
    while not (any(parts.glob("part_*.nc")) or (out / "output.nc").exists()):
        if proc.poll() is not None or time.monotonic() > deadline:
            return "finished"
        time.sleep(0.005)
    if mode == "random":
        time.sleep(rng.uniform(0.0, 1.0))
    else:  # let a random number of writes finish, then kill during the next one
        skip = rng.randint(2, 12)
        seen: set = set()
        while True:
            new = set(parts.glob(".*.tmp")) - stale
            if new - seen:
                seen |= new
                if len(seen) > skip:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                return "finished"
            time.sleep(0.0005)
    if proc.poll() is not None:
        return "finished"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return "killed"


@pytest.mark.slow
def test_kill9_during_writes_then_resume_is_bit_for_bit(tmp_path):
    cfg = tmp_path / "kill.toml"
    cfg.write_text(KILL_CONFIG)
    out = tmp_path / "run"
    rng = random.Random(20260101)
    kills = []
    lengths = []
    for attempt, mode in enumerate(["random", "mid_write", "mid_write"]):
        args = ["run", str(cfg), "-o", str(out), "--no-progress"]
        if attempt:
            args.append("--resume")
        proc = _cli(args)
        try:
            outcome = _kill_when(proc, out, rng, mode)
            text = proc.stdout.read().decode()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.stdout.close()
        assert outcome == "killed" or proc.returncode == 0, text
        kills.append(outcome)
        n = _check_output_valid(out / "output.nc", 600.0)  # previous output intact
        lengths.append(n)
        prov = json.loads((out / "provenance.json").read_text())
        assert prov["status"] == ("running" if outcome == "killed" else "completed")
    assert kills.count("killed") >= 2, kills
    # a mid-write kill leaves a temporary file behind; --resume removes it
    proc = _cli(["run", str(cfg), "-o", str(out), "--no-progress", "--resume"])
    text = proc.communicate(timeout=300)[0].decode()
    assert proc.returncode == 0, text
    assert not list(out.glob(".*.tmp"))
    assert _check_output_valid(out / "output.nc", 600.0) == 161
    assert not (out / "output.nc.parts").exists()
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "completed" and prov["resumed"] is True
    assert len(prov["previous_attempts"]) >= 1
    log = (out / "run.log").read_text()
    assert log.count(" start kill_test") == 4

    # reference: one uninterrupted run (in this process)
    from pyclimaocean.experiment import run_experiment

    ref = tmp_path / "ref"
    run_experiment(cfg, ref)
    with xr.open_dataset(out / "output.nc") as a, xr.open_dataset(ref / "output.nc") as b:
        assert set(a.variables) == set(b.variables)
        for name in a.variables:
            assert np.array_equal(a[name].values, b[name].values), name
    with np.load(out / "checkpoint.npz") as a, np.load(ref / "checkpoint.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
    print(f"\nkills: {kills}, outputs present after each kill: {lengths}")


def test_blowup_exit_code_3_names_step_and_variable(tmp_path):
    cfg = tmp_path / "blowup.toml"
    cfg.write_text(BLOWUP_CONFIG)
    out = tmp_path / "blow"
    # 5000 W m-2 of heating into a 10 m column with 1-hour steps: the top cells heat by
    # ~7 K per step (stably stratified, so little mixing) and leave the plausible range
    res = CliRunner().invoke(app, ["run", str(cfg), "-o", str(out), "--no-progress",
                                   "--set", "forcing.heat_flux=5000",
                                   "--set", "time.dt=3600"])
    assert res.exit_code == 3, res.output
    assert "Traceback" not in res.output
    text = " ".join(res.output.split())
    assert "blow-up at step" in text and "variable 'T'" in text
    assert "last_good_state.npz" in text
    step = int(text.split("blow-up at step ")[1].split()[0])
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "blew_up"
    assert prov["blowup"]["variable"] == "T" and prov["blowup"]["iteration"] == step
    assert prov["blowup"]["value"] > 60.0
    with np.load(out / "last_good_state.npz") as z:
        temperature, iteration = z["leaf:.temperature"], int(z["leaf:.iteration"])
    assert iteration < step and np.all(temperature <= 60.0) and np.all(np.isfinite(temperature))
    assert "blew_up" in (out / "report.md").read_text()
    assert "blow-up at step" in (out / "run.log").read_text()


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_refuses_to_overwrite_and_force_rules(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(BLOWUP_CONFIG.replace("stop_time = 86400.0", "stop_time = 7200.0")
                   .replace("output_interval = 3600.0", "output_interval = 3600.0\n"
                            "checkpoint_interval = 3600.0"))
    out = tmp_path / "exp"
    runner = CliRunner()
    args = ["run", str(cfg), "-o", str(out), "--no-progress"]
    assert runner.invoke(app, args).exit_code == 0
    before = (out / "output.nc").read_bytes()
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--force" in res.output and "Traceback" not in res.output
    assert (out / "output.nc").read_bytes() == before  # untouched
    # a bad --set with --force must not delete the previous experiment
    res = runner.invoke(app, [*args, "--force", "--set", "grid.nz=-1"])
    assert res.exit_code == 2 and (out / "output.nc").read_bytes() == before
    # resuming with a different config is refused, naming the changed field
    res = runner.invoke(app, [*args, "--resume", "--set", "forcing.heat_flux=-10"])
    assert res.exit_code == 2 and "forcing.heat_flux" in res.output
    # --force on a folder that is not an experiment is refused
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    res = runner.invoke(app, ["run", str(cfg), "-o", str(other), "--force", "--no-progress"])
    assert res.exit_code == 2 and (other / "thesis.tex").exists()
    # --force on an experiment overwrites it
    (out / "stale.txt").write_text("old")
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert not (out / "stale.txt").exists() and (out / "output.nc").exists()
    # --resume of a completed run is a no-op that keeps the result
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "completed"


def test_provenance_and_report(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(BLOWUP_CONFIG.replace("stop_time = 86400.0", "stop_time = 7200.0"))
    out = tmp_path / "exp"
    res = CliRunner().invoke(app, ["run", str(cfg), "-o", str(out), "--no-progress",
                                   "--set", "forcing.heat_flux=-50"])
    assert res.exit_code == 0, res.output
    prov = json.loads((out / "provenance.json").read_text())
    for key in ("packages", "python", "platform", "command", "start", "end", "backend", "seeds",
                "config_sha256", "git"):
        assert key in prov
    assert prov["packages"]["jax"] and prov["packages"]["numpy"] and prov["packages"]["xarray"]
    assert prov["status"] == "completed" and prov["backend"] == "jax"
    assert prov["start"] <= prov["end"]
    # heat budget: the column loses exactly 50 W m-2 between the first output (the initial
    # state) and the last
    hc = prov["diagnostics"]["heat_content_change"]
    assert abs(hc - (-50.0 * 7200.0)) < 1e-6 * 50 * 7200
    report = (out / "report.md").read_text()
    assert "final mixed-layer depth" in report and "figures/column.png" in report
    assert (out / "figures" / "column.png").stat().st_size > 1000
    import tomllib

    assert tomllib.loads((out / "config.toml").read_text())["forcing"]["heat_flux"] == -50.0


def test_git_revision_never_fails(tmp_path):
    from pyclimaocean.provenance import collect_provenance, git_revision

    assert git_revision(tmp_path) is None  # not a checkout
    assert git_revision(tmp_path / "does-not-exist") is None
    old = os.getcwd()
    try:
        os.chdir(tmp_path)
        rec = collect_provenance(command=["x"])
    finally:
        os.chdir(old)
    json.dumps(rec)
    assert rec["command"] == ["x"]
