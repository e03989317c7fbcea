"""The basin C-grid: metric sums, discrete vector identities, masks and walls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.grids import CGrid
from pyclimaocean.physics.constants import EARTH_RADIUS


def sector(periodic_x=False, depth=None):
    return CGrid.spherical(0.0, 60.0, -40.0, 44.0, 2.0, 2.0, nz=5, total_depth=4000.0,
                           stretching=1.0, depth=depth, periodic_x=periodic_x)


def test_sphere_sector_area_is_analytic():
    g = sector()
    a = EARTH_RADIUS
    exact = a**2 * np.deg2rad(60.0) * (np.sin(np.deg2rad(44.0)) - np.sin(np.deg2rad(-40.0)))
    assert float(jnp.sum(g.areaT)) == pytest.approx(exact, rel=1e-13)
    # the V/ζ cells tile the band shifted by half a cell north
    exact_v = a**2 * np.deg2rad(60.0) * (np.sin(np.deg2rad(45.0)) - np.sin(np.deg2rad(-39.0)))
    assert float(jnp.sum(g.areaV)) == pytest.approx(exact_v, rel=1e-13)
    # small-cell limit: area ≈ dx dy to second order
    assert np.allclose(g.areaT, g.dxT * g.dyT, rtol=2e-4)
    assert g.shape == (5, 42, 30)
    assert float(jnp.sum(g.dz)) == pytest.approx(4000.0)
    assert np.all(np.diff(np.asarray(g.dz)) < 0)  # stretched: thin at the surface (top = last)


def test_inverse_metrics_are_zero_on_land_and_finite():
    depth = np.full((42, 30), 4000.0)
    depth[10:20, 5:9] = 0.0
    g = sector(depth=depth)
    for name in ("inv_dxU", "inv_dyV", "inv_areaT", "inv_areaZ", "inv_hU", "inv_hT"):
        arr = np.asarray(getattr(g, name))
        assert np.all(np.isfinite(arr)), name
    assert np.all(np.asarray(g.inv_areaT)[10:20, 5:9] == 0.0)
    assert np.all(np.asarray(g.maskT)[:, 10:20, 5:9] == 0.0)
    # faces next to land are closed
    assert np.all(np.asarray(g.maskU)[:, 10:20, 4] == 0.0)
    assert np.all(np.asarray(g.maskU)[:, 10:20, 8] == 0.0)
    assert np.all(np.asarray(g.maskV)[:, 9, 5:9] == 0.0)


def test_walls_and_periodicity():
    walled, periodic = sector(), sector(periodic_x=True)
    assert np.all(np.asarray(walled.maskU)[:, :, -1] == 0.0)  # east wall
    assert np.all(np.asarray(periodic.maskU)[:, :, -1] == 1.0)  # re-entrant
    for g in (walled, periodic):
        assert np.all(np.asarray(g.maskV)[:, -1, :] == 0.0)  # north wall
        a = jnp.arange(g.ny * g.nx, dtype=float).reshape(g.ny, g.nx)
        east = g.shift(a, 1, 0)
        if g.periodic_x:
            assert np.array_equal(east[:, -1], a[:, 0])
        else:
            assert np.all(east[:, -1] == 0.0)
        assert np.all(g.shift(a, 0, -1)[0] == 0.0)


def test_bathymetry_masks_levels():
    depth = np.full((42, 30), 4000.0)
    depth[:, :3] = 1000.0
    g = sector(depth=depth)
    zc = np.asarray(g.z_centers)
    wet = np.asarray(g.maskT)[:, 0, 0] > 0
    assert np.array_equal(wet, zc > -1000.0)
    assert np.all(np.asarray(g.hT)[:, :3] <= 1000.0 + np.asarray(g.dz).max())
    assert np.allclose(np.asarray(g.hT)[:, 5], 4000.0)


def _random_field(key, g, loc="T"):
    mask = {"T": g.maskT, "U": g.maskU, "V": g.maskV}[loc]
    return jax.random.normal(key, g.shape) * mask


@pytest.mark.parametrize("periodic", [False, True])
def test_divergence_of_rotational_field_vanishes(periodic):
    """u = −δy ψ / dy, v = δx ψ / dx with ψ at ζ points: the discrete divergence is zero to
    round-off (also next to land, ψ = 0 on the coast)."""
    depth = np.full((42, 30), 4000.0)
    depth[12:18, 10:14] = 0.0
    g = sector(periodic_x=periodic, depth=depth)
    psi = jax.random.normal(jax.random.PRNGKey(0), g.shape) * g.maskZ
    u = -g.dy_minus(psi, "Z") * g.inv_dyU * g.maskU
    v = g.dx_minus(psi, "Z") * g.inv_dxV * g.maskV
    div = g.divergence(u, v)
    scale = float(jnp.max(jnp.abs(u))) / float(jnp.min(g.dxT))
    assert float(jnp.max(jnp.abs(div))) < 1e-13 * scale


@pytest.mark.parametrize("periodic", [False, True])
def test_curl_of_gradient_vanishes(periodic):
    depth = np.full((42, 30), 4000.0)
    depth[20:25, 3:7] = -1.0
    g = sector(periodic_x=periodic, depth=depth)
    phi = _random_field(jax.random.PRNGKey(1), g)
    zeta = g.vorticity(g.grad_x(phi), g.grad_y(phi))
    scale = float(jnp.max(jnp.abs(g.grad_x(phi)))) / float(jnp.min(g.dxT))
    assert float(jnp.max(jnp.abs(zeta))) < 1e-13 * scale


@pytest.mark.parametrize("periodic", [False, True])
def test_discrete_gauss_and_stokes(periodic):
    """Σ area·div = net flux through the boundary (0 for a closed basin); Σ area·ζ = the
    circulation around the boundary (0 with free slip), and the Laplacian conserves Σ area·a."""
    depth = np.full((42, 30), 4000.0)
    depth[5:9, 20:26] = 0.0
    g = sector(periodic_x=periodic, depth=depth)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(2), 3)
    u, v = _random_field(k1, g, "U"), _random_field(k2, g, "V")
    div = g.divergence(u, v)
    total = float(jnp.sum(div * g.areaT))
    assert abs(total) < 1e-12 * float(jnp.sum(jnp.abs(div) * g.areaT))
    a = _random_field(k3, g)
    lap = g.laplacian(a)
    assert abs(float(jnp.sum(lap * g.areaT))) < 1e-12 * float(jnp.sum(jnp.abs(lap) * g.areaT))
    # Stokes on an interior rectangle: Σ ζ area = circulation along its edge
    zeta = g.vorticity(u, v)[2]
    j0, j1, i0, i1 = 20, 30, 3, 15
    inner = float(jnp.sum((zeta * g.areaZ)[j0:j1, i0:i1]))
    uu, vv = np.asarray(u[2] * g.dxU), np.asarray(v[2] * g.dyV)
    circ = (uu[j0, i0:i1].sum() + vv[j0:j1, i1].sum() - uu[j1, i0:i1].sum()
            - vv[j0:j1, i0].sum())
    assert inner == pytest.approx(circ, rel=1e-12)


def test_beta_plane_metrics_and_coriolis():
    g = CGrid.beta_plane(1.2e6, 1.2e6, 40, 40, nz=1, total_depth=5000.0, f0=1e-4, beta=1e-11)
    assert float(jnp.sum(g.areaT)) == pytest.approx(1.44e12)
    assert float(g.fZ[-2, 0]) == pytest.approx(1e-4 + 1e-11 * float(g.yV[-2]))
    assert float(g.fU[0, 0]) == pytest.approx(1e-4 + 1e-11 * 0.5 * 3e4)
    # f is not masked (kernels multiply it by masked transports)
    assert float(g.fV[-1, 0]) == pytest.approx(1e-4 + 1e-11 * 1.2e6)
    assert g.grad_x(jnp.zeros((40, 40))).shape == (40, 40)


def test_grid_is_a_pytree_and_jits():
    g = sector()
    leaves = jax.tree_util.tree_leaves(g)
    assert all(hasattr(x, "shape") for x in leaves)
    f = jax.jit(lambda grid, a: grid.laplacian(a))
    a = _random_field(jax.random.PRNGKey(3), g)
    assert np.allclose(f(g, a), g.laplacian(a))


def test_grid_constants_match_physics():
    from pyclimaocean.grids import cgrid
    from pyclimaocean.physics import constants

    assert cgrid.EARTH_RADIUS == constants.EARTH_RADIUS
    assert cgrid.EARTH_ROTATION_RATE == constants.EARTH_ROTATION_RATE


@pytest.mark.parametrize("periodic", [False, True])
def test_shift_transpose_is_the_opposite_shift(periodic):
    """CGrid.shift is a primitive with a hand-written transpose (the shift by (-di, -dj)):
    equal to JAX's own transposition of the halo fill and slice, by ⟨S a, c⟩ = ⟨a, Sᵀ c⟩,
    and forward mode, vmap and jax.hessian still work."""
    from pyclimaocean.grids.cgrid import _halo_shift

    g = CGrid.beta_plane(1e5, 1e5, 7, 6, nz=3, total_depth=100.0, periodic_x=periodic)
    rng = np.random.default_rng(0)
    a, c = (jnp.asarray(rng.normal(size=(3, 6, 7))) for _ in range(2))
    for di, dj in [(1, 0), (-1, 0), (2, 0), (-2, 0), (0, 1), (0, -2), (1, 1), (-1, 2)]:
        y = g.shift(a, di, dj)
        np.testing.assert_array_equal(y, _halo_shift(a, di, dj, periodic))
        ours = jax.vjp(lambda x, di=di, dj=dj: g.shift(x, di, dj), a)[1](c)[0]
        jaxs = jax.vjp(lambda x, di=di, dj=dj: _halo_shift(x, di, dj, periodic), a)[1](c)[0]
        np.testing.assert_array_equal(ours, jaxs)
        np.testing.assert_allclose(jnp.vdot(y, c), jnp.vdot(a, ours), rtol=1e-13)
        tangent = jax.jvp(lambda x, di=di, dj=dj: g.shift(x, di, dj), (a,), (c,))[1]
        np.testing.assert_array_equal(tangent, g.shift(c, di, dj))
        both = jax.vmap(lambda x, di=di, dj=dj: g.shift(x, di, dj), in_axes=2,
                        out_axes=2)(jnp.stack([a, c], axis=2))
        np.testing.assert_array_equal(both[:, :, 1], g.shift(c, di, dj))
    h = jax.hessian(lambda x: jnp.sum(g.shift(x[0], 1, -1) ** 3))(a[:1])
    h_ref = jax.hessian(lambda x: jnp.sum(_halo_shift(x[0], 1, -1, periodic) ** 3))(a[:1])
    np.testing.assert_allclose(h, h_ref, rtol=1e-13)
