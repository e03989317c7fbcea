r"""Rotation/reflection-equivariant CNN closures of the two-layer QG model, for the symmetry
group that actually survives in a configuration.

Which symmetries survive
------------------------
Let ``g`` act on the plane by an orthogonal map ``R_g`` (a rotation by a multiple of 90° or a
reflection: the square lattice's point group D4), and on a field by ``(g·f)(x) = s f(R_g⁻¹ x)``
with a sign ``s = ±1`` to be found.  The layer equations are

    ∂t q_i + J(ψ_i, q_i) + U_i ∂x q_i + Q_yi ∂x ψ_i = −δ_i2 r_ek ∇²ψ_2 + S_i,
    q_i = ∇²ψ_i + F_i (ψ_j − ψ_i).

* The inversion ``q ↔ ψ`` (∇² and the layer coupling) commutes with every ``R_g``: ψ and q
  take the same sign ``s``.  The drag term ``∇²ψ_2`` is isotropic too.
* The Jacobian is a *pseudo*-scalar bilinear form: ``J(f∘R⁻¹, h∘R⁻¹) = det(R) J(f, h)∘R⁻¹``.
  With ψ → sψ and q → sq, ``J → s² det(R) J`` while ``∂t q → s ∂t q``, so the advection is
  kept only for ``s = det R``: **ψ and q are pseudo-scalars** — unchanged under rotations,
  sign-flipped under reflections (``x → −x`` with ``ψ → −ψ``).  The velocity
  ``(u, v) = (−∂y ψ, ∂x ψ) = ẑ × ∇ψ`` is then a true (polar) vector, ``u → R u``: under
  ``y → −y``, ``u(x, y) → u(x, −y)`` and ``v(x, y) → −v(x, −y)``; the relative vorticity and
  the subgrid PV forcing ``S`` are pseudo-scalars like q.
* The terms ``U_i ∂x q_i`` and ``Q_yi ∂x ψ_i`` contain one ``∂x``.  Under ``y → −y``
  (``R = diag(1, −1)``, s = −1) ``∂x`` is unchanged, so they pick up the same sign ``s`` as
  ``∂t q``: **kept**.  Under ``x → −x`` ∂x flips, so they change sign relative to ``∂t q``:
  the map takes the system with ``(U_i, β)`` to the one with ``(−U_i, −β)`` — **broken** as
  soon as β ≠ 0 or U_1 ≠ U_2 (a common ``U_1 = U_2`` is removed by a Galilean boost, which
  leaves the eddy fields a closure sees unchanged).  The rotation by 180° is the product of
  the two reflections: broken too.  A rotation by 90° turns ``∂x`` into ``∂y`` (a
  meridional flow / PV gradient): broken by any β or shear.

Hence, on the doubly periodic square grid (the pseudo-spectral operators and pyqg's
exponential filter, a function of ``(kΔx)² + (lΔy)²``, have the lattice symmetries exactly):

=================================================  =====================================
configuration                                       surviving point group (× translations)
=================================================  =====================================
f-plane (β = 0), no shear (U_1 = U_2), L = W       D4: 4 rotations by 90°, 4 reflections
f-plane, no shear, L ≠ W or nx ≠ ny                D2: identity, x- and y-reflection, 180°
β ≠ 0 or U_1 ≠ U_2 (Ross et al. "eddy", "jet")     Z2 = {identity, y → −y with ψ, q → −ψ, −q}
=================================================  =====================================

:func:`surviving_group` returns this name for a model, and ``tests/test_qg_learned.py`` checks
the table on the solver itself: ``step(g·state) = g·step(state)`` to round-off for exactly the
elements listed, and not for the others.  The reflection symmetry of the eddy and jet
configurations is the β-plane's ``y → −y`` (the mirror image of a flow, seen with f → −f);
it maps a northward eddy PV flux ``⟨v q⟩`` to a northward one (v and q both flip), as it must
since the flux is set by the sign of ``Q_y``.

Architecture
------------
Group CNNs for the regular representation (Cohen & Welling 2016, "Group equivariant
convolutional networks", ICML), written as periodic convolutions with group-expanded kernels:

* **lifting layer**: for each group element h, ``F[c, h] = (h·K_c) ⋆ (det(h) x) + b_c``, with
  ``h·K`` the kernel rotated / reflected by h and ``det(h)`` the parity that makes the
  pseudo-scalar inputs (q of both layers) transform into the regular representation;
* **group convolutions**: ``F'[c, h] = Σ_{c', h'} (h·W_{c c'}(h⁻¹h')) ⋆ F[c', h'] + b_c``;
* point-wise activations (they commute with permutations of h);
* **projection**: ``S_c = |G|⁻¹ Σ_h det(h) F[c, h]``, a pseudo-scalar again, and the domain
  mean removed as in :class:`~pyclimaocean.models.qg.neural.ConvQGClosure`.

Then ``closure(g·q) = g·closure(q)`` exactly (to round-off) for every g in the group and every
grid translation.  Each layer is one periodic convolution with a kernel of ``|G|`` times the
channels, built from ``|G|`` times fewer free weights than a plain CNN of the same feature
width.  The biases are shared over h (a per-h bias would break equivariance).  Inputs are q
only (pseudo-scalars); the velocities (vectors) are not supported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .closure import AbstractQGClosure, QGFields
from .neural import ACTIVATIONS, _check_choice, _check_int, _check_scales, periodic_conv

__all__ = [
    "GROUPS",
    "EquivariantQGClosure",
    "SymmetryGroup",
    "act_on_field",
    "surviving_group",
    "symmetry_group",
]

#: D4 elements as (quarter turns r, y-flip m): the map "flip y if m, then rotate by r·90°"
_D4 = tuple((r, m) for m in (0, 1) for r in range(4))

#: named groups (subgroups of D4) and their elements
GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "D4": _D4,
    "D2": ((0, 0), (2, 0), (0, 1), (2, 1)),
    "reflection_y": ((0, 0), (0, 1)),
    "trivial": ((0, 0),),
}


def _transform(a, element: tuple[int, int]):
    """Spatial action of a D4 element on the last two axes ``(y, x)`` of an array (numpy or
    jax): flip y (axis −2) if ``m``, then rotate by ``r`` quarter turns."""
    r, m = element
    mod = jnp if isinstance(a, jax.Array) else np
    if m:
        a = mod.flip(a, axis=-2)
    return mod.rot90(a, k=r, axes=(-2, -1)) if r else a


def act_on_field(element: tuple[int, int], field, parity: bool = True):
    """``g·f`` for a field ``(..., ny, nx)`` (ny = nx for quarter turns): the spatial map, times
    ``det(g)`` for a pseudo-scalar (``parity=True``: q, ψ, S) or not (a true scalar)."""
    out = _transform(field, element)
    return -out if (parity and element[1]) else out


class SymmetryGroup(eqx.Module):
    """A finite subgroup of D4 with its multiplication table (static, host numpy).

    Attributes:
        name: key of :data:`GROUPS`.
        elements: ``(r, m)`` pairs (see :func:`act_on_field`); element 0 is the identity.
        det: ``det(R_g)`` of each element (+1 rotations, −1 reflections).
        left_inverse_product: ``[h, h']`` → index of ``h⁻¹ h'``.
    """

    name: str = eqx.field(static=True)
    elements: tuple[tuple[int, int], ...] = eqx.field(static=True)
    det: tuple[int, ...] = eqx.field(static=True)
    left_inverse_product: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(self, name: str):
        self.name = _check_choice("SymmetryGroup", "group", name, GROUPS)
        self.elements = GROUPS[name]
        self.det = tuple(-1 if m else 1 for _, m in self.elements)
        # identify compositions by their action on a probe with no symmetry at all
        probe = np.arange(9.0).reshape(3, 3) ** 1.5
        images = [_transform(probe, e) for e in self.elements]

        def index(a):
            hits = [i for i, b in enumerate(images) if np.array_equal(a, b)]
            if len(hits) != 1:
                raise ValueError(f"group {name!r} is not closed under composition")
            return hits[0]

        inverse = []
        for e in self.elements:
            inverse.append(next(i for i, f in enumerate(self.elements)
                                if np.array_equal(_transform(_transform(probe, e), f), probe)))
        self.left_inverse_product = tuple(
            tuple(index(_transform(_transform(probe, self.elements[hp]),
                                   self.elements[inverse[h]]))
                  for hp in range(len(self.elements)))
            for h in range(len(self.elements)))

    @property
    def order(self) -> int:
        return len(self.elements)


def surviving_group(model) -> str:
    """Name of the point group of :class:`~pyclimaocean.models.qg.TwoLayerQG` ``model``
    (see the module docstring): ``"reflection_y"`` if β ≠ 0 or U_1 ≠ U_2, else ``"D4"`` on a
    square grid and domain, else ``"D2"``."""
    sheared = float(model.U1) != float(model.U2)
    if float(model.beta) != 0.0 or sheared:
        return "reflection_y"
    if model.nx == model.ny and model.L == model.W:
        return "D4"
    return "D2"


def symmetry_group(name: str) -> SymmetryGroup:
    """The :class:`SymmetryGroup` called ``name`` (a key of :data:`GROUPS`)."""
    return SymmetryGroup(name)


def _init(key, shape, fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype=jnp.result_type(float), minval=-bound,
                              maxval=bound)


class _LiftingConv(eqx.Module):
    weight: jnp.ndarray  # (C_out, C_in, k, k)
    bias: jnp.ndarray  # (C_out,)

    def kernel(self, group: SymmetryGroup):
        """``(C_out |G|, C_in, k, k)``: row ``(c, h)`` is ``det(h) h·K_c``."""
        rows = [d * _transform(self.weight, e) for e, d in zip(group.elements, group.det,
                                                               strict=True)]
        stacked = jnp.stack(rows, axis=1)  # (C_out, |G|, C_in, k, k)
        c_out, n_g = stacked.shape[:2]
        return stacked.reshape(c_out * n_g, *stacked.shape[2:])

    def __call__(self, x, group: SymmetryGroup):
        return periodic_conv(x, self.kernel(group), jnp.repeat(self.bias, group.order))


class _GroupConv(eqx.Module):
    weight: jnp.ndarray  # (C_out, C_in, |G|, k, k)
    bias: jnp.ndarray  # (C_out,)

    def kernel(self, group: SymmetryGroup):
        """``(C_out |G|, C_in |G|, k, k)``: block ``[(c, h), (c', h')]`` is
        ``h·W_{c c'}(h⁻¹ h')``."""
        table = np.asarray(group.left_inverse_product)
        rows = [_transform(self.weight[:, :, table[h]], group.elements[h])
                for h in range(group.order)]
        stacked = jnp.stack(rows, axis=1)  # (C_out, |G|_h, C_in, |G|_h', k, k)
        c_out, n_g, c_in = stacked.shape[:3]
        return stacked.reshape(c_out * n_g, c_in * n_g, *stacked.shape[-2:])

    def __call__(self, x, group: SymmetryGroup):
        return periodic_conv(x, self.kernel(group), jnp.repeat(self.bias, group.order))


class EquivariantQGClosure(AbstractQGClosure):
    """Group-equivariant periodic CNN closure of the QG PV equation (see the module docstring).

    Args:
        group: ``"D4"``, ``"D2"``, ``"reflection_y"`` or ``"trivial"`` (:data:`GROUPS`); use
            :func:`surviving_group` of the model (the architecture must respect only the true
            symmetries).  ``"trivial"`` is a plain translation-equivariant CNN.
        width: channels per group element in each hidden layer (>= 1); a hidden layer holds
            ``width × |G|`` feature maps.
        depth: hidden layers (>= 1), as :class:`~pyclimaocean.models.qg.neural.ConvQGClosure`.
        kernel_size: odd kernel width (grid points).
        activation: one of :data:`~pyclimaocean.models.qg.neural.ACTIVATIONS`.
        input_scale: RMS scale of q in each layer (s⁻¹); output_scale: of S (s⁻²).
        key: PRNG key of the initial weights.

    Input: q of both layers (pseudo-scalars).  ``pv_tendency(model, fields)`` returns
    ``(2, ny, nx)`` (s⁻²).  Quarter turns need a square grid (``ny = nx``).
    """

    lifting: _LiftingConv
    hidden: tuple[_GroupConv, ...]
    group: SymmetryGroup
    inputs: str = eqx.field(static=True)
    input_scale: tuple[float, ...] = eqx.field(static=True)
    output_scale: tuple[float, ...] = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    kernel_size: int = eqx.field(static=True)

    def __init__(self, group: str = "reflection_y", width: int = 8, depth: int = 2,
                 kernel_size: int = 5, activation: str = "relu",
                 input_scale: Sequence[float] | None = None,
                 output_scale: Sequence[float] | None = None, *, key: jax.Array):
        owner = type(self).__name__
        self.group = SymmetryGroup(group)
        self.inputs = "q"
        self.activation = _check_choice(owner, "activation", activation, ACTIVATIONS)
        self.width = _check_int(owner, "width", width)
        self.depth = _check_int(owner, "depth", depth)
        self.kernel_size = _check_int(owner, "kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"{owner}: kernel_size = {kernel_size} must be odd (centred)")
        self.input_scale = _check_scales(owner, "input_scale",
                                         [1.0, 1.0] if input_scale is None else input_scale, 2)
        self.output_scale = _check_scales(owner, "output_scale",
                                          [1.0, 1.0] if output_scale is None else output_scale,
                                          2)
        k, n_g, w = self.kernel_size, self.group.order, self.width
        keys = jax.random.split(key, 2 * (self.depth + 1))
        self.lifting = _LiftingConv(_init(keys[0], (w, 2, k, k), 2 * k * k),
                                    _init(keys[1], (w,), 2 * k * k))
        channels = [w] * self.depth + [2]
        self.hidden = tuple(
            _GroupConv(_init(keys[2 + 2 * i], (c_out, c_in, n_g, k, k), c_in * n_g * k * k),
                       _init(keys[3 + 2 * i], (c_out,), c_in * n_g * k * k))
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:], strict=True))
        )

    def forcing(self, q: jnp.ndarray) -> jnp.ndarray:
        """Subgrid PV forcing ``(2, ny, nx)`` (s⁻²) of PV ``q`` ``(2, ny, nx)`` (s⁻¹)."""
        act = ACTIVATIONS[self.activation]
        g = self.group
        h = act(self.lifting(q / jnp.asarray(self.input_scale)[:, None, None], g))
        for layer in self.hidden[:-1]:
            h = act(layer(h, g))
        out = self.hidden[-1](h, g)  # (2 |G|, ny, nx), ordered (c, h)
        out = out.reshape(2, g.order, *out.shape[-2:])
        out = jnp.einsum("chyx,h->cyx", out, jnp.asarray(g.det, dtype=out.dtype)) / g.order
        out = out * jnp.asarray(self.output_scale)[:, None, None]
        return out - jnp.mean(out, axis=(-2, -1), keepdims=True)

    def pv_tendency(self, model, fields: QGFields) -> jnp.ndarray:
        return self.forcing(fields.q)

    def hyperparameters(self) -> dict:
        """JSON description from which :func:`~pyclimaocean.models.qg.closure_io.load_closure`
        rebuilds the skeleton."""
        return {"group": self.group.name, "width": self.width, "depth": self.depth,
                "kernel_size": self.kernel_size, "activation": self.activation,
                "input_scale": list(self.input_scale), "output_scale": list(self.output_scale)}

    def n_parameters(self) -> int:
        """Number of free trainable numbers (weights and biases)."""
        leaves = jax.tree_util.tree_leaves(eqx.filter(self, eqx.is_inexact_array))
        return int(sum(x.size for x in leaves))

    def describe(self) -> str:
        return (f"EquivariantQGClosure(group={self.group.name}, width={self.width}, "
                f"depth={self.depth}, kernel={self.kernel_size}, "
                f"{self.n_parameters()} parameters)")
