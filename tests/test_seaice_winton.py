"""Winton (2000) two-layer sea-ice thermodynamics (pyclimaocean.models.seaice.winton): energy
(layer enthalpies included), water and salt conserved step by step; the steady conductive
limit against the zero-layer solution; thin-ice growth against Stefan's law; the Arctic
periodic equilibrium next to the zero-layer one; snow ice; AD vs finite-difference gradients;
finite gradients through ice-free columns; config and CLI (examples/seaice_arctic_column_winton.toml)."""

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
from pyclimaocean.config import validate
from pyclimaocean.core import get_model_entry
from pyclimaocean.models.coupled import CoupledColumn, arctic_atmosphere, default_ocean
from pyclimaocean.models.coupled import budgets as coupled_budgets
from pyclimaocean.models.seaice import (
    ArcticColumn,
    SeaIceForcing,
    SlabSeaIceThermodynamics,
    WintonSeaIceState,
    WintonThermodynamics,
    annual_mean_thickness,
    arctic_climatology,
    budgets,
    surface_temperature,
)
from pyclimaocean.models.seaice.thermodynamics import STEFAN_BOLTZMANN
from pyclimaocean.models.seaice.winton import (
    lower_enthalpy,
    solve_layer_temperatures,
    upper_enthalpy,
    upper_temperature,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "seaice_arctic_column_winton.toml"
YEAR_STEPS = 360
DAY = 86400.0
runner = CliRunner()


def _traced(tree):
    """``tree`` with its Python-float leaves as float64 arrays: under ``eqx.filter_jit`` they are
    traced instead of baked in, so one compile serves every parameter value, initial thickness
    and forcing of the same structure (the arithmetic is the same; a column's ``dt`` is static)."""
    return jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, dtype=float) if type(x) is float else x, tree)


@eqx.filter_jit
def _run_year(model, state):
    """One 360-day year of daily steps, every state saved.  Compiling the Winton step dominates
    these tests (~7 s at load ~16 against ~0.03 s a simulated year), so every forward run of a
    model structure (class, static options, shape) shares this one compile."""
    return model.run(state, YEAR_STEPS, save_every=1, checkpoint_every=None)


@eqx.filter_jit
def _annual_mean_gradient(model, state):
    """(mean, d mean / d thermodynamics) of :func:`annual_mean_thickness` over one year from
    ``state``: one compiled reverse sweep shared by the FD-checked gradients and the melt-out
    test (every float of ``model`` traced)."""
    def mean(thermodynamics):
        return annual_mean_thickness(
            eqx.tree_at(lambda m: m.thermodynamics, model, thermodynamics), 1, state)[0]

    return jax.value_and_grad(mean)(model.thermodynamics)


def _run(model, years, state=None):
    """(final state, the daily states of ``years`` years stacked in time), run a year at a time
    through :func:`_run_year`."""
    model = _traced(model)
    state = model.initial_state() if state is None else state
    years_out = []
    for _ in range(years):
        state, states = _run_year(model, state)
        years_out.append(states)
    return state, jax.tree_util.tree_map(lambda *x: np.concatenate(x), *years_out)


def _per_step_errors(model, states):
    """Largest per-step change of (energy − heat input), (water − water input) and salt,
    relative to the energy scale (|c_o M T_o| + |ice and snow enthalpy|), water and salt."""
    p = model.thermodynamics
    b = budgets(p, states)
    b0 = budgets(p, model.initial_state())

    def steps(key):
        x = np.concatenate([np.asarray(b0[key])[None], np.asarray(b[key])])
        return np.abs(np.diff(x, axis=0))

    energy = np.max(steps("energy_residual") / np.asarray(b["energy_scale"]))
    water = np.max(steps("water_residual") / np.asarray(b["water"]))
    salt = np.max(steps("salt") / np.asarray(b["salt"]))
    return float(energy), float(water), float(salt)


def test_enthalpies_invert_and_hold_the_brine_latent_heat():
    p = WintonThermodynamics()
    t = jnp.asarray([-30.0, -10.0, -1.0, -0.3])
    np.testing.assert_allclose(upper_temperature(p, upper_enthalpy(p, t)), t, rtol=1e-13)
    t_m = -p.liquidus_slope * p.ice_salinity
    # at its melting point the upper layer is liquid (c_o T_m); the lower layer (no brine) still
    # needs L to melt there
    assert float(upper_enthalpy(p, t_m)) == pytest.approx(p.ocean_heat_capacity * t_m, rel=1e-13)
    np.testing.assert_allclose(lower_enthalpy(p, t_m),
                               p.ocean_heat_capacity * t_m - p.latent_heat, rtol=1e-14)
    np.testing.assert_allclose(lower_enthalpy(p, t) - lower_enthalpy(p, t_m),
                               p.ice_heat_capacity * (t - t_m), rtol=1e-12)
    # the brine term: warming briny ice from -1.5 to -0.5 °C costs c_i + L T_m (1/T' − 1/T),
    # ~47 times c_i (brine pockets melt)
    warm = float(upper_enthalpy(p, -0.5) - upper_enthalpy(p, -1.5))
    expected = p.ice_heat_capacity + p.latent_heat * t_m * (1 / -0.5 - 1 / -1.5)
    assert warm == pytest.approx(expected, rel=1e-12) and warm > 40 * p.ice_heat_capacity


# fast tier: 2.5-5.2 s at load ~5-6, 10 s at load ~13-17 on 2 cores, nearly all the compile of the
# year that the slow tests below reuse
def test_winton_column_conserves_energy_water_and_salt_every_step():
    """Arctic column, one year: the change of c_o M T_o + layer enthalpies − L m_s equals the
    heat input of every step to < 1e-10 relative; water and salt likewise."""
    m = ArcticColumn(thermodynamics=WintonThermodynamics(), initial_ice_thickness=2.5)
    _, states = _run(m, 1)
    assert isinstance(states, WintonSeaIceState)
    errors = _per_step_errors(m, states)
    assert max(errors) < 1e-10, errors
    # not trivially constant: ice grows and melts, the layers cool and warm
    h = np.asarray(states.ice_volume)
    t1 = np.asarray(states.upper_ice_temperature)
    assert h.max() - h.min() > 0.25 and t1.min() < -15.0 and t1.max() > -1.5
    assert np.all(t1 < -m.thermodynamics.liquidus_slope * m.thermodynamics.ice_salinity)


@pytest.mark.slow  # 6.9 s at load ~6, 16 s at load ~13-17 on 2 cores (was 48 s)
def test_leads_frazil_lateral_melt_and_snow_ice_conserve_too():
    """25 W m-2 from below (ice-free summers: open water, lateral melt, snow on water, frazil in
    winter) and 4x the snowfall (snow ice by flooding), three years; the ice bath in one column
    (sharing the compiled year of the test above), the three-equation flux in 2x3 columns."""
    for th, shape in ((WintonThermodynamics(), ()),
                      (WintonThermodynamics.three_equation(), (2, 3))):
        m = ArcticColumn(thermodynamics=th, shape=shape,
                         forcing=arctic_climatology(ocean_heat_flux=25.0, snow_scale=4.0),
                         initial_ice_thickness=0.5, initial_concentration=0.6,
                         mixed_layer_depth=10.0)
        _, states = _run(m, 3)
        a = np.asarray(states.concentration)
        assert a.min() == 0.0 and a[-100:].max() > 0.75
        errors = _per_step_errors(m, states)
        assert max(errors) < 1e-10, (th.ice_ocean_flux, errors)


@pytest.mark.slow  # 1.8 s at load ~6, 3.6 s at load ~13-17 on 2 cores (eager ops)
def test_snow_ice_puts_flooded_snow_at_the_waterline():
    """0.4 m of ice under 0.5 m of snow floats below the waterline (330 × 0.5 > 126 × 0.4 kg
    m-2): one step turns the excess snow into upper-layer ice, mass conserving, leaving the
    ice surface at the waterline; the salt of the new ice comes from the mixed layer."""
    p = WintonThermodynamics()
    m = ArcticColumn(thermodynamics=p, initial_ice_thickness=0.4, initial_snow_thickness=0.5)
    # winter ice (cold enough that the brine moved down by the re-balancing stays below T_m)
    s0 = eqx.tree_at(lambda s: (s.surface_temperature, s.upper_ice_temperature,
                                s.lower_ice_temperature), m.initial_state(),
                     (jnp.asarray(-15.0), jnp.asarray(-10.0), jnp.asarray(-5.0)))
    f = m.forcing(15 * DAY)                                   # January, no melt
    f = SeaIceForcing(**{**f.__dict__, "snowfall": jnp.asarray(0.0)})
    s1, fluxes = p.step_with_fluxes(s0, f, DAY)
    mi, ms = p.ice_density * s1.ice_volume, p.snow_density * s1.snow_volume
    assert float(fluxes["snow_ice_formation"]) > 0
    # floating at the waterline: total mass = rho_o h_i
    assert float(mi + ms) == pytest.approx(float(p.ocean_density * s1.ice_volume), rel=1e-12)
    b0, b1 = budgets(p, s0), budgets(p, s1)
    assert float(abs(b1["salt"] - b0["salt"]) / b0["salt"]) < 1e-14
    assert float(abs(b1["energy_residual"] - b0["energy_residual"]) / b1["energy_scale"]) < 1e-13
    # without snow ice the snow stays
    q = WintonThermodynamics(snow_ice=False)
    s2, _ = q.step_with_fluxes(s0, f, DAY)
    assert float(s2.snow_volume) > float(s1.snow_volume) + 0.1


# 1.1 s at load ~6, 2.4 s at load ~13-17 on 2 cores (eager ops): fast tier
def test_steady_conductive_limit_is_the_zero_layer_solution_with_a_linear_profile():
    """With Δt → ∞ the heat capacity drops out: T_s and the conductive flux equal the zero-layer
    surface balance with R = h/k_i + h_s/k_s, and T₁, T₂ lie on the piecewise-linear profile
    (h_s of snow over h of ice; T₁ at h/4, T₂ at 3h/4 below the ice top)."""
    p = WintonThermodynamics()
    f = SeaIceForcing(*(jnp.asarray(v) for v in ([0.0, 0.0], [170.0, 200.0], [15.0, 5.0],
                                                 [0.0, 0.0], [0.0, 0.0], [0.0, 0.0])))
    h = jnp.asarray([2.5, 1.0])
    hs = jnp.asarray([0.3, 0.0])
    t_f = -1.728
    sol = solve_layer_temperatures(p, f, h, hs, jnp.asarray([-10.0, -5.0]),
                                   jnp.asarray([-5.0, -3.0]), t_f, jnp.asarray([-20.0, -20.0]),
                                   0.0, 0.0, 1e15)
    resistance = h / p.ice_conductivity + hs / p.snow_conductivity
    t_s, f_c, _ = surface_temperature(p, f, 0.0, resistance, t_f, jnp.asarray([-20.0, -20.0]))
    np.testing.assert_allclose(sol["surface_temperature"], t_s, rtol=1e-9)
    np.testing.assert_allclose(sol["basal_conduction"], f_c, rtol=1e-8)
    np.testing.assert_allclose(-sol["surface_conduction"], f_c, rtol=1e-8)
    ice_top = t_s + f_c * hs / p.snow_conductivity
    np.testing.assert_allclose(sol["upper"], ice_top + 0.25 * (t_f - ice_top), rtol=1e-8)
    np.testing.assert_allclose(sol["lower"], ice_top + 0.75 * (t_f - ice_top), rtol=1e-8)
    assert float(jnp.max(jnp.abs(sol["surface_melt"]))) < 1e-8


@eqx.filter_jit
def _grow(p, state, f, dt, n):
    """``n`` steps of ``p`` under the fixed forcing ``f``: (final state, mean T_s)."""
    def body(s, _):
        s = p.step_with_fluxes(s, f, dt)[0]
        return s, s.surface_temperature

    final, ts = jax.lax.scan(body, state, None, length=n)
    return final, jnp.mean(ts)


def _growth(p, h0, days, dt=3 * 3600.0, surface=-20.0):
    """Ice grown under a surface held at ``surface`` °C (a turbulent flux slope of −1e5 W m-2
    K-1 about it), no snow, no ocean heat, a 10 km mixed layer (T_f constant)."""
    m = ArcticColumn(thermodynamics=p, initial_ice_thickness=h0, mixed_layer_depth=1e4)
    emitted = p.emissivity * STEFAN_BOLTZMANN * (surface + 273.15) ** 4
    f = SeaIceForcing(shortwave_down=jnp.asarray(0.0), longwave_down=jnp.asarray(emitted),
                      sensible=jnp.asarray(0.0), latent=jnp.asarray(0.0),
                      snowfall=jnp.asarray(0.0), ocean_heat_flux=jnp.asarray(0.0),
                      turbulent_flux_slope=jnp.asarray(-1e5),
                      turbulent_reference_temperature=jnp.asarray(surface))
    n = int(round(days * DAY / dt))
    # the parameters traced: both parameter sets of the test share one compile
    final, t_s = _grow(_traced(p), m.initial_state(), f, dt, n)
    return float(final.ice_volume), float(t_s), float(final.ocean_salinity)


@pytest.mark.slow  # 3.1 s at load ~6, 6.5 s at load ~13-17 on 2 cores (was 15 s)
def test_thin_ice_growth_follows_stefan():
    """Stefan: h² = h₀² + 2 k_i (T_f − T_s) t / (ρ_i ℒ), ℒ = c_o T_f − q₂(T_f) (the latent heat of
    ice frozen at T_f).  With c_i → 0 and S_i → 0 the Winton ice has no heat capacity and 60
    days from 0.1 m match to 0.3 % (time stepping).  With the real c_i and S_i the growing ice
    must also lose sensible heat, so it grows slower than that law, though a little faster
    than the quasi-steady law with ℒ + c_i ΔT/2 (measured: 1.126 m against 1.140 m and
    1.109 m; with c_i → 0, 1.1481 m against 1.1473 m)."""
    h0, days = 0.1, 60.0

    def stefan(p, t_s, s_o, sensible):
        t_f = -p.liquidus_slope * s_o
        latent = p.ocean_heat_capacity * t_f - float(lower_enthalpy(p, t_f))
        latent += sensible * 0.5 * p.ice_heat_capacity * (t_f - t_s)
        return np.sqrt(h0 ** 2 + 2 * p.ice_conductivity * (t_f - t_s) * days * DAY
                       / (p.ice_density * latent))

    p = WintonThermodynamics(ice_heat_capacity=1e-3, ice_salinity=1e-4)
    h, t_s, s_o = _growth(p, h0, days)
    assert abs(t_s + 20.0) < 0.01 and h > 3 * h0
    assert h == pytest.approx(stefan(p, t_s, s_o, 0.0), rel=3e-3)
    p = WintonThermodynamics()
    h, t_s, s_o = _growth(p, h0, days)
    assert stefan(p, t_s, s_o, 1.0) < h < stefan(p, t_s, s_o, 0.0) - 0.005


@pytest.mark.slow  # 2.1 s at load ~6, 4 s at load ~13-17 on 2 cores (was 28 s)
def test_arctic_equilibrium_next_to_the_zero_layer():
    """25 years of the MU71 / Semtner (1976) climatology from 3.5 m: the Winton column is
    periodic to < 1 cm a year with an annual mean in [2, 4.5] m (MU71: ~2.9 m; measured 3.64 m
    after 40 years from 2.3 m, docs/seaice.md), thicker and with a smaller seasonal range than
    the zero-layer column (the layer and brine heat storage delays and damps the cycle).  The
    Winton years reuse the compiled year of the conservation test."""
    out = {}
    for name, th in (("winton", WintonThermodynamics()), ("zero", SlabSeaIceThermodynamics())):
        m = ArcticColumn(thermodynamics=th, initial_ice_thickness=3.5)
        _, states = _run(m, 25)
        h = np.asarray(states.ice_volume / states.concentration).reshape(25, YEAR_STEPS)
        out[name] = (h[-1].mean(), h[-1].max() - h[-1].min(), abs(h[-1].mean() - h[-2].mean()))
    mean, span, drift = out["winton"]
    assert 2.0 < mean < 4.5 and drift < 1e-2, out
    assert mean > out["zero"][0] + 0.5 and span < 0.8 * out["zero"][1], out


GRADIENT_NAMES = ("ice_heat_capacity", "ice_albedo", "ice_salinity")


@pytest.fixture(scope="module")
def annual_mean_gradients():
    """{name: (AD, central FD, value)} of the 1-year mean thickness of the Winton column for the
    parameters of :data:`GRADIENT_NAMES`: AD of :func:`annual_mean_thickness` with respect to
    all of them in one reverse sweep (:func:`_annual_mean_gradient`; one compile instead of one
    per parameter); FD (step 1e-6 relative) through the compiled year of :func:`_run_year`, the
    same mean in numpy."""
    m = ArcticColumn(thermodynamics=WintonThermodynamics(), initial_ice_thickness=2.5)
    paths = [f"thermodynamics.{name}" for name in GRADIENT_NAMES]
    params = m.parameters(paths)

    def apply(values):
        return params.with_values(dict(zip(paths, values, strict=True))).apply(m)

    v0 = jnp.asarray([float(params[path].value) for path in paths])
    _, grads = _annual_mean_gradient(_traced(m), m.initial_state())
    grad = [getattr(grads, name) for name in GRADIENT_NAMES]

    def mean_thickness(values):
        s = _run(apply(values), 1)[1]
        return np.mean(np.asarray(s.ice_volume)
                       / np.where(np.asarray(s.concentration) > 0, s.concentration, 1.0))

    out = {}
    for i, name in enumerate(GRADIENT_NAMES):
        eps = 1e-6 * abs(float(v0[i]))
        step = jnp.zeros(len(paths)).at[i].set(eps)
        fd = (mean_thickness(v0 + step) - mean_thickness(v0 - step)) / (2 * eps)
        out[name] = (float(grad[i]), float(fd), float(v0[i]))
    return out


@pytest.mark.slow  # 35 s for all three (the fixture) at load ~6, 41 s at load ~13-17 on 2
#                     cores (was 70-110 s each) (fast tier: -m 'not slow')
@pytest.mark.parametrize("name", GRADIENT_NAMES)
def test_gradient_of_annual_mean_thickness_matches_finite_differences(name,
                                                                       annual_mean_gradients):
    """AD vs central FD (step 1e-6 relative, inside one smooth piece) of the 1-year mean
    thickness of the Winton column."""
    grad, fd, v0 = annual_mean_gradients[name]
    assert grad == pytest.approx(fd, rel=1e-5), (grad, fd)
    assert abs(grad * v0) > 1e-3


@pytest.mark.slow  # 0.1 s after the gradient tests (their compiles), 21 s alone, at load ~6
#                     (was 127 s) (fast tier: -m 'not slow')
def test_gradients_stay_finite_through_ice_free_columns():
    """A column that melts out (zero thickness, zero concentration) in June and refreezes in
    November: from 1 June, one year; every parameter gradient of the mean thickness
    (:func:`annual_mean_thickness`, h = v / a with a guarded division, so the ice-free days
    pass through the guard) is finite.  Forward run and gradient reuse the compiles of the
    tests above."""
    m = ArcticColumn(thermodynamics=WintonThermodynamics(),
                     forcing=arctic_climatology(ocean_heat_flux=25.0),
                     initial_ice_thickness=0.5, initial_concentration=0.6,
                     mixed_layer_depth=10.0)
    start = eqx.tree_at(lambda s: s.time, m.initial_state(), jnp.asarray(150 * DAY))
    a = np.asarray(_run(m, 1, start)[1].concentration)
    assert a.min() == 0.0 and a[199] > 0.5 and a[-1] > 0.5   # out, back by day 350, and stays
    mean, grads = _annual_mean_gradient(_traced(m), start)
    assert float(mean) > 0
    leaves = [x for x in jax.tree_util.tree_leaves(grads) if hasattr(x, "dtype")]
    assert leaves and all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
    assert float(jnp.abs(grads.ice_heat_capacity)) > 0


@pytest.mark.slow  # 8.8 s at load ~6, 11-16 s at load ~13-17 on 2 cores (fast tier: -m 'not slow')
def test_config_selects_winton_and_cli_runs_the_example(tmp_path):
    entry = get_model_entry("seaice_column")
    cfg = validate({"experiment": {"model": "seaice_column"},
                    "seaice": {"thermodynamics": "winton", "ice_ocean_flux": "three_equation"},
                    "time": {"dt": DAY, "stop_time": DAY * 360}}, entry.config_schema())
    model = entry.build(cfg)
    assert isinstance(model.thermodynamics, WintonThermodynamics)
    assert model.thermodynamics.ice_ocean_flux == "three_equation"
    assert "thermodynamics.ice_heat_capacity" in model.parameters().names
    with pytest.raises(ValueError, match="ice_salinity > 0"):
        WintonThermodynamics(ice_salinity=0.0)
    out = tmp_path / "winton"
    res = runner.invoke(app, ["run", str(EXAMPLE), "-o", str(out), "--no-progress",
                              "--set", "time.stop_time=62208000.0"])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out / "output.nc") as ds:
        assert ds["T1"].attrs["standard_name"] == "sea_ice_temperature"
        assert float(ds["T1"].min()) < -10.0 and np.all(np.isfinite(ds["h"].values))


@pytest.mark.slow  # 18 s at load ~6, 23-26 s at load ~11-17 on 2 cores (was 79 s)
def test_coupled_column_with_winton_ice_conserves_energy_and_salt():
    """The coupled ocean–sea-ice column (CATKE ocean, bulk fluxes) with Winton ice: thin broken
    ice over a +1 °C mixed layer, 120 days at 6-hourly steps (leads close, the ice grows);
    energy with the layer enthalpies and virtual salt close to < 1e-10 relative."""
    ocean = default_ocean(dt=6 * 3600.0, nz=12, depth=60.0, surface_temperature=1.0,
                          mixed_layer_depth=20.0)
    m = CoupledColumn(atmosphere=arctic_atmosphere(), ocean=ocean,
                      thermodynamics=WintonThermodynamics(), initial_ice_thickness=0.6,
                      initial_concentration=0.5, initial_snow_thickness=0.05)
    _, states = m.run(m.initial_state(), 120 * 4, save_every=1)
    assert isinstance(states.seaice, WintonSeaIceState)
    b0, b = coupled_budgets(m, m.initial_state()), coupled_budgets(m, states)
    energy = np.max(np.abs(np.asarray(b["energy_residual"] - b0["energy_residual"]))
                    / np.asarray(b["energy_scale"]))
    salt = np.max(np.abs(np.asarray(b["salt_residual"] - b0["salt_residual"]))
                  / np.asarray(b["salt_scale"]))
    assert energy < 1e-10 and salt < 1e-10, (energy, salt)
    a = np.asarray(states.seaice.concentration)
    h = np.asarray(states.seaice.ice_volume)
    assert a.min() < 0.55 and a.max() > 0.99 and h.max() > 2 * h[0]
    assert np.asarray(states.seaice.upper_ice_temperature).min() < -5.0
