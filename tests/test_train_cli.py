"""`mnistedge train` through Typer's CliRunner on a tiny .npz, and the LR finder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.train import ARCHS, TrainConfig, lr_find
from mnistedge.train.lr_finder import lr_for_epoch, suggest_rate

pytest.importorskip("tensorflow")
runner = CliRunner()


def test_list_archs_names_every_arch_and_its_preset() -> None:
    result = runner.invoke(app, ["train", "--list-archs"])  # rich's default 80 columns
    assert result.exit_code == 0, result.output
    for name in ARCHS:
        assert name in result.output
    assert "sgd-nesterov" in result.output and "rmsprop" in result.output  # the presets
    wide = runner.invoke(app, ["train", "--list-archs"], env={"COLUMNS": "200"}).output
    for arch in ARCHS.values():
        assert arch.target.describe() in wide and arch.source in wide


def test_unknown_arch_exits_2_listing_the_valid_ones() -> None:
    result = runner.invoke(app, ["train", "--arch", "resnet"])
    assert result.exit_code == 2
    assert "resnet" in result.output
    for name in ARCHS:
        assert name in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validation-split", "1.5"], "validation_split must be in [0, 1), got 1.5"),
        (["--learning-rate", "-1"], "learning_rate must be > 0, got -1.0"),
        (["--epochs", "0"], "--epochs"),
    ],
)
def test_bad_values_exit_2_naming_the_value(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", *args], terminal_width=250)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_missing_source_exits_1_with_the_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--source", str(tmp_path / "nope.npz"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "nope.npz" in result.output


def test_train_on_a_tiny_npz(tiny_npz: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    result = runner.invoke(
        app,
        [
            "train",
            "--arch",
            "tiny",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--seed",
            "2",
            "--source",
            str(tiny_npz),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tiny: test accuracy" in result.output  # the summary line
    record = json.loads((out / "train.json").read_text())
    assert (record["arch"], record["epochs"], record["batch_size"], record["seed"]) == ("tiny", 1, 50, 2)
    assert str(tiny_npz) in record["data"]["source"]
    assert (out / "model.keras").is_file()
    assert {p.name for p in (out / "plots").iterdir()} == {
        "training_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
    }


def test_quiet_prints_nothing_on_success(tiny_npz: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--arch",
            "tutorial-dense512",
            "--epochs",
            "1",
            "--quiet",
            "--source",
            str(tiny_npz),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert (tmp_path / "train.json").is_file()


def test_lr_find_cli_writes_plot_and_suggestion(tiny_npz: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--arch",
            "tutorial-relu10x2",
            "--lr-find",
            "--batch-size",
            "100",
            "--source",
            str(tiny_npz),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "lr_find.json").read_text())
    assert f"--learning-rate {record['suggested_learning_rate']:.2g}" in result.output
    assert (tmp_path / "plots" / "lr_find.png").is_file()
    assert not (tmp_path / "model.keras").exists()  # the finder does not train a model


def test_lr_find_follows_the_tutorial_schedule(tiny_data, tmp_path: Path) -> None:
    result = lr_find(
        TrainConfig(arch="tutorial-relu10x2", batch_size=100),
        tiny_data,
        tmp_path,
        max_rate=1e-2,
        quiet=True,
        plot=False,
    )
    n = len(result.losses)
    assert 1 <= n <= 41 and (n == 41) != result.stopped_early
    assert result.learning_rates == pytest.approx([1e-4 * 10 ** (e / 20) for e in range(n)])
    assert result.suggested_learning_rate == pytest.approx(
        result.learning_rates[int(np.nanargmin(result.losses))]
    )
    assert json.loads((tmp_path / "lr_find.json").read_text())["arch"] == "tutorial-relu10x2"


def test_suggest_rate_skips_diverged_epochs() -> None:
    rates = [lr_for_epoch(e) for e in range(5)]
    assert lr_for_epoch(20) == pytest.approx(1e-3)
    assert suggest_rate(rates, [2.0, 1.0, 0.5, 3.0, math.nan]) == pytest.approx(rates[2])
    with pytest.raises(ValueError, match="diverged"):
        suggest_rate(rates[:1], [math.nan])
