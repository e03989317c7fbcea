"""``jax.sharding`` readiness of the basin step (issue 14, design notes §3.5 item 8).

The unchanged :meth:`BasinModel.step` runs on a mesh of 2 simulated CPU devices with every
state leaf split along y (``NamedSharding``, ``PartitionSpec(None, "y", None)`` for 3-D
fields, ``("y", None)`` for 2-D ones, scalars replicated); XLA's SPMD partitioner turns the
halo shifts into collective permutes.  The sharded run must equal the unsharded one to 1e-12
and keep its y sharding.

The simulated devices need ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` before JAX
starts, so the check runs in a subprocess and the test process keeps its single device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import pyclimaocean  # noqa: F401  (x64)
    from pyclimaocean.models.basin.setups import acc_sector

    assert len(jax.devices()) == 2, jax.devices()
    model = acc_sector(dlon=3.0, dlat=3.0, dt=3600.0)   # 20 x 28 x 15, periodic x, land
    n_steps = 12

    def run(state):
        return jax.lax.scan(lambda c, _: (model.step(c), None), state, None,
                            length=n_steps)[0]

    state = model.initial_state()
    reference = jax.jit(run)(state)

    mesh = Mesh(np.array(jax.devices()), ("y",))

    def spec(x):
        if x.ndim == 3:
            return NamedSharding(mesh, P(None, "y", None))
        if x.ndim == 2:
            return NamedSharding(mesh, P("y", None))
        return NamedSharding(mesh, P())

    shardings = jax.tree_util.tree_map(spec, state)
    sharded_state = jax.device_put(state, shardings)
    sharded = jax.jit(run, in_shardings=(shardings,), out_shardings=shardings)(sharded_state)

    diffs = {}
    for name in ("u", "v", "T", "S", "eta", "U", "V"):
        a, b = np.asarray(getattr(reference, name)), np.asarray(getattr(sharded, name))
        scale = max(float(np.max(np.abs(a))), 1e-30)
        diffs[name] = [float(np.max(np.abs(a - b))), scale]
    u = sharded.u
    print(json.dumps({
        "diffs": diffs,
        "u_spec": str(u.sharding.spec),
        "u_devices": len(u.sharding.device_set),
        "u_shard_shapes": sorted({tuple(s.data.shape) for s in u.addressable_shards}),
        "shape": list(model.grid.shape),
        "max_speed": float(np.max(np.abs(np.asarray(reference.u)))),
    }))
    """
)


@pytest.mark.slow  # 14 s measured (subprocess: JAX start, two compilations of 12 steps)
def test_step_runs_sharded_along_y_on_two_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        " --xla_force_host_platform_device_count=2").strip()
    env["JAX_PLATFORMS"] = "cpu"
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    nz, ny, nx = result["shape"]
    # the run moved (otherwise equality would be trivial)
    assert result["max_speed"] > 1e-4
    # still split along y on both devices
    assert result["u_devices"] == 2
    assert "y" in result["u_spec"]
    assert result["u_shard_shapes"] == [[nz, ny // 2, nx]]
    for name, (diff, scale) in result["diffs"].items():
        assert diff <= 1e-12 * max(scale, 1.0), (name, diff, scale)
