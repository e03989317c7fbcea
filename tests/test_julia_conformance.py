"""JAX-vs-Julia conformance (needs a working Julia; skipped otherwise, without downloading).

* CATKE column profiles: pyclimaocean's JAX column (CATKE-like closure) against Oceananigans'
  ``CATKEVerticalDiffusivity`` in a ``HydrostaticFreeSurfaceModel`` column, free convection
  (64 m, 32 cells, 100 W m⁻² cooling, N² from dT/dz = 0.01 K m⁻¹, 1 day).  Stated tolerance:
  the two temperature profiles differ by at most 15 % of the cooling signal
  max|T_jax(t) - T(0)|, heat contents agree to 1e-6 (both impose the same surface flux
  exactly) and mixed-layer depths to 25 % — the JAX closure is a documented simplification
  (backward-Euler TKE, no near-bottom TKE flux, no negative-TKE damping), so exact agreement
  is not expected.
* Gradients: Enzyme (Julia) vs JAX for a constant-diffusivity column (relative 2 %), and for
  CATKE the sign and magnitude (ratio within [0.5, 2]) of dJ/dc_conv_c — expected to fail in
  Enzyme upstream (Oceananigans PR #3837, Enzyme.jl #2296), in which case the test xfails; it
  xfails only on :class:`~pyclimaocean.backends.julia.EnzymeGradientError` (Enzyme's own
  error types), and the model is built and run before, so any other failure fails the test.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.backends import julia as jb

AVAILABLE, REASON = jb.julia_available()
pytestmark = [
    pytest.mark.julia,
    pytest.mark.slow,
    pytest.mark.skipif(not AVAILABLE, reason=f"Julia backend unavailable: {REASON}"),
]


@pytest.fixture(scope="module")
def backend():
    return jb.JuliaBackend()


@pytest.fixture(scope="module")
def setups():
    return pytest.importorskip("pyclimaocean.models.column.setups")


def _mixed_layer_depth(T, z, dT=0.05):
    """Depth (m) where T first drops dT below the surface value (linear interpolation)."""
    surface = T[-1]
    below = np.nonzero(T < surface - dT)[0]
    if below.size == 0:
        return float(-z[0])
    k = below[-1]
    return float(-(z[k] + (z[k + 1] - z[k]) * (surface - dT - T[k]) / (T[k + 1] - T[k])))


def test_catke_column_matches_jax(backend, setups):
    spec = setups.free_convection(nz=32, depth=64.0, heat_flux=-100.0, dt=600.0)
    n_steps, save_every = 144, 72
    state0 = spec.initial_state()
    _, out_jax = spec.run(state0, n_steps, save_every=save_every)
    model = backend.build(spec)
    _, out_jl = backend.run(model, state0, n_steps, save_every=save_every)
    T0 = np.asarray(state0.temperature)
    Tj = np.asarray(out_jax.temperature)
    Tl = np.asarray(out_jl.temperature)
    assert Tl.shape == Tj.shape == (2, 32)
    signal = np.max(np.abs(Tj[-1] - T0))
    assert np.max(np.abs(Tl[-1] - Tj[-1])) <= 0.15 * signal
    dz = np.asarray(spec.grid.dz_centers)
    assert np.sum(Tl[-1] * dz) == pytest.approx(np.sum(Tj[-1] * dz), rel=1e-6)
    z = np.asarray(spec.grid.z_centers)
    h_jax, h_jl = _mixed_layer_depth(Tj[-1], z), _mixed_layer_depth(Tl[-1], z)
    assert abs(h_jl - h_jax) <= 0.25 * h_jax
    ds = backend.to_xarray(model, out_jl)
    assert "julia" in ds.attrs["backend"]


def _jax_loss_and_grad(spec, name, n_steps, target):
    params = spec.default_parameters([name])

    def loss(v):
        m = params.with_values(v).apply(spec)
        final, _ = m.run(m.initial_state(), n_steps)
        return jnp.mean((final.temperature - target) ** 2)

    return jax.value_and_grad(loss)(params.vector())


def test_constant_diffusivity_gradient_matches_jax(backend, setups):
    simple = pytest.importorskip("pyclimaocean.closures.simple")
    spec = setups.free_convection(
        nz=16, depth=64.0, dt=600.0, closure=simple.ConstantDiffusivity(1e-4, 1e-3)
    )
    n_steps = 12
    target = np.asarray(spec.initial_state().temperature) - 0.05
    value_jax, grad_jax = _jax_loss_and_grad(spec, "closure.diffusivity", n_steps, target)
    f = backend.column_function(
        backend.build(spec), n_steps, parameter_names=["closure.diffusivity"]
    )
    T0 = jnp.asarray(spec.initial_state().temperature)

    def loss(theta):
        return jnp.mean((f(theta, T0)[-1] - target) ** 2)

    value_jl, grad_jl = jax.value_and_grad(loss)(jnp.array([1e-3]))
    assert float(value_jl) == pytest.approx(float(value_jax), rel=2e-2)
    np.testing.assert_allclose(grad_jl, grad_jax, rtol=2e-2)


def test_catke_gradient_sign_and_magnitude(backend, setups):
    spec = setups.free_convection(nz=16, depth=64.0, dt=600.0)
    n_steps = 12
    target = np.asarray(spec.initial_state().temperature) - 0.05
    _, grad_jax = _jax_loss_and_grad(spec, "closure.c_conv_c", n_steps, target)
    # built and run outside the try: a construction or forward error must fail the test
    model = backend.build(spec)
    f = backend.column_function(model, n_steps, parameter_names=["closure.c_conv_c"])
    T0 = np.asarray(spec.initial_state().temperature, dtype=float)
    theta = np.array([float(spec.closure.c_conv_c)])
    final = f.forward(theta, T0)[-1]
    assert np.all(np.isfinite(final))
    t_bar = np.zeros((1, T0.size))
    t_bar[-1] = 2 * (final - target) / T0.size
    try:
        grad_theta, _ = f.vjp(theta, T0, t_bar)
    except jb.EnzymeGradientError as err:  # only Enzyme's own failure is the known limitation
        pytest.xfail(f"Enzyme through CATKE failed (Oceananigans PR #3837, Enzyme.jl #2296): {err}")
    grad_jl = jax.grad(lambda th: jnp.mean((f(th, jnp.asarray(T0))[-1] - target) ** 2))(
        jnp.asarray(theta)
    )
    np.testing.assert_allclose(np.asarray(grad_jl), grad_theta, rtol=1e-10)
    assert np.sign(grad_theta[0]) == np.sign(float(grad_jax[0]))
    assert 0.5 <= grad_theta[0] / float(grad_jax[0]) <= 2.0


def test_float32_column_matches_float64(backend, setups):
    spec = setups.free_convection(nz=16, depth=64.0, heat_flux=-100.0, dt=600.0)
    _, out64 = backend.run(backend.build(spec), None, 36, save_every=36)
    _, out32 = backend.run(backend.build(spec, precision="float32"), None, 36, save_every=36)
    assert np.asarray(out32.temperature).dtype == np.float64
    np.testing.assert_allclose(out32.temperature, out64.temperature, rtol=1e-4)


def test_speedy_and_ocean_sea_ice_run(backend):
    out = backend.speedy("shallow_water", truncation=15, days=0.25)
    assert out["vorticity"].shape[0] == out["longitude"].size
    assert np.all(np.isfinite(out["vorticity"]))
    # Nx, Ny >= 4: halo 4 (WENO(order = 7)) must be <= size (Oceananigans validate_halo)
    ice = backend.ocean_sea_ice(n_steps=2, dt=600.0, Nx=4, Ny=4, Nz=4, depth=40)
    assert ice["T"].shape == (4, 4, 4) and np.all(
        (ice["ice_concentration"] >= 0) & (ice["ice_concentration"] <= 1)
    )
    basin = backend.basin(n_steps=2, dt=600.0, Nx=8, Ny=8, Nz=4, depth=1000)
    assert basin["T"].shape == (8, 8, 4) and np.all(np.isfinite(basin["T"]))
    assert basin["u_surface"].shape == basin["v_surface"].shape == (8, 8)
