"""Provenance records of experiments: see :mod:`pyclimaocean.io.provenance` (this module
re-exports it under its older name)."""

from .io.provenance import (  # noqa: F401
    PACKAGES,
    collect_provenance,
    git_revision,
    package_versions,
    utc_now,
    write_provenance,
)

__all__ = ["PACKAGES", "collect_provenance", "git_revision", "package_versions", "utc_now",
           "write_provenance"]
