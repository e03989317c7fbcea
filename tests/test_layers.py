"""The package's layering is enforced (import-linter contract in pyproject.toml), it has no
import cycles, and imports inside functions are kept for what must stay lazy."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pyclimaocean"

#: modules allowed to import package modules inside functions, and why
LAZY_ALLOWED = {
    # the launcher: `pyclimaocean --help` must not import JAX, xarray, Prefect ...
    "cli.py", "cli_common.py", "cli_experiment.py",
    # Prefect is imported only when a flow runs
    "workflows/__init__.py", "workflows/flows.py", "workflows/science.py",
    # optional dependency: Julia (juliacall)
    "backends/julia.py", "backends/builders.py",
    # lazy public attributes
    "__init__.py", "learning/__init__.py",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path):
    """(target module, inside a function?) of every intra-package import, TYPE_CHECKING blocks
    excluded."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    in_function = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function |= {id(n) for n in ast.walk(node)}
    pkg = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        elif (node.module or "").startswith("pyclimaocean"):
            target = node.module
        else:
            continue
        yield target, id(node) in in_function, node.lineno


def test_import_linter_layers_contract():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports (import-linter, a dev dependency) is not installed")
    res = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "KEPT" in res.stdout


def test_no_import_cycles_between_modules():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: set() for m in modules}
    for m, p in modules.items():
        for target, _, _ in _imports(p):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != m and not m.startswith(target + ".") and target != "pyclimaocean":
                graph[m].add(target)
    # Tarjan's strongly connected components
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_function_level_imports_only_where_laziness_is_needed():
    offenders = []
    for p in sorted(PACKAGE.rglob("*.py")):
        rel = p.relative_to(PACKAGE).as_posix()
        if rel in LAZY_ALLOWED:
            continue
        for target, inside, line in _imports(p):
            if inside:
                offenders.append(f"pyclimaocean/{rel}:{line} imports {target} inside a function")
    assert not offenders, "\n".join(offenders)
