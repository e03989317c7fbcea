"""The basin model as a registered model: [basin] config schema, builder, summary, figures, and
the small variants of examples/basin_munk_gyre.toml and examples/basin_acc_sector.toml run
through ``pyclimaocean run``."""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.config import ConfigError, load_config
from pyclimaocean.core.registry import get_model_entry
from pyclimaocean.experiment import run_experiment
from pyclimaocean.models.basin import BasinModel, acc_sector
from pyclimaocean.models.basin import analysis as A
from pyclimaocean.models.basin import metadata as M
from pyclimaocean.models.basin.config import BasinExperiment, build_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

#: small variants of the basin examples (a few simulated days, coarser grids)
SMALL = {
    "basin_munk_gyre": ["basin.nx=20", "time.stop_time=864000.0",
                        "time.output_interval=172800.0"],
    # dlon stays 2: the western land wall is the first T column (centre 1 deg E)
    "basin_acc_sector": ["basin.dlat=4.0", "time.stop_time=864000.0",
                         "time.output_interval=216000.0"],
}


def config(**basin):
    return BasinExperiment.model_validate(
        {"experiment": {"model": "basin"}, "time": {"dt": 1200.0, "stop_time": 12000.0},
         "basin": basin})


def test_registry_and_config_build_both_configurations():
    entry = get_model_entry("basin")
    assert entry.config_schema() is BasinExperiment
    munk = build_model(config(nx=12, horizontal_viscosity=800.0, wind_stress=0.2))
    assert isinstance(munk, BasinModel) and munk.grid.shape == (1, 12, 12)
    assert float(munk.mixing.horizontal_viscosity) == 800.0
    assert float(munk.forcing.wind_stress_amplitude) == 0.2
    assert munk.dt == 1200.0 and munk.reference_density == 1000.0  # MITgcm's tutorial rho0
    acc = build_model(config(configuration="acc_sector", dlat=4.0, vertical_viscosity=2e-3,
                             time_stepper="rk3"))
    assert acc.grid.periodic_x and acc.grid.shape == (15, 21, 30)
    assert acc.time_stepper == "rk3" and float(acc.mixing.vertical_viscosity) == 2e-3


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="do not apply to configuration = 'munk_gyre'"):
        config(dlon=2.0)
    with pytest.raises(ValueError, match="do not apply to configuration = 'acc_sector'"):
        config(configuration="acc_sector", nx=20)
    with pytest.raises(ValueError, match="configuration"):
        config(configuration="tripolar")
    with pytest.raises(ValueError, match="nx"):
        config(nx=2)
    with pytest.raises(ConfigError, match="spacing"):  # the grid's own check, as a ConfigError
        build_model(config(configuration="acc_sector", dlon=7.0))


def test_examples_validate_with_their_small_variants():
    for name, overrides in SMALL.items():
        cfg = load_config(EXAMPLES / f"{name}.toml", BasinExperiment, overrides)
        assert cfg.experiment.model == "basin"
        assert cfg.basin.configuration == name.removeprefix("basin_")


@pytest.mark.slow  # 34 s (munk) and 90 s (acc) measured on the shared, loaded 2-core machine
@pytest.mark.parametrize("name", sorted(SMALL))
def test_example_small_variant_runs_through_the_cli_path(name, tmp_path):
    result = run_experiment(EXAMPLES / f"{name}.toml", tmp_path / name, SMALL[name])
    ds = result.dataset
    assert ds.sizes["time"] >= 5
    for field in ("u", "v", "T", "eta", "U"):
        assert np.all(np.isfinite(ds[field].values)), field
    figures = {p.name for p in (tmp_path / name / "figures").glob("*.png")}
    assert {"barotropic_streamfunction.png", "time_series.png"} <= figures
    # the barotropic gyre has a uniform, passive T: its map is the sea surface height
    surface = "sea_surface_height.png" if name == "basin_munk_gyre" else "sst.png"
    assert surface in figures and len(figures) == (3 if name == "basin_munk_gyre" else 4)
    d = result.diagnostics
    model = build_model(load_config(EXAMPLES / f"{name}.toml", BasinExperiment, SMALL[name]))
    half = slice(ds.sizes["time"] // 2, None)
    if name == "basin_munk_gyre":
        # spinning up a clockwise gyre: ψ > 0 inside, ≈ 0 on the walls
        assert d["max_psi"] > 5.0 and d["min_psi"] > -0.05 * d["max_psi"]
        U = jnp.mean(jnp.asarray(ds["U"].values[half]), axis=0)
        psi = A.barotropic_streamfunction(model.grid, U) / A.SVERDRUP
        assert d["max_psi"] == pytest.approx(float(jnp.max(psi)), rel=1e-12)
    else:
        assert "overturning.png" in figures
        # eastward ACC under the westerlies of the channel; the summary is the diagnostic
        u = jnp.asarray(ds["u"].values[half])
        acc = jnp.mean(A.zonal_transport(model.grid, u, 0)) / A.SVERDRUP
        assert d["acc_transport"] == pytest.approx(float(acc), rel=1e-10)
        assert d["acc_transport"] > 10.0
        assert d["max_overturning"] > 0.0 > d["min_overturning"]
        assert float(model.mixing.convective_diffusivity) == 1.0  # the example's convection
    # the file the run wrote carries the derived fields (J, m3 s-1) with CF names ...
    (path,) = sorted((tmp_path / name).glob("output*.nc"))
    with xr.open_dataset(path) as f:
        g = model.grid
        u, v, U = (jnp.asarray(f[k].values) for k in ("u", "v", "U"))
        assert f["psi"].attrs["standard_name"] == "ocean_barotropic_streamfunction"
        assert f["kinetic_energy"].attrs["units"] == "J" and f["x_u"].attrs["bounds"]
        np.testing.assert_allclose(f["kinetic_energy"].values,
                                   A.kinetic_energy(g, u, v, model.reference_density),
                                   rtol=1e-10)
        assert f["moc"].dims == ("time", "z_w", "y_v")
        # ... and opens with xgcm's autoparse (c_grid_axis_shift), whose differences of the
        # streamfunctions are the C-grid transports of the written U and v
        xgcm = pytest.importorskip("xgcm")
        grid = xgcm.Grid(f, padding=M.xgcm_padding(g), fill_value=0.0)
        assert {a: grid.axes[a].coords for a in "XYZ"} == M.xgcm_coords()
        scale = float(np.max(np.abs(f["psi"].values)))
        np.testing.assert_allclose(-grid.diff(f["psi"], "Y").values, np.asarray(U * g.dyU),
                                   atol=1e-10 * scale)
        if g.nz > 1:
            zonal = np.sum(np.asarray(v * g.dxV * g.maskV), axis=-1) * np.asarray(g.dz)[:, None]
            np.testing.assert_allclose(-grid.diff(f["moc"], "Z").values, zonal,
                                       atol=1e-10 * float(np.max(np.abs(f["moc"].values))))


@pytest.mark.slow  # 9.6 s of CPU measured at load ~27 (12 s with a separately compiled forward)
def test_diagnostics_as_losses_through_the_model_match_finite_differences():
    """ACC transport + one overturning value + heat content after 12 steps of the 2°×4°
    acc_sector from rest, differentiated w.r.t. the wind amplitude and the restoring rate:
    reverse mode vs central differences."""
    model = acc_sector(dlat=4.0)
    state0 = model.initial_state()

    def loss(tau0, gamma):
        m = eqx.tree_at(lambda q: (q.forcing.wind_stress_amplitude, q.forcing.restoring_rate),
                        model, (tau0, gamma))
        s = jax.lax.fori_loop(0, 12, lambda i, x: m.step(x), state0)
        acc = A.zonal_transport(m.grid, s.u, 0) / A.SVERDRUP
        moc = A.overturning_streamfunction(m.grid, s.v) / A.SVERDRUP
        return acc + moc[8, 5] + A.heat_content(m.grid, s.T) / 1e22

    tau0 = jnp.asarray(0.1)
    gamma = jnp.asarray(float(model.forcing.restoring_rate))
    # one compiled program: its value is the loss for the finite differences (a separately
    # compiled forward would cost a second compilation of the run)
    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    g_tau, g_gamma = value_and_grad(tau0, gamma)[1]

    def f(t, g):
        return value_and_grad(t, g)[0]

    h = 1e-4
    fd_tau = (f(tau0 * (1 + h), gamma) - f(tau0 * (1 - h), gamma)) / (2 * h * tau0)
    fd_gamma = (f(tau0, gamma * (1 + h)) - f(tau0, gamma * (1 - h))) / (2 * h * gamma)
    assert float(g_tau) > 0.0  # more wind, more ACC
    assert float(g_tau) == pytest.approx(float(fd_tau), rel=1e-7)
    assert float(g_gamma) == pytest.approx(float(fd_gamma), rel=1e-7)
