"""Learned QG closures scored over an ensemble of initial states: online similarity with error
bars and a noise floor, anchored online fine-tuning, and data efficiency over training seeds.

What ``benchmarks/qg_learned_closures.py`` measured from *one* run per closure (docs/qg.md,
"Data efficiency and online scores") was within run-to-run noise.  Here:

* **Data** (cached under ``--cache``; the run is resumable stage by stage): one
  high-resolution run of the "eddy" configuration (Ross et al. 2023) is spun up and sampled
  daily for ``data_years``; every snapshot is coarse-grained with Operator 1 (spectral
  truncation + the low-resolution model's exponential filter): q, u, v and the subgrid PV
  forcing.  The first 80 % of the snapshots are the training pool, the last 20 % the offline
  test set.  A second stretch sampled every 6 h (``fine_days``) at the start of the data period
  is the online-training trajectory.
* **Online scores over an ensemble.**  ``members`` low-resolution runs per closure, started
  from the coarse-grained high-resolution states at days ``0, Δ, 2Δ, …`` of the data period
  (``Δ = start_spacing_days``), each run ``online_days`` and sampled daily.  The reference is
  the coarse-grained high-resolution *climate* (all daily snapshots of the data period).
  Per member m, Ross et al.'s distances d (:mod:`pyclimaocean.models.qg.metrics`: W₁ of q, u,
  v, KE, enstrophy per layer; RMS differences of the time-mean KE and enstrophy spectra) and
  the similarity ``1 − d(closed_m) / d(unclosed_m)`` (the unclosed member from the same
  start); reported: mean ± standard error over members of the mean over the distributional /
  spectral / all metrics, and the *pooled* score (distances of all members' samples pooled).
  **Noise floor**: a second unclosed ensemble started ``Δ/2`` later, scored the same way
  against the first: what a closure that changes nothing scores.
* **Data efficiency**: plain CNN vs the CNN equivariant under the surviving group
  (``reflection_y`` here) with the same feature maps, trained offline on random subsets of
  ``fractions`` of the pool, over ``seeds`` (each seed: a new subset, initialisation and
  batch order), at two sizes (width 12 / depth 2 and width 24 / depth 3); offline test error
  = normalised MSE of the subgrid PV forcing (1 = predicting zero).
* **Anchored online fine-tuning** of the 100 % networks (seed 0) through the solver
  (:func:`pyclimaocean.learning.qg.fit_online_qg`): windows of ``window`` 6-hourly samples
  (``window × 6`` model steps, √T checkpointing), loss = window PV error + λ × offline MSE on
  the training pool + γ × window PV-variance misfit, Adam with a low learning rate, global-norm
  gradient clipping (``make_optimizer``).

* **Jet** (``--config jet``): the jets wander over years, so the reference pools
  ``hires_seeds`` hi-res runs (one ``vmap``, 8 spin-up years: from pyqg's 1e-7 initial noise
  the jet's instability takes ~4 years to saturate), the members start from every seed
  (``members_per_seed`` each, 540 days apart), run 3 years unsampled (``discard_days``: the
  unclosed low-res jet drifts from the hi-res start to its own climate over 3–4 years) and
  are then sampled daily for 2 years, and a second noise floor: a hi-res stretch of the
  member's seed as long as a member against a reference of the *other* seeds (leave one
  out), i.e. what a perfect closure scores at this sample size.
* **Generalisation** (``--train-config eddy --train-cache DIR``): the networks trained on the
  other configuration (loaded from ``DIR``, not retrained) are scored next to this
  configuration's; an equivariant network's group is checked to be one this configuration
  keeps (eddy and jet both keep ``reflection_y``).
* **Physical closures** scored too: Smagorinsky, backscatter (pyqg's defaults) and ZB2020.

* **ZB2020** (stage ``zb``): the energy tendency of its PV forcing per layer and annulus
  against that of the diagnosed subgrid forcing, and the least-squares κ of its PV forcing.

Run: ``python -m benchmarks.qg_closure_ensemble [--size small] [--config eddy|jet]
[--cache runs/qg_ensemble] [--train-config eddy --train-cache DIR [--train-nets NAME ...]]
[--out results.json] [--stages data offline online scores zb]``; ``--fractions``, ``--seeds``,
``--nets`` restrict the data-efficiency stage, ``--online-lr``, ``--online-steps``,
``--offline-weight``, ``--variance-weight``, ``--tag`` set an online variant, ``--only`` scores
named closures.  Stages of one cache directory must run one at a time (they share its
``results.json``).  ``--size tiny`` (64 → 16) checks the script in a few minutes.
docs/qg.md ("Ensemble scores, ...") reports the measured numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from benchmarks.qg_learned_closures import DT, KAPPA_PYQG_64, YEAR
from pyclimaocean.learning import make_optimizer
from pyclimaocean.learning.qg import (
    closure_forcing,
    fit_offline,
    fit_online_qg,
    layer_rms,
    offline_mse,
)
from pyclimaocean.models.qg import (
    Coarsener,
    ConvQGClosure,
    EquivariantQGClosure,
    TwoLayerQG,
    ZannaBolton2020,
    build_closure,
    coarse_grain,
    load_closure,
    mean_similarity,
    online_distances,
    save_closure,
    similarity_scores,
    surviving_group,
)
from pyclimaocean.models.qg.config import PRESETS
from pyclimaocean.models.qg.diagnostics import (
    isotropic_enstrophy_spectrum,
    isotropic_ke_spectrum,
    isotropic_sum,
    radial_bins,
)
from pyclimaocean.models.qg.metrics import wasserstein1

DISTRIBUTIONAL = ("q_", "u_", "v_", "ke_upper", "ke_lower", "enstrophy_upper",
                  "enstrophy_lower")
SPECTRAL = ("ke_spectrum", "enstrophy_spectrum")

SIZES = {
    "tiny": {"nx_hr": 64, "nx_lr": 16, "spinup_years": 1.0, "data_years": 0.5,
             "fine_days": 10, "members": 3, "start_spacing_days": 40, "online_days": 60,
             "fractions": (0.1, 1.0), "seeds": (0, 1), "train_steps": 100, "batch": 8,
             "nets": {"small": (8, 2)}, "online_steps": 5, "window": 4,
             "online_lr": 1e-4},
    "small": {"nx_hr": 128, "nx_lr": 32, "spinup_years": 3.0, "data_years": 2.0,
              "fine_days": 60, "members": 8, "start_spacing_days": 90, "online_days": 180,
              "fractions": (0.02, 0.05, 0.1, 1.0), "seeds": (0, 1), "train_steps": 600,
              "batch": 8, "nets": {"small": (12, 2), "large": (24, 3)}, "online_steps": 60,
              "window": 8, "online_lr": 1e-4},
}

#: Changes to a size for a configuration.  The jet's jets wander over years, so one hi-res
#: run of a few years is not a reference (docs/qg.md, "Online benchmark": a second hi-res seed
#: scored -2.5 against the first): the jet reference pools ``hires_seeds`` hi-res runs, each
#: low-res member runs a year, and ``members_per_seed`` members start from each seed.  From
#: pyqg's 1e-7 initial noise the jet's instability needs ~4 years to saturate (upper-layer
#: KE 0.002, 0.01, 0.1 × 1e-3 m² s⁻² after years 1, 2, 3 at 128²), hence 8 spin-up years.
CONFIG_SIZES = {
    "jet": {
        "tiny": {"hires_seeds": 2, "spinup_years": 1.0, "data_years": 0.5,
                 "members_per_seed": 2, "start_spacing_days": 60, "online_days": 60},
        "small": {"hires_seeds": 4, "spinup_years": 8.0, "data_years": 3.0,
                  "members_per_seed": 2, "start_spacing_days": 540, "online_days": 720,
                  "discard_days": 1080,
                  "fractions": (0.1, 1.0), "seeds": (0,), "nets": {"small": (12, 2)}},
    },
}

#: The jet's members discard ``discard_days`` before they are sampled: started from a
#: coarse-grained hi-res state, the unclosed 32² jet keeps the hi-res statistics for about a
#: year and then drifts to its own climate over 3–4 years (upper-layer KE 1.4–1.6 → 1.05–1.1,
#: lower layer 0.05 → 0.018 × 10⁻³ m² s⁻²), so one-year members scored the adjustment, not
#: the closed model's climate (docs/qg.md, "Jet configuration"; the 1-year protocol is
#: ``--member-days 360 --discard-days 0``).


def protocol(size_name: str, config: str) -> dict:
    """The settings of ``size_name`` for ``config`` (``SIZES`` with ``CONFIG_SIZES``); every
    member count is explicit: ``hires_seeds`` × ``members_per_seed`` = ``members``."""
    size = {"hires_seeds": 1, **SIZES[size_name],
            **CONFIG_SIZES.get(config, {}).get(size_name, {})}
    size.setdefault("members_per_seed", size["members"] // size["hires_seeds"])
    size.setdefault("discard_days", 0)
    size["members"] = size["hires_seeds"] * size["members_per_seed"]
    return size


@eqx.filter_jit
def _advance(model, state, n_steps: int):
    return model.run(state, n_steps, checkpoint_every=None)[0]


@eqx.filter_jit
def _coarse(c1, qh):
    a = coarse_grain(c1, qh)
    return {k: a[k] for k in ("q", "q_forcing", "u", "v")}


def _sample(hr, state, c1, n_samples: int, every: int):
    recs = []
    for _ in range(n_samples):
        state = _advance(hr, state, every)
        recs.append(jax.device_get(_coarse(c1, state.qh)))
    return {k: np.stack([r[k] for r in recs]) for k in recs[0]}, state


@eqx.filter_jit
def _advance_many(model, states, n_steps: int):
    return jax.vmap(lambda s: model.run(s, n_steps, checkpoint_every=None)[0])(states)


@eqx.filter_jit
def _coarse_many(c1, qh):
    return jax.vmap(lambda x: _coarse(c1, x))(qh)


def _mean_ke(u, v) -> np.ndarray:
    """Domain-mean KE per layer (m² s⁻²) of ``u, v (..., layer, y, x)``."""
    return np.mean(0.5 * (np.asarray(u) ** 2 + np.asarray(v) ** 2), axis=(-2, -1))


def make_data_seeds(size: dict, preset: str, seed: int, path: Path, log) -> dict:
    """:func:`make_data` for ``size["hires_seeds"]`` hi-res runs at once (seeds ``seed``,
    ``seed + 1``, …; one ``vmap``): arrays with a leading seed axis, the mean KE per layer of
    every spin-up year (``spinup_ke`` (year, seed, layer), to see that the spin-up is long
    enough), the 6-hourly stretch from the first seed only."""
    if path.exists():
        return dict(np.load(path))
    n_seeds = size["hires_seeds"]
    runs = [TwoLayerQG(nx=size["nx_hr"], dt=DT, seed=seed + i, **PRESETS[preset])
            for i in range(n_seeds)]
    hr = runs[0]
    c1 = Coarsener(hr, size["nx_lr"], filter="exponential")
    t0 = time.perf_counter()
    states = jax.tree.map(lambda *x: jnp.stack(x), *[r.initial_state() for r in runs])
    spinup_ke = []
    year_steps = int(YEAR / DT)
    n_years = int(np.ceil(size["spinup_years"]))
    for y in range(n_years):
        n = min(year_steps, int(size["spinup_years"] * YEAR / DT) - y * year_steps)
        states = _advance_many(hr, states, n)
        c = jax.device_get(_coarse_many(c1, states.qh))
        spinup_ke.append(_mean_ke(c["u"], c["v"]))
        log(f"spin-up year {y + 1}: upper-layer KE per seed "
            f"{np.round(spinup_ke[-1][:, 0] * 1e3, 3).tolist()} (1e-3 m2 s-2, "
            f"{time.perf_counter() - t0:.0f} s)")
    q0 = np.asarray(_coarse_many(c1, states.qh)["q"])
    fine, _ = _sample(hr, jax.tree.map(lambda x: x[0], states), c1,
                      int(size["fine_days"] * 4), 6)
    recs = []
    for _ in range(int(size["data_years"] * 360)):
        states = _advance_many(hr, states, 24)
        recs.append(jax.device_get(_coarse_many(c1, states.qh)))
    daily = {k: np.stack([r[k] for r in recs], axis=1) for k in recs[0]}
    data = {"q": daily["q"], "s": daily["q_forcing"], "u": daily["u"], "v": daily["v"],
            "q_start": q0, "fine_q": np.concatenate([q0[0][None], fine["q"]]),
            "spinup_ke": np.stack(spinup_ke)}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    log(f"data: {n_seeds} seeds, {daily['q'].shape[1]} daily snapshots each, "
        f"{fine['q'].shape[0]} 6-hourly ({time.perf_counter() - t0:.0f} s)")
    return data


def make_data(size: dict, preset: str, seed: int, path: Path, log) -> dict:
    """Coarse-grained daily snapshots, the start states and the 6-hourly stretch (cached)."""
    if path.exists():
        return dict(np.load(path))
    hr = TwoLayerQG(nx=size["nx_hr"], dt=DT, seed=seed, **PRESETS[preset])
    c1 = Coarsener(hr, size["nx_lr"], filter="exponential")
    t0 = time.perf_counter()
    state = _advance(hr, hr.initial_state(), int(size["spinup_years"] * YEAR / DT))
    start = state
    daily, _ = _sample(hr, state, c1, int(size["data_years"] * 360), 24)
    fine, _ = _sample(hr, start, c1, int(size["fine_days"] * 4), 6)
    q0 = np.asarray(_coarse(c1, start.qh)["q"])
    data = {"q": daily["q"], "s": daily["q_forcing"], "u": daily["u"], "v": daily["v"],
            "q_start": q0, "fine_q": np.concatenate([q0[None], fine["q"]])}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    log(f"data: {hr.nx} -> {size['nx_lr']}, {daily['q'].shape[0]} daily snapshots, "
        f"{fine['q'].shape[0]} 6-hourly ({time.perf_counter() - t0:.0f} s)")
    return data


def with_scales(net, scales):
    """``net`` (a trained CNN closure) with other static RMS ``(input, output)`` scales and
    the same weights: the normalisation of another configuration's data."""
    new = copy.copy(net)
    object.__setattr__(new, "input_scale", tuple(float(x) for x in scales[0]))
    object.__setattr__(new, "output_scale", tuple(float(x) for x in scales[1]))
    return new


def make_net(kind: str, width: int, depth: int, group: str, scales, key):
    """Plain CNN of ``width`` channels or the equivariant CNN with the same feature maps."""
    in_scale, out_scale = scales
    if kind == "cnn":
        return ConvQGClosure("q", width=width, depth=depth, kernel_size=5,
                             input_scale=in_scale, output_scale=out_scale, key=key)
    n_g = {"D4": 8, "D2": 4, "reflection_y": 2, "trivial": 1}[group]
    return EquivariantQGClosure(group, width=max(1, width // n_g), depth=depth, kernel_size=5,
                                input_scale=in_scale, output_scale=out_scale, key=key)


@eqx.filter_jit
def _ensemble(model, states, n_steps: int, every: int):
    def one(s):
        return model.run(s, n_steps, save_every=every, checkpoint_every=None,
                         observe=lambda x: x.qh)[1]
    return jax.vmap(one)(states)


@eqx.filter_jit
def _fields(model, qh):
    return model.fields(qh)


def _quantities(run) -> dict[str, np.ndarray]:
    """The fields of Ross et al.'s distributional distances, ``(time, layer, y, x)``."""
    q, u, v = (np.asarray(run[k], dtype=float) for k in ("q", "u", "v"))
    return {"q": q, "u": u, "v": v, "ke": 0.5 * (u**2 + v**2), "enstrophy": 0.5 * q**2}


def _w1_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W₁ of two sorted samples: on the common grid of ``n = lcm(n_a, n_b)`` quantile
    levels both quantile functions are piecewise constant, so
    ``W₁ = ∫|Q_a − Q_b| dt = mean |repeat(a, n/n_a) − repeat(b, n/n_b)|``; falls back to
    :func:`~pyclimaocean.models.qg.metrics.wasserstein1` when ``n`` is large."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    n = math.lcm(a.size, b.size)
    if n > 4 * (a.size + b.size):
        return wasserstein1(a, b)
    return float(np.mean(np.abs(np.repeat(a, n // a.size) - np.repeat(b, n // b.size))))


class Reference:
    """A reference climate prepared once for many :meth:`distances` calls: its sorted
    per-layer samples and time-mean spectra (the reference of the jet holds 4320 snapshots;
    sorting it again for every member dominated the cost).  ``distances(run)`` equals
    :func:`~pyclimaocean.models.qg.metrics.online_distances` ``(run, ref, L)`` (checked in
    :func:`check_reference`)."""

    def __init__(self, ref: dict, L: float):
        self.L = L
        self.sorted = {f"{name}_{layer}": np.sort(x[:, i].ravel())
                       for name, x in _quantities(ref).items()
                       for i, layer in enumerate(("upper", "lower"))}
        self.spectra = self._spectra(ref)

    def _spectra(self, run) -> dict[str, np.ndarray]:
        out = {}
        for label, fn, field in (("ke_spectrum", isotropic_ke_spectrum, run["psi"]),
                                 ("enstrophy_spectrum", isotropic_enstrophy_spectrum,
                                  run["q"])):
            k, e = fn(np.asarray(field, dtype=float), self.L)
            keep = np.asarray(k) <= np.pi * np.shape(field)[-1] / self.L * (1 + 1e-12)
            out[label] = np.asarray(e).reshape(-1, 2, len(k)).mean(axis=0)[:, keep]
        return out

    def distances(self, run) -> dict[str, float]:
        out = {}
        for name, x in _quantities(run).items():
            for i, layer in enumerate(("upper", "lower")):
                out[f"{name}_{layer}"] = _w1_sorted(np.sort(x[:, i].ravel()),
                                                    self.sorted[f"{name}_{layer}"])
        for label, e in self._spectra(run).items():
            for i, layer in enumerate(("upper", "lower")):
                d = e[i] - self.spectra[label][i]
                out[f"{label}_{layer}"] = (float(np.sqrt(np.mean(d**2)))
                                           if np.isfinite(d).all() else float("inf"))
        return out


def check_reference(run: dict, ref: dict, L: float, rtol: float = 1e-9) -> float:
    """Largest relative difference of :class:`Reference` distances from ``online_distances``
    on ``run`` and ``ref`` (small samples); raises if above ``rtol``."""
    fast, slow = Reference(ref, L).distances(run), online_distances(run, ref, L)
    err = max(abs(fast[k] - slow[k]) / max(abs(slow[k]), 1e-300) for k in slow)
    if set(fast) != set(slow) or err > rtol:
        raise AssertionError(f"Reference distances differ from online_distances: {err:.2e}")
    return err


def run_ensemble(model: TwoLayerQG, q0s: np.ndarray, n_days: int,
                 discard_days: int = 0) -> list[dict]:
    """One run of ``model`` per start ``q0s[m]``: the first ``discard_days`` are run and not
    sampled (adjustment), then ``n_days`` daily samples: ``[{q, u, v, psi}, ...]``."""
    states = jax.vmap(model.state_from_q)(jnp.asarray(q0s))
    if discard_days:
        states = _advance_many(model, states, discard_days * 24)
    qh = _ensemble(model, states, n_days * 24, 24)
    f = _fields(model, qh)
    arrays = {k: np.asarray(getattr(f, k)) for k in ("q", "u", "v", "psi")}
    return [{k: v[m] for k, v in arrays.items()} for m in range(q0s.shape[0])]


def _group_scores(scores: dict) -> dict[str, float]:
    return {"distributional": mean_similarity(scores, DISTRIBUTIONAL),
            "spectral": mean_similarity(scores, SPECTRAL), "all": mean_similarity(scores)}


def _mean_se(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).all():
        return float("-inf"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def base_distances(base: list[dict], ref: Reference) -> dict:
    """Distances of the unclosed members and of their pooled samples (computed once)."""
    pooled = {k: np.concatenate([r[k] for r in base]) for k in base[0]}
    return {"members": [ref.distances(b) for b in base], "pooled": ref.distances(pooled)}


def score(runs: list[dict], base: dict, ref: Reference) -> dict:
    """Per-member and pooled similarity of ``runs`` against the unclosed ensemble ``base``
    (:func:`base_distances`, same starts)."""
    per = []
    for run, d_base in zip(runs, base["members"], strict=True):
        finite = all(np.isfinite(x).all() for x in run.values())
        per.append(_group_scores(similarity_scores(ref.distances(run), d_base))
                   if finite else {"distributional": float("-inf"),
                                   "spectral": float("-inf"), "all": float("-inf")})
    pooled = {k: np.concatenate([r[k] for r in runs]) for k in runs[0]}
    pooled_ok = all(np.isfinite(x).all() for x in pooled.values())
    out = {"members": per}
    for g in ("distributional", "spectral", "all"):
        out[g] = _mean_se([p[g] for p in per])
    out["pooled"] = (_group_scores(similarity_scores(ref.distances(pooled), base["pooled"]))
                     if pooled_ok else None)
    ke = [np.mean(0.5 * (r["u"] ** 2 + r["v"] ** 2), axis=(0, 2, 3)) for r in runs]
    out["ke_per_layer"] = np.mean(ke, axis=0).tolist() if pooled_ok else None
    return out


def hires_noise_floor(data: dict, starts: list, n_days: int, base_runs: list[dict],
                      model: TwoLayerQG) -> dict:
    """What a perfect closure scores: for member ``(i, d)`` the coarse-grained hi-res run of
    seed i over the member's days ``d + 1 … d + n_days``, scored like a closure, against a
    reference of the *other* seeds only (leave one out; the unclosed member's distance is
    taken against the same reference).  ``data`` arrays have a seed axis; needs ≥ 2 seeds.
    Where ``d + n_days`` is past the data period the stretch is the last ``n_days`` of seed i
    (members that discard an adjustment have forgotten their start: any stretch of their seed
    is as good a sample)."""
    per, ke, refs = [], [], {}
    for (i, d), unclosed in zip(starts, base_runs, strict=True):
        if n_days > data["q"].shape[1]:
            raise ValueError(f"{n_days} days is longer than the data period")
        d = min(d, data["q"].shape[1] - n_days)
        if i not in refs:
            refs.clear()  # members are ordered by seed: one reference in memory at a time
            others = [j for j in range(data["q"].shape[0]) if j != i]
            ref = {k: data[k][others].reshape((-1,) + data[k].shape[2:])
                   for k in ("q", "u", "v")}
            ref["psi"] = np.asarray(_fields(model, model.fft(jnp.asarray(ref["q"]))).psi)
            refs[i] = Reference(ref, model.L)
        run = {k: data[k][i, d:d + n_days] for k in ("q", "u", "v")}
        run["psi"] = np.asarray(_fields(model, model.fft(jnp.asarray(run["q"]))).psi)
        ke.append(_mean_ke(run["u"], run["v"]).mean(axis=0))
        per.append(_group_scores(similarity_scores(refs[i].distances(run),
                                                   refs[i].distances(unclosed))))
    out = {"members": per, "pooled": None, "ke_per_layer": np.mean(ke, axis=0).tolist()}
    for g in ("distributional", "spectral", "all"):
        out[g] = _mean_se([p[g] for p in per])
    return out


def energy_tendency_spectrum(model: TwoLayerQG, q, forcing):
    """Total-energy tendency of a PV forcing ``S`` per layer and wavenumber:
    ``−(H_i/H) Re(conj(ψ̂_i) Ŝ_i) w / (nx ny)² / Δκ`` summed over annuli and averaged over
    snapshots (m³ s⁻³); ``(kappa, T (2, n))``, ``Σ_i Σ_κ T Δκ = dE/dt`` (m² s⁻³)."""
    ph = model.invert(model.fft(jnp.asarray(q)))
    sh = model.fft(jnp.asarray(forcing))
    h = jnp.asarray([model.H1, model.H2])[:, None, None] / (model.H1 + model.H2)
    dens = (-model.grid.weights * h * jnp.real(jnp.conj(ph) * sh)
            / float(model.nx * model.ny) ** 2)
    bins, kappa, dk, _ = radial_bins(model.nx, model.ny, model.L, model.W)
    t = isotropic_sum(jnp.mean(dens, axis=0), bins, len(kappa)) / dk
    return kappa, np.asarray(t)


def zb_diagnostics(model: TwoLayerQG, q, s, kappa: float) -> dict:
    """ZB2020's PV forcing against the diagnosed subgrid forcing on snapshots: the
    least-squares κ per layer (sign and scale the data prefer), the energy tendency per layer
    and where in κ it acts, and the share of it in the band the model's filter damps."""
    unit = closure_forcing(ZannaBolton2020(kappa=1.0), model, q)
    s = jnp.asarray(s)
    k_opt = (jnp.sum(unit * s, axis=(0, 2, 3)) / jnp.sum(unit**2, axis=(0, 2, 3)))
    k, t_zb = energy_tendency_spectrum(model, q, kappa * unit)
    _, t_true = energy_tendency_spectrum(model, q, s)
    dk = float(k[1] - k[0])
    kstar = k * model.L / model.nx  # κ Δx (rad)
    filtered = kstar > model.filter_cutoff
    return {"kappa_least_squares": np.asarray(k_opt).tolist(), "kappa": kappa,
            "kappa_grid": k.tolist(),
            "energy_tendency_zb": (t_zb.sum(axis=1) * dk).tolist(),
            "energy_tendency_subgrid": (t_true.sum(axis=1) * dk).tolist(),
            "spectrum_zb": t_zb.tolist(), "spectrum_subgrid": t_true.tolist(),
            "filtered_band_zb": (t_zb[:, filtered].sum(axis=1) * dk).tolist(),
            "filtered_band_subgrid": (t_true[:, filtered].sum(axis=1) * dk).tolist()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--config", "--preset", dest="preset", choices=sorted(PRESETS),
                   default="eddy", help="configuration (Ross et al. 2023): eddy or jet")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=Path("runs/qg_ensemble"))
    p.add_argument("--out", type=Path, help="write all numbers as JSON here")
    p.add_argument("--stages", nargs="+", default=["data", "offline", "online", "scores"],
                   choices=["data", "offline", "online", "scores", "zb"])
    p.add_argument("--nets", nargs="+", help="network sizes of the data-efficiency stage")
    p.add_argument("--fractions", nargs="+", type=float, help="override the size's fractions")
    p.add_argument("--seeds", nargs="+", type=int, help="override the size's training seeds")
    p.add_argument("--online-lr", type=float, help="override the size's online learning rate")
    p.add_argument("--online-steps", type=int, help="override the size's online steps")
    p.add_argument("--offline-weight", type=float, default=1.0,
                   help="lambda of the offline anchor of the online loss")
    p.add_argument("--variance-weight", type=float, default=1.0,
                   help="gamma of the window PV-variance term of the online loss")
    p.add_argument("--only", nargs="+", help="score only these closures (names as printed)")
    p.add_argument("--member-days", type=int,
                   help="override the size's sampled days per low-res member (online_days)")
    p.add_argument("--discard-days", type=int,
                   help="override the days each member runs before it is sampled")
    p.add_argument("--tag", default="", help="suffix of the online-tuned networks' names")
    p.add_argument("--train-config", choices=sorted(PRESETS),
                   help="generalisation: also score the networks trained on this "
                        "configuration (from --train-cache), without retraining")
    p.add_argument("--train-cache", type=Path,
                   help="cache directory of --train-config's run (default --cache)")
    p.add_argument("--train-nets", nargs="+",
                   help="names of --train-config's networks to score (default: the 100 %% "
                        "networks of seed 0 and every *_online* network there)")
    p.add_argument("--train-rescale", action="store_true",
                   help="score the --train-config networks with this configuration's RMS "
                        "input/output scales instead of their own (weights unchanged)")
    args = p.parse_args(argv)
    size = protocol(args.size, args.preset)
    if args.member_days is not None:
        size["online_days"] = args.member_days
    if args.discard_days is not None:
        size["discard_days"] = args.discard_days
    log = print
    cache = args.cache / f"{args.size}_{args.preset}_{args.seed}"
    results_path = cache / "results.json"
    out = json.loads(results_path.read_text()) if results_path.exists() else {}
    # the member protocol the cached scores were made with (caches older than the option:
    # the sampled days they recorded, nothing discarded); scores of two protocols never mix
    members_protocol = {"online_days": size["online_days"],
                        "discard_days": size["discard_days"]}
    if out.get("scores"):
        out.setdefault("scores_protocol", {"online_days": out.get("online_days"),
                                           "discard_days": 0})
        if "scores" in args.stages and out["scores_protocol"] != members_protocol:
            raise ValueError(f"{results_path} holds scores of members "
                             f"{out['scores_protocol']}, not {members_protocol}: "
                             "use another --cache")
    out.update({"size": args.size, "preset": args.preset,
                **{k: v for k, v in size.items() if k != "nets"}})

    def save():
        cache.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(out, indent=1, default=float))

    if size["hires_seeds"] > 1:
        data = make_data_seeds(size, args.preset, args.seed, cache / "data.npz", log)
    else:  # one seed: the cached eddy data have no seed axis
        data = make_data(size, args.preset, args.seed, cache / "data.npz", log)
        data = {k: (v if k == "fine_q" else v[None]) for k, v in data.items()}
    lr = TwoLayerQG(nx=size["nx_lr"], dt=DT, **PRESETS[args.preset])
    # training pool / test set: the first 80 % / last 20 % of every seed's snapshots
    n_train = int(0.8 * data["q"].shape[1])

    def flat(x):
        return x.reshape((-1,) + x.shape[2:])

    q, s = flat(data["q"][:, :n_train]), flat(data["s"][:, :n_train])
    q_test, s_test = flat(data["q"][:, n_train:]), flat(data["s"][:, n_train:])
    n_train = q.shape[0]
    scales = (tuple(layer_rms(flat(data["q"]))), tuple(layer_rms(flat(data["s"]))))
    group = surviving_group(lr)
    out["group"] = group

    def net_path(name):
        return cache / "nets" / f"{name}.eqx"

    # -- data efficiency (offline) -----------------------------------------------------------
    if "offline" in args.stages:
        offline = out.setdefault("offline", {})
        nets = {k: size["nets"][k] for k in (args.nets or size["nets"])}
        for net_name, (width, depth) in nets.items():
            for frac in args.fractions or size["fractions"]:
                for seed in args.seeds or size["seeds"]:
                    order = np.random.default_rng(1000 + seed).permutation(n_train)
                    idx = np.sort(order[: max(2, int(round(frac * n_train)))])
                    for kind in ("cnn", "equivariant_cnn"):
                        name = f"{kind}_{net_name}_{int(round(frac * 100))}_s{seed}"
                        if name in offline and net_path(name).exists():
                            continue
                        t0 = time.perf_counter()
                        net = make_net(kind, width, depth, group, scales,
                                       jax.random.PRNGKey(10 * seed + 1))
                        res = fit_offline(net, lr, q[idx], s[idx],
                                          make_optimizer(2e-3, size["train_steps"]),
                                          size["train_steps"], batch_size=size["batch"],
                                          key=jax.random.PRNGKey(10 * seed + 2), log=None)
                        save_closure(net_path(name), res.model)
                        offline[name] = {
                            "kind": kind, "net": net_name, "fraction": frac, "seed": seed,
                            "n_snapshots": len(idx),
                            "test_mse": offline_mse(res.model, lr, q_test, s_test),
                            "train_loss_last": float(np.mean(res.history["loss"][-20:])),
                            "parameters": res.model.n_parameters(),
                            "seconds": time.perf_counter() - t0}
                        save()
                        log(f"offline {name}: {len(idx)} snapshots, test MSE "
                            f"{offline[name]['test_mse']:.3f} "
                            f"({offline[name]['seconds']:.0f} s)")

    # -- anchored online fine-tuning ---------------------------------------------------------
    if "online" in args.stages:
        online = out.setdefault("online_training", {})
        for kind in ("cnn", "equivariant_cnn"):
            name = f"{kind}_small_100_s0"
            tuned = f"{kind}_online{args.tag}"
            if tuned in online and net_path(tuned).exists():
                continue
            t0 = time.perf_counter()
            start = load_closure(net_path(name))
            n_online = args.online_steps or size["online_steps"]
            res = fit_online_qg(start, lr, [data["fine_q"]], 6,
                                make_optimizer(args.online_lr or size["online_lr"], n_online),
                                n_online, window=size["window"],
                                windows_per_case=4, key=jax.random.PRNGKey(3),
                                offline=(q[:n_train], s[:n_train]),
                                offline_weight=args.offline_weight,
                                variance_weight=args.variance_weight, log=log, log_every=10,
                                name=f"online {kind}")
            save_closure(net_path(tuned), res.model)
            online[tuned] = {"from": name, "learning_rate": args.online_lr or size["online_lr"],
                             "steps": n_online, "offline_weight": args.offline_weight,
                             "variance_weight": args.variance_weight,
                             "loss_first": res.history["loss"][0],
                             "loss_last": float(np.mean(res.history["loss"][-5:])),
                             "test_mse_before": offline_mse(start, lr, q_test, s_test),
                             "test_mse_after": offline_mse(res.model, lr, q_test, s_test),
                             "seconds": time.perf_counter() - t0}
            save()
            log(f"{tuned}: loss {online[tuned]['loss_first']:.4g} -> "
                f"{online[tuned]['loss_last']:.4g}, test MSE "
                f"{online[tuned]['test_mse_before']:.3f} -> "
                f"{online[tuned]['test_mse_after']:.3f} ({online[tuned]['seconds']:.0f} s)")

    # -- ensemble online scores --------------------------------------------------------------
    if "scores" in args.stages:
        scores = out.setdefault("scores", {})
        ref = {k: flat(data[k]) for k in ("q", "u", "v")}
        ref["psi"] = np.asarray(_fields(lr, lr.fft(jnp.asarray(ref["q"]))).psi)
        spacing, n_days = size["start_spacing_days"], size["online_days"]
        # member = (hi-res seed, start day); day d of seed i = q_all[i, d]
        starts_a = [(i, m * spacing) for i in range(size["hires_seeds"])
                    for m in range(size["members_per_seed"])]
        starts_b = [(i, d + spacing // 2) for i, d in starts_a]
        q_all = np.concatenate([data["q_start"][:, None], data["q"]], axis=1)

        def q0s(starts):
            return np.stack([q_all[i, d] for i, d in starts])

        out["starts_days"] = {"A": starts_a, "B": starts_b}
        out["scores_protocol"] = members_protocol
        discard = size["discard_days"]
        kappa = KAPPA_PYQG_64 * (64 / lr.nx) ** 2
        t0 = time.perf_counter()
        base_runs = run_ensemble(lr, q0s(starts_a), n_days, discard)
        out["reference_check"] = check_reference(
            {k: v[:30] for k, v in base_runs[0].items()},
            {k: v[::max(1, len(v) // 90)][:90] for k, v in ref.items()}, lr.L)
        reference = Reference(ref, lr.L)
        base = base_distances(base_runs, reference)
        log(f"unclosed ensemble ({len(starts_a)} x {n_days} days after {discard}): "
            f"{time.perf_counter() - t0:.0f} s")
        noise = "hi-res, other seeds as reference (noise floor)"
        if (size["hires_seeds"] > 1 and noise not in scores
                and (not args.only or noise in args.only)):
            scores[noise] = hires_noise_floor(data, starts_a, n_days, base_runs, lr)
            save()
            log(f"{noise}: all {scores[noise]['all'][0]:+.3f} ± {scores[noise]['all'][1]:.3f}")
        closures = {"unclosed, 2nd ensemble (noise floor)": None,
                    "smagorinsky": build_closure("smagorinsky"),
                    "backscatter": build_closure("backscatter"),
                    "zanna_bolton": ZannaBolton2020(kappa=kappa),
                    "zanna_bolton, kappa sign flipped": ZannaBolton2020(kappa=-kappa)}
        names = ["cnn_small_100_s0", "equivariant_cnn_small_100_s0", "cnn_online",
                 "equivariant_cnn_online", "cnn_small_10_s0", "equivariant_cnn_small_10_s0"]
        names += sorted(p.stem for p in (cache / "nets").glob("*_online*.eqx"))
        names += args.only or []
        for name in dict.fromkeys(names):
            if net_path(name).exists():
                closures[name] = load_closure(net_path(name))
        if args.train_config:  # generalisation: networks trained on another configuration
            tdir = ((args.train_cache or args.cache)
                    / f"{args.size}_{args.train_config}_{args.seed}" / "nets")
            tnames = args.train_nets or (
                ["cnn_small_100_s0", "equivariant_cnn_small_100_s0"]
                + sorted(p.stem for p in tdir.glob("*_online*.eqx")))
            checks = out.setdefault("generalisation_groups", {})
            for name in tnames:
                net = load_closure(tdir / f"{name}.eqx")
                label = f"{args.train_config}-trained {name}"
                if args.train_rescale:  # same weights, this configuration's RMS scales
                    net = with_scales(net, scales)
                    label += f", {args.preset} scales"
                if isinstance(net, EquivariantQGClosure):
                    # the trained group must be a symmetry of this configuration too
                    checks[label] = {"net": net.group.name, "surviving": group}
                    if net.group.name not in (group, "trivial"):
                        raise ValueError(f"{label} is equivariant under {net.group.name}, "
                                         f"which {args.preset} does not keep ({group})")
                closures[label] = net
        for name, closure in closures.items():
            if name in scores or (args.only and name not in args.only):
                continue
            t0 = time.perf_counter()
            model = eqx.tree_at(lambda m: m.closure, lr, closure, is_leaf=lambda x: x is None)
            starts = starts_b if closure is None else starts_a
            runs = run_ensemble(model, q0s(starts), n_days, discard)
            scores[name] = score(runs, base, reference)
            scores[name]["seconds"] = time.perf_counter() - t0
            save()
            sc = scores[name]
            log(f"online {name}: all {sc['all'][0]:+.3f} ± {sc['all'][1]:.3f}, distrib. "
                f"{sc['distributional'][0]:+.3f} ± {sc['distributional'][1]:.3f}, spectral "
                f"{sc['spectral'][0]:+.3f} ± {sc['spectral'][1]:.3f}"
                + (f", pooled all {sc['pooled']['all']:+.3f}" if sc["pooled"] else "")
                + f" ({sc['seconds']:.0f} s)")
        out["ke_unclosed"] = np.mean([_mean_ke(r["u"], r["v"]).mean(axis=0)
                                      for r in base_runs], axis=0).tolist()
        out["ke_hires"] = _mean_ke(ref["u"], ref["v"]).mean(axis=0).tolist()
        out["ke_hires_per_seed"] = _mean_ke(data["u"], data["v"]).mean(axis=1).tolist()
        save()

    if "zb" in args.stages:
        kappa = KAPPA_PYQG_64 * (64 / lr.nx) ** 2
        out["zb"] = zb_diagnostics(lr, flat(data["q"])[::5], flat(data["s"])[::5], kappa)
        save()
        z = out["zb"]
        log(f"ZB: least-squares kappa per layer {z['kappa_least_squares']} (used {kappa:.3g}); "
            f"energy tendency per layer ZB {z['energy_tendency_zb']}, subgrid "
            f"{z['energy_tendency_subgrid']} m2 s-3; in the filtered band ZB "
            f"{z['filtered_band_zb']}, subgrid {z['filtered_band_subgrid']}")

    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, default=float))
    return out


if __name__ == "__main__":
    main()
