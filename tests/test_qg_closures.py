"""Physical QG closures (Smagorinsky, Zanna-Bolton 2020, biharmonic + backscatter): energy
identities, rotation/reflection equivariance, scaling, parameters, gradients w.r.t. their
coefficients (AD vs finite differences through a short run) and the closure registry."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean.models.qg import TwoLayerQG, total_energy
from pyclimaocean.models.qg.closure_registry import (
    QG_CLOSURES,
    build_closure,
    closure_names,
    register_closure,
)
from pyclimaocean.models.qg.physical_closures import (
    BackscatterBiharmonic,
    Smagorinsky,
    ZannaBolton2020,
    energy_tendency,
)

CLOSURES = [Smagorinsky(0.1), ZannaBolton2020(), BackscatterBiharmonic()]


def band_limited_q(nx: int, kmax: int, amplitude: float = 1e-5, seed: int = 0) -> np.ndarray:
    """PV ``(2, nx, nx)`` of the modes ``|m|, |n| <= kmax`` (no Nyquist content)."""
    rng = np.random.default_rng(seed)
    qh = np.zeros((2, nx, nx // 2 + 1), complex)
    for a in range(-kmax, kmax + 1):
        for b in range(kmax + 1):
            if a or b:
                qh[:, a, b] = (rng.standard_normal(2) + 1j * rng.standard_normal(2)) / (
                    1 + a * a + b * b) ** 0.5
    q = np.fft.irfft2(qh, s=(nx, nx))
    return q * amplitude / q.std()


@pytest.fixture(scope="module")
def model():
    return TwoLayerQG(nx=32, dt=3600.0)


def tendency(model, closure, q):
    return np.asarray(closure.pv_tendency(model, model.fields(model.fft(jnp.asarray(q)))))


def without_nyquist(s: np.ndarray) -> np.ndarray:
    """``s`` without its Nyquist row and column: spectral derivatives of Nyquist content are
    not symmetric on the rfft grid (the x-derivative of the Nyquist column vanishes, the
    y-derivative of the Nyquist row does not), so only the other modes can be exactly
    equivariant (the model's exponential filter removes the Nyquist modes, factor 1e-15)."""
    n = s.shape[-1]
    sh = np.fft.rfft2(s)
    sh[..., n // 2, :] = 0.0
    sh[..., :, n // 2] = 0.0
    return np.fft.irfft2(sh, s=s.shape[-2:])


def test_smagorinsky_dissipates_kinetic_energy_as_its_viscosity_says(model):
    q = band_limited_q(32, 15)
    f = model.fields(model.fft(jnp.asarray(q)))
    c = Smagorinsky(0.1)
    fu, fv = c.momentum_forcing(model, f)
    work = np.asarray(jnp.mean(f.u * fu + f.v * fv, axis=(-2, -1)))
    # <u . div(2 nu S)> = -2 <nu S:S>, S:S = Sxx^2 + Syy^2 + 2 Sxy^2 (spectral integration by parts)
    nu = c.eddy_viscosity(model, f)
    ss = (nu / (0.1 * model.L / 32) ** 2) ** 2 / 2.0
    np.testing.assert_allclose(work, np.asarray(-2 * jnp.mean(nu * ss, axis=(-2, -1))),
                               rtol=1e-10)
    assert (work < 0).all()
    # quadratic in the constant: nu ~ C^2
    np.testing.assert_allclose(tendency(model, Smagorinsky(0.2), q),
                               4 * tendency(model, c, q), rtol=1e-12,
                               atol=1e-12 * np.abs(tendency(model, c, q)).max())


@pytest.mark.slow  # 1.8-3.7 s measured
def test_backscatter_returns_its_fraction_of_the_dissipated_energy(model):
    q = band_limited_q(32, 15, seed=4)
    f = model.fields(model.fft(jnp.asarray(q)))
    for cb in (0.0, 0.5, 0.99):
        closure = BackscatterBiharmonic(back_constant=cb)
        d, b = closure.parts(model, f)
        e_d = float(energy_tendency(model, f, d))
        e_all = float(energy_tendency(model, f, closure.pv_tendency(model, f)))
        assert e_d < 0
        assert e_all == pytest.approx((1 - cb) * e_d, rel=1e-10)
    # the energy tendency agrees with the derivative of total_energy along the tendency
    closure = BackscatterBiharmonic(back_constant=0.5)
    s = closure.pv_tendency(model, f)
    qh = model.fft(jnp.asarray(q))
    h = 1e-3
    de = (total_energy(model, qh + h * model.fft(s)) - total_energy(model, qh - h * model.fft(s))
          ) / (2 * h)
    assert float(de) == pytest.approx(float(energy_tendency(model, f, s)), rel=1e-8)


def test_zanna_bolton_is_quadratic_in_the_flow_and_linear_in_kappa(model):
    q = band_limited_q(32, 7)
    zb = ZannaBolton2020()
    s1 = tendency(model, zb, q)
    np.testing.assert_allclose(tendency(model, zb, 3 * q), 9 * s1, rtol=1e-11,
                               atol=1e-11 * np.abs(s1).max())
    np.testing.assert_allclose(tendency(model, ZannaBolton2020(2 * zb.kappa), q), 2 * s1,
                               rtol=1e-12, atol=1e-12 * np.abs(s1).max())
    # it does no work: grad(u) : (zeta J S') = 0 pointwise, so its total-energy tendency is
    # round-off (a closure that only moves energy between scales), while Smagorinsky's is not
    f0 = model.fields(model.fft(jnp.asarray(band_limited_q(32, 15, seed=6))))
    e_zb = float(energy_tendency(model, f0, zb.pv_tendency(model, f0)))
    e_smag = float(energy_tendency(model, f0, Smagorinsky(0.1).pv_tendency(model, f0)))
    assert e_smag < 0 and abs(e_zb) < 1e-12 * abs(e_smag)
    # its trace part (pyqg's 1/2 (zeta^2 + D^2 + D~^2) I) is a gradient: no PV tendency
    f = model.fields(model.fft(jnp.asarray(q)))
    zeta, shear, stretch = f.ddx(f.v) - f.ddy(f.u), f.ddx(f.v) + f.ddy(f.u), f.ddx(f.u) - f.ddy(f.v)
    trace = 0.5 * (zeta**2 + shear**2 + stretch**2)
    fu, fv = zb.momentum_forcing(model, f)
    trace_curl = np.asarray(f.curl(zb.kappa * f.ddx(trace), zb.kappa * f.ddy(trace)))
    assert np.abs(trace_curl).max() < 1e-12 * np.abs(s1).max()
    assert np.abs(np.asarray(f.curl(fu - zb.kappa * f.ddx(trace), fv - zb.kappa * f.ddy(trace)))
                  - s1).max() < 1e-10 * np.abs(s1).max()


@pytest.mark.parametrize("closure", CLOSURES, ids=lambda c: type(c).__name__)
def test_closures_are_rotation_and_reflection_equivariant(model, closure):
    """Rotating the flow by 90 degrees rotates the PV tendency; reflecting x -> -x reflects
    it with the sign of a pseudoscalar (psi -> -psi).  A wrong sign in any tensor component
    breaks this.  (Compared without the Nyquist modes, see :func:`without_nyquist`; with
    them Smagorinsky's tendency differs by 10 % of its maximum at nx = 32, ZB2020 and the
    backscatter closure by 1e-14, their Nyquist content being nil or real-multiplied.)"""
    q = band_limited_q(32, 7, seed=2)
    s = without_nyquist(tendency(model, closure, q))
    scale = np.abs(s).max()
    rot = without_nyquist(tendency(model, closure, np.rot90(q, axes=(-2, -1)).copy()))
    np.testing.assert_allclose(rot, np.rot90(s, axes=(-2, -1)), atol=1e-10 * scale)
    ref = without_nyquist(tendency(model, closure, -q[..., ::-1].copy()))
    np.testing.assert_allclose(ref, -s[..., ::-1], atol=1e-10 * scale)
    # the test can fail: a closure with one wrong sign is not equivariant
    if isinstance(closure, ZannaBolton2020):
        class Broken(ZannaBolton2020):
            def momentum_forcing(self, model, fields):
                fu, fv = super().momentum_forcing(model, fields)
                return fu, fv + self.kappa * fields.ddx(fields.u * fields.v)

        b = Broken()
        bs = tendency(model, b, q)
        brot = tendency(model, b, np.rot90(q, axes=(-2, -1)).copy())
        assert np.abs(brot - np.rot90(bs, axes=(-2, -1))).max() > 1e-3 * np.abs(bs).max()


@pytest.mark.slow  # 7-10 s each measured (2 shared cores)
@pytest.mark.parametrize("closure,name", [(Smagorinsky(0.1), "constant"),
                                          (ZannaBolton2020(), "kappa"),
                                          (BackscatterBiharmonic(), "smag_constant"),
                                          (BackscatterBiharmonic(), "back_constant")],
                         ids=["smagorinsky", "zanna_bolton", "backscatter_smag",
                              "backscatter_back"])
def test_gradient_wrt_closure_coefficient_matches_finite_differences(closure, name):
    model = TwoLayerQG(nx=32, dt=3600.0, closure=closure)
    s0 = model.state_from_q(band_limited_q(32, 12, amplitude=2e-5, seed=5))
    params = model.parameters([f"closure.{name}"])

    def f(v):
        m = params.with_values(v).apply(model)
        return total_energy(m, m.run(s0, 24)[0].qh)

    p0 = params.vector()
    g = float(jax.jit(jax.grad(f))(p0)[0])
    h = 1e-4 * abs(float(p0[0]))
    fj = jax.jit(f)
    fd = float((fj(p0 + h) - fj(p0 - h)) / (2 * h))
    assert g != 0.0
    assert g == pytest.approx(fd, rel=1e-5)


def test_closure_coefficients_are_model_parameters():
    model = TwoLayerQG(nx=16, dt=3600.0, closure=BackscatterBiharmonic())
    params = model.parameters()
    assert {"closure.smag_constant", "closure.back_constant"} <= set(params.names)
    moved = params.with_values({"closure.back_constant": 0.5}).apply(model)
    assert float(moved.closure.back_constant) == 0.5
    assert float(params["closure.back_constant"].value) == 0.99
    assert "rek" in TwoLayerQG(nx=16).parameters().names
    leaves = jax.tree_util.tree_leaves(eqx.filter(model.closure, eqx.is_inexact_array_like))
    assert len(leaves) == 3  # smag_constant, back_constant, eps


def test_closure_registry_builds_every_closure():
    assert closure_names()[:4] == ["none", "smagorinsky", "zanna_bolton", "backscatter"]
    assert build_closure("none") is None
    assert isinstance(build_closure("smagorinsky", constant=0.08), Smagorinsky)
    assert float(build_closure("zanna_bolton", kappa=-1e7).kappa) == -1e7
    assert isinstance(build_closure("backscatter"), BackscatterBiharmonic)
    with pytest.raises(KeyError, match="Closures are: none, smagorinsky"):
        build_closure("leith")
    with pytest.raises(TypeError):
        build_closure("smagorinsky", nope=1.0)
    register_closure("test_damping", lambda rate=1.0: Smagorinsky(rate))
    try:
        assert float(build_closure("test_damping", rate=0.3).constant) == 0.3
        register_closure("test_bad", lambda: 3)
        with pytest.raises(TypeError, match="not an AbstractQGClosure"):
            build_closure("test_bad")
    finally:
        QG_CLOSURES.pop("test_damping", None)
        QG_CLOSURES.pop("test_bad", None)
    with pytest.raises(ValueError):
        register_closure("none", Smagorinsky)
