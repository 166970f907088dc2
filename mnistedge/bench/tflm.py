"""The TFLM target: the int8 model in TensorFlow Lite Micro's interpreter, with the exported arena.

TFLM runs here as its Python wheel (the C++ interpreter and reference kernels, built for this
host), one image per invoke, with exactly the arena ``tflm.json`` recommends. The latency is of
those reference kernels on this host's CPU: a relative figure, not a microcontroller's (a
Cortex-M runs them at its own clock, and with CMSIS-NN kernels much faster than reference).
"""

from __future__ import annotations

import json
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.bench.report import BenchRow
from mnistedge.bench.rows import edge_figures, latency_fields

__all__ = ["TFLM_WARMUP", "run_tflm_bench"]

TFLM_WARMUP = 10  # untimed invokes before the timed ones
TIMED = 1000  # invokes timed (the outputs of all images are compared)


def _tflm_version() -> str:
    try:
        return version("tflite-micro")
    except PackageNotFoundError:
        return "?"


def _invoke_times(model: Path, arena: int, tensors: np.ndarray) -> list[float]:
    """Milliseconds of each set_input + invoke + get_output, after TFLM_WARMUP untimed ones."""
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model.read_bytes(), arena_size=arena)
    times = []
    for i, tensor in enumerate(tensors):
        started = time.perf_counter_ns()
        interpreter.set_input(tensor[None], 0)
        interpreter.invoke()
        interpreter.get_output(0)
        if i >= TFLM_WARMUP:
            times.append((time.perf_counter_ns() - started) / 1e6)
    return times


def run_tflm_bench(
    bundle: Path, images: np.ndarray, labels: np.ndarray, keras_labels: np.ndarray | None = None
) -> tuple[list[BenchRow], dict[str, Any]]:
    """One row: the bundle's model in TFLM on ``images`` (uint8), each invoke timed.

    Raises:
        FileNotFoundError: no tflm bundle (the message says how to write one).
    """
    from mnistedge.export.tflm.arena import run_with_arena
    from mnistedge.export.tflm.fidelity import litert_int8_outputs, quantize_images

    record_path = bundle / "tflm.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"no tflm bundle at {bundle}: run `mnistedge export --format tflm` first.")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    model = bundle / record["source"]["file"]
    arena = int(record["arena"]["recommended_bytes"])
    tensors = quantize_images(images, record["input"]["scale"], record["input"]["zero_point"])
    tflm = run_with_arena(model, arena, tensors)  # checks the arena; clear errors if it cannot run
    times_ms = _invoke_times(model, arena, tensors[: max(TFLM_WARMUP + 1, min(len(tensors), TIMED))])
    litert = litert_int8_outputs(model, images, "reference")
    scale, zero_point = record["output"]["scale"], record["output"]["zero_point"]
    dequantized = (tflm.astype(np.float32) - zero_point) * scale
    native_proba = (litert.astype(np.float32) - zero_point) * scale
    row: dict[str, Any] = {
        "artifact": f"tflm/{model.name}",
        "format": "tflite",
        "quantization": "int8",
        "engine": f"TFLM {_tflm_version()} (reference kernels, on this host)",
        "call": "invoke",
        "provider": "reference",
        "threads": 1,
        "batch_size": 1,
        "size_bytes": int(record["flash_bytes"]),
        **latency_fields(times_ms, 1, TFLM_WARMUP),
        **edge_figures(dequantized, native_proba, labels, keras_labels),
        "target": "tflm",
        "arena_bytes": arena,
        "flash_bytes": int(record["flash_bytes"]),
    }
    env = {
        "tflite_micro": _tflm_version(),
        "arena": record["arena"],
        "n_test": len(labels),
        # TFLM against LiteRT's reference kernels and XNNPACK, on the export's full test set.
        "fidelity": record.get("fidelity"),
    }
    return [BenchRow(**row)], env
