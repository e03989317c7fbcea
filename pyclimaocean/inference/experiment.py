"""Config-file driven posterior inference: the Python API behind ``pyclimaocean infer``.

An inference config is a calibration config (the run config of any registered model +
``[calibration]``, see :mod:`pyclimaocean.calibration.experiment`) plus an ``[inference]``
section::

    [inference]
    method = "laplace"              # laplace | svi
    hessian = "gauss_newton"        # laplace (and the start of svi): dense | hvp | gauss_newton
    guide = "multivariate_normal"   # svi: normal | multivariate_normal | low_rank
    num_steps = 2000                # svi
    learning_rate = 0.01            # svi (Adam, decayed exponentially to 5 % over the run)
    num_samples = 2000
    precision = 0.01                # relative posterior std above which a parameter is
                                    # listed as imprecise (identifiability is separate)

The MAP is found first (SciPy L-BFGS-B on the posterior Φ(u), ``regularization`` must be
``"prior"``); Laplace is built there and SVI starts there.  Writes ``posterior.nc`` (arviz
InferenceData: posterior, prior, posterior predictive, observed data), ``history.nc`` (MAP
search), ``summary.json`` (intervals, identifiability, Hessian eigen-spectrum),
``corner.png``, ``profiles_<case>.png`` (prior vs posterior vs truth, for a variable with one
dim), ``config.toml``, and the observations, into a directory that follows the one policy of
:func:`pyclimaocean.experiment.prepare_output_dir`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ..calibration.experiment import (
    build_calibration,
    check_output_dir,
    load_calibration,
    prepare_output_dir,
    profile_figures,
    write_common,
    write_json_atomic,
)
from ..calibration.optimize import calibrate_scipy
from ..calibration.plots import plot_corner
from ..config import ConfigError, Section
from .laplace import laplace
from .results import prior_samples, write_netcdf_atomic
from .svi import run_svi

__all__ = ["INFERENCE_SECTIONS", "InferenceSection", "infer_from_file"]


class InferenceSection(Section):
    method: Literal["laplace", "svi"] = "laplace"
    hessian: Literal["dense", "hvp", "gauss_newton"] = "gauss_newton"
    guide: Literal["normal", "multivariate_normal", "low_rank"] = "multivariate_normal"
    num_steps: int = Field(2000, ge=1, le=10**6)
    learning_rate: float = Field(0.01, gt=0)
    num_particles: int = Field(4, ge=1, le=1000)
    num_samples: int = Field(2000, ge=10, le=10**6)
    precision: float = Field(0.01, gt=0)
    prior_ensemble: int = Field(50, ge=0, le=10000, description="prior runs for the profile figure")
    posterior_ensemble: int = Field(50, ge=0, le=10000, description="posterior runs for the profile figure")


#: the sections an inference config adds to a calibration config (``load_calibration(...,
#: sections=INFERENCE_SECTIONS)``)
INFERENCE_SECTIONS = {"inference": (InferenceSection, InferenceSection())}


def infer_from_file(
    config_path: str | Path,
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    force: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the inference a config describes and write its outputs (module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax


    cfg, raw = load_calibration(config_path, overrides, sections=INFERENCE_SECTIONS)
    if cfg.calibration.regularization != "prior":
        raise ConfigError(
            f"config error in {config_path}:\n  calibration.regularization = "
            f"{cfg.calibration.regularization!r}: inference needs 'prior'"
        )
    out = output_dir or Path("runs") / f"{cfg.experiment.name}_inference"
    check_output_dir(out, force=force)  # refuse before the twin is built and compiled
    setup = build_calibration(cfg, raw, str(config_path), needs_gradients=True)  # MAP + Hessian
    out = prepare_output_dir(out, force)
    problem, inf = setup.problem, cfg.inference
    files = write_common(out, raw, setup)
    cal = cfg.calibration
    map_res = calibrate_scipy(problem, max_iterations=cal.max_iterations, gtol=cal.gtol,
                              ftol=cal.method_ftol("scipy_lbfgsb"),
                              progress=progress)
    files.append(write_netcdf_atomic(map_res.history, out / "history.nc"))
    seed = cfg.experiment.seed
    if inf.method == "laplace":
        post = laplace(problem, map_res.u, method=inf.hessian, num_samples=inf.num_samples, seed=seed,
                       precision=inf.precision, optimizer_result=map_res)
    else:
        # warm start from the Laplace approximation at the MAP: a cold start from a small
        # spread under-converges (the guide's spread grows slowly; see docs/calibration.md)
        start = laplace(problem, map_res.u, method=inf.hessian, num_samples=max(inf.num_samples, 1000),
                        seed=seed, optimizer_result=map_res)
        post = run_svi(problem, guide=inf.guide, num_steps=inf.num_steps, num_particles=inf.num_particles,
                       optimizer=optax.adam(optax.exponential_decay(inf.learning_rate, inf.num_steps, 0.05)),
                       num_samples=inf.num_samples, init_from=start, seed=seed, progress=progress)
    key = jax.random.PRNGKey(seed + 1)
    prior = prior_samples(problem, max(inf.num_samples, 2), key)
    idata = post.to_inference_data(problem, prior=prior, max_predictive=min(200, inf.num_samples))
    files.append(write_netcdf_atomic(idata, out / "posterior.nc"))
    summary = post.summary()
    summary["map"] = map_res.summary()
    summary["priors"] = problem.prior_report()
    if setup.truth is not None:
        tv = np.array([float(setup.truth[n].value) for n in problem.names])
        summary["truth"] = dict(zip(problem.names, tv.tolist(), strict=True))
        summary["truth_in_95_interval"] = dict(zip(problem.names, post.covers(tv).tolist(), strict=True))
    else:
        tv = None
    files.append(plot_corner(post.theta_samples, problem.names, out / "corner.png", truth=tv,
                             map_point=map_res.theta))
    # prior and posterior ensembles of the model (prior_samples draws strictly inside the bounds)
    prior_u = problem.unconstrained(jnp.asarray(prior[: inf.prior_ensemble])) if inf.prior_ensemble else None
    post_u = jnp.asarray(post.u_samples[: inf.posterior_ensemble]) if inf.posterior_ensemble else None
    files += profile_figures(out, setup, u_prior=prior_u, u_post=post_u, u_best=jnp.asarray(map_res.u),
                             best_label="MAP")
    summary["files"] = [str(f) for f in files] + [str(out / "summary.json")]
    write_json_atomic(summary, out / "summary.json")
    return summary
