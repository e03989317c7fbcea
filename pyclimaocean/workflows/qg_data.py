"""Prefect flow ``qg_dataset``: a coarse-grained two-layer QG data set as an ensemble of runs.

The config is a QG experiment file with a ``[coarse_graining]`` section
(:class:`~pyclimaocean.models.qg.config.CoarseGrainingSection`, ``examples/qg_dataset.toml``).
Member ``m`` runs the ``[qg]`` model with seed ``experiment.seed + m`` and streams its
coarse-grained samples (:func:`~pyclimaocean.models.qg.coarsegrain.generate_coarse_dataset`)
through an output writer into ``<output_dir>/member_<m>.zarr`` (or ``.nc``); the flow writes
``dataset.json`` (files and settings) at the end.  Members are mapped tasks on the flow's Dask
task runner (one process per member, ``pyclimaocean flow qg_dataset ... --workers N``), their
results persisted so that ``--resume`` skips finished members.  Read the data set back with
:func:`~pyclimaocean.models.qg.coarsegrain.load_coarse_dataset` (the files of
``dataset.json``).
"""

from __future__ import annotations

from .settings import configure_offline

configure_offline()

import json  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, task, unmapped  # noqa: E402

from ..config import ConfigError  # noqa: E402
from ..experiment import (  # noqa: E402
    _build,
    _check_same_config,
    _dump_toml,
    load_experiment,
    prepare_output_dir,
)
from ..io.files import atomic_write_bytes  # noqa: E402
from ..models.qg.coarsegrain import generate_coarse_dataset  # noqa: E402
from ..simulation import make_writer  # noqa: E402
from .flows import FLOW_CACHE_POLICY, dask_task_runner, persisted  # noqa: E402

__all__ = ["coarse_dataset_member", "load_dataset_config", "qg_dataset_flow"]


def load_dataset_config(config, overrides: Sequence[str] = ()):
    """``(cfg, raw)`` of a QG experiment with a ``[coarse_graining]`` section (ConfigError
    otherwise)."""
    cfg, raw = load_experiment(config, overrides)
    if cfg.experiment.model != "qg" or "coarse_graining" not in raw:
        raise ConfigError(
            f"config error: the qg_dataset flow needs a QG experiment (model = \"qg\") with a "
            f"[coarse_graining] section; got model {cfg.experiment.model!r}"
            + ("" if cfg.experiment.model != "qg" else " without [coarse_graining]")
            + " (see examples/qg_dataset.toml)")
    cg = cfg.coarse_graining
    for name, value in (("spinup_time", cg.spinup_time), ("sample_interval", cg.sample_interval)):
        k = value / cfg.time.dt
        if abs(k - round(k)) > 1e-9 * max(1.0, k):
            raise ConfigError(f"config error: coarse_graining.{name} = {value} must be a whole "
                              f"number of time steps (dt = {cfg.time.dt})")
    if cg.nx >= cfg.qg.nx:
        raise ConfigError(f"config error: coarse_graining.nx = {cg.nx} must be smaller than "
                          f"qg.nx = {cfg.qg.nx}")
    return cfg, raw


def coarse_dataset_member(raw: Mapping[str, Any], output_dir: str | Path, member: int
                          ) -> dict[str, Any]:
    """Run member ``member`` and write its coarse-grained samples; returns ``{"member",
    "path", "seed", "n_samples"}``."""
    cfg, _ = load_dataset_config(dict(raw))
    seed = cfg.experiment.seed + member
    cfg, _ = load_dataset_config(dict(raw), [f"experiment.seed={seed}"])
    cg = cfg.coarse_graining
    model = _build(cfg)  # [closure] and [parameters] applied
    name = f"member_{member:03d}"
    writer = make_writer(output_dir, name, 1, format=cg.format)
    ds = generate_coarse_dataset(
        model, cg.nx, n_spinup=int(round(cg.spinup_time / cfg.time.dt)),
        n_samples=cg.n_samples, sample_every=int(round(cg.sample_interval / cfg.time.dt)),
        filter=cg.filter, writer=writer, attrs={"member": member})
    return {"member": member, "path": str(writer.path), "seed": seed,
            "n_samples": int(ds.sizes["time"])}


@task(name="qg-coarse-member", cache_policy=FLOW_CACHE_POLICY, persist_result=True,
      task_run_name="member-{member}")
def coarse_member_task(raw: Mapping[str, Any], output_dir: str, member: int,
                       resume: bool = True) -> dict[str, Any]:
    """One member (:func:`coarse_dataset_member`)."""
    return coarse_dataset_member(raw, output_dir, member)


@flow(name="qg_dataset", task_runner=dask_task_runner())
def qg_dataset_flow(config: str, output_dir: str | None = None, overrides: Sequence[str] = (),
                    members: int | None = None, force: bool = False,
                    resume: bool = False) -> dict[str, Any]:
    """Coarse-grained QG data set: ``members`` (default ``coarse_graining.members``) mapped
    runs, then ``dataset.json``.  Returns ``{"output_dir", "files", "dataset"}``."""
    overrides = list(overrides)
    if members is not None:
        overrides.append(f"coarse_graining.members={int(members)}")
    cfg, raw = load_dataset_config(config, overrides)
    out = Path(output_dir) if output_dir else Path("runs") / f"{cfg.experiment.name}"
    text = _dump_toml(raw)
    if resume and out.exists():
        _check_same_config(out, text)
    prepare_output_dir(out, force=force, resume=resume)
    atomic_write_bytes(out / "config.toml", text.encode())
    n = cfg.coarse_graining.members
    futures = persisted(coarse_member_task, out).map(
        unmapped(raw), unmapped(str(out)), list(range(n)), resume=unmapped(True))
    results = [f.result() for f in futures]
    manifest = {"files": [Path(r["path"]).name for r in results],
                "members": results, "coarse_graining": cfg.coarse_graining.model_dump(),
                "qg": cfg.qg.model_dump(), "dt": cfg.time.dt}
    atomic_write_bytes(out / "dataset.json", json.dumps(manifest, indent=1).encode())
    return {"output_dir": str(out), "files": [r["path"] for r in results],
            "dataset": str(out / "dataset.json")}
