"""Settle a model's ``IOConvention``: layout and batch from its input, output kind from its graph.

Normalization comes from the caller (``load(scale=, mean=, std=)``), else the manifest entry's
``normalization`` block, else mnistedge's own raw pixels. A model with a fixed batch runs
through ``batched``: chunks of that size, the last one padded, the padding trimmed off.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mnistedge.core.contract import NUM_CLASSES, IOConvention, Normalization, accepted_inputs, layout_of
from mnistedge.core.manifest import MANIFEST_NAME
from mnistedge.core.tensors import TensorSpec

__all__ = ["SOFTMAX_OPS", "batched", "convention_for", "last_op", "normalization_for"]

SOFTMAX_OPS = frozenset({"Softmax", "QLinearSoftmax", "SOFTMAX"})  # ONNX, ORT's int8 form, TFLite
# Ops that keep the values' meaning: the op before them says what the output is.
_PASS_THROUGH = frozenset({
    "QuantizeLinear", "DequantizeLinear", "Identity", "Reshape", "Flatten", "Squeeze", "Cast",
    "QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "CAST",
})  # fmt: skip

Node = tuple[str, Sequence[Hashable], Sequence[Hashable]]  # (op type, input ids, output ids)


def last_op(nodes: Iterable[Node], output: Hashable) -> str | None:
    """The op type that computes ``output``, looking through quantize/reshape-like ops; None if none."""
    producers: dict[Hashable, Node] = {}
    for node in nodes:
        for tensor in node[2]:
            producers.setdefault(tensor, node)
    seen: set[Hashable] = set()
    while output in producers and output not in seen:
        seen.add(output)
        op, inputs, _ = producers[output]
        if op not in _PASS_THROUGH or not len(inputs):
            return op
        output = inputs[0]
    return None


def normalization_for(
    entry: dict[str, Any] | None,
    model_path: Path,
    *,
    scale: float | None = None,
    mean: float | None = None,
    std: float | None = None,
) -> Normalization:
    """The caller's values, the rest from the manifest entry's ``normalization``, else 1/0/1.

    Raises:
        ValueError: a value is not finite, std is 0 or scale <= 0 (the message says the fix),
            or the manifest's block is malformed.
    """
    given = {k: v for k, v in (("scale", scale), ("mean", mean), ("std", std)) if v is not None}
    normalization = Normalization(**given)  # the caller's own values fail first, by their names
    recorded = (entry or {}).get("normalization")
    if recorded is None or len(given) == 3:
        return normalization
    try:
        base = Normalization.from_dict(recorded)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{model_path.parent / MANIFEST_NAME}: the 'normalization' of {model_path.name} is "
            f"unusable: {exc}. Fix that block, or pass scale=, mean= and std= to load()"
        ) from None
    return replace(base, **given)


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join("N" if d < 0 else str(d) for d in shape) + "]"


def convention_for(
    path: Any,
    inp: TensorSpec,
    out: TensorSpec,
    *,
    normalization: Normalization,
    output: str | None,
    output_op: str | None,
) -> IOConvention:
    """Read the convention from the model's I/O shapes and last op, or refuse the model.

    Args:
        output: "probabilities"/"logits" from the caller; None: "probabilities" when the graph
            ends in a softmax (``output_op``), else "logits".

    Raises:
        ValueError: the input is not a 28x28 single-channel image in a known layout, or the
            output is not 10 class scores; the message lists what runs and how to fix it.
    """
    found = layout_of(inp.shape)
    if found is None:
        raise ValueError(
            f"{path}: model input {inp.name!r} has shape {_shape_text(inp.shape)}; mnistedge runs "
            f"MNIST models taking one 28x28 grayscale image per row: {accepted_inputs()}, with N "
            f"dynamic or fixed. Fix: export the model with one of these input shapes (e.g. a "
            f"Reshape/Transpose in front of the graph)"
        )
    layout, batch = found
    if len(out.shape) != 2 or out.shape[1] not in (NUM_CLASSES, -1):
        raise ValueError(
            f"{path}: model output {out.name!r} has shape {_shape_text(out.shape)}; mnistedge needs "
            f"[N, {NUM_CLASSES}]: one score per digit, probabilities (a graph ending in Softmax) or "
            f"logits. Fix: export a 10-class MNIST classifier with a single output"
        )
    if batch is None and out.shape[0] > 0:  # input declared dynamic, output fixed: trust the output
        batch = int(out.shape[0])
    kind = output or ("probabilities" if output_op in SOFTMAX_OPS else "logits")
    return IOConvention(layout, batch, kind, normalization)


def batched(invoke: Callable[[np.ndarray], np.ndarray], batch: int | None) -> Callable:
    """``invoke`` for a dynamic batch; for a fixed one, a call that runs B-sized chunks.

    The last chunk is padded with zeros (in the engine's dtype) and its padding rows are
    dropped from the output, so any N >= 1 gives N rows.
    """
    if batch is None:
        return invoke

    def call(tensor: np.ndarray) -> np.ndarray:
        n = tensor.shape[0]
        if n == batch:
            return invoke(tensor)
        outputs = []
        for start in range(0, n, batch):
            chunk = tensor[start : start + batch]
            if len(chunk) < batch:
                pad = np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            outputs.append(invoke(chunk))
        return np.concatenate(outputs)[:n]

    return call
