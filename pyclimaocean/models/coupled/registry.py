"""Registry entry of the coupled ocean–sea-ice column."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="coupled_column",
    schema="pyclimaocean.models.coupled.config:CoupledColumnExperiment",
    builders={"jax": "pyclimaocean.models.coupled.config:build_model"},
    description="coupled column: ocean column under zero-layer sea ice, prescribed atmosphere "
                "from files, bulk fluxes through the generic coupler",
)
