"""The configuration reference, generated from the config schemas of every registered model.

For each model of :func:`pyclimaocean.core.available_models` the pydantic schema of its run
config (``get_model_entry(name).config_schema()``) is walked table by table: every key with its
type, default, accepted range or values, and description.  A section that accepts keys beyond
its fields (``extra = "allow"``, e.g. the column's ``[closure]`` parameters) lists them through
an optional classmethod ``extra_keys() -> list[dict]`` (keys ``key``, ``type``, ``default``,
``constraints``, ``description``).  The documentation site builds its "Configuration
reference" page from :func:`config_reference_markdown`; ``python -m
pyclimaocean.config_reference`` prints it.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

import annotated_types
import pydantic
from pydantic.fields import FieldInfo

from .config import ExperimentConfig
from .core.registry import available_models, get_model_entry

__all__ = ["config_reference_markdown", "section_rows"]

_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.MinLen, "min_length", "length ≥"),
    (annotated_types.MaxLen, "max_length", "length ≤"),
)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return tp, False


def _type_name(tp: Any) -> str:
    tp, optional = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(tp)[0]) + (" or none" if optional else "")
    if origin is typing.Literal:
        name = "one of " + ", ".join(f"`{v!r}`" for v in typing.get_args(tp))
    elif origin in (list, tuple, set):
        name = f"list of {_type_name(typing.get_args(tp)[0])}" if typing.get_args(tp) else "list"
    elif origin is dict:
        k, v = typing.get_args(tp) or (str, Any)
        name = f"table of {_type_name(v)}"
    elif origin in (typing.Union, types.UnionType):
        name = " or ".join(_type_name(a) for a in typing.get_args(tp))
    elif _is_section(tp):
        name = "table"
    elif tp is float:
        name = "number"
    elif tp is int:
        name = "integer"
    elif tp is bool:
        name = "boolean"
    elif tp is str:
        name = "string"
    elif tp is Any:
        name = "any"
    else:
        name = getattr(tp, "__name__", str(tp))
    return name + (" or none" if optional else "")


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for cls, attr, symbol in _BOUNDS:
            if isinstance(meta, cls):
                value = getattr(meta, attr)
                parts.append(f"{symbol} {value}" if isinstance(value, int) else f"{symbol} {value:g}")
        if getattr(meta, "allow_inf_nan", None) is False:
            parts.append("finite")
    annotation, _ = _strip_optional(field.annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if getattr(meta, "allow_inf_nan", None) is False or (
                    isinstance(meta, FieldInfo) and any(
                        getattr(m, "allow_inf_nan", None) is False for m in meta.metadata)):
                parts.append("finite")
    return ", ".join(dict.fromkeys(parts))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if _is_section(type(value)):
        return "(table)"
    if value is None:
        return "none"
    if value == {} or value == []:
        return "empty"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value!r}`"


def _describe(field: FieldInfo) -> str:
    text = field.description or ""
    return " ".join(text.split()).replace("|", "\\|")


def section_rows(schema: type[pydantic.BaseModel], prefix: str = "") -> list[tuple[str, list[dict]]]:
    """``[(table name, rows)]`` of ``schema`` and its nested sections, depth first.

    A row is ``{"key", "type", "default", "constraints", "description"}`` (strings, markdown).
    """
    rows: list[dict] = []
    nested: list[tuple[str, list[dict]]] = []
    for name, field in schema.model_fields.items():
        key = field.alias or name
        annotation, _ = _strip_optional(field.annotation)
        rows.append({"key": key, "type": _type_name(field.annotation), "default": _default(field),
                     "constraints": _constraints(field), "description": _describe(field)})
        path = f"{prefix}{key}"
        if _is_section(annotation):
            nested += section_rows(annotation, path + ".")
        elif typing.get_origin(annotation) is dict and _is_section(typing.get_args(annotation)[1]):
            nested += section_rows(typing.get_args(annotation)[1], path + ".NAME.")
    extra = getattr(schema, "extra_keys", None)
    if callable(extra):
        rows += [{k: str(row.get(k, "")) for k in
                  ("key", "type", "default", "constraints", "description")} for row in extra()]
    table = prefix.rstrip(".")
    return ([(table, rows)] if rows else []) + nested


def _doc(obj: Any) -> str:
    text = (obj.__doc__ or "").strip()
    if not text or text.startswith(("Usage docs:", "!!! abstract")):
        return ""
    first = text.split("\n\n")[0]
    return " ".join(first.split()).replace("``", "`")


def _tables_markdown(schema: type[pydantic.BaseModel], skip: set[str]) -> list[str]:
    out: list[str] = []
    for table, rows in section_rows(schema):
        if table.split(".")[0] in skip:
            continue
        if not table:  # the top level: only plain keys (tables get their own heading)
            rows = [r for r in rows if r["type"] != "table" and r["key"] not in skip]
            if not rows:
                continue
            out += ["### top-level keys", ""]
        else:
            out += [f"### `[{table}]`", ""]
            section = _section_class(schema, table)
            doc = _doc(section) if section is not None else ""
            if doc:
                out += [doc, ""]
        out += ["| key | type | default | range / values | description |",
                "|---|---|---|---|---|"]
        out += [f"| `{r['key']}` | {r['type']} | {r['default']} | {r['constraints']} | "
                f"{r['description']} |" for r in rows]
        out.append("")
    return out


def _shared(schema: type[pydantic.BaseModel]) -> set[str]:
    """Fields of ``schema`` that are the shared ones of :class:`ExperimentConfig`, unchanged."""
    base = ExperimentConfig.model_fields
    return {k for k, f in schema.model_fields.items()
            if k in base and f.annotation == base[k].annotation and
            _default(f) == _default(base[k])}


def _model_markdown(name: str) -> str:
    entry = get_model_entry(name)
    schema = entry.config_schema()
    shared = _shared(schema)
    out = [f"## `{name}`", "", f"{entry.description}." if entry.description else "", "",
           f"Schema: `{schema.__module__}.{schema.__qualname__}`; the shared tables "
           f"({', '.join(f'`[{k}]`' if k != 'parameters' else '`[parameters]`' for k in sorted(shared))}) "
           "are described above.", ""]
    return "\n".join(out + _tables_markdown(schema, shared))


def _section_class(schema: type[pydantic.BaseModel], table: str):
    cls: Any = schema
    for part in table.split("."):
        if part == "NAME":
            continue
        field = cls.model_fields.get(part)
        if field is None:
            return None
        annotation, _ = _strip_optional(field.annotation)
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        if not _is_section(annotation):
            return None
        cls = annotation
    return cls


def config_reference_markdown() -> str:
    """The configuration reference page (markdown) of every registered model."""
    models = available_models()
    head = [
        "# Configuration reference",
        "",
        "Every key of the run configs of the registered models "
        f"({', '.join(f'`{m}`' for m in models)}), generated from their pydantic schemas "
        "(`pyclimaocean.config_reference`, rebuilt with the site). Units are given in the "
        "descriptions; `finite` means NaN and infinities are refused. An unknown key or a value "
        "out of range is a config error naming it. Calibration, inference, assimilation and "
        "training files add their own tables on top of a run config (see the user guide).",
        "",
        "`[output.writers.NAME]` tables add output files, one per `NAME`. `[parameters]` "
        "sets calibratable parameters by dotted model path (`closure.c_hi_c = 0.1`), checked "
        "against `model.parameters()`.",
        "",
        "Data files (every key named `file` or ending in `_file`) are paths relative to the "
        "config file's directory, so a config runs the same from any working directory; "
        "absolute paths are kept, and a path given with `--set` is relative to the current "
        "directory. The run directory's `config.toml` records the resolved, absolute paths.",
        "",
    ]
    shared = ["## Shared tables", "",
              "The tables every experiment file has (`pyclimaocean.config.ExperimentConfig`).",
              ""] + _tables_markdown(ExperimentConfig, set())
    return "\n".join(head + shared + [_model_markdown(m) for m in models])


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(config_reference_markdown())
