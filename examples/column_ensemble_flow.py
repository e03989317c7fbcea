"""Parameter-perturbation ensemble of the free-convection column as a Prefect flow on Dask.

Perturbs two CATKE-like closure constants (c_hi_c, c_conv_c) from their priors/bounds, runs
the members in parallel on a local Dask cluster (or an existing one), and prints the spread
of the final mixed-layer depth.  Offline: Prefect uses a temporary local API.

    python examples/column_ensemble_flow.py --members 16 -o runs/column_ensemble
    python examples/column_ensemble_flow.py -o runs/column_ensemble --resume   # after a crash
    python examples/column_ensemble_flow.py --dask-address tcp://127.0.0.1:8786
"""

from __future__ import annotations

import argparse
from pathlib import Path

CONFIG = Path(__file__).with_name("column_free_convection.toml")


def main(argv=None) -> dict:
    from pyclimaocean.workflows import launch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", "-n", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", "-o", default="runs/column_ensemble")
    p.add_argument("--set", action="append", default=[], help="config override key=value")
    p.add_argument("--dask-address", default=None, help="existing Dask scheduler")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    res = launch("ensemble", dask_address=args.dask_address, n_workers=args.workers,
                 config=str(CONFIG), output_dir=args.output_dir, overrides=args.set,
                 parameters=["c_hi_c", "c_conv_c"], members=args.members, seed=args.seed,
                 force=not args.resume, resume=args.resume)
    print(f"{'member':>6} {'c_hi_c':>9} {'c_conv_c':>9} {'MLD (m)':>8}")
    for m in res["members"]:
        v = m["parameters"]
        print(f"{m['member']:>6} {v['closure.c_hi_c']:>9.4f} {v['closure.c_conv_c']:>9.4f} "
              f"{m['diagnostics'].get('final_mixed_layer_depth', float('nan')):>8.2f}")
    print(f"report: {res['output_dir']}/report.md")
    return res


if __name__ == "__main__":  # needed: the local Dask cluster starts worker processes
    main()
