"""ONNX: ``quant_pre_process``'s prepared float model (what ``quantize_static`` quantizes)
against the QDQ artifact, through ONNX Runtime's own ``qdq_loss_debug``
(``modify_model_output_intermediate_tensors``, ``collect_activations``,
``create_activation_matching``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.deps import require
from mnistedge.export.debug.engines import RUN_BATCH, Activations
from mnistedge.export.debug.layers import Node

__all__ = ["ONNX_WEIGHTED", "onnx_activations", "onnx_prepared", "same_nodes"]

ONNX_WEIGHTED = ("Conv", "Gemm", "MatMul")


def onnx_prepared(keras_model: Any, opset: int, work: Path) -> Path:
    """The float model ``quantize_static`` starts from (tf2onnx, then ``quant_pre_process``)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from mnistedge.export.onnx import _to_onnx

    onnx = require("onnx", "export")
    float_model, prepared = work / "float.onnx", work / "prepared.onnx"
    onnx.save(_to_onnx(keras_model, opset), str(float_model))
    quant_pre_process(str(float_model), str(prepared))
    return prepared


class _Reader:
    def __init__(self, images: np.ndarray) -> None:
        self._batches = iter(images[i : i + RUN_BATCH] for i in range(0, len(images), RUN_BATCH))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {"pixels": batch}

    def __iter__(self):  # collect_activations iterates the reader
        return iter(lambda: self.get_next(), None)


def _onnx_grids(qdq: Any) -> dict[str, tuple[float, int, int, int]]:
    """Activation tensor -> (scale, zero point, qmin, qmax) of the QuantizeLinear that takes it."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    grids = {}
    for node in qdq.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[1] not in constants:
            continue
        scale, zero_point = constants[node.input[1]], constants.get(node.input[2], np.int8(0))
        if scale.size != 1:
            continue  # per-channel: a weight, not an activation
        info = np.iinfo(zero_point.dtype)
        name = node.input[0].removesuffix("_QuantizeLinear_Input")
        grids[name] = (float(scale), int(zero_point), int(info.min), int(info.max))
    return grids


def _keyed(graph: Any) -> dict[tuple[str, str, int], Any]:
    """Non-Q/DQ nodes by (op type, name without tf2onnx's ``__N``, ordinal): names that survive.

    tf2onnx numbers the nodes it inserts from a process-wide counter (``Transpose__41`` in one
    process is ``Transpose__131`` in another), so the artifact and a graph rebuilt now differ
    in those names only; this key matches them.
    """
    seen: dict[tuple[str, str], int] = {}
    keyed = {}
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        base = (node.op_type, re.sub(r"__\d+", "", node.name))
        keyed[(*base, seen.get(base, 0))] = node
        seen[base] = seen.get(base, 0) + 1
    return keyed


def same_nodes(source: Any, target: Any) -> dict[str, Any]:
    """Node name in graph ``source`` -> the same node in graph ``target`` (see ``_keyed``)."""
    theirs = _keyed(target)
    return {node.name: theirs[key] for key, node in _keyed(source).items() if key in theirs}


def _float_names(prepared: Any, qdq: Any) -> dict[str, str]:
    """QDQ tensor name -> the prepared graph's name for it, where tf2onnx's numbering differs."""
    known = {out for node in prepared.graph.node for out in node.output}
    renamed = {}
    for name, node in same_nodes(qdq.graph, prepared.graph).items():
        qdq_node = next(n for n in qdq.graph.node if n.name == name)
        for mine, theirs in zip(qdq_node.output, node.output, strict=False):
            if mine not in known:
                renamed[mine] = theirs
    return renamed


def onnx_activations(prepared: Path, quantized: Path, images: np.ndarray, work: Path) -> Activations:
    """Float (prepared model) and QDQ activations, matched by ORT's ``create_activation_matching``."""
    from onnxruntime.quantization import qdq_loss_debug as qld

    onnx = require("onnx", "export")
    collected = []
    for source in (prepared, quantized):
        augmented = work / f"augmented_{source.name}"
        qld.modify_model_output_intermediate_tensors(str(source), str(augmented))
        collected.append(qld.collect_activations(str(augmented), _Reader(images)))
    qdq = onnx.load(str(quantized))
    by_float_name = {theirs: mine for mine, theirs in _float_names(onnx.load(str(prepared)), qdq).items()}
    float_acts = {by_float_name.get(name, name): values for name, values in collected[0].items()}
    matching = qld.create_activation_matching(collected[1], float_acts)
    grids = _onnx_grids(qdq)
    flat = {
        name: {
            k: np.concatenate([np.reshape(a, -1) for a in v])
            for k, v in match.items()
            if k in ("float", "post_qdq")
        }
        for name, match in matching.items()
        if match.get("float") and name in grids
    }
    producers = {out: node for node in qdq.graph.node for out in node.output}
    nodes = []
    for node in qdq.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        outputs = [o.removesuffix("_QuantizeLinear_Input") for o in node.output]
        output = next((o for o in outputs if o in flat), None)
        if output is None:
            continue
        inputs = []
        for name in node.input:
            source = producers.get(name)
            if source is not None and source.op_type == "DequantizeLinear":
                name = source.input[0]
                quant = producers.get(name)
                name = quant.input[0] if quant is not None and quant.op_type == "QuantizeLinear" else name
            inputs.append(name.removesuffix("_QuantizeLinear_Input"))
        nodes.append(Node(name=node.name, op=node.op_type, output=output, inputs=tuple(inputs)))
    return Activations(
        nodes=tuple(nodes),
        float={k: v["float"] for k, v in flat.items()},
        quantized={k: v["post_qdq"] for k, v in flat.items()},
        grids={k: grids[k] for k in flat},
    )
