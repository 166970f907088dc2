"""Synthetic bench reports for the bench unit tests (no measuring, so they run in milliseconds)."""

from __future__ import annotations

import dataclasses

from mnistedge.bench.report import BenchRow, Report
from mnistedge.bench.summary import summarize
from mnistedge.core.env import capture_env

# (artifact, format, quantization, engine, accuracy, size_bytes, p50 at batch 1 in ms)
ARTIFACTS = (
    ("model.tflite", "tflite", "none", "litert", 0.9940, 140_000, 0.020),
    ("model_fp16.tflite", "tflite", "fp16", "litert", 0.9940, 72_000, 0.022),
    ("model_dynamic.tflite", "tflite", "dynamic", "litert", 0.9939, 40_000, 0.030),
    ("model_int8.tflite", "tflite", "int8", "litert", 0.9935, 42_000, 0.015),
    ("model_int16x8.tflite", "tflite", "int16x8", "litert", 0.9940, 43_000, 0.250),
    ("model.onnx", "onnx", "none", "onnxruntime", 0.9940, 139_000, 0.050),
    ("model_fp16.onnx", "onnx", "fp16", "onnxruntime", 0.9940, 71_000, 0.050),
    ("model_dynamic.onnx", "onnx", "dynamic", "onnxruntime", 0.9938, 41_000, 0.120),
    ("model_int8.onnx", "onnx", "int8", "onnxruntime", 0.9925, 60_000, 0.060),
)
KERAS_ACCURACY = 0.9940


def fake_row(**fields) -> BenchRow:
    """A complete, plausible row; ``fields`` override any value."""
    base = dict(
        artifact="model.tflite",
        format="tflite",
        quantization="none",
        engine="litert",
        call="predict",
        provider="xnnpack",
        threads=1,
        batch_size=1,
        size_bytes=140_000,
        load_ms=2.0,
        cold_ms=0.3,
        warmup=50,
        n_samples=500,
        p50_ms=0.02,
        p90_ms=0.025,
        p99_ms=0.04,
        mean_ms=0.021,
        std_ms=0.003,
        min_ms=0.018,
        max_ms=0.09,
        throughput_ips=1 / 0.021e-3,
        raw_p50_ms=0.018,
        overhead_ratio=0.02 / 0.018,
        speedup_vs_keras=3.7 / 0.02,
        peak_memory_mb=3.5,
        n_test=10_000,
        accuracy=0.994,
        accuracy_delta_pp=0.0,
        agreement=1.0,
        flipped=0,
        per_class_accuracy=[0.994] * 10,
        per_class_delta_pp=[0.0] * 10,
    )
    return BenchRow(**{**base, **fields})


def fake_rows(batch_sizes=(1, 64), threads=(1, 2)) -> list[BenchRow]:
    """Keras reference rows plus every artifact × threads × batch size."""
    rows = []
    for batch in batch_sizes:
        for call, p50 in (("model(x)", 3.7), ("model.predict", 58.0)):
            rows.append(
                fake_row(
                    artifact="model.keras",
                    format="keras",
                    engine="keras",
                    call=call,
                    provider="CPU",
                    threads=max(threads),
                    batch_size=batch,
                    size_bytes=450_000,
                    p50_ms=p50 * (1 + batch / 64),
                    p99_ms=p50 * 1.5 * (1 + batch / 64),
                    mean_ms=p50 * (1 + batch / 64),
                    raw_p50_ms=None,
                    overhead_ratio=None,
                    speedup_vs_keras=3.7 / p50,
                    accuracy=KERAS_ACCURACY,
                )
            )
    keras_p50 = {b: 3.7 * (1 + b / 64) for b in batch_sizes}
    for name, fmt, quant, engine, accuracy, size, p50_1 in ARTIFACTS:
        delta = 100 * (accuracy - KERAS_ACCURACY)
        for n in threads:
            for batch in batch_sizes:
                p50 = p50_1 * (1 + batch / 2) / (1 + 0.3 * (n - 1) * (batch > 1))
                rows.append(
                    fake_row(
                        artifact=name,
                        format=fmt,
                        quantization=quant,
                        engine=engine,
                        provider="xnnpack" if engine == "litert" else "CPUExecutionProvider",
                        threads=n,
                        batch_size=batch,
                        size_bytes=size,
                        p50_ms=p50,
                        p90_ms=p50 * 1.2,
                        p99_ms=p50 * 2,
                        mean_ms=p50 * 1.05,
                        throughput_ips=batch / (p50 * 1.05e-3),
                        raw_p50_ms=p50 / 1.08 if batch == 1 else None,
                        overhead_ratio=1.08 if batch == 1 else None,
                        speedup_vs_keras=keras_p50[batch] / p50,
                        accuracy=accuracy,
                        accuracy_delta_pp=delta,
                        agreement=1.0 - abs(delta) / 100,
                        flipped=round(abs(delta) * 100),
                        per_class_accuracy=[accuracy] * 10,
                        per_class_delta_pp=[delta * (1 + (d % 3 - 1) * 0.5) for d in range(10)],
                    )
                )
    return rows


def fake_report(rows: list[BenchRow] | None = None) -> Report:
    rows = fake_rows() if rows is None else rows
    return Report(
        env=capture_env(),
        config={
            "batch_sizes": [1, 64],
            "threads": [1, 2],
            "warmup": 50,
            "runs": 500,
            "predict_warmup": 5,
            "reference_runs": 100,
            "predict_runs": 20,
            "n_test": 10_000,
            "data_source": "synthetic",
        },
        rows=tuple(rows),
        summary=summarize(rows),
        created="2025-01-01T00:00:00+00:00",
        wall_seconds=12.5,
    )


def doctored(report: Report, artifact: str, **fields) -> Report:
    """A copy of ``report`` with ``fields`` replaced on every row of ``artifact``."""
    rows = tuple(dataclasses.replace(r, **fields) if r.artifact == artifact else r for r in report.rows)
    return dataclasses.replace(report, rows=rows)
