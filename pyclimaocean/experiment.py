"""Run an experiment described by a TOML file: the Python API behind ``pyclimaocean run``.

``run_experiment("examples/column_free_convection.toml", "runs/fc")`` validates the config,
builds the model on the chosen backend, runs it with a :class:`~pyclimaocean.simulation.Simulation`
(outputs, checkpoints, blow-up detection) and writes into the output directory:

* ``config.toml`` — the exact config that ran (after ``--set`` overrides);
* ``output.nc`` (or ``output.zarr``) — CF-annotated dataset, written atomically;
* ``checkpoint.npz`` — restart file when ``time.checkpoint_interval`` is set;
* ``column.png`` — profiles and a time–depth section.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError, apply_overrides, load_toml, validate

__all__ = ["run_experiment", "load_experiment", "ExperimentResult"]


@dataclass
class ExperimentResult:
    output_dir: Path
    dataset: object
    final_state: object
    files: list[Path]


def load_experiment(path: str | Path, overrides: Iterable[str] = ()):
    """Load and validate an experiment file; returns ``(config, raw_dict)``."""
    raw = apply_overrides(load_toml(path), overrides)
    model_name = raw.get("experiment", {}).get("model", "column") if isinstance(
        raw.get("experiment", {}), dict) else None
    if model_name == "column":
        from .models.column.config import ColumnExperiment

        return validate(raw, ColumnExperiment, source=str(path)), raw
    raise ConfigError(
        f"config error in {path}:\n  experiment.model = {model_name!r}: not a model that "
        "`run` supports. Supported models are: column"
    )


def _dump_toml(data: dict) -> str:
    from .params import _toml_value

    lines: list[str] = []

    def table(prefix: str, d: dict):
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in d.items() if isinstance(v, dict)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            if isinstance(v, list):
                lines.append(f"{k} = [{', '.join(_toml_value(x) for x in v)}]")
            else:
                lines.append(f"{k} = {_toml_value(v)}")
        if scalars:
            lines.append("")
        for k, v in tables.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    table("", data)
    return "\n".join(lines)


def run_experiment(
    config_path: str | Path,
    output_dir: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    force: bool = False,
    resume: bool = False,
    progress: bool = False,
) -> ExperimentResult:
    """Validate, build, run and write one experiment (see the module docstring)."""
    from .backends.base import get_backend
    from .io.files import atomic_write_bytes
    from .simulation import Simulation

    cfg, raw = load_experiment(config_path, overrides)
    out = Path(output_dir) if output_dir is not None else Path("runs") / cfg.experiment.name
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise FileExistsError(
            f"output directory {str(out)!r} already holds an experiment; "
            "use --force to overwrite it or --resume to continue it"
        )
    out.mkdir(parents=True, exist_ok=True)
    backend = get_backend(cfg.experiment.backend)
    model = backend.build(cfg)
    atomic_write_bytes(out / "config.toml", _dump_toml(raw).encode())
    t = cfg.time
    sim = Simulation(
        model,
        n_steps=t.n_steps,
        output_every=t.output_every,
        checkpoint_every=_checkpoint_steps(t),
        output_dir=out,
        output_format=cfg.output.format,
        progress=progress,
        attrs={"title": cfg.experiment.name, "backend": cfg.experiment.backend,
               "comment": cfg.experiment.description or None},
    )
    final, ds = sim.run(resume=resume)
    files = [sim.output_path, out / "config.toml"]
    if cfg.output.plots:
        from .plotting import plot_column

        plot_column(ds, out / "column.png", title=cfg.experiment.name)
        files.append(out / "column.png")
    return ExperimentResult(out, ds, final, files)


def _checkpoint_steps(t) -> int | None:
    k = t.checkpoint_every
    if k is None:
        return None
    o = t.output_every
    if k % o:
        raise ConfigError(
            f"time.checkpoint_interval = {t.checkpoint_interval} must be a multiple of "
            f"time.output_interval = {t.output_every * t.dt}"
        )
    return k
