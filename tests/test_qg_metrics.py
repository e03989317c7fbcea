"""Online metrics of QG closures (pyclimaocean.models.qg.metrics): Wasserstein-1 distances,
spectral distances, similarity scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from pyclimaocean.models.qg import TwoLayerQG, isotropic_ke_spectrum
from pyclimaocean.models.qg.metrics import (
    distributional_distances,
    mean_similarity,
    online_distances,
    similarity_scores,
    spectral_distances,
    wasserstein1,
)


def test_wasserstein1_matches_scipy_and_analytic_values():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(5000), rng.standard_normal(3001) * 2.0 + 0.5
    assert wasserstein1(a, b) == pytest.approx(wasserstein_distance(a, b), rel=1e-12)
    assert wasserstein1(a, a + 0.25) == pytest.approx(0.25, rel=1e-12)  # a shift
    assert wasserstein1(a, a) == 0.0
    assert wasserstein1(a, b) == pytest.approx(wasserstein1(b, a), rel=1e-14)
    # two unit normals a distance mu apart: W1 = mu (sampling error ~ 1/sqrt(n))
    big = rng.standard_normal(200_000)
    assert wasserstein1(big, rng.standard_normal(200_000) + 1.0) == pytest.approx(1.0, abs=0.02)
    assert wasserstein1(a, np.append(b, np.nan)) == float("inf")
    with pytest.raises(ValueError):
        wasserstein1([], a)


def _run(seed: int, scale: float = 1.0, nt: int = 3, nx: int = 16) -> dict[str, np.ndarray]:
    """A dict run of random band-limited fields (time, layer, y, x) from a QG model."""
    m = TwoLayerQG(nx=nx)
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((nt, 2, nx, nx)) * 1e-5 * scale
    f = m.fields(m.fft(q))
    return {"q": np.asarray(f.q), "u": np.asarray(f.u), "v": np.asarray(f.v),
            "psi": np.asarray(f.psi)}


def test_distributional_and_spectral_distances():
    ref, same, other = _run(1), _run(1), _run(2)
    d0 = online_distances(same, ref, 1e6)
    assert set(d0) == {f"{q}_{layer}" for q in ("q", "u", "v", "ke", "enstrophy",
                                               "ke_spectrum", "enstrophy_spectrum")
                       for layer in ("upper", "lower")}
    assert all(v == 0.0 for v in d0.values())
    d1 = online_distances(other, ref, 1e6)
    assert all(v > 0 for v in d1.values())
    # scaling the flow by s scales the KE spectrum by s^2: rmse = |s^2 - 1| rms(E) exactly
    scaled = {k: 1.5 * v for k, v in ref.items()}
    sd = spectral_distances(scaled, ref, 1e6)
    k, e = isotropic_ke_spectrum(ref["psi"], 1e6)
    e = np.asarray(e).mean(axis=0)[:, np.asarray(k) <= np.pi * 16 / 1e6 * (1 + 1e-12)]
    assert sd["ke_spectrum_upper"] == pytest.approx(1.25 * np.sqrt(np.mean(e[0] ** 2)),
                                                    rel=1e-12)
    # distributions: u scaled by 1.5 moves W1 by 0.5 E|u| (a dilation of the distribution)
    dd = distributional_distances(scaled, ref, quantities=("u",))
    assert dd["u_lower"] == pytest.approx(0.5 * np.abs(ref["u"][:, 1]).mean(), rel=1e-12)
    with pytest.raises(ValueError, match="Supported"):
        distributional_distances(ref, ref, quantities=("w",))
    with pytest.raises(ValueError, match="same grid"):
        spectral_distances(_run(1, nx=32), ref, 1e6)
    with pytest.raises(KeyError, match="no field 'psi'"):
        spectral_distances({"q": ref["q"]}, ref, 1e6)


def test_similarity_scores():
    ref, unclosed = _run(1), _run(2, scale=2.0)
    d_un = online_distances(unclosed, ref, 1e6)
    perfect = similarity_scores(online_distances(_run(1), ref, 1e6), d_un)
    assert all(v == 1.0 for v in perfect.values())
    useless = similarity_scores(d_un, d_un)
    assert all(v == 0.0 for v in useless.values())
    halfway = {k: 1.0 - 0.5 * v / v for k, v in d_un.items()}
    assert mean_similarity(similarity_scores({k: 0.5 * v for k, v in d_un.items()}, d_un)) == \
        pytest.approx(np.mean(list(halfway.values())))
    worse = similarity_scores({k: 3 * v for k, v in d_un.items()}, d_un)
    assert mean_similarity(worse, prefix="ke") == pytest.approx(-2.0)
    blown = similarity_scores({k: float("inf") for k in d_un}, d_un)
    assert mean_similarity(blown) == float("-inf")
    with pytest.raises(ValueError):
        mean_similarity(worse, prefix="nothing")
