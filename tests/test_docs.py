"""The documentation site: ``mkdocs build --strict`` passes (broken links, anchors and
docstring references fail), every public package has an API page, the configuration
reference names every key of every registered model, and every example has a gallery page."""

from __future__ import annotations

import importlib.util
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

import pyclimaocean
from pyclimaocean.config_reference import config_reference_markdown, section_rows
from pyclimaocean.core import available_models, get_model_entry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
#: packages and modules without an API page, and why
NO_API_PAGE = {
    "pyclimaocean.cli", "pyclimaocean.cli_common", "pyclimaocean.cli_experiment",  # --help
    "pyclimaocean.models",  # one page per model
    "pyclimaocean.coupling",  # empty placeholder
    "pyclimaocean.provenance",  # moved to io.provenance
    "pyclimaocean.examples", "pyclimaocean.julia_ext",  # data links
}


@pytest.mark.slow  # 6.6 s measured (fast tier: pytest -m 'not slow')
def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or shutil.which("mkdocs") is None:
        pytest.fail('mkdocs is not installed: pip install -e ".[docs]" (also in ".[dev]")')
    res = subprocess.run([shutil.which("mkdocs"), "build", "--strict", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "site" / "configuration" / "index.html").exists()
    assert (tmp_path / "site" / "api" / "pyclimaocean.core" / "index.html").exists()


def test_every_public_package_has_an_api_page():
    from mkdocs_hooks import API_PAGES

    public = {f"pyclimaocean.{m.name}" for m in pkgutil.iter_modules(pyclimaocean.__path__)
              if not m.name.startswith("_")}
    models = {f"pyclimaocean.models.{m.name}" for m in
              pkgutil.iter_modules([str(ROOT / "pyclimaocean" / "models")])}
    committed = subprocess.run(["git", "ls-files", "pyclimaocean/models"], cwd=ROOT,
                               capture_output=True, text=True).stdout
    models = {m for m in models if f"models/{m.rsplit('.', 1)[1]}/" in committed}
    missing = (public | models) - set(API_PAGES.values()) - NO_API_PAGE
    assert not missing, f"add API pages in tools/mkdocs_hooks.py for {sorted(missing)}"


@pytest.mark.parametrize("model", available_models())
def test_configuration_reference_names_every_key(model):
    text = config_reference_markdown()
    schema = get_model_entry(model).config_schema()
    assert f"## `{model}`" in text
    for table, rows in section_rows(schema):
        for row in rows:
            if not table and row["type"] == "table":  # a table: its own heading
                assert f"`[{row['key']}]`" in text, row["key"]
                continue
            assert f"| `{row['key']}` |" in text, (table, row["key"])
    for name, field in schema.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, pydantic.BaseModel):
            assert f"`[{name}]`" in text


def test_every_example_has_a_gallery_page():
    from build_gallery import tracked_examples

    gallery = ROOT / "docs" / "gallery"
    index = (gallery / "index.md").read_text()
    for name in tracked_examples():
        assert f"]({name}.md)" in index and (gallery / f"{name}.md").exists(), \
            f"run: python tools/build_gallery.py {name}"
    for png in gallery.rglob("*.png"):
        assert png.stat().st_size <= 160_000, png
