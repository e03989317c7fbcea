"""Host-side simulation runner: chunks of jit-compiled steps, outputs, checkpoints, blow-ups.

The physics is the pure ``model.step``; :class:`Simulation` owns everything with side
effects, as Oceananigans' ``Simulation`` does: it advances the model in jit-compiled chunks,
records an output every ``output_every`` steps, writes outputs and restart checkpoints
atomically, calls user callbacks, shows a progress bar, and stops a blow-up (NaN/Inf or a value
outside the model's plausible range) with a :class:`BlowUpError` naming the step and the
variable, after saving the last good state.

Restarts are bit-for-bit: a run resumed from a checkpoint replays exactly the same compiled
chunks as an uninterrupted run.

For gradients, use ``model.run`` (pure, checkpointed ``lax.scan``) instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .io.files import load_state, save_state, write_dataset

__all__ = ["Simulation", "BlowUpError"]


class BlowUpError(RuntimeError):
    """The model produced NaN/Inf or an implausible value.

    Attributes: ``iteration`` (first bad step), ``time`` (s), ``variable``, ``value``,
    ``last_good_path`` (checkpoint of the last good state, if an output directory was given).
    """

    def __init__(self, iteration, time, variable, value, last_good_path=None, allowed=None):
        self.iteration, self.time, self.variable, self.value = iteration, time, variable, value
        self.last_good_path = last_good_path
        where = f"; last good state saved to {last_good_path}" if last_good_path else ""
        rng = f" (plausible range {allowed[0]} to {allowed[1]})" if allowed else ""
        super().__init__(
            f"blow-up at step {iteration} (t = {time:g} s): variable {variable!r} = {value:g}"
            f"{rng}{where}. Reduce the time step or check the forcing and closure parameters."
        )


def _check(state, checks) -> tuple[str, float, tuple] | None:
    """First (variable, bad value, range) failing its check, or None."""
    for name, (attr, lo, hi) in checks.items():
        x = np.asarray(getattr(state, attr))
        bad = ~np.isfinite(x)
        if bad.any():
            return name, float(x[bad].flat[0]), (lo, hi)
        out = (x < lo) | (x > hi)
        if out.any():
            return name, float(x[out].flat[0]), (lo, hi)
    return None


class Simulation:
    """Run a model with outputs, checkpoints and blow-up detection.

    Args:
        model: an object with ``initial_state()``, ``step(state)``, ``dt``, ``to_xarray(outputs)``
            and ``variable_ranges()`` (``{name: (attribute, lower, upper)}``).
        n_steps: total number of steps.
        output_every: steps between outputs (must divide ``n_steps``).
        checkpoint_every: steps between restart checkpoints (a multiple of ``output_every``;
            needs ``output_dir``).
        output_dir: where ``output.nc`` (or ``output.zarr``) and ``checkpoint.npz`` go.
        output_format: ``"netcdf"`` or ``"zarr"``.
        callbacks: functions ``callback(simulation, state)`` called after every output.
        progress: show a rich progress bar.
        attrs: extra global attributes for the output dataset.
    """

    def __init__(
        self,
        model,
        n_steps: int,
        output_every: int,
        *,
        checkpoint_every: int | None = None,
        output_dir: str | Path | None = None,
        output_format: str = "netcdf",
        callbacks: Sequence[Callable[[Simulation, Any], None]] = (),
        progress: bool = False,
        attrs: dict | None = None,
    ):
        if n_steps < 1 or output_every < 1 or n_steps % output_every:
            raise ValueError(
                f"output_every = {output_every} must be a positive divisor of n_steps = {n_steps}"
            )
        if checkpoint_every is not None:
            if checkpoint_every % output_every:
                raise ValueError(
                    f"checkpoint_every = {checkpoint_every} must be a multiple of "
                    f"output_every = {output_every}"
                )
            if output_dir is None:
                raise ValueError("checkpoint_every needs an output_dir")
        self.model = model
        self.n_steps = int(n_steps)
        self.output_every = int(output_every)
        self.checkpoint_every = checkpoint_every
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.output_format = output_format
        self.callbacks = list(callbacks)
        self.progress = progress
        self.attrs = attrs or {}
        # The model is an *argument* of compiled functions shared per chunk length, so models
        # that differ only in parameter values (ensemble members, resumed runs, calibration
        # candidates) reuse one compilation and replay exactly the same code (bit-for-bit).
        model_arg = _floats_to_arrays(model)
        self._chunk = functools.partial(_compiled_chunk(self.output_every), model_arg)
        self._step = functools.partial(_compiled_step(), model_arg)
        self.outputs: list = []

    # -- paths -----------------------------------------------------------------------------
    @property
    def output_path(self) -> Path | None:
        if self.output_dir is None:
            return None
        return self.output_dir / ("output.nc" if self.output_format == "netcdf" else "output.zarr")

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.output_dir is None else self.output_dir / "checkpoint.npz"

    @property
    def last_good_path(self) -> Path | None:
        return None if self.output_dir is None else self.output_dir / "last_good_state.npz"

    # -- running ---------------------------------------------------------------------------
    def dataset(self, outputs=None):
        """Dataset of the outputs so far (stacked on the host: no compilation per length)."""
        outputs = self.outputs if outputs is None else outputs
        if not outputs:
            raise ValueError("no outputs yet: run the simulation first")
        stacked = jax.tree_util.tree_map(
            lambda *xs: np.stack([np.asarray(x) for x in xs]), *outputs
        )
        return self.model.to_xarray(stacked, attrs=self.attrs)

    def _write_outputs(self):
        if self.output_path is not None and self.outputs:
            write_dataset(self.dataset(), self.output_path, self.output_format)

    def _locate_blowup(self, good_state):
        """Step from the last good state one step at a time to find the first bad step."""
        checks = self.model.variable_ranges()
        s = good_state
        for _ in range(self.output_every):
            s = self._step(s)
            found = _check(s, checks)
            if found:
                return int(s.iteration), float(s.time), found
        return int(s.iteration), float(s.time), ("<unknown>", math.nan, None)

    def run(self, state=None, *, resume: bool = False):
        """Run to ``n_steps``; returns ``(final_state, xarray.Dataset)``.

        With ``resume=True`` the run continues from ``checkpoint.npz`` in ``output_dir`` (and
        the outputs written up to it).
        """
        import xarray as xr

        self.outputs = []
        if state is None:
            state = self.model.initial_state()
        if resume:
            if self.checkpoint_path is None or not self.checkpoint_path.exists():
                raise FileNotFoundError(
                    f"cannot resume: no checkpoint at {self.checkpoint_path}"
                )
            state, _ = load_state(self.checkpoint_path, state)
            source = self.output_path
            if source is not None and not source.exists():
                # a zarr replacement interrupted between its two renames leaves the previous
                # store at <name>.old
                old = source.with_name(source.name + ".old")
                source = old if old.exists() else None
            if source is not None:
                opener = xr.open_dataset if self.output_format == "netcdf" else xr.open_zarr
                with opener(source, decode_times=False) as ds:  # model seconds, not dates
                    t_ckpt = float(state.time)
                    kept = ds.sel(time=ds.time <= t_ckpt + 1e-9 * max(1.0, abs(t_ckpt))).load()
                self.outputs = self.model.states_from_dataset(kept)
        checks = self.model.variable_ranges()
        start = int(state.iteration)
        if start % self.output_every:
            raise ValueError(
                f"state is at step {start}, not a multiple of output_every = {self.output_every}"
            )

        progress_ctx = _progress(self.progress, self.n_steps, start)
        with progress_ctx as (bar, task):
            while int(state.iteration) < self.n_steps:
                new = self._chunk(state)
                found = _check(new, checks)
                if found:
                    path = None
                    if self.last_good_path is not None:
                        path = save_state(self.last_good_path, state)
                        self._write_outputs()
                    it, t, (name, value, rng) = self._locate_blowup(state)
                    raise BlowUpError(it, t, name, value, path, rng)
                state = new
                self.outputs.append(state)
                for cb in self.callbacks:
                    cb(self, state)
                it = int(state.iteration)
                if self.checkpoint_every and it % self.checkpoint_every == 0:
                    self._write_outputs()
                    save_state(self.checkpoint_path, state, iteration=it)
                if bar is not None:
                    bar.update(task, completed=it)
        self._write_outputs()
        return state, self.dataset()


def _floats_to_arrays(model):
    """Python floats in an equinox module are static under ``filter_jit``: make them leaves."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x) if isinstance(x, float) else x, model)


@functools.lru_cache(maxsize=64)
def _compiled_chunk(n_steps: int):
    import equinox as eqx

    @eqx.filter_jit
    def chunk(model, state):
        return model.run(state, n_steps, checkpoint_every=None)[0]

    return chunk


@functools.lru_cache(maxsize=1)
def _compiled_step():
    import equinox as eqx

    return eqx.filter_jit(lambda model, state: model.step(state))


class _NullProgress:
    def __enter__(self):
        return None, None

    def __exit__(self, *exc):
        return False


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return _NullProgress()
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    @contextmanager
    def ctx():
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        ) as bar:
            task = bar.add_task("time stepping", total=total, completed=start)
            yield bar, task

    return ctx()
