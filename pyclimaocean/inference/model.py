"""NumPyro model functions for any calibration :class:`~pyclimaocean.calibration.Problem`.

The model samples the parameters in the problem's *unconstrained* space u (sites
``"u:<name>"``, improper flat base), adds the log prior pushed to u-space,
log p(T(u)) + log|det ∂T/∂u| with p = ``Parameter.prior_distribution()`` (``numpyro.factor``
site ``"log_prior"``), records θ = T(u) as ``numpyro.deterministic`` sites named after the
parameters, and observes each case with a Gaussian likelihood::

    y_c ~ N(𝒢_c(T(u)), Γ_c)          (site ``"y:<case name>"``)

So the joint density equals exp(−Φ(u)) of the problem with ``regularization="prior"``: the
MAP, the Laplace approximation and SVI all target the same posterior.  Priors whose support is
wider than the parameter bounds are thereby truncated to the bounds (the normalising constant
does not matter for inference).
"""

from __future__ import annotations

import jax.numpy as jnp

from ..calibration.observations import DiagonalNoise
from ..calibration.problem import Problem

__all__ = ["numpyro_model", "site_name", "observation_site"]


def site_name(name: str) -> str:
    """Name of the unconstrained sample site of parameter ``name``."""
    return f"u:{name}"


def observation_site(case_name: str) -> str:
    return f"y:{case_name}"


def numpyro_model(problem: Problem, *, observed: bool = True):
    """A NumPyro model function ``model()`` for ``problem`` (see module docstring).

    Args:
        observed: condition on the observations (``False`` gives the prior predictive).
    """
    import numpyro
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    names = problem.names
    if len({c.name for c in problem.cases}) != len(problem.cases):
        raise ValueError("case names must be unique: " + ", ".join(c.name for c in problem.cases))

    def model():
        u = jnp.stack(
            [numpyro.sample(site_name(n), dist.ImproperUniform(constraints.real, (), ())) for n in names]
        )
        numpyro.factor("log_prior", problem.log_prior(u, jacobian=True))
        theta = problem.physical(u)
        for i, n in enumerate(names):
            numpyro.deterministic(n, theta[i])
        preds = problem.predict_cases(u)
        for case, pred in zip(problem.cases, preds, strict=True):
            if isinstance(case.noise, DiagonalNoise):
                d = dist.Normal(pred, case.noise.std).to_event(1)
            else:
                d = dist.MultivariateNormal(pred, scale_tril=case.noise.cholesky)
            numpyro.sample(observation_site(case.name), d, obs=case.y if observed else None)

    return model
