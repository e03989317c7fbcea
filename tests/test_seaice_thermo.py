"""Sea-ice thermodynamics (pyclimaocean.models.seaice): conservation of energy, water and salt
across air–ice–ocean, the Arctic periodic equilibrium, AD vs finite-difference gradients, the
model contract and the CLI run of examples/seaice_arctic_column.toml."""

from __future__ import annotations

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
from pyclimaocean.core.model import apply_parameter_section
from pyclimaocean.models.seaice import (
    ArcticColumn,
    SeaIceForcing,
    SlabSeaIceThermodynamics,
    annual_mean_thickness,
    arctic_climatology,
    budgets,
    surface_albedo,
    surface_temperature,
)
from pyclimaocean.models.seaice.thermodynamics import (
    penetrating_shortwave,
    thermodynamic_step_with_fluxes,
    three_equation_interface,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "seaice_arctic_column.toml"
YEAR_STEPS = 360
runner = CliRunner()


def _relative_budget_errors(model, states):
    """Largest drift over the run of (energy − heat input), (water − water input) and salt,
    relative to the energy scale (|c_o M T_o| + L (m_i + m_s)), the water and the salt."""
    p = model.thermodynamics
    b0 = budgets(p, model.initial_state())
    b = budgets(p, states)
    energy = np.max(np.abs(b["energy_residual"] - b0["energy_residual"]) / b["energy_scale"])
    water = np.max(np.abs(b["water_residual"] - b0["water_residual"]) / b["water"])
    salt = np.max(np.abs(b["salt"] - b0["salt"]) / b["salt"])
    return float(energy), float(water), float(salt)


def test_arctic_column_conserves_energy_water_and_salt_over_ten_years():
    m = ArcticColumn()
    _, states = m.run(m.initial_state(), 10 * YEAR_STEPS, save_every=1)
    errors = _relative_budget_errors(m, states)
    assert max(errors) < 1e-10, errors
    # the budgets are not trivially constant: ice melts and grows, snow falls and melts
    h = np.asarray(states.ice_volume)
    assert h.max() - h.min() > 0.5 and np.asarray(states.snow_volume).max() > 0.2


def test_leads_frazil_and_lateral_melt_conserve_too():
    """Open water, a warm deep-ocean flux (ice melts out every summer: open-water heating,
    lateral melt, snow on water) and winter refreezing from frazil, in 2x3 columns at once."""
    m = ArcticColumn(forcing=arctic_climatology(ocean_heat_flux=25.0), initial_ice_thickness=0.5,
                     initial_concentration=0.6, mixed_layer_depth=10.0, shape=(2, 3))
    _, states = m.run(m.initial_state(), 3 * YEAR_STEPS, save_every=1)
    a = np.asarray(states.concentration)
    # ice-free summers, winters refrozen by frazil (the only way from a = 0 back to a > 0.5);
    # 25 W m-2 from below balances the lead cooling, so winter leads stay ~20 % open
    assert a.min() == 0.0 and a[-100:].max() > 0.75
    assert np.asarray(states.ocean_temperature).max() > 0.0
    errors = _relative_budget_errors(m, states)
    assert max(errors) < 1e-10, errors


def test_surface_temperature_solves_the_flux_balance_and_caps_at_melting():
    p = SlabSeaIceThermodynamics()
    f = SeaIceForcing(*(jnp.asarray(v) for v in ([0.0, 300.0], [170.0, 300.0], [15.0, 0.0],
                                                 [0.0, -10.0], [0.0, 0.0], [2.0, 2.0])))
    resistance = jnp.asarray([3.0 / 2.03 + 0.3 / 0.31, 2.0 / 2.03])
    t_s, f_c, melt = surface_temperature(p, f, surface_albedo(p, jnp.asarray([0.3, 0.0])),
                                         resistance, -1.8, jnp.asarray([-1.8, -1.8]))
    # winter: balance holds, T well below freezing, no melt
    emitted = p.emissivity * 5.670374419e-8 * (t_s[0] + 273.15) ** 4
    assert abs(170.0 + 15.0 - emitted + f_c[0]) < 1e-9 and -40 < t_s[0] < -20 and melt[0] == 0
    # summer: capped at 0 °C, the excess melts
    assert t_s[1] == 0.0 and melt[1] > 50.0
    assert float(f_c[1]) == pytest.approx(-1.8 / float(resistance[1]))


def test_arctic_column_reaches_a_periodic_equilibrium_near_3_m():
    """Semtner (1976) zero-layer, MU71 climatology: annual mean thickness in [2, 4] m (MU71's
    2.9 m; the zero-layer model's equilibrium moves ~0.5 m for 0.02 of albedo, so a looser
    band than ±1 m would not test the physics and a tighter one would test the tuning)."""
    m = ArcticColumn(initial_ice_thickness=3.0)
    _, h = m.run(m.initial_state(), 30 * YEAR_STEPS, save_every=1,
                 observe=lambda s: s.ice_volume / s.concentration)
    annual = np.asarray(h).reshape(30, YEAR_STEPS).mean(axis=1)
    assert 2.0 < annual[-1] < 4.0, annual[-1]
    assert abs(annual[-1] - annual[-2]) < 5e-3, annual[-3:]             # periodic
    cycle = np.asarray(h).reshape(30, YEAR_STEPS)[-1]
    assert 0.3 < cycle.max() - cycle.min() < 1.5                         # seasonal amplitude


@pytest.mark.slow  # 3.0 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("name", ["ice_albedo", "ice_conductivity", "snow_albedo"])
def test_gradient_of_annual_mean_thickness_matches_finite_differences(name):
    """The 1-year mean thickness is piecewise smooth: discrete events (the day the snow melts
    out) put kinks ~1e-4 apart in albedo (central FD with a step 1e-4 differs by 3 % for the
    snow albedo), so the FD step is 1e-6 relative, inside one smooth piece."""
    m = ArcticColumn(initial_ice_thickness=2.5)
    path = f"thermodynamics.{name}"
    params = m.parameters([path])
    f = jax.jit(lambda v: annual_mean_thickness(params.with_values({path: v}).apply(m), 1)[0])
    v0 = float(params[path].value)
    grad = float(jax.grad(f)(jnp.asarray(v0)))
    eps = 1e-6 * abs(v0)
    fd = float((f(v0 + eps) - f(v0 - eps)) / (2 * eps))
    assert grad == pytest.approx(fd, rel=1e-5), (grad, fd)
    assert abs(grad) > 0.01


def test_seaice_column_implements_the_model_contract(tmp_path):
    m = ArcticColumn()
    assert isinstance(m, AbstractModel) and m.name == "seaice_column"
    final, states = m.run(m.initial_state(), 2 * YEAR_STEPS, save_every=10)
    ds = m.to_xarray(states)
    names = {v: ds[v].attrs.get("standard_name") for v in ("h", "concentration", "hs", "Ts")}
    assert names == {"h": "sea_ice_thickness", "concentration": "sea_ice_area_fraction",
                     "hs": "surface_snow_thickness", "Ts": "sea_ice_surface_temperature"}
    assert ds["h"].attrs["units"] == "m" and ds.sizes["time"] == 72
    summary = m.summary(ds)
    assert summary["duration"][0] == pytest.approx(2.0 - 10 / 360)
    assert 1.0 < summary["mean_thickness_last_year"][0] < 4.0
    paths = m.figures(ds, tmp_path)
    assert [p.name for p in paths] == ["seasonal_cycle.png"] and paths[0].stat().st_size > 0
    # parameters: bounds, priors, apply
    params = m.parameters()
    assert {"thermodynamics.ice_albedo", "thermodynamics.ice_conductivity",
            "thermodynamics.snow_conductivity", "thermodynamics.heat_transfer_coefficient",
            "forcing.ocean_heat_flux"} <= set(params.names)
    assert all(p.prior is not None for p in params.parameters.values())
    changed = apply_parameter_section(m, {"thermodynamics.ice_albedo": 0.5})
    assert float(changed.thermodynamics.ice_albedo) == 0.5
    with pytest.raises(ConfigError, match="outside its bounds"):
        apply_parameter_section(m, {"thermodynamics.ice_albedo": 1.5})
    with pytest.raises(KeyError, match="Parameters are"):
        m.parameters(["albedo"])
    assert set(m.diagnostics()) == {"mean_thickness", "ice_volume", "snow_thickness"}


@pytest.mark.slow  # 2.0 s measured (fast tier: pytest -m 'not slow')
def test_columns_are_vectorised_and_independent():
    one = ArcticColumn()
    many = ArcticColumn(shape=(2, 3))
    s1, _ = one.run(one.initial_state(), 200)
    s6, _ = many.run(many.initial_state(), 200)
    assert s6.ice_volume.shape == (2, 3)
    np.testing.assert_allclose(np.asarray(s6.ice_volume), float(s1.ice_volume), rtol=1e-13)
    # vmap over models with different albedos
    models = [eqx.tree_at(lambda m: m.thermodynamics.ice_albedo, one, v) for v in (0.6, 0.64)]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *models)
    h = jax.vmap(lambda mm: mm.run(mm.initial_state(), 200)[0].ice_volume)(stacked)
    assert float(h[0]) < float(h[1])


def test_config_registry_and_errors():
    entry = get_model_entry("seaice_column")
    schema = entry.config_schema()
    cfg = validate({"experiment": {"model": "seaice_column"},
                    "time": {"dt": 86400.0, "stop_time": 86400.0 * 360}}, schema)
    model = entry.build(cfg)
    assert isinstance(model, ArcticColumn) and model.dt == 86400.0
    with pytest.raises(ConfigError, match="seaice.mixed_layer_depth"):
        validate({"experiment": {"model": "seaice_column"}, "seaice": {"mixed_layer_depth": -1},
                  "time": {"dt": 86400.0, "stop_time": 86400.0}}, schema)
    with pytest.raises(ValueError, match="newton_iterations"):
        SlabSeaIceThermodynamics(newton_iterations=0)


def test_cli_runs_the_arctic_column_example(tmp_path):
    out = tmp_path / "arctic"
    res = runner.invoke(app, ["run", str(EXAMPLE), "-o", str(out), "--no-progress",
                              "--set", "time.stop_time=62208000.0"])
    assert res.exit_code == 0, res.output
    assert (out / "figures" / "seasonal_cycle.png").exists()
    with xr.open_dataset(out / "output.nc") as ds:
        assert ds.attrs["model"] == "seaice_column" and ds.sizes["time"] == 73
        assert ds["h"].attrs["standard_name"] == "sea_ice_thickness"
        assert np.all(np.isfinite(ds["h"].values))


@pytest.mark.slow  # 6.1 s measured (fast tier: pytest -m 'not slow')
def test_three_equation_flux_conserves_and_its_interface_solves_the_three_equations():
    """Three-equation ice–ocean flux (McPhee / Holland & Jenkins; ClimaOcean coefficients):
    the interface (S_b, T_b) satisfies heat, salt and liquidus to round-off, freezing makes
    the interface saltier and colder than the mixed layer, melting fresher; the coupled
    air–ice–ocean budgets still close to < 1e-10 over 3 years with open water and leads."""
    p = SlabSeaIceThermodynamics.three_equation()
    t_o = jnp.asarray([-1.70, 0.5])          # near freezing (growth) and warm (melt)
    s_o = jnp.asarray([32.0, 32.0])
    g = jnp.asarray([30.0, 0.0])             # upward conduction at the interface (W m-2)
    latent = p.latent_heat + p.ocean_heat_capacity * p.freezing_temperature(s_o)
    s_b, t_b = three_equation_interface(p, t_o, s_o, g, latent)
    k_t = p.bath_coefficient()
    k_s = p.ocean_density * p.heat_transfer_coefficient / p.salt_transfer_ratio \
        * p.friction_velocity
    melt = k_s * (s_o - s_b) / (s_b - p.ice_salinity)
    np.testing.assert_allclose(k_t * (t_o - t_b) - g, latent * melt, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(t_b, -p.liquidus_slope * s_b, rtol=1e-14)
    assert melt[0] < 0 < melt[1] and s_b[0] > 32.0 > s_b[1] and t_b[0] < -1.728
    m = ArcticColumn(thermodynamics=p, forcing=arctic_climatology(ocean_heat_flux=25.0),
                     initial_ice_thickness=0.5, initial_concentration=0.6,
                     mixed_layer_depth=10.0, shape=(2,))
    _, states = m.run(m.initial_state(), 3 * YEAR_STEPS, save_every=1)
    assert np.asarray(states.concentration).min() == 0.0
    assert max(_relative_budget_errors(m, states)) < 1e-10


@pytest.mark.slow  # 4.7 s measured (fast tier: pytest -m 'not slow')
def test_penetrating_shortwave_splits_the_net_shortwave_and_reaches_the_ocean():
    """i0 (1 − c_s) of (1 − α) SW↓ penetrates (none under snow), exp(−κ h) of it reaches the
    ocean; in a step the mixed layer receives the transmitted part."""
    p = SlabSeaIceThermodynamics()
    sw = jnp.asarray([300.0, 300.0, 300.0])
    hs = jnp.asarray([0.0, 0.01, 0.3])
    hi = jnp.asarray([1.0, 1.0, 1.0])
    surface, absorbed, transmitted = penetrating_shortwave(p, sw, hs, hi)
    net = (1 - surface_albedo(p, hs)) * sw
    np.testing.assert_allclose(surface + absorbed + transmitted, net, rtol=1e-14)
    np.testing.assert_allclose(transmitted[0], 0.17 * net[0] * np.exp(-1.5), rtol=1e-14)
    assert float(transmitted[2]) == 0.0 and float(absorbed[2]) == 0.0
    assert 0 < float(transmitted[1]) < float(transmitted[0])
    # one summer day over 1 m of bare ice: the mixed layer gets the transmitted shortwave
    m = ArcticColumn(initial_ice_thickness=1.0)
    f = m.forcing(180 * 86400.0)
    _, fluxes = thermodynamic_step_with_fluxes(p, m.initial_state(), f, 86400.0)
    expected = penetrating_shortwave(p, f.shortwave_down, 0.0, 1.0)[2]
    assert float(fluxes["ocean_shortwave"]) == pytest.approx(float(expected), rel=1e-12)
    assert float(fluxes["ocean_shortwave"]) > 2.0


def test_leads_refreeze_in_winter_so_concentration_recovers():
    """Open water losing heat over a mixed layer at freezing forms new ice in the leads
    (Hibler 1979, Δa = Δv / h0): from 70 % ice in late autumn the pack closes within a month
    and the winter concentration stays above 0.999 year after year (before the lead growth
    the concentration of the Arctic column decayed by ~0.05 % a year)."""
    m = ArcticColumn(initial_concentration=0.7, initial_ice_thickness=2.5)
    _, a = m.run(m.initial_state(), 5 * YEAR_STEPS, save_every=1,
                 observe=lambda s: s.concentration)
    a = np.asarray(a).reshape(5, YEAR_STEPS)
    assert a[0, 30] > 0.99                               # closed within the first month
    winter = a[:, :90]                                   # January to March
    assert winter[1:].min() > 0.999, winter.min(axis=1)
    assert a[-1, -1] >= a[1, -1] - 1e-6                  # no decay from year to year


@pytest.mark.slow  # 12-16 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("name,three", [("penetration_fraction", False),
                                        ("heat_transfer_coefficient", True)])
def test_gradient_with_penetration_and_three_equation_matches_fd(name, three):
    """AD vs central FD of the 1-year mean thickness w.r.t. i0 and, with the three-equation
    flux, the ice–ocean transfer coefficient α_h (step 1e-6 relative, as above)."""
    th = SlabSeaIceThermodynamics.three_equation() if three else SlabSeaIceThermodynamics()
    m = ArcticColumn(thermodynamics=th, initial_ice_thickness=2.5,
                     forcing=arctic_climatology(ocean_heat_flux=6.0))
    path = f"thermodynamics.{name}"
    params = m.parameters([path])
    f = jax.jit(lambda v: annual_mean_thickness(params.with_values({path: v}).apply(m), 1)[0])
    v0 = float(params[path].value)
    grad = float(jax.grad(f)(jnp.asarray(v0)))
    eps = 1e-6 * abs(v0)
    fd = float((f(v0 + eps) - f(v0 - eps)) / (2 * eps))
    assert grad == pytest.approx(fd, rel=1e-5), (grad, fd)
    assert abs(grad * v0) > 1e-3
