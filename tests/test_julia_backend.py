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

import equinox as eqx
import numpy as np
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


JULIAPKG_JSON = ROOT / "pyclimaocean" / "juliapkg.json"


def test_juliapkg_json_is_valid_and_matches_the_julia_project():
    data = json.loads(JULIAPKG_JSON.read_text())
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
    # juliapkg resolves "path" relative to the directory of the juliapkg.json file
    assert (JULIAPKG_JSON.parent / bridge["path"] / "Project.toml").is_file()
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


class _BuggyJuliacallFinder(_FailingJuliacallFinder):
    def exec_module(self, module):
        raise ZeroDivisionError("a bug, not a missing Julia")


def test_unexpected_import_errors_are_not_disguised_as_missing_julia(monkeypatch):
    monkeypatch.setattr(jb, "_STATE", {})
    monkeypatch.delitem(sys.modules, "juliacall", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BuggyJuliacallFinder(), *sys.meta_path])
    with pytest.raises(ZeroDivisionError):
        jb.load_julia()


def test_architecture_and_precision_are_validated_before_julia_starts(monkeypatch):
    monkeypatch.setattr(jb, "_STATE", {})
    with pytest.raises(ValueError, match="architecture 'TPU' is not supported.*CPU, GPU"):
        jb.load_julia("TPU")
    assert "Main" not in jb._STATE
    with pytest.raises(ValueError, match="precision 'float16' is not supported.*float64, float32"):
        jb.check_architecture_and_precision("CPU", "float16")
    assert jb.julia_options({"julia": {"architecture": "GPU"}}) == {
        "architecture": "GPU",
        "precision": "float64",
    }
    assert jb.julia_options(object()) == {"architecture": "CPU", "precision": "float64"}


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
    assert (model.architecture, model.precision) == ("CPU", "float64")
    model32 = backend.build(spec, precision="float32")
    assert model32.precision == "float32" and jb.PRECISIONS[model32.precision] == "Float32"
    assert backend.build(model32, architecture="GPU").architecture == "GPU"
    with pytest.raises(ValueError, match="architecture 'TPU'"):
        backend.build(spec, architecture="TPU")
    with pytest.raises(ValueError, match="CPU only"):
        backend.column_function(backend.build(spec, architecture="GPU"), 2)


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


# -- packaging: juliapkg.json ships inside the Python package -------------------------------


def test_juliapkg_json_ships_in_the_package_with_the_bridge():
    assert jb.JULIAPKG_JSON == JULIAPKG_JSON and JULIAPKG_JSON.is_file()
    assert not (ROOT / "juliapkg.json").exists(), (
        "a second juliapkg.json at the repository root declares PyClimaOceanBridge with another "
        "path; juliapkg then fails with \"'path' entries are not unique\""
    )
    link = ROOT / "pyclimaocean" / "julia_ext"
    assert link.is_symlink() and link.resolve() == JULIA_EXT.resolve()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["pyclimaocean"]
    assert {"juliapkg.json", "julia_ext/Project.toml", "julia_ext/src/*.jl"} <= set(data)


def test_juliacall_floor_and_julia_compat_bounds():
    """PythonCall >= 0.9.28 (NumericalEarth 0.6.2, the one resolvable with SpeedyWeather 0.22)
    and juliacall pins PythonCall to its own version; NumericalEarth 0.6.2 needs Oceananigans
    0.110.15."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    julia_extra = pyproject["project"]["optional-dependencies"]["julia"]
    assert "juliacall>=0.9.28" in julia_extra
    packages = json.loads(JULIAPKG_JSON.read_text())["packages"]
    assert packages["Oceananigans"]["version"] == "0.110.15"
    assert packages["SpeedyWeather"]["version"] == "0.22"


def _without_editable_finders(monkeypatch, path_entries):
    monkeypatch.setattr(sys, "path", [str(p) for p in path_entries])
    monkeypatch.setattr(
        sys,
        "meta_path",
        [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")],
    )


def _bridge_requirement(juliapkg_deps):
    _, deps = juliapkg_deps.find_requirements()
    (bridge,) = [d for d in deps if d.name == "PyClimaOceanBridge"]
    return bridge


def test_juliapkg_finds_the_bridge_from_this_checkout():
    deps = pytest.importorskip("juliapkg.deps", reason="juliapkg (the [julia] extra) not installed")
    files = [pathlib.Path(f) for f in deps.deps_files()]
    ours = [f for f in files if f.resolve() == JULIAPKG_JSON.resolve()]
    assert ours, f"juliapkg does not see {JULIAPKG_JSON}; it found {files}"
    bridge = _bridge_requirement(deps)
    assert bridge.dev and pathlib.Path(bridge.path, "Project.toml").is_file()


@pytest.mark.slow
def test_installed_wheel_contains_juliapkg_json_and_the_bridge(tmp_path, monkeypatch):
    """Build a (non-editable) wheel from a copy of the sources, install it into a folder and
    check that it holds juliapkg.json and the Julia package it points to, and that juliapkg
    finds both with only that folder on sys.path."""
    import shutil
    import subprocess
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyclimaocean", "examples", "julia_ext"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if build.returncode != 0 and (
        "Could not find a version" in build.stderr or "NewConnectionError" in build.stderr
    ):
        pytest.skip(f"cannot fetch the build backend (offline): {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = dist.glob("pyclimaocean-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pyclimaocean/juliapkg.json" in names
    assert "pyclimaocean/julia_ext/Project.toml" in names
    for path in (JULIA_EXT / "src").glob("*.jl"):
        assert f"pyclimaocean/julia_ext/src/{path.name}" in names

    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    shipped = site / "pyclimaocean" / "juliapkg.json"
    assert json.loads(shipped.read_text()) == json.loads(JULIAPKG_JSON.read_text())
    project = site / "pyclimaocean" / "julia_ext" / "Project.toml"
    assert tomllib.loads(project.read_text())["name"] == "PyClimaOceanBridge"

    deps = pytest.importorskip("juliapkg.deps", reason="juliapkg (the [julia] extra) not installed")
    _without_editable_finders(monkeypatch, [site])
    found = [pathlib.Path(f).resolve() for f in deps.deps_files()]
    assert shipped.resolve() in found
    bridge = _bridge_requirement(deps)
    assert pathlib.Path(bridge.path).resolve() == project.parent.resolve()


# -- the model contract ----------------------------------------------------------------------


def test_julia_column_implements_the_model_contract(column_setups, monkeypatch):
    import jax
    import jax.numpy as jnp

    from pyclimaocean.core.model import AbstractModel

    assert issubclass(jb.JuliaColumnModel, AbstractModel)
    spec = column_setups.free_convection(nz=8, depth=32.0, heat_flux=-100.0)
    model = jb.JuliaBackend(load=False).build(spec, precision="float32")
    assert isinstance(model, AbstractModel) and model.name == "column"
    # same metadata and parameters as the JAX column, no Julia needed for any of it
    assert [v.name for v in model.variables()] == [v.name for v in spec.variables()]
    assert [c.name for c in model.coordinates()] == [c.name for c in spec.coordinates()]
    assert model.parameters().names == spec.parameters().names
    assert model.spec.parameters().names == spec.parameters().names
    state = model.initial_state()
    assert jnp.allclose(state.temperature, spec.initial_state().temperature)
    # θ is a differentiable function of the closure's leaves, in the Julia table order
    theta = model.theta()
    assert theta.shape == (31,)
    i = jb._CATKE_INDEX["c_conv_c"]
    dtheta = jax.grad(lambda m: m.theta()[i])(model)
    assert float(dtheta.closure.c_conv_c) == 1.0
    # parameters apply to the Julia model like to the JAX one
    moved = model.parameters(["closure.c_conv_c"]).with_values(jnp.array([5.0])).apply(model)
    assert isinstance(moved, jb.JuliaColumnModel) and float(moved.closure.c_conv_c) == 5.0
    assert moved.precision == "float32"
    with pytest.raises(ValueError, match="save_every"):
        model.run(state, 4, save_every=3)


def test_julia_column_run_without_julia_names_juliacall(column_setups, monkeypatch):
    if importlib.util.find_spec("juliacall") is not None:
        pytest.skip("juliacall is installed: running would start (or download) Julia")
    monkeypatch.setattr(jb, "_STATE", {})
    model = jb.JuliaBackend(load=False).build(column_setups.free_convection(nz=8, depth=32.0))
    for call in (
        lambda: model.run(None, 2, save_every=1),
        lambda: model.step(model.initial_state()),
    ):
        with pytest.raises(BackendUnavailableError, match="juliacall is not installed"):
            call()


# -- calibration of the Julia column ------------------------------------------------------------

EXAMPLE_CALIBRATION = ROOT / "examples" / "column_calibrate.toml"
#: the bundled calibration twin on the Julia backend, with a gradient-free method (CATKE)
JULIA_CALIBRATE_SETS = ["experiment.backend=julia", "calibration.method=eki", "grid.nz=8",
                        "time.stop_time=43200", "calibration.max_iterations=2"]


def test_calibrate_accepts_a_julia_column_config_and_names_juliacall(tmp_path, monkeypatch):
    if jb.julia_available()[0]:
        pytest.skip("Julia is available here")
    if importlib.util.find_spec("juliacall") is not None:
        pytest.skip("juliacall is installed: importing it would try to download Julia")
    from typer.testing import CliRunner

    from pyclimaocean.calibration.experiment import load_calibration
    from pyclimaocean.cli import app
    from pyclimaocean.cli_common import EXIT_BACKEND

    monkeypatch.setattr(jb, "_STATE", {})
    cfg, _ = load_calibration(EXAMPLE_CALIBRATION, JULIA_CALIBRATE_SETS)  # the config validates
    assert cfg.experiment.backend == "julia" and cfg.calibration.method == "eki"
    args = ["calibrate", str(EXAMPLE_CALIBRATION), "-o", str(tmp_path / "out"), "--no-progress"]
    for s in JULIA_CALIBRATE_SETS:
        args += ["--set", s]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "1000"})
    assert res.exit_code == EXIT_BACKEND, res.output
    assert "Julia is not available: the Python package juliacall is not installed" in res.output
    assert 'pip install "pyclimaocean[julia]"' in res.output  # brackets survive
    assert "Traceback" not in res.output
    assert "experiment.backend = 'jax'" not in res.output  # the old refusal is gone


def test_gradient_calibration_of_the_julia_catke_column_is_refused_before_julia_runs(monkeypatch):
    """CATKE has no adjoint on the Julia side: a gradient method is a config error naming the
    gradient-free methods; the Julia constant-diffusivity column has Enzyme gradients."""
    from pyclimaocean.calibration.experiment import build_calibration, load_calibration
    from pyclimaocean.config import ConfigError

    started = []
    monkeypatch.setattr(jb, "load_julia", lambda *a, **k: started.append(a) or object())
    cfg, raw = load_calibration(EXAMPLE_CALIBRATION, ["experiment.backend=julia", "grid.nz=8"])
    with pytest.raises(ConfigError) as info:
        build_calibration(cfg, raw, "column_calibrate.toml")
    msg = str(info.value)
    assert "calibration.method = 'scipy_lbfgsb' needs adjoint gradients" in msg
    assert "CATKEVerticalDiffusivity" in msg and "'eki' or 'uki'" in msg
    spec = pytest.importorskip("pyclimaocean.models.column.setups").free_convection(nz=8)
    backend = jb.JuliaBackend(load=False)
    assert "CATKE" in backend.build(spec).gradient_limitation()
    simple = pytest.importorskip("pyclimaocean.closures.simple")
    constant = eqx.tree_at(lambda m: m.closure, spec, simple.ConstantDiffusivity())
    assert backend.build(constant).gradient_limitation() is None
    assert "CPU only" in backend.build(constant, architecture="GPU").gradient_limitation()


JULIA_CONSTANT_TWIN = """
[experiment]
name = "julia_constant_twin"
model = "column"
backend = "julia"
seed = 0

[grid]
nz = 8
depth = 32.0

[closure]
type = "constant"
viscosity = 1e-3            # m2 s-1 (the truth of the twin)
diffusivity = 1e-3

[forcing]
heat_flux = -100.0
wind_stress_x = 0.1

[physics]
coriolis_parameter = 1e-4

[initial_conditions]
temperature_gradient = 0.01

[time]
dt = 600.0
stop_time = 21600.0
output_interval = 7200.0

[calibration]
method = "scipy_lbfgsb"
max_iterations = 60

[calibration.observations]
source = "synthetic"
variables = ["T", "u", "v"]
error_std = { T = 1e-4, u = 1e-4, v = 1e-4 }
seed = 0

[calibration.parameters.viscosity]
initial_factor = 1.5

[calibration.parameters.diffusivity]
initial_factor = 0.7
"""


class _NoJuliaError(Exception):
    """Stands in for ``juliacall.JuliaError``: never raised here."""


class _JaxStandInBridge:
    """Stands in for ``PyClimaOceanBridge`` with the JAX column (``run_column``,
    ``column_vjp``; the setup is the Python spec), so that the *Python half* of the Julia path
    runs here: registry build -> calibration -> ``JuliaColumnModel.run`` -> ``wrap_external``
    (``pure_callback`` + ``custom_vjp``) -> the bridge's run and adjoint.  It checks that
    plumbing only; nothing of Oceananigans or Enzyme runs (that is ``test_julia_conformance``,
    marker ``julia``)."""

    def __init__(self):
        self.calls = {"run_column": 0, "column_vjp": 0}
        self._run = eqx.filter_jit(self._columns)
        self._vjp = eqx.filter_jit(self._adjoint)

    @staticmethod
    def _columns(spec, theta, profiles, n_steps, every):
        model = eqx.tree_at(lambda m: (m.closure.viscosity, m.closure.diffusivity), spec,
                            (theta[0], theta[1]))
        state = eqx.tree_at(lambda s: (s.temperature, s.salinity, s.u, s.v, s.tke),
                            spec.initial_state(), tuple(profiles))
        _, out = model.run(state, n_steps, save_every=every)
        return tuple(getattr(out, a) for a in jb._PROFILES)

    def _adjoint(self, spec, theta, profiles, cotangents, n_steps, every):
        import jax

        _, pullback = jax.vjp(lambda th, p: self._columns(spec, th, p, n_steps, every), theta, profiles)
        g_theta, g_profiles = pullback(tuple(cotangents))
        return (g_theta, *g_profiles)

    def run_column(self, setup, kind, theta, T, S, u, v, e, n_steps, every):
        assert kind == "constant"
        self.calls["run_column"] += 1
        out = self._run(setup, np.asarray(theta), (T, S, u, v, e), n_steps, every)
        return dict(zip("TSuve", (np.asarray(a) for a in out), strict=True))

    def column_vjp(self, setup, kind, theta, T, S, u, v, e, cT, cS, cu, cv, ce, n_steps, every):
        self.calls["column_vjp"] += 1
        g = self._vjp(setup, np.asarray(theta), (T, S, u, v, e), (cT, cS, cu, cv, ce), n_steps, every)
        return dict(zip(("θ", "T", "S", "u", "v", "e"), (np.asarray(a) for a in g), strict=True))


class _Attributes(dict):
    __getattr__ = dict.__getitem__


@pytest.mark.slow  # 59 s measured (22 s of CPU on the shared 2-core machine)
def test_julia_column_calibrates_through_the_external_function_path(tmp_path, monkeypatch):
    """With the JAX column standing in for the Julia bridge, the Julia-backend calibration
    problem has the JAX backend's loss and gradient (same pure_callback + custom_vjp path as
    any external model), and ``pyclimaocean calibrate`` recovers ν and κ of the twin."""
    import jax
    from typer.testing import CliRunner

    from pyclimaocean.calibration.experiment import build_calibration, load_calibration
    from pyclimaocean.cli import app

    bridge = _JaxStandInBridge()

    def run_column(*args):
        return _Attributes(bridge.run_column(*args))

    def column_vjp(*args):
        return _Attributes(bridge.column_vjp(*args))

    stand_in = _Attributes(run_column=run_column, column_vjp=column_vjp)
    monkeypatch.setattr(jb, "_STATE", {"juliacall": _Attributes(JuliaError=_NoJuliaError)})
    monkeypatch.setattr(jb, "load_julia", lambda *a, **k: _Attributes(PyClimaOceanBridge=stand_in))
    simple = pytest.importorskip("pyclimaocean.closures.simple")
    # the setup holds no closure values (θ carries them), as PyClimaOceanBridge.column_setup
    monkeypatch.setattr(jb.JuliaBackend, "_setup", lambda self, model: eqx.tree_at(
        lambda m: m.closure, model.spec, simple.ConstantDiffusivity(viscosity=0.0, diffusivity=0.0)))
    path = tmp_path / "julia_constant_twin.toml"
    path.write_text(JULIA_CONSTANT_TWIN)

    problems = {}
    for backend in ("julia", "jax"):
        cfg, raw = load_calibration(path, [f"experiment.backend={backend}"])
        problems[backend] = build_calibration(cfg, raw, str(path)).problem
    assert type(problems["julia"].cases[0].model).__name__ == "JuliaColumnModel"
    u = problems["jax"].u0
    loss_jl, grad_jl = jax.value_and_grad(problems["julia"].loss)(u)
    loss_jax, grad_jax = jax.value_and_grad(problems["jax"].loss)(u)
    assert bridge.calls["column_vjp"] >= 1
    assert float(loss_jl) == pytest.approx(float(loss_jax), rel=1e-12)
    np.testing.assert_allclose(np.asarray(grad_jl), np.asarray(grad_jax), rtol=1e-9, atol=0)

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["calibrate", str(path), "-o", str(out), "--no-progress"],
                             env={"COLUMNS": "1000"})
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    for name, err in summary["relative_error"].items():
        assert abs(err) < 0.02, (name, err)
    assert (out / "profiles_julia_constant_twin.png").stat().st_size > 0
