import numpy as np
import pytest

from pyclimaocean.backends.base import Backend, available_backends, get_backend
from pyclimaocean.config import validate
from pyclimaocean.models.column.config import ColumnExperiment

CONFIG = {
    "experiment": {"name": "protocol", "model": "column"},
    "grid": {"nz": 8, "depth": 40.0},
    "closure": {"type": "catke", "c_hi_c": 0.12},
    "forcing": {"heat_flux": -60.0},
    "time": {"dt": 600.0, "stop_time": 6000.0},
}


def test_jax_backend_implements_the_protocol():
    backend = get_backend("jax")
    assert isinstance(backend, Backend) and backend.name == "jax"
    assert set(available_backends()) >= {"jax", "julia"}
    cfg = validate(CONFIG, ColumnExperiment)
    model = backend.build(cfg)
    params = backend.parameters(model)
    assert float(params["closure.c_hi_c"].value) == pytest.approx(0.12)
    state = backend.initial_state(model)
    final, outputs = backend.run(model, state, 10, save_every=5)
    ds = backend.to_xarray(model, outputs)
    assert ds.sizes["time"] == 2
    np.testing.assert_array_equal(ds["T"].values[-1], np.asarray(final.temperature))


def test_unknown_backend_lists_the_supported_ones():
    with pytest.raises(ValueError, match="Supported backends are: jax, julia"):
        get_backend("fortran")
