"""The coupled ocean–sea-ice column (pyclimaocean.models.coupled) and the generic coupler
(pyclimaocean.coupling): conservation across air–ice–ocean, the prescribed atmosphere from
files, coupler checks, AD vs FD gradients through a coupled run, the model contract and the CLI
run of examples/coupled_arctic_column.toml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app
from pyclimaocean.config import ConfigError, validate
from pyclimaocean.core import AbstractModel, get_model_entry
from pyclimaocean.coupling import (
    AIR_SEA_ICE_FIELDS,
    AbstractComponent,
    AbstractExchange,
    AtmosphereFileError,
    Coupler,
    read_atmosphere,
)
from pyclimaocean.models.coupled import (
    CoupledColumn,
    arctic_atmosphere,
    arctic_atmosphere_dataset,
    budgets,
    default_ocean,
)
from pyclimaocean.models.seaice import SlabSeaIceThermodynamics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "coupled_arctic_column.toml"
ATMOSPHERE_FILE = ROOT / "examples" / "coupled_arctic_atmosphere.nc"
DAY = 86400.0
runner = CliRunner()


def _relative_drifts(model, states):
    b0 = budgets(model, model.initial_state())
    b = budgets(model, states)
    energy = np.abs(np.asarray(b["energy_residual"] - b0["energy_residual"]))
    salt = np.abs(np.asarray(b["salt_residual"] - b0["salt_residual"]))
    return (float(np.max(energy / np.asarray(b["energy_scale"]))),
            float(np.max(salt / np.asarray(b["salt_scale"]))))


def _lead_model(thermodynamics=None, dt=6 * 3600.0):
    """Thin, broken ice (a = 0.5) over a mixed layer at +1 °C: open water, evaporation, the
    ice bath, lateral melt and lead ice until the pack closes, then growth and melt."""
    ocean = default_ocean(dt=dt, nz=12, depth=60.0, surface_temperature=1.0,
                          mixed_layer_depth=20.0)
    return CoupledColumn(atmosphere=arctic_atmosphere(), ocean=ocean,
                         thermodynamics=thermodynamics, initial_ice_thickness=0.6,
                         initial_concentration=0.5, initial_snow_thickness=0.05)


@pytest.mark.slow  # 36-47 s measured at load ~20 on 2 cores (fast tier: -m 'not slow')
@pytest.mark.parametrize("flux", ["ice_bath", "three_equation"])
def test_coupled_column_conserves_energy_and_salt(flux):
    """Energy E = ρ₀c_p ΣTΔz − L(m_i + m_s) minus the heat input, and the virtual salt
    ρ₀ΣSΔz + S_i m_i − S_ref(m_i + m_s) + S_ref × freshwater input, over 240 days at
    6-hourly steps (leads closing, winter growth, spring melt): < 1e-10 relative."""
    th = (SlabSeaIceThermodynamics.three_equation() if flux == "three_equation"
          else SlabSeaIceThermodynamics())
    m = _lead_model(th)
    _, states = m.run(m.initial_state(), 240 * 4, save_every=1)
    energy, salt = _relative_drifts(m, states)
    assert energy < 1e-10 and salt < 1e-10, (energy, salt)
    # not trivially constant: the leads close (lead ice), the ocean cools by 2.5 K, the ice
    # grows then melts, freshwater leaves (evaporation over the leads) and enters (snow)
    a = np.asarray(states.seaice.concentration)
    assert a.min() < 0.55 and a.max() > 0.99
    sst = np.asarray(states.ocean.temperature[:, -1])
    assert sst.max() - sst.min() > 2.0
    h = np.asarray(states.seaice.ice_volume)
    assert h.max() - h[-1] > 0.05 and h.max() > 3 * h[0]
    fw = np.asarray(states.freshwater_input)
    assert fw.min() < -1.0 and fw[-1] > 5.0


@pytest.mark.slow  # 46 s measured at load ~20 on 2 cores (fast tier: -m 'not slow')
def test_thick_ice_stays_at_freezing_and_grows_in_winter():
    """Under 2 m of ice in January the surface cell stays within 0.05 K of freezing, the ice
    grows, and conservation holds (6-hourly steps, 30 days)."""
    m = CoupledColumn(atmosphere=arctic_atmosphere(), ocean=default_ocean(dt=6 * 3600.0))
    _, states = m.run(m.initial_state(), 4 * 30, save_every=1)
    sst = np.asarray(states.ocean.temperature[:, -1])
    t_f = -0.054 * np.asarray(states.ocean.salinity[:, -1])
    assert np.all(np.abs(sst - t_f) < 0.05)
    h = np.asarray(states.seaice.ice_volume)
    assert h[-1] > h[0] + 0.05                                   # winter growth
    assert max(_relative_drifts(m, states)) < 1e-10


@pytest.mark.slow  # 1.6-18 s measured on the shared machine (fast tier: -m 'not slow')
def test_prescribed_atmosphere_interpolates_periodically_and_reads_files(tmp_path):
    atm = arctic_atmosphere()
    ta = np.asarray(atm.air_temperature)
    # mid-January and mid-February values, the linear midpoint, and the wrap Dec -> Jan
    assert float(atm.at(15 * DAY)["air_temperature"]) == pytest.approx(ta[0])
    assert float(atm.at(30 * DAY)["air_temperature"]) == pytest.approx(0.5 * (ta[0] + ta[1]))
    assert float(atm.at(0.0)["air_temperature"]) == pytest.approx(0.5 * (ta[0] + ta[-1]))
    assert float(atm.at(360 * DAY + 15 * DAY)["air_temperature"]) == pytest.approx(ta[0])
    # the example file holds the same atmosphere and regenerates identically
    read = read_atmosphere(ATMOSPHERE_FILE, period=360 * DAY)
    for name in ("air_temperature", "shortwave_down", "snowfall", "specific_humidity"):
        np.testing.assert_allclose(np.asarray(getattr(read, name)),
                                   np.asarray(getattr(atm, name)), rtol=1e-12)
    with xr.open_dataset(ATMOSPHERE_FILE) as committed:
        xr.testing.assert_allclose(committed.load(), arctic_atmosphere_dataset())
    # ... which is what examples/coupled_arctic_atmosphere_data.py writes
    spec = importlib.util.spec_from_file_location(
        "coupled_arctic_atmosphere_data", ROOT / "examples" / "coupled_arctic_atmosphere_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with xr.open_dataset(script.main(tmp_path)) as written, \
            xr.open_dataset(ATMOSPHERE_FILE) as committed:
        xr.testing.assert_identical(written.load(), committed.load())
    # units converted, errors name the file and the variable
    ds = arctic_atmosphere_dataset()
    ds["air_temperature"] = ds["air_temperature"] - 273.15
    ds["air_temperature"].attrs["units"] = "degC"
    np.testing.assert_allclose(np.asarray(read_atmosphere(ds).air_temperature), ta)
    ds["air_temperature"].attrs["units"] = "F"
    with pytest.raises(AtmosphereFileError, match="air_temperature.*units 'F'"):
        read_atmosphere(ds)
    with pytest.raises(AtmosphereFileError, match="no variable 'longwave_down'"):
        read_atmosphere(arctic_atmosphere_dataset().drop_vars("longwave_down"))
    with pytest.raises(AtmosphereFileError, match="does not exist"):
        read_atmosphere(tmp_path / "missing.nc")


class _Silent(AbstractComponent):
    def advance(self, state, imports, time, dt):
        return state, {"ocean": {"not_declared": 1.0}}


class _NoFluxes(AbstractExchange):
    def __call__(self, exports, time):
        return {"ocean": {"heat_flux": 0.0}}


def test_coupler_checks_order_and_declared_fields():
    with pytest.raises(ValueError, match="not components"):
        Coupler(components={"seaice": _Silent()}, exchange=_NoFluxes(), order=("ocean",),
                fields=())
    with pytest.raises(ValueError, match="lists a component twice"):
        Coupler(components={"seaice": _Silent(), "ocean": _Silent()}, exchange=_NoFluxes(),
                order=("seaice", "seaice"), fields=())
    coupler = Coupler(components={"seaice": _Silent(), "ocean": _Silent()},
                      exchange=_NoFluxes(), order=("seaice",), fields=AIR_SEA_ICE_FIELDS)
    assert set(coupler.declared("ocean")) == {
        "wind_stress_x", "wind_stress_y", "evaporation_minus_rain", "heat_flux", "shortwave",
        "salt_flux"}
    with pytest.raises(KeyError, match="component 'seaice' passes \\['not_declared'\\]"):
        coupler.step({"seaice": None, "ocean": None}, 0.0, 1.0)
    undeclared = Coupler(components={"seaice": _Silent(), "ocean": _Silent()},
                         exchange=_NoFluxes(), order=(), fields=())
    with pytest.raises(KeyError, match="the exchange passes"):
        undeclared.step({"seaice": None, "ocean": None}, 0.0, 1.0)


@pytest.mark.slow  # 35 s of CPU measured (407 s wall at load ~15 on 2 cores), mostly compiling the reverse pass
def test_gradient_through_the_coupled_run_matches_fd():
    """AD vs central FD (step 1e-6 relative) of a loss of the coupled run w.r.t. an ice, an
    ice–ocean and an air–sea parameter at once: 10 days from mid-May (sunlit, bare ice, leads
    half open over a warm mixed layer), the mean of SST plus ice volume."""
    ocean = default_ocean(dt=6 * 3600.0, nz=12, depth=60.0, surface_temperature=1.0,
                          mixed_layer_depth=20.0)
    base = CoupledColumn(atmosphere=arctic_atmosphere(), ocean=ocean, initial_ice_thickness=0.6,
                         initial_concentration=0.5, initial_snow_thickness=0.0)
    s0 = eqx.tree_at(lambda s: s.time, base.initial_state(), jnp.asarray(135 * DAY))
    paths = ["thermodynamics.ice_albedo", "thermodynamics.heat_transfer_coefficient",
             "exchange.ocean_fluxes.roughness.charnock_slope"]
    params = base.parameters(paths)

    def loss(v):
        m = params.with_values(dict(zip(paths, v, strict=True))).apply(base)
        _, obs = m.run(s0, 40, save_every=1,
                       observe=lambda s: s.ocean.temperature[-1] + s.seaice.ice_volume)
        return jnp.mean(obs)

    v0 = jnp.asarray([float(params[p].value) for p in paths])
    # one compiled program: its value is the loss for the finite differences (a separately
    # compiled forward would cost a second compilation of the coupled run)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    grad = np.asarray(value_and_grad(v0)[1])

    def f(v):
        return value_and_grad(v)[0]

    for i, path in enumerate(paths):
        step = jnp.zeros(3).at[i].set(1e-6 * abs(float(v0[i])))
        fd = float((f(v0 + step) - f(v0 - step)) / (2 * step[i]))
        assert grad[i] == pytest.approx(fd, rel=1e-4), (path, grad[i], fd)
        assert abs(grad[i] * float(v0[i])) > 1e-3, path


@pytest.mark.slow  # 36-50 s measured at load ~20 on 2 cores (fast tier: -m 'not slow')
def test_coupled_column_implements_the_contract_and_registry(tmp_path):
    entry = get_model_entry("coupled_column")
    cfg = validate({"experiment": {"model": "coupled_column"},
                    "time": {"dt": 3600.0, "stop_time": 86400.0}}, entry.config_schema())
    m = entry.build(cfg)
    assert isinstance(m, AbstractModel) and isinstance(m, CoupledColumn)
    assert m.thermodynamics.ocean_heat_capacity == m.ocean.heat_capacity
    params = m.parameters()
    assert {"thermodynamics.ice_albedo", "thermodynamics.heat_transfer_coefficient",
            "exchange.ocean_fluxes.roughness.charnock_slope", "exchange.ice_ocean_drag",
            "ocean.closure.c_hi_c"} <= set(params.names)
    with pytest.raises(KeyError, match="Parameters are"):
        m.parameters(["albedo"])
    _, states = m.run(m.initial_state(), 24, save_every=6)
    ds = m.to_xarray(states)
    cf = {v: ds[v].attrs.get("standard_name") for v in ("h", "concentration", "sst", "T", "Ts")}
    assert cf == {"h": "sea_ice_thickness", "concentration": "sea_ice_area_fraction",
                  "sst": "sea_surface_temperature", "T": "sea_water_temperature",
                  "Ts": "sea_ice_surface_temperature"}
    assert ds["T"].dims == ("time", "z") and ds.sizes["time"] == 4
    assert set(m.diagnostics()) == {"sea_surface_temperature", "ice_thickness", "concentration",
                                    "ice_volume"}
    with pytest.raises(ConfigError, match="seaice.ice_ocean_flux"):
        validate({"experiment": {"model": "coupled_column"},
                  "seaice": {"ice_ocean_flux": "bulk"},
                  "time": {"dt": 3600.0, "stop_time": 86400.0}}, entry.config_schema())
    bad = {"experiment": {"model": "coupled_column"},
           "atmosphere": {"file": str(tmp_path / "none.nc")},
           "time": {"dt": 3600.0, "stop_time": 86400.0}}
    with pytest.raises(ConfigError, match="does not exist"):
        entry.build(validate(bad, entry.config_schema()))


@pytest.mark.slow  # 97 s measured at load ~20 on 2 cores (fast tier: -m 'not slow')
def test_cli_runs_the_coupled_example(tmp_path):
    out = tmp_path / "coupled"
    res = runner.invoke(app, ["run", str(EXAMPLE), "-o", str(out), "--no-progress",
                              "--set", "time.stop_time=864000.0"])
    assert res.exit_code == 0, res.output
    assert (out / "figures" / "coupled_column.png").exists()
    with xr.open_dataset(out / "output.nc") as ds:
        assert ds.attrs["model"] == "coupled_column" and ds.sizes["time"] == 11
        assert ds["concentration"].attrs["standard_name"] == "sea_ice_area_fraction"
        assert np.all(np.isfinite(ds["T"].values))


@pytest.mark.slow  # 118 s of CPU measured (699 s wall at load ~15), mostly compiling the adjoint
def test_twin_calibration_example_runs_small(tmp_path):
    """examples/coupled_twin_calibration.py, tiny: 20 days at daily steps, one L-BFGS-B
    iteration and one EKI update; both report parameters inside the bounds and a finite
    misfit, and the figure is written."""
    spec = importlib.util.spec_from_file_location(
        "coupled_twin_calibration", ROOT / "examples" / "coupled_twin_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--days", "20", "--dt", "86400", "--ensemble", "3",
                           "--iterations", "1", "--lbfgs-iterations", "1", "-o", str(tmp_path)])
    assert (tmp_path / "twin.png").exists() and (tmp_path / "summary.json").exists()
    assert summary["misfit"]["n_observations"] == 12
    for method in ("lbfgsb", "eki"):
        values = summary[method]["parameters"]
        assert set(values) == set(module.PATHS)
        assert 0.3 < values["thermodynamics.ice_albedo"] < 0.9
        assert np.isfinite(summary["misfit"][method])
