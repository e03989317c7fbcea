"""Build the figures and measured numbers of the GFD teaching pages (docs/teaching/).

Each section runs the model as the corresponding example does and compares it with the
theory the page explains:

* free convection (``examples/column_free_convection.toml``'s setup): mixed-layer depth
  against ``h = sqrt(2 (1 + 2A) Jᵇ t) / N`` (Deardorff, Willis & Stockton 1980);
* wind on a rotating column (``examples/column_wind_deepening.toml``'s setup): the
  depth-integrated transport against the exact inertial-oscillation solution around the
  Ekman transport, and the mixed-layer depth against Pollard, Rhines & Thompson (1973);
* baroclinic instability (``examples/qg_baroclinic_instability.py``): the growth of the
  fastest mode against the two-layer linear theory.

    python tools/build_teaching.py                    # all three (a few minutes on 2 cores)
    python tools/build_teaching.py ekman_inertial     # only this one

Writes ``docs/teaching/<name>.png`` (small: ≤ 150 KB, through the gallery's shrinking) and
``docs/teaching/measured.json``; the pages quote those numbers.
"""

from __future__ import annotations

import json
import runpy
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.models.column import setups
from pyclimaocean.models.column.mixed_layer import mixed_layer_depth
from pyclimaocean.models.column.model import GRAVITY
from pyclimaocean.models.qg import TwoLayerQG, linear_growth_rates
from pyclimaocean.models.qg.config import PRESETS
from pyclimaocean.plotting import pyplot, save_figure

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "teaching"
HOUR, DAY = 3600.0, 86400.0
sys.path.insert(0, str(ROOT / "tools"))
from build_gallery import shrink_png  # noqa: E402


def _save(fig, name: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = save_figure(fig, Path(tmp) / f"{name}.png")
        shrink_png(path, OUT / f"{name}.png")
    return f"{name}.png"


def _run(model, n_steps: int, every: int):
    final, out = jax.jit(lambda s: model.run(s, n_steps, save_every=every))(model.initial_state())
    return out


def free_convection() -> dict:
    model = setups.free_convection()            # 64 levels, 128 m, -100 W m-2, dT/dz = 0.01 K/m
    every, n = 6, 576                           # hourly outputs over 4 days (dt = 600 s)
    out = _run(model, n, every)
    t = model.dt * every * np.arange(1, n // every + 1)
    h = np.asarray(jax.vmap(lambda s: mixed_layer_depth(model, s))(out))
    eos = model.equation_of_state
    alpha = float(eos.thermal_expansion_coefficient)
    jb = GRAVITY * alpha * 100.0 / (model.reference_density * model.heat_capacity)  # m2 s-3
    n2 = GRAVITY * alpha * 0.01
    late = t >= 12 * HOUR
    slope = float(np.sum(h[late] ** 2 * t[late]) / np.sum(t[late] ** 2))  # h^2 = slope t
    a_eff = (slope * n2 / (2 * jb) - 1) / 2
    plt = pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 4))
    z = np.asarray(model.grid.z_centers)
    ax0.plot(np.asarray(model.initial_state().temperature), z, "k:", label="t = 0")
    for day in (1, 2, 4):
        i = int(day * 24) - 1
        ax0.plot(np.asarray(out.temperature[i]), z, label=f"t = {day} d")
    ax0.set_xlabel("T (degC)")
    ax0.set_ylabel("z (m)")
    ax0.legend(fontsize=8)
    ax0.set_title("temperature profiles", fontsize=10)
    ax1.plot(t / DAY, h, "C0", lw=2, label="model (CATKE), buoyancy-threshold MLD")
    for a, style in ((0.0, "k:"), (0.2, "k--")):
        ax1.plot(t / DAY, np.sqrt(2 * (1 + 2 * a) * jb * t / n2), style,
                 label=f"sqrt(2(1+2A) Jb t)/N, A = {a:g}")
    ax1.set_xlabel("t (days)")
    ax1.set_ylabel("mixed-layer depth h (m)")
    ax1.legend(fontsize=8)
    ax1.set_title(f"fitted A = {a_eff:.2f}", fontsize=10)
    fig.tight_layout()
    return {"figure": _save(fig, "free_convection"), "buoyancy_flux_m2_s3": jb, "N2_s2": n2,
            "final_mld_m": float(h[-1]), "fitted_A": a_eff,
            "mld_A0_m": float(np.sqrt(2 * jb * t[-1] / n2)),
            "mld_A02_m": float(np.sqrt(2 * 1.4 * jb * t[-1] / n2))}


def ekman_inertial() -> dict:
    model = setups.wind_deepening()            # 64 levels, 128 m, tau = 0.1 N m-2, f = 1e-4
    every, n = 2, 1152                          # 10-min outputs over 4 days (dt = 300 s)
    out = _run(model, n, every)
    t = model.dt * every * np.arange(1, n // every + 1)
    dz = np.diff(np.asarray(model.grid.z_faces))  # cell thicknesses (m)
    U = np.asarray(out.u) @ dz                  # depth-integrated transport (m2 s-1)
    V = np.asarray(out.v) @ dz
    f, tau, rho = float(model.coriolis_parameter), 0.1, model.reference_density
    a = tau / (rho * f)                         # Ekman transport magnitude
    U_th, V_th = a * np.sin(f * t), -a * (1 - np.cos(f * t))
    err = float(np.max(np.hypot(U - U_th, V - V_th)) / a)
    h = np.asarray(jax.vmap(lambda s: mixed_layer_depth(model, s))(out))
    ustar = np.sqrt(tau / rho)
    nn = np.sqrt(GRAVITY * float(model.equation_of_state.thermal_expansion_coefficient) * 0.01)
    # the slab deepens until f t = π and keeps that depth afterwards (the layer never shoals)
    h_prt = np.maximum.accumulate(ustar * (4 * (1 - np.cos(f * t))) ** 0.25 / np.sqrt(nn * f))
    i_pi = int(np.argmin(np.abs(f * t - np.pi)))
    plt = pyplot()
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(12, 3.8))
    ax0.plot(t / DAY, U, "C0", lw=2, label="U model")
    ax0.plot(t / DAY, V, "C1", lw=2, label="V model")
    ax0.plot(t / DAY, U_th, "k--", lw=1, label="exact")
    ax0.plot(t / DAY, V_th, "k--", lw=1)
    ax0.axhline(-a, color="0.5", ls=":", label="Ekman -tau/(rho0 f)")
    ax0.set_xlabel("t (days)")
    ax0.set_ylabel("transport (m2 s-1)")
    ax0.legend(fontsize=7)
    ax0.set_title("depth-integrated transport", fontsize=10)
    ax1.plot(U, V, "C0", lw=2, label="model")
    ax1.plot(U_th, V_th, "k--", lw=1, label="exact: circle about (0, -a)")
    ax1.set_aspect("equal")
    ax1.set_xlabel("U (m2 s-1)")
    ax1.set_ylabel("V (m2 s-1)")
    ax1.legend(fontsize=7)
    ax1.set_title(f"hodograph (inertial period {2 * np.pi / f / HOUR:.1f} h)", fontsize=10)
    ax2.plot(t / DAY, h, "C0", lw=2, label="model (CATKE)")
    ax2.plot(t / DAY, h_prt, "k--", label="Pollard, Rhines & Thompson (1973)")
    ax2.set_xlabel("t (days)")
    ax2.set_ylabel("mixed-layer depth (m)")
    ax2.legend(fontsize=7)
    ax2.set_title("wind-driven deepening", fontsize=10)
    fig.tight_layout()
    return {"figure": _save(fig, "ekman_inertial"), "ekman_transport_m2_s": a,
            "max_transport_error_relative": err, "inertial_period_h": 2 * np.pi / f / HOUR,
            "mld_at_ft_pi_m": float(h[i_pi]), "prt_max_m": float(2 ** 0.75 * ustar / np.sqrt(nn * f)),
            "mld_final_m": float(h[-1]),
            "days_to_prt_max": float(t[np.argmax(h >= h_prt[-1])] / DAY)}


def baroclinic_instability() -> dict:
    example = runpy.run_path(str(ROOT / "examples" / "qg_baroclinic_instability.py"))
    model = TwoLayerQG(nx=64, dt=7200.0, **PRESETS["eddy"])
    r = example["measure"](model, days=360 * 3)  # the example's own measurement (3 years)
    kx, ky, growth = linear_growth_rates(model)
    j, i = np.unravel_index(np.argmax(growth), growth.shape)
    q = 1e-18 * np.random.default_rng(0).standard_normal((2, model.ny, model.nx))
    every = int(round(DAY / model.dt))
    n = every * 360 * 3
    _, mode = jax.jit(lambda s: model.run(s, n, save_every=every,
                                          observe=lambda s: model.invert(s.qh)[:, j, i]))(
        model.state_from_q(q))
    t = DAY * np.arange(1, 360 * 3 + 1)
    plt = pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    order = np.argsort(kx)
    per_1000_km = 1e6 / (2 * np.pi)             # k (rad m-1) -> cycles per 1000 km
    ax0.plot(kx[order] * per_1000_km, growth[0, order] * DAY, "k.-", ms=3,
             label="linear theory, l = 0")
    ax0.plot(r["k"] * per_1000_km, r["upper"] * DAY, "C3o", label="measured, fastest mode")
    ax0.axhline(0.0, color="0.6", lw=0.8)
    ax0.set_xlabel("k / 2 pi (cycles per 1000 km)")
    ax0.set_ylabel("growth rate (1/day)")
    ax0.set_xlim(0, 20)
    ax0.legend(fontsize=8)
    ax0.set_title("growth rate vs zonal wavenumber", fontsize=10)
    mode = np.abs(np.asarray(mode))
    ax1.semilogy(t / DAY, mode[:, 0], "C0", label="|psi| upper layer")
    ax1.semilogy(t / DAY, mode[:, 1], "C1", label="|psi| lower layer")
    ref = mode[-1, 0] * np.exp(r["theory"] * (t - t[-1]))
    ax1.semilogy(t / DAY, ref, "k--", lw=1, label="exp(sigma t), sigma of theory")
    ax1.set_xlabel("t (days)")
    ax1.legend(fontsize=8)
    ax1.set_title("fastest mode (from noise of 1e-18)", fontsize=10)
    fig.tight_layout()
    return {"figure": _save(fig, "baroclinic_instability"), **r,
            "wavelength_km": float(2 * np.pi / r["k"] / 1e3),
            "efolding_days": float(1 / r["theory"] / DAY)}


def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "measured.json"
    measured = json.loads(path.read_text()) if path.exists() else {}
    for name, fn in (("free_convection", free_convection), ("ekman_inertial", ekman_inertial),
                     ("baroclinic_instability", baroclinic_instability)):
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        measured[name] = fn()
        measured[name]["seconds"] = time.perf_counter() - t0
        print(name, json.dumps(measured[name]), flush=True)
        path.write_text(json.dumps(measured, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
