"""``python examples/external_numpy_models.py`` says what it does, checks both hand-written
adjoints against finite differences, and the files its docstring points to exist."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "external_numpy_models.py"


def test_running_the_example_prints_both_models_and_their_adjoint_checks(capsys):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "Lorenz-96 (NumPy RK4)" in out and "Column diffusion (NumPy backward Euler" in out
    differences = [float(x) for x in re.findall(r"relative difference ([0-9.e+-]+)", out)]
    assert len(differences) == 5 and max(differences) < 1e-4, out
    assert "python examples/external_calibration.py" in out


def test_files_named_by_the_example_exist():
    text = EXAMPLE.read_text()
    named = set(re.findall(r"``((?:examples|tests|docs)/[\w/]+\.(?:py|md))``", text))
    named |= set(re.findall(r"((?:examples|tests|docs)/[\w/]+\.(?:py|md))", text))
    assert "examples/external_calibration.py" in named and "tests/test_external_model.py" in named
    assert [p for p in sorted(named) if not (ROOT / p).is_file()] == []
