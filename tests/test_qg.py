"""Two-layer QG model (pyclimaocean.models.qg): linear theory, conservation, gradients, the
model contract, diagnostics, configs and the command line."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app
from pyclimaocean.config import ConfigError, validate
from pyclimaocean.core import AbstractModel, get_model_entry
from pyclimaocean.models.qg import (
    AbstractQGClosure,
    TwoLayerQG,
    energy_flux,
    energy_transfer,
    enstrophy,
    enstrophy_transfer,
    isotropic_enstrophy_spectrum,
    isotropic_ke_spectrum,
    kinetic_energy,
    total_energy,
    total_enstrophy,
    zonal_mean_pv_flux,
)
from pyclimaocean.models.qg.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]
EDDY = ROOT / "examples" / "qg_eddy.toml"
JET = ROOT / "examples" / "qg_jet.toml"
runner = CliRunner()


def smooth_q(nx: int, amplitude: float, kmax: int = 3, seed: int = 1) -> np.ndarray:
    """Random PV ``(2, nx, nx)`` made of the Fourier modes with |(m, n)| <= kmax only: the
    quadratic terms of such a state reach |(m, n)| <= 2 kmax < nx / 2, so the pseudo-spectral
    products are free of aliasing and the exponential filter (cutoff 0.65 pi = index 0.325 nx)
    does not act on it."""
    rng = np.random.default_rng(seed)
    qh = np.zeros((2, nx, nx // 2 + 1), complex)
    for a in range(-kmax, kmax + 1):
        for b in range(kmax + 1):
            if 0 < a * a + b * b <= kmax * kmax:
                qh[:, a, b] = rng.standard_normal(2) + 1j * rng.standard_normal(2)
    q = np.fft.irfft2(qh, s=(nx, nx))
    return q * amplitude / q.std()


# -- linear theory, written here independently of the package --------------------------------
def fastest_growth_numpy(nx, L, beta, rek, rd, H1, H2, U1, U2):
    """Fastest growth rate (s⁻¹) over the grid wavenumbers of an nx × nx, L × L domain and its
    indices (row l, column k of rfft2): eigenvalues of the 2×2 linearised two-layer problem
    d/dt q = -i k U q + (-i k Qy + drag) psi,  q = S psi,  S = [[-(K²+F1), F1], [F2, -(K²+F2)]]
    with F1 = rd⁻²/(1+δ), F2 = δ F1, δ = H1/H2, Qy = (β + F1 ΔU, β − F2 ΔU)."""
    delta = H1 / H2
    F1 = 1.0 / (rd**2 * (1.0 + delta))
    F2 = delta * F1
    Qy = np.array([beta + F1 * (U1 - U2), beta - F2 * (U1 - U2)])
    best = (-np.inf, None)
    for jl in range(nx):
        for ik in range(nx // 2 + 1):
            m, n = ik, (jl if jl < nx // 2 else jl - nx)
            k, ell = 2 * np.pi * m / L, 2 * np.pi * n / L
            K2 = k * k + ell * ell
            if K2 == 0:
                continue
            S = np.array([[-(K2 + F1), F1], [F2, -(K2 + F2)]])
            Sinv = np.linalg.inv(S)
            A = (np.diag([-1j * k * U1, -1j * k * U2])
                 + np.array([[-1j * k * Qy[0], 0], [0, -1j * k * Qy[1] + rek * K2]]) @ Sinv)
            sigma = np.linalg.eigvals(A).real.max()
            if sigma > best[0]:
                best = (sigma, (jl, ik))
    return best


@pytest.mark.parametrize("preset", ["eddy", "jet"])
def test_baroclinic_growth_rate_matches_linear_theory(preset):
    """From 1e-18 s⁻¹ white noise the fastest mode of linear theory grows at its theoretical
    rate (fit of log|ψ̂| over the second half of 3 years at dt = 7200 s): within 5 % (measured
    ~1e-9 relative for eddy, ~2e-5 for jet)."""
    p = PRESETS[preset]
    nx = 32
    model = TwoLayerQG(nx=nx, dt=7200.0, **p)
    sigma, (j, i) = fastest_growth_numpy(nx, p["L"], p["beta"], p["rek"], p["rd"], p["H1"],
                                         p["H2"], p["U1"], p["U2"])
    assert sigma > 0
    q = 1e-18 * np.random.default_rng(0).standard_normal((2, nx, nx))
    days = 3 * 360
    _, mode = jax.jit(lambda s: model.run(s, 12 * days, save_every=12,
                                          observe=lambda s: model.invert(s.qh)[:, j, i]))(
        model.state_from_q(q))
    t = 86400.0 * np.arange(1, days + 1)
    amp = np.abs(np.asarray(mode))
    assert amp[-1, 0] < 1e-3  # still tiny: linear
    for layer in range(2):
        rate = np.polyfit(t[days // 2:], np.log(amp[days // 2:, layer]), 1)[0]
        assert rate == pytest.approx(sigma, rel=0.05), (layer, rate, sigma)


# -- conservation ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inviscid():
    """rek = 0, U1 = U2 = 0 (beta kept), pyqg's filter on, smooth alias-free state (rms PV
    1e-6 s⁻¹: eddy turnover ~10 days, so in 5 days the cascade stays inside the filter's
    cutoff)."""
    models = {dt: TwoLayerQG(nx=32, dt=dt, rek=0.0, U1=0.0, U2=0.0) for dt in (3600.0, 1800.0)}
    q = smooth_q(32, 1e-6)
    return models, q


def test_inviscid_tendency_conserves_energy_and_enstrophy(inviscid):
    """The semi-discrete tendency T of an alias-free state leaves E and Z unchanged to round-off:
    dE/dt = <∂E/∂q, T> is ~1e-17 of its natural scale (E E(T))^½; the depth-weighted enstrophy
    is conserved although each layer's is not (β exchanges enstrophy between the layers)."""
    models, q = inviscid
    m = models[3600.0]
    qh = m.state_from_q(q).qh

    @jax.jit
    def rates(qh):
        T = m.pv_tendency(qh)
        dE = jax.jvp(lambda x: total_energy(m, x), (qh,), (T,))[1]
        dZ = jax.jvp(lambda x: total_enstrophy(m, x), (qh,), (T,))[1]
        dZ_layers = jax.jvp(lambda x: enstrophy(m, x), (qh,), (T,))[1]
        return dE, dZ, dZ_layers, jnp.sqrt(total_energy(m, qh) * total_energy(m, T))

    dE, dZ, dZ_layers, scale_e = rates(qh)
    assert abs(float(dE)) < 1e-12 * float(scale_e)
    assert abs(float(dZ)) < 1e-12 * float(jnp.sum(jnp.abs(dZ_layers)))
    assert float(jnp.min(jnp.abs(dZ_layers))) > 1e-6 * float(jnp.sum(jnp.abs(dZ_layers)))


@pytest.mark.slow  # 1.9 s measured (fast tier: pytest -m 'not slow')
def test_inviscid_time_stepping_conserves_to_its_truncation_error(inviscid):
    """The discrete run: (1) the forward-Euler start changes the quadratic invariants by exactly
    dt² E(T) (E(q + dt T) = E(q) + dt <q, T>_E + dt² E(T), and <q, T>_E = 0); (2) after it, AB3
    conserves E and Z to its O(dt³) error: relative drift over 5 days < 2e-7 at dt = 3600 s
    (measured 5e-8 for E, 2e-8 for Z) and ~8× smaller at dt = 1800 s (third order: measured
    7-8×).  The tolerance is the AB3 truncation error, checked by its convergence; the filter's
    share (the enstrophy one filter step removes, ≤ 1e-10 per step here) is far below it."""
    models, q = inviscid
    drift = {}
    for dt, m in models.items():
        s0 = m.state_from_q(q)
        n = int(5 * 86400 / dt)
        final, (e, z) = jax.jit(lambda s, m=m, n=n: m.run(
            s, n, save_every=1,
            observe=lambda s: (total_energy(m, s.qh), total_enstrophy(m, s.qh))))(s0)
        e, z = np.asarray(e), np.asarray(z)
        e0, z0 = float(total_energy(m, s0.qh)), float(total_enstrophy(m, s0.qh))
        T = m.pv_tendency(s0.qh)
        assert e[0] - e0 == pytest.approx(dt**2 * float(total_energy(m, T)), rel=1e-3)
        assert z[0] - z0 == pytest.approx(dt**2 * float(total_enstrophy(m, T)), rel=1e-3)
        drift[dt] = max(np.max(np.abs(e[2:] / e[1] - 1)), np.max(np.abs(z[2:] / z[1] - 1)))
        # the filter did (almost) nothing: the fraction of enstrophy one filter step removes
        # from the final state (measured 4e-11)
        power = np.abs(np.asarray(final.qh)) ** 2
        assert np.sum((1 - m.grid.filter**2) * power) < 1e-10 * power.sum()
    assert drift[3600.0] < 2e-7
    assert drift[3600.0] / drift[1800.0] > 5.0


# -- gradients ----------------------------------------------------------------------------------
def test_gradient_of_lower_layer_energy_wrt_drag_matches_finite_differences():
    model = TwoLayerQG(nx=32, dt=3600.0)
    s0 = model.state_from_q(smooth_q(32, 2e-6, kmax=5, seed=3))
    params = model.parameters(["rek"])

    def f(v):
        m = params.with_values(v).apply(model)
        return m.diagnostic("ke_lower", m.run(s0, 48)[0])

    p0 = params.vector()
    g = float(jax.jit(jax.grad(f))(p0)[0])
    h = 1e-3 * float(p0[0])
    fj = jax.jit(f)
    fd = float((fj(p0 + h) - fj(p0 - h)) / (2 * h))
    assert g < 0  # more drag, less lower-layer energy
    assert g == pytest.approx(fd, rel=1e-6)


# -- the contract ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    return TwoLayerQG(nx=16, dt=3600.0)


@pytest.mark.slow  # 2.8 s measured (fast tier: pytest -m 'not slow')
def test_qg_implements_the_model_contract(small):
    model = small
    assert isinstance(model, AbstractModel) and model.name == "qg"
    s0 = model.initial_state()
    s1 = jax.jit(model.step)(s0)
    assert int(model.iteration(s1)) == 1 and float(model.time(s1)) == 3600.0
    assert int(s1.ab_level) == 1 and int(model.step(model.step(s1)).ab_level) == 2
    fields = model.output_fields(s1)
    meta = {v.name: v for v in model.variables()}
    assert set(fields) == set(meta) == {"q", "psi", "u", "v"}
    coords = {c.name: c for c in model.coordinates()}
    for name, v in meta.items():
        assert v.dims == ("layer", "y", "x") and v.units and v.long_name
        assert np.shape(fields[name]) == (2, 16, 16)
    _, out = model.run(s0, 4, save_every=2)
    ds = model.to_xarray(out)
    assert ds.sizes["time"] == 2 and ds.attrs["model"] == "qg"
    assert ds["q"].attrs["units"] == "s-1" and ds["u"].attrs["units"] == "m s-1"
    assert ds["x"].attrs["bounds"] == "x_bounds" and ds["x"].attrs["units"] == "m"
    np.testing.assert_allclose(ds["x_bounds"].values[-1], [1e6 - 62500.0, 1e6])
    np.testing.assert_allclose(ds["depth_bounds"].values, [[0, 500], [500, 2500]])
    assert ds["time"].dtype.kind == "M"  # CF time, seconds since the nominal start
    assert coords["layer"].values.tolist() == [1, 2]
    # u = -dψ/dy, v = dψ/dx (centred differences of the output agree to O(dx²))
    psi, u = ds["psi"].values[-1], ds["u"].values[-1]
    dy = 1e6 / 16
    dpsidy = (np.roll(psi, -1, axis=-2) - np.roll(psi, 1, axis=-2)) / (2 * dy)
    assert np.corrcoef(-dpsidy.ravel(), u.ravel())[0, 1] > 0.9
    # parameters apply and change the trajectory
    params = model.parameters()
    assert set(params.names) == {"rek", "beta", "U1", "U2", "rd"}
    moved = params.with_values(params.vector() * 1.1).apply(model)
    run3 = eqx.filter_jit(lambda m, s: m.run(s, 3)[0].qh)
    a, b = run3(model, s0), run3(moved, s0)
    assert not np.allclose(a, b)
    with pytest.raises(KeyError, match="Parameters are: rek, beta"):
        model.parameters(["nope"])
    assert set(model.summary(ds)) >= {"ke_upper", "ke_lower", "cfl"}
    assert "two-layer, 16 x 16" in model.describe()["qg"]


def test_diagnostics_are_scalars_and_differentiable(small):
    s = small.run(small.state_from_q(smooth_q(16, 1e-6, kmax=2)), 3)[0]
    names = set(small.diagnostics())
    assert {"ke_upper", "ke_lower", "enstrophy_upper", "enstrophy_lower"} <= names
    for name in names:
        value = small.diagnostic(name, s)
        assert np.shape(value) == () and np.isfinite(value)
        grad = jax.grad(lambda rek, name=name: eqx.tree_at(lambda m: m.rek, small, rek)
                        .diagnostic(name, small.step(s)))(5e-7)
        assert np.isfinite(grad)
    with pytest.raises(KeyError, match="Diagnostics are"):
        small.diagnostic("nope", s)


def test_vmap_over_an_ensemble_of_states_and_of_models(small):
    states = [small.state_from_q(smooth_q(16, 1e-6, kmax=2, seed=i)) for i in range(3)]
    batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *states)
    stepped = jax.jit(jax.vmap(small.step))(batch)
    step = jax.jit(small.step)
    for i, s in enumerate(states):
        np.testing.assert_allclose(stepped.qh[i], step(s).qh, rtol=1e-13, atol=0)
    # an ensemble of drag coefficients
    rek = jnp.array([0.0, 5e-7, 1e-6])
    models = eqx.filter_vmap(lambda r: eqx.tree_at(lambda m: m.rek, small, r))(rek)
    s = step(states[0])
    out = eqx.filter_jit(eqx.filter_vmap(lambda m: m.step(s)))(models)
    step_model = eqx.filter_jit(lambda m, s: m.step(s))
    for i, r in enumerate(rek):
        ref = step_model(eqx.tree_at(lambda m: m.rek, small, r), s)
        np.testing.assert_allclose(out.qh[i], ref.qh, rtol=1e-13, atol=1e-30)


class _Damping(AbstractQGClosure):
    rate: float

    def pv_tendency(self, model, fields):
        return -self.rate * fields.q


def test_closure_adds_its_pv_tendency(small):
    qh = small.state_from_q(smooth_q(16, 1e-6, kmax=2)).qh
    closed = TwoLayerQG(nx=16, dt=3600.0, closure=_Damping(1e-6))
    np.testing.assert_allclose(closed.pv_tendency(qh) - small.pv_tendency(qh), -1e-6 * qh,
                               atol=1e-12 * float(jnp.max(jnp.abs(small.pv_tendency(qh)))))
    assert closed.describe()["closure"] == "_Damping"
    # the closure's rate is a leaf: gradients reach it
    s0 = closed.state_from_q(np.asarray(small.ifft(qh)))
    g = jax.jit(jax.grad(lambda c: total_energy(closed, eqx.tree_at(
        lambda m: m.closure.rate, closed, c).run(s0, 3)[0].qh)))(1e-6)
    assert float(g) < 0
    with pytest.raises(TypeError, match="AbstractQGClosure"):
        TwoLayerQG(nx=16, closure=lambda *a: 0)


# -- diagnostics module ---------------------------------------------------------------------
def test_spectra_transfers_and_fluxes(small):
    m = TwoLayerQG(nx=32, dt=3600.0)
    qh = m.state_from_q(smooth_q(32, 2e-6, kmax=3)).qh
    f = m.fields(qh)
    # Parseval: the isotropic spectra integrate to the domain means
    kappa, ke = isotropic_ke_spectrum(f.psi, m.L)
    dk = kappa[1] - kappa[0]
    np.testing.assert_allclose(np.sum(ke, axis=-1) * dk, kinetic_energy(m, qh), rtol=1e-12)
    np.testing.assert_allclose(0.5 * np.mean(f.u**2 + f.v**2, axis=(-2, -1)),
                               kinetic_energy(m, qh), rtol=1e-12)
    _, z = isotropic_enstrophy_spectrum(f.q, m.L)
    np.testing.assert_allclose(np.sum(z, axis=-1) * dk, enstrophy(m, qh), rtol=1e-12)
    # energy and enstrophy transfers of an alias-free state sum to zero; the flux ends at 0
    _, t = energy_transfer(m, qh)
    _, tz = enstrophy_transfer(m, qh)
    assert abs(float(jnp.sum(t))) < 1e-10 * float(jnp.sum(jnp.abs(t)))
    assert abs(float(jnp.sum(tz))) < 1e-10 * float(jnp.sum(jnp.abs(tz)))
    _, flux = energy_flux(m, qh)
    assert abs(float(flux[-1])) < 1e-10 * float(jnp.max(jnp.abs(flux)))
    # eddy PV flux: the spectral diagnostic is the grid mean of v q
    s = m.state_from_q(smooth_q(32, 2e-6, kmax=3))
    flux_means = [float(m.diagnostic(n, s)) for n in ("pv_flux_upper", "pv_flux_lower")]
    np.testing.assert_allclose(flux_means, np.mean(f.v * f.q, axis=(-2, -1)), rtol=1e-10)
    ds = small.to_xarray(small.run(None, 4, save_every=2)[1])
    flux_y = zonal_mean_pv_flux(ds)
    assert flux_y.dims == ("time", "layer", "y") and flux_y.attrs["units"] == "m s-2"


# -- config and registry ----------------------------------------------------------------------
def _cfg(**qg):
    return {"experiment": {"model": "qg"}, "qg": qg,
            "time": {"dt": 3600.0, "stop_time": 7200.0}}


def test_config_presets_and_registry():
    entry = get_model_entry("qg")
    schema = entry.config_schema()
    eddy = entry.build(validate(_cfg(preset="eddy", nx=16), schema))
    default = entry.build(validate(_cfg(nx=16), schema))
    for name in ("beta", "rek", "rd", "H1", "H2", "U1", "U2"):  # eddy = pyqg's defaults
        assert float(getattr(eddy, name)) == float(getattr(default, name))
    assert float(eddy.delta) == 0.25 and eddy.filter_factor == 23.6
    jet = entry.build(validate(_cfg(preset="jet", nx=16), schema))
    assert (float(jet.rek), float(jet.beta), float(jet.delta)) == (7e-8, 1e-11, 0.1)
    override = entry.build(validate(_cfg(preset="jet", rek=1e-7, nx=16), schema))
    assert float(override.rek) == 1e-7 and float(override.beta) == 1e-11
    nofilter = entry.build(validate(_cfg(filter="none", nx=16), schema))
    assert nofilter.filter_factor is None and np.all(nofilter.grid.filter == 1)
    with pytest.raises(ConfigError, match="must be even"):
        validate(_cfg(nx=17), schema)
    with pytest.raises(ConfigError, match="preset"):
        validate(_cfg(preset="storm"), schema)


# -- examples through the command line --------------------------------------------------------
SHORT = ["--set", "qg.nx=16", "--set", "time.stop_time=172800", "--set",
         "time.output_interval=43200", "--set", "time.checkpoint_interval=86400"]


@pytest.mark.slow  # 2.2 s measured (fast tier: pytest -m 'not slow')
def test_cli_runs_the_eddy_example(tmp_path):
    out = tmp_path / "eddy"
    res = runner.invoke(app, ["run", str(EDDY), "-o", str(out), "--no-progress", *SHORT,
                              "--set", "output.writers.yearly_means.interval=86400"])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"config.toml", "provenance.json", "run.log", "output.nc", "checkpoint.npz",
            "report.md", "figures", "yearly_means.nc"} <= names
    assert {p.name for p in (out / "figures").iterdir()} == {"pv_snapshots.png",
                                                              "ke_spectrum.png"}
    with xr.open_dataset(out / "output.nc") as ds:
        assert ds.attrs["Conventions"].startswith("CF") and ds.attrs["model"] == "qg"
        assert ds["q"].dims == ("time", "layer", "y", "x") and ds.sizes["time"] == 5
        assert ds["psi"].attrs["units"] == "m2 s-1"
    with xr.open_dataset(out / "yearly_means.nc") as means:
        assert means["q"].attrs["cell_methods"] == "time: mean"
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "completed" and "ke_upper" in prov["diagnostics"]


def test_cli_runs_the_jet_example(tmp_path):
    out = tmp_path / "jet"
    res = runner.invoke(app, ["run", str(JET), "-o", str(out), "--no-progress", *SHORT])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out / "output.nc") as ds:
        assert "rek = 7e-08" in ds.attrs["flow"] and "delta = 0.1" in ds.attrs["layers"]


def test_baroclinic_instability_example_script(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["qg_baroclinic_instability.py", "--nx", "16",
                                      "--years", "2"])
    runpy.run_path(str(ROOT / "examples" / "qg_baroclinic_instability.py"),
                   run_name="__main__")
    text = capsys.readouterr().out
    assert "growth rate" in text and "relative error" in text
