"""The ``calibrate`` config with observations read from a user's netCDF file, and the UKI method
selected from a config."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401
from pyclimaocean.calibration.column import column_output_times, column_simulator
from pyclimaocean.calibration.experiment import calibrate_from_file, load_calibration
from pyclimaocean.models.column.config import build_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# one wind + cooling case, 8 cells, 8 h; two controls started 25-30 % off the model's defaults
CONFIG = """
[experiment]
name = "file_observations"
model = "column"
backend = "jax"

[grid]
nz = 8
depth = 32.0

[closure]
type = "catke"

[forcing]
heat_flux = -100.0
wind_stress_x = 0.1

[physics]
coriolis_parameter = 1e-4

[initial_conditions]
temperature_gradient = 0.01

[time]
dt = 1200.0
stop_time = 28800.0
output_interval = 7200.0

[calibration]
method = "scipy_lbfgsb"
regularization = "prior"
max_iterations = 40

[calibration.observations]
source = "file"
path = "{path}"
variables = ["T", "u"]

[calibration.parameters.c_pen_c]
initial_factor = 1.3
[calibration.parameters.c_wind_ustar]
initial_factor = 0.75
"""


def _write_observations(config: Path, path: Path) -> dict[str, float]:
    """Run the model with its default (true) parameters and write noisy T, u profiles at
    depths between the cell centres, built with plain xarray as a user would."""
    cfg, _ = load_calibration(config)
    model = build_model(cfg)
    n_steps, save_every = cfg.time.n_steps, cfg.time.output_every
    out = column_simulator(n_steps, save_every)(model)
    zc = np.asarray(model.grid.z_centers)
    z_obs = np.array([-30.0, -25.0, -19.0, -13.0, -9.0, -5.0, -2.5, -1.0])
    sigma = {"T": 2e-4, "u": 2e-4}
    rng = np.random.default_rng(1)
    ds = xr.Dataset(coords={"time": ("time", column_output_times(model, n_steps, save_every), {"units": "s"}),
                            "z": ("z", z_obs, {"units": "m", "positive": "up"})})
    for name, units in (("T", "degC"), ("u", "m s-1")):
        field = np.asarray(out[name])
        profiles = np.stack([np.interp(z_obs, zc, f) for f in field])
        ds[name] = (("time", "z"), profiles + sigma[name] * rng.normal(size=profiles.shape),
                    {"units": units, "error_std": sigma[name]})
    ds.to_netcdf(path)
    return {f"closure.{n}": float(getattr(model.closure, n)) for n in ("c_pen_c", "c_wind_ustar")}


@pytest.mark.slow  # 20 s of CPU measured (118 s wall at load ~29 on 2 cores)
def test_calibrate_config_with_observations_from_a_netcdf_file(tmp_path):
    obs_path = tmp_path / "obs.nc"
    config = tmp_path / "cal.toml"
    config.write_text(CONFIG.format(path=obs_path.as_posix()))
    truth = _write_observations(config, obs_path)
    s = calibrate_from_file(config, tmp_path / "out")
    assert s["method"] == "scipy_lbfgsb" and "truth" not in s
    assert s["n_observations"] == 2 * 4 * 8
    h = xr.load_dataset(tmp_path / "out" / "history.nc")
    # from well above the noise level down to it: chi^2 / 2 of 64 observations is 32 +- 8
    assert h["loss"].values[0] > 150 and s["data_misfit"] < 32 + 3 * 8
    # c_wind_ustar is well constrained by u; c_pen_c only weakly here (8 h, sigma = 2e-4 K), so
    # it must only move towards the truth from its first guess (30 % off)
    assert abs(s["parameters"]["closure.c_wind_ustar"] / truth["closure.c_wind_ustar"] - 1) < 0.02
    first = h["parameters"].values[0]
    for i, name in enumerate(h["parameter"].values):
        assert abs(s["parameters"][name] - truth[name]) < abs(first[i] - truth[name]), name
    # the file's observations are what was fitted: copied to the output directory
    written = xr.load_dataset(tmp_path / "out" / "observations_file_observations.nc")
    np.testing.assert_allclose(written["T"].values, xr.load_dataset(obs_path)["T"].values)


@pytest.mark.slow  # 20 s of CPU measured (116 s wall at load ~29 on 2 cores)
def test_calibrate_config_uki_variant(tmp_path):
    out = tmp_path / "uki"
    s = calibrate_from_file(EXAMPLES / "column_calibrate.toml", out, [
        "grid.nz=8", "time.stop_time=28800", "time.output_interval=14400", "time.dt=1200",
        "calibration.method=uki", "calibration.max_iterations=3"])
    assert s["method"] == "uki" and s["ensemble_size"] == 13
    assert s["n_forward_runs"] == 3 * 13 + 1
    h = xr.load_dataset(out / "history.nc")
    assert h["data_misfit"].values[-1] < h["data_misfit"].values[0]
    assert h["covariance"].shape == (4, 6, 6)
