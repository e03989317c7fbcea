"""Sea-ice dynamics on the C-grid (pyclimaocean.models.seaice.dynamics): free drift against
its analytic solution, EVP convergence to the viscous-plastic solution on a box test,
conservation under advection, and gradients against finite differences."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.grids.cgrid import CGrid
from pyclimaocean.models.seaice.dynamics import (
    IceDynamics,
    IceDynamicsForcing,
    IceDynamicsState,
    advect_ice,
    free_drift_velocity,
    quadratic_air_stress,
)
from pyclimaocean.params import ParameterSet

jax.config.update("jax_enable_x64", True)

F0 = 1.46e-4


@pytest.mark.slow  # 4 s + 2.5 s measured (load average 15 on 2 cores; mostly compilation)
@pytest.mark.parametrize("theta_deg", [0.0, 25.0])
def test_free_drift_matches_analytic_steady_solution(theta_deg):
    """Uniform wind, uniform ocean current with its geostrophic sea-surface tilt, P* = 0:
    the steady interior velocity is the analytic free drift (wind + water drag + Coriolis)."""
    ny, nx, dy = 20, 3, 20e3
    g = CGrid.beta_plane(nx * dy, ny * dy, nx, ny, nz=1, total_depth=100.0, f0=F0,
                         periodic_x=True)
    theta = math.radians(theta_deg)
    model = IceDynamics(grid=g, free_drift=True, beta=5.0, substeps=100, turning_angle=theta)
    h, hs, u_o = 1.5, 0.2, 0.05
    state = IceDynamicsState.at_rest(g, h, 1.0, hs)
    ssh = -F0 * u_o * g.yT[:, None] / model.gravity * jnp.ones((ny, nx))  # f k×u_o = -g ∇η
    forcing = IceDynamicsForcing(tau_x=0.1, tau_y=-0.05, ocean_u=u_o, ocean_v=0.0, ssh=ssh)
    step = jax.jit(lambda s: model.momentum(s, forcing, 86400.0))
    for _ in range(8):
        state = step(state)
    mass = model.ice_density * (h + model.mass_floor_thickness) + model.snow_density * hs
    exact = free_drift_velocity(0.1 - 0.05j, F0, mass, model.ocean_density * model.ocean_drag,
                                theta, u_o)
    # measured: 6e-8 (θ = 0) and 1e-7 (θ = 25°), the smooth drag speed (ε = 1e-4 m/s) and
    # the walls, whose rows differ by 0.1-0.3 (4-point Coriolis averages with v = 0 there)
    mid = slice(ny // 2 - 2, ny // 2 + 2)
    err_u = np.abs(np.asarray(state.u[mid]) - exact.real).max() / abs(exact)
    err_v = np.abs(np.asarray(state.v[mid]) - exact.imag).max() / abs(exact)
    assert abs(exact) > 0.1
    assert err_u < 1e-6 and err_v < 1e-6, (err_u, err_v, exact)
    # steady state: the ocean receives the wind stress minus the Coriolis force on the
    # ice's velocity relative to the ocean, τ_io = τ_a − m f k×(u − u_o)
    tx, ty = model.ice_ocean_stress(state, forcing)
    rel = exact - u_o
    np.testing.assert_allclose(tx[mid], 0.1 + mass * F0 * rel.imag, rtol=1e-5)
    np.testing.assert_allclose(ty[mid], -0.05 - mass * F0 * rel.real, rtol=1e-5)


@pytest.mark.slow  # 6 s measured (load 15 on 2 cores)
def test_free_drift_flag_equals_zero_strength():
    g = CGrid.beta_plane(6 * 20e3, 6 * 20e3, 6, 6, nz=1, total_depth=100.0, f0=F0)
    state = IceDynamicsState.at_rest(g, 1.0, 0.9)
    forcing = IceDynamicsForcing(tau_x=0.1, tau_y=0.05)
    a = eqx.filter_jit(IceDynamics(grid=g, free_drift=True, substeps=20).momentum)(
        state, forcing, 600.0)
    b = eqx.filter_jit(IceDynamics(grid=g, ice_strength=0.0, substeps=20).momentum)(
        state, forcing, 600.0)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.v, b.v, rtol=1e-12, atol=1e-15)
    assert float(jnp.abs(a.u).max()) > 1e-3


@pytest.mark.slow  # 7 s measured (load 15 on 2 cores)
def test_unforced_ice_stays_nearly_at_rest():
    """At rest the replacement pressure is P δ/Δ_min = 1e-6 P and the rheology is rigid:
    unforced ice of varying thickness (the box: 0 to 2 m) creeps at < 1e-8 m s⁻¹ (measured
    6e-10); uniform ice does not move at all."""
    g, state, forcing = _box(n=10)
    model = IceDynamics(grid=g, substeps=60)
    step = eqx.filter_jit(model.step)
    rest = IceDynamicsForcing(0.0 * forcing.tau_x, 0.0 * forcing.tau_y)
    s = state
    for _ in range(3):
        s = step(s, rest, 1800.0)
    assert 0 < float(jnp.maximum(jnp.abs(s.u).max(), jnp.abs(s.v).max())) < 1e-8
    uniform = IceDynamicsState.at_rest(g, 2.0, 1.0)
    out = step(uniform, rest, 1800.0)
    assert float(jnp.abs(out.u).max()) == 0.0 and float(jnp.abs(out.v).max()) == 0.0
    forced = step(state, forcing, 1800.0)
    assert float(jnp.abs(forced.u).max()) > 1e-2


def _box(n=16, L=800e3, depth=None, t=0.0):
    """A Hunke (2001)-type box: square basin, circulating ocean current, a spatially varying
    wind (its field at time t, s), ice thickness rising from 0 (west) to 2 m (east), A = 1."""
    g = CGrid.beta_plane(L, L, n, n, nz=1, total_depth=100.0, f0=F0, depth=depth)
    XT, _ = np.meshgrid(np.asarray(g.xT), np.asarray(g.yT))
    XU, YU = np.meshgrid(np.asarray(g.xU), np.asarray(g.yT))
    XV, YV = np.meshgrid(np.asarray(g.xT), np.asarray(g.yV))

    def wind(x, y):
        a = math.sin(2 * math.pi * t / (4 * 86400.0)) - 3.0
        return (5 + a * np.sin(2 * np.pi * x / L) * np.sin(np.pi * y / L),
                5 + a * np.sin(2 * np.pi * y / L) * np.sin(np.pi * x / L))

    tx, _ = quadratic_air_stress(*wind(XU, YU))
    _, ty = quadratic_air_stress(*wind(XV, YV))
    forcing = IceDynamicsForcing(tau_x=jnp.asarray(tx), tau_y=jnp.asarray(ty),
                                 ocean_u=jnp.asarray(0.1 * (2 * YU - L) / L),
                                 ocean_v=jnp.asarray(-0.1 * (2 * XV - L) / L))
    state = IceDynamicsState.at_rest(g, 2.0 * XT / L, 1.0)
    return g, state, forcing


@pytest.mark.slow  # 23 s measured (load 15 on 2 cores)
def test_evp_converges_to_viscous_plastic_solution():
    """Box test: after two spin-up steps, one step of Δt = 30 min.  The VP momentum residual
    of the iterate falls with the number of substeps, for constant (mEVP, α = β = 300) and
    adaptive (aEVP) relaxation, and both converge to the same velocity."""
    g, state, forcing = _box()
    dt, n_sub = 1800.0, 1500
    spin = IceDynamics(grid=g, scheme="aevp", substeps=n_sub)
    spin_step = jax.jit(lambda s: spin.momentum(s, forcing, dt))
    start = spin_step(spin_step(state))
    finals, tables = {}, {}
    for scheme in ("mevp", "aevp"):
        model = IceDynamics(grid=g, scheme=scheme, substeps=n_sub)
        final, (us, vs) = jax.jit(
            lambda s, model=model: model.momentum(s, forcing, dt, return_history=True))(start)
        resid = jax.jit(jax.vmap(lambda u, v, model=model: jnp.sqrt(
            sum(jnp.sum(r**2) for r in model.vp_residual(start, u, v, forcing, dt))
            / (2 * g.nx * g.ny))))(us, vs)
        tables[scheme] = {n: float(resid[n - 1]) for n in (10, 50, 100, 200, 500, 1000, n_sub)}
        finals[scheme] = final
    # measured (residual, N m⁻², no-slip walls): mEVP 3.8e-3 (N = 10), 2.5e-4 (500),
    # 3.2e-6 (1500); aEVP 3.1e-3, 8.6e-6, 1.3e-8 (the rms air stress is 6.5e-2)
    for scheme, drop in (("mevp", 1e-2), ("aevp", 1e-4)):
        values = list(tables[scheme].values())
        assert all(b < a for a, b in zip(values[2:], values[3:], strict=False)), (scheme, tables[scheme])
        assert values[-1] < drop * values[0], (scheme, tables[scheme])
    assert tables["aevp"][500] < 0.2 * tables["mevp"][500], tables  # adaptive is faster
    speed = float(jnp.abs(finals["aevp"].u).max())
    assert speed > 0.01
    diff = float(jnp.abs(finals["mevp"].u - finals["aevp"].u).max())
    assert diff < 1e-3 * speed, (diff, speed)
    # the ice is not in free drift: the internal stress matters
    drift = IceDynamics(grid=g, free_drift=True, substeps=n_sub).momentum(start, forcing, dt)
    assert float(jnp.abs(drift.u - finals["aevp"].u).max()) > 0.1 * speed


@pytest.mark.slow  # 7 s measured (load 15 on 2 cores)
def test_no_slip_walls_carry_shear_stress_and_slow_the_ice():
    """No slip: ζ points on the walls (including the south row and west column the grid does
    not store) carry shear stress; free slip: none; the wall-parallel ice is slower."""
    g, state, forcing = _box(n=8)
    out = {}
    for walls in ("no_slip", "free_slip"):
        model = IceDynamics(grid=g, scheme="aevp", substeps=200, walls=walls)
        out[walls] = eqx.filter_jit(model.momentum)(state, forcing, 1800.0)
    edge = lambda a: jnp.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])  # noqa: E731
    assert float(jnp.abs(edge(out["free_slip"].sigma12)).max()) == 0.0
    assert float(jnp.abs(out["no_slip"].sigma12[0]).max()) > 0  # south wall row
    assert float(jnp.abs(out["no_slip"].sigma12[:, 0]).max()) > 0  # west wall column
    wall_u = lambda s: float(jnp.abs(s.u[jnp.array([0, -1])]).mean())  # noqa: E731
    assert wall_u(out["no_slip"]) < 0.9 * wall_u(out["free_slip"])
    with pytest.raises(ValueError, match="walls"):
        IceDynamics(grid=g, walls="slip")


def _island_grid(n=10):
    depth = np.full((n, n), 100.0)
    depth[3:5, 4:7] = 0.0  # an island
    return CGrid.beta_plane(n * 25e3, n * 25e3, n, n, nz=1, total_depth=100.0, f0=F0,
                            depth=depth)


@pytest.mark.slow  # 3.5 s measured (load 15 on 2 cores)
def test_advection_conserves_and_stays_positive():
    g = _island_grid()
    rng = np.random.default_rng(1)
    mT = g.surface_mask("T")
    fields = tuple(jnp.asarray(rng.uniform(0, s, (g.ny, g.nx))) * mT for s in (3.0, 1.0, 0.3))
    fields = (fields[0], fields[1].at[5:, :].set(0.0) * mT, fields[2])  # open water patch
    u = jnp.asarray(rng.normal(0, 0.3, (g.ny, g.nx)))
    v = jnp.asarray(rng.normal(0, 0.3, (g.ny, g.nx)))
    dt = 0.4 * 25e3 / (2 * 1.3)  # CFL: dt (|u|/dx + |v|/dy) <= 1 for |u|, |v| <= 1.3
    assert float(jnp.maximum(jnp.abs(u), jnp.abs(v)).max()) < 1.3
    totals0 = [float(jnp.sum(q * g.areaT)) for q in fields]
    out = fields
    for _ in range(20):
        out = advect_ice(g, u, v, out, dt)
    for q0, q, t0 in zip(fields, out, totals0, strict=True):
        assert abs(float(jnp.sum(q * g.areaT)) - t0) < 1e-13 * t0
        assert float(q.min()) >= 0.0
        assert float(jnp.abs(q * (1 - mT)).max()) == 0.0
        assert float(jnp.abs(q - q0).max()) > 1e-3  # something moved


@pytest.mark.slow  # 3.5 s measured (load 15 on 2 cores)
def test_step_conserves_ice_and_snow_volume_in_closed_basin():
    g, state, forcing = _box(n=10)
    state = eqx.tree_at(lambda s: s.hs, state, 0.1 * state.A)
    model = IceDynamics(grid=g, scheme="aevp", substeps=60)
    step = jax.jit(lambda s: model.step(s, forcing, 3600.0))
    vol0, snow0 = float(jnp.sum(state.h * g.areaT)), float(jnp.sum(state.hs * g.areaT))
    s = state
    for _ in range(6):
        s = step(s)
    assert abs(float(jnp.sum(s.h * g.areaT)) - vol0) < 1e-13 * vol0
    assert abs(float(jnp.sum(s.hs * g.areaT)) - snow0) < 1e-13 * snow0
    assert float(s.h.min()) >= 0 and float(s.A.max()) <= 1.0 and float(s.A.min()) >= 0
    assert float(jnp.abs(s.h - state.h).max()) > 1e-4


@pytest.mark.slow  # 14 s measured (load 15 on 2 cores)
def test_four_day_box_run_with_moving_wind():
    """Four days of full steps (aEVP, 120 substeps, Δt = 1 h) with the wind of Hunke's box
    changing every 6 h: finite, volume and snow conserved, 0 <= A <= 1, h >= 0."""
    g, state, _ = _box(n=12)
    state = eqx.tree_at(lambda s: s.hs, state, 0.1 * state.A)
    model = IceDynamics(grid=g, scheme="aevp", substeps=120)
    forcings = [_box(n=12, t=6 * 3600.0 * k)[2] for k in range(16)]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *forcings)

    @jax.jit
    def run(s):
        def body(s, f):
            for _ in range(6):
                s = model.step(s, f, 3600.0)
            return s, jnp.abs(s.u).max()
        return jax.lax.scan(body, s, stacked)

    final, speeds = run(state)
    vol0, snow0 = float(jnp.sum(state.h * g.areaT)), float(jnp.sum(state.hs * g.areaT))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(final))
    assert 0.02 < float(speeds.max()) < 0.5
    assert abs(float(jnp.sum(final.h * g.areaT)) - vol0) < 1e-13 * vol0
    assert abs(float(jnp.sum(final.hs * g.areaT)) - snow0) < 1e-13 * snow0
    assert float(final.h.min()) >= 0 and 0 <= float(final.A.min()) and float(final.A.max()) <= 1
    assert float(jnp.abs(final.h - state.h).max()) > 0.05


@pytest.mark.slow  # 5 s measured (load 15 on 2 cores)
def test_spherical_grid_with_land():
    """A latitude-longitude sector with a land column and an island (aEVP: the adaptive α
    divides by the mass, which is 0 on land): a day of steps stays finite, conserves volume,
    keeps closed faces shut and leaves land ice-free."""
    depth = np.full((8, 12), 1000.0)
    depth[2:4, 5:7] = 0.0
    depth[:, 0] = 0.0
    g = CGrid.spherical(0, 24, 70, 78, 2.0, 1.0, nz=1, total_depth=1000.0, depth=depth)
    model = IceDynamics(grid=g, scheme="aevp", substeps=60)
    h = 1.0 + 0.5 * jnp.sin(jnp.asarray(g.xT) / 5.0)[None, :]
    state = IceDynamicsState.at_rest(g, h, 0.9, 0.1)
    forcing = IceDynamicsForcing(tau_x=0.15, tau_y=0.05)

    @jax.jit
    def run(s):
        return jax.lax.scan(lambda s, _: (model.step(s, forcing, 3600.0), None), s, None,
                            length=24)[0]

    final = run(state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(final))
    vol0 = float(jnp.sum(state.h * g.areaT))
    assert abs(float(jnp.sum(final.h * g.areaT)) - vol0) < 1e-13 * vol0
    assert float(jnp.abs(final.u * (1 - g.surface_mask("U"))).max()) == 0.0
    assert float(jnp.abs(final.v * (1 - g.surface_mask("V"))).max()) == 0.0
    assert float(jnp.abs(final.h * (1 - g.surface_mask("T"))).max()) == 0.0
    assert 0.05 < float(jnp.abs(final.u).max()) < 1.0


def _loss(model, state, forcing, steps=3, dt=3600.0):
    def body(s, _):
        return model.step(s, forcing, dt), None
    s, _ = jax.lax.scan(body, state, None, length=steps)
    return jnp.sum(s.u**2 + s.v**2) + 1e-2 * jnp.sum(s.h**2)


@pytest.mark.slow  # 9.6 s of CPU measured at load ~32 (10.7 s with a separately compiled forward)
def test_gradient_matches_central_differences():
    """d(loss)/d(P*, C, e, C_w) over 3 steps (EVP + advection) by reverse-mode AD and by
    central differences (relative step 1e-4); measured agreement 4e-9, 7e-10, 1.3e-8, 8e-9."""
    g, state, forcing = _box(n=6)
    model = IceDynamics(grid=g, scheme="aevp", substeps=30)
    names = ("ice_strength", "strength_decay", "ellipse_ratio", "ocean_drag")

    def f(x):
        m = eqx.tree_at(lambda m: tuple(getattr(m, n) for n in names), model, tuple(x))
        return _loss(m, state, forcing)

    x0 = jnp.asarray([float(getattr(model, n)) for n in names])
    # one compiled program: its value is the loss for the finite differences (a separately
    # compiled forward would cost a second compilation of the run)
    value_and_grad = jax.jit(jax.value_and_grad(f))
    ad = np.asarray(value_and_grad(x0)[1])

    def fj(x):
        return value_and_grad(x)[0]

    for k in range(len(names)):
        h = 1e-4 * float(x0[k])
        e = jnp.zeros(len(names)).at[k].set(h)
        fd = (float(fj(x0 + e)) - float(fj(x0 - e))) / (2 * h)
        assert ad[k] != 0.0
        assert abs(ad[k] - fd) <= 1e-5 * abs(fd), (names[k], ad[k], fd)


@pytest.mark.slow  # 46 s measured (load 15 on 2 cores; mostly compilation)
def test_all_gradient_leaves_finite_from_rest():
    """From u = 0 (zero strain: Δ = 0), forced and unforced (where u stays 0), every
    gradient leaf (model and state) is finite."""
    g, state, forcing = _box(n=6)
    model = IceDynamics(grid=g, substeps=20)

    def f(model, state, forcing):
        return _loss(model, state, forcing, steps=2)

    grad = eqx.filter_jit(jax.grad(f, argnums=(0, 1)))
    for scale in (1.0, 0.0):
        forced = IceDynamicsForcing(scale * forcing.tau_x, scale * forcing.tau_y,
                                    scale * forcing.ocean_u, scale * forcing.ocean_v)
        gm, gs = grad(model, state, forced)
        leaves = jax.tree_util.tree_leaves((gm, gs))
        assert len(leaves) > 20 and all(bool(jnp.all(jnp.isfinite(x))) for x in leaves)
        if scale:
            assert float(jnp.abs(gm.ice_strength)) > 0 and float(jnp.abs(gs.h).max()) > 0


def test_parameters_have_bounds_units_and_apply():
    g = CGrid.beta_plane(4e5, 4e5, 4, 4, nz=1, total_depth=100.0)
    model = IceDynamics(grid=g)
    ps = model.parameters()
    assert isinstance(ps, ParameterSet)
    assert set(ps.names) == {"ice_strength", "strength_decay", "ellipse_ratio", "ocean_drag"}
    assert ps["ice_strength"].units == "N m-2" and float(ps["ice_strength"].value) == 27500.0
    assert float(ps["strength_decay"].value) == 20.0 and float(ps["ellipse_ratio"].value) == 2.0
    for p in ps.parameters.values():
        assert p.lower < float(p.value) < p.upper
    new = ps.with_values({"ice_strength": 3.0e4}).apply(model)
    assert float(new.ice_strength) == 3.0e4
    with pytest.raises(ValueError, match="scheme"):
        IceDynamics(grid=g, scheme="evp")
