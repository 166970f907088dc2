"""ONNX export variants for the ablation: the int8 QDQ model as exported, and what might beat it.

The int8 artifact (ORT static quantization, QDQ, per-channel 7-bit weights) is rebuilt from the
Keras model beside per-tensor weights and a float front end (the in-graph 1/255 rescale and the
1-channel stem conv left float, everything after int8), then timed in the ablation's loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.tensors import Quantization

__all__ = ["front_nodes", "ort_runner", "ort_variants"]


def front_nodes(prepared: Path) -> list[str]:
    """Node names up to and including the first Conv (graph order is topological)."""
    import onnx

    names = []
    for node in onnx.load(str(prepared)).graph.node:
        names.append(node.name)
        if node.op_type == "Conv":
            return names
    raise ValueError(f"{prepared} has no Conv node; the float-stem variant needs one.")


def ort_variants(model: Any, images: np.ndarray, work: Path) -> dict[str, Path]:
    """name -> .onnx file: fp32, int8 (the export's settings), int8 per-tensor, int8 float front end."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mnistedge.export.onnx import quantize_static_onnx, write_onnx

    float_model, prepared = work / "float.onnx", work / "prepared.onnx"
    write_onnx(model, float_model, Quantization.NONE)
    quant_pre_process(str(float_model), str(prepared))
    out = {"onnx fp32": float_model}
    for name, extra in (
        ("onnx int8", {}),
        ("onnx int8 per-tensor weights", {"per_channel": False}),
        ("onnx int8, rescale+stem conv float", {"nodes_to_exclude": front_nodes(prepared)}),
    ):
        path = work / f"ort_{len(out)}.onnx"
        quantize_static_onnx(prepared, path, images, "minmax", **extra)
        out[name] = path
    return out


def ort_runner(path: Path, threads: int, batch: int) -> Any:
    """A zero-argument ``session.run`` on a batch of zeros, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((batch, 28, 28, 1), np.float32)}
    return lambda: session.run(None, feed)
