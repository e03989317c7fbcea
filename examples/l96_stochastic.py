"""Stochastic parameterisation of the two-scale Lorenz-96 system (Arnold et al. 2013 style).

Fits a cubic deterministic closure U_det(X) to the diagnosed subgrid tendency of the
two-scale truth, estimates AR(1) noise (additive and multiplicative) from the residual, runs
ensemble forecasts from held-out truth states (vmap over members) and prints the ensemble
spread / RMSE ratio against lead time (1 = reliable), plus the gradient of an ensemble loss
with respect to the cubic coefficients through the stochastic solver.

Run:  python examples/l96_stochastic.py            (about a minute)
      python examples/l96_stochastic.py --small    (a few seconds; used by the tests)
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import pyclimaocean  # noqa: F401  (enables float64)
from pyclimaocean import learning
from pyclimaocean.models.lorenz96 import Lorenz96, arnold_2013, spun_up_state


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes for a quick check")
    parser.add_argument("--members", type=int, default=None, help="ensemble members")
    args = parser.parse_args(argv)
    train_time, test_time, n_starts, members = (
        (10.0, 8.0, 16, 8) if args.small else (100.0, 60.0, 100, 20)
    )
    members = args.members or members

    truth, dt = arnold_2013()  # K=8, J=32, h=1, b=c=10, F=20; truth step 0.001 MTU
    sample_every = 5  # coarse step 0.005 MTU
    n_train, n_test = int(train_time / (dt * sample_every)), int(test_time / (dt * sample_every))
    data, _ = learning.generate_two_scale_data(
        truth,
        spun_up_state(truth, dt, 5000),
        dt=dt,
        n_samples=n_train + 200 + n_test,
        sample_every=sample_every,
    )
    train = learning.ClosureData(data.x[:n_train], data.subgrid[:n_train], data.dt)
    test = learning.ClosureData(data.x[-n_test:], data.subgrid[-n_test:], data.dt)
    base = Lorenz96(n=truth.K, forcing=float(truth.forcing))
    coarse_dt = data.dt

    lead_stride, n_saved = 10, 40  # save every 0.05 MTU up to 2 MTU
    starts = np.linspace(0, test.n_samples - lead_stride * n_saved - 1, n_starts).astype(int)
    verif = learning.trajectory_windows(test.x, jnp.asarray(starts), lead_stride * n_saved)
    verif = verif[:, lead_stride::lead_stride]
    results = {}
    for kind in ("additive", "multiplicative"):
        closure = learning.fit_stochastic_closure(train.x, train.subgrid, coarse_dt, kind)
        a = np.asarray(closure.deterministic.coefficients)
        print(
            f"{kind}: U_det = {a[0]:.3f} + {a[1]:.3f} X + {a[2]:.4f} X^2 + {a[3]:.5f} X^3; "
            f"AR(1) tau = {float(closure.noise.correlation_time):.4f} MTU, "
            f"phi(dt) = {float(closure.noise.phi(coarse_dt)):.4f}, "
            f"sigma = {float(closure.noise.sigma):.3f}"
        )
        forecast = jax.jit(
            jax.vmap(
                lambda x0, key, c=closure: learning.ensemble_forecast(
                    base, c, x0, coarse_dt, n_saved, lead_stride, key=key, n_members=members
                )
            )
        )
        ens = forecast(test.x[starts], jax.random.split(jax.random.PRNGKey(7), len(starts)))
        se = learning.spread_error(ens, verif)
        print("   lead (MTU)   spread    RMSE   ratio")
        for i in (1, 3, 9, 19, 39):
            lead = (i + 1) * lead_stride * coarse_dt
            print(
                f"   {lead:9.2f}  {se['spread'][i]:7.3f} {se['rmse'][i]:7.3f} {se['ratio'][i]:7.3f}"
            )
        results[kind] = se

    # Gradient of the ensemble-mean forecast error w.r.t. the cubic coefficients, through the
    # stochastic RK4 solver (reparameterised noise: fixed key, noise independent of parameters).
    closure = learning.fit_stochastic_closure(train.x, train.subgrid, coarse_dt, "additive")

    def loss(coefficients):
        c = learning.StochasticClosure(
            learning.PolynomialClosure(coefficients), closure.noise, closure.kind
        )
        ens = learning.ensemble_forecast(
            base,
            c,
            test.x[starts[0]],
            coarse_dt,
            2,
            lead_stride,
            key=jax.random.PRNGKey(0),
            n_members=members,
        )
        return jnp.mean((ens.mean(axis=0) - verif[0, :2]) ** 2)

    grad = jax.grad(loss)(closure.deterministic.coefficients)
    print("d(ensemble loss)/d(cubic coefficients) =", np.asarray(grad))
    results["gradient"] = grad
    return results


if __name__ == "__main__":
    main()
