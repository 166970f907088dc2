"""Each engine's float and int8 graphs, run on the same images with every activation kept.

``Activations`` is what both engines hand the statistics. TFLite (here): the converter's
calibrated model (float ops, the exact graph its quantizer turns into int8, tensor names
shared with the int8 file) against the int8 artifact, both run by LiteRT with
``experimental_preserve_all_tensors``. ONNX: ``onnx_engine``.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.core.logs import native_stderr_silenced
from mnistedge.export.debug.layers import Node

__all__ = [
    "RUN_BATCH",
    "TFLITE_WEIGHTED",
    "Activations",
    "tflite_activations",
    "tflite_calibrated",
    "tflite_quantize",
]

TFLITE_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
RUN_BATCH = 100  # images per invoke while every tensor is kept


@dataclass(frozen=True)
class Activations:
    """One engine's nodes (graph order) and, per activation tensor, float and int8 values."""

    nodes: tuple[Node, ...]
    float: dict[str, np.ndarray]  # tensor -> float model values (flattened over the images)
    quantized: dict[str, np.ndarray]  # tensor -> the int8 model's values, dequantized
    grids: dict[str, tuple[float, int, int, int]]  # tensor -> (scale, zero_point, qmin, qmax)


def tflite_calibrated(keras_model: Any, images: np.ndarray) -> bytes:
    """The float model with calibration statistics, before the quantizer (same calibration as export)."""
    from mnistedge.export._graph import write_saved_model

    tf = require("tensorflow", "export")
    with tempfile.TemporaryDirectory(prefix="mnistedge-debug-") as saved_model:
        write_saved_model(keras_model, Path(saved_model))
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(len(images)))
        converter._experimental_calibrate_only = True  # the debugger's own route (debugger.py)
        with native_stderr_silenced():
            return converter.convert()


def tflite_quantize(calibrated: bytes, denylisted_nodes: tuple[str, ...] = ()) -> bytes:
    """int8 model with int8 I/O; ``denylisted_nodes`` (op output tensor names) stay float."""
    tf = require("tensorflow", "export")
    from tensorflow.lite.python import convert

    with native_stderr_silenced():
        return convert.mlir_quantize(
            calibrated,
            fully_quantize=True,
            input_data_type=tf.int8,
            output_data_type=tf.int8,
            denylisted_nodes=list(denylisted_nodes) or None,
        )


def _tflite_run(content: bytes, images: np.ndarray) -> tuple[list[dict], dict[str, np.ndarray], dict]:
    """(ops, tensor name -> float values, tensor name -> (scale, zp, qmin, qmax)) over ``images``."""
    from ai_edge_litert.interpreter import Interpreter

    with native_stderr_silenced(), warnings.catch_warnings():
        # "intended for debugging purposes only": that is what this is.
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors", category=UserWarning)
        interpreter = Interpreter(model_content=content, experimental_preserve_all_tensors=True)
    inp = interpreter.get_input_details()[0]
    ops = interpreter._get_ops_details()  # the debugger reads the graph the same way
    wanted = {t for op in ops for t in op["outputs"]} | {inp["index"]}
    details = {t: interpreter._get_tensor_details(t, 0) for t in wanted}
    values: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(images), RUN_BATCH):
        batch = images[start : start + RUN_BATCH]
        interpreter.resize_tensor_input(inp["index"], list(batch.shape))
        interpreter.allocate_tensors()
        scale, zero_point = inp["quantization"]
        if np.issubdtype(inp["dtype"], np.integer):
            batch = np.clip(np.round(batch / scale + zero_point), -128, 127).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        for t, detail in details.items():
            if np.issubdtype(detail["dtype"], np.floating) or detail["quantization"][0]:
                values.setdefault(detail["name"], []).append(interpreter.get_tensor(t).copy())
    grids, out = {}, {}
    for detail in details.values():
        name = detail["name"]
        if name not in values:
            continue  # int32 shape arithmetic, not an activation
        data = np.concatenate([v.reshape(-1) for v in values[name]]).astype(np.float32)
        scale, zero_point = detail["quantization"]
        if scale:
            info = np.iinfo(detail["dtype"])
            grids[name] = (float(scale), int(zero_point), int(info.min), int(info.max))
            data = (data - zero_point) * scale
        out[name] = data
    names = {t: d["name"] for t, d in details.items()}
    nodes = [
        {"op": op["op_name"], "output": names[op["outputs"][0]],
         "inputs": tuple(names[t] for t in op["inputs"] if t in names)}
        for op in ops if op["outputs"] and op["outputs"][0] in names
    ]  # fmt: skip
    input_name = names[inp["index"]]
    for node in nodes:  # the int8 file's input tensor keeps the float file's name
        node["inputs"] = tuple(input_name if n == input_name else n for n in node["inputs"])
    return nodes, out, grids


def tflite_activations(calibrated: bytes, quantized: bytes, images: np.ndarray) -> Activations:
    """Float (calibrated model) and dequantized int8 activations, matched by tensor name."""
    _, float_values, _ = _tflite_run(calibrated, images)
    ops, quant_values, grids = _tflite_run(quantized, images)
    float_input = next(iter(n for n in float_values if n not in quant_values), None)
    quant_input = next(iter(n for n in quant_values if n not in float_values), None)
    if float_input and quant_input and float_input.startswith("serving_default"):
        float_values[quant_input] = float_values.pop(float_input)
    nodes = tuple(
        Node(name=op["output"], op=op["op"], output=op["output"], inputs=op["inputs"])
        for op in ops
        if op["output"] in grids and op["op"] not in ("QUANTIZE", "DEQUANTIZE")
    )
    shared = set(float_values) & set(quant_values) & set(grids)
    return Activations(
        nodes=nodes,
        float={k: float_values[k] for k in shared},
        quantized={k: quant_values[k] for k in shared},
        grids={k: grids[k] for k in shared},
    )
