"""Physics of the single-column model against conservation laws, analytic solutions and
published scalings (sources named in each test)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.closures.catke import CATKELike
from pyclimaocean.closures.simple import (
    ConstantDiffusivity,
    ConvectiveAdjustment,
    RichardsonNumberClosure,
)
from pyclimaocean.fluxes.surface import SolarPenetration, SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel, InitialConditions, mixed_layer_depth, setups
from pyclimaocean.physics.equation_of_state import (
    GRAVITY,
    LinearEquationOfState,
    RoquetEquationOfState,
)


def at(outputs, k):
    return jax.tree_util.tree_map(lambda x: x[k], outputs)


@pytest.mark.slow  # 1.9 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize(
    "closure",
    [CATKELike(), RichardsonNumberClosure(), ConvectiveAdjustment(), ConstantDiffusivity()],
    ids=["catke", "richardson", "convective", "constant"],
)
def test_heat_and_salt_budgets_close(closure):
    """Σ Δz T changes by exactly Δt Σ (Q + I)/(ρ c_p); Σ Δz S by Δt Σ S_ref (E − P)."""
    model = ColumnModel(
        grid=ColumnGrid(nz=24, depth=100.0, stretching=2.0),
        closure=closure,
        forcing=SurfaceForcing(
            heat_flux=-80.0, heat_flux_amplitude=120.0, shortwave=150.0, shortwave_amplitude=-250.0,
            wind_stress_x=0.07, wind_stress_y=-0.02, freshwater_flux=1e-6, cycle_period=43200.0,
        ),
        initial_conditions=InitialConditions(temperature_gradient=0.02, salinity_gradient=-0.002,
                                             mixed_layer_depth=15.0),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        bottom_drag_coefficient=2e-3,
        dt=300.0,
    )
    n = 600
    s0 = model.initial_state()
    final, _ = jax.jit(lambda s: model.run(s, n))(s0)
    g = model.grid
    rho_cp = model.reference_density * model.heat_capacity
    times = np.arange(n) * model.dt
    fl = [model.forcing.at(t) for t in times]
    heat_in = model.dt * sum(float(f.heat_flux + f.shortwave) for f in fl) / rho_cp
    d_heat = float(g.integrate(final.temperature) - g.integrate(s0.temperature))
    assert abs(d_heat - heat_in) / abs(heat_in) < 1e-10
    salt_in = model.dt * n * model.reference_salinity * 1e-6
    d_salt = float(g.integrate(final.salinity) - g.integrate(s0.salinity))
    assert abs(d_salt - salt_in) / abs(salt_in) < 1e-10
    assert np.all(np.isfinite(np.asarray(final.tke)))


def test_inertial_oscillation_is_exact():
    """Uniform flow with no stress rotates at f: u = u₀ cos f t, v = −u₀ sin f t (analytic)."""
    f = 1.2e-4
    model = ColumnModel(
        grid=ColumnGrid(nz=8, depth=50.0),
        closure=ConstantDiffusivity(viscosity=1e-3, diffusivity=1e-4),
        initial_conditions=InitialConditions(u=0.2),
        coriolis_parameter=f,
        dt=100.0,
    )
    final, _ = model.run(None, 1000)
    t = float(final.time)
    np.testing.assert_allclose(final.u, 0.2 * math.cos(f * t), atol=1e-13)
    np.testing.assert_allclose(final.v, -0.2 * math.sin(f * t), atol=1e-13)


def _steady_solar_profile(nz: int) -> tuple[float, float]:
    """Max error of the steady state against the analytic profile and the profile's range."""
    kappa, i0, depth = 1e-3, 200.0, 100.0
    solar = SolarPenetration(fraction=0.58, length_1=2.0, length_2=20.0)
    model = ColumnModel(
        grid=ColumnGrid(nz=nz, depth=depth),
        closure=ConstantDiffusivity(viscosity=1e-3, diffusivity=kappa),
        forcing=SurfaceForcing(heat_flux=-i0, shortwave=i0),
        solar_penetration=solar,
        initial_conditions=InitialConditions(temperature_gradient=0.0),
        dt=5e7,  # backward Euler: huge steps converge to the discrete steady state
    )
    final, _ = model.run(None, 200)
    rho_cp = model.reference_density * model.heat_capacity
    z = np.asarray(model.grid.z_centers)
    # κ ∂zT = −I(z)/(ρ c_p) with zero flux at the bottom ⇒ T(z) = T(0) − ∫₀ᶻ I dz' / (κ ρ c_p)
    r, l1, l2 = solar.fraction, solar.length_1, solar.length_2
    integral = i0 * (r * l1 * (np.exp(z / l1) - 1) + (1 - r) * l2 * (np.exp(z / l2) - 1))
    exact = -integral / (kappa * rho_cp)
    num = np.asarray(final.temperature)
    dz = np.asarray(model.grid.dz_centers)
    err = (num - np.sum(num * dz) / depth) - (exact - np.sum(exact * dz) / depth)
    return float(np.max(np.abs(err))), float(np.ptp(exact))


@pytest.mark.slow  # 1.6 s measured (fast tier: pytest -m 'not slow')
def test_steady_diffusion_with_solar_heating_matches_analytic_solution():
    """Shortwave heating balanced by surface cooling and constant diffusion: the steady profile
    has κ ∂zT = −I(z)/(ρ c_p); the discrete solution converges to it at second order."""
    err_coarse, scale = _steady_solar_profile(100)
    err_fine, _ = _steady_solar_profile(200)
    assert err_fine / scale < 2e-3
    order = math.log2(err_coarse / err_fine)
    assert 1.8 < order < 2.2


@pytest.fixture(scope="module")
def free_convection_run():
    model = setups.free_convection(nz=64, depth=128.0, heat_flux=-100.0,
                                   temperature_gradient=0.01, dt=600.0)
    n, every = 576, 36  # 4 days, output every 6 hours
    _, out = jax.jit(lambda: model.run(None, n, save_every=every))()
    return model, out


@pytest.mark.slow  # 2.1 s measured (fast tier: pytest -m 'not slow')
def test_free_convection_deepens_like_sqrt_t(free_convection_run):
    """h ∝ t^½ with h² = 2(1 + 2A) Jᵇ t / N² (zero-order jump model of penetrative convection,
    Deardorff, Willis & Stockton 1980, J. Fluid Mech. 100, 41–64; see Van Roekel et al. 2018,
    JAMES 10, 2647): entrainment ratio A between 0.1 and 0.3."""
    model, out = free_convection_run
    times = np.asarray(out.time)
    h = np.array([float(mixed_layer_depth(model, at(out, k), method="n2_max")) for k in range(len(times))])
    keep = times >= 0.5 * 86400
    exponent, log_c = np.polyfit(np.log(times[keep]), np.log(h[keep]), 1)
    assert abs(exponent - 0.5) < 0.05
    eos = model.equation_of_state
    jb = GRAVITY * eos.thermal_expansion_coefficient * 100.0 / (
        model.reference_density * model.heat_capacity)
    n2 = GRAVITY * eos.thermal_expansion_coefficient * 0.01
    coefficient = np.mean(h[keep] / np.sqrt(jb * times[keep] / n2))
    low, high = math.sqrt(2 * (1 + 2 * 0.1)), math.sqrt(2 * (1 + 2 * 0.3))
    assert low < coefficient < high, coefficient


def test_free_convection_profile_is_well_mixed(free_convection_run):
    model, out = free_convection_run
    last = at(out, -1)
    h = float(mixed_layer_depth(model, last, method="n2_max"))
    z = np.asarray(model.grid.z_centers)
    t = np.asarray(last.temperature)
    inside = z > -0.7 * h
    assert np.ptp(t[inside]) < 0.02  # K: well mixed above the entrainment layer
    below = (z < -1.3 * h) & (z > -model.grid.depth + 10.0)
    np.testing.assert_allclose(t[below], 20.0 + 0.01 * z[below], atol=1e-5)  # untouched


@pytest.mark.slow  # 2.1 s measured (fast tier: pytest -m 'not slow')
def test_wind_deepening_follows_pollard_rhines_thompson():
    """Pollard, Rhines & Thompson (1973, Geophys. Fluid Dyn. 4, 381–404):
    h(t) = u★ [4 (1 − cos f t)]^¼ / sqrt(N f) up to f t = π."""
    f, tau, dtdz = 1e-4, 0.1, 0.01
    model = setups.wind_deepening(nz=64, depth=128.0, wind_stress=tau, coriolis_parameter=f,
                                  temperature_gradient=dtdz, dt=120.0)
    n = 256  # f t ≈ 0.98 π at the end
    _, out = jax.jit(lambda: model.run(None, n, save_every=32))()
    u_star = math.sqrt(tau / model.reference_density)
    n_freq = math.sqrt(GRAVITY * 2e-4 * dtdz)
    ratios = []
    for k in range(2, 8):
        s = at(out, k)
        t = float(s.time)
        prt = u_star * (4 * (1 - math.cos(f * t))) ** 0.25 / math.sqrt(n_freq * f)
        ratios.append(float(mixed_layer_depth(model, s, method="n2_max")) / prt)
    assert all(0.8 < r < 1.25 for r in ratios), ratios


def test_roquet_equation_of_state_against_teos10():
    """Roquet et al. (2015) polynomial vs TEOS-10 (gsw) density over oceanic T, S, depth."""
    gsw = pytest.importorskip("gsw")
    eos = RoquetEquationOfState()
    t = np.array([0.0, 5.0, 10.0, 15.0, 25.0, 2.0])
    s = np.array([34.0, 34.5, 35.0, 35.5, 36.5, 34.9])
    z = np.array([0.0, -50.0, -200.0, 0.0, -10.0, -1000.0])
    p = gsw.p_from_z(z, 45.0)
    rho_teos = gsw.rho(s, t, p)
    # compare anomalies of the same water relative to the surface reference (T=10, S=35)
    anomaly_teos = rho_teos - gsw.rho(35.0, 10.0, p)
    anomaly_roquet = np.asarray(eos.density_anomaly(t, s, z)) - np.asarray(
        eos.density_anomaly(10.0, 35.0, z))
    np.testing.assert_allclose(anomaly_roquet, anomaly_teos, atol=0.12)
    alpha = float(eos.thermal_expansion(10.0, 35.0, 0.0))
    np.testing.assert_allclose(alpha, float(gsw.alpha(35.0, 10.0, 0.0)), rtol=0.05)


def test_linear_equation_of_state():
    eos = LinearEquationOfState(thermal_expansion_coefficient=2e-4, haline_contraction_coefficient=8e-4)
    b = eos.buoyancy(jnp.array([11.0]), jnp.array([35.0]), jnp.array([0.0]))
    np.testing.assert_allclose(b, GRAVITY * 2e-4, rtol=1e-14)
    np.testing.assert_allclose(eos.thermal_expansion(3.0, 30.0, -5.0), 2e-4, rtol=1e-14)
    np.testing.assert_allclose(eos.haline_contraction(3.0, 30.0, -5.0), 8e-4, rtol=1e-14)


def test_stretched_grid_geometry():
    g = ColumnGrid(nz=10, depth=200.0, stretching=3.0)
    dz = np.asarray(g.dz_centers)
    assert dz.sum() == pytest.approx(200.0, rel=1e-14)
    assert np.all(np.diff(dz) < 0)  # finer toward the surface (top = last index)
    assert float(g.z_faces[-1]) == 0.0 and float(g.z_faces[0]) == -200.0
    with pytest.raises(ValueError, match="grid.nz"):
        ColumnGrid(nz=1, depth=10.0)
    with pytest.raises(ValueError, match="grid.depth"):
        ColumnGrid(nz=4, depth=-1.0)


@pytest.mark.slow  # 2.9 s measured (fast tier: pytest -m 'not slow')
def test_diurnal_and_seasonal_setups_run_and_stay_plausible():
    for model, n in ((setups.diurnal_cycle(nz=32), 288), (setups.seasonal_cycle(nz=32), 24 * 60)):
        final, _ = jax.jit(lambda m=model, n=n: m.run(None, n))()
        fields = model.output_fields(final)
        for v in model.variables():
            x = np.asarray(fields[v.name])
            assert np.all(np.isfinite(x)), v.name
            if v.valid_range is not None:
                lo, hi = v.valid_range
                assert np.all((x >= lo) & (x <= hi)), v.name


def test_roquet_uniform_column_is_neutral_and_cold_water_is_not_falsely_stable():
    """With a pressure-dependent EOS, N² uses local α, β (a uniform column has N² = 0)."""
    for temperature in (20.0, 2.0):
        model = ColumnModel(
            grid=ColumnGrid(nz=8, depth=400.0), closure=ConvectiveAdjustment(),
            equation_of_state=RoquetEquationOfState(),
            initial_conditions=InitialConditions(surface_temperature=temperature,
                                                 temperature_gradient=0.0),
        )
        n2 = model.buoyancy_frequency_squared(model.initial_state())
        np.testing.assert_allclose(n2, 0.0, atol=1e-18)
        nu, kappa = model.diffusivities(model.initial_state())
        np.testing.assert_allclose(kappa, ConvectiveAdjustment().background_diffusivity)


@pytest.mark.slow  # 6.6 s measured (fast tier: pytest -m 'not slow')
def test_gradient_is_finite_at_zero_wind_stress():
    model = setups.free_convection(nz=8)
    import equinox as eqx

    def loss(tau):
        m = eqx.tree_at(lambda q: q.forcing.wind_stress_x, model, tau)
        return jnp.sum(m.run(None, 3)[0].temperature)

    assert np.isfinite(float(jax.grad(loss)(0.0)))


@pytest.mark.slow  # 3.5 s measured (fast tier: pytest -m 'not slow')
def test_mixed_layer_depth_of_stacked_states():
    model = setups.free_convection(nz=16)
    _, out = model.run(None, 40, save_every=10)
    for threshold in (None, 1e-5):
        h = mixed_layer_depth(model, out, threshold=threshold)
        assert h.shape == (4,)
        single = [float(mixed_layer_depth(model, at(out, k), threshold=threshold)) for k in range(4)]
        np.testing.assert_allclose(h, single)


@pytest.mark.slow  # 4.8 s measured (fast tier: pytest -m 'not slow')
def test_batched_step_equals_one_solve_per_field():
    """The step solves T, S, u, v and TKE in one batched tridiagonal solve; it must equal five
    separate solves written out field by field (κ for tracers, ν + implicit drag for momentum,
    the closure's own TKE step), in a state that mixes convection, shear and drag."""
    from pyclimaocean.closures.catke import diffusion_matrix
    from pyclimaocean.numerics.tridiagonal import tridiagonal_solve

    model = ColumnModel(
        grid=ColumnGrid(nz=20, depth=80.0, stretching=1.5),
        closure=CATKELike(),
        forcing=SurfaceForcing(heat_flux=-150.0, shortwave=60.0, wind_stress_x=0.1,
                               wind_stress_y=-0.05, freshwater_flux=2e-6),
        initial_conditions=InitialConditions(temperature_gradient=0.02, salinity_gradient=-0.003,
                                             mixed_layer_depth=12.0, u=0.1, v=-0.05),
        solar_penetration=SolarPenetration(),
        coriolis_parameter=1e-4,
        bottom_drag_coefficient=3e-3,
        dt=600.0,
    )
    state, _ = model.run(None, 30)  # developed TKE, shear and stratification
    new = model.step(state)

    g, dt = model.grid, model.dt
    fluxes = model.surface_fluxes(state.time)
    ctx = model.context(state, fluxes)
    nu, kappa = model.closure.diffusivities(ctx)
    dz = g.dz_centers

    def solve(phi, kappa_faces, source, damping=0.0):
        lower, diag, upper = diffusion_matrix(dz, g.dz_faces, kappa_faces, dt)
        diag = diag.at[0].add(damping)
        return tridiagonal_solve(lower, diag, upper, dz * phi + source)

    top = jnp.zeros_like(dz).at[-1].set(1.0)
    shortwave = dt * fluxes["shortwave"] * model.solar_penetration.absorbed_fraction(g.z_faces)
    c, s = jnp.cos(model.coriolis_parameter * dt), jnp.sin(model.coriolis_parameter * dt)
    u0, v0 = c * state.u + s * state.v, -s * state.u + c * state.v
    damping = dt * model.bottom_drag_coefficient * jnp.sqrt(state.u[0] ** 2 + state.v[0] ** 2)
    expected = {
        "temperature": solve(state.temperature, kappa, -dt * fluxes["temperature"] * top + shortwave),
        "salinity": solve(state.salinity, kappa, -dt * fluxes["salinity"] * top),
        "u": solve(u0, nu, -dt * fluxes["u"] * top, damping),
        "v": solve(v0, nu, -dt * fluxes["v"] * top, damping),
        "tke": model.closure.step_tke(ctx, nu, kappa, dt),
    }
    for name, value in expected.items():
        got = getattr(new, name)
        scale = float(jnp.max(jnp.abs(value)))
        assert float(jnp.max(jnp.abs(got - value))) <= 1e-11 * scale, name
    assert float(jnp.max(jnp.abs(new.tke - state.tke))) > 1e-6 * float(jnp.max(state.tke))


@pytest.mark.slow  # 3.7 s measured at load ~4 (fast tier: pytest -m 'not slow')
def test_mixed_layer_depth_default_follows_non_entraining_convection():
    """Convective adjustment (no entrainment): the layer mixed by cooling Jᵇ into N² has
    h = √(2 Jᵇ t) / N (buoyancy budget).  The default (buoyancy-threshold) mixed-layer depth
    follows it within 5 % from 0.5 to 4 days; the N²-maximum does not move with it."""
    model = setups.free_convection(nz=128, depth=128.0, heat_flux=-100.0, temperature_gradient=0.01,
                                   dt=600.0, closure=ConvectiveAdjustment())
    _, out = jax.jit(lambda: model.run(None, 576, save_every=72))()
    eos = model.equation_of_state
    jb = GRAVITY * eos.thermal_expansion_coefficient * 100.0 / (model.reference_density * model.heat_capacity)
    n = math.sqrt(GRAVITY * eos.thermal_expansion_coefficient * 0.01)
    times = np.asarray(out.time)
    theory = np.sqrt(2 * jb * times) / n
    h = np.asarray(mixed_layer_depth(model, out))
    assert np.all(np.abs(h / theory - 1) < 0.05), (h, theory)
    h_temperature = np.asarray(mixed_layer_depth(model, out, method="temperature_threshold"))
    assert np.all(np.abs(h_temperature / theory - 1) < 0.05), (h_temperature, theory)
    # differentiable: d h / d (heat flux) by AD equals finite differences
    def final_h(q):
        m = setups.free_convection(nz=128, depth=128.0, heat_flux=q, temperature_gradient=0.01,
                                   dt=600.0, closure=ConvectiveAdjustment())
        final, _ = m.run(None, 144)
        return mixed_layer_depth(m, final)
    value_and_grad = jax.jit(jax.value_and_grad(final_h))  # one compilation for AD and FD
    g = float(value_and_grad(-100.0)[1])
    # (piecewise linear interpolation between centres: a kink each time h crosses a centre,
    # so the finite difference must stay within one piece; measured AD -0.10678 m per W m-2,
    # FD -0.10678 with step 0.005 and 0.05, -0.072 with step 0.5 which crosses a kink)
    fd = (float(value_and_grad(-99.995)[0]) - float(value_and_grad(-100.005)[0])) / 0.01
    assert g == pytest.approx(fd, rel=1e-4) and g < 0, (g, fd)
    with pytest.raises(ValueError, match="method 'depth_of_max' is not supported"):
        mixed_layer_depth(model, out, method="depth_of_max")
