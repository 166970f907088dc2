"""End to end on a tiny exported model: run_bench, the `bench` and `run` commands.

The reported accuracies must equal what the runtime gives when called directly, and every
latency figure must come from exactly the number of timed calls asked for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from runtime_fixtures import EDGE_FILES, WEB_MODELS
from typer.testing import CliRunner

import mnistedge.bench as bench
from mnistedge.bench import BenchConfig, run_bench
from mnistedge.cli import app
from mnistedge.core.targets import TARGETS

pytest.importorskip("tensorflow")
SIX = set(EDGE_FILES)
CONFIG = BenchConfig(
    batch_sizes=(1, 8), threads=(1,), warmup=3, runs=17, reference_runs=11, predict_warmup=1, predict_runs=3
)
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_report(tiny_export: Path, tiny_model_path: Path, tiny_data) -> bench.Report:
    return run_bench(
        tiny_export,
        tiny_data.x_test,
        tiny_data.y_test,
        model_path=tiny_model_path,
        config=CONFIG,
        data_source="tiny",
    )


def test_every_artifact_and_the_keras_reference_are_measured(tiny_report: bench.Report) -> None:
    rows = tiny_report.rows
    assert all(r.status == "ok" for r in rows), [r.error for r in rows if r.error]
    assert {r.artifact for r in rows} == {*SIX, "model.keras"}
    keras = [r for r in rows if r.engine == "keras"]
    assert sorted((r.call, r.batch_size) for r in keras) == [
        ("model(x)", 1),
        ("model(x)", 8),
        ("model.predict", 1),
        ("model.predict", 8),
    ]
    artifacts = [r for r in rows if r.engine != "keras"]
    assert len(artifacts) == len(EDGE_FILES) * 2  # each artifact x one thread count x two batch sizes
    assert {r.engine for r in artifacts} == {"litert", "onnxruntime"}


def test_latency_figures_come_from_exactly_the_requested_calls(tiny_report: bench.Report) -> None:
    for row in tiny_report.rows:
        expected = {"model.predict": CONFIG.predict_runs, "model(x)": CONFIG.reference_runs}.get(
            row.call, CONFIG.runs
        )
        assert row.n_samples == expected, row
        assert row.min_ms <= row.p50_ms <= row.p90_ms <= row.p99_ms <= row.max_ms
        assert row.throughput_ips == pytest.approx(row.batch_size / (row.p50_ms / 1e3))
        assert row.load_ms > 0 and row.cold_ms > 0
        assert row.peak_memory_mb is not None and row.peak_memory_mb >= 0


def test_overhead_and_speedup_fields(tiny_report: bench.Report) -> None:
    keras_p50 = {r.batch_size: r.p50_ms for r in tiny_report.rows if r.call == "model(x)"}
    for row in tiny_report.artifact_rows:
        if row.batch_size == 1:
            assert row.raw_p50_ms > 0
            assert row.overhead_ratio == pytest.approx(row.p50_ms / row.raw_p50_ms)
        else:
            assert row.raw_p50_ms is None and row.overhead_ratio is None
        assert row.speedup_vs_keras == pytest.approx(keras_p50[row.batch_size] / row.p50_ms)


def test_reported_accuracy_equals_the_runtime_called_directly(
    tiny_report: bench.Report, tiny_export: Path, tiny_model_path: Path, tiny_data
) -> None:
    import keras

    from mnistedge.runtime import load

    x, y = tiny_data.x_test, tiny_data.y_test
    reference = (
        keras.models.load_model(tiny_model_path)
        .predict(x[..., None].astype("float32"), verbose=0)
        .argmax(axis=1)
    )
    for row in tiny_report.rows:
        if row.engine == "keras":
            predictions = reference
        else:
            predictions = load(tiny_export / row.artifact).predict(x)
            assert row.agreement == pytest.approx(np.mean(predictions == reference))
            assert row.flipped == int(np.sum(predictions != reference))
            assert row.accuracy_delta_pp == pytest.approx(
                100 * (np.mean(predictions == y) - np.mean(reference == y))
            )
        assert row.accuracy == pytest.approx(np.mean(predictions == y)), row.artifact
        assert row.n_test == len(y)
        for digit in range(10):
            mask = y == digit
            assert row.per_class_accuracy[digit] == pytest.approx(np.mean(predictions[mask] == digit))


def test_summary_and_outputs_of_a_real_run(tiny_report: bench.Report, tmp_path: Path) -> None:
    summary = tiny_report.summary
    assert summary["float_accuracy"] is not None
    assert set(summary["quantized"]) == {
        "model_fp16.tflite",
        "model_dynamic.tflite",
        "model_int8.tflite",
        "model_int16x8.tflite",
        "model_fp16.onnx",
        "model_dynamic.onnx",
        "model_int8.onnx",
    }
    assert set(summary["overhead_ratio"]) == {"litert", "onnxruntime"}
    written = bench.write_outputs(tiny_report, tmp_path, plots=False)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["config"]["runs"] == 17 and data["config"]["data_source"] == "tiny"
    assert len(data["rows"]) == len(tiny_report.rows)
    assert {p.name for p in written} == {"report.json", "report.md"}
    assert tiny_report.env.versions["onnxruntime"]


def test_a_model_that_cannot_load_is_a_failed_row_not_a_crash(
    tiny_export: Path, tmp_path: Path, tiny_data
) -> None:
    shutil.copy(tiny_export / "model_int8.tflite", tmp_path / "good.tflite")
    (tmp_path / "bad.onnx").write_bytes(np.random.default_rng(0).bytes(4096))
    config = BenchConfig(batch_sizes=(1,), threads=(1,), warmup=1, runs=4, keras_reference=False)
    report = run_bench(tmp_path, tiny_data.x_test, tiny_data.y_test, config=config)
    by_name = {r.artifact: r for r in report.rows}
    assert by_name["good.tflite"].status == "ok" and by_name["good.tflite"].n_samples == 4
    assert by_name["good.tflite"].agreement is None  # no Keras reference asked for
    bad = by_name["bad.onnx"]
    assert bad.status == "failed" and "bad.onnx" in bad.error and "exit code 1" in bad.error
    assert report.summary["failed"] == ["bad.onnx (1 threads)"]


def test_bad_inputs_are_refused_before_measuring(tiny_export: Path, tiny_data, tmp_path: Path) -> None:
    x, y = tiny_data.x_test, tiny_data.y_test
    with pytest.raises(ValueError, match=r"uint8 \(N, 28, 28\)"):
        run_bench(tiny_export, x.astype(np.float32), y)
    with pytest.raises(ValueError, match=r"x_test has \d+ images but y_test has \d+ labels"):
        run_bench(tiny_export, x, y[:-1])
    with pytest.raises(FileNotFoundError, match="mnistedge export --format all"):
        run_bench(tmp_path / "nowhere", x, y)
    with pytest.raises(ValueError, match=r"no \.tflite or \.onnx artifacts"):
        run_bench(tmp_path, x, y)
    with pytest.raises(ValueError, match=r"--only names \['nope.onnx'\]"):
        run_bench(tiny_export, x, y, config=BenchConfig(only=("nope.onnx",)))
    with pytest.raises(ValueError, match="batch_sizes must be integers >= 1"):
        BenchConfig(batch_sizes=(0,))


def test_measure_child_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "mnistedge.bench.measure"], capture_output=True, text=True)
    assert out.returncode == 2 and "usage" in out.stderr


def test_bench_command_writes_the_report(tiny_export: Path, tiny_npz: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench",
            "--out",
            str(tmp_path),
            "--export-dir",
            str(tiny_export),
            "--source",
            str(tiny_npz),
            "--only",
            "model_int8.tflite",
            "--only",
            "model.onnx",
            "--threads",
            "1",
            "--batch-sizes",
            "1,4",
            "--warmup",
            "1",
            "--runs",
            "5",
            "--no-keras",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "model_int8.tflite" in result.output and "model.onnx" in result.output
    report = bench.load_report(tmp_path / "bench" / "report.json")
    assert {(r.artifact, r.batch_size) for r in report.rows} == {
        ("model_int8.tflite", 1),
        ("model_int8.tflite", 4),
        ("model.onnx", 1),
        ("model.onnx", 4),
    }
    assert all(r.n_samples == 5 for r in report.rows)
    assert {p.name for p in (tmp_path / "bench").iterdir()} == {
        "report.json",
        "report.md",
        "latency.png",
        "accuracy_vs_latency.png",
        "per_class_delta.png",
    }


@pytest.mark.slow
def test_run_command_trains_exports_and_benches(tiny_npz: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--out",
            str(tmp_path),
            "--source",
            str(tiny_npz),
            "--arch",
            "tiny",
            "--epochs",
            "1",
            "--no-verify",
            "--no-plots",
            "--threads",
            "1",
            "--batch-sizes",
            "1",
            "--warmup",
            "1",
            "--runs",
            "3",
            "--predict-runs",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    for stage in ("data", "train", "export", "bench", "Goals", "mnistedge run finished in"):
        assert stage in result.output
    report = bench.load_report(tmp_path / "bench" / "report.json")
    desktop = {r.artifact for r in report.rows if r.target == "desktop"}
    assert desktop == {*SIX, "model.keras"}
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "export" / "manifest.json").is_file()
    # Where a browser exists, run builds the web bundle and adds its rows (a sample of the test set).
    browser = [r for r in report.rows if r.target == "browser"]
    if TARGETS["browser"].skip_reason() is None:
        assert "browser rows use a seeded sample of 2,000" in " ".join(result.output.split())
        assert {r.artifact for r in browser} == {f"web/models/{f}" for f in WEB_MODELS}
        assert report.env.extra["browser"]["cross_origin_isolated"] is True
    else:
        assert browser == [] and "skipping target browser" in result.output
    tflm = [(r.artifact, r.n_test, r.arena_bytes > 0) for r in report.rows if r.target == "tflm"]
    if TARGETS["tflm"].skip_reason() is None:
        assert tflm == [("tflm/model_int8.tflite", 200, True)]
    else:
        assert tflm == [] and "skipping target tflm" in result.output


def test_run_rejects_an_unknown_arch() -> None:
    result = runner.invoke(app, ["run", "--arch", "resnet1000"])
    assert result.exit_code == 2
    assert "resnet1000" in result.output
