"""Fuzzing of experiment configs (hypothesis): malformed configs must end in a clear
``ConfigError`` naming the field — in the Python API (>= 500 mutations) and through the CLI
(``pyclimaocean validate``: exit code 2, no traceback; 100 mutations).

Mutations start from the bundled example ``column_free_convection.toml`` with every field
spelled out (defaults filled in, a solar-penetration table and a closure parameter added), and
apply one of: wrong type, out-of-range number (from the schema's bounds), NaN/±inf, huge
integer, wrong enum string, unknown key, missing required table/key, table replaced by a
scalar, inconsistent times, or broken TOML text.
"""

from __future__ import annotations

import copy
import math
import tomllib
import typing
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyclimaocean.config import ConfigError, JuliaSection
from pyclimaocean.experiment import _dump_toml, plan_experiment
from pyclimaocean.models.column import config as column_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "column_free_convection.toml"


def _full_config() -> dict:
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["closure"]["c_hi_c"] = 0.098
    raw["physics"] = {"solar_penetration": {"fraction": 0.58, "length_1": 0.35,
                                            "length_2": 23.0}}
    cfg = column_config.ColumnExperiment.model_validate(raw)
    full = cfg.model_dump(exclude_none=True)
    full["closure"].update(cfg.closure.model_extra or {})
    return full


FULL = _full_config()

_SECTIONS = {
    "experiment": column_config.ExperimentSection,
    "grid": column_config.GridSection,
    "forcing": column_config.ForcingSection,
    "initial_conditions": column_config.InitialSection,
    "physics": column_config.PhysicsSection,
    "physics.solar_penetration": column_config.SolarSection,
    "time": column_config.TimeSection,
    "output": column_config.OutputSection,
    "julia": JuliaSection,
}


def _field_info(path: str):
    """(annotation, metadata constraints) of a schema field, or None for closure params."""
    table, _, key = path.rpartition(".")
    if table == "closure" and key != "type":
        return None
    f = {**_SECTIONS, "closure": column_config.ClosureSection}[table].model_fields[key]
    bounds = {}
    for m in f.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(m, attr, None) is not None:
                bounds[attr] = getattr(m, attr)
    return f.annotation, bounds


def _leaves(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else k
        out.extend(_leaves(v, p) if isinstance(v, dict) else [p])
    return out


LEAVES = _leaves(FULL)


def _kind(path: str) -> str:
    info = _field_info(path)
    if info is None:
        return "float"  # closure parameters are numbers
    ann = info[0]
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "enum"
    args = typing.get_args(ann)
    base = args[0] if origin is typing.Annotated else ann
    if origin in (typing.Union, __import__("types").UnionType):
        base = next(a for a in args if a is not type(None))
        if typing.get_origin(base) is typing.Annotated:
            base = typing.get_args(base)[0]
    return {float: "float", int: "int", str: "str", bool: "bool"}[base]


NUMERIC = [p for p in LEAVES if _kind(p) in ("float", "int")]
ENUMS = [p for p in LEAVES if _kind(p) == "enum"]
CLOSURE_SPECS = column_config.CLOSURES["catke"].parameter_specs()


def _out_of_range_values(path: str) -> list[float]:
    table, _, key = path.rpartition(".")
    if table == "closure":
        s = CLOSURE_SPECS[key]
        return [s["lower"] - 1.0 - abs(s["lower"]), s["upper"] * 2 + 1.0]
    vals = []
    _, b = _field_info(path)
    if "ge" in b:
        vals.append(b["ge"] - 1.0 - abs(b["ge"]))
    if "gt" in b:
        vals += [b["gt"], b["gt"] - 1.0 - abs(b["gt"])]
    if "le" in b:
        vals.append(b["le"] * 2 + 1.0 if b["le"] >= 0 else b["le"] + 1.0)
    if "lt" in b:
        vals.append(b["lt"])
    if _kind(path) == "int":
        vals = [int(math.floor(v)) if v < 0 else int(math.ceil(v)) for v in vals]
    return vals


# fields whose huge values are rejected (all bounded ones, plus times and the seed)
HUGE_OK = {"initial_conditions.mixed_layer_depth", "forcing.cycle_period",
           "time.checkpoint_interval"}  # (a checkpoint interval beyond the run: none written)
HUGE = [p for p in NUMERIC if p not in HUGE_OK]


def _set(d: dict, path: str, value) -> dict:
    d = copy.deepcopy(d)
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return d


def _delete(d: dict, path: str) -> dict:
    d = copy.deepcopy(d)
    node = d
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    del node[parts[-1]]
    return d


_names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def mutations(draw):
    """(kind, config dict or TOML text, expected substring of the error message)."""
    kind = draw(st.sampled_from([
        "wrong_type", "out_of_range", "nonfinite", "huge_int", "enum", "unknown_key",
        "missing", "table_scalar", "times", "broken_toml",
    ]))
    if kind == "wrong_type":
        path = draw(st.sampled_from(LEAVES))
        k = _kind(path)
        if k in ("float", "int"):
            bad = draw(st.one_of(
                st.text(alphabet="abcxyz -_", min_size=1, max_size=8),
                st.lists(st.integers(0, 9), min_size=0, max_size=3),
                st.dictionaries(_names, st.integers(0, 9), min_size=1, max_size=2)))
        elif k == "bool":
            bad = draw(st.one_of(st.sampled_from(["maybe", "nope", "2"]),
                                 st.lists(st.booleans(), max_size=2), st.just(3.5)))
        else:  # str or enum
            bad = draw(st.one_of(st.integers(-5, 5), st.floats(allow_nan=False),
                                 st.lists(st.integers(), max_size=2), st.booleans()))
        return kind, _set(FULL, path, bad), path
    if kind == "out_of_range":
        path = draw(st.sampled_from([p for p in NUMERIC if _out_of_range_values(p)]))
        value = draw(st.sampled_from(_out_of_range_values(path)))
        return kind, _set(FULL, path, value), path
    if kind == "nonfinite":
        path = draw(st.sampled_from(NUMERIC))
        return kind, _set(FULL, path, draw(st.sampled_from([math.nan, math.inf, -math.inf]))), path
    if kind == "huge_int":
        path = draw(st.sampled_from(HUGE))
        exponent = draw(st.integers(19, 400))
        sign = draw(st.sampled_from([1, -1]))
        return kind, _set(FULL, path, sign * 10**exponent), path
    if kind == "enum":
        path = draw(st.sampled_from(ENUMS))
        allowed = typing.get_args(_field_info(path)[0])
        bad = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=0, max_size=12)
                   .filter(lambda s: s not in allowed))
        return kind, _set(FULL, path, bad), path
    if kind == "unknown_key":
        tables = ["", *[t for t in ["experiment", "grid", "closure", "forcing",
                                    "initial_conditions", "physics", "time", "output",
                                    "physics.solar_penetration"]]]
        table = draw(st.sampled_from(tables))
        node = FULL
        for p in filter(None, table.split(".")):
            node = node[p]
        key = draw(_names.filter(lambda k: k not in node))
        path = f"{table}.{key}" if table else key
        return kind, _set(FULL, path, draw(st.integers(0, 3))), key
    if kind == "missing":
        path = draw(st.sampled_from(["time", "time.dt", "time.stop_time"]))
        return kind, _delete(FULL, path), path
    if kind == "table_scalar":
        table = draw(st.sampled_from(["experiment", "grid", "closure", "forcing",
                                      "initial_conditions", "physics", "time", "output",
                                      "physics.solar_penetration"]))
        value = draw(st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(),
                                                                              max_size=2)))
        return kind, _set(FULL, table, value), table
    if kind == "times":
        which = draw(st.sampled_from(["stop", "output", "checkpoint", "output_long",
                                      "checkpoint_not_multiple"]))
        dt = FULL["time"]["dt"]
        if which == "stop":
            return kind, _set(FULL, "time.stop_time", dt * draw(st.integers(1, 500)) + dt / 3), \
                "time.stop_time"
        if which == "output":
            return kind, _set(FULL, "time.output_interval", dt * 2.5), "time.output_interval"
        if which == "checkpoint":
            return kind, _set(FULL, "time.checkpoint_interval", dt / 7), "time.checkpoint_interval"
        if which == "output_long":  # a whole number of steps, but not dividing the run
            n = int(FULL["time"]["stop_time"] / dt)
            k = draw(st.sampled_from([n + 1, n * 2, 7 if n % 7 else 11]))
            return kind, _set(FULL, "time.output_interval", dt * k), "time.output_interval"
        # checkpoint interval not a multiple of the output interval
        return kind, _set(_set(FULL, "time.output_interval", dt * 4), "time.checkpoint_interval",
                          dt * 6), "time.checkpoint_interval"
    # broken TOML text
    text = _dump_toml(FULL)
    lines = text.splitlines()
    how = draw(st.sampled_from(["dup_table", "no_value", "quote", "brackets", "bare_eq",
                                "not_utf8", "dup_key"]))
    i = draw(st.integers(0, len(lines)))
    if how == "dup_table":
        lines.append("[grid]")
        lines.append("nz = 8")
    elif how == "no_value":
        lines.insert(i, "x_broken = ")
    elif how == "quote":
        lines.insert(i, 'y_broken = "unterminated')
    elif how == "brackets":
        lines.insert(i, "[[[")
    elif how == "bare_eq":
        lines.insert(i, "= 3")
    elif how == "dup_key":
        lines.append('name = "a"')
        lines.append('name = "b"')
    text = "\n".join(lines)
    if how == "not_utf8":
        return kind, text.encode()[: i * 3] + b"\xff\xfe\x00" + text.encode()[i * 3:], "UTF-8"
    return kind, text, "TOML"


def _write(tmp: Path, payload) -> Path:
    path = tmp / "mutated.toml"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    elif isinstance(payload, str):
        path.write_text(payload)
    else:
        path.write_text(_dump_toml(payload))
    return path


def _check_message(msg: str, expected: str) -> None:
    assert expected in msg, f"error does not name {expected!r}:\n{msg}"
    if expected == "TOML":
        assert "(at line" in msg or "end of document" in msg, msg  # where it broke


def test_fuzz_configs_end_in_config_error(tmp_path):
    """>= 500 malformed configs -> 100 % ConfigError naming the field (API level)."""
    counts: Counter = Counter()
    seen = set()

    @settings(max_examples=520, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutations())
    def check(m):
        kind, payload, expected = m
        counts[kind] += 1
        seen.add(repr(payload))
        if isinstance(payload, dict):
            # both entry points: the in-memory dict and the TOML file
            with pytest.raises(ConfigError) as info:
                plan_experiment(payload)
            _check_message(str(info.value), expected)
        path = _write(tmp_path, payload)
        with pytest.raises(ConfigError) as info:
            plan_experiment(path)
        _check_message(str(info.value), expected)

    check()
    total = sum(counts.values())
    print(f"\nfuzzed {total} malformed configs ({len(seen)} distinct): {dict(counts)}")
    assert total >= 500
    assert len(seen) >= 450
    assert set(counts) >= {"wrong_type", "out_of_range", "nonfinite", "huge_int", "enum",
                           "unknown_key", "missing", "broken_toml"}


def test_fuzz_cli_validate_exit_code_2(tmp_path):
    """100 malformed configs through the CLI: exit code 2, message, no traceback."""
    from typer.testing import CliRunner

    from pyclimaocean.cli import app

    runner = CliRunner()
    n = [0]

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutations())
    def check(m):
        kind, payload, expected = m
        path = _write(tmp_path, payload)
        res = runner.invoke(app, ["validate", str(path)])
        out = res.output
        assert res.exit_code == 2, (kind, res.exit_code, out, res.exception)
        assert "Traceback" not in out
        assert "error" in out and expected.split(".")[-1] in out.replace("\n", "")
        n[0] += 1

    check()
    print(f"\nCLI fuzz: {n[0]} malformed configs, all exit code 2")
    assert n[0] >= 100


def test_valid_example_still_validates():
    plan = plan_experiment(_write_tmp_full())
    assert plan.n_steps == int(FULL["time"]["stop_time"] / FULL["time"]["dt"])


def _write_tmp_full() -> dict:
    return copy.deepcopy(FULL)


_toml_scalars = st.one_of(
    st.text(max_size=12), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
)
_toml_tables = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=6), _toml_scalars, max_size=4),
    lambda children: st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, database=None)
@given(_toml_tables)
def test_config_copy_round_trips(d):
    """The config.toml written into experiment directories reads back as the same dict."""
    assert tomllib.loads(_dump_toml(d)) == d
