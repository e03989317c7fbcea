"""Learned QG closures: data efficiency of the equivariant vs the plain CNN, online fine-tuning,
equation discovery on coarse-grained turbulence, and online similarity scores.

One high-resolution run of the "eddy" configuration (Ross et al. 2023) is spun up, then sampled
every ``sample_hours`` over ``data_years``; every snapshot is coarse-grained twice
(:mod:`pyclimaocean.models.qg.coarsegrain`): with Ross et al.'s Operator 1 (spectral truncation
+ the low-resolution model's exponential filter; the training data of the networks and the
reference of the online metrics) and with Operator 2 (Gaussian filter of width Δ = 2Δx_lr; for
the equation discovery, whose gradient-model limit is κ_BC = −Δ²/24).

* **Data efficiency.** The snapshots are split in time: the first 80 % are the training pool,
  the last 20 % the test set.  A plain periodic CNN
  (:class:`~pyclimaocean.models.qg.ConvQGClosure`) and a CNN equivariant under the group that
  survives in the configuration (:func:`~pyclimaocean.models.qg.surviving_group`: the
  reflection y → −y, :class:`~pyclimaocean.models.qg.EquivariantQGClosure`) with the same
  number of feature maps are trained offline on random subsets of 10 %, 30 % and 100 % of the
  pool, with the same number of optimisation steps.  Offline test error: normalised MSE of the
  subgrid PV forcing (1 = predicting zero), mean of the two layers.
* **Online fine-tuning** of the 100 % networks through the solver (windows of ``window``
  samples 6 h apart, :func:`pyclimaocean.learning.qg.fit_online_qg`).
* **Equation discovery**: STLSQ on the velocity-gradient library
  (:func:`pyclimaocean.discovery.qg.discover_momentum_closure`) for both operators.
* **Online similarity** (Ross et al. 2023 eq. 9, :mod:`pyclimaocean.models.qg.metrics`): the
  low-resolution model with each closure is run from the coarse-grained state at the start of
  the data period for ``online_years`` and its statistics are compared with the coarse-grained
  high-resolution run over the same period; ``1 − d(closed)/d(unclosed)``, averaged over the
  distributional metrics (q, u, v, KE, enstrophy per layer) and over all metrics.

Sizes: ``--size tiny`` (64 → 16, minutes, for checking the script), ``small`` (128 → 32, what
docs/qg.md reports; ~20 min on 2 shared CPU cores), ``full`` (Ross et al.: 256 → 64, 10 years,
networks of Ross et al.'s size; hours on CPU, not run here).

Run: ``python -m benchmarks.qg_learned_closures [--size small] [--out results.json]
[--save-dir runs/qg_learned]`` (the trained networks are written there for
``benchmarks/qg_closures.py --closure-args 'cnn={"path": ".../cnn_100.eqx"}'``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.discovery.qg import discover_momentum_closure
from pyclimaocean.learning import make_optimizer
from pyclimaocean.learning.qg import fit_offline, fit_online_qg, layer_rms, offline_mse
from pyclimaocean.models.qg import (
    Coarsener,
    ConvQGClosure,
    EquivariantQGClosure,
    SparseMomentumClosure,
    TwoLayerQG,
    ZannaBolton2020,
    coarse_grain,
    mean_similarity,
    online_distances,
    save_closure,
    similarity_scores,
    surviving_group,
)
from pyclimaocean.models.qg.config import PRESETS

DAY = 86400.0
YEAR = 360 * DAY
DT = 3600.0
KAPPA_PYQG_64 = -46761284.0  # pyqg's ZannaBolton2020 default (nx = 64, Ross et al. 2023)

SIZES = {
    "tiny": {"nx_hr": 64, "nx_lr": 16, "spinup_years": 1.0, "data_years": 0.5,
             "sample_hours": 48, "width": 8, "train_steps": 100, "batch": 8,
             "online_steps": 10, "online_window": 3, "online_days": 20, "online_years": 0.25},
    "small": {"nx_hr": 128, "nx_lr": 32, "spinup_years": 3.0, "data_years": 2.0,
              "sample_hours": 24, "width": 12, "train_steps": 400, "batch": 8,
              "online_steps": 40, "online_window": 3, "online_days": 30, "online_years": 1.0},
    "full": {"nx_hr": 256, "nx_lr": 64, "spinup_years": 5.0, "data_years": 5.0,
             "sample_hours": 24, "width": 64, "train_steps": 20000, "batch": 32,
             "online_steps": 2000, "online_window": 10, "online_days": 360,
             "online_years": 5.0},
}
FRACTIONS = (0.1, 0.3, 1.0)


@eqx.filter_jit
def _advance(model, state, n_steps: int):
    return model.run(state, n_steps, checkpoint_every=None)[0]


@eqx.filter_jit
def _coarse(c1, c2, qh):
    a, b = coarse_grain(c1, qh), coarse_grain(c2, qh)
    return ({k: a[k] for k in ("q", "q_forcing", "u", "v", "u_forcing", "v_forcing")},
            {k: b[k] for k in ("q", "u_forcing", "v_forcing")})


def sample(hr, state, c1, c2, n_samples: int, every: int):
    """Coarse-grained snapshots (Operator 1 dict, Operator 2 dict) and the final state."""
    op1, op2 = [], []
    for _ in range(n_samples):
        state = _advance(hr, state, every)
        a, b = _coarse(c1, c2, state.qh)
        op1.append(jax.device_get(a))
        op2.append(jax.device_get(b))
    stack = lambda recs: {k: np.stack([r[k] for r in recs]) for k in recs[0]}  # noqa: E731
    return stack(op1), stack(op2), state


@eqx.filter_jit
def _lowres_samples(model, state, n_steps: int, every: int):
    return model.run(state, n_steps, save_every=every, checkpoint_every=None,
                     observe=lambda s: s.qh)[1]


@eqx.filter_jit
def _fields(model, qh):
    return model.fields(qh)


def run_fields(model: TwoLayerQG, q0, n_samples: int, every: int) -> dict[str, np.ndarray]:
    qh = _lowres_samples(model, model.state_from_q(q0), n_samples * every, every)
    f = _fields(model, qh)
    return {"q": np.asarray(f.q), "u": np.asarray(f.u), "v": np.asarray(f.v),
            "psi": np.asarray(f.psi)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--preset", choices=sorted(PRESETS), default="eddy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write all numbers as JSON here")
    p.add_argument("--save-dir", type=Path, help="write the trained networks here")
    args = p.parse_args(argv)
    size = SIZES[args.size]
    log = print
    t_start = time.perf_counter()
    out: dict = {"size": args.size, "preset": args.preset, **size}

    # -- data -------------------------------------------------------------------------------
    hr = TwoLayerQG(nx=size["nx_hr"], dt=DT, seed=args.seed, **PRESETS[args.preset])
    c1 = Coarsener(hr, size["nx_lr"], filter="exponential")
    c2 = Coarsener(hr, size["nx_lr"], filter="gaussian")
    lr = c1.lr
    every = int(size["sample_hours"] * 3600 / DT)
    n_samples = int(size["data_years"] * YEAR / DT) // every
    t0 = time.perf_counter()
    state = _advance(hr, hr.initial_state(), int(size["spinup_years"] * YEAR / DT))
    start_state = state
    op1, op2, _ = sample(hr, state, c1, c2, n_samples, every)
    fine_every = 6
    fine, _, _ = sample(hr, start_state, c1, c2, int(size["online_days"] * 24 / fine_every),
                        fine_every)
    out["data_seconds"] = time.perf_counter() - t0
    log(f"data: hi-res {hr.nx} -> {lr.nx}, {n_samples} snapshots every {size['sample_hours']} h "
        f"+ {fine['q'].shape[0]} every 6 h ({out['data_seconds']:.0f} s)")

    q, s = op1["q"], op1["q_forcing"]
    n_train = int(0.8 * n_samples)
    q_test, s_test = q[n_train:], s[n_train:]
    in_scale, out_scale = tuple(layer_rms(q)), tuple(layer_rms(s))
    group = surviving_group(lr)
    out["group"] = group
    width = size["width"]
    n_g = {"D4": 8, "D2": 4, "reflection_y": 2, "trivial": 1}[group]

    def make(kind: str, key):
        if kind == "cnn":
            return ConvQGClosure("q", width=width, depth=2, kernel_size=5, input_scale=in_scale,
                                 output_scale=out_scale, key=key)
        return EquivariantQGClosure(group, width=max(1, width // n_g), depth=2, kernel_size=5,
                                    input_scale=in_scale, output_scale=out_scale, key=key)

    # -- data efficiency (offline) ----------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n_train)
    offline, trained = {}, {}
    for frac in FRACTIONS:
        idx = np.sort(order[: max(2, int(round(frac * n_train)))])
        for kind in ("cnn", "equivariant_cnn"):
            t0 = time.perf_counter()
            net = make(kind, jax.random.PRNGKey(args.seed + 1))
            res = fit_offline(net, lr, q[idx], s[idx],
                              make_optimizer(2e-3, size["train_steps"]), size["train_steps"],
                              batch_size=size["batch"], key=jax.random.PRNGKey(args.seed + 2),
                              log=None)
            mse = offline_mse(res.model, lr, q_test, s_test)
            name = f"{kind}_{int(frac * 100)}"
            trained[name] = res.model
            offline[name] = {"fraction": frac, "n_snapshots": len(idx), "test_mse": mse,
                             "train_loss_last": float(np.mean(res.history["loss"][-20:])),
                             "parameters": res.model.n_parameters(),
                             "seconds": time.perf_counter() - t0}
            log(f"offline {name}: {len(idx)} snapshots, test MSE {mse:.3f} "
                f"({offline[name]['seconds']:.0f} s)")
    out["offline"] = offline

    # physical and discovered closures on the same test set
    kappa = KAPPA_PYQG_64 * (64 / lr.nx) ** 2
    disc = {}
    for label, data in (("operator1", op1), ("operator2", op2)):
        res = discover_momentum_closure(lr, data["q"], data["u_forcing"], data["v_forcing"])
        disc[label] = {"coefficients": res.coefficients, "r2": res.r2, "r2_full": res.r2_full}
    out["discovery"] = disc
    out["kappa_gradient_model"] = -c2.width**2 / 24
    out["kappa_pyqg_scaled"] = kappa
    zb = ZannaBolton2020(kappa=kappa)
    zb_disc = disc["operator2"]["coefficients"]
    discovered = SparseMomentumClosure(**{k: v for k, v in zb_disc.items() if v != 0.0})
    out["offline_physical"] = {
        "zanna_bolton": offline_mse(zb, lr, q_test, s_test),
        "discovered": offline_mse(discovered, lr, q_test, s_test),
    }
    log(f"discovery (Operator 1): "
        f"{ {k: f'{v:.3g}' for k, v in disc['operator1']['coefficients'].items() if v} }, "
        f"r2 {disc['operator1']['r2']:.3f}")
    log(f"discovery (Operator 2): { {k: f'{v:.3g}' for k, v in zb_disc.items() if v} }, "
        f"r2 {disc['operator2']['r2']:.3f}; -Delta^2/24 = {out['kappa_gradient_model']:.3g}")

    # -- online fine-tuning -----------------------------------------------------------------
    online_train = {}
    for kind in ("cnn", "equivariant_cnn"):
        t0 = time.perf_counter()
        res = fit_online_qg(trained[f"{kind}_100"], lr, [fine["q"]], fine_every,
                            make_optimizer(5e-4, size["online_steps"]), size["online_steps"],
                            window=size["online_window"], windows_per_case=2,
                            key=jax.random.PRNGKey(args.seed + 3), log=None)
        trained[f"{kind}_online"] = res.model
        online_train[kind] = {"loss_first": res.history["loss"][0],
                              "loss_last": float(np.mean(res.history["loss"][-5:])),
                              "test_mse_after": offline_mse(res.model, lr, q_test, s_test),
                              "seconds": time.perf_counter() - t0}
        log(f"online fine-tuning {kind}: window loss {online_train[kind]['loss_first']:.3g} -> "
            f"{online_train[kind]['loss_last']:.3g} ({online_train[kind]['seconds']:.0f} s)")
    out["online_training"] = online_train

    # -- online similarity ------------------------------------------------------------------
    n_online = min(n_samples, int(size["online_years"] * YEAR / DT) // every)
    ref = {k: op1[k][:n_online] for k in ("q", "u", "v")}
    ref["psi"] = np.asarray(_fields(lr, lr.fft(jnp.asarray(ref["q"]))).psi)
    q0 = _coarse(c1, c2, start_state.qh)[0]["q"]
    closures = {"none": None, "zanna_bolton": zb, "discovered": discovered,
                **trained}
    distances, similarity = {}, {}
    for name, closure in closures.items():
        t0 = time.perf_counter()
        model = eqx.tree_at(lambda m: m.closure, lr, closure, is_leaf=lambda x: x is None)
        run = run_fields(model, q0, n_online, every)
        finite = all(np.isfinite(v).all() for v in run.values())
        distances[name] = (online_distances(run, ref, lr.L, lr.W) if finite
                           else {k: float("inf") for k in distances["none"]})
        if name != "none":
            sc = similarity_scores(distances[name], distances["none"])
            similarity[name] = {
                "distributional": mean_similarity(sc, ("q_", "u_", "v_", "ke_upper", "ke_lower",
                                                       "enstrophy_upper", "enstrophy_lower")),
                "spectral": mean_similarity(sc, ("ke_spectrum", "enstrophy_spectrum")),
                "all": mean_similarity(sc)}
        log(f"online {name}: {time.perf_counter() - t0:.0f} s"
            + ("" if finite else " (blew up)")
            + (f", similarity {similarity[name]['all']:+.2f}" if name in similarity else ""))
    out["online_similarity"] = similarity
    out["online_distances"] = distances
    out["seconds"] = time.perf_counter() - t_start

    if args.save_dir is not None:
        for name, net in trained.items():
            save_closure(args.save_dir / f"{name}.eqx", net)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, default=float))
    log(f"done in {out['seconds']:.0f} s")
    return out


if __name__ == "__main__":
    main()
