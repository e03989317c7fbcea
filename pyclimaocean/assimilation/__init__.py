"""Data assimilation: observation operators, EnKF / ETKF / LETKF, 4D-Var, twin experiments.

See ``docs/lorenz96_assimilation.md`` for the Lorenz-96 benchmark and examples.
"""

from .ensemble import (
    ETKF,
    LETKF,
    EnsembleFilter,
    StochasticEnKF,
    additive_inflation,
    enkf_analysis,
    ensemble_mean_and_spread,
    etkf_analysis,
    letkf_analysis,
    multiplicative_inflation,
)
from .fourdvar import FourDVar, FourDVarOutput, cycle_fourdvar, fourdvar_cost
from .localization import gaspari_cohn, localization_weights, periodic_distance
from .observations import (
    IdentityObservation,
    LinearObservation,
    ObservationOperator,
    SubsetObservation,
    every_other,
    make_observation_operator,
    point_observation,
)
from .twin import (
    FilterOutput,
    climatology_rmse,
    cycle_filter,
    free_run,
    make_forecast,
    mean_spread,
    rmse,
    synthetic_observations,
    time_mean,
    truth_run,
)

__all__ = [
    "ETKF",
    "LETKF",
    "EnsembleFilter",
    "StochasticEnKF",
    "additive_inflation",
    "enkf_analysis",
    "ensemble_mean_and_spread",
    "etkf_analysis",
    "letkf_analysis",
    "multiplicative_inflation",
    "FourDVar",
    "FourDVarOutput",
    "cycle_fourdvar",
    "fourdvar_cost",
    "gaspari_cohn",
    "localization_weights",
    "periodic_distance",
    "IdentityObservation",
    "LinearObservation",
    "ObservationOperator",
    "SubsetObservation",
    "every_other",
    "make_observation_operator",
    "point_observation",
    "FilterOutput",
    "climatology_rmse",
    "cycle_filter",
    "free_run",
    "make_forecast",
    "mean_spread",
    "rmse",
    "synthetic_observations",
    "time_mean",
    "truth_run",
]
