"""The coupled ocean–sea-ice basin (pyclimaocean.models.coupled_basin): energy, freshwater
and salt conservation of ocean + ice + surface fluxes with land, AD vs central finite
differences through a coupled run, jit vs eager, the model contract, the registry and the CLI
run of examples/coupled_polar_basin.toml."""

from __future__ import annotations

import tomllib
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
from pyclimaocean.models.coupled_basin import (
    BASIN_AIR_SEA_ICE_FIELDS,
    CoupledBasin,
    budgets,
    polar_basin,
)
from pyclimaocean.models.seaice import SlabSeaIceThermodynamics

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "coupled_polar_basin.toml"
runner = CliRunner()
#: XLA's backend (LLVM) optimisation level 0 for the tests' big compiled functions: it halves
#: their compile time on CPU and changes results only at round-off (the checked tolerances,
#: 1e-10 relative for the budgets and 1e-6 for AD vs FD, are many orders above it)
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _compile(fn, model):
    """``fn(model)`` compiled once ahead of time (array leaves traced, the rest static);
    returns a function of models of the same structure."""
    dynamic, static = eqx.partition(model, eqx.is_array)
    compiled = jax.jit(lambda d: fn(eqx.combine(d, static))).lower(dynamic).compile(
        FAST_COMPILE)
    return lambda m: compiled(eqx.partition(m, eqx.is_array)[0])


def _small(**kwargs) -> CoupledBasin:
    """5 x 5 x 3 cells (8 x 4 deg) with a land cell in the south-east and an island."""
    options = dict(dlon=8.0, dlat=4.0, nz=3, depth=600.0, ice_substeps=30)
    options.update(kwargs)
    return polar_basin(**options)


def _conservation_run(model):
    """Initial and final states after 48 steps and their budgets, in one compiled call."""
    s0 = model.initial_state()
    s1, _ = model.run(s0, 48)
    return s0, s1, budgets(model, s0), budgets(model, s1)


@pytest.mark.slow  # 27-36 s measured at load ~10-15 on 2 cores, mostly compiling
@pytest.mark.parametrize("case", ["autumn_ice_bath", "summer_three_equation",
                                  "autumn_similarity_theory"])
def test_coupled_basin_conserves_energy_freshwater_and_salt(case):
    if case == "autumn_ice_bath":
        model = _small(start_day=270.0)
    elif case == "autumn_similarity_theory":  # COARE 3.6 over water, over-ice similarity theory
        model = _small(start_day=270.0, fluxes="similarity_theory")
    else:  # melt season: sun, warm leads, lateral and basal melt, three-equation flux
        model = _small(start_day=170.0, ice_edge_latitude=66.0,
                       thermodynamics=SlabSeaIceThermodynamics.three_equation())
    g = model.grid
    assert float(jnp.sum(1 - g.maskT[-1])) >= 2  # land is in the budget sums' masks
    s0, s1, b0, b1 = _compile(_conservation_run, model)(model)
    changes = {k: float(abs(b1[f"{k}_residual"] - b0[f"{k}_residual"]) / b1[f"{k}_scale"])
               for k in ("energy", "freshwater", "salt")}
    assert all(v < 1e-10 for v in changes.values()), changes
    # the run did exchange something: ice changed, the ocean received water and heat
    assert abs(float(b1["energy"] - b0["energy"])) > 1e6 * abs(
        float(b1["energy_residual"] - b0["energy_residual"]))
    assert float(jnp.max(jnp.abs(s1.ocean_water_input))) > 1.0  # kg m-2
    assert float(jnp.max(jnp.abs(s1.seaice.u))) > 0.01  # the ice moves (m s-1)
    for leaf in jax.tree_util.tree_leaves(s1):
        assert np.all(np.isfinite(np.asarray(leaf)))
    # nothing on land: no ice, no heat input
    land = np.asarray(g.maskT[-1]) == 0
    assert np.all(np.asarray(s1.seaice.thermo.ice_volume)[land] == 0.0)
    assert np.all(np.asarray(s1.seaice.thermo.heat_input)[land] == 0.0)


PARAMETERS = ("thermodynamics.ice_albedo", "thermodynamics.heat_transfer_coefficient",
              "dynamics.ice_strength", "dynamics.ocean_drag",
              "exchange.ocean_fluxes.drag_coefficient")


@pytest.mark.slow  # 118 s measured at load ~10-15 on 2 cores, mostly compiling the reverse pass
def test_gradient_through_the_coupled_basin_matches_central_differences():
    # summer: sunlit leads (albedo), ocean above freezing under the ice (α_h), ice pushed
    # against the southern coast (P*), ice–ocean and air–sea drag; every leaf of the model
    # (all parameters, initial fields, atmosphere) is differentiated in one reverse pass
    model = _small(start_day=170.0, ice_edge_latitude=66.0)
    # Python-float leaves (parameter defaults) become arrays, so that they are differentiated
    model = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x) if isinstance(x, float) else x, model)
    n_steps = 6

    def loss(m):
        s = m.run(m.initial_state(), n_steps, checkpoint_every=None)[0]
        d = m.diagnostics()
        return (d["mean_sst"](m, s) + d["sea_ice_volume"](m, s) / 1e11
                + d["ice_kinetic_energy"](m, s) / 1e10)

    # one compiled function: its value gives the finite differences, its gradient AD
    value_and_grad = _compile(eqx.filter_value_and_grad(loss), model)
    value, grads = value_and_grad(model)
    assert np.isfinite(float(value))
    for leaf in jax.tree_util.tree_leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf)))
    for name in PARAMETERS:
        x = float(_get(model, name))
        h = 1e-5 * x
        plus = eqx.tree_at(lambda m, name=name: _get(m, name), model, jnp.asarray(x + h))
        minus = eqx.tree_at(lambda m, name=name: _get(m, name), model, jnp.asarray(x - h))
        fd = float(value_and_grad(plus)[0] - value_and_grad(minus)[0]) / (2 * h)
        ad = float(_get(grads, name))
        rel = abs(ad - fd) / abs(fd)
        print(f"{name}: AD {ad:.9e}  FD {fd:.9e}  rel {rel:.2e}")
        assert ad != 0.0, name
        assert rel < 1e-6, (name, ad, fd, rel)


def _get(model, dotted):
    obj = model
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.slow  # 18 s measured at load ~10-15 on 2 cores (eager dispatch of one step)
def test_jit_equals_eager():
    model = _small(start_day=270.0, nz=2, ice_substeps=5)
    s = model.initial_state()
    eager = model.step(s)
    jitted = jax.jit(lambda st: model.step(st))(s)
    assert float(jnp.max(jnp.abs(eager.seaice.u))) > 0.0  # the ice moves
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-13)


def test_exchanged_fields_are_declared_once():
    names = [(f.name, f.destination) for f in BASIN_AIR_SEA_ICE_FIELDS]
    assert len(names) == len(set(names))
    for f in BASIN_AIR_SEA_ICE_FIELDS:
        assert f.units and f.destination in ("seaice", "ocean")
    assert ("ice_ocean_stress_x", "ocean") in names and ("wind_stress_x", "ocean") not in names


def test_parameters_and_bad_inputs():
    model = _small()
    params = model.parameters()
    for name in PARAMETERS:
        assert name in params.parameters
    assert "exchange.ice_ocean_drag" not in params.parameters  # unused with moving ice
    assert not any(n.startswith("ocean.forcing.") for n in params.parameters)
    with pytest.raises(ValueError, match="initial_concentration"):
        CoupledBasin(model.ocean, model.atmosphere, initial_concentration=1.5)
    with pytest.raises(ValueError, match="fluxes"):
        _small(fluxes="magic")


@pytest.mark.slow  # 22 s measured at load ~10-15 on 2 cores
def test_contract_registry_and_cli(tmp_path):
    entry = get_model_entry("coupled_basin")
    cfg = validate(tomllib.loads(EXAMPLE.read_text()), entry.config_schema())
    model = entry.build(cfg)
    assert isinstance(model, AbstractModel) and model.name == "coupled_basin"
    assert model.grid.shape == (6, 10, 10)
    assert model.thermodynamics.ocean_heat_capacity == model.heat_capacity
    assert model.dynamics.ice_density == model.thermodynamics.ice_density
    with pytest.raises(ConfigError, match="basin.fluxes"):
        validate({"experiment": {"model": "coupled_basin"}, "basin": {"fluxes": "magic"},
                  "time": {"dt": 3600.0, "stop_time": 86400.0}}, entry.config_schema())
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(EXAMPLE), "-o", str(out), "--set",
                                 "time.stop_time=172800.0", "--set",
                                 "time.output_interval=86400.0", "--set", "basin.dlon=8.0",
                                 "--set", "basin.dlat=4.0", "--set", "basin.nz=2",
                                 "--set", "basin.ice_substeps=5"])
    assert result.exit_code == 0, result.output
    ds = xr.open_dataset(out / "output.nc")
    standard = {name: ds[name].attrs.get("standard_name") for name in ds.data_vars}
    assert standard["siconc"] == "sea_ice_area_fraction"
    assert standard["sithick"] == "sea_ice_thickness"
    assert standard["siu"] == "sea_ice_x_velocity" and standard["siv"] == "sea_ice_y_velocity"
    assert standard["sea_ice_area"] == "sea_ice_area"
    assert standard["sitemptop"] == "sea_ice_surface_temperature"
    assert ds["siconc"].attrs["units"] == "1" and ds["sithick"].attrs["units"] == "m"
    assert (out / "figures" / "ice_maps.png").exists()
    assert (out / "figures" / "ice_time_series.png").exists()
    for name in ("energy_residual", "freshwater_residual", "salt_residual"):
        r = np.asarray(ds[name].values)
        assert np.all(np.isfinite(r))
