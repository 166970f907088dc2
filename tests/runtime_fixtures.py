"""Helpers shared by the runtime tests (the fixtures themselves live in conftest.py).

``EDGE_FILES``: the nine edge artifact names. ``write_linear_onnx``: an ONNX softmax classifier
built with ``onnx.helper`` (no TensorFlow) whose exact probabilities ``linear_reference``
computes in numpy. ``raw_engine_proba``: an artifact's probabilities straight from its
engine. ``BLOCK_TF``: a prelude that makes a child Python a runtime-only install.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

__all__ = [
    "BATCH_DEPENDENT",
    "BLOCK_TF",
    "EDGE_FILES",
    "HEAVY_MODULES",
    "linear_reference",
    "linear_weights",
    "raw_engine_proba",
    "write_linear_onnx",
]

EDGE_FILES = (
    "model.tflite",
    "model_fp16.tflite",
    "model_dynamic.tflite",
    "model_int8.tflite",
    "model_int16x8.tflite",
    "model.onnx",
    "model_fp16.onnx",
    "model_dynamic.onnx",
    "model_int8.onnx",
)
# Artifacts whose answer for one image depends on the other images in its batch, with the |Δp|
# allowed between batchings on the tiny model: ONNX Runtime's dynamic quantization takes one
# activation scale per tensor over the whole batch (DynamicQuantizeLinear), where TFLite's
# dynamic-range kernels quantize each image (batch row) on its own.
BATCH_DEPENDENT = {"model_dynamic.onnx": 2e-3}
# The web bundle's models (web/models/): ONNX with a dynamic batch for onnxruntime-web; TFLite at
# fixed batches 1 and 64 for LiteRT.js, int8 with float I/O (LiteRT.js has no int8 I/O).
WEB_MODELS = (
    "model.onnx",
    "model_int8.onnx",
    *(f"{stem}_b{batch}.tflite" for stem in ("model", "model_fp16", "model_dynamic", "model_int8_float32io")
      for batch in (1, 64)),
)  # fmt: skip

# What a runtime-only install lacks: the training/export stack.
HEAVY_MODULES = ("tensorflow", "keras", "tf2onnx", "tf_keras")

# Prepend to a child's code. Importing any of HEAVY_MODULES then fails as if it were not
# installed, and every attempt is appended to TF_IMPORT_ATTEMPTS, so an import the code
# catches and shrugs off (``try: import tensorflow except ImportError``) still shows.
BLOCK_TF = f"""
import sys

TF_IMPORT_ATTEMPTS = []
HEAVY_MODULES = {HEAVY_MODULES!r}


class _RefuseHeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HEAVY_MODULES:
            TF_IMPORT_ATTEMPTS.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None


assert not [m for m in HEAVY_MODULES if m in sys.modules], "imported before the blocker could see it"
sys.meta_path.insert(0, _RefuseHeavyImports())
"""


def linear_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.05, (784, 10)).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32)


def linear_reference(images_uint8: np.ndarray, seed: int = 0) -> np.ndarray:
    """What the linear ONNX model computes, in numpy (float64 then float32)."""
    w, b = linear_weights(seed)
    x = images_uint8.reshape(-1, 784).astype(np.float64) / 255.0
    logits = x @ w.astype(np.float64) + b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def write_linear_onnx(path: Path, seed: int = 0, opset: int = 17) -> Path:
    """pixels (N,28,28,1) -> Reshape -> x/255 -> MatMul -> Add -> Softmax, via onnx.helper."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w, b = linear_weights(seed)
    nodes = [
        helper.make_node("Reshape", ["pixels", "flat_shape"], ["flat"]),
        helper.make_node("Mul", ["flat", "rescale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.array([-1, 784], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([1 / 255], np.float32), "rescale"),
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(b, "B"),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def raw_engine_proba(path: Path, images_uint8: np.ndarray) -> np.ndarray:
    """Probabilities straight from the engine, quantizing/dequantizing by hand (no runtime)."""
    x = images_uint8.reshape(-1, 28, 28, 1).astype(np.float32)
    if path.suffix == ".onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    interp.resize_tensor_input(inp["index"], list(x.shape))
    interp.allocate_tensors()
    scale, zero = inp["quantization"]
    if scale:
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.rint(x / scale) + zero, info.min, info.max).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    interp.invoke()
    y = interp.get_tensor(out["index"])
    scale, zero = out["quantization"]
    return (scale * (y.astype(np.float32) - zero)) if scale else y.astype(np.float32)
