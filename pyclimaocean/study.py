"""Pieces of a calibration *study* (calibrate → SVI → posterior-predictive ensemble → report),
the Python API that :func:`pyclimaocean.workflows.study_flow` strings together.

A study directory::

    runs/study/
      calibration/            pyclimaocean calibrate output (history.nc, summary.json, loss.png...)
      inference/              pyclimaocean infer output (posterior.nc, corner.png, summary.json...)
      ensemble_<case>/        posterior-predictive ensemble per case (ensemble.nc, members/...)
      report.md               what ran, calibrated vs true parameters, posterior, ensemble spread
      .prefect/results/       persisted task results (resume)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import toml_value as _toml_value
from .io.files import atomic_write_bytes

__all__ = ["run_config", "case_overrides", "posterior_draws", "write_study_report"]


def run_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The forward-run part of a calibration/inference config (without ``[calibration]`` and
    ``[inference]``)."""
    return {k: copy.deepcopy(v) for k, v in raw.items() if k not in ("calibration", "inference")}


def case_overrides(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{case name: --set strings}`` of the ``[[calibration.cases]]`` of a config (one case
    named after the experiment when there are none)."""

    cases = raw.get("calibration", {}).get("cases", [])
    if not cases:
        return {raw.get("experiment", {}).get("name", "experiment"): []}
    return {c["name"]: [f"{k}={_toml_value(v)}" for k, v in c.get("set", {}).items()]
            for c in cases}


def posterior_draws(posterior_path: str | Path, names: Sequence[str], n: int,
                    seed: int = 0) -> np.ndarray:
    """``(n, len(names))`` parameter values drawn without replacement from the posterior
    samples in an arviz ``posterior.nc`` (all of them if there are fewer than ``n``)."""
    import xarray as xr

    with xr.open_dataset(posterior_path, group="posterior") as post:
        cols = [np.asarray(post[name].values, dtype=float).reshape(-1) for name in names]
    samples = np.stack(cols, axis=1)
    rng = np.random.default_rng(seed)
    k = min(n, samples.shape[0])
    return samples[np.sort(rng.choice(samples.shape[0], size=k, replace=False))]


def _fmt(x, digits=4) -> str:
    try:
        return f"{float(x):.{digits}g}"
    except (TypeError, ValueError):
        return "–"


def write_study_report(output_dir: str | Path, calibration: Mapping[str, Any],
                       inference: Mapping[str, Any], ensembles: Mapping[str, Mapping[str, Any]],
                       provenance: Mapping[str, Any] | None = None) -> Path:
    """``report.md`` of a study from the calibration and inference summaries (``summary.json``)
    and the posterior-predictive ensembles (``{case: {"members": [...], "files": [...]}}``)."""
    import xarray as xr


    out = Path(output_dir)
    prov = provenance or {}
    lines = ["# Calibration study", "",
             "calibrate → SVI posterior → posterior-predictive ensemble.", "",
             f"Started {prov.get('start', '?')} (UTC).", ""]
    # calibration
    lines += ["## 1. Calibration", "",
              f"Method **{calibration.get('method')}**, {calibration.get('n_iterations')} "
              f"iterations, {calibration.get('n_evaluations')} evaluations, data misfit "
              f"{_fmt(calibration.get('data_misfit'), 6)} "
              f"({calibration.get('n_observations')} observations).", "",
              "| parameter | first guess | calibrated | truth | relative error |",
              "|---|---|---|---|---|"]
    theta = calibration.get("parameters", {})
    for name in theta:
        lines.append(f"| {name} | {_fmt(calibration.get('initial', {}).get(name))} | "
                     f"{_fmt(theta[name])} | {_fmt(calibration.get('truth', {}).get(name))} | "
                     f"{_fmt(calibration.get('relative_error', {}).get(name), 2)} |")
    lines += ["", "![loss](calibration/loss.png)", "",
              "![parameters](calibration/parameters.png)", ""]
    # inference
    lines += ["## 2. Posterior (" + str(inference.get("method")) + ")", "",
              "| parameter | MAP | mean | std | 95 % interval | truth inside |",
              "|---|---|---|---|---|---|"]
    covered = inference.get("truth_in_95_interval", {})
    for name, p in inference.get("parameters", {}).items():
        lines.append(f"| {name} | {_fmt(p.get('map'))} | {_fmt(p.get('mean'))} | "
                     f"{_fmt(p.get('std'), 3)} | [{_fmt(p.get('q2.5'))}, {_fmt(p.get('q97.5'))}] "
                     f"| {covered.get(name, '–')} |")
    lines += ["", "![corner](inference/corner.png)", ""]
    for f in sorted((out / "inference").glob("profiles_*.png")):
        lines += [f"![{f.stem}](inference/{f.name})", ""]
    # ensembles
    # the model's summary numbers of each member (e.g. final mixed-layer depth, final energy),
    # whatever the model: every per-member scalar of ensemble.nc
    lines += ["## 3. Posterior-predictive ensembles", "",
              "| case | members | model diagnostics at the end of the run (mean ± std over members) |",
              "|---|---|---|"]
    for case, ens in ensembles.items():
        path = out / f"ensemble_{case}" / "ensemble.nc"
        cells = "–"
        if path.exists():
            with xr.open_dataset(path) as ds:
                parts = []
                for name, da in ds.data_vars.items():
                    if da.dims != ("member",) or not np.issubdtype(da.dtype, np.number):
                        continue
                    v = np.asarray(da.values, dtype=float)
                    units = da.attrs.get("units", "")
                    parts.append(f"{name}{f' ({units})' if units else ''}: "
                                 f"{np.nanmean(v):.5g} ± {np.nanstd(v):.2g}")
                cells = "; ".join(parts) or "–"
        n_ok = sum(m["status"] == "completed" for m in ens.get("members", []))
        lines.append(f"| {case} | {n_ok}/{len(ens.get('members', []))} | {cells} |")
    lines.append("")
    for case in ensembles:
        fig = out / f"ensemble_{case}" / "figures" / "ensemble.png"
        if fig.exists():
            lines += [f"![ensemble {case}](ensemble_{case}/figures/ensemble.png)", ""]
    lines += ["## Files", "", "- [calibration/summary.json](calibration/summary.json)",
              "- [inference/summary.json](inference/summary.json)",
              "- [inference/posterior.nc](inference/posterior.nc)"]
    lines += [f"- [ensemble_{c}/ensemble.nc](ensemble_{c}/ensemble.nc)" for c in ensembles]
    lines.append("")
    return atomic_write_bytes(out / "report.md", "\n".join(lines).encode())
