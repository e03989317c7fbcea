"""Neural closures for periodic 1-D models (Lorenz-96 and relatives), written in equinox.

A *tendency closure* is a pure function ``closure(x) -> u`` mapping the resolved state ``x`` of
shape ``(K,)`` to the tendency ``u`` of shape ``(K,)`` that the unresolved scales add to ``dx/dt``
(units of ``x`` per model time unit, MTU⁻¹).  For the two-scale Lorenz-96 system the exact
forcing of the slow variables is ``U_k = -(h c / b) Σ_j Y_{j,k}``; a closure approximates it
from ``X`` alone.

Networks here:

* :class:`PeriodicCNNClosure`: a stack of 1-D convolutions with *circular* padding and weights
  shared over ``k``.  It is exactly equivariant under cyclic shifts,
  ``closure(roll(x, s)) == roll(closure(x), s)``, as the Lorenz-96 equations are.
* :class:`LocalMLPClosure`: one MLP applied to the periodic stencil
  ``(x_{k-s}, ..., x_{k+s})`` at every ``k`` (shared weights): also shift-equivariant; with
  ``s = 0`` it is a learned point-wise function ``u_k = f(x_k)`` like the cubic polynomial
  closure.
* :class:`GlobalMLPClosure`: an MLP from the whole state ``(K,)`` to ``(K,)``; *not*
  equivariant (kept as the unstructured baseline).

Reflection.  Lorenz-96 is *not* symmetric under ``k -> -k`` (the advection term
``-x_{k-1}(x_{k-2} - x_{k+1})`` has a direction), so no network here is made
reflection-equivariant; doing so would forbid the true closure.

Normalisation.  Every network standardises its input with ``(x - x_mean) / x_scale`` and
de-standardises its output with ``u_mean + u_scale * net``.  These four numbers are *static*
(Python floats, not trainable leaves: an optimizer never changes them, weight decay
included); :func:`standardisation` computes them from training data.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "AbstractTendencyClosure",
    "ZeroClosure",
    "PeriodicCNNClosure",
    "LocalMLPClosure",
    "GlobalMLPClosure",
    "Standardisation",
    "standardisation",
    "ACTIVATIONS",
]

ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "swish": jax.nn.swish,
    "softplus": jax.nn.softplus,
}


def _activation(name: str) -> Callable:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation {name!r} is not supported. Supported activations are: "
            + ", ".join(sorted(ACTIVATIONS))
        )
    return ACTIVATIONS[name]


class Standardisation(eqx.Module):
    """Static input/output scaling of a closure: ``u = u_mean + u_scale * net((x - x_mean) / x_scale)``.

    Attributes (static floats, units of ``x`` and of ``u`` = ``x`` MTU⁻¹):
        x_mean, x_scale, u_mean, u_scale.
    """

    x_mean: float = eqx.field(static=True, default=0.0)
    x_scale: float = eqx.field(static=True, default=1.0)
    u_mean: float = eqx.field(static=True, default=0.0)
    u_scale: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        for name in ("x_scale", "u_scale"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"Standardisation.{name} = {value!r}: must be finite and > 0")

    def inputs(self, x: jax.Array) -> jax.Array:
        return (x - self.x_mean) / self.x_scale

    def outputs(self, z: jax.Array) -> jax.Array:
        return self.u_mean + self.u_scale * z

    def to_dict(self) -> dict[str, float]:
        return {
            "x_mean": self.x_mean,
            "x_scale": self.x_scale,
            "u_mean": self.u_mean,
            "u_scale": self.u_scale,
        }


def standardisation(x, u) -> Standardisation:
    """Scalar mean and standard deviation of the states ``x`` and closure targets ``u``.

    Args:
        x: resolved states, any shape (pooled over all entries).
        u: subgrid tendencies, any shape (pooled).
    """
    x = np.asarray(x, dtype=float)
    u = np.asarray(u, dtype=float)
    return Standardisation(
        x_mean=float(x.mean()),
        x_scale=float(max(x.std(), 1e-12)),
        u_mean=float(u.mean()),
        u_scale=float(max(u.std(), 1e-12)),
    )


class AbstractTendencyClosure(eqx.Module):
    """Base class of tendency closures: ``closure(x) -> u`` with ``x`` and ``u`` of shape ``(K,)``.

    A tendency closure adds ``u`` to the resolved tendency ``dx/dt`` of a model written as an ODE
    (Lorenz-96 and relatives, see :class:`~pyclimaocean.learning.ClosureModel`).  It is *not*
    the vertical-mixing closure interface of ocean models,
    :class:`pyclimaocean.closures.AbstractClosure` (``diffusivities(ctx) -> (ν, κ)``), which
    physical closures (CATKE, Richardson-number, ...) and the neural
    :class:`pyclimaocean.closures.NeuralDiffusivityClosure` implement.  This class was called
    ``AbstractClosure`` before; that name still works here, with a ``DeprecationWarning``.
    """

    @abc.abstractmethod
    def __call__(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def hyperparameters(self) -> dict:
        """JSON-serialisable description from which :func:`pyclimaocean.learning.build_closure`
        rebuilds the same skeleton (needed to load saved weights)."""
        raise NotImplementedError(f"{type(self).__name__} has no hyperparameter description")


class ZeroClosure(AbstractTendencyClosure):
    """No closure: ``u = 0`` (the truncated model)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.zeros_like(x)

    def hyperparameters(self) -> dict:
        return {"architecture": "none"}


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} = {value!r}: must be an int >= {minimum}")
    return int(value)


class PeriodicCNNClosure(AbstractTendencyClosure):
    """Translation-equivariant periodic 1-D CNN closure.

    ``depth`` hidden convolutions with ``width`` channels each and an activation, then a
    linear convolution to one output channel.  All convolutions have an odd ``kernel_size``,
    circular padding of ``kernel_size // 2`` and weights shared over ``k``, so the network is
    exactly equivariant under cyclic shifts of the ``K`` periodic grid points.  The receptive
    field is ``(depth + 1) * (kernel_size - 1) + 1`` points.

    Args:
        width: channels per hidden layer (>= 1).
        depth: number of hidden layers (>= 1).
        kernel_size: odd stencil width (>= 1).
        activation: one of :data:`ACTIVATIONS`.
        scaling: input/output :class:`Standardisation`.
        key: PRNG key for the initial weights.

    Call: ``x`` of shape ``(K,)`` -> ``u`` of shape ``(K,)`` (needs ``K >= kernel_size // 2``).
    """

    layers: tuple[eqx.nn.Conv1d, ...]
    scaling: Standardisation
    activation: str = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)

    def __init__(
        self,
        width: int = 16,
        depth: int = 2,
        kernel_size: int = 5,
        activation: str = "tanh",
        scaling: Standardisation | None = None,
        *,
        key: jax.Array,
    ):
        width = _check_positive_int("width", width)
        depth = _check_positive_int("depth", depth)
        kernel_size = _check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size = {kernel_size}: must be odd (centred stencil)")
        _activation(activation)
        channels = [1] + [width] * depth + [1]
        keys = jax.random.split(key, depth + 1)
        self.layers = tuple(
            eqx.nn.Conv1d(
                c_in,
                c_out,
                kernel_size,
                padding=kernel_size // 2,
                padding_mode="CIRCULAR",
                key=k,
            )
            for c_in, c_out, k in zip(channels[:-1], channels[1:], keys, strict=True)
        )
        self.scaling = scaling if scaling is not None else Standardisation()
        self.activation = activation
        self.width = width
        self.depth = depth
        self.kernel_size = kernel_size

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 1:
            raise ValueError(f"PeriodicCNNClosure expects x of shape (K,), got {x.shape}")
        if x.shape[0] < self.kernel_size // 2:
            raise ValueError(
                f"PeriodicCNNClosure: K = {x.shape[0]} is smaller than the padding "
                f"{self.kernel_size // 2} of kernel_size = {self.kernel_size}"
            )
        act = _activation(self.activation)
        h = self.scaling.inputs(x)[None, :]
        for layer in self.layers[:-1]:
            h = act(layer(h))
        return self.scaling.outputs(self.layers[-1](h)[0])

    def hyperparameters(self) -> dict:
        return {
            "architecture": "cnn",
            "width": self.width,
            "depth": self.depth,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "scaling": self.scaling.to_dict(),
        }


def periodic_stencil(x: jax.Array, half_width: int) -> jax.Array:
    """Periodic stencils ``(x_{k-s}, ..., x_{k+s})`` at every ``k``: shape ``(K, 2s + 1)``."""
    offsets = range(-half_width, half_width + 1)
    return jnp.stack([jnp.roll(x, -o) for o in offsets], axis=-1)


class LocalMLPClosure(AbstractTendencyClosure):
    """MLP on the periodic stencil ``(x_{k-s}, ..., x_{k+s})``, shared over ``k``.

    Shift-equivariant by construction.  ``stencil_half_width = 0`` gives a learned point-wise
    closure ``u_k = f(x_k)``.

    Args:
        stencil_half_width: ``s >= 0``.
        width: hidden units per layer; depth: hidden layers (>= 1).
        activation: one of :data:`ACTIVATIONS`; scaling: :class:`Standardisation`; key: PRNG key.
    """

    mlp: eqx.nn.MLP
    scaling: Standardisation
    stencil_half_width: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        stencil_half_width: int = 2,
        width: int = 32,
        depth: int = 2,
        activation: str = "tanh",
        scaling: Standardisation | None = None,
        *,
        key: jax.Array,
    ):
        s = _check_positive_int("stencil_half_width", stencil_half_width, minimum=0)
        width = _check_positive_int("width", width)
        depth = _check_positive_int("depth", depth)
        self.mlp = eqx.nn.MLP(
            2 * s + 1, "scalar", width, depth, activation=_activation(activation), key=key
        )
        self.scaling = scaling if scaling is not None else Standardisation()
        self.stencil_half_width = s
        self.activation = activation
        self.width = width
        self.depth = depth

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 1:
            raise ValueError(f"LocalMLPClosure expects x of shape (K,), got {x.shape}")
        stencils = periodic_stencil(self.scaling.inputs(x), self.stencil_half_width)
        return self.scaling.outputs(jax.vmap(self.mlp)(stencils))

    def hyperparameters(self) -> dict:
        return {
            "architecture": "local_mlp",
            "stencil_half_width": self.stencil_half_width,
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation,
            "scaling": self.scaling.to_dict(),
        }


class GlobalMLPClosure(AbstractTendencyClosure):
    """MLP from the whole state ``(K,)`` to ``(K,)`` (not equivariant; baseline).

    Args:
        n: number of resolved variables ``K``.
        width, depth, activation, scaling, key: as :class:`LocalMLPClosure`.
    """

    mlp: eqx.nn.MLP
    scaling: Standardisation
    n: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        width: int = 64,
        depth: int = 2,
        activation: str = "tanh",
        scaling: Standardisation | None = None,
        *,
        key: jax.Array,
    ):
        n = _check_positive_int("n", n)
        width = _check_positive_int("width", width)
        depth = _check_positive_int("depth", depth)
        self.mlp = eqx.nn.MLP(n, n, width, depth, activation=_activation(activation), key=key)
        self.scaling = scaling if scaling is not None else Standardisation()
        self.n = n
        self.activation = activation
        self.width = width
        self.depth = depth

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape != (self.n,):
            raise ValueError(f"GlobalMLPClosure expects x of shape ({self.n},), got {x.shape}")
        return self.scaling.outputs(self.mlp(self.scaling.inputs(x)))

    def hyperparameters(self) -> dict:
        return {
            "architecture": "global_mlp",
            "n": self.n,
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation,
            "scaling": self.scaling.to_dict(),
        }


def _deprecated_alias(stacklevel: int) -> type[AbstractTendencyClosure]:
    import warnings

    warnings.warn(
        "pyclimaocean.learning.AbstractClosure is deprecated: it is the tendency-closure base "
        "class, now named AbstractTendencyClosure (the vertical-mixing closure interface is "
        "pyclimaocean.closures.AbstractClosure)",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return AbstractTendencyClosure


def __getattr__(name: str):
    # deprecated alias (the old name clashed with pyclimaocean.closures.AbstractClosure)
    if name == "AbstractClosure":
        return _deprecated_alias(stacklevel=2)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
