"""Vectorised priors (``params.prior_blocks``): block by block, the same bijections and log
densities as parameter by parameter, so ``Problem.log_prior`` and its derivatives are unchanged
(to round-off) while the traced program stays a few vector operations long (issue 12: the prior
of 63 field controls compiled for minutes with its derivatives)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.calibration.toy import diffusion_twin
from pyclimaocean.params import Parameter, ParameterError, ParameterSet, Prior, prior_blocks


def _mixed():
    """Every prior kind and every transform, interleaved so that blocks are not contiguous."""
    return [
        Parameter(0.3, lower=0.0, upper=2.0),  # no prior: uniform on the bounds, logit
        Parameter(1.5, prior=Prior.make("normal", loc=1.0, scale=0.5)),  # identity
        Parameter(2.0, lower=0.1, upper=50.0, prior=Prior.make("lognormal", loc=0.5, scale=0.3)),  # logit
        Parameter(0.4, lower=0.0, upper=1.0),  # uniform again (same block as the first)
        Parameter(3.0, lower=0.0, prior=Prior.make("halfnormal", scale=2.0)),  # log, lower only
        Parameter(-1.0, upper=0.0, prior=Prior.make("normal", loc=-1.0, scale=1.0)),  # log, upper only
        Parameter(5.0, lower=0.5, upper=80.0, prior=Prior.make("lognormal", loc=1.5, scale=0.4),
                  transform="log"),  # logit in log x
        Parameter(0.7, lower=0.0, upper=3.0,
                  prior=Prior.make("truncated_normal", loc=0.5, scale=0.4, low=0.0, high=3.0)),
        Parameter(1.2, lower=0.1, upper=50.0, prior=Prior.make("lognormal", loc=0.1, scale=0.2)),
        Parameter(0.9, lower=0.0, upper=4.0, prior=Prior.make("uniform", low=0.0, high=4.0)),
    ]


def _scalar_log_prior(params, u):
    """The per-parameter sum that Problem.log_prior computed before blocks."""
    total = 0.0
    for i, p in enumerate(params):
        bij = p.bijector()
        x = bij(u[i])
        total = total + p.prior_distribution().log_prob(x) + bij.log_abs_det_jacobian(u[i], x)
    return total


@pytest.mark.slow  # 12 s CPU (113 s wall at load 22), eager per-parameter NumPyro calls
def test_blocks_match_each_parameter():
    params = _mixed()
    u = jnp.asarray([p.to_unconstrained() for p in params]) + 0.3 * jnp.sin(jnp.arange(len(params)) + 1.0)
    blocks = prior_blocks(params)
    seen = np.concatenate([idx for idx, _, _ in blocks])
    assert sorted(seen.tolist()) == list(range(len(params)))
    assert len(blocks) < len(params)  # parameters of one kind and transform share a block
    for idx, bij, dist in blocks:
        x = np.asarray(bij(u[idx]))
        lp = np.asarray(dist.log_prob(bij(u[idx])))
        ladj = np.asarray(bij.log_abs_det_jacobian(u[idx], bij(u[idx])))
        for k, i in enumerate(idx):
            p = params[i]
            xi = p.bijector()(u[i])
            np.testing.assert_allclose(x[k], float(xi), rtol=1e-14)
            np.testing.assert_allclose(lp[k], float(p.prior_distribution().log_prob(xi)), rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(ladj[k], float(p.bijector().log_abs_det_jacobian(u[i], xi)),
                                       rtol=1e-13, atol=1e-14)


@pytest.mark.slow  # 275 s wall at load 22 (toy twin, eager Hessians of the per-parameter sum)
def test_problem_log_prior_and_derivatives_unchanged():
    problem, _ = diffusion_twin(fluxes=(2.5e-5,), seed=1)
    # replace the toy's controls by the mixed set's first five kinds (same names)
    names = problem.names
    mixed = _mixed()
    params = ParameterSet({n: mixed[[0, 2, 6, 7, 8][i]] for i, n in enumerate(names)})
    problem = problem.with_parameters(params)
    ps = [params[n] for n in names]
    u = problem.u0 + 0.2
    np.testing.assert_allclose(problem.log_prior(u), _scalar_log_prior(ps, u), rtol=1e-14)
    np.testing.assert_allclose(jax.grad(problem.log_prior)(u), jax.grad(lambda v: _scalar_log_prior(ps, v))(u),
                               rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(jax.hessian(problem.log_prior)(u),
                               jax.hessian(lambda v: _scalar_log_prior(ps, v))(u), rtol=1e-12, atol=1e-13)
    theta = problem.physical(u)
    expected = -sum(p.prior_distribution().log_prob(theta[i]) for i, p in enumerate(ps))
    np.testing.assert_allclose(problem.regularization_physical(theta), expected, rtol=1e-14)


def test_a_parameter_without_prior_or_finite_bounds_is_refused_by_name_of_the_cause():
    with pytest.raises(ParameterError, match="finite bounds"):
        prior_blocks([Parameter(1.0, lower=0.0)])


def test_log_bounds_taken_per_entry_as_the_scalar_bijector_does():
    p = Parameter(5.0, lower=0.5, upper=80.0, transform="log")
    (idx, bij, _), = prior_blocks([p])
    u = jnp.asarray([0.37])
    assert float(bij(u)[0]) == float(p.bijector()(u[0]))
    assert math.isclose(float(bij.inv(jnp.asarray([5.0]))[0]), float(p.to_unconstrained()), rel_tol=1e-15)
