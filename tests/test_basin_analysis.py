"""Basin diagnostics on a C-grid (pyclimaocean.models.basin.analysis): analytic transports,
streamfunctions, energy and heat content, masks, leading axes, and AD vs finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.grids import CGrid
from pyclimaocean.models.basin import analysis as A
from pyclimaocean.physics.constants import EARTH_RADIUS, HEAT_CAPACITY, REFERENCE_DENSITY

DEG = np.pi / 180.0


def channel(nz=4, land_north_of=None, dlon=3.0, dlat=2.0):
    """Periodic spherical channel 0–60°E × 60°S–30°S; optional one-cell land wall at the
    western edge north of ``land_north_of`` (the acc_sector geometry)."""
    g = CGrid.spherical(0.0, 60.0, -60.0, -30.0, dlon, dlat, nz=nz, total_depth=3000.0,
                        stretching=1.0, periodic_x=True)
    if land_north_of is None:
        return g
    x, y = np.meshgrid(np.asarray(g.xT), np.asarray(g.yT))
    depth = np.where((x < dlon) & (y > land_north_of), 0.0, 3000.0)
    return CGrid.spherical(0.0, 60.0, -60.0, -30.0, dlon, dlat, nz=nz, total_depth=3000.0,
                           stretching=1.0, periodic_x=True, depth=depth)


def box(nx=24, ny=20, nz=6, depth=None):
    return CGrid.beta_plane(1.2e6, 1.0e6, nx, ny, nz=nz, total_depth=4000.0, stretching=1.5,
                            beta=2e-11, depth=depth)


def transports_from_psi(g, psi):
    """Discretely non-divergent (U dyU, V dxV) of a streamfunction at ζ points (zero beyond
    the south and west walls): U dyU = −δy ψ, V dxV = δx ψ."""
    south = g.shift(psi, 0, -1, "Z")
    west = g.shift(psi, -1, 0, "Z")
    U = -(psi - south) * g.inv_dyU * g.maskU[-1]
    V = (psi - west) * g.inv_dxV * g.maskV[-1]
    return U, V


@pytest.mark.slow  # 2.1 s measured (first: compiles)
@pytest.mark.parametrize("geometry", ["box", "box_with_island", "sphere"])
def test_barotropic_streamfunction_recovers_a_prescribed_one(geometry):
    if geometry == "sphere":
        g = CGrid.spherical(0.0, 60.0, -40.0, 44.0, 2.0, 2.0, nz=3, total_depth=4000.0)
        x = (np.asarray(g.xU) - 0.0) / 60.0
        y = (np.asarray(g.yV) + 40.0) / 84.0
    else:
        depth = None
        if geometry == "box_with_island":
            depth = np.full((20, 24), 4000.0)
            depth[8:12, 10:15] = 0.0
        g = box(depth=depth)
        x = np.asarray(g.xU) / 1.2e6
        y = np.asarray(g.yV) / 1.0e6
    psi0 = 2.5e7 * np.sin(np.pi * y)[:, None] * np.sin(np.pi * x)[None, :] ** 2
    psi = jnp.asarray(psi0) * g.maskZ[-1]
    U, V = transports_from_psi(g, psi)
    # the transports are non-divergent in every wet cell (walls and land respected)
    div = g.divergence_flux(U * g.dyU, V * g.dxV) * g.maskT[-1]
    assert float(jnp.max(jnp.abs(div))) < 1e-12 * float(jnp.max(jnp.abs(psi)))
    got = A.barotropic_streamfunction(g, U)
    np.testing.assert_allclose(got, psi, atol=1e-8 * float(jnp.max(psi)))
    # and V = ∂ψ/∂x of the diagnosed one
    _, V2 = transports_from_psi(g, got)
    np.testing.assert_allclose(V2, V, atol=1e-12 * float(jnp.max(jnp.abs(V))))


def test_depth_integral_and_streamfunction_of_a_3d_field():
    g = box()
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=g.shape)) * g.maskU
    U = A.depth_integral(g, u, "U")
    np.testing.assert_allclose(U, np.sum(np.asarray(u) * np.asarray(g.dz)[:, None, None], 0))
    psi = A.barotropic_streamfunction(g, U)
    # ψ on the northern wall row = minus the net zonal transport of each U column
    for i in (0, 5, 17):
        assert float(psi[-1, i]) == pytest.approx(-float(A.zonal_transport(g, u, i)), rel=1e-12)


@pytest.mark.slow  # 3.0 s measured (shared 2-core machine)
def test_channel_transport_of_uniform_flow_is_analytic():
    """u₀ everywhere in a periodic channel: T = u₀ H a Δφ (exact: dyU = a Δφ)."""
    g = channel()
    u0, H = 0.1, 3000.0
    u = u0 * g.maskU
    exact = u0 * H * EARTH_RADIUS * 30.0 * DEG
    for i in (0, 7, -1):
        assert float(A.zonal_transport(g, u, i)) == pytest.approx(exact, rel=1e-12)
    assert float(A.zonal_transport(g, A.depth_integral(g, u, "U"), 3, depth_integrated=True)
                 ) == pytest.approx(exact, rel=1e-12)
    # part of the section
    band = A.zonal_transport(g, u, 0, y_bounds=(-50.0, -40.0))
    assert float(band) == pytest.approx(u0 * H * EARTH_RADIUS * 10.0 * DEG, rel=1e-12)
    # the barotropic streamfunction falls by the transport across the channel
    psi = A.barotropic_streamfunction(g, A.depth_integral(g, u, "U"))
    assert float(psi[-1, 4]) == pytest.approx(-exact, rel=1e-12)
    with pytest.raises(ValueError, match="section"):
        A.zonal_transport(g, u, g.nx)


def test_section_through_the_land_wall_sees_only_the_channel():
    """The acc_sector geometry: land in the first column north of 40°S; the section of U
    column 0 (east of the land cells) carries only the channel rows south of it."""
    g = channel(land_north_of=-40.0)
    u = 0.05 * g.maskU
    south_rows = np.asarray(g.yT) < -40.0
    exact = 0.05 * 3000.0 * EARTH_RADIUS * 2.0 * DEG * south_rows.sum()
    assert float(A.zonal_transport(g, u, 0)) == pytest.approx(exact, rel=1e-12)
    whole = exact * g.ny / south_rows.sum()  # an open column: the whole width
    assert float(A.zonal_transport(g, u, 5)) == pytest.approx(whole, rel=1e-12)


@pytest.mark.slow  # 4.5 s measured (shared 2-core machine)
def test_overturning_streamfunction_recovers_a_prescribed_cell():
    """A single clockwise cell ψ = ψ₀ sin(πy/L) sin(π(z+H)/H) (positive: northward above,
    southward below), uniform in x: v built from the discrete ψ is recovered to round-off;
    v = −∂ψ/∂z / L_x at the cell centres converges at second order."""
    psi0 = 1.5e7

    def cell(g):
        y = np.asarray(g.yV) / 1.0e6
        zf = np.asarray(g.z_faces)
        H = -zf[0]
        return psi0 * np.sin(np.pi * (zf[1:, None] + H) / H) * np.sin(np.pi * y)[None, :]

    g = box()
    psi = cell(g)
    lower = np.concatenate([np.zeros((1, g.ny)), psi[:-1]])
    Lx = float(jnp.sum(g.dxV[0]))
    v = -(psi - lower) / np.asarray(g.dz)[:, None] / Lx
    v = jnp.asarray(v[:, :, None] * np.ones(g.shape)) * g.maskV
    got = A.overturning_streamfunction(g, v)
    np.testing.assert_allclose(got, psi * np.asarray(g.maskV)[:, :, 0], atol=1e-7 * psi0)
    assert float(jnp.max(got)) > 0.9 * psi0  # clockwise cell: positive

    errors = []
    for nz in (8, 16):
        g = CGrid.beta_plane(1.2e6, 1.0e6, 6, 10, nz=nz, total_depth=4000.0)
        y = np.asarray(g.yV) / 1.0e6
        zc = np.asarray(g.z_centers)
        H = 4000.0
        dpsi_dz = psi0 * np.pi / H * np.cos(np.pi * (zc[:, None] + H) / H) * np.sin(np.pi * y)
        v = jnp.asarray(-dpsi_dz[:, :, None] / 1.2e6 * np.ones(g.shape)) * g.maskV
        errors.append(float(jnp.max(jnp.abs(A.overturning_streamfunction(g, v) - cell(g)))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(rates > 1.95), (errors, rates)


def test_overturning_zonal_band_and_sphere():
    g = channel(nz=3)
    v = 0.01 * g.maskV
    dz = np.asarray(g.dz)
    full = A.overturning_streamfunction(g, v)
    dxV = np.asarray(g.dxV)[:, 0]
    expect = -0.01 * np.cumsum(dz)[:, None] * (dxV * g.nx)[None, :] * np.asarray(g.maskV)[:, :, 0]
    np.testing.assert_allclose(full, expect, rtol=1e-12)
    half = A.overturning_streamfunction(g, v, x_bounds=(0.0, 30.0))
    np.testing.assert_allclose(half, expect / 2, rtol=1e-12)


def test_energy_heat_and_sst_are_analytic():
    g = channel()
    a = EARTH_RADIUS
    vol = 3000.0 * a**2 * 60.0 * DEG * (np.sin(-30.0 * DEG) - np.sin(-60.0 * DEG))
    assert float(jnp.sum(g.volumeT)) == pytest.approx(vol, rel=1e-12)
    u = 0.2 * g.maskU
    v = 0.0 * g.maskV
    # periodic channel: the U cells tile the same volume as the T cells
    assert float(A.kinetic_energy(g, u, v)) == pytest.approx(0.5 * REFERENCE_DENSITY * 0.04 * vol,
                                                             rel=1e-12)
    assert float(A.mean_kinetic_energy(g, u, v)) == pytest.approx(0.02, rel=1e-12)
    # solid-body rotation u = u₀ cos φ: ∫ cos²φ dA = a² Δλ [sin φ − sin³φ / 3] (2nd order)
    cos = np.asarray(g.cosT)
    ke = A.kinetic_energy(g, 0.3 * cos[None] * g.maskU, v, 1.0)
    p0, p1 = -60.0 * DEG, -30.0 * DEG
    band = (np.sin(p1) - np.sin(p1) ** 3 / 3) - (np.sin(p0) - np.sin(p0) ** 3 / 3)
    assert float(ke) == pytest.approx(0.5 * 0.09 * 3000.0 * a**2 * 60.0 * DEG * band, rel=1e-3)
    # heat content of T = T0 + γ z: ρ₀ c_p Σ T dV, exact for a linear profile in each cell
    z = np.asarray(g.z_centers)
    T = jnp.asarray((4.0 + 0.005 * z)[:, None, None] * np.ones(g.shape))
    exact = REFERENCE_DENSITY * HEAT_CAPACITY * vol * (4.0 - 0.005 * 1500.0)
    assert float(A.heat_content(g, T)) == pytest.approx(exact, rel=1e-12)
    assert float(A.heat_content(g, T, reference_temperature=4.0)) == pytest.approx(
        REFERENCE_DENSITY * HEAT_CAPACITY * vol * (-7.5), rel=1e-12)
    assert float(A.volume_mean(g, T)) == pytest.approx(-3.5, rel=1e-12)
    assert float(A.mean_sst(g, T)) == pytest.approx(4.0 + 0.005 * z[-1], rel=1e-12)


def test_land_is_excluded_even_with_garbage_values_there():
    depth = np.full((20, 24), 4000.0)
    depth[8:12, 10:15] = 0.0
    g = box(depth=depth)
    land = 1.0 - g.maskT
    T = 3.0 * g.maskT + 1e6 * land
    assert float(A.mean_sst(g, T)) == pytest.approx(3.0, rel=1e-12)
    assert float(A.volume_mean(g, T)) == pytest.approx(3.0, rel=1e-12)
    u, v = 1e3 * (1.0 - g.maskU), 1e3 * (1.0 - g.maskV)
    assert float(A.kinetic_energy(g, u, v)) == 0.0
    assert float(jnp.max(jnp.abs(A.overturning_streamfunction(g, v)))) == 0.0
    assert float(jnp.max(jnp.abs(A.barotropic_streamfunction(g, u[0])))) == 0.0


@pytest.mark.slow  # 4.5 s measured (shared 2-core machine)
def test_leading_axes_jit_and_vmap():
    g = box(nz=3)
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.normal(size=(2,) + g.shape)) * g.maskU
    v = jnp.asarray(rng.normal(size=(2,) + g.shape)) * g.maskV
    ke = A.kinetic_energy(g, u, v)
    assert ke.shape == (2,)
    assert float(ke[1]) == pytest.approx(float(A.kinetic_energy(g, u[1], v[1])), rel=1e-14)
    moc = jax.jit(A.overturning_streamfunction)(g, v)
    np.testing.assert_allclose(moc[0], A.overturning_streamfunction(g, v[0]), rtol=1e-13)
    tr = jax.vmap(lambda uu: A.zonal_transport(g, uu, 3))(u)
    np.testing.assert_allclose(tr, A.zonal_transport(g, u, 3), rtol=1e-13)


@pytest.mark.slow  # 11 s measured (shared 2-core machine)
def test_gradients_match_central_finite_differences():
    """Reverse-mode gradients of each diagnostic (as a loss) along a random direction vs
    central differences; zero sensitivity to land values."""
    depth = np.full((20, 24), 4000.0)
    depth[8:12, 10:15] = 0.0
    g = box(nz=3, depth=depth)
    rng = np.random.default_rng(2)
    u = jnp.asarray(rng.normal(size=g.shape)) * 0.1
    v = jnp.asarray(rng.normal(size=g.shape)) * 0.1
    T = 10.0 + jnp.asarray(rng.normal(size=g.shape))
    losses = {
        "ke": lambda u, v, T: A.kinetic_energy(g, u, v) / 1e15,
        "psi": lambda u, v, T: jnp.sum(A.barotropic_streamfunction(
            g, A.depth_integral(g, u, "U")) ** 2) / 1e18,
        "moc": lambda u, v, T: jnp.sum(jnp.sin(A.overturning_streamfunction(g, v) / 1e8)),
        "transport": lambda u, v, T: A.zonal_transport(g, u, 4, y_bounds=(2e5, 8e5)) ** 2 / 1e12,
        "heat": lambda u, v, T: A.heat_content(g, T ** 2) / 1e24,
        "sst": lambda u, v, T: A.mean_sst(g, jnp.tanh(T / 10.0)),
    }
    du, dv, dT = (jnp.asarray(rng.normal(size=g.shape)) for _ in range(3))
    h = 1e-5
    for name, f in losses.items():
        gu, gv, gT = jax.grad(f, argnums=(0, 1, 2))(u, v, T)
        ad = float(jnp.sum(gu * du) + jnp.sum(gv * dv) + jnp.sum(gT * dT))
        fd = float((f(u + h * du, v + h * dv, T + h * dT)
                    - f(u - h * du, v - h * dv, T - h * dT)) / (2 * h))
        assert ad != 0.0, name
        assert ad == pytest.approx(fd, rel=1e-7), name
        for grad, mask in ((gu, g.maskU), (gv, g.maskV), (gT, g.maskT)):
            assert float(jnp.max(jnp.abs(grad * (1 - mask)))) == 0.0, name


@pytest.mark.slow  # 7.2 s measured (load ~17 on 2 cores)
def test_maxima_integrals_and_free_surface_volume_are_analytic():
    """max ψ of a prescribed gyre; max ψ of uniform channel flow relative to the northern
    wall; max overturning of a two-layer exchange; Σ φ dV and Σ η dA of uniform fields."""
    g = box(nz=2)
    x = np.asarray(g.xU) / 1.2e6
    y = np.asarray(g.yV) / 1.0e6
    psi = jnp.asarray(2.5e7 * np.sin(np.pi * y)[:, None] * np.sin(np.pi * x)[None, :] ** 2)
    U, _ = transports_from_psi(g, psi * g.maskZ[-1])
    assert float(A.max_barotropic_streamfunction(g, U)) == pytest.approx(
        float(jnp.max(psi * g.maskZ[-1])), rel=1e-10)
    # periodic channel with u0 everywhere: ψ − ψ_north = T (ny − 1 − j)/ny, largest at j = 0
    c = channel(nz=3)
    u0 = 0.1
    exact = u0 * 3000.0 * EARTH_RADIUS * 30.0 * DEG
    assert float(A.max_barotropic_streamfunction(c, A.depth_integral(c, u0 * c.maskU, "U"))
                 ) == pytest.approx(exact * (c.ny - 1) / c.ny, rel=1e-12)
    # northward a above, the compensating southward flow at the bottom: ψ = a dz₀ L_x(y)
    dz = np.asarray(c.dz)
    a = 0.02
    profile = np.array([-a * dz[2] / dz[0], 0.0, a])  # bottom, middle, top levels
    v = jnp.asarray(profile)[:, None, None] * c.maskV
    width = np.asarray(c.dxV)[:, 0] * c.nx * np.asarray(c.maskV)[0, :, 0]
    assert float(A.max_overturning(c, v)) == pytest.approx(a * dz[2] * width.max(), rel=1e-12)
    with pytest.raises(ValueError, match="nz >= 2"):
        A.max_overturning(box(nz=1), jnp.zeros((1, 20, 24)))
    # integrals
    vol = float(jnp.sum(c.volumeT))
    assert float(A.volume_integral(c, 3.0 * c.maskT)) == pytest.approx(3.0 * vol, rel=1e-14)
    assert float(A.volume_mean(c, 3.0 * c.maskT)) == pytest.approx(3.0, rel=1e-14)
    area = EARTH_RADIUS**2 * 60.0 * DEG * (np.sin(-30.0 * DEG) - np.sin(-60.0 * DEG))
    assert float(A.free_surface_volume(c, jnp.full((c.ny, c.nx), 0.5))) == pytest.approx(
        0.5 * area, rel=1e-12)
