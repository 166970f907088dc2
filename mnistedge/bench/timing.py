"""The latency loop: warm up, then time each call with ``perf_counter_ns``.

Every timed call yields exactly one sample (a test counts them): nothing is
dropped, trimmed or averaged away before the statistics are computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["LatencyStats", "time_calls", "time_interleaved", "time_once"]


def time_once(fn: Callable[[], Any]) -> int:
    """Run ``fn`` once and return its wall time in nanoseconds (a cold call)."""
    start = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start


def _check_counts(warmup: int, runs: int) -> None:
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0 calls, got {warmup}. Pass 0 to skip the warm-up.")
    if runs < 1:
        raise ValueError(f"runs must be >= 1 timed call, got {runs}. Pass e.g. runs=500.")


def time_calls(fn: Callable[[], Any], *, warmup: int, runs: int) -> np.ndarray:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times timed.

    Args:
        fn: the call to time; its result is discarded.
        warmup: untimed calls first (caches, allocator, thread pools); >= 0.
        runs: timed calls; >= 1. Exactly this many samples come back.

    Returns:
        int64 array of ``runs`` durations in nanoseconds, in call order.

    Raises:
        ValueError: when ``warmup`` < 0 or ``runs`` < 1.
    """
    _check_counts(warmup, runs)
    for _ in range(warmup):
        fn()
    samples = np.empty(runs, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(runs):
        start = clock()
        fn()
        samples[i] = clock() - start
    return samples


def time_interleaved(fns: Sequence[Callable[[], Any]], *, warmup: int, runs: int) -> list[np.ndarray]:
    """Time several calls in alternation: call 1, call 2, ..., call 1, call 2, ...

    Alternating makes a ratio between them (e.g. wrapper vs bare engine) fair on a busy
    machine: a burst of load hits both instead of whichever loop happened to run then.

    Returns:
        one int64 array of exactly ``runs`` nanosecond samples per function, in order.

    Raises:
        ValueError: when ``warmup`` < 0, ``runs`` < 1 or ``fns`` is empty.
    """
    if not fns:
        raise ValueError("time_interleaved needs at least one function to time.")
    _check_counts(warmup, runs)
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples = np.empty((len(fns), runs), dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(runs):
        for k, fn in enumerate(fns):
            start = clock()
            fn()
            samples[k, i] = clock() - start
    return list(samples)


@dataclass(frozen=True)
class LatencyStats:
    """Summary of one latency loop, in milliseconds."""

    n: int  # number of timed samples the figures come from
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def from_samples(cls, samples_ns: np.ndarray) -> LatencyStats:
        """Summarize nanosecond samples (percentiles by linear interpolation).

        Raises:
            ValueError: when there are no samples.
        """
        ms = np.asarray(samples_ns, dtype=np.float64).ravel() / 1e6
        if ms.size == 0:
            raise ValueError("no latency samples to summarize: time at least one call (runs >= 1).")
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(
            n=int(ms.size),
            p50_ms=float(p50),
            p90_ms=float(p90),
            p99_ms=float(p99),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std()),
            min_ms=float(ms.min()),
            max_ms=float(ms.max()),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
