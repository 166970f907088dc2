"""`bench --extra-model`: your own model measured beside the exported ones, against the same Keras model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from foreign_models import by_hand, write_mlp
from typer.testing import CliRunner

from mnistedge.bench import BenchConfig, run_bench
from mnistedge.cli import app

FAST = {
    "batch_sizes": (1, 3),
    "threads": (1,),
    "warmup": 1,
    "runs": 3,
    "reference_runs": 3,
    "predict_runs": 1,
}


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like the ONNX model zoo's mnist-12: [1, 1, 28, 28] floats in [0, 1] in, logits out, batch 1."""
    path = tmp_path_factory.mktemp("zoo") / "mnist-zoo.onnx"
    return write_mlp(path, [1, 1, 28, 28], [1, 784], softmax=False, output_batch=1)


def test_extra_model_rows_sit_beside_the_exported_ones(tiny_export, tiny_model_path, tiny_data, zoo_model):
    normalization = {"scale": 1 / 255, "mean": 0.5, "std": 0.25}
    extra = {"extra_models": (str(zoo_model),), "extra_load_options": normalization}
    config = BenchConfig(**FAST, only=("model_int8.tflite",), **extra)
    x, y = tiny_data.x_test, tiny_data.y_test
    report = run_bench(tiny_export, x, y, model_path=tiny_model_path, config=config)
    rows = [r for r in report.rows if r.artifact == zoo_model.name]
    assert [r.batch_size for r in rows] == [1, 3] and all(r.status == "ok" for r in rows)
    expected = by_hand(zoo_model, x, **normalization, fixed=1).argmax(axis=1)
    assert (by_hand(zoo_model, x, fixed=1).argmax(axis=1) != expected).any()  # the normalization matters
    assert rows[0].accuracy == float(np.mean(expected == y))
    assert rows[0].format == "onnx" and rows[0].engine == "onnxruntime"
    keras = next(r for r in report.rows if r.artifact == "model.keras")
    assert rows[0].agreement is not None
    assert rows[0].accuracy_delta_pp == pytest.approx(100 * (rows[0].accuracy - keras.accuracy))
    assert {r.artifact for r in report.rows} == {"model.keras", "model_int8.tflite", zoo_model.name}


def test_extra_model_without_keras_reference_reports_agreement_as_na(tiny_data, zoo_model, tmp_path):
    config = BenchConfig(**FAST, keras_reference=False, extra_models=(str(zoo_model),),
                         extra_load_options={"scale": 1 / 255})  # fmt: skip
    report = run_bench(tmp_path / "no-export", tiny_data.x_test, tiny_data.y_test, config=config)
    assert [r.artifact for r in report.rows] == [zoo_model.name] * 2
    assert all(r.agreement is None and r.accuracy is not None for r in report.rows)


def test_bench_cli_takes_extra_models_and_their_normalization(tiny_export, tiny_npz, zoo_model, tmp_path):
    args = ["bench", "--export-dir", str(tiny_export), "--no-keras", "--no-plots", "--source", str(tiny_npz),
            "--only", "model.onnx", "--extra-model", str(zoo_model), "--scale", "1/255", "--output", "logits",
            "--batch-sizes", "1", "--threads", "1", "--warmup", "1", "--runs", "3", "--out", str(tmp_path),
            "--quiet", "--target", "desktop"]  # fmt: skip
    result = CliRunner().invoke(app, args, terminal_width=250)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "bench" / "report.json").read_text())["rows"]
    assert {r["artifact"] for r in rows} == {"model.onnx", zoo_model.name}
    bad = CliRunner().invoke(app, [*args[:-2], "--scale", "one/255"])
    assert bad.exit_code == 2 and "--scale" in bad.output
