"""Registry entry of the 3-D basin model."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="basin",
    schema="pyclimaocean.models.basin.config:BasinExperiment",
    builders={
        "jax": "pyclimaocean.models.basin.config:build_model",
        "julia": "pyclimaocean.backends.builders:julia_basin",
    },
    description="3-D hydrostatic primitive-equation basin on a C-grid (split-explicit free "
                "surface, quasi-AB2/RK3): Munk gyre or a Veros-acc-like sector with a "
                "re-entrant southern channel",
)
