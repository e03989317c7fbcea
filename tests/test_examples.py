"""Every example under examples/ is run by a test.

The column-model run configs are run here in small variants (fewer cells, shorter runs, via
``--set``-style overrides); every other example must be named by some other test file.
"""

from pathlib import Path

import numpy as np
import pytest

from pyclimaocean.experiment import run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUN_CONFIGS = sorted(
    p for p in EXAMPLES.glob("column_*.toml") if not p.stem.startswith(("column_calibrate", "column_infer"))
)

SMALL = {
    "column_free_convection": ["grid.nz=16", "time.stop_time=43200.0", "time.output_interval=10800.0",
                               "time.checkpoint_interval=21600.0"],
    "column_wind_deepening": ["grid.nz=16", "time.stop_time=7200.0", "time.output_interval=1800.0"],
    "column_diurnal_cycle": ["grid.nz=12", "time.stop_time=86400.0", "time.output_interval=21600.0",
                             "time.checkpoint_interval=43200.0"],
    "column_seasonal_cycle": ["grid.nz=16", "time.stop_time=2592000.0",
                              "time.output_interval=864000.0", "time.checkpoint_interval=2592000.0"],
    # (its data paths are relative to the config file, so it runs from any directory)
    "column_observed_forcing": ["grid.nz=16", "time.stop_time=43200.0",
                                "time.output_interval=10800.0"],
}


def test_every_run_config_has_a_small_variant():
    assert {p.stem for p in RUN_CONFIGS} == set(SMALL)


@pytest.mark.slow  # 1.8 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize("config", RUN_CONFIGS, ids=lambda p: p.stem)
def test_run_config_small_variant(config, tmp_path):
    result = run_experiment(config, tmp_path / config.stem, SMALL[config.stem])
    ds = result.dataset
    assert ds.sizes["time"] >= 2
    for name in ("T", "S", "u", "v", "e"):
        assert np.all(np.isfinite(ds[name].values)), name
    assert (tmp_path / config.stem / "output.nc").exists()


def test_every_other_example_is_used_by_a_test():
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    run_here = {p.name for p in RUN_CONFIGS}
    for example in sorted(EXAMPLES.iterdir()):
        if example.name in run_here or example.name.startswith("."):
            continue
        assert example.name in tests or example.stem in tests, f"{example.name} is not run by any test"
