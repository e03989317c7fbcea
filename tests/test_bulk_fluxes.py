"""Bulk air–sea / air–ice fluxes: COARE 3.6 reference values, neutral limits, gradients,
convergence of the static iteration count, vectorisation, parameters and signs."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (enables float64)
from pyclimaocean.fluxes import bulk
from pyclimaocean.fluxes.bulk import (
    AtmosphereState,
    CharnockRoughness,
    CoefficientBasedFluxes,
    ConvectiveGustiness,
    EdsonStabilityFunctions,
    LargeYeagerStabilityFunctions,
    PaulsonGrachevStabilityFunctions,
    SimilarityTheoryFluxes,
    SurfaceState,
    specific_humidity_from_relative_humidity,
)
from pyclimaocean.fluxes.radiation import RadiativeFluxes
from pyclimaocean.params import Parameter
from pyclimaocean.physics.constants import STEFAN_BOLTZMANN

DATA = Path(__file__).parent / "data" / "coare36_reference_rows.csv"
K = 273.15


def _reference():
    lines = [ln for ln in DATA.read_text().splitlines() if not ln.startswith("#")]
    names = lines[0].split(",")
    values = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    return {n: values[:, i] for i, n in enumerate(names)}


def _coare_states(d):
    """COARE inputs as our states: pressure mb -> Pa, rh -> q (COARE's qsat26air), and the
    skin temperature ts - dT_skin (we run no cool-skin model)."""
    p = d["P"] * 100.0
    q = specific_humidity_from_relative_humidity(d["t"] + K, p, d["rh"])
    atm = AtmosphereState(wind_u=d["u"], temperature=d["t"] + K, specific_humidity=q,
                          pressure=p, height_u=d["zu"], height_t=d["zt"], height_q=d["zq"])
    return atm, SurfaceState(temperature=d["ts"] - d["dter"] + K)


def _rel(a, b):
    return np.abs(np.asarray(a) / np.asarray(b) - 1.0)


def test_coare36_reference_rows_within_one_percent():
    """Stress, sensible and latent heat flux (and u*) of the NOAA-PSL COARE 3.6 test rows to
    1 %.  COARE's hsb/hlb are positive upward, ours positive into the ocean."""
    d = _reference()
    atm, sfc = _coare_states(d)
    out = SimilarityTheoryFluxes().fluxes(atm, sfc)
    tau = np.hypot(out["wind_stress_x"], out["wind_stress_y"])
    errors = {
        "tau": _rel(tau, d["tau"]),
        "hsb": _rel(-out["sensible_heat_flux"], d["hsb"]),
        "hlb": _rel(-out["latent_heat_flux"], d["hlb"]),
        "usr": _rel(out["friction_velocity"], d["usr"]),
        "tsr": _rel(out["temperature_scale"], d["tsr"]),
        "qsr": _rel(out["humidity_scale"] * 1e3, d["qsr"]),
    }
    for name, err in errors.items():
        assert err.max() < 0.01, f"{name}: max relative error {err.max():.4f} (rows {d['row']})"
    # same regime: every row is unstable in COARE and here
    assert np.all(np.sign(out["obukhov_length"]) == np.sign(d["L"]))


def _neutral_states(wind=8.0, height=10.0, ts=290.0, p=101325.0):
    fl = SimilarityTheoryFluxes(gustiness=ConvectiveGustiness(minimum=0.0))
    lapse = fl.gravity / fl.air_heat_capacity
    qs = fl.surface_humidity(jnp.asarray(ts), jnp.asarray(p))
    atm = AtmosphereState(wind_u=wind, temperature=ts - lapse * height, specific_humidity=qs,
                          pressure=p, height_u=height, height_t=height, height_q=height)
    return fl, atm, SurfaceState(temperature=ts)


@pytest.mark.parametrize("wind", [3.0, 8.0, 20.0])
def test_neutral_limit_log_law(wind):
    """Zero air–sea temperature and humidity difference: no heat flux, ζ = 0, and the drag
    coefficient is the log law [κ / ln(z/z₀)]² with z₀ = α u*²/g + 0.11 ν/u* at the COARE
    Charnock of the neutral 10-m wind (= the wind at z = 10 m)."""
    fl, atm, sfc = _neutral_states(wind)
    out = fl.fluxes(atm, sfc)
    assert abs(float(out["sensible_heat_flux"])) < 1e-10  # rounding of T_a = T_s − Γ z
    assert abs(float(out["latent_heat_flux"])) < 1e-10
    assert abs(float(out["stability_parameter"])) < 1e-12
    z0 = float(out["roughness_length"])
    cd = (0.4 / math.log(10.0 / z0)) ** 2
    np.testing.assert_allclose(float(out["drag_coefficient"]), cd, rtol=1e-10)
    rho = float(out["air_density"])
    np.testing.assert_allclose(float(out["wind_stress_x"]), rho * cd * wind**2, rtol=1e-6)
    usr = float(out["friction_velocity"])
    nu = float(fl.viscosity(atm.temperature))
    alpha = 0.0017 * min(wind, 19.0) - 0.005
    np.testing.assert_allclose(z0, alpha * usr**2 / 9.81 + 0.11 * nu / usr, rtol=1e-9)


def test_neutral_limit_constant_charnock_pure_log_law():
    """Constant Charnock, no smooth-flow term: u* = κU/ln(z/z₀), z₀ = α u*²/g solved
    independently by bisection."""
    fl, atm, sfc = _neutral_states(10.0)
    fl = SimilarityTheoryFluxes(roughness=CharnockRoughness(0.018, smooth_flow_coefficient=0.0),
                                gustiness=ConvectiveGustiness(minimum=0.0))
    out = fl.fluxes(atm, sfc)
    lo, hi = 0.01, 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid - 0.4 * 10.0 / math.log(10.0 / (0.018 * mid**2 / 9.81)) > 0:
            hi = mid
        else:
            lo = mid
    np.testing.assert_allclose(float(out["friction_velocity"]), lo, rtol=1e-6)


def test_static_iteration_count_converges():
    """The fluxes change by < 1e-10 relative between n and n + 5 iterations on the COARE rows."""
    d = _reference()
    atm, sfc = _coare_states(d)
    fl = SimilarityTheoryFluxes()
    a = fl.fluxes(atm, sfc)
    b = fl.fluxes(atm, sfc, iterations=fl.iterations + 5)
    for key in ("wind_stress_x", "sensible_heat_flux", "latent_heat_flux", "friction_velocity"):
        assert _rel(a[key], b[key]).max() < 1e-10, key
    # too few iterations are not converged (the test can fail)
    c = fl.fluxes(atm, sfc, iterations=2)
    assert _rel(c["latent_heat_flux"], b["latent_heat_flux"]).max() > 1e-6


def _latent(charnock_slope, wind, flux_model=None):
    d = _reference()
    atm, sfc = _coare_states({k: v[:1] for k, v in d.items()})
    atm = AtmosphereState(wind_u=wind, temperature=atm.temperature,
                          specific_humidity=atm.specific_humidity, pressure=atm.pressure,
                          height_u=16.0, height_t=16.0, height_q=16.0)
    fl = flux_model or SimilarityTheoryFluxes()
    if flux_model is None:
        fl = fl.parameter_set().with_values({"roughness.charnock_slope": charnock_slope}).apply(fl)
    return fl.fluxes(atm, sfc)["latent_heat_flux"][0]


@pytest.mark.slow  # 3.8 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("argnum, x0", [(0, 0.0017), (1, 4.7), (1, 12.0)])
def test_gradient_of_latent_heat_flux_vs_finite_differences(argnum, x0):
    args = [0.0017, 4.7]
    args[argnum] = x0
    grad = float(jax.grad(_latent, argnums=argnum)(*args))
    h = 1e-6 * max(abs(x0), 1e-3)
    plus, minus = list(args), list(args)
    plus[argnum] += h
    minus[argnum] -= h
    fd = (float(_latent(*plus)) - float(_latent(*minus))) / (2 * h)
    assert grad != 0.0
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


@pytest.mark.slow  # 1.7 s measured (fast tier: pytest -m 'not slow')
def test_gradient_wrt_constant_charnock_coefficient():
    d = _reference()
    atm, sfc = _coare_states({k: v[6:7] for k, v in d.items()})

    def latent(alpha):
        fl = SimilarityTheoryFluxes(roughness=CharnockRoughness(alpha))
        return fl.fluxes(atm, sfc)["latent_heat_flux"][0]

    grad = float(jax.grad(latent)(0.011))
    h = 1e-7
    fd = (float(latent(0.011 + h)) - float(latent(0.011 - h))) / (2 * h)
    assert grad != 0.0
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


@pytest.mark.slow  # 4.2 s measured (fast tier: pytest -m 'not slow')
def test_vectorised_2d_field_equals_loop_and_vmap():
    rng = np.random.default_rng(0)
    shape = (3, 4)
    u = rng.uniform(0.5, 25.0, shape)
    v = rng.uniform(-5.0, 5.0, shape)
    ta = rng.uniform(270.0, 305.0, shape)
    ts = ta + rng.uniform(-3.0, 4.0, shape)
    q = 0.7 * np.asarray(specific_humidity_from_relative_humidity(ta, 1e5, 100.0))
    fl = SimilarityTheoryFluxes()
    field = fl.fluxes(AtmosphereState(wind_u=u, wind_v=v, temperature=ta, specific_humidity=q,
                                      pressure=1e5), SurfaceState(temperature=ts))
    assert field["latent_heat_flux"].shape == shape

    def one(ui, vi, tai, qi, tsi):
        return fl.fluxes(AtmosphereState(wind_u=ui, wind_v=vi, temperature=tai,
                                         specific_humidity=qi, pressure=1e5),
                         SurfaceState(temperature=tsi))

    mapped = jax.vmap(jax.vmap(one))(u, v, ta, q, ts)
    for i in range(shape[0]):
        for j in range(shape[1]):
            single = one(u[i, j], v[i, j], ta[i, j], q[i, j], ts[i, j])
            for key in ("wind_stress_x", "wind_stress_y", "sensible_heat_flux",
                        "latent_heat_flux"):
                np.testing.assert_allclose(field[key][i, j], single[key], rtol=1e-12)
    for key in bulk.FLUX_OUTPUTS:
        np.testing.assert_allclose(mapped[key], field[key], rtol=1e-12)


def test_sign_conventions():
    """Warm, humid-surface ocean under cold dry air loses heat (fluxes < 0 = out of the ocean),
    evaporates (> 0), and the stress points along the relative wind."""
    atm = AtmosphereState(wind_u=-6.0, wind_v=8.0, temperature=280.0, specific_humidity=0.004,
                          pressure=1e5)
    out = SimilarityTheoryFluxes().fluxes(atm, SurfaceState(temperature=290.0))
    assert out["sensible_heat_flux"] < 0 and out["latent_heat_flux"] < 0
    assert out["evaporation"] > 0 and out["stability_parameter"] < 0
    np.testing.assert_allclose(out["wind_stress_y"] / out["wind_stress_x"], 8.0 / -6.0)
    np.testing.assert_allclose(out["latent_heat_flux"],
                               -out["evaporation"] * SimilarityTheoryFluxes()
                               .vaporization_heat(290.0), rtol=1e-12)
    # stable: warm air over cold water heats it
    stable = SimilarityTheoryFluxes().fluxes(
        AtmosphereState(wind_u=5.0, temperature=295.0, specific_humidity=0.012, pressure=1e5),
        SurfaceState(temperature=285.0))
    assert stable["sensible_heat_flux"] > 0 and stable["stability_parameter"] > 0


def test_stability_functions_limits():
    z = jnp.array([-1e-6, 0.0, 1e-6])
    for psi in (EdsonStabilityFunctions().momentum, LargeYeagerStabilityFunctions().momentum,
                PaulsonGrachevStabilityFunctions().momentum,
                LargeYeagerStabilityFunctions().scalar, PaulsonGrachevStabilityFunctions().scalar):
        assert np.all(np.abs(np.asarray(psi(z))) < 1e-4)
    # SHEBA / Grachev: φ = 1 + 5ζ for small stable ζ, so ψ'(0⁺) = −5
    for psi in (PaulsonGrachevStabilityFunctions().momentum,
                PaulsonGrachevStabilityFunctions().scalar):
        slope = float(jax.grad(lambda x, f=psi: f(x))(1e-8))
        np.testing.assert_allclose(slope, -5.0, rtol=1e-4)
    np.testing.assert_allclose(LargeYeagerStabilityFunctions().momentum(2.0), -10.0)
    np.testing.assert_allclose(LargeYeagerStabilityFunctions().scalar(20.0), -50.0)  # ζ ≤ 10
    # Edson unstable: Kansas limit dominates for small |ζ| (γ = 15 Paulson)
    x = (1 + 15 * 0.01) ** 0.25
    kansas = 2 * math.log((1 + x) / 2) + math.log((1 + x * x) / 2) - 2 * math.atan(x) + math.pi / 2
    np.testing.assert_allclose(float(EdsonStabilityFunctions().momentum(-0.01)), kansas,
                               rtol=2e-3)


@pytest.mark.slow  # 1.9 s measured (fast tier: pytest -m 'not slow')
def test_over_ice_fluxes():
    """Over ice: saturation over ice < over water below 0 °C, finite fluxes, sublimation latent
    heat, and cold ice under warmer moist air gains heat."""
    t = jnp.asarray(260.0)
    assert bulk.IceSaturationHumidity()(t, 1e5) < bulk.SeawaterSaturationHumidity(1.0)(t, 1e5)
    fl = SimilarityTheoryFluxes.over_ice()
    out = fl.fluxes(AtmosphereState(wind_u=[2.0, 7.0, 15.0], temperature=265.0,
                                    specific_humidity=0.0015, pressure=1e5),
                    SurfaceState(temperature=255.0))
    for key in bulk.FLUX_OUTPUTS:
        assert np.all(np.isfinite(np.asarray(out[key]))) or key == "obukhov_length", key
    assert np.all(np.asarray(out["sensible_heat_flux"]) > 0)
    assert np.all(np.asarray(out["stability_parameter"]) > 0)
    np.testing.assert_allclose(out["roughness_length"], 5e-4)
    g = jax.grad(lambda a: fl.parameter_set().with_values({"roughness.length": a}).apply(fl)
                 .fluxes(AtmosphereState(wind_u=7.0, temperature=265.0,
                                         specific_humidity=0.0015, pressure=1e5),
                         SurfaceState(temperature=255.0))["sensible_heat_flux"])(5e-4)
    assert np.isfinite(float(g)) and float(g) > 0


def test_coefficient_based_fluxes_formula():
    fl = CoefficientBasedFluxes(drag_coefficient=1.2e-3, sensible_heat_transfer_coefficient=1e-3,
                                latent_heat_transfer_coefficient=1.1e-3)
    atm = AtmosphereState(wind_u=6.0, wind_v=8.0, temperature=285.0, specific_humidity=0.006,
                          pressure=1e5, height_t=2.0)
    out = fl.fluxes(atm, SurfaceState(temperature=288.0))
    ut = math.sqrt(100.0 + 0.04)
    rho = float(out["air_density"])
    dtheta = 288.0 - 285.0 - 9.81 / 1004.67 * 2.0
    np.testing.assert_allclose(float(out["sensible_heat_flux"]),
                               -rho * 1004.67 * 1e-3 * ut * dtheta, rtol=1e-12)
    np.testing.assert_allclose(float(out["wind_stress_x"]), rho * 1.2e-3 * ut * 6.0, rtol=1e-12)
    dq = float(out["surface_specific_humidity"]) - 0.006
    np.testing.assert_allclose(float(out["evaporation"]), rho * 1.1e-3 * ut * dq, rtol=1e-12)


def test_radiative_fluxes():
    rad = RadiativeFluxes(albedo=0.06, emissivity=0.97)
    out = rad.fluxes(400.0, 350.0, 290.0)
    np.testing.assert_allclose(out["net_shortwave"], 0.94 * 400.0)
    np.testing.assert_allclose(out["net_longwave"], 0.97 * (350.0 - STEFAN_BOLTZMANN * 290.0**4))
    t_eq = (350.0 / STEFAN_BOLTZMANN) ** 0.25
    assert abs(float(rad.net_longwave(350.0, t_eq))) < 1e-10
    assert RadiativeFluxes.sea_ice().albedo > RadiativeFluxes.ocean().albedo
    g = jax.grad(lambda a: RadiativeFluxes(albedo=a).net_shortwave(300.0))(0.1)
    np.testing.assert_allclose(g, -300.0)


@pytest.mark.parametrize("model", [SimilarityTheoryFluxes(), SimilarityTheoryFluxes.over_ice(),
                                   SimilarityTheoryFluxes.large_yeager(),
                                   CoefficientBasedFluxes(), RadiativeFluxes()])
def test_parameter_sets_are_calibratable(model):
    ps = model.parameter_set(prefix="")
    assert len(ps) > 0
    for name, p in ps.parameters.items():
        assert isinstance(p, Parameter)
        assert p.lower <= float(p.value) <= p.upper, name
        assert p.prior is not None and p.units and p.description, name
        p.prior_distribution()
    # writing a value back changes the model (dotted paths are real attributes)
    name = ps.names[-1]
    p = ps[name]
    new = 0.5 * (float(p.value) + (p.upper if math.isfinite(p.upper) else float(p.value) + 1))
    changed = ps.with_values({name: new}).apply(model)
    assert float(changed.parameter_set()[name].value) == pytest.approx(new)


def test_coare_charnock_parameters_named():
    names = SimilarityTheoryFluxes().parameter_set().names
    for expected in ("roughness.charnock_slope", "roughness.charnock_offset",
                     "roughness.wind_cap", "gustiness.beta", "gustiness.boundary_layer_height",
                     "scalar_roughness.coefficient", "surface_humidity.reduction"):
        assert expected in names
