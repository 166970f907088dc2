"""The static activation buffer: a lifetime-based offset plan, as TFLM's greedy planner does.

Each buffer (an activation tensor or a layer's scratch rows) lives from the step that writes it
to the last step that reads it. Buffers are placed largest first at the lowest offset that
overlaps no already placed buffer alive at the same time. A step's output never shares bytes
with its inputs: their lifetimes meet at that step, so the kernels need not be in-place safe.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ALIGNMENT", "Buffer", "Placement", "plan_buffers"]

ALIGNMENT = 4  # every offset is word-aligned, so kernels may read 32 bits at a time


@dataclass(frozen=True)
class Buffer:
    """A region needed from step ``first`` through step ``last`` (inclusive)."""

    name: str
    size: int  # bytes
    first: int
    last: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Placement:
    buffer: Buffer
    offset: int

    @property
    def end(self) -> int:
        return self.offset + self.buffer.size


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan_buffers(buffers: list[Buffer]) -> tuple[list[Placement], int]:
    """Place every buffer; return the placements (in the given order) and the total bytes needed.

    Raises:
        ValueError: a buffer with a negative size or a lifetime that ends before it starts.
    """
    for b in buffers:
        if b.size < 0 or b.last < b.first:
            raise ValueError(f"Buffer {b.name!r}: size {b.size}, steps {b.first}..{b.last} make no sense.")
    placed: list[Placement] = []
    # Largest first, then the earliest: the order TFLM's GreedyMemoryPlanner uses.
    for b in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        busy = sorted(
            ((p.offset, p.end) for p in placed if p.buffer.overlaps_in_time(b)),
        )
        offset = 0
        for start, end in busy:
            if offset + b.size <= start:
                break
            offset = max(offset, _aligned(end))
        placed.append(Placement(b, offset))
    by_name = {p.buffer.name: p for p in placed}
    ordered = [by_name[b.name] for b in buffers]
    total = _aligned(max((p.end for p in placed), default=0))
    return ordered, total
