"""The calibration sweep: config checks, ranking, the files it writes, one tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistedge.cli import app
from mnistedge.export.sweep import SweepConfig, SweepPoint, SweepResult, best_point, is_export_default
from mnistedge.export.sweep_report import render_markdown, write_sweep


def _point(**over) -> SweepPoint:
    base = dict(format="onnx", method="minmax", samples=500, per_channel=True, size_bytes=1000,
                n_test=100, accuracy=0.99, agreement=0.999, max_abs_prob_diff=0.05,
                mean_abs_prob_diff=0.001, seconds=0.5)  # fmt: skip
    return SweepPoint(**{**base, **over})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": ("kl",)}, "Unknown calibration method(s) ['kl']. Valid: minmax, entropy, percentile."),
        ({"formats": ("tflm",)}, "Unknown sweep format(s) ['tflm']. Valid: onnx, tflite."),
        ({"sizes": (100, 0)}, "calibration sizes must be integers >= 1, got (100, 0)"),
        ({"test_sample": 0}, "test_sample must be an int >= 1"),
        ({"per_channel": ()}, "a sweep needs at least one format, size, method and per-channel setting."),
    ],
)
def test_config_rejects_bad_values_with_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        SweepConfig(**kwargs)
    assert message in str(exc.value)


def test_best_point_prefers_agreement_then_accuracy_then_closer_probabilities() -> None:
    low = _point(agreement=0.99)
    close = _point(mean_abs_prob_diff=0.0005, size_bytes=2000)
    far = _point(mean_abs_prob_diff=0.002, size_bytes=500)
    assert best_point([low, far, close]) is close
    assert best_point([low, _point(agreement=0.995, accuracy=0.98)]).agreement == 0.995
    assert is_export_default(_point()) and not is_export_default(_point(per_channel=False))
    assert not is_export_default(_point(samples=100))


def test_write_sweep_files_table_and_spread(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    points = (_point(), _point(method="entropy", accuracy=0.97, agreement=0.98), _point(format="tflite"))
    load = {"start": [1.5, 1, 1], "end": [2.5, 1, 1]}
    result = SweepResult(SweepConfig(), points, chosen=(points[0],), defaults=(points[0],),
                         float_accuracy=0.991, float_sample_accuracy=0.99, wall_seconds=12.0,
                         load_average=load, model="m.keras")  # fmt: skip
    written = write_sweep(result, tmp_path)
    assert sorted(p.name for p in written) == ["sweep.json", "sweep.md", "sweep.png"]
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert len(data["points"]) == 3 and data["points"][0]["label"] == "onnx minmax n=500 per-channel"
    assert data["spread"]["onnx"]["accuracy_pp"] == pytest.approx(2.0)
    text = render_markdown(result)
    assert "| onnx | entropy | 500 | per-channel | 97.00 % | -2.00 | 98.00 % |" in text
    assert "load average 1.50 at start, 2.50 at end" in text
    assert "accuracy spread 2.00 pp" in text


def test_cli_rejects_a_bad_method_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["sweep", "--methods", "minmax,kl", "--model", str(tmp_path / "m.keras")]
    )
    assert result.exit_code == 2
    assert "valid: minmax, entropy, percentile" in result.output


def test_tiny_sweep_scores_every_point_and_confirms_on_all(tiny_model_path: Path, tiny_data) -> None:
    """The whole pipeline on the tiny model: per-channel on/off for ORT, one TFLite point."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf2onnx")
    from mnistedge.export.sweep import run_sweep

    config = SweepConfig(methods=("minmax",), sizes=(20,), test_sample=50)
    seen: list[str] = []
    result = run_sweep(tiny_model_path, tiny_data, config, progress=seen.append)
    assert [(p.format, p.samples, p.per_channel) for p in result.points] == [
        ("onnx", 20, True), ("onnx", 20, False), ("tflite", 20, True),
    ]  # fmt: skip
    assert all(p.n_test == 50 and 0 <= p.agreement <= 1 and p.size_bytes > 0 for p in result.points)
    assert [p.format for p in result.chosen] == ["onnx", "tflite"]
    assert all(p.n_test == len(tiny_data.y_test) for p in result.chosen)
    assert any(text.startswith("confirming") for text in seen)
    # per-tensor weights store one scale per tensor: the file is smaller than per-channel's
    onnx = {(p.samples, p.per_channel): p.size_bytes for p in result.points if p.format == "onnx"}
    assert onnx[(20, False)] < onnx[(20, True)]
