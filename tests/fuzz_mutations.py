"""Mutations of a seed model file for the fuzzer: truncation, bit flips, hostile ints, ...

Each mutation edits a bytearray in place; ``mutate`` picks one (or a random-bytes case).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_INTERESTING_U32 = (
    0,
    1,
    2,
    4,
    8,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0xFFFFFFF0,
)


def _bit_flips(data: bytearray, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(0, len(data)))
        data[pos] ^= 1 << int(rng.integers(0, 8))


def _random_bytes(data: bytearray, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 5))):
        pos = int(rng.integers(0, len(data)))
        n = int(rng.integers(1, 17))
        data[pos : pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()[: len(data) - pos]


def _interesting_int(data: bytearray, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 4))):
        pos = int(rng.integers(0, max(1, len(data) - 4)))
        value = _INTERESTING_U32[int(rng.integers(0, len(_INTERESTING_U32)))]
        if rng.random() < 0.3:  # an offset-like value: somewhere near the end of the file
            value = (len(data) + int(rng.integers(-64, 64))) & 0xFFFFFFFF
        data[pos : pos + 4] = int(value).to_bytes(4, "little")


def _header_attack(data: bytearray, rng: np.random.Generator) -> None:
    """Hit the first 64 bytes: root offset, vtable, the first table's fields."""
    for _ in range(int(rng.integers(1, 4))):
        pos = int(rng.integers(0, min(64, len(data))))
        data[pos] = int(rng.integers(0, 256))


def _zero_region(data: bytearray, rng: np.random.Generator) -> None:
    pos = int(rng.integers(0, len(data)))
    n = int(rng.integers(1, 256))
    data[pos : pos + n] = bytes(min(n, len(data) - pos))


_HOSTILE_I32 = (0, -1, -2, 2, 3, 127, 128, 255, 256, 65535, 1 << 20, 1 << 30, (1 << 31) - 1, -(1 << 31))


def _small_int_field(data: bytearray, rng: np.random.Generator) -> None:
    """Aligned int32s holding small values are indices, counts, shapes: make one hostile."""
    words = np.frombuffer(bytes(data[: len(data) // 4 * 4]), dtype="<i4")
    candidates = np.flatnonzero((words >= 0) & (words <= 64))
    if len(candidates) == 0:
        return _interesting_int(data, rng)
    for _ in range(int(rng.integers(1, 3))):
        pos = int(candidates[int(rng.integers(0, len(candidates)))]) * 4
        value = _HOSTILE_I32[int(rng.integers(0, len(_HOSTILE_I32)))]
        if rng.random() < 0.3:
            value = int(words[pos // 4]) + int(rng.integers(-2, 3))
        data[pos : pos + 4] = int(value).to_bytes(4, "little", signed=True)
    return None


def _shape_attack(data: bytearray, rng: np.random.Generator) -> None:
    """Find the image shape (…, 28, 28, 1) or a 10-class dim and corrupt one element."""
    patterns = [np.array(p, "<i4").tobytes() for p in ((28, 28, 1), (1, 10), (-1, 10))]
    hits = [i for pat in patterns for i in _find_all(bytes(data), pat)]
    if not hits:
        return _small_int_field(data, rng)
    pos = hits[int(rng.integers(0, len(hits)))] + 4 * int(rng.integers(0, 2))
    value = _HOSTILE_I32[int(rng.integers(0, len(_HOSTILE_I32)))]
    data[pos : pos + 4] = int(value).to_bytes(4, "little", signed=True)
    return None


def _find_all(data: bytes, pattern: bytes) -> list[int]:
    out, start = [], 0
    while (i := data.find(pattern, start)) >= 0:
        out.append(i)
        start = i + 1
    return out


def _stacked(data: bytearray, rng: np.random.Generator) -> None:
    singles = [m for name, m in MUTATIONS.items() if name != "stacked"]
    for _ in range(int(rng.integers(2, 7))):
        singles[int(rng.integers(0, len(singles)))](data, rng)


MUTATIONS = {
    "bit_flips": _bit_flips,
    "random_bytes": _random_bytes,
    "interesting_int": _interesting_int,
    "header": _header_attack,
    "zero_region": _zero_region,
    "small_int": _small_int_field,
    "shape": _shape_attack,
    "stacked": _stacked,
}


def mutate(seed: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """Return (kind, mutated bytes) for one fuzz case."""
    roll = rng.random()
    if roll < 0.12:
        return "truncated", seed[: int(rng.integers(0, len(seed)))]
    if roll < 0.16:
        n = int(rng.integers(0, 4096))
        return "random", rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    if roll < 0.19:  # random body behind a plausible header
        body = rng.integers(0, 256, int(rng.integers(8, 4096)), dtype=np.uint8).tobytes()
        return "random_with_header", seed[:8] + body
    if roll < 0.21:
        return "appended", seed + rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    data = bytearray(seed)
    names = list(MUTATIONS)
    kind = names[int(rng.integers(0, len(names)))]
    MUTATIONS[kind](data, rng)
    return kind, bytes(data)


def make_cases(seeds: list[Path], count: int, out: Path, seed: int = 0) -> list[Path]:
    """Write ``count`` mutated files (same suffix as their seed) into ``out``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    blobs = [(p.suffix, p.read_bytes()) for p in seeds]
    cases = []
    for i in range(count):
        suffix, blob = blobs[i % len(blobs)]
        kind, data = mutate(blob, rng)
        path = out / f"case{i:05d}_{kind}{suffix}"
        path.write_bytes(data)
        cases.append(path)
    return cases
