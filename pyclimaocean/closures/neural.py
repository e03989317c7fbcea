r"""A neural vertical-mixing closure: an equinox network behind :class:`AbstractClosure`.

:class:`NeuralDiffusivityClosure` maps local, nondimensional features of the column at each
interior face to a viscosity ν and a diffusivity κ there.  It implements the same interface as
the physical closures (``diffusivities(ctx) -> (viscosity, diffusivity)``), so it drops into
``ColumnModel(closure=...)`` unchanged, joins the model's batched tridiagonal solve, and its
network weights are the trainable (inexact-array) leaves of the model pytree; everything else
(the feature scales, the background floor) is static.

Features at an interior face k (all dimensionless, O(1) for typical upper-ocean values):

.. math::

    q_1 = \operatorname{asinh}(N^2_k / N^2_0), \quad
    q_2 = \operatorname{asinh}(S^2_k / S^2_0), \quad
    q_3 = \operatorname{asinh}(J^b / J^b_0), \quad
    q_4 = u_\star / u_{\star 0}, \quad
    q_5 = d_k / d_0,

with N² the buoyancy frequency squared and S² the shear squared at the face (s⁻²), Jᵇ the
upward surface buoyancy flux (m² s⁻³, > 0 convects), u★ the friction velocity (m s⁻¹) and
``d_k = -z_k`` the depth of the face (m).  ``asinh`` keeps the sign of N² (convectively unstable
faces have N² < 0) and compresses the decades N² and Jᵇ span.  The surface quantities Jᵇ and u★
are the same at every face; the network is applied face by face (``jax.vmap``), so it is a
*local* closure in the sense of K-profile or Richardson-number closures, with the depth as its
only knowledge of position.

Outputs: two numbers ``(o_ν, o_κ)`` per face,

.. math::

    ν = ν_b + ν_0 \, \operatorname{softplus}(o_ν), \qquad
    κ = κ_b + κ_0 \, \operatorname{softplus}(o_κ),

non-negative by construction with the background floor ``ν_b, κ_b`` (m² s⁻¹).

Float64: the network is built in the default floating dtype, which is float64 because importing
``pyclimaocean`` enables ``jax_enable_x64``.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .base import AbstractClosure, ColumnContext

__all__ = ["NeuralDiffusivityClosure", "FeatureScales", "FEATURE_NAMES"]

#: names of the input features, in order (see the module docstring)
FEATURE_NAMES = (
    "asinh(N2 / N2_0)",
    "asinh(S2 / S2_0)",
    "asinh(Jb / Jb_0)",
    "ustar / ustar_0",
    "depth / depth_0",
)

ACTIVATIONS = {"tanh": jnp.tanh, "swish": jax.nn.swish, "gelu": jax.nn.gelu}


def _check_positive(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name} = {value!r}: must be a real number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}.{name} = {value!r}: must be finite and > 0")
    return float(value)


class FeatureScales(eqx.Module):
    """Reference scales that make the closure's inputs dimensionless (static floats).

    Attributes:
        buoyancy_frequency_squared: N²₀ (s⁻²); 1e-5 ≈ a stratification of 0.005 K m⁻¹.
        shear_squared: S²₀ (s⁻²).
        surface_buoyancy_flux: Jᵇ₀ (m² s⁻³); 1e-8 ≈ 20 W m⁻² of cooling.
        friction_velocity: u★₀ (m s⁻¹); 1e-2 ≈ a wind stress of 0.1 N m⁻².
        depth: d₀ (m).
    """

    buoyancy_frequency_squared: float = eqx.field(static=True, default=1e-5)
    shear_squared: float = eqx.field(static=True, default=1e-5)
    surface_buoyancy_flux: float = eqx.field(static=True, default=1e-8)
    friction_velocity: float = eqx.field(static=True, default=1e-2)
    depth: float = eqx.field(static=True, default=100.0)

    def __check_init__(self):
        for name in (
            "buoyancy_frequency_squared",
            "shear_squared",
            "surface_buoyancy_flux",
            "friction_velocity",
            "depth",
        ):
            _check_positive("FeatureScales", name, getattr(self, name))


class NeuralDiffusivityClosure(AbstractClosure):
    """Viscosity and diffusivity from an MLP of local, nondimensional features (see module).

    Args:
        width: hidden units per layer (>= 1).
        depth: hidden layers (>= 1).
        activation: ``"tanh"``, ``"swish"`` or ``"gelu"``.
        scales: :class:`FeatureScales` (input nondimensionalisation).
        viscosity_scale, diffusivity_scale: ν₀, κ₀ (m² s⁻¹), the output scales.
        background_viscosity, background_diffusivity: ν_b, κ_b (m² s⁻¹, >= 0), the floor.
        key: PRNG key for the initial weights.

    ``diffusivities(ctx)`` returns ``(ν, κ)``, each ``(nz - 1,)`` at the interior faces
    (m² s⁻¹).  :meth:`features` gives the network's inputs ``(nz - 1, 5)``.  The network has no
    TKE (``has_tke = False``) and no named scalar parameters (``parameter_specs() == {}``): train
    its weights with :func:`pyclimaocean.learning.fit_online`.
    """

    layers: tuple[eqx.nn.Linear, ...]
    scales: FeatureScales
    viscosity_scale: float = eqx.field(static=True)
    diffusivity_scale: float = eqx.field(static=True)
    background_viscosity: float = eqx.field(static=True)
    background_diffusivity: float = eqx.field(static=True)
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        width: int = 16,
        depth: int = 2,
        activation: str = "tanh",
        scales: FeatureScales | None = None,
        viscosity_scale: float = 1e-2,
        diffusivity_scale: float = 1e-2,
        background_viscosity: float = 1e-5,
        background_diffusivity: float = 1e-6,
        *,
        key: jax.Array,
    ):
        owner = type(self).__name__
        for name, value in (("width", width), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{owner}: {name} = {value!r} must be an int >= 1")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{owner}: activation {activation!r} is not supported. Supported activations "
                f"are: {', '.join(ACTIVATIONS)}"
            )
        for name, value in (
            ("background_viscosity", background_viscosity),
            ("background_diffusivity", background_diffusivity),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{owner}: {name} = {value!r} must be finite and >= 0 (m2 s-1)")
        self.viscosity_scale = _check_positive(owner, "viscosity_scale", viscosity_scale)
        self.diffusivity_scale = _check_positive(owner, "diffusivity_scale", diffusivity_scale)
        self.background_viscosity = float(background_viscosity)
        self.background_diffusivity = float(background_diffusivity)
        self.scales = scales if scales is not None else FeatureScales()
        self.activation = activation
        # a plain tuple of Linear layers, the activation named by a static string: the closure
        # is then a pytree of arrays only, so models holding it pass through jax.jit / vmap
        sizes = [len(FEATURE_NAMES)] + [width] * depth + [2]
        keys = jax.random.split(key, len(sizes) - 1)
        dtype = jnp.result_type(float)
        self.layers = tuple(
            eqx.nn.Linear(n_in, n_out, dtype=dtype, key=k)
            for n_in, n_out, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )

    def features(self, ctx: ColumnContext) -> jax.Array:
        """Nondimensional inputs at the interior faces, ``(nz - 1, 5)`` (order of
        :data:`FEATURE_NAMES`)."""
        sc = self.scales
        n2 = jnp.asarray(ctx.buoyancy_frequency_squared)
        ones = jnp.ones_like(n2)
        return jnp.stack(
            [
                jnp.arcsinh(n2 / sc.buoyancy_frequency_squared),
                jnp.arcsinh(ctx.shear_squared / sc.shear_squared),
                jnp.arcsinh(ctx.surface_buoyancy_flux / sc.surface_buoyancy_flux) * ones,
                ctx.friction_velocity / sc.friction_velocity * ones,
                -jnp.asarray(ctx.z_faces_interior) / sc.depth,
            ],
            axis=-1,
        )

    def network(self, q: jax.Array) -> jax.Array:
        """The MLP at one face: features ``(5,)`` -> raw outputs ``(o_ν, o_κ)``."""
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            q = act(layer(q))
        return self.layers[-1](q)

    def diffusivities(self, ctx: ColumnContext):
        out = jax.vmap(self.network)(self.features(ctx))
        nu = self.background_viscosity + self.viscosity_scale * jax.nn.softplus(out[:, 0])
        kappa = self.background_diffusivity + self.diffusivity_scale * jax.nn.softplus(out[:, 1])
        return nu, kappa
