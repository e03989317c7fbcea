r"""A fully convolutional neural closure of the two-layer QG model (equinox, periodic padding).

:class:`ConvQGClosure` maps the resolved fields of each layer of a coarse model to the subgrid
PV forcing ``S_i(x, y)`` (s⁻²) of :class:`~pyclimaocean.models.qg.closure.AbstractQGClosure`,
as the fully convolutional networks of Ross et al. (2023, JAMES) and Guillaumin & Zanna
(2021) do: a stack of 2-D convolutions with *circular* padding (the domain is doubly
periodic), weights shared over the grid, an activation between them and a linear last layer,

.. math::

    S = s_\mathrm{out} \odot \mathcal{C}_L \circ σ \circ \cdots \circ σ \circ \mathcal{C}_1
        (x / s_\mathrm{in}) - \langle \cdot \rangle,

with the input channels ``x``

* ``inputs="q"``: ``(q_1, q_2)`` (s⁻¹), the PV anomaly of both layers;
* ``inputs="uv"``: ``(u_1, v_1, u_2, v_2)`` (m s⁻¹), the eddy velocities;
* ``inputs="q_uv"``: both (six channels),

``s_in`` (one scale per channel, units of the channel) and ``s_out`` (one per layer, s⁻²) static
standardisation scales (:func:`channel_scales`), and ``⟨·⟩`` the domain mean of each output
layer: a subgrid PV forcing of a doubly periodic domain is the divergence of a flux and has
zero mean, so the network's mean is removed.  No input mean is subtracted, so the network
keeps the parity of its inputs available to symmetric architectures
(:mod:`~pyclimaocean.models.qg.equivariant`).

The network is exactly equivariant under the grid translations (periodic convolutions with
shared weights), and under nothing else: rotations and reflections of the input give outputs
that are not the rotated / reflected outputs (``tests/test_qg_learned.py`` measures it).

Training: offline (MSE against coarse-grained subgrid forcings) and online (through the
solver) in :mod:`pyclimaocean.learning.qg`.  Float64: the weights are built in the default
floating dtype (float64 once ``pyclimaocean`` is imported).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .closure import AbstractQGClosure, QGFields

__all__ = ["ACTIVATIONS", "INPUT_KINDS", "ConvQGClosure", "channel_scales", "closure_inputs",
           "periodic_conv"]

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": jax.nn.gelu,
               "swish": jax.nn.swish}

#: input channels of each ``inputs`` choice (see the module docstring)
INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "q": ("q1", "q2"),
    "uv": ("u1", "v1", "u2", "v2"),
    "q_uv": ("q1", "q2", "u1", "v1", "u2", "v2"),
}


def _check_choice(owner: str, name: str, value: str, options) -> str:
    if value not in options:
        raise ValueError(f"{owner}: {name} {value!r} is not supported. Supported {name}s are: "
                         + ", ".join(options))
    return value


def _check_int(owner: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{owner}: {name} = {value!r} must be an int >= {minimum}")
    return int(value)


def _check_scales(owner: str, name: str, values, n: int) -> tuple[float, ...]:
    values = tuple(float(v) for v in np.ravel(np.asarray(values, dtype=float)))
    if len(values) != n or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"{owner}: {name} = {values!r} must be {n} finite numbers > 0")
    return values


def closure_inputs(fields: QGFields, inputs: str) -> jnp.ndarray:
    """The input channels ``(C, ny, nx)`` of ``inputs`` (``"q"``, ``"uv"``, ``"q_uv"``) from a
    state's :class:`~pyclimaocean.models.qg.closure.QGFields` (units of each field)."""
    q, u, v = fields.q, fields.u, fields.v
    if inputs == "q":
        return q
    uv = jnp.stack([u[..., 0, :, :], v[..., 0, :, :], u[..., 1, :, :], v[..., 1, :, :]],
                   axis=-3)
    if inputs == "uv":
        return uv
    if inputs == "q_uv":
        return jnp.concatenate([q, uv], axis=-3)
    _check_choice("closure_inputs", "inputs", inputs, INPUT_KINDS)
    raise AssertionError("unreachable")


def channel_scales(inputs: jnp.ndarray, forcing: jnp.ndarray) -> tuple[tuple[float, ...],
                                                                          tuple[float, ...]]:
    """Root-mean-square scales of training data, one per channel: ``(input_scale,
    output_scale)`` for ``inputs`` ``(..., C, ny, nx)`` and ``forcing`` ``(..., 2, ny, nx)``.

    RMS, not standard deviation: the scaling must not subtract a mean (see the module
    docstring)."""
    x = np.asarray(inputs, dtype=float)
    s = np.asarray(forcing, dtype=float)

    def rms(a):
        return np.sqrt(np.mean(np.moveaxis(a, -3, 0).reshape(a.shape[-3], -1) ** 2, axis=1))

    return (tuple(float(max(v, 1e-30)) for v in rms(x)),
            tuple(float(max(v, 1e-30)) for v in rms(s)))


def periodic_conv(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray | None = None
                  ) -> jnp.ndarray:
    """Periodic cross-correlation ``out[o, y, x] = Σ_{c, i, j} K[o, c, i, j] x[c, y + i − p,
    x + j − p] + b_o`` (``p = k // 2``) of ``x`` ``(C_in, ny, nx)`` with a ``kernel``
    ``(C_out, C_in, k, k)``, plus ``bias`` ``(C_out,)`` or ``(C_out, 1, 1)``: what a
    circular-padded ``lax.conv`` (``eqx.nn.Conv2d(padding_mode="CIRCULAR")``) computes, done
    in Fourier space.

    The kernel is scattered (added, so a kernel wider than the grid wraps correctly) onto the
    periodic grid at offsets ``(p − i, p − j)``, and ``out = irfft2(Σ_c K̂_oc x̂_c)``.  Same
    numbers to round-off (1e-15 relative); on XLA:CPU in float64 this is ~17× faster forward
    and ~24× faster in the gradient than ``lax.conv`` at 32² with 12 channels and a 5×5 kernel
    (measured on this machine), which is what makes year-long runs of CNN-closed ensembles
    affordable.  Not interchangeable with a non-periodic convolution."""
    c_out, c_in, ky, kx = kernel.shape
    ny, nx = x.shape[-2:]
    iy = (ky // 2 - np.arange(ky)) % ny
    ix = (kx // 2 - np.arange(kx)) % nx
    full = jnp.zeros((c_out, c_in, ny, nx), dtype=jnp.result_type(kernel, x))
    full = full.at[:, :, iy[:, None], ix[None, :]].add(kernel)
    out = jnp.fft.irfft2(jnp.einsum("ocyx,cyx->oyx", jnp.fft.rfft2(full), jnp.fft.rfft2(x)),
                         s=(ny, nx))
    if bias is not None:
        out = out + jnp.reshape(bias, (c_out, 1, 1))
    return out


class ConvQGClosure(AbstractQGClosure):
    """Fully convolutional, periodic CNN closure of the QG PV equation (see the module docstring).

    Args:
        inputs: ``"q"``, ``"uv"`` or ``"q_uv"`` (:data:`INPUT_KINDS`).
        width: channels of each hidden layer (>= 1).
        depth: hidden layers (>= 1); the network has ``depth + 1`` convolutions.
        kernel_size: odd kernel width (grid points); the receptive field is
            ``(depth + 1) (kernel_size - 1) + 1`` points.
        activation: one of :data:`ACTIVATIONS`.
        input_scale: one RMS scale per input channel (units of the channel), e.g. from
            :func:`channel_scales`; default 1.
        output_scale: one scale per layer (s⁻²); default 1.
        key: PRNG key of the initial weights.

    ``pv_tendency(model, fields)`` returns ``(2, ny, nx)`` (s⁻²); :meth:`forcing` is the same
    map from the input channels ``(C, ny, nx)``.
    """

    layers: tuple[eqx.nn.Conv2d, ...]
    inputs: str = eqx.field(static=True)
    input_scale: tuple[float, ...] = eqx.field(static=True)
    output_scale: tuple[float, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)

    def __init__(self, inputs: str = "q", width: int = 16, depth: int = 2,
                 kernel_size: int = 5, activation: str = "relu",
                 input_scale: Sequence[float] | None = None,
                 output_scale: Sequence[float] | None = None, *, key: jax.Array):
        owner = type(self).__name__
        self.inputs = _check_choice(owner, "inputs", inputs, INPUT_KINDS)
        self.activation = _check_choice(owner, "activation", activation, ACTIVATIONS)
        self.width = _check_int(owner, "width", width)
        self.depth = _check_int(owner, "depth", depth)
        self.kernel_size = _check_int(owner, "kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{owner}: kernel_size = {kernel_size} must be odd (centred)")
        n_in = len(INPUT_KINDS[inputs])
        self.input_scale = _check_scales(owner, "input_scale",
                                         [1.0] * n_in if input_scale is None else input_scale,
                                         n_in)
        self.output_scale = _check_scales(owner, "output_scale",
                                          [1.0, 1.0] if output_scale is None else output_scale,
                                          2)
        channels = [n_in] + [self.width] * self.depth + [2]
        keys = jax.random.split(key, len(channels) - 1)
        dtype = jnp.result_type(float)
        self.layers = tuple(
            eqx.nn.Conv2d(c_in, c_out, self.kernel_size, padding=self.kernel_size // 2,
                          padding_mode="CIRCULAR", dtype=dtype, key=k)
            for c_in, c_out, k in zip(channels[:-1], channels[1:], keys, strict=True)
        )

    def forcing(self, x: jnp.ndarray) -> jnp.ndarray:
        """Subgrid PV forcing ``(2, ny, nx)`` (s⁻²) of input channels ``x`` ``(C, ny, nx)``."""
        act = ACTIVATIONS[self.activation]
        h = x / jnp.asarray(self.input_scale)[:, None, None]
        for layer in self.layers[:-1]:
            h = act(periodic_conv(h, layer.weight, layer.bias))
        out = (periodic_conv(h, self.layers[-1].weight, self.layers[-1].bias)
               * jnp.asarray(self.output_scale)[:, None, None])
        return out - jnp.mean(out, axis=(-2, -1), keepdims=True)

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        return self.forcing(closure_inputs(fields, self.inputs))

    def hyperparameters(self) -> dict:
        """JSON description from which :func:`~pyclimaocean.models.qg.closure_io.load_closure`
        rebuilds the skeleton."""
        return {"inputs": self.inputs, "width": self.width, "depth": self.depth,
                "kernel_size": self.kernel_size, "activation": self.activation,
                "input_scale": list(self.input_scale), "output_scale": list(self.output_scale)}

    def n_parameters(self) -> int:
        """Number of trainable numbers (weights and biases)."""
        leaves = jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_inexact_array))
        return int(sum(x.size for x in leaves))

    def describe(self) -> str:
        return (f"ConvQGClosure(inputs={self.inputs}, width={self.width}, depth={self.depth}, "
                f"kernel={self.kernel_size}, {self.n_parameters()} parameters)")
