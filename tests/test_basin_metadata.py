"""CF/xgcm metadata of basin output (pyclimaocean.models.basin.metadata): coordinates and
staggering attributes, a written dataset reopened with xgcm (if installed) whose differences
reproduce the C-grid transports."""

from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.core.dataset import cf_time_attributes, fields_dataset
from pyclimaocean.grids import CGrid
from pyclimaocean.models.basin import acc_sector, munk_gyre
from pyclimaocean.models.basin import analysis as A
from pyclimaocean.models.basin import metadata as M
from pyclimaocean.physics.constants import HEAT_CAPACITY


class _Output:
    """The parts of a model the CF dataset writer reads, with the metadata under test."""

    name = "basin"
    dt = 600.0

    def __init__(self, grid):
        self.grid = grid

    def variables(self):
        return M.basin_variables()

    def coordinates(self):
        return M.cgrid_coordinates(self.grid)

    def describe(self):
        return {"grid": self.grid.describe()}

    def time_attributes(self):
        return cf_time_attributes()


def sector():
    g0 = CGrid.spherical(0.0, 30.0, -40.0, 20.0, 3.0, 3.0, nz=4, total_depth=3000.0,
                         stretching=1.0)
    x, y = np.meshgrid(np.asarray(g0.xT), np.asarray(g0.yT))
    depth = np.where((x < 3.0) & (y > -20.0), 0.0, 3000.0)
    return CGrid.spherical(0.0, 30.0, -40.0, 20.0, 3.0, 3.0, nz=4, total_depth=3000.0,
                           stretching=1.0, depth=depth, periodic_x=True)


def random_state(g, seed=0):
    rng = np.random.default_rng(seed)
    u = jnp.asarray(rng.normal(size=(2,) + g.shape)) * 0.1 * g.maskU
    v = jnp.asarray(rng.normal(size=(2,) + g.shape)) * 0.1 * g.maskV
    T = (10.0 + jnp.asarray(rng.normal(size=(2,) + g.shape))) * g.maskT
    return SimpleNamespace(u=u, v=v, T=T, U=A.depth_integral(g, u, "U"))


def dataset(g, tmp_path):
    s = random_state(g)
    fields = {"u": s.u, "v": s.v, "T": s.T, "U": s.U, **M.derived_fields(g, s, 1026.0)}
    ds = fields_dataset(_Output(g), fields, np.array([0.0, 600.0]))
    path = tmp_path / "basin.nc"
    ds.to_netcdf(path)
    return s, xr.open_dataset(path)


@pytest.mark.parametrize("kind", ["sphere", "beta_plane"])
def test_coordinates_carry_cf_and_comodo_staggering(kind):
    g = sector() if kind == "sphere" else CGrid.beta_plane(8e5, 6e5, 8, 6, nz=3,
                                                           total_depth=2000.0)
    coords = {c.name: c for c in M.cgrid_coordinates(g)}
    assert set(coords) == {"x", "x_u", "y", "y_v", "z", "z_w"}
    for axis, centre, face, arr_c, arr_f in (("X", "x", "x_u", g.xT, g.xU),
                                             ("Y", "y", "y_v", g.yT, g.yV),
                                             ("Z", "z", "z_w", g.z_centers, g.z_faces[1:])):
        c, f = coords[centre], coords[face]
        assert c.attrs["axis"] == f.attrs["axis"] == axis
        assert "c_grid_axis_shift" not in c.attrs and f.attrs["c_grid_axis_shift"] == 0.5
        np.testing.assert_array_equal(c.values, np.asarray(arr_c))
        np.testing.assert_array_equal(f.values, np.asarray(arr_f))
        # each face lies between its own centre and the next one (the "right" position)
        assert np.all(f.values > c.values)
        assert np.all(f.values[:-1] < c.values[1:])
        # CF bounds tile the axis: centre cells end at the faces
        np.testing.assert_allclose(c.bounds[:, 1], f.values)
        np.testing.assert_allclose(c.bounds[1:, 0], c.bounds[:-1, 1])
    std = {n: coords[n].attrs["standard_name"] for n in ("x", "y", "z")}
    if kind == "sphere":
        assert std == {"x": "longitude", "y": "latitude", "z": "height"}
        assert coords["x_u"].attrs["units"] == "degrees_east"
    else:
        assert std["x"] == "projection_x_coordinate" and coords["y"].attrs["units"] == "m"
    assert coords["z"].attrs["positive"] == "up"
    assert M.xgcm_padding(g)["X"] == ("periodic" if g.periodic_x else "fill")


def test_variables_have_standard_names_and_dims_on_known_coordinates():
    names = {c.name for c in M.cgrid_coordinates(sector())}
    by_name = {v.name: v for v in M.basin_variables()}
    for v in by_name.values():
        assert set(v.dims) <= names, v.name
    expect = {"u": "sea_water_x_velocity", "v": "sea_water_y_velocity",
              "eta": "sea_surface_height_above_geoid", "psi": "ocean_barotropic_streamfunction",
              "moc": "ocean_meridional_overturning_streamfunction",
              "w": "upward_sea_water_velocity"}
    for name, std in expect.items():
        assert by_name[name].standard_name == std
    assert by_name["u"].dims == ("z", "y", "x_u") and by_name["v"].dims == ("z", "y_v", "x")
    assert by_name["psi"].dims == ("y_v", "x_u") and by_name["moc"].dims == ("z_w", "y_v")
    assert set(M.DERIVED_DIAGNOSTICS) <= {n for n, v in by_name.items() if v.derived}


@pytest.mark.slow  # 8.5 s measured (writes netCDF; first use compiles the diagnostics)
def test_written_dataset_roundtrips_with_bounds_and_derived_fields(tmp_path):
    g = sector()
    s, ds = dataset(g, tmp_path)
    assert ds["psi"].attrs["standard_name"] == "ocean_barotropic_streamfunction"
    assert ds["x"].attrs["bounds"] == "x_bounds" and ds["x_bounds"].shape == (g.nx, 2)
    assert ds["moc"].dims == ("time", "z_w", "y_v")
    np.testing.assert_allclose(ds["kinetic_energy"].values, A.kinetic_energy(g, s.u, s.v),
                               rtol=1e-12)
    np.testing.assert_allclose(ds["moc"].values, A.overturning_streamfunction(g, s.v),
                               rtol=1e-12)


@pytest.mark.slow  # 9.3 s measured alone (0.6 s after the one above)
def test_xgcm_opens_the_output_and_its_differences_are_the_transports(tmp_path):
    """xgcm's autoparse of the written file finds the staggering; its differences of the
    streamfunctions reproduce the C-grid transports (ψ = 0 beyond the south wall and the sea
    floor: xgcm's ``padding="fill"``)."""
    xgcm = pytest.importorskip("xgcm")
    g = sector()
    s, ds = dataset(g, tmp_path)
    grid = xgcm.Grid(ds, padding=M.xgcm_padding(g), fill_value=0.0)
    for axis, pos in M.xgcm_coords().items():
        assert grid.axes[axis].coords == pos, axis
    # U dyU = −δy ψ (ψ at y_v → difference at y)
    dpsi_dy = grid.diff(ds["psi"], "Y")
    assert dpsi_dy.dims == ("time", "y", "x_u")
    np.testing.assert_allclose(-dpsi_dy.values, np.asarray(s.U * g.dyU), atol=1e-6)
    # Σ_i v dxV dz_k = −δz ψ_moc (moc at z_w → difference at z)
    dmoc = grid.diff(ds["moc"], "Z")
    assert dmoc.dims == ("time", "z", "y_v")
    zonal = np.sum(np.asarray(s.v * g.dxV * g.maskV), axis=-1) * np.asarray(g.dz)[:, None]
    np.testing.assert_allclose(-dmoc.values, zonal, atol=1e-6)
    # T interpolated to U points along the periodic x axis lands on x_u
    assert grid.interp(ds["T"], "X").dims == ("time", "z", "y", "x_u")


@pytest.mark.slow  # 20 s (munk) and 23 s (acc) measured (load ~17 on 2 cores; eager dispatch)
@pytest.mark.parametrize("setup", ["munk_gyre", "acc_sector"])
def test_model_metadata_and_diagnostics_have_one_source(setup):
    """BasinModel's variables/coordinates are the metadata module's; its output fields add the
    derived ones of ``derived_fields``; its named diagnostics are the analysis functions, in
    the same units (J) as the output variables of the same name."""
    model = (munk_gyre(nx=8, n_substeps=4) if setup == "munk_gyre"
             else acc_sector(dlon=6.0, dlat=6.0, dt=7200.0, n_substeps=4,
                             z_faces=[-2000.0, -600.0, -80.0, 0.0]))
    g = model.grid
    assert model.variables() == M.basin_variables()
    assert [c.name for c in model.coordinates()] == [c.name for c in M.cgrid_coordinates(g)]
    rng = np.random.default_rng(1)
    s = model.state_from_fields(u=jnp.asarray(rng.normal(size=g.shape)) * 0.1,
                                v=jnp.asarray(rng.normal(size=g.shape)) * 0.1,
                                T=10.0 + jnp.asarray(rng.normal(size=g.shape)))
    out = model.output_fields(s)
    assert set(out) == {v.name for v in model.variables()}
    expect = {"kinetic_energy", "heat_content", "mean_sst", "max_barotropic_streamfunction"}
    if setup == "acc_sector":
        expect |= {"acc_transport", "max_overturning"}
    assert set(model.diagnostics()) == expect
    rho0 = model.reference_density
    assert float(model.diagnostic("kinetic_energy", s)) == pytest.approx(
        float(out["kinetic_energy"]), rel=1e-13)
    assert float(model.diagnostic("kinetic_energy", s)) == pytest.approx(
        rho0 * float(A.mean_kinetic_energy(g, s.u, s.v)) * float(jnp.sum(g.volumeT)),
        rel=1e-12)
    assert float(model.diagnostic("heat_content", s)) == pytest.approx(
        float(out["heat_content"]), rel=1e-13)
    assert float(model.diagnostic("heat_content", s)) == pytest.approx(
        rho0 * HEAT_CAPACITY * float(A.volume_integral(g, s.T)), rel=1e-12)
    assert float(model.diagnostic("mean_sst", s)) == float(A.mean_sst(g, s.T))
    psi = np.asarray(out["psi"])
    if g.periodic_x:
        psi = psi - psi[-1].mean()
    assert float(model.diagnostic("max_barotropic_streamfunction", s)) == pytest.approx(
        psi.max(), rel=1e-12)
    if setup == "acc_sector":
        assert float(model.diagnostic("acc_transport", s)) == float(A.zonal_transport(g, s.u, 0))
        assert float(model.diagnostic("max_overturning", s)) == pytest.approx(
            float(np.max(np.asarray(out["moc"])[:-1])), rel=1e-13)
