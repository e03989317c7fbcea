"""Registry entry of the single-column model."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="column",
    schema="pyclimaocean.models.column.config:ColumnExperiment",
    builders={
        "jax": "pyclimaocean.models.column.config:build_model",
        "julia": "pyclimaocean.backends.builders:julia_column",
    },
    description="single-column ocean: T, S, u, v, TKE with convective, Richardson and CATKE-like "
    "closures, surface fluxes",
)
