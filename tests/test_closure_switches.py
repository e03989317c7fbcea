"""Smooth regime switches of the closures: continuity across N² = 0, the exact form as the
zero-width limit, gradients against finite differences, and the physics barely changed.

CATKE (smooth by default) blends over N² ∈ [0, 5e-8] (one-sided into the stratified side, so
convecting faces are exact); the opt-in blends of the simple closures over N² ∈ [−1e-8, 0]."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pyclimaocean  # noqa: F401  (x64)
from pyclimaocean.closures.base import ColumnContext
from pyclimaocean.closures.catke import CATKELike
from pyclimaocean.closures.simple import ConvectiveAdjustment, RichardsonNumberClosure
from pyclimaocean.closures.switches import smooth_step
from pyclimaocean.models.column import mixed_layer_depth, setups

CLOSURES = {
    "catke": lambda w: CATKELike(switch_width=w),
    "convective": lambda w: ConvectiveAdjustment(switch_width=w),
    "richardson": lambda w: RichardsonNumberClosure(switch_width=w),
}
#: the N² interval each closure's reference blend (switch_width = 1) covers, s⁻²
BLEND = {"catke": (0.0, 5e-8), "convective": (-1e-8, 0.0), "richardson": (-1e-8, 0.0)}


def test_catke_is_smooth_by_default_and_the_simple_closures_are_exact():
    assert CATKELike().switch_width == 1.0
    assert ConvectiveAdjustment().switch_width == 0.0 and RichardsonNumberClosure().switch_width == 0.0


def _context(n2_middle, jb=5e-8):
    """Four cells, three faces: stratified below, N² = ``n2_middle`` at the middle face,
    convecting at the top face; some shear; surface cooling ``jb`` (m² s⁻³)."""
    z = jnp.array([-35.0, -25.0, -15.0, -5.0])
    return ColumnContext(
        z_centers=z, dz_centers=jnp.full(4, 10.0), z_faces_interior=jnp.array([-30.0, -20.0, -10.0]),
        dz_faces=jnp.full(3, 10.0), depth=40.0,
        buoyancy_frequency_squared=jnp.stack([jnp.asarray(2e-5), jnp.asarray(n2_middle), jnp.asarray(-3e-7)]),
        shear_squared=jnp.array([1e-6, 4e-7, 1e-7]), surface_buoyancy_flux=jnp.asarray(jb),
        friction_velocity=jnp.asarray(0.0), tke=jnp.array([1e-6, 1e-5, 1e-4, 2e-4]),
    )


def _kappa_middle(closure, n2):
    return closure.diffusivities(_context(n2))[1][1]


@pytest.mark.slow  # 6.4 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("name", list(CLOSURES))
def test_switch_across_n2_zero_is_continuous_when_smooth_and_a_jump_when_exact(name):
    """Refining the sampling of N² around 0 tenfold: the largest step between neighbours shrinks
    about tenfold for the smooth closure (continuous, Lipschitz) and not at all for the exact
    one (a jump)."""
    lo, hi = BLEND[name]
    span = 2 * (hi - lo)

    def largest_step(width, n):
        half = span if width else 2e-8  # the exact jump sits at 0: sample close around it
        n2 = np.linspace(-half, half, n)
        k = np.array([float(_kappa_middle(CLOSURES[name](width), x)) for x in n2])
        return np.max(np.abs(np.diff(k)))

    exact_coarse, exact_fine = largest_step(0.0, 41), largest_step(0.0, 401)
    smooth_coarse, smooth_fine = largest_step(1.0, 41), largest_step(1.0, 401)
    assert exact_fine > 0.9 * exact_coarse > 0  # the jump does not shrink
    assert smooth_fine < 0.2 * smooth_coarse, (smooth_coarse, smooth_fine)
    # outside the blend smooth and exact agree
    for x in (-1e-6, lo - 0.1 * span, hi + 0.1 * span, 1e-6):
        a, b = float(_kappa_middle(CLOSURES[name](0.0), x)), float(_kappa_middle(CLOSURES[name](1.0), x))
        assert abs(a - b) <= 1e-12 * abs(a), (x, a, b)


@pytest.mark.slow  # 2.5 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("name", list(CLOSURES))
def test_smooth_switch_gradient_matches_finite_differences(name):
    closure = CLOSURES[name](1.0)
    lo, hi = BLEND[name]
    for x in (lo + 0.2 * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.8 * (hi - lo)):
        g = float(jax.grad(lambda v: _kappa_middle(closure, v))(jnp.asarray(x)))
        h = 1e-11
        fd = (float(_kappa_middle(closure, x + h)) - float(_kappa_middle(closure, x - h))) / (2 * h)
        assert np.isfinite(g) and g == pytest.approx(fd, rel=1e-5, abs=1e-9 * max(abs(fd), 1.0)), (x, g, fd)


def test_zero_width_is_the_limit_of_the_smooth_switch():
    for width in (1e-3, 1e-5):
        for name, make in CLOSURES.items():
            for x in (-5e-8, 3e-8):
                a = float(_kappa_middle(make(0.0), x))
                b = float(_kappa_middle(make(width), x))
                assert abs(a - b) <= 1e-3 * abs(a), (name, width, x, a, b)


def test_smooth_step_is_exact_outside_its_width():
    x = jnp.linspace(-3.0, 3.0, 61)
    np.testing.assert_array_equal(smooth_step(x, 0.0), (x > 0).astype(float))
    s = np.asarray(smooth_step(x, 1.0))
    np.testing.assert_array_equal(s[np.asarray(x) <= 0], 0.0)
    np.testing.assert_array_equal(s[np.asarray(x) >= 1], 1.0)
    assert np.all(np.diff(s) >= 0) and float(smooth_step(0.5, 1.0)) == pytest.approx(0.5)
    g = jax.vmap(jax.grad(lambda v: smooth_step(v, 1.0)))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    for v in (0.1, 0.5, 0.9):
        fd = (float(smooth_step(v + 1e-6, 1.0)) - float(smooth_step(v - 1e-6, 1.0))) / 2e-6
        assert float(jax.grad(lambda y: smooth_step(y, 1.0))(v)) == pytest.approx(fd, rel=1e-6)
    with pytest.raises(ValueError, match="switch_width = -1"):
        CATKELike(switch_width=-1.0)


def test_faces_outside_the_blend_are_untouched():
    """The blends are one-sided: CATKE's convecting faces (N² < 0) and the simple closures'
    neutral and stratified faces (N² >= 0) are computed exactly as by the exact switches."""
    for name, make in CLOSURES.items():
        xs = (-1e-6, -1e-7, -1e-9, 6e-8, 1e-6) if name == "catke" else (0.0, 2e-9, 1e-6)
        for x in xs:
            assert float(_kappa_middle(make(1.0), x)) == float(_kappa_middle(make(0.0), x)), (name, x)


@pytest.fixture(scope="module")
def free_convection_pair():
    out = {}
    for width in (0.0, 1.0):
        model = setups.free_convection(nz=32, depth=128.0, dt=600.0, closure=CATKELike(switch_width=width))
        _, states = jax.jit(lambda m=model: m.run(None, 288, save_every=72))()
        out[width] = (model, states)
    return out


@pytest.mark.slow  # 2.2 s measured (fast tier: pytest -m 'not slow')
def test_smooth_switches_change_free_convection_by_less_than_the_tolerances(free_convection_pair):
    """Entrainment depth (max N²) at 0.5, 1, 1.5, 2 days and the temperature profiles of the
    free-convection case with smooth (switch_width = 1) vs exact switches."""
    (m0, s0), (m1, s1) = free_convection_pair[0.0], free_convection_pair[1.0]
    h0 = np.asarray(mixed_layer_depth(m0, s0, method="n2_max"))
    h1 = np.asarray(mixed_layer_depth(m1, s1, method="n2_max"))
    assert np.all(np.abs(h1 - h0) <= 4.0 + 1e-9), (h0, h1)
    t0, t1 = np.asarray(s0.temperature), np.asarray(s1.temperature)
    assert np.max(np.abs(t1 - t0)) < 0.02, np.max(np.abs(t1 - t0))
    assert np.max(np.abs(t1[:, -1] - t0[:, -1])) < 1e-3


def test_switch_width_is_a_static_closure_option_in_toml():
    """``[closure] switch_width`` selects exact (0) or smooth switches; it is no parameter."""
    from pydantic import ValidationError

    from pyclimaocean.models.column.config import ColumnExperiment, build_model

    raw = {"experiment": {"name": "x", "model": "column"}, "time": {"dt": 600.0, "stop_time": 3600.0}}
    model = build_model(ColumnExperiment.model_validate({**raw, "closure": {"type": "catke", "switch_width": 0}}))
    assert model.closure.switch_width == 0.0
    assert build_model(ColumnExperiment.model_validate(raw)).closure.switch_width == 1.0
    assert "switch_width" not in model.parameters().names and "closure.switch_width" not in model.parameters().names
    ca = build_model(ColumnExperiment.model_validate(
        {**raw, "closure": {"type": "convective_adjustment", "switch_width": 2}}))
    assert ca.closure.switch_width == 2.0
    with pytest.raises(ValidationError, match="closure.switch_width = -1 must be a number >= 0"):
        ColumnExperiment.model_validate({**raw, "closure": {"type": "catke", "switch_width": -1}})
    with pytest.raises(ValidationError, match="not a parameter of closure type 'constant'"):
        ColumnExperiment.model_validate({**raw, "closure": {"type": "constant", "switch_width": 1}})
