"""Turn a child process's measurement into report rows (one per call × batch size)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.config import ArtifactEntry
from mnistedge.bench.measure import MeasureSpec
from mnistedge.bench.report import BenchRow
from mnistedge.bench.timing import LatencyStats
from mnistedge.core import metrics
from mnistedge.core.formats import FORMATS

__all__ = ["artifact_rows", "edge_figures", "failed_row", "keras_rows", "latency_fields"]

LATENCY_FIELDS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms")
KERAS_BASELINE_CALL = "model(x)"  # speed-ups are against Keras's fastest everyday call


def _latency(timing: dict[str, Any]) -> dict[str, Any]:
    # From the median call, not the mean: on a shared machine the mean follows other
    # processes' bursts, and the table compares formats, not the machine's load.
    p50_s = timing["p50_ms"] / 1e3
    return {
        "warmup": timing["warmup"],
        "n_samples": timing["n"],
        **{name: timing[name] for name in LATENCY_FIELDS},
        "throughput_ips": timing["batch_size"] / p50_s if p50_s > 0 else None,
    }


def latency_fields(samples_ms: Sequence[float], batch_size: int, warmup: int) -> dict[str, Any]:
    """A row's latency fields from per-call milliseconds timed elsewhere (a browser page, TFLM)."""
    stats = LatencyStats.from_samples(np.asarray(samples_ms, dtype=np.float64) * 1e6)
    return _latency({"batch_size": batch_size, "warmup": warmup, **stats.to_dict()})


def _common(result: dict[str, Any], predictions: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "load_ms": result["load_ms"],
        "cold_ms": result["cold_ms"],
        "peak_memory_mb": result.get("peak_memory_mb"),
        "n_test": len(labels),
        "accuracy": metrics.accuracy(predictions, labels),
        "per_class_accuracy": metrics.per_class_accuracy(predictions, labels),
    }


def _versus(predictions: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """How the artifact's labels compare with the reference's (the Keras model's)."""
    return {
        "accuracy_delta_pp": metrics.accuracy_delta_pp(predictions, reference, labels),
        "agreement": metrics.agreement(predictions, reference),
        "flipped": int(metrics.flipped_indices(predictions, reference).size),
        "per_class_delta_pp": metrics.per_class_delta_pp(predictions, reference, labels),
    }


def edge_figures(
    probabilities: np.ndarray,
    native_probabilities: np.ndarray,
    labels: np.ndarray,
    keras_labels: np.ndarray | None,
) -> dict[str, Any]:
    """An edge row's accuracy fields: against the labels, the Python runtime on the same file
    ("native", probabilities (N, 10)), and the Keras model when its labels are given."""
    predicted, native = probabilities.argmax(axis=1), native_probabilities.argmax(axis=1)
    figures = {
        "n_test": len(labels),
        "accuracy": metrics.accuracy(predicted, labels),
        "per_class_accuracy": metrics.per_class_accuracy(predicted, labels),
        "native_agreement": metrics.agreement(predicted, native),
        "native_max_abs_prob_diff": metrics.max_abs_diff(probabilities, native_probabilities),
        "native_accuracy_delta_pp": metrics.accuracy_delta_pp(predicted, native, labels),
    }
    return figures if keras_labels is None else {**figures, **_versus(predicted, keras_labels, labels)}


def _keras_p50(reference: tuple[dict, np.ndarray] | None) -> dict[int, float]:
    if reference is None:
        return {}
    return {t["batch_size"]: t["p50_ms"] for t in reference[0]["timings"] if t["call"] == KERAS_BASELINE_CALL}


def keras_rows(
    spec: MeasureSpec, result: dict[str, Any], predictions: np.ndarray, labels: np.ndarray
) -> list[BenchRow]:
    """Rows for the Keras reference: ``model(x)`` and ``model.predict`` per batch size."""
    info, common = result["info"], _common(result, predictions, labels)
    keras_p50 = _keras_p50((result, predictions))
    size = _file_size(spec.model_path)
    return [
        BenchRow(
            artifact="model.keras",
            format="keras",
            quantization="none",
            engine="keras",
            call=t["call"],
            provider=info["provider"],
            threads=spec.threads,
            batch_size=t["batch_size"],
            size_bytes=size,
            **common,
            **_latency(t),
            speedup_vs_keras=keras_p50[t["batch_size"]] / t["p50_ms"],
            accuracy_delta_pp=0.0,
            agreement=1.0,
            flipped=0,
            per_class_delta_pp=[0.0] * 10,
        )
        for t in result["timings"]
    ]


def _file_size(path: str) -> int | None:
    p = Path(path)
    return p.stat().st_size if p.is_file() else None


def _quantization(entry: ArtifactEntry, info: dict[str, Any]) -> str:
    """The manifest's label; else the runtime's guess, in the export vocabulary ("none")."""
    label = entry.quantization or info.get("quantization") or "unknown"
    return "none" if label in ("fp32", "float32") else label


def artifact_rows(
    spec: MeasureSpec,
    entry: ArtifactEntry,
    result: dict[str, Any],
    predictions: np.ndarray,
    labels: np.ndarray,
    reference: tuple[dict, np.ndarray] | None,
) -> list[BenchRow]:
    """Rows for one artifact run through ``mnistedge.runtime``, one per batch size."""
    info = result["info"]
    common = _common(result, predictions, labels)
    if reference is not None:
        common.update(_versus(predictions, reference[1], labels))
    keras_p50 = _keras_p50(reference)
    raw_p50 = {t["batch_size"]: t["p50_ms"] for t in result.get("raw", [])}
    rows = []
    for t in result["timings"]:
        batch = t["batch_size"]
        raw = raw_p50.get(batch)
        rows.append(
            BenchRow(
                artifact=entry.file,
                format=info.get("format") or entry.format,
                quantization=_quantization(entry, info),
                engine=info.get("engine", ""),
                call=t["call"],
                provider=info.get("provider", spec.provider),
                threads=spec.threads,
                batch_size=batch,
                size_bytes=entry.size_bytes,
                **common,
                **_latency(t),
                raw_p50_ms=raw,
                overhead_ratio=t["p50_ms"] / raw if raw else None,
                speedup_vs_keras=keras_p50[batch] / t["p50_ms"] if batch in keras_p50 else None,
            )
        )
    return rows


def failed_row(spec: MeasureSpec, entry: ArtifactEntry | None, error: str) -> BenchRow:
    """A row that records a measurement that did not complete, and why."""
    is_keras = entry is None
    return BenchRow(
        artifact="model.keras" if is_keras else entry.file,
        format="keras" if is_keras else entry.format,
        quantization="none" if is_keras else (entry.quantization or "unknown"),
        engine="keras" if is_keras else FORMATS[entry.format].engine,
        call="model(x)" if is_keras else "predict",
        provider=spec.provider,
        threads=spec.threads,
        batch_size=spec.batch_sizes[0],
        status="failed",
        error=error,
        size_bytes=None if is_keras else entry.size_bytes,
    )
