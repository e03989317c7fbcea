"""Learned subgrid closures of two-layer QG turbulence, end to end in a few minutes.

1. Run the high-resolution "eddy" configuration (Ross et al. 2023), coarse-grain snapshots
   (spectral truncation + exponential filter, their Operator 1) and diagnose the subgrid PV
   forcing the low-resolution model misses.
2. Train, offline, a plain periodic CNN and a CNN equivariant under the symmetry the
   configuration keeps (the reflection y -> -y with q -> -q: beta and the mean shear break
   the others), and fine-tune the equivariant one online through the solver.
3. Discover a momentum closure by sparse regression on velocity-gradient terms (the
   Zanna-Bolton 2020 structure).
4. Run the low-resolution model with each closure.

    python examples/qg_learned_closure.py                      # 64 -> 16, about 3 minutes
    python examples/qg_learned_closure.py --nx-hr 128 --nx-lr 32 --steps 400

Full-size settings (Ross et al.): 256 -> 64, 10 years, networks of 8 layers x 64-128
channels, 10^4+ optimisation steps (benchmarks/qg_learned_closures.py --size full).
"""

from __future__ import annotations

import argparse

import equinox as eqx
import jax
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.discovery.qg import discover_momentum_closure
from pyclimaocean.learning import make_optimizer
from pyclimaocean.learning.qg import fit_offline, fit_online_qg, layer_rms, offline_mse
from pyclimaocean.models.qg import (
    Coarsener,
    ConvQGClosure,
    EquivariantQGClosure,
    TwoLayerQG,
    coarse_grain,
    kinetic_energy,
    surviving_group,
)
from pyclimaocean.models.qg.config import PRESETS

DT = 3600.0
YEAR = 360 * 86400.0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nx-hr", type=int, default=64)
    p.add_argument("--nx-lr", type=int, default=16)
    p.add_argument("--spinup-years", type=float, default=1.0)
    p.add_argument("--samples", type=int, default=60, help="snapshots, one every 2 days")
    p.add_argument("--steps", type=int, default=150, help="offline optimisation steps")
    p.add_argument("--online-steps", type=int, default=10)
    args = p.parse_args()

    hr = TwoLayerQG(nx=args.nx_hr, dt=DT, **PRESETS["eddy"])
    coarsener = Coarsener(hr, args.nx_lr, filter="exponential")
    lr = coarsener.lr
    advance = eqx.filter_jit(lambda m, s, n: m.run(s, n, checkpoint_every=None)[0])
    cg = eqx.filter_jit(coarse_grain)
    state = advance(hr, hr.initial_state(), int(args.spinup_years * YEAR / DT))
    snaps = []
    for _ in range(args.samples):
        state = advance(hr, state, 48)
        snaps.append(jax.device_get(cg(coarsener, state.qh)))
    data = {k: np.stack([s[k] for s in snaps]) for k in ("q", "q_forcing", "u_forcing",
                                                          "v_forcing")}
    n_train = int(0.8 * args.samples)
    q, s = data["q"], data["q_forcing"]
    print(f"data: {hr.nx} -> {lr.nx}, {args.samples} snapshots ({n_train} for training)")

    group = surviving_group(lr)
    scales = {"input_scale": tuple(layer_rms(q)), "output_scale": tuple(layer_rms(s))}
    nets = {
        "plain CNN": ConvQGClosure("q", width=8, depth=2, kernel_size=5, **scales,
                                   key=jax.random.PRNGKey(1)),
        f"{group}-equivariant CNN": EquivariantQGClosure(group, width=4, depth=2,
                                                          kernel_size=5, **scales,
                                                          key=jax.random.PRNGKey(1)),
    }
    print(f"surviving symmetry group of the eddy configuration: {group}")
    trained = {}
    for name, net in nets.items():
        res = fit_offline(net, lr, q[:n_train], s[:n_train], make_optimizer(2e-3, args.steps),
                          args.steps, batch_size=8, key=jax.random.PRNGKey(2), log=None)
        trained[name] = res.model
        print(f"{name}: {net.n_parameters()} parameters, offline test MSE "
              f"{offline_mse(res.model, lr, q[n_train:], s[n_train:]):.3f} (1 = predicting 0)")

    eq_name = f"{group}-equivariant CNN"
    fine = []
    st = state
    for _ in range(24):
        st = advance(hr, st, 6)
        fine.append(np.asarray(cg(coarsener, st.qh)["q"]))
    res = fit_online_qg(trained[eq_name], lr, [np.stack(fine)], 6,
                        make_optimizer(5e-4, args.online_steps), args.online_steps, window=3,
                        key=jax.random.PRNGKey(3), log=None)
    print(f"online fine-tuning ({eq_name}): window loss {res.history['loss'][0]:.4f} -> "
          f"{res.history['loss'][-1]:.4f}")
    trained[eq_name + " (online)"] = res.model

    found = discover_momentum_closure(lr, data["q"], data["u_forcing"], data["v_forcing"])
    print(f"discovered momentum closure (R^2 = {found.r2:.2f}): "
          + ", ".join(f"{k} = {v:.3g}" for k, v in found.active.items()))

    q0 = cg(coarsener, state.qh)["q"]
    n_days = 60
    for name, closure in {"no closure": None, **trained,
                          "discovered": found.closure}.items():
        model = eqx.tree_at(lambda m: m.closure, lr, closure, is_leaf=lambda x: x is None)
        final = advance(model, model.state_from_q(q0), n_days * 24)
        ke = np.asarray(kinetic_energy(model, final.qh))
        print(f"low-res {lr.nx} with {name}: KE after {n_days} days = "
              f"{ke[0]:.3e}, {ke[1]:.3e} m2 s-2 (upper, lower)")


if __name__ == "__main__":
    main()
