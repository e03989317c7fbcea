"""A generic coupler: components, exchanged fields, fluxes on the exchange grid, ordering.

A coupled step with a :class:`Coupler` is

1. every component **exports** its surface fields (``export(state, time) -> {field: array}``);
2. the **exchange** computes the fluxes between them on the exchange grid (for an air–sea–ice
   column: the open-water and the ice tiles of each cell, weighted by their area fractions)
   and returns each component's **imports** ``{component: {field: array}}``;
3. the components listed in ``order`` **advance** one step in that order
   (``advance(state, imports, time, dt) -> (state, produced)``); a component may produce fluxes
   for the components after it (``produced = {destination: {field: array}}``, e.g. the ice
   passes the ice–ocean heat and salt fluxes to the ocean), which are added to their imports.

Every exchanged field is declared once as an :class:`ExchangeField` (name, units, source,
destination); the coupler refuses, when it is traced, a field that a component produces or
the exchange returns but nobody declared, and names the declared ones.  Everything is a
pure function of pytrees (``equinox`` modules), so a coupled step can be jitted, scanned and
differentiated like any model step; ordering and field declarations are static.

Example (the coupled ocean–sea-ice column, :mod:`pyclimaocean.models.coupled`)::

    coupler = Coupler(components={"atmosphere": atmosphere, "seaice": ice, "ocean": ocean},
                      exchange=AirSeaIceExchange(), order=("seaice", "ocean"),
                      fields=AIR_SEA_ICE_FIELDS)
    states, fluxes = coupler.step(states, time, dt)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import equinox as eqx

__all__ = ["AbstractComponent", "AbstractExchange", "Coupler", "ExchangeField"]


@dataclass(frozen=True)
class ExchangeField:
    """A field passed between components.

    Attributes:
        name: key in the import dictionaries.
        units: units (UDUNITS).
        source: the component (or ``"exchange"``) that computes it.
        destination: the component that imports it.
        long_name: description; standard_name: CF standard name where one exists.
    """

    name: str
    units: str
    source: str
    destination: str
    long_name: str = ""
    standard_name: str | None = None


class AbstractComponent(eqx.Module):
    """A component model as the coupler sees it."""

    def export(self, state, time) -> dict[str, Any]:
        """Surface fields this component offers to the exchange (default none)."""
        return {}

    @abc.abstractmethod
    def advance(self, state, imports: Mapping[str, Any], time, dt: float):
        """One coupled step: ``(new_state, produced)``, ``produced`` = ``{destination:
        {field: array}}`` for the components advanced after this one."""


class AbstractExchange(eqx.Module):
    """Fluxes on the exchange grid from the components' exports."""

    @abc.abstractmethod
    def __call__(self, exports: Mapping[str, Mapping[str, Any]], time) -> dict[str, dict]:
        """``{component: {field: array}}``: each component's imports (area-weighted means over
        the cell unless a field says otherwise)."""


class Coupler(eqx.Module):
    """Sequential coupler of ``components`` through ``exchange`` (see the module docstring).

    Attributes:
        components: ``{name: AbstractComponent}`` (leaves: their parameters).
        exchange: :class:`AbstractExchange`.
        order: names of the components advanced each step, in order (static); a component not
            listed (a prescribed atmosphere, say) only exports.
        fields: the declared :class:`ExchangeField` s (static).
    """

    components: dict
    exchange: AbstractExchange
    order: tuple[str, ...] = eqx.field(static=True)
    fields: tuple[ExchangeField, ...] = eqx.field(static=True)

    def __check_init__(self):
        unknown = [n for n in self.order if n not in self.components]
        if unknown:
            raise ValueError(f"Coupler.order names {unknown}, which are not components. "
                             f"Components are: {', '.join(self.components)}")
        if len(set(self.order)) != len(self.order):
            raise ValueError(f"Coupler.order {self.order} lists a component twice")
        for f in self.fields:
            if f.destination not in self.components:
                raise ValueError(f"exchanged field {f.name!r} goes to {f.destination!r}, which is "
                                 f"not a component ({', '.join(self.components)})")

    def declared(self, destination: str) -> dict[str, ExchangeField]:
        """The fields ``destination`` imports, by name."""
        return {f.name: f for f in self.fields if f.destination == destination}

    def _check(self, destination: str, received: Mapping[str, Any], source: str):
        known = self.declared(destination)
        extra = [k for k in received if k not in known]
        if extra:
            raise KeyError(f"{source} passes {extra} to {destination!r}, which are not declared "
                           f"exchanged fields. Declared for {destination!r}: "
                           f"{', '.join(known) or '(none)'}")

    def step(self, states: Mapping[str, Any], time, dt: float):
        """Advance every component in ``order`` by ``dt`` from ``time``.

        Returns ``(new_states, imports)``: the states (same keys as ``states``) and every
        component's imports of this step (exchange fluxes plus what earlier components
        produced), for budgets and output.
        """
        exports = {name: c.export(states[name], time) for name, c in self.components.items()}
        imports = {name: dict(v) for name, v in self.exchange(exports, time).items()}
        for name, received in imports.items():
            self._check(name, received, "the exchange")
        new = dict(states)
        for name in self.order:
            new[name], produced = self.components[name].advance(
                states[name], imports.get(name, {}), time, dt)
            for destination, received in produced.items():
                self._check(destination, received, f"component {name!r}")
                target = imports.setdefault(destination, {})
                for key, value in received.items():
                    target[key] = target[key] + value if key in target else value
        return new, imports
