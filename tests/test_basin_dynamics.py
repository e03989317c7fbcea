"""The 3-D basin core: analytic waves, the Munk gyre, conservation, gradients, jit/vmap.

Reference values: linear shallow-water theory (c = √(gH)); the inertial period 2π/f and the
amplification of quasi-AB2 (the root of its characteristic polynomial); the hydrostatic
mode-1 internal wave speed NH/π (Gill 1982, §6.11); Munk (1950) and MITgcm's
``tutorial_barotropic_gyre`` for the gyre.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.grids import CGrid
from pyclimaocean.models.basin import (
    BasinMixing,
    BasinModel,
    BottomDrag,
    SurfaceForcing,
    acc_sector,
    kernels,
    mean_kinetic_energy,
    mean_sst,
    munk_gyre,
    stable_substeps,
    substep_weights,
    total_volume_anomaly,
    tracer_content,
)
from pyclimaocean.physics.constants import GRAVITY
from pyclimaocean.physics.equation_of_state import RoquetEquationOfState

NO_MIXING = BasinMixing(vertical_viscosity=0.0, vertical_diffusivity=0.0)


def _crossings(t, p):
    """Times of the sign changes of ``p(t)`` (linear interpolation)."""
    idx = np.where(np.diff(np.sign(p)) != 0)[0]
    return np.array([t[i] - p[i] * (t[i + 1] - t[i]) / (p[i + 1] - p[i]) for i in idx])


def _small_acc(**kwargs):
    """A 6° version of the acc sector on 5 levels (10 × 14 × 5): cheap but with land, a
    re-entrant channel, stretching, wind and restoring."""
    return acc_sector(dlon=6.0, dlat=6.0, dt=7200.0,
                      z_faces=[-2000.0, -1200.0, -600.0, -250.0, -80.0, 0.0], **kwargs)


def _tiny(n_substeps=2):
    """A 6 × 5 × 3 β-plane box with one land column, wind, quadratic drag and restoring: for
    the checks whose cost is per operation (eager execution, compilation)."""
    depth = np.full((5, 6), 1000.0)
    depth[2, 3] = 0.0
    g = CGrid.beta_plane(6e5, 5e5, 6, 5, nz=3, total_depth=1000.0, depth=depth, beta=1e-11)
    y = np.asarray(g.yT)[:, None] * np.ones((1, 6))
    forcing = SurfaceForcing(wind_stress_amplitude=0.1,
                             wind_stress_x_shape=jnp.asarray(-np.cos(np.pi * y / 5e5)),
                             restoring_rate=1e-6, restoring_temperature=jnp.asarray(10 + y / 1e5))
    T0 = 10.0 + 0.005 * np.asarray(g.z_centers)[:, None, None] * np.ones(g.shape)
    return BasinModel(g, 1800.0, n_substeps,
                      mixing=BasinMixing(horizontal_viscosity=1e3, biharmonic_viscosity=1e10,
                                         horizontal_diffusivity=100.0),
                      drag=BottomDrag(linear=1e-6, quadratic=2e-3), forcing=forcing,
                      initial_temperature=T0)


def _run(model, state, n, observe=None):
    fn = jax.jit(lambda s: model.run(s, n, save_every=1 if observe else None,
                                     checkpoint_every=None, observe=observe))
    return fn(state)


def test_substep_weights_are_normalised_and_centred():
    for n in (5, 30, 81):
        a, tau_end = substep_weights(n)
        tau = np.arange(1, n + 1) * tau_end / n
        assert a.sum() == pytest.approx(1.0, abs=1e-14)
        assert float(np.sum(a * tau)) == pytest.approx(1.0, abs=1e-12)  # centred on t + Δt
        assert 1.3 < tau_end < 1.6
    with pytest.raises(ValueError, match="n_substeps"):
        substep_weights(1)


def test_coriolis_and_vorticity_flux_conserve_energy():
    """Σ dxU dyU u G_u + Σ dxV dyV v G_v = 0 for any q (Sadourny's energy-conserving form)."""
    g = _tiny().grid
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    u = jax.random.normal(k1, g.shape) * g.maskU
    v = jax.random.normal(k2, g.shape) * g.maskV
    q = g.fZ + 1e-5 * jax.random.normal(k3, g.shape)

    @jax.jit
    def work_and_scale(g, u, v, q):
        gu, gv = kernels.coriolis_vorticity_flux(g, u, v, q)
        work = jnp.sum(u * gu * g.dxU * g.dyU) + jnp.sum(v * gv * g.dxV * g.dyV)
        return work, jnp.sum(jnp.abs(u * gu * g.dxU * g.dyU))

    work, scale = work_and_scale(g, u, v, q)
    assert abs(float(work)) < 1e-13 * float(scale)


@pytest.mark.slow  # 2.8 s measured (load ~15 on 2 cores)
def test_no_slip_walls_add_the_side_drag_and_dissipate():
    """Uniform u₀ in a re-entrant channel: free slip exerts no friction; no slip adds exactly
    −2 A u₀ / Δy² in the rows next to the south and north walls (ghost −u₀ beyond the wall)
    and nothing inside.  For random fields on a box with an island both dissipate energy,
    no slip more."""
    A = 400.0
    g = CGrid.beta_plane(6e5, 5e5, 6, 5, nz=2, total_depth=1000.0, periodic_x=True)
    u0 = 0.1 * g.maskU
    zero = jnp.zeros(g.shape)
    free = kernels.laplacian_velocity(g, u0, zero, A)
    noslip = kernels.laplacian_velocity(g, u0, zero, A, no_slip=True)
    assert float(jnp.max(jnp.abs(free[0]))) < 1e-20 and float(jnp.max(jnp.abs(free[1]))) < 1e-20
    dy = 1e5
    expect = np.zeros(g.shape)
    expect[:, [0, -1], :] = -2 * A * 0.1 / dy**2
    np.testing.assert_allclose(noslip[0], expect * np.asarray(g.maskU), rtol=1e-12, atol=1e-24)
    np.testing.assert_allclose(noslip[1], 0.0, atol=1e-24)
    # energy: Σ u·L(u) dV < 0, and no slip removes more
    m = _tiny()
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    u = jax.random.normal(k1, m.grid.shape) * m.grid.maskU
    v = jax.random.normal(k2, m.grid.shape) * m.grid.maskV
    gr = m.grid

    def work(no_slip):
        lu, lv = kernels.laplacian_velocity(gr, u, v, A, no_slip=no_slip)
        return float(jnp.sum(u * lu * gr.areaU) + jnp.sum(v * lv * gr.areaV))

    assert work(True) < work(False) < 0.0


@pytest.mark.slow  # 8.2 s of CPU measured at load ~28 (10.8 s with a separately compiled forward)
def test_no_slip_viscosity_gradient_matches_finite_differences():
    """d(KE)/dA_h through 30 steps of the tiny box with no-slip walls, from rest under wind:
    reverse mode vs a central difference (relative step 1e-3)."""
    m = _tiny(n_substeps=6)
    mix = m.mixing
    m = eqx.tree_at(lambda q: q.mixing, m, BasinMixing(
        horizontal_viscosity=mix.horizontal_viscosity,
        biharmonic_viscosity=mix.biharmonic_viscosity,
        horizontal_diffusivity=mix.horizontal_diffusivity, no_slip=True))

    def loss(a_h):
        mm = eqx.tree_at(lambda q: q.mixing.horizontal_viscosity, m, a_h)
        final, _ = mm.run(mm.initial_state(), 30, checkpoint_every=None)
        return mean_kinetic_energy(mm, final)

    a = jnp.asarray(1e3)
    # one compiled program: its value is the loss for the finite differences (a separately
    # compiled forward would cost a second compilation of the run)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    grad = float(value_and_grad(a)[1])

    def f(v):
        return value_and_grad(v)[0]

    h = 1.0
    fd = (float(f(a + h)) - float(f(a - h))) / (2 * h)
    assert grad < 0.0  # more friction, less energy
    assert grad == pytest.approx(fd, rel=1e-6)


def test_hydrostatic_pressure_of_uniform_buoyancy():
    """∂p/∂z = b: p = b z at the centres for uniform b."""
    g = CGrid.beta_plane(1e5, 1e5, 3, 3, nz=6, total_depth=1000.0, stretching=2.0)
    b = 0.01 * jnp.ones(g.shape)
    p = jax.jit(kernels.hydrostatic_pressure)(g, b)
    assert np.allclose(p[:, 1, 1], 0.01 * np.asarray(g.z_centers), rtol=1e-13)


@pytest.mark.slow  # 4 s measured (machine shared, load ~10 on 2 cores)
def test_surface_gravity_wave_speed():
    """A standing wave η = a cos(kx) on a flat, non-rotating 4000 m channel oscillates with
    c = √(gH) = 198.1 m s⁻¹ (measured 198.08: −7e-5)."""
    H, Lx, nx, dt = 4000.0, 2.0e6, 100, 600.0
    g = CGrid.beta_plane(Lx, 60e3, nx, 3, nz=1, total_depth=H, f0=0.0, periodic_x=True)
    m = BasinModel(g, dt, stable_substeps(g, dt), mixing=NO_MIXING, momentum_advection=False)
    cos_kx = np.cos(2 * np.pi / Lx * np.asarray(g.xT))[None, :]
    s0 = m.state_from_fields(eta=0.01 * cos_kx)
    _, p = _run(m, s0, 60, lambda s: jnp.mean(s.eta * cos_kx))
    p = np.concatenate([[0.005], np.asarray(p)])
    period = 2 * np.mean(np.diff(_crossings(np.arange(61) * dt, p)))
    assert Lx / period == pytest.approx(np.sqrt(GRAVITY * H), rel=2e-3)


def _inertial_run(stepper, f0=1e-4, dt=600.0, periods=3):
    """Depth-varying uniform u (zero depth mean: no free-surface signal) on an f-plane, read in
    the middle row of a wide channel (the walls' reduced Coriolis averaging stays away)."""
    ny = 41
    g = CGrid.beta_plane(4e5, ny * 1e5, 4, ny, nz=2, total_depth=1000.0, f0=f0,
                         periodic_x=True)
    m = BasinModel(g, dt, 10, mixing=NO_MIXING, momentum_advection=False,
                   time_stepper=stepper)
    s0 = m.state_from_fields(u=jnp.asarray([-0.01, 0.01])[:, None, None])
    n = int(periods * 2 * np.pi / f0 / dt) + 2
    _, (u, v) = _run(m, s0, n, lambda s: (s.u[1, ny // 2, 1], s.v[1, ny // 2, 1]))
    u = np.concatenate([[0.01], np.asarray(u)])
    v = np.concatenate([[0.0], np.asarray(v)])
    t = np.arange(n + 1) * dt
    period = 2 * np.mean(np.diff(_crossings(t, u)))
    growth_per_step = (np.hypot(u[-1], v[-1]) / 0.01) ** (1.0 / n)
    return period, growth_per_step


@pytest.mark.slow  # 6 s measured (machine shared, load ~10 on 2 cores)
def test_inertial_oscillation_ab2():
    """Period 2π/f and the amplitude factor of quasi-AB2 (χ = 0.1) equal the root of its
    characteristic polynomial λ² − λ(1 + iω(3/2 + χ)) + iω(1/2 + χ) = 0, ω = f Δt.
    Measured at f Δt = 0.06: |λ|^(steps per period) = 0.9639 (analytic 0.9632): quasi-AB2
    with χ = 0.1 damps inertial oscillations by 3.7 % per period; the period is 0.18 % short."""
    f0, dt, chi = 1e-4, 600.0, 0.1
    period, growth = _inertial_run("ab2", f0, dt)
    w = f0 * dt
    roots = np.roots([1, -(1 + 1j * w * (1.5 + chi)), 1j * w * (0.5 + chi)])
    lam = roots[np.argmax(np.abs(roots))]
    assert period == pytest.approx(2 * np.pi / f0 * w / np.angle(lam), rel=2e-4)
    assert period == pytest.approx(2 * np.pi / f0, rel=3e-3)
    steps_per_period = 2 * np.pi / w
    # (the forward-Euler first step and the parasitic root leave a 7e-4 difference)
    assert growth**steps_per_period == pytest.approx(abs(lam) ** steps_per_period, abs=1.5e-3)
    assert growth**steps_per_period < 0.97


@pytest.mark.slow  # 17 s measured (machine shared, load ~10 on 2 cores)
def test_inertial_oscillation_rk3():
    """RK3: period 2π/f (measured error −7e-7) and no growth (0.99994 per period)."""
    f0 = 1e-4
    period, growth = _inertial_run("rk3", f0)
    assert period == pytest.approx(2 * np.pi / f0, rel=1e-4)
    assert 1 - 1e-6 < growth <= 1.0


@pytest.mark.slow  # 7 s measured (machine shared, load ~10 on 2 cores)
def test_mode1_internal_wave_speed():
    """Uniform N = 5e-3 s⁻¹, H = 1000 m, non-rotating periodic channel: a standing mode-1
    wave has speed NH/π = 1.592 m s⁻¹ (measured 1.587, −0.28 %: the discrete vertical and
    horizontal dispersion)."""
    H, N, Lx, nx, nz, dt = 1000.0, 5e-3, 2e5, 40, 20, 600.0
    g = CGrid.beta_plane(Lx, 5e3, nx, 1, nz=nz, total_depth=H, f0=0.0, periodic_x=True)
    m = BasinModel(g, dt, stable_substeps(g, dt), mixing=NO_MIXING, momentum_advection=False,
                   tracer_advection="centered2")
    alpha = m.equation_of_state.thermal_expansion_coefficient
    z = np.asarray(g.z_centers)[:, None, None]
    mode = np.sin(np.pi * (z + H) / H) * np.cos(2 * np.pi / Lx * np.asarray(g.xT))[None, None]
    background = 10 + N**2 / (GRAVITY * alpha) * z
    s0 = m.state_from_fields(T=background + 0.01 * mode)
    n = 400
    _, p = _run(m, s0, n, lambda s: jnp.sum((s.T - background) * mode))
    p = np.concatenate([[0.01 * np.sum(mode**2)], np.asarray(p)])
    period = 2 * np.mean(np.diff(_crossings(np.arange(n + 1) * dt, p)))
    assert Lx / period == pytest.approx(N * H / np.pi, rel=1e-2)


@pytest.mark.slow  # 47 s (free slip) and 44 s (no slip) measured (load ~15 on 2 cores)
@pytest.mark.parametrize("walls", ["free_slip", "no_slip"])
def test_munk_gyre_width_and_sverdrup_transport(walls):
    """MITgcm barotropic gyre (1200 km, H = 5 km, f0 = 1e-4, β = 1e-11, τ₀ = 0.1 N m⁻²,
    A_h = 400 m² s⁻¹, ρ₀ = 1000), 20 km grid, wind ramped over 30 days, 240 days; means over
    days 120–240 along y = L/2.

    * Sverdrup transport τ₀ π L / (ρ₀ β L) = 31.4 Sv: the interior streamfunction satisfies
      ψ(x) = ψ_S (L − x) / L; ψ_S from the middle two thirds of x (measured 32.2 Sv, +2.4 %,
      free slip; 29.9 Sv, −4.9 %, no slip).
    * Munk (1950) boundary layer, δ = (A_h/β)^{1/3} = 34.2 km, s = x/δ, k = √3/2:
      ψ = ψ_S (1 − x/L) [1 − e^{−s/2} (cos ks + b sin ks)], b = −1/√3 for free slip
      (ψ_xx = 0 at the wall) and +1/√3 for no slip (ψ_x = 0).  The boundary current's v
      changes sign where ψ peaks: at 78.4 km (free slip; 2.418 δ without the (1 − x/L)
      factor) or 117.1 km (no slip; 3.628 δ); the peaks are 38.05 and 32.87 Sv.  Measured:
      v = 0 at 81.0 km (+3.3 %) and 117.4 km (+0.3 %), peak ψ 38.85 Sv (+2.1 %) and
      32.36 Sv (−1.5 %).
    """
    nx, dt, L = 60, 1800.0, 1.2e6
    m = munk_gyre(nx=nx, dt=dt, no_slip=walls == "no_slip")
    day = int(86400 / dt)

    @jax.jit
    def segment(state, amplitude):
        mm = eqx.tree_at(lambda q: q.forcing.wind_stress_amplitude, m, amplitude)
        return mm.run(state, 10 * day, save_every=day, checkpoint_every=None,
                      observe=lambda s: (mm.barotropic_streamfunction(s), s.V))

    state, psis, Vs = m.initial_state(), [], []
    for k in range(24):
        state, (psi, V) = segment(state, jnp.asarray(0.1 * min(1.0, (k + 0.5) / 3)))
        psis.append(np.asarray(psi))
        Vs.append(np.asarray(V))
    psi, V = np.concatenate(psis)[120:], np.concatenate(Vs)[120:]
    g = m.grid
    j = nx // 2 - 1  # ψ row at y = L/2
    x_u = np.asarray(g.xU)
    interior = slice(nx // 6, 5 * nx // 6)
    sverdrup = np.mean(psi[:, j, interior] * L / (L - x_u[interior]))
    theory = 0.1 * np.pi * L / (1000.0 * 1e-11 * L)
    assert sverdrup == pytest.approx(theory, rel=0.05)
    # Munk's profile and where it peaks
    delta, k = (400.0 / 1e-11) ** (1 / 3), np.sqrt(3) / 2
    b = -1 / np.sqrt(3) if walls == "free_slip" else 1 / np.sqrt(3)
    xs = np.linspace(1.0, 4e5, 40001)
    s = xs / delta
    munk = theory * (1 - xs / L) * (1 - np.exp(-s / 2) * (np.cos(k * s) + b * np.sin(k * s)))
    v = V[:, nx // 2].mean(axis=0)
    x = np.asarray(g.xT)
    i = np.where(np.diff(np.sign(v)) != 0)[0][0]
    x0 = x[i] - v[i] * (x[i + 1] - x[i]) / (v[i + 1] - v[i])
    assert x0 == pytest.approx(xs[np.argmax(munk)], rel=0.05)
    assert float(psi[:, j].mean(axis=0).max()) == pytest.approx(munk.max(), rel=0.05)


@pytest.mark.slow  # 12 s measured (machine shared, load ~10 on 2 cores)
@pytest.mark.parametrize("scheme", ["upwind3", "centered2"])
def test_volume_and_tracer_conservation(scheme):
    """No restoring: Σ η dA, Σ T dV and Σ S dV stay constant to round-off over 50 steps of the
    wind-driven sector (land, channel, stretched levels), and a uniform S stays uniform."""
    m = _small_acc(tracer_advection=scheme)
    m = eqx.tree_at(lambda q: q.forcing.restoring_rate, m, jnp.asarray(0.0))
    s0 = m.initial_state()
    f, _ = _run(m, s0, 50)
    assert float(jnp.max(jnp.abs(f.u))) > 1e-3  # something happened
    area = float(jnp.sum(m.grid.areaT * m.grid.maskT[-1]))
    assert abs(float(total_volume_anomaly(m, f))) < 1e-14 * area * float(jnp.max(jnp.abs(f.eta)))
    for name in ("T", "S"):
        c0 = float(tracer_content(m, getattr(s0, name)))
        c1 = float(tracer_content(m, getattr(f, name)))
        assert c1 == pytest.approx(c0, rel=1e-13), name
    wet = np.asarray(m.grid.maskT) > 0
    assert np.allclose(np.asarray(f.S)[wet], 35.0, rtol=0, atol=1e-11)
    # barotropic correction: the depth integral of u, v is the filtered transport
    dz = m.grid.dz[:, None, None]
    assert np.allclose(jnp.sum(f.u * dz, axis=0), f.U, rtol=0, atol=1e-12 * float(
        jnp.max(jnp.abs(f.U))))
    assert np.allclose(jnp.sum(f.v * dz, axis=0), f.V, rtol=0, atol=1e-12 * float(
        jnp.max(jnp.abs(f.V))))


@pytest.mark.slow  # 16 s measured (machine shared, load ~10 on 2 cores)
def test_restoring_and_flux_budget():
    """With restoring only at the top, the heat-content change over one forward-Euler step is
    the area integral of γ (T* − T) dz_top."""
    m = _small_acc()
    s0 = m.initial_state()
    s1 = jax.jit(lambda s: m.step(s))(s0)
    g = m.grid
    f = m.forcing
    expected = 7200.0 * float(jnp.sum(f.restoring_rate * (f.restoring_temperature - s0.T[-1])
                                      * g.areaT * g.dz[-1] * g.maskT[-1]))
    change = float(tracer_content(m, s1.T) - tracer_content(m, s0.T))
    assert change == pytest.approx(expected, rel=1e-10)


@pytest.mark.slow  # 11 s of CPU measured at load ~29 (14 s with a separately compiled forward)
def test_gradients_match_finite_differences():
    """Reverse-mode gradients through 60 steps vs central differences (relative step 1e-3):
    relative error < 1e-6 for viscosity, linear and quadratic drag, wind amplitude and the
    restoring rate (measured 7e-8, 4e-7, 5e-8, 4e-10, 5e-9)."""
    m = _small_acc()
    m = eqx.tree_at(lambda q: q.drag.quadratic, m, jnp.asarray(2e-3))
    names = ["mixing.horizontal_viscosity", "drag.linear", "drag.quadratic",
             "forcing.wind_stress_amplitude", "forcing.restoring_rate"]
    ps = m.parameters(names)

    def loss(values):
        mm = ps.with_values(dict(zip(names, values, strict=True))).apply(m)
        final, _ = mm.run(mm.initial_state(), 60)
        return 1e3 * mean_kinetic_energy(mm, final) + mean_sst(mm, final)

    x = jnp.asarray([float(ps[n].value) for n in names])
    # one compiled program: its value is the loss for the finite differences (a separately
    # compiled forward would cost a second compilation of the run)
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    grad = value_and_grad(x)[1]

    def f(v):
        return value_and_grad(v)[0]

    for i, name in enumerate(names):
        h = 1e-3 * abs(float(x[i]))
        e = jnp.zeros_like(x).at[i].set(h)
        fd = (float(f(x + e)) - float(f(x - e))) / (2 * h)
        assert abs(float(grad[i]) - fd) < 1e-6 * abs(fd), (name, float(grad[i]), fd)


@pytest.mark.slow  # 99 s measured (machine shared, load ~10 on 2 cores; compile)
def test_every_gradient_leaf_is_finite_from_rest():
    """d(loss)/d(model) through 10 steps from rest (u = 0 exactly, where |u| and the upwind
    |u| would have a kink): every leaf of the model gradient — parameters, forcing, initial
    fields, grid metrics — is finite."""
    m = _small_acc()
    m = eqx.tree_at(lambda q: q.drag.quadratic, m, jnp.asarray(2e-3))

    def loss(model):
        final, _ = model.run(model.initial_state(), 10)
        return mean_kinetic_energy(model, final) + mean_sst(model, final)

    grads = eqx.filter_jit(eqx.filter_grad(loss))(m)
    leaves = jax.tree_util.tree_leaves(grads)
    assert leaves
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in leaves)
    assert float(grads.drag.quadratic) != 0.0


@pytest.mark.slow  # 47 s measured (machine shared, load ~10 on 2 cores; eager dispatch)
def test_jit_matches_eager():
    m = _tiny()
    s = m.state_from_fields(u=0.01, v=-0.02)
    with jax.disable_jit():
        eager = m.step(m.step(s))
    jitted = jax.jit(lambda s: m.step(m.step(s)))(s)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted),
                    strict=True):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-16)


@pytest.mark.slow  # 27 s measured (machine shared, load ~10 on 2 cores)
def test_vmap_over_an_ensemble_equals_a_loop():
    m = _tiny()
    amplitudes = jnp.asarray([0.05, 0.1, 0.2])

    def final(amplitude):
        mm = eqx.tree_at(lambda q: q.forcing.wind_stress_amplitude, m, amplitude)
        return mm.run(mm.initial_state(), 5, checkpoint_every=None)[0]

    batched = jax.jit(jax.vmap(final))(amplitudes)
    single = jax.jit(final)
    for k, a in enumerate(amplitudes):
        one = single(a)
        assert np.allclose(batched.u[k], one.u, rtol=1e-12, atol=1e-18)
        assert np.allclose(batched.T[k], one.T, rtol=1e-12, atol=1e-14)


@pytest.mark.slow  # 12 s measured (machine shared, load ~10 on 2 cores)
def test_model_contract():
    m = _small_acc()
    s, out = jax.jit(lambda s: (lambda n: (n, m.output_fields(n)))(m.step(s)))(
        m.initial_state())
    coords = {c.name: np.asarray(c.values) for c in m.coordinates()}
    for var in m.variables():
        shape = tuple(coords[d].size for d in var.dims)
        assert out[var.name].shape == shape, var.name
    ps = m.parameters()
    assert "mixing.horizontal_viscosity" in ps.names and "forcing.restoring_rate" in ps.names
    assert float(ps.apply(m).mixing.horizontal_viscosity) == pytest.approx(
        float(m.mixing.horizontal_viscosity))
    diagnostics = jax.jit(lambda s: {n: m.diagnostic(n, s) for n in m.diagnostics()})(s)
    assert all(np.isfinite(float(v)) for v in diagnostics.values())
    assert "C-grid" in m.describe()["grid"]
    with pytest.raises(ValueError, match="Supported schemes"):
        _small_acc(tracer_advection="superbee")


@pytest.mark.slow  # 28 s measured (machine shared, load ~10 on 2 cores; 4 compiles)
def test_roquet_equation_of_state_and_rk3_run():
    """The nonlinear (Roquet 2015) equation of state and the RK3 stepper run the tiny box:
    finite fields, and the stratified box stays near rest (|u| < 1 m s⁻¹) over 20 steps."""
    for stepper in ("ab2", "rk3"):
        m = _tiny(n_substeps=6)
        m = BasinModel(m.grid, m.dt, 6, mixing=m.mixing, drag=m.drag, forcing=m.forcing,
                       equation_of_state=RoquetEquationOfState(),
                       initial_temperature=m.initial_temperature, time_stepper=stepper)
        final, _ = _run(m, m.initial_state(), 20)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(final))
        assert float(jnp.max(jnp.abs(final.u))) < 1.0


@pytest.mark.slow  # 31 s measured (machine shared, load ~10 on 2 cores)
def test_smooth_convection_removes_static_instability():
    """Surface restoring cools the high-latitude columns: without a convection scheme
    statically unstable faces remain (min N² = −8.8e-5 s⁻² after 20 days, 11 % of faces
    below −1e-6); with κ_c = 1 m² s⁻¹ the smooth scheme leaves none below −1e-6 (min −5.8e-7:
    the residual set by the step width N²₀ = 1e-8 against the restoring)."""
    out = {}
    for kc in (None, 1.0):
        m = _small_acc(convective_diffusivity=kc)
        final, _ = _run(m, m.initial_state(), 240)
        n2 = kernels.face_buoyancy_frequency(m.grid, m.equation_of_state, final.T, final.S,
                                             m.gravity, m.reference_density)
        out[kc] = np.asarray(n2)[np.asarray(kernels.interior_face_mask(m.grid.maskT)) > 0]
    assert out[None].min() < -1e-5
    assert out[1.0].min() > -1e-6
    assert "mixing.convective_diffusivity" in _small_acc(convective_diffusivity=1.0).parameters().names
