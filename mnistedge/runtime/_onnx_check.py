"""Structural check of an ONNX file: a well-formed protobuf ModelProto with a graph.

ONNX Runtime parses with protobuf, which rejects malformed bytes with an
exception; this walk exists to give a precise reason (truncation, bad wire type,
no graph) before the engine sees the bytes, and to refuse non-ONNX files early.
"""

from __future__ import annotations

from typing import Any

__all__ = ["graph_nodes", "verify"]

_MODEL_FIELDS = {1: "ir_version", 7: "graph", 8: "opset_import"}
_MAX_DEPTH = 3  # ModelProto -> GraphProto -> NodeProto/TensorProto


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end:
            raise ValueError(f"truncated varint at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError(f"varint longer than 10 bytes at byte {pos}")


def _fields(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Walk one message; return (field, wire_type, payload_start, payload_end) per field."""
    out = []
    pos = start
    while pos < end:
        at = pos
        tag, pos = _varint(data, pos, end)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError(f"field number 0 at byte {at} (not a protobuf message)")
        if wire == 0:
            _, new = _varint(data, pos, end)
        elif wire == 1:
            new = pos + 8
        elif wire == 5:
            new = pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            new = pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {at}")
        if new > end:
            raise ValueError(
                f"truncated: field {field} at byte {at} needs {new - pos} bytes, {end - pos} remain"
            )
        out.append((field, wire, pos, new))
        pos = new
    return out


def _walk_graph(data: bytes, start: int, end: int) -> None:
    for field, wire, p0, p1 in _fields(data, start, end):
        # GraphProto: 1 node, 5 initializer, 11 input, 12 output; each a nested message.
        if field in (1, 5, 11, 12):
            if wire != 2:
                raise ValueError(f"graph field {field} has wire type {wire}, expected a message")
            _fields(data, p0, p1)


# op_type strings as they appear in the bytes -> the manifest's quantization vocabulary.
_QUANT_MARKERS = ((b"DynamicQuantizeLinear", "dynamic"), (b"QuantizeLinear", "int8"),
                  (b"QLinear", "int8"), (b"MatMulInteger", "dynamic"))  # fmt: skip
_FLOAT16 = 10  # TensorProto.DataType


def _has_float16_weights(data: bytes, start: int, end: int) -> bool:
    """Whether any initializer (GraphProto field 5) is a float16 TensorProto (its field 2)."""
    for field, wire, p0, p1 in _fields(data, start, end):
        if field == 5 and wire == 2:
            for f, w, q0, q1 in _fields(data, p0, p1):
                if f == 2 and w == 0 and _varint(data, q0, q1)[0] == _FLOAT16:
                    return True
    return False


def verify(data: bytes) -> dict[str, Any]:
    """Check ``data`` is a structurally sound ONNX ModelProto; return facts found on the way.

    Returns:
        ``{"quantization": "none" | "fp16" | "dynamic" | "int8"}`` (a guess from the op types present;
        the manifest's label wins when there is one).

    Raises:
        ValueError: the reason the bytes are not a sound ONNX model.
    """
    fields = _fields(data, 0, len(data))
    seen = {field: (wire, p0, p1) for field, wire, p0, p1 in fields}
    for number, name in _MODEL_FIELDS.items():
        if number not in seen:
            raise ValueError(f"no ModelProto.{name} (field {number}): not an ONNX model")
    wire, p0, p1 = seen[7]
    if wire != 2:
        raise ValueError("ModelProto.graph is not a message")
    _walk_graph(data, p0, p1)
    graph = data[p0:p1]
    label = next((name for marker, name in _QUANT_MARKERS if marker in graph), None)
    if label is None:
        label = "fp16" if _has_float16_weights(data, p0, p1) else "none"
    return {"quantization": label}


def _strings(data: bytes, start: int, end: int, numbers: tuple[int, ...]) -> dict[int, list[str]]:
    """The string fields ``numbers`` of one message, each as the list of its values."""
    out: dict[int, list[str]] = {n: [] for n in numbers}
    for field, wire, p0, p1 in _fields(data, start, end):
        if field in out and wire == 2:
            out[field].append(data[p0:p1].decode("utf-8", "replace"))
    return out


def graph_nodes(data: bytes) -> tuple[list[tuple[str, list[str], list[str]]], list[str]]:
    """The main graph's nodes as (op_type, inputs, outputs), and its output names.

    Read from the bytes (no ``onnx`` package needed); call ``verify`` first on untrusted bytes.
    """
    graph = next((p0, p1) for field, wire, p0, p1 in _fields(data, 0, len(data)) if field == 7)
    nodes, outputs = [], []
    for field, wire, p0, p1 in _fields(data, *graph):
        if wire != 2:
            continue
        if field == 1:  # NodeProto: 1 input, 2 output, 4 op_type
            node = _strings(data, p0, p1, (1, 2, 4))
            nodes.append((node[4][0] if node[4] else "", node[1], node[2]))
        elif field == 12:  # ValueInfoProto: 1 name
            outputs.extend(_strings(data, p0, p1, (1,))[1][:1])
    return nodes, outputs
