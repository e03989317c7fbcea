"""mkdocs hooks of the documentation site: pages generated at build time, never committed.

* ``configuration.md``: :func:`pyclimaocean.config_reference.config_reference_markdown`, every
  key of every registered model's config schema;
* ``api/<package>.md``: one mkdocstrings page per public package or module (:data:`API_PAGES`).

The gallery (``docs/gallery/``) is committed instead: it runs the examples
(``python tools/build_gallery.py``).
"""

from __future__ import annotations

from mkdocs.structure.files import File

#: the API reference: page title -> module (every public package; tests/test_docs.py checks
#: that none is missing)
API_PAGES = {
    "pyclimaocean": "pyclimaocean",
    "core": "pyclimaocean.core",
    "params": "pyclimaocean.params",
    "config": "pyclimaocean.config",
    "integrate": "pyclimaocean.integrate",
    "grids": "pyclimaocean.grids",
    "physics": "pyclimaocean.physics",
    "numerics": "pyclimaocean.numerics",
    "closures": "pyclimaocean.closures",
    "fluxes": "pyclimaocean.fluxes",
    "coupling": "pyclimaocean.coupling",
    "models.basin": "pyclimaocean.models.basin",
    "models.column": "pyclimaocean.models.column",
    "models.coupled": "pyclimaocean.models.coupled",
    "models.coupled_basin": "pyclimaocean.models.coupled_basin",
    "models.lorenz96": "pyclimaocean.models.lorenz96",
    "models.qg": "pyclimaocean.models.qg",
    "models.seaice": "pyclimaocean.models.seaice",
    "simulation": "pyclimaocean.simulation",
    "io": "pyclimaocean.io",
    "backends": "pyclimaocean.backends",
    "observations": "pyclimaocean.observations",
    "kalman": "pyclimaocean.kalman",
    "calibration": "pyclimaocean.calibration",
    "inference": "pyclimaocean.inference",
    "assimilation": "pyclimaocean.assimilation",
    "learning": "pyclimaocean.learning",
    "discovery": "pyclimaocean.discovery",
    "experiment": "pyclimaocean.experiment",
    "study": "pyclimaocean.study",
    "workflows": "pyclimaocean.workflows",
    "plotting": "pyclimaocean.plotting",
    "config_reference": "pyclimaocean.config_reference",
}


def api_page(module: str) -> str:
    return f"# `{module}`\n\n::: {module}\n"


def on_files(files, config):
    from pyclimaocean.config_reference import config_reference_markdown

    files.append(File.generated(config, "configuration.md", content=config_reference_markdown()))
    for module in API_PAGES.values():
        files.append(File.generated(config, f"api/{module}.md", content=api_page(module)))
    return files
