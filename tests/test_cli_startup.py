"""The launcher starts fast and speaks plainly: ``import pyclimaocean`` and ``pyclimaocean
--help`` import neither JAX nor xarray, float64 is still on, error paths that need only the
TOML file fail before JAX is imported, help texts keep their square brackets, boolean
options show as flags, and ``--version`` works."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyclimaocean.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
HEAVY = ("jax", "jaxlib", "xarray", "numpy", "equinox", "prefect", "matplotlib", "scipy")
runner = CliRunner()


def _python(code: str, **env) -> str:
    """Run ``code`` in a fresh interpreter (JAX_ENABLE_X64 and PYCLIMAOCEAN_X64 unset)."""
    base = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64", "PYCLIMAOCEAN_X64")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**base, **env}, timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout.strip()


def test_import_and_help_import_nothing_heavy():
    code = f"""
import sys
import pyclimaocean
after_import = [m for m in {HEAVY!r} if m in sys.modules]
from pyclimaocean.cli import app
from typer.testing import CliRunner
for args in (["--help"], ["calibrate", "--help"], ["run", "missing.toml"],
             ["run", "examples/l96_etkf.toml"], ["--version"]):
    CliRunner().invoke(app, args)
print(after_import, [m for m in {HEAVY!r} if m in sys.modules])
"""
    assert _python(code) == "[] []"


@pytest.mark.parametrize(("env", "jax_first", "expected"), [
    ({}, False, "True"), ({}, True, "True"), ({"PYCLIMAOCEAN_X64": "0"}, False, "False"),
])
def test_float64_is_enabled_without_eager_jax_import(env, jax_first, expected):
    code = ("import jax\n" if jax_first else "") + (
        "import pyclimaocean, jax, jax.numpy as jnp\n"
        "print(jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float64)")
    assert _python(code, **env) == expected


def test_lazy_public_names():
    import pyclimaocean

    importlib.import_module("pyclimaocean.core")  # binds the submodule pyclimaocean.integrate
    from pyclimaocean import Parameter, ParameterSet, integrate
    from pyclimaocean.integrate import integrate as integrate_function
    from pyclimaocean.params import Parameter as P

    assert integrate is integrate_function and pyclimaocean.integrate is integrate_function
    assert Parameter is P and ParameterSet.__module__ == "pyclimaocean.params"
    assert set(pyclimaocean.__all__) <= set(dir(pyclimaocean))
    for name in pyclimaocean.__all__:
        assert getattr(pyclimaocean, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = pyclimaocean.nope


def test_version_flag_and_command():
    from pyclimaocean import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"pyclimaocean {__version__}"
    assert runner.invoke(app, ["version"]).output.strip() == __version__


def _commands():
    import typer

    group = typer.main.get_command(app)
    out = []
    for name, command in group.commands.items():
        subs = getattr(command, "commands", None)
        out.append([name])
        out += [[name, sub] for sub in (subs or {})]
    return out


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_shows_flags_not_bool_types(command):
    res = runner.invoke(app, [*command, "--help"], terminal_width=100)
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output
    if "--force" in res.output:
        assert "--force <" not in res.output


def test_brackets_survive_in_help_and_errors():
    res = runner.invoke(app, ["calibrate", "--help"], terminal_width=100)
    assert "[calibration]" in res.output
    res = runner.invoke(app, ["infer", str(EXAMPLES / "column_calibrate.toml")])
    assert res.exit_code == 2 and "[inference]" in res.output
    # an error text with a pip extra, through the shared error decorator
    from pyclimaocean.backends.base import BackendUnavailableError
    from pyclimaocean.cli_common import handle_errors

    @handle_errors
    def julia():
        raise BackendUnavailableError('install it with `pip install "pyclimaocean[julia]"`')

    import typer

    tiny = typer.Typer()
    tiny.command()(julia)
    res = runner.invoke(tiny, [])
    assert res.exit_code == 4 and 'pip install "pyclimaocean[julia]"' in res.output


@pytest.mark.parametrize(("args", "fragment"), [
    (["run", "missing.toml"], "config file 'missing.toml' does not exist"),
    (["run", "examples/l96_etkf.toml"], "run it with `pyclimaocean assimilate examples/l96_etkf.toml`"),
    (["ensemble", "examples/column_calibrate.toml", "-p", "c"], "`pyclimaocean calibrate"),
    (["calibrate", "examples/l96_run.toml"], "run it with `pyclimaocean run examples/l96_run.toml`"),
    (["assimilate", "examples/l96_calibrate.toml"], "run it with `pyclimaocean calibrate"),
    (["train", "examples/l96_etkf.toml"], "run it with `pyclimaocean assimilate"),
    (["infer", "examples/l96_calibrate.toml"], "needs a [inference] table"),
    (["flow", "study", "examples/l96_run.toml"], "needs a [calibration] table"),
    (["validate", "missing.toml"], "does not exist"),
    (["run", "examples/l96_run.toml", "--set", "oops"], "must look like key.path=value"),
])
def test_error_paths_name_the_fix_without_jax(args, fragment, monkeypatch):
    monkeypatch.chdir(ROOT)
    res = runner.invoke(app, args, terminal_width=200)
    assert res.exit_code == 2, res.output
    assert fragment in " ".join(res.output.split())


def test_exit_codes_name_real_exception_classes():
    from pyclimaocean.cli_common import EXIT_CODES

    for qualified in EXIT_CODES:
        module, _, name = qualified.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, ValueError | RuntimeError), qualified


def test_examples_list_full_descriptions_and_verbs():
    from pyclimaocean.cli_experiment import bundled_examples, example_description, example_verb

    found = bundled_examples()
    assert example_verb(found["l96_etkf"]) == "pyclimaocean assimilate"
    assert example_verb(found["column_calibrate"]) == "pyclimaocean calibrate"
    assert example_verb(found["column_infer"]) == "pyclimaocean infer"
    assert example_verb(found["l96_train_online"]) == "pyclimaocean train"
    assert example_verb(found["column_free_convection"]) == "pyclimaocean run"
    assert example_verb(found["l96_discovery"]) == "python"
    text = example_description(found["column_calibrate"])
    assert text.endswith("the first guess is off by 20-30 %.") and "Run:" not in text
    res = runner.invoke(app, ["examples"], terminal_width=100)
    assert res.exit_code == 0
    flat = " ".join(res.output.split())
    packed = "".join(res.output.split())  # the terminal may wrap after a hyphen ("zero-|layer")
    for name, path in found.items():
        assert f"{name} run with: {example_verb(path)} {path.name}" in flat
        assert "".join(example_description(path).split()) in packed
