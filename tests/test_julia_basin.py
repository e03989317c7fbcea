"""The Julia basin (:class:`pyclimaocean.backends.julia_basin.JuliaBasinModel`) as a model of
the contract: a basin config with ``experiment.backend = "julia"`` validates and builds through
the registry, ``pyclimaocean run`` without juliacall exits with the Julia backend's error, the
metadata equal the JAX basin's, the layout conversions between pyclimaocean's C-grid and
Oceananigans' interior arrays are exact, and (``-m julia``, on machines with Julia) a few
Oceananigans steps stay close to the JAX basin."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.backends import julia as jb
from pyclimaocean.backends.julia_basin import (
    JuliaBasinModel,
    basin_setup_kwargs,
    from_oceananigans,
    to_oceananigans,
)
from pyclimaocean.config import ConfigError, load_config
from pyclimaocean.core.registry import get_model_entry
from pyclimaocean.models.basin import acc_sector, munk_gyre
from pyclimaocean.models.basin.config import BasinExperiment

ROOT = Path(__file__).resolve().parents[1]
ACC = ROOT / "examples" / "basin_acc_sector.toml"
#: a small Julia variant of the acc example (a few steps)
JULIA_SETS = ["experiment.backend=julia", "basin.dlat=6.0", "time.stop_time=21600.0",
              "time.output_interval=10800.0"]


def _no_julia_here():
    if jb.julia_available()[0]:
        pytest.skip("Julia is available here")
    if importlib.util.find_spec("juliacall") is not None:
        pytest.skip("juliacall is installed: importing it would try to download Julia")


def test_a_julia_basin_config_validates_and_names_the_julia_builder():
    cfg = load_config(ACC, BasinExperiment, JULIA_SETS)
    assert cfg.experiment.backend == "julia" and cfg.basin.configuration == "acc_sector"
    munk = load_config(ROOT / "examples" / "basin_munk_gyre.toml", BasinExperiment,
                       ["experiment.backend=julia", "basin.nx=8"])
    assert munk.experiment.backend == "julia" and munk.basin.configuration == "munk_gyre"
    entry = get_model_entry("basin")
    assert entry.builders["julia"] == "pyclimaocean.backends.builders:julia_basin"
    assert entry.builder("julia").__name__ == "julia_basin"


def test_the_julia_basin_has_the_jax_basin_metadata():
    spec = acc_sector(dlon=6.0, dlat=6.0)
    model = JuliaBasinModel(spec, "GPU", "float32")  # constructing it starts no Julia
    assert "Main" not in jb._STATE
    assert isinstance(model, type(spec))
    assert model.variables() == spec.variables()
    jax_coords, julia_coords = spec.coordinates(), model.coordinates()
    assert [c.name for c in julia_coords] == ["x", "x_u", "y", "y_v", "z", "z_w"]
    for a, b in zip(jax_coords, julia_coords, strict=True):
        assert a.name == b.name and a.attrs == b.attrs
        np.testing.assert_array_equal(a.values, b.values)
    assert model.parameters().names == spec.parameters().names
    assert model.architecture == "GPU" and model.precision == "float32"
    assert "forward only" in model.gradient_limitation()
    with pytest.raises(ValueError, match="precision 'float16'"):
        JuliaBasinModel(spec, "CPU", "float16")


def test_the_julia_setup_is_static_and_survives_jit_and_tree_maps():
    """The host callback reads the grid only through ``model.setup`` (computed at build from
    concrete values), so tracing the model under ``jit`` leaves the Julia arguments concrete."""
    spec = acc_sector(dlon=6.0, dlat=6.0)
    model = JuliaBasinModel(spec)
    kw = model.setup.kwargs
    np.testing.assert_array_equal(kw["bottom_height"], basin_setup_kwargs(spec)["bottom_height"])
    assert model.setup.dz_top == pytest.approx(50.0 / 2.5)
    hash(jax.tree_util.tree_structure(model))  # jit needs hashable static fields
    mapped = jax.tree_util.tree_map(lambda x: jnp.asarray(x) * 1.0, model)
    assert mapped.setup is model.setup

    @eqx.filter_jit
    def coefficients(m):
        assert isinstance(m.setup.kwargs["z_faces"], np.ndarray)  # concrete while tracing
        return m._coefficients()

    c = coefficients(model)
    assert c.shape == (8,) and float(c[0]) == pytest.approx(float(spec.mixing.horizontal_viscosity))


def test_settings_the_julia_basin_does_not_reproduce_are_named():
    with pytest.raises(ValueError, match="'time_stepper': 'rk3'"):
        JuliaBasinModel(munk_gyre(nx=8, time_stepper="rk3"))
    with pytest.raises(ValueError, match="drag.quadratic"):
        JuliaBasinModel(eqx.tree_at(lambda m: m.drag.quadratic, acc_sector(dlon=6.0, dlat=6.0),
                                    1e-3))
    cfg = load_config(ACC, BasinExperiment, JULIA_SETS + ["basin.no_slip=true"])
    with pytest.raises(ConfigError, match="backend = 'julia'.*no_slip"):
        get_model_entry("basin").build(cfg)


def test_setup_arguments_describe_the_acc_geometry():
    spec = acc_sector(dlon=6.0, dlat=6.0)
    kw = basin_setup_kwargs(spec)
    assert kw["longitude"] == pytest.approx((0.0, 60.0))
    assert kw["latitude"] == pytest.approx((-40.0, 44.0))
    assert kw["periodic_x"] is True
    assert kw["rotation_rate"] == pytest.approx(7.2921e-5, rel=1e-12)
    assert kw["bottom_height"].shape == (spec.grid.nx, spec.grid.ny)
    # the western land wall north of 20 S is solid to the surface, the rest is 2080 m deep
    lat = np.asarray(spec.grid.yT)
    np.testing.assert_array_equal(kw["bottom_height"][0, lat >= -20], 0.0)
    np.testing.assert_allclose(kw["bottom_height"][1:, :], kw["z_faces"][0])
    assert kw["z_faces"][0] == pytest.approx(-2080.0) and kw["z_faces"][-1] == 0.0


def test_setup_arguments_describe_the_munk_beta_plane():
    spec = munk_gyre(nx=8, L=1.2e6, f0=1e-4, beta=1e-11)
    model = JuliaBasinModel(spec)
    assert model.variables() == spec.variables()
    kw = model.setup.kwargs
    assert "longitude" not in kw and "rotation_rate" not in kw
    assert kw["x"] == pytest.approx((0.0, 1.2e6)) and kw["y"] == pytest.approx((0.0, 1.2e6))
    assert kw["periodic_x"] is False and kw["viscosity_cos_power"] == 0
    # Oceananigans' BetaPlane: f = f0 + beta y at the grid's T points
    yT = np.asarray(spec.grid.yT)
    f = kw["coriolis_f0"] + kw["coriolis_beta"] * yT
    np.testing.assert_allclose(f, np.asarray(spec.grid.fT)[:, 0], rtol=1e-12)
    assert kw["coriolis_beta"] == pytest.approx(1e-11, rel=1e-9)
    np.testing.assert_array_equal(kw["bottom_height"], -5000.0)  # a flat closed box


@pytest.mark.parametrize("periodic", [True, False])
def test_layout_conversion_to_oceananigans_is_exact(periodic):
    rng = np.random.default_rng(0)
    nz, ny, nx = 3, 4, 5
    for loc, jl_shape in (("T", (nx, ny, nz)), ("u", (nx if periodic else nx + 1, ny, nz)),
                          ("v", (nx, ny + 1, nz))):
        a = rng.normal(size=(nz, ny, nx))
        b = to_oceananigans(a, loc, periodic)
        assert b.shape == jl_shape and b.flags.f_contiguous
        np.testing.assert_array_equal(from_oceananigans(b, loc, periodic), a)
    u = rng.normal(size=(nz, ny, nx))
    b = to_oceananigans(u, "u", periodic)
    # Oceananigans' u face i (west face of cell i) is pyclimaocean's east face of cell i - 1
    if periodic:
        np.testing.assert_array_equal(b[0], u[..., -1].T)  # wraps around
        np.testing.assert_array_equal(b[1], u[..., 0].T)
    else:
        np.testing.assert_array_equal(b[0], 0.0)  # the western wall
        np.testing.assert_array_equal(b[1], u[..., 0].T)
    v = rng.normal(size=(ny, nx))
    bv = to_oceananigans(v, "v", periodic)
    np.testing.assert_array_equal(bv[:, 0], 0.0)  # the southern wall
    np.testing.assert_array_equal(bv[:, 1:], v.T)
    with pytest.raises(ValueError, match="location 'w'"):
        to_oceananigans(v, "w", periodic)


def test_julia_basin_run_without_julia_names_juliacall(monkeypatch):
    _no_julia_here()
    monkeypatch.setattr(jb, "_STATE", {})
    model = JuliaBasinModel(acc_sector(dlon=6.0, dlat=6.0))
    with pytest.raises(jb.BackendUnavailableError, match="juliacall is not installed"):
        model.run(None, 2, save_every=1)


def test_pyclimaocean_run_of_a_julia_basin_exits_with_the_backend_error(tmp_path, monkeypatch):
    _no_julia_here()
    from typer.testing import CliRunner

    from pyclimaocean.cli import app
    from pyclimaocean.cli_common import EXIT_BACKEND

    monkeypatch.setattr(jb, "_STATE", {})
    out = tmp_path / "out"
    args = ["run", str(ACC), "-o", str(out), "--no-progress"]
    for s in JULIA_SETS:
        args += ["--set", s]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "1000"})
    assert res.exit_code == EXIT_BACKEND, res.output
    assert "Julia is not available: the Python package juliacall is not installed" in res.output
    assert 'pip install "pyclimaocean[julia]"' in res.output
    assert "Traceback" not in res.output
    assert not out.exists() or not any(out.glob("*.nc"))


@pytest.mark.julia
def test_julia_basin_steps_stay_close_to_the_jax_basin():
    """Six one-hour steps of the 6° acc sector from the stratified start: Oceananigans vs the
    JAX basin.  Same geometry, coefficients and forcing; the discretisations differ (Coriolis
    and advection schemes, the substep filter), so the tolerance is loose: temperature within
    0.05 °C (the restoring changes it by ~0.01 °C over 6 h) and the surface zonal velocity
    within 30 % of its largest value (the wind spins it up from rest)."""
    available, reason = jb.julia_available()
    if not available:
        pytest.skip(f"Julia backend unavailable: {reason}")
    spec = acc_sector(dlon=6.0, dlat=6.0)
    model = JuliaBasinModel(spec)
    state = spec.initial_state()
    jax_final, _ = spec.run(state, 6)
    julia_final, outputs = model.run(state, 6, save_every=3)
    assert outputs.T.shape == (2, *spec.grid.shape)
    np.testing.assert_allclose(julia_final.T, jax_final.T, atol=0.05)
    scale = float(jnp.max(jnp.abs(jax_final.u[-1])))
    assert scale > 0
    np.testing.assert_allclose(julia_final.u[-1], jax_final.u[-1], atol=0.3 * scale)
    assert float(julia_final.time) == pytest.approx(float(jax_final.time))
