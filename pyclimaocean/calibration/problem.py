"""Calibration problems: parameters + forward maps (cases) + observations -> loss(u).

A :class:`Case` is one differentiable forward map 𝒢_c: it holds a model pytree, a pure
``simulate(model) -> outputs`` function, an :class:`ObservationOperator` ℋ_c, the
observations ``y_c`` and their noise model Γ_c.  For parameters θ::

    𝒢_c(θ) = ℋ_c(simulate(θ.apply(model_c)))                 (m_c,)

A :class:`Problem` combines a :class:`ParameterSet` of controls (bounds, priors; its values
are the first guess) with one or more cases.  Optimizers and inference work in the
*unconstrained* space u = T⁻¹(θ) given by each parameter's NumPyro bijection T, and the
loss is::

    Φ(u) = ½ Σ_c ‖Γ_c^{-1/2} (𝒢_c(T(u)) − y_c)‖²  +  R(u)

with the regularisation R chosen by ``regularization``:

================  ============================================================================
``"prior"``       −log p(T(u)) − log|det ∂T/∂u|: the prior pushed forward to u-space, so
                  exp(−Φ) is the posterior density in u-space (what NumPyro's potential energy
                  is, up to a constant; MAP/Laplace/SVI then agree).  Default.
``"physical"``    −log p(θ) at θ = T(u): the MAP in *physical* space (no Jacobian term).
``"ridge"``       ½ λ ‖u − u_prior‖² (Tikhonov in u-space, λ = ``ridge_weight``, u_prior the
                  first guess).
``"none"``        0 (pure weighted least squares; bounds still hold through T).
================  ============================================================================

Several cases are combined by a Python sum, except that cases whose ``simulate`` functions
are the same object and whose (model, operator, observations, noise) pytrees have the same
structure and shapes are stacked and evaluated with one ``vmap`` (``batch=True``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..params import ParameterError, ParameterSet, prior_blocks
from .observations import ObservationOperator, observation_vector

__all__ = ["Case", "Problem", "REGULARIZATIONS", "sample_truncated_prior"]

REGULARIZATIONS = ("prior", "physical", "ridge", "none")


def sample_truncated_prior(parameter, key, n: int, name: str = "parameter", *,
                           max_rounds: int = 20) -> np.ndarray:
    """``(n,)`` physical draws of the prior *truncated* to the open interval (lower, upper).

    Rejection sampling: draws of the prior that fall outside the bounds are discarded and
    redrawn (never clipped onto the bounds, which would put an atom of probability there).
    Raises :class:`ParameterError` naming ``name`` when the bounds hold (almost) none of the
    prior's mass.
    """
    try:
        dist = parameter.prior_distribution()
    except ParameterError as err:
        raise ParameterError(f"{name}: {err}") from None
    lo, hi = float(parameter.lower), float(parameter.upper)
    kept: list[np.ndarray] = []
    have, batch = 0, max(int(n), 16)
    for r in range(max_rounds):
        x = np.asarray(dist.sample(jax.random.fold_in(key, r), (batch,)), dtype=float)
        x = x[(x > lo) & (x < hi)]
        kept.append(x)
        have += x.size
        if have >= n:
            return np.concatenate(kept)[:n]
        # grow the batch where acceptance is low
        batch = min(4 * batch, 1_000_000)
    raise ParameterError(
        f"{name}: fewer than {n} of the prior draws fell inside the bounds [{lo}, {hi}] after "
        f"{max_rounds} rounds; the prior puts (almost) no mass inside the bounds"
    )


def _check_prior_support(p, name: str) -> None:
    """The open interval (lower, upper) must lie inside the prior's support (a bound may sit on
    the support's edge, e.g. lower = 0 for a lognormal prior)."""
    try:
        dist = p.prior_distribution()
    except ParameterError as err:
        raise ParameterError(f"{name}: {err}") from None
    lo, hi = float(p.lower), float(p.upper)
    inner = []
    for b, sign in ((lo, 1.0), (hi, -1.0)):
        if np.isfinite(b):
            width = hi - lo if np.isfinite(hi - lo) else max(abs(b), 1.0)
            inner.append(b + sign * 1e-9 * width)
        else:
            inner.append(-sign * 1e300)
    ok = [bool(dist.support(jnp.asarray(x))) for x in inner]
    if not all(ok):
        kind = p.prior.kind if p.prior is not None else "uniform"
        raise ParameterError(
            f"{name}: the bounds [{lo}, {hi}] reach outside the support of its {kind} prior "
            f"({dist.support}); narrow the bounds or choose a prior whose support covers them"
        )


def physical_bounds(problem) -> tuple[np.ndarray, np.ndarray]:
    """``(lower (n,), upper (n,))`` physical bounds for bound-constrained optimizers on θ.

    Where −log p(θ) is infinite at a finite bound (lower = 0 with a lognormal prior), that bound
    is moved inwards by 10⁻⁹ of the interval's width so that Φ(θ) and its gradient stay finite
    at every point the optimizer may visit.
    """
    lo = np.array([problem.parameters[n].lower for n in problem.names], dtype=float)
    hi = np.array([problem.parameters[n].upper for n in problem.names], dtype=float)
    if problem.regularization not in ("prior", "physical"):
        return lo, hi
    for i, n in enumerate(problem.names):
        dist = problem.parameters[n].prior_distribution()
        width = hi[i] - lo[i] if np.isfinite(hi[i] - lo[i]) else 1.0
        for arr, sign in ((lo, 1.0), (hi, -1.0)):
            b = arr[i]
            if np.isfinite(b):
                with warnings.catch_warnings():  # numpyro warns about the out-of-support value
                    warnings.simplefilter("ignore", UserWarning)
                    lp, g = jax.value_and_grad(dist.log_prob)(jnp.asarray(b))
                if not (np.isfinite(float(lp)) and np.isfinite(float(g))):
                    arr[i] = b + sign * 1e-9 * max(width, abs(b))
    return lo, hi


class Case(eqx.Module):
    """One forward map 𝒢_c with its observations.

    Attributes:
        model: model pytree the parameters are written into (``ParameterSet.apply``).
        simulate: pure function ``model -> outputs`` (static; share one function object
            between cases that should be batched together).
        operator: ℋ_c, outputs -> ``(m_c,)`` predictions.
        y: ``(m_c,)`` observations.
        noise: :class:`DiagonalNoise` or :class:`FullNoise` for Γ_c.
        name: case name (static).
    """

    model: Any
    operator: ObservationOperator
    y: jax.Array
    noise: Any
    simulate: Callable[[Any], Any] = eqx.field(static=True)
    name: str = eqx.field(static=True, default="case")

    @classmethod
    def from_dataset(
        cls,
        model,
        simulate: Callable[[Any], Any],
        observations: xr.Dataset,
        *,
        model_times,
        model_z,
        variables: Sequence[str] | None = None,
        name: str = "case",
        domain_depth: float | None = None,
    ) -> Case:
        """Build a case from an observation Dataset (see :mod:`.observations`)."""
        op = ObservationOperator.from_dataset(
            observations, model_times, model_z, variables, domain_depth=domain_depth
        )
        y, noise = observation_vector(observations, op.variables)
        return cls(model, op, y, noise, simulate, name)

    def predict(self, parameters: ParameterSet):
        """𝒢_c(θ): predicted observations ``(m_c,)`` for parameters θ."""
        return self.operator(self.simulate(parameters.apply(self.model)))

    def outputs(self, parameters: ParameterSet):
        """Raw model outputs for parameters θ (for plots and posterior predictives)."""
        return self.simulate(parameters.apply(self.model))

    @property
    def size(self) -> int:
        return int(self.y.shape[0])


def _signature(case: Case):
    leaves, tree = jax.tree_util.tree_flatten((case.model, case.operator, case.y, case.noise))
    shapes = tuple((np.shape(x), jnp.result_type(x)) for x in leaves)
    return (id(case.simulate), tree, shapes)


class Problem(eqx.Module):
    """A calibration problem: controls θ (a :class:`ParameterSet`) and cases 𝒢_c, y_c, Γ_c.

    Attributes:
        parameters: the controls; values are the first guess u₀ = T⁻¹(θ₀).
        cases: tuple of :class:`Case`.
        regularization: one of ``"prior"``, ``"physical"``, ``"ridge"``, ``"none"`` (see module
            docstring).
        ridge_weight: λ for ``"ridge"``.
        batch: evaluate compatible cases with ``vmap`` (otherwise a Python sum).
    """

    parameters: ParameterSet
    cases: tuple[Case, ...]
    regularization: str = eqx.field(static=True, default="prior")
    ridge_weight: float = eqx.field(static=True, default=1.0)
    batch: bool = eqx.field(static=True, default=True)
    groups: tuple[tuple[int, ...], ...] = eqx.field(static=True, default=())
    # parameter order kept statically (the same as ``parameters.names``, which ParameterSet
    # itself keeps as a static tuple)
    order: tuple[str, ...] = eqx.field(static=True, default=())

    def __init__(
        self,
        parameters: ParameterSet,
        cases: Case | Sequence[Case],
        *,
        regularization: str = "prior",
        ridge_weight: float = 1.0,
        batch: bool = True,
    ):
        if isinstance(cases, Case):
            cases = (cases,)
        cases = tuple(cases)
        if not cases:
            raise ParameterError("a calibration problem needs at least one case")
        if len(parameters) == 0:
            raise ParameterError("a calibration problem needs at least one control parameter")
        if regularization not in REGULARIZATIONS:
            raise ParameterError(
                f"regularization {regularization!r} is not supported. Supported: "
                + ", ".join(REGULARIZATIONS)
            )
        if regularization == "ridge" and not ridge_weight > 0:
            raise ParameterError(f"ridge_weight = {ridge_weight} must be > 0")
        if regularization in ("prior", "physical"):
            for name in parameters.names:
                _check_prior_support(parameters[name], name)
        parameters.check()
        self.parameters = parameters
        self.order = tuple(parameters.names)
        self.cases = cases
        self.regularization = regularization
        self.ridge_weight = float(ridge_weight)
        self.batch = bool(batch)
        groups: dict[Any, list[int]] = {}
        for i, c in enumerate(cases):
            key = _signature(c) if batch else i
            groups.setdefault(key, []).append(i)
        self.groups = tuple(tuple(g) for g in groups.values())

    # identity hash, so that ``jax.jit(problem.loss)`` works (the bound method is hashed;
    # a ParameterSet holds a dict, which is not hashable)
    __hash__ = object.__hash__

    # -- parameter maps ---------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in the order of the ``(n,)`` vectors."""
        return self.order

    def _params(self):
        return [self.parameters[n] for n in self.order]

    @property
    def n_parameters(self) -> int:
        return len(self.parameters)

    @property
    def u0(self):
        """First guess in unconstrained space ``(n,)``."""
        return jnp.stack([p.to_unconstrained() for p in self._params()])

    @property
    def theta0(self):
        """First guess in physical space ``(n,)``."""
        return jnp.stack([jnp.asarray(p.value) for p in self._params()])

    def theta(self, u) -> ParameterSet:
        """θ = T(u) as a :class:`ParameterSet` (to ``apply`` to a model)."""
        u = jnp.asarray(u)
        self._check_vector(u)
        return self.parameters.with_values(
            {n: p.from_unconstrained(u[i]) for i, (n, p) in enumerate(zip(self.order, self._params(), strict=True))}
        )

    def physical(self, u):
        """θ = T(u) as a ``(n,)`` vector (works on ``(..., n)`` batches)."""
        u = jnp.asarray(u)
        if u.ndim > 1:
            return jax.vmap(self.physical)(u)
        self._check_vector(u)
        return jnp.stack([p.from_unconstrained(u[i]) for i, p in enumerate(self._params())])

    def unconstrained(self, theta):
        """u = T⁻¹(θ) for a ``(n,)`` physical vector (works on ``(..., n)`` batches)."""
        theta = jnp.asarray(theta)
        if theta.ndim > 1:
            return jax.vmap(self.unconstrained)(theta)
        self._check_vector(theta)
        return jnp.stack([p.to_unconstrained(theta[i]) for i, p in enumerate(self._params())])

    def parameter_set(self, theta) -> ParameterSet:
        """A :class:`ParameterSet` with the physical values ``theta`` ``(n,)``."""
        theta = jnp.asarray(theta)
        self._check_vector(theta)
        return self.parameters.with_values({n: theta[i] for i, n in enumerate(self.order)})

    def _check_vector(self, v) -> None:
        if v.shape != (len(self.order),):
            raise ParameterError(
                f"expected a parameter vector of shape ({len(self.order)},) for "
                f"{', '.join(self.order)}; got shape {tuple(v.shape)}"
            )

    # -- forward maps -------------------------------------------------------------------------
    def predict_cases(self, u) -> tuple[jax.Array, ...]:
        """𝒢_c(T(u)) for every case, in case order (vmapped within compatible groups)."""
        theta = self.theta(u)
        out: list[Any] = [None] * len(self.cases)
        for group in self.groups:
            if len(group) == 1:
                out[group[0]] = self.cases[group[0]].predict(theta)
                continue
            simulate = self.cases[group[0]].simulate
            stacked = jax.tree_util.tree_map(
                lambda *xs: jnp.stack(xs), *[(self.cases[i].model, self.cases[i].operator) for i in group]
            )

            def one(mo, theta=theta, simulate=simulate):
                model, op = mo
                return op(simulate(theta.apply(model)))

            preds = jax.vmap(one)(stacked)
            for k, i in enumerate(group):
                out[i] = preds[k]
        return tuple(out)

    def forward(self, u):
        """𝒢(u): concatenated predictions ``(m,)`` over all cases."""
        return jnp.concatenate(self.predict_cases(u))

    @property
    def y(self):
        """Concatenated observations ``(m,)``."""
        return jnp.concatenate([c.y for c in self.cases])

    @property
    def n_observations(self) -> int:
        return sum(c.size for c in self.cases)

    def noise_covariance(self):
        """Dense block-diagonal Γ ``(m, m)`` (for ensemble methods)."""
        return jax.scipy.linalg.block_diag(*[c.noise.covariance() for c in self.cases])

    def residuals(self, u):
        """Whitened residuals Γ^{-1/2}(𝒢(u) − y) ``(m,)``."""
        preds = self.predict_cases(u)
        return jnp.concatenate(
            [c.noise.whiten(p - c.y) for c, p in zip(self.cases, preds, strict=True)]
        )

    def residuals_from_prediction(self, g):
        """Whitened residuals for a concatenated prediction ``g`` ``(m,)``."""
        out, i = [], 0
        for c in self.cases:
            out.append(c.noise.whiten(g[i : i + c.size] - c.y))
            i += c.size
        return jnp.concatenate(out)

    def data_misfit(self, u):
        """½‖Γ^{-1/2}(𝒢(u) − y)‖² (dimensionless)."""
        r = self.residuals(u)
        return 0.5 * jnp.sum(r**2)

    def case_misfits(self, u):
        """½‖·‖² per case ``(n_cases,)``."""
        preds = self.predict_cases(u)
        return jnp.stack(
            [0.5 * jnp.sum(c.noise.whiten(p - c.y) ** 2) for c, p in zip(self.cases, preds, strict=True)]
        )

    # -- regularisation -------------------------------------------------------------------------
    def log_prior(self, u, *, jacobian: bool = True):
        """log p(T(u)) (+ log|det ∂T/∂u| when ``jacobian``)."""
        total = 0.0
        u = jnp.asarray(u)
        n = len(self.order)
        # vectorised over blocks of parameters with the same prior kind and transform (one
        # scalar chain per parameter compiled for minutes with its derivatives at 63 controls)
        for index, bij, dist in prior_blocks(self._params()):
            ui = u if len(index) == n else u[index]
            x = bij(ui)
            lp = dist.log_prob(x)
            if jacobian:
                lp = lp + bij.log_abs_det_jacobian(ui, x)
            total = total + jnp.sum(lp)
        return total

    def regularization_term(self, u):
        """R(u) (see module docstring)."""
        if self.regularization == "none":
            return jnp.zeros(())
        if self.regularization == "ridge":
            return 0.5 * self.ridge_weight * jnp.sum((u - self.u0) ** 2)
        return -self.log_prior(u, jacobian=self.regularization == "prior")

    def loss(self, u):
        """Φ(u) = data misfit + R(u)."""
        return self.data_misfit(u) + self.regularization_term(u)

    def loss_physical(self, theta):
        """Φ as a function of the physical vector θ ``(n,)`` (for bound-constrained optimizers).

        Regularisation in physical space: ``"prior"`` and ``"physical"`` both use −log p(θ)
        here (no Jacobian: there is no change of variables); ``"ridge"`` uses ½λ‖θ − θ₀‖²
        scaled by the bounds' width where finite.
        """
        return self.data_misfit_physical(theta) + self.regularization_physical(theta)

    def data_misfit_physical(self, theta):
        """½‖Γ^{-1/2}(𝒢 − y)‖² as a function of the physical vector θ ``(n,)``."""
        ps = self.parameter_set(jnp.asarray(theta))
        preds = []
        for c in self.cases:
            preds.append(c.noise.whiten(c.predict(ps) - c.y))
        return 0.5 * jnp.sum(jnp.concatenate(preds) ** 2)

    def regularization_physical(self, theta):
        """The regularisation part of :meth:`loss_physical` (see there)."""
        theta = jnp.asarray(theta)
        if self.regularization == "none":
            return jnp.zeros(())
        if self.regularization == "ridge":
            lo = np.array([p.lower for p in self._params()])
            hi = np.array([p.upper for p in self._params()])
            width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
            theta0 = self.theta0
            return 0.5 * self.ridge_weight * jnp.sum(((theta - theta0) / width) ** 2)
        n = len(self.order)
        return -sum(jnp.sum(dist.log_prob(theta if len(index) == n else theta[index]))
                    for index, _, dist in prior_blocks(self._params()))

    # -- reporting -------------------------------------------------------------------------
    def regularization_centre(self) -> np.ndarray | None:
        """``(n,)`` physical point each parameter is pulled to by the regularisation alone
        (``None`` for ``"none"``): where an unidentified parameter ends.

        ``"prior"``: the mode of the prior pushed forward to u-space, argmax of
        log p(T(u)) + log|T'(u)| — for a uniform prior and a logit bijection the *midpoint of
        the bounds*, for a lognormal prior and a log bijection its median exp(loc);
        ``"physical"``: the prior's mode within the bounds; ``"ridge"``: the first guess.
        Found on a grid of 8001 points (u ∈ [−20, 20], spacing 0.005) per parameter.
        """
        if self.regularization == "none":
            return None
        if self.regularization == "ridge":
            return np.asarray(self.theta0, dtype=float)
        grid = jnp.linspace(-20.0, 20.0, 8001)
        out = []
        for p in self._params():
            bij, dist = p.bijector(), p.prior_distribution()
            x = bij(grid)
            lp = dist.log_prob(x)
            if self.regularization == "prior":
                lp = lp + bij.log_abs_det_jacobian(grid, x)
            lp = jnp.where(jnp.isfinite(lp), lp, -jnp.inf)
            out.append(float(x[jnp.argmax(lp)]))
        return np.asarray(out)

    def prior_report(self) -> dict[str, dict[str, Any]]:
        """Per parameter: the prior actually used (and whether it was given or is the default
        uniform on the bounds), the bounds, the transform to u-space, and ``pulls_to``: the
        point the regularisation alone pulls the parameter to (:meth:`regularization_centre`)."""
        centre = self.regularization_centre()
        out: dict[str, dict[str, Any]] = {}
        for i, (n, p) in enumerate(zip(self.order, self._params(), strict=True)):
            if p.prior is not None:
                desc = f"{p.prior.kind}(" + ", ".join(f"{k}={v:.6g}" for k, v in p.prior.kwargs.items()) + ")"
                source = "given"
            else:
                desc = f"uniform(low={p.lower:.6g}, high={p.upper:.6g})"
                source = "default: uniform on the bounds (no prior given)"
            out[n] = {
                "prior": desc,
                "source": source,
                "lower": float(p.lower),
                "upper": float(p.upper),
                "transform": p.effective_transform,
                "regularization": self.regularization,
                "pulls_to": None if centre is None else float(centre[i]),
            }
        return out

    def with_cases(self, cases: Sequence[Case]) -> Problem:
        return Problem(self.parameters, cases, regularization=self.regularization,
                       ridge_weight=self.ridge_weight, batch=self.batch)

    def with_parameters(self, parameters: ParameterSet) -> Problem:
        return Problem(parameters, self.cases, regularization=self.regularization,
                       ridge_weight=self.ridge_weight, batch=self.batch)

    def with_regularization(self, regularization: str, ridge_weight: float | None = None) -> Problem:
        return Problem(self.parameters, self.cases, regularization=regularization,
                       ridge_weight=self.ridge_weight if ridge_weight is None else ridge_weight,
                       batch=self.batch)
