"""QG closures and coarse-grained data sets from config files and the command line: the
[closure] section, `pyclimaocean run` of the closure example, and the `qg_dataset` flow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app
from pyclimaocean.config import ConfigError
from pyclimaocean.experiment import load_experiment, plan_experiment
from pyclimaocean.models.qg import Smagorinsky, ZannaBolton2020, load_coarse_dataset
from pyclimaocean.workflows.qg_data import coarse_dataset_member, load_dataset_config

ROOT = Path(__file__).resolve().parents[1]
CLOSURE = ROOT / "examples" / "qg_closure.toml"
DATASET = ROOT / "examples" / "qg_dataset.toml"
EDDY = ROOT / "examples" / "qg_eddy.toml"
SHORT = ["qg.nx=16", "time.stop_time=172800", "time.output_interval=43200",
         "time.checkpoint_interval=86400"]
SMALL_DATA = ["qg.nx=32", "coarse_graining.nx=8", "coarse_graining.spinup_time=86400",
              "coarse_graining.sample_interval=43200", "coarse_graining.n_samples=2",
              "coarse_graining.members=2", "time.dt=7200"]
runner = CliRunner()


def test_closure_section_selects_a_closure_with_its_coefficients():
    plan = plan_experiment(CLOSURE)
    assert isinstance(plan.model.closure, ZannaBolton2020)
    assert float(plan.model.closure.kappa) == -46761284.0
    assert "closure.kappa" in plan.parameters
    smag = plan_experiment(EDDY, ["closure.name=smagorinsky", "closure.constant=0.2"]).model
    assert isinstance(smag.closure, Smagorinsky) and float(smag.closure.constant) == 0.2
    assert plan_experiment(EDDY).model.closure is None
    # [parameters] reach the coefficients
    moved = plan_experiment(CLOSURE, ["parameters.closure.kappa=-1e7"]).model
    assert float(moved.closure.kappa) == -1e7
    with pytest.raises(ConfigError, match="outside its bounds"):
        plan_experiment(CLOSURE, ["parameters.closure.kappa=1e7"])
    with pytest.raises(ConfigError, match="Closures are: none, smagorinsky"):
        plan_experiment(EDDY, ["closure.name=leith"])
    with pytest.raises(ConfigError, match="smagorinsky.*nope"):
        plan_experiment(EDDY, ["closure.name=smagorinsky", "closure.nope=1.0"])
    with pytest.raises(ConfigError, match="closure coefficient"):
        load_experiment(EDDY, ["closure.name=smagorinsky", "closure.constant=[1, 2]"])


@pytest.mark.slow  # 28 s measured on a loaded machine
def test_cli_runs_the_closure_example(tmp_path):
    out = tmp_path / "closure"
    res = runner.invoke(app, ["run", str(CLOSURE), "-o", str(out), "--no-progress",
                              *[x for s in SHORT for x in ("--set", s)]])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out / "output.nc") as ds:
        assert "Zanna-Bolton 2020" in ds.attrs["closure"]
        assert ds.sizes["time"] == 5 and np.isfinite(ds["q"].values).all()
    assert "closure" in (out / "config.toml").read_text()


@pytest.mark.slow  # 13 s measured on a loaded machine
def test_dataset_config_and_one_member(tmp_path):
    cfg, raw = load_dataset_config(DATASET, SMALL_DATA)
    assert cfg.coarse_graining.members == 2 and cfg.coarse_graining.format == "zarr"
    res = coarse_dataset_member(raw, tmp_path, 1)
    assert res["seed"] == cfg.experiment.seed + 1 and res["n_samples"] == 2
    assert Path(res["path"]).name == "member_001.zarr"
    data = load_coarse_dataset(res["path"])
    assert data["q_forcing"].shape == (2, 2, 8, 8)
    with xr.open_zarr(res["path"]) as ds:
        assert ds.attrs["member"] == 1 and ds.attrs["seed"] == cfg.experiment.seed + 1
        assert float(ds["time"].values[0].astype("datetime64[s]").astype(float)
                     - np.datetime64("2000-01-01", "s").astype(float)) == 86400 + 43200
    with pytest.raises(ConfigError, match=r"\[coarse_graining\]"):
        load_dataset_config(EDDY)
    with pytest.raises(ConfigError, match="whole number of time steps"):
        load_dataset_config(DATASET, [*SMALL_DATA, "coarse_graining.sample_interval=1000"])
    with pytest.raises(ConfigError, match="smaller than"):
        load_dataset_config(DATASET, [*SMALL_DATA, "coarse_graining.nx=32"])


@pytest.mark.slow  # 134 s + 58 s setup measured on a loaded machine (Prefect, Dask)
def test_qg_dataset_flow_from_the_command_line(prefect_api, tmp_path):
    out = tmp_path / "data"
    args = ["flow", "qg_dataset", str(DATASET), "-o", str(out), "--workers", "2",
            *[x for s in SMALL_DATA for x in ("--set", s)], "--param", "members=3"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["files"] == [f"member_{i:03d}.zarr" for i in range(3)]
    assert [m["seed"] for m in manifest["members"]] == [0, 1, 2]
    data = load_coarse_dataset([out / f for f in manifest["files"]])
    assert data["q"].shape == (6, 2, 8, 8)
    # members differ (different seeds); the member written in-process equals the flow's
    assert not np.allclose(data["q"][0], data["q"][2])
    alone = coarse_dataset_member(load_dataset_config(DATASET, SMALL_DATA)[1], tmp_path, 1)
    np.testing.assert_array_equal(np.asarray(load_coarse_dataset(alone["path"])["q_forcing"]),
                                  np.asarray(data["q_forcing"][2:4]))
    # --resume finds every member done
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
