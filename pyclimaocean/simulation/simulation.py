"""Host-side simulation runner: compiled chunks of steps, output writers, checkpoints, blow-ups.

The physics is the pure ``model.step`` of any :class:`~pyclimaocean.core.AbstractModel`;
:class:`Simulation` owns everything with side effects, as Oceananigans' ``Simulation`` does:
it advances the model in jit-compiled chunks, hands the output fields to its output writers
(each with its own schedule, field selection and optional time average, streaming to disk),
writes restart checkpoints atomically, calls user callbacks, shows a progress bar, and stops a
blow-up (NaN/Inf, or a value outside a variable's plausible range) with a
:class:`BlowUpError` naming the step and the variable, after saving the last good state.

Restarts are bit-for-bit: a run resumed from a checkpoint replays exactly the same compiled
chunks as an uninterrupted run, and the output files are truncated to the records the
checkpoint had seen.

For gradients, use ``model.run`` (pure, checkpointed ``lax.scan``) instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..io.files import load_state, save_state
from .output_writers import AbstractOutputWriter, make_writer

__all__ = ["Simulation", "BlowUpError"]


#: a finite value that left its plausible range having moved less than this fraction of the
#: range in its last step drifted there smoothly (physics or forcing), not by an instability
SMOOTH_DRIFT_FRACTION = 0.01


class BlowUpError(RuntimeError):
    """The model produced NaN/Inf or an implausible value.

    Attributes: ``iteration`` (first bad step), ``time`` (model time), ``variable``, ``value``,
    ``last_good_path`` (checkpoint of the last good state, if an output directory was given),
    ``step_change`` (|change| of the offending value in its last step, when known) and
    ``kind``: ``"non-finite"`` (NaN/Inf), ``"jump"`` (left the plausible range by a step
    larger than :data:`SMOOTH_DRIFT_FRACTION` of the range: a numerical instability),
    ``"drift"`` (moved out of range smoothly: the physics or forcing, not the time step) or
    ``"out-of-range"`` (the step change is unknown, e.g. the initial state).  The message's
    advice follows the kind: reducing the time step helps an instability, not a drift.
    """

    def __init__(self, iteration, time, variable, value, last_good_path=None, allowed=None,
                 step_change=None):
        self.iteration, self.time, self.variable, self.value = iteration, time, variable, value
        self.last_good_path = last_good_path
        self.step_change = step_change
        where = f"; last good state saved to {last_good_path}" if last_good_path else ""
        rng = f" (plausible range {allowed[0]} to {allowed[1]})" if allowed else ""
        width = float(allowed[1] - allowed[0]) if allowed else math.nan
        if not math.isfinite(value):
            self.kind = "non-finite"
            advice = ("The run became numerically unstable (a value is not finite): reduce the "
                      "time step (time.dt; a CFL or diffusive stability limit was likely "
                      "exceeded) or check the parameters for unphysical values (e.g. a "
                      "negative diffusivity).")
        elif step_change is None or not math.isfinite(width):
            self.kind = "out-of-range"
            advice = ("If the run became numerically unstable, reduce the time step; if the "
                      "forcing drove it out of the plausible range, check the forcing and "
                      "parameters.")
        elif step_change <= SMOOTH_DRIFT_FRACTION * width:
            self.kind = "drift"
            advice = (f"It drifted there smoothly (it changed by {step_change:.3g} in its last "
                      f"step, {100 * step_change / width:.2g} % of the plausible range): this "
                      "is the physics or the forcing, not a numerical instability, and a "
                      "smaller time step will not help. Check the forcing's sign and size, the "
                      "run length and the parameters (e.g. sustained cooling takes a "
                      "temperature below freezing in a model without sea ice).")
        else:
            self.kind = "jump"
            advice = (f"It jumped there (by {step_change:.3g} in one step, "
                      f"{100 * step_change / width:.2g} % of the plausible range): a numerical "
                      "instability. Reduce the time step (time.dt; a CFL or diffusive "
                      "stability limit was likely exceeded) or check the parameters for "
                      "unphysical values (e.g. a negative diffusivity).")
        super().__init__(
            f"blow-up at step {iteration} (t = {time:g}): variable {variable!r} = {value:g}"
            f"{rng}{where}. {advice}"
        )


def _check(fields: Mapping[str, Any], ranges: Mapping[str, tuple | None], state) -> tuple | None:
    """First ``(variable, bad value, range)`` failing its check, or None.

    Output fields are checked against their plausible ranges; every floating leaf of the state
    (including fields that are not written) must be finite.
    """
    for name, x in fields.items():
        x = np.asarray(x)
        bad = ~np.isfinite(x)
        if bad.any():
            return name, float(x[bad].flat[0]), ranges.get(name)
        rng = ranges.get(name)
        if rng is not None:
            out = (x < rng[0]) | (x > rng[1])
            if out.any():
                return name, float(x[out].flat[0]), rng
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        x = np.asarray(leaf)
        if x.dtype.kind in "fc" and not np.isfinite(x).all():
            return jax.tree_util.keystr(path).lstrip("."), float(x[~np.isfinite(x)].flat[0]), None
    return None


class Simulation:
    """Run a model with output writers, checkpoints and blow-up detection.

    Args:
        model: an :class:`~pyclimaocean.core.AbstractModel`.
        n_steps: total number of steps.
        output_every: steps between records of the default writer (``output.nc``): a snapshot
            of every variable, the initial state included.  Give ``writers`` instead (or as
            well) for other schedules, field selections or time averages.
        checkpoint_every: steps between restart checkpoints (needs ``output_dir``).
        output_dir: where output files and ``checkpoint.npz`` go (``None``: in memory).
        output_format: ``"netcdf"`` or ``"zarr"``.
        writers: ``{name: AbstractOutputWriter}`` (e.g. from
            :func:`~pyclimaocean.simulation.output_writers.make_writer`); the default writer
            is called ``"output"``.
        callbacks: functions ``callback(simulation, state)`` called after every chunk (the
            greatest common divisor of the writer and checkpoint intervals).
        progress: show a rich progress bar.
        attrs: extra global attributes for the output datasets.
        include_initial: the default writer records the state at ``t = 0``.
    """

    def __init__(
        self,
        model,
        n_steps: int,
        output_every: int | None = None,
        *,
        checkpoint_every: int | None = None,
        output_dir: str | Path | None = None,
        output_format: str = "netcdf",
        writers: Mapping[str, AbstractOutputWriter] | None = None,
        callbacks: Sequence[Callable[[Simulation, Any], None]] = (),
        progress: bool = False,
        attrs: dict | None = None,
        include_initial: bool = True,
    ):
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps = {n_steps!r} must be a positive int")
        if output_format not in ("netcdf", "zarr"):
            raise ValueError(
                f"output format {output_format!r} is not supported. Supported: netcdf, zarr"
            )
        self.model = model
        self.n_steps = int(n_steps)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.output_format = output_format
        self.attrs = dict(attrs or {})
        self.writers: dict[str, AbstractOutputWriter] = {}
        if output_every is not None:
            if output_every < 1 or n_steps % output_every:
                raise ValueError(
                    f"output_every = {output_every} must be a positive divisor of "
                    f"n_steps = {n_steps}"
                )
            self.writers["output"] = make_writer(
                self.output_dir, "output", int(output_every), format=output_format,
                include_initial=include_initial, attrs=self.attrs)
        for name, w in (writers or {}).items():
            if name in self.writers:
                raise ValueError(f"two output writers are called {name!r}")
            self.writers[name] = w
        for w in self.writers.values():
            w.attrs = {**self.attrs, **w.attrs}
            w.bind(model)
        if checkpoint_every is not None:
            if output_dir is None:
                raise ValueError("checkpoint_every needs an output_dir")
            if checkpoint_every < 1:
                raise ValueError(f"checkpoint_every = {checkpoint_every} must be >= 1")
            for name, w in self.writers.items():
                if checkpoint_every % w.every and w.average:
                    raise ValueError(
                        f"checkpoint_every = {checkpoint_every} must be a multiple of the "
                        f"averaging interval of writer {name!r} ({w.every} steps)"
                    )
        self.checkpoint_every = checkpoint_every
        intervals = [w.every for w in self.writers.values()]
        if checkpoint_every:
            intervals.append(checkpoint_every)
        self.chunk = functools.reduce(math.gcd, intervals) if intervals else n_steps
        if n_steps % self.chunk:
            raise ValueError(
                f"n_steps = {n_steps} must be a multiple of the output/checkpoint intervals' "
                f"common divisor ({self.chunk} steps)"
            )
        self.callbacks = list(callbacks)
        self.progress = progress
        self._ranges = {v.name: v.valid_range for v in model.variables()}
        self._averaging = any(w.average for w in self.writers.values())
        # The model is an *argument* of compiled functions shared per chunk length, so models
        # that differ only in parameter values (ensemble members, resumed runs, calibration
        # candidates) reuse one compilation and replay exactly the same code (bit-for-bit).
        model_arg = _floats_to_arrays(model)
        self._chunk = functools.partial(_compiled_chunk(self.chunk, self._averaging), model_arg)
        self._step = functools.partial(_compiled_step(), model_arg)
        self._fields = functools.partial(_compiled_fields(), model_arg)
        self._sums: dict[str, dict[str, np.ndarray] | None] = {}

    # -- paths -----------------------------------------------------------------------------
    @property
    def output_path(self) -> Path | None:
        w = self.writers.get("output")
        return getattr(w, "path", None)

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.output_dir is None else self.output_dir / "checkpoint.npz"

    @property
    def last_good_path(self) -> Path | None:
        return None if self.output_dir is None else self.output_dir / "last_good_state.npz"

    # -- running ---------------------------------------------------------------------------
    def dataset(self, name: str = "output", load: bool = True):
        """Dataset of the records written so far by writer ``name``."""
        if name not in self.writers:
            raise KeyError(f"no output writer {name!r}; writers are: {', '.join(self.writers)}")
        ds = self.writers[name].dataset(load=load)
        if ds is None:
            raise ValueError("no outputs yet: run the simulation first")
        return ds

    def _flush(self):
        for w in self.writers.values():
            w.flush()

    def _save_checkpoint(self, path, state):
        self._flush()
        records = {f"records:{n}": w.n_records for n, w in self.writers.items()}
        return save_state(path, state, iteration=int(self.model.iteration(state)), **records)

    def _locate_blowup(self, good_state):
        """Step from the last good state one step at a time to find the first bad step:
        ``(iteration, time, (variable, value, range), step change)``; the step change is the
        largest |change| of the offending output field in that step (None if unknown)."""
        s = good_state
        previous = self._fields(s)
        for _ in range(self.chunk):
            s = self._step(s)
            fields = self._fields(s)
            found = _check(fields, self._ranges, s)
            if found:
                change = None
                name = found[0]
                if name in fields and name in previous:
                    with np.errstate(invalid="ignore", over="ignore"):
                        diff = np.abs(np.asarray(fields[name], float) - np.asarray(previous[name], float))
                    change = float(np.max(diff)) if diff.size and np.isfinite(diff).all() else None
                return int(self.model.iteration(s)), float(self.model.time(s)), found, change
            previous = fields
        return (int(self.model.iteration(s)), float(self.model.time(s)),
                ("<unknown>", math.nan, None), None)

    def _record(self, state, snapshot, mean):
        it = int(self.model.iteration(state))
        t = float(self.model.time(state))
        for name, w in self.writers.items():
            if w.average:
                acc = self._sums.get(name)
                sel = w.select(mean)
                self._sums[name] = sel if acc is None else {k: acc[k] + sel[k] for k in sel}
                if it % w.every == 0:
                    k = w.every // self.chunk
                    w.record(t, {n: v / k for n, v in self._sums[name].items()})
                    self._sums[name] = None
            elif it % w.every == 0:
                w.record(t, snapshot)

    def run(self, state=None, *, resume: bool = False, return_dataset: bool = True):
        """Run to ``n_steps``; returns ``(final_state, dataset of the "output" writer)``.

        With ``resume=True`` the run continues from ``checkpoint.npz`` in ``output_dir``; the
        output files are truncated to the records that the checkpoint had seen.  With
        ``return_dataset=False`` (long runs) the dataset is not read back (``None``).
        """
        self._sums = {}
        model = self.model
        if state is None:
            state = model.initial_state()
        if resume:
            if self.checkpoint_path is None or not self.checkpoint_path.exists():
                raise FileNotFoundError(f"cannot resume: no checkpoint at {self.checkpoint_path}")
            state, meta = load_state(self.checkpoint_path, state)
            for name, w in self.writers.items():
                key = f"records:{name}"
                if key not in meta:
                    raise ValueError(
                        f"cannot resume: checkpoint {self.checkpoint_path} has no record count "
                        f"for output writer {name!r} (it was written with other writers)"
                    )
                w.truncate(int(meta[key]))
        else:
            for w in self.writers.values():
                w.reset()
            if any(w.include_initial for w in self.writers.values()):
                fields0 = self._fields(state)
                found = _check(fields0, self._ranges, state)
                if found:
                    name, value, rng = found
                    raise BlowUpError(int(model.iteration(state)), float(model.time(state)),
                                      name, value, None, rng)
                for w in self.writers.values():
                    if w.include_initial:
                        w.record(float(model.time(state)), fields0)
        start = int(model.iteration(state))
        if start % self.chunk:
            raise ValueError(
                f"state is at step {start}, not a multiple of the chunk length {self.chunk}"
            )

        with _progress(self.progress, self.n_steps, start) as (bar, task):
            while int(model.iteration(state)) < self.n_steps:
                new, snapshot, mean = self._chunk(state)
                snapshot = jax.device_get(snapshot)
                found = _check(snapshot, self._ranges, new)
                if found:
                    path = None
                    if self.last_good_path is not None:
                        path = save_state(self.last_good_path, state)
                    for w in self.writers.values():  # outputs up to the last good state
                        w.close()
                    it, t, (name, value, rng), change = self._locate_blowup(state)
                    raise BlowUpError(it, t, name, value, path, rng, step_change=change)
                state = new
                self._record(state, snapshot, jax.device_get(mean) if mean is not None else None)
                for cb in self.callbacks:
                    cb(self, state)
                it = int(model.iteration(state))
                if self.checkpoint_every and it % self.checkpoint_every == 0:
                    self._save_checkpoint(self.checkpoint_path, state)
                if bar is not None:
                    bar.update(task, completed=it)
        for w in self.writers.values():
            w.close()
        if not return_dataset or "output" not in self.writers:
            return state, None
        return state, self.dataset("output")


def _floats_to_arrays(model):
    """Python floats in an equinox module are static under ``filter_jit``: make them leaves."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x) if isinstance(x, float) else x, model)


@functools.lru_cache(maxsize=64)
def _compiled_chunk(n_steps: int, average: bool = False):
    """``(model, state) -> (state after n_steps, output fields, mean fields over the chunk)``."""

    @eqx.filter_jit
    def chunk(model, state):
        if not average:
            final = model.run(state, n_steps, checkpoint_every=None)[0]
            return final, model.output_fields(final), None

        def body(carry, _):
            s, acc = carry
            s = model.step(s)
            f = model.output_fields(s)
            return (s, jax.tree_util.tree_map(jnp.add, acc, f)), None

        zeros = jax.tree_util.tree_map(jnp.zeros_like, model.output_fields(state))
        (final, total), _ = jax.lax.scan(body, (state, zeros), None, length=n_steps)
        mean = jax.tree_util.tree_map(lambda x: x / n_steps, total)
        return final, model.output_fields(final), mean

    return chunk


@functools.lru_cache(maxsize=1)
def _compiled_step():
    return eqx.filter_jit(lambda model, state: model.step(state))


@functools.lru_cache(maxsize=1)
def _compiled_fields():
    return eqx.filter_jit(lambda model, state: model.output_fields(state))


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
