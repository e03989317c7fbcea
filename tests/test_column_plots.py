"""Column figures: a field that is constant in time and depth (salinity and velocity in free
convection, TKE under a closure without it) gets a labelled panel, not an empty one."""

from __future__ import annotations

import matplotlib
import numpy as np
import xarray as xr

from pyclimaocean.models.column.plots import _constant_value, plot_column

matplotlib.use("Agg")


def _dataset(nt=4, nz=8):
    z = -np.linspace(1, 15, nz)[::-1]
    t = np.arange(nt) * 3600.0
    varying = 20 + 0.01 * z[None, :] + 1e-3 * np.arange(nt)[:, None]
    fields = {"T": varying, "S": np.full((nt, nz), 35.0), "u": np.zeros((nt, nz)),
              "v": np.zeros((nt, nz)), "e": np.full((nt, nz), 1e-6)}
    return xr.Dataset({k: (("time", "z"), v) for k, v in fields.items()},
                      coords={"time": t, "z": z})


def test_constant_value():
    assert _constant_value(np.full(5, 35.0)) == 35.0
    assert _constant_value(np.array([1.0, 1.0 + 1e-6])) is None
    assert _constant_value(np.array([np.nan, np.nan])) is None


def test_constant_fields_get_a_label_not_an_empty_panel(tmp_path):
    fig = plot_column(_dataset(), tmp_path / "column.png")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("S = 35 everywhere" in t for t in texts)
    assert any("u = 0 everywhere" in t and "v = 0 everywhere" in t for t in texts)
    assert any("e = 1e-06 everywhere" in t for t in texts)
    assert not any(t.startswith("T =") for t in texts)  # T varies: drawn as profiles
    assert len(fig.axes[0].lines) == 4 and (tmp_path / "column.png").stat().st_size > 0
