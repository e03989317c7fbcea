"""One-scale and two-scale Lorenz-96 models (Lorenz 1996), RK4 stepping and simulation.

One-scale model (n variables, periodic index k)::

    dx_k/dt = (x_{k+1} - x_{k-2}) x_{k-1} - x_k + F

The quadratic "advection" term ``(x_{k+1} - x_{k-2}) x_{k-1}`` conserves energy
``E = 1/2 sum_k x_k^2``: ``sum_k x_k (x_{k+1} - x_{k-2}) x_{k-1} = 0`` for any ``x``.

Two-scale model (K slow X_k, J fast Y_{j,k} per slow variable), in the form and with the
constants of Arnold, Moroz & Palmer (2013, Phil. Trans. R. Soc. A 371, 20110479)::

    dX_k/dt     = -X_{k-1} (X_{k-2} - X_{k+1}) - X_k + F - (h c / b) sum_j Y_{j,k}
    dY_{j,k}/dt = -c b Y_{j+1,k} (Y_{j+2,k} - Y_{j-1,k}) - c Y_{j,k} + (h c / b) X_k

with K=8, J=32, h=1, b=10, c=10, F=20.  The fast variables form one periodic ring of K*J
values (Y_{J+1,k} = Y_{1,k+1}).

All variables and time are nondimensional ("model time units", MTU; Lorenz (1996) relates
1 MTU to about 5 days of atmospheric error growth).  Everything is written in ``jax.numpy``,
so ``jit``, ``grad`` and ``vmap`` work through the tendency and through :func:`simulate`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...integrate import integrate
from ...params import Parameter, ParameterSet, Prior
from .plots import plot_hovmoller
from .state import Lorenz96State, TwoScaleLorenz96State, TwoScaleState

__all__ = ["Lorenz96", "TwoScaleLorenz96", "rk4_step", "simulate", "l96_advection"]


def _check_positive_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def l96_advection(x: jnp.ndarray) -> jnp.ndarray:
    """Quadratic Lorenz-96 advection term ``(x_{k+1} - x_{k-2}) x_{k-1}`` along the last axis.

    Args:
        x: ``(..., n)`` periodic ring of values.

    Returns:
        ``(..., n)`` advection term; ``sum_k x_k * advection_k = 0`` (energy conserving).
    """
    return (jnp.roll(x, -1, axis=-1) - jnp.roll(x, 2, axis=-1)) * jnp.roll(x, 1, axis=-1)


def _check_dt(dt) -> float:
    if not (isinstance(dt, int | float) and not isinstance(dt, bool) and dt > 0):
        raise ValueError(f"dt must be a positive number (model time units), got {dt!r}")
    return float(dt)


def _clock():
    return (jnp.asarray(0.0, dtype=jnp.result_type(float)),
            jnp.asarray(0, dtype=jnp.int64 if jax.config.jax_enable_x64 else jnp.int32))


class _Lorenz96Contract(AbstractModel):
    """What the one- and two-scale models share under the model contract."""

    name: ClassVar[str] = "lorenz96"
    time_units: ClassVar[str] = "1"

    def parameters(self, names=None) -> ParameterSet:
        """``forcing`` (F) with bounds [0, 50] and a normal prior around the model's value."""
        f = float(self.forcing)
        table = {"forcing": Parameter(jnp.asarray(f), lower=0.0, upper=50.0,
                                      prior=Prior.make("normal", loc=f, scale=max(1.0, 0.25 * f)),
                                      description="forcing F of the (slow) variables")}
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """``energy`` (½ mean x²) and ``mean`` (mean x) of the (slow) variables."""
        return {
            "energy": lambda model, state: 0.5 * jnp.mean(state.x**2, axis=-1),
            "mean": lambda model, state: jnp.mean(state.x, axis=-1),
        }

    def summary(self, dataset):
        import numpy as np

        x = dataset["x"].values
        t = np.asarray(dataset["time"].values, dtype=float)
        return {
            "final_time": (float(t[-1]), "MTU", "final time"),
            "mean": (float(x.mean()), "1", "mean of x over all outputs"),
            "std": (float(x.std()), "1", "standard deviation of x over all outputs"),
            "final_energy": (float(0.5 * np.mean(x[-1] ** 2)), "1", "final energy ½ mean x²"),
        }

    def figures(self, dataset, directory, title: str = "") -> list[Path]:

        path = Path(directory) / "hovmoller.png"
        plot_hovmoller(dataset, path, title=title)
        return [path]


class Lorenz96(_Lorenz96Contract):
    """One-scale Lorenz-96 model ``dx_k/dt = (x_{k+1} - x_{k-2}) x_{k-1} - x_k + F``.

    Attributes:
        n: number of variables (static, >= 4).
        forcing: F, constant forcing (nondimensional; a pytree leaf, so it can be calibrated
            with ``jax.grad``).  F = 8 is the chaotic standard case.
        dt: RK4 time step of :meth:`step` (model time units, static).
        initial_perturbation: added to ``x_0`` of the rest state ``x_k = F`` by
            :meth:`initial_state` (Lorenz 1996).
    """

    n: int = eqx.field(static=True)
    forcing: float | jnp.ndarray = 8.0
    dt: float = eqx.field(static=True, default=0.05)
    initial_perturbation: float = 0.01

    def __init__(self, n: int = 40, forcing: float | jnp.ndarray = 8.0, dt: float = 0.05,
                 initial_perturbation: float = 0.01):
        self.n = _check_positive_int("n", n, 4)
        self.forcing = forcing
        self.dt = _check_dt(dt)
        self.initial_perturbation = initial_perturbation

    # -- the model contract -----------------------------------------------------------------
    def initial_state(self) -> Lorenz96State:
        """The rest state ``x_k = F`` with ``x_0 += initial_perturbation`` at ``t = 0``."""
        x = jnp.full((self.n,), jnp.asarray(self.forcing, dtype=float))
        return Lorenz96State(x.at[0].add(self.initial_perturbation), *_clock())

    def step(self, state: Lorenz96State) -> Lorenz96State:
        """One RK4 step of length ``dt``."""
        x = rk4_step(self.tendency, state.x, self.dt)
        return Lorenz96State(x, state.time + self.dt, state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        return (Variable("x", ("k",), "1", "Lorenz-96 variable x_k", valid_range=(-1e3, 1e3)),)

    def coordinates(self) -> tuple[Coordinate, ...]:
        import numpy as np

        return (Coordinate("k", np.arange(self.n), {"long_name": "variable index", "units": "1"}),)

    def describe(self) -> dict[str, str]:
        return {"lorenz96": f"one-scale, n = {self.n}", "forcing": f"{float(self.forcing):g}"}

    def advection(self, x: jnp.ndarray) -> jnp.ndarray:
        """Quadratic term ``(x_{k+1} - x_{k-2}) x_{k-1}``; x: ``(..., n)``."""
        return l96_advection(x)

    def tendency(self, x: jnp.ndarray) -> jnp.ndarray:
        """dx/dt, shape ``(..., n)`` (batched along leading axes)."""
        x = jnp.asarray(x)
        if x.shape[-1] != self.n:
            raise ValueError(
                f"state has {x.shape[-1]} variables on its last axis; model n={self.n}"
            )
        return l96_advection(x) - x + self.forcing

    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        return self.tendency(x)

    def initial_condition(self, perturbation: float = 0.01, index: int = 0) -> jnp.ndarray:
        """Rest state ``x_k = F`` with ``x_index += perturbation`` (Lorenz 1996 style), ``(n,)``."""
        x = jnp.full((self.n,), jnp.asarray(self.forcing, dtype=float))
        return x.at[index].add(perturbation)


class TwoScaleLorenz96(_Lorenz96Contract):
    """Two-scale Lorenz-96 model (Lorenz 1996) with Arnold et al. (2013) default constants.

    Attributes:
        K: number of slow variables X_k (static).
        J: number of fast variables per slow variable (static).
        h: coupling coefficient h (nondimensional).
        b: spatial-scale ratio b (amplitude of X over Y).
        c: time-scale ratio c (fast variables are c times faster).
        forcing: F, forcing of the slow variables.
        dt: RK4 time step of :meth:`step` (model time units, static).
        seed: seed of the random initial state of :meth:`initial_state`.

    ``tendency(state)`` takes and returns a :class:`TwoScaleState` (x: ``(K,)``,
    y: ``(K*J,)``).  ``subgrid_forcing(y)`` is the coupling felt by the slow variables,
    ``-(h c / b) sum_j Y_{j,k}``, shape ``(K,)``: the term a closure must model.
    """

    K: int = eqx.field(static=True)
    J: int = eqx.field(static=True)
    h: float | jnp.ndarray = 1.0
    b: float | jnp.ndarray = 10.0
    c: float | jnp.ndarray = 10.0
    forcing: float | jnp.ndarray = 20.0
    dt: float = eqx.field(static=True, default=0.001)
    seed: int = eqx.field(static=True, default=0)

    def __init__(
        self,
        K: int = 8,
        J: int = 32,
        h: float | jnp.ndarray = 1.0,
        b: float | jnp.ndarray = 10.0,
        c: float | jnp.ndarray = 10.0,
        forcing: float | jnp.ndarray = 20.0,
        dt: float = 0.001,
        seed: int = 0,
    ):
        self.dt = _check_dt(dt)
        self.seed = _check_positive_int("seed", seed, 0)
        self.K = _check_positive_int("K", K, 4)
        self.J = _check_positive_int("J", J, 1)
        for name, value in (("b", b), ("c", c)):
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        self.h, self.b, self.c, self.forcing = h, b, c, forcing

    def subgrid_forcing(self, y: jnp.ndarray) -> jnp.ndarray:
        """Coupling term on the slow variables, ``-(h c / b) sum_j Y_{j,k}``.

        Args:
            y: ``(..., K*J)`` fast variables.

        Returns:
            ``(..., K)``.
        """
        y = jnp.asarray(y)
        if y.shape[-1] != self.K * self.J:
            raise ValueError(
                f"fast state has {y.shape[-1]} values on its last axis; expected K*J={self.K * self.J}"
            )
        ysum = y.reshape(*y.shape[:-1], self.K, self.J).sum(axis=-1)
        return -(self.h * self.c / self.b) * ysum

    def slow_tendency_resolved(self, x: jnp.ndarray) -> jnp.ndarray:
        """Resolved part of dX/dt: ``-X_{k-1}(X_{k-2} - X_{k+1}) - X_k + F``, ``(..., K)``."""
        return l96_advection(x) - x + self.forcing

    def tendency(self, state: TwoScaleState) -> TwoScaleState:
        """Full two-scale tendency ``(dX/dt, dY/dt)`` as a :class:`TwoScaleState`."""
        x, y = jnp.asarray(state.x), jnp.asarray(state.y)
        if x.shape[-1] != self.K:
            raise ValueError(f"slow state has {x.shape[-1]} values; expected K={self.K}")
        dx = self.slow_tendency_resolved(x) + self.subgrid_forcing(y)
        # -c b Y_{j+1}(Y_{j+2} - Y_{j-1}) = c b * (Y_{j-1} - Y_{j+2}) Y_{j+1}: mirrored advection
        adv_y = (jnp.roll(y, 1, axis=-1) - jnp.roll(y, -2, axis=-1)) * jnp.roll(y, -1, axis=-1)
        x_rep = jnp.repeat(x, self.J, axis=-1)
        dy = self.c * self.b * adv_y - self.c * y + (self.h * self.c / self.b) * x_rep
        return TwoScaleState(x=dx, y=dy)

    def __call__(self, state: TwoScaleState) -> TwoScaleState:
        return self.tendency(state)

    def initial_condition(self, seed: int = 0) -> TwoScaleState:
        """Random initial state: X ~ F + N(0, 1), Y ~ 0.1 N(0, 1) (spin up before use)."""
        kx, ky = jax.random.split(jax.random.PRNGKey(seed))
        x = jnp.asarray(self.forcing, dtype=float) + jax.random.normal(kx, (self.K,))
        y = 0.1 * jax.random.normal(ky, (self.K * self.J,))
        return TwoScaleState(x=x, y=y)

    # -- the model contract -----------------------------------------------------------------
    def initial_state(self) -> TwoScaleLorenz96State:
        """:meth:`initial_condition` with the model's ``seed`` at ``t = 0`` (spin it up)."""
        s = self.initial_condition(self.seed)
        return TwoScaleLorenz96State(s.x, s.y, *_clock())

    def step(self, state: TwoScaleLorenz96State) -> TwoScaleLorenz96State:
        """One RK4 step of length ``dt`` of both scales."""
        s = rk4_step(self.tendency, TwoScaleState(state.x, state.y), self.dt)
        return TwoScaleLorenz96State(s.x, s.y, state.time + self.dt, state.iteration + 1)

    def variables(self) -> tuple[Variable, ...]:
        return (
            Variable("x", ("k",), "1", "slow (resolved) variable X_k", valid_range=(-1e3, 1e3)),
            Variable("y", ("k", "j"), "1", "fast (unresolved) variable Y_{j,k}",
                     valid_range=(-1e3, 1e3), derived=True),
        )

    def output_fields(self, state) -> dict[str, Any]:
        y = state.y
        return {"x": state.x, "y": y.reshape(*y.shape[:-1], self.K, self.J)}

    def coordinates(self) -> tuple[Coordinate, ...]:
        import numpy as np

        return (
            Coordinate("k", np.arange(self.K), {"long_name": "slow variable index", "units": "1"}),
            Coordinate("j", np.arange(self.J), {"long_name": "fast variable index", "units": "1"}),
        )

    def describe(self) -> dict[str, str]:
        return {"lorenz96": f"two-scale, K = {self.K}, J = {self.J}",
                "forcing": f"{float(self.forcing):g}"}


def rk4_step(tendency_fn: Callable[[Any], Any], x: Any, dt: float) -> Any:
    """One classical fourth-order Runge-Kutta step of ``dx/dt = tendency_fn(x)``.

    Args:
        tendency_fn: pure function ``state -> dstate/dt`` (arrays or any pytree, e.g.
            :class:`TwoScaleState`).
        x: state pytree.
        dt: time step (model time units).

    Returns:
        the state after one step, same structure as ``x``.
    """
    tm = jax.tree_util.tree_map

    def axpy(a, dx, y):
        return tm(lambda yi, di: yi + a * di, y, dx)

    k1 = tendency_fn(x)
    k2 = tendency_fn(axpy(0.5 * dt, k1, x))
    k3 = tendency_fn(axpy(0.5 * dt, k2, x))
    k4 = tendency_fn(axpy(dt, k3, x))
    return tm(
        lambda xi, a, b_, c_, d: xi + (dt / 6.0) * (a + 2.0 * b_ + 2.0 * c_ + d), x, k1, k2, k3, k4
    )


def simulate(
    tendency_fn: Callable[[Any], Any],
    x0: Any,
    dt: float,
    n_steps: int,
    save_every: int = 1,
    *,
    include_initial: bool = False,
    checkpoint_every: int | None | str = "auto",
) -> Any:
    """Integrate with RK4 and return the saved trajectory (via :func:`pyclimaocean.integrate`).

    Args:
        tendency_fn: ``state -> dstate/dt`` (e.g. ``Lorenz96(...).tendency``).
        x0: initial state (array ``(n,)`` or pytree).
        dt: time step (MTU).
        n_steps: number of RK4 steps (a multiple of ``save_every``).
        save_every: record the state every ``save_every`` steps.
        include_initial: prepend ``x0`` to the trajectory.
        checkpoint_every: passed to :func:`~pyclimaocean.integrate.integrate` (memory of the
            reverse sweep when differentiating).

    Returns:
        trajectory with a new leading axis of length ``n_steps // save_every``
        (``+ 1`` with ``include_initial``); entry ``i`` is the state at time
        ``(i + 1) * save_every * dt`` (``i * save_every * dt`` with ``include_initial``).
    """
    if not isinstance(dt, jax.Array) and not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    _, traj = integrate(
        lambda s: rk4_step(tendency_fn, s, dt),
        x0,
        n_steps,
        save_every=save_every,
        checkpoint_every=checkpoint_every,
    )
    if traj is None:  # n_steps == 0
        traj = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None][:0], x0)
    if include_initial:
        traj = jax.tree_util.tree_map(
            lambda a, t: jnp.concatenate([jnp.asarray(a)[None], t], axis=0), x0, traj
        )
    return traj
