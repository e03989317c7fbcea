"""The one experiment-directory policy shared by every verb (run, ensemble, calibrate, infer,
assimilate, train): creating or reusing the directory, the exact config, provenance, log.

* :func:`prepare_output_dir` refuses to overwrite work: an existing experiment is emptied only
  with ``force`` (no stale file survives), an unrelated folder is never deleted, ``resume``
  keeps it;
* :func:`open_experiment_dir` also writes ``config.toml`` (the exact config after ``--set``
  overrides) and starts ``provenance.json``; :func:`close_experiment_dir` completes it;
* every file is written atomically (:mod:`pyclimaocean.io.files`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..config import toml_key as _toml_key
from ..config import toml_value as _toml_value
from .files import atomic_write_bytes
from .provenance import collect_provenance, utc_now, write_provenance

__all__ = [
    "EXPERIMENT_MARKERS",
    "check_output_dir",
    "close_experiment_dir",
    "dump_toml",
    "experiment_logger",
    "open_experiment_dir",
    "prepare_output_dir",
    "remove_stale_temporaries",
]

#: Files whose presence marks a directory as an experiment directory (``--force`` may then
#: delete it).
EXPERIMENT_MARKERS = ("config.toml", "provenance.json", "ensemble.json")

def dump_toml(data: dict) -> str:
    """Write a parsed config back as TOML (``tomllib.loads(_dump_toml(d)) == d``)."""
    lines: list[str] = []

    def table(prefix: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        if scalars or prefix:
            lines.append("")
        for k, v in tables.items():
            table(f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v)

    table("", data)
    return "\n".join(lines)



_dump_toml = dump_toml


def check_output_dir(out: str | Path, *, force: bool = False, resume: bool = False) -> Path:
    """The refusals of :func:`prepare_output_dir`, with no side effect: raises the same
    :class:`FileExistsError` when that call would, creates and deletes nothing.  A verb whose
    set-up is expensive (a calibration compiles its twin) calls it first, so a refused
    directory costs nothing."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output path {str(out)!r} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not resume:
        if not force:
            raise FileExistsError(
                f"output directory {str(out)!r} already holds an experiment; "
                "use --force to overwrite it or --resume to continue it"
            )
        if not any((out / m).exists() for m in EXPERIMENT_MARKERS):
            raise FileExistsError(
                f"output directory {str(out)!r} is not empty and does not look like a "
                "pyclimaocean experiment (no config.toml / provenance.json): refusing to "
                "delete it, even with --force. Choose another --output-dir."
            )
    return out


def prepare_output_dir(out: str | Path, *, force: bool = False, resume: bool = False) -> Path:
    """Create the experiment directory, refusing to overwrite work.

    * does not exist or is empty: created;
    * non-empty and ``resume``: kept as it is;
    * non-empty and ``force``: emptied, but only if it holds an experiment (one of
      ``config.toml``, ``provenance.json``, ``ensemble.json``) — an arbitrary folder is never
      deleted;
    * otherwise: :class:`FileExistsError` (CLI exit code 2; :func:`check_output_dir` raises
      the same without touching anything).
    """
    out = check_output_dir(out, force=force, resume=resume)
    if out.exists() and any(out.iterdir()):
        if resume:
            return out
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_experiment_dir(
    out: str | Path,
    raw: Mapping[str, Any],
    *,
    kind: str,
    force: bool = False,
    resume: bool = False,
    command: Sequence[str] | None = None,
    backend: str = "jax",
    seeds: Mapping[str, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Path, dict]:
    """The one experiment-directory policy of every verb (run, ensemble, calibrate, infer,
    assimilate, train).

    Creates or prepares ``out`` with :func:`prepare_output_dir` (``force`` empties an
    experiment directory — no stale file survives — and never deletes an unrelated folder),
    removes temporaries of killed writers, writes ``config.toml`` (the exact config that ran,
    after ``--set`` overrides) atomically and starts ``provenance.json`` (status ``running``).
    Returns ``(out, provenance)``; finish with :func:`close_experiment_dir`.
    """

    out = Path(out)
    text = dump_toml(dict(raw))
    if resume and out.exists():
        _check_same_config(out, text)
    prepare_output_dir(out, force=force, resume=resume)
    remove_stale_temporaries(out)
    atomic_write_bytes(out / "config.toml", text.encode())
    prov = collect_provenance(command=command, backend=backend, seeds=dict(seeds or {}),
                              config_text=text, extra={"kind": kind, **dict(extra or {})})
    write_provenance(out / "provenance.json", prov)
    return out, prov


def close_experiment_dir(out: str | Path, prov: dict, status: str = "completed",
                         **entries: Any) -> dict:
    """Complete ``provenance.json``: end time, ``status`` and more ``entries``."""

    prov.update(end=utc_now(), status=status, **entries)
    write_provenance(Path(out) / "provenance.json", prov)
    return prov


@contextmanager
def experiment_logger(out: Path, name: str = "run.log"):
    """A logger writing to ``out/run.log`` (appending) for the duration of the block."""
    logger = logging.getLogger(f"pyclimaocean.experiment.{abs(hash(str(out.resolve())))}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(out / name, mode="a", encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.<name>.<random>.tmp`` files left by a writer that was killed mid-write."""
    removed = []
    for p in [*out.glob(".*.tmp"), *out.glob("*.parts/.*.tmp")]:
        try:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _check_same_config(out: Path, text: str) -> None:
    old_path = out / "config.toml"
    if not old_path.exists():
        return
    import tomllib

    old = tomllib.loads(old_path.read_text())
    new = tomllib.loads(text)
    if old == new:
        return
    diffs = sorted(_diff_keys(old, new))
    shown = "\n".join(f"  {d}" for d in diffs[:20])
    raise ConfigError(
        f"cannot resume {str(out)!r}: the config differs from the one it was started with "
        f"({out / 'config.toml'}):\n{shown}\nRun with the same config and --set values, or "
        "use --force to start the experiment again."
    )


def _diff_keys(a: Mapping, b: Mapping, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in a:
            out.append(f"{path}: added ({b[key]!r})")
        elif key not in b:
            out.append(f"{path}: removed (was {a[key]!r})")
        elif isinstance(a[key], Mapping) and isinstance(b[key], Mapping):
            out.extend(_diff_keys(a[key], b[key], path))
        elif a[key] != b[key]:
            out.append(f"{path}: {a[key]!r} -> {b[key]!r}")
    return out
