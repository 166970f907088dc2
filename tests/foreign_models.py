"""Foreign MNIST models built with ``onnx.helper`` (no PyTorch, no TensorFlow), and ONNX Runtime by hand.

``write_mlp``: an MLP like the ONNX model zoo's mnist files or a torchvision-trained one, with any input
layout, a fixed or dynamic batch, logits or probabilities out. ``by_hand``: what ONNX Runtime gives when
called directly on numpy-preprocessed pixels, the reference the runtime is checked against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

__all__ = ["by_hand", "write_mlp"]


def write_mlp(path: Path, input_shape: list, reshape_to: list, *, softmax: bool, classes: int = 10,
              output_batch: int | str = "N", seed: int = 0) -> Path:  # fmt: skip
    """input -> Reshape -> MatMul -> Add -> Relu -> MatMul -> Add (-> Softmax), a float32 ONNX MLP."""
    rng = np.random.default_rng(seed)
    pixels = int(np.prod([d for d in input_shape[1:]]))
    weights = {
        "w1": rng.normal(0, 0.08, (pixels, 32)).astype(np.float32),
        "b1": rng.normal(0, 0.1, 32).astype(np.float32),
        "w2": rng.normal(0, 0.4, (32, classes)).astype(np.float32),
        "b2": rng.normal(0, 0.1, classes).astype(np.float32),
        "flat_shape": np.array(reshape_to, np.int64),
    }
    out = "probabilities" if softmax else "Plus214_Output_0"
    nodes = [
        helper.make_node("Reshape", ["Input3", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits" if softmax else out]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], [out], axis=1))
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("Input3", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [output_batch, classes])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def by_hand(path: Path, images: np.ndarray, scale: float = 1.0, mean: float = 0.0, std: float = 1.0,
            softmax: bool = True, fixed: int | None = None) -> np.ndarray:  # fmt: skip
    """ONNX Runtime called directly: numpy normalization, reshape, ``fixed`` images per run if given."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    arg = session.get_inputs()[0]
    x = ((images.astype(np.float64) * scale - mean) / std).astype(np.float32)
    x = x.reshape(len(images), *arg.shape[1:])
    if fixed is None:
        raw = session.run(None, {arg.name: x})[0]
    else:  # a fixed batch: run it image group by image group, padding the last group
        n_pad = -len(x) % fixed
        padded = np.concatenate([x, np.zeros((n_pad, *x.shape[1:]), np.float32)])
        groups = np.split(padded, len(padded) // fixed)
        raw = np.concatenate([session.run(None, {arg.name: g})[0] for g in groups])[: len(images)]
    if not softmax:
        return raw
    z = raw.astype(np.float64) - raw.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
