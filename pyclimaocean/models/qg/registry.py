"""Registry entry of the two-layer QG model."""

from ...core.registry import ModelEntry

ENTRY = ModelEntry(
    name="qg",
    schema="pyclimaocean.models.qg.config:QGExperiment",
    builders={"jax": "pyclimaocean.models.qg.config:build_model"},
    description="two-layer quasi-geostrophic turbulence, doubly periodic, pseudo-spectral "
                "(pyqg QGModel; Ross et al. 2023 eddy/jet presets), AB3",
)
