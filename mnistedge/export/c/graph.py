"""The full-int8 TFLite model as a plain, typed graph: tensors, ops, decoded options.

The flatbuffer is read with the schema classes ``ai_edge_litert`` ships
(``schema_py_generated``), so no TensorFlow is imported: the C exporter runs on a
runtime-only install. ``read_graph`` also refuses what the generated C will not run
(float or uint8 I/O, several subgraphs, ops outside :data:`SUPPORTED_OPS`), so later
stages can assume a single int8 subgraph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["SHAPE_OPS", "SUPPORTED_OPS", "Graph", "Op", "Tensor", "read_graph"]

# Ops that compute on int8 activations; the C generator has (or will have) a kernel for each.
# MUL comes from Rescaling(1/255) in the Dense-only tutorial presets (int8 input times an int8 scalar).
COMPUTE_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "MEAN",
    "FULLY_CONNECTED",
    "SOFTMAX",
    "RESHAPE",
    "LOGISTIC",
    "ADD",
    "MUL",
)
# Keras' Flatten with a dynamic batch converts to SHAPE -> STRIDED_SLICE -> PACK feeding RESHAPE's
# shape input. They only read tensor shapes and int32 constants, so with the static shapes of a
# batch-1 graph they fold to constants at generation time; read_graph checks they stay int32.
SHAPE_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")
SUPPORTED_OPS = COMPUTE_OPS + SHAPE_OPS

_INT8_HINT = (
    "Generated C runs full-int8 models only: use model_int8.tflite from "
    "`mnistedge export --format tflite --quantize int8`."
)


@dataclass(frozen=True)
class Tensor:
    """One tensor of the subgraph; ``data`` is the constant buffer (read-only) or None for activations."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8", "int32", "float32", ...
    scale: tuple[float, ...] | None  # None when the tensor is not quantized
    zero_point: tuple[int, ...] | None
    quantized_dimension: int | None  # the per-channel axis; None when not quantized
    data: np.ndarray | None


@dataclass(frozen=True)
class Op:
    """One operator: builtin name, tensor indices (-1 = an omitted optional input), decoded options."""

    index: int
    name: str  # e.g. "CONV_2D"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, Any]


@dataclass(frozen=True)
class Graph:
    """The model's single subgraph, ops in execution order."""

    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def read_graph(model: Path | bytes) -> Graph:
    """Read a full-int8 ``.tflite`` file (or its bytes) into a :class:`Graph`, without TensorFlow.

    Raises:
        ValueError: not a TFLite flatbuffer; more than one subgraph; float or uint8 I/O; an op
            outside :data:`SUPPORTED_OPS` or a shape op that is not on int32 shape values.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = bytes(model) if isinstance(model, bytes | bytearray) else Path(model).read_bytes()
    if len(buf) < 8 or not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise ValueError("Not a TFLite flatbuffer (no 'TFL3' file identifier at bytes 4-8). " + _INT8_HINT)
    try:
        m = schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:  # a damaged flatbuffer fails anywhere inside the generated reader
        raise ValueError(f"Cannot parse this TFLite flatbuffer ({exc!r}); is the file truncated?") from None
    if len(m.subgraphs or []) != 1:
        raise ValueError(
            f"The model has {len(m.subgraphs or [])} subgraphs; generated C runs exactly one "
            "(no control flow). " + _INT8_HINT
        )
    sub = m.subgraphs[0]
    types = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    tensors = tuple(_tensor(i, t, types, m.buffers or [], buf) for i, t in enumerate(sub.tensors or []))
    graph = Graph(
        tensors=tensors,
        ops=tuple(_op(i, o, m.operatorCodes or [], schema) for i, o in enumerate(sub.operators or [])),
        inputs=tuple(int(i) for i in _ints(sub.inputs)),
        outputs=tuple(int(i) for i in _ints(sub.outputs)),
    )
    _check_supported(graph)
    return graph


def _ints(values: Any) -> list[int]:
    return [] if values is None else [int(v) for v in values]


def _tensor(index: int, t: Any, types: dict[int, str], buffers: list[Any], file: bytes) -> Tensor:
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name or "")
    shape = tuple(_ints(t.shape))
    dtype = types.get(t.type, f"unknown type {t.type}")
    q = t.quantization
    scales = [] if q is None or q.scale is None else [float(s) for s in q.scale]
    data = _constant(buffers[t.buffer] if 0 < t.buffer < len(buffers) else None, dtype, shape, file)
    return Tensor(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        scale=tuple(scales) if scales else None,
        zero_point=tuple(_ints(q.zeroPoint)) if scales else None,
        quantized_dimension=int(q.quantizedDimension) if scales else None,
        data=data,
    )


def _constant(buffer: Any, dtype: str, shape: tuple[int, ...], file: bytes) -> np.ndarray | None:
    if buffer is None:
        return None
    if buffer.data is not None and len(buffer.data):
        raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
    elif buffer.offset and buffer.offset > 1:  # a >2 GB model keeps buffers after the flatbuffer
        raw = file[buffer.offset : buffer.offset + buffer.size]
    else:
        return None  # an activation, or an empty constant
    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()
    array.setflags(write=False)
    return array


_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDINGS = {0: "SAME", 1: "VALID"}
_WEIGHTS_FORMATS = {0: "DEFAULT", 1: "SHUFFLED4x16INT8"}


def _conv(o: Any) -> dict[str, Any]:
    return {
        "padding": _PADDINGS[o.padding],
        "stride_w": o.strideW,
        "stride_h": o.strideH,
        "dilation_w": o.dilationWFactor,
        "dilation_h": o.dilationHFactor,
        "fused_activation": _ACTIVATIONS[o.fusedActivationFunction],
    }


# One decoder per supported op, from the schema's *OptionsT object to plain values.
_DECODERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": lambda o: {**_conv(o), "depth_multiplier": o.depthMultiplier},
    "MAX_POOL_2D": lambda o: _pool(o),
    "AVERAGE_POOL_2D": lambda o: _pool(o),
    "FULLY_CONNECTED": lambda o: {
        "fused_activation": _ACTIVATIONS[o.fusedActivationFunction],
        "keep_num_dims": bool(o.keepNumDims),
        "weights_format": _WEIGHTS_FORMATS[o.weightsFormat],
    },
    "SOFTMAX": lambda o: {"beta": float(o.beta)},
    "RESHAPE": lambda o: {"new_shape": tuple(_ints(o.newShape))},
    "MEAN": lambda o: {"keep_dims": bool(o.keepDims)},
    "ADD": lambda o: {"fused_activation": _ACTIVATIONS[o.fusedActivationFunction]},
    "MUL": lambda o: {"fused_activation": _ACTIVATIONS[o.fusedActivationFunction]},
    "STRIDED_SLICE": lambda o: {
        "begin_mask": o.beginMask,
        "end_mask": o.endMask,
        "ellipsis_mask": o.ellipsisMask,
        "new_axis_mask": o.newAxisMask,
        "shrink_axis_mask": o.shrinkAxisMask,
        "offset": bool(o.offset),
    },
    "PACK": lambda o: {"values_count": o.valuesCount, "axis": o.axis},
}


def _pool(o: Any) -> dict[str, Any]:
    return {
        "padding": _PADDINGS[o.padding],
        "stride_w": o.strideW,
        "stride_h": o.strideH,
        "filter_w": o.filterWidth,
        "filter_h": o.filterHeight,
        "fused_activation": _ACTIVATIONS[o.fusedActivationFunction],
    }


def _op(index: int, o: Any, codes: list[Any], schema: Any) -> Op:
    code = codes[o.opcodeIndex]
    # Builtins above 127 live only in builtinCode; older files set only deprecatedBuiltinCode.
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        name = f"CUSTOM:{custom}"
    decode = _DECODERS.get(name)
    options = decode(o.builtinOptions) if decode and o.builtinOptions is not None else {}
    return Op(
        index=index,
        name=name,
        inputs=tuple(_ints(o.inputs)),
        outputs=tuple(_ints(o.outputs)),
        options=MappingProxyType(options),
    )


def _layer(graph: Graph, op: Op) -> str:
    """The Keras layer an op came from, as the converter names its output tensor (first name only)."""
    names = [graph.tensors[i].name for i in op.outputs if i >= 0]
    return names[0].split(";")[0] if names else f"op {op.index}"


def _check_supported(graph: Graph) -> None:
    io = [graph.tensors[i] for i in (*graph.inputs, *graph.outputs)]
    not_int8 = sorted({t.dtype for t in io if t.dtype != "int8"})
    if not_int8:
        raise ValueError(
            f"The model's inputs/outputs are {', '.join(not_int8)}, not int8: this is a float or "
            f"uint8-I/O model. {_INT8_HINT}"
        )
    unsupported = [op for op in graph.ops if op.name not in SUPPORTED_OPS]
    if unsupported:
        where = "; ".join(
            f"op {op.index} {op.name} (layer {_layer(graph, op)!r})" for op in unsupported[:5]
        ) + ("; …" if len(unsupported) > 5 else "")
        raise ValueError(
            f"Generated C has no kernel for {', '.join(sorted({op.name for op in unsupported}))}: {where}. "
            f"Supported ops: {', '.join(SUPPORTED_OPS)}. Build the model from layers that convert to these "
            "(Conv2D, DepthwiseConv2D, pooling, Dense, Add, ReLU/sigmoid/softmax)."
        )
    for op in graph.ops:
        if op.name in SHAPE_OPS and any(graph.tensors[i].dtype != "int32" for i in op.outputs):
            raise ValueError(
                f"Op {op.index} ({op.name}) outputs non-int32 values; generated C folds shape ops "
                "only when they compute int32 shapes. " + _INT8_HINT
            )
