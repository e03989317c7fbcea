"""Forcing and initial conditions from data: tabulated surface fluxes (interpolated in time
inside the compiled step, differentiable) and initial profiles from files.

Checks: the interpolation reproduces constant and piecewise-linear series exactly; the column's
heat and salt budgets close with tabulated fluxes (Δt Σ Q(tⁿ), i.e. the trapezoidal integral
minus the end correction); the gradient w.r.t. one tabulated value against central finite
differences; reading netCDF/CSV files (names, units, coverage errors); the config round trip;
and the example ``examples/column_observed_forcing.toml`` with its data files, which
``examples/column_observed_forcing_data.py`` writes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.closures.catke import CATKELike
from pyclimaocean.config import ConfigError
from pyclimaocean.experiment import _dump_toml, load_experiment, run_experiment
from pyclimaocean.fluxes.surface import SolarPenetration, TabulatedSurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel, InitialConditions, InitialProfiles
from pyclimaocean.models.column.config import build_model
from pyclimaocean.models.column.data import (
    DataFileError,
    read_initial_profiles,
    read_surface_forcing,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


# -- interpolation ------------------------------------------------------------------------------
def test_constant_series_is_reproduced_exactly():
    times = np.array([0.0, 600.0, 5000.0, 86400.0])
    f = TabulatedSurfaceForcing(times, heat_flux=np.full(4, -73.25), shortwave=12.5,
                                wind_stress_x=[0.1] * 4, freshwater_flux=2e-8)
    at = jax.jit(lambda f, t: f.at(t))
    for t in (0.0, 1.0, 599.999, 600.0, 3333.3, 86400.0):
        fl = at(f, t)
        assert float(fl.heat_flux) == -73.25
        assert float(fl.shortwave) == 12.5
        assert float(fl.wind_stress_x) == 0.1
        assert float(fl.wind_stress_y) == 0.0
        assert float(fl.freshwater_flux) == 2e-8


def test_piecewise_linear_series_is_reproduced_exactly():
    knots = np.array([0.0, 3600.0, 7200.0, 18000.0, 21600.0])
    values = np.array([-100.0, 50.0, 50.0, -20.0, 0.0])
    # a table sampled from the same piecewise-linear function at more times (every 900 s)
    fine = np.arange(0.0, 21600.0 + 1, 900.0)
    f = TabulatedSurfaceForcing(fine, heat_flux=np.interp(fine, knots, values))
    at = jax.jit(lambda f, t: f.at(t).heat_flux)

    def exact(t):  # the segment's line, written out independently of any interp routine
        i = min(np.searchsorted(knots, t, side="right") - 1, len(knots) - 2)
        return values[i] + (values[i + 1] - values[i]) * (t - knots[i]) / (knots[i + 1] - knots[i])

    for t in np.linspace(0.0, 21600.0, 157):
        np.testing.assert_allclose(float(at(f, t)), exact(t), rtol=1e-14, atol=1e-12)
    for t, v in zip(knots, values, strict=True):  # at the knots: the tabulated value itself
        assert float(at(f, t)) == v
    # outside the table the end values are held
    assert float(at(f, -10.0)) == -100.0 and float(at(f, 1e6)) == 0.0


def test_table_checks():
    with pytest.raises(ValueError, match="strictly increasing"):
        TabulatedSurfaceForcing([0.0, 10.0, 10.0], heat_flux=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="heat_flux has shape"):
        TabulatedSurfaceForcing([0.0, 10.0], heat_flux=[1.0, 2.0, 3.0])
    f = TabulatedSurfaceForcing([0.0, 100.0], heat_flux=[1.0, 2.0])
    f.check_covers(0.0, 100.0)
    with pytest.raises(ValueError, match="covers t = 0 s to 100 s .* to 200 s"):
        f.check_covers(0.0, 200.0)


# -- physics: budgets and gradients -------------------------------------------------------------
def _tabulated_model(nz=16, dt=600.0, heat=None, times=None):
    times = np.arange(0.0, 86400.0 + 1, 3 * dt) if times is None else times
    hours = times / 3600.0
    if heat is None:
        heat = -120.0 + 60.0 * np.sin(hours / 3.0) + 5.0 * (hours % 5)
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=100.0),
        closure=CATKELike(),
        forcing=TabulatedSurfaceForcing(
            times, heat_flux=heat,
            shortwave=np.maximum(400.0 * np.sin(2 * np.pi * (hours - 6) / 24), 0.0),
            wind_stress_x=0.05 + 0.02 * np.cos(hours), wind_stress_y=0.01,
            freshwater_flux=3e-8 * np.cos(hours / 2.0),
        ),
        initial_conditions=InitialConditions(temperature_gradient=0.02, salinity_gradient=-0.002,
                                             mixed_layer_depth=10.0),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        dt=dt,
    )


def test_heat_and_salt_budgets_close_with_tabulated_fluxes():
    model = _tabulated_model()
    n = 144  # one day; table knots every 3 steps
    s0 = model.initial_state()
    final = model.run(s0, n, checkpoint_every=None)[0]
    rho_cp = model.reference_density * model.heat_capacity
    heat_change = rho_cp * float(model.grid.integrate(final.temperature - s0.temperature))
    salt_change = float(model.grid.integrate(final.salinity - s0.salinity))

    f = model.forcing
    tn = np.arange(n) * model.dt  # the step evaluates the fluxes at t^n
    q = np.interp(tn, f.times, f.heat_flux) + np.interp(tn, f.times, f.shortwave)
    expected_heat = model.dt * q.sum()
    np.testing.assert_allclose(heat_change, expected_heat, rtol=1e-10)
    fw = np.interp(tn, f.times, f.freshwater_flux)
    np.testing.assert_allclose(salt_change, model.dt * model.reference_salinity * fw.sum(),
                               rtol=1e-9)

    # the same number from the table alone: the trapezoidal integral over [0, T] of the
    # piecewise-linear series, minus Δt (Q(T) − Q(0)) / 2 for the left-point evaluation
    T = n * model.dt
    qk = np.asarray(f.heat_flux) + np.asarray(f.shortwave)
    inside = np.asarray(f.times) <= T
    integral = np.trapezoid(qk[inside], np.asarray(f.times)[inside])
    q_end = np.interp(T, f.times, qk)
    np.testing.assert_allclose(heat_change, integral - model.dt * (q_end - qk[0]) / 2, rtol=1e-10)


@pytest.mark.slow  # 8.4 s measured at load ~4 (fast tier: pytest -m 'not slow')
def test_gradient_wrt_one_tabulated_value_matches_finite_differences():
    model = _tabulated_model(nz=12)
    n, k = 60, 7  # knots every 3 steps: the 8th (t = 7 · 1800 s) is inside the run

    def loss(table):
        m = eqx.tree_at(lambda q: q.forcing.heat_flux, model, table)
        final = m.run(None, n, checkpoint_every=None)[0]
        return jnp.sum(final.temperature * m.grid.dz_centers) + final.temperature[-1] ** 2

    table = model.forcing.heat_flux
    # one compiled program gives the gradient and the loss values of the finite difference
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    grad = np.asarray(value_and_grad(table)[1])

    def f(x):
        return value_and_grad(x)[0]

    # W m-2; the central difference converges as h² (0.1: 6e-5, 0.02: 2.5e-6, 0.005: 1.4e-7
    # relative, with the smooth CATKE switches' curvature)
    h = 0.005
    fd = (float(f(table.at[k].add(h))) - float(f(table.at[k].add(-h)))) / (2 * h)
    assert grad[k] != 0.0
    np.testing.assert_allclose(grad[k], fd, rtol=1e-6)
    # one entry per knot; knots after the last step's time (59 · 600 s) have no influence
    assert np.all(grad[n // 3 + 1:] == 0.0) and np.all(grad[:n // 3] != 0.0)


# -- files -------------------------------------------------------------------------------------
def _write_forcing(path, hours=np.arange(0.0, 49.0, 3.0), **over):
    heat = -50.0 - np.arange(hours.size, dtype=float)
    ds = xr.Dataset(
        {"Qnet": ("t", heat, {"units": over.get("heat_units", "W/m^2")}),
         "shortwave": ("t", np.full(hours.size, 10.0), {"units": "W m-2"}),
         "wind_stress_x": ("t", np.full(hours.size, 0.1), {"units": "Pa"}),
         "freshwater_flux": ("t", np.full(hours.size, 1e-3), {"units": "mm day-1"})},
        coords={"t": ("t", hours, {"units": "hours since 2010-01-01"})},
    )
    ds.to_netcdf(path)
    return hours * 3600.0, heat


def _write_profile(path, depth=np.array([0.0, 10.0, 50.0, 200.0]), units="degC"):
    ds = xr.Dataset(
        {"temperature": ("depth", 20.0 - 0.05 * depth, {"units": units}),
         "u": ("depth", np.full(depth.size, 0.1), {"units": "m s-1"})},
        coords={"depth": ("depth", depth, {"units": "m", "positive": "down"})},
    )
    ds.to_netcdf(path)


def test_read_surface_forcing_netcdf_and_csv(tmp_path):
    times, heat = _write_forcing(tmp_path / "flux.nc")
    data = read_surface_forcing(tmp_path / "flux.nc", {"heat_flux": "Qnet", "time": "t"})
    np.testing.assert_array_equal(data["times"], times)
    np.testing.assert_array_equal(data["heat_flux"], heat)
    np.testing.assert_allclose(data["freshwater_flux"], 1e-3 * 1e-3 / 86400.0, rtol=1e-15)  # mm/day
    assert "wind_stress_y" not in data  # absent fluxes are zero in the forcing

    csv = tmp_path / "flux.csv"
    csv.write_text("# a comment\ntime [h], heat_flux [W m-2], wind_stress_x\n"
                   "0, -10, 0.1\n1, -20, 0.2\n2, -30, 0.3\n")
    data = read_surface_forcing(csv)
    np.testing.assert_array_equal(data["times"], [0.0, 3600.0, 7200.0])
    np.testing.assert_array_equal(data["heat_flux"], [-10.0, -20.0, -30.0])
    np.testing.assert_array_equal(data["wind_stress_x"], [0.1, 0.2, 0.3])


def test_forcing_file_errors_name_file_variable_and_accepted(tmp_path):
    path = tmp_path / "flux.nc"
    _write_forcing(path)
    with pytest.raises(DataFileError, match=r"flux.nc: no variable 'time' \(time\). The file "
                       r"has: .*Qnet.*variables = \{ time ="):
        read_surface_forcing(path)
    with pytest.raises(DataFileError, match="does not exist"):
        read_surface_forcing(tmp_path / "missing.nc", {"time": "t"})
    _write_forcing(path, heat_units="W")
    with pytest.raises(DataFileError, match=r"flux.nc: variable 'Qnet' \(heat_flux\) has units "
                       r"'W'.*Accepted units: W m-2"):
        read_surface_forcing(path, {"heat_flux": "Qnet", "time": "t"})
    with pytest.raises(DataFileError, match="not forcing quantities. Quantities are: time, "
                       "heat_flux"):
        read_surface_forcing(path, {"heatflux": "Qnet"})
    (tmp_path / "flux.txt").write_text("x")
    with pytest.raises(DataFileError, match=r"unknown format '.txt'. Supported: netCDF"):
        read_surface_forcing(tmp_path / "flux.txt")


def test_initial_profiles_from_file(tmp_path):
    _write_profile(tmp_path / "ctd.nc")
    data = read_initial_profiles(tmp_path / "ctd.nc")
    np.testing.assert_array_equal(data["z"], [-200.0, -50.0, -10.0, 0.0])
    grid = ColumnGrid(nz=10, depth=100.0)
    ic = InitialProfiles.from_data(grid.z_centers, data["z"], data["temperature"],
                                   u=data["u"])
    model = ColumnModel(grid=grid, closure=CATKELike(), initial_conditions=ic, dt=600.0)
    s = model.initial_state()
    zc = np.asarray(grid.z_centers)
    np.testing.assert_allclose(s.temperature, 20.0 + 0.05 * zc, rtol=1e-14)  # linear: exact
    np.testing.assert_allclose(s.u, 0.1)
    np.testing.assert_allclose(s.salinity, 35.0)

    with pytest.raises(ValueError, match=r"does not cover the column: it spans z = -200 to 0 m "
                       r"\(depth 0 to 200 m\) but the grid's cell centres span z = -292.5 to -7.5 m"):
        InitialProfiles.from_data(ColumnGrid(nz=20, depth=300.0).z_centers, data["z"],
                                  data["temperature"], source="ctd.nc")
    _write_profile(tmp_path / "bad.nc", units="K")
    with pytest.raises(DataFileError, match=r"'temperature' \(temperature\) has units 'K'.*"
                       "Accepted units: degC"):
        read_initial_profiles(tmp_path / "bad.nc")


# -- config --------------------------------------------------------------------------------------
CONFIG = """
[experiment]
name = "tabulated"

[grid]
nz = 8
depth = 80.0

[closure]
type = "convective_adjustment"

[forcing]
file = "{forcing}"
variables = {{ heat_flux = "Qnet", time = "t" }}

[initial_conditions]
file = "{profile}"

[time]
dt = 3600.0
stop_time = {stop}
output_interval = 10800.0
"""


def _config(tmp_path, stop=172800.0, **extra):
    _write_forcing(tmp_path / "flux.nc")
    _write_profile(tmp_path / "ctd.nc")
    text = CONFIG.format(forcing=tmp_path / "flux.nc", profile=tmp_path / "ctd.nc", stop=stop)
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_config_round_trip(tmp_path):
    path = _config(tmp_path)
    cfg, raw = load_experiment(path)
    model = build_model(cfg)
    assert isinstance(model.forcing, TabulatedSurfaceForcing)
    times, heat = _write_forcing(tmp_path / "again.nc")
    np.testing.assert_array_equal(model.forcing.times, times)
    np.testing.assert_array_equal(model.forcing.heat_flux, heat)
    np.testing.assert_array_equal(model.forcing.wind_stress_y, 0.0)
    np.testing.assert_allclose(model.initial_state().temperature,
                               20.0 + 0.05 * np.asarray(model.grid.z_centers), rtol=1e-14)

    # config -> TOML -> config gives the same config and the same model
    dumped = tmp_path / "dumped.toml"
    dumped.write_text(_dump_toml(raw))
    assert tomllib.loads(dumped.read_text()) == raw
    cfg2, _ = load_experiment(dumped)
    assert cfg2 == cfg
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))
    leaves2 = jax.tree_util.tree_leaves(eqx.filter(build_model(cfg2), eqx.is_array))
    assert len(leaves) == len(leaves2)
    for a, b in zip(leaves, leaves2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_errors(tmp_path):
    path = _config(tmp_path, stop=4 * 86400.0)  # the table ends at 48 h
    cfg, _ = load_experiment(path)
    with pytest.raises(ConfigError, match=r"forcing.file: .*flux.nc covers t = 0 s to 172800 s "
                       r"but the run needs .* to 342000 s"):
        build_model(cfg)
    with pytest.raises(ConfigError, match="forcing.heat_flux cannot be combined with "
                       "forcing.file"):
        load_experiment(path, ["forcing.heat_flux=-10.0"])
    with pytest.raises(ConfigError, match="forcing.variables.heatflux: not a forcing quantity"):
        load_experiment(path, ["forcing.variables.heatflux=Qnet"])
    with pytest.raises(ConfigError, match="initial_conditions.surface_temperature cannot be "
                       "combined"):
        load_experiment(path, ["initial_conditions.surface_temperature=10.0"])
    cfg, _ = load_experiment(path, ["time.stop_time=86400.0", "grid.depth=300.0"])
    with pytest.raises(ConfigError, match=r"initial_conditions.file: .*ctd.nc does not cover "
                       "the column"):
        build_model(cfg)
    cfg, _ = load_experiment(path, ["time.stop_time=86400.0", "initial_conditions.u=0.3"])
    with pytest.raises(ConfigError, match="initial_conditions.u cannot be combined with the u "
                       "profile"):
        build_model(cfg)
    cfg, _ = load_experiment(path, ["time.stop_time=86400.0", "forcing.variables.time=time"])
    with pytest.raises(ConfigError, match="forcing.file: .*no variable 'time'"):
        build_model(cfg)


def test_data_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _write_forcing(data_dir / "flux.nc")
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    path = config_dir / "run.toml"
    path.write_text('[experiment]\nmodel = "column"\n[forcing]\nfile = "../data/flux.nc"\n'
                    'variables = { time = "t", heat_flux = "Qnet" }\n'
                    "[time]\ndt = 600.0\nstop_time = 3600.0\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg, raw = load_experiment(path)
    assert Path(raw["forcing"]["file"]) == config_dir / "../data/flux.nc"
    assert isinstance(build_model(cfg).forcing, TabulatedSurfaceForcing)
    # an absolute path is kept; a --set path is relative to the current directory
    absolute = str(data_dir / "flux.nc")
    assert load_experiment(path, [f'forcing.file="{absolute}"'])[1]["forcing"]["file"] == absolute
    _, raw = load_experiment(path, ['forcing.file="flux.nc"'])
    assert raw["forcing"]["file"] == "flux.nc"
    cfg, _ = load_experiment(path, ['forcing.file="missing.nc"'])
    with pytest.raises(ConfigError, match="forcing.file: .*missing.nc"):
        build_model(cfg)


# -- the example ----------------------------------------------------------------------------------
def test_example_data_files_are_what_the_script_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "column_observed_forcing_data", EXAMPLES / "column_observed_forcing_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.main(tmp_path):
        with xr.open_dataset(path) as new, xr.open_dataset(EXAMPLES / path.name) as committed:
            xr.testing.assert_identical(new.load(), committed.load())
    assert {p.name for p in module.main(tmp_path)} == {"column_observed_forcing.nc",
                                                       "column_observed_profile.nc"}


@pytest.mark.slow  # 2.0 s measured (fast tier: pytest -m 'not slow')
def test_example_column_observed_forcing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data paths are relative to the config file, not the cwd
    result = run_experiment(EXAMPLES / "column_observed_forcing.toml", tmp_path / "out",
                            ["grid.nz=16", "time.stop_time=86400.0",
                             "time.output_interval=21600.0"])
    ds = result.dataset
    assert ds.sizes["time"] == 5
    assert np.all(np.isfinite(ds["T"].values))
    # the initial record is the observed profile on the grid
    profile = read_initial_profiles(EXAMPLES / "column_observed_profile.nc")
    z = ds["z"].values
    np.testing.assert_allclose(ds["T"].isel(time=0).values,
                               np.interp(z, profile["z"], profile["temperature"]), rtol=1e-12)
