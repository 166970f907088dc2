"""What an op's emitter hands the C generator: file-scope constants, the kernel call, its MACs.

Every op kind has one emitter, ``emit(graph, op, prefix) -> LayerCode``. The generator wraps
``statements`` in one function per layer, ``static void <prefix>(const int8_t *in0, int8_t *out)``
(``const int8_t *in0, const int8_t *in1, int8_t *out`` for two activation inputs), where
``in0``/``in1`` point at the op's activation inputs in graph order and ``out`` at its output,
all inside the static activation buffer, so an emitter never knows where the memory plan put
them. Constants (weights, multipliers, tables) go in ``definitions``, each name starting with
``prefix`` so layers never clash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnistedge.export.c.graph import Graph, Op, Tensor

__all__ = ["LayerCode", "activation_inputs", "c_array", "constant_input", "only_scale", "only_zero_point"]

_CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "uint8": "uint8_t", "uint16": "uint16_t"}


@dataclass(frozen=True)
class LayerCode:
    """One layer's C: constants at file scope, statements inside its function, work per inference."""

    definitions: str  # file-scope C: `static const` arrays/structs, names starting with the prefix
    statements: str  # the function body; activations through in0, in1 (const int8_t *) and out (int8_t *)
    macs: int  # multiply-accumulates per inference; 0 for data movement and lookups
    headers: tuple[str, ...]  # kernel headers from mnistedge/export/c/kernels/ that the statements call
    scratch_bytes: int = 0  # working memory the statements use through `int8_t *scratch` (planned)


def c_array(
    name: str, values: np.ndarray, *, ctype: str | None = None, align: int = 4, per_line: int = 24
) -> str:
    """A ``static const`` C array definition, aligned (MNIST_ALIGNED, 4 by default: word loads on the M4).

    INT32_MIN is spelled ``(-2147483647 - 1)``: the literal 2147483648 does not fit an int.
    """
    flat = np.ravel(np.asarray(values))
    ctype = ctype or _CTYPES[flat.dtype.name]
    words = [("(-2147483647 - 1)" if int(v) == -(1 << 31) else str(int(v))) for v in flat]
    lines = [", ".join(words[i : i + per_line]) for i in range(0, len(words), per_line)] or ["0"]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{max(flat.size, 1)}] MNIST_ALIGNED({align}) = {{\n    {body}\n}};\n"


def activation_inputs(graph: Graph, op: Op) -> list[Tensor]:
    """The op's non-constant inputs in order: what in0, in1 point at."""
    return [graph.tensors[i] for i in op.inputs if i >= 0 and graph.tensors[i].data is None]


def constant_input(graph: Graph, op: Op, position: int) -> np.ndarray | None:
    """The constant at input ``position`` (None when omitted or not a constant)."""
    if position >= len(op.inputs) or op.inputs[position] < 0:
        return None
    return graph.tensors[op.inputs[position]].data


def only_scale(t: Tensor) -> float:
    """A per-tensor quantized tensor's scale.

    Raises:
        ValueError: the tensor is not quantized or has per-channel scales.
    """
    if t.scale is None or len(t.scale) != 1:
        raise ValueError(f"Tensor {t.name!r} needs one (per-tensor) scale; it has {t.scale!r}.")
    return t.scale[0]


def only_zero_point(t: Tensor) -> int:
    if t.zero_point is None or len(t.zero_point) != 1:
        raise ValueError(f"Tensor {t.name!r} needs one (per-tensor) zero point; it has {t.zero_point!r}.")
    return int(t.zero_point[0])
