"""Static checks of the Julia bridge against upstream signatures, without Julia.

Julia cannot run on the development machines, so the bridge (``julia_ext/src/*.jl``) was once
shipped with calls that every Julia run would reject (CATKE's ``:e`` named as a tracer, a
closure assigned to ``model.closure`` without ``with_tracers``, grids smaller than their halo,
catch-all ``catch`` blocks that made those failures look like Enzyme's known limitation).
These tests parse the Julia sources with tree-sitter-julia and compare them with a small
table of upstream signatures, each row naming the upstream file and version it was read
from.  When an upstream version bump changes a signature, update the row (and its version).

Rules checked:

1. every keyword argument passed to a function in :data:`UPSTREAM_KEYWORDS` is one that
   upstream accepts (functions that forward ``kw...`` are checked for their named keywords
   only when they are not open);
2. no ``tracers = ...`` keyword names a tracer that a closure adds itself
   (:data:`CLOSURE_REQUIRED_TRACERS`);
3. every assignment to ``model.closure`` goes through ``with_tracers`` (the model stores
   per-tracer diffusivities, so a bare closure has the wrong type);
4. grids built with a literal/constant halo are only built with ``Nx, Ny >= halo``: in the
   function's defaults, in ``runtests.jl`` and in the Python conformance tests
   (Oceananigans requires ``halo <= size`` in x and y);
5. ``catch`` blocks in the Julia tests rethrow what they do not expect, and the Python Julia
   tests never catch ``Exception`` wholesale.

Each rule has a test that feeds it the old, broken code and checks that it is flagged.
"""

from __future__ import annotations

import ast
import pathlib
import tomllib

import pytest
import tree_sitter
import tree_sitter_julia

ROOT = pathlib.Path(__file__).resolve().parents[1]
JULIA_SRC = sorted((ROOT / "julia_ext" / "src").glob("*.jl"))
RUNTESTS = ROOT / "julia_ext" / "test" / "runtests.jl"
PY_JULIA_TESTS = [
    ROOT / "tests" / "test_julia_conformance.py",
    ROOT / "tests" / "test_julia_backend.py",
    ROOT / "tests" / "test_julia_basin.py",
]
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_julia.language()))

OCEANANIGANS = "Oceananigans 0.110.19"
NUMERICAL_EARTH = "NumericalEarth 0.6.2 (re-exported by ClimaOcean 0.10.0)"
SPEEDY = "SpeedyWeather 0.22.1"

_SCALAR_DIFFUSIVITY = (
    frozenset({"ν", "κ", "discrete_form", "loc", "parameters", "required_halo_size"}),
    f"{OCEANANIGANS} src/TurbulenceClosures/turbulence_closure_implementations/scalar_diffusivity.jl",
    False,
)

#: callee -> (accepted keyword names, upstream source, open: forwards other keywords)
UPSTREAM_KEYWORDS: dict[str, tuple[frozenset[str], str, bool]] = {
    "HydrostaticFreeSurfaceModel": (
        frozenset(
            "clock momentum_advection tracer_advection buoyancy coriolis free_surface tracers "
            "forcing closure timestepper boundary_conditions particles biogeochemistry "
            "velocities pressure closure_fields auxiliary_fields vertical_coordinate".split()
        ),
        f"{OCEANANIGANS} src/Models/HydrostaticFreeSurfaceModels/hydrostatic_free_surface_model.jl",
        False,
    ),
    "RectilinearGrid": (
        frozenset("size x y z halo extent topology".split()),
        f"{OCEANANIGANS} src/Grids/rectilinear_grid.jl",
        False,
    ),
    "LatitudeLongitudeGrid": (
        frozenset("size longitude latitude z radius topology precompute_metrics halo".split()),
        f"{OCEANANIGANS} src/Grids/latitude_longitude_grid.jl",
        False,
    ),
    "CATKEVerticalDiffusivity": (
        frozenset(
            "mixing_length turbulent_kinetic_energy_equation maximum_tracer_diffusivity "
            "maximum_tke_diffusivity maximum_viscosity minimum_tke "
            "minimum_convective_buoyancy_flux negative_tke_damping_time_scale tke_time_step".split()
        ),
        f"{OCEANANIGANS} src/TurbulenceClosures/turbulence_closure_implementations/"
        "TKEBasedVerticalDiffusivities/catke_vertical_diffusivity.jl",
        False,
    ),
    "CATKEMixingLength": (
        frozenset(
            "Cˢ Cᵇ Cˢᵖ CRiᵟ CRi⁰ Cʰⁱu Cˡᵒu Cᵘⁿu Cᶜu Cᵉu Cʰⁱc Cˡᵒc Cᵘⁿc Cᶜc Cᵉc "
            "Cʰⁱe Cˡᵒe Cᵘⁿe Cᶜe Cᵉe".split()
        ),
        f"{OCEANANIGANS} .../TKEBasedVerticalDiffusivities/catke_mixing_length.jl (@kwdef fields)",
        False,
    ),
    "CATKEEquation": (
        frozenset("CʰⁱD CˡᵒD CᵘⁿD CᶜD CᵉD Cᵂu★ CᵂwΔ Cᵂϵ".split()),
        f"{OCEANANIGANS} .../TKEBasedVerticalDiffusivities/catke_equation.jl (@kwdef fields)",
        False,
    ),
    "VerticalScalarDiffusivity": _SCALAR_DIFFUSIVITY,
    "HorizontalScalarDiffusivity": _SCALAR_DIFFUSIVITY,
    "LinearEquationOfState": (
        frozenset({"thermal_expansion", "haline_contraction"}),
        f"{OCEANANIGANS} src/BuoyancyFormulations/linear_equation_of_state.jl",
        False,
    ),
    "SeawaterBuoyancy": (
        frozenset(
            {
                "gravitational_acceleration",
                "equation_of_state",
                "constant_temperature",
                "constant_salinity",
            }
        ),
        f"{OCEANANIGANS} src/BuoyancyFormulations/seawater_buoyancy.jl",
        False,
    ),
    "FPlane": (
        frozenset({"f", "scheme", "rotation_rate", "latitude"}),
        f"{OCEANANIGANS} src/Coriolis/f_plane.jl",
        False,
    ),
    "BetaPlane": (
        frozenset({"scheme", "f₀", "β", "rotation_rate", "latitude", "radius"}),
        f"{OCEANANIGANS} src/Coriolis/beta_plane.jl",
        False,
    ),
    "HydrostaticSphericalCoriolis": (
        frozenset({"rotation_rate", "scheme"}),
        f"{OCEANANIGANS} src/Coriolis/spherical_coriolis.jl",
        False,
    ),
    "FluxBoundaryCondition": (
        frozenset({"parameters", "discrete_form", "field_dependencies"}),
        f"{OCEANANIGANS} src/BoundaryConditions/boundary_condition.jl",
        False,
    ),
    "FieldBoundaryConditions": (
        frozenset({"west", "east", "south", "north", "bottom", "top", "immersed"}),
        f"{OCEANANIGANS} src/BoundaryConditions/field_boundary_conditions.jl",
        False,
    ),
    "SplitExplicitFreeSurface": (
        frozenset(
            "gravitational_acceleration substeps cfl fixed_Δt extend_halos averaging_kernel "
            "timestepper".split()
        ),
        f"{OCEANANIGANS} src/Models/HydrostaticFreeSurfaceModels/SplitExplicitFreeSurfaces/"
        "split_explicit_free_surface.jl",
        False,
    ),
    "ConvectiveAdjustmentVerticalDiffusivity": (
        frozenset({"convective_κz", "convective_νz", "background_κz", "background_νz"}),
        f"{OCEANANIGANS} src/TurbulenceClosures/turbulence_closure_implementations/"
        "convective_adjustment_vertical_diffusivity.jl",
        False,
    ),
    "UpwindBiased": (
        frozenset(
            {"order", "time_discretization", "buffer_scheme", "minimum_buffer_upwind_order"}
        ),
        f"{OCEANANIGANS} src/Advection/upwind_biased_reconstruction.jl",
        False,
    ),
    "Centered": (
        frozenset({"order", "time_discretization", "buffer_scheme"}),
        f"{OCEANANIGANS} src/Advection/centered_reconstruction.jl",
        False,
    ),
    "WENO": (
        frozenset(
            "weight_computation order buffer_scheme time_discretization bounds "
            "minimum_buffer_upwind_order".split()
        ),
        f"{OCEANANIGANS} src/Advection/weno_reconstruction.jl",
        False,
    ),
    "ocean_simulation": (
        frozenset(
            "model clock stop_time Δt closure tracers free_surface reference_density "
            "rotation_rate gravitational_acceleration bottom_drag_coefficient forcing "
            "additional_surface_fluxes biogeochemistry timestepper coriolis momentum_advection "
            "tracer_advection equation_of_state boundary_conditions radiative_forcing warn "
            "verbose".split()
        ),
        f"{NUMERICAL_EARTH} src/Oceans/ocean_simulation.jl (hydrostatic_ocean_simulation)",
        False,
    ),
    "sea_ice_simulation": (
        frozenset(
            "clock stop_time Δt ice_salinity advection tracers ice_heat_capacity "
            "ice_consolidation_thickness sea_ice_density snow_density dynamics "
            "bottom_heat_boundary_condition top_heat_boundary_condition timestepper "
            "phase_transitions conductivity internal_heat_flux snow_thermodynamics".split()
        ),
        f"{NUMERICAL_EARTH} src/SeaIces/sea_ice_simulation.jl",
        False,
    ),
    "OceanSeaIceModel": (
        frozenset({"atmosphere", "land", "radiation"}),
        f"{NUMERICAL_EARTH} src/EarthSystemModels/earth_system_model.jl",
        True,
    ),
    "PrescribedAtmosphere": (
        frozenset(
            "source clock surface_layer_height boundary_layer_height thermodynamics_parameters "
            "velocities temperature specific_humidity microphysical_variables pressure tracers "
            "precipitation_flux".split()
        ),
        f"{NUMERICAL_EARTH} src/Atmospheres/prescribed_atmosphere.jl",
        False,
    ),
    "SpectralGrid": (
        frozenset(
            "NF architecture truncation trunc Grid dealiasing nlayers transform_batch".split()
        ),
        f"{SPEEDY} SpeedyWeather/src/dynamics/spectral_grid.jl",
        False,
    ),
    "run!": (
        frozenset({"period", "steps", "output"}),
        f"{SPEEDY} SpeedyWeather/src/models/simulation.jl",
        False,
    ),
}

#: tracers a closure adds to the model itself; naming them in `tracers` is an ArgumentError
#: (Oceananigans 0.110.19 hydrostatic_free_surface_model.jl: closure_required_tracers;
#: catke_vertical_diffusivity.jl: (:e,); tke_dissipation_vertical_diffusivity.jl: (:e, :ϵ))
CLOSURE_REQUIRED_TRACERS = frozenset({"e", "ϵ"})


# -- tree-sitter helpers --------------------------------------------------------------------


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(src: bytes, node) -> str:
    return src[node.start_byte : node.end_byte].decode()


def _callee_name(src: bytes, call) -> str | None:
    """``f`` for ``f(...)``, ``M.N.f(...)``, and ``T{FT}(...)``."""
    head = call.children[0]
    if head.type == "identifier":
        return _text(src, head)
    if head.type == "field_expression":
        return _text(src, head.children[-1])
    if head.type in ("parametrized_type_expression", "parameterized_identifier"):
        return _text(src, head.children[0])
    return None


def _keyword_arguments(src: bytes, call) -> dict[str, object]:
    """``{name: value node (None for the `; name` shorthand)}`` of a call."""
    args = next((c for c in call.children if c.type == "argument_list"), None)
    if args is None:
        return {}
    out: dict[str, object] = {}
    after_semicolon = False
    for child in args.children:
        if child.type == ";":
            after_semicolon = True
        elif child.type == "named_argument":
            out[_text(src, child.children[0])] = child.children[-1]
        elif after_semicolon and child.type == "identifier":
            out[_text(src, child)] = None
    return out


def _calls(src: bytes, tree_or_node):
    root = getattr(tree_or_node, "root_node", tree_or_node)
    for node in _walk(root):
        if node.type == "call_expression":
            name = _callee_name(src, node)
            if name is not None:
                yield name, node


def _line(node) -> int:
    return node.start_point[0] + 1


# -- the rules (each takes Julia source bytes and returns a list of problems) --------------


def keyword_problems(src: bytes, where: str = "") -> list[str]:
    problems = []
    for name, call in _calls(src, PARSER.parse(src)):
        if name not in UPSTREAM_KEYWORDS:
            continue
        accepted, source, _open = UPSTREAM_KEYWORDS[name]
        if _open:
            continue
        for keyword in _keyword_arguments(src, call):
            if keyword not in accepted:
                problems.append(
                    f"{where}:{_line(call)}: {name} has no keyword {keyword!r} "
                    f"(accepted: {', '.join(sorted(accepted))}; from {source})"
                )
    return problems


def tracer_problems(src: bytes, where: str = "") -> list[str]:
    problems = []
    for name, call in _calls(src, PARSER.parse(src)):
        value = _keyword_arguments(src, call).get("tracers")
        if value is None:
            continue
        named = {
            _text(src, n.children[-1])
            for n in _walk(value)
            if n.type == "quote_expression" and n.children
        }
        clash = sorted(named & CLOSURE_REQUIRED_TRACERS)
        if clash:
            problems.append(
                f"{where}:{_line(call)}: {name}(...; tracers = {_text(src, value)}) names "
                f"{clash}, which the closure adds itself (Oceananigans throws ArgumentError)"
            )
    return problems


def closure_assignment_problems(src: bytes, where: str = "") -> list[str]:
    problems = []
    for node in _walk(PARSER.parse(src).root_node):
        if node.type != "assignment":
            continue
        target, value = node.children[0], node.children[-1]
        if target.type == "field_expression" and _text(src, target.children[-1]) == "closure":
            ok = value.type == "call_expression" and _callee_name(src, value) == "with_tracers"
            if not ok:
                problems.append(
                    f"{where}:{_line(node)}: `{_text(src, node)}` assigns a closure without "
                    "with_tracers(tracernames(model.tracers), closure)"
                )
    return problems


def _int_constants(sources: list[bytes]) -> dict[str, int]:
    table = {}
    for src in sources:
        for node in _walk(PARSER.parse(src).root_node):
            if node.type == "const_statement":
                assignment = node.children[-1]
                name, value = assignment.children[0], assignment.children[-1]
                if value.type == "integer_literal":
                    table[_text(src, name)] = int(_text(src, value))
    return table


def _halo_value(src: bytes, node, constants: dict[str, int]) -> int | None:
    values = []
    for n in _walk(node):
        if n.type == "integer_literal":
            values.append(int(_text(src, n)))
        elif n.type == "identifier" and _text(src, n) in constants:
            values.append(constants[_text(src, n)])
    return min(values[:2]) if values else None  # x and y halos


def grid_halos(sources: list[bytes]) -> dict[str, tuple[int, dict[str, int]]]:
    """``{function name: (x/y halo, {"Nx": default, "Ny": default})}`` for every function
    that builds a grid with a literal or constant halo."""
    constants = _int_constants(sources)
    out = {}
    for src in sources:
        for fn in _walk(PARSER.parse(src).root_node):
            if fn.type != "function_definition":
                continue
            sig = next(c for c in fn.children if c.type == "signature")
            fname = _text(src, next(n for n in _walk(sig) if n.type == "identifier"))
            for name, call in _calls(src, fn):
                if name not in ("RectilinearGrid", "LatitudeLongitudeGrid"):
                    continue
                halo = _keyword_arguments(src, call).get("halo")
                if halo is None:
                    continue
                value = _halo_value(src, halo, constants)
                if value is not None:
                    defaults = {
                        k: int(_text(src, v))
                        for k, v in _keyword_arguments(src, sig.children[0]).items()
                        if k in ("Nx", "Ny") and v is not None and v.type == "integer_literal"
                    }
                    out[fname] = (value, defaults)
    return out


def halo_problems(halos, julia_calls: list[tuple[str, bytes]], python_calls: list[tuple[str, str]]):
    problems = []
    for fname, (halo, defaults) in halos.items():
        for key, value in defaults.items():
            if value < halo:
                problems.append(f"{fname}: default {key} = {value} < halo {halo}")
    for where, src in julia_calls:
        for name, call in _calls(src, PARSER.parse(src)):
            if name in halos and not _inside_test_throws(src, call):
                halo = halos[name][0]
                for key, value in _keyword_arguments(src, call).items():
                    if (
                        key in ("Nx", "Ny")
                        and value is not None
                        and value.type == "integer_literal"
                    ):
                        if int(_text(src, value)) < halo:
                            problems.append(
                                f"{where}:{_line(call)}: {name}({key} = {_text(src, value)}) "
                                f"with halo {halo} (Oceananigans requires halo <= size)"
                            )
    python_names = {"ocean_sea_ice_model": "ocean_sea_ice", "basin_model": "basin"}
    for where, code in python_calls:
        for node in ast.walk(ast.parse(code)):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            for jl_name, py_name in python_names.items():
                if node.func.attr == py_name and jl_name in halos:
                    for kw in node.keywords:
                        if kw.arg in ("Nx", "Ny") and isinstance(kw.value, ast.Constant):
                            if kw.value.value < halos[jl_name][0]:
                                problems.append(
                                    f"{where}:{node.lineno}: {py_name}({kw.arg}={kw.value.value}) "
                                    f"with halo {halos[jl_name][0]}"
                                )
    return problems


def _inside_test_throws(src: bytes, node) -> bool:
    """Whether ``node`` is inside ``@test_throws ...`` (a call that is meant to fail)."""
    while node is not None:
        if node.type == "macrocall_expression" and _text(src, node).startswith("@test_throws"):
            return True
        node = node.parent
    return False


def julia_catch_problems(src: bytes, where: str = "") -> list[str]:
    problems = []
    for node in _walk(PARSER.parse(src).root_node):
        if node.type == "catch_clause":
            body = _text(src, node)
            if "rethrow" not in body:
                problems.append(
                    f"{where}:{_line(node)}: catch block without rethrow: it swallows every "
                    "exception (catch only the expected error type and rethrow the rest)"
                )
    return problems


def python_catch_problems(code: str, where: str = "") -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ExceptHandler):
            names = []
            if node.type is None:
                names = ["<bare>"]
            else:
                types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                names = [ast.unparse(t) for t in types]
            broad = [n for n in names if n in ("<bare>", "Exception", "BaseException")]
            if broad:
                problems.append(f"{where}:{node.lineno}: except {broad[0]} catches every error")
    return problems


# -- the checks on the real sources ---------------------------------------------------------


def _sources():
    return [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in JULIA_SRC]


def test_the_bridge_sources_exist_and_call_upstream_constructors():
    names = {name for _, src in _sources() for name, _ in _calls(src, PARSER.parse(src))}
    used = names & set(UPSTREAM_KEYWORDS)
    # the table is not vacuous: the bridge really calls these upstream functions
    assert {
        "HydrostaticFreeSurfaceModel",
        "RectilinearGrid",
        "CATKEVerticalDiffusivity",
        "CATKEMixingLength",
        "CATKEEquation",
        "SpectralGrid",
        "ocean_simulation",
    } <= used


@pytest.mark.parametrize("rule", [keyword_problems, tracer_problems, closure_assignment_problems])
def test_bridge_sources_follow_upstream_signatures(rule):
    problems = [p for where, src in _sources() for p in rule(src, where)]
    assert not problems, "\n".join(problems)


def test_grids_are_never_smaller_than_their_halo():
    sources = [src for _, src in _sources()]
    halos = grid_halos(sources)
    assert {"basin_model", "ocean_sea_ice_model"} <= set(halos), halos
    problems = halo_problems(
        halos,
        [("runtests.jl", RUNTESTS.read_bytes())],
        [(p.name, p.read_text()) for p in PY_JULIA_TESTS],
    )
    assert not problems, "\n".join(problems)


def test_tests_catch_only_what_they_expect():
    problems = julia_catch_problems(RUNTESTS.read_bytes(), "runtests.jl")
    for path in PY_JULIA_TESTS:
        problems += python_catch_problems(path.read_text(), path.name)
    problems += python_catch_problems(
        (ROOT / "pyclimaocean" / "backends" / "julia.py").read_text(), "backends/julia.py"
    )
    assert not problems, "\n".join(problems)


def test_enzyme_error_type_named_by_the_bridge_exists_upstream():
    """`Enzyme.Compiler.EnzymeError` is the common supertype of Enzyme's errors since
    Enzyme v0.13.39 (src/errors.jl, PR #2352); the bridge's compat floor is 0.13.78."""
    text = (ROOT / "julia_ext" / "src" / "gradients.jl").read_text()
    assert "Enzyme.Compiler.EnzymeError" in text
    project = tomllib.loads((ROOT / "julia_ext" / "Project.toml").read_text())
    major, minor, patch = (int(x) for x in project["compat"]["Enzyme"].split("."))
    assert (major, minor, patch) >= (0, 13, 39)


# -- each rule flags the defect it was written for -------------------------------------------


def test_rules_flag_the_old_defects():
    old_column = b"""
function column_model(setup; closure = catke_closure())
    tracers = closure isa CATKEVerticalDiffusivity ? (:T, :S, :e) : (:T, :S)
    return HydrostaticFreeSurfaceModel(grid; closure, buoyancy, tracers = (:T, :S, :e), boundary_conditions)
end
"""
    assert tracer_problems(old_column)
    assert not tracer_problems(old_column.replace(b"tracers = (:T, :S, :e)", b"tracers = (:T, :S)"))

    old_gradient = b"function f(model, kind, p)\n    model.closure = column_closure(kind, p)\nend\n"
    assert closure_assignment_problems(old_gradient)
    fixed = b"function f(model, c)\n    model.closure = with_tracers(tracernames(model.tracers), c)\nend\n"
    assert not closure_assignment_problems(fixed)

    assert keyword_problems(b"m = HydrostaticFreeSurfaceModel(grid; closures = c)\n")
    assert keyword_problems(b"g = RectilinearGrid(CPU(); size = 3, halos = (1, 1, 1))\n")
    assert not keyword_problems(b"g = RectilinearGrid(CPU(); size = 3, halo = (1, 1, 1))\n")

    old_box = b"""
function ocean_sea_ice_model(; Nx = 4, Ny = 4)
    grid = RectilinearGrid(CPU(); size = (Nx, Ny, 4), halo = (4, 4, 4), x = (0, 1), y = (0, 1), z = (-1, 0))
end
"""
    halos = grid_halos([old_box])
    assert halos == {"ocean_sea_ice_model": (4, {"Nx": 4, "Ny": 4})}
    assert halo_problems(halos, [("t.jl", b"ocean_sea_ice_model(Nx = 2, Ny = 2, Nz = 4)\n")], [])
    assert halo_problems(halos, [], [("t.py", "backend.ocean_sea_ice(n_steps=2, Nx=2, Ny=2)\n")])
    assert not halo_problems(halos, [("t.jl", b"ocean_sea_ice_model(Nx = 4, Ny = 4)\n")], [])
    expected_failure = b"@test_throws ArgumentError ocean_sea_ice_model(Nx = 2, Ny = 2)\n"
    assert not halo_problems(halos, [("t.jl", expected_failure)], [])
    assert halo_problems(
        grid_halos([old_box.replace(b"Nx = 4, Ny = 4", b"Nx = 2, Ny = 4")]), [], []
    )

    old_runtests = b"result = try\n    f()\ncatch\n    nothing\nend\n"
    assert julia_catch_problems(old_runtests)
    narrow = b"result = try\n    f()\ncatch err\n    err isa E || rethrow()\n    nothing\nend\n"
    assert not julia_catch_problems(narrow)
    assert python_catch_problems("try:\n    f()\nexcept Exception:\n    pass\n")
    assert not python_catch_problems("try:\n    f()\nexcept KeyError:\n    pass\n")
