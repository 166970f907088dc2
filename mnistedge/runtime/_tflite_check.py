"""Structural walk of a TFLite flatbuffer before LiteRT sees it.

LiteRT verifies the flatbuffer's own offsets, but it trusts what the schema
fields *say*: a tensor declaring 13x13x67108868 elements makes XNNPACK allocate
and pack for a minute, a NaN quantization scale aborts the process, an operator
with no inputs can segfault a kernel. This walk reads every field it needs with
explicit bounds checks (a hostile offset raises ValueError here, never reads
outside the bytes) and rejects models whose tensors, buffers and operators are
inconsistent. What it cannot prove safe is left to the probe process (``_probe``).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

__all__ = ["MAX_TENSOR_ELEMENTS", "verify"]

MAX_TENSOR_ELEMENTS = 1 << 28  # 1 GiB of float32: far beyond any MNIST model
SCHEMA_VERSION = 3
# TensorType -> bytes per element (None: variable size or packed sub-byte types).
_ITEMSIZE = {
    0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: None, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16,
    12: 8, 13: None, 14: None, 15: 4, 16: 2, 17: None, 18: 2, 19: None,
}  # fmt: skip


class _Reader:
    """Bounds-checked access to flatbuffer tables, vectors and scalars."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def _need(self, pos: int, n: int, what: str) -> None:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise ValueError(f"{what} at byte {pos} (+{n}) lies outside the {self.size}-byte file")

    def u8(self, pos: int) -> int:
        self._need(pos, 1, "byte")
        return self.data[pos]

    def u16(self, pos: int) -> int:
        self._need(pos, 2, "uint16")
        return struct.unpack_from("<H", self.data, pos)[0]

    def i32(self, pos: int) -> int:
        self._need(pos, 4, "int32")
        return struct.unpack_from("<i", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        self._need(pos, 4, "uint32")
        return struct.unpack_from("<I", self.data, pos)[0]

    def u64(self, pos: int) -> int:
        self._need(pos, 8, "uint64")
        return struct.unpack_from("<Q", self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self.i32(table)
        vt_size = self.u16(vtable)
        if vt_size < 4 or vt_size % 2:
            raise ValueError(f"vtable at byte {vtable} has invalid size {vt_size}")
        self._need(vtable, vt_size, "vtable")
        slot = 4 + 2 * index
        if slot >= vt_size:
            return None
        offset = self.u16(vtable + slot)
        if offset == 0:
            return None
        table_size = self.u16(vtable + 2)
        self._need(table, table_size, "table")
        if offset >= table_size:
            raise ValueError(f"field {index} of table at byte {table} points past the table")
        return table + offset

    def deref(self, pos: int) -> int:
        """Follow the uoffset stored at ``pos``."""
        target = pos + self.u32(pos)
        self._need(target, 4, "offset target")
        return target

    def table(self, table: int, index: int) -> int | None:
        pos = self.field(table, index)
        return None if pos is None else self.deref(pos)

    def vector(self, table: int, index: int, itemsize: int) -> tuple[int, int]:
        """(first element position, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        start = self.deref(pos)
        length = self.u32(start)
        self._need(start + 4, length * itemsize, f"vector of {length} x {itemsize} bytes")
        return start + 4, length

    def ints(self, table: int, index: int, dtype: str = "<i4") -> np.ndarray:
        start, length = self.vector(table, index, np.dtype(dtype).itemsize)
        return (
            np.frombuffer(self.data, dtype=dtype, count=length, offset=start)
            if length
            else np.zeros(0, dtype=dtype)
        )

    def tables(self, table: int, index: int) -> list[int]:
        start, length = self.vector(table, index, 4)
        return [self.deref(start + 4 * i) for i in range(length)]

    def scalar(self, table: int, index: int, kind: str, default: int = 0) -> int:
        pos = self.field(table, index)
        if pos is None:
            return default
        return {"u8": self.u8, "i32": self.i32, "u32": self.u32, "u64": self.u64}[kind](pos)


def _check_quantization(r: _Reader, tensor: int, shape: np.ndarray, where: str) -> None:
    quant = r.table(tensor, 4)
    if quant is None:
        return
    scale = r.ints(quant, 2, "<f4")
    zero_point = r.ints(quant, 3, "<i8")
    if len(scale) == 0:
        return
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError(f"{where} has a quantization scale that is not finite and positive")
    if len(zero_point) not in (0, len(scale)):
        raise ValueError(f"{where} has {len(scale)} scales but {len(zero_point)} zero-points")
    if len(scale) > 1:
        axis = r.scalar(quant, 6, "i32")
        if not 0 <= axis < len(shape) or shape[axis] != len(scale):
            raise ValueError(
                f"{where} has {len(scale)} per-channel scales, which does not match "
                f"dimension {axis} of its shape {shape.tolist()}"
            )


def _check_tensor(r: _Reader, tensor: int, where: str, buffers: list[int]) -> tuple[int, bool]:
    """Check one tensor; return (TensorType, holds constant data)."""
    shape = r.ints(tensor, 0)
    ttype = r.scalar(tensor, 1, "u8")
    if ttype not in _ITEMSIZE:
        raise ValueError(f"{where} has unknown tensor type {ttype}")
    if np.any(shape < 0):
        raise ValueError(f"{where} has a negative dimension in its shape {shape.tolist()}")
    elements = int(np.prod(shape.astype(np.int64))) if len(shape) else 1
    if elements > MAX_TENSOR_ELEMENTS:
        raise ValueError(f"{where} declares {elements} elements (shape {shape.tolist()})")
    signature = r.ints(tensor, 7)
    if len(signature) and (len(signature) != len(shape) or np.any((signature != -1) & (signature != shape))):
        raise ValueError(f"{where} has shape {shape.tolist()} but shape_signature {signature.tolist()}")
    buffer_index = r.scalar(tensor, 2, "u32")
    if buffer_index >= len(buffers):
        raise ValueError(f"{where} uses buffer {buffer_index}, but there are {len(buffers)}")
    _check_quantization(r, tensor, shape, where)
    buffer = buffers[buffer_index]
    _, data_len = r.vector(buffer, 0, 1)
    itemsize = _ITEMSIZE[ttype]
    if itemsize is None or r.field(tensor, 6) is not None:  # packed, strings or sparse
        return ttype, data_len > 0
    offset, size = r.scalar(buffer, 1, "u64"), r.scalar(buffer, 2, "u64")
    if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
        if offset + size > r.size:
            raise ValueError(f"{where}'s data (+{offset}, {size} bytes) is outside the file")
        data_len = size
    if data_len and data_len != elements * itemsize:
        raise ValueError(
            f"{where} needs {elements * itemsize} bytes of constant data, its buffer has {data_len}"
        )
    return ttype, data_len > 0


def _check_subgraph(r: _Reader, sg: int, k: int, buffers: list[int], n_codes: int) -> set[tuple[int, bool]]:
    tensors = r.tables(sg, 0)
    n = len(tensors)
    kinds = {_check_tensor(r, t, f"subgraph {k} tensor {i}", buffers) for i, t in enumerate(tensors)}
    for name, index in (("inputs", 1), ("outputs", 2)):
        ids = r.ints(sg, index)
        if len(ids) == 0 or np.any((ids < 0) | (ids >= n)):
            raise ValueError(f"subgraph {k} {name} {ids.tolist()} are not tensors 0..{n - 1}")
    for j, op in enumerate(r.tables(sg, 3)):
        code = r.scalar(op, 0, "u32")
        if code >= n_codes:
            raise ValueError(f"operator {j} uses opcode {code}, but there are {n_codes}")
        for name, index in (("inputs", 1), ("outputs", 2)):
            ids = r.ints(op, index)
            if not np.any(ids >= 0):
                raise ValueError(f"subgraph {k} operator {j} has no {name}")
            if np.any((ids < -1) | (ids >= n)):
                raise ValueError(
                    f"subgraph {k} operator {j} {name} {ids.tolist()} are not tensors 0..{n - 1}"
                )
    return kinds


_FLOAT16, _INT8, _UINT8, _INT16 = 1, 9, 3, 7


def _quantization(kinds: set[tuple[int, bool]], io_types: set[int]) -> str:
    """The manifest's vocabulary, read off tensor types: int8 I/O, int16 activations, int8/fp16 weights."""
    constants = {ttype for ttype, constant in kinds if constant}
    if _INT16 in {ttype for ttype, constant in kinds if not constant}:
        return "int16x8"
    if io_types & {_INT8, _UINT8}:
        return "int8"
    if _INT8 in constants:
        return "dynamic"
    return "fp16" if _FLOAT16 in constants else "none"


def verify(data: bytes) -> dict[str, Any]:
    """Check ``data`` is a structurally sound TFLite model; return facts found on the way.

    Returns:
        ``{"quantization": "none" | "fp16" | "dynamic" | "int8" | "int16x8", "subgraphs": int}``.

    Raises:
        ValueError: the reason the bytes are not a sound TFLite model.
    """
    size = len(data)
    if size < 16:
        raise ValueError(f"{size} bytes is too short for a TFLite flatbuffer")
    if data[4:8] != b"TFL3":
        raise ValueError(f"file identifier is {data[4:8]!r}, expected b'TFL3' at byte 4")
    r = _Reader(data)
    root = r.u32(0)
    if not 8 <= root <= size - 4:
        raise ValueError(f"root table offset {root} is outside the {size}-byte file (truncated?)")
    version = r.scalar(root, 0, "u32")
    if version != SCHEMA_VERSION:
        raise ValueError(f"schema version {version}, expected {SCHEMA_VERSION}")
    buffers = r.tables(root, 4)
    n_codes = len(r.tables(root, 1))
    subgraphs = r.tables(root, 2)
    if not subgraphs:
        raise ValueError("the model has no subgraphs")
    kinds: set[tuple[int, bool]] = set()
    for k, sg in enumerate(subgraphs):
        kinds |= _check_subgraph(r, sg, k, buffers, n_codes)
    main = r.tables(subgraphs[0], 0)
    io = np.concatenate([r.ints(subgraphs[0], 1), r.ints(subgraphs[0], 2)])
    io_types = {r.scalar(main[int(i)], 1, "u8") for i in io}
    return {"quantization": _quantization(kinds, io_types), "subgraphs": len(subgraphs)}
