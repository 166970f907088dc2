"""ONNX export: float32 through tf2onnx, int8 through ONNX Runtime static quantization (QDQ).

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

__all__ = ["EXPORTER", "OPSETS", "read_io", "write_onnx"]

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
    from onnxruntime import quantization as ortq
    from onnxruntime.quantization.shape_inference import quant_pre_process

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
    prepared = float_model.with_name("prepared.onnx")
    quant_pre_process(str(float_model), str(prepared))
    ortq.quantize_static(
        str(prepared),
        str(target),
        Reader(calibration.images),
        calibrate_method=methods[calibration.config.method],
        **int8_settings(ortq),
    )


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
    """Convert ``model`` to ONNX at ``path`` (written atomically); int8 is QDQ static quantization."""
    onnx = require("onnx", "export")
    proto = _to_onnx(model, opset)
    with atomic_path(path) as tmp:
        if quantization is Quantization.INT8:
            assert calibration is not None, "int8 needs a calibration set (checked before conversion)"
            with tempfile.TemporaryDirectory(prefix="mnistedge-onnx-") as work:
                float_model = Path(work) / "float.onnx"
                onnx.save(proto, str(float_model))
                _quantize_int8(float_model, tmp, calibration)
        else:
            onnx.save(proto, str(tmp))
    inp, out = read_io(path)
    versions = library_versions("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime")
    converter = {"name": "tf2onnx", "opset": opset, "versions": versions}
    if quantization is Quantization.INT8:
        from onnxruntime import quantization as ortq

        settings = {k: getattr(v, "name", v) for k, v in int8_settings(ortq).items()}
        converter["quantizer"] = {"name": "onnxruntime.quantization.quantize_static", **settings}
    return Written(input=inp, output=out, converter=converter)


def _spec(value: Any) -> TensorSpec:
    onnx = require("onnx", "export")
    tensor_type = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
    return TensorSpec(name=value.name, shape=shape, dtype=dtype)


def read_io(path: Path) -> tuple[TensorSpec, TensorSpec]:
    """The graph's input and output specs (QDQ int8 keeps float32 I/O: quantization is inside)."""
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
