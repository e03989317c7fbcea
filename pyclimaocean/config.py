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
from typing import Any, TypeVar

import pydantic

__all__ = [
    "ConfigError",
    "Section",
    "validate",
    "load_toml",
    "load_config",
    "apply_overrides",
    "parse_override",
    "toml_value",
    "toml_key",
]

T = TypeVar("T", bound=pydantic.BaseModel)


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
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config error in {path}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config error in {path}: file is not UTF-8 text ({err})") from None


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
