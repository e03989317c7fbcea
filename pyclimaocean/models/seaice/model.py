"""The Arctic sea-ice column: zero-layer ice and snow over a mixed layer at freezing, driven by
the Maykut & Untersteiner (1971) / Semtner (1976) monthly climatology.

Example::

    from pyclimaocean.models.seaice import ArcticColumn
    m = ArcticColumn()
    final, states = m.run(m.initial_state(), 360 * 20, save_every=10)   # 20 years, dt = 1 day
    ds = m.to_xarray(states)
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ...core import AbstractModel, Coordinate, Variable
from ...core.model import select_parameters
from ...params import Parameter, ParameterSet, Prior
from .forcing import YEAR, MonthlyClimatology, arctic_climatology
from .plots import plot_seasonal_cycle
from .thermodynamics import SeaIceState, SlabSeaIceThermodynamics, budgets, thermodynamic_step
from .winton import WintonThermodynamics

__all__ = ["ArcticColumn", "annual_mean_thickness"]


class ArcticColumn(AbstractModel):
    """One (or ``shape`` many identical) Arctic ice column(s) under a prescribed climatology.

    Attributes:
        thermodynamics: :class:`SlabSeaIceThermodynamics` (zero-layer) or
            :class:`~.winton.WintonThermodynamics` (two-layer), calibratable leaves.
        forcing: :class:`MonthlyClimatology` (default :func:`arctic_climatology`).
        dt: time step (s, static; default one day).
        initial_ice_thickness: initial ice thickness (m).
        initial_snow_thickness: initial snow thickness (m).
        initial_concentration: initial ice area fraction.
        mixed_layer_depth: depth of the mixed layer under the ice (m), at its freezing
            temperature.
        ocean_salinity: initial mixed-layer salinity (g kg⁻¹).
        shape: horizontal shape of the columns (static; ``()`` a single column).
    """

    name: ClassVar[str] = "seaice_column"

    thermodynamics: SlabSeaIceThermodynamics
    forcing: MonthlyClimatology
    dt: float = eqx.field(static=True)
    initial_ice_thickness: float
    initial_snow_thickness: float
    initial_concentration: float
    mixed_layer_depth: float
    ocean_salinity: float
    shape: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, thermodynamics: SlabSeaIceThermodynamics | None = None,
                 forcing: MonthlyClimatology | None = None, dt: float = 86400.0,
                 initial_ice_thickness: float = 2.0, initial_snow_thickness: float = 0.0,
                 initial_concentration: float = 1.0, mixed_layer_depth: float = 30.0,
                 ocean_salinity: float = 32.0, shape: tuple[int, ...] = ()):
        if not (isinstance(dt, int | float) and dt > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        for name, value, lo, hi in (("initial_ice_thickness", initial_ice_thickness, 0, 50),
                                    ("initial_snow_thickness", initial_snow_thickness, 0, 10),
                                    ("initial_concentration", initial_concentration, 0, 1),
                                    ("mixed_layer_depth", mixed_layer_depth, 1e-3, 1e4),
                                    ("ocean_salinity", ocean_salinity, 0, 45)):
            if isinstance(value, int | float) and not lo <= value <= hi:
                raise ValueError(f"{name} = {value!r} is outside [{lo}, {hi}]")
        self.thermodynamics = thermodynamics or SlabSeaIceThermodynamics()
        self.forcing = forcing or arctic_climatology()
        self.dt = float(dt)
        self.initial_ice_thickness = initial_ice_thickness
        self.initial_snow_thickness = initial_snow_thickness
        self.initial_concentration = initial_concentration
        self.mixed_layer_depth = mixed_layer_depth
        self.ocean_salinity = ocean_salinity
        self.shape = tuple(shape)

    @property
    def steps_per_year(self) -> int:
        n = YEAR / self.dt
        if abs(n - round(n)) > 1e-9:
            raise ValueError(f"dt = {self.dt} s does not divide the 360-day year")
        return int(round(n))

    # -- the contract -----------------------------------------------------------------------
    def initial_state(self) -> SeaIceState:
        p = self.thermodynamics

        def full(v):
            return jnp.full(self.shape, v, dtype=float)

        a = full(self.initial_concentration)
        has_ice = a * self.initial_ice_thickness > 0
        t_f = p.freezing_temperature(full(self.ocean_salinity))
        return p.make_state(
            ice_volume=a * self.initial_ice_thickness,
            snow_volume=jnp.where(has_ice, a * self.initial_snow_thickness, 0.0),
            concentration=jnp.where(has_ice, a, 0.0),
            surface_temperature=t_f,
            ocean_temperature=t_f,
            ocean_salinity=full(self.ocean_salinity),
            ocean_mass=full(p.ocean_density * self.mixed_layer_depth),
            heat_input=full(0.0),
            water_input=full(0.0),
            time=jnp.asarray(0.0),
            iteration=jnp.asarray(0),
        )

    def step(self, state: SeaIceState) -> SeaIceState:
        """One step of :func:`thermodynamic_step` with the forcing at mid-step."""
        forcing = self.forcing(state.time + 0.5 * self.dt)
        new = thermodynamic_step(self.thermodynamics, state, forcing, self.dt)
        return eqx.tree_at(lambda s: (s.time, s.iteration), new,
                           (state.time + self.dt, state.iteration + 1))

    def variables(self) -> tuple[Variable, ...]:
        dims = tuple(f"dim_{i}" for i in range(len(self.shape)))
        layers = ()
        if isinstance(self.thermodynamics, WintonThermodynamics):
            layers = tuple(
                Variable(name, dims, "degC", f"temperature of the {where} ice layer",
                         "sea_ice_temperature", valid_range=(-90.0, 1.0), source=source,
                         attrs={"comment": f"Winton (2000) two-layer ice, middle of the {where} "
                                           "half of the ice; freezing point where ice-free"})
                for name, where, source in (("T1", "upper", "upper_ice_temperature"),
                                            ("T2", "lower", "lower_ice_temperature")))
        return layers + (
            Variable("h", dims, "m", "sea-ice thickness of the ice-covered part",
                     "sea_ice_thickness", valid_range=(0.0, 50.0), derived=True,
                     attrs={"cell_methods": "area: mean where sea_ice",
                            "comment": "thickness of the ice-covered part (CMIP6 sithick)"}),
            Variable("ice_volume", dims, "m", "sea-ice volume per unit area",
                     "sea_ice_thickness", valid_range=(0.0, 50.0),
                     attrs={"cell_methods": "area: mean",
                            "comment": "grid-cell mean: thickness times area fraction (CMIP6 "
                                       "sivol)"}),
            Variable("concentration", dims, "1", "sea-ice area fraction",
                     "sea_ice_area_fraction", valid_range=(0.0, 1.0)),
            Variable("hs", dims, "m", "snow thickness on the ice", "surface_snow_thickness",
                     valid_range=(0.0, 20.0), derived=True,
                     attrs={"cell_methods": "area: mean where sea_ice"}),
            Variable("Ts", dims, "degC", "ice or snow surface temperature",
                     "sea_ice_surface_temperature", valid_range=(-90.0, 1.0),
                     source="surface_temperature"),
            Variable("To", dims, "degC", "mixed-layer temperature", "sea_water_temperature",
                     valid_range=(-5.0, 40.0), source="ocean_temperature"),
            Variable("So", dims, "g kg-1", "mixed-layer salinity", "sea_water_salinity",
                     valid_range=(0.0, 60.0), source="ocean_salinity"),
            Variable("energy_residual", dims, "J m-2",
                     "energy content minus cumulative heat input (constant if conserved)",
                     valid_range=None, derived=True),
        )

    def output_fields(self, state) -> dict:
        a = state.concentration
        safe = jnp.where(a > 0, a, 1.0)
        b = budgets(self.thermodynamics, state)
        layers = {}
        if isinstance(self.thermodynamics, WintonThermodynamics):
            layers = {"T1": state.upper_ice_temperature, "T2": state.lower_ice_temperature}
        return {
            **layers,
            "h": jnp.where(a > 0, state.ice_volume / safe, 0.0),
            "ice_volume": state.ice_volume,
            "concentration": a,
            "hs": jnp.where(a > 0, state.snow_volume / safe, 0.0),
            "Ts": state.surface_temperature,
            "To": state.ocean_temperature,
            "So": state.ocean_salinity,
            "energy_residual": b["energy_residual"],
        }

    def coordinates(self) -> tuple[Coordinate, ...]:
        return tuple(Coordinate(f"dim_{i}", np.arange(n), {"long_name": f"column index {i}",
                                                           "units": "1"})
                     for i, n in enumerate(self.shape))

    def parameters(self, names=None) -> ParameterSet:
        """Ice parameters (``thermodynamics.*``) and the deep ocean heat flux
        (``forcing.ocean_heat_flux``)."""
        table = dict(self.thermodynamics.parameters("thermodynamics.").parameters)
        q = float(self.forcing.ocean_heat_flux)
        table["forcing.ocean_heat_flux"] = Parameter(
            jnp.asarray(q), lower=0.0, upper=30.0, units="W m-2",
            prior=Prior.make("truncated_normal", loc=q, scale=1.0, low=0.0, high=30.0),
            description="heat into the mixed layer from below (Maykut & Untersteiner 1971: 2)")
        return select_parameters(table, names, f"{self.name} model")

    def diagnostics(self):
        """``mean_thickness`` (h of the columns), ``ice_volume``, ``snow_thickness``."""
        return {
            "mean_thickness": lambda model, s: jnp.mean(
                s.ice_volume / jnp.where(s.concentration > 0, s.concentration, 1.0)),
            "ice_volume": lambda model, s: jnp.mean(s.ice_volume),
            "snow_thickness": lambda model, s: jnp.mean(
                s.snow_volume / jnp.where(s.concentration > 0, s.concentration, 1.0)),
        }

    def summary(self, dataset) -> dict[str, tuple[float, str, str]]:
        h = np.asarray(dataset["h"].values, dtype=float).reshape(dataset.sizes["time"], -1)
        h = h.mean(axis=1)
        t = dataset["time"].values
        seconds = np.asarray((t - t[0]) / np.timedelta64(1, "s") if np.issubdtype(
            t.dtype, np.datetime64) else t - t[0], dtype=float)
        last = seconds >= seconds[-1] - YEAR + 1.0
        hl = h[last]
        out = {
            "duration": (float(seconds[-1] / YEAR), "year", "length of the output (360-day years)"),
            "mean_thickness_last_year": (float(hl.mean()), "m", "mean ice thickness, last year"),
            "max_thickness_last_year": (float(hl.max()), "m", "largest ice thickness, last year"),
            "min_thickness_last_year": (float(hl.min()), "m", "smallest ice thickness, last year"),
            "max_snow_last_year": (float(np.asarray(dataset["hs"].values)[last].max()), "m",
                                   "largest snow thickness, last year"),
            "min_surface_temperature": (float(np.asarray(dataset["Ts"].values)[last].min()),
                                        "degC", "coldest surface temperature, last year"),
        }
        return out

    def figures(self, dataset, directory, title: str = "") -> list[Path]:
        path = Path(directory) / "seasonal_cycle.png"
        plot_seasonal_cycle(dataset, path, title=title)
        return [path]

    def describe(self) -> dict[str, str]:
        return {"seaice_column": f"{self.thermodynamics.describe()} over a "
                                 f"{float(self.mixed_layer_depth):g} m mixed layer",
                "forcing": "Maykut & Untersteiner (1971) / Semtner (1976) monthly climatology",
                "columns": str(self.shape or "1")}


def annual_mean_thickness(model: ArcticColumn, years: int, state: SeaIceState | None = None):
    """Run ``years`` years and return ``(mean thickness over the last year, final state)``
    (differentiable; the mean over the daily states of the last year, of all columns)."""
    n = model.steps_per_year
    state = model.initial_state() if state is None else state
    if years > 1:
        state, _ = model.run(state, (years - 1) * n, save_every=None)
    final, h = model.run(state, n, save_every=1,
                         observe=lambda s: s.ice_volume / jnp.where(
                             s.concentration > 0, s.concentration, 1.0))
    return jnp.mean(h), final
