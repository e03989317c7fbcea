"""Registry entry of the Lorenz-96 models."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="lorenz96",
    schema="pyclimaocean.models.lorenz96.config:Lorenz96Experiment",
    builders={"jax": "pyclimaocean.models.lorenz96.config:build_model"},
    description="Lorenz-96, one- or two-scale (Lorenz 1996; Arnold et al. 2013 constants), RK4",
)
