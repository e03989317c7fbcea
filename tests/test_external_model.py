"""An external NumPy model with a hand-written adjoint implements the model contract: the
NumPy Lorenz-96 (examples/external_numpy_models.py) stepped through ``wrap_external`` runs
through ``integrate``/``Simulation`` and its gradient reaches the forcing through the adjoint."""

from __future__ import annotations

import runpy
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from pyclimaocean.backends.external import ExternalModel, wrap_external
from pyclimaocean.calibration.toy import DiffusionColumn, simulate_diffusion
from pyclimaocean.core import AbstractModel, Variable
from pyclimaocean.models.lorenz96 import Lorenz96
from pyclimaocean.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]
NUMPY_MODELS = runpy.run_path(str(ROOT / "examples" / "external_numpy_models.py"))
DT = 0.05


def _l96_step(x, forcing):
    return NUMPY_MODELS["l96_forward"](x, forcing, DT, 1)[..., 0, :]


def _l96_step_vjp(x, forcing, x_bar):
    out_bar = np.zeros(x.shape[:-1] + (1, x.shape[-1]))
    out_bar[..., 0, :] = x_bar
    return NUMPY_MODELS["l96_vjp"](x, forcing, DT, 1, out_bar)


def _external_l96(forcing=8.0):
    step = wrap_external(_l96_step, _l96_step_vjp, out_spec=lambda x, f: x, name="numpy L96")
    x0 = np.full(40, forcing)
    x0[0] += 0.01
    return ExternalModel.make(step, x0, DT, {"forcing": forcing},
                              Variable("x", ("k",), "1", "Lorenz-96 variable"),
                              bounds={"forcing": (0.0, 50.0, "1")})


def test_external_numpy_model_runs_like_the_jax_model_and_differentiates():
    ext = _external_l96()
    assert isinstance(ext, AbstractModel)
    jax_model = Lorenz96(n=40, forcing=8.0, dt=DT)
    _, a = ext.run(None, 40, save_every=10, checkpoint_every=None)
    _, b = jax_model.run(None, 40, save_every=10, checkpoint_every=None)
    np.testing.assert_allclose(np.asarray(a.x), np.asarray(b.x), rtol=1e-10, atol=1e-10)
    # Simulation, CF output
    final, ds = Simulation(ext, n_steps=20, output_every=5).run()
    assert ds.sizes == {"time": 5, "k": 40} and ds.attrs["model"] == "external"
    # the gradient w.r.t. F goes through the hand-written adjoint; equal to JAX's own
    params = ext.parameters()
    assert params.names == ("parameters_.forcing",)

    def loss(model_params, model):  # from the same initial state (Lorenz96's depends on F)
        m = model_params.apply(model)
        s0 = model.initial_state()
        return jnp.sum(m.run(s0, 20, checkpoint_every=None)[0].x ** 2)

    g_ext = jax.grad(lambda v: loss(params.with_values(v), ext))(params.vector())
    jp = jax_model.parameters()
    g_jax = jax.grad(lambda v: loss(jp.with_values(v), jax_model))(jp.vector())
    np.testing.assert_allclose(float(g_ext[0]), float(g_jax[0]), rtol=1e-9)


def test_calibration_toy_implements_the_contract():
    toy = DiffusionColumn.make(nz=8, n_steps=96, save_every=24)
    assert isinstance(toy, AbstractModel)
    _, out = toy.run(None, 96, save_every=24, checkpoint_every=None)
    np.testing.assert_array_equal(np.asarray(out.temperature),
                                  np.asarray(simulate_diffusion(toy)["T"]))
    ds = toy.to_xarray(out)
    assert ds["T"].dims == ("time", "z") and ds["T"].attrs["units"] == "degC"
    p = toy.parameters(["mixing_depth"])
    moved = p.with_values(p.vector() * 2).apply(toy)
    assert float(moved.mixing_depth) == 2 * float(toy.mixing_depth)
