"""IDX (the original MNIST file format) encoding and decoding.

IDX layout: two zero bytes, a type code (0x08 = uint8), the number of
dimensions, then one big-endian uint32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib

import numpy as np

__all__ = ["decode_idx", "encode_idx_header", "idx_checksums", "maybe_gunzip"]

_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def maybe_gunzip(raw: bytes, where: str) -> bytes:
    """Return ``raw`` decompressed when it is gzip, else unchanged."""
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{where}: corrupted or truncated gzip stream ({exc}). "
            "Download the file again or point --source at an intact copy."
        ) from exc


def decode_idx(raw: bytes, where: str) -> np.ndarray:
    """Parse an (uncompressed) IDX byte string into a uint8 array.

    Raises:
        ValueError: naming ``where`` and what is wrong (magic, type, truncation).
    """
    if len(raw) < 4 or raw[0:2] != b"\x00\x00":
        raise ValueError(
            f"{where}: not an IDX file (expected magic 00 00 <type> <ndim>, got {raw[:4].hex() or 'empty'})."
        )
    type_code, ndim = raw[2], raw[3]
    if type_code != _UINT8:
        raise ValueError(f"{where}: IDX type 0x{type_code:02x} is not supported; MNIST uses 0x08 (uint8).")
    if ndim not in (1, 3):
        raise ValueError(f"{where}: IDX with {ndim} dimensions; expected 1 (labels) or 3 (images).")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{where}: truncated IDX header ({len(raw)} of {header_len} bytes).")
    dims = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(raw) - header_len
    if actual != expected:
        state = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{where}: IDX data {state}: header {dims} needs {expected} bytes, file has {actual}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def encode_idx_header(array: np.ndarray) -> bytes:
    """The IDX header for a uint8 array (the data follows it in C order)."""
    if array.dtype != np.uint8:
        raise ValueError(f"IDX encoding needs uint8, got {array.dtype}.")
    return bytes([0, 0, _UINT8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)


def idx_checksums(array: np.ndarray) -> dict[str, str]:
    """MD5 and sha256 of the IDX byte stream of ``array``, without building it in memory."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256()
    header = encode_idx_header(array)
    body = memoryview(np.ascontiguousarray(array)).cast("B")
    for part in (header, body):
        md5.update(part)
        sha.update(part)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}
