"""Posterior results: samples, summaries, arviz ``InferenceData`` and atomic netCDF output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..calibration.problem import Problem, sample_truncated_prior
from ..io.files import jsonable, write_netcdf_atomic  # noqa: F401 (re-exported)

__all__ = ["PosteriorResult", "predictive_samples", "prior_samples", "write_netcdf_atomic"]


@dataclass
class PosteriorResult:
    """Samples of a posterior approximation in unconstrained and physical space.

    Attributes:
        method: ``"laplace"``, ``"svi_normal"``, ...
        names: parameter names (order of the ``(S, n)`` arrays).
        units: their units.
        u_samples: ``(S, n)`` unconstrained samples; theta_samples: ``(S, n)`` physical.
        u_map: ``(n,)`` the mode/centre in unconstrained space (MAP for Laplace, guide median
            for SVI).
        diagnostics: method-specific (ELBO history, Hessian eigen-spectrum, identifiability).
    """

    method: str
    names: tuple[str, ...]
    units: tuple[str, ...]
    u_samples: np.ndarray
    theta_samples: np.ndarray
    u_map: np.ndarray
    theta_map: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Central credible interval ``(lower (n,), upper (n,))`` in physical units."""
        if not 0 < level < 1:
            raise ValueError(f"level = {level} must be in (0, 1)")
        a = (1 - level) / 2
        return (np.quantile(self.theta_samples, a, axis=0), np.quantile(self.theta_samples, 1 - a, axis=0))

    def covers(self, truth, level: float = 0.95) -> np.ndarray:
        """Boolean ``(n,)``: the central ``level`` interval contains ``truth`` ``(n,)``."""
        lo, hi = self.interval(level)
        truth = np.asarray(truth)
        return (lo <= truth) & (truth <= hi)

    def summary(self) -> dict[str, Any]:
        lo, hi = self.interval(0.95)
        out = {
            "method": self.method,
            "n_samples": int(self.theta_samples.shape[0]),
            "parameters": {
                n: {
                    "units": u,
                    "map": float(self.theta_map[i]),
                    "mean": float(self.theta_samples[:, i].mean()),
                    "std": float(self.theta_samples[:, i].std(ddof=1)),
                    "q2.5": float(lo[i]),
                    "q97.5": float(hi[i]),
                }
                for i, (n, u) in enumerate(zip(self.names, self.units, strict=True))
            },
        }
        out.update(_jsonable(self.diagnostics))
        return out

    def to_inference_data(self, problem: Problem, *, prior: np.ndarray | None = None,
                          predictive: bool = True, max_predictive: int = 200, seed: int = 0):
        """arviz ``InferenceData``: posterior (physical values + ``u:``-prefixed unconstrained),
        optional prior samples ``(S, n)`` (physical), observed data ``y:<case>`` and the
        posterior predictive of every case (at most ``max_predictive`` draws):

        * ``y:<case>``: replicated data y_rep = 𝒢_c(T(u)) + ε, ε ~ N(0, Γ_c) (comparable with the
          observed data, e.g. ``az.plot_ppc``; noise drawn with ``seed``);
        * ``mean:<case>``: the noise-free model prediction 𝒢_c(T(u)).
        """
        import arviz as az

        post = {n: self.theta_samples[None, :, i] for i, n in enumerate(self.names)}
        post.update({f"u:{n}": self.u_samples[None, :, i] for i, n in enumerate(self.names)})
        kwargs: dict[str, Any] = {"posterior": post}
        if prior is not None:
            kwargs["prior"] = {n: np.asarray(prior)[None, :, i] for i, n in enumerate(self.names)}
        obs = {f"y:{c.name}": np.asarray(c.y) for c in problem.cases}
        kwargs["observed_data"] = obs
        dims = {f"y:{c.name}": [f"obs_{c.name}"] for c in problem.cases}
        if predictive:
            k = min(max_predictive, self.u_samples.shape[0])
            preds = predictive_samples(problem, self.u_samples[:k])
            rng = np.random.default_rng(seed)
            pp: dict[str, np.ndarray] = {}
            for c, p in zip(problem.cases, preds, strict=True):
                chol = np.linalg.cholesky(np.asarray(c.noise.covariance(), dtype=float))
                pp[f"y:{c.name}"] = (p + rng.standard_normal(p.shape) @ chol.T)[None]
                pp[f"mean:{c.name}"] = p[None]
                dims[f"mean:{c.name}"] = [f"obs_{c.name}"]
            kwargs["posterior_predictive"] = pp
        idata = az.from_dict(**kwargs, dims=dims)
        idata.posterior.attrs.update({"method": self.method, "parameter_units": ", ".join(
            f"{n} [{u}]" for n, u in zip(self.names, self.units, strict=True))})
        for i, n in enumerate(self.names):
            idata.posterior[n].attrs["units"] = self.units[i]
            idata.posterior[f"u:{n}"].attrs["units"] = "1"
        return idata


_jsonable = jsonable  # older name


@eqx.filter_jit
def _batched_predict(problem: Problem, U):
    return jax.vmap(problem.predict_cases)(U)


def predictive_samples(problem: Problem, u_samples, *, chunk: int = 64) -> list[np.ndarray]:
    """Posterior-predictive means 𝒢_c(T(u)) for samples ``(S, n)``: a list over cases of
    ``(S, m_c)`` arrays (forward runs batched with ``vmap`` in chunks of ``chunk``)."""
    u_samples = jnp.asarray(u_samples)
    S = u_samples.shape[0]
    chunk = min(chunk, S)
    pad = (-S) % chunk  # pad the last chunk (one compilation for all chunks)
    padded = jnp.concatenate([u_samples, jnp.repeat(u_samples[-1:], pad, axis=0)])
    parts = [_batched_predict(problem, padded[i : i + chunk]) for i in range(0, S + pad, chunk)]
    return [np.concatenate([np.asarray(p[c]) for p in parts])[:S] for c in range(len(problem.cases))]


def prior_samples(problem: Problem, n: int, key) -> np.ndarray:
    """``(n, n_parameters)`` physical samples of the priors truncated to the bounds."""

    cols = []
    for i, name in enumerate(problem.names):
        p = problem.parameters[name]
        cols.append(sample_truncated_prior(p, jax.random.fold_in(key, i), n, name))
    return np.stack(cols, axis=1)


