"""Why online fine-tuning of the QG closures changed nothing, and a statistics loss that can.

The closure ensemble (``benchmarks/qg_closure_ensemble.py``, docs/qg.md "Ensemble scores")
measured online fine-tuning of the equivariant CNN at +0.00 ± 0.02 over offline training.
This script reuses its cached data, networks, ensemble runner and scoring (imported, not
copied) and

* **diagnose** (stage ``diagnose``): how far the v3 fine-tuning moved the weights; the size
  and gradient norm of the trajectory term against the offline anchor at the offline weights,
  and the trajectory gradient norm against the window length;
* **drift** (stage ``drift``): the lead-time drift of the low-res runs (ensemble-mean KE per
  layer) and the PV error against the hi-res run from the same start (predictability time);
* **coherence** (stage ``coherence``): the mean pairwise cosine of statistics-loss gradients
  of independent batches, per window length (signal or noise);
* **train** (stage ``train``): fine-tunes with :func:`pyclimaocean.learning.qg.fit_online_qg`
  and ``loss="statistics"``: windows started from coarse-grained hi-res states of the
  training pool (``--starts hires``) or from the low-res model's own climate (``--starts
  NET``: 8 runs closed by the offline network NET, days 30-120), the first ``discard``
  samples of every window skipped, the loss the misfit of the windows' statistics
  (per-layer time-mean KE and enstrophy spectra, variance and kurtosis of q, u, v) to those
  of the hi-res training pool, optionally + λ × the offline loss; ``--random-like VARIANT``
  instead moves the weights by a random direction of that variant's norm (control);
  ``--from cnn|equivariant_cnn`` starts from a fresh network;
* **validate** (stage ``validate``, also run by ``train``): statistics misfit and mean KE of
  8 runs of 120 days from training-pool states (the training climate, not the scored runs);
* **score** (stage ``score``): the same ensemble scoring as the closure ensemble (8 members ×
  180 days, similarity against the unclosed members), paired against the offline network the
  variant started from (cached per-member scores of ``--base-cache``); ``--offset 45``
  scores held-out members started 45 days later (run the offline network there first).

* **jet** (``--config jet``, stages ``train validate score``): the same training on the jet
  configuration with the settings of :data:`JET` (jet caches, 30-day windows of daily
  samples, starts from the low-res jet's own climate after its 3-year adjustment, validation
  from the starting network's own climate, scores under the jet member protocol of
  ``benchmarks/qg_closure_ensemble.py``, paired against the starting network); ``--along
  VARIANT --alpha A`` moves the ``--from`` weights by ``A`` × that variant's change (the step
  length along the trained direction, chosen on the validation misfit).

Run: ``python -m benchmarks.qg_online_training --stages diagnose drift coherence`` and
``--stages train score --variant NAME [--from equivariant_cnn_small_100_s0]
[--starts equivariant_cnn_small_100_s0] [--lr 5e-6] [--steps 30] [--window 20]
[--discard 2] [--every 12] [--windows 2] [--offline-weight 0] [--key 5]``; the jet:
``--config jet --stages train validate --variant NAME --from equivariant_cnn_small_30_s0
--starts equivariant_cnn_small_30_s0 --lr 5e-6 --steps 30 --windows 2``, then ``--stages
score``.  Results in ``runs/qg_online/results/`` (jet: ``runs/qg_online_jet/results/``; one
JSON per stage and per variant; runs of different variants may go side by side);
docs/qg.md ("Online training", "Online training on the jet") reports them.
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
from benchmarks.qg_closure_ensemble import (
    DT,
    Reference,
    _fields,
    _mean_ke,
    base_distances,
    make_net,
    run_ensemble,
    score,
)
from benchmarks.qg_closure_ensemble import main as ensemble_main
from pyclimaocean.learning import make_optimizer
from pyclimaocean.learning.online import make_trajectory_loss, select_trainable
from pyclimaocean.learning.qg import (
    _statistics_loss,
    closure_forcing,
    fit_online_qg,
    layer_rms,
    offline_mse,
    qg_reference,
    qg_statistics,
    statistics_misfit,
)
from pyclimaocean.models.qg import TwoLayerQG, load_closure, save_closure, surviving_group
from pyclimaocean.models.qg.config import PRESETS

NX_LR, MEMBERS, SPACING, DAYS = 32, 8, 90, 180

#: Settings of ``--config jet`` (the eddy's are the arguments' defaults and the constants
#: above).  The jet is slower than the eddy: its domain-mean upper-layer KE decorrelates
#: (e-folding of the autocorrelation of the daily coarse-grained hi-res series) in 124 days
#: against 33, its bottom drag time 1/rek is 165 days against 20, and its PV field keeps
#: 53 % autocorrelation after 40 days against 27 %.  So the windows are 3× longer than the
#: eddy's 10 days (30 daily samples, 720 steps; one step of 2 windows costs about 3× the
#: eddy's), sampled daily, 3 days discarded; the window starts are the low-res jet's own
#: climate closed by the starting network (after the 3-year adjustment of the jet member
#: protocol, docs/qg.md "Jet with members that skip the low-res adjustment"): 8 runs from
#: training-pool states of all seeds, 1080 days unsampled, then 360 days every 5th day (576
#: states); validation: 8 runs from 8 of those states (one per run) closed by the variant,
#: 360 days unsampled (the tuned closure's own adjustment) and 360 days every 2nd day, against
#: the hi-res training pool (80 % of each of the 4 seeds).  Scores: the jet member protocol
#: of ``benchmarks/qg_closure_ensemble.py --config jet`` (8 members, 1080 days discarded, 720
#: sampled), paired against the starting network's per-member scores in ``score_caches``.
JET = {
    "base_cache": Path("runs/qg_ensemble_jet/small_jet_0"),
    "nets_cache": Path("runs/qg_ensemble_jet_de/small_jet_0"),
    "cache": Path("runs/qg_online_jet"),
    "window": 30, "every": 24, "discard": 3,
    "own": {"n_runs": 8, "discard_days": 1080, "days": 360, "spin_days": 0, "every": 5},
    "validate": {"n_runs": 8, "discard_days": 360, "days": 360, "spin_days": 0, "every": 2},
    "score_caches": {"equivariant_cnn_small_30_s0": Path("runs/qg_ensemble_jet_long_de2"),
                     "cnn_small_30_s0": Path("runs/qg_ensemble_jet_long_de"),
                     "equivariant_cnn_small_10_s0": Path("runs/qg_ensemble_jet_long_de"),
                     "cnn_small_10_s0": Path("runs/qg_ensemble_jet_long_de"),
                     "equivariant_cnn_small_100_s0": Path("runs/qg_ensemble_jet_long_p2"),
                     "cnn_small_100_s0": Path("runs/qg_ensemble_jet_long_nets")},
}
EDDY = {"base_cache": Path("runs/qg_ensemble/small_eddy_0"),
        "nets_cache": Path("runs/qg_ensemble_de/small_eddy_0"), "cache": Path("runs/qg_online"),
        "window": 20, "every": 12, "discard": 8}


def training_pool(data: dict):
    """``(q, s, q_test, s_test)``: the first 80 % / last 20 % of every hi-res seed's daily
    snapshots (as ``benchmarks.qg_closure_ensemble``), seeds flattened; the eddy's data have
    no seed axis."""
    q_all, s_all = data["q"], data["s"]
    if q_all.ndim == 4:
        q_all, s_all = q_all[None], s_all[None]
    n_train = int(0.8 * q_all.shape[1])

    def flat(x):
        return x.reshape((-1,) + x.shape[2:])

    return (flat(q_all[:, :n_train]), flat(s_all[:, :n_train]), flat(q_all[:, n_train:]),
            flat(s_all[:, n_train:]))


def _json(x):
    return float(x) if isinstance(x, np.floating | np.integer) else str(x)


def _flat_norm(tree) -> float:
    leaves = [np.ravel(np.asarray(x)) for x in jax.tree_util.tree_leaves(eqx.filter(
        tree, eqx.is_inexact_array))]
    return float(np.linalg.norm(np.concatenate(leaves)))


def _diff(a, b):
    pa, _ = eqx.partition(a, eqx.is_inexact_array)
    pb, _ = eqx.partition(b, eqx.is_inexact_array)
    return jax.tree.map(lambda x, y: x - y, pa, pb)


def paired(members, other, key: str = "all") -> list[float]:
    """Mean ± standard error over members of the per-member score difference ``members − other``."""
    diff = [a[key] - b[key] for a, b in zip(members, other, strict=True)]
    return [float(np.mean(diff)), float(np.std(diff, ddof=1) / np.sqrt(len(diff)))]


def with_closure(model, closure):
    return eqx.tree_at(lambda m: m.closure, model, closure, is_leaf=lambda x: x is None)


def diagnose(lr_model, data, nets_dir: Path, v3_dir: Path, log) -> dict:
    out = {}
    n_train = int(0.8 * data["q"].shape[0])
    q, s = data["q"][:n_train], data["s"][:n_train]
    # 1. how far v3 moved the weights
    moved = {}
    for kind in ("cnn", "equivariant_cnn"):
        start = load_closure(nets_dir / f"{kind}_small_100_s0.eqx")
        tuned = load_closure(v3_dir / f"{kind}_online_v3.eqx")
        moved[kind] = {"relative_change": _flat_norm(_diff(tuned, start)) / _flat_norm(start),
                       "max_abs_change": float(max(np.max(np.abs(np.asarray(x))) for x in
                                                   jax.tree_util.tree_leaves(
                                                       _diff(tuned, start)))),
                       "n_weights": start.n_parameters()}
        log(f"v3 weight change {kind}: {moved[kind]}")
    out["v3_weight_change"] = moved
    # 2. loss terms and gradient norms at the offline weights (equivariant, 100 %)
    net = load_closure(nets_dir / "equivariant_cnn_small_100_s0.eqx")
    closed = with_closure(lr_model, net)
    fine = jnp.asarray(data["fine_q"])
    scale = jnp.asarray(layer_rms(fine))
    ref = qg_reference(closed, fine, 6)
    trainable = select_trainable(closed, lambda m: m.closure)

    def observe(state):
        return closed.ifft(state.qh) / scale[:, None, None]

    params, traj = make_trajectory_loss(
        [closed], [ref], trainable, observe=observe,
        loss=lambda p, r: jnp.mean((p - r) ** 2))
    _, rest = eqx.partition(closed, trainable)
    base = with_closure(lr_model, None)
    off_scale = jnp.asarray(layer_rms(s))
    idx = np.random.default_rng(0).choice(n_train, 32, replace=False)

    def offline_loss(params):
        c = eqx.combine(params, rest).closure
        pred = closure_forcing(c, base, jnp.asarray(q[idx]))
        return jnp.mean(jnp.mean((pred - s[idx]) ** 2, axis=(0, 2, 3)) / off_scale**2)

    # the same loss without closure: what the closure changes in the window error
    unclosed_params, unclosed_traj = make_trajectory_loss(
        [with_closure(lr_model, None)], [qg_reference(lr_model, fine, 6)],
        lambda x: False, observe=lambda st: lr_model.ifft(st.qh) / scale[:, None, None],
        loss=lambda p, r: jnp.mean((p - r) ** 2))
    starts = jnp.asarray(np.random.default_rng(1).integers(0, fine.shape[0] - 33, (1, 4)))
    val, g = eqx.filter_jit(jax.value_and_grad(offline_loss))(params)
    terms = {"offline": {"loss": float(val), "grad_norm": _flat_norm(g)}}
    for n in (1, 2, 4, 8, 16, 32):
        t0 = time.perf_counter()
        val, g = eqx.filter_jit(jax.value_and_grad(traj))(params, (n, starts))
        u = float(eqx.filter_jit(unclosed_traj)(unclosed_params, (n, starts)))
        terms[f"trajectory_{n}"] = {"window_hours": 6 * n, "loss": float(val),
                                    "loss_unclosed": u, "grad_norm": _flat_norm(g),
                                    "seconds": time.perf_counter() - t0}
        log(f"window {n} x 6 h: {terms[f'trajectory_{n}']}")
    log(f"offline term: {terms['offline']}")
    out["loss_terms"] = terms
    return out


def drift(lr_model, data, nets_dir: Path, log, lead_days: int = 60) -> dict:
    """Lead-time drift and predictability: 8 members x 180 days, daily; the PV error against
    the hi-res run from the same start over the first ``lead_days`` (all members have them)."""
    net = load_closure(nets_dir / "equivariant_cnn_small_100_s0.eqx")
    q_all = np.concatenate([data["q_start"][None], data["q"]])
    starts = [m * SPACING for m in range(MEMBERS)]
    q0 = np.stack([q_all[d] for d in starts])
    truth = np.stack([q_all[d + 1:d + 1 + lead_days] for d in starts])  # (m, day, 2, y, x)
    clim = float(np.sqrt(np.mean(q_all**2)))
    drift = {}
    for name, c in (("unclosed", None), ("equivariant_cnn_small_100_s0", net)):
        runs = run_ensemble(with_closure(lr_model, c), q0, DAYS)
        ke = np.mean([_mean_ke(r["u"], r["v"]) for r in runs], axis=0)  # (day, layer)
        err = np.sqrt(np.mean([(r["q"][:lead_days] - t) ** 2
                               for r, t in zip(runs, truth, strict=True)],
                              axis=(0, 2, 3, 4))) / clim
        drift[name] = {"ke_by_day": ke.tolist(), "pv_error_by_day": err.tolist()}
        log(f"{name}: KE upper at days 1,5,10,30,90,180: "
            f"{np.round(ke[[0, 4, 9, 29, 89, 179], 0] * 1e3, 3).tolist()}; PV error / clim "
            f"RMS at days 1,2,5,10,20,30: {np.round(err[[0, 1, 4, 9, 19, 29]], 3).tolist()}")
    drift["ke_hires"] = _mean_ke(data["u"], data["v"]).mean(axis=0).tolist()
    drift["pv_rms_climate"] = clim
    return drift


def coherence(lr_model, data, nets_dir: Path, cache: Path, log, every: int = 12,
              n_batches: int = 4) -> dict:
    """Is the statistics-loss gradient signal or noise?  At the offline equivariant weights,
    from the model's own climate: the gradient of ``n_batches`` independent batches (2 windows
    each) per window length; the mean pairwise cosine of those gradients (≈ 0: noise) and
    their norms; the per-statistic misfit of the batches."""
    n_train = int(0.8 * data["q"].shape[0])
    q = data["q"][:n_train]
    net = load_closure(nets_dir / "equivariant_cnn_small_100_s0.eqx")
    pool = own_states(lr_model, "equivariant_cnn_small_100_s0", q, nets_dir, cache, log)
    closed = with_closure(lr_model, net)
    trainable = select_trainable(closed, lambda m: m.closure)
    out = {}
    rng = np.random.default_rng(7)
    for n in (4, 10, 20, 40):  # samples of 12 h: 2, 5, 10, 20 days
        params, loss = _statistics_loss(closed, [qg_reference(closed, pool, 24)], trainable,
                                        q, 1, every, None, "auto")
        grad = eqx.filter_jit(jax.value_and_grad(loss))
        vals, gs = [], []
        t0 = time.perf_counter()
        for _ in range(n_batches):
            v, g = grad(params, (n, jnp.asarray(rng.integers(0, pool.shape[0], (1, 2)))))
            vals.append(float(v))
            gs.append(np.concatenate([np.ravel(x) for x in jax.tree_util.tree_leaves(g)]))
        cos = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
               for i, a in enumerate(gs) for b in gs[i + 1:]]
        out[f"{n * every // 24}_days"] = {"loss": vals, "grad_norm": [float(np.linalg.norm(g))
                                                                      for g in gs],
                                          "cosine_mean": float(np.mean(cos)),
                                          "cosines": cos, "seconds": time.perf_counter() - t0}
        log(f"{n * every // 24} days: loss {np.round(vals, 4).tolist()}, grad norms "
            f"{np.round(out[f'{n * every // 24}_days']['grad_norm'], 4).tolist()}, "
            f"pairwise cosine {np.mean(cos):+.3f} (min {min(cos):+.3f}, max {max(cos):+.3f})")
    return out


def own_states(lr_model, net_name: str, q, nets_dir: Path, cache: Path, log,
               n_runs: int = 8, days: int = 120, spin_days: int = 30, every: int = 2,
               discard_days: int = 0, prefix: str = "own_states"):
    """PV states of the low-res model's own climate: ``n_runs`` runs closed by the offline
    network ``net_name`` from states of ``q`` (spread over it), run ``discard_days`` unsampled,
    then ``days`` long, every ``every``-th day after ``spin_days`` (eddy: the drift of the KE
    takes 1-6 months, docs/qg.md "Online training"; jet: :data:`JET` ``"own"``); cached as
    ``cache / f"{prefix}_{net_name}.npy"``."""
    path = cache / f"{prefix}_{net_name}.npy"
    if path.exists():
        return np.load(path)
    t0 = time.perf_counter()
    net = load_closure(nets_dir / f"{net_name}.eqx")
    starts = np.linspace(0, q.shape[0] - 1, n_runs).astype(int)
    runs = run_ensemble(with_closure(lr_model, net), q[starts], days, discard_days)
    pool = np.concatenate([r["q"][spin_days::every] for r in runs])
    np.save(path, pool)
    log(f"own states of {net_name}: {pool.shape[0]} ({time.perf_counter() - t0:.0f} s)")
    return pool


def score_jet(args, variants: dict, net_path: Path, save, log) -> None:
    """Score ``args.variant`` under the jet member protocol with
    ``benchmarks.qg_closure_ensemble --config jet --stages scores --only VARIANT`` (its own
    cache directory per variant, holding links to the hi-res data and to the network; the
    same members, starts and unclosed ensemble as every jet score), and pair it per member
    against the network it started from (``JET["score_caches"]``, else that network's own
    score cache under ``args.cache / "scores"``: another training seed, scored first)."""
    cache = (args.cache / "scores" / args.variant).resolve()
    run_dir = cache / "small_jet_0"
    (run_dir / "nets").mkdir(parents=True, exist_ok=True)
    for link, target in ((run_dir / "data.npz", args.base_cache / "data.npz"),
                         (run_dir / "nets" / f"{args.variant}.eqx", net_path if
                          net_path.exists() else args.nets_cache / "nets" /
                          f"{args.variant}.eqx")):
        if not link.is_symlink():
            link.symlink_to(Path(target).resolve())
    out = ensemble_main(["--size", "small", "--config", "jet", "--cache", str(cache),
                         "--stages", "scores", "--only", args.variant])
    sc = out["scores"][args.variant]
    v = variants.setdefault(args.variant, {})
    v["score"] = sc
    v["protocol"] = out["scores_protocol"]
    v["ke_unclosed"] = out["ke_unclosed"]
    against = args.start
    # the start network's scores: JET["score_caches"], else its own score cache here (an
    # offline network of another training seed, scored first with --variant NET --from NET)
    start_cache = JET["score_caches"].get(against, args.cache.resolve() / "scores" / against)
    cached = json.loads((start_cache / "small_jet_0" / "results.json").read_text())
    if cached["scores_protocol"] != out["scores_protocol"]:
        raise ValueError(f"{against} was scored under {cached['scores_protocol']}, "
                         f"not {out['scores_protocol']}")
    # same unclosed ensemble (deterministic): its mean KE must agree
    v["ke_unclosed_start_run"] = cached["ke_unclosed"]
    other = cached["scores"][against]["members"]
    v["paired_vs"] = against
    v["start_score"] = {g: cached["scores"][against][g]
                        for g in ("all", "distributional", "spectral")}
    v["start_ke_per_layer"] = cached["scores"][against]["ke_per_layer"]
    for g in ("all", "distributional", "spectral"):
        v[f"paired_{g}"] = paired(sc["members"], other, g)
    save()
    log(f"{args.variant} (jet): all {sc['all'][0]:+.3f} ± {sc['all'][1]:.3f}, distrib. "
        f"{sc['distributional'][0]:+.3f} ± {sc['distributional'][1]:.3f}, spectral "
        f"{sc['spectral'][0]:+.3f} ± {sc['spectral'][1]:.3f}, KE {sc['ke_per_layer']}; "
        f"paired − {against}: {v['paired_all'][0]:+.3f} ± {v['paired_all'][1]:.3f}; "
        f"unclosed KE {out['ke_unclosed']} (start's run {cached['ke_unclosed']})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", nargs="+", default=["diagnose"],
                   choices=["diagnose", "drift", "coherence", "train", "validate", "score",
                            "summary"], help="summary: only write --out")
    p.add_argument("--config", choices=["eddy", "jet"], default="eddy",
                   help="configuration; jet: the settings of JET (caches, windows, starts, "
                        "validation, scoring under the jet member protocol)")
    p.add_argument("--base-cache", type=Path, help="hi-res data (default per --config)")
    p.add_argument("--nets-cache", type=Path, help="offline networks (default per --config)")
    p.add_argument("--v3-cache", type=Path, default=Path("runs/qg_ensemble_on3/small_eddy_0"))
    p.add_argument("--cache", type=Path, help="this script's cache (default per --config)")
    p.add_argument("--variant", default="stats")
    p.add_argument("--from", dest="start", default="equivariant_cnn_small_100_s0",
                   help="offline network to fine-tune, or cnn/equivariant_cnn from scratch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--window", type=int, help="samples per window (eddy 20, jet 30)")
    p.add_argument("--every", type=int, help="model steps (h) between samples (eddy 12, jet 24)")
    p.add_argument("--discard", type=int, help="samples skipped per window (eddy 8, jet 3)")
    p.add_argument("--windows", type=int, default=2, help="windows per step")
    p.add_argument("--offline-weight", type=float, default=0.0)
    p.add_argument("--offset", type=int, default=0,
                   help="score: members start this many days after the benchmark's starts "
                        "(45: held-out starts, between those the step size was chosen on)")
    p.add_argument("--key", type=int, default=5, help="PRNG key of the window starts")
    p.add_argument("--random-like", help="control: instead of training, move the --from "
                   "weights by a random direction of the norm of this variant's change")
    p.add_argument("--along", help="instead of training, move the --from weights by --alpha "
                   "times this (trained) variant's change (a step length along its direction)")
    p.add_argument("--alpha", type=float, default=1.0, help="step length of --along")
    p.add_argument("--starts", default="hires",
                   help="window starts: 'hires' (coarse-grained hi-res training pool) or the "
                        "name of an offline network whose low-res closed runs give them")
    p.add_argument("--loss", default="statistics", choices=["statistics", "trajectory"])
    p.add_argument("--out", type=Path, help="also write every variant of --cache (stored "
                   "JSONs, loss histories and per-member scores included) to this JSON")
    args = p.parse_args(argv)
    settings = JET if args.config == "jet" else EDDY
    for name in ("base_cache", "nets_cache", "cache", "window", "every", "discard"):
        if getattr(args, name) is None:
            setattr(args, name, settings[name])
    if args.config == "jet" and set(args.stages) & {"diagnose", "drift", "coherence"}:
        raise ValueError("stages diagnose, drift, coherence are eddy-only; the jet has "
                         "train, validate, score")
    own_kwargs = settings.get("own", {})
    log = print
    args.cache.mkdir(parents=True, exist_ok=True)
    # one results file per diagnostic stage and per variant: runs may go side by side
    results_dir = args.cache / "results"
    results_dir.mkdir(exist_ok=True)
    out = {p.stem: json.loads(p.read_text()) for p in results_dir.glob("*.json")
           if p.stem != "variants"}
    out["variants"] = {p.stem: json.loads(p.read_text())
                       for p in (results_dir / "variants").glob("*.json")}

    loaded = dict(out["variants"].get(args.variant, {}))

    def save():
        for stage in ("diagnose", "drift", "coherence"):
            if stage in args.stages and stage in out:
                (results_dir / f"{stage}.json").write_text(
                    json.dumps(out[stage], indent=1, default=_json))
        if args.variant in out["variants"]:
            # merge into the file as it is now: only the entries this process set replace
            # the stored ones (another process may have added entries since we read it)
            path = results_dir / "variants" / f"{args.variant}.json"
            path.parent.mkdir(exist_ok=True)
            stored = json.loads(path.read_text()) if path.exists() else {}
            mine = out["variants"][args.variant]
            stored.update({k: v for k, v in mine.items()
                           if k not in loaded or loaded[k] is not v})
            path.write_text(json.dumps(stored, indent=1, default=_json))

    data = dict(np.load(args.base_cache / "data.npz"))
    lr_model = TwoLayerQG(nx=NX_LR, dt=DT, **PRESETS[args.config])
    if "diagnose" in args.stages:
        out["diagnose"] = diagnose(lr_model, data, args.base_cache / "nets",
                                   args.v3_cache / "nets", log)
        save()
    if "drift" in args.stages:
        out["drift"] = drift(lr_model, data, args.base_cache / "nets", log)
        save()
    if "coherence" in args.stages:
        out["coherence"] = coherence(lr_model, data, args.nets_cache / "nets", args.cache, log)
        save()
    q, s, q_test, s_test = training_pool(data)
    variants = out.setdefault("variants", {})
    net_path = args.cache / "nets" / f"{args.variant}.eqx"
    if "train" in args.stages:
        t0 = time.perf_counter()
        if args.start in ("cnn", "equivariant_cnn"):  # from scratch, the offline nets' sizes
            scales = (tuple(layer_rms(np.concatenate([q, q_test]))),
                      tuple(layer_rms(np.concatenate([s, s_test]))))
            start = make_net(args.start, 12, 2, surviving_group(lr_model), scales,
                             jax.random.PRNGKey(1))
        else:
            start = load_closure(args.nets_cache / "nets" / f"{args.start}.eqx")
        kwargs = ({"statistics_reference": q, "discard": args.discard}
                  if args.loss == "statistics" else {})
        if args.starts == "hires":  # coarse-grained hi-res states of the training pool
            pool = q
        else:  # the low-res model's own climate, closed by the starting network
            pool = own_states(lr_model, args.starts, q, args.nets_cache / "nets", args.cache,
                              log, **own_kwargs)
        if args.random_like:  # control: a random move of the same size
            trained = load_closure(args.cache / "nets" / f"{args.random_like}.eqx")
            size = _flat_norm(_diff(trained, start))
            params, static = eqx.partition(start, eqx.is_inexact_array)
            leaves, treedef = jax.tree_util.tree_flatten(params)
            keys = jax.random.split(jax.random.PRNGKey(args.key), len(leaves))
            noise = [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves, strict=True)]
            norm = float(np.sqrt(sum(float(jnp.sum(n**2)) for n in noise)))
            moved = [x + size / norm * n for x, n in zip(leaves, noise, strict=True)]
            res = type("Moved", (), {"model": eqx.combine(
                jax.tree_util.tree_unflatten(treedef, moved), static),
                "history": {"loss": [float("nan")]}})
        if args.along:  # a step of --alpha times a trained variant's change
            trained = load_closure(args.cache / "nets" / f"{args.along}.eqx")
            moved = jax.tree.map(lambda d, x: x + args.alpha * d, _diff(trained, start),
                                 eqx.filter(start, eqx.is_inexact_array))
            res = type("Moved", (), {"model": eqx.combine(
                moved, eqx.filter(start, eqx.is_inexact_array, inverse=True)),
                "history": {"loss": [float("nan")]}})
        res = res if (args.random_like or args.along) else fit_online_qg(
            start, lr_model, [pool], 24, make_optimizer(args.lr, args.steps), args.steps,
            window=args.window, windows_per_case=args.windows, key=jax.random.PRNGKey(args.key),
            loss=args.loss, sample_every=args.every,
            offline=(q, s), offline_weight=args.offline_weight, log=log, log_every=5,
            name=args.variant, **kwargs) if args.loss == "statistics" else None
        if res is None:
            raise NotImplementedError("trajectory variants: use benchmarks.qg_closure_ensemble")
        net_path.parent.mkdir(parents=True, exist_ok=True)
        save_closure(net_path, res.model)
        variants[args.variant] = {
            **{k: v for k, v in vars(args).items() if k not in ("stages",)},
            "loss_history": res.history["loss"],
            "relative_weight_change": (_flat_norm(_diff(res.model, start)) / _flat_norm(start)),
            "test_mse_before": offline_mse(start, lr_model, q_test, s_test),
            "test_mse_after": offline_mse(res.model, lr_model, q_test, s_test),
            "seconds": time.perf_counter() - t0}
        v = variants[args.variant]
        log(f"{args.variant}: loss {v['loss_history'][0]:.4g} -> "
            f"{np.mean(v['loss_history'][-5:]):.4g}, weights moved {v['relative_weight_change']:.3f}"
            f", test MSE {v['test_mse_before']:.3f} -> {v['test_mse_after']:.3f} "
            f"({v['seconds']:.0f} s)")
    if "validate" in args.stages or "train" in args.stages:
        # validation on the training climate (not the scored ensemble): runs from 8 states
        # of the training pool, 120 days, statistics of days 30-120 (as own_states)
        nets_dir = args.cache / "nets" if net_path.exists() else args.nets_cache / "nets"
        if args.config == "jet":
            # from the starting network's own (adjusted) climate, one state per run, so the
            # variant only adjusts from its start's climate to its own (JET "validate")
            base_net = args.start if args.start not in ("cnn", "equivariant_cnn") else (
                args.variant)
            starts = own_states(lr_model, base_net, q, args.nets_cache / "nets", args.cache,
                                log, **own_kwargs)
            val = own_states(lr_model, args.variant, starts, nets_dir, args.cache, log,
                             prefix=f"validation_from_{base_net}", **JET["validate"])
        else:
            val = own_states(lr_model, args.variant, q, nets_dir, args.cache, log)
        v = variants.setdefault(args.variant, {})
        v["validation_misfit"] = float(statistics_misfit(qg_statistics(lr_model, val),
                                                         qg_statistics(lr_model, q)))
        v["validation_ke"] = _mean_ke(*(np.asarray(getattr(
            _fields(lr_model, lr_model.fft(jnp.asarray(val))), k)) for k in ("u", "v"))).mean(
                axis=0).tolist()
        save()
        log(f"{args.variant}: validation misfit ({args.config} validation runs) {v['validation_misfit']:.4f}, "
            f"KE {np.round(np.asarray(v['validation_ke']) * 1e3, 4).tolist()} (1e-3 m2 s-2)")
    if "score" in args.stages and args.config == "jet":
        score_jet(args, variants, net_path, save, log)
    elif "score" in args.stages:
        q_all = np.concatenate([data["q_start"][None], data["q"]])
        q0 = np.stack([q_all[m * SPACING + args.offset] for m in range(MEMBERS)])
        sfx = f"_offset{args.offset}" if args.offset else ""
        ref = {k: data[k] for k in ("q", "u", "v")}
        ref["psi"] = np.asarray(_fields(lr_model, lr_model.fft(jnp.asarray(ref["q"]))).psi)
        reference = Reference(ref, lr_model.L)
        t0 = time.perf_counter()
        base_path = args.cache / f"unclosed_distances{sfx}.json"
        if base_path.exists():
            base = json.loads(base_path.read_text())
        else:
            base = base_distances(run_ensemble(lr_model, q0, DAYS), reference)
            base_path.write_text(json.dumps(base, default=_json))
        log(f"unclosed ensemble: {time.perf_counter() - t0:.0f} s")
        cached = json.loads((args.base_cache / "results.json").read_text())["scores"]
        de = json.loads((args.nets_cache / "results.json").read_text()).get("scores", {})
        # an offline network of --nets-cache scores under its own name (the paired baseline)
        net = load_closure(net_path if net_path.exists()
                           else args.nets_cache / "nets" / f"{args.variant}.eqx")
        runs = run_ensemble(with_closure(lr_model, net), q0, DAYS)
        sc = score(runs, base, reference)
        v = variants.setdefault(args.variant, {})
        v[f"score{sfx}"] = sc
        # the training loss's own measure on the scored runs (all members' days 30-180)
        pooled = np.concatenate([r["q"][30:] for r in runs])
        v[f"statistics_misfit_runs{sfx}"] = float(statistics_misfit(
            qg_statistics(lr_model, pooled), qg_statistics(lr_model, q)))
        # the start network's own scores: the ensemble caches, else this cache's variant of
        # that name (an offline network scored here first, e.g. another training seed)
        scored_here = "score" in variants.get(args.start, {})
        against = args.start if (args.start in cached or args.start in de
                                 or scored_here) else (
            "equivariant_cnn_small_100_s0" if "equivariant" in args.start
            else "cnn_small_100_s0")
        if args.offset:  # held-out starts: the baseline scored here first (same offset)
            other = variants[against][f"score{sfx}"]["members"]
        else:
            other = (cached.get(against) or de.get(against)
                     or variants[against]["score"])["members"]
        v["paired_vs"] = against
        v[f"paired_all{sfx}"] = paired(sc["members"], other)
        save()
        log(f"{args.variant}: all {sc['all'][0]:+.3f} ± {sc['all'][1]:.3f}, distrib. "
            f"{sc['distributional'][0]:+.3f} ± {sc['distributional'][1]:.3f}, spectral "
            f"{sc['spectral'][0]:+.3f} ± {sc['spectral'][1]:.3f}, KE {sc['ke_per_layer']}; "
            f"paired − {against}: {v[f'paired_all{sfx}'][0]:+.3f} ± "
            f"{v[f'paired_all{sfx}'][1]:.3f}; statistics misfit of the runs "
            f"{v[f'statistics_misfit_runs{sfx}']:.4f} (starts offset {args.offset} days)")
    if args.out is not None:
        stored = {p.stem: json.loads(p.read_text())
                  for p in sorted((results_dir / "variants").glob("*.json"))}
        pool_ke = _mean_ke(*(np.asarray(getattr(_fields(lr_model, lr_model.fft(
            jnp.asarray(q))), k)) for k in ("u", "v"))).mean(axis=0).tolist()
        settings_out = {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()
                        if k != "score_caches"}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"config": args.config, "settings": settings_out,
                                        "training_pool_ke": pool_ke, "variants": stored},
                                       indent=1, default=_json))
    return out


if __name__ == "__main__":
    main()
