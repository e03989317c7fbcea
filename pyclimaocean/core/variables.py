"""Variable metadata: what a model's output fields are, where they live and what they mean.

Every model declares its output fields as :class:`Variable` objects (as Veros'
``Variable(name, dims, units, long_name)``).  Generic code — the CF dataset writer, output
writers, blow-up checks, observation operators, reports — reads this metadata and never needs
to know which model produced the fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Variable", "Coordinate"]


@dataclass(frozen=True)
class Variable:
    """Metadata of one output field.

    Attributes:
        name: short name in output files (``"T"``, ``"X"``, ``"q"``).
        dims: dimension names *without* time, in array order (``("z",)``, ``("layer", "y", "x")``).
        units: UDUNITS string (``"degC"``, ``"m s-1"``, ``"1"`` for nondimensional).
        long_name: human-readable description.
        standard_name: CF standard name, where the CF table has one.
        location: grid location of the values (``"center"``, ``"face"``, ``"u"``, ``"v"``,
            ``"corner"``); written as the ``grid_location`` attribute.
        valid_range: plausible range ``(lower, upper)`` used by blow-up checks (``None``: only
            NaN/Inf are checked).
        attrs: more attributes written to the output (``comment``, ``cell_methods`` ...).
        source: dotted attribute path of the field in the model state (default: ``name``);
            ignored for ``derived`` fields.
        derived: the field is computed by the model's ``output_fields`` (e.g. buoyancy), not
            read from the state.
    """

    name: str
    dims: tuple[str, ...]
    units: str
    long_name: str
    standard_name: str | None = None
    location: str = "center"
    valid_range: tuple[float, float] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    derived: bool = False

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"Variable name must be a non-empty string, got {self.name!r}")
        if isinstance(self.dims, str):
            object.__setattr__(self, "dims", (self.dims,))
        if "time" in self.dims:
            raise ValueError(
                f"Variable {self.name!r}: dims {self.dims} must not include 'time' (added by "
                "the output writers)"
            )
        if self.valid_range is not None:
            lo, hi = self.valid_range
            if not (lo < hi) or math.isnan(lo) or math.isnan(hi):
                raise ValueError(
                    f"Variable {self.name!r}: valid_range {self.valid_range} must be (lower, "
                    "upper) with lower < upper"
                )

    def cf_attributes(self) -> dict[str, Any]:
        """CF attributes for the output file."""
        out = {"units": self.units, "long_name": self.long_name}
        if self.standard_name:
            out["standard_name"] = self.standard_name
        out["grid_location"] = self.location
        if self.valid_range is not None:
            out["plausible_range"] = list(map(float, self.valid_range))
        out.update(self.attrs)
        return out


@dataclass(frozen=True)
class Coordinate:
    """A coordinate of a model's output: values and CF attributes.

    ``dims`` defaults to ``(name,)``; ``bounds`` (``(n, 2)``) are written as ``<name>_bounds``
    and linked through the ``bounds`` attribute, as CF asks for cell boundaries.
    """

    name: str
    values: Any
    attrs: dict[str, Any] = field(default_factory=dict)
    dims: tuple[str, ...] | None = None
    bounds: Any = None
