"""The model contract: every registered model runs through the same generic machinery.

* each model implements :class:`~pyclimaocean.core.AbstractModel` (pure step advancing the
  clock, variable metadata consistent with ``output_fields``, CF dataset, parameters that
  apply, differentiable diagnostics checked against finite differences);
* Lorenz-96 runs through ``pyclimaocean run``, ``ensemble`` and ``flow`` exactly as the column
  does, writing the same experiment-directory layout and CF output;
* generic modules have no model-specific branch (a static check of the source).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from pyclimaocean.cli import app
from pyclimaocean.core import AbstractModel, available_models, get_model_entry
from pyclimaocean.models.column import setups
from pyclimaocean.models.lorenz96 import Lorenz96, TwoScaleLorenz96

ROOT = Path(__file__).resolve().parents[1]
L96 = ROOT / "examples" / "l96_run.toml"
COLUMN = ROOT / "examples" / "column_free_convection.toml"
L96_SMALL = ["--set", "time.stop_time=2.0", "--set", "time.checkpoint_interval=1.0",
             "--set", "output.writers.energy_means.interval=0.5"]
COLUMN_SMALL = ["--set", "grid.nz=8", "--set", "time.stop_time=14400", "--set",
                "time.output_interval=3600", "--set", "time.checkpoint_interval=7200"]
runner = CliRunner()

MODELS = {
    "column": lambda: setups.free_convection(nz=8, depth=64.0),
    "lorenz96": lambda: Lorenz96(n=8, forcing=8.0, dt=0.01),
    "lorenz96_two_scale": lambda: TwoScaleLorenz96(K=4, J=4, dt=0.001),
}


@pytest.mark.slow  # 3.0 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("name", MODELS)
def test_models_implement_the_contract(name):
    model = MODELS[name]()
    assert isinstance(model, AbstractModel)
    s0 = model.initial_state()
    s1 = jax.jit(model.step)(s0)
    assert int(model.iteration(s1)) == 1
    np.testing.assert_allclose(float(model.time(s1)), model.dt)
    fields = model.output_fields(s1)
    meta = {v.name: v for v in model.variables()}
    assert set(fields) == set(meta)
    coords = {c.name: np.asarray(c.values) for c in model.coordinates()}
    for n, v in meta.items():  # dims match the coordinate lengths
        assert np.shape(fields[n]) == tuple(len(coords[d]) for d in v.dims), n
        assert v.units and v.long_name
    _, out = model.run(s0, 4, save_every=2)
    ds = model.to_xarray(out)
    assert ds.sizes["time"] == 2 and ds.attrs["model"] == model.name
    for n, v in meta.items():
        assert ds[n].dims == ("time", *v.dims) and ds[n].attrs["units"] == v.units
    # parameters apply to the model and change its trajectory
    params = model.parameters()
    assert len(params) >= 1
    values = params.vector() * 1.1
    moved = params.with_values(values).apply(model)
    a = jax.tree_util.tree_leaves(model.run(s0, 3)[0])
    b = jax.tree_util.tree_leaves(moved.run(s0, 3)[0])
    assert any(not np.allclose(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.slow  # column 14 s, lorenz96 1.6 s of CPU measured at load ~19 (were 32 s and 4.9 s)
@pytest.mark.parametrize("name", ["column", "lorenz96"])
def test_diagnostics_are_differentiable(name):
    """Each named diagnostic after a short run: the adjoint w.r.t. the first parameter
    against a central finite difference.

    All diagnostics of one run in one compiled program (reverse-mode Jacobian, one row per
    diagnostic, and the values the finite differences use): compiling the adjoint of the run
    once per diagnostic, plus the eager forward runs, cost ~3x as much."""
    model = MODELS[name]()
    params = model.parameters()
    p0 = params.vector()
    # mixed_layer_depth: piecewise constant in the default (grid-point) definition
    names = [d for d in model.diagnostics() if d != "mixed_layer_depth"]
    assert names

    def diagnostics(v):
        m = params.with_values(v).apply(model)
        final = m.run(None, 20, checkpoint_every=None)[0]
        values = jnp.stack([m.diagnostic(d, final) for d in names])
        return values, values

    # reverse mode (the adjoint), with the values as auxiliary output of the same forward run
    jacobian_and_values = jax.jit(jax.jacrev(diagnostics, has_aux=True))
    jac = np.asarray(jacobian_and_values(p0)[0])
    e = jnp.zeros_like(p0).at[0].set(1.0)
    h = 1e-6 * max(1.0, abs(float(p0[0])))
    plus, minus = (np.asarray(jacobian_and_values(p0 + s * h * e)[1]) for s in (1, -1))
    for k, diag in enumerate(names):
        fd = (plus[k] - minus[k]) / (2 * h)
        np.testing.assert_allclose(float(jac[k, 0]), float(fd), rtol=1e-5,
                                   atol=1e-9 * abs(float(fd)) + 1e-12, err_msg=diag)
    with pytest.raises(KeyError, match="Diagnostics are"):
        model.diagnostic("nope", model.initial_state())


def test_registry_lists_models_and_refuses_unknown_ones():
    from pyclimaocean.config import ConfigError

    assert {"column", "lorenz96", "qg"} <= set(available_models())
    assert get_model_entry("lorenz96").config_schema().__name__ == "Lorenz96Experiment"
    with pytest.raises(ConfigError, match="Models are: column, lorenz96, qg"):
        get_model_entry("nope")
    with pytest.raises(ConfigError, match="Backends for lorenz96: jax"):
        get_model_entry("lorenz96").builder("julia")


@pytest.mark.slow  # 2.2 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("config,small,figure", [(L96, L96_SMALL, "hovmoller.png"),
                                                 (COLUMN, COLUMN_SMALL, "column.png")])
def test_run_writes_the_same_layout_for_every_model(tmp_path, config, small, figure):
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", str(config), "-o", str(out), "--no-progress", *small])
    assert res.exit_code == 0, res.output
    names = {p.name for p in out.iterdir()}
    assert {"config.toml", "provenance.json", "run.log", "output.nc", "checkpoint.npz",
            "report.md", "figures"} <= names
    assert (out / "figures" / figure).exists()
    with xr.open_dataset(out / "output.nc") as ds:
        assert ds.attrs["Conventions"].startswith("CF") and "time" in ds.dims
        first = next(iter(ds.data_vars))
        assert ds[first].attrs["units"] and ds[first].attrs["long_name"]
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["status"] == "completed" and prov["diagnostics"]


def test_lorenz96_run_resume_and_extra_writer(tmp_path):
    out = tmp_path / "l96"
    res = runner.invoke(app, ["run", str(L96), "-o", str(out), "--no-progress", *L96_SMALL])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out / "output.nc") as ds:
        # the initial state, then every 0.25 MTU up to 2 MTU
        assert ds.sizes == {"time": 9, "k": 40}
        np.testing.assert_allclose(ds.time.values, 0.25 * np.arange(9), atol=1e-12)
        assert ds.time.attrs["units"] == "1"
        np.testing.assert_allclose(ds["x"].values[0], Lorenz96().initial_state().x)
        x = ds["x"].values
    with xr.open_dataset(out / "energy_means.nc") as means:
        assert means.sizes["time"] == 4 and means["x"].attrs["cell_methods"] == "time: mean"
    # extend the run from its last checkpoint: same as one long run
    long = tmp_path / "long"
    args = ["--set", "time.stop_time=3.0", "--set", "time.checkpoint_interval=1.0",
            "--set", "output.writers.energy_means.interval=0.5"]
    assert runner.invoke(app, ["run", str(L96), "-o", str(long), "--no-progress", *args]
                         ).exit_code == 0
    with xr.open_dataset(long / "output.nc") as ds:
        np.testing.assert_array_equal(ds["x"].values[:9], x)


def test_lorenz96_ensemble_perturbs_its_forcing(tmp_path):
    out = tmp_path / "ens"
    res = runner.invoke(app, ["ensemble", str(L96), "-p", "forcing", "-n", "3", "--method",
                              "relative", "--spread", "0.1", "--sequential", "--no-progress",
                              "-o", str(out), *L96_SMALL])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out / "ensemble.nc") as ens:
        assert ens.sizes["member"] == 3 and list(ens.parameter.values) == ["forcing"]
        f = ens["parameter_values"].values[:, 0]
        assert len(set(f.tolist())) == 3
        # each member's initial state is its own rest state x_k = F (+ perturbation at k = 0)
        np.testing.assert_allclose(ens["x"].values[:, 0, 1], f)
        assert "final_energy" in ens
    assert (out / "figures" / "ensemble.png").exists() and (out / "report.md").exists()
    member = (out / "members" / "member_002" / "config.toml").read_text()
    assert re.search(r"\[parameters\]\s*\nforcing = ", member)


def test_parameters_table_is_checked_against_the_model(tmp_path):
    res = runner.invoke(app, ["validate", str(L96), "--set", "parameters.forcing=60"])
    assert res.exit_code == 2 and "outside its bounds [0.0, 50.0]" in res.output
    res = runner.invoke(app, ["validate", str(L96), "--set", "parameters.nope=1"])
    assert res.exit_code == 2 and "Parameters are: forcing" in res.output
    res = runner.invoke(app, ["validate", str(COLUMN), "--set", "parameters.closure.c_hi_c=0.2"])
    assert res.exit_code == 0, res.output


def test_generic_modules_have_no_model_specific_branch():
    """Outside models/, the registry entries and the Julia column builder, no module tests
    for a model by name or reaches into a model's own fields."""
    package = ROOT / "pyclimaocean"
    allowed = {"models", "closures", "grids"}
    pattern = re.compile(
        r"==\s*[\"'](column|lorenz96)[\"']|models\.column|models\.lorenz96|ColumnModel|"
        r"\.closure\.|cfg\.grid|cfg\.closure|mixed_layer_depth")
    generic = ["experiment.py", "simulation", "io", "core", "cli.py", "cli_experiment.py",
               "workflows", "plotting.py", "study.py", "backends/jax_backend.py",
               "backends/base.py"]
    offenders = []
    for part in generic:
        path = package / part
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for f in files:
            if set(f.relative_to(package).parts) & allowed or f.name == "registry.py":
                continue  # the registry's table of built-in entries names them, by design
            for i, line in enumerate(f.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if pattern.search(code) and '"""' not in line and not line.strip().startswith(
                        ("``", "*", "-")):
                    offenders.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
