"""Selective float: re-export both int8 artifacts with chosen layers left in float.

TFLite: the calibrated model through ``mlir_quantize(denylisted_nodes=...)`` (what
``QuantizationDebugger`` uses), op output tensor names; the kept ops get a DEQUANTIZE
before and a QUANTIZE after, I/O stays int8. ONNX: ``quantize_static(nodes_to_exclude=...)``
with the int8 settings, node names of the pre-processed graph. Each mixed file goes through
``run_jobs`` like any export: a manifest entry (its converter block records what stayed
float and why), then the fidelity check against Keras through ``mnistedge.runtime``.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnistedge.core.deps import require
from mnistedge.core.env import library_versions
from mnistedge.core.io import atomic_path, atomic_write_bytes
from mnistedge.core.tensors import Quantization
from mnistedge.export._exporter import Exporter, Written
from mnistedge.export.calibration import CalibrationSet
from mnistedge.export.debug.api import DebugReport
from mnistedge.export.debug.keep_float import KeepFloat, resolve_keep_float

__all__ = ["MIXED_FILES", "export_mixed", "mixed_exporter"]

MIXED_FILES = {"tflite": "model_int8_mixed.tflite", "onnx": "model_int8_mixed.onnx"}


def _write_tflite(model: Any, path: Path, quantization: Quantization, calibration: CalibrationSet | None,
                  *, keep: KeepFloat) -> Written:  # fmt: skip
    from mnistedge.export.debug.engines import tflite_calibrated, tflite_quantize
    from mnistedge.export.tflite import read_io

    assert calibration is not None, "int8 needs calibration (checked before conversion)"
    atomic_write_bytes(path, tflite_quantize(tflite_calibrated(model, calibration.images), keep.nodes))
    inp, out = read_io(path)
    converter = {
        "name": "tflite",
        "opset": None,
        "versions": library_versions("tensorflow", "keras"),
        "quantizer": {
            "name": "tensorflow.lite.python.convert.mlir_quantize",
            "denylisted_nodes": list(keep.nodes),
        },
        "keep_float": keep.to_dict(),
    }
    return Written(input=inp, output=out, converter=converter)


def _write_onnx(model: Any, path: Path, quantization: Quantization, calibration: CalibrationSet | None,
                *, keep: KeepFloat, opset: int, int8_artifact: Path) -> Written:  # fmt: skip
    from onnxruntime import quantization as ortq

    from mnistedge.export.debug.onnx_engine import onnx_prepared, same_nodes
    from mnistedge.export.onnx import int8_settings, quantize_static_onnx, read_io

    assert calibration is not None, "int8 needs calibration (checked before conversion)"
    onnx = require("onnx", "export")
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(prefix="mnistedge-mixed-") as work:
        prepared = onnx_prepared(model, opset, Path(work))
        # The debugger named nodes as the int8 artifact has them; find the same nodes here.
        rebuilt = same_nodes(onnx.load(str(int8_artifact)).graph, onnx.load(str(prepared)).graph)
        missing = [name for name in keep.nodes if name not in rebuilt]
        if missing:
            raise ValueError(
                f"{int8_artifact.name}: nodes {missing} have no counterpart in the rebuilt graph; "
                "re-export the int8 ONNX artifact and run quant-debug again."
            )
        excluded = [rebuilt[name].name for name in keep.nodes]
        # The int8 export's own quantizer: calibrated exactly as model_int8.onnx was.
        quantize_static_onnx(
            prepared, Path(tmp), calibration.images, calibration.config.method, nodes_to_exclude=excluded
        )
    inp, out = read_io(path)
    settings = {k: getattr(v, "name", v) for k, v in int8_settings(ortq).items()}
    converter = {
        "name": "tf2onnx",
        "opset": opset,
        "versions": library_versions("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
        "quantizer": {"name": "onnxruntime.quantization.quantize_static", **settings,
                      "nodes_to_exclude": excluded},
        "keep_float": keep.to_dict(),
    }  # fmt: skip
    return Written(input=inp, output=out, converter=converter)


def mixed_exporter(engine: str, keep: KeepFloat, int8_artifact: Path, opset: int) -> Exporter:
    """An Exporter writing ``engine``'s mixed artifact (for ``run_jobs``)."""
    require("tensorflow", "export")
    write = (
        functools.partial(_write_tflite, keep=keep)
        if engine == "tflite"
        else functools.partial(_write_onnx, keep=keep, opset=opset, int8_artifact=int8_artifact)
    )
    return Exporter(
        format=engine,
        write=write,
        filename=lambda q, o: MIXED_FILES[engine],
        calibration_methods=("minmax", "entropy", "percentile"),
    )


def export_mixed(
    model: str | Path,
    out_dir: str | Path,
    report: DebugReport,
    keep_float: Sequence[str],
    *,
    data: Any = None,
    verify: bool = True,
) -> tuple[list[Any], dict[str, KeepFloat]]:
    """Write ``model_int8_mixed.{tflite,onnx}`` beside the int8 artifacts ``report`` debugged.

    Each is calibrated as its int8 artifact was (the manifest's record), recorded in the
    manifest, and checked against Keras with the int8 thresholds. An engine whose plan keeps
    nothing float is skipped (its file would equal the int8 one).

    Returns:
        The Artifacts written, and the plan per engine.

    Raises:
        ValueError: a bad --keep-float value (see :func:`resolve_keep_float`).
        FidelityError: a mixed artifact missed its thresholds (it stays on disk, marked failed).
    """
    from mnistedge.export.api import ExportJob, run_jobs
    from mnistedge.export.artifact import FidelityError
    from mnistedge.export.debug.api import INT8_FILES, calibration_of, int8_entries
    from mnistedge.export.fidelity import DEFAULT_THRESHOLDS
    from mnistedge.export.onnx import DEFAULT_OPSET

    plan = resolve_keep_float(report, keep_float)
    entries, _ = int8_entries(Path(model), Path(out_dir))
    written, failed = [], []
    for engine, keep in plan.items():
        if not keep.nodes:
            continue
        opset = int((entries[engine].get("converter") or {}).get("opset") or DEFAULT_OPSET)
        job = ExportJob(
            exporter=mixed_exporter(engine, keep, Path(out_dir) / INT8_FILES[engine], opset),
            quantization=Quantization.INT8,
            options={},
            filename=MIXED_FILES[engine],
            thresholds=DEFAULT_THRESHOLDS[Quantization.INT8],
            calibration=calibration_of(entries[engine]),
        )
        try:
            written += run_jobs([job], model, out_dir, data, verify)
        except FidelityError as exc:
            written += exc.exported
            failed += exc.artifacts
    if failed:
        raise FidelityError(failed, written)
    return written, plan
