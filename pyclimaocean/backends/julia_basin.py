"""The basin model computed by Oceananigans: :class:`JuliaBasinModel` (model contract).

A :class:`~pyclimaocean.models.basin.BasinModel` (same fields, variables, coordinates,
derived fields, diagnostics, figures and CF output) whose :meth:`~JuliaBasinModel.step` and
:meth:`~JuliaBasinModel.run` run Oceananigans' ``HydrostaticFreeSurfaceModel`` on a
``LatitudeLongitudeGrid`` through juliacall (``PyClimaOceanBridge.contract_basin_model`` and
``run_basin_state``, ``julia_ext/src/single_basin.jl``).  Julia starts on the first run, not
at construction, so the class is built (and its metadata checked) without Julia.

What the Julia basin reproduces (anything else raises ``ValueError`` at build, naming it):
spherical grids (``acc_sector``: re-entrant or walled in x, land columns as an
``ImmersedBoundaryGrid`` with ``GridFittedBottom``), Laplacian horizontal viscosity times
``cos^p φ``, constant horizontal and (implicit) vertical viscosity/diffusivity, the
convection scheme (as Oceananigans' ``ConvectiveAdjustmentVerticalDiffusivity``: a step in
``∂b/∂z`` where the Python model has a smooth sigmoid), linear bottom drag, zonal wind stress, surface temperature restoring, a linear equation of state, free-slip
walls, the quasi-AB2 stepper, ``upwind3``/``centered2`` tracer advection and vector-invariant
momentum advection.  Not reproduced: the β-plane ``munk_gyre`` (Cartesian grid), biharmonic
viscosity, quadratic drag, the convection scheme, no-slip walls, RK3, meridional stress,
prescribed surface fluxes and salinity restoring.

Layout.  pyclimaocean stores ``(nz, ny, nx)`` with z from the bottom, ``u`` on east faces and
``v`` on north faces; Oceananigans stores ``(Nx, Ny, Nz)`` (k = 1 at the bottom) with ``u`` on
west faces (``Nx`` of them when x is periodic, ``Nx + 1`` when bounded) and ``v`` on south
faces (``Ny + 1``).  :func:`to_oceananigans` and :func:`from_oceananigans` convert.

Each :meth:`~JuliaBasinModel.run` call sets the Julia model from the state and restarts its
clock, so its first step is forward Euler (the Python model keeps the AB2 history in the
state; the Julia one does not carry it across calls: run long chunks).  Runs are forward only
(a ``jax.pure_callback`` without a VJP): no upstream route differentiates this model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..models.basin.model import BasinModel
from ..models.basin.state import BasinState
from .julia import PRECISIONS, check_architecture_and_precision, julia_options, load_julia

__all__ = ["JuliaBasinModel", "basin_setup_kwargs", "from_oceananigans", "to_oceananigans"]

#: the coefficients passed to each run as numbers (model leaves, traced under ``jit``)
_COEFFICIENTS = ("horizontal_viscosity", "horizontal_diffusivity", "vertical_viscosity",
                 "vertical_diffusivity", "linear_drag", "wind_stress_amplitude",
                 "restoring_rate", "convective_diffusivity")
_CACHE: dict[Any, Any] = {}
_CACHE_SIZE = 4


def to_oceananigans(field: np.ndarray, location: str, periodic_x: bool) -> np.ndarray:
    """A pyclimaocean field ``(nz, ny, nx)`` or ``(ny, nx)`` -> Oceananigans' interior layout.

    Args:
        field: values at ``location`` points: ``"T"`` (centres), ``"u"`` (east faces),
            ``"v"`` (north faces).
        location: ``"T"``, ``"u"`` or ``"v"``.
        periodic_x: the grid is re-entrant in x.

    Returns:
        a Fortran-ordered float64 array ``(Nx', Ny', Nz)`` or ``(Nx', Ny')``: ``u`` moves to
        west faces (rolled by one cell when periodic, a zero west-wall face prepended when
        bounded), ``v`` to south faces (a zero south-wall face prepended).
    """
    a = np.asarray(field, dtype=float)
    if location == "u":
        if periodic_x:
            a = np.roll(a, 1, axis=-1)
        else:
            a = np.concatenate([np.zeros_like(a[..., :1]), a], axis=-1)
    elif location == "v":
        a = np.concatenate([np.zeros_like(a[..., :1, :]), a], axis=-2)
    elif location != "T":
        raise ValueError(f"location {location!r} is not one of 'T', 'u', 'v'")
    return np.asfortranarray(a.T)


def from_oceananigans(field: np.ndarray, location: str, periodic_x: bool) -> np.ndarray:
    """Inverse of :func:`to_oceananigans` (the wall faces Oceananigans keeps are dropped)."""
    a = np.asarray(field, dtype=float).T
    if location == "u":
        a = np.roll(a, -1, axis=-1) if periodic_x else a[..., 1:]
    elif location == "v":
        a = a[..., 1:, :]
    elif location != "T":
        raise ValueError(f"location {location!r} is not one of 'T', 'u', 'v'")
    return np.ascontiguousarray(a)


def _unsupported(model: BasinModel) -> dict[str, Any]:
    g, m, d, f = model.grid, model.mixing, model.drag, model.forcing
    checks = {
        "grid": (g.coordinate_system not in ("spherical", "cartesian"), g.coordinate_system),
        "mixing.viscosity_cos_power": (g.coordinate_system != "spherical"
                                       and m.viscosity_cos_power != 0, m.viscosity_cos_power),
        "mixing.biharmonic_viscosity": (float(m.biharmonic_viscosity) != 0.0,
                                        m.biharmonic_viscosity),
        "mixing.no_slip": (bool(m.no_slip), m.no_slip),
        "drag.quadratic": (float(d.quadratic) != 0.0, d.quadratic),
        "forcing.wind_stress_y_shape": (f.wind_stress_y_shape is not None, "set"),
        "forcing.restoring_salinity": (f.restoring_salinity is not None, "set"),
        "forcing.temperature_flux": (f.temperature_flux is not None, "set"),
        "forcing.salinity_flux": (f.salinity_flux is not None, "set"),
        "time_stepper": (model.time_stepper != "ab2", model.time_stepper),
        "equation_of_state": (type(model.equation_of_state).__name__ != "LinearEquationOfState",
                              type(model.equation_of_state).__name__),
    }
    return {k: v for k, (bad, v) in checks.items() if bad}


def basin_setup_kwargs(model: BasinModel) -> dict[str, Any]:
    """The fixed (non-coefficient) ``PyClimaOceanBridge.contract_basin_model`` arguments.

    Raises:
        ValueError: for settings the Julia basin does not reproduce (module docstring).
    """
    bad = _unsupported(model)
    if bad:
        raise ValueError(
            f"the Julia basin does not reproduce these settings: {bad}. It runs spherical "
            "basins (configuration = 'acc_sector') with Laplacian viscosity, linear drag, zonal "
            "wind, SST restoring, convection, a linear equation of state, free-slip walls and "
            "AB2; use "
            'backend = "jax" otherwise')
    g = model.grid
    if min(g.nx, g.ny) < 4:
        raise ValueError(f"the Julia basin needs nx, ny >= 4 (Oceananigans requires halo <= size "
                         f"and the halo is 4); got nx = {g.nx}, ny = {g.ny}")
    xT, xU = np.asarray(g.xT, float), np.asarray(g.xU, float)
    yT, yV = np.asarray(g.yT, float), np.asarray(g.yV, float)
    for name, c in (("longitude", np.diff(xT)), ("latitude", np.diff(yT))):
        if c.size and not np.allclose(c, c[0]):
            raise ValueError(f"the Julia basin needs a uniform {name} spacing")
    z_faces = np.asarray(g.z_faces, float)
    wet = np.asarray(g.maskT) > 0  # (nz, ny, nx)
    bottom_index = np.argmax(wet, axis=0)  # first wet level from the bottom
    bottom = np.where(wet.any(axis=0), z_faces[bottom_index], 0.0)
    f_row = np.asarray(g.fT, float)[:, 0] if np.ndim(g.fT) == 2 else np.asarray(g.fT, float)
    x_range = (float(2 * xT[0] - xU[0]), float(xU[-1]))
    y_range = (float(2 * yT[0] - yV[0]), float(yV[-1]))
    if g.coordinate_system == "spherical":
        j = int(np.argmax(np.abs(np.sin(np.deg2rad(yT)))))
        horizontal = dict(longitude=x_range, latitude=y_range, radius=float(g.radius),
                          rotation_rate=float(f_row[j] / (2.0 * np.sin(np.deg2rad(yT[j])))))
    else:  # beta plane: f = f0 + beta y in the grid's own y (m)
        beta = float((f_row[-1] - f_row[0]) / (yT[-1] - yT[0]))
        horizontal = dict(x=x_range, y=y_range, coriolis_f0=float(f_row[0] - beta * yT[0]),
                          coriolis_beta=beta)
    eos = model.equation_of_state
    return dict(
        **horizontal,
        z_faces=z_faces,
        periodic_x=bool(g.periodic_x),
        bottom_height=np.asfortranarray(bottom.T),
        viscosity_cos_power=int(model.mixing.viscosity_cos_power),
        thermal_expansion=float(eos.thermal_expansion_coefficient),
        haline_contraction=float(eos.haline_contraction_coefficient),
        gravitational_acceleration=float(model.gravity),
        substeps=int(model.n_substeps),
        tracer_advection=model.tracer_advection,
        momentum_advection=bool(model.momentum_advection),
    )


class _Setup:
    """The fixed ``contract_basin_model`` arguments, computed once from concrete values.

    Held in a static field: hashed by identity, so ``jit`` and ``tree_map`` carry the same
    object, and the host callback never reads (possibly traced) grid leaves.
    """

    def __init__(self, model: BasinModel):
        self.kwargs = basin_setup_kwargs(model)
        self.dz_top = float(np.asarray(model.grid.dz)[-1])
        self.periodic_x = bool(model.grid.periodic_x)


class JuliaBasinModel(BasinModel):
    """The basin model computed by Oceananigans (see the module docstring).

    Attributes (besides those of ``BasinModel``):
        architecture: ``"CPU"`` or ``"GPU"`` (Oceananigans ``CPU()`` / ``GPU()``).
        precision: ``"float64"`` or ``"float32"`` (the Julia model's float type; results come
            back as float64).
    """

    architecture: str = eqx.field(static=True, default="CPU")
    precision: str = eqx.field(static=True, default="float64")
    setup: _Setup = eqx.field(static=True, default=None)

    def __init__(self, spec: BasinModel, architecture: str = "CPU",
                 precision: str = "float64"):
        check_architecture_and_precision(architecture, precision)
        for f in dataclasses.fields(BasinModel):
            setattr(self, f.name, getattr(spec, f.name))
        self.architecture = architecture
        self.precision = precision
        self.setup = _Setup(spec)  # fails at build for settings Julia does not reproduce

    @classmethod
    def from_config(cls, config, spec: BasinModel) -> JuliaBasinModel:
        """From a basin experiment config (``[julia]`` architecture/precision) and its model."""
        options = julia_options(config)
        return cls(spec, options["architecture"], options["precision"])

    def gradient_limitation(self) -> str | None:
        """Why gradients are unavailable: the Julia basin runs forward only."""
        return ("the Julia basin runs forward only (no adjoint of Oceananigans' basin is wired "
                "up); use a gradient-free method or backend = 'jax'")

    def _coefficients(self):
        m, d, f = self.mixing, self.drag, self.forcing
        values = (m.horizontal_viscosity, m.horizontal_diffusivity, m.vertical_viscosity,
                  m.vertical_diffusivity, d.linear, f.wind_stress_amplitude, f.restoring_rate,
                  0.0 if m.convective_diffusivity is None else m.convective_diffusivity)
        return jnp.stack([jnp.asarray(v, dtype=float) for v in values])

    def _surface_arrays(self):
        g, f = self.grid, self.forcing
        wind = (jnp.zeros((g.ny, g.nx)) if f.wind_stress_x_shape is None
                else jnp.asarray(f.wind_stress_x_shape, dtype=float) * g.maskU[-1])
        target = (jnp.zeros((g.ny, g.nx)) if f.restoring_temperature is None
                  else jnp.asarray(f.restoring_temperature, dtype=float))
        return wind, target

    def _julia_model(self, coefficients, wind_shape, target):
        """Build (or reuse) the Oceananigans model for concrete coefficients and arrays."""
        c = dict(zip(_COEFFICIENTS, (float(x) for x in np.asarray(coefficients)), strict=True))
        key = (id(self.setup), tuple(c.values()), np.asarray(wind_shape).tobytes(),
               np.asarray(target).tobytes())
        if key in _CACHE:
            return _CACHE[key][1]
        main = load_julia(self.architecture)
        periodic = self.setup.periodic_x
        dz_top = self.setup.dz_top
        wind_flux = -c["wind_stress_amplitude"] * np.asarray(wind_shape) / self.reference_density
        jl_model = main.PyClimaOceanBridge.contract_basin_model(
            **self.setup.kwargs,
            wind_u_flux=to_oceananigans(wind_flux, "u", periodic),
            restoring_flux_rate=c["restoring_rate"] * dz_top,
            restoring_temperature=to_oceananigans(target, "T", periodic),
            horizontal_viscosity=c["horizontal_viscosity"],
            horizontal_diffusivity=c["horizontal_diffusivity"],
            vertical_viscosity=c["vertical_viscosity"],
            vertical_diffusivity=c["vertical_diffusivity"],
            linear_drag=c["linear_drag"],
            convective_diffusivity=(None if self.mixing.convective_diffusivity is None
                                    else c["convective_diffusivity"]),
            architecture=self.architecture,
            float_type=PRECISIONS[self.precision],
        )
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (self.setup, jl_model)  # keeps the setup alive: its id is not reused
        return jl_model

    def step(self, state: BasinState) -> BasinState:
        """One step in Oceananigans (a host call; prefer :meth:`run` for many steps)."""
        final, _ = self.run(state, 1)
        return final

    def run(self, state=None, n_steps: int = 1, *, save_every: int | None = None,
            checkpoint_every: int | None | str = "auto", observe=None):
        """Run ``n_steps`` steps in Oceananigans, one host call; returns ``(final, outputs)``.

        As :meth:`AbstractModel.run`: ``outputs`` is ``observe(state)`` (default the state)
        stacked every ``save_every`` steps, ``None`` without ``save_every``.  The returned
        states carry ``U``, ``V`` as the depth integrals of ``u``, ``v`` and zero AB2
        history; ``checkpoint_every`` is accepted for the contract and unused.
        """
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        every = n_steps if save_every is None else save_every
        if not isinstance(every, int) or every < 1 or n_steps % every:
            raise ValueError(
                f"save_every = {save_every!r} must be a positive divisor of n_steps = {n_steps}")
        state = self.initial_state() if state is None else state
        load_julia(self.architecture)  # here, not in the callback: a clear error without Julia
        g = self.grid
        n_saved = n_steps // every
        periodic = self.setup.periodic_x
        shapes = (jax.ShapeDtypeStruct((n_saved, *g.shape), jnp.float64),) * 4 + (
            jax.ShapeDtypeStruct((n_saved, g.ny, g.nx), jnp.float64),)

        def host(coefficients, wind_shape, target, T, S, u, v, eta):
            jl_model = self._julia_model(coefficients, wind_shape, target)
            bridge = load_julia(self.architecture).PyClimaOceanBridge
            out = bridge.run_basin_state(
                jl_model, float(self.dt),
                to_oceananigans(T, "T", periodic), to_oceananigans(S, "T", periodic),
                to_oceananigans(u, "u", periodic), to_oceananigans(v, "v", periodic),
                to_oceananigans(eta, "T", periodic), n_steps, every)
            result = []
            for name, loc in (("T", "T"), ("S", "T"), ("u", "u"), ("v", "v"), ("η", "T")):
                stacked = np.asarray(getattr(out, name))  # (..., n_saved), Julia layout
                result.append(np.stack([from_oceananigans(stacked[..., n], loc, periodic)
                                        for n in range(n_saved)]))
            return tuple(result)

        wind, target = self._surface_arrays()
        T, S, u, v, eta = jax.pure_callback(
            host, shapes, self._coefficients(), wind, target, state.T, state.S, state.u,
            state.v, state.eta, vmap_method="sequential")  # ensembles: one Julia run each
        dz = g.dz[None, :, None, None]
        steps = every * jnp.arange(1, n_saved + 1)
        zero = jnp.zeros_like(T)
        outputs = BasinState(
            u=u * g.maskU, v=v * g.maskV, T=T * g.maskT, S=S * g.maskT, eta=eta * g.maskT[-1],
            U=jnp.sum(u * g.maskU * dz, axis=1), V=jnp.sum(v * g.maskV * dz, axis=1),
            Gu=zero, Gv=zero, GT=zero, GS=zero,
            time=state.time + self.dt * steps, iteration=state.iteration + steps)
        final = jax.tree_util.tree_map(lambda x: x[-1], outputs)
        if save_every is None:
            return final, None
        if observe is not None:
            outputs = jax.vmap(observe)(outputs)
        return final, outputs

    def describe(self) -> dict[str, str]:
        out = super().describe()
        out["backend"] = (f"julia: Oceananigans HydrostaticFreeSurfaceModel "
                          f"({self.architecture}, {self.precision})")
        return out
