"""Host-side overhead of experiments: what ``pyclimaocean.experiment`` changes around the
``Simulation`` runner.

1. *Ensemble members*: 8 members of the free-convection column (nz = 16, 72 steps) that
   differ only in a closure parameter.  ``Simulation`` alone compiles its chunk once per
   member (the model is closed over); ``run_experiment`` passes the model as an argument of one
   ``eqx.filter_jit`` function and compiles once per process.
2. *Frequent outputs*: 120 steps with an output every step and a checkpoint every 2 steps.
   ``Simulation.dataset`` stacks the outputs with ``jnp.stack`` (one XLA compilation per
   distinct number of outputs); ``run_experiment`` stacks them on the host with NumPy.

Wall times in seconds, on this machine's CPU; ratios are what to compare.

Run: ``python -m benchmarks.experiment_overhead``
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "column_free_convection.toml"
SMALL = ["grid.nz=16", "time.stop_time=43200", "time.output_interval=3600",
         "output.plots=false"]


def _plain_simulation(overrides, out):
    """The same run through ``Simulation`` alone (its own compilation and output stacking)."""
    from pyclimaocean.experiment import _build, _checkpoint_steps, load_experiment
    from pyclimaocean.simulation import Simulation

    cfg, _ = load_experiment(CONFIG, overrides)
    t = cfg.time
    sim = Simulation(_build(cfg), n_steps=t.n_steps, output_every=t.output_every,
                     checkpoint_every=_checkpoint_steps(t), output_dir=out)
    return sim.run()


def main() -> None:
    from pyclimaocean.experiment import run_experiment

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # warm-up: imports, backend initialisation
        run_experiment(CONFIG, tmp / "warm", SMALL, report=False)
        values = [0.05 + 0.05 * i for i in range(8)]
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            _plain_simulation([*SMALL, f"closure.c_hi_c={v}"], tmp / f"plain{i}")
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            run_experiment(CONFIG, tmp / f"shared{i}", [*SMALL, f"closure.c_hi_c={v}"],
                           report=False)
        shared = time.perf_counter() - t0
        rows.append(("8 ensemble members, 72 steps each", plain, shared))

        frequent = ["grid.nz=16", "time.stop_time=72000", "time.output_interval=600",
                    "time.checkpoint_interval=1200", "output.plots=false"]
        t0 = time.perf_counter()
        _plain_simulation(frequent, tmp / "freq_plain")
        plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_experiment(CONFIG, tmp / "freq_exp", frequent, report=False)
        shared = time.perf_counter() - t0
        rows.append(("120 steps, output every step, checkpoint every 2", plain, shared))

    print(f"{'case':<52} {'Simulation (s)':>15} {'run_experiment (s)':>19} {'speed-up':>9}")
    for name, a, b in rows:
        print(f"{name:<52} {a:>15.2f} {b:>19.2f} {a / b:>8.1f}x")


if __name__ == "__main__":
    main()
