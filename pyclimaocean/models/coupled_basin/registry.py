"""Registry entry of the coupled ocean–sea-ice basin."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="coupled_basin",
    schema="pyclimaocean.models.coupled_basin.config:CoupledBasinExperiment",
    builders={"jax": "pyclimaocean.models.coupled_basin.config:build_model"},
    description="coupled basin: 3-D basin ocean under dynamic-thermodynamic sea ice (EVP) on "
                "the same C-grid, prescribed gridded atmosphere, bulk fluxes through the "
                "generic coupler",
)
