"""Adding a model is one module plus one registry entry: a damped oscillator defined here
(nothing in pyclimaocean knows about it) runs through ``run_experiment``, ``validate``,
``ensemble`` and ``Simulation`` with its own variables, parameters, summary and outputs."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from pydantic import Field

from pyclimaocean import Parameter, ParameterSet
from pyclimaocean.config import ExperimentConfig, Section
from pyclimaocean.core import AbstractModel, Coordinate, ModelEntry, Variable, register_model
from pyclimaocean.core import registry as registry_module
from pyclimaocean.experiment import run_ensemble, run_experiment, validate_any


class OscillatorState(eqx.Module):
    position: jnp.ndarray
    velocity: jnp.ndarray
    time: jnp.ndarray
    iteration: jnp.ndarray


class DampedOscillator(AbstractModel):
    """x'' = -ω² x - 2 γ x' (semi-implicit Euler); exact energy decay rate known."""

    name: ClassVar[str] = "oscillator"
    frequency: float = 1.0
    damping: float = 0.05
    dt: float = eqx.field(static=True, default=0.01)

    def initial_state(self):
        return OscillatorState(jnp.ones(2), jnp.zeros(2), jnp.asarray(0.0), jnp.asarray(0))

    def step(self, s):
        v = (s.velocity - self.dt * self.frequency**2 * s.position) / (1 + 2 * self.damping * self.dt)
        return OscillatorState(s.position + self.dt * v, v, s.time + self.dt, s.iteration + 1)

    def variables(self):
        return (Variable("position", ("mode",), "m", "displacement", valid_range=(-10, 10)),
                Variable("energy", (), "m2 s-2", "energy per unit mass", derived=True))

    def output_fields(self, s):
        e = 0.5 * jnp.sum(s.velocity**2 + self.frequency**2 * s.position**2, axis=-1)
        return {"position": s.position, "energy": e}

    def coordinates(self):
        return (Coordinate("mode", np.arange(2), {"units": "1", "long_name": "mode"}),)

    def parameters(self, names=None):
        table = {"damping": Parameter(jnp.asarray(self.damping), 0.0, 1.0, units="s-1")}
        return ParameterSet({n: table[n] for n in (names or table)})

    def summary(self, ds):
        return {"final_energy": (float(ds["energy"].values[-1]), "m2 s-2", "final energy")}


class OscillatorSection(Section):
    frequency: float = Field(1.0, gt=0)
    damping: float = Field(0.05, ge=0, le=1)


class OscillatorExperiment(ExperimentConfig):
    oscillator: OscillatorSection = OscillatorSection()


def build(cfg):
    return DampedOscillator(cfg.oscillator.frequency, cfg.oscillator.damping, cfg.time.dt)


CONFIG = {
    "experiment": {"name": "osc", "model": "oscillator"},
    "oscillator": {"frequency": 2.0, "damping": 0.1},
    "time": {"dt": 0.01, "stop_time": 2.0, "output_interval": 0.5, "checkpoint_interval": 1.0},
    "output": {"plots": False},
}


@pytest.fixture
def oscillator_registered():
    register_model(ModelEntry("oscillator", OscillatorExperiment, {"jax": build}), replace=True)
    yield
    registry_module._ENTRIES.pop("oscillator")


def test_a_new_model_runs_through_the_generic_experiment(tmp_path, oscillator_registered):
    kind, summary = validate_any(CONFIG)
    assert kind == "run" and summary["calibratable parameters"] == "damping"
    res = run_experiment(CONFIG, tmp_path / "osc")
    with xr.open_dataset(tmp_path / "osc" / "output.nc") as ds:
        assert ds.attrs["model"] == "oscillator" and ds.sizes["time"] == 5
        assert ds["energy"].dims == ("time",) and ds["position"].dims == ("time", "mode")
        e = ds["energy"].values
    # the same scheme written out in NumPy gives the same energies
    x, v, ref = np.ones(2), np.zeros(2), []
    for n in range(201):
        if n % 50 == 0:
            ref.append(0.5 * np.sum(v**2 + 4.0 * x**2))
        v = (v - 0.01 * 4.0 * x) / (1 + 2 * 0.1 * 0.01)
        x = x + 0.01 * v
    np.testing.assert_allclose(e, ref, rtol=1e-12)
    assert np.all(np.diff(e) < 0)  # damped
    assert res.diagnostics["final_energy"] == pytest.approx(e[-1])
    ens = run_ensemble(CONFIG, tmp_path / "ens", parameters=["damping"], members=2,
                       method="relative", spread=0.3)
    assert not ens.failed and ens.dataset.sizes["member"] == 2
