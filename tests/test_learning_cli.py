"""The ``train`` CLI command and the example closure-training configs (small variants)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

import pyclimaocean  # noqa: F401
from pyclimaocean import learning
from pyclimaocean.cli import app
from pyclimaocean.config import ConfigError, load_config
from pyclimaocean.learning.experiment import TrainConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()

SMALL = [
    "truth.spinup_time=2.0",
    "truth.train_time=12.0",
    "truth.validation_time=1.5",
    "truth.test_time=8.0",
    "truth.gap_time=0.5",
    "closure.width=8",
    "evaluation.n_forecasts=20",
    "evaluation.forecast_time=1.0",
    "evaluation.climate_time=8.0",
    "training.log_every=100",
]


@pytest.mark.slow  # 16.8 s measured (fast tier: pytest -m 'not slow')
@pytest.mark.parametrize(
    "name, overrides",
    [
        ("l96_train_offline.toml", ["training.n_steps=300"]),
        (
            "l96_train_online.toml",
            [
                "training.pretrain_offline_steps=200",
                "training.n_steps=40",
                "training.batch_size=8",
                "training.unroll_lengths=[5, 10]",
                "training.unroll_start_steps=[0, 20]",
                "training.checkpoint_every=20",
            ],
        ),
    ],
    ids=["offline", "online"],
)
def test_example_configs_train_through_cli(tmp_path, name, overrides):
    out = tmp_path / "out"
    args = ["train", str(EXAMPLES / name), "--output-dir", str(out), "--quiet"]
    for o in SMALL + overrides:
        args += ["--set", o]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for f in (
        "closure.eqx",
        "closure.json",
        "checkpoint.eqx",
        "loss_history.csv",
        "forecast_rmse.csv",
        "metrics.json",
        "loss_curve.png",
        "closure_fit.png",
        "hovmoller.png",
        "forecast_rmse.png",
    ):
        assert (out / f).stat().st_size > 0, f
    metrics = json.loads((out / "metrics.json").read_text())
    # the trained closure beats the truncated model on held-out data
    assert metrics["closure"]["offline_mse"] < 0.2 * metrics["no_closure"]["offline_mse"]
    t_closure = float(metrics["closure"]["time_to_threshold"])
    assert t_closure > 1.5 * float(metrics["no_closure"]["time_to_threshold"])
    with open(out / "loss_history.csv") as f:
        rows = list(csv.DictReader(f))
    phases = {r["phase"] for r in rows}
    assert phases == ({"offline", "online"} if "online" in name else {"offline"})
    assert [int(r["step"]) for r in rows] == list(range(len(rows)))
    # the saved closure reloads and reproduces the evaluation
    closure = learning.load_closure(out / "closure.eqx")
    assert closure.hyperparameters()["architecture"] == "cnn"
    assert np.all(np.isfinite(closure(jnp.linspace(-5, 10, 8))))
    # a second run into the same directory is refused without --force
    res2 = runner.invoke(app, args)
    assert res2.exit_code == 2 and "--force" in res2.output


def test_example_configs_validate():
    for name in ("l96_train_offline.toml", "l96_train_online.toml"):
        cfg = load_config(EXAMPLES / name, TrainConfig)
        assert cfg.truth.coarse_dt == pytest.approx(0.005)


@pytest.mark.parametrize(
    "override, field",
    [
        ("closure.kernel_size=4", "closure.kernel_size"),
        ("training.unroll_lengths=[5, 10]", "unroll_lengths"),
        ("training.mode=hybrid", "training.mode"),
        ("closure.architecture=transformer", "closure.architecture"),
        ("truth.dt=-0.001", "truth.dt"),
        ("training.learning_rate=0", "training.learning_rate"),
    ],
)
def test_config_errors_name_the_field(tmp_path, override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(EXAMPLES / "l96_train_online.toml", TrainConfig, [override])
    res = runner.invoke(
        app,
        [
            "train",
            str(EXAMPLES / "l96_train_online.toml"),
            "-o",
            str(tmp_path / "x"),
            "--set",
            override,
        ],
    )
    assert res.exit_code == 2 and field.split(".")[-1] in res.output


def test_test_data_must_cover_the_forecast():
    with pytest.raises(ConfigError, match="test_time"):
        load_config(
            EXAMPLES / "l96_train_offline.toml",
            TrainConfig,
            ["truth.test_time=1.0", "evaluation.forecast_time=2.0"],
        )


def test_climate_run_must_cover_the_autocorrelation_lags():
    with pytest.raises(ConfigError, match="evaluation.climate_time = 0.5"):
        load_config(
            EXAMPLES / "l96_train_offline.toml",
            TrainConfig,
            ["evaluation.climate_time=0.5", "evaluation.acf_max_lag_time=1.0"],
        )
