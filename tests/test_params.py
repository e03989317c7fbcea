import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pyclimaocean import Parameter, ParameterError, ParameterSet, Prior
from pyclimaocean.closures.catke import CATKELike
from pyclimaocean.models.column import setups


def make_set():
    return ParameterSet(
        {
            "closure.c_hi_c": Parameter(jnp.asarray(0.098), 0.0, 1.0, units="1"),
            "closure.c_wind_ustar": Parameter(
                jnp.asarray(3.179), 0.0, prior=Prior.make("lognormal", loc=1.0, scale=0.5)
            ),
            "closure.minimum_tke": Parameter(jnp.asarray(1e-9), 1e-12, 1e-4, transform="log"),
            "coriolis_parameter": Parameter(jnp.asarray(1e-4)),
        }
    )


def test_transform_choice_and_round_trip():
    ps = make_set()
    kinds = [p.effective_transform for p in ps.parameters.values()]
    assert kinds == ["logit", "log", "log", "identity"]
    u = ps.to_unconstrained()
    back = ps.from_unconstrained(u).vector()
    np.testing.assert_allclose(back, ps.vector(), rtol=1e-12)
    # any unconstrained vector maps inside the bounds
    for seed in range(5):
        z = jax.random.normal(jax.random.PRNGKey(seed), (len(ps),)) * 20
        q = ps.from_unconstrained(z)
        for (name, p), v in zip(q.parameters.items(), q.vector(), strict=True):
            assert p.lower <= float(v) <= p.upper, name


def test_transforms_are_differentiable():
    ps = make_set()
    g = jax.grad(lambda u: jnp.sum(ps.from_unconstrained(u).vector() ** 2))(ps.to_unconstrained())
    assert np.all(np.isfinite(g))


def test_out_of_bounds_error_names_parameter():
    ps = make_set().with_values({"closure.c_hi_c": 3.0})
    with pytest.raises(ParameterError, match=r"closure\.c_hi_c = 3.0 is outside its bounds \[0.0, 1.0\]"):
        ps.check()


def test_bad_definitions():
    with pytest.raises(ParameterError, match="lower bound"):
        Parameter(1.0, 2.0, 1.0)
    with pytest.raises(ParameterError, match="Supported transforms"):
        Parameter(1.0, transform="sqrt")
    with pytest.raises(ParameterError, match="Supported kinds"):
        Prior.make("cauchy", loc=0, scale=1)
    with pytest.raises(ParameterError, match="scale must be > 0"):
        Prior.make("normal", loc=0, scale=-1)
    with pytest.raises(ParameterError, match="no parameter named"):
        make_set()["nope"]


def test_toml_round_trip():
    ps = make_set()
    text = ps.to_toml()
    back = ParameterSet.from_toml(text)
    assert back.names == ps.names
    np.testing.assert_array_equal(back.vector(), ps.vector())
    assert back["closure.c_wind_ustar"].prior == ps["closure.c_wind_ustar"].prior
    assert back["closure.minimum_tke"].transform == "log"
    with pytest.raises(ParameterError, match="unknown keys"):
        ParameterSet.from_dict({"a": {"value": 1.0, "bogus": 2}})
    with pytest.raises(ParameterError, match=r"a = 5.0 is outside"):
        ParameterSet.from_dict({"a": {"value": 5.0, "upper": 1.0}})


def test_priors_to_numpyro():
    ps = make_set()
    d = ps["closure.c_wind_ustar"].prior_distribution()
    assert math.isclose(float(d.mean), math.exp(1.0 + 0.125), rel_tol=1e-12)
    u = ps["closure.c_hi_c"].prior_distribution()  # uniform on the bounds
    assert float(u.low) == 0.0 and float(u.high) == 1.0
    with pytest.raises(ParameterError, match="finite bounds"):
        ps["coriolis_parameter"].prior_distribution()


def test_apply_writes_into_model_and_is_traceable():
    model = setups.free_convection(nz=8)
    ps = model.default_parameters(["c_hi_c", "closure.c_lo_c"])
    assert ps.names == ("closure.c_hi_c", "closure.c_lo_c")
    new = ps.with_values(jnp.array([0.2, 0.3])).apply(model)
    assert float(new.closure.c_hi_c) == 0.2 and float(new.closure.c_lo_c) == 0.3
    assert float(model.closure.c_hi_c) == CATKELike().c_hi_c  # original untouched

    @jax.jit
    def f(v):
        return ps.with_values(v).apply(model).closure.c_hi_c * 2

    assert float(f(jnp.array([0.25, 0.3]))) == 0.5
    with pytest.raises(ParameterError, match="does not name an attribute"):
        ParameterSet({"closure.nope": Parameter(1.0)}).apply(model)
    with pytest.raises(KeyError, match="Parameters are"):
        model.default_parameters(["nope"])


def test_order_survives_jit_and_tree_operations():
    # names deliberately not in sorted order
    ps = ParameterSet(
        {
            "zeta": Parameter(jnp.asarray(3.0), 0.0, 10.0),
            "alpha": Parameter(jnp.asarray(0.5), 0.0, 1.0),
            "mid": Parameter(jnp.asarray(-2.0)),
        }
    )
    u = ps.to_unconstrained()

    @jax.jit
    def roundtrip(q, u):
        return q.from_unconstrained(u).vector(), q.vector()

    back, vec = roundtrip(ps, u)
    np.testing.assert_allclose(back, [3.0, 0.5, -2.0], rtol=1e-12)
    np.testing.assert_allclose(vec, [3.0, 0.5, -2.0])
    leaves, treedef = jax.tree_util.tree_flatten(ps)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.names == ("zeta", "alpha", "mid")
    assert [float(x) for x in leaves] == [3.0, 0.5, -2.0]


def test_value_on_a_bound_maps_to_a_finite_point():
    ps = setups.free_convection(nz=8).default_parameters(["c_pen_u", "c_hi_c"])
    u = ps.to_unconstrained()
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(ps.from_unconstrained(u).vector(), [0.0, 0.098], atol=1e-8)


def test_identity_transform_with_bounds_is_refused():
    with pytest.raises(ParameterError, match="cannot honour the bounds"):
        Parameter(0.5, 0.0, 1.0, transform="identity")
    assert Parameter(0.5, transform="identity").from_unconstrained(2.0) == 2.0
