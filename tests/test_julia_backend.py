"""Julia backend checks that need no Julia: sources parse, packaging metadata is consistent,
the parameter tables agree across languages, and a missing Julia gives the clear error.

The comparisons that need a working Julia are in ``test_julia_conformance.py`` (marker
``julia``; skipped here with a one-line reason when Julia is absent).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import pathlib
import re
import sys
import tomllib
import urllib.error
import uuid

import pytest
import tree_sitter
import tree_sitter_julia

from pyclimaocean.backends import julia as jb
from pyclimaocean.backends.base import BackendUnavailableError, get_backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
JULIA_EXT = ROOT / "julia_ext"
JL_FILES = sorted(JULIA_EXT.rglob("*.jl"))
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_julia.language()))


def _parse(path):
    src = path.read_bytes()
    return src, PARSER.parse(src)


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(src, node) -> str:
    return src[node.start_byte : node.end_byte].decode()


def _first_identifier(src, node):
    for n in _walk(node):
        if n.type == "identifier":
            return _text(src, n)
    return None


def _definitions(src, tree) -> set[str]:
    """Names defined by function/struct definitions and assignments (incl. short functions)."""
    names = set()
    for n in _walk(tree.root_node):
        if n.type == "function_definition":
            sig = next((c for c in n.children if c.type == "signature"), None)
            if sig is not None:
                names.add(_first_identifier(src, sig))
        elif n.type in ("struct_definition", "abstract_definition"):
            head = next((c for c in n.children if c.type == "type_head"), None)
            if head is not None:
                names.add(_first_identifier(src, head))
        elif n.type == "assignment":
            names.add(_first_identifier(src, n.children[0]))
    names.discard(None)
    return names


def _exports(src, tree) -> list[str]:
    out = []
    for n in _walk(tree.root_node):
        if n.type == "export_statement":
            out += [_text(src, c) for c in n.children if c.type == "identifier"]
    return out


@pytest.mark.parametrize("path", JL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_julia_sources_parse_without_errors(path):
    src, tree = _parse(path)
    bad = [
        (n.start_point, _text(src, n)[:60])
        for n in _walk(tree.root_node)
        if n.type == "ERROR" or n.is_missing
    ]
    assert not tree.root_node.has_error and not bad, f"syntax errors in {path.name}: {bad}"


def test_exported_symbols_are_defined_and_exercised_by_runtests():
    main_src, main_tree = _parse(JULIA_EXT / "src" / "PyClimaOceanBridge.jl")
    # the module includes existing files only
    includes = re.findall(r'include\("([^"]+)"\)', main_src.decode())
    assert includes, "PyClimaOceanBridge.jl includes no files"
    for inc in includes:
        assert (JULIA_EXT / "src" / inc).is_file(), f"included file {inc} does not exist"
    defined = set()
    for path in (JULIA_EXT / "src").glob("*.jl"):
        defined |= _definitions(*_parse(path))
    exported = _exports(main_src, main_tree)
    assert len(exported) >= 20
    missing = [name for name in exported if name not in defined]
    assert not missing, f"exported but never defined: {missing}"
    # runtests.jl uses every exported name
    test_src, test_tree = _parse(JULIA_EXT / "test" / "runtests.jl")
    used = {_text(test_src, n) for n in _walk(test_tree.root_node) if n.type == "identifier"}
    unused = [name for name in exported if name not in used]
    assert not unused, f"exported names not exercised by runtests.jl: {unused}"


def test_definition_finder_is_not_vacuous():
    src = b"module M\nexport f, g\nf(x) = x\nend\n"
    tree = PARSER.parse(src)
    assert _exports(src, tree) == ["f", "g"]
    assert "g" not in _definitions(src, tree) and "f" in _definitions(src, tree)


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_juliapkg_json_is_valid_and_matches_the_julia_project():
    data = json.loads((ROOT / "juliapkg.json").read_text())
    assert set(data) == {"julia", "packages"}
    assert data["julia"] == "1.10"
    project = tomllib.loads((JULIA_EXT / "Project.toml").read_text())
    pkgs = data["packages"]
    for required in ("Oceananigans", "ClimaOcean", "SpeedyWeather", "Enzyme", "PyClimaOceanBridge"):
        assert required in pkgs, f"{required} missing from juliapkg.json"
    for name, spec in pkgs.items():
        assert UUID_RE.match(spec["uuid"]), f"{name}: malformed uuid {spec['uuid']!r}"
        assert set(spec) <= {"uuid", "version", "dev", "path", "url", "rev", "subdir"}
        if name != "PyClimaOceanBridge":
            assert re.match(r"^\d+\.\d+(\.\d+)?$", spec["version"]), spec
            # same package, same uuid, and the version satisfies the Project's [compat]
            assert project["deps"][name] == spec["uuid"]
            assert project["compat"][name] == spec["version"]
    bridge = pkgs["PyClimaOceanBridge"]
    assert bridge["dev"] is True
    assert (ROOT / bridge["path"] / "Project.toml").is_file()
    assert bridge["uuid"] == project["uuid"]
    assert uuid.UUID(project["uuid"]).version == 4
    assert project["name"] == "PyClimaOceanBridge"
    assert project["compat"]["julia"] == "1.10"


def _julia_parameter_table():
    """Rows ``(name = ..., component = ..., symbol = ..., default = ...)`` of CATKE_PARAMETERS."""
    src, tree = _parse(JULIA_EXT / "src" / "catke_parameters.jl")
    rows = []
    for n in _walk(tree.root_node):
        if n.type != "tuple_expression":
            continue
        fields = {
            _text(src, c.children[0]): _text(src, c.children[-1])
            for c in n.children
            if c.type == "named_field"
        }
        if {"name", "component", "symbol", "default"} <= set(fields):
            rows.append(fields)
    return rows


def test_parameter_table_matches_the_julia_package():
    rows = _julia_parameter_table()
    assert len(rows) == len(jb.CATKE_PARAMETER_TABLE) == 31
    for row, (py_name, oc_name, component) in zip(rows, jb.CATKE_PARAMETER_TABLE, strict=True):
        assert row["name"] == f'"{py_name}"'
        assert row["symbol"] == f":{oc_name}"
        assert row["component"] == f":{component}"
        assert float(row["default"]) == jb.CATKE_DEFAULTS[py_name]


def test_parameter_table_matches_oceananigans_field_names_and_defaults():
    """Values from REFERENCES.md (Oceananigans CATKEMixingLength / CATKEEquation defaults)."""
    names = dict((p, o) for p, o, _ in jb.CATKE_PARAMETER_TABLE)
    assert (
        names["c_hi_u"] == "Cʰⁱu" and names["c_conv_c"] == "Cᶜc" and names["c_wind_ustar"] == "Cᵂu★"
    )
    d = jb.CATKE_DEFAULTS
    assert (d["c_hi_u"], d["c_lo_u"], d["c_un_u"], d["c_conv_u"], d["c_pen_u"]) == (
        0.242,
        0.361,
        0.370,
        3.705,
        0.0,
    )
    assert (d["c_hi_c"], d["c_lo_c"], d["c_un_c"], d["c_conv_c"], d["c_pen_c"]) == (
        0.098,
        0.369,
        0.572,
        4.793,
        0.112,
    )
    assert (d["c_hi_e"], d["c_lo_e"], d["c_un_e"], d["c_conv_e"], d["c_pen_e"]) == (
        0.548,
        7.863,
        1.447,
        3.642,
        0.0,
    )
    assert (d["c_hi_d"], d["c_lo_d"], d["c_un_d"], d["c_conv_d"], d["c_pen_d"]) == (
        0.579,
        1.604,
        0.923,
        3.254,
        0.0,
    )
    assert (
        d["c_surface"],
        d["c_bottom"],
        d["c_shear_convection"],
        d["c_ri_width"],
        d["c_ri_threshold"],
    ) == (1.131, 0.28, 0.505, 1.02, 0.254)
    assert (d["c_wind_ustar"], d["c_wind_wdelta"], d["c_bottom_eps"], d["minimum_tke"]) == (
        3.179,
        0.383,
        1.0,
        1e-9,
    )


def test_parameter_table_agrees_with_the_jax_closure():
    catke = pytest.importorskip("pyclimaocean.closures.catke")
    table = {p: o for p, o, _ in jb.CATKE_PARAMETER_TABLE}
    for name, oc in getattr(catke, "OCEANANIGANS_NAMES", {}).items():
        assert table[name] == oc, name
    for name, value in catke.CATKE_DEFAULTS.items():
        assert jb.CATKE_DEFAULTS[name] == value, name
    # every calibratable JAX parameter has a Julia counterpart
    specs = catke.CATKELike.parameter_specs()
    assert set(specs) <= set(table), set(specs) - set(table)


# -- missing Julia -------------------------------------------------------------------------


def test_julia_available_reports_why_without_importing_juliacall(monkeypatch):
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    ok, reason = jb.julia_available()
    if ok:
        pytest.skip(f"Julia is available here ({reason})")
    assert "juliacall" in reason or "Julia executable" in reason
    assert "juliacall" not in sys.modules or jb._STATE.get("juliacall") is not None


def test_choosing_backend_julia_without_julia_raises_clear_error(monkeypatch):
    if jb.julia_available()[0]:
        pytest.skip("Julia is available here")
    monkeypatch.setattr(jb, "_STATE", {})
    if "juliacall" in sys.modules:
        pytest.skip("juliacall already imported")
    if importlib.util.find_spec("juliacall") is not None:
        pytest.skip("juliacall is installed: importing it would try to download Julia")
    with pytest.raises(BackendUnavailableError) as info:
        get_backend("julia")
    msg = str(info.value)
    assert "juliacall is not installed" in msg
    assert 'pip install "pyclimaocean[julia]"' in msg
    assert "Julia >= 1.10" in msg and "PYTHON_JULIAPKG_EXE" in msg


class _FailingJuliacallFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import juliacall`` fail as it does offline (URLError while fetching Julia)."""

    def find_spec(self, name, path=None, target=None):
        if name == "juliacall":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def test_import_failure_becomes_backend_unavailable(monkeypatch):
    monkeypatch.setattr(jb, "_STATE", {})
    monkeypatch.delitem(sys.modules, "juliacall", raising=False)
    finder = _FailingJuliacallFinder()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    with pytest.raises(BackendUnavailableError) as info:
        jb.JuliaBackend()
    msg = str(info.value)
    assert "importing juliacall failed with URLError" in msg
    assert "PYTHON_JULIAPKG_EXE" in msg and 'pip install "pyclimaocean[julia]"' in msg
    assert isinstance(info.value.__cause__, urllib.error.URLError)
    assert str(ROOT) not in sys.path[-1:]  # the temporary sys.path entry was removed


# -- building without Julia (the Python description of the experiment) --------------------


@pytest.fixture(scope="module")
def column_setups():
    return pytest.importorskip("pyclimaocean.models.column.setups")


def test_build_and_setup_translation_without_julia(column_setups):
    backend = jb.JuliaBackend(load=False)
    spec = column_setups.free_convection(nz=8, depth=32.0, heat_flux=-100.0)
    model = backend.build(spec)
    assert model.closure_kind == "catke"
    kw = jb.column_setup_kwargs(spec)
    rho_cp = spec.reference_density * spec.heat_capacity
    assert kw["temperature_flux"] == pytest.approx(100.0 / rho_cp)  # upward flux: cooling > 0
    assert kw["dt"] == spec.dt and kw["u_flux"] == 0.0
    theta = jb.closure_parameter_vector(spec.closure)
    assert theta.shape == (31,)
    assert theta[jb._CATKE_INDEX["c_hi_u"]] == pytest.approx(float(spec.closure.c_hi_u))
    assert theta[jb._CATKE_INDEX["c_bottom_eps"]] == 1.0  # Oceananigans default, not in JAX
    assert backend.parameters(model).names == spec.default_parameters().names


def test_build_rejects_unsupported_settings(column_setups):
    backend = jb.JuliaBackend(load=False)
    simple = pytest.importorskip("pyclimaocean.closures.simple")
    spec = column_setups.free_convection(nz=8, depth=32.0, closure=simple.RichardsonNumberClosure())
    with pytest.raises(
        ValueError, match="closure RichardsonNumberClosure is not supported by the Julia backend"
    ):
        backend.build(spec)
    with pytest.raises(ValueError, match="unsupported settings"):
        backend.build(column_setups.diurnal_cycle(nz=8))
    with pytest.raises(TypeError, match="cannot build a dict"):
        backend.build({"grid": {}})
    with pytest.raises(ValueError, match="closure.c_typo"):
        jb._parameter_index("catke", "closure.c_typo")
