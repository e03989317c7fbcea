"""TOML experiment configs -> validated, typed, frozen objects (pydantic v2).

Every user error becomes a :class:`ConfigError` whose message names the field path, the bad
value and what is accepted, e.g.::

    config error in examples/bad.toml:
      grid.nz = -4: Input should be greater than 0

Model-specific schemas are pydantic models deriving from :class:`Section` (frozen, unknown keys
forbidden).  :func:`load_config` reads a file, applies ``--set key=value`` overrides, and
validates against a schema; :func:`validate` does the same for an in-memory dict.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import Field, model_validator

__all__ = [
    "ConfigError",
    "DEFAULT_MODEL",
    "ExperimentConfig",
    "ExperimentSection",
    "JuliaSection",
    "OutputSection",
    "Section",
    "TimeSection",
    "WriterSection",
    "validate",
    "load_toml",
    "load_config",
    "apply_overrides",
    "parse_override",
    "toml_value",
    "toml_key",
    "EXPERIMENT_KINDS",
    "experiment_kind",
    "check_verb",
]

T = TypeVar("T", bound=pydantic.BaseModel)

Finite = Annotated[float, Field(allow_inf_nan=False)]

#: ``experiment.model`` of a config that names none (configs written before the model
#: registry had only the single-column model); the one place a model name is a default.
DEFAULT_MODEL = "column"

#: Largest number of time steps a config may ask for (stop_time / dt).
MAX_STEPS = 10**9


class ConfigError(ValueError):
    """A user error in an experiment configuration (message is meant for humans)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.errors = errors or []


class Section(pydantic.BaseModel):
    """Base class of config sections: frozen, strict about unknown keys."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _format_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def _format_errors(errors: list[dict[str, Any]]) -> str:
    lines = []
    for e in errors:
        loc = [p for p in e.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-"))]
        path = _format_loc(loc)
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            lines.append(f"  {path}: unknown field (check the spelling; remove it or see the docs)")
        elif e.get("type") == "missing":
            lines.append(f"  {path}: required field is missing")
        elif isinstance(e.get("input"), Mapping):  # a whole table: its message says it all
            msg = msg.removeprefix("Value error, ")
            lines.append(f"  {path}: {msg}" if path != "<root>" else f"  {msg}")
        else:
            value = e.get("input")
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            lines.append(f"  {path} = {shown}: {msg}")
    return "\n".join(lines)


def validate(data: Mapping[str, Any], schema: type[T], source: str = "config") -> T:
    """Validate ``data`` against ``schema``; raise :class:`ConfigError` naming every bad field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config error in {source}: expected a table, got {type(data).__name__}")
    try:
        return schema.model_validate(dict(data))
    except pydantic.ValidationError as err:
        errors = err.errors(include_url=False)
        raise ConfigError(f"config error in {source}:\n" + _format_errors(errors), errors) from None


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict; missing files and syntax errors become :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config error in {path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config error in {path}: file is not UTF-8 text ({err})") from None
    return resolve_data_paths(data, path.resolve().parent)


def _is_path_key(key: str) -> bool:
    return key == "file" or key.endswith("_file")


def resolve_data_paths(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Make every relative data-file path of a config absolute, relative to ``base_dir``.

    Data files named in a config file (every key called ``file`` or ending in ``_file``, in any
    table) are relative to *the config file's directory*, so a config runs the same from any
    working directory; absolute paths are kept.  Paths given with ``--set`` on the command line
    are applied after this and stay relative to the current directory.  The resolved (absolute)
    paths are what the run directory's ``config.toml`` records.
    """

    def walk(node):
        if isinstance(node, dict):
            return {
                k: (str(base_dir / v) if _is_path_key(k) and isinstance(v, str) and v
                    and not Path(v).is_absolute() else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(data)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``"a.b.c=value"``; the value is read as a TOML value (bare words become strings)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key path")
    raw = raw.strip()
    if "\n" in raw or "\r" in raw:
        raise ConfigError(f"override {key}=...: the value must be on one line")
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return key, raw
    if set(parsed) != {"v"}:
        raise ConfigError(f"override {text!r}: could not read the value as one TOML value")
    return key, parsed["v"]


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied (creating tables)."""
    import copy

    out = copy.deepcopy(dict(data))
    for text in overrides:
        key, value = parse_override(text)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif not isinstance(nxt, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a table")
            node = nxt
        node[parts[-1]] = value
    return out


#: experiment kinds other than "run": the top-level table that marks them and the verb that
#: runs them (an inference config also has [calibration]; it is checked first)
EXPERIMENT_KINDS = {
    "infer": ("inference", "pyclimaocean infer"),
    "calibrate": ("calibration", "pyclimaocean calibrate"),
    "assimilate": ("method", "pyclimaocean assimilate"),
    "train": ("training", "pyclimaocean train"),
}


def experiment_kind(raw: Mapping[str, Any]) -> str:
    """``"run"`` or the verb of a config that needs another one (calibrate, infer, ...)."""
    for kind, (table, _) in EXPERIMENT_KINDS.items():
        if table in raw:
            return kind
    return "run"


def check_verb(raw: Mapping[str, Any], verb: str, source: str) -> None:
    """Raise :class:`ConfigError` naming the right verb when config ``raw`` is not for ``verb``
    (``"run"``, ``"calibrate"``, ``"infer"``, ``"assimilate"`` or ``"train"``).

    ``run`` refuses any config of another kind; the other verbs refuse a config without their
    table (``calibrate`` accepts an inference config: it has a [calibration] table; ``train``
    accepts a run config, since every key of [training] has a default).
    """
    kind = experiment_kind(raw)
    if verb == "run":
        if kind != "run":
            table, command = EXPERIMENT_KINDS[kind]
            raise ConfigError(
                f"config error in {source}: this config is for `{command}` (it has a [{table}] "
                f"table); run it with `{command} {source}`"
            )
        return
    table, _ = EXPERIMENT_KINDS[verb]
    if table in raw or (verb == "train" and kind == "run"):  # [training] has defaults
        return
    if kind == "run":
        what = "a run config: run it with `pyclimaocean run " + source + "`"
    else:
        what = f"a config for `{EXPERIMENT_KINDS[kind][1]}`: run it with `{EXPERIMENT_KINDS[kind][1]} {source}`"
    raise ConfigError(
        f"config error in {source}: `pyclimaocean {verb}` needs a [{table}] table; this is {what}"
    )


def load_config(
    path: str | Path, schema: type[T], overrides: Iterable[str] = ()
) -> T:
    """Load a TOML experiment file, apply overrides and validate it against ``schema``."""
    data = apply_overrides(load_toml(path), overrides)
    return validate(data, schema, source=str(path))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(k) -> str:
    """A TOML key: bare when possible, else a quoted string."""
    k = str(k)
    return k if _BARE_KEY.fullmatch(k) else toml_value(k)


def toml_value(v: Any) -> str:
    """A TOML value (strings escaped as JSON strings, which are valid TOML basic strings)."""
    if isinstance(v, str):  # JSON leaves DEL (U+007F) unescaped; TOML forbids it
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


# -------------------------------------------------------------------------------------------
# sections shared by every experiment
# -------------------------------------------------------------------------------------------
class ExperimentSection(Section):
    """``[experiment]``: what runs, on which backend (shared by every experiment kind)."""

    name: str = Field("experiment", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    model: str = Field(DEFAULT_MODEL, min_length=1, description="a registered model name")
    backend: Literal["jax", "julia"] = "jax"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    description: str = ""


class TimeSection(Section):
    """``[time]``: time step, length, output and checkpoint intervals, in the model's time
    units (seconds for ocean models, model time units for Lorenz-96)."""

    dt: Finite = Field(..., gt=0, le=86400, description="time step (s)")
    stop_time: Finite = Field(..., gt=0, description="s")
    output_interval: Finite | None = Field(None, gt=0, description="s (default: stop_time / 24)")
    checkpoint_interval: Finite | None = Field(None, gt=0, description="s (default: off)")

    @model_validator(mode="after")
    def _multiples(self):
        n = self.stop_time / self.dt
        if abs(n - round(n)) > 1e-9 * max(n, 1):
            raise ValueError(
                f"time.stop_time = {self.stop_time} must be a whole number of time steps "
                f"(time.dt = {self.dt})"
            )
        if round(n) > MAX_STEPS:
            raise ValueError(
                f"time.stop_time = {self.stop_time} is {round(n):.3g} time steps of "
                f"time.dt = {self.dt}; at most {MAX_STEPS:.0e} steps are allowed"
            )
        for name in ("output_interval", "checkpoint_interval"):
            v = getattr(self, name)
            if v is not None:
                k = v / self.dt
                if abs(k - round(k)) > 1e-9 * max(k, 1) or round(k) < 1:
                    raise ValueError(
                        f"time.{name} = {v} must be a positive whole number of time steps "
                        f"(time.dt = {self.dt})"
                    )
                if name == "output_interval" and round(k) > round(n):
                    raise ValueError(
                        f"time.{name} = {v} must not exceed time.stop_time = {self.stop_time}"
                    )
        if self.output_interval is not None and round(n) % self.output_every:
            raise ValueError(
                f"time.output_interval = {self.output_interval} must divide time.stop_time = "
                f"{self.stop_time} into a whole number of outputs"
            )
        ck = self.checkpoint_every  # longer than the run: no checkpoint is written
        if ck is not None and ck <= round(n) and ck % self.output_every:
            raise ValueError(
                f"time.checkpoint_interval = {self.checkpoint_interval} must be a multiple of "
                f"the output interval ({self.output_every * self.dt} s)"
            )
        return self

    @property
    def n_steps(self) -> int:
        return int(round(self.stop_time / self.dt))

    @property
    def output_every(self) -> int:
        if self.output_interval is None:
            return _largest_divisor_at_most(self.n_steps, max(1, self.n_steps // 24))
        return int(round(self.output_interval / self.dt))

    @property
    def checkpoint_every(self) -> int | None:
        if self.checkpoint_interval is None:
            return None
        return int(round(self.checkpoint_interval / self.dt))


class WriterSection(Section):
    """``[output.writers.<name>]``: an extra output file ``<name>.nc`` with its own schedule."""

    interval: Finite = Field(..., gt=0, description="time between records (a whole number of steps)")
    fields: list[str] | None = Field(None, min_length=1, description="variables (default: all)")
    average: bool = Field(False, description="time means over each interval instead of snapshots")


class OutputSection(Section):
    """``[output]``: file format, figures, and extra output writers."""

    format: Literal["netcdf", "zarr"] = "netcdf"
    plots: bool = True
    include_initial: bool = Field(True, description="write the state at t = 0 as the first record")
    writers: dict[str, WriterSection] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _writer_names(self):
        for name in self.writers:
            if not re.fullmatch(r"[A-Za-z0-9_\-]+", name) or name in ("output", "checkpoint"):
                raise ValueError(
                    f"output.writers.{name}: a writer name must be letters, digits, '_' or '-' "
                    "and not 'output' or 'checkpoint'"
                )
        return self


class JuliaSection(Section):
    """``[julia]``: options of the Julia backend (``experiment.backend = "julia"`` only)."""

    architecture: Literal["CPU", "GPU"] = Field("CPU", description="GPU needs CUDA.jl")
    precision: Literal["float64", "float32"] = "float64"


class ExperimentConfig(Section):
    """The sections every experiment file shares: ``[experiment]``, ``[time]``, ``[output]``.
    A model's schema derives from it and adds its own sections."""

    experiment: ExperimentSection = ExperimentSection()
    time: TimeSection
    output: OutputSection = OutputSection()
    julia: JuliaSection = JuliaSection()
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description="calibratable parameters by dotted model path, e.g. closure.c_hi_c = 0.1 "
        "(checked against the model's parameters and bounds when it is built)",
    )

    @pydantic.field_validator("parameters", mode="before")
    @classmethod
    def _flatten_parameters(cls, value):
        if not isinstance(value, Mapping):
            return value
        flat: dict[str, Any] = {}

        def walk(prefix, d):
            for k, v in d.items():
                key = f"{prefix}.{k}" if prefix else str(k)
                if isinstance(v, Mapping):
                    walk(key, v)
                elif isinstance(v, bool) or not isinstance(v, int | float):
                    raise ValueError(f"parameters.{key} = {v!r} must be a number")
                else:
                    flat[key] = float(v)

        walk("", value)
        return flat

    @model_validator(mode="after")
    def _julia_options_need_julia(self):
        if self.julia != JuliaSection() and self.experiment.backend != "julia":
            raise ValueError(
                f"[julia] options apply to experiment.backend = 'julia' only (got "
                f"{self.experiment.backend!r}); remove the table or set the backend"
            )
        return self

    @model_validator(mode="after")
    def _writer_intervals(self):
        for name, w in self.output.writers.items():
            k = w.interval / self.time.dt
            if abs(k - round(k)) > 1e-9 * max(k, 1) or round(k) < 1:
                raise ValueError(
                    f"output.writers.{name}.interval = {w.interval} must be a positive whole "
                    f"number of time steps (time.dt = {self.time.dt})"
                )
            if self.time.n_steps % round(k):
                raise ValueError(
                    f"output.writers.{name}.interval = {w.interval} must divide time.stop_time = "
                    f"{self.time.stop_time}"
                )
        return self


def _largest_divisor_at_most(n: int, k: int) -> int:
    for d in range(min(k, n), 0, -1):
        if n % d == 0:
            return d
    return 1
