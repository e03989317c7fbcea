"""Registry entry of the Arctic sea-ice column."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="seaice_column",
    schema="pyclimaocean.models.seaice.config:SeaIceColumnExperiment",
    builders={"jax": "pyclimaocean.models.seaice.config:build_model"},
    description="Arctic sea-ice column: zero-layer (Semtner 1976) ice + snow over a mixed "
                "layer, Maykut & Untersteiner (1971) climatology",
)
