"""Physics shared by the models: constants and seawater equations of state."""

from . import constants
from .constants import (
    EARTH_RADIUS,
    EARTH_ROTATION_RATE,
    GRAVITY,
    HEAT_CAPACITY,
    REFERENCE_DENSITY,
    REFERENCE_SALINITY,
    STEFAN_BOLTZMANN,
)
from .equation_of_state import (
    AbstractEquationOfState,
    LinearEquationOfState,
    RoquetEquationOfState,
)

__all__ = [
    "AbstractEquationOfState",
    "EARTH_RADIUS",
    "EARTH_ROTATION_RATE",
    "GRAVITY",
    "HEAT_CAPACITY",
    "LinearEquationOfState",
    "REFERENCE_DENSITY",
    "REFERENCE_SALINITY",
    "RoquetEquationOfState",
    "STEFAN_BOLTZMANN",
    "constants",
]
