"""Wrap an external (non-JAX) model with a hand-written adjoint into a JAX-differentiable function.

Many ocean and climate models are not written in JAX: Fortran/C codes with TAF or Tapenade
adjoints, NumPy prototypes with a hand-written discrete adjoint, or Julia models differentiated
by Enzyme (see :mod:`pyclimaocean.backends.julia`).  :func:`wrap_external` turns any such
model, given as

* ``forward(*args) -> outputs``: NumPy arrays in, a pytree of NumPy arrays out, and
* ``vjp(*args, cotangent) -> args_bar``: the vector-Jacobian product (the adjoint model):
  given the primal inputs and a cotangent ``ȳ`` with the structure of the outputs, return
  ``x̄_i = (∂y/∂x_i)ᵀ ȳ`` for every input ``x_i``,

into a function that JAX can ``jit``, ``grad`` and ``vmap``.  Internally the forward and the
adjoint are host callbacks (:func:`jax.pure_callback`) tied together by :func:`jax.custom_vjp`;
the inputs are kept as residuals, so the adjoint is free to recompute (or checkpoint) its own
forward trajectory.

``vmap`` is handled by ``pure_callback``'s ``vmap_method``:

==================  ==============================================================
``"sequential"``    one host call per batch member (always correct; the default)
``"batched"``       one host call with every input broadcast to a leading batch
                    axis (alias of JAX's ``"broadcast_all"``); the external
                    function must accept a leading batch axis
``"expand_dims"``   one host call; unbatched inputs get a leading axis of size 1
                    (the external function must broadcast)
==================  ==============================================================

Only reverse mode is provided (``grad``, ``vjp``, ``jacrev``); forward-mode (``jvp``,
``jacfwd``) raises JAX's usual ``custom_vjp`` error.

Example (a NumPy model with a hand-written adjoint)::

    import numpy as np, jax, jax.numpy as jnp
    from pyclimaocean.backends.external import wrap_external

    def forward(x, a):                 # y = a * x**2
        return a * x**2
    def vjp(x, a, y_bar):              # (∂y/∂x)ᵀ ȳ, (∂y/∂a)ᵀ ȳ
        return 2 * a * x * y_bar, np.sum(x**2 * y_bar)

    f = wrap_external(forward, vjp, out_spec=lambda x, a: x, name="square")
    jax.grad(lambda x, a: f(x, a).sum(), argnums=(0, 1))(jnp.ones(3), 2.0)

:func:`check_adjoint` runs the dot-product test ``⟨J δx, ȳ⟩ = ⟨δx, Jᵀ ȳ⟩`` (with ``J δx``
from central finite differences of ``forward``) that every hand-written adjoint should pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import AbstractModel, Coordinate, Variable
from ..params import Parameter, ParameterSet

__all__ = ["ExternalModelError", "ExternalFunction", "ExternalModel", "ExternalState",
           "ExternalParameters", "wrap_external", "check_adjoint"]

_VMAP_METHODS = {
    "sequential": "sequential",
    "sequential_unrolled": "sequential_unrolled",
    "batched": "broadcast_all",
    "broadcast_all": "broadcast_all",
    "expand_dims": "expand_dims",
}


class ExternalModelError(ValueError):
    """An external model was called with, or returned, arrays of the wrong shape or dtype."""


def _as_spec(x: Any) -> jax.ShapeDtypeStruct:
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return jax.ShapeDtypeStruct(tuple(x.shape), x.dtype)
    arr = np.asarray(x)
    return jax.ShapeDtypeStruct(arr.shape, jnp.result_type(arr.dtype))


def _fmt(spec: jax.ShapeDtypeStruct) -> str:
    return f"{tuple(spec.shape)} {np.dtype(spec.dtype).name}"


@dataclass(frozen=True)
class ExternalFunction:
    """A JAX-callable, reverse-mode differentiable wrapper around an external model.

    Build it with :func:`wrap_external`; call it like the forward function, with JAX or
    NumPy arrays (or Python floats).  All positional arguments are differentiable inputs;
    close over anything that is not (grids, step counts, settings).

    Attributes:
        forward: ``forward(*args) -> outputs`` on NumPy arrays.
        vjp: ``vjp(*args, cotangent) -> tuple of input cotangents`` on NumPy arrays.
        out_spec: pytree of :class:`jax.ShapeDtypeStruct` (or arrays) giving the output
            shapes/dtypes, or a callable ``out_spec(*arg_specs) -> pytree`` for outputs
            whose shape depends on the inputs' shapes.
        in_specs: optional expected input specs (shape and dtype per argument); checked at
            trace time with a clear error.
        vmap_method: see the module docstring.
        name: used in error messages.
    """

    forward: Callable[..., Any]
    vjp: Callable[..., Any]
    out_spec: Any
    in_specs: tuple[jax.ShapeDtypeStruct, ...] | None = None
    vmap_method: str = "sequential"
    name: str = "external model"

    def __post_init__(self):
        if not callable(self.forward):
            raise TypeError(
                f"{self.name}: forward must be callable, got {type(self.forward).__name__}"
            )
        if not callable(self.vjp):
            raise TypeError(f"{self.name}: vjp must be callable, got {type(self.vjp).__name__}")
        if self.vmap_method not in _VMAP_METHODS:
            raise ValueError(
                f"{self.name}: vmap_method={self.vmap_method!r} is not supported. "
                f"Supported methods are: {', '.join(_VMAP_METHODS)}"
            )

    # ------------------------------------------------------------------------------------
    def _arg_specs(self, args: Sequence[Any]) -> tuple[jax.ShapeDtypeStruct, ...]:
        specs = []
        for i, a in enumerate(args):
            spec = _as_spec(a)
            if not jnp.issubdtype(spec.dtype, jnp.floating):
                raise ExternalModelError(
                    f"{self.name}: argument {i} has dtype {np.dtype(spec.dtype).name}; "
                    "differentiable inputs must be floating point (close over integer or "
                    "static settings instead of passing them as arguments)"
                )
            specs.append(spec)
        if self.in_specs is not None:
            if len(self.in_specs) != len(specs):
                raise ExternalModelError(
                    f"{self.name}: expected {len(self.in_specs)} arguments, got {len(specs)}"
                )
            for i, (want, got) in enumerate(zip(self.in_specs, specs, strict=True)):
                want = _as_spec(want)
                if tuple(want.shape) != tuple(got.shape):
                    raise ExternalModelError(
                        f"{self.name}: argument {i} has shape {tuple(got.shape)}; "
                        f"expected {tuple(want.shape)}"
                    )
        return tuple(specs)

    def _out_specs(self, arg_specs):
        spec = self.out_spec(*arg_specs) if callable(self.out_spec) else self.out_spec
        return jax.tree_util.tree_map(_as_spec, spec)

    # -- host-side functions (run by pure_callback on NumPy arrays) -----------------------
    def _host_forward(self, in_specs, out_specs):
        leaves_spec, treedef = jax.tree_util.tree_flatten(out_specs)

        def host(*args):
            outputs = self.forward(*[np.asarray(a) for a in args])
            return self._check_outputs(
                outputs, leaves_spec, treedef, args, in_specs, "forward output"
            )

        return host

    def _host_vjp(self, in_specs, out_specs):
        n_in = len(in_specs)

        def host(*flat):
            primals = [np.asarray(a) for a in flat[:n_in]]
            ct = jax.tree_util.tree_unflatten(
                jax.tree_util.tree_structure(out_specs), [np.asarray(c) for c in flat[n_in:]]
            )
            grads = self.vjp(*primals, ct)
            if n_in == 1 and not isinstance(grads, (tuple, list)):
                grads = (grads,)
            if not isinstance(grads, (tuple, list)) or len(grads) != n_in:
                raise ExternalModelError(
                    f"{self.name}: vjp must return a tuple of {n_in} cotangents (one per "
                    f"input), got {type(grads).__name__}"
                    + (f" of length {len(grads)}" if isinstance(grads, (tuple, list)) else "")
                )
            return self._check_outputs(
                tuple(grads),
                list(in_specs),
                jax.tree_util.tree_structure(tuple(in_specs)),
                primals,
                in_specs,
                "vjp cotangent",
            )

        return host

    def _check_outputs(self, outputs, leaves_spec, treedef, args, in_specs, what):
        leaves = jax.tree_util.tree_leaves(outputs)
        if len(leaves) != len(leaves_spec):
            raise ExternalModelError(
                f"{self.name}: {what} has {len(leaves)} arrays; expected {len(leaves_spec)} "
                f"(structure {treedef})"
            )
        # batched host calls (vmap_method "batched"/"expand_dims") prepend batch axes
        batch = (
            np.broadcast_shapes(
                *[
                    np.shape(a)[: max(np.ndim(a) - len(s.shape), 0)]
                    for a, s in zip(args, in_specs, strict=True)
                ]
            )
            if args
            else ()
        )
        result = []
        for i, (leaf, spec) in enumerate(zip(leaves, leaves_spec, strict=True)):
            arr = np.asarray(leaf)
            want = tuple(batch) + tuple(spec.shape)
            if arr.shape != want:
                if arr.size == math.prod(want) and arr.shape[
                    -len(spec.shape) or len(arr.shape) :
                ] == tuple(spec.shape):
                    arr = arr.reshape(want)  # size-1 batch axes dropped or kept: harmless
                else:
                    raise ExternalModelError(
                        f"{self.name}: {what} {i} has shape {arr.shape}; expected {want} "
                        f"(dtype {np.dtype(spec.dtype).name})"
                    )
            result.append(arr.astype(spec.dtype, copy=False))
        return tuple(result)

    # ------------------------------------------------------------------------------------
    def __call__(self, *args):
        in_specs = self._arg_specs(args)
        out_specs = self._out_specs(in_specs)
        out_leaves_spec, out_tree = jax.tree_util.tree_flatten(out_specs)
        vmap_method = _VMAP_METHODS[self.vmap_method]
        host_fwd = self._host_forward(in_specs, out_specs)
        host_vjp = self._host_vjp(in_specs, out_specs)

        def call_forward(*xs):
            flat = jax.pure_callback(host_fwd, tuple(out_leaves_spec), *xs, vmap_method=vmap_method)
            return jax.tree_util.tree_unflatten(out_tree, list(flat))

        @jax.custom_vjp
        def f(*xs):
            return call_forward(*xs)

        def f_fwd(*xs):
            return call_forward(*xs), xs

        def f_bwd(xs, ct):
            ct_leaves = jax.tree_util.tree_leaves(ct)
            grads = jax.pure_callback(
                host_vjp, tuple(in_specs), *xs, *ct_leaves, vmap_method=vmap_method
            )
            return tuple(grads)

        f.defvjp(f_fwd, f_bwd)
        xs = tuple(jnp.asarray(a, dtype=s.dtype) for a, s in zip(args, in_specs, strict=True))
        return f(*xs)


def wrap_external(
    forward: Callable[..., Any],
    vjp: Callable[..., Any],
    *,
    out_spec: Any,
    in_specs: Sequence[Any] | None = None,
    vmap_method: str = "sequential",
    name: str | None = None,
) -> ExternalFunction:
    """Make ``forward`` (with adjoint ``vjp``) callable and differentiable from JAX.

    Args:
        forward: ``forward(*args) -> outputs``; receives NumPy arrays, returns a NumPy array
            or a pytree (tuple/dict) of them.
        vjp: ``vjp(*args, cotangent) -> (arg_0_bar, ..., arg_{n-1}_bar)``; ``cotangent`` has
            the structure of the outputs; return one cotangent per input with that input's
            shape (a bare array is accepted when there is a single input).
        out_spec: output shapes/dtypes: a pytree of :class:`jax.ShapeDtypeStruct` or arrays,
            or ``callable(*arg_specs) -> pytree`` (arg_specs are ShapeDtypeStructs).
        in_specs: optional expected input shapes/dtypes (checked at trace time).
        vmap_method: ``"sequential"`` (default), ``"batched"``, ``"expand_dims"`` or
            ``"sequential_unrolled"``; see the module docstring.
        name: name used in error messages (default: ``forward.__name__``).

    Returns:
        an :class:`ExternalFunction`: ``f(*args)`` works under ``jit``, ``grad``, ``vmap``.
    """
    return ExternalFunction(
        forward=forward,
        vjp=vjp,
        out_spec=out_spec,
        in_specs=None if in_specs is None else tuple(_as_spec(s) for s in in_specs),
        vmap_method=vmap_method,
        name=name or getattr(forward, "__name__", "external model"),
    )


def check_adjoint(
    forward: Callable[..., Any],
    vjp: Callable[..., Any],
    args: Sequence[Any],
    *,
    eps: float = 1e-6,
    seed: int = 0,
) -> float:
    """Dot-product test of a hand-written adjoint: returns the relative mismatch.

    With a random direction ``δx`` (one array per input) and a random output cotangent
    ``ȳ``, compares ``⟨J δx, ȳ⟩`` (``J δx`` by central differences of ``forward`` with step
    ``eps``) with ``Σ_i ⟨δx_i, vjp(args, ȳ)_i⟩``.  A correct adjoint gives a mismatch of the
    order of the finite-difference error (≲ 1e-6 in float64 for smooth models).

    Args:
        forward, vjp: as for :func:`wrap_external`.
        args: the point (NumPy arrays / floats) at which to test.
        eps: finite-difference step.
        seed: random seed for the directions.

    Returns:
        ``|lhs - rhs| / max(|lhs|, |rhs|, tiny)``.
    """
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, dtype=float) for a in args]
    dx = [rng.standard_normal(a.shape) for a in args]
    plus = forward(*[a + eps * d for a, d in zip(args, dx, strict=True)])
    minus = forward(*[a - eps * d for a, d in zip(args, dx, strict=True)])
    jdx = jax.tree_util.tree_map(
        lambda p, m: (np.asarray(p) - np.asarray(m)) / (2 * eps), plus, minus
    )
    ybar = jax.tree_util.tree_map(lambda y: rng.standard_normal(np.shape(y)), jdx)
    lhs = sum(
        float(np.sum(a * b))
        for a, b in zip(
            jax.tree_util.tree_leaves(jdx), jax.tree_util.tree_leaves(ybar), strict=True
        )
    )
    grads = vjp(*args, ybar)
    if len(args) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    rhs = sum(float(np.sum(np.asarray(g) * d)) for g, d in zip(grads, dx, strict=True))
    return abs(lhs - rhs) / max(abs(lhs), abs(rhs), math.ulp(1.0))


# ----------------------------------------------------------------------------------------------
# an external model under the model contract
# ----------------------------------------------------------------------------------------------
class ExternalParameters(eqx.Module):
    """Named parameter values of an :class:`ExternalModel` (pytree leaves), reachable as
    attributes so that :class:`~pyclimaocean.ParameterSet` paths such as
    ``"parameters_.forcing"`` write them."""

    values: dict[str, jax.Array]

    def __getattr__(self, name):
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(f"external model has no parameter {name!r}")


class ExternalState(eqx.Module):
    """State of an :class:`ExternalModel`: one array ``x`` and the clock."""

    x: jax.Array
    time: jax.Array
    iteration: jax.Array


class ExternalModel(AbstractModel):
    """An external model (NumPy, Fortran, Julia …) stepped through a wrapped function.

    ``step_function`` is an :class:`ExternalFunction` from :func:`wrap_external` mapping
    ``(x, *parameter values) -> x`` one time step ahead, with its hand-written adjoint; the
    parameters are leaves (``parameters_``), so ``jax.grad`` of any loss of a run reaches them
    through the external adjoint, and the model runs through ``integrate``, ``Simulation``,
    calibration and ensembles like any JAX model.

    Attributes:
        step_function: the wrapped one-step map (static).
        parameters_: :class:`ExternalParameters` (values, in the order of ``parameter_names``).
        initial: ``x`` at ``t = 0``.
        dt: time step (static, in ``time_units`` of the class: seconds by default).
        parameter_names: order of the parameter values passed to ``step_function`` (static).
        parameter_bounds: ``{name: (lower, upper, units)}`` (static).
        variable: metadata of ``x`` (static; its ``source`` is ``"x"``).
        coordinate_values: ``{dim: values}`` of the variable's dims (static).
    """

    name: ClassVar[str] = "external"

    step_function: ExternalFunction = eqx.field(static=True)
    parameters_: ExternalParameters
    initial: jax.Array
    dt: float = eqx.field(static=True)
    parameter_names: tuple[str, ...] = eqx.field(static=True)
    parameter_bounds: tuple[tuple[str, float, float, str], ...] = eqx.field(static=True)
    variable: Variable = eqx.field(static=True)
    coordinate_values: tuple[tuple[str, tuple], ...] = eqx.field(static=True)

    @classmethod
    def make(cls, step_function: ExternalFunction, initial, dt: float, parameters: dict,
             variable: Variable, coordinates: dict | None = None,
             bounds: dict | None = None) -> ExternalModel:
        """Build from plain values: ``parameters = {name: value}``, ``bounds = {name: (lower,
        upper, units)}``, ``coordinates = {dim: values}`` (default ``arange``)."""
        names = tuple(parameters)
        initial = jnp.asarray(initial, dtype=float)
        coords = coordinates or {d: np.arange(n) for d, n in zip(variable.dims, initial.shape,
                                                                   strict=True)}
        bounds = bounds or {}
        return cls(
            step_function=step_function,
            parameters_=ExternalParameters({k: jnp.asarray(float(v)) for k, v in parameters.items()}),
            initial=initial,
            dt=float(dt),
            parameter_names=names,
            parameter_bounds=tuple((k, *bounds.get(k, (-math.inf, math.inf, "1"))) for k in names),
            variable=Variable(variable.name, variable.dims, variable.units, variable.long_name,
                              variable.standard_name, variable.location, variable.valid_range,
                              dict(variable.attrs), source="x"),
            coordinate_values=tuple((d, tuple(np.asarray(v).tolist())) for d, v in coords.items()),
        )

    def initial_state(self) -> ExternalState:
        return ExternalState(self.initial, jnp.asarray(0.0, dtype=jnp.result_type(float)),
                             jnp.asarray(0))

    def step(self, state: ExternalState) -> ExternalState:
        values = [self.parameters_.values[k] for k in self.parameter_names]
        x = self.step_function(state.x, *values)
        return ExternalState(x, state.time + self.dt, state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        return (self.variable,)

    def coordinates(self) -> tuple[Coordinate, ...]:
        return tuple(Coordinate(d, np.asarray(v), {"units": "1", "long_name": f"{d} index"})
                     for d, v in self.coordinate_values)

    def parameters(self, names=None) -> ParameterSet:
        table = {f"parameters_.{k}": Parameter(self.parameters_.values[k], lower=lo, upper=hi,
                                               units=units)
                 for k, lo, hi, units in self.parameter_bounds}
        if names is None:
            return ParameterSet(table)
        wanted = [n if n.startswith("parameters_.") else f"parameters_.{n}" for n in names]
        unknown = [n for n in wanted if n not in table]
        if unknown:
            raise KeyError(f"{unknown} are not parameters of the external model. "
                           f"Parameters are: {', '.join(table)}")
        return ParameterSet({n: table[n] for n in wanted})

    def describe(self) -> dict[str, str]:
        return {"external": self.step_function.name}
