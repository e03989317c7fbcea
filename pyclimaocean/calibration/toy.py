"""A small differentiable toy forward map: 1-D diffusion of temperature under surface cooling.

Used in the documentation, tests and benchmarks of the calibration and inference layers,
which work on any forward map; the column model is used the same way.

Physics (z positive up, −H ≤ z ≤ 0, explicit finite volumes)::

    ∂T/∂t = ∂/∂z (κ(z) ∂T/∂z),    κ(z) = κ_b + κ_s exp(z / d),
    −κ ∂T/∂z |_{z=0} = Q_eff = a · b · Q   (surface temperature flux, K m s⁻¹)

Parameters (names are attribute paths of :class:`DiffusionColumn`):

=====================  ==========  ===========================================================
``kappa_background``   m² s⁻¹      κ_b, interior diffusivity
``kappa_surface``      m² s⁻¹      κ_s, surface-enhanced diffusivity
``mixing_depth``       m           d, e-folding depth of the enhanced diffusivity
``flux_gain``          1           a, multiplies the surface flux
``flux_efficiency``    1           b, multiplies the surface flux (only a·b is identifiable)
=====================  ==========  ===========================================================
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..core import AbstractModel, Coordinate, Variable
from ..integrate import integrate
from ..params import Parameter, ParameterSet, Prior
from .observations import synthetic_observations
from .problem import Case, Problem

__all__ = [
    "DiffusionColumn",
    "DiffusionState",
    "simulate_diffusion",
    "diffusion_parameters",
    "diffusion_twin",
    "TRUTH",
]

#: true parameter values of the twin experiments
TRUTH = {
    "kappa_background": 1e-4,
    "kappa_surface": 2e-2,
    "mixing_depth": 10.0,
    "flux_gain": 1.0,
    "flux_efficiency": 1.0,
}


class DiffusionState(eqx.Module):
    """State of the toy column under the model contract: ``temperature`` ``(nz,)`` (°C) and
    the clock (``time`` in s, ``iteration``)."""

    temperature: jax.Array
    time: jax.Array
    iteration: jax.Array


class DiffusionColumn(AbstractModel):
    """Toy column: parameters and forcing are leaves; the grid and clock are static.

    It implements the model contract (``initial_state``, ``step``, ``variables`` ...), so it
    runs through ``integrate``, ``Simulation`` and the generic calibration like any model;
    :func:`simulate_diffusion` is the bare forward map the calibration tests use.

    Attributes:
        temperature0: ``(nz,)`` initial temperature (°C).
        surface_flux: Q, K m s⁻¹ (positive = cooling, flux out of the ocean).
        z: ``(nz,)`` cell-centre heights (m), ascending (bottom first).
    """

    kappa_background: jax.Array
    kappa_surface: jax.Array
    mixing_depth: jax.Array
    flux_gain: jax.Array
    flux_efficiency: jax.Array
    surface_flux: jax.Array
    temperature0: jax.Array
    depth: float = eqx.field(static=True)
    nz: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    save_every: int = eqx.field(static=True)

    @classmethod
    def make(
        cls,
        *,
        nz: int = 16,
        depth: float = 64.0,
        dt: float = 300.0,
        n_steps: int = 288,
        save_every: int = 48,
        surface_flux: float = 2.5e-5,
        stratification: float = 0.02,
        **values: float,
    ) -> DiffusionColumn:
        """Build a column (values default to :data:`TRUTH`).  ``stratification`` is ∂T/∂z (K m⁻¹)."""
        if nz < 2:
            raise ValueError(f"nz = {nz} must be >= 2")
        if n_steps % save_every:
            raise ValueError(f"save_every = {save_every} must divide n_steps = {n_steps}")
        v = {**TRUTH, **values}
        z = -depth + (np.arange(nz) + 0.5) * depth / nz
        return cls(
            *(jnp.asarray(float(v[k])) for k in TRUTH),
            jnp.asarray(float(surface_flux)),
            jnp.asarray(20.0 + stratification * z),
            float(depth),
            int(nz),
            float(dt),
            int(n_steps),
            int(save_every),
        )

    @property
    def z(self) -> np.ndarray:
        return -self.depth + (np.arange(self.nz) + 0.5) * self.depth / self.nz

    @property
    def times(self) -> np.ndarray:
        """Output times (s), ``(n_steps // save_every,)``."""
        n = self.n_steps // self.save_every
        return self.dt * self.save_every * np.arange(1, n + 1)

    name: ClassVar[str] = "diffusion_toy"

    def step_temperature(self, temperature):
        """One explicit step of the temperature profile ``(nz,)``."""
        dz = self.depth / self.nz
        z_faces = jnp.asarray(-self.depth + dz * np.arange(1, self.nz))  # interior faces
        kappa = self.kappa_background + self.kappa_surface * jnp.exp(z_faces / self.mixing_depth)
        flux = -kappa * jnp.diff(temperature) / dz  # upward flux at interior faces
        q = self.flux_gain * self.flux_efficiency * self.surface_flux
        flux = jnp.concatenate([jnp.zeros(1), flux, q[None]])  # no flux at bottom, Q at top
        return temperature - self.dt * jnp.diff(flux) / dz

    # -- the model contract -------------------------------------------------------------
    def initial_state(self) -> DiffusionState:
        return DiffusionState(self.temperature0, jnp.asarray(0.0, dtype=jnp.result_type(float)),
                              jnp.asarray(0))

    def step(self, state: DiffusionState) -> DiffusionState:
        return DiffusionState(self.step_temperature(state.temperature), state.time + self.dt,
                              state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        return (Variable("T", ("z",), "degC", "temperature", "sea_water_temperature",
                         valid_range=(-5.0, 60.0), source="temperature"),)

    def coordinates(self) -> tuple[Coordinate, ...]:
        faces = np.linspace(-self.depth, 0.0, self.nz + 1)
        return (Coordinate("z", self.z, {"units": "m", "positive": "up", "axis": "Z",
                                         "standard_name": "height"},
                           bounds=np.stack([faces[:-1], faces[1:]], axis=-1)),)

    def parameters(self, names=None) -> ParameterSet:
        """The five toy parameters (:func:`diffusion_parameters`) at the model's values."""
        values = {k: float(getattr(self, k)) for k in TRUTH}
        params = diffusion_parameters(**values)
        if names is None:
            return params
        unknown = [n for n in names if n not in params]
        if unknown:
            raise KeyError(f"{unknown} are not parameters of the toy column. "
                           f"Parameters are: {', '.join(params.names)}")
        return params.subset(names)

    def describe(self) -> dict[str, str]:
        return {"grid": f"nz = {self.nz}, depth = {self.depth:g} m"}


def simulate_diffusion(model: DiffusionColumn) -> dict[str, jax.Array]:
    """Run the toy column; returns ``{"T": (n_out, nz)}`` at :attr:`DiffusionColumn.times`."""
    _, saved = integrate(model.step_temperature, model.temperature0, model.n_steps,
                         save_every=model.save_every,
                         checkpoint_every=None)
    return {"T": saved}


def diffusion_parameters(**first_guess: float) -> ParameterSet:
    """Controls with bounds and lognormal priors centred (in log space) on the truth, with
    the first guess ``first_guess`` (default: the prior medians)."""
    specs = {
        "kappa_background": (1e-6, 1e-2, 0.5, "m2 s-1"),
        "kappa_surface": (1e-4, 1.0, 0.5, "m2 s-1"),
        "mixing_depth": (1.0, 60.0, 0.3, "m"),
        "flux_gain": (0.1, 10.0, 0.3, "1"),
        "flux_efficiency": (0.1, 10.0, 0.3, "1"),
    }
    params = {}
    for name, (lo, hi, scale, units) in specs.items():
        params[name] = Parameter(
            jnp.asarray(float(first_guess.get(name, TRUTH[name]))),
            lower=lo,
            upper=hi,
            prior=Prior.make("lognormal", loc=float(np.log(TRUTH[name])), scale=scale),
            units=units,
        )
    return ParameterSet(params)


def diffusion_twin(
    *,
    fluxes=(2.5e-5, 5e-5),
    noise_std: float = 2e-3,
    seed: int = 0,
    controls=("kappa_background", "kappa_surface", "mixing_depth", "flux_gain", "flux_efficiency"),
    first_guess: dict[str, float] | None = None,
    regularization: str = "prior",
    obs_every: int = 1,
    truth: dict[str, float] | None = None,
    **model_kwargs,
) -> tuple[Problem, ParameterSet]:
    """Twin experiment on the toy: one case per surface flux, T observed at every cell.

    ``truth`` overrides some of the true values (default :data:`TRUTH`, the prior medians),
    e.g. with a draw from the prior for coverage tests; the priors stay as they are.
    Returns ``(problem, truth)`` where ``truth`` are the true values of the controls.
    """
    truth_values = {**TRUTH, **(truth or {})}
    key = jax.random.PRNGKey(seed)
    cases = []
    for i, q in enumerate(fluxes):
        model = DiffusionColumn.make(surface_flux=q, **{**truth_values, **model_kwargs})
        outputs = simulate_diffusion(model)
        obs = synthetic_observations(
            outputs,
            model.times,
            model.z,
            times=model.times[obs_every - 1 :: obs_every],
            z=model.z,
            error_std={"T": noise_std},
            key=jax.random.fold_in(key, i),
        )
        cases.append(
            Case.from_dataset(model, simulate_diffusion, obs, model_times=model.times,
                              model_z=model.z, name=f"flux_{q:g}")
        )
    all_params = diffusion_parameters(**(first_guess or {}))
    params = all_params.subset(controls)
    true_set = diffusion_parameters(**truth_values).subset(controls)
    return Problem(params, cases, regularization=regularization), true_set
