"""Blow-up advice follows the kind of blow-up: a numerical instability (NaN/Inf, or a jump out
of the plausible range) is told to reduce the time step; a run that drifted smoothly out of
range (here: sustained cooling takes the temperature below -5 °C; the column has no sea ice)
is told that a smaller time step will not help."""

from __future__ import annotations

import pytest

from pyclimaocean.closures.simple import ConstantDiffusivity
from pyclimaocean.fluxes.surface import SurfaceForcing
from pyclimaocean.grids.column import ColumnGrid
from pyclimaocean.models.column import ColumnModel, InitialConditions
from pyclimaocean.models.lorenz96 import Lorenz96
from pyclimaocean.simulation import BlowUpError, Simulation
from pyclimaocean.simulation.simulation import SMOOTH_DRIFT_FRACTION


def _column(**kw):
    return ColumnModel(grid=ColumnGrid(nz=4, depth=10.0),
                       initial_conditions=InitialConditions(temperature_gradient=0.01), **kw)


def _blowup(model, n_steps, every) -> BlowUpError:
    with pytest.raises(BlowUpError) as info:
        Simulation(model, n_steps=n_steps, output_every=every).run()
    return info.value


@pytest.mark.slow  # 17 s measured (shared 2-core machine)
def test_a_run_that_cooled_out_of_range_is_a_drift_not_an_instability():
    # 5000 W m-2 of cooling on a 10 m column: T falls ~0.07 K per 10-min step, below -5 °C
    err = _blowup(_column(closure=ConstantDiffusivity(), forcing=SurfaceForcing(heat_flux=-5000.0),
                          dt=600.0), 2000, 50)
    assert err.kind == "drift" and err.variable == "T"
    assert 0 < err.step_change <= SMOOTH_DRIFT_FRACTION * (60.0 - -5.0)
    assert "smaller time step will not help" in str(err)
    assert "reduce the time step" not in str(err).lower()


@pytest.mark.slow  # 16 s measured (shared 2-core machine)
def test_an_unstable_run_gets_time_step_advice():
    # a negative diffusivity makes the implicit operator indefinite (as in test_simulation.py)
    model = ColumnModel(grid=ColumnGrid(nz=16, depth=64.0),
                        closure=ConstantDiffusivity(viscosity=-1.0, diffusivity=-1.0),
                        forcing=SurfaceForcing(heat_flux=-100.0, wind_stress_x=0.05),
                        initial_conditions=InitialConditions(temperature_gradient=0.01),
                        coriolis_parameter=1e-4, dt=600.0)
    err = _blowup(model, 200, 20)
    assert err.kind in ("non-finite", "jump"), str(err)  # it leaves the range by a jump
    assert "reduce the time step" in str(err).lower() and "negative diffusivity" in str(err)


def test_a_jump_out_of_range_is_an_instability_with_time_step_advice():
    # RK4 on Lorenz-96 far above its stability limit (dt = 0.5 MTU): x explodes within steps
    err = _blowup(Lorenz96(n=40, forcing=8.0, dt=0.5), 400, 10)
    assert err.kind in ("jump", "non-finite"), str(err)
    assert "reduce the time step" in str(err).lower()
    if err.kind == "jump":
        assert err.step_change > SMOOTH_DRIFT_FRACTION * 2e3
