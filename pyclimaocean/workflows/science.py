"""Prefect flows over the calibration and inference API: ``calibrate``, ``infer``, ``study``.

* :func:`calibrate_flow` — :func:`pyclimaocean.calibration.experiment.calibrate_from_file`;
  with ``variants`` (``{name: [--set strings]}``, e.g. several methods or case sets) the
  calibrations are mapped tasks on the Dask task runner, one directory per variant.
* :func:`infer_flow` — :func:`pyclimaocean.inference.experiment.infer_from_file`.
* :func:`study_flow` — calibrate → SVI posterior → posterior-predictive ensemble of every
  calibration case (members mapped on Dask) → figures and ``report.md``
  (:mod:`pyclimaocean.study`).

As in :mod:`.flows`, task results are persisted in ``<output_dir>/.prefect/results`` with
input-based cache keys (the config's SHA-256 is an input, so editing the file invalidates
them), so a killed flow re-run with ``resume=True`` only runs unfinished tasks.
"""

from __future__ import annotations

from .settings import configure_offline

configure_offline()

import hashlib  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from prefect import flow, task, unmapped  # noqa: E402

from .flows import (  # noqa: E402
    FLOW_CACHE_POLICY,
    dask_task_runner,
    finish_ensemble_task,
    persisted,
    run_member_task,
)

__all__ = ["calibrate_flow", "infer_flow", "study_flow", "FLOWS"]


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _open_dir(config, output_dir, overrides, default_suffix, force, resume, sections=None):
    """Validate the config, then create/check the flow directory (refusing to overwrite)."""
    from ..calibration.experiment import load_calibration
    from ..experiment import _check_same_config, _dump_toml, prepare_output_dir
    from ..io.files import atomic_write_bytes

    cfg, raw = load_calibration(config, overrides, sections=sections)
    out = Path(output_dir) if output_dir else Path("runs") / f"{cfg.experiment.name}_{default_suffix}"
    text = _dump_toml(raw)
    if resume and out.exists():
        _check_same_config(out, text)
    prepare_output_dir(out, force=force, resume=resume)
    atomic_write_bytes(out / "config.toml", text.encode())
    return cfg, raw, out


@task(name="calibrate", cache_policy=FLOW_CACHE_POLICY, persist_result=True)
def calibrate_task(config: str, config_sha256: str, output_dir: str, overrides: Sequence[str],
                   resume: bool = True, progress: bool = False) -> dict[str, Any]:
    """One calibration (``calibrate_from_file``) into ``output_dir``; returns its summary."""
    from ..calibration.experiment import calibrate_from_file

    return calibrate_from_file(config, output_dir, list(overrides), force=True,
                               progress=progress)


@task(name="infer", cache_policy=FLOW_CACHE_POLICY, persist_result=True)
def infer_task(config: str, config_sha256: str, output_dir: str, overrides: Sequence[str],
               resume: bool = True, progress: bool = False) -> dict[str, Any]:
    """One posterior inference (``infer_from_file``) into ``output_dir``; returns its summary."""
    from ..inference.experiment import infer_from_file

    return infer_from_file(config, output_dir, list(overrides), force=True, progress=progress)


@flow(name="calibrate")
def calibrate_flow(config: str, output_dir: str | None = None, overrides: Sequence[str] = (),
                   variants: Mapping[str, Sequence[str]] | None = None, force: bool = False,
                   resume: bool = False, progress: bool = False) -> dict[str, Any]:
    """Calibrate the parameters of ``config`` (a calibration TOML).

    Without ``variants`` the calibration is written to ``output_dir``; with
    ``variants={"lbfgs": [], "eki": ["calibration.method=eki"]}`` each variant is a mapped task
    writing ``output_dir/<variant>/``.  Returns ``{"output_dir", "summaries"}``.
    """
    cfg, raw, out = _open_dir(config, output_dir, overrides, "calibration", force, resume)
    sha = _sha256(config)
    task_ = persisted(calibrate_task, out)
    if not variants:
        summary = task_(str(config), sha, str(out), list(overrides), resume=True,
                        progress=progress)
        return {"output_dir": str(out), "summaries": {cfg.experiment.name: summary}}
    names = list(variants)
    futures = task_.map(unmapped(str(config)), unmapped(sha), [str(out / n) for n in names],
                        [list(overrides) + list(variants[n]) for n in names],
                        resume=unmapped(True))
    return {"output_dir": str(out),
            "summaries": dict(zip(names, [f.result() for f in futures], strict=True))}


@flow(name="infer")
def infer_flow(config: str, output_dir: str | None = None, overrides: Sequence[str] = (),
               force: bool = False, resume: bool = False,
               progress: bool = False) -> dict[str, Any]:
    """Posterior inference (MAP + Laplace or SVI) for ``config`` (an inference TOML)."""
    from ..inference.experiment import INFERENCE_SECTIONS

    cfg, raw, out = _open_dir(config, output_dir, overrides, "inference", force, resume,
                              sections=INFERENCE_SECTIONS)
    summary = persisted(infer_task, out)(str(config), _sha256(config), str(out),
                                         list(overrides), resume=True, progress=progress)
    return {"output_dir": str(out), "summary": summary}


@task(name="study-report")
def study_report_task(output_dir: str, calibration: dict, inference: dict, ensembles: dict,
                      provenance: dict) -> str:
    from ..study import write_study_report

    return str(write_study_report(output_dir, calibration, inference, ensembles, provenance))


@flow(name="study", task_runner=dask_task_runner())
def study_flow(
    config: str,
    output_dir: str | None = None,
    overrides: Sequence[str] = (),
    inference_overrides: Sequence[str] = ("inference.method=svi",),
    members: int = 16,
    seed: int = 0,
    force: bool = False,
    resume: bool = False,
) -> dict[str, Any]:
    """Calibrate → SVI → posterior-predictive ensemble → figures + ``report.md``.

    Args:
        config: a calibration TOML (run config + ``[calibration]``; ``[inference]`` optional).
        output_dir: study directory (default ``runs/<experiment.name>_study``).
        overrides: ``--set`` strings for every stage.
        inference_overrides: further ``--set`` strings for the inference stage (default:
            SVI).
        members: posterior draws run forward per calibration case.
        seed: seed of the choice of posterior draws.
    """
    from ..experiment import start_ensemble
    from ..inference.experiment import INFERENCE_SECTIONS
    from ..io.provenance import collect_provenance, write_provenance
    from ..study import case_overrides, posterior_draws, run_config

    cfg, raw, out = _open_dir(config, output_dir, [*overrides, *inference_overrides], "study",
                              force, resume, sections=INFERENCE_SECTIONS)
    prov = collect_provenance(backend=cfg.experiment.backend, seeds={"study": seed},
                              extra={"flow": "study", "members": members})
    write_provenance(out / "provenance.json", prov)
    sha = _sha256(config)
    cal = persisted(calibrate_task, out)(str(config), sha, str(out / "calibration"),
                                         list(overrides), resume=True)
    inf = persisted(infer_task, out)(str(config), sha, str(out / "inference"),
                                     [*overrides, *inference_overrides], resume=True)
    names = list(inf["parameters"])
    draws = posterior_draws(out / "inference" / "posterior.nc", names, members, seed)
    base = run_config(raw)
    member_task = persisted(run_member_task, out)
    setups, futures = {}, {}
    for case, sets in case_overrides(raw).items():
        ens_out = out / f"ensemble_{case}"
        cfg_c, raw_c, _, _, values, prov_c = start_ensemble(
            base, ens_out, sets, parameters=names, members=len(draws), seed=seed,
            method="posterior", spread=0.0, force=False, resume=True, runner="prefect-dask",
            values=draws)
        setups[case] = (raw_c, prov_c)
        futures[case] = member_task.map(
            unmapped(raw_c), unmapped(str(ens_out)), list(range(len(draws))), unmapped(names),
            [list(map(float, v)) for v in values], resume=unmapped(True))
    ensembles = {}
    for case, futs in futures.items():
        raw_c, prov_c = setups[case]
        settings = {"members": len(draws), "seed": seed, "method": "posterior draws",
                    "spread": "-", "runner": "prefect-dask"}
        ensembles[case] = finish_ensemble_task(raw_c, str(out / f"ensemble_{case}"),
                                               [f.result() for f in futs], names, settings,
                                               prov_c)
    from ..io.provenance import utc_now

    prov.update(end=utc_now(), status="completed")
    write_provenance(out / "provenance.json", prov)
    report = study_report_task(str(out), cal, inf, ensembles, prov)
    return {"output_dir": str(out), "calibration": cal, "inference": inf,
            "ensembles": ensembles, "report": report}


FLOWS = {"calibrate": calibrate_flow, "infer": infer_flow, "study": study_flow}
