"""Observation operators with named dimensions, shared by calibration and data assimilation
(:mod:`.operators`)."""

from .operators import (
    FieldOperator,
    ObservationError,
    ObservationOperator,
    axis_weights,
    cell_thickness,
    field_operator,
    interpolation_matrix,
    model_axes,
    observation_times,
    observed_values,
    observed_variables,
    sampling,
    selection_matrix,
    state_matrix,
)

__all__ = [
    "FieldOperator",
    "ObservationError",
    "ObservationOperator",
    "axis_weights",
    "cell_thickness",
    "field_operator",
    "interpolation_matrix",
    "model_axes",
    "observation_times",
    "observed_values",
    "observed_variables",
    "sampling",
    "selection_matrix",
    "state_matrix",
]
