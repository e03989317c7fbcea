"""Learning closures of unresolved scales: equinox networks, offline and online training,
stochastic parameterisation and evaluation (forecast skill, climate, ensemble reliability).

Example (two-scale Lorenz-96 truth, closure of the one-scale model)::

    import jax
    from pyclimaocean.models.lorenz96 import Lorenz96, arnold_2013, spun_up_state
    from pyclimaocean import learning

    truth, dt = arnold_2013()
    data, _ = learning.generate_two_scale_data(
        truth, spun_up_state(truth, dt, 5000), dt=dt, n_samples=4000, sample_every=5)
    cnn = learning.PeriodicCNNClosure(
        width=16, depth=2, kernel_size=5,
        scaling=learning.standardisation(data.x, data.subgrid), key=jax.random.PRNGKey(0))
    result = learning.fit(
        cnn, learning.offline_loss, learning.OfflineSampler(data.x, data.subgrid, 64),
        learning.make_optimizer(1e-3, 500), 500, key=jax.random.PRNGKey(1))
    coarse = learning.ClosureModel(Lorenz96(n=8, forcing=20.0), result.model)

See ``docs/neural_closures.md``.
"""

from .checkpoint import (
    atomic_write_text,
    build_closure,
    load_closure,
    load_model,
    save_closure,
    save_model,
)
from .closure_model import ClosureModel, base_tendency, rollout
from .data import ClosureData, generate_two_scale_data, split_data, trajectory_windows
from .evaluation import (
    climate_distance,
    climate_statistics,
    forecast_errors,
    forecast_rmse,
    long_run,
    spread_error,
    time_to_threshold,
)
from .networks import (
    ACTIVATIONS,
    AbstractTendencyClosure,
    GlobalMLPClosure,
    LocalMLPClosure,
    PeriodicCNNClosure,
    Standardisation,
    ZeroClosure,
    periodic_stencil,
    standardisation,
)
from .online import (
    ReferenceTrajectory,
    fit_online,
    make_trajectory_loss,
    mean_squared_error,
    reference_trajectory,
    select_trainable,
    trajectory_rmse,
)
from .stochastic import (
    AR1Noise,
    PolynomialClosure,
    StochasticClosure,
    StochasticState,
    ensemble_forecast,
    estimate_ar1,
    estimate_noise,
    fit_polynomial_closure,
    fit_stochastic_closure,
    stochastic_forecast,
)
from .training import (
    OfflineSampler,
    TrainingDivergedError,
    TrainResult,
    WindowSampler,
    fit,
    make_online_loss,
    make_optimizer,
    offline_loss,
)

__all__ = [
    "ACTIVATIONS",
    "AbstractTendencyClosure",
    "ZeroClosure",
    "PeriodicCNNClosure",
    "LocalMLPClosure",
    "GlobalMLPClosure",
    "Standardisation",
    "standardisation",
    "periodic_stencil",
    "ClosureModel",
    "base_tendency",
    "rollout",
    "ClosureData",
    "generate_two_scale_data",
    "split_data",
    "trajectory_windows",
    "fit",
    "TrainResult",
    "TrainingDivergedError",
    "offline_loss",
    "make_online_loss",
    "OfflineSampler",
    "WindowSampler",
    "make_optimizer",
    "ReferenceTrajectory",
    "reference_trajectory",
    "select_trainable",
    "mean_squared_error",
    "make_trajectory_loss",
    "fit_online",
    "trajectory_rmse",
    "save_model",
    "load_model",
    "save_closure",
    "load_closure",
    "build_closure",
    "atomic_write_text",
    "PolynomialClosure",
    "fit_polynomial_closure",
    "AR1Noise",
    "estimate_ar1",
    "estimate_noise",
    "StochasticClosure",
    "StochasticState",
    "fit_stochastic_closure",
    "stochastic_forecast",
    "ensemble_forecast",
    "forecast_rmse",
    "forecast_errors",
    "time_to_threshold",
    "climate_statistics",
    "climate_distance",
    "spread_error",
    "long_run",
]


def __getattr__(name: str):
    # ``learning.AbstractClosure``: deprecated alias of AbstractTendencyClosure (warns)
    if name == "AbstractClosure":
        from .networks import _deprecated_alias

        return _deprecated_alias(stacklevel=2)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
