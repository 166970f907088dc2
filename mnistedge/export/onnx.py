"""ONNX export: float32 through tf2onnx; from it, ONNX Runtime's tools write the others:
fp16 (``onnxruntime.transformers.float16``, float32 I/O), dynamic-range (``quantize_dynamic``,
8-bit weights, activations quantized at run time) and int8 (static quantization, QDQ).

``tf2onnx.convert.from_keras`` fails on Keras 3, so the graph comes from a ``tf.function``
with an explicit input signature (``tf2onnx.convert.from_function``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.env import library_versions
from mnistedge.core.io import atomic_path
from mnistedge.core.tensors import Quantization, TensorSpec
from mnistedge.export._exporter import Exporter, Written
from mnistedge.export._graph import input_signature, serving_function
from mnistedge.export.calibration import CALIBRATION_METHODS, CalibrationSet

__all__ = ["EXPORTER", "OPSETS", "quantize_static_onnx", "read_io", "write_onnx"]

OPSETS = range(13, 19)  # per-channel QDQ needs >= 13; tf2onnx 1.17 stops at 18
DEFAULT_OPSET = 17
BATCH_DIM = "batch"
CALIBRATION_BATCH = 50


def _to_onnx(model: Any, opset: int) -> Any:
    """The float32 ModelProto, with a named dynamic batch dimension."""
    tf2onnx = require("tf2onnx", "export")
    proto, _ = tf2onnx.convert.from_function(
        serving_function(model), input_signature=input_signature(), opset=opset
    )
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    return proto


def _quantize_int8(float_model: Path, target: Path, calibration: CalibrationSet) -> None:
    """ORT static quantization: QDQ, per-channel int8 weights, int8 activations."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = float_model.with_name("prepared.onnx")
    quant_pre_process(str(float_model), str(prepared))
    quantize_static_onnx(prepared, target, calibration.images, calibration.config.method)


def quantize_static_onnx(
    prepared: Path,
    target: Path,
    images: np.ndarray | None,
    method: str,
    *,
    per_channel: bool = True,
    ranges_cache: Path | None = None,
    nodes_to_exclude: tuple[str, ...] | list[str] = (),
) -> None:
    """``quantize_static`` with the int8 settings on a pre-processed float model.

    ``ranges_cache``: ORT's calibration cache (JSON tensor ranges; onnxruntime >= 1.32). An existing
    one is used instead of calibrating (``images`` may then be None), a missing one is written, so
    a sweep calibrates each (method, images) once whatever else it varies. ``nodes_to_exclude``
    stay float (the profile's ablation keeps the front end float that way).
    """
    import contextlib
    import inspect
    import io

    from onnxruntime import quantization as ortq

    class Reader(ortq.CalibrationDataReader):
        def __init__(self, images: np.ndarray) -> None:
            self._batches = (
                {"pixels": images[i : i + CALIBRATION_BATCH]}
                for i in range(0, images.shape[0], CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    methods = {
        "minmax": ortq.CalibrationMethod.MinMax,
        "entropy": ortq.CalibrationMethod.Entropy,
        "percentile": ortq.CalibrationMethod.Percentile,
    }
    extra: dict[str, Any] = {}
    if (
        ranges_cache is not None
        and "calibration_cache_path" in inspect.signature(ortq.quantize_static).parameters
    ):
        extra["calibration_cache_path"] = str(ranges_cache)
    cached = "calibration_cache_path" in extra and ranges_cache is not None and ranges_cache.is_file()
    if images is None and not cached:
        raise ValueError(
            "quantize_static_onnx needs calibration images unless ranges_cache holds the ranges."
        )
    with contextlib.redirect_stdout(io.StringIO()):  # the histogram calibrators print their progress
        ortq.quantize_static(
            str(prepared),
            str(target),
            None if cached or images is None else Reader(images),
            calibrate_method=methods[method],
            nodes_to_exclude=list(nodes_to_exclude) or None,
            **{**int8_settings(ortq), "per_channel": per_channel},
            **extra,
        )


def _quantize_dynamic(float_model: Path, target: Path) -> None:
    from onnxruntime import quantization as ortq

    ortq.quantize_dynamic(str(float_model), str(target), **dynamic_settings(ortq))


def dynamic_settings(ortq: Any) -> dict[str, Any]:
    """``quantize_dynamic`` arguments (the manifest records them by name).

    Conv becomes DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul (scales), MatMul becomes
    MatMulInteger (fused by ORT into DynamicQuantizeMatMul). uint8 weights: ORT's CPU runs
    ConvInteger as a u8 x u8 GEMM, which has no int16 pair saturation on AVX2 CPUs without VNNI
    (the reason int8 uses reduce_range), so full 8-bit range is kept. Measured on the default cnn
    (AVX2, no VNNI): 99.97 % agreement with Keras, against 99.92 % with reduce_range.
    DynamicQuantizeLinear takes one scale per tensor over the whole batch, so an image's answer
    depends on its batch mates (default cnn: max |Δp| 0.043 between batch 1 and one 10k batch).
    """
    return {"weight_type": ortq.QuantType.QUInt8, "per_channel": False, "reduce_range": False}


def _to_fp16(proto: Any) -> Any:
    """Float16 weights and activations, float32 input and output (Casts at the two ends)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(proto, **FP16_SETTINGS)


FP16_SETTINGS = {"keep_io_types": True}


def int8_settings(ortq: Any) -> dict[str, Any]:
    """``quantize_static`` arguments for int8 (the manifest records them by name)."""
    return {
        "quant_format": ortq.QuantFormat.QDQ,
        "per_channel": True,
        "activation_type": ortq.QuantType.QInt8,
        "weight_type": ortq.QuantType.QInt8,
        # 7-bit weights. x86 CPUs with AVX2 but no VNNI run int8 convolutions with VPMADDUBSW,
        # whose int16 pair sums saturate with full-range weights: measured on such a CPU, the
        # default cnn's int8 ONNX went from 99.75 % agreement with Keras (-0.13 pp) to 99.99 %
        # (-0.01 pp) with it. The artifact must be right on every CPU it may meet.
        "reduce_range": True,
    }


def write_onnx(
    model: Any,
    path: Path,
    quantization: Quantization,
    calibration: CalibrationSet | None = None,
    *,
    opset: int = DEFAULT_OPSET,
) -> Written:
    """Convert ``model`` to ONNX at ``path`` (written atomically); int8 is QDQ static quantization,
    dynamic is ``quantize_dynamic``, fp16 a float16 graph with float32 I/O."""
    onnx = require("onnx", "export")
    proto = _to_onnx(model, opset)
    with atomic_path(path) as tmp:
        if quantization in (Quantization.INT8, Quantization.DYNAMIC):
            with tempfile.TemporaryDirectory(prefix="mnistedge-onnx-") as work:
                float_model = Path(work) / "float.onnx"
                onnx.save(proto, str(float_model))
                if quantization is Quantization.DYNAMIC:
                    _quantize_dynamic(float_model, tmp)
                else:
                    assert calibration is not None, "int8 needs a calibration set (checked before conversion)"
                    _quantize_int8(float_model, tmp, calibration)
        elif quantization is Quantization.FP16:
            onnx.save(_to_fp16(proto), str(tmp))
        else:
            onnx.save(proto, str(tmp))
    inp, out = read_io(path)
    versions = library_versions("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime")
    converter = {"name": "tf2onnx", "opset": opset, "versions": versions}
    if quantization in (Quantization.INT8, Quantization.DYNAMIC):
        from onnxruntime import quantization as ortq

        name, settings = (
            ("quantize_static", int8_settings(ortq))
            if quantization is Quantization.INT8
            else ("quantize_dynamic", dynamic_settings(ortq))
        )
        named = {k: getattr(v, "name", v) for k, v in settings.items()}
        converter["quantizer"] = {"name": f"onnxruntime.quantization.{name}", **named}
    elif quantization is Quantization.FP16:
        converter["quantizer"] = {
            "name": "onnxruntime.transformers.float16.convert_float_to_float16",
            **FP16_SETTINGS,
        }
    return Written(input=inp, output=out, converter=converter)


def _spec(value: Any) -> TensorSpec:
    onnx = require("onnx", "export")
    tensor_type = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    return TensorSpec(name=value.name, shape=shape, dtype=dtype)


def read_io(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The graph's input and output specs (all keep float32 I/O: quantization is inside)."""
    onnx = require("onnx", "export")
    graph = onnx.load(str(path), load_external_data=False).graph
    return _spec(graph.input[0]), _spec(graph.output[0])


def _filename(quantization: Quantization, options: Mapping[str, Any]) -> str:
    return "model.onnx" if quantization is Quantization.NONE else f"model_{quantization.value}.onnx"


def _check_options(quantization: Quantization, options: Mapping[str, Any]) -> None:
    opset = options["opset"]
    if not isinstance(opset, int) or isinstance(opset, bool) or opset not in OPSETS:
        raise ValueError(f"opset must be an integer in {OPSETS.start}..{OPSETS.stop - 1}, got {opset!r}.")


EXPORTER = Exporter(
    format="onnx",
    write=write_onnx,
    filename=_filename,
    options={"opset": DEFAULT_OPSET},
    check_options=_check_options,
    calibration_methods=CALIBRATION_METHODS,
)
