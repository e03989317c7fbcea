"""A neural vertical-mixing closure for the column, trained online against CATKE.

1. Reference runs: ``ColumnModel`` with ``CATKELike`` for three training forcings (surface
   cooling, wind, cooling + wind) on a stratified, rotating column (nz = 32 over 128 m,
   dT/dz = 0.01 K m⁻¹, f = 1e-4 s⁻¹, Δt = 10 min, 3 days, hourly samples).
2. Online training: ``NeuralDiffusivityClosure`` (MLP of asinh N², asinh S², asinh Jᵇ, u★,
   depth → softplus ν, κ) replaces CATKE in the same models; ``learning.fit_online`` trains its
   weights with Adam on multi-step windows started from reference states, differentiating
   through ``ColumnModel.run`` (a curriculum of window lengths up to the whole run).
3. Baseline: ``ConstantDiffusivity`` with ν and κ fitted on the same training runs (grid search
   over log10 ν × log10 κ, then L-BFGS in log space, minimising the same loss over whole runs).
4. Evaluation on held-out forcings (other flux magnitudes and combinations): RMSE of T (K) and
   u, v (m s⁻¹) profiles against CATKE over every hourly profile of the 3-day runs, started from
   the initial state.

Run:  python examples/column_neural_closure.py          (a few minutes on one CPU core)
      python examples/column_neural_closure.py --small  (under a minute; used by the tests)
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

import pyclimaocean  # noqa: F401  (enables float64)
from pyclimaocean import learning
from pyclimaocean.closures import CATKELike, ConstantDiffusivity, NeuralDiffusivityClosure
from pyclimaocean.fluxes.surface import SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel, InitialConditions

#: training forcings: heat flux (W m⁻², < 0 cools) and eastward wind stress (N m⁻²)
TRAINING = {
    "cooling": dict(heat_flux=-100.0, wind_stress_x=0.0),
    "wind": dict(heat_flux=0.0, wind_stress_x=0.1),
    "cooling + wind": dict(heat_flux=-50.0, wind_stress_x=0.05),
}
#: held-out forcings: other magnitudes and combinations
HELD_OUT = {
    "strong cooling": dict(heat_flux=-175.0, wind_stress_x=0.0),
    "weak wind": dict(heat_flux=0.0, wind_stress_x=0.06),
    "cooling + strong wind": dict(heat_flux=-150.0, wind_stress_x=0.08),
    "weak cooling + wind": dict(heat_flux=-25.0, wind_stress_x=0.12),
}

TEMPERATURE_SCALE = 0.01  # K: loss weight of T errors
VELOCITY_SCALE = 0.01  # m s⁻¹: loss weight of u, v errors


def column(forcing: dict, closure, nz: int = 32, dt: float = 600.0) -> ColumnModel:
    """The test column: 128 m deep, linearly stratified (dT/dz = 0.01 K m⁻¹), f = 1e-4 s⁻¹."""
    return ColumnModel(
        grid=ColumnGrid(nz=nz, depth=128.0),
        closure=closure,
        forcing=SurfaceForcing(**forcing),
        initial_conditions=InitialConditions(temperature_gradient=0.01),
        coriolis_parameter=1e-4,
        dt=dt,
    )


def observe(state):
    """What is compared with the reference: T (°C), u, v (m s⁻¹) profiles."""
    return {"T": state.temperature, "u": state.u, "v": state.v}


def loss(predicted, reference):
    """Normalised squared profile error: T in units of 0.01 K, (u, v) of 0.01 m s⁻¹."""
    t = jnp.mean((predicted["T"] - reference["T"]) ** 2) / TEMPERATURE_SCALE**2
    uv = jnp.mean((predicted["u"] - reference["u"]) ** 2 + (predicted["v"] - reference["v"]) ** 2)
    return t + 0.5 * uv / VELOCITY_SCALE**2


def references(cases: dict, n_samples: int, save_every: int, nz: int, dt: float) -> list:
    return [
        learning.reference_trajectory(column(f, CATKELike(), nz, dt), n_samples, save_every)
        for f in cases.values()
    ]


def fit_constant_diffusivity(refs, nz: int, dt: float) -> tuple[ConstantDiffusivity, float]:
    """ν, κ minimising the whole-run training loss: an 11 × 13 grid over log10 ν ∈ [-5, 0] ×
    log10 κ ∈ [-6, 0], then L-BFGS-B in log space from the best grid point.

    Returns the closure and its loss."""
    start = ConstantDiffusivity(viscosity=jnp.asarray(1e-3), diffusivity=jnp.asarray(1e-4))
    models = [column(f, start, nz, dt) for f in TRAINING.values()]
    trainable = learning.select_trainable(models[0], lambda m: m.closure)
    params, loss_fn = learning.make_trajectory_loss(
        models, refs, trainable, loss=loss, observe=observe
    )
    whole_run = (refs[0].n_samples, jnp.zeros((len(models), 1), dtype=int))

    def objective(log10_nu_kappa):
        p = eqx.tree_at(
            lambda p: (p.closure.viscosity, p.closure.diffusivity),
            params,
            tuple(10.0**log10_nu_kappa),
        )
        return loss_fn(p, whole_run)

    # one compiled function for both the grid search and L-BFGS-B
    value_and_grad = jax.jit(jax.value_and_grad(objective))

    def f(x):
        value, grad = value_and_grad(jnp.asarray(x, dtype=float))
        return float(value), np.asarray(grad, dtype=float)

    grid = [(a, b) for a in np.linspace(-5, 0, 11) for b in np.linspace(-6, 0, 13)]
    values = [f(x)[0] for x in grid]
    best = grid[int(np.nanargmin(values))]
    opt = scipy.optimize.minimize(f, best, jac=True, method="L-BFGS-B", bounds=[(-6, 1), (-7, 1)])
    nu, kappa = 10.0**opt.x
    return ConstantDiffusivity(viscosity=float(nu), diffusivity=float(kappa)), float(opt.fun)


def train_neural_closure(
    refs,
    nz: int,
    dt: float,
    n_steps: int,
    schedule,
    *,
    width: int,
    seed: int = 0,
    log_every: int = 50,
):
    closure = NeuralDiffusivityClosure(width=width, depth=2, key=jax.random.PRNGKey(seed))
    models = [column(f, closure, nz, dt) for f in TRAINING.values()]
    return learning.fit_online(
        models,
        refs,
        learning.make_optimizer(3e-3, n_steps, clip_norm=10.0),
        n_steps,
        trainable=learning.select_trainable(models[0], lambda m: m.closure),
        window=schedule,
        windows_per_case=4,
        loss=loss,
        observe=observe,
        key=jax.random.PRNGKey(seed + 1),
        log_every=log_every,
        name="online",
    )


def run(small: bool = False, seed: int = 0, log=print) -> dict:
    """Train, fit the baseline, evaluate; returns ``{"rows": [...], ...}`` (RMSE per case)."""
    nz, dt, save_every = 32, 600.0, 6
    if small:
        n_samples, n_steps, schedule, width = 36, 150, [(0, 6), (75, 36)], 8
    else:
        n_samples, n_steps, schedule, width = 72, 600, [(0, 6), (150, 24), (350, 72)], 16
    t0 = time.perf_counter()
    train_refs = references(TRAINING, n_samples, save_every, nz, dt)
    test_refs = references(HELD_OUT, n_samples, save_every, nz, dt)
    constant, constant_loss = fit_constant_diffusivity(train_refs, nz, dt)
    log(
        f"constant baseline: viscosity {constant.viscosity:.3g} m2 s-1, diffusivity "
        f"{constant.diffusivity:.3g} m2 s-1 (training loss {constant_loss:.4g})"
    )
    result = train_neural_closure(
        train_refs,
        nz,
        dt,
        n_steps,
        schedule,
        width=width,
        seed=seed,
        log_every=50 if small else 100,
    )
    network = result.model.closure
    rows = []
    for split, cases, refs in (("train", TRAINING, train_refs), ("held-out", HELD_OUT, test_refs)):
        for (name, forcing), ref in zip(cases.items(), refs, strict=True):
            row = {"split": split, "case": name, **forcing}
            # scale of the signal: RMSE of "nothing happens" (the initial T profile throughout)
            t_ref = np.asarray(ref.states.temperature)
            row["T_change"] = float(np.sqrt(np.mean((t_ref[1:] - t_ref[0]) ** 2)))
            for label, closure in (("network", network), ("constant", constant)):
                rmse = learning.trajectory_rmse(column(forcing, closure, nz, dt), ref, observe)
                row.update({f"{label}_{k}": v for k, v in rmse.items()})
            rows.append(row)
    return {
        "rows": rows,
        "constant": constant,
        "network": network,
        "history": result.history,
        "elapsed_s": time.perf_counter() - t0,
        "setup": dict(
            nz=nz,
            dt=dt,
            n_samples=n_samples,
            save_every=save_every,
            n_steps=n_steps,
            schedule=schedule,
            width=width,
            seed=seed,
        ),
    }


def table(rows) -> str:
    header = (
        f"{'split':9s} {'case':22s} {'Q W/m2':>7s} {'tau N/m2':>8s} | {'T change':>8s} | "
        f"{'T net':>8s} {'T const':>8s} | {'u net':>7s} {'u const':>7s} | "
        f"{'v net':>7s} {'v const':>7s}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['split']:9s} {r['case']:22s} {r['heat_flux']:7.0f} {r['wind_stress_x']:8.2f} | "
            f"{r['T_change']:8.4f} | "
            f"{r['network_T']:8.4f} {r['constant_T']:8.4f} | "
            f"{r['network_u']:7.4f} {r['constant_u']:7.4f} | "
            f"{r['network_v']:7.4f} {r['constant_v']:7.4f}"
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small training, for the tests")
    parser.add_argument("--seed", type=int, default=0, help="network initialisation seed")
    args = parser.parse_args(argv)
    out = run(small=args.small, seed=args.seed)
    print(
        "\nProfile RMSE against CATKE (T in K, u and v in m s-1) over whole runs from t = 0; "
        "'T change': RMSE of the initial T profile (the size of the signal):"
    )
    print(table(out["rows"]))
    print(f"\n({out['elapsed_s']:.0f} s; setup {out['setup']})")
    return out


if __name__ == "__main__":
    main()
