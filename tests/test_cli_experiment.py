"""The experiment commands of the launcher (in-process, typer's CliRunner; no Prefect here):
``validate``, ``examples``, ``ensemble --sequential``, help texts and exit codes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "column_free_convection.toml"
SMALL = ["--set", "grid.nz=8", "--set", "time.stop_time=14400", "--set",
         "time.output_interval=3600", "--set", "time.checkpoint_interval=7200",
         "--set", "output.plots=false"]
runner = CliRunner()


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("command", ["run", "validate", "ensemble", "flow", "examples"])
def test_help_has_examples(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    assert "Example" in res.output and "pyclimaocean" in res.output


def test_validate_reports_plan_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = _files(tmp_path)
    res = runner.invoke(app, ["validate", str(EXAMPLE), "--set", "time.dt=300"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "valid" in text and "1152" in text  # 4 days / 300 s
    assert "64 (every 18 steps)" in text or "outputs" in text
    assert _files(tmp_path) == before
    res = runner.invoke(app, ["validate", str(EXAMPLE), "--set", "time.dt=-1"])
    assert res.exit_code == 2 and "time.dt" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["validate", str(EXAMPLE), "--set", "experiment.backend=julia"])
    assert res.exit_code == 4 and "Julia" in res.output
    res = runner.invoke(app, ["validate", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_examples_bundled_match_repository():
    """One source of truth: the package's examples are the repository's examples/ folder
    (``pyclimaocean/examples`` is a link to it, shipped as package data)."""
    from pyclimaocean.cli_experiment import bundled_examples, examples_dir

    repo = {p.stem: p for p in (ROOT / "examples").iterdir()
            if p.suffix in (".toml", ".py") and not p.name.startswith(("_", "."))}
    bundled = bundled_examples()
    assert set(bundled) == set(repo), "pyclimaocean/examples must mirror examples/"
    for name, path in bundled.items():
        assert path.read_bytes() == repo[name].read_bytes(), name
    assert examples_dir().resolve() == (ROOT / "examples").resolve()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["pyclimaocean"]
    assert "examples/*.toml" in patterns and "examples/*.py" in patterns


@pytest.mark.slow  # 2.4 s measured (fast tier: pytest -m 'not slow')
def test_examples_list_and_copy_then_run(tmp_path):
    res = runner.invoke(app, ["examples"])
    assert res.exit_code == 0 and "column_free_convection" in res.output
    res = runner.invoke(app, ["examples", "copy", "column_free_convection", str(tmp_path)])
    assert res.exit_code == 0, res.output
    copied = tmp_path / "column_free_convection.toml"
    assert copied.read_bytes() == EXAMPLE.read_bytes()
    res = runner.invoke(app, ["examples", "copy", "column_free_convection", str(tmp_path)])
    assert res.exit_code == 2 and "--force" in res.output
    res = runner.invoke(app, ["examples", "copy", "no_such_example", str(tmp_path)])
    assert res.exit_code == 2 and "column_free_convection" in res.output
    # the bundled example runs (small variant)
    res = runner.invoke(app, ["run", str(copied), "-o", str(tmp_path / "fc"), "--no-progress",
                              *SMALL])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "fc" / "output.nc").exists() and (tmp_path / "fc" / "report.md").exists()


@pytest.mark.slow  # 2.4 s measured (fast tier: pytest -m 'not slow')
def test_sequential_ensemble_resume_and_determinism(tmp_path):
    from pyclimaocean.experiment import ensemble_parameters, sample_members

    out = tmp_path / "ens"
    small = SMALL[:-2]  # with plots: the ensemble figure
    args = ["ensemble", str(EXAMPLE), "-p", "c_hi_c", "-p", "closure.c_conv_c", "-n", "3",
            "--seed", "7", "--sequential", "--no-progress", "-o", str(out), *small]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "ensemble.json").read_text())
    params = ensemble_parameters(EXAMPLE, ["c_hi_c", "c_conv_c"])
    expected = sample_members(params, 3, 7)
    np.testing.assert_array_equal(np.array(meta["values"]), expected)
    for i in range(3):
        p = params["closure.c_hi_c"]
        assert p.lower <= expected[i, 0] <= p.upper
    with xr.open_dataset(out / "ensemble.nc") as ds:
        assert ds.sizes["member"] == 3 and ds.sizes["parameter"] == 2
        np.testing.assert_array_equal(ds["parameter_values"].values, expected)
        # members differ (the parameters matter) but share the forcing
        assert not np.array_equal(ds["e"].values[0], ds["e"].values[1])
        member_cfg = tomllib.loads((out / "members" / "member_001" / "config.toml").read_text())
        # the member's values sit in its [parameters] table (exact round trip)
        assert member_cfg["parameters"]["closure"]["c_hi_c"] == expected[1, 0]
    assert (out / "report.md").exists() and (out / "figures" / "ensemble.png").exists()
    # resume: completed members are not run again
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    for i in range(3):
        log = (out / "members" / f"member_{i:03d}" / "run.log").read_text()
        assert log.count(" start ") == 1
    # resuming with other ensemble settings is refused
    res = runner.invoke(app, [*args[:-len(small)], "--seed", "8", *small, "--resume"])
    assert res.exit_code == 2 and "seed" in res.output
    # without --force/--resume the directory is protected
    res = runner.invoke(app, args)
    assert res.exit_code == 2


@pytest.mark.slow  # 3.1 s measured (fast tier: pytest -m 'not slow')
def test_ensemble_errors_and_blowups(tmp_path):
    base = ["ensemble", str(EXAMPLE), "--sequential", "--no-progress", *SMALL]
    res = runner.invoke(app, [*base, "-p", "not_a_parameter", "-o", str(tmp_path / "a")])
    assert res.exit_code == 2 and "not_a_parameter" in res.output
    res = runner.invoke(app, [*base, "-o", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--perturb" in res.output
    res = runner.invoke(app, [*base, "-p", "c_hi_c", "--method", "wild", "-o", str(tmp_path / "c")])
    assert res.exit_code == 2 and "relative" in res.output
    # every member blows up: exit 3, but the ensemble directory and report are written
    res = runner.invoke(app, [*base, "-p", "c_hi_c", "-n", "2", "-o", str(tmp_path / "d"),
                              "--method", "relative", "--set", "forcing.heat_flux=5000",
                              "--set", "time.dt=3600", "--set", "grid.depth=10",
                              "--set", "time.stop_time=86400"])
    assert res.exit_code == 3, res.output
    assert "blew up" in res.output and "Traceback" not in res.output
    assert "blew_up" in (tmp_path / "d" / "report.md").read_text()
