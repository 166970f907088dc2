"""The regression gate: compare a report with a baseline report, row by row."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mnistedge.bench.report import BenchRow, Report

__all__ = ["Regression", "check_regressions"]


@dataclass(frozen=True)
class Regression:
    """One row that got worse than the baseline allows (or disappeared)."""

    key: tuple[Any, ...]  # (artifact, call, provider, threads, batch_size, target)
    metric: str  # "accuracy" | "p50_ms" | "missing"
    baseline: float | None
    current: float | None
    limit: str  # the threshold it broke, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        artifact, call, provider, threads, batch, *target = self.key
        on = f"{target[0]}, " if target and target[0] != "desktop" else ""
        where = f"{artifact} [{on}{call}, {provider}, {threads} threads, batch {batch}]"
        if self.metric == "missing":
            return f"{where}: in the baseline but not measured now ({self.limit})"
        if self.metric == "accuracy":
            return (
                f"{where}: accuracy {100 * self.baseline:.2f} % -> {100 * self.current:.2f} % ({self.limit})"
            )
        return f"{where}: p50 {self.baseline:.4f} ms -> {self.current:.4f} ms ({self.limit})"


def check_regressions(
    current: Report,
    baseline: Report,
    *,
    max_accuracy_drop_pp: float | None = None,
    max_latency_ratio: float | None = None,
) -> list[Regression]:
    """Rows of ``current`` that regressed against ``baseline``.

    A row regresses when its accuracy fell by more than ``max_accuracy_drop_pp``
    percentage points, when its p50 latency grew by more than ``max_latency_ratio``
    times, or when a baseline row that succeeded is missing or failed now. Rows are
    matched on (artifact, call, provider, threads, batch size); new rows are ignored.
    A threshold left as None is not checked.

    Raises:
        ValueError: a negative drop or a ratio <= 0.
    """
    if max_accuracy_drop_pp is not None and max_accuracy_drop_pp < 0:
        raise ValueError(f"max accuracy drop must be >= 0 pp, got {max_accuracy_drop_pp}.")
    if max_latency_ratio is not None and max_latency_ratio <= 0:
        raise ValueError(
            f"max latency ratio must be > 0 (e.g. 1.5 = 50 % slower allowed), got {max_latency_ratio}."
        )
    now: dict[tuple, BenchRow] = {r.key: r for r in current.rows if r.status == "ok"}
    found: list[Regression] = []
    for old in baseline.rows:
        if old.status != "ok":
            continue
        new = now.get(old.key)
        if new is None:
            found.append(Regression(old.key, "missing", None, None, "failed or not run"))
            continue
        found += _compare(old, new, max_accuracy_drop_pp, max_latency_ratio)
    return found


def _compare(
    old: BenchRow, new: BenchRow, max_accuracy_drop_pp: float | None, max_latency_ratio: float | None
) -> list[Regression]:
    """The regressions of one row that is in both reports."""
    found = []
    drop = None if old.accuracy is None or new.accuracy is None else 100 * (old.accuracy - new.accuracy)
    if max_accuracy_drop_pp is not None and drop is not None and drop > max_accuracy_drop_pp + 1e-9:
        limit = f"drop > {max_accuracy_drop_pp} pp"
        found.append(Regression(old.key, "accuracy", old.accuracy, new.accuracy, limit))
    if max_latency_ratio is not None and old.p50_ms and new.p50_ms is not None:
        ratio = new.p50_ms / old.p50_ms
        if ratio > max_latency_ratio:
            limit = f"{ratio:.2f}x > {max_latency_ratio}x"
            found.append(Regression(old.key, "p50_ms", old.p50_ms, new.p50_ms, limit))
    return found
