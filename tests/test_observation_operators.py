"""The named-dimension observation operators (:mod:`pyclimaocean.observations`) shared by
calibration and data assimilation: gridded and scattered sampling along a model's dims, built
from its variable metadata."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from pyclimaocean.assimilation import SubsetObservation, point_observation
from pyclimaocean.calibration.observations import ObservationOperator, observation_vector
from pyclimaocean.models.column import setups
from pyclimaocean.models.lorenz96 import Lorenz96
from pyclimaocean.observations import ObservationError, field_operator

jax.config.update("jax_enable_x64", True)


def test_scattered_points_and_gridded_axes_interpolate_linear_fields_exactly():
    times = np.array([1.0, 2.0, 3.0])
    k = np.arange(8.0)
    field = 2.0 * times[:, None] - 0.5 * k[None, :]  # linear in (time, k)
    # scattered points: time(obs), k(obs)
    pts = xr.DataArray([0.0, 0.0, 0.0], dims="obs",
                       coords={"time": ("obs", [1.5, 3.0, 2.25]), "k": ("obs", [0.5, 7.0, 3.0])})
    op = field_operator(pts, "x", field_dims=("time", "k"), coordinates={"time": times, "k": k})
    np.testing.assert_allclose(op.apply(jnp.asarray(field)), [3.0 - 0.25, 6.0 - 3.5, 4.5 - 1.5])
    # profiles at scattered times, gridded along k
    prof = xr.DataArray(np.zeros((2, 3)), dims=("profile", "k"),
                        coords={"time": ("profile", [1.0, 2.5]), "k": [1.0, 2.5, 6.0]})
    op = field_operator(prof, "x", field_dims=("time", "k"), coordinates={"time": times, "k": k})
    expect = 2.0 * np.array([1.0, 2.5])[:, None] - 0.5 * np.array([1.0, 2.5, 6.0])[None, :]
    np.testing.assert_allclose(np.asarray(op(dict(x=jnp.asarray(field)))).reshape(2, 3), expect)
    with pytest.raises(ObservationError, match="give a coordinate time\\(profile\\)"):
        field_operator(prof.drop_vars("time"), "x", field_dims=("time", "k"),
                       coordinates={"time": times, "k": k})


def test_column_operator_from_model_metadata_matches_the_profile_operator():
    model = setups.free_convection(nz=8, depth=32.0, dt=1200.0)
    times = np.array([1200.0, 2400.0, 3600.0])
    z = [-31.0, -20.0, -3.0, -0.5]
    ds = xr.Dataset({"T": (("time", "z"), np.ones((2, 4)), {"error_std": 0.1})},
                    coords={"time": [1800.0, 3600.0], "z": z})
    generic = ObservationOperator.from_model(ds, model, times)
    legacy = ObservationOperator.from_dataset(ds, times, np.asarray(model.grid.z_centers), domain_depth=32.0)
    field = jnp.asarray(np.random.default_rng(0).normal(size=(3, 8)))
    np.testing.assert_allclose(generic({"T": field}), legacy({"T": field}), atol=1e-14)
    y, noise = observation_vector(ds, generic.variables, generic.field_dims)
    assert y.shape == (8,) and noise.std.shape == (8,)
    with pytest.raises(ObservationError, match="not observable in the column model"):
        ObservationOperator.from_model(ds.rename(T="w"), model, times)


def test_assimilation_point_observation_uses_the_shared_weights():
    model = Lorenz96(n=8)
    op = point_observation(model, "x", {"k": [2.5, 6.0]})
    x = jnp.arange(8.0)[None, :] ** 2
    np.testing.assert_allclose(op(x), [[(4.0 + 9.0) / 2, 36.0]])
    np.testing.assert_allclose(op.positions, [2.5, 6.0])
    sub = SubsetObservation(8, [1, 5])
    np.testing.assert_allclose(sub.matrix() @ jnp.arange(8.0), [1.0, 5.0])
