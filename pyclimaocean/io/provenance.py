"""Provenance of an experiment: what ran, with which software, from which source, when.

:func:`collect_provenance` gathers a JSON-serialisable record that the experiment runner writes
to ``provenance.json`` at the start of a run and completes (``end``, ``status``) at its end::

    {
      "pyclimaocean_version": "0.1.0",
      "command": ["pyclimaocean", "run", "examples/column_free_convection.toml", "-o", "runs/fc"],
      "start": "2026-01-01T12:00:00+00:00", "end": "...", "status": "completed",
      "python": "3.11.9", "platform": "Linux-...-x86_64", "hostname": "...",
      "packages": {"pyclimaocean": "0.1.0", "jax": "...", "numpy": "...", ...},
      "git": {"revision": "d80f966...", "dirty": false, "source": "package"} | null,
      "backend": "jax", "seeds": {"experiment": 0}, "config_sha256": "...",
      "jax": {"x64": true, "devices": ["cpu"]}
    }

Nothing here may fail a run: a missing package is recorded as ``null``; no git checkout (or no
``git`` executable) gives ``"git": null``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .._version import __version__
from .files import atomic_write_bytes

__all__ = [
    "collect_provenance",
    "package_versions",
    "git_revision",
    "utc_now",
    "write_provenance",
    "PACKAGES",
]

#: Distributions whose versions are recorded (``null`` when not installed).
PACKAGES = (
    "pyclimaocean",
    "jax",
    "jaxlib",
    "numpy",
    "scipy",
    "xarray",
    "equinox",
    "optax",
    "numpyro",
    "netCDF4",
    "h5netcdf",
    "zarr",
    "pydantic",
    "matplotlib",
    "prefect",
    "prefect-dask",
    "dask",
    "distributed",
    "juliacall",
)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds (``2026-01-01T12:00:00+00:00``)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (``None`` for a package that is not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
        except Exception:  # a broken installation must not fail a run
            out[name] = None
    return out


def _git(args: Sequence[str], cwd: Path) -> str | None:
    try:
        res = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip()


def git_revision(path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Git revision of the checkout containing ``path``, or ``None`` if there is none.

    Returns ``{"revision": <sha>, "dirty": <bool>, "branch": <name or None>}``; never raises.
    """
    try:
        cwd = Path(path if path is not None else os.getcwd()).resolve()
        if cwd.is_file():
            cwd = cwd.parent
        if not cwd.exists():
            return None
    except OSError:
        return None
    rev = _git(["rev-parse", "HEAD"], cwd)
    if not rev:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    return {"revision": rev, "dirty": bool(status) if status is not None else None,
            "branch": branch if branch and branch != "HEAD" else None}


def _jax_info() -> dict[str, Any] | None:
    try:
        import jax

        return {
            "x64": bool(jax.config.jax_enable_x64),
            "devices": sorted({d.platform for d in jax.devices()}),
            "xla_flags": os.environ.get("XLA_FLAGS"),
        }
    except Exception:
        return None


def collect_provenance(
    *,
    command: Sequence[str] | None = None,
    backend: str | None = None,
    seeds: Mapping[str, Any] | None = None,
    config_text: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A provenance record (see the module docstring).  Never raises.

    Args:
        command: the command line (default ``sys.argv``).
        backend: the model backend (``"jax"``, ``"julia"``).
        seeds: named random seeds used by the experiment.
        config_text: the exact config that ran; its SHA-256 is recorded.
        extra: further JSON-serialisable entries (e.g. ensemble settings).
    """
    import pyclimaocean


    git = {"source": "cwd", **g} if (g := git_revision()) else None
    pkg = git_revision(Path(pyclimaocean.__file__).parent)
    if pkg is not None and (git is None or pkg["revision"] != git["revision"]):
        git = {"source": "package", **pkg} if git is None else {**git, "package": pkg}
    record: dict[str, Any] = {
        "pyclimaocean_version": __version__,
        "command": list(command) if command is not None else list(sys.argv),
        "start": utc_now(),
        "end": None,
        "status": "running",
        "python": platform.python_version(),
        "python_executable_name": Path(sys.executable).name,
        "platform": platform.platform(),
        "hostname": platform.node(),
        "pid": os.getpid(),
        "packages": package_versions(),
        "git": git,
        "backend": backend,
        "seeds": dict(seeds or {}),
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest() if config_text else None,
        "jax": _jax_info(),
    }
    if extra:
        record.update(dict(extra))
    return record


def write_provenance(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as indented JSON, atomically."""

    text = json.dumps(record, indent=2, sort_keys=False, default=str)
    return atomic_write_bytes(path, (text + "\n").encode())
