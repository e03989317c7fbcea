"""Calibratable parameters: values with bounds, priors, units and bijections.

A :class:`Parameter` is a single scalar with physical metadata; a :class:`ParameterSet` is an
ordered, named collection of them.  Both are JAX pytrees (``equinox.Module``): the *value* is
the only leaf, everything else (bounds, prior, units, description, transform) is static
metadata, so a ``ParameterSet`` can be passed through ``jit``, ``grad`` and ``vmap``.

Names are dotted paths into a model pytree (``"closure.c_hi_u"``), so that
:meth:`ParameterSet.apply` can write the values into any ``equinox`` model with
``eqx.tree_at``: calibration, inference and learning work on any model the same way.

Optimizers work in an *unconstrained* space.  The bijection for each parameter comes from
NumPyro (``numpyro.distributions.transforms.biject_to``) so that optimisation and
variational inference share exactly the same transforms:

============  ======================  ======================================
bounds        default transform       map to unconstrained space
============  ======================  ======================================
(-inf, inf)   ``identity``            x
(a, inf)      ``log``                 log(x - a)
(-inf, b)     ``log``                 log(b - x)
(a, b)        ``logit``               logit((x - a) / (b - a))
(a, b), a>0   ``log`` (on request)    logit((log x - log a) / (log b - log a))
============  ======================  ======================================
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .config import toml_value

__all__ = ["Prior", "Parameter", "ParameterSet", "ParameterError", "prior_blocks"]


class ParameterError(ValueError):
    """A parameter value, bound, prior or name is invalid.  The message names the parameter."""


_PRIOR_KINDS = {
    "uniform": ("low", "high"),
    "normal": ("loc", "scale"),
    "lognormal": ("loc", "scale"),
    "truncated_normal": ("loc", "scale", "low", "high"),
    "halfnormal": ("scale",),
}


@dataclass(frozen=True)
class Prior:
    """A prior distribution given by name and arguments (hashable, so it can be static).

    Supported kinds and their arguments::

        uniform(low, high)               normal(loc, scale)
        lognormal(loc, scale)            truncated_normal(loc, scale, low, high)
        halfnormal(scale)

    ``lognormal`` takes ``loc``/``scale`` of log(x) as NumPyro does.
    """

    kind: str
    args: tuple[tuple[str, float], ...] = field(default=())

    @classmethod
    def make(cls, kind: str, **kwargs: float) -> Prior:
        if kind not in _PRIOR_KINDS:
            raise ParameterError(
                f"prior kind {kind!r} is not supported. Supported kinds are: "
                + ", ".join(sorted(_PRIOR_KINDS))
            )
        expected = _PRIOR_KINDS[kind]
        missing = [a for a in expected if a not in kwargs]
        extra = [a for a in kwargs if a not in expected]
        if missing or extra:
            raise ParameterError(
                f"prior {kind!r} takes arguments {expected}; missing {missing}, unexpected {extra}"
            )
        for key in ("scale",):
            if key in kwargs and not kwargs[key] > 0:
                raise ParameterError(f"prior {kind!r}: scale must be > 0, got {kwargs[key]}")
        if "low" in kwargs and "high" in kwargs and not kwargs["low"] < kwargs["high"]:
            raise ParameterError(
                f"prior {kind!r}: low must be < high, got low={kwargs['low']}, high={kwargs['high']}"
            )
        return cls(kind, tuple((a, float(kwargs[a])) for a in expected))

    @property
    def kwargs(self) -> dict[str, float]:
        return dict(self.args)

    def to_numpyro(self):
        """Return the equivalent ``numpyro.distributions`` object."""
        import numpyro.distributions as dist

        k = self.kwargs
        if self.kind == "uniform":
            return dist.Uniform(k["low"], k["high"])
        if self.kind == "normal":
            return dist.Normal(k["loc"], k["scale"])
        if self.kind == "lognormal":
            return dist.LogNormal(k["loc"], k["scale"])
        if self.kind == "truncated_normal":
            return dist.TruncatedNormal(k["loc"], k["scale"], low=k["low"], high=k["high"])
        if self.kind == "halfnormal":
            return dist.HalfNormal(k["scale"])
        raise AssertionError(self.kind)  # pragma: no cover - guarded in make()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.kwargs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        d = dict(d)
        kind = d.pop("kind", None)
        if kind is None:
            raise ParameterError("a prior needs a 'kind' (e.g. {kind = 'lognormal', loc = 0, scale = 1})")
        return cls.make(kind, **{k: float(v) for k, v in d.items()})


_TRANSFORMS = ("auto", "identity", "log", "logit")


class Parameter(eqx.Module):
    """One scalar parameter.

    Attributes:
        value: the value (the only pytree leaf; float64 when x64 is enabled).
        lower, upper: inclusive physical bounds (``-inf``/``inf`` for none).
        prior: optional :class:`Prior`; if absent, inference uses a uniform prior on the bounds
            (which then must be finite).
        units: units string, e.g. ``"m s⁻¹"``; flows into output metadata.
        description: one line of physics.
        transform: ``"auto"`` (chosen from the bounds, see module docstring), ``"identity"``,
            ``"log"`` or ``"logit"``.
    """

    value: Any
    lower: float = eqx.field(static=True, default=-math.inf)
    upper: float = eqx.field(static=True, default=math.inf)
    prior: Prior | None = eqx.field(static=True, default=None)
    units: str = eqx.field(static=True, default="1")
    description: str = eqx.field(static=True, default="")
    transform: str = eqx.field(static=True, default="auto")

    def __check_init__(self):
        if not self.lower < self.upper:
            raise ParameterError(f"lower bound {self.lower} must be < upper bound {self.upper}")
        if self.transform not in _TRANSFORMS:
            raise ParameterError(
                f"transform {self.transform!r} is not supported. Supported transforms are: "
                + ", ".join(_TRANSFORMS)
            )
        if self.transform == "identity" and (math.isfinite(self.lower) or math.isfinite(self.upper)):
            raise ParameterError(
                f"transform 'identity' cannot honour the bounds [{self.lower}, {self.upper}]: "
                "optimisers and samplers would leave them. Use transform 'auto' (logit or log "
                "from the bounds) or remove the bounds"
            )
        if self.transform == "logit" and not (
            math.isfinite(self.lower) and math.isfinite(self.upper)
        ):
            raise ParameterError("transform 'logit' needs finite lower and upper bounds")
        if (
            self.transform == "log"
            and math.isfinite(self.lower)
            and math.isfinite(self.upper)
            and not self.lower > 0
        ):
            raise ParameterError(
                "transform 'log' with two finite bounds is a logit in log(x) and needs "
                f"lower > 0 (got lower = {self.lower})"
            )
        if self.transform == "log" and not (
            math.isfinite(self.lower) or math.isfinite(self.upper)
        ):
            raise ParameterError("transform 'log' needs a finite lower (or upper) bound")

    # -- transforms ---------------------------------------------------------------------
    @property
    def effective_transform(self) -> str:
        if self.transform != "auto":
            return self.transform
        lo, hi = math.isfinite(self.lower), math.isfinite(self.upper)
        if lo and hi:
            return "logit"
        if lo or hi:
            return "log"
        return "identity"

    def constraint(self):
        """The NumPyro constraint matching the bounds and transform."""
        from numpyro.distributions import constraints

        t = self.effective_transform
        if t == "identity":
            return constraints.real
        if t == "logit" or (math.isfinite(self.lower) and math.isfinite(self.upper)):
            return constraints.interval(self.lower, self.upper)
        if math.isfinite(self.lower):
            return constraints.greater_than(self.lower)
        return constraints.less_than(self.upper)

    def bijector(self):
        """NumPyro transform from unconstrained reals to the parameter's domain.

        ``"log"`` with two finite bounds ``0 < a < b`` is a logit in ``log x`` (for parameters
        spanning decades); otherwise the bijection is NumPyro's ``biject_to`` of the bounds.
        """
        from numpyro.distributions import constraints
        from numpyro.distributions.transforms import ComposeTransform, ExpTransform, biject_to

        if (
            self.effective_transform == "log"
            and math.isfinite(self.lower)
            and math.isfinite(self.upper)
        ):
            inner = biject_to(constraints.interval(math.log(self.lower), math.log(self.upper)))
            return ComposeTransform([inner, ExpTransform()])
        return biject_to(self.constraint())

    def to_unconstrained(self, value=None):
        """Map to unconstrained space.  A value exactly on a bound (e.g. a coefficient whose
        default is 0 with bounds [0, 1]) would map to ±inf; it is first moved inside by 1e-9 of
        the bounded width so optimisers start from a finite point."""
        v = jnp.asarray(self.value if value is None else value)
        t = self.effective_transform
        if t != "identity":
            lo, hi = self.lower, self.upper
            if math.isfinite(lo) and math.isfinite(hi):
                eps = 1e-9 * (hi - lo)
                v = jnp.clip(v, lo + eps, hi - eps)
            elif math.isfinite(lo):
                v = jnp.maximum(v, lo + 1e-9 * max(abs(lo), 1e-12))
            else:
                v = jnp.minimum(v, hi - 1e-9 * max(abs(hi), 1e-12))
        return self.bijector().inv(v)

    def from_unconstrained(self, u):
        return self.bijector()(jnp.asarray(u))

    def prior_distribution(self):
        """Prior as a NumPyro distribution (uniform on the bounds if no prior was given)."""
        if self.prior is not None:
            return self.prior.to_numpyro()
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise ParameterError(
                "a parameter without an explicit prior needs finite bounds "
                f"(got [{self.lower}, {self.upper}]); give it a prior"
            )
        import numpyro.distributions as dist

        return dist.Uniform(self.lower, self.upper)

    def check(self, name: str = "parameter") -> None:
        """Raise :class:`ParameterError` if the (concrete) value is outside the bounds."""
        v = np.asarray(self.value, dtype=float)
        if not np.all(np.isfinite(v)):
            raise ParameterError(f"{name} = {v} is not finite")
        if np.any(v < self.lower) or np.any(v > self.upper):
            raise ParameterError(
                f"{name} = {float(v) if v.ndim == 0 else v} is outside its bounds "
                f"[{self.lower}, {self.upper}] ({self.units})"
            )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": float(np.asarray(self.value))}
        if math.isfinite(self.lower):
            d["lower"] = self.lower
        if math.isfinite(self.upper):
            d["upper"] = self.upper
        if self.prior is not None:
            d["prior"] = self.prior.to_dict()
        d["units"] = self.units
        if self.description:
            d["description"] = self.description
        if self.transform != "auto":
            d["transform"] = self.transform
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "parameter") -> Parameter:
        known = {"value", "lower", "upper", "prior", "units", "description", "transform"}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(
                f"{name}: unknown keys {sorted(unknown)}; accepted keys are {sorted(known)}"
            )
        if "value" not in d:
            raise ParameterError(f"{name}: missing 'value'")
        try:
            value = float(d["value"])
        except (TypeError, ValueError):
            raise ParameterError(f"{name}.value = {d['value']!r} is not a number") from None
        bounds = {}
        for key, default in (("lower", -math.inf), ("upper", math.inf)):
            try:
                bounds[key] = float(d.get(key, default))
            except (TypeError, ValueError):
                raise ParameterError(f"{name}.{key} = {d[key]!r} is not a number") from None
        try:
            p = cls(
                value=jnp.asarray(value),
                lower=bounds["lower"],
                upper=bounds["upper"],
                prior=Prior.from_dict(d["prior"]) if "prior" in d else None,
                units=str(d.get("units", "1")),
                description=str(d.get("description", "")),
                transform=str(d.get("transform", "auto")),
            )
        except ParameterError as err:
            raise ParameterError(f"{name}: {err}") from None
        p.check(name)
        return p


def _stacked_bijector(transform: str, lower: np.ndarray, upper: np.ndarray):
    """:meth:`Parameter.bijector` for ``(k,)`` arrays of bounds that are all finite or all
    infinite alike (the same rules, elementwise)."""
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import ComposeTransform, ExpTransform, biject_to

    lo, hi = bool(np.isfinite(lower[0])), bool(np.isfinite(upper[0]))
    if transform == "identity":
        return biject_to(constraints.real)
    if transform == "log" and lo and hi:
        # math.log per entry, as Parameter.bijector takes it (the same bits)
        log_lo = np.array([math.log(x) for x in lower])
        log_hi = np.array([math.log(x) for x in upper])
        return ComposeTransform([biject_to(constraints.interval(log_lo, log_hi)), ExpTransform()])
    if transform == "logit" or (lo and hi):
        return biject_to(constraints.interval(lower, upper))
    if lo:
        return biject_to(constraints.greater_than(lower))
    return biject_to(constraints.less_than(upper))


def _stacked_prior(kind: str | None, priors: list[Prior | None], lower: np.ndarray, upper: np.ndarray):
    """:meth:`Parameter.prior_distribution` for ``(k,)`` parameters with the same prior kind:
    one NumPyro distribution with ``(k,)`` batch shape."""
    import numpyro.distributions as dist

    if kind is None:
        return dist.Uniform(lower, upper)
    k = {a: np.array([p.kwargs[a] for p in priors]) for a in _PRIOR_KINDS[kind]}
    if kind == "uniform":
        return dist.Uniform(k["low"], k["high"])
    if kind == "normal":
        return dist.Normal(k["loc"], k["scale"])
    if kind == "lognormal":
        return dist.LogNormal(k["loc"], k["scale"])
    if kind == "truncated_normal":
        return dist.TruncatedNormal(k["loc"], k["scale"], low=k["low"], high=k["high"])
    return dist.HalfNormal(k["scale"])


def prior_blocks(parameters: Iterable[Parameter]) -> list[tuple[np.ndarray, Any, Any]]:
    """The parameters' bijections and priors, vectorised: ``[(index (k,), bijector, prior)]``.

    Parameters with the same prior kind, the same effective transform and the same finite
    bounds (lower finite or not, upper finite or not) form one block: ``index`` are their
    positions in ``parameters``, ``bijector`` maps a ``(k,)`` unconstrained vector to their
    physical values and ``prior`` is one NumPyro distribution of batch shape ``(k,)``; each
    gives, entry by entry, what :meth:`Parameter.bijector` and
    :meth:`Parameter.prior_distribution` give for that parameter.  Summing log densities block
    by block instead of parameter by parameter keeps the traced program (and its derivatives)
    a few vector operations long whatever the number of parameters: with one scalar chain per
    parameter, XLA compiled the gradient and curvature of the prior of 63 parameters for
    minutes.  Empty blocks never occur; blocks are in order of first appearance.
    """
    parameters = list(parameters)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(parameters):
        if p.prior is None:
            p.prior_distribution()  # raises, naming the problem, without finite bounds
        key = (None if p.prior is None else p.prior.kind, p.effective_transform,
               math.isfinite(p.lower), math.isfinite(p.upper))
        groups.setdefault(key, []).append(i)
    out = []
    for (kind, transform, _, _), index in groups.items():
        ps = [parameters[i] for i in index]
        lower = np.array([p.lower for p in ps], dtype=float)
        upper = np.array([p.upper for p in ps], dtype=float)
        out.append((np.asarray(index), _stacked_bijector(transform, lower, upper),
                    _stacked_prior(kind, [p.prior for p in ps], lower, upper)))
    return out


class ParameterSet(eqx.Module):
    """An ordered set of named :class:`Parameter` s (a pytree).

    Names are dotted attribute paths into the model the set is applied to, e.g.
    ``"closure.c_hi_u"`` or ``"equation_of_state.thermal_expansion_coefficient"``.

    Example::

        ps = ParameterSet({"closure.c_hi_u": Parameter(0.242, 0.0, 2.0, units="1")})
        u = ps.to_unconstrained()          # (n,) array for an optimizer
        ps2 = ps.from_unconstrained(u + 0.1)
        model2 = ps2.apply(model)          # writes values into the model pytree
    """

    # Order matters (vectors, unconstrained coordinates): keep it in a static tuple of names.
    # (A dict field would be flattened by JAX in *sorted* key order, so a traced set would come
    # back reordered.)
    _names: tuple[str, ...] = eqx.field(static=True)
    _values: tuple[Parameter, ...]

    def __init__(self, parameters: Mapping[str, Parameter] | Iterable[tuple[str, Parameter]]):
        params = dict(parameters)
        for name, p in params.items():
            if not isinstance(p, Parameter):
                raise ParameterError(f"{name}: expected a Parameter, got {type(p).__name__}")
        self._names = tuple(params)
        self._values = tuple(params.values())

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Name → :class:`Parameter`, in the set's order."""
        return dict(zip(self._names, self._values, strict=True))

    # -- mapping-like access ---------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise ParameterError(
                f"no parameter named {name!r}. Parameters are: {', '.join(self.names)}"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.parameters

    def values(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.parameters.items()}

    def vector(self):
        """Values stacked into an ``(n,)`` array, in :attr:`names` order."""
        return jnp.stack([jnp.asarray(p.value) for p in self.parameters.values()])

    def with_values(self, values: Mapping[str, Any] | Any) -> ParameterSet:
        """New set with replaced values (a mapping by name, or an ``(n,)`` vector)."""
        if not isinstance(values, Mapping):
            vec = jnp.asarray(values)
            if vec.shape != (len(self),):
                raise ParameterError(
                    f"expected a vector of shape ({len(self)},), got {tuple(vec.shape)}"
                )
            values = {n: vec[i] for i, n in enumerate(self.names)}
        new = dict(self.parameters)
        for name, v in values.items():
            old = self[name]
            new[name] = eqx.tree_at(lambda p: p.value, old, jnp.asarray(v, dtype=jnp.result_type(float)))
        return ParameterSet(new)

    def subset(self, names: Iterable[str]) -> ParameterSet:
        return ParameterSet({n: self[n] for n in names})

    def check(self) -> None:
        """Raise :class:`ParameterError` naming the first parameter outside its bounds."""
        for name, p in self.parameters.items():
            p.check(name)

    # -- unconstrained space --------------------------------------------------------------
    def to_unconstrained(self):
        """``(n,)`` vector of unconstrained values (differentiable)."""
        return jnp.stack([p.to_unconstrained() for p in self.parameters.values()])

    def from_unconstrained(self, u) -> ParameterSet:
        """Set with values mapped back from an ``(n,)`` unconstrained vector (differentiable)."""
        u = jnp.asarray(u)
        if u.shape != (len(self),):
            raise ParameterError(f"expected a vector of shape ({len(self)},), got {tuple(u.shape)}")
        return self.with_values(
            {n: p.from_unconstrained(u[i]) for i, (n, p) in enumerate(self.parameters.items())}
        )

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.lower for p in self.parameters.values()])

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.upper for p in self.parameters.values()])

    # -- applying to models ------------------------------------------------------------------
    def apply(self, model):
        """Return ``model`` with each parameter written at its dotted path (via ``eqx.tree_at``).

        Works with ``jit``/``grad``: the values may be tracers.
        """
        for name, p in self.parameters.items():
            getter = _getter(name)
            try:
                old = getter(model)
            except AttributeError:
                raise ParameterError(
                    f"parameter {name!r} does not name an attribute of {type(model).__name__}"
                ) from None
            value = jnp.asarray(p.value, dtype=jnp.result_type(old, float))
            model = eqx.tree_at(getter, model, value)
        return model

    @classmethod
    def from_model(cls, model, specs: Mapping[str, Mapping[str, Any]]) -> ParameterSet:
        """Build a set whose values are read from ``model`` at the named paths.

        ``specs`` maps each dotted name to keyword arguments of :class:`Parameter` (bounds,
        prior, units, ...), without ``value``.
        """
        params = {}
        for name, spec in specs.items():
            try:
                value = _getter(name)(model)
            except AttributeError:
                raise ParameterError(
                    f"parameter {name!r} does not name an attribute of {type(model).__name__}"
                ) from None
            params[name] = Parameter(jnp.asarray(value, dtype=float), **spec)
        return cls(params)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {n: p.to_dict() for n, p in self.parameters.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, Any]]) -> ParameterSet:
        return cls({n: Parameter.from_dict(spec, name=n) for n, spec in d.items()})

    def to_toml(self) -> str:
        """TOML text with one ``["name"]`` table per parameter (round-trips via :meth:`from_toml`)."""
        lines = []
        for name, d in self.to_dict().items():
            lines.append(f"[{toml_value(name)}]")
            for key, val in d.items():
                if key == "prior":
                    inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in val.items())
                    lines.append(f"prior = {{ {inner} }}")
                else:
                    lines.append(f"{key} = {toml_value(val)}")
            lines.append("")
        return "\n".join(lines)

    @classmethod
    def from_toml(cls, text: str) -> ParameterSet:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ParameterError(f"invalid TOML: {err}") from None
        return cls.from_dict(data)

    def __repr__(self) -> str:
        rows = [
            f"  {n} = {float(np.asarray(p.value)):.6g} {p.units} in [{p.lower}, {p.upper}]"
            for n, p in self.parameters.items()
        ]
        return "ParameterSet(\n" + "\n".join(rows) + "\n)"


def _getter(path: str):
    parts = path.split(".")

    def get(obj):
        for part in parts:
            obj = getattr(obj, part)
        return obj

    return get
