"""TFLite (LiteRT) export: float32, float16 weights, dynamic-range int8, full-integer int8, int16x8."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.env import library_versions
from mnistedge.core.io import atomic_write_bytes
from mnistedge.core.logs import native_stderr_silenced
from mnistedge.core.tensors import Quantization, TensorSpec
from mnistedge.export._exporter import Exporter, Written
from mnistedge.export._graph import write_saved_model
from mnistedge.export.calibration import CalibrationSet

__all__ = ["EXPORTER", "IO_TYPES", "read_io", "write_tflite"]

IO_TYPES = ("int8", "uint8", "float32")  # int8 artifact input/output type
MAX_BATCH = 4096  # a fixed batch dimension beyond this is a typo, not a deployment


def _float32(
    converter: Any, tf: Any, calibration: CalibrationSet | None, io_type: str, batch: int | None
) -> None:
    """Nothing to set: the converter's default is the float32 graph."""


def _fp16(
    converter: Any, tf: Any, calibration: CalibrationSet | None, io_type: str, batch: int | None
) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic(
    converter: Any, tf: Any, calibration: CalibrationSet | None, io_type: str, batch: int | None
) -> None:
    # Optimize.DEFAULT without a representative dataset is dynamic-range: int8 weights only.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _calibrate(converter: Any, tf: Any, calibration: CalibrationSet | None, batch: int | None) -> None:
    """Full-integer conversion: Optimize.DEFAULT with the calibration images as representative set."""
    assert calibration is not None, "a calibrated quantization needs a calibration set (checked before)"
    images = calibration.images
    step = batch or 1
    if len(images) % step:  # a fixed batch takes whole batches: wrap around to fill the last one,
        # which repeats images already seen and so leaves the min/max ranges exactly as they are
        images = np.concatenate([images, images[: step - len(images) % step]])

    def representative_dataset() -> Any:
        for i in range(0, images.shape[0], step):
            yield [images[i : i + step]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset


def _int8(
    converter: Any, tf: Any, calibration: CalibrationSet | None, io_type: str, batch: int | None
) -> None:
    _calibrate(converter, tf, calibration, batch)
    # Only integer kernels: conversion fails rather than silently keeping a float op.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, io_type)
    converter.inference_output_type = getattr(tf, io_type)


def _int16x8(
    converter: Any, tf: Any, calibration: CalibrationSet | None, io_type: str, batch: int | None
) -> None:
    # int16 activations, int8 weights, int64 bias; the same calibration as int8. I/O stays float32
    # (the converter's default for 16x8): a QUANTIZE in front, a DEQUANTIZE behind, and every op
    # between them in 16x8 (measured on the default cnn). XNNPACK has no 16x8 kernels: LiteRT runs
    # them all on its built-in kernels (the backend reports provider "cpu" under "auto").
    _calibrate(converter, tf, calibration, batch)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]


_CONFIGURE: dict[Quantization, Callable[[Any, Any, CalibrationSet | None, str, int | None], None]] = {
    Quantization.NONE: _float32,
    Quantization.FP16: _fp16,
    Quantization.DYNAMIC: _dynamic,
    Quantization.INT8: _int8,
    Quantization.INT16X8: _int16x8,
}


def write_tflite(
    model: Any,
    path: Path,
    quantization: Quantization,
    calibration: CalibrationSet | None = None,
    *,
    io_type: str | None = None,
    batch: int | None = None,
) -> Written:
    """Convert ``model`` to a ``.tflite`` flatbuffer at ``path`` (written atomically).

    ``batch`` fixes the input's batch dimension (None: dynamic, resized at run time).
    """
    tf = require("tensorflow", "export")
    with tempfile.TemporaryDirectory(prefix="mnistedge-savedmodel-") as saved_model_dir:
        write_saved_model(model, Path(saved_model_dir), batch)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        _CONFIGURE[quantization](converter, tf, calibration, io_type or "int8", batch)
        with native_stderr_silenced():  # the MLIR quantizer prints its settings from C++
            flatbuffer = converter.convert()
    atomic_write_bytes(path, flatbuffer)
    inp, out = read_io(path)
    converter_info = {"name": "tflite", "opset": None, "versions": library_versions("tensorflow", "keras")}
    return Written(input=inp, output=out, converter=converter_info)


def _spec(detail: Mapping[str, Any]) -> TensorSpec:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail["quantization"]
    quantized = np.issubdtype(dtype, np.integer) and scale != 0.0
    return TensorSpec(
        name=str(detail["name"]),
        shape=tuple(int(d) for d in detail["shape_signature"]),
        dtype=dtype.name,
        scale=float(scale) if quantized else None,
        zero_point=int(zero_point) if quantized else None,
    )


def read_io(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The input and output tensor specs of a ``.tflite`` file, as LiteRT reports them."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return _spec(interpreter.get_input_details()[0]), _spec(interpreter.get_output_details()[0])


def _filename(quantization: Quantization, options: Mapping[str, Any]) -> str:
    io_type = options.get("io_type") or "int8"
    stem = "model" if quantization is Quantization.NONE else f"model_{quantization.value}"
    if quantization is Quantization.INT8 and io_type != "int8":
        stem += f"_{io_type}io"
    batch = options.get("batch")
    return f"{stem}_b{batch}.tflite" if batch is not None else f"{stem}.tflite"


def _check_options(quantization: Quantization, options: Mapping[str, Any]) -> None:
    batch = options.get("batch")
    valid = isinstance(batch, int) and not isinstance(batch, bool) and 1 <= batch <= MAX_BATCH
    if batch is not None and not valid:
        raise ValueError(
            f"batch must be None (dynamic) or an int in 1..{MAX_BATCH}, got {batch!r}; "
            "e.g. batch=1 for LiteRT.js, which rejects a dynamic batch dimension."
        )
    io_type = options.get("io_type")
    if io_type is None:
        return
    if io_type not in IO_TYPES:
        raise ValueError(f"Unknown io_type {io_type!r}. Valid io types are: {', '.join(IO_TYPES)}.")
    if quantization is not Quantization.INT8 and io_type != "float32":
        raise ValueError(
            f"io_type {io_type!r} applies only to --quantize int8; {quantization.value} TFLite "
            "models take and return float32. Drop --io-type or use --quantize int8."
        )


EXPORTER = Exporter(
    format="tflite",
    write=write_tflite,
    filename=_filename,
    # io_type None: int8 for int8 models (float32 for the others); batch None: dynamic.
    options={"io_type": None, "batch": None},
    check_options=_check_options,
)
