"""Twin calibration of air–ice–ocean flux parameters through the coupled ocean–sea-ice column.

A seasonal ice zone: the coupled column (12 levels, 60 m, CATKE; 1 m of ice in January)
under the idealised Arctic atmosphere warmed by 3 K with 20 W m⁻² more longwave, so that the
ice melts out in summer, the leads open and the ocean warms, and the ice forms again in
autumn.  The "truth" run (ice albedo 0.58, ice–ocean heat-transfer coefficient α_h = 0.009,
COARE Charnock slope 0.0025) is observed every 5 days over one 360-day year (surface-cell
temperature σ = 0.05 K, ice thickness σ = 0.05 m, ice concentration σ = 0.05, noise added);
the first guess is the default (0.64, 0.006, 0.0017).  Two calibrations of the same
:class:`~pyclimaocean.calibration.Problem` side by side: L-BFGS-B with the adjoint gradient
through the coupled run (bulk-flux fixed points, ice, CATKE column), and ensemble Kalman
inversion (derivative-free, ``vmap`` over members).

Run (about 10 min on 2 shared cores; writes ``summary.json`` and ``twin.png``)::

    python examples/coupled_twin_calibration.py -o runs/coupled_twin
    python examples/coupled_twin_calibration.py --days 60 --ensemble 4 --iterations 1 \\
        --lbfgs-iterations 2 -o /tmp/twin      # a small variant
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401  (float64)
from pyclimaocean.calibration import Problem, calibrate, ensemble_kalman_inversion
from pyclimaocean.calibration.simulator import model_twin
from pyclimaocean.models.coupled import CoupledColumn, arctic_atmosphere, default_ocean
from pyclimaocean.plotting import pyplot, save_figure

PATHS = ("thermodynamics.ice_albedo", "thermodynamics.heat_transfer_coefficient",
         "exchange.ocean_fluxes.roughness.charnock_slope")
TRUTH = (0.58, 0.009, 0.0025)
ERRORS = {"sst": 0.05, "h": 0.05, "concentration": 0.05}


def seasonal_ice_zone(dt: float = 43200.0) -> CoupledColumn:
    ocean = default_ocean(dt=dt, nz=12, depth=60.0, surface_temperature=-1.75,
                          mixed_layer_depth=30.0)
    return CoupledColumn(atmosphere=arctic_atmosphere(longwave_offset=20.0, warming=3.0),
                         ocean=ocean, initial_ice_thickness=1.0, initial_snow_thickness=0.0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=360)
    ap.add_argument("--dt", type=float, default=43200.0)
    ap.add_argument("--ensemble", type=int, default=10)
    ap.add_argument("--iterations", type=int, default=8, help="EKI iterations")
    ap.add_argument("--lbfgs-iterations", type=int, default=30)
    ap.add_argument("-o", "--output", default="runs/coupled_twin")
    args = ap.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    model = seasonal_ice_zone(args.dt)
    steps_per_day = int(round(86400.0 / args.dt))
    n_steps, save_every = args.days * steps_per_day, 5 * steps_per_day
    controls = model.parameters(list(PATHS))
    truth = controls.with_values(dict(zip(PATHS, TRUTH, strict=True)))
    cases, observations = model_twin({"seasonal_ice_zone": model}, truth, n_steps=n_steps,
                                     save_every=save_every, error_std=ERRORS, seed=1)
    problem = Problem(controls, cases)

    t0 = time.perf_counter()
    lbfgs = calibrate(problem, "scipy_lbfgsb", max_iterations=args.lbfgs_iterations)
    eki = ensemble_kalman_inversion(problem, ensemble_size=args.ensemble,
                                    max_iterations=args.iterations, seed=2)
    # one compiled forward run (raw outputs of the unconstrained vector u) for the misfits at
    # the first guess and the truth and for the four plotted runs (each eager call, or each
    # further jitted function, would compile the coupled run again)
    case = problem.cases[0]
    run = jax.jit(lambda u: case.outputs(problem.theta(u)))
    u_truth = problem.unconstrained(jnp.asarray(TRUTH))
    outputs = {"first guess": run(problem.u0), "L-BFGS-B": run(jnp.asarray(lbfgs.u)),
               "EKI": run(jnp.asarray(eki.u)), "truth": run(u_truth)}

    def data_misfit(outputs):  # problem.data_misfit from the run's outputs (one case)
        return float(0.5 * jnp.sum(problem.residuals_from_prediction(case.operator(outputs)) ** 2))

    misfit = {"first_guess": data_misfit(outputs["first guess"]),
              "truth": data_misfit(outputs["truth"]),
              "lbfgsb": float(lbfgs.data_misfit), "eki": float(eki.data_misfit),
              "n_observations": int(problem.n_observations)}
    summary = {
        "setup": {"days": args.days, "dt": args.dt, "observations": int(problem.cases[0].size),
                  "errors": ERRORS, "truth": dict(zip(PATHS, TRUTH, strict=True)),
                  "first_guess": {p: float(controls[p].value) for p in PATHS}},
        "lbfgsb": lbfgs.summary(),
        "eki": eki.summary(),
        "misfit": misfit,
        "wall_time_s": time.perf_counter() - t0,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_twin(observations["seasonal_ice_zone"], outputs, out / "twin.png")
    return summary


def plot_twin(obs, outputs, path):
    """Observations, first guess, truth and both calibrated runs (``outputs``: label -> raw
    model outputs) of SST, h and concentration."""
    plt = pyplot()
    days = np.arange(1, next(iter(outputs.values()))["h"].shape[0] + 1) * 5.0
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), layout="constrained", sharex=True)
    t_obs = (obs["time"].values - obs["time"].values[0]) / np.timedelta64(1, "D") + 5.0 \
        if np.issubdtype(obs["time"].dtype, np.datetime64) else obs["time"].values / 86400.0
    for ax, name, label in zip(axes, ("sst", "h", "concentration"),
                               ("surface-cell T (°C)", "ice thickness (m)", "ice fraction"),
                               strict=True):
        ax.plot(t_obs, obs[name].values, "k.", ms=3, label="observations")
        for (k, o), style in zip(outputs.items(), ("C7--", "C0-", "C1-", "k:"), strict=True):
            ax.plot(days, np.asarray(o[name]), style, lw=1.2, label=k)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=3)
    axes[-1].set_xlabel("model day")
    fig.suptitle("coupled ocean-sea-ice twin: L-BFGS-B (adjoint) vs EKI")
    save_figure(fig, path)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
