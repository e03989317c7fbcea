"""``pyclimaocean ensemble``: contradictory executor options are refused before any work."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pyclimaocean.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "column_free_convection.toml"
runner = CliRunner()


@pytest.mark.parametrize("extra, named", [
    (["--executor", "dask"], "--executor dask"),
    (["--dask-address", "tcp://127.0.0.1:8786"], "--dask-address"),
])
def test_sequential_with_dask_is_refused(tmp_path, extra, named):
    out = tmp_path / "ens"
    res = runner.invoke(app, ["ensemble", str(EXAMPLE), "-p", "c_hi_c", "-n", "2", "--sequential",
                              "--no-progress", "-o", str(out), *extra])
    assert res.exit_code == 2, res.output
    assert "--sequential" in res.output and named in res.output
    assert not out.exists()


def test_sequential_with_in_process_is_accepted_by_the_option_check():
    # the same options without a contradiction pass the check (and fail later only on the
    # missing --perturb, proving the check itself did not fire)
    res = runner.invoke(app, ["ensemble", str(EXAMPLE), "--sequential", "--executor", "in-process",
                              "--no-progress"])
    assert res.exit_code == 2 and "--perturb" in res.output and "cannot be combined" not in res.output
