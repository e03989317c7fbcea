"""LICENSE, CITATION.cff, CHANGELOG.md and pyproject.toml agree with the package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pyclimaocean import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf'^version: "{re.escape(__version__)}"$', citation, re.M)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog and "## Version policy" in changelog


def test_license_is_the_declared_one():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "pyclimaocean developers" in text
    assert "license: MIT" in (ROOT / "CITATION.cff").read_text()
