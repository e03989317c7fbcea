"""Online metrics of QG subgrid closures (Ross et al. 2023, JAMES, section 4): how close the
statistics of a low-resolution simulation are to those of the high-resolution one.

A *run* here is a mapping (an :class:`xarray.Dataset` of the model's output, or a dict) with
grid fields ``q`` (s⁻¹), ``u``, ``v`` (m s⁻¹) and ``psi`` (m² s⁻¹) on ``(time, layer, y, x)``,
sampled after spin-up.  The high-resolution reference is compared *after* coarse-graining it
onto the low-resolution grid (:func:`~pyclimaocean.models.qg.coarsegrain.coarse_grain`), so
that both live on the same grid and wavenumbers.

Distances ``d(a, b)`` (all ≥ 0, 0 for identical statistics):

* **distributional**, per layer ``i`` and quantity ``X ∈ {q, u, v, ke, enstrophy}`` (``ke =
  ½(u² + v²)``, ``enstrophy = ½ q²``, pointwise): the Wasserstein-1 distance between the
  marginal distributions of ``X_i`` pooled over time and space,
  ``W₁ = ∫ |F_a(x) − F_b(x)| dx`` (:func:`wasserstein1`, exact for empirical distributions),
  in the units of ``X``;
* **spectral**, per layer: the root-mean-square difference of the time-mean isotropic KE
  spectra (and enstrophy spectra) over the wavenumbers ``κ ≤ κ_max`` (default: all annuli of
  the coarse grid up to its Nyquist wavenumber), m³ s⁻² (s⁻² m).

The **similarity score** of a closure for a metric ``d`` is

    similarity = 1 − d(closed low-res, hi-res) / d(unclosed low-res, hi-res)

(Ross et al. 2023, eq. 9): 1 for a closure that reproduces the high-resolution statistic, 0 for
one no better than no closure, negative for one that makes things worse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .diagnostics import isotropic_enstrophy_spectrum, isotropic_ke_spectrum

__all__ = [
    "DISTRIBUTION_QUANTITIES",
    "distributional_distances",
    "mean_similarity",
    "online_distances",
    "similarity_scores",
    "spectral_distances",
    "wasserstein1",
]

#: quantities of :func:`distributional_distances`
DISTRIBUTION_QUANTITIES = ("q", "u", "v", "ke", "enstrophy")

_LAYERS = ("upper", "lower")


def wasserstein1(a, b) -> float:
    """Wasserstein-1 distance between the empirical distributions of samples ``a`` and ``b``
    (any shapes, flattened): ``∫ |F_a − F_b| dx`` over the pooled sorted values (exact)."""
    a = np.sort(np.asarray(a, dtype=float).ravel())
    b = np.sort(np.asarray(b, dtype=float).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("wasserstein1 needs non-empty samples")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    x = np.concatenate([a, b])
    x.sort(kind="mergesort")
    dx = np.diff(x)
    fa = np.searchsorted(a, x[:-1], side="right") / a.size
    fb = np.searchsorted(b, x[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * dx))


def _field(run: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in run:
        raise KeyError(f"the run has no field {name!r} (needs q, u, v, psi on (time, layer, y, "
                       f"x)); it has: {', '.join(map(str, run.keys()))}")
    value = run[name]
    return np.asarray(getattr(value, "values", value), dtype=float)


def _quantity(run: Mapping[str, Any], name: str) -> np.ndarray:
    if name == "ke":
        return 0.5 * (_field(run, "u") ** 2 + _field(run, "v") ** 2)
    if name == "enstrophy":
        return 0.5 * _field(run, "q") ** 2
    return _field(run, name)


def distributional_distances(run, reference,
                             quantities: Sequence[str] = DISTRIBUTION_QUANTITIES
                             ) -> dict[str, float]:
    """``{"<quantity>_<upper|lower>": W₁}`` between the per-layer marginal distributions of
    ``run`` and ``reference`` (fields ``(time, 2, ny, nx)``; grids may differ)."""
    unknown = [q for q in quantities if q not in DISTRIBUTION_QUANTITIES]
    if unknown:
        raise ValueError(f"quantities {unknown} are not supported. Supported: "
                         f"{', '.join(DISTRIBUTION_QUANTITIES)}")
    out = {}
    for name in quantities:
        a, b = _quantity(run, name), _quantity(reference, name)
        for i, layer in enumerate(_LAYERS):
            out[f"{name}_{layer}"] = wasserstein1(a[..., i, :, :], b[..., i, :, :])
    return out


def spectral_distances(run, reference, L: float, W: float | None = None,
                       kappa_max: float | None = None) -> dict[str, float]:
    """``{"ke_spectrum_<layer>": rmse, "enstrophy_spectrum_<layer>": rmse}``: RMS
    differences of the time-mean isotropic spectra over ``κ ≤ kappa_max`` (rad m⁻¹; default
    the coarse grid's Nyquist wavenumber ``π nx / L``).  Both runs on the same grid."""
    W = L if W is None else W
    psi_a, psi_b = _field(run, "psi"), _field(reference, "psi")
    if psi_a.shape[-2:] != psi_b.shape[-2:]:
        raise ValueError(f"spectral distances need the same grid: {psi_a.shape[-2:]} and "
                         f"{psi_b.shape[-2:]} (coarse-grain the reference first)")
    nx = psi_a.shape[-1]
    kmax = np.pi * nx / L if kappa_max is None else kappa_max
    out = {}
    for label, fn, fa, fb in (("ke_spectrum", isotropic_ke_spectrum, psi_a, psi_b),
                              ("enstrophy_spectrum", isotropic_enstrophy_spectrum,
                               _field(run, "q"), _field(reference, "q"))):
        k, ea = fn(fa, L, W)
        _, eb = fn(fb, L, W)
        ea = np.asarray(ea).reshape(-1, 2, len(k)).mean(axis=0)
        eb = np.asarray(eb).reshape(-1, 2, len(k)).mean(axis=0)
        keep = np.asarray(k) <= kmax * (1 + 1e-12)
        for i, layer in enumerate(_LAYERS):
            d = ea[i, keep] - eb[i, keep]
            out[f"{label}_{layer}"] = (float(np.sqrt(np.mean(d**2))) if np.isfinite(d).all()
                                       else float("inf"))
    return out


def online_distances(run, reference, L: float, W: float | None = None) -> dict[str, float]:
    """All distances: :func:`distributional_distances` and :func:`spectral_distances`."""
    return {**distributional_distances(run, reference),
            **spectral_distances(run, reference, L, W)}


def similarity_scores(closed: Mapping[str, float], unclosed: Mapping[str, float]
                      ) -> dict[str, float]:
    """``{metric: 1 − closed / unclosed}`` for the metrics of both mappings (NaN where the
    unclosed distance is 0; −inf where the closed run blew up)."""
    out = {}
    for name, d0 in unclosed.items():
        if name not in closed:
            continue
        d = closed[name]
        out[name] = float("nan") if d0 == 0 else 1.0 - d / d0
    return out


def mean_similarity(scores: Mapping[str, float], prefix: str | Sequence[str] | None = None
                    ) -> float:
    """Mean of the similarity scores (those whose names start with ``prefix``, if given);
    ``-inf`` if any is ``-inf`` (a blown-up run), NaN-free mean otherwise."""
    if isinstance(prefix, str):
        prefix = (prefix,)
    values = np.array([v for k, v in scores.items()
                       if prefix is None or any(k.startswith(p) for p in prefix)], dtype=float)
    if values.size == 0:
        raise ValueError(f"no similarity scores match {prefix!r}")
    if np.isneginf(values).any():
        return float("-inf")
    return float(np.nanmean(values))
