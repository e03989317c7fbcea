"""Simulation runner: outputs, restart bit-for-bit, blow-up detection, integrate()."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from pyclimaocean import integrate
from pyclimaocean.closures.catke import CATKELike
from pyclimaocean.closures.simple import ConstantDiffusivity
from pyclimaocean.fluxes.surface import SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.io.cf import seconds_since_start
from pyclimaocean.io.files import load_state, save_state, write_dataset
from pyclimaocean.models.column import ColumnModel, InitialConditions
from pyclimaocean.simulation import BlowUpError, Simulation, make_writer


def small_model(**kw):
    defaults = dict(
        grid=ColumnGrid(nz=16, depth=64.0),
        closure=CATKELike(),
        forcing=SurfaceForcing(heat_flux=-100.0, wind_stress_x=0.05, heat_flux_amplitude=50.0,
                               cycle_period=21600.0),
        initial_conditions=InitialConditions(temperature_gradient=0.01),
        coriolis_parameter=1e-4,
        dt=300.0,
    )
    defaults.update(kw)
    return ColumnModel(**defaults)


def leaves_equal(a, b):
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def test_outputs_are_cf_annotated_and_written_atomically(tmp_path):
    model = small_model()
    sim = Simulation(model, n_steps=96, output_every=12, output_dir=tmp_path)
    final, ds = sim.run()
    # the initial state is the first record
    assert ds.sizes == {"time": 9, "z": 16, "z_face": 17, "nv": 2}
    np.testing.assert_array_equal(ds["T"].values[0], np.asarray(model.initial_state().temperature))
    assert ds["T"].attrs["standard_name"] == "sea_water_temperature"
    # cell bounds of z (CF), from the faces
    assert ds.z.attrs["bounds"] == "z_bounds"
    np.testing.assert_array_equal(ds["z_bounds"].values[:, 1], ds["z_face"].values[1:])
    assert ds["u"].attrs["units"] == "m s-1" and ds.z.attrs["positive"] == "up"
    assert ds.attrs["Conventions"].startswith("CF")
    on_disk = xr.open_dataset(tmp_path / "output.nc")
    np.testing.assert_array_equal(on_disk["T"].values, ds["T"].values)
    # CF time: decoded to dates by xarray (nominal start date), back to model seconds exactly
    assert on_disk.time.attrs["standard_name"] == "time" and on_disk.time.attrs["axis"] == "T"
    assert on_disk.time.encoding["units"].startswith("seconds since 2000-01-01")
    assert np.issubdtype(on_disk.time.dtype, np.datetime64)
    np.testing.assert_array_equal(seconds_since_start(on_disk.time), 3600.0 * np.arange(9))
    # in memory exactly as on disk: dates decoded from the same units
    np.testing.assert_array_equal(on_disk.time.values, ds.time.values)
    on_disk.close()
    np.testing.assert_array_equal(ds["T"].values[-1], np.asarray(final.temperature))
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output.nc"]


def test_simulation_equals_pure_run():
    model = small_model()
    final_sim, _ = Simulation(model, n_steps=60, output_every=20).run()
    final_pure, _ = jax.jit(lambda: model.run(None, 60, checkpoint_every=None))()
    # the pure run folds parameter values in as constants: equal to round-off
    for a, b in zip(jax.tree_util.tree_leaves(final_sim), jax.tree_util.tree_leaves(final_pure),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-15)


def test_simulations_of_different_parameters_share_compiled_code():
    from pyclimaocean.simulation import _compiled_chunk

    _compiled_chunk.cache_clear()
    a = Simulation(small_model(), n_steps=20, output_every=10)
    b = Simulation(small_model(coriolis_parameter=5e-5), n_steps=20, output_every=10)
    a.run()
    b.run()
    assert _compiled_chunk.cache_info().currsize == 1
    # one XLA executable served both models (parameters are arguments, not constants)
    assert _compiled_chunk(10, False)._cached._cache_size() == 1


def test_restart_is_bit_for_bit(tmp_path):
    model = small_model()
    whole, ds_whole = Simulation(model, n_steps=120, output_every=10,
                                 checkpoint_every=30, output_dir=tmp_path / "a").run()
    # a run that stops after 60 steps (as if killed), then resumed from its checkpoint
    Simulation(model, n_steps=60, output_every=10, checkpoint_every=30,
               output_dir=tmp_path / "b").run()
    resumed_sim = Simulation(model, n_steps=120, output_every=10, checkpoint_every=30,
                             output_dir=tmp_path / "b")
    resumed, ds_resumed = resumed_sim.run(resume=True)
    assert leaves_equal(whole, resumed)
    for name in ("T", "S", "u", "v", "e"):
        np.testing.assert_array_equal(ds_whole[name].values, ds_resumed[name].values)
    np.testing.assert_array_equal(ds_whole.time.values, ds_resumed.time.values)


def test_blowup_stops_with_step_variable_and_last_good_state(tmp_path):
    # 5000 W m⁻² of cooling on a 10 m column: T leaves its plausible range within hours
    model = small_model(grid=ColumnGrid(nz=4, depth=10.0), closure=ConstantDiffusivity(),
                        forcing=SurfaceForcing(heat_flux=-5000.0), dt=600.0)
    sim = Simulation(model, n_steps=2000, output_every=50, output_dir=tmp_path)
    with pytest.raises(BlowUpError) as info:
        sim.run()
    err = info.value
    assert err.variable == "T"
    assert f"step {err.iteration}" in str(err) and "'T'" in str(err)
    good, _ = load_state(tmp_path / "last_good_state.npz", model.initial_state())
    assert int(good.iteration) % 50 == 0 and int(good.iteration) < err.iteration
    lo, hi = {v.name: v.valid_range for v in model.variables()}["T"]
    step = jax.jit(model.step)
    s = good
    while int(s.iteration) < err.iteration - 1:
        s = step(s)
        assert np.all((np.asarray(s.temperature) >= lo) & (np.asarray(s.temperature) <= hi))
    bad = step(s)
    assert int(bad.iteration) == err.iteration
    assert np.any(np.asarray(bad.temperature) < lo)
    # outputs up to the last good state were kept
    with xr.open_dataset(tmp_path / "output.nc") as ds:
        assert float(seconds_since_start(ds.time)[-1]) == float(good.time)


def test_nan_is_reported_as_blowup():
    # a negative diffusivity makes the implicit operator indefinite: the run produces NaN/Inf
    model = small_model(closure=ConstantDiffusivity(viscosity=-1.0, diffusivity=-1.0), dt=600.0)
    with pytest.raises(BlowUpError):
        Simulation(model, n_steps=200, output_every=20).run()


def test_save_and_load_state_round_trip(tmp_path):
    model = small_model()
    s = model.run(None, 7)[0]
    save_state(tmp_path / "s.npz", s, note="x")
    back, meta = load_state(tmp_path / "s.npz", model.initial_state())
    assert leaves_equal(s, back) and str(meta["note"]) == "x"
    with pytest.raises(ValueError, match="different model"):
        load_state(tmp_path / "s.npz", (jnp.zeros(3),))


def test_write_dataset_zarr_and_errors(tmp_path):
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    write_dataset(ds, tmp_path / "o.zarr", "zarr")
    write_dataset(ds * 2, tmp_path / "o.zarr", "zarr")  # replace atomically
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "o.zarr")["a"].values, [0, 2, 4])
    with pytest.raises(ValueError, match="Supported: netcdf, zarr"):
        write_dataset(ds, tmp_path / "o.grib", "grib")


def test_integrate_validation_and_saving():
    step = lambda x: x + 1.0  # noqa: E731
    final, out = integrate(step, jnp.asarray(0.0), 12, save_every=3, checkpoint_every=3)
    assert float(final) == 12.0
    np.testing.assert_array_equal(out, [3.0, 6.0, 9.0, 12.0])
    assert integrate(step, jnp.asarray(0.0), 10, checkpoint_every="auto")[0] == 10.0
    with pytest.raises(ValueError, match="save_every"):
        integrate(step, jnp.asarray(0.0), 10, save_every=3)
    with pytest.raises(ValueError, match="checkpoint_every"):
        integrate(step, jnp.asarray(0.0), 12, save_every=4, checkpoint_every=3)
    with pytest.raises(ValueError, match="n_steps"):
        integrate(step, jnp.asarray(0.0), -1)


def test_simulation_argument_errors(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="divisor"):
        Simulation(model, n_steps=10, output_every=3)
    with pytest.raises(ValueError, match="multiple of the averaging interval"):
        Simulation(model, n_steps=12, checkpoint_every=6, output_dir=tmp_path,
                   writers={"m": make_writer(tmp_path, "m", 4, average=True)})
    with pytest.raises(ValueError, match="not variables of the column model"):
        Simulation(model, n_steps=12, writers={"w": make_writer(None, "w", 4, fields=["T", "q"])})
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Simulation(model, n_steps=12, output_every=4, output_dir=tmp_path).run(resume=True)


def test_callbacks_see_every_output():
    model = small_model()
    seen = []
    Simulation(model, n_steps=40, output_every=10,
               callbacks=[lambda sim, s: seen.append(int(s.iteration))]).run()
    assert seen == [10, 20, 30, 40]


def test_checkpoint_refuses_a_different_state_layout_naming_the_leaf(tmp_path):
    model = small_model()
    save_state(tmp_path / "s.npz", model.initial_state())

    class Renamed(eqx.Module):  # same shapes, one field renamed
        temp: jnp.ndarray
        salinity: jnp.ndarray
        u: jnp.ndarray
        v: jnp.ndarray
        tke: jnp.ndarray
        time: jnp.ndarray
        iteration: jnp.ndarray

    s0 = model.initial_state()
    like = Renamed(s0.temperature, s0.salinity, s0.u, s0.v, s0.tke, s0.time, s0.iteration)
    with pytest.raises(ValueError, match=r"'\.temp' is not in the file"):
        load_state(tmp_path / "s.npz", like)
    # positions would have matched: only the names tell the layouts apart
    assert [np.shape(x) for x in jax.tree_util.tree_leaves(like)] == [
        np.shape(x) for x in jax.tree_util.tree_leaves(s0)]


def test_writers_schedules_field_selection_and_time_average(tmp_path):
    model = small_model(closure=ConstantDiffusivity())
    writers = {
        "surface": make_writer(tmp_path, "surface", 5, fields=["T"], flush_every=2),
        "mean": make_writer(tmp_path, "mean", 10, fields=["T", "u"], average=True),
    }
    sim = Simulation(model, n_steps=40, output_every=20, output_dir=tmp_path, writers=writers)
    final, ds = sim.run()
    assert sim.chunk == 5 and ds.sizes["time"] == 3
    surface = sim.dataset("surface")
    assert list(surface.data_vars) == ["T"] and surface.sizes["time"] == 9
    mean = sim.dataset("mean")
    assert mean.sizes["time"] == 4 and mean["T"].attrs["cell_methods"] == "time: mean"
    # the time mean over steps 11..20 by hand
    step = jax.jit(model.step)
    s = model.run(None, 10, checkpoint_every=None)[0]
    total = 0.0
    for _ in range(10):
        s = step(s)
        total = total + np.asarray(s.temperature)
    np.testing.assert_allclose(mean["T"].values[1], total / 10, rtol=1e-13)
    np.testing.assert_allclose(seconds_since_start(mean.time), 300.0 * np.array([10, 20, 30, 40]))


@pytest.mark.parametrize("fmt", ["netcdf", "zarr"])
def test_streamed_outputs_resume_bit_for_bit(tmp_path, fmt):
    model = small_model()
    kw = dict(output_every=5, checkpoint_every=20, output_format=fmt)
    _, whole = Simulation(model, n_steps=60, output_dir=tmp_path / "a", **kw).run()
    # killed after 45 steps: the file holds records past the last checkpoint (step 40)
    sim = Simulation(model, n_steps=45, output_dir=tmp_path / "b", **kw)
    sim.writers["output"].flush_every = 1
    sim.run()
    _, resumed = Simulation(model, n_steps=60, output_dir=tmp_path / "b", **kw).run(resume=True)
    assert resumed.sizes["time"] == whole.sizes["time"] == 13
    for name in ("T", "S", "u", "v", "e", "b"):
        np.testing.assert_array_equal(whole[name].values, resumed[name].values)
    np.testing.assert_array_equal(whole.time.values, resumed.time.values)
