"""The sweep's grid points: calibrate and quantize each, then score it against the Keras model.

Builders return each point's fields as a dict (``sweep.SweepPoint`` builds from it), so this module
does not import ``sweep`` back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.logs import native_stderr_silenced
from mnistedge.core.tensors import Quantization
from mnistedge.export.calibration import CalibrationConfig

__all__ = ["BUILDERS", "score_artifact"]


def score_artifact(
    path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray
) -> dict[str, Any]:
    """Accuracy, agreement with the Keras ``reference`` and |Δp| of the artifact at ``path``."""
    from mnistedge.runtime import load

    with native_stderr_silenced():  # LiteRT's "Created XNNPACK delegate" line
        probabilities = load(path).predict_proba(images)
    predicted = probabilities.argmax(axis=1)
    return {
        "n_test": len(labels),
        "accuracy": float(np.mean(predicted == labels)),
        "agreement": float(np.mean(predicted == reference.argmax(axis=1))),
        "max_abs_prob_diff": float(np.max(np.abs(probabilities - reference))),
        "mean_abs_prob_diff": float(np.mean(np.max(np.abs(probabilities - reference), axis=1))),
    }


def _onnx_points(
    model: Any,
    calibrations: dict[int, np.ndarray],
    config: Any,  # sweep.SweepConfig
    work: Path,
    score: Callable[[Path], dict[str, Any]],
    progress: Callable[[str], None],
) -> list[tuple[dict[str, Any], Path]]:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mnistedge.export.onnx import quantize_static_onnx, write_onnx

    write_onnx(model, work / "float.onnx", Quantization.NONE)
    quant_pre_process(str(work / "float.onnx"), str(work / "prepared.onnx"))
    out = []
    for method in config.methods:
        for n in config.sizes:
            cache = work / f"ranges_{method}_{n}.json"
            for per_channel in config.per_channel:
                path = work / f"onnx_{method}_{n}_{'pc' if per_channel else 'pt'}.onnx"
                progress(f"onnx {method} n={n} per_channel={per_channel}")
                started = time.perf_counter()
                quantize_static_onnx(work / "prepared.onnx", path, calibrations[n], method,
                                     per_channel=per_channel, ranges_cache=cache)  # fmt: skip
                seconds = time.perf_counter() - started
                point = {"format": "onnx", "method": method, "samples": n, "per_channel": per_channel,
                         "size_bytes": path.stat().st_size, "seconds": seconds, **score(path)}  # fmt: skip
                out.append((point, path))
    return out


def _tflite_points(
    model: Any,
    calibrations: dict[int, np.ndarray],
    config: Any,  # sweep.SweepConfig
    work: Path,
    score: Callable[[Path], dict[str, Any]],
    progress: Callable[[str], None],
) -> list[tuple[dict[str, Any], Path]]:
    from mnistedge.export.calibration import CalibrationSet
    from mnistedge.export.tflite import write_tflite

    out = []
    for n in config.sizes:
        path = work / f"tflite_minmax_{n}.tflite"
        progress(f"tflite minmax n={n}")
        started = time.perf_counter()
        calibration = CalibrationSet(CalibrationConfig(n, config.seed), calibrations[n])
        write_tflite(model, path, Quantization.INT8, calibration)
        seconds = time.perf_counter() - started
        point = {"format": "tflite", "method": "minmax", "samples": n, "per_channel": True,
                 "size_bytes": path.stat().st_size, "seconds": seconds, **score(path)}  # fmt: skip
        out.append((point, path))
    return out


# format -> builder(model, calibration images per size, config, work dir, score, progress) -> points
BUILDERS: dict[str, Callable[..., list[tuple[dict[str, Any], Path]]]] = {
    "onnx": _onnx_points,
    "tflite": _tflite_points,
}
